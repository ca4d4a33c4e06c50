/* cli.h: the subcommands of the `bulwark` CLI and the helpers they share. */
#ifndef BULWARK_CLI_H
#define BULWARK_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto/crypto.h"

/* Exit statuses: 0 success, 1 the operation failed, 2 the command line was wrong,
 * 3 the key does not exist (get, del), 4 the key's version is not the expected one (cas). */
#define CLI_EXIT_OK        0
#define CLI_EXIT_FAIL      1
#define CLI_EXIT_USAGE     2
#define CLI_EXIT_NOT_FOUND 3
#define CLI_EXIT_MISMATCH  4

/* A subcommand: run gets argv[0] = its own name and returns an exit status. */
struct cli_command {
	const char *name;
	const char *summary;
	int (*run)(int argc, char **argv);
};

int cli_keygen(int argc, char **argv);
int cli_cluster(int argc, char **argv);
int cli_put(int argc, char **argv);    /* kv.c */
int cli_get(int argc, char **argv);
int cli_del(int argc, char **argv);
int cli_cas(int argc, char **argv);
int cli_status(int argc, char **argv); /* status.c */
int cli_poll(int argc, char **argv);   /* poll.c */
int cli_publish(int argc, char **argv); /* publish.c */
int cli_channel(int argc, char **argv); /* channel.c */
int cli_chunk(int argc, char **argv);   /* chunk.c */

/* Prints "bulwark: <message>" and a newline to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "bulwark CMD: <message>" and a hint to run --help; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Resets getopt before a subcommand parses its own argv (glibc: optind = 0) and
 * silences getopt's own messages: option strings start with ':' and errors are
 * reported through cli_option_error(). */
void cli_getopt_reset(void);
/* After getopt_long returned '?' or ':': prints what was wrong with argv's last
 * option in cmd's name; returns CLI_EXIT_USAGE. */
int cli_option_error(const char *cmd, int c, char **argv);

/* Parses the value of option opt as a decimal in [min, max]; prints the problem
 * and returns CLI_EXIT_USAGE on failure, 0 on success. */
int cli_parse_uint(const char *cmd, const char *opt, const char *s, uint64_t min, uint64_t max,
		   uint64_t *out);

/* 1 if path exists (lstat), 0 if not; -1 (printed) if it cannot be checked. */
int cli_path_exists(const char *path);
/* Creates folder path with mode unless it already is a folder. 0 or -1 (printed). */
int cli_mkdir(const char *path, mode_t mode);

/* "dir/stem.ext" into out (outlen bytes); -1 (printed) if it does not fit. */
int cli_path_join(char *out, size_t outlen, const char *dir, const char *stem, const char *ext);

/* Lower-case hex of n bytes into out (2n + 1 bytes). */
void cli_hex(const uint8_t *b, size_t n, char *out);

/* 1 if name is a usable key file stem: 1..64 of [A-Za-z0-9._-], not starting with '.'. */
int cli_valid_key_name(const char *name);

/* Generates an Ed25519 pair and writes key_path (0600) and pub_path. Both files must
 * not exist unless force. pub (may be NULL) receives the public key. On failure
 * nothing new is left behind and the problem is printed; returns 0 or -1. */
int cli_keypair_write(const char *key_path, const char *pub_path, int force,
		      uint8_t pub[CRYPTO_ED25519_PUB]);

#endif
