/* Unit tests of the agent's scope: the example datamodel's CRDs, ReplicationConfigs, and the
 * membership test for nodes, sub-graphs and types. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "scope.h"
#include "yaml.h"

#define EXAMPLE NXC_SHARED_DIR "/datamodels/example/"

static scope *sc;

static void load_crd(const char *file)
{
    json_t *doc = NULL;
    int changed = 0;

    cr_assert_eq(nxc_yaml_load_file(file, &doc), 0, "%s", file);
    cr_assert_eq(scope_set_crd(sc, doc, &changed), 0, "%s", file);
    cr_assert_eq(changed, 1);
    json_decref(doc);
}

static void setup(void)
{
    sc = scope_new();
    cr_assert_not_null(sc);
    load_crd(EXAMPLE "root_root.yaml");
    load_crd(EXAMPLE "config_config.yaml");
    load_crd(EXAMPLE "gns_gns.yaml");
    load_crd(EXAMPLE "gns_foo.yaml");
    load_crd(EXAMPLE "policypkg_accesscontrolpolicy.yaml");
    load_crd(EXAMPLE "policypkg_acpconfig.yaml");
}

static void teardown(void)
{
    scope_free(sc);
}

static const scope_config *config(const char *json)
{
    json_error_t e;
    json_t *rc = json_loads(json, JSON_ALLOW_NUL, &e); /* as the agent reads the API server */
    int changed = 0;

    cr_assert_not_null(rc, "%s", e.text);
    cr_assert_eq(scope_set_config(sc, rc, &changed), 0);
    cr_assert_eq(changed, 1);
    const char *name = json_string_value(json_object_get(json_object_get(rc, "metadata"), "name"));
    for (size_t i = 0; i < scope_config_count(sc); i++)
        if (strcmp(scope_config_at(sc, i)->name, name) == 0) {
            json_decref(rc);
            return scope_config_at(sc, i);
        }
    cr_assert_fail("config %s not kept", name);
    return NULL;
}

static json_t *labels(const char *json)
{
    json_t *l = json_loads(json, 0, NULL);

    cr_assert_not_null(l);
    return l;
}

#define GNS_CFG                                                                                    \
    "{\"metadata\":{\"name\":\"gns\",\"generation\":1},\"spec\":{"                                 \
    "\"remoteEndpointGvk\":{\"group\":\"connect.nexus.vmware.com\",\"kind\":\"NexusEndpoint\","    \
    "\"name\":\"b\"},\"source\":{\"kind\":\"Object\",\"object\":{\"objectType\":{\"group\":"       \
    "\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Gns\",\"version\":\"v1\"},\"name\":\"g1\","           \
    "\"hierarchical\":true,\"hierarchy\":{\"labels\":[{\"key\":"                                   \
    "\"configs.config.tsm.tanzu.vmware.com\",\"value\":\"c1\"}]}}},"                               \
    "\"destination\":{\"hierarchical\":true}}}"

Test(scope, datamodel_from_example_crds, .init = setup, .fini = teardown)
{
    const scope_type *t = scope_type_by_gk(sc, "gns.tsm.tanzu.vmware.com", "Gns");

    cr_assert_not_null(t);
    cr_assert_str_eq(t->crd, "gnses.gns.tsm.tanzu.vmware.com");
    cr_assert_str_eq(t->resource, "gnses");
    cr_assert_str_eq(t->version, "v1");
    cr_assert_str_eq(t->served, ",v1,");
    cr_assert_eq(t->namespaced, 0);
    cr_assert_eq(t->nexus_status, 1);
    cr_assert_eq(t->nhierarchy, 2);
    cr_assert_str_eq(t->hierarchy[0], "roots.root.tsm.tanzu.vmware.com");
    cr_assert_str_eq(t->hierarchy[1], "configs.config.tsm.tanzu.vmware.com");
    cr_assert_eq(scope_type_by_crd(sc, "roots.root.tsm.tanzu.vmware.com")->nhierarchy, 0);
    cr_assert_eq(scope_type_count(sc), 6);
}

