/*
 * End-to-end replication between two real runtimes (kube-apiserver + etcd with the example
 * Nexus datamodel), one real nats-server with JetStream and two nexus-agent processes.
 * Every wait polls a condition with a deadline.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

TestSuite(e2e, .fini = e2e_cleanup);

/* Sets spec.annotations."k\0ey" of gns-1 on rt to value (JSON null removes it), by merge patch:
 * the API server keeps such a key; jansson reads it only with its length. */
static void nul_key(nxc_test_runtime *rt, json_t *value)
{
    json_t *ann = json_object(), *patch;

    cr_assert_eq(json_object_setn_new(ann, "k\0ey", 4, value), 0);
    patch = json_pack("{s:{s:o}}", "spec", "annotations", ann);
    cr_assert_eq(nxc_kube_request(rt->admin, "PATCH",
                                  "/apis/gns.tsm.tanzu.vmware.com/v1/gnses/gns-1",
                                  "application/merge-patch+json", patch, NULL),
                 0, "%s", nxc_error_last());
    json_decref(patch);
}

Test(e2e, two_way_replication, .timeout = 300)
{
    static const nxc_kube_gvr *const gvrs[3] = {&E2E_ROOT, &E2E_CONFIG, &E2E_GNS};
    static const char *const names[3] = {"root-1", "config-1", "gns-1"};
    e2e_pair p;
    json_t *a_obj, *b_obj, *v;
    uint64_t seq;

    e2e_pair_up(&p);

    /* a Root -> Config -> Gns tree created on saas appears on edge, identical */
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    for (int i = 0; i < 3; i++) {
        e2e_wait_exists(p.rt[1], gvrs[i], names[i]);
        a_obj = e2e_get(p.rt[0], gvrs[i], names[i]);
        b_obj = e2e_get(p.rt[1], gvrs[i], names[i]);
        cr_expect(json_equal(json_object_get(a_obj, "spec"), json_object_get(b_obj, "spec")),
                  "%s: spec differs", names[i]);
        cr_expect(json_equal(e2e_at(a_obj, (const char *[]){"metadata", "labels", NULL}),
                             e2e_at(b_obj, (const char *[]){"metadata", "labels", NULL})),
                  "%s: labels differ", names[i]);
        json_decref(a_obj);
        json_decref(b_obj);
    }
    b_obj = e2e_get(p.rt[1], &E2E_GNS, "gns-1");
    v = e2e_at(b_obj, (const char *[]){"spec", "annotations", "big", NULL});
    cr_assert(json_is_integer(v), "big integer lost its type");
    cr_assert_eq(json_integer_value(v), 9007199254740993LL, "big integer changed");
    v = e2e_at(b_obj, (const char *[]){"spec", "annotations", "neg", NULL});
    cr_assert_eq(json_integer_value(v), INT64_MIN);
    v = e2e_at(b_obj, (const char *[]){"spec", "annotations", "max", NULL});
    cr_assert_eq(json_integer_value(v), INT64_MAX);
    v = e2e_at(b_obj, (const char *[]){"spec", "annotations", "unicode", NULL});
    cr_assert_str_eq(json_string_value(v), "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80");
    json_decref(b_obj);
    e2e_expect_stream(&p, 0, 3); /* one message per user change */
    e2e_expect_stream(&p, 1, 0); /* and none back */

    /* a spec change on saas reaches edge */
    e2e_set_spec(p.rt[0], &E2E_GNS, "gns-1", "port", json_integer(4242));
    e2e_wait_spec(p.rt[1], &E2E_GNS, "gns-1", "port", json_integer(4242));
    e2e_expect_stream(&p, 0, 4);

    /* a spec change on edge reaches saas */
    e2e_set_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("from-edge"));
    e2e_wait_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("from-edge"));
    e2e_expect_stream(&p, 1, 1);

    /* a status change on edge reaches saas's status */
    b_obj = e2e_get(p.rt[1], &E2E_GNS, "gns-1");
    json_object_set_new(b_obj, "status",
                        json_pack("{s:{s:b,s:i}}", "state", "working", 1, "temperature", 37));
    cr_assert_eq(nxc_kube_update_status(p.rt[1]->admin, &E2E_GNS, NULL, b_obj, NULL), 0, "%s",
                 nxc_error_last());
    json_decref(b_obj);
    a_obj =
        e2e_wait_path(p.rt[0], &E2E_GNS, "gns-1",
                      (const char *[]){"status", "state", "temperature", NULL}, json_integer(37));
    /* the spec saas changed earlier is still there: the planes are independent */
    cr_assert_eq(json_integer_value(e2e_at(a_obj, (const char *[]){"spec", "port", NULL})), 4242);
    json_decref(a_obj);
    e2e_expect_stream(&p, 1, 2);

    /* a delete on saas removes the node on edge */
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);
    e2e_wait_gone(p.rt[1], &E2E_ROOT, "root-1");
    e2e_expect_stream(&p, 0, 5);
    e2e_expect_stream(&p, 1, 2);

    /* converged: nothing moves any more */
    e2e_expect_quiet(&p, 3000);
    cr_assert_eq(nxc_test_agent_metric(p.agent[0], "nxc_apply_errors_total"), 0);
    cr_assert_eq(nxc_test_agent_metric(p.agent[1], "nxc_apply_errors_total"), 0);

    /* nexus-inspect shows saas's stream as JSON lines: one per object (latest kept) */
    {
        char out[1024];
        const char *argv[] = {NXC_BINARY_DIR "/tools/nexus-inspect",
                              "--nats",
                              nxc_test_natsd_url(p.nats),
                              "--stream",
                              "NXC_saas",
                              NULL};
        json_t *lines[8];
        size_t n = 0;
        char buf[65536];
        FILE *f;

        snprintf(out, sizeof(out), "%s/inspect.jsonl", p.dir);
        cr_assert_eq(nxc_test_run(argv, out, 30000), 0, "nexus-inspect failed");
        {
            const char *bad_count[] = {argv[0], argv[1],   argv[2], argv[3],
                                       argv[4], "--count", "abc",   NULL};
            const char *bad_from[] = {argv[0], argv[1],  argv[2], argv[3],
                                      argv[4], "--from", "-1",    NULL};
            char err[1100];

            snprintf(err, sizeof(err), "%s.err", out);
            cr_assert_neq(nxc_test_run(bad_count, err, 30000), 0, "--count abc was accepted");
            cr_assert_neq(nxc_test_run(bad_from, err, 30000), 0, "--from -1 was accepted");
        }
        f = fopen(out, "r");
        cr_assert_not_null(f);
        while (n < 8 && fgets(buf, sizeof(buf), f)) {
            json_error_t err;

            lines[n] = json_loads(buf, 0, &err);
            cr_assert_not_null(lines[n], "not JSON: %s", buf);
            n++;
        }
        fclose(f);
        /* root-1 (deleted: tombstone), config-1 and gns-1 (latest updates) */
        cr_assert_eq(n, 3, "inspect printed %zu lines", n);
        for (size_t i = 0; i < n; i++) {
            json_t *ev = json_object_get(lines[i], "event");
            const char *name = json_string_value(e2e_at(ev, (const char *[]){"obj", "name", NULL}));

            cr_assert_not_null(name);
            cr_assert_str_eq(json_string_value(json_object_get(ev, "origin")), "saas");
            cr_assert_str_eq(json_string_value(json_object_get(ev, "op")),
                             strcmp(name, "root-1") == 0 ? "delete" : "upsert");
            json_decref(lines[i]);
        }
    }

    /* a string with a NUL inside (valid JSON; the API server keeps it) replicates whole, and
     * the type's later changes still flow */
    e2e_set_spec(p.rt[1], &E2E_GNS, "gns-1", "meta", json_stringn("a\0b", 3));
    e2e_wait_spec(p.rt[0], &E2E_GNS, "gns-1", "meta", json_stringn("a\0b", 3));
    e2e_set_spec(p.rt[1], &E2E_GNS, "gns-1", "port", json_integer(5));
    e2e_wait_spec(p.rt[0], &E2E_GNS, "gns-1", "port", json_integer(5));
    e2e_expect_stream(&p, 1, 4);
    e2e_expect_quiet(&p, 2000);

    /* a NUL inside an object key cannot be read: saas is not ready and names the type; once
     * the key is gone the type flows again */
    nul_key(p.rt[0], json_integer(1));
    cr_assert_eq(nxc_test_poll(30000, e2e_unready, p.agent[0]), NXC_OK,
                 "/readyz stayed 200 with an unreadable object");
    nul_key(p.rt[0], json_null()); /* merge patch: removes it */
    cr_assert_eq(nxc_test_poll(90000, e2e_ready, p.agent[0]), NXC_OK);
    e2e_set_spec(p.rt[0], &E2E_GNS, "gns-1", "port", json_integer(6));
    e2e_wait_spec(p.rt[1], &E2E_GNS, "gns-1", "port", json_integer(6));
    e2e_expect_quiet(&p, 2000);

    /* the same on the receiving side: saas's change waits there (never dropped) and is
     * applied once edge's copy can be read again */
    nul_key(p.rt[1], json_integer(1));
    cr_assert_eq(nxc_test_poll(30000, e2e_unready, p.agent[1]), NXC_OK);
    seq = e2e_last_seq(&p, 0);
    e2e_set_spec(p.rt[0], &E2E_GNS, "gns-1", "port", json_integer(7));
    e2e_expect_stream(&p, 0, seq + 1); /* published */
    e2e_hold(&p, 3000);                /* edge cannot read its copy meanwhile */
    nul_key(p.rt[1], json_null());
    e2e_wait_spec(p.rt[1], &E2E_GNS, "gns-1", "port", json_integer(7));

    /* an integer beyond 64 bits arrives as a real; every other number keeps value and type */
    {
        char kc[1024], log[1024];
        const char *argv[] = {
            "kubectl", "--kubeconfig",
            kc,        "patch",
            "gnses",   "gns-1",
            "--type",  "merge",
            "-p",      "{\"spec\":{\"annotations\":{\"huge\":18446744073709551615}}}",
            NULL};

        snprintf(kc, sizeof(kc), "%s/admin.kubeconfig", p.rt[0]->dir);
        snprintf(log, sizeof(log), "%s/kubectl.log", p.dir);
        cr_assert_eq(nxc_test_run(argv, log, 60000), 0, "kubectl failed; see %s", log);
    }
    b_obj = e2e_wait_path(p.rt[1], &E2E_GNS, "gns-1",
                          (const char *[]){"spec", "annotations", "huge", NULL},
                          json_real(18446744073709551615.0));
    v = e2e_at(b_obj, (const char *[]){"spec", "annotations", "big", NULL});
    cr_assert(json_is_integer(v) && json_integer_value(v) == 9007199254740993LL,
              "a neighbour of the huge integer changed");
    v = e2e_at(b_obj, (const char *[]){"spec", "port", NULL});
    cr_assert(json_is_integer(v) && json_integer_value(v) == 7);
    v = e2e_at(b_obj, (const char *[]){"metadata", "generation", NULL});
    cr_assert(json_is_integer(v), "generation read as a real");
    json_decref(b_obj);
    e2e_expect_quiet(&p, 2000);
    e2e_pair_down(&p);
}

