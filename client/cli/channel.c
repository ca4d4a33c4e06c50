/* channel.c: `bulwark channel create`: create a channel with its k-of-m publisher
 * policy, authorized by the group's admin key. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bulwark.h"
#include "client/bulwark_publish.h"
#include "client/cli/cli.h"

#define CHANNEL_MAX_KEYS 32u

static void channel_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark channel create -c CONFIG --admin-key KEYFILE\n"
		"                              --publishers K KEYFILE.pub... NAME\n"
		"Create channel NAME whose manifests need K signatures of the given M publisher\n"
		"public keys. The admin key (the group's admin_key) signs the creation and is\n"
		"the client identity.\n\n"
		"  -c, --config FILE       the group's configuration (INI)\n"
		"  -a, --admin-key FILE    the admin private key (PEM, 0600)\n"
		"  -p, --publishers K      threshold; the public key files follow (then NAME last)\n"
		"  -h, --help              show this help\n"
		"\nExit status: 0 created, 1 refused or failed (the reason is printed), 2 usage.\n");
}

int cli_channel(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"admin-key", required_argument, NULL, 'a'},
		{"publishers", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *admin = NULL, *name = NULL;
	const char *pubs[CHANNEL_MAX_KEYS];
	struct bulwark_upd_result res;
	struct bulwark_client *c = NULL;
	uint64_t k = 0;
	uint32_t m = 0;
	char err[512];
	int ch, rc;

	if (argc < 2 || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "-h") != 0 &&
			 strcmp(argv[1], "--help") != 0))
		return cli_usage_error("channel", "expected 'create'");
	if (strcmp(argv[1], "create") != 0) {
		channel_usage(stdout);
		return CLI_EXIT_OK;
	}
	argc--;
	argv++;
	while ((ch = getopt_long(argc, argv, ":c:a:p:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'a':
			admin = optarg;
			break;
		case 'p':
			if (cli_parse_uint("channel", "--publishers", optarg, 1, CHANNEL_MAX_KEYS, &k) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'h':
			channel_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("channel", ch, argv);
		}
	}
	if (config == NULL || admin == NULL || k == 0)
		return cli_usage_error("channel", "-c, --admin-key and --publishers are required");
	/* The positional arguments: the key files, then NAME (last), in any option order. */
	if (argc - optind < 2)
		return cli_usage_error("channel", "expected publisher key files and NAME");
	for (int i = optind; i < argc - 1; i++) {
		if (m >= CHANNEL_MAX_KEYS)
			return cli_usage_error("channel", "more than %u publisher keys", CHANNEL_MAX_KEYS);
		pubs[m++] = argv[i];
	}
	name = argv[argc - 1];
	if (k > m)
		return cli_usage_error("channel", "--publishers %llu but only %u key files",
				       (unsigned long long)k, m);
	err[0] = '\0';
	rc = bulwark_client_open(config, admin, NULL, &c, err, sizeof(err));
	if (rc != BULWARK_OK) {
		cli_error("channel: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	rc = bulwark_channel_create(c, admin, name, (uint32_t)k, pubs, m, &res, err, sizeof(err));
	bulwark_client_close(c);
	if (rc != BULWARK_OK) {
		cli_error("channel: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (res.status != 0) {
		cli_error("channel: refused by the group: %s: %s", res.status_name, res.text);
		return CLI_EXIT_FAIL;
	}
	printf("created %s policy %llu-of-%u policy_version %llu\n", name, (unsigned long long)k,
	       m, (unsigned long long)res.a);
	return CLI_EXIT_OK;
}
