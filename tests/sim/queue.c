/* queue.c: the simulator's event queue: a binary min-heap on (time, insertion seq), so
 * events at the same time run in the order they were scheduled and runs reproduce. */
#include "tests/sim/sim.h"

#include <stdlib.h>
#include <string.h>

static int sim__before(const struct sim_event *a, const struct sim_event *b)
{
	return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

void sim_queue_init(struct sim_queue *q)
{
	q->heap = NULL;
	q->n = 0;
	q->cap = 0;
	q->next_seq = 0;
	q->free_small = NULL;
}

void sim_queue_free(struct sim_queue *q)
{
	for (size_t i = 0; i < q->n; i++)
		free(q->heap[i]);
	free(q->heap);
	while (q->free_small != NULL) {
		struct sim_event *ev = q->free_small;
		q->free_small = ev->next_free;
		free(ev);
	}
	sim_queue_init(q);
}

struct sim_event *sim_event_new(struct sim_queue *q, size_t len)
{
	struct sim_event *ev;
	size_t cap = len <= SIM_EVENT_SMALL ? SIM_EVENT_SMALL : len;

	if (cap == SIM_EVENT_SMALL && q->free_small != NULL) {
		ev = q->free_small;
		q->free_small = ev->next_free;
	} else {
		ev = malloc(sizeof(*ev) + cap);
		if (ev == NULL)
			return NULL;
	}
	memset(ev, 0, sizeof(*ev));
	ev->cap = cap;
	return ev;
}

void sim_event_release(struct sim_queue *q, struct sim_event *ev)
{
	if (ev == NULL)
		return;
	if (ev->cap != SIM_EVENT_SMALL) {
		free(ev);
		return;
	}
	ev->next_free = q->free_small;
	q->free_small = ev;
}

int sim_queue_push(struct sim_queue *q, struct sim_event *ev)
{
	size_t i;

	if (q->n == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 256;
		struct sim_event **h = realloc(q->heap, cap * sizeof(*h));
		if (h == NULL) {
			sim_event_release(q, ev);
			return -1;
		}
		q->heap = h;
		q->cap = cap;
	}
	ev->seq = q->next_seq++;
	i = q->n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!sim__before(ev, q->heap[parent]))
			break;
		q->heap[i] = q->heap[parent];
		i = parent;
	}
	q->heap[i] = ev;
	return 0;
}

struct sim_event *sim_queue_pop(struct sim_queue *q)
{
	struct sim_event *top, *last;
	size_t i = 0;

	if (q->n == 0)
		return NULL;
	top = q->heap[0];
	last = q->heap[--q->n];
	while (q->n > 0) {
		size_t c = 2 * i + 1;
		if (c >= q->n)
			break;
		if (c + 1 < q->n && sim__before(q->heap[c + 1], q->heap[c]))
			c++;
		if (!sim__before(q->heap[c], last))
			break;
		q->heap[i] = q->heap[c];
		i = c;
	}
	if (q->n > 0)
		q->heap[i] = last;
	return top;
}
