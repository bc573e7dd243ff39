/*
 * bus integration tests: common/bus.c against a real nats-server with JetStream, one server
 * per test on a free port (tests/support/natsd). Faults are real: SIGTERM, kill -9, SIGSTOP,
 * a server started again with its store wiped. Every wait is a poll with a deadline.
 */
#include <criterion/criterion.h>

#include "bus.h"
#include "err.h"
#include "natsd.h"
#include "proc.h"

#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WAIT_MS 15000
#define STREAM "T"
#define SUBJECTS "t.>"

/* What the bus reported, by message index (message ids are "<prefix>-<index>"). */
struct rec {
    pthread_mutex_t mu;
    int n;            /* size of the arrays */
    int ok;           /* callbacks with ok=1 */
    int failed;       /* callbacks with ok=0 */
    int stray;        /* callbacks whose id is not ours */
    int *oks;         /* per index: callbacks with ok=1 */
    int *fails;       /* per index: callbacks with ok=0 */
    uint64_t *seq;    /* per index: sequence of the last ok */
    int ups;          /* on_conn(1) seen */
    int downs;        /* on_conn(0) seen */
    char reason[256]; /* last failure reason */
};

static void rec_init(struct rec *r, int n)
{
    memset(r, 0, sizeof(*r));
    pthread_mutex_init(&r->mu, NULL);
    r->n = n;
    r->oks = calloc((size_t)n, sizeof(int));
    r->fails = calloc((size_t)n, sizeof(int));
    r->seq = calloc((size_t)n, sizeof(uint64_t));
    cr_assert(r->oks != NULL && r->fails != NULL && r->seq != NULL);
}

static void rec_free(struct rec *r)
{
    free(r->oks);
    free(r->fails);
    free(r->seq);
    pthread_mutex_destroy(&r->mu);
}

static int id_index(const char *id)
{
    const char *dash = id != NULL ? strrchr(id, '-') : NULL;
    char *end = NULL;
    long v;

    if (dash == NULL)
        return -1;
    v = strtol(dash + 1, &end, 10);
    if (end == dash + 1 || *end != '\0' || v < 0 || v > 1000000)
        return -1;
    return (int)v;
}

static void on_ack(void *ctx, const char *msg_id, int ok, uint64_t seq, const char *reason)
{
    struct rec *r = ctx;
    int i = id_index(msg_id);

    pthread_mutex_lock(&r->mu);
    if (i < 0 || i >= r->n) {
        r->stray++;
    } else if (ok) {
        r->oks[i]++;
        r->seq[i] = seq;
    } else {
        r->fails[i]++;
    }
    if (ok)
        r->ok++;
    else
        r->failed++;
    if (!ok && reason != NULL)
        snprintf(r->reason, sizeof(r->reason), "%s", reason);
    pthread_mutex_unlock(&r->mu);
}

static void on_conn(void *ctx, int up)
{
    struct rec *r = ctx;

    pthread_mutex_lock(&r->mu);
    if (up)
        r->ups++;
    else
        r->downs++;
    pthread_mutex_unlock(&r->mu);
}

static int rec_done(struct rec *r)
{
    int n;

    pthread_mutex_lock(&r->mu);
    n = r->ok + r->failed;
    pthread_mutex_unlock(&r->mu);
    return n;
}

struct env {
    nxc_test_natsd *d;
    nxc_bus *bus;
    struct rec r;
};

static nxc_bus_opts bus_opts(struct env *e, const char *url)
{
    nxc_bus_opts o;

    memset(&o, 0, sizeof(o));
    o.urls = url;
    o.name = "bus-test";
    o.on_ack = on_ack;
    o.on_conn = on_conn;
    o.ctx = &e->r;
    return o;
}

static int is_up(void *ctx)
{
    return nxc_bus_connected(ctx);
}

static int is_down(void *ctx)
{
    return !nxc_bus_connected(ctx);
}

static void env_start(struct env *e, int n, long ack_timeout_ms)
{
    nxc_bus_opts o;
    int rc;

    memset(e, 0, sizeof(*e));
    rec_init(&e->r, n);
    rc = nxc_test_natsd_start(NULL, &e->d);
    cr_assert_eq(rc, 0, "nats-server did not start");
    o = bus_opts(e, nxc_test_natsd_url(e->d));
    o.ack_timeout_ms = ack_timeout_ms;
    rc = nxc_bus_connect(&o, &e->bus);
    cr_assert_eq(rc, 0, "connect: %s", nxc_error_last());
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e->bus), 0, "bus never connected");
}

static void env_stop(struct env *e)
{
    nxc_bus_close(e->bus);
    nxc_test_natsd_free(e->d);
    rec_free(&e->r);
}

