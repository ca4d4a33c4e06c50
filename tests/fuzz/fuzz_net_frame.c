/* fuzz_net_frame.c: libFuzzer target for the frame stream after the handshake. Input: a
 * mode byte, then what the peer sends once the connection is open. Each run opens a
 * responder connection the way the handshake ends (net__hello_parse of a fixed hello,
 * net__hs_keys of a fixed transcript hash and shared secret, net__conn_open) and feeds it
 * the stream over a socketpair. A reference decoder written from net.h predicts the
 * messages that must be delivered (exactly those of the frames whose tag is right for
 * their position and whose messages fill them exactly) and the reason the connection must
 * close with; the connection and net__frame_parse with net__frame_next run directly on the
 * stream must both match it, and nothing may be left behind.
 * Mode byte: bit 0 makes the peer a client (smaller frame limit) instead of replica 1,
 * bits 1-7 select the write size (fuzz_net.h). */
#include "tests/fuzz/fuzz_net.h"

#define MAX_FRAME        100000u /* above the 64 KiB read buffer, so that it must grow */
#define MAX_FRAME_CLIENT 1000u
#define READ_BUDGET      4096u   /* several reads per turn, and turns cut short */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ev_loop *loop;
static struct fn_node replica0;                /* the replica under test */
static uint8_t hello[2][NET_HELLO_LEN];         /* the peer's hello: replica 1, client */
static uint8_t th[CRYPTO_HASH_LEN], shared[CRYPTO_X25519_LEN];
static struct crypto_gmac ref_mac;              /* initiator -> responder key, for the reference */
static struct crypto_gmac pure_mac;             /* the same key, for net__frame_parse */

/* What the reference decoder expects of one stream. */
struct expect {
	size_t frames; /* frames delivered: authentic, filled by their messages */
	size_t ctr;    /* frames counted in (one more if an authentic one was malformed) */
	size_t end;    /* bytes the delivered frames take */
	size_t msgs;   /* their messages */
	int reason;    /* why the connection then closes */
};

/* The messages the reference expects, in order: offset in the stream and length; room
 * for one per 4 bytes of the stream (a message takes at least its length). */
static struct want_msg {
	size_t off, len;
} *want;
static size_t want_cap;

/* What the connection under test did. */
static struct {
	const uint8_t *stream;
	size_t size;
	size_t msgs;     /* messages delivered */
	size_t ups, downs;
	int down_reason;
	enum net_role role;
} run;

static void on_up(void *ctx, struct net_conn *c, const struct net_peer *peer)
{
	(void)ctx;
	(void)c;
	if (peer->role != run.role || (peer->role == NET_ROLE_REPLICA && peer->replica_id != 1))
		abort();
	run.ups++;
}

/* A delivered message must be the next one the reference expects, byte for byte. */
static void on_frame(void *ctx, struct net_conn *c, const uint8_t *payload, size_t len)
{
	(void)ctx;
	(void)c;
	if (run.msgs >= want_cap || want[run.msgs].len != len ||
	    (len > 0 && memcmp(run.stream + want[run.msgs].off, payload, len) != 0))
		abort();
	run.msgs++;
}

static void on_down(void *ctx, struct net_conn *c, int reason)
{
	(void)ctx;
	(void)c;
	run.downs++;
	run.down_reason = reason;
}

/* The peer's hello: magic, version, role, reserved, id, group, epoch, an ephemeral key
 * (unused here), its static key, a nonce. */
