/* cluster.c: `bulwark cluster init|up|down|status`: keys and a ready-to-run config for one
 * local group, its replicas as background processes, and what each of them reports. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "client/cli/cli.h"
#include "common/config.h"
#include "common/log.h"
#include "net/net.h"
#include "wire/info.h"
#include "wire/wire.h"

#define INIT_CONFIG_NAME "bulwark.ini"
#define INIT_HTTP_OFFSET 100u

/* What init has written so far, so that a failure can take it back. */
struct init_files {
	char keys_dir[PATH_MAX];
	char ini[PATH_MAX];
	int made_dir, made_keys; /* the folders did not exist before */
	unsigned pairs;          /* key pairs written: replica0.. then admin */
	int ini_written;
};

struct init_opts {
	const char *dir;
	const char *host;
	unsigned replicas;
	unsigned base_port;
	uint64_t group_id;
	enum config_client_auth client_auth;
};

static void cluster_usage(FILE *out)
{
	fprintf(out, "Usage: bulwark cluster COMMAND [OPTIONS]\n"
		     "Set up and manage a bulwark group.\n\n"
		     "Commands:\n"
		     "  init    write replica and admin keys and a ready-to-run config\n"
		     "  up      start the replicas as background processes\n"
		     "  down    stop them (--kill: SIGKILL)\n"
		     "  status  which replicas run, and their view and progress\n\n"
		     "Run 'bulwark cluster COMMAND --help' for its options.\n");
}

static void init_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark cluster init --dir DIR [--replicas N] [--base-port P] [--host HOST]\n"
		"                            [--group-id ID] [--client-auth macs|signatures]\n"
		"Write DIR/keys/replicaI.{key,pub}, DIR/keys/admin.{key,pub} and DIR/%s for one\n"
		"group whose replicas all run on HOST. Existing files are never overwritten.\n"
		"\n"
		"  -d, --dir DIR        output folder (created if missing)\n"
		"  -r, --replicas N     group size, N = 3f+1 with f >= 1: 4, 7, 10, ... (default 4)\n"
		"  -p, --base-port P    replica ports P..P+N-1, HTTP ports P+%u.. (default 7000)\n"
		"      --host HOST      address of every replica (default 127.0.0.1)\n"
		"      --group-id ID    64-bit group id (default 1)\n"
		"      --client-auth A  how replicas check client requests (default macs): macs,\n"
		"                       one HMAC tag per replica; signatures, every request\n"
		"                       Ed25519-signed (robust mode: a faulty client cannot send\n"
		"                       a request some replicas accept and others refuse; every\n"
		"                       replica verifies every request, which bounds throughput)\n"
		"  -h, --help           show this help\n"
		"\n"
		"Then run each replica with: bulwarkd -c DIR/%s -i I\n",
		INIT_CONFIG_NAME, INIT_HTTP_OFFSET, INIT_CONFIG_NAME);
}

/* The key and public key paths of pair i: replica i, or admin for i == replicas. */
static int init_pair_paths(const char *keys_dir, unsigned i, unsigned replicas,
			   char key_path[PATH_MAX], char pub_path[PATH_MAX])
{
	char stem[32];
	if (i < replicas)
		snprintf(stem, sizeof(stem), "replica%u", i);
	else
		snprintf(stem, sizeof(stem), "admin");
	if (cli_path_join(key_path, PATH_MAX, keys_dir, stem, ".key") != 0 ||
	    cli_path_join(pub_path, PATH_MAX, keys_dir, stem, ".pub") != 0)
		return -1;
	return 0;
}

static void init_undo(struct init_files *fl, const char *dir, unsigned replicas)
{
	char key_path[PATH_MAX], pub_path[PATH_MAX];
	if (fl->ini_written)
		unlink(fl->ini);
	for (unsigned i = 0; i < fl->pairs; i++) {
		if (init_pair_paths(fl->keys_dir, i, replicas, key_path, pub_path) == 0) {
			unlink(key_path);
			unlink(pub_path);
		}
	}
	if (fl->made_keys)
		rmdir(fl->keys_dir);
	if (fl->made_dir)
		rmdir(dir);
}

