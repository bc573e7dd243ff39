/*
 * End-to-end: replication on demand. Agents with no static types replicate exactly what the
 * ReplicationConfigs in their runtime select: a sub-graph of the example datamodel (Config
 * -> Gns -> Foo, with the Gns's child field naming the Foo), nodes added to it later, nodes
 * whose labels move them out, overlapping configs, a config edited to select something else,
 * and both deletion policies. The peer has no config at all: edits made there to the replicas
 * flow back because its records know where the objects came from.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

#define FOO E2E_FOO
#define RC E2E_RC
#define CFG_LABEL E2E_CFG_LABEL
#define GNS_LABEL E2E_GNS_LABEL
#define ROOT_LABEL E2E_ROOT_LABEL
#define create e2e_create_obj
#define node e2e_node

/* FooTypeABC: the Config's named children (spec.fooExampleGvk, a map). */
static const nxc_kube_gvr FE = {"config.tsm.tanzu.vmware.com", "v1", "footypeabcs", 0};
/* A hashed Nexus name: sha1 hex of the ancestor path and the node's own <crd>:<display>,
 * "roots.root.tsm.tanzu.vmware.com:default/configs.config.tsm.tanzu.vmware.com:config/
 * footypeabcs.config.tsm.tanzu.vmware.com:fe-2". */
#define FE2 "f0ae21f0e8529935a6e08d273baaf47a120ab78e"

TestSuite(e2e_on_demand, .fini = e2e_cleanup);

static void foo(nxc_test_runtime *rt, const char *name, json_t *labels)
{
    create(rt, &FOO,
           json_pack("{s:s,s:s,s:{s:s,s:o},s:{s:s}}", "apiVersion", "gns.tsm.tanzu.vmware.com/v1",
                     "kind", "Foo", "metadata", "name", name, "labels", labels, "spec", "password",
                     "p-1"));
}

/* A named child of config "config" (FooTypeABC), display name `display`. */
static void fe(nxc_test_runtime *rt, const char *name, const char *display, int hashed)
{
    json_t *labels = json_pack("{s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "config",
                               "nexus/display_name", display);

    if (hashed)
        json_object_set_new(labels, "nexus/is_name_hashed", json_string("true"));
    create(rt, &FE,
           json_pack("{s:s,s:s,s:{s:s,s:o},s:{s:{s:s},s:[s],s:i,s:f,s:i,s:f}}", "apiVersion",
                     "config.tsm.tanzu.vmware.com/v1", "kind", "FooTypeABC", "metadata", "name",
                     name, "labels", labels, "spec", "fooA", "a", "b", "fooB", "x", "fooC", 7,
                     "fooD", 1.5, "foo_e", 1, "foo_f", 2.25));
}

/* Depth in the example hierarchy of the type a stream key names. */
static int depth_of(const char *key)
{
    if (strncmp(key, "config.tsm.tanzu.vmware.com/configs/", 36) == 0)
        return 1;
    if (strncmp(key, "gns.tsm.tanzu.vmware.com/foos/", 30) == 0)
        return 3;
    return 2;
}

/* Waits until the object's status.nexus.remoteGeneration is its metadata.generation. */
static void wait_remote_generation(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    static const char *const path[] = {"status", "nexus", "remoteGeneration", NULL};
    json_t *obj = e2e_get(rt, gvr, name);

    json_decref(
        e2e_wait_path(rt, gvr, name, path,
                      json_copy(json_object_get(json_object_get(obj, "metadata"), "generation"))));
    json_decref(obj);
}

static void set_labels(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                       json_t *labels)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        json_t *obj = e2e_get(rt, gvr, name);
        int rc;

        json_object_set(json_object_get(obj, "metadata"), "labels", labels);
        rc = nxc_kube_update(rt->admin, gvr, NULL, obj, NULL);
        json_decref(obj);
        if (rc == NXC_OK) {
            json_decref(labels);
            return;
        }
        cr_assert_eq(rc, NXC_ECONFLICT, "update %s: %s", name, nxc_error_last());
    }
    cr_assert_fail("update %s kept conflicting", name);
}