static void ensure(nxc_bus *b, int64_t per_subject)
{
    nxc_bus_stream_opts so;
    int rc;

    memset(&so, 0, sizeof(so));
    so.name = STREAM;
    so.subjects = SUBJECTS;
    so.max_msgs_per_subject = per_subject;
    rc = nxc_bus_stream_ensure(b, &so);
    cr_assert_eq(rc, 0, "stream ensure: %s", nxc_error_last());
}

static int pub(nxc_bus *b, const char *subject, const char *prefix, int i, const char *data)
{
    char id[64];
    char key[32];
    nxc_bus_header h[2] = {{"Nxc-Op", "upsert"}, {"Nxc-Key", key}};

    snprintf(id, sizeof(id), "%s-%d", prefix, i);
    snprintf(key, sizeof(key), "k%d", i);
    return nxc_bus_publish(b, subject, h, 2, data, strlen(data), id);
}

static uint64_t stream_msgs(nxc_bus *b)
{
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t msgs = 0;
    int rc = nxc_bus_stream_info(b, STREAM, &first, &last, &msgs);

    cr_assert_eq(rc, 0, "stream info: %s", nxc_error_last());
    return msgs;
}

static void free_msgs(nxc_bus_msg **msgs, int n)
{
    for (int i = 0; i < n; i++)
        nxc_bus_msg_free(msgs[i]);
    free(msgs);
}

/* Fetches until want messages came (or the deadline), appending to out. */
static int fetch_n(nxc_bus_consumer *c, int want, long deadline_ms, nxc_bus_msg **out)
{
    int64_t deadline = nxc_test_now_ms() + deadline_ms;
    int got = 0;

    while (got < want && nxc_test_now_ms() < deadline) {
        nxc_bus_msg **msgs = NULL;
        int n = 0;
        int rc = nxc_bus_fetch(c, want - got, 500, &msgs, &n);

        if (rc == NXC_EAGAIN || rc == NXC_EUNAVAIL)
            continue;
        cr_assert_eq(rc, 0, "fetch: %s", nxc_error_last());
        for (int i = 0; i < n; i++)
            out[got++] = msgs[i];
        free(msgs);
    }
    return got;
}

struct done_at_least {
    struct rec *r;
    int n;
};

static int acks_reached(void *ctx)
{
    struct done_at_least *w = ctx;

    return rec_done(w->r) >= w->n;
}

Test(bus, stream_ensure_is_idempotent_and_updates_limits, .timeout = 60)
{
    struct env e;
    nxc_bus_stream_opts so;

    env_start(&e, 16, 0);
    ensure(e.bus, 10);
    ensure(e.bus, 10);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pub(e.bus, "t.same", "s", i, "v"), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(stream_msgs(e.bus), 3);

    /* Tightening the limit on the existing stream applies it at once. (nats-server 2.9.10
     * does so only from a positive limit: from unlimited it trims one message per new
     * one.) */
    ensure(e.bus, 1);
    cr_assert_eq(stream_msgs(e.bus), 1);

    memset(&so, 0, sizeof(so));
    so.name = STREAM;
    so.subjects = SUBJECTS;
    so.max_msgs_per_subject = 1;
    so.max_age_ms = 3600 * 1000;
    so.max_bytes = 64 * 1024 * 1024;
    so.duplicate_window_ms = 60 * 1000;
    cr_assert_eq(nxc_bus_stream_ensure(e.bus, &so), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_stream_ensure(e.bus, &so), 0, "%s", nxc_error_last());
    /* A duplicate window beyond the max age is clamped rather than refused. */
    so.max_age_ms = 1000;
    cr_assert_eq(nxc_bus_stream_ensure(e.bus, &so), 0, "%s", nxc_error_last());

    so.subjects = NULL;
    cr_assert_eq(nxc_bus_stream_ensure(e.bus, &so), NXC_EINVALID);
    cr_assert_eq(nxc_bus_stream_info(e.bus, "NOPE", NULL, NULL, NULL), NXC_ENOTFOUND);
    env_stop(&e);
}

