/* test_core_durable.c: what the core does about records lost in a machine crash
 * (votes_uncertain: no PREPARE or PRE-PREPARE in the restored view, commits and
 * executes all the same, normal again from the next view; pre-prepare records not
 * synced, prepared certificates synced), one batch per driver turn (batch_on_flush and
 * PBFT_EV_FLUSH), and lanes: independent exactly-once identities under one client key. */
#include "tests/unit/test_core_harness.h"

#include "replica/core/pbft_int.h" /* record kinds: PBFT__REC_PP, PBFT__REC_PREPARED */

static struct h H;

/* ---------------------------------------------------------------- the network */
#define D_VIEWS 4u      /* views counted apart; higher ones count as the last */
#define D_REPLIES 64u

struct d_reply {
	uint32_t from, to;  /* replica, client index */
	uint32_t lane;
	uint64_t ts;
	char res[32];
};

/* Deliveries seen, per sender and view: each message counts once per destination. */
static struct {
	uint32_t pp[H_N][D_VIEWS];
	uint32_t prep[H_N][D_VIEWS];
	uint32_t commit[H_N][D_VIEWS];
	struct d_reply rep[D_REPLIES];
	uint32_t nrep;
} net;

static uint32_t d_vi(uint64_t view)
{
	return view < D_VIEWS ? (uint32_t)view : D_VIEWS - 1;
}

static int d_filter(struct h *h, const struct h_msg *m, const struct wire_msg *dm)
{
	(void)h;
	if (m->from < H_N) {
		if (dm->hdr.type == WIRE_PREPREPARE)
			net.pp[m->from][d_vi(dm->u.preprepare.view)]++;
		else if (dm->hdr.type == WIRE_PREPARE)
			net.prep[m->from][d_vi(dm->u.prepare.view)]++;
		else if (dm->hdr.type == WIRE_COMMIT)
			net.commit[m->from][d_vi(dm->u.prepare.view)]++;
	}
	if (dm->hdr.type == WIRE_REPLY && m->to >= H_N) {
		struct d_reply *r;
		const struct wire_reply *rp = &dm->u.reply;
		uint32_t n = rp->result.len < sizeof(r->res) - 1 ? rp->result.len
								  : (uint32_t)sizeof(r->res) - 1;

		ck_assert_uint_lt(net.nrep, D_REPLIES);
		r = &net.rep[net.nrep++];
		r->from = m->from;
		r->to = m->to - H_N;
		r->lane = rp->lane;
		r->ts = rp->timestamp;
		memcpy(r->res, rp->result.p, n);
		r->res[n] = 0;
	}
	return 0;
}

/* Replies seen by client index c with (lane, ts, res), from distinct replicas. */
static uint32_t d_replies(uint32_t c, uint32_t lane, uint64_t ts, const char *res)
{
	uint32_t seen = 0, count = 0;

	for (uint32_t k = 0; k < net.nrep; k++) {
		const struct d_reply *r = &net.rep[k];
		if (r->to == c && r->lane == lane && r->ts == ts && strcmp(r->res, res) == 0 &&
		    !(seen & (1u << r->from))) {
			seen |= 1u << r->from;
			count++;
		}
	}
	return count;
}

static void setup(void)
{
	h_init(&H);
	h_start_all(&H);
	memset(&net, 0, sizeof(net));
	H.filter = d_filter;
}

static void teardown(void)
{
	h_fini(&H);
}

/* ---------------------------------------------------------------- helpers */
/* The network loses every queued message. */
static void q_drop_all(void)
{
	for (size_t k = 0; k < H.qn; k++)
		free(H.q[H.qhead + k].p);
	H.qhead = 0;
	H.qn = 0;
}

/* Deliver m from `from` to replica `to` as that replica's only step: afterwards H.up is
 * the update of that step (its messages are queued as well). */
static void step_msg(uint32_t from, uint32_t to, const struct wire_msg *m)
{
	struct wire_buf b;

	ck_assert_uint_eq(H.qn, 0);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, m), 0);
	h_enqueue(&H, from, to, b.p, b.len);
	wire_buf_free(&b);
	h_run(&H, 1);
}


/* Message k of an update, decoded (it borrows the update's bytes). */
static void up_msg(const struct pbft_update *up, size_t k, struct wire_msg *dm)
{
	ck_assert_uint_lt(k, up->nout);
	ck_assert_int_eq(wire_decode(up->msgs.p + up->out[k].off, up->out[k].len, NULL, dm), 0);
}

static uint32_t up_count(const struct pbft_update *up, uint8_t type)
{
	struct wire_msg dm;
	uint32_t n = 0;

	for (size_t k = 0; k < up->nout; k++) {
		up_msg(up, k, &dm);
		if (dm.hdr.type == type)
			n++;
	}
	return n;
}

static uint32_t up_records(const struct pbft_update *up, uint8_t kind)
{
	uint32_t n = 0;

	for (size_t k = 0; k < up->nrec; k++)
		if (up->rec[k].kind == kind && !up->rec[k].del_below)
			n++;
	return n;
}

