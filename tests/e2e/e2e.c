/* e2e: shared setup and polling assertions for the end-to-end tests (see e2e.h). */
#include "e2e.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "proc.h"

const nxc_kube_gvr E2E_ROOT = {"root.tsm.tanzu.vmware.com", "v1", "roots", 0};
const nxc_kube_gvr E2E_CONFIG = {"config.tsm.tanzu.vmware.com", "v1", "configs", 0};
const nxc_kube_gvr E2E_GNS = {"gns.tsm.tanzu.vmware.com", "v1", "gnses", 0};
const nxc_kube_gvr E2E_FOO = {"gns.tsm.tanzu.vmware.com", "v1", "foos", 0};
const nxc_kube_gvr E2E_RC = {"connect.nexus.vmware.com", "v1", "replicationconfigs", 0};
const char *const E2E_IDS[2] = {"saas", "edge"};
const char *const E2E_STREAMS[2] = {"NXC_saas", "NXC_edge"};

/* The pair of the running test, until e2e_pair_down; static so that e2e_cleanup still finds
 * it after a failed assertion left the test's own frame. */
static e2e_pair live;

static int both_ready(void *ctx)
{
    e2e_pair *p = ctx;

    return nxc_test_agent_ready(p->agent[0]) && nxc_test_agent_ready(p->agent[1]);
}

void e2e_wait_ready(e2e_pair *p)
{
    cr_assert_eq(nxc_test_poll(60000, both_ready, p), 0, "agents did not become ready");
}

void e2e_pair_up(e2e_pair *p)
{
    e2e_pair_up_crds(p, NXC_TEST_EXAMPLE_CRDS, NXC_TEST_EXAMPLE_CRDS);
}

static void start_nats(e2e_pair *p, int flags)
{
    nxc_test_natsd_opts hub, leaf;
    int relay_port;
    char advertise[64], remote[96];

    if (!p->leaf) {
        cr_assert_eq(nxc_test_natsd_start(NULL, &p->nats), 0);
        if (flags)
            cr_assert_eq(nxc_test_relay_start(&p->relay), 0);
        if (flags & E2E_RELAY_NATS)
            cr_assert_eq(nxc_test_relay_add(p->relay, "nats", "127.0.0.1",
                                            nxc_test_natsd_port(p->nats), &relay_port),
                         0);
        return;
    }
    cr_assert_eq(nxc_test_relay_start(&p->relay), 0);
    /* the upstream is set once the hub has bound its leafnode port: a port natsd picks is
     * picked again when another process took it first */
    cr_assert_eq(nxc_test_relay_add(p->relay, "leaf", "127.0.0.1", 1, &relay_port), 0);
    snprintf(advertise, sizeof(advertise), "127.0.0.1:%d", relay_port);
    snprintf(remote, sizeof(remote), "nats-leaf://127.0.0.1:%d", relay_port);
    memset(&hub, 0, sizeof(hub));
    hub.name = "hub";
    hub.domain = "hub";
    hub.leafnode_port = -1;
    hub.leafnode_advertise = advertise;
    hub.monitor_port = -1;
    cr_assert_eq(nxc_test_natsd_start(&hub, &p->nats), 0);
    cr_assert_eq(nxc_test_relay_retarget(p->relay, "leaf", "127.0.0.1",
                                         nxc_test_natsd_leafnode_port(p->nats)),
                 0);
    memset(&leaf, 0, sizeof(leaf));
    leaf.name = "leaf";
    leaf.domain = "leaf";
    leaf.leaf_remote = remote;
    leaf.monitor_port = -1;
    cr_assert_eq(nxc_test_natsd_start(&leaf, &p->nats_leaf), 0);
}