/* Writes the config text to path, which must not exist (O_EXCL). */
static int init_write_config(const char *path, const struct init_opts *o)
{
	unsigned f = (o->replicas - 1) / 3;
	/* 256 KiB batches, or less when 2f+1 worst-case VIEW-CHANGEs of a 128-seq window
	 * would not fit a message (f >= 2): what config_load checks. */
	uint64_t bmb = config_fit_batch_bytes(f, 128) / 1024 * 1024;
	if (bmb > 262144)
		bmb = 262144;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		cli_error("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	FILE *out = fdopen(fd, "w");
	if (out == NULL) {
		cli_error("cannot write %s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	fprintf(out,
		"; bulwark group configuration, written by `bulwark cluster init`.\n"
		"; Relative paths are relative to this file's folder.\n"
		"; Check it with: bulwarkd -c %s -i 0 --check-config\n"
		"\n"
		"[group]\n"
		"id = %llu\n"
		"f = %u                        ; n = 3f+1 = %u replicas\n"
		"epoch = 1\n"
		"checkpoint_interval = 64\n"
		"log_window = 128             ; a multiple of checkpoint_interval\n"
		"batch_max_requests = 512\n"
		"batch_max_bytes = %llu      ; log_window x batch_max_bytes x (2f+1) < 128 MiB\n"
		"pipeline = 8\n"
		"view_change_timeout_ms = 1000\n"
		"max_clock_skew_ms = 2000\n"
		"client_auth = %-15s; %s\n"
		"data_dir = data              ; replica I stores under data/replicaI\n"
		"admin_key = keys/admin.pub\n",
		INIT_CONFIG_NAME, (unsigned long long)o->group_id, f, o->replicas,
		(unsigned long long)bmb, config_client_auth_name(o->client_auth),
		o->client_auth == CONFIG_AUTH_SIGNATURES ? "signed requests (robust mode), or macs"
							 : "or signatures (robust mode)");
	for (unsigned i = 0; i < o->replicas; i++)
		fprintf(out,
			"\n[replica %u]\n"
			"host = %s\n"
			"port = %u\n"
			"http_port = %u\n"
			"public_key = keys/replica%u.pub\n"
			"private_key = keys/replica%u.key\n",
			i, o->host, o->base_port + i, o->base_port + INIT_HTTP_OFFSET + i, i, i);
	fprintf(out,
		"\n[client]\n"
		"timeout_ms = 500\n"
		"read_quorum = 2f+1\n");
	int bad = fflush(out) != 0 || ferror(out) || fsync(fd) != 0;
	int saved = errno;
	if (fclose(out) != 0 && !bad) {
		bad = 1;
		saved = errno;
	}
	if (bad) {
		cli_error("cannot write %s: %s", path, strerror(saved));
		unlink(path);
		return -1;
	}
	return 0;
}

/* Loads what was written, with every private key, as bulwarkd would. */
static int init_verify(const char *path, unsigned replicas)
{
	struct bw_config cfg;
	struct config_errors errs;
	struct crypto_ed25519_key k;
	int ok = 1;

	config_errors_init(&errs);
	if (config_load(path, &cfg, &errs) != CONFIG_OK) {
		config_errors_print(&errs, stderr);
		return -1;
	}
	for (unsigned i = 0; i < replicas && ok; i++) {
		if (config_load_private_key(&cfg, i, &k, &errs) != CONFIG_OK)
			ok = 0;
		else
			crypto_ed25519_free(&k);
	}
	config_free(&cfg);
	if (!ok) {
		config_errors_print(&errs, stderr);
		return -1;
	}
	return 0;
}

static int init_run(const struct init_opts *o)
{
	struct init_files *fl = calloc(1, sizeof(*fl));
	char key_path[PATH_MAX], pub_path[PATH_MAX];
	int rc = CLI_EXIT_FAIL;
	int e;

	if (fl == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	if (cli_path_join(fl->ini, sizeof(fl->ini), o->dir, INIT_CONFIG_NAME, "") != 0 ||
	    cli_path_join(fl->keys_dir, sizeof(fl->keys_dir), o->dir, "keys", "") != 0)
		goto out;

	/* Refuse before writing anything if any file is in the way. */
	e = cli_path_exists(fl->ini);
	if (e != 0) {
		if (e > 0)
			cli_error("%s already exists; refusing to overwrite it", fl->ini);
		goto out;
	}
	for (unsigned i = 0; i <= o->replicas; i++) {
		if (init_pair_paths(fl->keys_dir, i, o->replicas, key_path, pub_path) != 0)
			goto out;
		for (int j = 0; j < 2; j++) {
			const char *p = j == 0 ? key_path : pub_path;
			e = cli_path_exists(p);
			if (e != 0) {
				if (e > 0)
					cli_error("%s already exists; refusing to overwrite keys "
						  "(choose another --dir)", p);
				goto out;
			}
		}
	}

	e = cli_path_exists(o->dir);
	if (e < 0)
		goto out;
	fl->made_dir = e == 0;
	if (cli_mkdir(o->dir, 0755) != 0)
		goto out;
	e = cli_path_exists(fl->keys_dir);
	if (e < 0)
		goto err_undo;
	fl->made_keys = e == 0;
	if (cli_mkdir(fl->keys_dir, 0700) != 0)
		goto err_undo;

	for (unsigned i = 0; i <= o->replicas; i++) {
		if (init_pair_paths(fl->keys_dir, i, o->replicas, key_path, pub_path) != 0 ||
		    cli_keypair_write(key_path, pub_path, 0, NULL) != 0)
			goto err_undo;
		fl->pairs++;
	}
	if (init_write_config(fl->ini, o) != 0)
		goto err_undo;
	fl->ini_written = 1;
	if (init_verify(fl->ini, o->replicas) != 0) {
		cli_error("the written configuration does not load; removed it");
		goto err_undo;
	}

	unsigned f = (o->replicas - 1) / 3;
	printf("wrote %s: group %llu, f = %u, %u replicas on %s, ports %u-%u, http %u-%u, "
	       "client_auth = %s\n",
	       fl->ini, (unsigned long long)o->group_id, f, o->replicas, o->host, o->base_port,
	       o->base_port + o->replicas - 1, o->base_port + INIT_HTTP_OFFSET,
	       o->base_port + INIT_HTTP_OFFSET + o->replicas - 1,
	       config_client_auth_name(o->client_auth));
	printf("wrote %s/replica{0..%u}.key and admin.key (private, mode 0600) and their .pub\n",
	       fl->keys_dir, o->replicas - 1);
	printf("run replica I with: bulwarkd -c %s -i I\n", fl->ini);
	rc = CLI_EXIT_OK;
	goto out;

err_undo:
	init_undo(fl, o->dir, o->replicas);
out:
	free(fl);
	return rc;
}

static int cluster_init(int argc, char **argv)
{
	enum { OPT_HOST = 256, OPT_GROUP_ID, OPT_CLIENT_AUTH };
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"replicas", required_argument, NULL, 'r'},
		{"base-port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, OPT_HOST},
		{"group-id", required_argument, NULL, OPT_GROUP_ID},
		{"client-auth", required_argument, NULL, OPT_CLIENT_AUTH},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct init_opts o = {NULL, "127.0.0.1", 4, 7000, 1, CONFIG_AUTH_MACS};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, ":d:r:p:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dir = optarg;
			break;
		case 'r':
			if (cli_parse_uint("cluster init", "--replicas", optarg, 4,
					   CONFIG_MAX_REPLICAS, &v) != 0)
				return CLI_EXIT_USAGE;
			if ((v - 1) % 3 != 0)
				return cli_usage_error("cluster init",
						       "--replicas %llu is not 3f+1 (4, 7, 10, ...)",
						       (unsigned long long)v);
			o.replicas = (unsigned)v;
			break;
		case 'p':
			if (cli_parse_uint("cluster init", "--base-port", optarg, 1, 65535, &v) != 0)
				return CLI_EXIT_USAGE;
			o.base_port = (unsigned)v;
			break;
		case OPT_HOST:
			if (config_check_host(optarg) != CONFIG_OK)
				return cli_usage_error("cluster init",
						       "--host '%s' is not an IP address or host name",
						       optarg);
			o.host = optarg;
			break;
		case OPT_GROUP_ID:
			if (cli_parse_uint("cluster init", "--group-id", optarg, 0, UINT64_MAX,
					   &o.group_id) != 0)
				return CLI_EXIT_USAGE;
			break;
		case OPT_CLIENT_AUTH:
			/* The names config_load accepts for [group] client_auth. */
			if (strcmp(optarg, "macs") == 0)
				o.client_auth = CONFIG_AUTH_MACS;
			else if (strcmp(optarg, "signatures") == 0)
				o.client_auth = CONFIG_AUTH_SIGNATURES;
			else
				return cli_usage_error("cluster init", "--client-auth '%s' is neither "
						       "'macs' nor 'signatures'", optarg);
			break;
		case 'h':
			init_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("cluster init", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster init", "unexpected argument '%s'", argv[optind]);
	if (o.dir == NULL)
		return cli_usage_error("cluster init", "--dir DIR is required");
	if (o.base_port + INIT_HTTP_OFFSET + o.replicas - 1 > 65535)
		return cli_usage_error("cluster init",
				       "--base-port %u leaves no room for %u HTTP ports below 65536",
				       o.base_port, o.replicas);
	return init_run(&o);
}

/* ---------------------------------------------------------------- up, down, status */
/* A local group's processes: DIR/run/replicaI.pid and DIR/run/replicaI.log. */

#define RUN_DIR_NAME "run"
#define UP_TIMEOUT_MS 15000u
#define DOWN_TIMEOUT_MS 10000u
#define STATUS_TIMEOUT_MS 2000u
#define POLL_MS 50u
#define LOG_TAIL_LINES 15

/* What one replica of the group is doing, from its pid file. */
enum proc_state {
	PROC_STOPPED,   /* no pid file */
	PROC_RUNNING,   /* pid file names a live bulwarkd */
	PROC_STALE      /* pid file names no live bulwarkd */
};

struct group {
	char dir[PATH_MAX];
	char ini[PATH_MAX];
	char run[PATH_MAX];
	struct bw_config cfg;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Load DIR/bulwark.ini (every error printed). 0 or -1. */
static int group_load(struct group *g, const char *dir)
{
	struct config_errors errs;

	memset(g, 0, sizeof(*g));
	if (strlen(dir) >= sizeof(g->dir)) {
		cli_error("--dir is too long");
		return -1;
	}
	strcpy(g->dir, dir);
	if (cli_path_join(g->ini, sizeof(g->ini), dir, INIT_CONFIG_NAME, "") != 0 ||
	    cli_path_join(g->run, sizeof(g->run), dir, RUN_DIR_NAME, "") != 0)
		return -1;
	config_errors_init(&errs);
	if (config_load(g->ini, &g->cfg, &errs) != CONFIG_OK) {
		config_errors_print(&errs, stderr);
		return -1;
	}
	return 0;
}

static int replica_file(const struct group *g, unsigned id, const char *ext, char out[PATH_MAX])
{
	char stem[32];
	snprintf(stem, sizeof(stem), "replica%u", id);
	return cli_path_join(out, PATH_MAX, g->run, stem, ext);
}

/* 1 if pid is a live process whose command line starts with a program named bulwarkd. */
static int is_bulwarkd(pid_t pid)
{
	char path[64], cmd[PATH_MAX];
	ssize_t n;
	int fd;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, cmd, sizeof(cmd) - 1);
	close(fd);
	if (n <= 0)
		return 0; /* a zombie has an empty command line */
	cmd[n] = '\0';
	const char *base = strrchr(cmd, '/');
	base = base != NULL ? base + 1 : cmd;
	return strncmp(base, "bulwarkd", 8) == 0;
}

/* The state of replica id; *pid is set when a pid file was read. */
static enum proc_state proc_state(const struct group *g, unsigned id, pid_t *pid)
{
	char path[PATH_MAX], text[32];
	uint64_t v;
	ssize_t n;
	int fd;

	*pid = 0;
	if (replica_file(g, id, ".pid", path) != 0)
		return PROC_STOPPED;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return PROC_STOPPED;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return PROC_STALE;
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	if (config_parse_uint(text, 1, INT32_MAX, &v) != CONFIG_OK)
		return PROC_STALE;
	*pid = (pid_t)v;
	return is_bulwarkd(*pid) ? PROC_RUNNING : PROC_STALE;
}

static void remove_pid_file(const struct group *g, unsigned id)
{
	char path[PATH_MAX];
	if (replica_file(g, id, ".pid", path) == 0)
		unlink(path);
}

/* Print the last lines of replica id's log to stderr. */
static void print_log_tail(const struct group *g, unsigned id)
{
	char path[PATH_MAX], buf[8192];
	ssize_t n;
	off_t size;
	int fd;

	if (replica_file(g, id, ".log", path) != 0)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || lseek(fd, size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0,
			      SEEK_SET) < 0) {
		close(fd);
		return;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* Start LOG_TAIL_LINES lines before the end. */
	const char *start = buf;
	int lines = 0;
	for (ssize_t i = n - 1; i >= 0; i--) {
		if (buf[i] == '\n' && i != n - 1 && ++lines == LOG_TAIL_LINES) {
			start = buf + i + 1;
			break;
		}
	}
	fprintf(stderr, "--- last lines of %s:\n%s", path, start);
	if (buf[n - 1] != '\n')
		fputc('\n', stderr);
}

/* The bulwarkd program: $BULWARKD, else bulwarkd next to this bulwark binary. */
static int find_bulwarkd(char out[PATH_MAX])
{
	const char *env = getenv("BULWARKD");
	char self[PATH_MAX];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		if (strlen(env) >= PATH_MAX) {
			cli_error("$BULWARKD is too long");
			return -1;
		}
		strcpy(out, env);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n <= 0) {
			cli_error("cannot find this program's folder: %s", strerror(errno));
			return -1;
		}
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash == NULL) {
			cli_error("cannot find this program's folder in '%s'", self);
			return -1;
		}
		*slash = '\0';
		if (cli_path_join(out, PATH_MAX, self, "bulwarkd", "") != 0)
			return -1;
	}
	if (access(out, X_OK) != 0) {
		cli_error("cannot run %s: %s (set $BULWARKD to the bulwarkd program)", out,
			  strerror(errno));
		return -1;
	}
	return 0;
}

/* 1 if a TCP connection to host:port succeeds now. */
static int port_accepts(const char *host, uint16_t port)
{
	struct addrinfo hints, *res = NULL;
	char service[8];
	int ok = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof(service), "%u", (unsigned)port);
	if (getaddrinfo(host, service, &hints, &res) != 0)
		return 0;
	for (struct addrinfo *a = res; a != NULL && !ok; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
		close(fd);
	}
	freeaddrinfo(res);
	return ok;
}

