/* cluster: runtimes and agents for e2e tests (see cluster.h). */
#include "cluster.h"

#include <curl/curl.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "proc.h"
#include "yaml.h"

#define SCRIPT NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh"

/* Runs the runtime script; a runtime it starts is stopped once this process is gone, so a
 * test that failed half-way leaves nothing running. */
static int run_script(const char *const *argv, const char *log)
{
    char pid[32];

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("NXC_RT_OWNER_PID", pid, 1);
    return nxc_test_run(argv, log, 180000);
}
#define AGENT_BIN NXC_BINARY_DIR "/nexus-agent"

static char *pathf(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);

    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

int nxc_test_runtime_start(const char *dir, const char *crd_dir, nxc_test_runtime **out)
{
    nxc_test_runtime *rt = calloc(1, sizeof(*rt));
    char *log = pathf(dir, "start-runtime.log"), *admin = NULL;
    const char *argv[] = {SCRIPT, "start", dir, crd_dir ? "--crds" : NULL, crd_dir, NULL};
    int rc;

    *out = NULL;
    if (!rt || !log)
        return NXC_ENOMEM;
    rc = run_script(argv, log);
    if (rc) {
        fprintf(stderr, "runtime did not start in %s; see %s\n", dir, log);
        goto fail;
    }
    rt->dir = strdup(dir);
    rt->agent_kubeconfig = pathf(dir, "agent.kubeconfig");
    admin = pathf(dir, "admin.kubeconfig");
    rc = nxc_kube_config_load(admin, NULL, &rt->cfg);
    if (!rc)
        rc = nxc_kube_new(rt->cfg, &rt->admin);
    if (rc) {
        fprintf(stderr, "runtime client: %s\n", nxc_error_last());
        goto fail;
    }
    free(log);
    free(admin);
    *out = rt;
    return 0;
fail:
    free(log);
    free(admin);
    nxc_test_runtime_stop(rt);
    return rc ? rc : NXC_ERROR;
}

static int script(nxc_test_runtime *rt, const char *verb)
{
    char *log = pathf(rt->dir, "start-runtime.log");
    const char *argv[] = {SCRIPT, verb, rt->dir, NULL};
    int rc = run_script(argv, log);

    free(log);
    return rc;
}

int nxc_test_runtime_pause(nxc_test_runtime *rt)
{
    return script(rt, "stop-apiserver");
}

int nxc_test_runtime_resume(nxc_test_runtime *rt)
{
    return script(rt, "start-apiserver");
}

static long etcd_port(nxc_test_runtime *rt)
{
    char *path = pathf(rt->dir, "env"), line[256];
    FILE *f = path ? fopen(path, "r") : NULL;
    long port = 0;

    free(path);
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "NXC_RT_ETCD_PORT=", 17) == 0)
            port = strtol(line + 17, NULL, 10);
    fclose(f);
    return port;
}

static long http_post(const char *url, const char *body, nxc_buf *out);

int nxc_test_runtime_compact(nxc_test_runtime *rt)
{
    char url[128], body[128];
    nxc_buf resp;
    json_t *doc;
    json_error_t err;
    const char *rev;
    long port = etcd_port(rt);
    int rc = NXC_ERROR;

    if (!port)
        return NXC_ERROR;
    /* any range request tells the current revision */
    snprintf(url, sizeof(url), "http://127.0.0.1:%ld/v3/kv/range", port);
    if (http_post(url, "{\"key\":\"Lw==\"}", &resp) != 200)
        return NXC_ERROR;
    doc = json_loads(resp.ptr, 0, &err);
    nxc_buf_free(&resp);
    rev = json_string_value(json_object_get(json_object_get(doc, "header"), "revision"));
    if (rev) {
        snprintf(url, sizeof(url), "http://127.0.0.1:%ld/v3/kv/compaction", port);
        snprintf(body, sizeof(body), "{\"revision\":\"%s\",\"physical\":true}", rev);
        if (http_post(url, body, &resp) == 200)
            rc = 0;
        nxc_buf_free(&resp);
    }
    json_decref(doc);
    return rc;
}