static void make_hello(uint8_t h[NET_HELLO_LEN], enum net_role role, uint32_t id, unsigned seed)
{
	struct crypto_ed25519_key k;
	int i;

	fn_key(&k, seed);
	memset(h, 0, NET_HELLO_LEN);
	memcpy(h, "BWK1", 4);
	h[4] = NET_PROTO_VERSION;
	h[6] = (uint8_t)role;
	for (i = 0; i < 4; i++)
		h[8 + i] = (uint8_t)(id >> (8 * i));
	h[12] = FN_GROUP;
	h[20] = FN_EPOCH;
	memset(h + 28, 0x09, CRYPTO_X25519_LEN);
	memcpy(h + 60, k.pub, CRYPTO_ED25519_PUB);
	memset(h + 92, 0x4e, 32);
	crypto_ed25519_free(&k);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char info[] = "bulwark-net-v1 keys";
	struct net_callbacks cb;
	struct net_config cfg;
	uint8_t km[96];

	(void)argc;
	(void)argv;
	loop = ev_loop_new(EVFLAG_AUTO);
	if (loop == NULL)
		abort();
	memset(&cb, 0, sizeof cb);
	cb.on_up = on_up;
	cb.on_frame = on_frame;
	cb.on_down = on_down;
	fn_config(&replica0, &cfg, NET_ROLE_REPLICA, 0, &cb);
	cfg.limits.max_frame = MAX_FRAME;
	cfg.limits.max_frame_client = MAX_FRAME_CLIENT;
	cfg.limits.read_budget = READ_BUDGET;
	if (net_open(&replica0.net, loop, &cfg) != NET_OK)
		abort();
	make_hello(hello[0], NET_ROLE_REPLICA, 1, FN_SEED_REPLICA + 1);
	make_hello(hello[1], NET_ROLE_CLIENT, 0, FN_SEED_CLIENT);
	/* Session keys per net.h: HKDF-SHA256(salt = TH, ikm = shared secret), the first 32
	 * bytes keying the initiator -> responder direction. */
	memset(th, 0x54, sizeof th);
	memset(shared, 0x53, sizeof shared);
	if (crypto_hkdf_sha256(th, sizeof th, shared, sizeof shared, info, sizeof info - 1, km,
			       sizeof km) != 0 ||
	    crypto_gmac_init(&ref_mac, km) != 0 || crypto_gmac_init(&pure_mac, km) != 0)
		abort();
	return 0;
}

/* The messages of an authentic payload[0..len) at stream offset base, each length u32 |
 * message: NET_OK with them appended to want[] from *nmsgs on (*nmsgs moved past them), or
 * NET_ERR_FRAME_BAD (none, or a length running past the payload) or NET_ERR_FRAME_SIZE (one
 * above msg_max), *nmsgs then unchanged. */
static int reference_msgs(const uint8_t *payload, size_t len, size_t base, size_t msg_max,
			  size_t *nmsgs)
{
	size_t off = 0, k = *nmsgs;

	if (len == 0)
		return NET_ERR_FRAME_BAD;
	while (off < len) {
		uint64_t m;

		if (len - off < 4)
			return NET_ERR_FRAME_BAD;
		m = fn_le(payload + off, 4);
		if (m > len - off - 4)
			return NET_ERR_FRAME_BAD;
		if (m > msg_max)
			return NET_ERR_FRAME_SIZE;
		if (k >= want_cap)
			abort(); /* cannot happen: want has room for one per 4 bytes */
		want[k].off = base + off + 4;
		want[k].len = (size_t)m;
		k++;
		off += 4 + (size_t)m;
	}
	*nmsgs = k;
	return NET_OK;
}

/* The reference decoder: frame k is length u32 | payload | tag, the tag being the first 16
 * bytes of HMAC-SHA256(key, k u64 || length u32 || payload), the payload one or more
 * messages; the first frame that is too long, incomplete, wrongly tagged or not filled by
 * its messages ends the stream. */
static struct expect reference(const uint8_t *p, size_t n, size_t max, size_t msg_max)
{
	struct expect e = {0, 0, 0, 0, NET_ERR_EOF};

	for (;;) {
		size_t rem = n - e.end;
		uint8_t nonce[12], tag[NET_FRAME_TAG];
		uint64_t len;
		int i;

		if (rem == 0)
			return e;
		if (rem < NET_FRAME_HDR) {
			e.reason = NET_ERR_TRUNCATED;
			return e;
		}
		len = fn_le(p + e.end, 4);
		if (len > max) {
			e.reason = NET_ERR_FRAME_SIZE;
			return e;
		}
		if (rem < NET_FRAME_HDR + len + NET_FRAME_TAG) {
			e.reason = NET_ERR_TRUNCATED;
			return e;
		}
		/* nonce = counter u64 LE || 4 zero bytes; the tag covers length || payload */
		memset(nonce, 0, sizeof nonce);
		for (i = 0; i < 8; i++)
			nonce[i] = (uint8_t)(e.frames >> (8 * i));
		if (crypto_gmac_tag(&ref_mac, nonce, p + e.end, NET_FRAME_HDR + (size_t)len, NULL, 0,
				    tag) != 0)
			abort();
		if (!crypto_memeq(tag, p + e.end + NET_FRAME_HDR + len, sizeof tag)) {
			e.reason = NET_ERR_MAC;
			return e;
		}
		e.ctr++;
		i = reference_msgs(p + e.end + NET_FRAME_HDR, (size_t)len, e.end + NET_FRAME_HDR,
				   msg_max, &e.msgs);
		if (i != NET_OK) {
			e.reason = i;
			return e;
		}
		e.frames++;
		e.end += NET_FRAME_HDR + (size_t)len + NET_FRAME_TAG;
	}
}