/* Start replica id detached (own session, stdin /dev/null, stdout and stderr appended
 * to its log) and write its pid file. Returns the pid, or -1 (printed). */
static pid_t spawn_replica(const struct group *g, unsigned id, const char *prog,
			   const char *level)
{
	char log_path[PATH_MAX], pid_path[PATH_MAX], idtext[16], pidtext[24];
	int logfd, nullfd, pidfd;
	pid_t pid;

	if (replica_file(g, id, ".log", log_path) != 0 || replica_file(g, id, ".pid", pid_path) != 0)
		return -1;
	logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (logfd < 0) {
		cli_error("cannot open %s: %s", log_path, strerror(errno));
		return -1;
	}
	nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0) {
		cli_error("cannot open /dev/null: %s", strerror(errno));
		close(logfd);
		return -1;
	}
	snprintf(idtext, sizeof(idtext), "%u", id);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		cli_error("cannot start replica %u: fork: %s", id, strerror(errno));
		close(logfd);
		close(nullfd);
		return -1;
	}
	if (pid == 0) {
		setsid();
		if (dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
			_exit(127);
		execl(prog, "bulwarkd", "-c", g->ini, "-i", idtext, "--log", log_path,
		      "--log-level", level, (char *)NULL);
		dprintf(2, "bulwark cluster up: cannot run %s: %s\n", prog, strerror(errno));
		_exit(127);
	}
	close(logfd);
	close(nullfd);
	snprintf(pidtext, sizeof(pidtext), "%ld\n", (long)pid);
	pidfd = open(pid_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (pidfd < 0 || write(pidfd, pidtext, strlen(pidtext)) != (ssize_t)strlen(pidtext)) {
		cli_error("cannot write %s: %s; stopping replica %u", pid_path, strerror(errno), id);
		if (pidfd >= 0)
			close(pidfd);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(pidfd);
	return pid;
}

struct up_opts {
	const char *dir;
	int one;          /* --replica given */
	unsigned replica;
	unsigned timeout_ms;
	const char *level;
};

static void up_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark cluster up --dir DIR [--replica I] [--timeout SECONDS]\n"
		"                          [--log-level LEVEL]\n"
		"Start the replicas of DIR/%s as background bulwarkd processes (from $BULWARKD,\n"
		"else next to this program), with logs in DIR/%s/replicaI.log and pid files in\n"
		"DIR/%s/replicaI.pid, and wait until each one accepts connections.\n"
		"Replicas already running are left alone; stale pid files are replaced.\n"
		"\n"
		"  -d, --dir DIR          the group folder (from 'bulwark cluster init')\n"
		"  -i, --replica I        start replica I only\n"
		"  -t, --timeout SECONDS  how long to wait for each port (default %u)\n"
		"      --log-level LEVEL  debug, info, warn or error (default info)\n"
		"  -h, --help             show this help\n",
		INIT_CONFIG_NAME, RUN_DIR_NAME, RUN_DIR_NAME, UP_TIMEOUT_MS / 1000u);
}

