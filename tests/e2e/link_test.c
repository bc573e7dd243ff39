/*
 * End-to-end across a leaf-node link (saas on the hub, edge on the leaf, each with its own
 * JetStream domain) that the test cuts or blackholes for 30 s while both sides create,
 * update and delete — including the same field on both sides. When the link returns the two
 * runtimes converge: every write is there, the concurrent edit has the same winner on both
 * sides, and no surviving object was deleted or recreated.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "e2e.h"
#include "err.h"

TestSuite(e2e_link, .fini = e2e_cleanup);

static const char *uid(json_t *obj)
{
    return json_string_value(e2e_at(obj, (const char *[]){"metadata", "uid", NULL}));
}

static void converge_through_fault(int blackhole)
{
    e2e_pair p;
    json_t *config_edge_before, *obj, *root;

    e2e_pair_up_leaf(&p);
    json_decref(e2e_create(p.rt[0], &E2E_CONFIG, "example/config.json"));
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    config_edge_before = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");

    if (blackhole)
        cr_assert_eq(nxc_test_relay_blackhole(p.relay, "leaf"), 0);
    else
        cr_assert_eq(nxc_test_relay_cut(p.relay, "leaf"), 0);

    /* saas: a create and an edit; edge: a delete, a create and a later edit of the same
     * field */
    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    e2e_set_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("saas-during-cut"));
    e2e_set_spec(p.rt[0], &E2E_CONFIG, "config-1", "xYZPort", json_integer(9));
    cr_assert_eq(nxc_kube_delete(p.rt[1]->admin, &E2E_ROOT, NULL, "root-1", NULL), 0);
    root = nxc_test_fixture("example/root.json");
    json_object_set_new(json_object_get(root, "metadata"), "name", json_string("root-edge"));
    cr_assert_eq(nxc_kube_create(p.rt[1]->admin, &E2E_ROOT, NULL, root, NULL), 0);
    json_decref(root);
    e2e_set_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-during-cut"));
    /* both sides go on publishing locally */
    e2e_expect_stream(&p, 0, 5);
    e2e_expect_stream(&p, 1, 3);
    e2e_hold(&p, 30000);

    if (blackhole)
        cr_assert_eq(nxc_test_relay_unblackhole(p.relay, "leaf"), 0);
    else
        cr_assert_eq(nxc_test_relay_restore(p.relay, "leaf"), 0);

    e2e_wait_exists(p.rt[1], &E2E_GNS, "gns-1");
    e2e_wait_exists(p.rt[0], &E2E_ROOT, "root-edge");
    e2e_wait_gone(p.rt[0], &E2E_ROOT, "root-1");
    /* the same field edited on both sides: edge's edit came later, on both sides it wins */
    e2e_wait_spec(p.rt[0], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-during-cut"));
    e2e_wait_spec(p.rt[1], &E2E_CONFIG, "config-1", "myStr0", json_string("edge-during-cut"));
    e2e_expect_quiet(&p, 3000);
    cr_assert_geq(nxc_test_agent_metric(p.agent[0], "nxc_conflicts_total"), 1);
    cr_assert_geq(nxc_test_agent_metric(p.agent[1], "nxc_conflicts_total"), 1);

    /* identical on both sides */
    const nxc_kube_gvr *gvrs[3] = {&E2E_CONFIG, &E2E_GNS, &E2E_ROOT};
    const char *names[3] = {"config-1", "gns-1", "root-edge"};
    for (int i = 0; i < 3; i++) {
        json_t *a = e2e_get(p.rt[0], gvrs[i], names[i]), *b = e2e_get(p.rt[1], gvrs[i], names[i]);

        cr_assert(json_equal(json_object_get(a, "spec"), json_object_get(b, "spec")), "%s differs",
                  names[i]);
        json_decref(a);
        json_decref(b);
    }
    /* nothing was deleted that should not have been */
    obj = e2e_get(p.rt[1], &E2E_CONFIG, "config-1");
    cr_assert_str_eq(uid(obj), uid(config_edge_before), "config-1 was recreated on edge");
    json_decref(obj);
    json_decref(config_edge_before);
    e2e_pair_down(&p);
}

Test(e2e_link, link_cut_for_30s_converges, .timeout = 300)
{
    converge_through_fault(0);
}

Test(e2e_link, link_blackholed_for_30s_converges, .timeout = 300)
{
    converge_through_fault(1);
}