/* A machine crash of replica i: the records it never asked to sync (kind) are gone.
 * Returns how many were dropped. */
static uint32_t store_lose(uint32_t i, uint8_t kind)
{
	struct h_store *s = &H.store[i];
	size_t k = 0;
	uint32_t lost = 0;

	for (size_t j = 0; j < s->n; j++) {
		if (s->r[j].kind == kind) {
			free(s->r[j].val);
			lost++;
		} else {
			s->r[k++] = s->r[j];
		}
	}
	s->n = k;
	return lost;
}

/* Client c's request (lane, ts, op), signed; sig holds the signature. */
static void make_request(uint32_t c, uint32_t lane, uint64_t ts, const char *op,
			 struct wire_request *req, uint8_t sig[WIRE_SIG_LEN])
{
	uint8_t d[WIRE_DIGEST_LEN];

	memset(req, 0, sizeof(*req));
	memcpy(req->client, H.keys.cli[c].pub, WIRE_KEY_LEN);
	req->lane = lane;
	req->timestamp = ts;
	req->op.p = (const uint8_t *)op;
	req->op.len = (uint32_t)strlen(op);
	wire_request_digest(H_GROUP, H_EPOCH, req, d);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.cli[c], d, WIRE_DIGEST_LEN, sig), 0);
	req->auth.p = sig;
	req->auth.len = WIRE_SIG_LEN;
}

/* Queue client c's request (lane, ts, op) to replica `to`, as sent by the client. */
static void send_request(uint32_t c, uint32_t lane, uint64_t ts, const char *op, uint32_t to)
{
	struct wire_msg m;
	struct wire_buf b;
	uint8_t sig[WIRE_SIG_LEN];

	memset(&m, 0, sizeof(m));
	h_hdr(&m.hdr, WIRE_REQUEST, WIRE_SENDER_CLIENT);
	make_request(c, lane, ts, op, &m.u.request, sig);
	wire_buf_init(&b);
	ck_assert_int_eq(wire_encode(&b, &m), 0);
	h_enqueue(&H, WIRE_SENDER_CLIENT, to, b.p, b.len);
	wire_buf_free(&b);
}

/* The primary's PRE-PREPARE (view, seq) of one request of client c (lane 0); reqs and
 * sig hold the bytes m points to. */
static void make_pp(struct wire_msg *m, uint64_t view, uint64_t seq, uint32_t c, uint64_t ts,
		    const char *op, struct wire_buf *reqs, uint8_t sig[WIRE_SIG_LEN])
{
	struct wire_request req;

	memset(m, 0, sizeof(*m));
	h_hdr(&m->hdr, WIRE_PREPREPARE, (uint32_t)(view % H_N));
	make_request(c, 0, ts, op, &req, sig);
	wire_buf_reset(reqs);
	wire_put_request(reqs, &req);
	m->u.preprepare.view = view;
	m->u.preprepare.seq = seq;
	m->u.preprepare.batch.time = H.wall;
	m->u.preprepare.batch.count = 1;
	m->u.preprepare.batch.reqs.p = reqs->p;
	m->u.preprepare.batch.reqs.len = (uint32_t)reqs->len;
	wire_batch_digest(H_GROUP, H_EPOCH, &m->u.preprepare.batch, m->u.preprepare.digest);
}

/* PREPARE or COMMIT (type) of replica `from` for (view, seq, digest). */
static void make_vote(struct wire_msg *m, uint8_t type, uint32_t from, uint64_t view, uint64_t seq,
		      const uint8_t digest[WIRE_DIGEST_LEN])
{
	memset(m, 0, sizeof(*m));
	h_hdr(&m->hdr, type, from);
	m->u.prepare.view = view;
	m->u.prepare.seq = seq;
	memcpy(m->u.prepare.digest, digest, WIRE_DIGEST_LEN);
}

/* The app's client table entry of (client c, lane): its timestamp, result in res. */
static uint64_t table_ts(uint32_t i, uint32_t c, uint32_t lane, char res[64])
{
	struct wire_buf b;
	uint64_t ts = 99;

	wire_buf_init(&b);
	ck_assert_int_eq(h_client_last(&H.app[i], H.keys.cli[c].pub, lane, &ts, &b), 0);
	ck_assert_uint_lt(b.len, 64);
	if (b.len)
		memcpy(res, b.p, b.len);
	res[b.len] = 0;
	wire_buf_free(&b);
	return ts;
}

/* ---------------------------------------------------------------- 1. votes_uncertain */
/* Replica 3 accepts PRE-PREPARE (0, 1, D) and sends its PREPARE (the update asks for no
 * sync: a PP record and a PREPARE); then its machine goes down and the unsynced PP
 * record is lost. Restarted, it is offered a conflicting (0, 1, D'). With
 * votes_uncertain it sends no PREPARE for D' (it may have voted for D), but 2f PREPAREs
 * of the others prepare D' (COMMIT sent, certificate synced) and 2f+1 COMMITs execute
 * it. Without votes_uncertain it votes a second time in view 0: the hazard. */