Test(bus, publishes_1000_async_all_acked_in_order, .timeout = 60)
{
    enum { N = 1000 };
    struct env e;
    nxc_bus_consumer *c = NULL;
    nxc_bus_msg **got = calloc(N, sizeof(*got));
    int64_t t0;
    int64_t t1;
    int n;

    cr_assert(got != NULL);
    env_start(&e, N, 0);
    ensure(e.bus, 0);
    t0 = nxc_test_now_ms();
    for (int i = 0; i < N; i++) {
        char data[32];

        snprintf(data, sizeof(data), "payload %d", i);
        cr_assert_eq(pub(e.bus, "t.obj", "m", i, data), 0, "%s", nxc_error_last());
    }
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0, "%s", nxc_error_last());
    t1 = nxc_test_now_ms();
    fprintf(stderr, "bus: %d async publishes acked in %" PRId64 " ms (%.0f msg/s)\n", N, t1 - t0,
            N * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
    cr_assert_eq(e.r.ok, N);
    cr_assert_eq(e.r.failed, 0);
    cr_assert_eq(e.r.stray, 0);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(e.r.oks[i], 1, "message %d acked %d times", i, e.r.oks[i]);
        if (i > 0)
            cr_assert_gt(e.r.seq[i], e.r.seq[i - 1], "sequence not increasing at %d", i);
    }
    cr_assert_eq(stream_msgs(e.bus), N);

    /* What was stored reads back with its headers, in order. */
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "reader", NULL, 0, &c), 0, "%s",
                 nxc_error_last());
    n = fetch_n(c, N, WAIT_MS, got);
    cr_assert_eq(n, N);
    for (int i = 0; i < N; i++) {
        char want[32];
        char id[32];

        snprintf(want, sizeof(want), "payload %d", i);
        snprintf(id, sizeof(id), "m-%d", i);
        cr_assert_eq(nxc_bus_msg_seq(got[i]), e.r.seq[i]);
        cr_assert_eq(nxc_bus_msg_len(got[i]), strlen(want));
        cr_assert_eq(memcmp(nxc_bus_msg_data(got[i]), want, strlen(want)), 0);
        cr_assert_str_eq(nxc_bus_msg_subject(got[i]), "t.obj");
        cr_assert_str_eq(nxc_bus_msg_header(got[i], "Nxc-Op"), "upsert");
        cr_assert_str_eq(nxc_bus_msg_header(got[i], "Nats-Msg-Id"), id);
        cr_assert_null(nxc_bus_msg_header(got[i], "No-Such-Header"));
        cr_assert_eq(nxc_bus_msg_pending(got[i]), (uint64_t)(N - 1 - i));
        cr_assert_gt(nxc_bus_msg_time_ns(got[i]), 0);
        nxc_bus_msg_free(got[i]);
    }
    free(got);
    nxc_bus_consumer_close(c);
    env_stop(&e);
}

Test(bus, publish_throughput_report, .timeout = 120)
{
    enum { N = 20000 };
    struct env e;
    char data[256];
    int64_t t0;
    int64_t t1;

    memset(data, 'x', sizeof(data) - 1);
    data[sizeof(data) - 1] = '\0';
    env_start(&e, N, 0);
    ensure(e.bus, 1);
    t0 = nxc_test_now_ms();
    for (int i = 0; i < N; i++) {
        char subject[32];

        /* One subject per object, as the agent publishes. */
        snprintf(subject, sizeof(subject), "t.obj%d", i);
        cr_assert_eq(pub(e.bus, subject, "tp", i, data), 0, "%s", nxc_error_last());
    }
    cr_assert_eq(nxc_bus_publish_flush(e.bus, 60000), 0, "%s", nxc_error_last());
    t1 = nxc_test_now_ms();
    fprintf(stderr,
            "bus: %d publishes of 255 bytes, one subject each, acked in %" PRId64
            " ms (%.0f msg/s, default window 4096)\n",
            N, t1 - t0, N * 1000.0 / (double)(t1 - t0 > 0 ? t1 - t0 : 1));
    cr_assert_eq(e.r.ok, N);
    cr_assert_eq(stream_msgs(e.bus), N);
    env_stop(&e);
}

