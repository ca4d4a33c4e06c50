/* test_client_verify.c: the light client's trust file, saved state and verification of
 * response documents: a valid answer passes, and each attack is refused by the check
 * that names it (forged, under-signed, tampered, rolled back, frozen, misplaced). */
#include "tests/unit/unit.h"
#include "tests/unit/test_upd_keys.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/bulwark_update.h"
#include "crypto/crypto.h"
#include "wire/upd.h"

#define GROUP 42u
#define NOW_MS 1750000000000ull           /* the client's clock */
#define CHANNEL "stable/linux-amd64"

/* Replica i signs with the key of tag 1+i (test_upd_keys.h); publishers with tags 20, 21, 22. */

/* A trust text for group 42 (4 replicas, default threshold 2) pinning CHANNEL as 2 of
 * publishers 20, 21, 22. */
static char *trust_text(void)
{
	char *t = malloc(4096), h[65];
	size_t n = 0;

	ck_assert_ptr_nonnull(t);
	n += (size_t)snprintf(t + n, 4096 - n, "; test trust\n[group]\nid = %u\nepoch = 1\n", GROUP);
	for (int i = 0; i < 4; i++) {
		hex_pub((uint8_t)(1 + i), h);
		n += (size_t)snprintf(t + n, 4096 - n, "[replica %d]\npublic_key = %s\n", i, h);
	}
	n += (size_t)snprintf(t + n, 4096 - n, "[channel %s]\nthreshold = 2\n", CHANNEL);
	for (int i = 0; i < 3; i++) {
		hex_pub((uint8_t)(20 + i), h);
		n += (size_t)snprintf(t + n, 4096 - n, "publisher = %s\n", h);
	}
	return t;
}

static struct bulwark_trust *load_trust(void)
{
	struct bulwark_trust *t;
	char err[256];
	char *text = trust_text();

	ck_assert_msg(bulwark_trust_parse("trust.ini", "/tmp", text, strlen(text), &t, err,
					  sizeof(err)) == 0, "%s", err);
	free(text);
	return t;
}

/* ---------------------------------------------------------------- building responses */
struct fx {
	const char *manifest_channel;   /* the manifest's "channel" */
	uint64_t version;
	uint64_t manifest_expires;      /* seconds */
	uint8_t publishers[4];          /* tags that sign the payload */
	int npub;
	uint64_t group;
	uint64_t seq;
	uint64_t cert_expires_ms;
	uint8_t signers[6];             /* tags signing the statement as replicas 0..; */
	uint32_t signer_ids[6];         /* ... under these replica ids */
	int nsigners;
	int tamper_payload;             /* change the payload after signing */
	int index_tampered;             /* the index holds the tampered payload's hash */
	int alter_statement;            /* change seq after the statement was signed */
	int bad_path;                   /* flip a byte of the inclusion path */
	int wrong_index;                /* claim another leaf index */
};

static void fx_default(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	f->manifest_channel = CHANNEL;
	f->version = 5;
	f->manifest_expires = NOW_MS / 1000 + 86400;
	f->publishers[0] = 20;
	f->publishers[1] = 22;
	f->npub = 2;
	f->group = GROUP;
	f->seq = 100;
	f->cert_expires_ms = NOW_MS + 60000;
	for (int i = 0; i < 3; i++) {
		f->signers[i] = (uint8_t)(1 + i);
		f->signer_ids[i] = (uint32_t)i;
	}
	f->nsigners = 3;
}

static char *manifest_json(const char *channel, uint64_t version, uint64_t expires, size_t *len)
{
	char *s = malloc(1024);
	int n;

	ck_assert_ptr_nonnull(s);
	n = snprintf(s, 1024,
		     "{\"_type\":\"bulwark/manifest/v1\",\"channel\":\"%s\",\"version\":%llu,"
		     "\"created\":1700000000,\"expires\":%llu,\"files\":[{\"path\":\"hello.txt\","
		     "\"size\":5,\"sha256\":\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\","
		     "\"chunks\":[\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"]}]}",
		     channel, (unsigned long long)version, (unsigned long long)expires);
	*len = (size_t)n;
	return s;
}

