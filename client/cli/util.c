/* util.c: helpers shared by the `bulwark` subcommands: errors, numbers, paths, key pairs. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/cli/cli.h"
#include "common/config.h"

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("bulwark: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "bulwark %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'bulwark %s --help'.\n", cmd);
	return CLI_EXIT_USAGE;
}

void cli_getopt_reset(void)
{
	optind = 0; /* glibc: full reinitialisation, argv[0] is skipped */
	opterr = 0;
}

int cli_option_error(const char *cmd, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	if (c == ':') {
		if (optopt != 0 && strncmp(arg, "--", 2) != 0)
			return cli_usage_error(cmd, "option '-%c' needs a value", optopt);
		return cli_usage_error(cmd, "option '%s' needs a value", arg);
	}
	if (optopt != 0)
		return cli_usage_error(cmd, "unknown option '-%c'", optopt);
	return cli_usage_error(cmd, "unknown option '%s'", arg);
}

int cli_parse_uint(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
		   uint64_t *out)
{
	int rc = config_parse_uint(s, min, max, out);
	if (rc == CONFIG_OK)
		return 0;
	return cli_usage_error(cmd, "%s '%s' is not an integer from %llu to %llu", opt, s,
			       (unsigned long long)min, (unsigned long long)max);
}

int cli_path_exists(const char *path)
{
	struct stat st;
	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	cli_error("%s: %s", path, strerror(errno));
	return -1;
}

int cli_mkdir(const char *path, mode_t mode)
{
	struct stat st;
	if (mkdir(path, mode) == 0)
		return 0;
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	if (errno == EEXIST)
		cli_error("%s exists and is not a folder", path);
	else
		cli_error("cannot create folder %s: %s", path, strerror(errno));
	return -1;
}

int cli_path_join(char *out, size_t outlen, const char *dir, const char *stem, const char *ext)
{
	int n = snprintf(out, outlen, "%s/%s%s", dir, stem, ext);
	if (n < 0 || (size_t)n >= outlen) {
		cli_error("path %s/%s%s is too long", dir, stem, ext);
		return -1;
	}
	return 0;
}

void cli_hex(const uint8_t *b, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int cli_valid_key_name(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > 64 || name[0] == '.')
		return 0;
	return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
	       len;
}

int cli_keypair_write(const char *key_path, const char *pub_path, int force,
		      uint8_t pub[CRYPTO_ED25519_PUB])
{
	struct crypto_ed25519_key k;
	char msg[512];
	int rc;

	if (!force) {
		const char *paths[2] = {key_path, pub_path};
		for (int i = 0; i < 2; i++) {
			int e = cli_path_exists(paths[i]);
			if (e < 0)
				return -1;
			if (e > 0) {
				cli_error("%s already exists (use --force to replace it)", paths[i]);
				return -1;
			}
		}
	}
	rc = crypto_ed25519_generate(&k);
	if (rc != CRYPTO_OK) {
		cli_error("cannot generate a key: %s", crypto_strerror(rc));
		return -1;
	}
	msg[0] = '\0';
	rc = crypto_ed25519_save_private(&k, key_path, msg, sizeof(msg));
	if (rc != CRYPTO_OK)
		goto err_after_key;
	rc = crypto_ed25519_save_public(&k, pub_path, msg, sizeof(msg));
	if (rc != CRYPTO_OK)
		goto err_after_private;
	if (pub != NULL)
		memcpy(pub, k.pub, CRYPTO_ED25519_PUB);
	crypto_ed25519_free(&k);
	return 0;

err_after_private:
	unlink(key_path);
err_after_key:
	crypto_ed25519_free(&k);
	cli_error("%s", msg[0] ? msg : crypto_strerror(rc));
	return -1;
}
