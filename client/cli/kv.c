/* kv.c: `bulwark put|get|del|cas`: one key-value operation on a group through libbulwark. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bulwark.h"
#include "client/cli/cli.h"

/* Options shared by the four commands. */
struct kv_opts {
	const char *cmd;
	const char *config;
	const char *key_file;
	uint32_t timeout_ms;
	int show_version;       /* get: "version=N" on stderr */
	int nargs;              /* positional arguments left in argv[optind..] */
};

static void kv_usage(FILE *out, const char *cmd)
{
	if (strcmp(cmd, "put") == 0)
		fprintf(out, "Usage: bulwark put -c CONFIG [--key FILE] [--timeout MS] KEY VALUE\n"
			     "Set KEY to VALUE ('-' reads the value from standard input, at most\n"
			     "1 MiB). Prints \"ok version=N\": the key's version after the write.\n");
	else if (strcmp(cmd, "get") == 0)
		fprintf(out, "Usage: bulwark get -c CONFIG [--key FILE] [--timeout MS] [--show-version] KEY\n"
			     "Write KEY's value to standard output, exactly as stored (no newline\n"
			     "added). Exit status 3 if KEY does not exist.\n");
	else if (strcmp(cmd, "del") == 0)
		fprintf(out, "Usage: bulwark del -c CONFIG [--key FILE] [--timeout MS] KEY\n"
			     "Remove KEY. Prints \"ok version=N\": the version removed. Exit status 3\n"
			     "if KEY does not exist.\n");
	else
		fprintf(out, "Usage: bulwark cas -c CONFIG [--key FILE] [--timeout MS]\n"
			     "                   KEY EXPECTED_VERSION VALUE\n"
			     "Set KEY to VALUE only if its version is EXPECTED_VERSION (0: KEY must not\n"
			     "exist); VALUE '-' reads standard input. Prints \"ok version=N\". Exit\n"
			     "status 4 if the version differs (the current one is named on stderr).\n");
	fprintf(out,
		"\n"
		"  -c, --config FILE   the group's configuration (INI), e.g. DIR/bulwark.ini\n"
		"  -k, --key FILE      client private key (PEM, mode 0600); default: a fresh\n"
		"                      ephemeral key for this command\n"
		"  -t, --timeout MS    give up after MS milliseconds (default %u)\n",
		BULWARK_DEFAULT_OP_TIMEOUT_MS);
	if (strcmp(cmd, "get") == 0)
		fprintf(out, "  -v, --show-version  also print \"version=N\" on standard error\n");
	fprintf(out, "  -h, --help          show this help\n"
		     "\nExit status: 0 ok, 1 error, 2 usage, 3 not found, 4 version mismatch.\n");
}