static int up_run(const struct up_opts *o)
{
	struct group g;
	char prog[PATH_MAX];
	pid_t pids[CONFIG_MAX_REPLICAS];
	int rc = CLI_EXIT_FAIL;

	if (group_load(&g, o->dir) != 0)
		return CLI_EXIT_FAIL;
	if (o->one && o->replica >= g.cfg.n) {
		rc = cli_usage_error("cluster up", "--replica %u is not in this group (0..%u)",
				     o->replica, g.cfg.n - 1);
		goto out;
	}
	if (find_bulwarkd(prog) != 0 || cli_mkdir(g.run, 0755) != 0)
		goto out;

	unsigned first = o->one ? o->replica : 0, last = o->one ? o->replica : g.cfg.n - 1;
	for (unsigned i = first; i <= last; i++) {
		pid_t old;
		pids[i] = 0;
		switch (proc_state(&g, i, &old)) {
		case PROC_RUNNING:
			printf("replica %u: already running (pid %ld)\n", i, (long)old);
			continue;
		case PROC_STALE:
			printf("replica %u: removing stale pid file (pid %ld is not a running bulwarkd)\n",
			       i, (long)old);
			remove_pid_file(&g, i);
			break;
		case PROC_STOPPED:
			break;
		}
		pids[i] = spawn_replica(&g, i, prog, o->level);
		if (pids[i] < 0)
			goto out;
	}

	/* Wait for every started replica's port, or its death, or the timeout. */
	for (unsigned i = first; i <= last; i++) {
		if (pids[i] == 0)
			continue;
		const struct bw_config_replica *r = &g.cfg.replicas[i];
		uint64_t deadline = mono_ms() + o->timeout_ms;
		int status;
		for (;;) {
			pid_t w = waitpid(pids[i], &status, WNOHANG);
			if (w == pids[i]) {
				cli_error("replica %u exited during startup (%s %d)", i,
					  WIFEXITED(status) ? "status" : "signal",
					  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
				remove_pid_file(&g, i);
				print_log_tail(&g, i);
				goto out;
			}
			if (port_accepts(r->host, r->port))
				break;
			if (mono_ms() >= deadline) {
				cli_error("replica %u (pid %ld) does not accept connections on %s:%u "
					  "after %u s", i, (long)pids[i], r->host, (unsigned)r->port,
					  o->timeout_ms / 1000u);
				print_log_tail(&g, i);
				goto out;
			}
			sleep_ms(POLL_MS);
		}
		printf("replica %u: started (pid %ld), listening on %s:%u\n", i, (long)pids[i],
		       r->host, (unsigned)r->port);
	}
	rc = CLI_EXIT_OK;
out:
	config_free(&g.cfg);
	return rc;
}

static int cluster_up(int argc, char **argv)
{
	enum { OPT_LEVEL = 256 };
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"replica", required_argument, NULL, 'i'},
		{"timeout", required_argument, NULL, 't'},
		{"log-level", required_argument, NULL, OPT_LEVEL},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct up_opts o = { NULL, 0, 0, UP_TIMEOUT_MS, "info" };
	enum log_level lv;
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, ":d:i:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dir = optarg;
			break;
		case 'i':
			if (cli_parse_uint("cluster up", "--replica", optarg, 0, CONFIG_MAX_REPLICAS - 1,
					   &v) != 0)
				return CLI_EXIT_USAGE;
			o.one = 1;
			o.replica = (unsigned)v;
			break;
		case 't':
			if (cli_parse_uint("cluster up", "--timeout", optarg, 1, 3600, &v) != 0)
				return CLI_EXIT_USAGE;
			o.timeout_ms = (unsigned)v * 1000u;
			break;
		case OPT_LEVEL:
			if (log_parse_level(optarg, &lv) != LOG_OK)
				return cli_usage_error("cluster up", "--log-level '%s' is not debug, "
						       "info, warn or error", optarg);
			o.level = log_level_name(lv);
			break;
		case 'h':
			up_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("cluster up", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster up", "unexpected argument '%s'", argv[optind]);
	if (o.dir == NULL)
		return cli_usage_error("cluster up", "--dir DIR is required");
	return up_run(&o);
}

struct down_opts {
	const char *dir;
	int one;
	unsigned replica;
	int kill9;
	unsigned timeout_ms;
};

static void down_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark cluster down --dir DIR [--replica I] [--kill] [--timeout SECONDS]\n"
		"Stop the replicas started by 'bulwark cluster up': SIGTERM, then SIGKILL if one\n"
		"is still running after the timeout. Pid files are removed; stale ones too.\n"
		"\n"
		"  -d, --dir DIR          the group folder\n"
		"  -i, --replica I        stop replica I only\n"
		"  -k, --kill             SIGKILL at once (a crash, for tests and demos)\n"
		"  -t, --timeout SECONDS  grace period before SIGKILL (default %u)\n"
		"  -h, --help             show this help\n",
		DOWN_TIMEOUT_MS / 1000u);
}

