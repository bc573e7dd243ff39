/*
 * End-to-end faults on one agent's own connections, through a relay: its link to NATS cut
 * while its runtime takes 1,000 changes, and its link to its API server cut while an object
 * is deleted and etcd is compacted, so that the resumed watch is answered 410 Gone.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

TestSuite(e2e_relay, .fini = e2e_cleanup);

static int recorded_1000(void *ctx)
{
    e2e_pair *p = ctx;

    return nxc_test_agent_metric(p->agent[0], "nxc_local_changes_total") >= 1000;
}

static int outbox_full(void *ctx)
{
    e2e_pair *p = ctx;

    return nxc_test_agent_metric(p->agent[0], "nxc_outbox_pending") >= 1000;
}

/* Scenario: agent <-> NATS cut while 1,000 changes happen: all 1,000 reach the peer. */
Test(e2e_relay, nats_link_cut_during_1000_changes, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up_relayed(&p, E2E_RELAY_NATS);
    cr_assert_eq(nxc_test_relay_cut(p.relay, "nats"), 0);
    e2e_create_roots(p.rt[0], "offline", 1000, -1, NULL, NULL);
    cr_assert_eq(nxc_test_poll(120000, recorded_1000, &p), 0, "the agent did not record them");
    cr_assert_eq(e2e_last_seq(&p, 0), 0, "something got through the cut link");
    /* they wait in the outbox (LMDB), which the agent reports */
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, outbox_full, &p), 0, "outbox shows %.0f",
                 nxc_test_agent_metric(p.agent[0], "nxc_outbox_pending"));
    cr_assert_eq(nxc_test_relay_restore(p.relay, "nats"), 0);
    e2e_wait_roots(p.rt[1], 1000, 120000);
    e2e_expect_stream(&p, 0, 1000);
    e2e_expect_stream(&p, 1, 0);
    e2e_expect_quiet(&p, 2000);
    e2e_pair_down(&p);
}

static int saw_410(void *ctx)
{
    return nxc_test_agent_log_count(ctx, "event=watch-expired type=roots") >= 1;
}

/* Scenario: a 410 on the watch while an object is deleted: the delete propagates exactly
 * once. */
Test(e2e_relay, watch_410_while_deleted_propagates_once, .timeout = 300)
{
    e2e_pair p;
    uint64_t before;

    e2e_pair_up_relayed(&p, E2E_RELAY_API);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    e2e_create_roots(p.rt[0], "keep", 3, -1, NULL, NULL);
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    e2e_wait_roots(p.rt[1], 4, E2E_DEADLINE_MS);
    e2e_expect_stream(&p, 0, 4);
    before = e2e_last_seq(&p, 0);

    /* saas's agent loses its API server; meanwhile root-1 is deleted and etcd compacted */
    cr_assert_eq(nxc_test_relay_cut(p.relay, "api"), 0);
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);
    e2e_set_spec(p.rt[0], &E2E_ROOT, "keep-0000", "configGvk",
                 json_pack("{s:s,s:s,s:s}", "group", "config.tsm.tanzu.vmware.com", "kind",
                           "Config", "name", "c"));
    cr_assert_eq(nxc_test_runtime_compact(p.rt[0]), 0);
    cr_assert_eq(nxc_test_relay_restore(p.relay, "api"), 0);

    /* the resumed watch is told 410, the agent relists and finds root-1 gone */
    cr_assert_eq(nxc_test_poll(60000, saw_410, p.agent[0]), 0, "no 410 was seen");
    e2e_wait_gone(p.rt[1], &E2E_ROOT, "root-1");
    json_decref(e2e_wait_path(p.rt[1], &E2E_ROOT, "keep-0000",
                              (const char *[]){"spec", "configGvk", "name", NULL},
                              json_string("c")));
    e2e_expect_quiet(&p, 2000);
    /* exactly one delete and one update: nothing twice */
    e2e_expect_stream(&p, 0, before + 2);
    cr_assert_eq(
        nxc_test_agent_log_count(
            p.agent[0], "local-change op=delete key=root.tsm.tanzu.vmware.com/roots//root-1"),
        1);
    e2e_expect_stream(&p, 1, 0);
    e2e_pair_down(&p);
}
