/* scenario.c: the simulator's scenarios: parameters (sizes, network, workload) and the
 * faults each arms, all drawn from the run's seeded PRNG. */
#include "tests/sim/sim.h"

#include <string.h>

/* Sized so that ~18 scenarios x 300 seeds run in a few minutes under ASan: each run is a
 * few simulated seconds with a handful of clients, small checkpoint intervals and log
 * windows so that garbage collection, view changes and state transfer all happen. */
void sim_params_default(struct sim_params *p)
{
	memset(p, 0, sizeof(*p));
	p->n = 4;
	p->f = 1;
	p->clients = 4;
	p->checkpoint_interval = 16;
	p->log_window = 32;
	p->batch_max_requests = 8;
	p->batch_max_bytes = 4096;
	p->pipeline = 2;
	p->vc_timeout_ms = 150;
	p->status_ms = 50;
	p->client_timeout_ms = 100;
	p->max_skew_ms = 1000;
	p->max_clients = 64;
	p->delay_ms = 1;
	p->jitter_ms = 4;
	p->issue_until_ms = 500;
	p->think_ms = 10;
	p->ro_fraction = 0.2;
	p->nkeys = 8;
	p->heal_at_ms = 0;
	p->liveness_ms = 60000;
	p->drain_ms = 10000;
	p->batch_on_flush = 2;
	p->defer_writes = 2;
	p->durable_async = 2;
	p->idle_verify = 2;
	p->digest_replies = 1;
}

static void sim__skew(struct sim *s)
{
	/* Wall clocks within a third of the allowed skew of each other. */
	uint64_t span = s->p.max_skew_ms / 3;

	for (uint32_t i = 0; i < s->p.n; i++)
		s->rep[i].skew_ms = (int64_t)sim_rng_below(&s->rng, 2 * span + 1) - (int64_t)span;
}

static void sim__faulty(struct sim *s, uint32_t id, uint32_t kinds)
{
	s->rep[id].faulty = 1;
	s->rep[id].byz.kinds = kinds;
	sim_log(s, "replica %u is Byzantine: %s", id, sim_byz_name(kinds));
}

/* ---------------------------------------------------------------- benign */
static void sim__setup_normal(struct sim_params *p)
{
	sim_params_default(p);
}

static void sim__arm_normal(struct sim *s)
{
	sim__skew(s);
}

static void sim__setup_lossy(struct sim_params *p)
{
	sim_params_default(p);
	p->loss = 0.08;
	p->dup = 0.05;
	p->jitter_ms = 25;
	p->issue_until_ms = 800;
}

static void sim__setup_partition(struct sim_params *p)
{
	sim_params_default(p);
	p->issue_until_ms = 900;
}

static void sim__arm_partition(struct sim *s)
{
	uint64_t at = 100 + sim_rng_below(&s->rng, 200);
	uint64_t heal = at + 250 + sim_rng_below(&s->rng, 350);

	sim__skew(s);
	memset(s->pending_side, 0, sizeof(s->pending_side));
	switch (sim_rng_below(&s->rng, 3)) {
	case 0: /* the primary alone */
		s->pending_side[0] = 1;
		break;
	case 1: /* a backup alone */
		s->pending_side[1 + sim_rng_below(&s->rng, s->p.n - 1)] = 1;
		break;
	default: /* two halves: no quorum anywhere until the heal */
		s->pending_side[0] = s->pending_side[1 + sim_rng_below(&s->rng, s->p.n - 1)] = 1;
		break;
	}
	s->p.heal_at_ms = heal;
	sim_schedule(s, at, SIM_EV_PARTITION, 0);
	sim_schedule(s, heal, SIM_EV_HEAL, 0);
}

static void sim__setup_crash(struct sim_params *p)
{
	sim_params_default(p);
	p->issue_until_ms = 1100;
	/* Its regression seeds (scripts/check.sh) replay the schedules that found their bugs:
	 * the clients' messages stay as they were then. */
	p->digest_replies = 0;
}