/* Wait until pid is no longer a live bulwarkd. 1 if gone, 0 at the deadline. */
static int wait_gone(pid_t pid, uint64_t deadline)
{
	while (is_bulwarkd(pid)) {
		if (mono_ms() >= deadline)
			return 0;
		sleep_ms(POLL_MS / 5);
	}
	return 1;
}

static int down_run(const struct down_opts *o)
{
	struct group g;
	int rc = CLI_EXIT_OK;

	if (group_load(&g, o->dir) != 0)
		return CLI_EXIT_FAIL;
	if (o->one && o->replica >= g.cfg.n) {
		rc = cli_usage_error("cluster down", "--replica %u is not in this group (0..%u)",
				     o->replica, g.cfg.n - 1);
		goto out;
	}
	unsigned first = o->one ? o->replica : 0, last = o->one ? o->replica : g.cfg.n - 1;
	pid_t pids[CONFIG_MAX_REPLICAS];
	/* Signal every replica first, then wait: they stop in parallel. */
	for (unsigned i = first; i <= last; i++) {
		pids[i] = 0;
		pid_t pid;
		switch (proc_state(&g, i, &pid)) {
		case PROC_STOPPED:
			if (o->one)
				printf("replica %u: not running\n", i);
			continue;
		case PROC_STALE:
			printf("replica %u: not running; removed stale pid file (pid %ld)\n", i, (long)pid);
			remove_pid_file(&g, i);
			continue;
		case PROC_RUNNING:
			break;
		}
		if (kill(pid, o->kill9 ? SIGKILL : SIGTERM) != 0 && errno != ESRCH) {
			cli_error("cannot signal replica %u (pid %ld): %s", i, (long)pid, strerror(errno));
			rc = CLI_EXIT_FAIL;
			continue;
		}
		pids[i] = pid;
	}
	uint64_t deadline = mono_ms() + o->timeout_ms;
	for (unsigned i = first; i <= last; i++) {
		if (pids[i] == 0)
			continue;
		if (!wait_gone(pids[i], o->kill9 ? mono_ms() + DOWN_TIMEOUT_MS : deadline)) {
			printf("replica %u: still running after %u s; sending SIGKILL\n", i,
			       o->timeout_ms / 1000u);
			kill(pids[i], SIGKILL);
			if (!wait_gone(pids[i], mono_ms() + DOWN_TIMEOUT_MS)) {
				cli_error("replica %u (pid %ld) survives SIGKILL", i, (long)pids[i]);
				rc = CLI_EXIT_FAIL;
				continue;
			}
		}
		remove_pid_file(&g, i);
		printf("replica %u: %s (pid %ld)\n", i, o->kill9 ? "killed" : "stopped", (long)pids[i]);
	}
out:
	config_free(&g.cfg);
	return rc;
}