Test(bus, duplicate_msg_id_is_stored_once, .timeout = 60)
{
    struct env e;

    env_start(&e, 4, 0);
    ensure(e.bus, 0);
    cr_assert_eq(pub(e.bus, "t.a", "d", 1, "first"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(pub(e.bus, "t.a", "d", 1, "second"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    /* Both acked (the resend is safe), with the sequence of the one copy kept. */
    cr_assert_eq(e.r.oks[1], 2);
    cr_assert_eq(e.r.seq[1], 1);
    cr_assert_eq(stream_msgs(e.bus), 1);
    env_stop(&e);
}

Test(bus, max_msgs_per_subject_keeps_latest_and_stream_get_skips_gaps, .timeout = 60)
{
    struct env e;
    nxc_bus_msg *m = NULL;

    env_start(&e, 8, 0);
    ensure(e.bus, 1);
    cr_assert_eq(pub(e.bus, "t.a", "g", 1, "a1"), 0); /* seq 1, replaced */
    cr_assert_eq(pub(e.bus, "t.b", "g", 2, "b1"), 0); /* seq 2 */
    cr_assert_eq(pub(e.bus, "t.a", "g", 3, "a2"), 0); /* seq 3, replaced */
    cr_assert_eq(pub(e.bus, "t.a", "g", 4, "a3"), 0); /* seq 4 */
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(e.r.ok, 4);
    cr_assert_eq(stream_msgs(e.bus), 2);

    /* Seq 1 is gone: the next one kept is b1 at 2. */
    cr_assert_eq(nxc_bus_stream_get(e.bus, STREAM, 1, &m), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_msg_seq(m), 2);
    cr_assert_str_eq(nxc_bus_msg_subject(m), "t.b");
    cr_assert_eq(memcmp(nxc_bus_msg_data(m), "b1", 2), 0);
    cr_assert_str_eq(nxc_bus_msg_header(m, "Nxc-Key"), "k2");
    cr_assert_gt(nxc_bus_msg_time_ns(m), 0);
    cr_assert_eq(nxc_bus_msg_ack(m), NXC_EINVALID);
    nxc_bus_msg_free(m);

    cr_assert_eq(nxc_bus_stream_get(e.bus, STREAM, 3, &m), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_msg_seq(m), 4);
    cr_assert_eq(memcmp(nxc_bus_msg_data(m), "a3", 2), 0);
    nxc_bus_msg_free(m);

    cr_assert_eq(nxc_bus_stream_get(e.bus, STREAM, 5, &m), NXC_ENOTFOUND);
    cr_assert_null(m);
    cr_assert_eq(nxc_bus_stream_get(e.bus, "NOPE", 1, &m), NXC_ENOTFOUND, "%s", nxc_error_last());
    env_stop(&e);
}

Test(bus, durable_consumer_fetches_in_order_and_resumes_after_acked, .timeout = 60)
{
    struct env e;
    nxc_bus_consumer *c = NULL;
    nxc_bus_msg *got[10];
    nxc_bus_msg **msgs = NULL;
    int n = 0;

    env_start(&e, 16, 0);
    ensure(e.bus, 0);
    for (int i = 1; i <= 10; i++) {
        char subject[16];

        snprintf(subject, sizeof(subject), "t.k%d", i);
        cr_assert_eq(pub(e.bus, subject, "c", i, "x"), 0);
    }
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);

    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "D1", NULL, 0, &c), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(fetch_n(c, 5, WAIT_MS, got), 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(nxc_bus_msg_seq(got[i]), (uint64_t)(i + 1));
        cr_assert_eq(nxc_bus_msg_pending(got[i]), (uint64_t)(9 - i));
        cr_assert_eq(nxc_bus_msg_ack(got[i]), 0, "%s", nxc_error_last());
        nxc_bus_msg_free(got[i]);
    }
    nxc_bus_consumer_close(c);

    /* Reopened: the acked ones do not come back, the rest follow in order. */
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "D1", NULL, 0, &c), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(fetch_n(c, 5, WAIT_MS, got), 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(nxc_bus_msg_seq(got[i]), (uint64_t)(i + 6));
        cr_assert_eq(nxc_bus_msg_ack(got[i]), 0, "%s", nxc_error_last());
        nxc_bus_msg_free(got[i]);
    }
    cr_assert_eq(nxc_bus_fetch(c, 10, 300, &msgs, &n), NXC_EAGAIN);
    cr_assert_eq(n, 0);
    cr_assert_null(msgs);
    nxc_bus_consumer_close(c);

    /* A second durable with a start sequence sees only from there. */
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "D2", NULL, 8, &c), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(fetch_n(c, 3, WAIT_MS, got), 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nxc_bus_msg_seq(got[i]), (uint64_t)(i + 8));
        nxc_bus_msg_free(got[i]);
    }
    nxc_bus_consumer_close(c);

    cr_assert_eq(nxc_bus_consumer_open(e.bus, "NOPE", "D3", NULL, 0, &c), NXC_ENOTFOUND);
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "bad.name", NULL, 0, &c), NXC_EINVALID, "%s",
                 nxc_error_last());
    env_stop(&e);
}

/* Slow on purpose: the server redelivers an unacked message only after the consumer's ack
 * wait (30 s), also when the consumer is closed and opened again. */
Test(bus, unacked_messages_come_back_after_ack_wait, .timeout = 120)
{
    struct env e;
    nxc_bus_consumer *c = NULL;
    nxc_bus_msg *got[4];
    nxc_bus_msg **msgs = NULL;
    int n = 0;

    env_start(&e, 8, 0);
    ensure(e.bus, 0);
    for (int i = 1; i <= 3; i++)
        cr_assert_eq(pub(e.bus, "t.u", "u", i, "x"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "U", NULL, 0, &c), 0, "%s", nxc_error_last());
    cr_assert_eq(fetch_n(c, 3, WAIT_MS, got), 3);
    cr_assert_eq(nxc_bus_msg_ack(got[0]), 0);
    for (int i = 0; i < 3; i++)
        nxc_bus_msg_free(got[i]);
    nxc_bus_consumer_close(c);

    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "U", NULL, 0, &c), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_fetch(c, 3, 300, &msgs, &n), NXC_EAGAIN);
    cr_assert_eq(fetch_n(c, 2, 45000, got), 2);
    cr_assert_eq(nxc_bus_msg_seq(got[0]), 2);
    cr_assert_eq(nxc_bus_msg_seq(got[1]), 3);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nxc_bus_msg_ack(got[i]), 0);
        nxc_bus_msg_free(got[i]);
    }
    nxc_bus_consumer_close(c);
    env_stop(&e);
}

