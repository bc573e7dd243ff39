/*
 * End-to-end: replication on demand through trouble. Edits made on both sides while the
 * peer's agent is stopped (same plane: one winner on both sides, reported on the config;
 * different planes: both kept), a delete made meanwhile; and on the peer a type that is not
 * installed yet, a type the agent may not write (403), and an object the peer's schema
 * rejects — none of which holds up the rest.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"
#include "yaml.h"

#define SCRIPT NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh"
#define CFG_LABEL E2E_CFG_LABEL
#define GNS_LABEL E2E_GNS_LABEL
#define ROOT_LABEL E2E_ROOT_LABEL
#define FOO E2E_FOO
#define RC E2E_RC
#define create e2e_create_obj
#define node e2e_node

static const nxc_kube_gvr ACP = {"policypkg.tsm.tanzu.vmware.com", "v1", "accesscontrolpolicies",
                                 0};
static const nxc_kube_gvr CRD = {"apiextensions.k8s.io", "v1", "customresourcedefinitions", 0};

TestSuite(e2e_on_demand_fault, .fini = e2e_cleanup);

static json_t *gns_labels(void)
{
    return json_pack("{s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "config");
}

static json_t *child_labels(void)
{
    return json_pack("{s:s,s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "config", GNS_LABEL,
                     "gns-1");
}

static void foo(nxc_test_runtime *rt, const char *name, const char *password)
{
    create(rt, &FOO,
           json_pack("{s:s,s:s,s:{s:s,s:o},s:{s:s}}", "apiVersion", "gns.tsm.tanzu.vmware.com/v1",
                     "kind", "Foo", "metadata", "name", name, "labels", child_labels(), "spec",
                     "password", password));
}

static void subgraph_config(nxc_test_runtime *rt)
{
    create(rt, &RC,
           json_pack("{s:s,s:s,s:{s:s},s:{s:{s:s},s:{s:s,s:{s:{s:s,s:s},s:s}}}}", "apiVersion",
                     "connect.nexus.vmware.com/v1", "kind", "ReplicationConfig", "metadata", "name",
                     "subgraph", "spec", "remoteEndpointGvk", "name", "edge", "source", "kind",
                     "Object", "object", "objectType", "group", "config.tsm.tanzu.vmware.com",
                     "kind", "Config", "name", "config"));
}

static json_t *config_status(nxc_test_runtime *rt)
{
    json_t *obj = e2e_get(rt, &RC, "subgraph");
    json_t *st = json_incref(json_object_get(obj, "status"));

    json_decref(obj);
    return st;
}

static json_int_t port_of(nxc_test_runtime *rt, const char *name)
{
    json_t *obj = e2e_get(rt, &E2E_GNS, name);
    json_int_t v = json_integer_value(json_object_get(json_object_get(obj, "spec"), "port"));

    json_decref(obj);
    return v;
}

struct same_port {
    e2e_pair *p;
    const char *name;
};

static int ports_agree(void *ctx)
{
    struct same_port *s = ctx;

    return port_of(s->p->rt[0], s->name) == port_of(s->p->rt[1], s->name);
}

static void set_temperature(nxc_test_runtime *rt, const char *name, int value)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        json_t *obj = e2e_get(rt, &E2E_GNS, name);
        int rc;

        json_t *st = json_object_get(obj, "status");

        if (!json_is_object(st)) {
            st = json_object();
            json_object_set_new(obj, "status", st);
        }
        if (!json_is_object(json_object_get(st, "state")))
            json_object_set_new(st, "state", json_object());
        json_object_set_new(json_object_get(st, "state"), "temperature", json_integer(value));
        json_object_set_new(json_object_get(st, "state"), "working", json_true());
        rc = nxc_kube_update_status(rt->admin, &E2E_GNS, NULL, obj, NULL);
        json_decref(obj);
        if (rc == NXC_OK)
            return;
        cr_assert_eq(rc, NXC_ECONFLICT, "status of %s: %s", name, nxc_error_last());
    }
    cr_assert_fail("status of %s kept conflicting", name);
}

Test(e2e_on_demand_fault, edits_and_delete_while_the_peer_agent_is_stopped, .timeout = 300)
{
    e2e_pair p;
    nxc_test_runtime *saas, *edge;
    const char *temp[] = {"status", "state", "temperature", NULL};
    struct same_port same = {&p, "gns-1"};
    json_int_t winner;

    e2e_pair_up_on_demand(&p);
    saas = p.rt[0];
    edge = p.rt[1];
    node(saas, &E2E_CONFIG, "example/config.json", "config-1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "config"));
    node(saas, &E2E_GNS, "example/gns.json", "gns-1", gns_labels());
    node(saas, &E2E_GNS, "example/gns.json", "gns-2", gns_labels());
    node(saas, &E2E_GNS, "example/gns.json", "gns-3", gns_labels());
    subgraph_config(saas);
    e2e_wait_exists(edge, &E2E_GNS, "gns-1");
    e2e_wait_exists(edge, &E2E_GNS, "gns-2");
    e2e_wait_exists(edge, &E2E_GNS, "gns-3");
    e2e_wait_condition(saas, "subgraph", "Synced", "True", "Synced", NULL);

    cr_assert_eq(nxc_test_agent_stop(p.agent[1]), 0);
    /* the same plane on both sides: a conflict */
    e2e_set_spec(saas, &E2E_GNS, "gns-1", "port", json_integer(1111));
    e2e_set_spec(edge, &E2E_GNS, "gns-1", "port", json_integer(2222));
    /* spec on one side, status on the other: no conflict, both kept */
    e2e_set_spec(saas, &E2E_GNS, "gns-2", "port", json_integer(3333));
    set_temperature(edge, "gns-2", 99);
    /* a delete while the peer's agent is away */
    cr_assert_eq(nxc_kube_delete(saas->admin, &E2E_GNS, NULL, "gns-3", NULL), 0);
    cr_assert_eq(nxc_test_agent_restart(p.agent[1]), 0);

    e2e_wait_gone(edge, &E2E_GNS, "gns-3");
    e2e_wait_spec(edge, &E2E_GNS, "gns-2", "port", json_integer(3333));
    json_decref(e2e_wait_path(saas, &E2E_GNS, "gns-2", temp, json_integer(99)));
    json_decref(e2e_wait_path(edge, &E2E_GNS, "gns-2", temp, json_integer(99)));
    cr_assert_eq(port_of(saas, "gns-2"), 3333);
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, ports_agree, &same), 0,
                 "the two sides did not agree on gns-1");
    winner = port_of(saas, "gns-1");
    cr_assert(winner == 1111 || winner == 2222, "port %lld is neither edit", (long long)winner);
    /* the conflict is reported on the config, naming the object; both agents counted it */
    e2e_wait_condition(saas, "subgraph", "Conflict", "True", "ConcurrentEdit",
                       "gns.tsm.tanzu.vmware.com/gnses//gns-1");
    cr_assert_geq(nxc_test_agent_metric(p.agent[0], "nxc_conflicts_total"), 1);
    cr_assert_geq(nxc_test_agent_metric(p.agent[1], "nxc_conflicts_total"), 1);
    cr_assert_geq(nxc_test_agent_log_count(p.agent[0], "event=conflict-lost key=gns") +
                      nxc_test_agent_log_count(p.agent[1], "event=conflict-lost key=gns"),
                  1, "the losing content is logged");
    e2e_wait_condition(saas, "subgraph", "Synced", "True", "Synced", NULL);
    e2e_pair_down(&p);
}

