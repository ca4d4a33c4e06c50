/* verify.c: the light client's check of a response document: the group certificate,
 * freshness, the Merkle path to the certified index, the publisher threshold, the
 * manifest and rollback, in that order (client/bulwark_update.h). */
#include <stdlib.h>
#include <string.h>

#include "client/lib/upd_int.h"
#include "crypto/crypto.h"

/* Steps 3-6: the certificate names our group, enough trusted replicas signed it, it is
 * fresh and not older than what was accepted before. */
static int verify_cert(const struct bulwark_trust *t, const struct bulwark_update_state *saved,
		       uint64_t now_ms, const struct wire_upd_cert *c, char *err, size_t errlen)
{
	const struct wire_upd_statement *st = &c->st;
	uint32_t have;

	if (st->group != t->group || st->epoch != t->epoch)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CERT_GROUP,
					 "certificate: statement for group %llu epoch %llu, trusted "
					 "group %llu epoch %llu", (unsigned long long)st->group,
					 (unsigned long long)st->epoch, (unsigned long long)t->group,
					 (unsigned long long)t->epoch);
	have = wire_upd_cert_count(c, (const uint8_t(*)[WIRE_UPD_KEY_LEN])t->replica_keys, t->n);
	if (have < t->threshold)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CERT_SIGNATURES,
					 "certificate: %u valid signatures by distinct trusted "
					 "replicas, %u needed", have, t->threshold);
	if (now_ms >= st->expires_ms)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CERT_EXPIRED,
					 "certificate: expired at %llu ms, now is %llu ms (seq %llu)",
					 (unsigned long long)st->expires_ms,
					 (unsigned long long)now_ms, (unsigned long long)st->seq);
	if (st->seq < saved->seq)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CERT_ROLLBACK,
					 "certificate: seq %llu is below the accepted %llu",
					 (unsigned long long)st->seq, (unsigned long long)saved->seq);
	return 0;
}

/* Step 7: (channel, version, hash) is leaf proof->index of the certified index. */
static int verify_inclusion(const char *channel, const struct wire_upd_response *r,
			    const uint8_t hash[WIRE_UPD_HASH_LEN], char *err, size_t errlen)
{
	uint8_t leaf[WIRE_UPD_HASH_LEN];
	const struct wire_upd_proof *p = &r->proof;

	if (wire_upd_leaf_hash(channel, strlen(channel), p->version, hash, leaf) != 0 ||
	    crypto_merkle_inclusion_verify(leaf, p->index, p->size,
					   (const uint8_t(*)[WIRE_UPD_HASH_LEN])p->path, p->pathlen,
					   r->cert.st.index_root) != 0)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_INCLUSION,
					 "proof: (%s, version %llu, manifest hash) is not leaf %llu "
					 "of %llu under the certified index root", channel,
					 (unsigned long long)p->version, (unsigned long long)p->index,
					 (unsigned long long)p->size);
	return 0;
}

/* Steps 9-12 on the authenticated payload. */
static int verify_manifest(const char *channel, const struct bulwark_update_state *saved,
			   uint64_t now_ms, const struct wire_upd_response *r,
			   struct bulwark_manifest **out, char *err, size_t errlen)
{
	struct bulwark_manifest *m;
	int rc;

	rc = bulwark__manifest_new(r->env.payload, r->env.payload_len, &m, err, errlen);
	if (rc != 0)
		return rc;
	if (strcmp(m->m.channel, channel) != 0 || m->m.version != r->proof.version) {
		rc = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_CHANNEL,
				       "manifest: channel %s version %llu, expected %s version %llu",
				       m->m.channel, (unsigned long long)m->m.version, channel,
				       (unsigned long long)r->proof.version);
		goto err_after_manifest;
	}
	if (m->m.version < saved->version) {
		rc = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ROLLBACK,
				       "manifest: version %llu is below the accepted %llu",
				       (unsigned long long)m->m.version,
				       (unsigned long long)saved->version);
		goto err_after_manifest;
	}
	if (m->m.version == saved->version && saved->version != 0 &&
	    !crypto_memeq(m->hash, saved->manifest_hash, WIRE_UPD_HASH_LEN)) {
		rc = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ROLLBACK,
				       "manifest: version %llu differs from the one accepted before",
				       (unsigned long long)m->m.version);
		goto err_after_manifest;
	}
	if (now_ms / 1000 >= m->m.expires) {
		rc = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_MANIFEST_EXPIRED,
				       "manifest: expired at %llu s, now is %llu s",
				       (unsigned long long)m->m.expires,
				       (unsigned long long)(now_ms / 1000));
		goto err_after_manifest;
	}
	*out = m;
	return 0;

err_after_manifest:
	bulwark_manifest_free(m);
	return rc;
}

int bulwark_verify_response(const struct bulwark_trust *t, const char *channel,
			    const struct bulwark_update_state *saved, uint64_t now_ms,
			    const void *doc, size_t len, struct bulwark_manifest **manifest,
			    struct bulwark_update_state *next, char *err, size_t errlen)
{
	static const struct bulwark_update_state initial;
	const struct bulwark__policy *pol;
	struct wire_upd_response *r;
	struct wire_upd_why why;
	uint8_t hash[WIRE_UPD_HASH_LEN];
	uint32_t have, bad;
	int rc;

	if (manifest != NULL)
		*manifest = NULL;
	if (t == NULL || channel == NULL || manifest == NULL || (doc == NULL && len > 0))
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_ARG, "missing argument");
	if (saved == NULL)
		saved = &initial;
	pol = bulwark__trust_policy(t, channel);
	if (pol == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NO_CHANNEL,
					 "channel %.255s: no publisher policy in the trust file",
					 channel);
	/* The response holds a certificate and a proof of a few KiB: keep it off the stack. */
	r = malloc(sizeof(*r));
	if (r == NULL)
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
	rc = wire_upd_response_decode(doc, len, NULL, r, &why);
	if (rc != 0) {
		free(r);
		if (rc == WIRE_UPD_E_NOMEM)
			return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
		return bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_RESPONSE, "response: %s",
					 why.text);
	}
	rc = verify_cert(t, saved, now_ms, &r->cert, err, errlen);
	if (rc != 0)
		goto out;
	crypto_sha256(r->env.payload, r->env.payload_len, hash);
	rc = verify_inclusion(channel, r, hash, err, errlen);
	if (rc != 0)
		goto out;
	rc = wire_upd_threshold(WIRE_UPD_PAYLOAD_TYPE, r->env.payload, r->env.payload_len,
				r->env.sigs, r->env.nsigs,
				(const uint8_t(*)[WIRE_UPD_KEY_LEN])pol->keys, pol->m, pol->k,
				&have, &bad);
	if (rc < 0) {
		rc = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (rc > 0) {
		rc = bulwark__upd_fail(err, errlen, BULWARK_UPD_ERR_PUBLISHER_THRESHOLD,
				       "envelope: %u valid signatures by distinct publisher keys of "
				       "channel %s, %u needed (%u signatures by its keys do not "
				       "verify)", have, channel, pol->k, bad);
		goto out;
	}
	rc = verify_manifest(channel, saved, now_ms, r, manifest, err, errlen);
	if (rc != 0)
		goto out;
	if (next != NULL) {
		next->version = (*manifest)->m.version;
		next->seq = r->cert.st.seq;
		memcpy(next->manifest_hash, hash, WIRE_UPD_HASH_LEN);
	}
out:
	wire_upd_response_free(r);
	free(r);
	return rc;
}
