/*
 * End-to-end replication between two real runtimes (kube-apiserver + etcd with the example
 * Nexus datamodel), one real nats-server with JetStream and two nexus-agent processes.
 * Every wait polls a condition with a deadline.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bus.h"
#include "cluster.h"
#include "err.h"
#include "natsd.h"
#include "proc.h"

#define DEADLINE_MS 30000

static const nxc_kube_gvr ROOT = {"root.tsm.tanzu.vmware.com", "v1", "roots", 0};
static const nxc_kube_gvr CONFIG = {"config.tsm.tanzu.vmware.com", "v1", "configs", 0};
static const nxc_kube_gvr GNS = {"gns.tsm.tanzu.vmware.com", "v1", "gnses", 0};

typedef struct pair {
    char *dir;
    nxc_test_natsd *nats;
    nxc_test_runtime *rt[2];
    nxc_test_agent *agent[2];
    nxc_bus *bus;
} pair;

static const char *const IDS[2] = {"saas", "edge"};
static const char *const STREAMS[2] = {"NXC_saas", "NXC_edge"};

static int both_ready(void *ctx)
{
    pair *p = ctx;

    return nxc_test_agent_ready(p->agent[0]) && nxc_test_agent_ready(p->agent[1]);
}

static void pair_up(pair *p)
{
    char *types;
    nxc_bus_opts bo;

    memset(p, 0, sizeof(*p));
    cr_assert_eq(nxc_test_tmpdir("nxc-e2e", &p->dir), 0);
    cr_assert_eq(nxc_test_natsd_start(NULL, &p->nats), 0);
    types = nxc_test_types_yaml(NXC_TEST_EXAMPLE_CRDS);
    cr_assert(types && strstr(types, "gnses"), "no types found in " NXC_TEST_EXAMPLE_CRDS);
    for (int i = 0; i < 2; i++) {
        char rdir[512], adir[512];
        nxc_test_agent_opts o;

        snprintf(rdir, sizeof(rdir), "%s/runtime-%s", p->dir, IDS[i]);
        snprintf(adir, sizeof(adir), "%s/agent-%s", p->dir, IDS[i]);
        cr_assert_eq(nxc_test_runtime_start(rdir, NXC_TEST_EXAMPLE_CRDS, &p->rt[i]), 0);
        mkdir(adir, 0700);
        o = (nxc_test_agent_opts){IDS[i], IDS[1 - i], p->rt[i]->agent_kubeconfig,
                                  nxc_test_natsd_url(p->nats), adir, types};
        cr_assert_eq(nxc_test_agent_start(&o, &p->agent[i]), 0);
    }
    free(types);
    cr_assert_eq(nxc_test_poll(60000, both_ready, p), 0, "agents did not become ready");
    memset(&bo, 0, sizeof(bo));
    bo.urls = nxc_test_natsd_url(p->nats);
    bo.name = "e2e-test";
    cr_assert_eq(nxc_bus_connect(&bo, &p->bus), 0);
}

static void pair_down(pair *p)
{
    for (int i = 0; i < 2; i++) {
        if (p->agent[i])
            cr_expect_eq(nxc_test_agent_stop(p->agent[i]), 0, "agent %s did not stop cleanly",
                         IDS[i]);
        nxc_test_agent_free(p->agent[i]);
        nxc_test_runtime_stop(p->rt[i]);
    }
    nxc_bus_close(p->bus);
    nxc_test_natsd_free(p->nats);
    if (!getenv("NXC_TEST_KEEP"))
        nxc_test_rmtree(p->dir);
    free(p->dir);
}

/* Last sequence of a stream (0 when it has none yet). */
static uint64_t last_seq(pair *p, int side)
{
    uint64_t first = 0, last = 0, msgs = 0;

    if (nxc_bus_stream_info(p->bus, STREAMS[side], &first, &last, &msgs) != 0)
        return 0;
    return last;
}

struct want_obj {
    nxc_test_runtime *rt;
    const nxc_kube_gvr *gvr;
    const char *name;
    const char *path[4];  /* a field path to check, NULL-terminated */
    json_t *value;        /* expected value at path (NULL: only existence) */
    int absent;           /* 1: wait until the object is gone */
    json_t *got;          /* the object when found */
};

static json_t *at_path(json_t *v, const char *const *path)
{
    for (int i = 0; path[i] && v; i++)
        v = json_object_get(v, path[i]);
    return v;
}

static int obj_matches(void *ctx)
{
    struct want_obj *w = ctx;
    json_t *obj = NULL;
    int rc = nxc_kube_get(w->rt->admin, w->gvr, NULL, w->name, &obj);

    if (w->absent)
        return rc == NXC_ENOTFOUND;
    if (rc)
        return 0;
    if (w->value && !json_equal(at_path(obj, w->path), w->value)) {
        json_decref(obj);
        return 0;
    }
    json_decref(w->got);
    w->got = obj;
    return 1;
}

