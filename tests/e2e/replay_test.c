/*
 * End-to-end: a runtime that lost its state (etcd wiped, CRDs reinstalled) is rebuilt by
 * `nexus-agent --replay` from the connector streams — the peer's and its own — and the agent
 * then starts without publishing or writing anything: nothing flows back to the peer; and a
 * replay from a starting point (--from-seq, --since) writes only what came from there on.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

static const char *uid_of(json_t *obj)
{
    return json_string_value(e2e_at(obj, (const char *[]){"metadata", "uid", NULL}));
}

TestSuite(e2e_replay, .fini = e2e_cleanup);

Test(e2e_replay, wiped_runtime_rebuilt_from_streams, .timeout = 300)
{
    e2e_pair p;
    json_t *saas_before[3], *obj;
    const nxc_kube_gvr *gvrs[3] = {&E2E_ROOT, &E2E_CONFIG, &E2E_GNS};
    const char *names[3] = {"root-1", "config-1", "gns-1"};
    char log[1024];
    uint64_t seq0, seq1;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    /* edge's own change: its latest version is only on edge's stream */
    e2e_set_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-was-here"));
    e2e_wait_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-was-here"));
    e2e_expect_quiet(&p, 1500);
    for (int i = 0; i < 3; i++)
        saas_before[i] = e2e_get(p.rt[0], gvrs[i], names[i]);
    seq0 = e2e_last_seq(&p, 0);
    seq1 = e2e_last_seq(&p, 1);

    /* edge's agent stops and its runtime loses everything */
    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    cr_assert_eq(nxc_test_runtime_wipe(p.rt[1], NXC_TEST_EXAMPLE_CRDS), 0);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(nxc_kube_get(p.rt[1]->admin, gvrs[i], NULL, names[i], &obj), NXC_ENOTFOUND,
                     "%s survived the wipe", names[i]);
    }

    /* replay from both streams */
    snprintf(log, sizeof(log), "%s/replay.log", p.dir);
    {
        const char *argv[] = {NXC_BINARY_DIR "/nexus-agent",
                              "--config",
                              nxc_test_agent_config(p.agent[1]),
                              "--replay",
                              "saas",
                              "--replay",
                              "edge",
                              NULL};

        cr_assert_eq(nxc_test_run(argv, log, 60000), 0, "replay failed; see %s", log);
    }
    for (int i = 0; i < 3; i++) {
        obj = e2e_get(p.rt[1], gvrs[i], names[i]);
        cr_assert(json_equal(json_object_get(obj, "spec"), json_object_get(saas_before[i], "spec")),
                  "%s: spec not restored", names[i]);
        json_decref(obj);
    }

    /* the agent starts on the rebuilt runtime: nothing to publish, nothing to write */
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);
    e2e_wait_ready(&p);
    e2e_expect_quiet(&p, 3000);
    cr_assert_eq(e2e_last_seq(&p, 0), seq0);
    cr_assert_eq(e2e_last_seq(&p, 1), seq1);
    for (int i = 0; i < 3; i++) {
        obj = e2e_get(p.rt[0], gvrs[i], names[i]);
        cr_assert_str_eq(uid_of(obj), uid_of(saas_before[i]), "%s was recreated on saas", names[i]);
        cr_assert(
            json_equal(json_object_get(obj, "spec"), json_object_get(saas_before[i], "spec")));
        json_decref(obj);
        json_decref(saas_before[i]);
    }
    /* and replication goes on as before */
    e2e_set_spec(p.rt[0], &E2E_GNS, "gns-1", "port", json_integer(7));
    e2e_wait_spec(p.rt[1], &E2E_GNS, "gns-1", "port", json_integer(7));
    e2e_pair_down(&p);
}

static int next_second(void *ctx)
{
    return time(NULL) >= *(time_t *)ctx;
}

/* Runs nexus-agent --replay saas with one more option pair (its output goes to dir/name). */
static void replay_saas(e2e_pair *p, const char *opt, const char *val, const char *name)
{
    char log[1024];
    const char *argv[] = {NXC_BINARY_DIR "/nexus-agent",
                          "--config",
                          nxc_test_agent_config(p->agent[1]),
                          "--replay",
                          "saas",
                          opt,
                          val,
                          NULL};

    snprintf(log, sizeof(log), "%s/%s", p->dir, name);
    cr_assert_eq(nxc_test_run(argv, log, 60000), 0, "replay %s %s failed; see %s", opt, val, log);
}

static int exists(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    json_t *obj = NULL;
    int rc = nxc_kube_get(rt->admin, gvr, NULL, name, &obj);

    json_decref(obj);
    cr_assert(rc == NXC_OK || rc == NXC_ENOTFOUND, "get %s: %s", name, nxc_error_last());
    return rc == NXC_OK;
}

/* Scenario: a replay from a starting point (a sequence, or a time) writes only what the
 * stream holds from there on; one from before everything writes the rest. */
Test(e2e_replay, replay_from_a_sequence_or_a_time, .timeout = 300)
{
    e2e_pair p;
    time_t cut;
    char seq[32], since[32];
    uint64_t seq0, seq1;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");
    e2e_expect_stream(&p, 0, 2);
    /* the starting point: the next message, stored in a later second than the first two */
    snprintf(seq, sizeof(seq), "%" PRIu64, e2e_last_seq(&p, 0) + 1);
    cut = time(NULL) + 1;
    cr_assert_eq(nxc_test_poll(3000, next_second, &cut), NXC_OK);
    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", gmtime(&cut));
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_expect_quiet(&p, 1500);
    seq0 = e2e_last_seq(&p, 0);
    seq1 = e2e_last_seq(&p, 1);

    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    cr_assert_eq(nxc_test_runtime_wipe(p.rt[1], NXC_TEST_EXAMPLE_CRDS), 0);
    replay_saas(&p, "--from-seq", seq, "replay-seq.log");
    cr_assert(exists(p.rt[1], &E2E_GNS, "gns-1"), "the message at --from-seq was not applied");
    cr_assert_not(exists(p.rt[1], &E2E_ROOT, "root-1"), "a message before --from-seq applied");
    cr_assert_not(exists(p.rt[1], &E2E_CONFIG, "config-1"), "a message before --from-seq applied");

    cr_assert_eq(nxc_test_runtime_wipe(p.rt[1], NXC_TEST_EXAMPLE_CRDS), 0);
    replay_saas(&p, "--since", since, "replay-since.log");
    cr_assert(exists(p.rt[1], &E2E_GNS, "gns-1"), "the message after --since was not applied");
    cr_assert_not(exists(p.rt[1], &E2E_ROOT, "root-1"), "a message before --since applied");
    cr_assert_not(exists(p.rt[1], &E2E_CONFIG, "config-1"), "a message before --since applied");

    /* from before everything: the rest is written too, and the agent then has nothing to do */
    replay_saas(&p, "--since", "2000-01-01T00:00:00Z", "replay-all.log");
    cr_assert(exists(p.rt[1], &E2E_ROOT, "root-1"));
    cr_assert(exists(p.rt[1], &E2E_CONFIG, "config-1"));
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);
    e2e_wait_ready(&p);
    e2e_expect_quiet(&p, 3000);
    cr_assert_eq(e2e_last_seq(&p, 0), seq0);
    cr_assert_eq(e2e_last_seq(&p, 1), seq1);
    e2e_pair_down(&p);
}