/* dir/gns_foo.yaml: the example Foo whose password may be 4 characters at most. */
static void strict_foo(const char *dir)
{
    static const char *const at = "              password:\n                type: string\n";
    char path[PATH_MAX + 32], *text, *hit;
    FILE *f;
    long n;

    snprintf(path, sizeof(path), "%s/gns_foo.yaml", NXC_TEST_EXAMPLE_CRDS);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    text = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(text, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    hit = strstr(text, at);
    cr_assert_not_null(hit, "the Foo CRD changed shape");
    cr_assert_eq(mkdir(dir, 0700), 0);
    snprintf(path, sizeof(path), "%s/gns_foo.yaml", dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "%.*s%s                maxLength: 4\n%s", (int)(hit - text), text, at,
            hit + strlen(at));
    fclose(f);
    free(text);
}

static void install(nxc_test_runtime *rt, const char *dir, const char *log)
{
    const char *argv[] = {SCRIPT, "install-crds", rt->dir, dir, NULL};

    cr_assert_eq(nxc_test_run(argv, log, 120000), 0, "install failed; see %s", log);
}

struct exists {
    nxc_test_runtime *rt;
    const nxc_kube_gvr *gvr;
    const char *name;
};

static int exists_now(void *ctx)
{
    struct exists *e = ctx;
    json_t *obj = NULL;
    int rc = nxc_kube_get(e->rt->admin, e->gvr, NULL, e->name, &obj);

    json_decref(obj);
    return rc == NXC_OK;
}

/* As e2e_wait_exists, with room for a retry that backs off (up to a minute). */
static void wait_exists_long(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    struct exists e = {rt, gvr, name};

    cr_assert_eq(nxc_test_poll(120000, exists_now, &e), 0, "%s/%s did not arrive", gvr->resource,
                 name);
}

static int crd_served(void *ctx)
{
    json_t *list = NULL;
    int rc = nxc_kube_request(((nxc_test_runtime *)ctx)->admin, "GET",
                              "/apis/policypkg.tsm.tanzu.vmware.com/v1/accesscontrolpolicies", NULL,
                              NULL, &list);

    json_decref(list);
    return rc == NXC_OK;
}

struct count_want {
    nxc_test_runtime *rt;
    const char *field;
    json_int_t value;
};

static int count_is(void *ctx)
{
    struct count_want *w = ctx;
    json_t *st = config_status(w->rt);
    int ok = json_integer_value(json_object_get(st, w->field)) == w->value;

    json_decref(st);
    return ok;
}

static void wait_count(nxc_test_runtime *rt, const char *field, json_int_t value)
{
    struct count_want w = {rt, field, value};

    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, count_is, &w), 0, "status.%s never became %lld",
                 field, (long long)value);
}