/* The response document for f (caller frees). */
static struct wire_buf build(const struct fx *f)
{
	struct wire_upd_sig sigs[4];
	struct wire_upd_proof proof;
	struct wire_upd_cert cert;
	struct wire_buf env, doc;
	uint8_t seed[32], hash[32], leaves[3][32], other[32];
	uint8_t msg[WIRE_UPD_STATEMENT_LEN];
	size_t len, pathlen;
	char *payload = manifest_json(f->manifest_channel, f->version, f->manifest_expires, &len);

	for (int i = 0; i < f->npub; i++) {
		memset(seed, f->publishers[i], sizeof(seed));
		ck_assert_int_eq(sign_seed(seed, WIRE_UPD_PAYLOAD_TYPE, (uint8_t *)payload, len,
					       &sigs[i]), 0);
	}
	crypto_sha256(payload, len, hash);
	if (f->tamper_payload) {
		payload[len - 3] = ']'; /* still JSON-ish; the signatures no longer match */
		payload[5] ^= 0x20;
		if (f->index_tampered)
			crypto_sha256(payload, len, hash);
	}
	wire_buf_init(&env);
	wire_buf_init(&doc);
	ck_assert_int_eq(wire_upd_envelope_encode((uint8_t *)payload, len, sigs, (uint32_t)f->npub,
						  &env), 0);
	free(payload);

	/* The index: "alpha" and "zeta" around our channel (sorted by name). */
	memset(other, 7, sizeof(other));
	ck_assert_int_eq(wire_upd_leaf_hash("alpha", 5, 3, other, leaves[0]), 0);
	ck_assert_int_eq(wire_upd_leaf_hash(CHANNEL, strlen(CHANNEL), f->version, hash, leaves[1]), 0);
	ck_assert_int_eq(wire_upd_leaf_hash("zeta", 4, 1, other, leaves[2]), 0);
	memset(&proof, 0, sizeof(proof));
	proof.version = f->version;
	proof.index = 1;
	proof.size = 3;
	ck_assert_int_eq(crypto_merkle_inclusion_proof((const uint8_t(*)[32])leaves, 3, 1,
						       proof.path, &pathlen), 0);
	proof.pathlen = (uint32_t)pathlen;

	memset(&cert, 0, sizeof(cert));
	cert.st.group = f->group;
	cert.st.epoch = 1;
	cert.st.seq = f->seq;
	cert.st.time_ms = NOW_MS - 1000;
	cert.st.expires_ms = f->cert_expires_ms;
	ck_assert_int_eq(crypto_merkle_root((const uint8_t(*)[32])leaves, 3, cert.st.index_root), 0);
	cert.st.log_size = 9;
	memset(cert.st.log_root, 3, 32);
	wire_upd_statement_encode(&cert.st, msg);
	for (int i = 0; i < f->nsigners; i++) {
		struct crypto_ed25519_key k;
		key_of(f->signers[i], &k);
		cert.sigs[i].replica = f->signer_ids[i];
		ck_assert_int_eq(crypto_ed25519_sign(&k, msg, sizeof(msg), cert.sigs[i].sig), 0);
		crypto_ed25519_free(&k);
	}
	cert.nsigs = (uint32_t)f->nsigners;
	if (f->alter_statement)
		cert.st.seq++;
	if (f->bad_path)
		proof.path[0][0] ^= 1;
	if (f->wrong_index)
		proof.index = 0;
	ck_assert_int_eq(wire_upd_response_encode(env.p, env.len, &proof, &cert, &doc), 0);
	wire_buf_free(&env);
	return doc;
}

/* Verify f's document against saved; returns the code, err filled. */
static int run(const struct fx *f, const struct bulwark_update_state *saved, char *err,
	       size_t errlen, struct bulwark_update_state *next)
{
	struct bulwark_trust *t = load_trust();
	struct bulwark_manifest *m = NULL;
	struct wire_buf doc = build(f);
	int rc = bulwark_verify_response(t, CHANNEL, saved, NOW_MS, doc.p, doc.len, &m, next, err,
					 errlen);

	if (rc == 0)
		ck_assert_ptr_nonnull(m);
	else
		ck_assert_ptr_null(m);
	bulwark_manifest_free(m);
	wire_buf_free(&doc);
	bulwark_trust_free(t);
	return rc;
}