/* crash-restart's crashes on bulwarkd's two files: the records log and the state each
 * keep their own prefix after a machine crash (sim_store.split). */
static void sim__setup_crash_split(struct sim_params *p)
{
	sim_params_default(p);
	p->issue_until_ms = 1100;
	p->split_disk = 1;
}

static void sim__arm_crash(struct sim *s)
{
	uint64_t t = 100;

	sim__skew(s);
	/* Crashes one after another (at most f down at once), any replica, primary too. */
	for (int k = 0; k < 3; k++) {
		uint32_t id = (uint32_t)sim_rng_below(&s->rng, s->p.n);
		uint64_t down = t + sim_rng_below(&s->rng, 150);
		uint64_t up = down + 30 + sim_rng_below(&s->rng, 150);
		sim_schedule_crash(s, down, id, (enum sim_crash_mode)sim_rng_below(&s->rng, 3));
		sim_schedule(s, up, SIM_EV_REVIVE, id);
		t = up + 1;
	}
	s->p.heal_at_ms = t;
}

static void sim__setup_primary_crash(struct sim_params *p)
{
	sim_params_default(p);
	p->n = 7;
	p->f = 2;
	p->clients = 2;
	p->checkpoint_interval = 32;
	p->log_window = 64;
	p->issue_until_ms = 1100;
}

static void sim__arm_primary_crash(struct sim *s)
{
	uint64_t t1 = 100 + sim_rng_below(&s->rng, 100);
	uint64_t t2 = t1 + 550 + sim_rng_below(&s->rng, 100);

	sim__skew(s);
	/* The primaries of views 0 and 1 together: the view change to 1 fails too and the
	 * group must move on to view 2 (doubled timer). Then those of views 2 and 3. */
	sim_schedule_crash(s, t1, 0, (enum sim_crash_mode)sim_rng_below(&s->rng, 3));
	sim_schedule_crash(s, t1, 1, (enum sim_crash_mode)sim_rng_below(&s->rng, 3));
	sim_schedule(s, t1 + 400, SIM_EV_REVIVE, 0);
	sim_schedule(s, t1 + 400, SIM_EV_REVIVE, 1);
	sim_schedule_crash(s, t2, 2, (enum sim_crash_mode)sim_rng_below(&s->rng, 3));
	sim_schedule_crash(s, t2, 3, (enum sim_crash_mode)sim_rng_below(&s->rng, 3));
	sim_schedule(s, t2 + 300, SIM_EV_REVIVE, 2);
	sim_schedule(s, t2 + 300, SIM_EV_REVIVE, 3);
	s->p.heal_at_ms = t2 + 300;
}

static void sim__setup_transfer(struct sim_params *p)
{
	sim_params_default(p);
	p->issue_until_ms = 1000;
	p->need_transfer = 1;
}

static void sim__arm_transfer(struct sim *s)
{
	uint32_t id = 1 + (uint32_t)sim_rng_below(&s->rng, s->p.n - 1);
	uint64_t down = 50 + sim_rng_below(&s->rng, 100);

	sim__skew(s);
	/* Down long enough for the others to move more than a log window past it. */
	sim_schedule_crash(s, down, id, SIM_CRASH_MACHINE);
	sim_schedule(s, down + 500 + sim_rng_below(&s->rng, 150), SIM_EV_REVIVE, id);
}

static void sim__setup_robust(struct sim_params *p)
{
	sim_params_default(p);
	p->robust = 1;
	p->clients = 3;
	p->issue_until_ms = 400;
}

static void sim__arm_robust(struct sim *s)
{
	uint32_t id = (uint32_t)sim_rng_below(&s->rng, s->p.n);
	uint64_t down = 50 + sim_rng_below(&s->rng, 150);

	sim__skew(s);
	sim_schedule_crash(s, down, id, SIM_CRASH_TORN);
	sim_schedule(s, down + 150, SIM_EV_REVIVE, id);
}

/* ---------------------------------------------------------------- Byzantine */
static void sim__setup_byz(struct sim_params *p)
{
	sim_params_default(p);
	p->issue_until_ms = 600;
}