static void lost_pp_then_conflicting(int uncertain)
{
	struct wire_msg m, pp2;
	struct wire_buf reqs1, reqs2;
	uint8_t sig1[WIRE_SIG_LEN], sig2[WIRE_SIG_LEN];
	struct wire_msg dm;
	char res[64];

	wire_buf_init(&reqs1);
	wire_buf_init(&reqs2);
	make_pp(&m, 0, 1, 1, 500, "q=1", &reqs1, sig1);
	step_msg(0, 3, &m);
	ck_assert_uint_eq(H.up.nout, 1);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPARE), 1);
	ck_assert_int_eq(H.up.out[0].dest, PBFT_DEST_OTHERS);
	ck_assert_uint_eq(up_records(&H.up, PBFT__REC_PP), 1);
	ck_assert_uint_eq(up_records(&H.up, PBFT__REC_PREPARED), 0);
	ck_assert_int_eq(H.up.sync, 0);
	q_drop_all(); /* nobody hears that PREPARE */

	ck_assert_uint_eq(store_lose(3, PBFT__REC_PP), 1);
	H.cfg[3].votes_uncertain = uncertain;
	h_start(&H, 3);
	ck_assert_uint_eq(h_status(&H, 3).view, 0);
	ck_assert(h_status(&H, 3).view_active);

	make_pp(&pp2, 0, 1, 2, 600, "q=2", &reqs2, sig2);
	ck_assert_mem_ne(pp2.u.preprepare.digest, m.u.preprepare.digest, WIRE_DIGEST_LEN);
	step_msg(0, 3, &pp2);
	ck_assert_uint_eq(up_records(&H.up, PBFT__REC_PP), 1);
	ck_assert_int_eq(H.up.sync, 0);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPARE), (uint32_t)(uncertain ? 0 : 1));
	q_drop_all();
	if (!uncertain)
		goto out;

	/* One PREPARE of another backup: not prepared (its own vote does not count). */
	make_vote(&m, WIRE_PREPARE, 1, 0, 1, pp2.u.preprepare.digest);
	step_msg(1, 3, &m);
	ck_assert_uint_eq(H.up.nout, 0);
	ck_assert_uint_eq(up_records(&H.up, PBFT__REC_PREPARED), 0);
	/* The second: prepared, certificate synced, COMMIT. */
	make_vote(&m, WIRE_PREPARE, 2, 0, 1, pp2.u.preprepare.digest);
	step_msg(2, 3, &m);
	ck_assert_uint_eq(H.up.nout, 1);
	up_msg(&H.up, 0, &dm);
	ck_assert_uint_eq(dm.hdr.type, WIRE_COMMIT);
	ck_assert_uint_eq(dm.u.prepare.view, 0);
	ck_assert_uint_eq(dm.u.prepare.seq, 1);
	ck_assert_mem_eq(dm.u.prepare.digest, pp2.u.preprepare.digest, WIRE_DIGEST_LEN);
	ck_assert_uint_eq(up_records(&H.up, PBFT__REC_PREPARED), 1);
	ck_assert_int_eq(H.up.sync, 1);
	q_drop_all();
	/* 2f+1 COMMITs with its own: executed, the client answered. */
	make_vote(&m, WIRE_COMMIT, 1, 0, 1, pp2.u.preprepare.digest);
	step_msg(1, 3, &m);
	ck_assert_uint_eq(H.app[3].executed_requests, 0);
	make_vote(&m, WIRE_COMMIT, 2, 0, 1, pp2.u.preprepare.digest);
	step_msg(2, 3, &m);
	ck_assert_uint_eq(H.app[3].executed_requests, 1);
	ck_assert_uint_eq(h_status(&H, 3).last_executed, 1);
	ck_assert_str_eq(h_get(&H.app[3].st, "q"), "2");
	ck_assert_uint_eq(up_count(&H.up, WIRE_REPLY), 1);
	ck_assert_uint_eq(table_ts(3, 2, 0, res), 600);
	ck_assert_str_eq(res, "-");
	ck_assert_uint_eq(table_ts(3, 1, 0, res), 0);
	q_drop_all();
out:
	wire_buf_free(&reqs1);
	wire_buf_free(&reqs2);
}

START_TEST(t_uncertain_backup_no_second_vote)
{
	lost_pp_then_conflicting(1);
	ck_assert(h_traced(&H, "unsynced records lost"));
}
END_TEST

START_TEST(t_certain_backup_votes_again)
{
	lost_pp_then_conflicting(0);
	ck_assert(!h_traced(&H, "unsynced records lost"));
}
END_TEST

/* The primary proposes from a client request: the update holds the PP record and the
 * PRE-PREPARE and asks for no sync; the rest of the round goes as usual. */
