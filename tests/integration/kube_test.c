/*
 * kube integration tests: common/kube.c against a real kube-apiserver + etcd started by
 * tools/runtime/start-runtime.sh (TLS with client certificates, RBAC), one runtime per test,
 * with the example datamodel's CRDs installed. Uses foos.gns.tsm.tanzu.vmware.com: a
 * cluster-scoped type with a /status subresource and int64 fields in status.nexus.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "kube.h"
#include "proc.h"

#define SCRIPT NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh"
#ifdef NXC_SHARED_DIR
#define EXAMPLE_CRDS NXC_SHARED_DIR "/datamodels/example"
#else
#define EXAMPLE_CRDS "/work/shared/datamodels/example"
#endif
#define START_MS 180000

static const nxc_kube_gvr foos = {"gns.tsm.tanzu.vmware.com", "v1", "foos", 0};

static struct {
    char *dir;
    nxc_kube_config *cfg;
    nxc_kube *k;
} rt;

static char *pathf(const char *dir, const char *name)
{
    char *p = NULL;

    cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
    return p;
}

/* Runs the script on dir: 0 or a negative code (its output goes to dir/start-runtime.log). */
static int script(const char *verb, const char *dir, int with_crds)
{
    const char *argv[] = {SCRIPT, verb, dir, with_crds ? "--crds" : NULL, EXAMPLE_CRDS, NULL};
    char *log = pathf(dir, "start-runtime.log"), pid[32];
    int rc;

    /* the runtime stops once this test's process is gone, even after a failed assert */
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("NXC_RT_OWNER_PID", pid, 1);
    rc = nxc_test_run(argv, log, START_MS);

    free(log);
    return rc;
}

static void runtime_start(void)
{
    char *kc;
    int attempt, rc = NXC_ERROR;

    cr_assert_eq(nxc_kube_global_init(), 0);
    /* The script picks random free ports; one can be taken by someone else between its
     * check and etcd's bind, so a failed start is tried again on fresh ports. */
    for (attempt = 0; attempt < 3 && rc; attempt++) {
        cr_assert_eq(nxc_test_tmpdir("nxc-kube-it", &rt.dir), 0);
        rc = script("start", rt.dir, 1);
        if (rc) {
            script("stop", rt.dir, 0);
            nxc_test_rmtree(rt.dir);
            free(rt.dir);
            rt.dir = NULL;
        }
    }
    cr_assert_eq(rc, 0, "the runtime did not start (3 attempts)");
    kc = pathf(rt.dir, "admin.kubeconfig");
    cr_assert_eq(nxc_kube_config_load(kc, NULL, &rt.cfg), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_new(rt.cfg, &rt.k), 0, "%s", nxc_error_last());
    free(kc);
}

static void runtime_stop(void)
{
    nxc_kube_free(rt.k);
    nxc_kube_config_free(rt.cfg);
    if (rt.dir) {
        script("stop", rt.dir, 0);
        if (!getenv("NXC_TEST_KEEP"))
            nxc_test_rmtree(rt.dir);
        free(rt.dir);
    }
    memset(&rt, 0, sizeof(rt));
}

TestSuite(kube_it, .init = runtime_start, .fini = runtime_stop, .timeout = 240);

static json_t *foo(const char *name, const char *label)
{
    json_t *o =
        json_pack("{s:s, s:s, s:{s:s, s:{}}, s:{s:s}}", "apiVersion", "gns.tsm.tanzu.vmware.com/v1",
                  "kind", "Foo", "metadata", "name", name, "labels", "spec", "password", "p");

    if (label)
        json_object_set_new(json_object_get(json_object_get(o, "metadata"), "labels"), "half",
                            json_string(label));
    return o;
}

static const char *meta(const json_t *o, const char *key)
{
    return json_string_value(json_object_get(json_object_get(o, "metadata"), key));
}

