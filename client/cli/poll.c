/* poll.c: `bulwark poll`: fetch, verify and install a channel's release from replicas or
 * mirrors over HTTP, once or every S seconds (a thin wrapper over bulwark_poll_once). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/bulwark_update.h"
#include "client/cli/cli.h"

#define POLL_URL_MAX 1024

static volatile sig_atomic_t poll_stop;

static void poll_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark poll --channel NAME --trust TRUSTFILE --from URL[,URL...] --out DIR\n"
		"                    [--state DIR] [--interval S] [--timeout S] [--quiet]\n"
		"Fetch the channel's signed manifest from the first source whose answer verifies\n"
		"(publisher threshold, Merkle path, replica certificate, expiry, no rollback),\n"
		"download the chunks it lacks from any source, check every chunk and file, install\n"
		"the files atomically into DIR and save the accepted version. A source that fails\n"
		"is reported with its reason and the next one is tried.\n"
		"\n"
		"  -n, --channel NAME   the channel, e.g. stable/linux-amd64\n"
		"  -T, --trust FILE     the trust file pinning the group and the channel's publishers\n"
		"  -f, --from URLS      comma-separated base URLs of replicas or mirrors (at most %u)\n"
		"  -o, --out DIR        where the files are installed\n"
		"  -s, --state DIR      saved state and download cache (default: the trust file's\n"
		"                       state_dir)\n"
		"  -i, --interval S     poll every S seconds (+-20%% jitter) until SIGINT or SIGTERM\n"
		"  -t, --timeout S      time limit of each transfer in seconds (default 30)\n"
		"  -q, --quiet          print nothing but errors\n"
		"  -h, --help           show this help\n"
		"\nExit status: 0 the verified release is installed (or already was), 1 the poll\n"
		"failed (the message names the check), 2 usage.\n",
		BULWARK_POLL_MAX_SOURCES);
}

struct poll_cli {
	int quiet;
	int tty;          /* stderr is a terminal: show chunk progress */
	int progress_shown;
};

static void poll_progress(void *arg, const struct bulwark_poll_event *ev)
{
	struct poll_cli *c = arg;

	switch (ev->kind) {
	case BULWARK_POLL_EV_SOURCE_FAILED:
		if (c->progress_shown) {
			fputc('\n', stderr);
			c->progress_shown = 0;
		}
		fprintf(stderr, "bulwark poll: source %s failed: %s: %s\n", ev->url,
			bulwark_poll_strerror(ev->code), ev->text);
		break;
	case BULWARK_POLL_EV_CHUNK:
		if (!c->quiet && c->tty && ev->total > 0) {
			fprintf(stderr, "\r  %llu of %llu bytes (%3llu%%)",
				(unsigned long long)ev->done, (unsigned long long)ev->total,
				(unsigned long long)(ev->done * 100 / ev->total));
			c->progress_shown = 1;
		}
		break;
	case BULWARK_POLL_EV_FILE:
		if (c->progress_shown) {
			fputc('\n', stderr);
			c->progress_shown = 0;
		}
		if (!c->quiet)
			printf("installed %s\n", ev->text);
		break;
	case BULWARK_POLL_EV_DOCUMENT:
		break;
	}
}

/* Split the comma-separated list s (modified in place) into urls; trailing '/' cut. */
static int poll_split_urls(char *s, const char **urls, size_t *n)
{
	char *save = NULL, *tok;

	*n = 0;
	for (tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		size_t len = strlen(tok);
		if (*n == BULWARK_POLL_MAX_SOURCES)
			return cli_usage_error("poll", "--from: more than %u URLs",
					       BULWARK_POLL_MAX_SOURCES);
		if (strncmp(tok, "http://", 7) != 0 && strncmp(tok, "https://", 8) != 0)
			return cli_usage_error("poll", "--from: '%s' is not an http:// or https:// URL",
					       tok);
		if (len > POLL_URL_MAX)
			return cli_usage_error("poll", "--from: a URL longer than %d bytes",
					       POLL_URL_MAX);
		while (len > 8 && tok[len - 1] == '/')
			tok[--len] = '\0';
		urls[(*n)++] = tok;
	}
	if (*n == 0)
		return cli_usage_error("poll", "--from: no URL");
	return 0;
}

static void poll_on_signal(int sig)
{
	(void)sig;
	poll_stop = 1;
}