/* Returns -1 to go on, or an exit status (help, usage error). */
static int kv_parse(int argc, char **argv, struct kv_opts *o, int want_args)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"timeout", required_argument, NULL, 't'},
		{"show-version", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	uint64_t v;
	int c;

	while ((c = getopt_long(argc, argv, ":c:k:t:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'k':
			o->key_file = optarg;
			break;
		case 't':
			if (cli_parse_uint(o->cmd, "--timeout", optarg, 1, 3600000, &v) != 0)
				return CLI_EXIT_USAGE;
			o->timeout_ms = (uint32_t)v;
			break;
		case 'v':
			if (strcmp(o->cmd, "get") != 0)
				return cli_usage_error(o->cmd, "unknown option '%s'", argv[optind - 1]);
			o->show_version = 1;
			break;
		case 'h':
			kv_usage(stdout, o->cmd);
			return CLI_EXIT_OK;
		default:
			return cli_option_error(o->cmd, c, argv);
		}
	}
	if (!o->config)
		return cli_usage_error(o->cmd, "-c CONFIG is required");
	o->nargs = argc - optind;
	if (o->nargs < want_args)
		return cli_usage_error(o->cmd, "expected %d argument%s, got %d", want_args,
				       want_args == 1 ? "" : "s", o->nargs);
	if (o->nargs > want_args)
		return cli_usage_error(o->cmd, "unexpected argument '%s'", argv[optind + want_args]);
	return -1;
}

/* The value argument, or standard input for "-" (*buf then owns a malloc'd copy). */
static int kv_value(const char *cmd, const char *arg, const void **val, size_t *len,
		    uint8_t **buf)
{
	size_t cap = 64 * 1024, n = 0;
	uint8_t *b;

	*buf = NULL;
	if (strcmp(arg, "-") != 0) {
		*val = arg;
		*len = strlen(arg);
		return 0;
	}
	b = malloc(cap);
	if (!b) {
		cli_error("%s: out of memory", cmd);
		return -1;
	}
	for (;;) {
		size_t got;

		if (n == cap) {
			uint8_t *nb;

			if (cap > BULWARK_MAX_VALUE) {
				free(b);
				cli_error("%s: the value on standard input is above the %u-byte limit",
					  cmd, BULWARK_MAX_VALUE);
				return -1;
			}
			cap *= 2;
			nb = realloc(b, cap);
			if (!nb) {
				free(b);
				cli_error("%s: out of memory", cmd);
				return -1;
			}
			b = nb;
		}
		got = fread(b + n, 1, cap - n, stdin);
		n += got;
		if (got == 0) {
			if (ferror(stdin)) {
				free(b);
				cli_error("%s: reading standard input: %s", cmd, strerror(errno));
				return -1;
			}
			break;
		}
	}
	if (n > BULWARK_MAX_VALUE) {
		free(b);
		cli_error("%s: the value on standard input is above the %u-byte limit", cmd,
			  BULWARK_MAX_VALUE);
		return -1;
	}
	*buf = b;
	*val = b;
	*len = n;
	return 0;
}

static struct bulwark_client *kv_open(const struct kv_opts *o)
{
	struct bulwark_client *c = NULL;
	char err[512] = "";
	int rc = bulwark_client_open(o->config, o->key_file, NULL, &c, err, sizeof(err));

	if (rc != BULWARK_OK) {
		cli_error("%s: %s%s%s", o->cmd, bulwark_strerror(rc), err[0] ? ": " : "", err);
		return NULL;
	}
	if (o->timeout_ms)
		bulwark_client_set_timeout(c, o->timeout_ms);
	return c;
}

/* Exit status and message for a failed operation on key. */
static int kv_fail(const char *cmd, const char *key, int rc, uint64_t version)
{
	switch (rc) {
	case BULWARK_ERR_NOT_FOUND:
		cli_error("%s: %s: not found", cmd, key);
		return CLI_EXIT_NOT_FOUND;
	case BULWARK_ERR_CAS_MISMATCH:
		if (version)
			cli_error("%s: %s: version mismatch: the current version is %llu", cmd, key,
				  (unsigned long long)version);
		else
			cli_error("%s: %s: version mismatch: the key does not exist", cmd, key);
		return CLI_EXIT_MISMATCH;
	case BULWARK_ERR_TOO_BIG:
		cli_error("%s: %s: too big: keys take up to %u bytes, values up to %u, and the "
			  "whole request must fit in the group's batch_max_bytes", cmd, key,
			  BULWARK_MAX_KEY, BULWARK_MAX_VALUE);
		return CLI_EXIT_FAIL;
	default:
		cli_error("%s: %s: %s", cmd, key, bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
}

/* put and cas: write argv[first..] = KEY [EXPECTED_VERSION] VALUE. */
static int kv_write(int argc, char **argv, const char *cmd, int is_cas)
{
	struct kv_opts o = {cmd, NULL, NULL, 0, 0, 0};
	struct bulwark_client *c;
	const char *key, *value_arg;
	const void *val;
	size_t vlen;
	uint8_t *buf;
	uint64_t expected = 0, version = 0;
	int rc;

	rc = kv_parse(argc, argv, &o, is_cas ? 3 : 2);
	if (rc >= 0)
		return rc;
	key = argv[optind];
	if (is_cas && cli_parse_uint(cmd, "EXPECTED_VERSION", argv[optind + 1], 0, UINT64_MAX,
				     &expected) != 0)
		return CLI_EXIT_USAGE;
	value_arg = argv[optind + (is_cas ? 2 : 1)];
	if (strlen(key) > BULWARK_MAX_KEY)
		return cli_usage_error(cmd, "KEY is longer than %u bytes", BULWARK_MAX_KEY);
	if (kv_value(cmd, value_arg, &val, &vlen, &buf) != 0)
		return CLI_EXIT_FAIL;
	c = kv_open(&o);
	if (!c) {
		free(buf);
		return CLI_EXIT_FAIL;
	}
	if (is_cas)
		rc = bulwark_cas(c, key, strlen(key), expected, val, vlen, &version);
	else
		rc = bulwark_put(c, key, strlen(key), val, vlen, &version);
	bulwark_client_close(c);
	free(buf);
	if (rc != BULWARK_OK)
		return kv_fail(cmd, key, rc, version);
	printf("ok version=%llu\n", (unsigned long long)version);
	return CLI_EXIT_OK;
}

int cli_put(int argc, char **argv)
{
	return kv_write(argc, argv, "put", 0);
}

int cli_cas(int argc, char **argv)
{
	return kv_write(argc, argv, "cas", 1);
}

int cli_get(int argc, char **argv)
{
	struct kv_opts o = {"get", NULL, NULL, 0, 0, 0};
	struct bulwark_client *c;
	const char *key;
	uint8_t *val = NULL;
	size_t vlen = 0;
	uint64_t version = 0;
	int rc;

	rc = kv_parse(argc, argv, &o, 1);
	if (rc >= 0)
		return rc;
	key = argv[optind];
	if (strlen(key) > BULWARK_MAX_KEY)
		return cli_usage_error("get", "KEY is longer than %u bytes", BULWARK_MAX_KEY);
	c = kv_open(&o);
	if (!c)
		return CLI_EXIT_FAIL;
	rc = bulwark_get(c, key, strlen(key), &val, &vlen, &version);
	bulwark_client_close(c);
	if (rc != BULWARK_OK)
		return kv_fail("get", key, rc, version);
	if (o.show_version)
		fprintf(stderr, "version=%llu\n", (unsigned long long)version);
	if (fwrite(val, 1, vlen, stdout) != vlen || fflush(stdout) != 0) {
		cli_error("get: writing standard output: %s", strerror(errno));
		free(val);
		return CLI_EXIT_FAIL;
	}
	free(val);
	return CLI_EXIT_OK;
}

int cli_del(int argc, char **argv)
{
	struct kv_opts o = {"del", NULL, NULL, 0, 0, 0};
	struct bulwark_client *c;
	const char *key;
	uint64_t version = 0;
	int rc;

	rc = kv_parse(argc, argv, &o, 1);
	if (rc >= 0)
		return rc;
	key = argv[optind];
	if (strlen(key) > BULWARK_MAX_KEY)
		return cli_usage_error("del", "KEY is longer than %u bytes", BULWARK_MAX_KEY);
	c = kv_open(&o);
	if (!c)
		return CLI_EXIT_FAIL;
	rc = bulwark_del(c, key, strlen(key), &version);
	bulwark_client_close(c);
	if (rc != BULWARK_OK)
		return kv_fail("del", key, rc, version);
	printf("ok version=%llu\n", (unsigned long long)version);
	return CLI_EXIT_OK;
}