static int rejected_seen(void *ctx)
{
    return nxc_test_agent_metric(ctx, "nxc_apply_errors_total") >= 1;
}

/* Installs the AccessControlPolicy CRD on rt behind the agent's back: the type is served, but
 * the agent's role (made from the CRDs install-crds installed) does not cover it. */
static void acp_crd_unlisted(nxc_test_runtime *rt)
{
    json_t *crd = NULL;

    cr_assert_eq(
        nxc_yaml_load_file(NXC_TEST_EXAMPLE_CRDS "/policypkg_accesscontrolpolicy.yaml", &crd), 0);
    create(rt, &CRD, crd);
    cr_assert_eq(nxc_test_poll(60000, crd_served, rt), 0);
}

/* An AccessControlPolicy below gns-1. */
static void acp(nxc_test_runtime *rt, const char *name)
{
    create(rt, &ACP,
           json_pack("{s:s,s:s,s:{s:s,s:o},s:{}}", "apiVersion",
                     "policypkg.tsm.tanzu.vmware.com/v1", "kind", "AccessControlPolicy", "metadata",
                     "name", name, "labels", child_labels(), "spec"));
}

Test(e2e_on_demand_fault, peer_trouble_holds_up_nothing, .timeout = 600)
{
    static const char *const skip[] = {"gns_foo.yaml", "policypkg_accesscontrolpolicy.yaml", NULL};
    e2e_pair p;
    nxc_test_runtime *saas, *edge;
    char *base = NULL, edge_crds[PATH_MAX], strict[PATH_MAX], acp_only[PATH_MAX], log[PATH_MAX];

    cr_assert_eq(nxc_test_tmpdir("nxc-crds", &base), 0);
    snprintf(edge_crds, sizeof(edge_crds), "%s/edge", base);
    snprintf(strict, sizeof(strict), "%s/strict-foo", base);
    snprintf(acp_only, sizeof(acp_only), "%s/acp", base);
    snprintf(log, sizeof(log), "%s/install.log", base);
    e2e_crd_dir(edge_crds, skip, NULL);
    strict_foo(strict);
    e2e_crd_dir(acp_only, NULL, (const char *const[]){"policypkg_accesscontrolpolicy.yaml", NULL});
    e2e_pair_up_on_demand_crds(&p, NXC_TEST_EXAMPLE_CRDS, edge_crds);
    saas = p.rt[0];
    edge = p.rt[1];
    /* on edge, the AccessControlPolicy type exists but the agent's role does not cover it */
    acp_crd_unlisted(edge);

    node(saas, &E2E_CONFIG, "example/config.json", "config-1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "config"));
    node(saas, &E2E_GNS, "example/gns.json", "gns-1", gns_labels());
    foo(saas, "foo-1", "abc");
    foo(saas, "foo-2", "much-too-long");
    acp(saas, "acp-1");
    subgraph_config(saas);

    /* what edge can take arrives; the config names the types that wait there */
    e2e_wait_exists(edge, &E2E_CONFIG, "config-1");
    e2e_wait_exists(edge, &E2E_GNS, "gns-1");
    /* foos: no CRD on edge (and so no role for it either: its 403 does not hide that) */
    e2e_wait_condition(saas, "subgraph", "Synced", "False", "PeerWaiting",
                       "edge has no CRD for foos.gns.tsm.tanzu.vmware.com");
    e2e_wait_condition(saas, "subgraph", "Synced", "False", "PeerWaiting",
                       "edge may not write accesscontrolpolicies.policypkg.tsm.tanzu.vmware.com");
    wait_count(saas, "selected", 5);
    /* ... and nothing else is held up */
    node(saas, &E2E_GNS, "example/gns.json", "gns-2", gns_labels());
    e2e_wait_exists(edge, &E2E_GNS, "gns-2");

    /* the missing type is installed (with a stricter schema): what fits applies, with no
     * restart; what edge rejects is counted there and reported on the config */
    install(edge, strict, log);
    wait_exists_long(edge, &FOO, "foo-1");
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, rejected_seen, p.agent[1]), 0,
                 "the rejected object is not counted");
    wait_count(saas, "failed", 1);
    {
        json_t *obj = NULL;

        cr_assert_eq(nxc_kube_get(edge->admin, &FOO, NULL, "foo-2", &obj), NXC_ENOTFOUND);
    }
    /* a later change that fits goes through */
    e2e_set_spec(saas, &FOO, "foo-2", "password", json_string("ok"));
    e2e_wait_exists(edge, &FOO, "foo-2");
    wait_count(saas, "failed", 0);

    /* the agent may write the type now: the waiting object applies */
    install(edge, acp_only, log);
    wait_exists_long(edge, &ACP, "acp-1");
    e2e_wait_condition(saas, "subgraph", "Synced", "True", "Synced", NULL);
    wait_count(saas, "selected", 6);
    wait_count(saas, "synced", 6);
    e2e_pair_down(&p);
    nxc_test_rmtree(base);
    free(base);
}

