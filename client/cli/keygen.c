/* keygen.c: `bulwark keygen`: write a new Ed25519 key pair as PEM files. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>

#include "client/cli/cli.h"

static void keygen_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark keygen --out DIR [--name NAME] [--force]\n"
		"Write a new Ed25519 key pair: DIR/NAME.key (private, mode 0600) and DIR/NAME.pub.\n"
		"\n"
		"  -o, --out DIR    folder for the key files (created with mode 0700 if missing)\n"
		"  -n, --name NAME  file name stem (default \"key\"): letters, digits, '.', '_'\n"
		"                   and '-', at most 64, not starting with '.'\n"
		"  -f, --force      replace existing key files\n"
		"  -h, --help       show this help\n");
}

int cli_keygen(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"out", required_argument, NULL, 'o'},
		{"name", required_argument, NULL, 'n'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL;
	const char *name = "key";
	int force = 0;
	int c;

	while ((c = getopt_long(argc, argv, ":o:n:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o':
			dir = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'h':
			keygen_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("keygen", c, argv);
		}
	}
	if (optind < argc)
		return cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
	if (dir == NULL)
		return cli_usage_error("keygen", "--out DIR is required");
	if (!cli_valid_key_name(name))
		return cli_usage_error("keygen",
				       "--name '%s' must be 1 to 64 letters, digits, '.', '_' "
				       "or '-', not starting with '.'", name);

	char key_path[PATH_MAX], pub_path[PATH_MAX], hex[2 * CRYPTO_ED25519_PUB + 1];
	uint8_t pub[CRYPTO_ED25519_PUB];
	if (cli_path_join(key_path, sizeof(key_path), dir, name, ".key") != 0 ||
	    cli_path_join(pub_path, sizeof(pub_path), dir, name, ".pub") != 0)
		return CLI_EXIT_FAIL;
	if (cli_mkdir(dir, 0700) != 0)
		return CLI_EXIT_FAIL;
	if (cli_keypair_write(key_path, pub_path, force, pub) != 0)
		return CLI_EXIT_FAIL;
	cli_hex(pub, sizeof(pub), hex);
	printf("wrote %s (private, mode 0600)\n", key_path);
	printf("wrote %s\n", pub_path);
	printf("public key %s\n", hex);
	return CLI_EXIT_OK;
}