START_TEST(t_primary_pp_not_synced)
{
	struct wire_msg dm;

	h_invoke(&H, 0, "s=1", 0);
	ck_assert_uint_eq(H.qn, 1);
	h_run(&H, 1);
	ck_assert_uint_eq(H.up.nout, 1);
	up_msg(&H.up, 0, &dm);
	ck_assert_uint_eq(dm.hdr.type, WIRE_PREPREPARE);
	ck_assert_uint_eq(dm.u.preprepare.seq, 1);
	ck_assert_uint_eq(up_records(&H.up, PBFT__REC_PP), 1);
	ck_assert_uint_eq(H.up.nrec, 1);
	ck_assert_int_eq(H.up.sync, 0);
	h_advance(&H, 100, 10);
	ck_assert(H.cdone[0]);
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(h_status(&H, i).last_executed, 1);
}
END_TEST

/* The group moves to view 1 (primary 0 down), then 0 comes back into it. */
static void to_view1(void)
{
	H.crashed[0] = 1;
	ck_assert(h_do(&H, 1, "a=1", 0, 20000));
	h_start(&H, 0);
	h_advance(&H, 2000, 10);
	for (uint32_t i = 0; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);
		ck_assert_uint_eq(st.view, 1);
		ck_assert(st.view_active);
		ck_assert_uint_eq(st.last_executed, 1);
	}
}

/* Backup 3 restarts from its records of view 1 (votes_uncertain as given) and client 2
 * runs one op through the group. */
static void restart3_and_run(int uncertain)
{
	to_view1();
	H.cfg[3].votes_uncertain = uncertain;
	h_start(&H, 3);
	ck_assert_uint_eq(h_status(&H, 3).view, 1);
	ck_assert(h_status(&H, 3).view_active);
	memset(&net, 0, sizeof(net));
	ck_assert(h_do(&H, 2, "b=2", 0, 5000));
	ck_assert_str_eq(h_result(&H, 2), "-");
	h_advance(&H, 100, 10);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(h_status(&H, i).last_executed, 2);
		ck_assert_str_eq(h_get(&H.app[i].st, "b"), "2");
	}
	ck_assert_uint_eq(net.pp[1][1], 3);
	ck_assert_uint_eq(net.commit[3][1], 3);
	ck_assert_uint_eq(d_replies(2, 0, 100, "-"), H_N);
}

START_TEST(t_uncertain_backup_commits_without_prepare)
{
	restart3_and_run(1);
	ck_assert_uint_eq(net.prep[3][1], 0);
	ck_assert_uint_eq(net.prep[0][1], 3);
	ck_assert_uint_eq(net.prep[2][1], 3);
	ck_assert(h_traced(&H, "unsynced records lost"));
}
END_TEST

START_TEST(t_certain_backup_prepares)
{
	restart3_and_run(0);
	ck_assert_uint_eq(net.prep[3][1], 3);
}
END_TEST

/* Replicas 0 (primary of view 0) and 1 (primary of view 1) restart in view 0 with
 * votes_uncertain. A request waits at 0: it proposes nothing. The client's
 * retransmission reaches the backups, whose timers move the group to view 1: there 1
 * proposes and 0 prepares as any replica would. */
START_TEST(t_uncertain_primary_silent_until_next_view)
{
	uint64_t lp;

	ck_assert(h_do(&H, 0, "a=1", 0, 2000));
	H.cfg[0].votes_uncertain = 1;
	H.cfg[1].votes_uncertain = 1;
	h_start(&H, 0);
	h_start(&H, 1);
	memset(&net, 0, sizeof(net));
	lp = h_status(&H, 0).last_proposed;
	ck_assert(h_status(&H, 0).votes_uncertain);
	ck_assert(h_status(&H, 1).votes_uncertain);
	ck_assert(!h_status(&H, 2).votes_uncertain);

	h_invoke(&H, 2, "b=2", 0);
	h_run(&H, 1000000);
	ck_assert_uint_eq(net.pp[0][0], 0);
	ck_assert_uint_eq(h_status(&H, 0).last_proposed, lp);
	h_advance(&H, 400, 10); /* below the client's timeout */
	ck_assert_uint_eq(net.pp[0][0], 0);
	ck_assert(!H.cdone[2]);

	h_advance(&H, 100, 10);
	for (int k = 0; k < 2000 && !H.cdone[2]; k++)
		h_advance(&H, 10, 10);
	ck_assert(H.cdone[2]);
	ck_assert_str_eq(h_result(&H, 2), "-");
	h_advance(&H, 100, 10);
	ck_assert_uint_eq(net.pp[0][0], 0);
	ck_assert_uint_eq(net.prep[1][0], 0);
	for (uint32_t i = 0; i < H_N; i++) {
		struct pbft_status st = h_status(&H, i);
		ck_assert_uint_eq(st.view, 1);
		ck_assert(st.view_active);
		ck_assert_uint_eq(st.last_executed, 2);
		ck_assert_str_eq(h_get(&H.app[i].st, "b"), "2");
	}
	ck_assert(!h_status(&H, 0).votes_uncertain); /* past view 0: certain again */
	ck_assert(!h_status(&H, 1).votes_uncertain);
	ck_assert_uint_ge(net.pp[1][1], 3);  /* 1 proposes in view 1 */
	ck_assert_uint_ge(net.prep[0][1], 3); /* 0 prepares in view 1 */
	/* The next op goes as usual in view 1. */
	ck_assert(h_do(&H, 3, "c=3", 0, 2000));
	for (uint32_t i = 0; i < H_N; i++)
		ck_assert_uint_eq(h_status(&H, i).last_executed, 3);
}
END_TEST

