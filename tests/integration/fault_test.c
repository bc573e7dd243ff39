/*
 * fault tests: the fault harness the outage tests build on, proven against real processes.
 * A relay (toxiproxy, tests/support/relay) between a bus and a nats-server is cut, blackholed
 * and slowed, and the bus must see exactly that; a hub and a leaf nats-server with their own
 * JetStream domains (tests/support/natsd) have their leafnode link run through a relay that
 * is cut and restored. Every wait is a poll with a deadline.
 */
#include <criterion/criterion.h>

#include "bus.h"
#include "err.h"
#include "natsd.h"
#include "proc.h"
#include "relay.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define WAIT_MS 15000
#define MIRROR_WAIT_MS 60000
#define ACK_TIMEOUT_MS 1000
#define DELAY_MS 400
#define STREAM "F"
#define SUBJECTS "f.>"

/* What a bus reported through its callbacks. */
struct counts {
    int ups;          /* on_conn(1) */
    int downs;        /* on_conn(0) */
    int ok;           /* on_ack with ok=1 */
    int failed;       /* on_ack with ok=0 */
    char reason[256]; /* reason of the last failed ack */
};

/* The callbacks run on cnats threads, the test reads on its own. */
struct rec {
    pthread_mutex_t mu;
    struct counts c; /* under mu */
};

static void on_ack(void *ctx, const char *msg_id, int ok, uint64_t seq, const char *reason)
{
    struct rec *r = ctx;

    (void)msg_id;
    (void)seq;
    pthread_mutex_lock(&r->mu);
    if (ok) {
        r->c.ok++;
    } else {
        r->c.failed++;
        snprintf(r->c.reason, sizeof(r->c.reason), "%s", reason != NULL ? reason : "");
    }
    pthread_mutex_unlock(&r->mu);
}

static void on_conn(void *ctx, int up)
{
    struct rec *r = ctx;

    pthread_mutex_lock(&r->mu);
    if (up)
        r->c.ups++;
    else
        r->c.downs++;
    pthread_mutex_unlock(&r->mu);
}

/* A consistent copy of the counters. */
static struct counts snap(struct rec *r)
{
    struct counts c;

    pthread_mutex_lock(&r->mu);
    c = r->c;
    pthread_mutex_unlock(&r->mu);
    return c;
}

static nxc_bus *bus_open(const char *url, const char *domain, long ack_timeout_ms, struct rec *r)
{
    nxc_bus_opts o;
    nxc_bus *b = NULL;
    int rc;

    memset(&o, 0, sizeof(o));
    o.urls = url;
    o.name = "fault-test";
    o.domain = domain;
    o.ack_timeout_ms = ack_timeout_ms;
    o.on_ack = on_ack;
    o.on_conn = on_conn;
    o.ctx = r;
    rc = nxc_bus_connect(&o, &b);
    cr_assert_eq(rc, 0, "connect %s: %s", url, nxc_error_last());
    return b;
}

static int is_up(void *ctx)
{
    return nxc_bus_connected(ctx);
}

static void ensure(nxc_bus *b, const char *stream, const char *subjects)
{
    nxc_bus_stream_opts so;
    int rc;

    memset(&so, 0, sizeof(so));
    so.name = stream;
    so.subjects = subjects;
    rc = nxc_bus_stream_ensure(b, &so);
    cr_assert_eq(rc, 0, "stream ensure %s: %s", stream, nxc_error_last());
}

static int pub(nxc_bus *b, const char *subject, int i)
{
    char id[64];
    char data[32];

    snprintf(id, sizeof(id), "fault-%s-%d", subject, i);
    snprintf(data, sizeof(data), "m%d", i);
    return nxc_bus_publish(b, subject, NULL, 0, data, strlen(data), id);
}