Test(scope, same_crd_again_is_no_change_and_delete_forgets, .init = setup, .fini = teardown)
{
    json_t *doc = NULL;
    int changed = 1;

    cr_assert_eq(nxc_yaml_load_file(EXAMPLE "gns_gns.yaml", &doc), 0);
    cr_assert_eq(scope_set_crd(sc, doc, &changed), 0);
    cr_assert_eq(changed, 0);
    json_object_set_new(json_object_get(doc, "metadata"), "resourceVersion", json_string("9"));
    cr_assert_eq(scope_set_crd(sc, doc, &changed), 0);
    cr_assert_eq(changed, 0, "only what the scope uses counts");
    json_decref(doc);
    scope_del_crd(sc, "gnses.gns.tsm.tanzu.vmware.com", &changed);
    cr_assert_eq(changed, 1);
    cr_assert_null(scope_type_by_gk(sc, "gns.tsm.tanzu.vmware.com", "Gns"));
}

Test(scope, object_subgraph_membership, .init = setup, .fini = teardown)
{
    const scope_config *c = config(GNS_CFG);
    json_t *root_l = labels("{\"nexus/display_name\":\"g1\",\"roots.root.tsm.tanzu.vmware.com\":"
                            "\"r\",\"configs.config.tsm.tanzu.vmware.com\":\"c1\"}");
    json_t *other_cfg = labels("{\"nexus/display_name\":\"g1\",\"configs.config.tsm.tanzu.vmware."
                               "com\":\"c2\"}");
    json_t *child = labels("{\"nexus/display_name\":\"f\",\"configs.config.tsm.tanzu.vmware.com\":"
                           "\"c1\",\"gnses.gns.tsm.tanzu.vmware.com\":\"g1\"}");
    json_t *grandchild =
        labels("{\"configs.config.tsm.tanzu.vmware.com\":\"c1\",\"gnses.gns.tsm.tanzu.vmware.com\":"
               "\"g1\",\"accesscontrolpolicies.policypkg.tsm.tanzu.vmware.com\":\"p\"}");
    json_t *moved = labels("{\"configs.config.tsm.tanzu.vmware.com\":\"c1\","
                           "\"gnses.gns.tsm.tanzu.vmware.com\":\"g2\"}");

    cr_assert_str_eq(c->error, "");
    cr_assert_eq(c->source, SCOPE_OBJECT);
    cr_assert_eq(c->policy, SCOPE_ORPHAN);
    cr_assert_str_eq(c->peer, "b");
    /* the node itself, by display name */
    cr_assert(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "gnses", NULL, "hash1", root_l));
    /* the same display name below another config node is another node */
    cr_assert_not(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "gnses", NULL, "hash2", other_cfg));
    cr_assert(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "hash3", child));
    cr_assert(scope_config_selects(sc, c, "policypkg.tsm.tanzu.vmware.com", "acpconfigs", NULL,
                                   "hash4", grandchild));
    cr_assert_not(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "hash5", moved));
    /* an ancestor is not in the sub-graph */
    cr_assert_not(
        scope_config_selects(sc, c, "config.tsm.tanzu.vmware.com", "configs", NULL, "c1", root_l));
    cr_assert(
        scope_config_covers_type(sc, c, scope_type_by_crd(sc, "foos.gns.tsm.tanzu.vmware.com")));
    cr_assert_not(scope_config_covers_type(
        sc, c, scope_type_by_crd(sc, "configs.config.tsm.tanzu.vmware.com")));
    json_decref(root_l);
    json_decref(other_cfg);
    json_decref(child);
    json_decref(grandchild);
    json_decref(moved);
}