static json_t *config_object(void)
{
    json_t *rc = json_pack(
        "{s:s,s:s,s:{s:s},s:{s:{s:s,s:s,s:s},s:s,s:{s:s,s:{s:{s:s,s:s,s:s},s:s,s:b,s:{s:[{s:s,"
        "s:s}]}}},s:{s:b}}}",
        "apiVersion", "connect.nexus.vmware.com/v1", "kind", "ReplicationConfig", "metadata",
        "name", "subgraph", "spec", "remoteEndpointGvk", "group", "connect.nexus.vmware.com",
        "kind", "NexusEndpoint", "name", "edge", "deletionPolicy", "Delete", "source", "kind",
        "Object", "object", "objectType", "group", "config.tsm.tanzu.vmware.com", "kind", "Config",
        "version", "v1", "name", "config", "hierarchical", 1, "hierarchy", "labels", "key",
        ROOT_LABEL, "value", "default", "destination", "hierarchical", 1);

    cr_assert_not_null(rc);
    return rc;
}

static json_t *type_config(const char *name, const char *peer, const char *selector)
{
    json_t *rc =
        json_pack("{s:s,s:s,s:{s:s},s:{s:{s:s},s:{s:s,s:{s:s,s:s,s:s},s:{s:s}}}}", "apiVersion",
                  "connect.nexus.vmware.com/v1", "kind", "ReplicationConfig", "metadata", "name",
                  name, "spec", "remoteEndpointGvk", "name", peer, "source", "kind", "Type", "type",
                  "group", "gns.tsm.tanzu.vmware.com", "kind", "Foo", "version", "v1",
                  "sourceFilters", "labelSelector", selector);

    cr_assert_not_null(rc);
    return rc;
}

static void config_delete(nxc_test_runtime *rt, const char *name)
{
    cr_assert_eq(nxc_kube_delete(rt->admin, &RC, NULL, name, NULL), 0, "%s", nxc_error_last());
}

static json_t *under_gns(const char *gns, const char *display, const char *app)
{
    json_t *l = json_pack("{s:s,s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "config",
                          GNS_LABEL, gns, "nexus/display_name", display);

    if (app)
        json_object_set_new(l, "app", json_string(app));
    return l;
}