/* On the source side, a type in the sub-graph that the agent may not read (403): reported on
 * the config, retried by its watch alone (no rescan loop over the other types), and the rest
 * of the sub-graph replicates; once the agent's role covers the type its objects follow. */
Test(e2e_on_demand_fault, unreadable_source_type_holds_up_nothing, .timeout = 400)
{
    static const char *const skip[] = {"policypkg_accesscontrolpolicy.yaml", NULL};
    e2e_pair p;
    nxc_test_runtime *saas, *edge;
    char *base = NULL, saas_crds[PATH_MAX], acp_only[PATH_MAX], log[PATH_MAX];

    cr_assert_eq(nxc_test_tmpdir("nxc-crds", &base), 0);
    snprintf(saas_crds, sizeof(saas_crds), "%s/saas", base);
    snprintf(acp_only, sizeof(acp_only), "%s/acp", base);
    snprintf(log, sizeof(log), "%s/install.log", base);
    e2e_crd_dir(saas_crds, skip, NULL);
    e2e_crd_dir(acp_only, NULL, (const char *const[]){"policypkg_accesscontrolpolicy.yaml", NULL});
    e2e_pair_up_on_demand_crds(&p, saas_crds, NXC_TEST_EXAMPLE_CRDS);
    saas = p.rt[0];
    edge = p.rt[1];
    /* on saas the type exists, but the agent's role does not let it list it */
    acp_crd_unlisted(saas);
    node(saas, &E2E_CONFIG, "example/config.json", "config-1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "config"));
    node(saas, &E2E_GNS, "example/gns.json", "gns-1", gns_labels());
    acp(saas, "acp-1");
    subgraph_config(saas);

    e2e_wait_exists(edge, &E2E_CONFIG, "config-1");
    e2e_wait_exists(edge, &E2E_GNS, "gns-1");
    e2e_wait_condition(saas, "subgraph", "Synced", "False", "SourceForbidden",
                       "accesscontrolpolicies.policypkg.tsm.tanzu.vmware.com");
    /* a later node of a readable type goes through meanwhile */
    node(saas, &E2E_GNS, "example/gns.json", "gns-2", gns_labels());
    e2e_wait_exists(edge, &E2E_GNS, "gns-2");
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, e2e_ready, p.agent[0]), 0,
                 "an unreadable type kept the agent from being ready");
    cr_assert_eq(nxc_test_agent_log_count(p.agent[0], "event=rescan-failed"), 0,
                 "an unreadable type made the agent rescan the others again and again");
    cr_assert_geq(nxc_test_agent_log_count(p.agent[0], "event=list-failed type=accesscontrol"), 1);

    /* the role covers it now: the object arrives, with no restart */
    install(saas, acp_only, log);
    wait_exists_long(edge, &ACP, "acp-1");
    e2e_wait_condition(saas, "subgraph", "Synced", "True", "Synced", NULL);
    wait_count(saas, "selected", 4);
    e2e_pair_down(&p);
    nxc_test_rmtree(base);
    free(base);
}