Test(kube_it, create_get_update_conflict_status_delete)
{
    json_t *obj = foo("alpha", NULL), *created = NULL, *got = NULL, *updated = NULL;
    json_t *stale, *st = NULL, *nexus;
    char uid[128];

    cr_assert_eq(nxc_kube_create(rt.k, &foos, NULL, obj, &created), 0, "%s", nxc_error_last());
    cr_assert_str_eq(meta(created, "name"), "alpha");
    snprintf(uid, sizeof(uid), "%s", meta(created, "uid"));
    cr_assert_eq(nxc_kube_create(rt.k, &foos, NULL, obj, NULL), NXC_EEXISTS);
    cr_assert(strstr(nxc_error_last(), "already exists"), "%s", nxc_error_last());

    cr_assert_eq(nxc_kube_get(rt.k, &foos, NULL, "alpha", &got), 0, "%s", nxc_error_last());
    cr_assert_str_eq(meta(got, "resourceVersion"), meta(created, "resourceVersion"));

    /* Update with the current resourceVersion works; repeating it with the old one
     * conflicts, and the server's message comes through. */
    stale = json_deep_copy(got);
    json_object_set_new(json_object_get(got, "spec"), "password", json_string("q"));
    cr_assert_eq(nxc_kube_update(rt.k, &foos, NULL, got, &updated), 0, "%s", nxc_error_last());
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(updated, "spec"), "password")), "q");
    json_object_set_new(json_object_get(stale, "spec"), "password", json_string("r"));
    cr_assert_eq(nxc_kube_update(rt.k, &foos, NULL, stale, NULL), NXC_ECONFLICT);
    cr_assert(strstr(nxc_error_last(), "409 Conflict: "), "%s", nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "has been modified"), "%s", nxc_error_last());

    /* Status goes through /status, with int64 values beyond 2^53 kept exact. */
    json_object_set_new(updated, "status",
                        json_pack("{s:{s:I, s:I}}", "nexus", "sourceGeneration",
                                  (json_int_t)9007199254740993LL, "remoteGeneration",
                                  (json_int_t)-5));
    cr_assert_eq(nxc_kube_update_status(rt.k, &foos, NULL, updated, &st), 0, "%s",
                 nxc_error_last());
    json_decref(got);
    cr_assert_eq(nxc_kube_get(rt.k, &foos, NULL, "alpha", &got), 0, "%s", nxc_error_last());
    nexus = json_object_get(json_object_get(got, "status"), "nexus");
    cr_assert_eq(json_integer_value(json_object_get(nexus, "sourceGeneration")),
                 9007199254740993LL);
    cr_assert_eq(json_integer_value(json_object_get(nexus, "remoteGeneration")), -5);

    /* Delete with a wrong uid is refused; with the right one it goes. */
    cr_assert_eq(nxc_kube_delete(rt.k, &foos, NULL, "alpha", "00000000-0000-0000-0000-0000"),
                 NXC_ECONFLICT);
    cr_assert(strstr(nxc_error_last(), "recondition"), "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_delete(rt.k, &foos, NULL, "alpha", uid), 0, "%s", nxc_error_last());
    json_decref(got);
    cr_assert_eq(nxc_kube_get(rt.k, &foos, NULL, "alpha", &got), NXC_ENOTFOUND);
    cr_assert_null(got);
    cr_assert(strstr(nxc_error_last(), "404 Not Found"), "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_delete(rt.k, &foos, NULL, "alpha", NULL), NXC_ENOTFOUND);

    json_decref(obj);
    json_decref(created);
    json_decref(updated);
    json_decref(stale);
    json_decref(st);
}

struct names {
    int n;
    char **seen; /* by index, from the name's number */
    int dups;
    int restarts;
};

static int on_item(void *ctx, json_t *item)
{
    struct names *c = ctx;
    const char *name = meta(item, "name");
    int i = name ? atoi(name + 1) : -1;

    cr_assert_str_eq(json_string_value(json_object_get(item, "kind")), "Foo");
    if (i >= 0 && i < 2000) {
        if (c->seen[i])
            c->dups++;
        c->seen[i] = (char *)1;
    }
    c->n++;
    return 0;
}

static void on_restart(void *ctx)
{
    struct names *c = ctx;

    c->restarts++;
    c->n = 0;
    memset(c->seen, 0, 2000 * sizeof(char *));
}

/* Compacts etcd's history up to its current revision, through etcd's JSON gateway. */
static void compact_etcd(void)
{
    char *env = pathf(rt.dir, "env"), *kc = pathf(rt.dir, "etcd.kubeconfig"), *text = NULL;
    char line[256], rev[32];
    int port = 0;
    nxc_kube_config *cfg = NULL;
    nxc_kube *k = NULL;
    json_t *r = NULL, *body;
    FILE *f = fopen(env, "r");

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        sscanf(line, "NXC_RT_ETCD_PORT=%d", &port);
    fclose(f);
    cr_assert_gt(port, 0);
    cr_assert(asprintf(&text,
                       "current-context: x\n"
                       "clusters: [{name: e, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
                       "contexts: [{name: x, context: {cluster: e}}]\n",
                       port) > 0);
    cr_assert_eq(nxc_test_write_file(kc, text, strlen(text)), 0);
    cr_assert_eq(nxc_kube_config_load(kc, NULL, &cfg), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_new(cfg, &k), 0);
    body = json_pack("{s:s}", "key", "AA==");
    cr_assert_eq(nxc_kube_request(k, "POST", "/v3/kv/range", NULL, body, &r), 0, "%s",
                 nxc_error_last());
    json_decref(body);
    snprintf(rev, sizeof(rev), "%s",
             json_string_value(json_object_get(json_object_get(r, "header"), "revision")));
    json_decref(r);
    body = json_pack("{s:s, s:b}", "revision", rev, "physical", 1);
    cr_assert_eq(nxc_kube_request(k, "POST", "/v3/kv/compaction", NULL, body, NULL), 0, "%s",
                 nxc_error_last());
    json_decref(body);
    nxc_kube_free(k);
    nxc_kube_config_free(cfg);
    free(env);
    free(kc);
    free(text);
}

Test(kube_it, list_paginates_over_many_objects)
{
    struct names c = {0};
    char name[32], *rv = NULL, path[512];
    json_t *obj, *page = NULL;
    int i;

    c.seen = calloc(2000, sizeof(char *));
    for (i = 0; i < 1234; i++) {
        snprintf(name, sizeof(name), "f%d", i);
        obj = foo(name, i % 2 ? "yes" : "no");
        cr_assert_eq(nxc_kube_create(rt.k, &foos, NULL, obj, NULL), 0, "%s", nxc_error_last());
        json_decref(obj);
    }
    cr_assert_eq(nxc_kube_list(rt.k, &foos, NULL, on_item, on_restart, &c, &rv), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(c.n, 1234);
    cr_assert_eq(c.dups, 0);
    cr_assert_eq(c.restarts, 0);
    cr_assert_not_null(rv);
    free(rv);

    /* A selector with characters that need escaping. */
    c.n = 0;
    memset(c.seen, 0, 2000 * sizeof(char *));
    cr_assert_eq(
        nxc_kube_list(rt.k, &foos, "half in (yes),half!=maybe", on_item, on_restart, &c, &rv), 0,
        "%s", nxc_error_last());
    cr_assert_eq(c.n, 617);
    free(rv);
    free(c.seen);

    /* A continue token older than the etcd compaction is 410 Expired: what makes a list
     * start over. (Forcing one mid-list is not possible from outside: the server answers
     * pages from its watch cache; the restart itself is covered by the unit tests.) The
     * token encodes {"v":"meta.k8s.io/v1","rv":1,"start":"f1"}. */
    compact_etcd();
    snprintf(path, sizeof(path),
             "/apis/gns.tsm.tanzu.vmware.com/v1/foos?limit=500&continue="
             "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJmMSJ9");
    cr_assert_eq(nxc_kube_request(rt.k, "GET", path, NULL, NULL, &page), NXC_EGONE, "%s",
                 page ? json_dumps(page, 0) : nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "continue parameter is too old"), "%s", nxc_error_last());
}

struct seen_events {
    int n;
    int added, modified, deleted;
    int stop_after;     /* return STOP_WATCH at this event count; 0: never */
    int stop_on_delete; /* return STOP_WATCH on a DELETED event */
    int seen[32];       /* ADDED events per object number */
    char last[64];
};

#define STOP_WATCH 77

static int on_event(void *ctx, enum nxc_kube_event type, json_t *obj)
{
    struct seen_events *s = ctx;
    const char *name = meta(obj, "name");
    int i = name && name[0] == 'w' ? atoi(name + 1) : -1;

    s->n++;
    s->added += type == NXC_KUBE_ADDED;
    s->modified += type == NXC_KUBE_MODIFIED;
    s->deleted += type == NXC_KUBE_DELETED;
    if (type == NXC_KUBE_ADDED && i >= 0 && i < 32)
        s->seen[i]++;
    snprintf(s->last, sizeof(s->last), "%s", name ? name : "");
    if (s->stop_on_delete && type == NXC_KUBE_DELETED)
        return STOP_WATCH;
    return s->stop_after && s->n >= s->stop_after ? STOP_WATCH : 0;
}

static int count_item(void *ctx, json_t *item)
{
    (void)item;
    (*(int *)ctx)++;
    return 0;
}

Test(kube_it, watch_resumes_without_gaps)
{
    struct seen_events s = {0};
    char *rv = NULL, name[32];
    json_t *obj;
    int i, n = 0;

    cr_assert_eq(nxc_kube_list(rt.k, &foos, NULL, count_item, NULL, &n, &rv), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(n, 0);
    for (i = 0; i < 20; i++) {
        snprintf(name, sizeof(name), "w%d", i);
        obj = foo(name, NULL);
        cr_assert_eq(nxc_kube_create(rt.k, &foos, NULL, obj, NULL), 0, "%s", nxc_error_last());
        json_decref(obj);
    }
    cr_assert_eq(nxc_kube_delete(rt.k, &foos, NULL, "w3", NULL), 0, "%s", nxc_error_last());

    /* Take 8 events and refuse the 8th: the resourceVersion stays before it, so resuming
     * delivers it again (at least once), then the rest. */
    s.stop_after = 8;
    cr_assert_eq(nxc_kube_watch(rt.k, &foos, NULL, &rv, 10000, on_event, &s), STOP_WATCH, "%s",
                 nxc_error_last());
    cr_assert_str_eq(s.last, "w7");
    s.stop_after = 0;
    s.stop_on_delete = 1;
    cr_assert_eq(nxc_kube_watch(rt.k, &foos, NULL, &rv, 10000, on_event, &s), STOP_WATCH, "%s",
                 nxc_error_last());
    for (i = 0; i < 20; i++)
        cr_assert_eq(s.seen[i], i == 7 ? 2 : 1, "w%d added %d times", i, s.seen[i]);
    cr_assert_eq(s.deleted, 1);
    cr_assert_str_eq(s.last, "w3");

    /* The refused delete comes once more, then nothing: the idle limit ends the watch. */
    s.stop_on_delete = 0;
    cr_assert_eq(nxc_kube_watch(rt.k, &foos, NULL, &rv, 1500, on_event, &s), NXC_EAGAIN, "%s",
                 nxc_error_last());
    cr_assert_eq(s.deleted, 2);
    cr_assert_eq(s.n, 23, "%d events", s.n);
    free(rv);
}

Test(kube_it, watch_too_old_is_gone)
{
    struct seen_events s = {0};
    char *rv = strdup("1");
    int64_t deadline = nxc_test_now_ms() + 30000;
    int rc;

    /* Right after the CRD is installed its storage may still be initializing: 429, which
     * is NXC_EUNAVAIL, retried as a caller would. */
    while ((rc = nxc_kube_watch(rt.k, &foos, NULL, &rv, 10000, on_event, &s)) == NXC_EUNAVAIL &&
           nxc_test_now_ms() < deadline)
        usleep(200 * 1000);
    cr_assert_eq(rc, NXC_EGONE, "%s", nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "too old resource version"), "%s", nxc_error_last());
    cr_assert_str_eq(rv, "1", "rv untouched: the caller relists");
    cr_assert_eq(s.n, 0);
    free(rv);
}

static volatile int stop_flag;

static void *raise_stop(void *p)
{
    (void)p;
    usleep(300 * 1000);
    stop_flag = 1;
    return NULL;
}

Test(kube_it, watch_stops_on_request)
{
    struct seen_events s = {0};
    char *rv = NULL;
    int64_t t0;
    pthread_t t;
    int n = 0;

    cr_assert_eq(nxc_kube_list(rt.k, &foos, NULL, count_item, NULL, &n, &rv), 0, "%s",
                 nxc_error_last());
    nxc_kube_set_stop(rt.k, &stop_flag);
    pthread_create(&t, NULL, raise_stop, NULL);
    t0 = nxc_test_now_ms();
    cr_assert_eq(nxc_kube_watch(rt.k, &foos, NULL, &rv, 0, on_event, &s), NXC_ESTOPPED, "%s",
                 nxc_error_last());
    cr_assert_lt(nxc_test_now_ms() - t0, 2500);
    pthread_join(t, NULL);
    free(rv);
}

/* Base64 for the inline-data kubeconfig. */
static char *b64_file(const char *path)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char buf[16384];
    FILE *f = fopen(path, "rb");
    size_t n, i, o = 0;
    char *out;

    cr_assert_not_null(f, "%s", path);
    n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    out = malloc(n / 3 * 4 + 8);
    for (i = 0; i + 2 < n; i += 3) {
        out[o++] = tab[buf[i] >> 2];
        out[o++] = tab[((buf[i] & 3) << 4) | (buf[i + 1] >> 4)];
        out[o++] = tab[((buf[i + 1] & 15) << 2) | (buf[i + 2] >> 6)];
        out[o++] = tab[buf[i + 2] & 63];
    }
    if (n - i == 1) {
        out[o++] = tab[buf[i] >> 2];
        out[o++] = tab[(buf[i] & 3) << 4];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        out[o++] = tab[buf[i] >> 2];
        out[o++] = tab[((buf[i] & 3) << 4) | (buf[i + 1] >> 4)];
        out[o++] = tab[(buf[i + 1] & 15) << 2];
        out[o++] = '=';
    }
    out[o] = '\0';
    return out;
}