Test(e2e, restart_with_nothing_changed_is_silent, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up(&p);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[1], &E2E_CONFIG, "example/config.json"));
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    e2e_wait_exists(p.rt[0], &E2E_CONFIG, "config-1");
    e2e_expect_stream(&p, 0, 1);
    e2e_expect_stream(&p, 1, 1);

    /* both agents restart; their re-list finds nothing new: no writes, no publishes */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nxc_test_agent_stop(p.agent[i]), 0, "agent did not exit cleanly");
        cr_assert_eq(nxc_test_agent_restart(p.agent[i]), 0);
    }
    e2e_wait_ready(&p);
    e2e_expect_quiet(&p, 3000);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nxc_test_agent_metric(p.agent[i], "nxc_runtime_writes_total"), 0);
        cr_assert_eq(nxc_test_agent_metric(p.agent[i], "nxc_local_changes_total"), 0);
    }
    e2e_expect_stream(&p, 0, 1);
    e2e_expect_stream(&p, 1, 1);
    e2e_pair_down(&p);
}

/* An agent that starts while its peer already has objects applies them while its own lists
 * are still running: none of them may be taken for a delete. */
Test(e2e, late_agent_start_takes_existing_objects, .timeout = 300)
{
    e2e_pair p;

    e2e_pair_up(&p);
    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_expect_stream(&p, 0, 3);
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");
    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_expect_quiet(&p, 3000);
    e2e_expect_stream(&p, 0, 3);
    e2e_expect_stream(&p, 1, 0);
    e2e_pair_down(&p);
}