Test(scope, node_alone_and_depth, .init = setup, .fini = teardown)
{
    const scope_config *alone, *one;
    json_t *child = labels("{\"configs.config.tsm.tanzu.vmware.com\":\"c1\","
                           "\"gnses.gns.tsm.tanzu.vmware.com\":\"g1\"}");
    json_t *grandchild =
        labels("{\"configs.config.tsm.tanzu.vmware.com\":\"c1\",\"gnses.gns.tsm.tanzu.vmware.com\":"
               "\"g1\",\"accesscontrolpolicies.policypkg.tsm.tanzu.vmware.com\":\"p\"}");

    {
        json_t *rc = json_loads(GNS_CFG, 0, NULL);
        json_t *o =
            json_object_get(json_object_get(json_object_get(rc, "spec"), "source"), "object");

        json_object_set_new(json_object_get(rc, "metadata"), "name", json_string("alone"));
        json_object_set_new(o, "hierarchical", json_false());
        cr_assert_eq(scope_set_config(sc, rc, NULL), 0);
        json_object_set_new(json_object_get(rc, "metadata"), "name", json_string("one"));
        json_object_set_new(o, "hierarchical", json_true());
        json_object_set_new(o, "depth", json_integer(1));
        cr_assert_eq(scope_set_config(sc, rc, NULL), 0);
        json_decref(rc);
    }
    alone = scope_config_at(sc, 0);
    one = scope_config_at(sc, 1);
    cr_assert_str_eq(alone->name, "alone");
    cr_assert_not(
        scope_config_selects(sc, alone, "gns.tsm.tanzu.vmware.com", "foos", NULL, "x", child));
    cr_assert(scope_config_selects(sc, one, "gns.tsm.tanzu.vmware.com", "foos", NULL, "x", child));
    cr_assert_not(scope_config_selects(sc, one, "policypkg.tsm.tanzu.vmware.com", "acpconfigs",
                                       NULL, "y", grandchild));
    cr_assert(scope_config_selects(sc, one, "policypkg.tsm.tanzu.vmware.com",
                                   "accesscontrolpolicies", NULL, "y", child));
    json_decref(child);
    json_decref(grandchild);
}

Test(scope, type_with_label_pairs_and_selector, .init = setup, .fini = teardown)
{
    const scope_config *c = config(
        "{\"metadata\":{\"name\":\"t\"},\"spec\":{\"remoteEndpointGvk\":{\"name\":\"b\"},"
        "\"deletionPolicy\":\"Delete\",\"source\":{\"kind\":\"Type\",\"type\":{\"group\":"
        "\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Foo\",\"version\":\"v1\"},\"sourceFilters\":{"
        "\"labels\":[{\"key\":\"app\",\"value\":\"web\"}],\"labelSelector\":"
        "\"tier in (a, b),env!=prod,owner,!legacy\"}}}}");
    json_t *yes = labels("{\"app\":\"web\",\"tier\":\"b\",\"env\":\"dev\",\"owner\":\"x\"}");
    json_t *no_tier = labels("{\"app\":\"web\",\"tier\":\"c\",\"owner\":\"x\"}");
    json_t *prod = labels("{\"app\":\"web\",\"tier\":\"a\",\"env\":\"prod\",\"owner\":\"x\"}");
    json_t *legacy = labels("{\"app\":\"web\",\"tier\":\"a\",\"owner\":\"x\",\"legacy\":\"1\"}");
    json_t *no_owner = labels("{\"app\":\"web\",\"tier\":\"a\"}");
    json_t *other_app = labels("{\"app\":\"db\",\"tier\":\"a\",\"owner\":\"x\"}");

    cr_assert_str_eq(c->error, "");
    cr_assert_eq(c->policy, SCOPE_DELETE);
    cr_assert_eq(c->nlabels, 5);
    cr_assert(scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "f", yes));
    cr_assert_not(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "f", no_tier));
    cr_assert_not(scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "f", prod));
    cr_assert_not(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "f", legacy));
    cr_assert_not(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "f", no_owner));
    cr_assert_not(
        scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "f", other_app));
    cr_assert_not(scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "gnses", NULL, "f", yes));
    json_decref(yes);
    json_decref(no_tier);
    json_decref(prod);
    json_decref(legacy);
    json_decref(no_owner);
    json_decref(other_app);
}