struct seq_want {
    pair *p;
    int side;
    uint64_t seq;
};

static int seq_reached(void *ctx)
{
    struct seq_want *w = ctx;

    return last_seq(w->p, w->side) >= w->seq;
}

/* Waits until the stream of side has exactly `want` messages in total, and no more. */
static void expect_stream(pair *p, int side, uint64_t want)
{
    struct seq_want w = {p, side, want};

    cr_assert_eq(nxc_test_poll(DEADLINE_MS, seq_reached, &w), 0, "stream %s stayed at %llu < %llu",
                 STREAMS[side], (unsigned long long)last_seq(p, side), (unsigned long long)want);
    cr_assert_eq(last_seq(p, side), want, "stream %s has %llu messages, want exactly %llu",
                 STREAMS[side], (unsigned long long)last_seq(p, side), (unsigned long long)want);
}

static json_t *create_fixture(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *file)
{
    json_t *obj = nxc_test_fixture(file), *out = NULL;

    cr_assert_not_null(obj);
    cr_assert_eq(nxc_kube_create(rt->admin, gvr, NULL, obj, &out), 0, "create %s: %s", file,
                 nxc_error_last());
    json_decref(obj);
    return out;
}

static json_t *get_obj(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    json_t *obj = NULL;

    cr_assert_eq(nxc_kube_get(rt->admin, gvr, NULL, name, &obj), 0, "get %s: %s", name,
                 nxc_error_last());
    return obj;
}

/* Waits until every counter stays unchanged for window_ms, failing at the first change. */
struct quiet {
    pair *p;
    uint64_t seq[2];
    double writes[2];
    int changed;
};

static int check_quiet(void *ctx)
{
    struct quiet *q = ctx;

    for (int i = 0; i < 2; i++) {
        if (last_seq(q->p, i) != q->seq[i] ||
            nxc_test_agent_metric(q->p->agent[i], "nxc_runtime_writes_total") != q->writes[i])
            q->changed = 1;
    }
    return q->changed;
}

static void expect_quiet(pair *p, long window_ms)
{
    struct quiet q = {p, {last_seq(p, 0), last_seq(p, 1)}, {0, 0}, 0};

    for (int i = 0; i < 2; i++)
        q.writes[i] = nxc_test_agent_metric(p->agent[i], "nxc_runtime_writes_total");
    /* the poll ends early only when something changed */
    cr_assert_eq(nxc_test_poll(window_ms, check_quiet, &q), NXC_EAGAIN,
                 "a message or a runtime write happened in the quiet window");
    cr_assert_eq(q.changed, 0);
}