Test(e2e_on_demand, subgraph_configs_and_policies, .timeout = 300)
{
    e2e_pair p;
    nxc_test_runtime *saas, *edge;
    json_t *obj;
    uint64_t before;

    e2e_pair_up_on_demand(&p);
    saas = p.rt[0];
    edge = p.rt[1];

    /* saas holds a Config -> Gns -> Foo sub-graph, a second Config with its own Gns, and a
     * root above both: none of it is replicated until a config asks */
    node(saas, &E2E_ROOT, "example/root.json", "root-1",
         json_pack("{s:s}", "nexus/display_name", "default"));
    node(saas, &E2E_CONFIG, "example/config.json", "config-1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "config"));
    node(saas, &E2E_CONFIG, "example/config.json", "config-2",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "other"));
    node(saas, &E2E_GNS, "example/gns.json", "gns-1",
         json_pack("{s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "config",
                   "nexus/display_name", "gns"));
    node(saas, &E2E_GNS, "example/gns.json", "gns-2",
         json_pack("{s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "other", "nexus/display_name",
                   "gns"));
    foo(saas, "foo-1", under_gns("gns", "foo-1", NULL));
    /* relationships: single children, named children (a map), links — one to a node outside
     * the sub-graph */
    e2e_set_spec(saas, &E2E_GNS, "gns-1", "fooGvk",
                 json_pack("{s:s,s:s,s:s}", "group", "gns.tsm.tanzu.vmware.com", "kind", "Foo",
                           "name", "foo-1"));
    e2e_set_spec(saas, &E2E_GNS, "gns-1", "dnsGvk",
                 json_pack("{s:s,s:s,s:s}", "group", "gns.tsm.tanzu.vmware.com", "kind", "Dns",
                           "name", "dns-1"));
    e2e_set_spec(saas, &E2E_CONFIG, "config-1", "gNSGvk",
                 json_pack("{s:s,s:s,s:s}", "group", "gns.tsm.tanzu.vmware.com", "kind", "Gns",
                           "name", "gns-1"));
    fe(saas, "fe-1", "fe-1", 0);
    fe(saas, FE2, "fe-2", 1);
    e2e_set_spec(saas, &E2E_CONFIG, "config-1", "fooExampleGvk",
                 json_pack("{s:{s:s,s:s,s:s},s:{s:s,s:s,s:s}}", "fe-1", "group",
                           "config.tsm.tanzu.vmware.com", "kind", "FooTypeABC", "name", "fe-1",
                           "fe-2", "group", "config.tsm.tanzu.vmware.com", "kind", "FooTypeABC",
                           "name", FE2));
    e2e_set_spec(saas, &E2E_CONFIG, "config-1", "aCPPoliciesGvk",
                 json_pack("{s:{s:s,s:s,s:s}}", "outside", "group",
                           "policypkg.tsm.tanzu.vmware.com", "kind", "AccessControlPolicy", "name",
                           "acp-elsewhere"));
    e2e_expect_quiet(&p, 2000);
    cr_assert_eq(e2e_last_seq(&p, 0), 0, "nothing is replicated before a config asks");

    /* the sub-graph below config "config": exactly its five nodes (the Config, its Gns and
     * two named children, the Gns's Foo), one message each */
    create(saas, &RC, config_object());
    e2e_wait_exists(edge, &E2E_CONFIG, "config-1");
    e2e_wait_exists(edge, &E2E_GNS, "gns-1");
    e2e_wait_exists(edge, &FE, "fe-1");
    e2e_wait_exists(edge, &FE, FE2);
    e2e_wait_exists(edge, &FOO, "foo-1");
    e2e_expect_stream(&p, 0, 5);
    /* parents before children: the stream holds them in hierarchy order */
    {
        int last = 0;

        for (uint64_t seq = 1; seq <= 5; seq++) {
            nxc_bus_msg *m = NULL;
            int d;

            cr_assert_eq(nxc_bus_stream_get(p.bus[0], E2E_STREAMS[0], seq, &m), 0);
            cr_assert_eq(nxc_bus_msg_seq(m), seq);
            d = depth_of(nxc_bus_msg_header(m, "Nxc-Key"));
            cr_assert_geq(d, last, "message %llu (%s) comes after a deeper node",
                          (unsigned long long)seq, nxc_bus_msg_header(m, "Nxc-Key"));
            last = d;
            nxc_bus_msg_free(m);
        }
    }
    {
        static const struct {
            const nxc_kube_gvr *gvr;
            const char *name, *field;
        } rels[] = {{&E2E_GNS, "gns-1", "fooGvk"},
                    {&E2E_GNS, "gns-1", "dnsGvk"},
                    {&E2E_CONFIG, "config-1", "gNSGvk"},
                    {&E2E_CONFIG, "config-1", "fooExampleGvk"},
                    {&E2E_CONFIG, "config-1", "aCPPoliciesGvk"}};

        for (size_t i = 0; i < sizeof(rels) / sizeof(rels[0]); i++) {
            json_t *a = e2e_get(saas, rels[i].gvr, rels[i].name);
            json_t *b = e2e_get(edge, rels[i].gvr, rels[i].name);
            json_t *va = json_object_get(json_object_get(a, "spec"), rels[i].field);

            cr_assert_not_null(va, "%s.%s", rels[i].name, rels[i].field);
            cr_assert(json_equal(va, json_object_get(json_object_get(b, "spec"), rels[i].field)),
                      "%s.spec.%s is not replicated unchanged", rels[i].name, rels[i].field);
            json_decref(a);
            json_decref(b);
        }
    }
    obj = e2e_get(edge, &E2E_GNS, "gns-1");
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(json_object_get(obj, "spec"), "fooGvk"), "name")),
                     "foo-1", "the child field is replicated unchanged");
    json_decref(obj);
    cr_assert_eq(nxc_kube_get(edge->admin, &E2E_CONFIG, NULL, "config-2", &obj), NXC_ENOTFOUND);
    cr_assert_eq(nxc_kube_get(edge->admin, &E2E_ROOT, NULL, "root-1", &obj), NXC_ENOTFOUND);
    cr_assert_eq(nxc_kube_get(edge->admin, &E2E_GNS, NULL, "gns-2", &obj), NXC_ENOTFOUND);
    e2e_wait_condition(saas, "subgraph", "Ready", "True", "Replicating", NULL);
    e2e_wait_condition(saas, "subgraph", "Synced", "True", "Synced", NULL);
    obj = e2e_get(saas, &RC, "subgraph");
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(obj, "status"), "selected")),
                 5);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(obj, "status"), "synced")), 5);
    cr_assert_eq(json_integer_value(json_object_get(json_object_get(obj, "status"), "pending")), 0);
    json_decref(obj);
    /* the applied change is confirmed on the object itself: status.nexus follows its
     * generation, and writing it is no replication event */
    wait_remote_generation(saas, &FOO, "foo-1");
    e2e_expect_stream(&p, 0, 5);
    e2e_expect_stream(&p, 1, 0);

    /* a config naming another agent's peer is left alone, and says so */
    create(saas, &RC, type_config("elsewhere", "other-runtime", "app=web"));
    e2e_wait_condition(saas, "elsewhere", "Ready", "False", "NotOurPeer", NULL);
    /* and one naming a version its CRD does not serve selects nothing, saying which it serves */
    {
        json_t *v9 = type_config("wrong-version", "edge", "app");

        json_object_set_new(e2e_at(v9, (const char *[]){"spec", "source", "type", NULL}), "version",
                            json_string("v9"));
        create(saas, &RC, v9);
    }
    e2e_wait_condition(saas, "wrong-version", "Ready", "False", "TypeNotInstalled",
                       "serves no version v9 here (it serves v1)");

    /* a node added later below the root is replicated */
    foo(saas, "foo-2", under_gns("gns", "foo-2", NULL));
    e2e_wait_exists(edge, &FOO, "foo-2");
    e2e_expect_stream(&p, 0, 6);

    /* the peer has no config: an edit of a replica there flows back, one message, none back */
    e2e_set_spec(edge, &FOO, "foo-1", "password", json_string("from-edge"));
    e2e_wait_spec(saas, &FOO, "foo-1", "password", json_string("from-edge"));
    e2e_expect_stream(&p, 1, 1);
    e2e_expect_quiet(&p, 1500);
    cr_assert_eq(e2e_last_seq(&p, 0), 6, "the applied edit came back as a message");
    /* on saas the applied edit raised the generation; status.nexus follows it */
    wait_remote_generation(saas, &FOO, "foo-1");

    /* labels move foo-2 out of the sub-graph: policy Delete removes its replica; saas keeps it */
    set_labels(saas, &FOO, "foo-2",
               json_pack("{s:s,s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "other", GNS_LABEL,
                         "gns", "nexus/display_name", "foo-2"));
    e2e_wait_gone(edge, &FOO, "foo-2");
    json_decref(e2e_get(saas, &FOO, "foo-2"));
    /* ... and moved back at once (well inside JetStream's duplicate window): it comes back */
    set_labels(saas, &FOO, "foo-2", under_gns("gns", "foo-2", NULL));
    e2e_wait_exists(edge, &FOO, "foo-2");
    set_labels(saas, &FOO, "foo-2",
               json_pack("{s:s,s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "other", GNS_LABEL,
                         "gns", "nexus/display_name", "foo-2"));
    e2e_wait_gone(edge, &FOO, "foo-2");

    /* overlapping configs: a Type config also selects foo-1 (Orphan); deleting the sub-graph
     * config removes the replicas only it covered, and foo-1 stays */
    set_labels(saas, &FOO, "foo-1", under_gns("gns", "foo-1", "web"));
    create(saas, &RC, type_config("foos", "edge", "app=web"));
    e2e_wait_condition(saas, "foos", "Ready", "True", "Replicating", NULL);
    {
        const char *app[] = {"metadata", "labels", "app", NULL};

        json_decref(e2e_wait_path(edge, &FOO, "foo-1", app, json_string("web")));
    }
    e2e_expect_quiet(&p, 1000);
    before = e2e_last_seq(&p, 0);
    config_delete(saas, "subgraph");
    e2e_wait_gone(edge, &E2E_GNS, "gns-1");
    e2e_wait_gone(edge, &FE, "fe-1");
    e2e_wait_gone(edge, &FE, FE2);
    e2e_wait_gone(edge, &E2E_CONFIG, "config-1");
    /* four retractions (foo-1 stays covered), children before parents */
    e2e_expect_stream(&p, 0, before + 4);
    {
        int last = 3;

        for (uint64_t seq = before + 1; seq <= before + 4; seq++) {
            nxc_bus_msg *m = NULL;
            int d;

            cr_assert_eq(nxc_bus_stream_get(p.bus[0], E2E_STREAMS[0], seq, &m), 0);
            cr_assert_str_eq(nxc_bus_msg_header(m, "Nxc-Op"), "retract");
            d = depth_of(nxc_bus_msg_header(m, "Nxc-Key"));
            cr_assert_leq(d, last, "retraction %llu (%s) comes before a deeper node's",
                          (unsigned long long)seq, nxc_bus_msg_header(m, "Nxc-Key"));
            last = d;
            nxc_bus_msg_free(m);
        }
    }
    json_decref(e2e_get(edge, &FOO, "foo-1"));
    json_decref(e2e_get(saas, &E2E_GNS, "gns-1"));
    json_decref(e2e_get(saas, &E2E_CONFIG, "config-1"));

    /* the config edited to select something else: foo-3 (app=db) comes, foo-1 is released
     * under policy Orphan — its replica stays, and later edits of it stay on saas */
    foo(saas, "foo-3", under_gns("gns", "foo-3", "db"));
    obj = e2e_get(saas, &RC, "foos");
    json_object_set_new(
        json_object_get(json_object_get(json_object_get(obj, "spec"), "source"), "sourceFilters"),
        "labelSelector", json_string("app in (db)"));
    cr_assert_eq(nxc_kube_update(saas->admin, &RC, NULL, obj, NULL), 0, "%s", nxc_error_last());
    json_decref(obj);
    e2e_wait_exists(edge, &FOO, "foo-3");
    {
        before = e2e_last_seq(&p, 0);
        e2e_set_spec(saas, &FOO, "foo-1", "password", json_string("saas-only"));
        e2e_expect_quiet(&p, 2000);
        cr_assert_eq(e2e_last_seq(&p, 0), before);
    }
    e2e_wait_spec(edge, &FOO, "foo-1", "password", json_string("from-edge"));
    e2e_pair_down(&p);
}