/* ---------------------------------------------------------------- verification */
START_TEST(test_valid_response)
{
	struct bulwark_update_state saved = { .version = 4, .seq = 90 }, next;
	struct bulwark_trust *t = load_trust();
	struct bulwark_manifest *m;
	struct fx f;
	char err[512];
	uint8_t hash[32];
	size_t len;
	char *payload;

	fx_default(&f);
	struct wire_buf doc = build(&f);
	ck_assert_msg(bulwark_verify_response(t, CHANNEL, &saved, NOW_MS, doc.p, doc.len, &m, &next,
					      err, sizeof(err)) == 0, "%s", err);
	ck_assert_str_eq(bulwark_manifest_channel(m), CHANNEL);
	ck_assert_uint_eq(bulwark_manifest_version(m), 5);
	ck_assert_uint_eq(next.version, 5);
	ck_assert_uint_eq(next.seq, 100);
	payload = manifest_json(CHANNEL, 5, f.manifest_expires, &len);
	crypto_sha256(payload, len, hash);
	free(payload);
	ck_assert_mem_eq(next.manifest_hash, hash, 32);
	ck_assert_mem_eq(bulwark_manifest_hash(m), hash, 32);
	/* The chunk helpers on the verified manifest: the right bytes, then wrong ones. */
	ck_assert_int_eq(bulwark_verify_chunk(m, 0, 0, "hello", 5, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_verify_chunk(m, 0, 0, "hellO", 5, err, sizeof(err)),
			 BULWARK_UPD_ERR_CHUNK);
	ck_assert_int_eq(bulwark_verify_file(m, 0, "hello", 5, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_verify_file(m, 0, "jello", 5, err, sizeof(err)),
			 BULWARK_UPD_ERR_CHUNK);
	bulwark_manifest_free(m);

	/* The same answer again (same version and seq as saved) is accepted; no saved state
	 * at all (NULL) is the initial state. */
	ck_assert_int_eq(bulwark_verify_response(t, CHANNEL, &next, NOW_MS, doc.p, doc.len, &m, NULL,
						 err, sizeof(err)), 0);
	bulwark_manifest_free(m);
	ck_assert_int_eq(bulwark_verify_response(t, CHANNEL, NULL, NOW_MS, doc.p, doc.len, &m, NULL,
						 err, sizeof(err)), 0);
	bulwark_manifest_free(m);
	/* All four replicas signing is fine too. */
	f.signers[3] = 4;
	f.signer_ids[3] = 3;
	f.nsigners = 4;
	ck_assert_int_eq(run(&f, &saved, err, sizeof(err), NULL), 0);
	wire_buf_free(&doc);
	bulwark_trust_free(t);
}
END_TEST

/* One attack: how the fixture is changed, the state saved, the error and message. */
struct attack {
	const char *name;
	void (*edit)(struct fx *f);
	uint64_t saved_version, saved_seq;
	int code;
	const char *why;
};

static void a_below_threshold(struct fx *f) { f->npub = 1; }
static void a_duplicate_key(struct fx *f) { f->publishers[1] = 20; }
static void a_untrusted_publisher(struct fx *f) { f->publishers[1] = 66; }
static void a_tampered_payload(struct fx *f) { f->tamper_payload = 1; }
static void a_tampered_colluding(struct fx *f) { f->tamper_payload = 1; f->index_tampered = 1; }
static void a_replay_older(struct fx *f) { f->version = 3; }
static void a_expired_cert(struct fx *f) { f->cert_expires_ms = NOW_MS; }
static void a_old_cert(struct fx *f) { f->seq = 80; }
static void a_f_signatures(struct fx *f) { f->nsigners = 1; }
static void a_same_replica_twice(struct fx *f) { f->nsigners = 2; f->signers[1] = 1; f->signer_ids[1] = 0; }
static void a_bad_path(struct fx *f) { f->bad_path = 1; }
static void a_wrong_index(struct fx *f) { f->wrong_index = 1; }
static void a_untrusted_replica(struct fx *f) { f->nsigners = 2; f->signers[1] = 77; }
static void a_altered_statement(struct fx *f) { f->alter_statement = 1; }
static void a_other_group(struct fx *f) { f->group = GROUP + 1; }
static void a_expired_manifest(struct fx *f) { f->manifest_expires = NOW_MS / 1000; }
static void a_other_channel(struct fx *f) { f->manifest_channel = "stable/other"; }
static void a_first_failure(struct fx *f) { f->cert_expires_ms = NOW_MS - 1; f->npub = 1; }
static void a_none(struct fx *f) { (void)f; }

static const struct attack attacks[] = {
	{ "manifest signed below threshold", a_below_threshold, 0, 0,
	  BULWARK_UPD_ERR_PUBLISHER_THRESHOLD, "1 valid signatures by distinct publisher keys of channel stable/linux-amd64, 2 needed" },
	{ "a duplicated key counted twice", a_duplicate_key, 0, 0,
	  BULWARK_UPD_ERR_PUBLISHER_THRESHOLD, "1 valid signatures" },
	{ "a signature by a key outside the policy", a_untrusted_publisher, 0, 0,
	  BULWARK_UPD_ERR_PUBLISHER_THRESHOLD, "1 valid signatures" },
	{ "tampered payload", a_tampered_payload, 0, 0, BULWARK_UPD_ERR_INCLUSION,
	  "is not leaf 1 of 3 under the certified index root" },
	{ "tampered payload certified by a colluding group", a_tampered_colluding, 0, 0,
	  BULWARK_UPD_ERR_PUBLISHER_THRESHOLD, "0 valid signatures" },
	{ "replayed older manifest", a_replay_older, 4, 90, BULWARK_UPD_ERR_ROLLBACK,
	  "version 3 is below the accepted 4" },
	{ "expired certificate (freeze)", a_expired_cert, 0, 0, BULWARK_UPD_ERR_CERT_EXPIRED,
	  "expired at 1750000000000 ms" },
	{ "certificate older than the saved one", a_old_cert, 0, 90, BULWARK_UPD_ERR_CERT_ROLLBACK,
	  "seq 80 is below the accepted 90" },
	{ "certificate with only f signatures", a_f_signatures, 0, 0,
	  BULWARK_UPD_ERR_CERT_SIGNATURES, "1 valid signatures by distinct trusted replicas, 2 needed" },
	{ "one replica's signature twice", a_same_replica_twice, 0, 0,
	  BULWARK_UPD_ERR_CERT_SIGNATURES, "1 valid signatures" },
	{ "wrong inclusion path", a_bad_path, 0, 0, BULWARK_UPD_ERR_INCLUSION, "not leaf 1 of 3" },
	{ "wrong inclusion index", a_wrong_index, 0, 0, BULWARK_UPD_ERR_INCLUSION, "not leaf 0 of 3" },
	{ "certificate from an untrusted key", a_untrusted_replica, 0, 0,
	  BULWARK_UPD_ERR_CERT_SIGNATURES, "1 valid signatures" },
	{ "statement altered after signing", a_altered_statement, 0, 0,
	  BULWARK_UPD_ERR_CERT_SIGNATURES, "0 valid signatures" },
	{ "certificate of another group", a_other_group, 0, 0, BULWARK_UPD_ERR_CERT_GROUP,
	  "statement for group 43 epoch 1, trusted group 42 epoch 1" },
	{ "expired manifest", a_expired_manifest, 0, 0, BULWARK_UPD_ERR_MANIFEST_EXPIRED,
	  "manifest: expired at 1750000000 s" },
	{ "manifest of another channel under this channel's leaf", a_other_channel, 0, 0,
	  BULWARK_UPD_ERR_CHANNEL, "channel stable/other version 5, expected stable/linux-amd64" },
	{ "the first failing check is reported", a_first_failure, 0, 0,
	  BULWARK_UPD_ERR_CERT_EXPIRED, "certificate: expired" },
	{ "same version, another manifest than the saved one", a_none, 5, 0,
	  BULWARK_UPD_ERR_ROLLBACK, "differs from the one accepted before" },
};

START_TEST(test_attack)
{
	const struct attack *a = &attacks[_i];
	struct bulwark_update_state saved, next;
	struct fx f;
	char err[512] = "";
	int rc;

	memset(&saved, 0, sizeof(saved));
	saved.version = a->saved_version;
	saved.seq = a->saved_seq;
	if (a->saved_version == 5)
		memset(saved.manifest_hash, 0xee, 32);
	memset(&next, 0xab, sizeof(next));
	fx_default(&f);
	a->edit(&f);
	rc = run(&f, &saved, err, sizeof(err), &next);
	ck_assert_msg(rc == a->code, "%s: got %d (%s), want %d", a->name, rc, err, a->code);
	ck_assert_msg(strstr(err, a->why) != NULL, "%s: \"%s\" lacks \"%s\"", a->name, err, a->why);
	/* A refusal leaves the next state untouched. */
	for (size_t i = 0; i < sizeof(next); i++)
		ck_assert_uint_eq(((uint8_t *)&next)[i], 0xab);
}
END_TEST

START_TEST(test_bad_inputs)
{
	struct bulwark_trust *t = load_trust();
	struct bulwark_manifest *m;
	struct fx f;
	char err[512];
	struct wire_buf doc;

	fx_default(&f);
	doc = build(&f);
	ck_assert_int_eq(bulwark_verify_response(t, "stable/unknown", NULL, NOW_MS, doc.p, doc.len,
						 &m, NULL, err, sizeof(err)), BULWARK_UPD_ERR_NO_CHANNEL);
	ck_assert_ptr_nonnull(strstr(err, "stable/unknown: no publisher policy"));
	doc.p[doc.len - 1] = ' '; /* the closing brace of the document */
	ck_assert_int_eq(bulwark_verify_response(t, CHANNEL, NULL, NOW_MS, doc.p, doc.len, &m, NULL,
						 err, sizeof(err)), BULWARK_UPD_ERR_RESPONSE);
	ck_assert_ptr_nonnull(strstr(err, "response: not valid JSON"));
	ck_assert_int_eq(bulwark_verify_response(t, CHANNEL, NULL, NOW_MS, NULL, 0, &m, NULL, err,
						 sizeof(err)), BULWARK_UPD_ERR_RESPONSE);
	ck_assert_int_eq(bulwark_verify_response(NULL, CHANNEL, NULL, NOW_MS, doc.p, doc.len, &m,
						 NULL, err, sizeof(err)), BULWARK_UPD_ERR_ARG);
	wire_buf_free(&doc);
	bulwark_trust_free(t);
}
END_TEST

/* ---------------------------------------------------------------- trust file */
START_TEST(test_trust_valid)
{
	struct bulwark_trust *t = load_trust();
	char path[256];

	ck_assert_uint_eq(bulwark_trust_group(t), GROUP);
	ck_assert_uint_eq(bulwark_trust_replicas(t), 4);
	ck_assert_uint_eq(bulwark_trust_threshold(t), 2); /* default f+1 */
	ck_assert_int_eq(bulwark_state_path(t, CHANNEL, path, sizeof(path)), BULWARK_UPD_ERR_ARG);
	bulwark_trust_free(t);
}
END_TEST

struct bad_trust {
	const char *edit_from, *edit_to; /* replace edit_from (first) by edit_to */
	const char *why;
};

static const struct bad_trust bad_trusts[] = {
	{ "epoch = 1\n", "epoch = 1\ncolour = red\n", "trust.ini:5: [group]: unknown key \"colour\"" },
	{ "id = 42\n", "id = 42\nid = 43\n", "trust.ini:4: id set twice (first on line 3)" },
	{ "id = 42\n", "id = -1\n", "trust.ini:3: id: not an integer" },
	{ "id = 42\n", "", "[group] id is required" },
	{ "[replica 2]", "[replica 7]", "[replica 2] missing: replicas must be 0..7" },
	{ "[replica 3]", "[replica 64]", "not a replica id from 0 to 63" },
	{ "epoch = 1\n", "epoch = 1\nthreshold = 1\n", "threshold 1: must be from f+1 = 2 to n = 4" },
	{ "epoch = 1\n", "epoch = 1\nthreshold = 5\n", "threshold 5: must be from f+1 = 2 to n = 4" },
	{ "threshold = 2\npublisher", "threshold = 4\npublisher", "threshold 4 of 3 publisher keys" },
	{ "public_key = ", "public_key = zz", "not a public key of 64 lower-case hex digits" },
	{ "[channel stable/linux-amd64]", "[channel ../x]", "not a valid channel name" },
	{ "[group]", "[grupo]", "unknown section [grupo]" },
	{ "; test trust\n", "junk line\n", "trust.ini:1: not a [section], key = value or comment line" },
	{ "; test trust\n", ";xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", "trust.ini:1: line too long" },
};

static char *edited_trust(const struct bad_trust *b)
{
	char *t = trust_text(), *out, *at;

	at = strstr(t, b->edit_from);
	ck_assert_ptr_nonnull(at);
	out = malloc(strlen(t) + strlen(b->edit_to) + 1);
	ck_assert_ptr_nonnull(out);
	memcpy(out, t, (size_t)(at - t));
	strcpy(out + (at - t), b->edit_to);
	strcat(out, at + strlen(b->edit_from));
	free(t);
	return out;
}

START_TEST(test_trust_invalid)
{
	const struct bad_trust *b = &bad_trusts[_i];
	struct bulwark_trust *t = (struct bulwark_trust *)1;
	char err[256] = "", *text = edited_trust(b);
	int rc = bulwark_trust_parse("trust.ini", NULL, text, strlen(text), &t, err, sizeof(err));

	ck_assert_msg(rc == BULWARK_UPD_ERR_TRUST, "case %d: %d (%s)", _i, rc, err);
	ck_assert_ptr_null(t);
	ck_assert_msg(strstr(err, b->why) != NULL, "case %d: \"%s\" lacks \"%s\"", _i, err, b->why);
	free(text);
}
END_TEST

START_TEST(test_trust_more)
{
	struct bulwark_trust *t;
	char err[256], h[65], text[1024], path[512];
	size_t n = 0;

	/* Duplicate replica keys; a publisher key listed twice. */
	hex_pub(1, h);
	n = (size_t)snprintf(text, sizeof(text), "[group]\nid = 1\n");
	for (int i = 0; i < 4; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "[replica %d]\npublic_key = %s\n", i, h);
	ck_assert_int_eq(bulwark_trust_parse("t", NULL, text, n, &t, err, sizeof(err)),
			 BULWARK_UPD_ERR_TRUST);
	ck_assert_ptr_nonnull(strstr(err, "replicas 0 and 1 have the same key"));
	char *base = trust_text();
	hex_pub(20, h);
	snprintf(text, sizeof(text), "%spublisher = %s\n", base, h);
	free(base);
	ck_assert_int_eq(bulwark_trust_parse("t", NULL, text, strlen(text), &t, err, sizeof(err)),
			 BULWARK_UPD_ERR_TRUST);
	ck_assert_ptr_nonnull(strstr(err, "publisher key listed twice"));
	/* Five replicas is not 3f+1. */
	base = trust_text();
	hex_pub(9, h);
	snprintf(text, sizeof(text), "%s[replica 4]\npublic_key = %s\n", base, h);
	free(base);
	ck_assert_int_eq(bulwark_trust_parse("t", NULL, text, strlen(text), &t, err, sizeof(err)),
			 BULWARK_UPD_ERR_TRUST);
	ck_assert_ptr_nonnull(strstr(err, "5 replicas: a group has n = 3f+1 >= 4"));
	/* A state_dir relative to the trust file's folder. */
	base = trust_text();
	char *at = strstr(base, "epoch = 1\n");
	snprintf(text, sizeof(text), "%.*sstate_dir = st\n%s", (int)(at - base), base, at);
	free(base);
	ck_assert_int_eq(bulwark_trust_parse("t", "/var/lib/b", text, strlen(text), &t, err,
					     sizeof(err)), 0);
	ck_assert_int_eq(bulwark_state_path(t, CHANNEL, path, sizeof(path)), 0);
	uint8_t hash[32];
	char hex[65], want[512];
	crypto_sha256(CHANNEL, strlen(CHANNEL), hash);
	wire_upd_hex(hash, 32, hex);
	snprintf(want, sizeof(want), "/var/lib/b/st/%s.state", hex);
	ck_assert_str_eq(path, want);
	ck_assert_int_eq(bulwark_state_path(t, CHANNEL, path, 20), BULWARK_UPD_ERR_ARG);
	bulwark_trust_free(t);
	ck_assert_int_eq(bulwark_trust_load("/nonexistent/trust.ini", &t, err, sizeof(err)),
			 BULWARK_UPD_ERR_IO);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/trust.ini"));
}
END_TEST

/* ---------------------------------------------------------------- saved state */
START_TEST(test_state_files)
{
	struct bulwark_update_state st, back;
	char dir[] = "/tmp/bulwark-state-XXXXXX", path[256], err[256];
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/x.state", dir);
	/* Missing: the initial state. */
	memset(&back, 1, sizeof(back));
	ck_assert_int_eq(bulwark_state_load(path, CHANNEL, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.version, 0);
	ck_assert_uint_eq(back.seq, 0);
	st.version = 12;
	st.seq = 3456;
	memset(st.manifest_hash, 0x5a, 32);
	ck_assert_int_eq(bulwark_state_save(path, CHANNEL, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_state_load(path, CHANNEL, &back, err, sizeof(err)), 0);
	ck_assert_mem_eq(&back, &st, sizeof(st));
	st.version = 13;
	ck_assert_int_eq(bulwark_state_save(path, CHANNEL, &st, err, sizeof(err)), 0);
	ck_assert_int_eq(bulwark_state_load(path, CHANNEL, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.version, 13);
	/* Another channel's state is refused. */
	ck_assert_int_eq(bulwark_state_load(path, "stable/other", &back, err, sizeof(err)),
			 BULWARK_UPD_ERR_STATE);
	ck_assert_ptr_nonnull(strstr(err, "state of channel stable/linux-amd64, not stable/other"));
	ck_assert_uint_eq(back.version, 0);
	/* Malformed files are refused with the line. */
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[state]\nchannel = %s\nversion = 1x\n", CHANNEL);
	fclose(f);
	ck_assert_int_eq(bulwark_state_load(path, CHANNEL, &back, err, sizeof(err)),
			 BULWARK_UPD_ERR_STATE);
	ck_assert_ptr_nonnull(strstr(err, "x.state:3: version: not an integer"));
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "[state]\nchannel = %s\nversion = 1\n", CHANNEL);
	fclose(f);
	ck_assert_int_eq(bulwark_state_load(path, CHANNEL, &back, err, sizeof(err)),
			 BULWARK_UPD_ERR_STATE);
	ck_assert_ptr_nonnull(strstr(err, "needs channel, version, seq and manifest"));
	ck_assert_int_eq(bulwark_state_save(path, "../bad", &st, err, sizeof(err)),
			 BULWARK_UPD_ERR_ARG);
	unlink(path);
	ck_assert_int_eq(rmdir(dir), 0); /* no temporary file left behind */
}
END_TEST

static Suite *verify_suite(void)
{
	Suite *s = suite_create("client_verify");
	TCase *tc = tcase_create("verify");

	tcase_add_test(tc, test_valid_response);
	tcase_add_loop_test(tc, test_attack, 0, (int)(sizeof(attacks) / sizeof(attacks[0])));
	tcase_add_test(tc, test_bad_inputs);
	tcase_add_test(tc, test_trust_valid);
	tcase_add_loop_test(tc, test_trust_invalid, 0,
			    (int)(sizeof(bad_trusts) / sizeof(bad_trusts[0])));
	tcase_add_test(tc, test_trust_more);
	tcase_add_test(tc, test_state_files);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(verify_suite)