Test(bus, nak_with_delay_redelivers, .timeout = 60)
{
    struct env e;
    nxc_bus_consumer *c = NULL;
    nxc_bus_msg *got[2];
    nxc_bus_msg **msgs = NULL;
    int64_t t0;
    int n = 0;

    env_start(&e, 4, 0);
    ensure(e.bus, 0);
    cr_assert_eq(pub(e.bus, "t.n", "n", 1, "x"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "N", NULL, 0, &c), 0, "%s", nxc_error_last());
    cr_assert_eq(fetch_n(c, 1, WAIT_MS, got), 1);
    t0 = nxc_test_now_ms();
    cr_assert_eq(nxc_bus_msg_nak(got[0], 300), 0, "%s", nxc_error_last());
    nxc_bus_msg_free(got[0]);
    cr_assert_eq(fetch_n(c, 1, WAIT_MS, got), 1);
    cr_assert_geq(nxc_test_now_ms() - t0, 250, "redelivered before the nak delay");
    cr_assert_eq(nxc_bus_msg_seq(got[0]), 1);
    cr_assert_eq(nxc_bus_msg_ack(got[0]), 0);
    nxc_bus_msg_free(got[0]);
    cr_assert_eq(nxc_bus_fetch(c, 1, 300, &msgs, &n), NXC_EAGAIN);
    nxc_bus_consumer_close(c);
    env_stop(&e);
}

Test(bus, publish_to_subject_without_stream_reports_failure, .timeout = 60)
{
    struct env e;
    struct done_at_least w;

    env_start(&e, 4, 0);
    cr_assert_eq(pub(e.bus, "nostream.x", "f", 1, "x"), 0, "%s", nxc_error_last());
    w.r = &e.r;
    w.n = 1;
    cr_assert_eq(nxc_test_poll(WAIT_MS, acks_reached, &w), 0);
    cr_assert_eq(e.r.fails[1], 1);
    cr_assert_eq(e.r.oks[1], 0);
    cr_assert(strcasestr(e.r.reason, "no responders") != NULL, "reason: %s", e.r.reason);
    cr_assert_eq(nxc_bus_publish(e.bus, NULL, NULL, 0, "x", 1, "f-2"), NXC_EINVALID);
    {
        nxc_bus_header bad = {"Bad Name", "v"};

        cr_assert_eq(nxc_bus_publish(e.bus, "t.x", &bad, 1, "x", 1, "f-3"), NXC_EINVALID);
    }
    env_stop(&e);
}

