/*
 * queue: the agent loop's inbox. Watch threads, consumer threads and cnats callbacks post
 * items; only the loop takes them. Each producer class has its own bound so a flood of watch
 * events blocks the watch thread instead of growing memory, while acks (posted from cnats
 * threads that must never block) are bounded by the publish window instead.
 */
#ifndef NXC_AGENT_QUEUE_H
#define NXC_AGENT_QUEUE_H

#include <stddef.h>

typedef struct nxc_queue nxc_queue;

typedef struct nxc_qitem {
    struct nxc_qitem *next; /* queue link, owned by the queue while queued */
    int kind;               /* what the loop does with it (agent-defined) */
    int cls;                /* producer class, for the bound (0 = unbounded) */
} nxc_qitem;

/* bound[cls] for cls 1..3 limits items of that class in the queue; 0 = unbounded. */
nxc_queue *nxc_queue_new(const size_t bound[4]);
void nxc_queue_free(nxc_queue *q); /* items still queued are passed to free_item */

/* Appends it; blocks while its class is full, unless the queue is closed (then returns -1
 * and the caller keeps ownership of it). */
int nxc_queue_post(nxc_queue *q, nxc_qitem *it);
/* Takes up to max items (in order) into out, waiting up to timeout_ms for the first one.
 * Returns how many. */
size_t nxc_queue_take(nxc_queue *q, nxc_qitem **out, size_t max, long timeout_ms);
/* Wakes every waiter; posts fail from now on. */
void nxc_queue_close(nxc_queue *q);
size_t nxc_queue_len(nxc_queue *q);

#endif