static int cluster_down(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"replica", required_argument, NULL, 'i'},
		{"kill", no_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct down_opts o = { NULL, 0, 0, 0, DOWN_TIMEOUT_MS };
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, ":d:i:kt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dir = optarg;
			break;
		case 'i':
			if (cli_parse_uint("cluster down", "--replica", optarg, 0,
					   CONFIG_MAX_REPLICAS - 1, &v) != 0)
				return CLI_EXIT_USAGE;
			o.one = 1;
			o.replica = (unsigned)v;
			break;
		case 'k':
			o.kill9 = 1;
			break;
		case 't':
			if (cli_parse_uint("cluster down", "--timeout", optarg, 1, 3600, &v) != 0)
				return CLI_EXIT_USAGE;
			o.timeout_ms = (unsigned)v * 1000u;
			break;
		case 'h':
			down_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("cluster down", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster down", "unexpected argument '%s'", argv[optind]);
	if (o.dir == NULL)
		return cli_usage_error("cluster down", "--dir DIR is required");
	return down_run(&o);
}

/* ---------------------------------------------------------------- status: INFO query */
/* One client-role transport with an ephemeral key asks every replica for its INFO. */
struct info_query {
	struct ev_loop *loop;
	const struct group *g;
	uint8_t got[CONFIG_MAX_REPLICAS];
	struct wire_info info[CONFIG_MAX_REPLICAS];
	char error[CONFIG_MAX_REPLICAS][96];
	unsigned answered;
	struct wire_buf req;
};

static void q_on_up(void *ctx, struct net_conn *conn, const struct net_peer *peer)
{
	struct info_query *q = ctx;
	(void)peer;
	(void)net_send(conn, q->req.p, q->req.len);
}

static void q_on_frame(void *ctx, struct net_conn *conn, const uint8_t *p, size_t len)
{
	struct info_query *q = ctx;
	const struct net_peer *peer = net_conn_peer(conn);
	uint32_t id = peer->replica_id;
	struct wire_hdr h;
	struct wire_info in;

	if (peer->role != NET_ROLE_REPLICA || id >= q->g->cfg.n || q->got[id])
		return;
	int rc = wire_info_decode(p, len, &h, &in);
	if (rc != 0) {
		snprintf(q->error[id], sizeof(q->error[id]), "bad INFO: %s", wire_strerror(rc));
		return;
	}
	if (in.replica != id || h.group != q->g->cfg.group_id) {
		snprintf(q->error[id], sizeof(q->error[id]), "INFO for replica %u of group %llu",
			 in.replica, (unsigned long long)h.group);
		return;
	}
	q->info[id] = in;
	q->got[id] = 1;
	q->error[id][0] = '\0';
	if (++q->answered == q->g->cfg.n)
		ev_break(q->loop, EVBREAK_ALL);
}

static void q_on_down(void *ctx, struct net_conn *conn, int reason)
{
	struct info_query *q = ctx;
	const struct net_peer *peer = net_conn_peer(conn);
	if (peer->role == NET_ROLE_REPLICA && peer->replica_id < q->g->cfg.n && !q->got[peer->replica_id])
		snprintf(q->error[peer->replica_id], sizeof(q->error[0]), "%s", net_strerror(reason));
}

static void q_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
	(void)w;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

/* Ask every replica of g; fills q->info / q->got. 0, or -1 if the query could not run. */
static int info_query_run(struct info_query *q, const struct group *g, unsigned timeout_ms)
{
	struct crypto_ed25519_key me;
	struct net_config nc;
	struct net *net = NULL;
	struct wire_hdr h;
	uint8_t (*keys)[CRYPTO_ED25519_PUB];
	ev_timer timer;
	int rc = -1;

	memset(q, 0, sizeof(*q));
	q->g = g;
	wire_buf_init(&q->req);
	memset(&h, 0, sizeof(h));
	h.group = g->cfg.group_id;
	h.epoch = g->cfg.epoch;
	if (wire_info_req_encode(&q->req, &h) != 0) {
		cli_error("out of memory");
		goto err_after_buf;
	}
	keys = calloc(g->cfg.n, sizeof(*keys));
	if (keys == NULL) {
		cli_error("out of memory");
		goto err_after_buf;
	}
	for (unsigned i = 0; i < g->cfg.n; i++) {
		memcpy(keys[i], g->cfg.replicas[i].public_key, CRYPTO_ED25519_PUB);
		snprintf(q->error[i], sizeof(q->error[i]), "no answer");
	}
	if (crypto_ed25519_generate(&me) != 0) {
		cli_error("cannot generate a session key");
		goto err_after_keys;
	}
	q->loop = ev_loop_new(EVFLAG_AUTO);
	if (q->loop == NULL) {
		cli_error("cannot create an event loop");
		goto err_after_me;
	}
	net_config_init(&nc);
	nc.identity = &me;
	nc.group_id = g->cfg.group_id;
	nc.epoch = g->cfg.epoch;
	nc.role = NET_ROLE_CLIENT;
	nc.replica_keys = (const uint8_t (*)[CRYPTO_ED25519_PUB])keys;
	nc.n_replicas = g->cfg.n;
	nc.limits.backoff_min = 0.1;
	nc.limits.backoff_max = 0.5;
	nc.cb.ctx = q;
	nc.cb.on_up = q_on_up;
	nc.cb.on_frame = q_on_frame;
	nc.cb.on_down = q_on_down;
	if (net_open(&net, q->loop, &nc) != NET_OK) {
		cli_error("cannot start the transport");
		goto err_after_loop;
	}
	for (unsigned i = 0; i < g->cfg.n; i++) {
		int e = net_connect(net, i, g->cfg.replicas[i].host, g->cfg.replicas[i].port);
		if (e != NET_OK)
			snprintf(q->error[i], sizeof(q->error[i]), "%s", net_strerror(e));
	}
	ev_timer_init(&timer, q_timeout, (double)timeout_ms / 1000.0, 0.0);
	ev_timer_start(q->loop, &timer);
	ev_run(q->loop, 0);
	ev_timer_stop(q->loop, &timer);
	rc = 0;
	net_close(net);
err_after_loop:
	ev_loop_destroy(q->loop);
err_after_me:
	crypto_ed25519_free(&me);
err_after_keys:
	free(keys);
err_after_buf:
	wire_buf_free(&q->req);
	return rc;
}

static const char *proc_state_name(enum proc_state s)
{
	switch (s) {
	case PROC_RUNNING: return "running";
	case PROC_STALE: return "stale-pid";
	default: return "stopped";
	}
}

struct status_opts {
	const char *dir;
	int json;
	unsigned timeout_ms;
};

static void status_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark cluster status --dir DIR [--json] [--timeout SECONDS]\n"
		"Show each replica's process (from DIR/%s/replicaI.pid) and what it reports:\n"
		"view, primary, whether the view is active or a state transfer runs, low\n"
		"watermark (last stable checkpoint), last executed and committed sequence\n"
		"numbers, the state digest at the low watermark, and uptime.\n"
		"Exit status 0 if every replica answered, 1 otherwise.\n"
		"\n"
		"  -d, --dir DIR          the group folder\n"
		"  -j, --json             one JSON object per replica and line\n"
		"  -t, --timeout SECONDS  how long to wait for answers (default %u)\n"
		"  -h, --help             show this help\n",
		RUN_DIR_NAME, STATUS_TIMEOUT_MS / 1000u);
}