Test(bus, frozen_server_publishes_time_out_then_resend_dedups, .timeout = 60)
{
    enum { N = 10 };
    struct env e;
    struct done_at_least w;

    env_start(&e, N, 500);
    ensure(e.bus, 0);
    cr_assert_eq(nxc_test_natsd_signal(e.d, SIGSTOP), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(pub(e.bus, "t.f", "z", i, "x"), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_publish_flush(e.bus, 100), NXC_EAGAIN);
    w.r = &e.r;
    w.n = N;
    cr_assert_eq(nxc_test_poll(WAIT_MS, acks_reached, &w), 0);
    cr_assert_eq(e.r.failed, N, "every publish must time out, got %d ok", e.r.ok);
    cr_assert(strstr(e.r.reason, "no ack within 500 ms") != NULL, "reason: %s", e.r.reason);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, 100), 0);

    /* Thawed, the server stores what it had queued; the resends are then duplicates. */
    cr_assert_eq(nxc_test_natsd_signal(e.d, SIGCONT), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(pub(e.bus, "t.f", "z", i, "x"), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0, "%s", nxc_error_last());
    cr_assert_eq(e.r.ok, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(e.r.oks[i], 1);
    cr_assert_eq(stream_msgs(e.bus), N);
    env_stop(&e);
}

struct fetch_ok {
    nxc_bus_consumer *c;
    uint64_t seq; /* sequence of the message fetched and acked */
};

static int fetch_one(void *ctx)
{
    struct fetch_ok *f = ctx;
    nxc_bus_msg **msgs = NULL;
    int n = 0;
    int rc = nxc_bus_fetch(f->c, 1, 200, &msgs, &n);

    if (rc != NXC_OK)
        return 0;
    f->seq = nxc_bus_msg_seq(msgs[0]);
    cr_assert_eq(nxc_bus_msg_ack(msgs[0]), 0, "%s", nxc_error_last());
    free_msgs(msgs, n);
    return 1;
}

Test(bus, server_restart_reconnects_and_fetch_and_publish_resume, .timeout = 90)
{
    enum { N = 300 };
    struct env e;
    nxc_bus_consumer *c = NULL;
    nxc_bus_msg *got[10];
    struct fetch_ok f;
    int accepted = 0;
    int refused = 0;
    int accepted_idx[N];

    env_start(&e, N, 0);
    ensure(e.bus, 0);
    for (int i = 0; i < 100; i++) {
        cr_assert_eq(pub(e.bus, "t.r", "r", i, "x"), 0);
        accepted_idx[accepted++] = i;
    }
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "R", NULL, 0, &c), 0, "%s", nxc_error_last());
    cr_assert_eq(fetch_n(c, 10, WAIT_MS, got), 10);
    for (int i = 0; i < 10; i++) {
        cr_assert_eq(nxc_bus_msg_ack(got[i]), 0);
        nxc_bus_msg_free(got[i]);
    }
    cr_assert_eq(fetch_n(c, 1, WAIT_MS, got), 1);

    cr_assert_eq(nxc_test_natsd_stop(e.d), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_down, e.bus), 0);
    /* An ack that cannot reach the server says so at once (the message comes back later). */
    cr_assert_eq(nxc_bus_msg_ack(got[0]), NXC_EUNAVAIL);
    nxc_bus_msg_free(got[0]);
    /* While down: refused at once, so the caller keeps them; never accepted then lost. */
    for (int i = 100; i < 150; i++) {
        int rc = pub(e.bus, "t.r", "r", i, "x");

        if (rc == NXC_OK)
            accepted_idx[accepted++] = i;
        else
            refused++;
        cr_assert(rc == NXC_OK || rc == NXC_EUNAVAIL, "rc %d: %s", rc, nxc_error_last());
    }
    cr_assert_gt(refused, 0);
    {
        nxc_bus_msg **msgs = NULL;
        int n = 0;
        int rc = nxc_bus_fetch(c, 1, 200, &msgs, &n);

        cr_assert(rc == NXC_EAGAIN || rc == NXC_EUNAVAIL, "fetch while down: %d", rc);
    }

    cr_assert_eq(nxc_test_natsd_restart(e.d), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e.bus), 0, "bus did not reconnect");
    cr_assert_geq(e.r.downs, 1);
    cr_assert_geq(e.r.ups, 1);
    f.c = c;
    f.seq = 0;
    cr_assert_eq(nxc_test_poll(WAIT_MS, fetch_one, &f), 0, "fetch never worked again");
    cr_assert_eq(f.seq, 12, "resumed at %" PRIu64, f.seq);

    for (int i = 150; i < 250; i++) {
        cr_assert_eq(pub(e.bus, "t.r", "r", i, "x"), 0, "%s", nxc_error_last());
        accepted_idx[accepted++] = i;
    }
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0, "%s", nxc_error_last());
    /* Every accepted publish got exactly one outcome. */
    for (int k = 0; k < accepted; k++) {
        int i = accepted_idx[k];

        cr_assert_eq(e.r.oks[i] + e.r.fails[i], 1, "message %d: %d ok, %d failed", i, e.r.oks[i],
                     e.r.fails[i]);
    }
    cr_assert_eq(e.r.ok + e.r.failed, accepted);
    cr_assert_eq(stream_msgs(e.bus), (uint64_t)e.r.ok);
    nxc_bus_consumer_close(c);
    env_stop(&e);
}

Test(bus, kill9_while_publishing_loses_nothing_silently, .timeout = 120)
{
    enum { N = 6000 };
    struct env e;
    struct done_at_least w;
    int *accepted = calloc(N, sizeof(int));
    int n_accepted = 0;
    int killed = 0;
    int oks = 0;

    cr_assert(accepted != NULL);
    env_start(&e, N, 0);
    ensure(e.bus, 0);
    for (int i = 0; i < N; i++) {
        int rc;

        if (!killed && rec_done(&e.r) >= 1000) {
            cr_assert_eq(nxc_test_natsd_kill9(e.d), 0);
            killed = 1;
        }
        rc = pub(e.bus, "t.k", "k", i, "payload");
        cr_assert(rc == NXC_OK || rc == NXC_EUNAVAIL, "rc %d: %s", rc, nxc_error_last());
        if (rc == NXC_OK) {
            accepted[i] = 1;
            n_accepted++;
        }
        if (killed && i > 2000 && !nxc_bus_connected(e.bus))
            break;
    }
    cr_assert(killed, "publishing finished before the kill");
    cr_assert_eq(nxc_test_natsd_restart(e.d), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e.bus), 0);
    w.r = &e.r;
    w.n = n_accepted;
    cr_assert_eq(nxc_test_poll(30000, acks_reached, &w), 0, "outcomes %d of %d accepted",
                 rec_done(&e.r), n_accepted);
    for (int i = 0; i < N; i++) {
        cr_assert_eq(e.r.oks[i] + e.r.fails[i], accepted[i], "message %d: %d ok %d failed", i,
                     e.r.oks[i], e.r.fails[i]);
    }
    fprintf(stderr, "bus: kill -9 after 1000 acks: %d accepted, %d acked, %d reported failed\n",
            n_accepted, e.r.ok, e.r.failed);

    /* Resending the failed ones with their ids leaves exactly one copy of each. */
    for (int i = 0; i < N; i++) {
        if (accepted[i] && e.r.fails[i] > 0)
            cr_assert_eq(pub(e.bus, "t.k", "k", i, "payload"), 0, "%s", nxc_error_last());
    }
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0, "%s", nxc_error_last());
    for (int i = 0; i < N; i++) {
        if (accepted[i]) {
            cr_assert_geq(e.r.oks[i], 1, "message %d never acked", i);
            oks++;
        }
    }
    cr_assert_eq(stream_msgs(e.bus), (uint64_t)oks);
    free(accepted);
    env_stop(&e);
}