int nxc_test_runtime_wipe(nxc_test_runtime *rt, const char *crd_dir)
{
    char *log = pathf(rt->dir, "start-runtime.log"), *etcd = pathf(rt->dir, "etcd");
    const char *argv[] = {SCRIPT, "start", rt->dir, "--crds", crd_dir, NULL};
    int rc;

    rc = script(rt, "stop");
    if (!rc)
        rc = nxc_test_rmtree(etcd);
    if (!rc)
        rc = run_script(argv, log);
    if (rc)
        fprintf(stderr, "runtime did not come back after the wipe; see %s\n", log);
    free(log);
    free(etcd);
    return rc;
}

void nxc_test_runtime_stop(nxc_test_runtime *rt)
{
    if (!rt)
        return;
    if (rt->dir)
        script(rt, "stop");
    nxc_kube_free(rt->admin);
    nxc_kube_config_free(rt->cfg);
    free(rt->agent_kubeconfig);
    free(rt->dir);
    free(rt);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

char *nxc_test_types_yaml(const char *crd_dir)
{
    struct dirent **ents = NULL;
    nxc_buf b;
    int n = scandir(crd_dir, &ents, NULL, by_name);

    nxc_buf_init(&b, 1u << 20);
    for (int i = 0; i < n; i++) {
        const char *name = ents[i]->d_name;
        size_t len = strlen(name);
        json_t *doc = NULL;
        char *path;

        if (len > 5 && strcmp(name + len - 5, ".yaml") == 0) {
            path = pathf(crd_dir, name);
            if (path && nxc_yaml_load_file(path, &doc) == 0) {
                json_t *spec = json_object_get(doc, "spec");
                const char *group = json_string_value(json_object_get(spec, "group"));
                const char *plural =
                    json_string_value(json_object_get(json_object_get(spec, "names"), "plural"));
                const char *ver = json_string_value(
                    json_object_get(json_array_get(json_object_get(spec, "versions"), 0), "name"));

                if (group && plural && ver)
                    nxc_buf_addf(&b, "  - {group: %s, version: %s, resource: %s}\n", group, ver,
                                 plural);
            }
            json_decref(doc);
            free(path);
        }
        free(ents[i]);
    }
    free(ents);
    return nxc_buf_steal(&b);
}

struct nxc_test_agent {
    char *dir;
    char *config;
    char *log;
    int port;
    nxc_test_proc *proc;
};

static int spawn(nxc_test_agent *a)
{
    const char *argv[] = {AGENT_BIN, "--config", a->config, NULL};
    int rc;

    rc = nxc_test_proc_spawn(argv, NULL, a->log, &a->proc);
    if (rc)
        return rc;
    rc = nxc_test_wait_port(a->port, 30000);
    if (rc)
        fprintf(stderr, "agent did not listen on %d; see %s\n", a->port, a->log);
    return rc;
}

int nxc_test_agent_start(const nxc_test_agent_opts *o, nxc_test_agent **out)
{
    nxc_test_agent *a = calloc(1, sizeof(*a));
    nxc_buf b, peers;
    int rc;

    *out = NULL;
    if (!a)
        return NXC_ENOMEM;
    a->dir = strdup(o->dir);
    a->config = pathf(o->dir, "agent.yaml");
    a->log = pathf(o->dir, "agent.log");
    a->port = nxc_test_free_port();
    nxc_buf_init(&b, 1u << 20);
    nxc_buf_init(&peers, 4096);
    for (const char *p = o->peer; *p;) {
        size_t n = strcspn(p, ",");

        nxc_buf_addf(&peers, "  - id: %.*s\n", (int)n, p);
        p += n + (p[n] == ',');
    }
    nxc_buf_addf(&b,
                 "runtime:\n  id: %s\n  kubeconfig: %s\n"
                 "nats:\n  urls: %s\n%s%s%s"
                 "peers:\n%s%s%s%s"
                 "store:\n  path: %s/store\n"
                 "http:\n  listen: 127.0.0.1:%d\n"
                 "log:\n  level: %s\n"
                 "%s%s",
                 o->id, o->kubeconfig, o->nats_url, o->nats_domain ? "  domain: " : "",
                 o->nats_domain ? o->nats_domain : "", o->nats_domain ? "\n" : "", peers.ptr,
                 o->peer_domain ? "    domain: " : "", o->peer_domain ? o->peer_domain : "",
                 o->peer_domain ? "\n" : "", o->dir, a->port,
                 getenv("NXC_TEST_DEBUG") ? "debug" : "info", o->types_yaml ? "replicate:\n" : "",
                 o->types_yaml ? o->types_yaml : "");
    nxc_buf_free(&peers);
    if (o->extra_yaml)
        nxc_buf_addf(&b, "%s", o->extra_yaml);
    rc = nxc_test_write_file(a->config, b.ptr, b.len);
    nxc_buf_free(&b);
    if (!rc)
        rc = spawn(a);
    if (rc) {
        nxc_test_agent_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

int nxc_test_agent_stop(nxc_test_agent *a)
{
    int status = -1, rc;

    if (!a->proc)
        return 0;
    rc = nxc_test_proc_stop(a->proc, 20000, &status);
    nxc_test_proc_free(a->proc);
    a->proc = NULL;
    if (rc)
        return rc;
    return (WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : NXC_ERROR;
}

int nxc_test_agent_kill9(nxc_test_agent *a)
{
    int rc = 0;

    if (a->proc) {
        rc = nxc_test_proc_kill9(a->proc);
        nxc_test_proc_free(a->proc);
        a->proc = NULL;
    }
    return rc;
}

int nxc_test_agent_restart(nxc_test_agent *a)
{
    if (a->proc)
        return NXC_ERROR;
    return spawn(a);
}

struct fetch {
    nxc_buf body;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ctx)
{
    struct fetch *f = ctx;

    return nxc_buf_add(&f->body, p, sz * n) == 0 ? sz * n : 0;
}

/* GET http://127.0.0.1:<port><path>; returns the HTTP status (0 when unreachable). */
static long http_get(int port, const char *path, nxc_buf *body)
{
    CURL *c = curl_easy_init();
    struct fetch f;
    char url[128];
    long status = 0;

    if (!c)
        return 0;
    nxc_buf_init(&f.body, 1u << 22);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (body)
        *body = f.body;
    else
        nxc_buf_free(&f.body);
    return status;
}

static long http_post(const char *url, const char *body, nxc_buf *out)
{
    CURL *c = curl_easy_init();
    struct fetch f;
    long status = 0;

    nxc_buf_init(&f.body, 1u << 22);
    if (!c) {
        *out = f.body;
        return 0;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &f);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    *out = f.body;
    return status;
}

int nxc_test_agent_ready(nxc_test_agent *a)
{
    return a->proc && http_get(a->port, "/readyz", NULL) == 200;
}

double nxc_test_agent_metric(nxc_test_agent *a, const char *name)
{
    nxc_buf body;
    double v = -1;
    size_t nlen = strlen(name);

    if (!a->proc || http_get(a->port, "/metrics", &body) != 200)
        return -1;
    for (char *line = body.ptr; line && *line;) {
        char *nl = strchr(line, '\n');

        if (strncmp(line, name, nlen) == 0 && line[nlen] == ' ')
            v = strtod(line + nlen + 1, NULL);
        line = nl ? nl + 1 : NULL;
    }
    nxc_buf_free(&body);
    return v;
}

long nxc_test_agent_rss_kib(const nxc_test_agent *a)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;

    if (!a->proc)
        return -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)nxc_test_proc_pid(a->proc));
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtol(line + 6, NULL, 10);
    fclose(f);
    return kib;
}

const char *nxc_test_agent_config(const nxc_test_agent *a)
{
    return a->config;
}

const char *nxc_test_agent_log(const nxc_test_agent *a)
{
    return a->log;
}

int nxc_test_agent_log_count(const nxc_test_agent *a, const char *needle)
{
    FILE *f = fopen(a->log, "r");
    char line[8192];
    int n = 0;

    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    fclose(f);
    return n;
}

void nxc_test_agent_free(nxc_test_agent *a)
{
    if (!a)
        return;
    if (a->proc)
        nxc_test_agent_stop(a);
    free(a->dir);
    free(a->config);
    free(a->log);
    free(a);
}

json_t *nxc_test_fixture(const char *rel)
{
    char *path = pathf(NXC_SOURCE_DIR "/tests/fixtures", rel);
    json_error_t err;
    json_t *v = path ? json_load_file(path, 0, &err) : NULL;

    if (!v)
        fprintf(stderr, "fixture %s: %s\n", rel, path ? err.text : "no memory");
    free(path);
    return v;
}
