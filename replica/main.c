/* main.c: bulwarkd entry point: parse options, load and check the config, run the replica. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "crypto/crypto.h"
#include "net/net.h"
#include "replica/bwd.h"

#define EXIT_USAGE 2

struct bulwarkd_opts {
	const char *config;   /* -c */
	int has_id;           /* -i given */
	unsigned id;
	int check_only;       /* --check-config */
	const char *log_file; /* --log */
	enum log_level level; /* --log-level */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwarkd -c CONFIG -i ID [--log FILE] [--log-level LEVEL]\n"
		"       bulwarkd -c CONFIG [-i ID] --check-config\n"
		"Run replica ID of the bulwark group described by CONFIG.\n"
		"\n"
		"  -c, --config FILE      group configuration (INI)\n"
		"  -i, --id ID            replica id, 0..n-1\n"
		"  -n, --check-config     validate CONFIG (and with -i, that replica's private\n"
		"                         key), print \"configuration OK\" or every error, exit\n"
		"  -l, --log FILE         append log lines to FILE instead of stderr\n"
		"      --log-level LEVEL  debug, info, warn or error (default info)\n"
		"  -h, --help             show this help\n"
		"  -V, --version          show the version\n");
}

/* Returns -1 to continue, or the exit status (help, version, usage error). */
static int parse_options(int argc, char **argv, struct bulwarkd_opts *o)
{
	enum { OPT_LOG_LEVEL = 256 };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"id", required_argument, NULL, 'i'},
		{"check-config", no_argument, NULL, 'n'},
		{"log", required_argument, NULL, 'l'},
		{"log-level", required_argument, NULL, OPT_LOG_LEVEL},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	memset(o, 0, sizeof(*o));
	o->level = LOG_LEVEL_INFO;
	while ((c = getopt_long(argc, argv, "c:i:nl:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'i':
			if (config_parse_uint(optarg, 0, CONFIG_MAX_REPLICAS - 1, &v) != CONFIG_OK) {
				fprintf(stderr, "bulwarkd: --id '%s' is not an integer from 0 to %u\n",
					optarg, CONFIG_MAX_REPLICAS - 1);
				return EXIT_USAGE;
			}
			o->has_id = 1;
			o->id = (unsigned)v;
			break;
		case 'n':
			o->check_only = 1;
			break;
		case 'l':
			o->log_file = optarg;
			break;
		case OPT_LOG_LEVEL:
			if (log_parse_level(optarg, &o->level) != LOG_OK) {
				fprintf(stderr, "bulwarkd: --log-level '%s' is not debug, info, warn "
						"or error\n", optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("bulwarkd %s\n", BULWARK_VERSION);
			return EXIT_SUCCESS;
		default:
			fprintf(stderr, "Try 'bulwarkd --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulwarkd: unexpected argument '%s'\nTry 'bulwarkd --help'.\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (o->config == NULL) {
		fprintf(stderr, "bulwarkd: -c CONFIG is required\nTry 'bulwarkd --help'.\n");
		return EXIT_USAGE;
	}
	if (!o->check_only && !o->has_id) {
		fprintf(stderr, "bulwarkd: -i ID is required to run a replica\n"
				"Try 'bulwarkd --help'.\n");
		return EXIT_USAGE;
	}
	return -1;
}

/* Loads the config and, when an id is given, that replica's private key; collects
 * every problem in errs. Returns 0 with cfg (and key when has_id) filled in. */
static int load_all(const struct bulwarkd_opts *o, struct bw_config *cfg,
		    struct crypto_ed25519_key *key, struct config_errors *errs)
{
	int rc = config_load(o->config, cfg, errs);
	if (rc != CONFIG_OK)
		return rc;
	if (!o->has_id)
		return CONFIG_OK;
	if (o->id >= cfg->n) {
		config_errors_add(errs, o->config, CONFIG_ERR_ARG, 0,
				  "replica id %u is not in this group (ids 0..%u)", o->id, cfg->n - 1);
		rc = CONFIG_ERR_ARG;
		goto err_after_config;
	}
	rc = config_load_private_key(cfg, o->id, key, errs);
	if (rc != CONFIG_OK)
		goto err_after_config;
	return CONFIG_OK;

err_after_config:
	config_free(cfg);
	return rc;
}

static int check_config(const struct bulwarkd_opts *o)
{
	struct bw_config cfg;
	struct crypto_ed25519_key key;
	struct config_errors errs;

	config_errors_init(&errs);
	if (load_all(o, &cfg, &key, &errs) != CONFIG_OK) {
		config_errors_print(&errs, stderr);
		return EXIT_FAILURE;
	}
	if (o->has_id)
		crypto_ed25519_free(&key);
	config_free(&cfg);
	printf("configuration OK\n");
	return EXIT_SUCCESS;
}

static int run_replica(const struct bulwarkd_opts *o)
{
	struct bw_config cfg;
	struct crypto_ed25519_key key;
	struct config_errors errs;
	struct bwd *b;
	int rc;

	config_errors_init(&errs);
	if (load_all(o, &cfg, &key, &errs) != CONFIG_OK) {
		/* Plain lines on stderr for whoever started us; the log file gets them too. */
		config_errors_print(&errs, stderr);
		if (o->log_file != NULL) {
			for (unsigned i = 0; i < errs.count; i++)
				log_error("bulwarkd", "invalid configuration", "error=%s",
					  errs.item[i].text);
		}
		return EXIT_FAILURE;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL) {
		fprintf(stderr, "bulwarkd: out of memory\n");
		crypto_ed25519_free(&key);
		config_free(&cfg);
		return EXIT_FAILURE;
	}
	/* cfg and key belong to b from here on, whatever bwd_open returns. */
	rc = bwd_open(b, &cfg, o->id, &key);
	if (rc != BWD_OK) {
		fprintf(stderr, "bulwarkd: %s\n", b->why);
		if (o->log_file != NULL)
			log_error("bulwarkd", "cannot start", "error=%s detail=%s", bwd_strerror(rc),
				  b->why);
		bwd_close(b);
		free(b);
		return EXIT_FAILURE;
	}
	rc = bwd_run(b);
	if (rc != BWD_OK)
		log_error("bulwarkd", "stopping on a fatal error", "error=%s detail=%s",
			  bwd_strerror(rc), b->why);
	struct net_stats ns;
	net_get_stats(b->net, &ns);
	log_info("bulwarkd", "counters",
		 "frames_in=%llu frames_out=%llu frames_bad=%llu frames_refused=%llu "
		 "sends_dropped=%llu info_served=%llu flushes=%llu handshakes_failed=%llu",
		 (unsigned long long)ns.frames_in, (unsigned long long)ns.frames_out,
		 (unsigned long long)b->ctr.frames_bad, (unsigned long long)b->ctr.frames_refused,
		 (unsigned long long)b->ctr.sends_dropped, (unsigned long long)b->ctr.info_served,
		 (unsigned long long)b->ctr.flushes, (unsigned long long)ns.handshakes_failed);
	bwd_close(b);
	if (rc == BWD_OK)
		log_info("bulwarkd", "stopped cleanly", "replica=%u", o->id);
	free(b);
	return rc == BWD_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

int main(int argc, char **argv)
{
	struct bulwarkd_opts opts;
	int rc = parse_options(argc, argv, &opts);
	if (rc >= 0)
		return rc;
	log_set_level(opts.level);
	if (opts.log_file != NULL) {
		rc = log_open_file(opts.log_file);
		if (rc != LOG_OK) {
			fprintf(stderr, "bulwarkd: --log %s: %s: %s\n", opts.log_file,
				log_strerror(rc), strerror(errno));
			return EXIT_FAILURE;
		}
	}
	if (opts.check_only)
		return check_config(&opts);
	/* A peer closing mid-write is an error on that socket, not a reason to die. */
	signal(SIGPIPE, SIG_IGN);
	return run_replica(&opts);
}