/* A CRD installed while the agents run is learned at once: the config already covering its
 * place in the hierarchy replicates its objects, with no restart. */
Test(e2e_on_demand, crd_added_while_running_is_picked_up, .timeout = 300)
{
    e2e_pair p;
    char *base = NULL, without_foo[512], foo_only[512], log[600];
    static const char *const files[] = {"config_config.yaml", "gns_gns.yaml", "root_root.yaml",
                                        NULL};

    cr_assert_eq(nxc_test_tmpdir("nxc-crds", &base), 0);
    snprintf(without_foo, sizeof(without_foo), "%s/without-foo", base);
    snprintf(foo_only, sizeof(foo_only), "%s/foo", base);
    snprintf(log, sizeof(log), "%s/install.log", base);
    e2e_crd_dir(without_foo, NULL, files);
    e2e_crd_dir(foo_only, NULL, (const char *const[]){"gns_foo.yaml", NULL});
    e2e_pair_up_on_demand_crds(&p, without_foo, NXC_TEST_EXAMPLE_CRDS);
    node(p.rt[0], &E2E_CONFIG, "example/config.json", "config-1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "config"));
    create(p.rt[0], &RC, config_object());
    e2e_wait_exists(p.rt[1], &E2E_CONFIG, "config-1");

    /* Foo arrives in saas's datamodel; a Foo below the config follows */
    {
        const char *argv[] = {NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh", "install-crds",
                              p.rt[0]->dir, foo_only, NULL};

        cr_assert_eq(nxc_test_run(argv, log, 120000), 0, "see %s", log);
    }
    foo(p.rt[0], "foo-9", under_gns("gns", "foo-9", NULL));
    e2e_wait_exists(p.rt[1], &FOO, "foo-9");
    e2e_pair_down(&p);
    nxc_test_rmtree(base);
    free(base);
}