/* net__frame_parse and net__frame_next, frame after frame and message after message over
 * the whole stream, agree with the reference. */
static void check_pure(const uint8_t *p, size_t n, size_t max, size_t msg_max,
		       const struct expect *e)
{
	size_t pos = 0, msgs = 0;
	uint64_t ctr = 0;

	for (;;) {
		struct net__frame f;
		int err = net__frame_parse(&pure_mac, ctr, max, p + pos, n - pos, &f);

		if (err == NET_OK && f.payload != NULL) {
			size_t off = 0;
			if (f.len == 0)
				err = NET_ERR_FRAME_BAD;
			while (err == NET_OK && off < f.len) {
				const uint8_t *m;
				uint32_t mlen;
				err = net__frame_next(f.payload, f.len, msg_max, &off, &m, &mlen);
				if (err == NET_OK && (msgs >= e->msgs || want[msgs].len != mlen ||
						      m != p + want[msgs].off))
					abort();
				msgs += err == NET_OK;
			}
			if (err != NET_OK) {
				if (err != e->reason || pos != e->end || ctr + 1 != e->ctr)
					abort();
				return;
			}
		}

		if (err != NET_OK) {
			if (err != e->reason || pos != e->end || ctr != e->frames || msgs != e->msgs)
				abort();
			return;
		}
		if (f.payload == NULL) {
			/* Incomplete: the end of the stream, cleanly between frames or not. */
			if (f.size <= n - pos || pos != e->end || ctr != e->frames || msgs != e->msgs ||
			    e->reason != (pos == n ? NET_ERR_EOF : NET_ERR_TRUNCATED))
				abort();
			if (f.size != (n - pos < NET_FRAME_HDR ? NET_FRAME_HDR
							       : NET_FRAME_HDR + fn_le(p + pos, 4) + NET_FRAME_TAG))
				abort();
			return;
		}
		if (f.payload != p + pos + NET_FRAME_HDR || f.len != fn_le(p + pos, 4) ||
		    f.size != NET_FRAME_HDR + (size_t)f.len + NET_FRAME_TAG || f.size > n - pos)
			abort();
		pos += f.size;
		ctr++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net *net = replica0.net;
	const uint8_t *p = data + 1;
	size_t n, max, msg_max;
	struct expect e;
	struct net_conn *c;
	char detail[160];
	int fds[2];

	if (size == 0)
		return 0;
	n = size - 1;
	memset(&run, 0, sizeof run);
	run.stream = p;
	run.size = n;
	run.role = data[0] & 1 ? NET_ROLE_CLIENT : NET_ROLE_REPLICA;
	if (n / 4 + 1 > want_cap) {
		free(want);
		want_cap = n / 4 + 1;
		want = malloc(want_cap * sizeof *want);
		if (want == NULL)
			abort();
	}
	msg_max = run.role == NET_ROLE_CLIENT ? MAX_FRAME_CLIENT : MAX_FRAME;
	max = net__frame_max(msg_max);
	e = reference(p, n, max, msg_max);
	check_pure(p, n, max, msg_max, &e);

	/* A responder connection, brought up as the end of the handshake does. */
	fn_socketpair(fds);
	c = net__conn_new(net, fds[0], 0, "fuzz-peer");
	if (c == NULL)
		abort();
	if (net__hello_parse(net, 0, 0, hello[data[0] & 1], &c->peer, detail, sizeof detail) != NET_OK ||
	    net__hs_keys(c, th, shared) != NET_OK)
		abort();
	net__conn_open(c);
	if (c->state != NET__OPEN || run.ups != 1)
		abort();

	fn_drive(net, c, fds[1], p, n, fn_chunk(data[0] >> 1, n));
	if (run.msgs != e.msgs || c->ctr_in != e.ctr)
		abort();
	net__reap(net);
	if (run.downs != 1 || run.down_reason != e.reason)
		abort();
	if (fn_drain(fds[1]) != 0)
		abort();
	close(fds[1]);
	fn_check_idle(net);
	return 0;
}
