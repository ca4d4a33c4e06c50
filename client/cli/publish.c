/* publish.c: `bulwark publish`: chunk files, upload them to every replica with signed
 * receipts, sign the manifest with the publisher keys and order PUBLISH. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "client/bulwark.h"
#include "client/bulwark_publish.h"
#include "client/cli/cli.h"

#define PUBLISH_MAX_KEYS 32u

static void publish_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark publish -c CONFIG --channel NAME --version V --key KEYFILE...\n"
		"                       [--expires-days D] [--timeout S] FILES...\n"
		"Split FILES into 256 KiB chunks, upload every chunk to every replica (2f+1\n"
		"signed receipts each), sign the manifest with each publisher key and publish it.\n"
		"Prints the manifest hash. The first key is also the client identity.\n\n"
		"  -c, --config FILE       the group's configuration (INI)\n"
		"  -n, --channel NAME      the channel, e.g. stable/linux-amd64\n"
		"  -V, --version V         the release's version (above the current one)\n"
		"  -k, --key KEYFILE       a publisher private key (PEM, 0600); repeat for k-of-m\n"
		"  -e, --expires-days D    the manifest expires D days from now (default 30)\n"
		"  -t, --timeout S         time limit of the uploads in seconds (default 120)\n"
		"  -q, --quiet             no progress bar\n"
		"  -h, --help              show this help\n"
		"\nExit status: 0 published, 1 refused or failed (the reason is printed), 2 usage.\n");
}

struct progress {
	int on;
	double start;
};

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void show_progress(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	int width = 40, fill;

	if (!p->on || total == 0)
		return;
	fill = (int)((done * (uint64_t)width) / total);
	fprintf(stderr, "\rupload [%.*s%*s] %3u%% %llu/%llu receipts %.1fs",
		fill, "========================================", width - fill, "",
		(unsigned)(done * 100u / total), (unsigned long long)done,
		(unsigned long long)total, now_s() - p->start);
	if (done == total)
		fputc('\n', stderr);
}

int cli_publish(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"channel", required_argument, NULL, 'n'},
		{"version", required_argument, NULL, 'V'},
		{"key", required_argument, NULL, 'k'},
		{"expires-days", required_argument, NULL, 'e'},
		{"timeout", required_argument, NULL, 't'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *keys[PUBLISH_MAX_KEYS];
	const char *config = NULL;
	struct bulwark_publish_opts o;
	struct bulwark_upd_result res;
	struct bulwark_client *c = NULL;
	struct progress prog;
	uint64_t v, days = 30, timeout = 120;
	char err[1024], hex[65];
	int ch, quiet = 0, rc;

	memset(&o, 0, sizeof(o));
	while ((ch = getopt_long(argc, argv, ":c:n:V:k:e:t:qh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'n':
			o.channel = optarg;
			break;
		case 'V':
			if (cli_parse_uint("publish", "--version", optarg, 1, (1ull << 53) - 1, &v) != 0)
				return CLI_EXIT_USAGE;
			o.version = v;
			break;
		case 'k':
			if (o.nkeys >= PUBLISH_MAX_KEYS)
				return cli_usage_error("publish", "more than %u --key options",
						       PUBLISH_MAX_KEYS);
			keys[o.nkeys++] = optarg;
			break;
		case 'e':
			if (cli_parse_uint("publish", "--expires-days", optarg, 1, 3650, &days) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_uint("publish", "--timeout", optarg, 1, 86400, &timeout) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			publish_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("publish", ch, argv);
		}
	}
	if (config == NULL || o.channel == NULL || o.version == 0 || o.nkeys == 0)
		return cli_usage_error("publish", "-c, --channel, --version and --key are required");
	if (optind >= argc)
		return cli_usage_error("publish", "no FILES to publish");
	o.key_paths = keys;
	o.files = (const char *const *)(argv + optind);
	o.nfiles = (uint32_t)(argc - optind);
	o.expires_s = days * 86400u;
	o.timeout_ms = (uint32_t)(timeout * 1000u);
	prog.on = !quiet && isatty(STDERR_FILENO);
	prog.start = now_s();
	o.progress = show_progress;
	o.progress_arg = &prog;

	err[0] = '\0';
	rc = bulwark_client_open(config, keys[0], NULL, &c, err, sizeof(err));
	if (rc != BULWARK_OK) {
		cli_error("publish: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	bulwark_client_set_timeout(c, (uint32_t)(timeout * 1000u));
	rc = bulwark_publish(c, &o, &res, err, sizeof(err));
	bulwark_client_close(c);
	if (rc != BULWARK_OK) {
		if (prog.on)
			fputc('\n', stderr);
		cli_error("publish: refused: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (res.status != 0) {
		cli_error("publish: refused by the group: %s: %s (a=%llu b=%llu c=%llu)",
			  res.status_name, res.text, (unsigned long long)res.a,
			  (unsigned long long)res.b, (unsigned long long)res.c);
		return CLI_EXIT_FAIL;
	}
	cli_hex(res.hash, 32, hex);
	printf("published %s version %llu manifest %s\n", o.channel,
	       (unsigned long long)res.a, hex);
	return CLI_EXIT_OK;
}