Test(kube_it, agent_identity_inline_data_and_rbac)
{
    char *ca = pathf(rt.dir, "pki/ca.crt"), *crt = pathf(rt.dir, "pki/agent.crt");
    char *key = pathf(rt.dir, "pki/agent.key"), *kc = pathf(rt.dir, "inline.kubeconfig");
    char *ca64 = b64_file(ca), *crt64 = b64_file(crt), *key64 = b64_file(key), *text = NULL;
    static const nxc_kube_gvr ns = {"", "v1", "namespaces", 0};
    nxc_kube_config *cfg = NULL;
    nxc_kube *k = NULL;
    json_t *obj = foo("beta", NULL), *out = NULL;

    cr_assert(asprintf(&text,
                       "apiVersion: v1\nkind: Config\ncurrent-context: agent\n"
                       "clusters:\n- name: rt\n  cluster:\n    server: %s\n"
                       "    certificate-authority-data: %s\n"
                       "contexts:\n- name: agent\n  context: {cluster: rt, user: agent}\n"
                       "users:\n- name: agent\n  user:\n    client-certificate-data: %s\n"
                       "    client-key-data: %s\n",
                       nxc_kube_config_server(rt.cfg), ca64, crt64, key64) > 0);
    cr_assert_eq(nxc_test_write_file(kc, text, strlen(text)), 0);
    cr_assert_eq(nxc_kube_config_load(kc, NULL, &cfg), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_new(cfg, &k), 0);
    /* The agent may write the datamodel's types... */
    cr_assert_eq(nxc_kube_create(k, &foos, NULL, obj, &out), 0, "%s", nxc_error_last());
    json_decref(out);
    /* ...and nothing else. */
    cr_assert_eq(nxc_kube_get(k, &ns, NULL, "default", &out), NXC_EFORBIDDEN);
    cr_assert(strstr(nxc_error_last(), "403 Forbidden: "), "%s", nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "nexus-agent"), "%s", nxc_error_last());

    nxc_kube_free(k);
    nxc_kube_config_free(cfg);
    json_decref(obj);
    free(ca);
    free(crt);
    free(key);
    free(kc);
    free(ca64);
    free(crt64);
    free(key64);
    free(text);
}