Test(scope, bad_specs_are_kept_with_a_reason_and_select_nothing, .init = setup, .fini = teardown)
{
    static const struct {
        const char *spec;
        const char *error;
    } cases[] = {
        {"{\"source\":{\"kind\":\"Type\",\"type\":{\"group\":\"g\",\"kind\":\"K\"}}}",
         "spec.remoteEndpointGvk.name: required (the peer)"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Node\"}}",
         "spec.source.kind: must be Object or Type"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"deletionPolicy\":\"Keep\",\"source\":{"
         "\"kind\":\"Type\",\"type\":{\"group\":\"g\",\"kind\":\"K\"}}}",
         "spec.deletionPolicy: must be Orphan or Delete"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Object\",\"object\":{"
         "\"objectType\":{\"group\":\"g\",\"kind\":\"K\"}}}}",
         "spec.source.object: needs objectType (group, kind) and name"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Type\",\"type\":{"
         "\"group\":\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Foo\"},\"sourceFilters\":{"
         "\"labelSelector\":\"a in b\"}}}",
         "spec.source.sourceFilters.labelSelector: cannot read \"a in b\""},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Type\",\"type\":{"
         "\"group\":\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Foo\"},\"sourceFilters\":{"
         "\"labelSelector\":\"app in ()\"}}}",
         "spec.source.sourceFilters.labelSelector: cannot read \"app in ()\""},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Type\",\"type\":{"
         "\"group\":\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Foo\"},\"sourceFilters\":{"
         "\"labels\":[{\"key\":\"###\",\"value\":\"x\"}]}}}",
         "spec.source.sourceFilters.labels[0].key: '###' is not a label key"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Type\",\"type\":{"
         "\"group\":\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Foo\"},\"sourceFilters\":{"
         "\"labelSelector\":\"a,(b) in c\"}}}",
         "spec.source.sourceFilters.labelSelector: cannot read \"(b) in c\""},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Object\",\"object\":{"
         "\"objectType\":{\"group\":\"g\",\"kind\":\"K\"},\"name\":\"n\",\"depth\":-1}}}",
         "spec.source.object.depth: must be 0 or more"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Object\",\"object\":{"
         "\"objectType\":{\"group\":\"gns.tsm.tanzu.vmware.com\\u0000\",\"kind\":\"Gns\"},"
         "\"name\":\"gns\"}}}",
         "spec.source.object: needs objectType (group, kind) and name"},
        {"{\"remoteEndpointGvk\":{\"group\":\"apps\",\"kind\":\"Deployment\",\"name\":\"b\"},"
         "\"source\":{\"kind\":\"Type\",\"type\":{\"group\":\"g\",\"kind\":\"K\"}}}",
         "spec.remoteEndpointGvk: names a NexusEndpoint (group connect.nexus.vmware.com, kind "
         "NexusEndpoint)"},
        {"{\"remoteEndpointGvk\":{\"name\":\"b\"},\"source\":{\"kind\":\"Type\",\"type\":{"
         "\"group\":\"connect.nexus.vmware.com\",\"kind\":\"ReplicationConfig\"}}}",
         "spec.source: the connector's own types (connect.nexus.vmware.com) are not replicated"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[1024];
        const scope_config *c;

        snprintf(buf, sizeof(buf), "{\"metadata\":{\"name\":\"bad%zu\"},\"spec\":%s}", i,
                 cases[i].spec);
        c = config(buf);
        cr_assert_str_eq(c->error, cases[i].error, "case %zu", i);
        cr_assert_eq(c->nlabels, 0);
        cr_assert_not(scope_config_covers_type(
            sc, c, scope_type_by_crd(sc, "foos.gns.tsm.tanzu.vmware.com")));
    }
}

Test(scope, config_change_detection_and_delete, .init = setup, .fini = teardown)
{
    json_t *rc = json_loads(GNS_CFG, 0, NULL);
    int changed = 0;

    cr_assert_eq(scope_set_config(sc, rc, &changed), 0);
    cr_assert_eq(changed, 1);
    /* a status write is not a change of intent */
    json_object_set_new(rc, "status", json_pack("{s:i}", "selected", 3));
    cr_assert_eq(scope_set_config(sc, rc, &changed), 0);
    cr_assert_eq(changed, 0);
    json_object_set_new(json_object_get(json_object_get(rc, "spec"), "source"), "kind",
                        json_string("Type"));
    cr_assert_eq(scope_set_config(sc, rc, &changed), 0);
    cr_assert_eq(changed, 1);
    cr_assert_eq(scope_config_count(sc), 1);
    scope_del_config(sc, "gns", &changed);
    cr_assert_eq(changed, 1);
    cr_assert_eq(scope_config_count(sc), 0);
    scope_del_config(sc, "gns", &changed);
    cr_assert_eq(changed, 0);
    json_decref(rc);
}

/* A CRD with no `nexus` annotation is no node of the datamodel, yet its objects can be
 * replicated by Type, filtered by namespace. */
