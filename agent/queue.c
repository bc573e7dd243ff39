/* queue: a mutex/condvar FIFO with per-class bounds (see queue.h). */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

struct nxc_queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty; /* signalled when an item arrives or on close */
    pthread_cond_t space;    /* signalled when an item of a bounded class leaves */
    nxc_qitem *head, *tail;
    size_t len;
    size_t count[4]; /* items queued per class */
    size_t bound[4]; /* limit per class; 0 = none */
    int closed;
};

nxc_queue *nxc_queue_new(const size_t bound[4])
{
    nxc_queue *q = calloc(1, sizeof(*q));

    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    pthread_cond_init(&q->space, NULL);
    for (int i = 0; i < 4; i++)
        q->bound[i] = bound ? bound[i] : 0;
    return q;
}

void nxc_queue_free(nxc_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->nonempty);
    pthread_cond_destroy(&q->space);
    free(q);
}

int nxc_queue_post(nxc_queue *q, nxc_qitem *it)
{
    int cls = it->cls & 3;

    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->bound[cls] && q->count[cls] >= q->bound[cls])
        pthread_cond_wait(&q->space, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return -1;
    }
    it->next = NULL;
    if (q->tail)
        q->tail->next = it;
    else
        q->head = it;
    q->tail = it;
    q->len++;
    q->count[cls]++;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

size_t nxc_queue_take(nxc_queue *q, nxc_qitem **out, size_t max, long timeout_ms)
{
    struct timespec deadline;
    size_t n = 0;
    int freed = 0;

    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->mu);
    while (!q->head && !q->closed) {
        if (pthread_cond_timedwait(&q->nonempty, &q->mu, &deadline) == ETIMEDOUT)
            break;
    }
    while (q->head && n < max) {
        nxc_qitem *it = q->head;

        q->head = it->next;
        if (!q->head)
            q->tail = NULL;
        q->len--;
        q->count[it->cls & 3]--;
        if (q->bound[it->cls & 3])
            freed = 1;
        it->next = NULL;
        out[n++] = it;
    }
    if (freed)
        pthread_cond_broadcast(&q->space);
    pthread_mutex_unlock(&q->mu);
    return n;
}

void nxc_queue_close(nxc_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->nonempty);
    pthread_cond_broadcast(&q->space);
    pthread_mutex_unlock(&q->mu);
}

size_t nxc_queue_len(nxc_queue *q)
{
    size_t n;

    pthread_mutex_lock(&q->mu);
    n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}
