/*
 * End-to-end fault injection with real processes: kill -9 of an agent in the middle of a
 * burst, the peer's API server stopped, nats-server restarted. Each ends with both runtimes
 * holding the same objects, exactly the writes made, and no object lost or recreated.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

TestSuite(e2e_fault, .fini = e2e_cleanup);

static void kill_saas(void *ctx)
{
    e2e_pair *p = ctx;

    cr_assert_eq(nxc_test_agent_kill9(p->agent[0]), 0);
}

/* Scenario: kill -9 of the publishing agent in the middle of 1,000 creates. */
Test(e2e_fault, publisher_killed_mid_burst_loses_nothing, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up(&p);
    e2e_create_roots(p.rt[0], "burst", 1000, 300, kill_saas, &p);
    cr_assert_eq(nxc_test_agent_restart(p.agent[0]), 0);
    e2e_wait_roots(p.rt[1], 1000, 120000);
    /* every create is one message: what was sent before the kill and again after it was
     * deduplicated, what was not yet recorded was found by the restart's list */
    e2e_expect_stream(&p, 0, 1000);
    e2e_expect_stream(&p, 1, 0);
    e2e_expect_quiet(&p, 2000);
    e2e_pair_down(&p);
}

struct kill_at {
    e2e_pair *p;
    int n;
};

static int edge_has(void *ctx)
{
    struct kill_at *k = ctx;

    return e2e_count_roots(k->p->rt[1]) >= k->n;
}

/* Scenario: kill -9 of the applying agent mid-apply. */
Test(e2e_fault, applier_killed_mid_apply_resumes, .timeout = 300)
{
    e2e_pair p;
    struct kill_at k = {&p, 200};

    e2e_pair_up(&p);
    e2e_create_roots(p.rt[0], "burst", 1000, -1, NULL, NULL);
    cr_assert_eq(nxc_test_poll(120000, edge_has, &k), 0);
    cr_assert_eq(nxc_test_agent_kill9(p.agent[1]), 0);
    cr_assert_lt(e2e_count_roots(p.rt[1]), 1000, "the kill came too late to test anything");
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);
    e2e_wait_roots(p.rt[1], 1000, 120000);
    e2e_expect_quiet(&p, 2000);
    /* no double effects: nothing came back to saas as a change, except at most the one
     * object whose write and record the kill separated */
    cr_assert_leq(e2e_last_seq(&p, 1), 1, "%llu messages came back",
                  (unsigned long long)e2e_last_seq(&p, 1));
    e2e_expect_stream(&p, 0, 1000);
    e2e_pair_down(&p);
}

/* Scenario: the peer's API server stopped for 30 s: events wait, then apply; the agent there
 * is not ready meanwhile. */
Test(e2e_fault, peer_api_server_down_then_back, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");

    cr_assert_eq(nxc_test_poll(10000, e2e_ready, p.agent[1]), NXC_OK);
    cr_assert_eq(nxc_test_runtime_pause(p.rt[1]), 0);
    cr_assert_eq(nxc_test_poll(20000, e2e_unready, p.agent[1]), NXC_OK,
                 "/readyz stayed 200 with the API server down");
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_set_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("during-outage"));
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);
    e2e_expect_stream(&p, 0, 5); /* saas publishes on as usual */
    e2e_hold(&p, 30000);
    cr_assert_eq(nxc_test_runtime_resume(p.rt[1]), 0);

    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_wait_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("during-outage"));
    e2e_wait_gone(p.rt[1], &E2E_ROOT, "root-1");
    cr_assert_eq(nxc_test_poll(40000, e2e_ready, p.agent[1]), NXC_OK);
    e2e_expect_quiet(&p, 2000);
    e2e_expect_stream(&p, 1, 0);
    e2e_pair_down(&p);
}

static int saas_sees_edge(void *ctx)
{
    return nxc_test_agent_metric(ctx, "nxc_peer_reachable{peer=\"edge\"}") == 1;
}

static int saas_misses_edge(void *ctx)
{
    return nxc_test_agent_metric(ctx, "nxc_peer_reachable{peer=\"edge\"}") == 0;
}

/* Scenario: nats-server restarted (file storage) while both sides change: nothing lost; the
 * agent that lost its server reports the peer unreachable meanwhile. */