Test(kube_it, wrong_ca_is_unavailable)
{
    char *kc = pathf(rt.dir, "wrongca.kubeconfig"), *ca = pathf(rt.dir, "other-ca.crt");
    char *cmd = NULL, *text = NULL;
    nxc_kube_config *cfg = NULL;
    nxc_kube *k = NULL;
    json_t *out = NULL;

    /* A CA that did not sign the server's certificate. */
    cr_assert(asprintf(&cmd,
                       "openssl req -x509 -newkey rsa:2048 -nodes -keyout /dev/null -out %s "
                       "-days 1 -subj /CN=other 2>/dev/null",
                       ca) > 0);
    cr_assert_eq(system(cmd), 0);
    cr_assert(asprintf(&text,
                       "current-context: x\n"
                       "clusters: [{name: c, cluster: {server: '%s', certificate-authority: "
                       "other-ca.crt}}]\n"
                       "contexts: [{name: x, context: {cluster: c}}]\n",
                       nxc_kube_config_server(rt.cfg)) > 0);
    cr_assert_eq(nxc_test_write_file(kc, text, strlen(text)), 0);
    cr_assert_eq(nxc_kube_config_load(kc, NULL, &cfg), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_new(cfg, &k), 0);
    cr_assert_eq(nxc_kube_get(k, &foos, NULL, "x", &out), NXC_EUNAVAIL);
    cr_assert(strstr(nxc_error_last(), "certificate"), "%s", nxc_error_last());
    nxc_kube_free(k);
    nxc_kube_config_free(cfg);
    free(kc);
    free(ca);
    free(cmd);
    free(text);
}
