/* channel.c: `bulwark channel create` and `bulwark channel rotate`: create a channel
 * with its k-of-m publisher policy (authorized by the group's admin key), and rotate
 * that policy to new publisher keys (signed under the old and the new policy). */
#include <getopt.h>
#include <stdint.h>
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
		"       bulwark channel rotate -c CONFIG --policy-version PV --old-key KEYFILE...\n"
		"                              --new-key KEYFILE... --publishers K KEYFILE.pub... NAME\n"
		"Run `bulwark channel create --help` or `bulwark channel rotate --help` for more.\n");
}

static void create_usage(FILE *out)
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

static void rotate_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark channel rotate -c CONFIG --policy-version PV --old-key KEYFILE...\n"
		"                              --new-key KEYFILE... --publishers K KEYFILE.pub... NAME\n"
		"Replace channel NAME's publisher policy with a new one: K signatures of the given\n"
		"M public keys. The rotation is signed with every --old-key and --new-key: the group\n"
		"accepts it with at least the current threshold of signatures by the current\n"
		"publisher keys and at least K by the new ones. PV is the channel's current policy\n"
		"version + 1 (creation is version 1). The first --old-key is the client identity.\n"
		"Light clients verify releases signed by the new keys only once their trust file\n"
		"pins the new publisher keys and threshold.\n\n"
		"  -c, --config FILE          the group's configuration (INI)\n"
		"  -v, --policy-version PV    the new policy version (>= 2)\n"
		"  -o, --old-key FILE         a current publisher's private key (PEM, 0600); repeat\n"
		"  -n, --new-key FILE         a new publisher's private key (PEM, 0600); repeat\n"
		"  -p, --publishers K         new threshold; the new public key files follow (then\n"
		"                             NAME last)\n"
		"  -h, --help                 show this help\n"
		"\nExit status: 0 rotated, 1 refused or failed (the reason is printed), 2 usage.\n");
}

/* The positional arguments: the public key files, then NAME (last). 0 or CLI_EXIT_USAGE. */
static int channel_positionals(int argc, char **argv, int first, uint64_t k,
			       const char **pubs, uint32_t *m, const char **name)
{
	*m = 0;
	if (argc - first < 2)
		return cli_usage_error("channel", "expected publisher key files and NAME");
	for (int i = first; i < argc - 1; i++) {
		if (*m >= CHANNEL_MAX_KEYS)
			return cli_usage_error("channel", "more than %u publisher keys", CHANNEL_MAX_KEYS);
		pubs[(*m)++] = argv[i];
	}
	*name = argv[argc - 1];
	if (k > *m)
		return cli_usage_error("channel", "--publishers %llu but only %u key files",
				       (unsigned long long)k, *m);
	return 0;
}

/* Open a group client with the given identity key; 0, or CLI_EXIT_FAIL (printed). */
static int channel_open(const char *config, const char *key, struct bulwark_client **c)
{
	char err[512] = "";
	int rc = bulwark_client_open(config, key, NULL, c, err, sizeof(err));

	if (rc != BULWARK_OK) {
		cli_error("channel: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Report a create or rotate: a local failure, the group's refusal, or what was done. */
static int channel_report(int rc, const char *err, const struct bulwark_upd_result *res,
			  const char *done, const char *name, uint64_t k, uint32_t m)
{
	if (rc != BULWARK_OK) {
		cli_error("channel: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (res->status != 0) {
		cli_error("channel: refused by the group: %s: %s", res->status_name, res->text);
		return CLI_EXIT_FAIL;
	}
	printf("%s %s policy %llu-of-%u policy_version %llu\n", done, name, (unsigned long long)k,
	       m, (unsigned long long)res->a);
	return CLI_EXIT_OK;
}

static int channel_create(int argc, char **argv)
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
			create_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("channel", ch, argv);
		}
	}
	if (config == NULL || admin == NULL || k == 0)
		return cli_usage_error("channel", "-c, --admin-key and --publishers are required");
	/* The positional arguments: the key files, then NAME (last), in any option order. */
	if (channel_positionals(argc, argv, optind, k, pubs, &m, &name) != 0)
		return CLI_EXIT_USAGE;
	if (channel_open(config, admin, &c) != 0)
		return CLI_EXIT_FAIL;
	err[0] = '\0';
	rc = bulwark_channel_create(c, admin, name, (uint32_t)k, pubs, m, &res, err, sizeof(err));
	bulwark_client_close(c);
	return channel_report(rc, err, &res, "created", name, k, m);
}

static int channel_rotate(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"policy-version", required_argument, NULL, 'v'},
		{"old-key", required_argument, NULL, 'o'},
		{"new-key", required_argument, NULL, 'n'},
		{"publishers", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *name = NULL;
	const char *pubs[CHANNEL_MAX_KEYS];
	/* The old keys first (the first is the client identity), then the new ones. */
	const char *keys[2 * CHANNEL_MAX_KEYS];
	const char *newkeys[CHANNEL_MAX_KEYS];
	struct bulwark_upd_result res;
	struct bulwark_client *c = NULL;
	uint64_t k = 0, pv = 0;
	uint32_t m = 0, nold = 0, nnew = 0;
	char err[512];
	int ch, rc;

	while ((ch = getopt_long(argc, argv, ":c:v:o:n:p:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 'v':
			if (cli_parse_uint("channel", "--policy-version", optarg, 2, UINT64_MAX, &pv) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'o':
			if (nold >= CHANNEL_MAX_KEYS)
				return cli_usage_error("channel", "more than %u --old-key options",
						       CHANNEL_MAX_KEYS);
			keys[nold++] = optarg;
			break;
		case 'n':
			if (nnew >= CHANNEL_MAX_KEYS)
				return cli_usage_error("channel", "more than %u --new-key options",
						       CHANNEL_MAX_KEYS);
			newkeys[nnew++] = optarg;
			break;
		case 'p':
			if (cli_parse_uint("channel", "--publishers", optarg, 1, CHANNEL_MAX_KEYS, &k) != 0)
				return CLI_EXIT_USAGE;
			break;
		case 'h':
			rotate_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("channel", ch, argv);
		}
	}
	if (config == NULL || pv == 0 || nold == 0 || nnew == 0 || k == 0)
		return cli_usage_error("channel", "-c, --policy-version, --old-key, --new-key and "
					"--publishers are required");
	if (channel_positionals(argc, argv, optind, k, pubs, &m, &name) != 0)
		return CLI_EXIT_USAGE;
	memcpy(keys + nold, newkeys, nnew * sizeof(newkeys[0]));
	if (channel_open(config, keys[0], &c) != 0)
		return CLI_EXIT_FAIL;
	err[0] = '\0';
	rc = bulwark_channel_rotate(c, name, pv, (uint32_t)k, pubs, m, keys, nold + nnew, &res,
				    err, sizeof(err));
	bulwark_client_close(c);
	return channel_report(rc, err, &res, "rotated", name, k, m);
}

int cli_channel(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		channel_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc >= 2 && strcmp(argv[1], "create") == 0)
		return channel_create(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
		return channel_rotate(argc - 1, argv + 1);
	return cli_usage_error("channel", "expected 'create' or 'rotate'");
}