Test(e2e, two_way_replication, .timeout = 300)
{
    pair p;
    json_t *a_obj, *b_obj, *v;
    struct want_obj w;

    pair_up(&p);

    /* a Root -> Config -> Gns tree created on saas appears on edge */
    json_decref(create_fixture(p.rt[0], &ROOT, "example/root.json"));
    json_decref(create_fixture(p.rt[0], &CONFIG, "example/config.json"));
    json_decref(create_fixture(p.rt[0], &GNS, "example/gns.json"));
    const nxc_kube_gvr *gvrs[3] = {&ROOT, &CONFIG, &GNS};
    const char *names[3] = {"root-1", "config-1", "gns-1"};
    for (int i = 0; i < 3; i++) {
        w = (struct want_obj){p.rt[1], gvrs[i], names[i], {NULL}, NULL, 0, NULL};
        cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0, "%s did not reach edge",
                     names[i]);
        a_obj = get_obj(p.rt[0], gvrs[i], names[i]);
        cr_expect(json_equal(json_object_get(a_obj, "spec"), json_object_get(w.got, "spec")),
                  "%s: spec differs", names[i]);
        cr_expect(json_equal(json_object_get(json_object_get(a_obj, "metadata"), "labels"),
                             json_object_get(json_object_get(w.got, "metadata"), "labels")),
                  "%s: labels differ", names[i]);
        json_decref(a_obj);
        json_decref(w.got);
    }
    b_obj = get_obj(p.rt[1], &GNS, "gns-1");
    v = at_path(b_obj, (const char *[]){"spec", "annotations", "big", NULL});
    cr_assert(json_is_integer(v), "big integer lost its type");
    cr_assert_eq(json_integer_value(v), 9007199254740993LL, "big integer changed");
    v = at_path(b_obj, (const char *[]){"spec", "annotations", "neg", NULL});
    cr_assert_eq(json_integer_value(v), INT64_MIN);
    v = at_path(b_obj, (const char *[]){"spec", "annotations", "unicode", NULL});
    cr_assert_str_eq(json_string_value(v), "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80");
    json_decref(b_obj);
    expect_stream(&p, 0, 3); /* one message per user change */
    expect_stream(&p, 1, 0); /* and none back */

    /* a spec change on saas reaches edge */
    a_obj = get_obj(p.rt[0], &GNS, "gns-1");
    json_object_set_new(json_object_get(a_obj, "spec"), "port", json_integer(4242));
    cr_assert_eq(nxc_kube_update(p.rt[0]->admin, &GNS, NULL, a_obj, NULL), 0, "%s",
                 nxc_error_last());
    json_decref(a_obj);
    w = (struct want_obj){p.rt[1], &GNS, "gns-1", {"spec", "port", NULL}, json_integer(4242), 0,
                          NULL};
    cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0, "spec change did not reach edge");
    json_decref(w.value);
    json_decref(w.got);
    expect_stream(&p, 0, 4);

    /* a spec change on edge reaches saas */
    b_obj = get_obj(p.rt[1], &CONFIG, "config-1");
    json_object_set_new(json_object_get(b_obj, "spec"), "myStr0", json_string("from-edge"));
    cr_assert_eq(nxc_kube_update(p.rt[1]->admin, &CONFIG, NULL, b_obj, NULL), 0, "%s",
                 nxc_error_last());
    json_decref(b_obj);
    w = (struct want_obj){p.rt[0], &CONFIG, "config-1", {"spec", "myStr0", NULL},
                          json_string("from-edge"), 0, NULL};
    cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0, "spec change did not reach saas");
    json_decref(w.value);
    json_decref(w.got);
    expect_stream(&p, 1, 1);

    /* a status change on edge reaches saas's status */
    b_obj = get_obj(p.rt[1], &GNS, "gns-1");
    json_object_set_new(b_obj, "status",
                        json_pack("{s:{s:b,s:i}}", "state", "working", 1, "temperature", 37));
    cr_assert_eq(nxc_kube_update_status(p.rt[1]->admin, &GNS, NULL, b_obj, NULL), 0, "%s",
                 nxc_error_last());
    json_decref(b_obj);
    w = (struct want_obj){p.rt[0], &GNS, "gns-1", {"status", "state", "temperature", NULL},
                          json_integer(37), 0, NULL};
    cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0,
                 "status change did not reach saas");
    /* the spec that saas changed earlier is still there: planes are independent */
    cr_assert_eq(json_integer_value(at_path(w.got, (const char *[]){"spec", "port", NULL})), 4242);
    json_decref(w.value);
    json_decref(w.got);
    expect_stream(&p, 1, 2);

    /* a delete on saas removes the node on edge */
    cr_assert_eq(nxc_kube_delete(p.rt[0]->admin, &ROOT, NULL, "root-1", NULL), 0);
    w = (struct want_obj){p.rt[1], &ROOT, "root-1", {NULL}, NULL, 1, NULL};
    cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0, "delete did not reach edge");
    expect_stream(&p, 0, 5);
    expect_stream(&p, 1, 2);

    /* converged: nothing moves any more */
    expect_quiet(&p, 3000);
    cr_assert_eq(nxc_test_agent_metric(p.agent[0], "nxc_apply_errors_total"), 0);
    cr_assert_eq(nxc_test_agent_metric(p.agent[1], "nxc_apply_errors_total"), 0);
    pair_down(&p);
}

Test(e2e, restart_with_nothing_changed_is_silent, .timeout = 300)
{
    pair p;
    struct want_obj w;

    pair_up(&p);
    json_decref(create_fixture(p.rt[0], &ROOT, "example/root.json"));
    json_decref(create_fixture(p.rt[1], &CONFIG, "example/config.json"));
    w = (struct want_obj){p.rt[1], &ROOT, "root-1", {NULL}, NULL, 0, NULL};
    cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0);
    json_decref(w.got);
    w = (struct want_obj){p.rt[0], &CONFIG, "config-1", {NULL}, NULL, 0, NULL};
    cr_assert_eq(nxc_test_poll(DEADLINE_MS, obj_matches, &w), 0);
    json_decref(w.got);
    expect_stream(&p, 0, 1);
    expect_stream(&p, 1, 1);

    /* both agents restart; their re-list finds nothing new: no writes, no publishes */
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nxc_test_agent_stop(p.agent[i]), 0, "agent did not exit cleanly");
        cr_assert_eq(nxc_test_agent_restart(p.agent[i]), 0);
    }
    cr_assert_eq(nxc_test_poll(60000, both_ready, &p), 0);
    expect_quiet(&p, 3000);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(nxc_test_agent_metric(p.agent[i], "nxc_runtime_writes_total"), 0);
        cr_assert_eq(nxc_test_agent_metric(p.agent[i], "nxc_local_changes_total"), 0);
    }
    expect_stream(&p, 0, 1);
    expect_stream(&p, 1, 1);
    pair_down(&p);
}