Test(bus, connects_when_server_comes_up_later, .timeout = 60)
{
    struct env e;
    nxc_test_natsd_opts no;
    nxc_bus_opts o;

    memset(&e, 0, sizeof(e));
    rec_init(&e.r, 4);
    memset(&no, 0, sizeof(no));
    no.no_start = 1;
    cr_assert_eq(nxc_test_natsd_start(&no, &e.d), 0);
    o = bus_opts(&e, nxc_test_natsd_url(e.d));
    cr_assert_eq(nxc_bus_connect(&o, &e.bus), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_connected(e.bus), 0);
    cr_assert_eq(pub(e.bus, "t.l", "l", 1, "x"), NXC_EUNAVAIL);

    cr_assert_eq(nxc_test_natsd_restart(e.d), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e.bus), 0, "never connected");
    cr_assert_geq(e.r.ups, 1);
    ensure(e.bus, 0);
    cr_assert_eq(pub(e.bus, "t.l", "l", 1, "x"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(e.r.oks[1], 1);
    env_stop(&e);
}

Test(bus, consumer_is_recreated_when_server_lost_its_state, .timeout = 90)
{
    struct env e;
    nxc_bus_consumer *c = NULL;
    nxc_bus_msg *got[5];
    struct fetch_ok f;

    env_start(&e, 16, 0);
    ensure(e.bus, 0);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(pub(e.bus, "t.w", "w", i, "old"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(nxc_bus_consumer_open(e.bus, STREAM, "W", NULL, 0, &c), 0, "%s", nxc_error_last());
    cr_assert_eq(fetch_n(c, 5, WAIT_MS, got), 5);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(nxc_bus_msg_ack(got[i]), 0);
        nxc_bus_msg_free(got[i]);
    }

    cr_assert_eq(nxc_test_natsd_stop(e.d), 0);
    cr_assert_eq(nxc_test_natsd_wipe(e.d), 0);
    cr_assert_eq(nxc_test_natsd_restart(e.d), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e.bus), 0);
    /* The publisher's side makes its stream again; the consumer must find its way back. */
    ensure(e.bus, 0);
    for (int i = 5; i < 8; i++)
        cr_assert_eq(pub(e.bus, "t.w", "w", i, "new"), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    f.c = c;
    f.seq = 0;
    cr_assert_eq(nxc_test_poll(WAIT_MS, fetch_one, &f), 0, "consumer not recreated");
    cr_assert_eq(f.seq, 1);
    nxc_bus_consumer_close(c);
    env_stop(&e);
}

/* A published example pair (NATS documentation, `nk -gen user -pubout`). */
#define DOC_SEED "SUACSSL3UAHUDXKFSNVUZRF5UHPMWZ6BFDTJ7M6USDXIEDNPPQYYYCU3VY"
#define DOC_PUB "UDXU4RCSJNZOIQHZNWXHXORDPRTGNJAHAHFRGZNEEJCPQTT2M7NLCNF4"

Test(bus, nkey_seed_file_authenticates, .timeout = 60)
{
    struct env e;
    nxc_test_natsd_opts no;
    nxc_bus_opts o;
    char seed[4096];
    char bad[4096];

    memset(&e, 0, sizeof(e));
    rec_init(&e.r, 4);
    memset(&no, 0, sizeof(no));
    no.config = "authorization {\n  users = [ { nkey: " DOC_PUB " } ]\n}\n";
    cr_assert_eq(nxc_test_natsd_start(&no, &e.d), 0);
    snprintf(seed, sizeof(seed), "%s/user.nk", nxc_test_natsd_dir(e.d));
    snprintf(bad, sizeof(bad), "%s/bad.nk", nxc_test_natsd_dir(e.d));
    cr_assert_eq(nxc_test_write_file(seed, DOC_SEED "\n", strlen(DOC_SEED) + 1), 0);
    cr_assert_eq(nxc_test_write_file(bad, "SUAXXXX\n", 8), 0);

    o = bus_opts(&e, nxc_test_natsd_url(e.d));
    o.nkey_seed_file = bad;
    cr_assert_eq(nxc_bus_connect(&o, &e.bus), NXC_EINVALID);
    cr_assert_null(e.bus);
    o.creds_file = seed;
    o.nkey_seed_file = seed;
    cr_assert_eq(nxc_bus_connect(&o, &e.bus), NXC_EINVALID);

    o.creds_file = NULL;
    cr_assert_eq(nxc_bus_connect(&o, &e.bus), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e.bus), 0, "nkey auth failed");
    ensure(e.bus, 0);
    env_stop(&e);
}

static void openssl(const char *dir, const char *const *args)
{
    char log[4096];
    const char *argv[32];
    int n = 0;

    snprintf(log, sizeof(log), "%s/openssl.log", dir);
    argv[n++] = "openssl";
    for (; *args != NULL && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    cr_assert_eq(nxc_test_run(argv, log, 30000), 0, "openssl failed, see %s", log);
}

/* Mutual TLS with a CA made for the test. */
Test(bus, mutual_tls_connects, .timeout = 60)
{
    struct env e;
    nxc_test_natsd_opts no;
    nxc_bus_opts o;
    char *dir = NULL;
    char p[8][4096];
    char conf[16384];
    char url[64];
    int port = nxc_test_free_port();

    memset(&e, 0, sizeof(e));
    rec_init(&e.r, 4);
    cr_assert_eq(nxc_test_tmpdir("nxc-tls", &dir), 0);
    snprintf(p[0], sizeof(p[0]), "%s/ca.key", dir);
    snprintf(p[1], sizeof(p[1]), "%s/ca.pem", dir);
    snprintf(p[2], sizeof(p[2]), "%s/server.key", dir);
    snprintf(p[3], sizeof(p[3]), "%s/server.csr", dir);
    snprintf(p[4], sizeof(p[4]), "%s/server.pem", dir);
    snprintf(p[5], sizeof(p[5]), "%s/client.key", dir);
    snprintf(p[6], sizeof(p[6]), "%s/client.pem", dir);
    snprintf(p[7], sizeof(p[7]), "%s/san.ext", dir);
    cr_assert_eq(nxc_test_write_file(p[7], "subjectAltName=IP:127.0.0.1\n", 28), 0);
    {
        const char *ca[] = {"req",    "-x509",    "-newkey",
                            "ec",     "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout",  p[0],
                            "-out",   p[1],       "-days",
                            "2",      "-subj",    "/CN=nxc-test-ca",
                            NULL};
        const char *srv_req[] = {
            "req",    "-newkey",       "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout",       p[2], "-out",     p[3],
            "-subj",  "/CN=127.0.0.1", NULL};
        const char *srv_sign[] = {
            "x509", "-req", "-in",   p[3], "-CA",      p[1], "-CAkey", p[0], "-CAcreateserial",
            "-out", p[4],   "-days", "2",  "-extfile", p[7], NULL};
        const char *cli_req[] = {
            "req",    "-newkey",       "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout",       p[5], "-out",     p[3],
            "-subj",  "/CN=nxc-agent", NULL};
        const char *cli_sign[] = {
            "x509", "-req", "-in",   p[3], "-CA", p[1], "-CAkey", p[0], "-CAcreateserial",
            "-out", p[6],   "-days", "2",  NULL};

        openssl(dir, ca);
        openssl(dir, srv_req);
        openssl(dir, srv_sign);
        openssl(dir, cli_req);
        openssl(dir, cli_sign);
    }
    snprintf(conf, sizeof(conf),
             "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  ca_file: \"%s\"\n"
             "  verify: true\n  timeout: 5\n}\n",
             p[4], p[2], p[1]);
    memset(&no, 0, sizeof(no));
    no.config = conf;
    no.port = port;
    cr_assert_eq(nxc_test_natsd_start(&no, &e.d), 0);
    snprintf(url, sizeof(url), "tls://127.0.0.1:%d", port);
    o = bus_opts(&e, url);
    o.ca_file = p[1];
    o.cert_file = p[6];
    o.key_file = p[5];
    cr_assert_eq(nxc_bus_connect(&o, &e.bus), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, e.bus), 0, "TLS connection failed");
    ensure(e.bus, 0);
    cr_assert_eq(pub(e.bus, "t.tls", "s", 1, "x"), 0);
    cr_assert_eq(nxc_bus_publish_flush(e.bus, WAIT_MS), 0);
    cr_assert_eq(e.r.oks[1], 1);

    o.cert_file = p[6];
    o.key_file = NULL;
    {
        nxc_bus *b2 = NULL;

        cr_assert_eq(nxc_bus_connect(&o, &b2), NXC_EINVALID);
    }
    env_stop(&e);
    nxc_test_rmtree(dir);
    free(dir);
}
