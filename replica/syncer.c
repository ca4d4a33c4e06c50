/* syncer.c: the background state sync of pbft_config.durable_async. At a checkpoint the
 * store writes the state to LevelDB without a sync (store_config.checkpoint_nosync); the
 * loop then asks this thread to make it durable (store_sync: one fdatasync of LevelDB's
 * log), so that the loop keeps serving while the disk works. The thread's report wakes
 * the loop (the notify callback: an ev_async in io_ev.c), which steps the core with
 * PBFT_EV_DURABLE; a checkpoint becomes stable only then. One sync at a time: asks that
 * arrive meanwhile are served by the next one, which covers every write before it. */
#include <stdio.h>
#include <string.h>

#include "replica/bwd.h"

static void *syncer_main(void *arg)
{
	struct bwd_syncer *sy = arg;
	char why[sizeof(sy->why)];

	pthread_mutex_lock(&sy->mu);
	for (;;) {
		while (!sy->stop && sy->want <= sy->done && sy->err == 0)
			pthread_cond_wait(&sy->cv, &sy->mu);
		if (sy->stop || sy->err != 0)
			break;
		uint64_t seq = sy->want;
		pthread_mutex_unlock(&sy->mu);
		int rc = store_sync(sy->store, why, sizeof(why));
		pthread_mutex_lock(&sy->mu);
		if (rc != STORE_OK) {
			sy->err = rc;
			memcpy(sy->why, why, sizeof(why));
		} else {
			sy->done = seq;
		}
		pthread_mutex_unlock(&sy->mu);
		sy->notify(sy->notify_ctx);
		pthread_mutex_lock(&sy->mu);
	}
	pthread_mutex_unlock(&sy->mu);
	return NULL;
}

int bwd_syncer_start(struct bwd_syncer *sy, struct store *store,
		     void (*notify)(void *ctx), void *notify_ctx)
{
	sy->store = store;
	sy->notify = notify;
	sy->notify_ctx = notify_ctx;
	sy->want = sy->done = sy->asked = sy->reported = 0;
	sy->err = 0;
	sy->stop = 0;
	sy->why[0] = '\0';
	if (pthread_mutex_init(&sy->mu, NULL) != 0)
		return BWD_ERR_NOMEM;
	if (pthread_cond_init(&sy->cv, NULL) != 0) {
		pthread_mutex_destroy(&sy->mu);
		return BWD_ERR_NOMEM;
	}
	if (pthread_create(&sy->thread, NULL, syncer_main, sy) != 0) {
		pthread_cond_destroy(&sy->cv);
		pthread_mutex_destroy(&sy->mu);
		return BWD_ERR_NOMEM;
	}
	sy->started = 1;
	return BWD_OK;
}

void bwd_syncer_ask(struct bwd_syncer *sy, uint64_t seq)
{
	if (!sy->started || seq <= sy->asked)
		return;
	sy->asked = seq;
	pthread_mutex_lock(&sy->mu);
	sy->want = seq;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
}

int bwd_syncer_result(struct bwd_syncer *sy, uint64_t *done, char *why, size_t len)
{
	int err;

	pthread_mutex_lock(&sy->mu);
	*done = sy->done;
	err = sy->err;
	if (err != 0)
		snprintf(why, len, "%s", sy->why);
	pthread_mutex_unlock(&sy->mu);
	return err;
}

void bwd_syncer_stop(struct bwd_syncer *sy)
{
	if (!sy->started)
		return;
	pthread_mutex_lock(&sy->mu);
	sy->stop = 1;
	pthread_cond_signal(&sy->cv);
	pthread_mutex_unlock(&sy->mu);
	pthread_join(sy->thread, NULL);
	pthread_cond_destroy(&sy->cv);
	pthread_mutex_destroy(&sy->mu);
	sy->started = 0;
}