/* A copy of kubeconfig `from` whose server goes through relay proxy "api" instead. */
static char *relayed_kubeconfig(e2e_pair *p, const char *from, const char *server)
{
    char *text = NULL, *out = NULL, relay_url[64];
    const char *at;
    size_t len = 0;
    FILE *f = fopen(from, "r");
    nxc_buf b;
    int port;

    cr_assert_not_null(f);
    cr_assert_gt(getdelim(&text, &len, '\0', f), 0);
    fclose(f);
    at = strstr(text, server);
    cr_assert_not_null(at, "server %s not in %s", server, from);
    port = nxc_test_relay_port(p->relay, "api");
    cr_assert_gt(port, 0);
    snprintf(relay_url, sizeof(relay_url), "https://127.0.0.1:%d", port);
    nxc_buf_init(&b, 1u << 20);
    nxc_buf_addf(&b, "%.*s%s%s", (int)(at - text), text, relay_url, at + strlen(server));
    /* relative paths in the kubeconfig stay valid: the copy sits beside the original */
    out = malloc(strlen(from) + 16);
    snprintf(out, strlen(from) + 16, "%s.relayed", from);
    cr_assert_eq(nxc_test_write_file(out, b.ptr, b.len), 0);
    nxc_buf_free(&b);
    free(text);
    return out;
}

static const char *saas_extra; /* more config for saas's agent in the next pair_up */
static int on_demand;          /* next pair_up: no static types, the connector's CRDs too */

static void pair_up(e2e_pair *out, const char *saas_crds, const char *edge_crds, int leaf,
                    int flags)
{
    const char *crds[2] = {saas_crds, edge_crds};
    e2e_pair *p = &live;
    char *types;

    memset(p, 0, sizeof(*p));
    cr_assert_eq(nxc_test_tmpdir("nxc-e2e", &p->dir), 0);
    p->leaf = leaf;
    start_nats(p, flags);
    types = nxc_test_types_yaml(NXC_TEST_EXAMPLE_CRDS);
    cr_assert(types && strstr(types, "gnses"), "no types found in " NXC_TEST_EXAMPLE_CRDS);
    for (int i = 0; i < 2; i++) {
        static const char *const domains[2] = {"hub", "leaf"};
        char rdir[512], adir[512];
        nxc_test_agent_opts o;
        nxc_bus_opts bo;

        snprintf(rdir, sizeof(rdir), "%s/runtime-%s", p->dir, E2E_IDS[i]);
        snprintf(adir, sizeof(adir), "%s/agent-%s", p->dir, E2E_IDS[i]);
        char nats_relay[64], *kubeconfig = NULL;

        if (i == 0 && (flags & E2E_RELAY_API))
            setenv("NXC_RT_APISERVER_ARGS", "--watch-cache=false", 1);
        cr_assert_eq(nxc_test_runtime_start(rdir, crds[i], &p->rt[i]), 0);
        unsetenv("NXC_RT_APISERVER_ARGS");
        if (on_demand) {
            char log[600];
            const char *argv[] = {NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh", "install-crds",
                                  rdir, NXC_SOURCE_DIR "/schemas", NULL};

            snprintf(log, sizeof(log), "%s/install-schemas.log", rdir);
            cr_assert_eq(nxc_test_run(argv, log, 120000), 0, "see %s", log);
        }
        cr_assert_eq(mkdir(adir, 0700), 0);
        o = (nxc_test_agent_opts){E2E_IDS[i],
                                  E2E_IDS[1 - i],
                                  p->rt[i]->agent_kubeconfig,
                                  nxc_test_natsd_url(i && p->leaf ? p->nats_leaf : p->nats),
                                  adir,
                                  on_demand ? NULL : types,
                                  p->leaf ? domains[i] : NULL,
                                  p->leaf ? domains[1 - i] : NULL,
                                  NULL};
        if (i == 0)
            o.extra_yaml = saas_extra;
        if (i == 0 && (flags & E2E_RELAY_NATS)) {
            snprintf(nats_relay, sizeof(nats_relay), "nats://127.0.0.1:%d",
                     nxc_test_relay_port(p->relay, "nats"));
            o.nats_url = nats_relay;
        }
        if (i == 0 && (flags & E2E_RELAY_API)) {
            int port;

            cr_assert_eq(nxc_test_relay_add(p->relay, "api", "127.0.0.1",
                                            e2e_apiserver_port(p->rt[0]), &port),
                         0);
            kubeconfig = relayed_kubeconfig(p, o.kubeconfig, nxc_kube_config_server(p->rt[0]->cfg));
            o.kubeconfig = kubeconfig;
        }
        cr_assert_eq(nxc_test_agent_start(&o, &p->agent[i]), 0);
        free(kubeconfig);
        memset(&bo, 0, sizeof(bo));
        bo.urls = nxc_test_natsd_url(i && p->leaf ? p->nats_leaf : p->nats);
        bo.name = "e2e-test";
        bo.domain = o.nats_domain;
        cr_assert_eq(nxc_bus_connect(&bo, &p->bus[i]), 0);
    }
    free(types);
    e2e_wait_ready(p);
    *out = live;
}