Test(scope, crd_without_annotation_replicated_by_type, .init = setup, .fini = teardown)
{
    json_t *crd = json_loads(
        "{\"apiVersion\":\"apiextensions.k8s.io/v1\",\"kind\":\"CustomResourceDefinition\","
        "\"metadata\":{\"name\":\"widgets.plain.example.com\"},\"spec\":{\"group\":"
        "\"plain.example.com\",\"scope\":\"Namespaced\",\"names\":{\"kind\":\"Widget\","
        "\"plural\":\"widgets\"},\"versions\":[{\"name\":\"v2\",\"served\":true,\"storage\":"
        "true}]}}",
        0, NULL);
    int changed = 0;
    const scope_type *t;
    const scope_config *c;
    json_t *l = labels("{\"app\":\"web\"}");

    cr_assert_not_null(crd);
    cr_assert_eq(scope_set_crd(sc, crd, &changed), 0);
    cr_assert_eq(changed, 1);
    json_decref(crd);
    t = scope_type_by_gk(sc, "plain.example.com", "Widget");
    cr_assert_not_null(t);
    cr_assert_str_eq(t->resource, "widgets");
    cr_assert_str_eq(t->version, "v2");
    cr_assert_eq(t->namespaced, 1);
    cr_assert_eq(t->nhierarchy, 0);
    c = config("{\"metadata\":{\"name\":\"w\"},\"spec\":{\"remoteEndpointGvk\":{\"name\":\"b\"},"
               "\"source\":{\"kind\":\"Type\",\"type\":{\"group\":\"plain.example.com\","
               "\"kind\":\"Widget\"},\"sourceFilters\":{\"namespace\":\"team-a\"}}}}");
    cr_assert_str_eq(c->error, "");
    cr_assert(scope_config_covers_type(sc, c, t));
    cr_assert(scope_config_selects(sc, c, "plain.example.com", "widgets", "team-a", "w1", l));
    cr_assert_not(scope_config_selects(sc, c, "plain.example.com", "widgets", "team-b", "w1", l));
    cr_assert_not(scope_config_selects(sc, c, "gns.tsm.tanzu.vmware.com", "foos", NULL, "w1", l));
    json_decref(l);
}

static const scope_config *config_named(const char *name)
{
    for (size_t i = 0; i < scope_config_count(sc); i++)
        if (strcmp(scope_config_at(sc, i)->name, name) == 0)
            return scope_config_at(sc, i);
    cr_assert_fail("no config %s", name);
    return NULL;
}

Test(scope, a_version_the_crd_does_not_serve_selects_nothing, .init = setup, .fini = teardown)
{
    const scope_type *foos = scope_type_by_crd(sc, "foos.gns.tsm.tanzu.vmware.com");
    const scope_config *v9, *v1, *any;

    config("{\"metadata\":{\"name\":\"v9\"},\"spec\":{\"remoteEndpointGvk\":{\"name\":\"b\"},"
           "\"source\":{\"kind\":\"Type\",\"type\":{\"group\":\"gns.tsm.tanzu.vmware.com\","
           "\"kind\":\"Foo\",\"version\":\"v9\"}}}}");
    config("{\"metadata\":{\"name\":\"v1\"},\"spec\":{\"remoteEndpointGvk\":{\"name\":\"b\"},"
           "\"source\":{\"kind\":\"Type\",\"type\":{\"group\":\"gns.tsm.tanzu.vmware.com\","
           "\"kind\":\"Foo\",\"version\":\"v1\"}}}}");
    config("{\"metadata\":{\"name\":\"any\"},\"spec\":{\"remoteEndpointGvk\":{\"name\":\"b\"},"
           "\"source\":{\"kind\":\"Object\",\"object\":{\"objectType\":{\"group\":"
           "\"gns.tsm.tanzu.vmware.com\",\"kind\":\"Gns\"},\"name\":\"gns\"}}}}");
    /* the configs array may have moved while they were added: look them up now */
    v9 = config_named("v9");
    v1 = config_named("v1");
    any = config_named("any");

    cr_assert_not_null(foos);
    cr_assert_null(scope_config_type(sc, v9));
    cr_assert_not(scope_config_covers_type(sc, v9, foos));
    cr_assert_eq(scope_config_type(sc, v1), foos);
    cr_assert(scope_config_covers_type(sc, v1, foos));
    cr_assert_not_null(scope_config_type(sc, any), "no version named: any served one");
}