/* A bus connected to a nats-server through a relay proxy named "nats". */
struct link_env {
    nxc_test_natsd *d;
    nxc_test_relay *relay;
    int port;     /* the relay's listen port: what the bus connects to */
    char url[64]; /* nats://127.0.0.1:<port> */
    nxc_bus *bus;
    struct rec r;
};

static void link_start(struct link_env *e, long ack_timeout_ms)
{
    int rc;

    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->r.mu, NULL);
    rc = nxc_test_natsd_start(NULL, &e->d);
    cr_assert_eq(rc, 0, "nats-server did not start");
    rc = nxc_test_relay_start(&e->relay);
    cr_assert_eq(rc, 0, "relay did not start");
    rc = nxc_test_relay_add(e->relay, "nats", "127.0.0.1", nxc_test_natsd_port(e->d), &e->port);
    cr_assert_eq(rc, 0, "relay proxy not created");
    cr_assert_neq(e->port, nxc_test_natsd_port(e->d));
    snprintf(e->url, sizeof(e->url), "nats://127.0.0.1:%d", e->port);
    e->bus = bus_open(e->url, NULL, ack_timeout_ms, &e->r);
    rc = nxc_test_poll(WAIT_MS, is_up, e->bus);
    cr_assert_eq(rc, 0, "bus never connected through the relay");
    ensure(e->bus, STREAM, SUBJECTS);
}

static void link_stop(struct link_env *e)
{
    nxc_bus_close(e->bus);
    nxc_test_relay_free(e->relay);
    nxc_test_natsd_free(e->d);
    pthread_mutex_destroy(&e->r.mu);
}

/* Conditions to poll: a counter of a rec reaching a value. */
struct want {
    struct rec *r;
    int n;
};

static int ups_reached(void *ctx)
{
    struct want *w = ctx;

    return snap(w->r).ups >= w->n;
}

static int downs_reached(void *ctx)
{
    struct want *w = ctx;

    return snap(w->r).downs >= w->n;
}

static int oks_reached(void *ctx)
{
    struct want *w = ctx;

    return snap(w->r).ok >= w->n;
}

static int fails_reached(void *ctx)
{
    struct want *w = ctx;

    return snap(w->r).failed >= w->n;
}

/* Publishes one message and waits for its outcome: the ms it took, or -1 if it failed. */
static int64_t round_trip(struct link_env *e, int i)
{
    struct want w = {&e->r, snap(&e->r).ok + 1};
    int64_t t0 = nxc_test_now_ms();
    int rc;

    rc = pub(e->bus, "f.rt", i);
    cr_assert_eq(rc, 0, "publish: %s", nxc_error_last());
    rc = nxc_test_poll(WAIT_MS, oks_reached, &w);
    if (rc != NXC_OK)
        return -1;
    return nxc_test_now_ms() - t0;
}

Test(fault, cut_closes_the_link_and_restore_reopens_it, .timeout = 90)
{
    struct link_env e;
    struct want w;
    int ups;
    int rc;

    link_start(&e, 0);
    cr_assert_geq(round_trip(&e, 0), 0, "no ack through the relay");
    ups = snap(&e.r).ups;

    rc = nxc_test_relay_cut(e.relay, "nats");
    cr_assert_eq(rc, 0);
    w = (struct want){&e.r, 1};
    rc = nxc_test_poll(WAIT_MS, downs_reached, &w);
    cr_assert_eq(rc, 0, "the bus did not notice the cut");
    cr_assert_eq(nxc_bus_connected(e.bus), 0);
    /* The bus refuses publishes while down: the cut is real, not a slow link. */
    rc = pub(e.bus, "f.cut", 1);
    cr_assert_eq(rc, NXC_EUNAVAIL);
    /* Reconnect attempts meet a closed port while cut. */
    cr_assert_neq(nxc_test_wait_port(e.port, 0), 0);

    rc = nxc_test_relay_restore(e.relay, "nats");
    cr_assert_eq(rc, 0);
    cr_assert_eq(nxc_test_relay_port(e.relay, "nats"), e.port, "restore moved the port");
    w = (struct want){&e.r, ups + 1};
    rc = nxc_test_poll(WAIT_MS, ups_reached, &w);
    cr_assert_eq(rc, 0, "the bus did not reconnect after restore");
    cr_assert_geq(round_trip(&e, 2), 0, "no ack after restore");
    link_stop(&e);
}