void e2e_pair_up_crds(e2e_pair *out, const char *saas_crds, const char *edge_crds)
{
    const char *topology = getenv("NXC_E2E_TOPOLOGY");

    pair_up(out, saas_crds, edge_crds, topology && strcmp(topology, "leaf") == 0, 0);
}

void e2e_pair_up_leaf(e2e_pair *out)
{
    pair_up(out, NXC_TEST_EXAMPLE_CRDS, NXC_TEST_EXAMPLE_CRDS, 1, 0);
}

void e2e_pair_up_saas_config(e2e_pair *out, const char *saas_yaml)
{
    saas_extra = saas_yaml;
    pair_up(out, NXC_TEST_EXAMPLE_CRDS, NXC_TEST_EXAMPLE_CRDS, 0, 0);
    saas_extra = NULL;
}

void e2e_pair_up_on_demand(e2e_pair *out)
{
    e2e_pair_up_on_demand_crds(out, NXC_TEST_EXAMPLE_CRDS, NXC_TEST_EXAMPLE_CRDS);
}

void e2e_pair_up_on_demand_crds(e2e_pair *out, const char *saas_crds, const char *edge_crds)
{
    const char *topology = getenv("NXC_E2E_TOPOLOGY");

    on_demand = 1;
    pair_up(out, saas_crds, edge_crds, topology && strcmp(topology, "leaf") == 0, 0);
    on_demand = 0;
}

void e2e_pair_up_relayed(e2e_pair *out, int flags)
{
    pair_up(out, NXC_TEST_EXAMPLE_CRDS, NXC_TEST_EXAMPLE_CRDS, 0, flags);
}

int e2e_apiserver_port(nxc_test_runtime *rt)
{
    const char *server = nxc_kube_config_server(rt->cfg);
    const char *colon = strrchr(server, ':');

    return colon ? atoi(colon + 1) : 0;
}

void e2e_cleanup(void)
{
    e2e_pair *p = &live;

    if (!p->dir)
        return;
    fprintf(stderr, "e2e: test failed; logs kept in %s\n", p->dir);
    for (int i = 0; i < 2; i++) {
        if (p->agent[i])
            nxc_test_agent_kill9(p->agent[i]);
        nxc_test_agent_free(p->agent[i]);
        nxc_test_runtime_stop(p->rt[i]);
    }
    for (int i = 0; i < 2; i++)
        nxc_bus_close(p->bus[i]);
    if (p->nats)
        nxc_test_natsd_stop(p->nats);
    if (p->nats_leaf)
        nxc_test_natsd_stop(p->nats_leaf);
    if (p->relay)
        nxc_test_relay_stop(p->relay);
    free(p->dir);
    memset(p, 0, sizeof(*p));
}

void e2e_pair_down(e2e_pair *p)
{
    memset(&live, 0, sizeof(live));
    for (int i = 0; i < 2; i++) {
        if (p->agent[i])
            cr_expect_eq(nxc_test_agent_stop(p->agent[i]), 0, "agent %s did not stop cleanly",
                         E2E_IDS[i]);
        nxc_test_agent_free(p->agent[i]);
        nxc_test_runtime_stop(p->rt[i]);
    }
    for (int i = 0; i < 2; i++)
        nxc_bus_close(p->bus[i]);
    nxc_test_natsd_free(p->nats);
    nxc_test_natsd_free(p->nats_leaf);
    nxc_test_relay_free(p->relay);
    if (!getenv("NXC_TEST_KEEP"))
        nxc_test_rmtree(p->dir);
    free(p->dir);
}

