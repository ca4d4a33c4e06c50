/* local.c: bulwark-bench's local group: `bulwark cluster init|up|down` in a temp folder. */
#include "bench/run.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* `bulwark cluster init` puts replica I's HTTP port at base + 100 + I. */
#define BENCH_HTTP_OFFSET 100u

/* Run argv (argv[0] a path) with stdout and stderr appended to log; its exit status,
 * or -1 when it could not be run. */
static int bench_spawn(char *const argv[], const char *log)
{
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void bench_log_dump(const char *log)
{
	char line[512];
	FILE *f = fopen(log, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "--- %s:\n", log);
	while (fgets(line, sizeof(line), f) != NULL)
		fputs(line, stderr);
	fclose(f);
}

/* 1 if 127.0.0.1:port can be bound now. */
static int bench_port_free(unsigned port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int ok;

	if (fd < 0)
		return 0;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* A base port P with P..P+n-1 and their HTTP ports free; 0 if none found. */
static unsigned bench_free_base(unsigned n)
{
	srand((unsigned)(time(NULL) ^ getpid()));
	for (int attempt = 0; attempt < 200; attempt++) {
		/* below the kernel's ephemeral range (32768-60999 by default): an outgoing
		 * connection cannot take the port between this check and the bind */
		unsigned base = 10000u + (unsigned)rand() % (32000u - 10000u - BENCH_HTTP_OFFSET - n);
		int ok = 1;
		for (unsigned i = 0; i < n && ok; i++)
			ok = bench_port_free(base + i) && bench_port_free(base + BENCH_HTTP_OFFSET + i);
		if (ok)
			return base;
	}
	return 0;
}

/* The bulwark CLI: $BULWARK, else `bulwark` in this program's folder. */
static int bench_find_cli(char *out, size_t len)
{
	const char *env = getenv("BULWARK");
	char self[4096];
	ssize_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(out, len, "%s", env);
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = '\0';
	snprintf(out, len, "%s/bulwark", dirname(self));
	return access(out, X_OK) == 0 ? 0 : -1;
}

static void bench_group_down(struct bench_local *l, int quiet);
static int bench_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw);

/* Start the guard (see run.h): it reads its pipe until end of file; a byte first means
 * the group was stopped normally. Returns 0 or -1. */
static int bench_guard_start(struct bench_local *l)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	int fds[2];
	char c;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		ssize_t n;
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			signal(sigs[i], SIG_IGN);
		close(fds[1]);
		do
			n = read(fds[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1) { /* the bench died: clean up after it */
			bench_group_down(l, 1);
			nftw(l->dir, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
		}
		_exit(0);
	}
	close(fds[0]);
	l->guard = pid;
	l->guard_fd = fds[1];
	return 0;
}

/* Tell the guard all is well and wait for it to exit. */
static void bench_guard_stop(struct bench_local *l)
{
	char c = 1;

	if (l->guard <= 0 || l->guard_fd < 0)
		return; /* no guard: no local group was started */
	if (write(l->guard_fd, &c, 1) != 1)
		fprintf(stderr, "bulwark-bench: cannot signal the guard process: %s\n",
			strerror(errno));
	close(l->guard_fd);
	l->guard_fd = -1;
	while (waitpid(l->guard, NULL, 0) < 0 && errno == EINTR)
		;
	l->guard = 0;
}

static int bench_read_pid(const char *path, pid_t *pid)
{
	FILE *f = fopen(path, "r");
	long v = 0;
	int ok;

	if (f == NULL)
		return -1;
	ok = fscanf(f, "%ld", &v) == 1 && v > 0;
	fclose(f);
	if (!ok)
		return -1;
	*pid = (pid_t)v;
	return 0;
}

int bench_local_start(struct bench_local *l, unsigned n, struct bench_opts *o)
{
	char log[340], base_s[16], n_s[16], gid_s[32], path[340];
	unsigned base;

	memset(l, 0, sizeof(*l));
	l->guard_fd = -1;
	if (bench_find_cli(l->bulwark, sizeof(l->bulwark)) != 0) {
		fprintf(stderr, "bulwark-bench: --local needs the bulwark CLI next to bulwark-bench "
				"or in $BULWARK (not found: %s)\n", l->bulwark);
		return -1;
	}
	snprintf(l->dir, sizeof(l->dir), "/tmp/bulwark-bench.XXXXXX");
	if (mkdtemp(l->dir) == NULL) {
		fprintf(stderr, "bulwark-bench: cannot create a temporary folder: %s\n",
			strerror(errno));
		l->dir[0] = '\0';
		return -1;
	}
	snprintf(l->group, sizeof(l->group), "%s/g", l->dir);
	snprintf(l->config, sizeof(l->config), "%s/bulwark.ini", l->group);
	snprintf(log, sizeof(log), "%s/cluster.log", l->dir);
	base = bench_free_base(n);
	if (base == 0) {
		fprintf(stderr, "bulwark-bench: no free range of %u loopback ports found\n", n);
		goto err_started;
	}
	snprintf(base_s, sizeof(base_s), "%u", base);
	snprintf(n_s, sizeof(n_s), "%u", n);
	snprintf(gid_s, sizeof(gid_s), "%u", (unsigned)getpid());
	{
		char auth[16];
		char *argv[] = { l->bulwark, "cluster", "init", "--dir", l->group, "--replicas",
				 n_s, "--base-port", base_s, "--group-id", gid_s, NULL, NULL,
				 NULL };
		/* --client-auth only when asked for: otherwise cluster init's default */
		if (o->auth_arg != NULL) {
			size_t k = 0;
			while (argv[k] != NULL) /* the first of the free slots */
				k++;
			snprintf(auth, sizeof(auth), "%s", o->auth_arg); /* validated: fits */
			argv[k] = "--client-auth";
			argv[k + 1] = auth;
		}
		if (bench_spawn(argv, log) != 0) {
			fprintf(stderr, "bulwark-bench: bulwark cluster init failed\n");
			bench_log_dump(log);
			goto err_started;
		}
	}
	l->up = 1; /* from here on, `cluster down` is due whatever happens */
	if (bench_guard_start(l) != 0) {
		fprintf(stderr, "bulwark-bench: cannot start the guard process: %s\n",
			strerror(errno));
		goto err_started;
	}
	{
		char *argv[] = { l->bulwark, "cluster", "up", "--dir", l->group, "--timeout", "20",
				 "--log-level", "warn", NULL };
		if (bench_spawn(argv, log) != 0) {
			fprintf(stderr, "bulwark-bench: bulwark cluster up failed\n");
			bench_log_dump(log);
			goto err_started;
		}
	}
	o->config = l->config;
	o->npids = 0;
	for (unsigned i = 0; i < n && i < BENCH_MAX_REPLICAS; i++) {
		snprintf(path, sizeof(path), "%s/run/replica%u.pid", l->group, i);
		if (bench_read_pid(path, &o->pids[i]) != 0) {
			fprintf(stderr, "bulwark-bench: cannot read %s\n", path);
			goto err_started;
		}
		o->npids++;
	}
	return 0;

err_started:
	bench_local_stop(l);
	return -1;
}

int bench_local_keys(struct bench_local *l, struct bench_opts *o)
{
	char log[340], keys[300];

	snprintf(log, sizeof(log), "%s/keygen.log", l->dir);
	snprintf(keys, sizeof(keys), "%s/publisher", l->dir);
	snprintf(o->publisher_key, sizeof(o->publisher_key), "%s/bench.key", keys);
	snprintf(o->publisher_pub, sizeof(o->publisher_pub), "%s/bench.pub", keys);
	snprintf(o->admin_key, sizeof(o->admin_key), "%s/keys/admin.key", l->group);
	char *argv[] = { l->bulwark, "keygen", "--out", keys, "--name", "bench", NULL };
	if (bench_spawn(argv, log) != 0) {
		fprintf(stderr, "bulwark-bench: making a publisher key failed\n");
		bench_log_dump(log);
		return -1;
	}
	return 0;
}

int bench_local_release(struct bench_local *l, const struct bench_opts *o)
{
	char log[340], file[340];
	FILE *f;
	int ok;

	snprintf(log, sizeof(log), "%s/release.log", l->dir);
	snprintf(file, sizeof(file), "%s/release.bin", l->dir);
	f = fopen(file, "w");
	if (f == NULL) {
		fprintf(stderr, "bulwark-bench: cannot write %s: %s\n", file, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < o->value_size; i++)
		fputc('a' + (int)(i % 26), f);
	ok = fclose(f) == 0;
	if (ok) {
		char *argv[] = { l->bulwark, "channel", "create", "-c", l->config, "--admin-key",
				 (char *)o->admin_key, "--publishers", "1",
				 (char *)o->publisher_pub, (char *)o->channel, NULL };
		ok = bench_spawn(argv, log) == 0;
	}
	if (ok) {
		char *argv[] = { l->bulwark, "publish", "-c", l->config, "--channel",
				 (char *)o->channel, "--version", "1", "--key",
				 (char *)o->publisher_key, "--quiet", file, NULL };
		ok = bench_spawn(argv, log) == 0;
	}
	if (!ok) {
		fprintf(stderr, "bulwark-bench: publishing the release to poll failed\n");
		bench_log_dump(log);
		return -1;
	}
	return 0;
}

static int bench_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* `cluster down`, then `--kill` if that fails. 0 when the group is down. */
static int bench_group_down_run(struct bench_local *l, const char *log)
{
	char *argv[] = { l->bulwark, "cluster", "down", "--dir", l->group, NULL };
	char *kill_argv[] = { l->bulwark, "cluster", "down", "--dir", l->group, "--kill", NULL };

	return bench_spawn(argv, log) == 0 || bench_spawn(kill_argv, log) == 0 ? 0 : -1;
}

static void bench_group_down(struct bench_local *l, int quiet)
{
	char log[340];

	snprintf(log, sizeof(log), "%s/cluster.log", l->dir);
	if (bench_group_down_run(l, log) != 0 && !quiet) {
		fprintf(stderr, "bulwark-bench: bulwark cluster down failed; the group is left in "
				"%s\n", l->group);
		bench_log_dump(log);
		l->dir[0] = '\0'; /* keep the folder: its pid files name the replicas */
	}
}

void bench_local_stop(struct bench_local *l)
{
	if (l->up) {
		bench_group_down(l, 0);
		l->up = 0;
	}
	bench_guard_stop(l);
	if (l->dir[0] != '\0') {
		nftw(l->dir, bench_rm_one, 16, FTW_DEPTH | FTW_PHYS);
		l->dir[0] = '\0';
	}
}
