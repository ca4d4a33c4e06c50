/* fuzz_config.c: libFuzzer target: arbitrary bytes as a config file, through full validation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "crypto/crypto.h"

/* A folder with keys/r0..r3 and keys/admin (.pub, and .key at mode 0600), made from
 * fixed seeds so that runs are reproducible; the corpus refers to these names. */
static char fuzz_dir[64];
static const char *const fuzz_names[5] = {"r0", "r1", "r2", "r3", "admin"};

static void fuzz_cleanup(void)
{
	char p[128];
	for (int i = 0; i < 5; i++) {
		snprintf(p, sizeof(p), "%s/keys/%s.key", fuzz_dir, fuzz_names[i]);
		unlink(p);
		snprintf(p, sizeof(p), "%s/keys/%s.pub", fuzz_dir, fuzz_names[i]);
		unlink(p);
	}
	snprintf(p, sizeof(p), "%s/keys", fuzz_dir);
	rmdir(p);
	rmdir(fuzz_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/bulwark-fuzz-config-XXXXXX";
	char p[128], q[128];
	(void)argc;
	(void)argv;
	if (mkdtemp(tmpl) == NULL)
		abort();
	memcpy(fuzz_dir, tmpl, sizeof(tmpl));
	snprintf(p, sizeof(p), "%s/keys", fuzz_dir);
	if (mkdir(p, 0700) != 0)
		abort();
	for (int i = 0; i < 5; i++) {
		struct crypto_ed25519_key k;
		uint8_t seed[CRYPTO_ED25519_SEED];
		memset(seed, 0x40 + i, sizeof(seed));
		snprintf(p, sizeof(p), "%s/keys/%s.key", fuzz_dir, fuzz_names[i]);
		snprintf(q, sizeof(q), "%s/keys/%s.pub", fuzz_dir, fuzz_names[i]);
		if (crypto_ed25519_from_seed(&k, seed) != CRYPTO_OK ||
		    crypto_ed25519_save_private(&k, p, NULL, 0) != CRYPTO_OK ||
		    crypto_ed25519_save_public(&k, q, NULL, 0) != CRYPTO_OK)
			abort();
		crypto_ed25519_free(&k);
	}
	atexit(fuzz_cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bw_config c;
	struct config_errors e;

	config_errors_init(&e);
	int rc = config_load_buffer("fuzz.ini", fuzz_dir, (const char *)data, size, &c, &e);
	if (e.count > CONFIG_MAX_ERRORS)
		abort();
	for (unsigned i = 0; i < e.count; i++)
		if (memchr(e.item[i].text, '\0', sizeof(e.item[i].text)) == NULL ||
		    e.item[i].code >= 0)
			abort();
	if (rc != CONFIG_OK) {
		/* A failure always says why, and leaves nothing allocated. */
		if (rc != CONFIG_ERR_NOMEM && e.count + e.dropped == 0)
			abort();
		if (c.replicas != NULL || c.path != NULL)
			abort();
		return 0;
	}
	if (e.count != 0)
		abort();
	/* What validation promises about an accepted configuration. */
	if (c.f < 1 || c.f > CONFIG_MAX_F || c.n != 3 * c.f + 1 || c.replicas == NULL ||
	    c.checkpoint_interval == 0 || c.log_window % c.checkpoint_interval != 0 ||
	    c.log_window < 2 * c.checkpoint_interval || c.pipeline > c.log_window ||
	    c.read_quorum < c.f + 1 || c.read_quorum > c.n)
		abort();
	for (unsigned i = 0; i < c.n; i++) {
		const struct bw_config_replica *r = &c.replicas[i];
		if (r->id != i || r->host == NULL || r->port == 0 || r->http_port == 0 ||
		    r->public_key_path == NULL || r->data_dir == NULL)
			abort();
		struct crypto_ed25519_key k;
		if (config_load_private_key(&c, i, &k, &e) == CONFIG_OK)
			crypto_ed25519_free(&k);
	}
	config_free(&c);
	return 0;
}