/* ---------------------------------------------------------------- 2. batch_on_flush */
static void restart_all_batch_on_flush(int on)
{
	for (uint32_t i = 0; i < H_N; i++)
		H.cfg[i].batch_on_flush = on;
	h_start_all(&H);
}

/* Four requests arrive at the primary in one turn (four MESSAGE steps): no
 * PRE-PREPARE; the FLUSH at the end of the turn proposes them all as one batch. */
START_TEST(t_flush_proposes_one_batch)
{
	struct wire_msg dm;
	struct wire_iter it;
	struct wire_request req;
	uint32_t seen = 0;
	char op[16];

	restart_all_batch_on_flush(1);
	for (uint32_t c = 0; c < H_CLIENTS; c++) {
		snprintf(op, sizeof(op), "k%u=%u", c, c);
		h_invoke(&H, c, op, 0);
	}
	ck_assert_uint_eq(H.qn, H_CLIENTS);
	for (uint32_t c = 0; c < H_CLIENTS; c++) {
		h_run(&H, 1);
		ck_assert_uint_eq(H.up.nout, 0);
		ck_assert_uint_eq(H.up.nrec, 0);
	}
	ck_assert_uint_eq(H.qn, 0);
	ck_assert_uint_eq(h_status(&H, 0).last_proposed, 0);
	/* A TICK is not the end of a turn: it proposes nothing either. */
	h_step_type(&H, 0, PBFT_EV_TICK);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPREPARE), 0);
	ck_assert_uint_eq(h_status(&H, 0).last_proposed, 0);

	h_step_type(&H, 0, PBFT_EV_FLUSH);
	ck_assert_uint_eq(H.up.nout, 1);
	up_msg(&H.up, 0, &dm);
	ck_assert_uint_eq(dm.hdr.type, WIRE_PREPREPARE);
	ck_assert_uint_eq(dm.u.preprepare.seq, 1);
	ck_assert_uint_eq(dm.u.preprepare.batch.count, H_CLIENTS);
	ck_assert_uint_lt(H_CLIENTS, H.cfg[0].batch_max_requests);
	wire_iter_batch(&it, &dm.u.preprepare.batch);
	while (wire_next_request(&it, &req)) {
		int c = h_client_index(&H, req.client);
		ck_assert_int_ge(c, 0);
		seen |= 1u << c;
	}
	ck_assert_uint_eq(seen, (1u << H_CLIENTS) - 1);
	ck_assert_uint_eq(h_status(&H, 0).last_proposed, 1);

	/* Nothing waits any more: another FLUSH proposes nothing. */
	h_run(&H, 1000000);
	h_step_type(&H, 0, PBFT_EV_FLUSH);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPREPARE), 0);
	for (uint32_t c = 0; c < H_CLIENTS; c++)
		ck_assert(H.cdone[c]);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].batches, 1);
		ck_assert_uint_eq(H.app[i].executed_requests, H_CLIENTS);
	}
}
END_TEST

/* Without batch_on_flush the first request is proposed by its own MESSAGE step. */
START_TEST(t_no_flush_proposes_at_once)
{
	struct wire_msg dm;

	restart_all_batch_on_flush(0);
	h_invoke(&H, 0, "k=1", 0);
	h_invoke(&H, 1, "k=2", 0);
	h_run(&H, 1);
	ck_assert_uint_eq(H.up.nout, 1);
	up_msg(&H.up, 0, &dm);
	ck_assert_uint_eq(dm.hdr.type, WIRE_PREPREPARE);
	ck_assert_uint_eq(dm.u.preprepare.batch.count, 1);
	ck_assert_uint_eq(h_status(&H, 0).last_proposed, 1);
	h_run(&H, 1000000);
	ck_assert(H.cdone[0]);
	ck_assert(H.cdone[1]);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].batches, 2);
		ck_assert_uint_eq(H.app[i].executed_requests, 2);
	}
}
END_TEST