uint64_t e2e_last_seq(e2e_pair *p, int side)
{
    uint64_t first = 0, last = 0, msgs = 0;

    if (nxc_bus_stream_info(p->bus[side], E2E_STREAMS[side], &first, &last, &msgs) != 0)
        return 0;
    return last;
}

struct seq_want {
    e2e_pair *p;
    int side;
    uint64_t seq;
};

static int seq_reached(void *ctx)
{
    struct seq_want *w = ctx;

    return e2e_last_seq(w->p, w->side) >= w->seq;
}

void e2e_expect_stream(e2e_pair *p, int side, uint64_t want)
{
    struct seq_want w = {p, side, want};

    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, seq_reached, &w), 0,
                 "stream %s stayed at %llu < %llu", E2E_STREAMS[side],
                 (unsigned long long)e2e_last_seq(p, side), (unsigned long long)want);
    cr_assert_eq(e2e_last_seq(p, side), want, "stream %s has %llu messages, want exactly %llu",
                 E2E_STREAMS[side], (unsigned long long)e2e_last_seq(p, side),
                 (unsigned long long)want);
}

struct quiet {
    e2e_pair *p;
    uint64_t seq[2];
    double writes[2];
    int changed;
};

static int check_quiet(void *ctx)
{
    struct quiet *q = ctx;

    for (int i = 0; i < 2; i++) {
        if (e2e_last_seq(q->p, i) != q->seq[i] ||
            nxc_test_agent_metric(q->p->agent[i], "nxc_runtime_writes_total") != q->writes[i])
            q->changed = 1;
    }
    return q->changed;
}

void e2e_expect_quiet(e2e_pair *p, long window_ms)
{
    struct quiet q = {p, {e2e_last_seq(p, 0), e2e_last_seq(p, 1)}, {0, 0}, 0};

    for (int i = 0; i < 2; i++)
        q.writes[i] = nxc_test_agent_metric(p->agent[i], "nxc_runtime_writes_total");
    /* the poll ends before the window only when something changed */
    cr_assert_eq(nxc_test_poll(window_ms, check_quiet, &q), NXC_EAGAIN,
                 "a message or a runtime write happened in the quiet window");
    cr_assert_eq(q.changed, 0);
}

json_t *e2e_create(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *fixture)
{
    json_t *obj = nxc_test_fixture(fixture), *out = NULL;

    cr_assert_not_null(obj);
    cr_assert_eq(nxc_kube_create(rt->admin, gvr, NULL, obj, &out), 0, "create %s: %s", fixture,
                 nxc_error_last());
    json_decref(obj);
    return out;
}

void e2e_create_obj(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, json_t *obj)
{
    cr_assert_not_null(obj);
    cr_assert_eq(nxc_kube_create(rt->admin, gvr, NULL, obj, NULL), 0, "create: %s",
                 nxc_error_last());
    json_decref(obj);
}

void e2e_node(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *fixture, const char *name,
              json_t *labels)
{
    json_t *obj = nxc_test_fixture(fixture);

    cr_assert_not_null(obj);
    json_object_set_new(json_object_get(obj, "metadata"), "name", json_string(name));
    json_object_set_new(json_object_get(obj, "metadata"), "labels", labels);
    e2e_create_obj(rt, gvr, obj);
}

struct cond_want {
    nxc_test_runtime *rt;
    const char *config, *type, *status, *reason, *needle;
};

static json_t *config_status(nxc_test_runtime *rt, const char *config)
{
    json_t *obj = NULL, *st;

    if (nxc_kube_get(rt->admin, &E2E_RC, NULL, config, &obj) != NXC_OK)
        return NULL;
    st = json_incref(json_object_get(obj, "status"));
    json_decref(obj);
    return st;
}

