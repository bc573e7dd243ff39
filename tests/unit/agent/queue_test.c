/* Unit tests of the agent loop's queue: order, per-class bounds, close. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "queue.h"

typedef struct titem {
    nxc_qitem q;
    int n;
} titem;

static titem *mk(int n, int cls)
{
    titem *t = calloc(1, sizeof(*t));

    t->n = n;
    t->q.cls = cls;
    return t;
}

/* Polls until the queue holds want items or the deadline passes. */
static size_t poll_len(nxc_queue *q, size_t want, long deadline_ms)
{
    struct timespec start, now, tick = {0, 1000000};

    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        size_t n = nxc_queue_len(q);

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (n >= want ||
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 >
                deadline_ms)
            return n;
        nanosleep(&tick, NULL);
    }
}

Test(queue, keeps_order_and_takes_in_batches)
{
    nxc_queue *q = nxc_queue_new(NULL);
    nxc_qitem *out[4];
    int next = 0;

    for (int i = 0; i < 10; i++)
        cr_assert_eq(nxc_queue_post(q, &mk(i, 0)->q), 0);
    while (next < 10) {
        size_t n = nxc_queue_take(q, out, 4, 100);

        cr_assert_gt(n, 0);
        cr_assert_leq(n, 4);
        for (size_t i = 0; i < n; i++) {
            cr_assert_eq(((titem *)out[i])->n, next++);
            free(out[i]);
        }
    }
    cr_assert_eq(nxc_queue_take(q, out, 4, 10), 0, "empty queue times out with nothing");
    nxc_queue_free(q);
}

struct producer {
    nxc_queue *q;
    atomic_int posted;
};

static void *produce(void *arg)
{
    struct producer *p = arg;

    for (int i = 0; i < 100; i++) {
        titem *t = mk(i, 1);

        if (nxc_queue_post(p->q, &t->q) != 0) {
            free(t);
            break;
        }
        atomic_fetch_add(&p->posted, 1);
    }
    return NULL;
}

/* A producer of a bounded class blocks at the bound instead of growing the queue. */
Test(queue, bounded_class_blocks_producer)
{
    nxc_queue *q = nxc_queue_new((const size_t[4]){0, 8, 0, 0});
    struct producer p = {q, 0};
    pthread_t th;
    nxc_qitem *out[100];
    size_t total = 0;

    pthread_create(&th, NULL, produce, &p);
    cr_assert_eq(poll_len(q, 8, 5000), 8, "the producer fills the class");
    /* it stays at the bound: a ninth post would have to get past the bound */
    cr_assert_eq(poll_len(q, 9, 200), 8, "the class bound holds");
    cr_assert_eq(atomic_load(&p.posted), 8);
    /* unbounded classes still get in */
    cr_assert_eq(nxc_queue_post(q, &mk(-1, 0)->q), 0);
    while (total < 101) {
        size_t n = nxc_queue_take(q, out, 100, 1000);

        cr_assert_gt(n, 0, "the producer resumes when room is made");
        for (size_t i = 0; i < n; i++)
            free(out[i]);
        total += n;
    }
    pthread_join(th, NULL);
    cr_assert_eq(atomic_load(&p.posted), 100);
    nxc_queue_free(q);
}

Test(queue, close_releases_blocked_producer)
{
    nxc_queue *q = nxc_queue_new((const size_t[4]){0, 1, 0, 0});
    struct producer p = {q, 0};
    pthread_t th;
    nxc_qitem *out[2];

    pthread_create(&th, NULL, produce, &p);
    cr_assert_eq(poll_len(q, 1, 5000), 1);
    nxc_queue_close(q);
    pthread_join(th, NULL); /* would hang if close did not wake the producer */
    cr_assert_eq(atomic_load(&p.posted), 1);
    titem *t = mk(5, 0);
    cr_assert_eq(nxc_queue_post(q, &t->q), -1, "posts fail after close");
    free(t);
    cr_assert_eq(nxc_queue_take(q, out, 2, 10), 1);
    free(out[0]);
    nxc_queue_free(q);
}
