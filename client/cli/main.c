/* main.c: the `bulwark` CLI: dispatches argv[1] to a subcommand from one table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/cli.h"

static const struct cli_command commands[] = {
	{"keygen", "write a new Ed25519 key pair (NAME.key, NAME.pub)", cli_keygen},
	{"cluster", "a local group: init, up, down, status", cli_cluster},
	{"put", "set a key to a value", cli_put},
	{"get", "print a key's value", cli_get},
	{"del", "remove a key", cli_del},
	{"cas", "set a key if its version is the expected one", cli_cas},
	{"status", "each replica's view, primary and progress", cli_status},
	{"channel", "create a channel or rotate its k-of-m publisher policy", cli_channel},
	{"publish", "upload and publish a signed release", cli_publish},
	{"chunk", "upload one chunk to every replica and show the receipts", cli_chunk},
	{"poll", "fetch, verify and install a channel's release over HTTP", cli_poll},
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: bulwark COMMAND [OPTIONS]\n"
		     "The bulwark command line: keys, local clusters, key-value operations, status.\n\n"
		     "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'bulwark COMMAND --help' for the options of one command.\n"
		     "  -h, --help     show this help\n"
		     "  -V, --version  show the version\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_USAGE;
	}
	const char *name = argv[1];
	if (strcmp(name, "-h") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "help") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(name, "-V") == 0 || strcmp(name, "--version") == 0) {
		printf("bulwark %s\n", BULWARK_VERSION);
		return CLI_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(name, commands[i].name) == 0) {
			cli_getopt_reset();
			return commands[i].run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "bulwark: unknown command '%s'\nTry 'bulwark --help'.\n", name);
	return CLI_EXIT_USAGE;
}