Test(e2e_fault, nats_restart_loses_nothing, .timeout = 300)
{
    e2e_pair p;
    json_t *before, *after;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    before = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");
    cr_assert_eq(nxc_test_poll(10000, saas_sees_edge, p.agent[0]), NXC_OK);

    cr_assert_eq(nxc_test_natsd_stop(p.nats), 0);
    cr_assert_eq(nxc_test_poll(15000, saas_misses_edge, p.agent[0]), NXC_OK,
                 "nxc_peer_reachable stayed 1 with NATS away");
    /* changes on both sides while NATS is away: recorded in LMDB, published later */
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_set_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-while-down"));
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);
    e2e_hold(&p, 5000);
    cr_assert_eq(nxc_test_natsd_restart(p.nats), 0);

    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_wait_gone(p.rt[1], &E2E_ROOT, "root-1");
    e2e_wait_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-while-down"));
    cr_assert_eq(nxc_test_poll(15000, saas_sees_edge, p.agent[0]), NXC_OK);
    e2e_expect_quiet(&p, 2000);
    e2e_expect_stream(&p, 0, 4);
    e2e_expect_stream(&p, 1, 1);
    after = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");
    cr_assert_str_eq(json_string_value(e2e_at(before, (const char *[]){"metadata", "uid", NULL})),
                     json_string_value(e2e_at(after, (const char *[]){"metadata", "uid", NULL})),
                     "config-1 was recreated");
    json_decref(before);
    json_decref(after);
    e2e_pair_down(&p);
}

static int recorded_all(void *ctx)
{
    e2e_pair *p = ctx;

    return nxc_test_agent_metric(p->agent[0], "nxc_local_changes_total") >= 10000;
}

/* Scenario: the agent's memory during a 10,000-change outage (NATS away) stays bounded by the
 * number of objects: 1,000 objects changed 10 times each. */
Test(e2e_fault, memory_flat_during_long_outage, .timeout = 600)
{
    e2e_pair p;
    long before, during, after;

    e2e_pair_up(&p);
    before = nxc_test_agent_rss_kib(p.agent[0]);
    cr_assert_gt(before, 0);
    cr_assert_eq(nxc_test_natsd_stop(p.nats), 0);
    e2e_create_roots(p.rt[0], "mem", 1000, -1, NULL, NULL);
    for (int round = 1; round < 10; round++) {
        for (int i = 0; i < 1000; i++) {
            char name[32], val[16];
            json_t *o = NULL;
            int rc;

            snprintf(name, sizeof(name), "mem-%04d", i);
            snprintf(val, sizeof(val), "r%d", round);
            do {
                json_decref(o);
                o = e2e_get(p.rt[0], &E2E_ROOT, name);
                json_object_set_new(e2e_at(o, (const char *[]){"metadata", "labels", NULL}),
                                    "round", json_string(val));
                rc = nxc_kube_update(p.rt[0]->admin, &E2E_ROOT, NULL, o, NULL);
            } while (rc == NXC_ECONFLICT);
            json_decref(o);
            cr_assert_eq(rc, 0, "%s", nxc_error_last());
        }
    }
    /* the agent has recorded all 10,000 changes; measure while still disconnected */
    cr_assert_eq(nxc_test_poll(120000, recorded_all, &p), 0, "only %.0f changes recorded",
                 nxc_test_agent_metric(p.agent[0], "nxc_local_changes_total"));
    during = nxc_test_agent_rss_kib(p.agent[0]);
    cr_assert_eq(nxc_test_natsd_restart(p.nats), 0);
    e2e_wait_roots(p.rt[1], 1000, 180000);
    after = nxc_test_agent_rss_kib(p.agent[0]);
    cr_log_info("agent RSS: before %ld KiB, after 10,000 changes offline %ld KiB, after catch-up "
                "%ld KiB",
                before, during, after);
    fprintf(stderr,
            "agent RSS: before %ld KiB, after 10,000 changes offline %ld KiB, after "
            "catch-up %ld KiB\n",
            before, during, after);
    /* the pending changes live in LMDB (one per object), not in memory */
    cr_assert_lt(during - before, 32 * 1024, "RSS grew by %ld KiB during the outage",
                 during - before);
    e2e_pair_down(&p);
}

static int stream_emptied(void *ctx)
{
    e2e_pair *p = ctx;
    uint64_t first = 0, last = 0, msgs = 1;

    nxc_bus_stream_info(p->bus[0], E2E_STREAMS[0], &first, &last, &msgs);
    return msgs == 0 && last >= 3;
}

/* Scenario: stream limits discard messages while the peer is offline: the peer detects the
 * gap, asks for a full resync, and ends with the same state. */
Test(e2e_fault, gap_after_stream_limits_is_detected_and_reconciled, .timeout = 300)
{
    e2e_pair p;

    /* saas's stream keeps messages for 4 s only */
    e2e_pair_up_saas_config(&p, "stream:\n  max-age: 4s\n  duplicate-window: 1s\n");
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");

    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_set_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("expired-unread"));
    /* the limits discard both messages before edge comes back */
    cr_assert_eq(nxc_test_poll(60000, stream_emptied, &p), 0, "the stream kept its messages");

    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);
    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_wait_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("expired-unread"));
    cr_assert_geq(nxc_test_agent_log_count(p.agent[1], "event=gap-detected"), 1);
    cr_assert_geq(nxc_test_agent_log_count(p.agent[0], "event=resync peer=edge"), 1);
    e2e_expect_stream(&p, 1, 0);
    e2e_pair_down(&p);
}