/* A FLUSH is also a TICK: a timer that is due fires on it (here the STATUS round). */
START_TEST(t_flush_fires_timers)
{
	uint64_t due;

	restart_all_batch_on_flush(1);
	due = H.rdeadline[2];
	ck_assert_uint_gt(due, H.now);
	h_step_type(&H, 2, PBFT_EV_FLUSH);
	ck_assert_uint_eq(up_count(&H.up, WIRE_STATUS), 0);
	ck_assert_uint_eq(H.up.deadline, due);
	q_drop_all();
	H.now = due;
	h_step_type(&H, 2, PBFT_EV_FLUSH);
	ck_assert_uint_ge(up_count(&H.up, WIRE_STATUS), 1);
	ck_assert_uint_eq(H.up.deadline, due + H.cfg[2].status_interval_ms);
	q_drop_all();
}
END_TEST

/* ---------------------------------------------------------------- 3. lanes */
/* Client 0 has two requests outstanding at once, lanes 0 and 1, the same timestamp.
 * With a pipeline of 1 both wait at the primary while client 1's request is ordered,
 * then go in one batch: both execute, each reply carries its lane, and each lane's
 * retransmission is answered from its own cached reply. */
START_TEST(t_lanes_both_execute)
{
	char res[64];

	for (uint32_t i = 0; i < H_N; i++)
		H.cfg[i].pipeline = 1;
	h_start_all(&H);
	send_request(1, 0, 100, "z=0", 0);
	send_request(0, 0, 10, "a=1", 0);
	send_request(0, 1, 10, "a=2", 0);
	h_run(&H, 1000000);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].batches, 2);
		ck_assert_uint_eq(H.app[i].executed_requests, 3);
		ck_assert_str_eq(h_get(&H.app[i].st, "a"), "2");
		ck_assert_uint_eq(table_ts(i, 0, 0, res), 10);
		ck_assert_str_eq(res, "-");
		ck_assert_uint_eq(table_ts(i, 0, 1, res), 10);
		ck_assert_str_eq(res, "1");
		ck_assert_uint_eq(table_ts(i, 0, 2, res), 0);
		ck_assert_uint_eq(h_status(&H, i).dropped, 0);
	}
	ck_assert_uint_eq(d_replies(0, 0, 10, "-"), H_N);
	ck_assert_uint_eq(d_replies(0, 1, 10, "1"), H_N);
	ck_assert_uint_eq(net.nrep, 3 * H_N);

	/* Retransmissions, to a backup: each lane gets its own cached reply. */
	net.nrep = 0;
	send_request(0, 1, 10, "a=2", 2);
	h_run(&H, 1000000);
	ck_assert_uint_eq(net.nrep, 1);
	ck_assert_uint_eq(d_replies(0, 1, 10, "1"), 1);
	send_request(0, 0, 10, "a=1", 2);
	h_run(&H, 1000000);
	ck_assert_uint_eq(net.nrep, 2);
	ck_assert_uint_eq(d_replies(0, 0, 10, "-"), 1);
	ck_assert_uint_eq(H.app[2].executed_requests, 3);
	ck_assert(h_traced(&H, "resend cached reply"));
}
END_TEST

/* Timestamps are per lane: lane 1 at 5, then lane 0 at 3, both execute; lane 0 at 2
 * and lane 1 at 4 (each below its own lane's last) are refused. */
START_TEST(t_lanes_timestamps_independent)
{
	uint64_t d0;

	send_request(0, 1, 5, "c=1", 0);
	h_run(&H, 1000000);
	ck_assert_uint_eq(d_replies(0, 1, 5, "-"), H_N);
	send_request(0, 0, 3, "c=2", 0);
	h_run(&H, 1000000);
	ck_assert_uint_eq(d_replies(0, 0, 3, "1"), H_N);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].executed_requests, 2);
		ck_assert_str_eq(h_get(&H.app[i].st, "c"), "2");
	}

	d0 = h_status(&H, 0).dropped;
	net.nrep = 0;
	send_request(0, 0, 2, "c=3", 0);
	h_run(&H, 1000000);
	ck_assert_uint_eq(h_status(&H, 0).dropped, d0 + 1);
	send_request(0, 1, 4, "c=4", 0);
	h_run(&H, 1000000);
	ck_assert_uint_eq(h_status(&H, 0).dropped, d0 + 2);
	ck_assert_uint_eq(net.nrep, 0);
	ck_assert_uint_eq(h_status(&H, 0).last_proposed, 2);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(H.app[i].executed_requests, 2);
		ck_assert_str_eq(h_get(&H.app[i].st, "c"), "2");
	}
	/* And each lane goes on from its own last timestamp. */
	send_request(0, 1, 6, "c=5", 0);
	h_run(&H, 1000000);
	ck_assert_uint_eq(d_replies(0, 1, 6, "2"), H_N);
}
END_TEST

/* A client machine of client 0's key on lane 1. */
static struct pbft_client *lane_client(uint32_t lane, const struct wire_limits *lim, int *rc)
{
	struct pbft_client_config cc;
	struct pbft_client *c = NULL;