static int cond_reached(void *ctx)
{
    struct cond_want *w = ctx;
    json_t *st = config_status(w->rt, w->config), *c;
    size_t i;
    int found = 0;

    json_array_foreach (json_object_get(st, "conditions"), i, c) {
        const char *ty = json_string_value(json_object_get(c, "type"));
        const char *s = json_string_value(json_object_get(c, "status"));
        const char *re = json_string_value(json_object_get(c, "reason"));
        const char *msg = json_string_value(json_object_get(c, "message"));

        if (ty && s && re && msg && !strcmp(ty, w->type) && !strcmp(s, w->status) &&
            !strcmp(re, w->reason) && (!w->needle || strstr(msg, w->needle)))
            found = 1;
    }
    json_decref(st);
    return found;
}

void e2e_wait_condition(nxc_test_runtime *rt, const char *config, const char *type,
                        const char *status, const char *reason, const char *needle)
{
    struct cond_want w = {rt, config, type, status, reason, needle};

    if (nxc_test_poll(E2E_DEADLINE_MS, cond_reached, &w) != 0) {
        json_t *st = config_status(rt, config);
        char *text = st ? json_dumps(st, JSON_INDENT(1)) : NULL;

        cr_assert_fail("%s: condition %s=%s (%s, \"%s\") not reached; status: %s", config, type,
                       status, reason, needle ? needle : "", text ? text : "none");
    }
}

void e2e_crd_dir(const char *dir, const char *const *skip, const char *const *only)
{
    static const char *const files[] = {"config_config.yaml",
                                        "config_domain.yaml",
                                        "config_footypeabc.yaml",
                                        "gns_barchild.yaml",
                                        "gns_dns.yaml",
                                        "gns_foo.yaml",
                                        "gns_gns.yaml",
                                        "gns_ignorechild.yaml",
                                        "policypkg_accesscontrolpolicy.yaml",
                                        "policypkg_acpconfig.yaml",
                                        "policypkg_vmpolicy.yaml",
                                        "root_root.yaml",
                                        "servicegroup_svcgroup.yaml",
                                        "servicegroup_svcgrouplinkinfo.yaml"};

    cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s", dir);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char from[1024], to[2048];
        int named = 0;

        for (const char *const *n = only ? only : skip; n && *n; n++)
            named |= strcmp(*n, files[i]) == 0;
        if (only ? !named : named)
            continue;
        snprintf(from, sizeof(from), "%s/%s", NXC_TEST_EXAMPLE_CRDS, files[i]);
        snprintf(to, sizeof(to), "%s/%s", dir, files[i]);
        cr_assert_eq(symlink(from, to), 0, "link %s", to);
    }
}

json_t *e2e_get(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    json_t *obj = NULL;

    cr_assert_eq(nxc_kube_get(rt->admin, gvr, NULL, name, &obj), 0, "get %s: %s", name,
                 nxc_error_last());
    return obj;
}

void e2e_set_spec(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                  const char *field, json_t *value)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        json_t *obj = e2e_get(rt, gvr, name);
        int rc;

        json_object_set(json_object_get(obj, "spec"), field, value);
        rc = nxc_kube_update(rt->admin, gvr, NULL, obj, NULL);
        json_decref(obj);
        if (rc == 0) {
            json_decref(value);
            return;
        }
        cr_assert_eq(rc, NXC_ECONFLICT, "update %s: %s", name, nxc_error_last());
    }
    cr_assert_fail("update %s kept conflicting", name);
}

json_t *e2e_at(json_t *v, const char *const *path)
{
    for (int i = 0; path[i] && v; i++)
        v = json_object_get(v, path[i]);
    return v;
}

struct want_obj {
    nxc_test_runtime *rt;
    const nxc_kube_gvr *gvr;
    const char *name;
    const char *const *path;
    json_t *value;
    int absent;
    json_t *got;
};

static int obj_matches(void *ctx)
{
    struct want_obj *w = ctx;
    json_t *obj = NULL;
    int rc = nxc_kube_get(w->rt->admin, w->gvr, NULL, w->name, &obj);

    if (w->absent) {
        json_decref(obj);
        return rc == NXC_ENOTFOUND;
    }
    if (rc)
        return 0;
    if (w->value && !json_equal(e2e_at(obj, w->path), w->value)) {
        json_decref(obj);
        return 0;
    }
    json_decref(w->got);
    w->got = obj;
    return 1;
}