static int status_run(const struct status_opts *o)
{
	struct group g;
	struct info_query *q;
	char digest[2 * WIRE_DIGEST_LEN + 1];
	int rc = CLI_EXIT_FAIL;

	if (group_load(&g, o->dir) != 0)
		return CLI_EXIT_FAIL;
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		cli_error("out of memory");
		goto out;
	}
	if (info_query_run(q, &g, o->timeout_ms) != 0)
		goto out;
	if (!o->json)
		printf("%-3s %-21s %-9s %-8s %-6s %-7s %-9s %-8s %-8s %-9s %-16s %s\n", "id",
		       "address", "process", "pid", "view", "primary", "state", "stable",
		       "executed", "committed", "digest", "uptime");
	for (unsigned i = 0; i < g.cfg.n; i++) {
		const struct bw_config_replica *r = &g.cfg.replicas[i];
		const struct wire_info *in = &q->info[i];
		pid_t pid;
		enum proc_state ps = proc_state(&g, i, &pid);
		char addr[300];
		const char *state = !q->got[i] ? "down"
				    : (in->flags & WIRE_INFO_TRANSFERRING) ? "transfer"
				    : (in->flags & WIRE_INFO_VIEW_ACTIVE) ? "normal" : "viewchange";
		snprintf(addr, sizeof(addr), "%s:%u", r->host, (unsigned)r->port);
		cli_hex(in->checkpoint_digest, WIRE_DIGEST_LEN, digest);
		if (o->json) {
			printf("{\"id\":%u,\"address\":\"%s\",\"process\":\"%s\",\"pid\":%ld,\"up\":%s",
			       i, addr, proc_state_name(ps), ps == PROC_STOPPED ? 0L : (long)pid,
			       q->got[i] ? "true" : "false");
			if (q->got[i])
				printf(",\"view\":%llu,\"primary\":%u,\"state\":\"%s\",\"stable\":%llu,"
				       "\"executed\":%llu,\"committed\":%llu,\"dropped\":%llu,"
				       "\"digest\":\"%s\",\"uptime_ms\":%llu}\n",
				       (unsigned long long)in->view, in->primary, state,
				       (unsigned long long)in->low_watermark,
				       (unsigned long long)in->last_executed,
				       (unsigned long long)in->last_committed,
				       (unsigned long long)in->dropped, digest,
				       (unsigned long long)in->uptime_ms);
			else
				printf(",\"error\":\"%s\"}\n", q->error[i]);
			continue;
		}
		char pidtext[16];
		snprintf(pidtext, sizeof(pidtext), "%ld", (long)pid);
		if (q->got[i])
			printf("%-3u %-21s %-9s %-8s %-6llu %-7u %-9s %-8llu %-8llu %-9llu %-16.16s %llus\n",
			       i, addr, proc_state_name(ps), ps == PROC_STOPPED ? "-" : pidtext,
			       (unsigned long long)in->view, in->primary, state,
			       (unsigned long long)in->low_watermark,
			       (unsigned long long)in->last_executed,
			       (unsigned long long)in->last_committed, digest,
			       (unsigned long long)(in->uptime_ms / 1000u));
		else
			printf("%-3u %-21s %-9s %-8s (%s)\n", i, addr, proc_state_name(ps),
			       ps == PROC_STOPPED ? "-" : pidtext, q->error[i]);
	}
	rc = q->answered == g.cfg.n ? CLI_EXIT_OK : CLI_EXIT_FAIL;
