/*
 * End-to-end: agents that were down. Changes made while an agent was stopped — on its own
 * runtime or on the peer — reach the other side once it is back, deletes included, and edits
 * of the same field on both sides while they were apart end with the same winner on both.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "proc.h"

TestSuite(e2e_outage, .fini = e2e_cleanup);

Test(e2e_outage, changes_made_while_publisher_was_down_propagate, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");
    e2e_expect_stream(&p, 0, 2);

    /* saas's agent stops; its runtime gets a create, an update and a delete */
    cr_assert_eq(nxc_test_agent_stop(p.agent[0]), 0);
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_set_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("while-down"));
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);

    cr_assert_eq(nxc_test_agent_restart(p.agent[0]), 0);
    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_wait_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("while-down"));
    e2e_wait_gone(p.rt[1], &E2E_ROOT, "root-1");
    e2e_expect_stream(&p, 0, 5); /* exactly the three changes made while it was down */
    e2e_expect_stream(&p, 1, 0);
    e2e_expect_quiet(&p, 2000);
    e2e_pair_down(&p);
}

Test(e2e_outage, delete_while_applier_was_down_applies_on_start, .timeout = 300)
{
    e2e_pair p;
    json_t *before, *after;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");
    before = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");

    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);
    e2e_wait_gone(p.rt[1], &E2E_ROOT, "root-1");

    /* nothing else was touched: the surviving object is the same object */
    after = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(before, "metadata"), "uid")),
                     json_string_value(json_object_get(json_object_get(after, "metadata"), "uid")));
    json_decref(before);
    json_decref(after);
    e2e_expect_stream(&p, 0, 3);
    e2e_expect_stream(&p, 1, 0);
    e2e_pair_down(&p);
}

Test(e2e_outage, concurrent_edits_while_apart_pick_one_winner, .timeout = 300)
{
    e2e_pair p;
    json_t *a, *b;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");

    /* both agents stop; the same field is edited on both sides */
    cr_assert_eq(nxc_test_agent_stop(p.agent[0]), 0);
    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    e2e_set_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("saas-edit"));
    e2e_set_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-edit"));
    /* saas's agent records its edit first, edge's later: edge's stamp is the higher */
    cr_assert_eq(nxc_test_agent_restart(p.agent[0]), 0);
    e2e_expect_stream(&p, 0, 2);
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);

    /* the change with the higher HLC wins, the same on both sides */
    e2e_wait_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-edit"));
    e2e_wait_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-edit"));
    e2e_expect_quiet(&p, 2000);
    a = e2e_get(p.rt[0], &E2E_CONFIG, "config-1");
    b = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");
    cr_assert(json_equal(json_object_get(a, "spec"), json_object_get(b, "spec")));
    json_decref(a);
    json_decref(b);
    cr_assert_geq(nxc_test_agent_metric(p.agent[0], "nxc_conflicts_total"), 1);
    cr_assert_geq(nxc_test_agent_metric(p.agent[1], "nxc_conflicts_total"), 1);
    cr_assert_geq(nxc_test_agent_log_count(p.agent[0], "event=conflict key=config"), 1);
    e2e_pair_down(&p);
}

static int recorded_one(void *ctx)
{
    return nxc_test_agent_metric(ctx, "nxc_local_changes_total") >= 1;
}

/* NATS is away when the agent starts: it watches anyway, records local changes in its outbox
 * and publishes them once NATS answers. */
Test(e2e_outage, agent_started_without_nats_records_and_publishes_later, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up(&p);
    cr_assert_eq(nxc_test_agent_stop(p.agent[0]), 0);
    cr_assert_eq(nxc_test_natsd_stop(p.nats), 0);
    cr_assert_eq(nxc_test_agent_restart(p.agent[0]), 0);
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, recorded_one, p.agent[0]), 0,
                 "the change was not recorded while NATS was away");
    cr_assert_eq(nxc_test_natsd_restart(p.nats), 0);
    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_expect_stream(&p, 0, 1);
    e2e_pair_down(&p);
}

/* A second agent on the same store refuses to start instead of sharing it. */
Test(e2e_outage, second_agent_on_one_store_refuses, .timeout = 300)
{
    e2e_pair p;
    char log[1024];
    const char *argv[4] = {NXC_BINARY_DIR "/nexus-agent", "--config", NULL, NULL};
    int rc;

    e2e_pair_up(&p);
    argv[2] = nxc_test_agent_config(p.agent[0]);
    snprintf(log, sizeof(log), "%s/second-agent.log", p.dir);
    rc = nxc_test_run(argv, log, 30000);
    cr_assert_neq(rc, 0, "a second agent ran on the same store");
    {
        FILE *f = fopen(log, "r");
        char line[4096];
        int found = 0;

        cr_assert_not_null(f);
        while (fgets(line, sizeof(line), f))
            found |= strstr(line, "event=store-locked") != NULL;
        fclose(f);
        cr_assert(found, "no store-locked report in %s", log);
    }
    /* the first one carries on */
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    e2e_pair_down(&p);
}