static void sim__arm_equivocate(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, 0, SIM_BYZ_EQUIVOCATE);
}

static void sim__arm_censor(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, 0, SIM_BYZ_CENSOR);
	s->rep[0].byz.censored_clients = 1; /* client 0 */
}

static void sim__arm_stall(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, 0, SIM_BYZ_STALL);
}

static void sim__arm_digest(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, (uint32_t)sim_rng_below(&s->rng, s->p.n), SIM_BYZ_DIGEST);
}

static void sim__arm_garbage(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, (uint32_t)sim_rng_below(&s->rng, s->p.n), SIM_BYZ_GARBAGE);
}

static void sim__arm_forge(struct sim *s)
{
	uint64_t at = 100 + sim_rng_below(&s->rng, 150);

	sim__skew(s);
	if (s->seed % 2 == 0) {
		/* A stalling primary forces a view change, in which it sends forged
		 * VIEW-CHANGE certificates. */
		sim__faulty(s, 0, SIM_BYZ_STALL | SIM_BYZ_FORGE_VC);
		return;
	}
	/* The primary of view 1 forges: when the (correct) primary 0 is cut off, it sends
	 * forged VIEW-CHANGEs and a NEW-VIEW that does not follow from them. */
	sim__faulty(s, 1, SIM_BYZ_FORGE_VC);
	memset(s->pending_side, 0, sizeof(s->pending_side));
	s->pending_side[0] = 1;
	sim_schedule(s, at, SIM_EV_PARTITION, 0);
	sim_schedule(s, at + 400, SIM_EV_HEAL, 0);
	s->p.heal_at_ms = at + 400;
}

static void sim__arm_clock(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, 0, SIM_BYZ_CLOCK);
}

static void sim__setup_replay(struct sim_params *p)
{
	sim__setup_byz(p);
	p->loss = 0.02;
}

static void sim__arm_replay(struct sim *s)
{
	uint64_t at = 150 + sim_rng_below(&s->rng, 150);

	sim__skew(s);
	/* Cut the faulty primary off for a while: the group moves to later views and it
	 * replays what it sent in the old ones. */
	sim__faulty(s, 0, SIM_BYZ_REPLAY);
	memset(s->pending_side, 0, sizeof(s->pending_side));
	s->pending_side[0] = 1;
	sim_schedule(s, at, SIM_EV_PARTITION, 0);
	sim_schedule(s, at + 350, SIM_EV_HEAL, 0);
	s->p.heal_at_ms = at + 350;
}

static void sim__arm_flood(struct sim *s)
{
	sim__skew(s);
	sim__faulty(s, (uint32_t)sim_rng_below(&s->rng, s->p.n), SIM_BYZ_FLOOD);
}

static void sim__setup_combined(struct sim_params *p)
{
	sim_params_default(p);
	p->n = 7;
	p->f = 2;
	p->clients = 3;
	p->loss = 0.03;
	p->dup = 0.02;
	p->jitter_ms = 10;
	p->checkpoint_interval = 32;
	p->log_window = 64;
	p->issue_until_ms = 700;
}

static void sim__arm_combined(struct sim *s)
{
	uint32_t other = 1 + (uint32_t)sim_rng_below(&s->rng, s->p.n - 1);

	sim__skew(s);
	sim__faulty(s, 0, SIM_BYZ_EQUIVOCATE | SIM_BYZ_FORGE_VC | SIM_BYZ_REPLAY | SIM_BYZ_CENSOR);
	s->rep[0].byz.censored_clients = 2; /* client 1 */
	sim__faulty(s, other, SIM_BYZ_DIGEST | SIM_BYZ_GARBAGE | SIM_BYZ_FLOOD);
}

/* ---------------------------------------------------------------- Byzantine client */
/* Four correct clients (two keys, two lanes each) and a hostile fifth on a key of its
 * own (byzclient.c), with a lossy network so that its replays and conflicting requests
 * meet retransmissions and view changes; the signed variant runs robust mode. */