json_t *e2e_wait_path(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                      const char *const *path, json_t *value)
{
    struct want_obj w = {rt, gvr, name, path, value, 0, NULL};
    int rc = nxc_test_poll(E2E_DEADLINE_MS, obj_matches, &w);

    if (rc) {
        json_t *now = NULL;
        char *want = value ? json_dumps(value, JSON_ENCODE_ANY) : NULL;
        char *got = NULL;

        if (nxc_kube_get(rt->admin, gvr, NULL, name, &now) == 0 && path)
            got = json_dumps(e2e_at(now, path), JSON_ENCODE_ANY);
        cr_assert_fail("%s/%s: want %s, have %s", gvr->resource, name, want ? want : "(exists)",
                       got ? got : "(absent)");
    }
    json_decref(value);
    return w.got;
}

void e2e_wait_exists(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    json_decref(e2e_wait_path(rt, gvr, name, NULL, NULL));
}

void e2e_wait_gone(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    struct want_obj w = {rt, gvr, name, NULL, NULL, 1, NULL};

    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, obj_matches, &w), 0, "%s/%s is still there",
                 gvr->resource, name);
}

void e2e_wait_spec(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                   const char *field, json_t *value)
{
    const char *path[] = {"spec", field, NULL};

    json_decref(e2e_wait_path(rt, gvr, name, path, value));
}

void e2e_create_roots(nxc_test_runtime *rt, const char *prefix, int n, int at,
                      void (*fn)(void *ctx), void *ctx)
{
    for (int i = 0; i < n; i++) {
        char name[64];
        json_t *o;
        int rc;

        if (i == at && fn)
            fn(ctx);
        snprintf(name, sizeof(name), "%s-%04d", prefix, i);
        o = json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{}}", "apiVersion",
                      "root.tsm.tanzu.vmware.com/v1", "kind", "Root", "metadata", "name", name,
                      "labels", "nexus/display_name", name, "spec");
        rc = nxc_kube_create(rt->admin, &E2E_ROOT, NULL, o, NULL);
        json_decref(o);
        cr_assert_eq(rc, 0, "create %s: %s", name, nxc_error_last());
    }
}

static int count_item(void *ctx, json_t *item)
{
    (void)item;
    (*(int *)ctx)++;
    return 0;
}

int e2e_count_roots(nxc_test_runtime *rt)
{
    int n = 0;
    char *rv = NULL;
    int rc = nxc_kube_list(rt->admin, &E2E_ROOT, NULL, count_item, NULL, &n, &rv);

    free(rv);
    return rc ? -1 : n;
}

struct roots_want {
    nxc_test_runtime *rt;
    int n;
};

static int roots_reached(void *ctx)
{
    struct roots_want *w = ctx;

    return e2e_count_roots(w->rt) >= w->n;
}

void e2e_wait_roots(nxc_test_runtime *rt, int n, long deadline_ms)
{
    struct roots_want w = {rt, n};

    cr_assert_eq(nxc_test_poll(deadline_ms, roots_reached, &w), 0, "only %d of %d roots",
                 e2e_count_roots(rt), n);
    cr_assert_eq(e2e_count_roots(rt), n, "more roots than created");
}

static int agent_died(void *ctx)
{
    e2e_pair *p = ctx;

    return nxc_test_agent_metric(p->agent[0], "nxc_nats_connected") < 0 ||
           nxc_test_agent_metric(p->agent[1], "nxc_nats_connected") < 0;
}

void e2e_hold(e2e_pair *p, long ms)
{
    /* the poll ends early only if an agent stops answering */
    cr_assert_eq(nxc_test_poll(ms, agent_died, p), NXC_EAGAIN, "an agent died during the fault");
}

int e2e_ready(void *agent)
{
    return nxc_test_agent_ready(agent) == 1;
}

int e2e_unready(void *agent)
{
    return nxc_test_agent_ready(agent) == 0;
}