/* One poll; prints the outcome. Returns an exit status. */
static int poll_round(const struct bulwark_poll_config *cfg, struct poll_cli *c)
{
	struct bulwark_poll_result res;
	int rc = bulwark_poll_once(cfg, &res);

	if (c->progress_shown) {
		fputc('\n', stderr);
		c->progress_shown = 0;
	}
	if (rc != 0) {
		cli_error("poll: %s: %s", bulwark_poll_strerror(rc), res.err);
		return CLI_EXIT_FAIL;
	}
	if (c->quiet)
		return CLI_EXIT_OK;
	if (res.up_to_date)
		printf("%s: up to date (version %llu, certificate seq %llu%s)\n", cfg->channel,
		       (unsigned long long)res.version, (unsigned long long)res.seq,
		       res.not_modified ? ", not modified" : "");
	else
		printf("%s: version %llu installed from %s (%u files written, %llu chunks "
		       "fetched, %llu bytes, %llu resumed)\n", cfg->channel,
		       (unsigned long long)res.version, res.source, res.files_installed,
		       (unsigned long long)res.chunks_fetched, (unsigned long long)res.bytes_fetched,
		       (unsigned long long)res.chunks_resumed);
	fflush(stdout);
	return CLI_EXIT_OK;
}

/* Sleep about interval seconds (uniform in +-20%), returning early on a signal. */
static void poll_sleep(uint64_t interval)
{
	uint32_t r = 0;
	uint64_t ms = interval * 1000u, span = ms * 2 / 5;
	struct timespec ts;

	if (crypto_random(&r, sizeof(r)) != 0)
		r = (uint32_t)time(NULL);
	ms = ms - ms / 5 + (span > 0 ? (uint64_t)r % (span + 1) : 0);
	ts.tv_sec = (time_t)(ms / 1000u);
	ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
	/* A signal interrupts nanosleep; the loop then sees poll_stop. */
	while (!poll_stop && nanosleep(&ts, &ts) != 0)
		;
}

int cli_poll(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"channel", required_argument, NULL, 'n'},
		{"trust", required_argument, NULL, 'T'},
		{"from", required_argument, NULL, 'f'},
		{"out", required_argument, NULL, 'o'},
		{"state", required_argument, NULL, 's'},
		{"interval", required_argument, NULL, 'i'},
		{"timeout", required_argument, NULL, 't'},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bulwark_poll_config cfg;
	struct poll_cli cli = {0};
	struct bulwark_trust *trust = NULL;
	const char *urls[BULWARK_POLL_MAX_SOURCES];
	const char *trust_path = NULL;
	char *from = NULL, err[512] = "";
	uint64_t interval = 0, timeout = 30;
	size_t nurls = 0;
	int c, rc;

	memset(&cfg, 0, sizeof(cfg));
	while ((c = getopt_long(argc, argv, ":n:T:f:o:s:i:t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			cfg.channel = optarg;
			break;
		case 'T':
			trust_path = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 'o':
			cfg.out_dir = optarg;
			break;
		case 's':
			cfg.state_dir = optarg;
			break;
		case 'i':
			if (cli_parse_uint("poll", "--interval", optarg, 1, 86400 * 7, &interval) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 't':
			if (cli_parse_uint("poll", "--timeout", optarg, 1, 3600, &timeout) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'q':
			cli.quiet = 1;
			break;
		case 'h':
			poll_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("poll", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("poll", "unexpected argument '%s'", argv[optind]);
	if (cfg.channel == NULL || trust_path == NULL || from == NULL || cfg.out_dir == NULL)
		return cli_usage_error("poll", "--channel, --trust, --from and --out are required");
	rc = poll_split_urls(from, urls, &nurls);
	if (rc != 0)
		return rc;
	rc = bulwark_trust_load(trust_path, &trust, err, sizeof(err));
	if (rc != 0) {
		cli_error("poll: %s: %s", bulwark_upd_strerror(rc), err);
		return CLI_EXIT_FAIL;
	}
	cli.tty = isatty(STDERR_FILENO);
	cfg.trust = trust;
	cfg.urls = urls;
	cfg.nurls = nurls;
	cfg.timeout_ms = (uint32_t)(timeout * 1000u);
	cfg.progress = poll_progress;
	cfg.progress_arg = &cli;
	if (interval == 0) {
		rc = poll_round(&cfg, &cli);
		bulwark_trust_free(trust);
		return rc;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = poll_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	while (!poll_stop) {
		rc = poll_round(&cfg, &cli);
		poll_sleep(interval);
	}
	bulwark_trust_free(trust);
	return rc;
}