static void sim__setup_byz_client(struct sim_params *p)
{
	sim_params_default(p);
	p->clients = 2 * SIM_LANES + 1;
	p->byz_client = 1;
	p->loss = 0.03;
	p->dup = 0.03;
	p->jitter_ms = 8;
	p->issue_until_ms = 600;
}

static void sim__setup_byz_client_signed(struct sim_params *p)
{
	sim__setup_byz_client(p);
	p->robust = 1;
}

/* ---------------------------------------------------------------- bench */
static void sim__setup_bench(struct sim_params *p)
{
	sim_params_default(p);
	p->clients = 64;
	p->checkpoint_interval = 128;
	p->log_window = 256;
	p->batch_max_requests = 64;
	p->batch_max_bytes = 64 * 1024;
	p->pipeline = 8;
	p->think_ms = 0;
	p->ro_fraction = 0.0;
	p->issue_until_ms = 5000;
	p->nkeys = 16;
	p->no_vcache = 1;
	p->batch_on_flush = 1; /* as bulwarkd runs */
	p->defer_writes = 1;
	p->durable_async = 1;
	p->idle_verify = 1;
}

static void sim__arm_none(struct sim *s)
{
	(void)s;
}

const struct sim_scenario sim_scenarios[] = {
	{"normal", "no faults, skewed clocks", sim__setup_normal, sim__arm_normal},
	{"lossy", "8% loss, 5% duplication, 1-26 ms delays (reordering)", sim__setup_lossy, sim__arm_normal},
	{"partition-heal", "primary, a backup or half isolated, then healed", sim__setup_partition, sim__arm_partition},
	{"crash-restart", "three crash/revive cycles (process, machine or torn) of random replicas", sim__setup_crash, sim__arm_crash},
	{"crash-split", "crash-restart with the records log and the state as two files, each cut apart", sim__setup_crash_split, sim__arm_crash},
	{"primary-crash", "n=7: primaries of two views at once, twice", sim__setup_primary_crash, sim__arm_primary_crash},
	{"state-transfer", "a backup down past the log window, catches up", sim__setup_transfer, sim__arm_transfer},
	{"robust", "signed client requests, one crash", sim__setup_robust, sim__arm_robust},
	{"byz-equivocate", "primary sends different batches to different backups", sim__setup_byz, sim__arm_equivocate},
	{"byz-censor", "primary drops client 0's requests", sim__setup_byz, sim__arm_censor},
	{"byz-stall", "primary sends nothing as primary", sim__setup_byz, sim__arm_stall},
	{"byz-digest", "wrong digests in PREPARE/COMMIT/CHECKPOINT, lying replies", sim__setup_byz, sim__arm_digest},
	{"byz-garbage", "random bytes, flipped bits, truncations", sim__setup_byz, sim__arm_garbage},
	{"byz-forge-vc", "forged VIEW-CHANGE certificates (odd seeds: and a forged NEW-VIEW)", sim__setup_byz, sim__arm_forge},
	{"byz-clock", "primary's batch times far outside the allowed clock skew", sim__setup_byz, sim__arm_clock},
	{"byz-replay", "isolated primary replays messages of old views", sim__setup_replay, sim__arm_replay},
	{"byz-flood", "PRE-PREPARE/PREPARE/COMMIT/CHECKPOINT far above the watermark", sim__setup_byz, sim__arm_flood},
	{"byz-client", "a client sends forged, badly tagged, replayed, conflicting, malformed and oversized requests", sim__setup_byz_client, sim__arm_normal},
	{"byz-client-signed", "byz-client in robust mode (signed requests)", sim__setup_byz_client_signed, sim__arm_normal},
	{"combined", "n=7, two Byzantine replicas with every behaviour, lossy network", sim__setup_combined, sim__arm_combined},
};
const size_t sim_nscenarios = sizeof(sim_scenarios) / sizeof(sim_scenarios[0]);

const struct sim_scenario sim_bench_scenario = {
	"bench", "no faults, 64 clients, batches of 64, pipeline 8", sim__setup_bench, sim__arm_none,
};