out:
	free(q);
	config_free(&g.cfg);
	return rc;
}

static int cluster_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct status_opts o = { NULL, 0, STATUS_TIMEOUT_MS };
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, ":d:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dir = optarg;
			break;
		case 'j':
			o.json = 1;
			break;
		case 't':
			if (cli_parse_uint("cluster status", "--timeout", optarg, 1, 600, &v) != 0)
				return CLI_EXIT_USAGE;
			o.timeout_ms = (unsigned)v * 1000u;
			break;
		case 'h':
			status_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("cluster status", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("cluster status", "unexpected argument '%s'", argv[optind]);
	if (o.dir == NULL)
		return cli_usage_error("cluster status", "--dir DIR is required");
	return status_run(&o);
}

static const struct cli_command cluster_commands[] = {
	{"init", "write keys and a ready-to-run config", cluster_init},
	{"up", "start the replicas as background processes", cluster_up},
	{"down", "stop the replicas", cluster_down},
	{"status", "show the replicas' processes and state", cluster_status},
};

int cli_cluster(int argc, char **argv)
{
	if (argc < 2) {
		cluster_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		cluster_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(cluster_commands) / sizeof(cluster_commands[0]); i++) {
		if (strcmp(argv[1], cluster_commands[i].name) == 0) {
			cli_getopt_reset();
			return cluster_commands[i].run(argc - 1, argv + 1);
		}
	}
	return cli_usage_error("cluster", "unknown command '%s'", argv[1]);
}