	h_client_config(&H, 0, &cc);
	cc.lane = lane;
	cc.limits = lim;
	*rc = pbft_client_new(&cc, &c);
	return c;
}

/* Feed client machine c a REPLY of replica `from` for (key of client 0, lane, ts). */
static int feed_reply(struct pbft_client *c, uint32_t from, uint32_t lane, uint64_t ts, const char *res)
{
	return h_feed_reply(&H, c, from, 0, ts, lane, 0, res);
}

/* The client machine puts its lane in every request (covered by the signed digest)
 * and takes only replies of its lane. */
START_TEST(t_client_lane)
{
	struct pbft_client *c;
	struct wire_msg dm;
	uint8_t d[WIRE_DIGEST_LEN];
	uint64_t ts;
	int rc;

	c = lane_client(1, NULL, &rc);
	ck_assert_int_eq(rc, 0);
	pbft_update_reset(&H.up);
	ck_assert_int_eq(pbft_client_invoke(c, H.now, (const uint8_t *)"op", 2, 0, &H.up), 0);
	ck_assert_uint_eq(H.up.nout, 1);
	up_msg(&H.up, 0, &dm);
	ck_assert_uint_eq(dm.hdr.type, WIRE_REQUEST);
	ck_assert_uint_eq(dm.u.request.lane, 1);
	ck_assert_uint_eq(dm.u.request.timestamp, 100);
	ck_assert_mem_eq(dm.u.request.client, H.keys.cli[0].pub, WIRE_KEY_LEN);
	wire_request_digest(H_GROUP, H_EPOCH, &dm.u.request, d);
	ck_assert_int_eq(h_check_request(NULL, &dm.u.request, d), 0);
	dm.u.request.lane = 0; /* the signature does not hold for another lane */
	wire_request_digest(H_GROUP, H_EPOCH, &dm.u.request, d);
	ck_assert_int_ne(h_check_request(NULL, &dm.u.request, d), 0);

	/* f+1 = 2 (and more) replies right in all but the lane: ignored. */
	for (uint32_t j = 0; j < H_N; j++)
		ck_assert_int_eq(feed_reply(c, j, 0, 100, "ok"), 0);
	ck_assert_int_eq(feed_reply(c, 0, 2, 100, "ok"), 0);
	ck_assert_int_eq(feed_reply(c, 1, 1, 100, "ok"), 0);
	ck_assert_int_eq(feed_reply(c, 2, 1, 100, "ok"), 1);
	ck_assert_uint_eq(pbft_client_result(c, &ts).len, 2);
	ck_assert_uint_eq(ts, 100);
	pbft_client_free(c);
}
END_TEST

START_TEST(t_client_lane_checked)
{
	struct wire_limits lim = wire_limits_default;
	struct pbft_client *c;
	int rc;

	ck_assert_uint_eq(wire_limits_default.max_lanes, WIRE_MAX_LANES);
	c = lane_client(WIRE_MAX_LANES, NULL, &rc);
	ck_assert_int_eq(rc, PBFT_ERR_ARG);
	ck_assert_ptr_null(c);
	c = lane_client(WIRE_MAX_LANES - 1, NULL, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_nonnull(c);
	pbft_client_free(c);
	lim.max_lanes = 2;
	c = lane_client(2, &lim, &rc);
	ck_assert_int_eq(rc, PBFT_ERR_ARG);
	ck_assert_ptr_null(c);
	c = lane_client(1, &lim, &rc);
	ck_assert_int_eq(rc, 0);
	pbft_client_free(c);
}
END_TEST

/* End to end: client 0's machine on lane 1 completes an op; the replicas record it
 * under lane 1 and reply on lane 1. */
START_TEST(t_client_lane_end_to_end)
{
	char res[64];
	int rc;

	pbft_client_free(H.c[0]);
	H.c[0] = lane_client(1, NULL, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert(h_do(&H, 0, "e=1", 0, 2000));
	ck_assert_str_eq(h_result(&H, 0), "-");
	ck_assert_uint_eq(d_replies(0, 1, 100, "-"), H_N);
	for (uint32_t i = 0; i < H_N; i++) {
		ck_assert_uint_eq(table_ts(i, 0, 1, res), 100);
		ck_assert_str_eq(res, "-");
		ck_assert_uint_eq(table_ts(i, 0, 0, res), 0);
	}
}
END_TEST

/* ---------------------------------------------------------------- 4. authenticators */
/* A request of client 0 signed (good) or with a wrong signature (bad): same digest. */
static void mk_request(struct wire_msg *m, uint8_t sig[WIRE_SIG_LEN], int good)
{
	uint8_t digest[WIRE_DIGEST_LEN];
	static const uint8_t op[] = "x=1";

	memset(m, 0, sizeof(*m));
	m->hdr.type = WIRE_REQUEST;
	m->hdr.sender = WIRE_SENDER_CLIENT;
	m->hdr.group = H.cfg[0].group;
	m->hdr.epoch = H.cfg[0].epoch;
	memcpy(m->u.request.client, H.keys.cli[0].pub, WIRE_KEY_LEN);
	m->u.request.timestamp = 777;
	m->u.request.op.p = op;
	m->u.request.op.len = 3;
	wire_request_digest(m->hdr.group, m->hdr.epoch, &m->u.request, digest);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.cli[0], digest, WIRE_DIGEST_LEN, sig), 0);
	if (!good)
		sig[0] ^= 0x40;
	m->u.request.auth.p = sig;
	m->u.request.auth.len = WIRE_SIG_LEN;
}

