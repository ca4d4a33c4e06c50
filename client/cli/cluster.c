/* cluster.c: `bulwark cluster init`: keys and a ready-to-run config for one local group. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cli/cli.h"
#include "common/config.h"

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
};

static void cluster_usage(FILE *out)
{
	fprintf(out, "Usage: bulwark cluster COMMAND [OPTIONS]\n"
		     "Set up and manage a bulwark group.\n\n"
		     "Commands:\n"
		     "  init  write replica and admin keys and a ready-to-run config\n\n"
		     "Run 'bulwark cluster COMMAND --help' for its options.\n");
}

static void init_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark cluster init --dir DIR [--replicas N] [--base-port P] [--host HOST]\n"
		"                            [--group-id ID]\n"
		"Write DIR/keys/replicaI.{key,pub}, DIR/keys/admin.{key,pub} and DIR/%s for one\n"
		"group whose replicas all run on HOST. Existing files are never overwritten.\n"
		"\n"
		"  -d, --dir DIR        output folder (created if missing)\n"
		"  -r, --replicas N     group size, N = 3f+1 with f >= 1: 4, 7, 10, ... (default 4)\n"
		"  -p, --base-port P    replica ports P..P+N-1, HTTP ports P+%u.. (default 7000)\n"
		"      --host HOST      address of every replica (default 127.0.0.1)\n"
		"      --group-id ID    64-bit group id (default 1)\n"
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
		"checkpoint_interval = 128\n"
		"log_window = 256             ; a multiple of checkpoint_interval\n"
		"batch_max_requests = 512\n"
		"batch_max_bytes = 262144\n"
		"pipeline = 8\n"
		"view_change_timeout_ms = 1000\n"
		"max_clock_skew_ms = 2000\n"
		"client_auth = macs           ; or signatures (robust mode)\n"
		"data_dir = data              ; replica I stores under data/replicaI\n"
		"admin_key = keys/admin.pub\n",
		INIT_CONFIG_NAME, (unsigned long long)o->group_id, f, o->replicas);
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
	printf("wrote %s: group %llu, f = %u, %u replicas on %s, ports %u-%u, http %u-%u\n",
	       fl->ini, (unsigned long long)o->group_id, f, o->replicas, o->host, o->base_port,
	       o->base_port + o->replicas - 1, o->base_port + INIT_HTTP_OFFSET,
	       o->base_port + INIT_HTTP_OFFSET + o->replicas - 1);
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
	enum { OPT_HOST = 256, OPT_GROUP_ID };
	static const struct option longopts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"replicas", required_argument, NULL, 'r'},
		{"base-port", required_argument, NULL, 'p'},
		{"host", required_argument, NULL, OPT_HOST},
		{"group-id", required_argument, NULL, OPT_GROUP_ID},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct init_opts o = {NULL, "127.0.0.1", 4, 7000, 1};
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

static const struct cli_command cluster_commands[] = {
	{"init", "write keys and a ready-to-run config", cluster_init},
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
