/* status.c: `bulwark status`: each replica's view, primary and progress, as a table or
 * as one JSON object per line. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/bulwark.h"
#include "client/cli/cli.h"

static void status_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark status -c CONFIG [--json] [--timeout MS]\n"
		"Ask every replica of the group for its view, primary, last executed and stable\n"
		"sequence numbers and checkpoint digest; one row per replica. A replica that is\n"
		"not reachable or does not answer within the timeout is shown as down.\n"
		"\n"
		"  -c, --config FILE  the group's configuration (INI)\n"
		"  -j, --json         one JSON object per replica and line\n"
		"  -t, --timeout MS   wait at most MS milliseconds for the answers (default 2000)\n"
		"  -h, --help         show this help\n"
		"\nExit status: 0 if at least one replica answered, 1 if none did, 2 usage.\n");
}

static const char *status_state(const struct bulwark_replica_status *s)
{
	if (!s->up)
		return s->error == BULWARK_ERR_TIMEOUT ? "silent" : "down";
	if (s->transferring)
		return "transfer";
	if (!s->view_active)
		return "viewchange";
	return "up";
}

static void status_row(const struct bulwark_replica_status *s)
{
	char digest[2 * 32 + 1];
	int zero = 1;

	for (size_t i = 0; i < sizeof(s->checkpoint_digest); i++)
		zero &= s->checkpoint_digest[i] == 0;
	cli_hex(s->checkpoint_digest, 8, digest);
	if (!s->up) {
		printf("%-3u %-22s %-10s %6s %7s %10s %10s  %s\n", s->id, s->address, status_state(s),
		       "-", "-", "-", "-", "-");
		return;
	}
	printf("%-3u %-22s %-10s %6llu %7u %10llu %10llu  %s\n", s->id, s->address, status_state(s),
	       (unsigned long long)s->view, s->primary, (unsigned long long)s->last_executed,
	       (unsigned long long)s->low_watermark, zero ? "-" : digest);
}

static void status_json(const struct bulwark_replica_status *s)
{
	char digest[2 * 32 + 1];

	/* Addresses come from a validated config (host names, IP literals): no escaping. */
	if (!s->up) {
		printf("{\"id\":%u,\"address\":\"%s\",\"up\":false,\"state\":\"%s\",\"error\":\"%s\"}\n",
		       s->id, s->address, status_state(s), bulwark_strerror(s->error));
		return;
	}
	cli_hex(s->checkpoint_digest, sizeof(s->checkpoint_digest), digest);
	printf("{\"id\":%u,\"address\":\"%s\",\"up\":true,\"state\":\"%s\",\"view\":%llu,"
	       "\"primary\":%u,\"view_active\":%s,\"transferring\":%s,\"last_executed\":%llu,"
	       "\"last_committed\":%llu,\"stable\":%llu,\"dropped\":%llu,"
	       "\"checkpoint_digest\":\"%s\",\"uptime_ms\":%llu}\n",
	       s->id, s->address, status_state(s), (unsigned long long)s->view, s->primary,
	       s->view_active ? "true" : "false", s->transferring ? "true" : "false",
	       (unsigned long long)s->last_executed, (unsigned long long)s->last_committed,
	       (unsigned long long)s->low_watermark, (unsigned long long)s->dropped, digest,
	       (unsigned long long)s->uptime_ms);
}

int cli_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"timeout", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL;
	int json = 0, c, rc, answered = 0;
	uint64_t timeout = 2000;
	struct bulwark_client *cl = NULL;
	struct bulwark_replica_status *st;
	size_t n = 0;
	char err[512] = "";

	while ((c = getopt_long(argc, argv, ":c:jt:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 't':
			if (cli_parse_uint("status", "--timeout", optarg, 1, 600000, &timeout) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'h':
			status_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("status", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
	if (!config)
		return cli_usage_error("status", "-c CONFIG is required");
	rc = bulwark_client_open(config, NULL, NULL, &cl, err, sizeof(err));
	if (rc != BULWARK_OK) {
		cli_error("status: %s%s%s", bulwark_strerror(rc), err[0] ? ": " : "", err);
		return CLI_EXIT_FAIL;
	}
	st = calloc(bulwark_client_replicas(cl), sizeof(*st));
	if (!st) {
		bulwark_client_close(cl);
		cli_error("status: out of memory");
		return CLI_EXIT_FAIL;
	}
	rc = bulwark_status(cl, (uint32_t)timeout, st, bulwark_client_replicas(cl), &n);
	bulwark_client_close(cl);
	if (rc != BULWARK_OK) {
		free(st);
		cli_error("status: %s", bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (!json)
		printf("%-3s %-22s %-10s %6s %7s %10s %10s  %s\n", "ID", "ADDRESS", "STATE", "VIEW",
		       "PRIMARY", "EXECUTED", "STABLE", "CHECKPOINT");
	for (size_t i = 0; i < n; i++) {
		if (json)
			status_json(&st[i]);
		else
			status_row(&st[i]);
		answered += st[i].up;
	}
	free(st);
	if (!answered) {
		cli_error("status: no replica answered");
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
