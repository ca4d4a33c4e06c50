/* chunk.c: `bulwark chunk put`: upload one chunk to every replica and print each
 * replica's receipt (for operators checking a group's chunk storage and its refusals). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/bulwark.h"
#include "client/bulwark_publish.h"
#include "client/cli/cli.h"
#include "crypto/crypto.h"

static void chunk_usage(FILE *out)
{
	fprintf(out,
		"Usage: bulwark chunk put -c CONFIG --key KEYFILE [--sha256 HEX] FILE\n"
		"Upload FILE (at most 1 MiB) as one chunk to every replica and print each\n"
		"replica's receipt: \"replica I: ok\" (signature verified) or the refusal.\n"
		"--sha256 names the chunk (default: the SHA-256 of FILE); a wrong name is\n"
		"refused by every replica with \"hash mismatch\".\n\n"
		"  -c, --config FILE    the group's configuration (INI)\n"
		"  -k, --key FILE       client private key: the admin's or a publisher's\n"
		"  -s, --sha256 HEX     the chunk's name (64 hex digits)\n"
		"  -h, --help           show this help\n"
		"\nExit status: 0 if 2f+1 replicas stored it, 1 otherwise, 2 usage.\n");
}

static int read_all(const char *path, uint8_t **data, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	size_t cap = 1024 * 1024 + 1, n;

	if (fp == NULL) {
		cli_error("chunk: %s: %s", path, strerror(errno));
		return -1;
	}
	*data = malloc(cap);
	if (*data == NULL) {
		fclose(fp);
		cli_error("chunk: out of memory");
		return -1;
	}
	n = fread(*data, 1, cap, fp);
	fclose(fp);
	if (n == cap) {
		free(*data);
		cli_error("chunk: %s: larger than 1 MiB", path);
		return -1;
	}
	*len = n;
	return 0;
}

static int unhex32(const char *s, uint8_t out[32])
{
	if (strlen(s) != 64)
		return -1;
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return 0;
}

int cli_chunk(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"sha256", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *config = NULL, *key = NULL, *sha = NULL;
	struct bulwark_chunk_receipts rec;
	struct bulwark_client *c = NULL;
	struct bulwark_chunk ch;
	uint8_t *data = NULL;
	size_t len = 0;
	char err[512];
	int opt, rc;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		chunk_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (argc < 2 || strcmp(argv[1], "put") != 0)
		return cli_usage_error("chunk", "expected 'put'");
	argc--;
	argv++;
	while ((opt = getopt_long(argc, argv, ":c:k:s:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config = optarg; break;
		case 'k': key = optarg; break;
		case 's': sha = optarg; break;
		case 'h':
			chunk_usage(stdout);
			return CLI_EXIT_OK;
		default:
			return cli_option_error("chunk", opt, argv);
		}
	}
	if (config == NULL || key == NULL)
		return cli_usage_error("chunk", "-c and --key are required");
	if (argc - optind != 1)
		return cli_usage_error("chunk", "expected one FILE");
	memset(&ch, 0, sizeof(ch));
	if (sha != NULL && unhex32(sha, ch.sha256) != 0)
		return cli_usage_error("chunk", "--sha256: not 64 hex digits");
	if (read_all(argv[optind], &data, &len) != 0)
		return CLI_EXIT_FAIL;
	if (sha == NULL)
		crypto_sha256(data, len, ch.sha256);
	ch.data = data;
	ch.len = len;
	err[0] = '\0';
	rc = bulwark_client_open(config, key, NULL, &c, err, sizeof(err));
	if (rc != BULWARK_OK) {
		free(data);
		cli_error("chunk: %s", err[0] ? err : bulwark_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	uint32_t need = 2 * bulwark_client_faults(c) + 1;
	rc = bulwark_chunks_upload(c, &ch, 1, need, 0, &rec, NULL, NULL, NULL);
	for (uint32_t i = 0; i < bulwark_client_replicas(c) && rc != BULWARK_ERR_ARG; i++)
		printf("replica %u: %s\n", i, bulwark_chunk_state_name(rec.state[i]));
	bulwark_client_close(c);
	free(data);
	if (rc != BULWARK_OK) {
		cli_error("chunk: %s: %u of %u receipts needed", bulwark_strerror(rc), rec.ok, need);
		return CLI_EXIT_FAIL;
	}
	return CLI_EXIT_OK;
}