/* Primary 0's PRE-PREPARE (view 0, seq 1) of one request. */
static void mk_preprepare(struct wire_msg *pp, struct wire_buf *reqs, const struct wire_msg *req)
{
	memset(pp, 0, sizeof(*pp));
	pp->hdr.type = WIRE_PREPREPARE;
	pp->hdr.sender = 0;
	pp->hdr.group = H.cfg[0].group;
	pp->hdr.epoch = H.cfg[0].epoch;
	pp->u.preprepare.view = 0;
	pp->u.preprepare.seq = 1;
	wire_buf_reset(reqs);
	wire_put_request(reqs, &req->u.request);
	pp->u.preprepare.batch.time = H.wall;
	pp->u.preprepare.batch.count = 1;
	pp->u.preprepare.batch.reqs.p = reqs->p;
	pp->u.preprepare.batch.reqs.len = (uint32_t)reqs->len;
	wire_batch_digest(pp->hdr.group, pp->hdr.epoch, &pp->u.preprepare.batch,
			  pp->u.preprepare.digest);
}

/* A request whose copy in the batch carries an authenticator this backup cannot check
 * (tags made before the client had a session with it): refused, unless the backup
 * received and authenticated the same request (same digest) from the client itself,
 * as a client's retransmission to every replica makes sure. */
START_TEST(t_batch_copy_with_bad_authenticator)
{
	uint8_t good_sig[WIRE_SIG_LEN], bad_sig[WIRE_SIG_LEN];
	struct wire_msg good, bad, pp;
	struct wire_buf reqs;

	wire_buf_init(&reqs);
	mk_request(&good, good_sig, 1);
	mk_request(&bad, bad_sig, 0);
	mk_preprepare(&pp, &reqs, &bad);

	/* Replica 2 alone: the copy does not verify -> no PREPARE. */
	step_msg(0, 2, &pp);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPARE), 0);
	q_drop_all();

	/* Replica 3 got the client's own (good) request first: the same content in the
	 * batch is accepted although its copy carries the bad signature. */
	step_msg(WIRE_SENDER_CLIENT, 3, &good);
	q_drop_all();
	step_msg(0, 3, &pp);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPARE), 1);
	q_drop_all();

	/* Replica 1 got another request of the client at that timestamp (other op): the
	 * digests differ, so the bad copy is still refused. */
	struct wire_msg other;
	uint8_t other_sig[WIRE_SIG_LEN], digest[WIRE_DIGEST_LEN];
	static const uint8_t op2[] = "y=2";
	other = good;
	other.u.request.op.p = op2;
	wire_request_digest(other.hdr.group, other.hdr.epoch, &other.u.request, digest);
	ck_assert_int_eq(crypto_ed25519_sign(&H.keys.cli[0], digest, WIRE_DIGEST_LEN, other_sig), 0);
	other.u.request.auth.p = other_sig;
	step_msg(WIRE_SENDER_CLIENT, 1, &other);
	q_drop_all();
	step_msg(0, 1, &pp);
	ck_assert_uint_eq(up_count(&H.up, WIRE_PREPARE), 0);
	q_drop_all();
	wire_buf_free(&reqs);
}
END_TEST

static Suite *core_durable_suite(void)
{
	Suite *s = suite_create("core_durable");
	TCase *tc = tcase_create("durable");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, t_uncertain_backup_no_second_vote);
	tcase_add_test(tc, t_certain_backup_votes_again);
	tcase_add_test(tc, t_primary_pp_not_synced);
	tcase_add_test(tc, t_uncertain_backup_commits_without_prepare);
	tcase_add_test(tc, t_certain_backup_prepares);
	tcase_add_test(tc, t_uncertain_primary_silent_until_next_view);
	tcase_add_test(tc, t_flush_proposes_one_batch);
	tcase_add_test(tc, t_no_flush_proposes_at_once);
	tcase_add_test(tc, t_flush_fires_timers);
	tcase_add_test(tc, t_lanes_both_execute);
	tcase_add_test(tc, t_lanes_timestamps_independent);
	tcase_add_test(tc, t_client_lane);
	tcase_add_test(tc, t_client_lane_checked);
	tcase_add_test(tc, t_client_lane_end_to_end);
	tcase_add_test(tc, t_batch_copy_with_bad_authenticator);
	suite_add_tcase(s, tc);
	return s;
}

UNIT_MAIN(core_durable_suite)