/* Publishes one message at a time (the next only once the last one's outcome came) until
 * one is acknowledged: after a fault is lifted, the first publishes may still fail. */
struct resend {
    struct link_env *e;
    int want_ok; /* acks to reach */
    int sent;    /* publishes accepted by the bus so far */
    int next;    /* index of the next message */
};

static int acked_again(void *ctx)
{
    struct resend *s = ctx;
    struct counts c = snap(&s->e->r);

    if (c.ok >= s->want_ok)
        return 1;
    if (c.ok + c.failed >= s->sent && pub(s->e->bus, "f.again", s->next) == NXC_OK) {
        s->sent++;
        s->next++;
    }
    return 0;
}

Test(fault, blackhole_keeps_the_link_open_and_delivers_nothing, .timeout = 90)
{
    struct link_env e;
    struct resend s;
    struct counts c;
    struct want w;
    int rc;

    link_start(&e, ACK_TIMEOUT_MS);
    cr_assert_geq(round_trip(&e, 0), 0, "no ack through the relay");

    rc = nxc_test_relay_blackhole(e.relay, "nats");
    cr_assert_eq(rc, 0);
    rc = pub(e.bus, "f.hole", 1);
    cr_assert_eq(rc, 0, "the bus refused a publish on a link that looks up: %s", nxc_error_last());
    w = (struct want){&e.r, 1};
    rc = nxc_test_poll(WAIT_MS, fails_reached, &w);
    cr_assert_eq(rc, 0, "a publish into the blackhole got no outcome");
    c = snap(&e.r);
    cr_assert_eq(c.ok, 1, "a publish was acked through the blackhole");
    /* Nothing was reset: only the ack time-out told, long before the pings could. */
    cr_assert_eq(c.downs, 0, "the blackhole closed the connection");
    cr_assert_eq(nxc_bus_connected(e.bus), 1);
    cr_assert_eq(nxc_test_wait_port(e.port, 0), 0, "the blackholed relay refuses connections");

    rc = nxc_test_relay_unblackhole(e.relay, "nats");
    cr_assert_eq(rc, 0);
    /* toxiproxy closes the connections it blackholed: the bus goes down and comes back. */
    w = (struct want){&e.r, 1};
    rc = nxc_test_poll(WAIT_MS, downs_reached, &w);
    cr_assert_eq(rc, 0, "unblackhole left the corrupt connection open");
    s = (struct resend){&e, 2, 2, 100};
    rc = nxc_test_poll(WAIT_MS, acked_again, &s);
    cr_assert_eq(rc, 0, "publishes not acked after unblackhole (last failure: %s)",
                 snap(&e.r).reason);
    link_stop(&e);
}

Test(fault, delay_slows_round_trips_and_clear_removes_it, .timeout = 90)
{
    struct link_env e;
    int64_t t;
    int rc;

    link_start(&e, 5000);
    /* A second value replaces the first, on the open connection. */
    rc = nxc_test_relay_delay(e.relay, "nats", DELAY_MS / 4);
    cr_assert_eq(rc, 0);
    rc = nxc_test_relay_delay(e.relay, "nats", DELAY_MS);
    cr_assert_eq(rc, 0);
    t = round_trip(&e, 0);
    cr_assert_geq(t, 2 * DELAY_MS, "round trip %lld ms with %d ms each way", (long long)t,
                  DELAY_MS);

    rc = nxc_test_relay_clear(e.relay, "nats");
    cr_assert_eq(rc, 0);
    t = round_trip(&e, 1);
    cr_assert_geq(t, 0);
    cr_assert_lt(t, DELAY_MS, "round trip %lld ms after clear", (long long)t);

    rc = nxc_test_relay_delay(e.relay, "nats", DELAY_MS);
    cr_assert_eq(rc, 0);
    rc = nxc_test_relay_delay(e.relay, "nats", 0);
    cr_assert_eq(rc, 0);
    t = round_trip(&e, 2);
    cr_assert_geq(t, 0);
    cr_assert_lt(t, DELAY_MS, "round trip %lld ms after delay 0", (long long)t);
    link_stop(&e);
}

Test(fault, relay_reports_unknown_duplicate_and_bad_proxies, .timeout = 60)
{
    nxc_test_relay *relay = NULL;
    int port = 0;
    int again = 0;
    int rc;

    rc = nxc_test_relay_start(&relay);
    cr_assert_eq(rc, 0);
    /* The upstream need not be up: it is dialled per connection. */
    rc = nxc_test_relay_add(relay, "a", "127.0.0.1", nxc_test_free_port(), &port);
    cr_assert_eq(rc, 0);
    cr_assert_gt(port, 0);
    cr_assert_eq(nxc_test_relay_port(relay, "a"), port);
    rc = nxc_test_relay_add(relay, "a", "127.0.0.1", 1, &again);
    cr_assert_eq(rc, NXC_EEXISTS);
    cr_assert_eq(again, 0);
    cr_assert_eq(nxc_test_relay_add(relay, "a/b", "127.0.0.1", 1, &again), NXC_EINVALID);
    cr_assert_eq(nxc_test_relay_add(relay, "", "127.0.0.1", 1, &again), NXC_EINVALID);
    cr_assert_eq(nxc_test_relay_add(relay, "b", "127.0.0.1", 0, &again), NXC_EINVALID);

    cr_assert_eq(nxc_test_relay_cut(relay, "nope"), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_restore(relay, "nope"), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_blackhole(relay, "nope"), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_unblackhole(relay, "nope"), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_delay(relay, "nope", 10), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_clear(relay, "nope"), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_port(relay, "nope"), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_retarget(relay, "nope", "127.0.0.1", 1), NXC_ENOTFOUND);
    cr_assert_eq(nxc_test_relay_retarget(relay, "a", "127.0.0.1", 70000), NXC_EINVALID);
    cr_assert_eq(nxc_test_relay_delay(relay, "a", -1), NXC_EINVALID);

    /* Every fault can be applied twice and lifted when absent. */
    cr_assert_eq(nxc_test_relay_unblackhole(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_blackhole(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_blackhole(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_delay(relay, "a", 10), 0);
    cr_assert_eq(nxc_test_relay_clear(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_clear(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_cut(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_cut(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_restore(relay, "a"), 0);
    cr_assert_eq(nxc_test_relay_restore(relay, "a"), 0);

    cr_assert_eq(nxc_test_relay_stop(relay), 0);
    cr_assert_eq(nxc_test_relay_cut(relay, "a"), NXC_EUNAVAIL);
    cr_assert_neq(nxc_test_wait_port(port, 0), 0, "the proxy outlived its relay");
    nxc_test_relay_free(relay);
}

/* --- natsd ports ----------------------------------------------------------------------- */

Test(fault, natsd_picks_new_ports_when_one_was_taken, .timeout = 60)
{
    const char *real = getenv("NXC_NATS_SERVER");
    nxc_test_natsd *a = NULL;
    nxc_test_natsd *b = NULL;
    nxc_test_natsd_opts o;
    char *dir = NULL;
    char script[4096];
    char marker[1024];
    char path[1024];
    struct stat st;
    int rc;

    /* A port the caller fixed is not changed: taken, the start fails (and does not hang). */
    rc = nxc_test_natsd_start(NULL, &a);
    cr_assert_eq(rc, 0);
    memset(&o, 0, sizeof(o));
    o.port = nxc_test_natsd_port(a);
    rc = nxc_test_natsd_start(&o, &b);
    cr_assert_eq(rc, NXC_EUNAVAIL);
    cr_assert_null(b);
    nxc_test_natsd_free(a);

    /* A server that finds a picked port taken (as nats-server words it, once) is started
     * again on new ports. */
    rc = nxc_test_tmpdir("nxc-fault", &dir);
    cr_assert_eq(rc, 0);
    snprintf(marker, sizeof(marker), "%s/failed-once", dir);
    snprintf(path, sizeof(path), "%s/nats-server", dir);
    snprintf(script, sizeof(script),
             "#!/bin/sh\n"
             "if [ ! -e '%s' ]; then\n"
             "    : > '%s'\n"
             "    echo '[FTL] Error listening on port: 127.0.0.1:1, \"listen tcp 127.0.0.1:1: "
             "bind: address already in use\"'\n"
             "    exit 1\n"
             "fi\n"
             "exec '%s' \"$@\"\n",
             marker, marker, real != NULL && real[0] != '\0' ? real : "nats-server");
    rc = nxc_test_write_file(path, script, strlen(script));
    cr_assert_eq(rc, 0);
    cr_assert_eq(chmod(path, 0700), 0);
    cr_assert_eq(setenv("NXC_NATS_SERVER", path, 1), 0);
    memset(&o, 0, sizeof(o));
    o.monitor_port = -1;
    rc = nxc_test_natsd_start(&o, &b);
    cr_assert_eq(rc, 0, "no second attempt on new ports");
    cr_assert_eq(stat(marker, &st), 0, "the first attempt did not run");
    cr_assert_eq(nxc_test_natsd_running(b), 1);
    cr_assert_gt(nxc_test_natsd_monitor_port(b), 0);
    nxc_test_natsd_free(b);
    nxc_test_rmtree(dir);
    free(dir);
}

/* --- hub and leaf ----------------------------------------------------------------------- */

struct leaf_count {
    nxc_test_natsd *d;
    int want;
};

static int leafnodes_are(void *ctx)
{
    struct leaf_count *c = ctx;
    int n = -1;

    return nxc_test_natsd_leafnodes(c->d, &n) == NXC_OK && n == c->want;
}

struct stream_count {
    nxc_bus *b;
    const char *stream;
    uint64_t want;
};

static int stream_has(void *ctx)
{
    struct stream_count *c = ctx;
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t msgs = 0;

    return nxc_bus_stream_info(c->b, c->stream, &first, &last, &msgs) == NXC_OK && msgs == c->want;
}

static void publish_n(nxc_bus *b, struct rec *r, int from, int n)
{
    struct want w = {r, snap(r).ok + n};
    char subject[32];
    int rc;

    for (int i = from; i < from + n; i++) {
        snprintf(subject, sizeof(subject), "x.%d", i);
        rc = pub(b, subject, i);
        cr_assert_eq(rc, 0, "publish: %s", nxc_error_last());
    }
    rc = nxc_test_poll(WAIT_MS, oks_reached, &w);
    cr_assert_eq(rc, 0, "publishes not acked (last failure: %s)", snap(r).reason);
}

/*
 * The leaf-node topology of deploy/nats/hub.conf + leaf.conf, with the leaf's link running
 * through a relay. Checked from /leafz and through JetStream domains: a bus on the leaf
 * reaches the hub's stream as domain "hub" while the link is up, not while it is cut; a
 * mirror of it in the leaf's own JetStream keeps its messages through the cut and catches
 * up after it.
 */
Test(fault, leaf_link_through_relay_is_cut_and_restored, .timeout = 180)
{
    nxc_test_relay *relay = NULL;
    nxc_test_natsd *hub = NULL;
    nxc_test_natsd *leaf = NULL;
    nxc_test_natsd_opts ho;
    nxc_test_natsd_opts lo;
    nxc_bus_stream_opts mo;
    nxc_bus *hub_bus;
    nxc_bus *leaf_bus;
    nxc_bus *cross_bus;
    struct rec hub_r;
    struct rec leaf_r;
    struct rec cross_r;
    struct leaf_count lc;
    struct stream_count sc;
    char advertise[64];
    char remote[64];
    uint64_t first = 0;
    uint64_t last = 0;
    uint64_t msgs = 0;
    int hub_leaf_port;
    int relay_port = 0;
    int rc;

    memset(&hub_r, 0, sizeof(hub_r));
    memset(&leaf_r, 0, sizeof(leaf_r));
    memset(&cross_r, 0, sizeof(cross_r));
    pthread_mutex_init(&hub_r.mu, NULL);
    pthread_mutex_init(&leaf_r.mu, NULL);
    pthread_mutex_init(&cross_r.mu, NULL);

    /* The relay first: the hub must advertise the relay's address, not its own. Its
     * upstream (port 1 for now: nothing connects yet) is set once the hub has its port. */
    rc = nxc_test_relay_start(&relay);
    cr_assert_eq(rc, 0, "relay did not start");
    rc = nxc_test_relay_add(relay, "leaf", "127.0.0.1", 1, &relay_port);
    cr_assert_eq(rc, 0);
    snprintf(advertise, sizeof(advertise), "127.0.0.1:%d", relay_port);
    snprintf(remote, sizeof(remote), "nats-leaf://127.0.0.1:%d", relay_port);

    memset(&ho, 0, sizeof(ho));
    ho.name = "hub";
    ho.domain = "hub";
    ho.leafnode_port = -1;
    ho.leafnode_advertise = advertise;
    ho.monitor_port = -1;
    rc = nxc_test_natsd_start(&ho, &hub);
    cr_assert_eq(rc, 0, "hub did not start");
    hub_leaf_port = nxc_test_natsd_leafnode_port(hub);
    cr_assert_gt(hub_leaf_port, 0);
    cr_assert_gt(nxc_test_natsd_monitor_port(hub), 0);
    rc = nxc_test_relay_retarget(relay, "leaf", "127.0.0.1", hub_leaf_port);
    cr_assert_eq(rc, 0);
    cr_assert_eq(nxc_test_relay_port(relay, "leaf"), relay_port, "retarget moved the port");

    memset(&lo, 0, sizeof(lo));
    lo.name = "leaf";
    lo.domain = "leaf";
    lo.leaf_remote = remote;
    lo.monitor_port = -1;
    rc = nxc_test_natsd_start(&lo, &leaf);
    cr_assert_eq(rc, 0, "leaf did not start");
    cr_assert_eq(nxc_test_natsd_leafnode_port(leaf), 0);

    lc = (struct leaf_count){hub, 1};
    rc = nxc_test_poll(WAIT_MS, leafnodes_are, &lc);
    cr_assert_eq(rc, 0, "the leaf never connected to the hub");
    lc = (struct leaf_count){leaf, 1};
    rc = nxc_test_poll(WAIT_MS, leafnodes_are, &lc);
    cr_assert_eq(rc, 0, "the leaf does not see its link");

    /* Agents on each side name their own domain. */
    hub_bus = bus_open(nxc_test_natsd_url(hub), "hub", 0, &hub_r);
    leaf_bus = bus_open(nxc_test_natsd_url(leaf), "leaf", 0, &leaf_r);
    cross_bus = bus_open(nxc_test_natsd_url(leaf), "hub", 0, &cross_r);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, hub_bus), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, leaf_bus), 0);
    cr_assert_eq(nxc_test_poll(WAIT_MS, is_up, cross_bus), 0);

    ensure(hub_bus, "S", "x.>");
    publish_n(hub_bus, &hub_r, 0, 10);
    rc = nxc_bus_stream_info(hub_bus, "S", &first, &last, &msgs);
    cr_assert_eq(rc, 0, "%s", nxc_error_last());
    cr_assert_eq(msgs, 10);
    /* The leaf keeps its own JetStream: the hub's stream is not in it... */
    rc = nxc_bus_stream_info(leaf_bus, "S", &first, &last, &msgs);
    cr_assert_eq(rc, NXC_ENOTFOUND, "the leaf's own domain has S: %s", nxc_error_last());
    /* ...but is reachable from the leaf as domain "hub", across the link... */
    sc = (struct stream_count){cross_bus, "S", 10};
    rc = nxc_test_poll(WAIT_MS, stream_has, &sc);
    cr_assert_eq(rc, 0, "S not reachable from the leaf as domain hub: %s", nxc_error_last());
    /* ...and can be mirrored into it. */
    memset(&mo, 0, sizeof(mo));
    mo.name = "M";
    mo.mirror = "S";
    mo.mirror_domain = "hub";
    rc = nxc_bus_stream_ensure(leaf_bus, &mo);
    cr_assert_eq(rc, 0, "mirror on the leaf: %s", nxc_error_last());
    sc = (struct stream_count){leaf_bus, "M", 10};
    rc = nxc_test_poll(MIRROR_WAIT_MS, stream_has, &sc);
    cr_assert_eq(rc, 0, "the leaf's mirror never got S's 10 messages");

    rc = nxc_test_relay_cut(relay, "leaf");
    cr_assert_eq(rc, 0);
    lc = (struct leaf_count){hub, 0};
    rc = nxc_test_poll(WAIT_MS, leafnodes_are, &lc);
    cr_assert_eq(rc, 0, "the hub still lists the leaf after the cut");
    lc = (struct leaf_count){leaf, 0};
    rc = nxc_test_poll(WAIT_MS, leafnodes_are, &lc);
    cr_assert_eq(rc, 0, "the leaf still lists its link after the cut");
    rc = nxc_bus_stream_info(cross_bus, "S", &first, &last, &msgs);
    cr_assert_neq(rc, 0, "the hub's domain answered across a cut link");
    /* Each side keeps working alone: clients stay connected to their own server, the hub
     * takes publishes, the leaf keeps what it mirrored. */
    cr_assert_eq(nxc_bus_connected(leaf_bus), 1);
    publish_n(hub_bus, &hub_r, 10, 5);
    rc = nxc_bus_stream_info(leaf_bus, "M", &first, &last, &msgs);
    cr_assert_eq(rc, 0, "the leaf lost its mirror in the cut: %s", nxc_error_last());
    cr_assert_eq(msgs, 10, "%llu messages crossed a cut link", (unsigned long long)msgs);

    rc = nxc_test_relay_restore(relay, "leaf");
    cr_assert_eq(rc, 0);
    lc = (struct leaf_count){hub, 1};
    rc = nxc_test_poll(WAIT_MS, leafnodes_are, &lc);
    cr_assert_eq(rc, 0, "the leaf did not reconnect after restore");
    sc = (struct stream_count){cross_bus, "S", 15};
    rc = nxc_test_poll(WAIT_MS, stream_has, &sc);
    cr_assert_eq(rc, 0, "S (15 messages) not reachable from the leaf after restore: %s",
                 nxc_error_last());
    /* nats-server 2.9 notices a stalled mirror only every few seconds. */
    sc = (struct stream_count){leaf_bus, "M", 15};
    rc = nxc_test_poll(MIRROR_WAIT_MS, stream_has, &sc);
    cr_assert_eq(rc, 0, "the leaf's mirror did not catch up after restore");

    nxc_bus_close(cross_bus);
    nxc_bus_close(leaf_bus);
    nxc_bus_close(hub_bus);
    nxc_test_natsd_free(leaf);
    nxc_test_natsd_free(hub);
    nxc_test_relay_free(relay);
    pthread_mutex_destroy(&cross_r.mu);
    pthread_mutex_destroy(&leaf_r.mu);
    pthread_mutex_destroy(&hub_r.mu);
}
