/*
 * relay: toxiproxy-server driven over its HTTP API (v2: POST /proxies, POST /proxies/{name}
 * {"enabled":...}, POST /proxies/{name}/toxics, DELETE /proxies/{name}/toxics/{toxic}).
 * Proxies listen on port 0 and the port toxiproxy bound is read back from its reply, so two
 * tests never race for a relay port; toxiproxy keeps that port when a proxy is re-enabled.
 * The toxics the relay adds have fixed names, so each fault can be undone alone.
 */
#include "relay.h"

#include "buf.h"
#include "err.h"
#include "proc.h"

#include <curl/curl.h>
#include <jansson.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define START_DEADLINE_MS 10000
#define START_TRIES 3
#define STOP_GRACE_MS 3000
#define API_TIMEOUT_MS 10000
#define REPLY_MAX (1024 * 1024)
#define NAME_MAX_LEN 64

#define BLACKHOLE_UP "nxc_blackhole_up"
#define BLACKHOLE_DOWN "nxc_blackhole_down"
#define DELAY_UP "nxc_delay_up"
#define DELAY_DOWN "nxc_delay_down"

struct nxc_test_relay {
    nxc_test_proc *proc; /* the toxiproxy-server; NULL once stopped */
    CURL *curl;          /* one handle for every API call, so the connection is reused */
    nxc_buf reply;       /* body of the last API reply */
    int api_port;        /* toxiproxy's HTTP API on 127.0.0.1 */
    char *dir;           /* temporary directory holding the log */
    char bin[PATH_MAX];  /* the binary started */
    char log[PATH_MAX];  /* toxiproxy's stdout and stderr */
};

static int fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int code, const char *fmt, ...)
{
    va_list ap;

    fputs("relay: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static void print_log_tail(const nxc_test_relay *r)
{
    FILE *f = fopen(r->log, "r");
    char line[512];
    long size;

    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > 4096 ? size - 4096 : 0, SEEK_SET);
    fprintf(stderr, "--- %s (tail) ---\n", r->log);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

static int valid_name(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;

    if (n == 0 || n > NAME_MAX_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* $NXC_TOXIPROXY, else the build cache, else PATH (exec reports a missing binary as exit 127,
 * which start turns into a message naming the build script). */
static void find_binary(char *out, size_t cap)
{
    const char *env = getenv("NXC_TOXIPROXY");
    const char *cache = getenv("NXC_CACHE");
    const char *home = getenv("HOME");
    char path[PATH_MAX];
    int n = -1;

    if (env != NULL && env[0] != '\0') {
        snprintf(out, cap, "%s", env);
        return;
    }
    if (cache != NULL && cache[0] != '\0')
        n = snprintf(path, sizeof(path), "%s/bin/toxiproxy-server", cache);
    else if (home != NULL && home[0] != '\0')
        n = snprintf(path, sizeof(path), "%s/.cache/nexus-connector/bin/toxiproxy-server", home);
    if (n > 0 && (size_t)n < sizeof(path) && access(path, X_OK) == 0) {
        snprintf(out, cap, "%s", path);
        return;
    }
    snprintf(out, cap, "toxiproxy-server");
}

/* --- HTTP ------------------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    nxc_buf *b = ctx;

    if (nxc_buf_add(b, data, size * n) != NXC_OK)
        return 0;
    return size * n;
}

/* One API call: NXC_OK with the HTTP status in *status (the body is in r->reply), or a
 * negative code when toxiproxy could not be reached at all. body may be NULL. */
static int api_call(nxc_test_relay *r, const char *method, const char *path, json_t *body,
                    long *status, int quiet)
{
    struct curl_slist *hdrs = NULL;
    char url[512];
    char *text = NULL;
    CURLcode cc;
    int rc = NXC_OK;

    *status = 0;
    nxc_buf_reset(&r->reply);
    if (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", r->api_port, path) >= (int)sizeof(url))
        return fail(NXC_ELIMIT, "%s %s: path too long", method, path);
    /* Reset drops the previous call's method and body but keeps the open connection. */
    curl_easy_reset(r->curl);
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    /* Never through an http_proxy from the environment: the API is on loopback. */
    curl_easy_setopt(r->curl, CURLOPT_PROXY, "");
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, (long)API_TIMEOUT_MS);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &r->reply);
    if (body != NULL) {
        text = json_dumps(body, JSON_COMPACT);
        if (text == NULL)
            return fail(NXC_ENOMEM, "%s %s: cannot encode the request", method, path);
        hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        if (hdrs == NULL) {
            rc = NXC_ENOMEM;
            goto out;
        }
        curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, text);
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
        curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
    else if (strcmp(method, "POST") == 0 && body == NULL)
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, "");
    cc = curl_easy_perform(r->curl);
    if (cc != CURLE_OK) {
        rc = NXC_EUNAVAIL;
        if (!quiet)
            fail(rc, "%s %s: %s", method, url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, status);
out:
    curl_slist_free_all(hdrs);
    free(text);
    return rc;
}

/* toxiproxy's own error text ({"error": "...", "status": N}), or "" when there is none. */
static const char *reply_error(nxc_test_relay *r, char *out, size_t cap)
{
    json_t *j = r->reply.ptr != NULL ? json_loads(r->reply.ptr, 0, NULL) : NULL;
    const char *e = j != NULL ? json_string_value(json_object_get(j, "error")) : NULL;

    snprintf(out, cap, "%s", e != NULL ? e : "");
    json_decref(j);
    return out;
}

static int status_code(long status)
{
    switch (status) {
    case 404: return NXC_ENOTFOUND;
    case 409: return NXC_EEXISTS;
    case 400: return NXC_EINVALID;
    default: return NXC_ERROR;
    }
}

/* Turns an unexpected HTTP status into its code, with the line on stderr. */
static int api_fail(nxc_test_relay *r, const char *name, const char *what, long status)
{
    char err[256];

    return fail(status_code(status), "proxy %s: %s: HTTP %ld: %s", name, what, status,
                reply_error(r, err, sizeof(err)));
}

/* The port of a "host:port" listen address in a proxy object. */
static int listen_port_of(json_t *proxy)
{
    const char *listen = json_string_value(json_object_get(proxy, "listen"));
    const char *colon = listen != NULL ? strrchr(listen, ':') : NULL;
    char *end = NULL;
    long port;

    if (colon == NULL)
        return NXC_ERROR;
    port = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || port <= 0 || port > 65535)
        return NXC_ERROR;
    return (int)port;
}

/* --- server ----------------------------------------------------------------------------- */

struct up_check {
    nxc_test_relay *r;
    int died;
};

static int api_up(void *ctx)
{
    struct up_check *u = ctx;
    long status = 0;

    if (!nxc_test_proc_alive(u->r->proc)) {
        u->died = 1;
        return 1;
    }
    if (nxc_test_wait_port(u->r->api_port, 0) != NXC_OK)
        return 0;
    return api_call(u->r, "GET", "/version", NULL, &status, 1) == NXC_OK && status == 200;
}

/* One attempt on a fresh free port: another process may take the port between
 * nxc_test_free_port and toxiproxy's bind, and then toxiproxy exits. */
static int launch(nxc_test_relay *r)
{
    char port[16];
    const char *argv[] = {r->bin, "-host", "127.0.0.1", "-port", port, NULL};
    struct up_check u = {r, 0};
    int rc;

    r->api_port = nxc_test_free_port();
    if (r->api_port <= 0)
        return NXC_ERROR;
    snprintf(port, sizeof(port), "%d", r->api_port);
    rc = nxc_test_proc_spawn(argv, NULL, r->log, &r->proc);
    if (rc != NXC_OK)
        return rc;
    rc = nxc_test_poll(START_DEADLINE_MS, api_up, &u);
    if (rc == NXC_OK && !u.died)
        return NXC_OK;
    nxc_test_proc_free(r->proc);
    r->proc = NULL;
    return NXC_EUNAVAIL;
}

int nxc_test_relay_start(nxc_test_relay **out)
{
    nxc_test_relay *r;
    int rc = NXC_OK;

    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NXC_ENOMEM;
    nxc_buf_init(&r->reply, REPLY_MAX);
    r->curl = curl_easy_init();
    if (r->curl == NULL) {
        rc = fail(NXC_ENOMEM, "curl_easy_init failed");
        goto fail;
    }
    rc = nxc_test_tmpdir("nxc-relay", &r->dir);
    if (rc != NXC_OK)
        goto fail;
    snprintf(r->log, sizeof(r->log), "%s/toxiproxy.log", r->dir);
    find_binary(r->bin, sizeof(r->bin));
    for (int i = 0; i < START_TRIES; i++) {
        rc = launch(r);
        if (rc == NXC_OK)
            break;
    }
    if (rc != NXC_OK) {
        fail(rc,
             "%s did not come up (build it with tools/runtime/build-tools.sh toxiproxy, "
             "or set NXC_TOXIPROXY)",
             r->bin);
        print_log_tail(r);
        goto fail;
    }
    *out = r;
    return NXC_OK;
fail:
    nxc_test_relay_free(r);
    return rc;
}

int nxc_test_relay_stop(nxc_test_relay *r)
{
    if (r->proc == NULL)
        return NXC_OK;
    nxc_test_proc_stop(r->proc, STOP_GRACE_MS, NULL);
    nxc_test_proc_free(r->proc);
    r->proc = NULL;
    return NXC_OK;
}

void nxc_test_relay_free(nxc_test_relay *r)
{
    const char *keep = getenv("NXC_TEST_KEEP");

    if (r == NULL)
        return;
    nxc_test_relay_stop(r);
    if (r->dir != NULL) {
        if (keep != NULL && keep[0] != '\0')
            fprintf(stderr, "relay: keeping %s\n", r->dir);
        else
            nxc_test_rmtree(r->dir);
    }
    if (r->curl != NULL)
        curl_easy_cleanup(r->curl);
    nxc_buf_free(&r->reply);
    free(r->dir);
    free(r);
}

/* --- proxies ---------------------------------------------------------------------------- */

/* "host:port" for toxiproxy's upstream field. */
static int upstream_of(const char *name, const char *host, int port, char *out, size_t cap)
{
    if (host == NULL || host[0] == '\0' || port <= 0 || port > 65535 ||
        snprintf(out, cap, "%s:%d", host, port) >= (int)cap)
        return fail(NXC_EINVALID, "proxy %s: bad upstream", name);
    return NXC_OK;
}

static int check(nxc_test_relay *r, const char *name)
{
    if (!valid_name(name))
        return fail(NXC_EINVALID, "bad proxy name '%s'", name != NULL ? name : "(null)");
    if (r->proc == NULL)
        return fail(NXC_EUNAVAIL, "proxy %s: the relay is stopped", name);
    return NXC_OK;
}

int nxc_test_relay_add(nxc_test_relay *r, const char *name, const char *host, int port,
                       int *listen_port)
{
    char upstream[300];
    json_t *body = NULL;
    json_t *reply = NULL;
    long status;
    int rc;

    *listen_port = 0;
    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    rc = upstream_of(name, host, port, upstream, sizeof(upstream));
    if (rc != NXC_OK)
        return rc;
    body = json_pack("{s:s, s:s, s:s, s:b}", "name", name, "listen", "127.0.0.1:0", "upstream",
                     upstream, "enabled", 1);
    if (body == NULL)
        return NXC_ENOMEM;
    rc = api_call(r, "POST", "/proxies", body, &status, 0);
    if (rc != NXC_OK)
        goto out;
    if (status != 201) {
        rc = api_fail(r, name, "create", status);
        goto out;
    }
    reply = json_loads(r->reply.ptr != NULL ? r->reply.ptr : "", 0, NULL);
    rc = listen_port_of(reply);
    if (rc < 0) {
        fail(rc, "create proxy %s: no listen address in %s", name, r->reply.ptr);
        goto out;
    }
    *listen_port = rc;
    rc = NXC_OK;
out:
    json_decref(reply);
    json_decref(body);
    return rc;
}

int nxc_test_relay_port(nxc_test_relay *r, const char *name)
{
    char path[128];
    json_t *reply = NULL;
    long status;
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    snprintf(path, sizeof(path), "/proxies/%s", name);
    rc = api_call(r, "GET", path, NULL, &status, 0);
    if (rc != NXC_OK)
        return rc;
    if (status != 200)
        return api_fail(r, name, "show", status);
    reply = json_loads(r->reply.ptr != NULL ? r->reply.ptr : "", 0, NULL);
    rc = listen_port_of(reply);
    if (rc < 0)
        fail(rc, "proxy %s: no listen address in %s", name, r->reply.ptr);
    json_decref(reply);
    return rc;
}

/* POST /proxies/{name} with the fields to change (toxiproxy keeps the others); takes body. */
static int update_proxy(nxc_test_relay *r, const char *name, json_t *body, const char *what)
{
    char path[128];
    long status;
    int rc;

    if (body == NULL)
        return NXC_ENOMEM;
    snprintf(path, sizeof(path), "/proxies/%s", name);
    rc = api_call(r, "POST", path, body, &status, 0);
    json_decref(body);
    if (rc != NXC_OK)
        return rc;
    if (status != 200)
        return api_fail(r, name, what, status);
    return NXC_OK;
}

static int set_enabled(nxc_test_relay *r, const char *name, int enabled)
{
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    return update_proxy(r, name, json_pack("{s:b}", "enabled", enabled),
                        enabled ? "restore" : "cut");
}

int nxc_test_relay_retarget(nxc_test_relay *r, const char *name, const char *host, int port)
{
    char upstream[300];
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    rc = upstream_of(name, host, port, upstream, sizeof(upstream));
    if (rc != NXC_OK)
        return rc;
    return update_proxy(r, name, json_pack("{s:s}", "upstream", upstream), "retarget");
}

int nxc_test_relay_cut(nxc_test_relay *r, const char *name)
{
    return set_enabled(r, name, 0);
}

int nxc_test_relay_restore(nxc_test_relay *r, const char *name)
{
    return set_enabled(r, name, 1);
}

/* Adds toxic `toxic` (or, with replace, updates it when it exists). attrs is borrowed. */
static int add_toxic(nxc_test_relay *r, const char *name, const char *toxic, const char *type,
                     const char *stream, json_t *attrs, int replace)
{
    char path[256];
    json_t *body;
    long status;
    int rc;

    body = json_pack("{s:s, s:s, s:s, s:f, s:O}", "name", toxic, "type", type, "stream", stream,
                     "toxicity", 1.0, "attributes", attrs);
    if (body == NULL)
        return NXC_ENOMEM;
    snprintf(path, sizeof(path), "/proxies/%s/toxics", name);
    rc = api_call(r, "POST", path, body, &status, 0);
    if (rc == NXC_OK && status == 409 && replace) {
        /* Updating in place keeps the connections: removing and adding would not. */
        snprintf(path, sizeof(path), "/proxies/%s/toxics/%s", name, toxic);
        rc = api_call(r, "POST", path, body, &status, 0);
    }
    json_decref(body);
    if (rc != NXC_OK)
        return rc;
    if (status == 409)
        return NXC_OK; /* already there: the fault is in place */
    if (status != 200)
        return api_fail(r, name, toxic, status);
    return NXC_OK;
}

/* Removes toxic `toxic`; a toxic that is not there is fine, a proxy that is not is not. */
static int remove_toxic(nxc_test_relay *r, const char *name, const char *toxic)
{
    char path[256];
    char err[256];
    long status;
    int rc;

    snprintf(path, sizeof(path), "/proxies/%s/toxics/%s", name, toxic);
    rc = api_call(r, "DELETE", path, NULL, &status, 0);
    if (rc != NXC_OK)
        return rc;
    if (status == 204)
        return NXC_OK;
    if (status == 404 && strcmp(reply_error(r, err, sizeof(err)), "toxic not found") == 0)
        return NXC_OK;
    return api_fail(r, name, toxic, status);
}

int nxc_test_relay_blackhole(nxc_test_relay *r, const char *name)
{
    json_t *attrs;
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    /* timeout 0: hold the connection open forever and drop every byte. */
    attrs = json_pack("{s:i}", "timeout", 0);
    if (attrs == NULL)
        return NXC_ENOMEM;
    rc = add_toxic(r, name, BLACKHOLE_UP, "timeout", "upstream", attrs, 0);
    if (rc == NXC_OK)
        rc = add_toxic(r, name, BLACKHOLE_DOWN, "timeout", "downstream", attrs, 0);
    json_decref(attrs);
    return rc;
}

int nxc_test_relay_unblackhole(nxc_test_relay *r, const char *name)
{
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    rc = remove_toxic(r, name, BLACKHOLE_UP);
    if (rc == NXC_OK)
        rc = remove_toxic(r, name, BLACKHOLE_DOWN);
    return rc;
}

int nxc_test_relay_delay(nxc_test_relay *r, const char *name, long ms)
{
    json_t *attrs;
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    if (ms < 0 || ms > INT_MAX)
        return fail(NXC_EINVALID, "proxy %s: delay %ld ms out of range", name, ms);
    if (ms == 0) {
        rc = remove_toxic(r, name, DELAY_UP);
        if (rc == NXC_OK)
            rc = remove_toxic(r, name, DELAY_DOWN);
        return rc;
    }
    attrs = json_pack("{s:I, s:i}", "latency", (json_int_t)ms, "jitter", 0);
    if (attrs == NULL)
        return NXC_ENOMEM;
    rc = add_toxic(r, name, DELAY_UP, "latency", "upstream", attrs, 1);
    if (rc == NXC_OK)
        rc = add_toxic(r, name, DELAY_DOWN, "latency", "downstream", attrs, 1);
    json_decref(attrs);
    return rc;
}

int nxc_test_relay_clear(nxc_test_relay *r, const char *name)
{
    char path[128];
    json_t *list = NULL;
    size_t i;
    long status;
    int rc;

    rc = check(r, name);
    if (rc != NXC_OK)
        return rc;
    /* toxiproxy's /reset would clear every proxy of the relay and re-enable cut ones. */
    snprintf(path, sizeof(path), "/proxies/%s/toxics", name);
    rc = api_call(r, "GET", path, NULL, &status, 0);
    if (rc != NXC_OK)
        return rc;
    if (status != 200)
        return api_fail(r, name, "list toxics", status);
    list = json_loads(r->reply.ptr != NULL ? r->reply.ptr : "", 0, NULL);
    if (!json_is_array(list)) {
        rc = fail(NXC_ERROR, "list toxics of %s: not a JSON array: %s", name, r->reply.ptr);
        goto out;
    }
    for (i = 0; i < json_array_size(list); i++) {
        const char *toxic = json_string_value(json_object_get(json_array_get(list, i), "name"));

        if (!valid_name(toxic)) {
            rc = fail(NXC_ERROR, "proxy %s: toxic name '%s' cannot be removed here", name,
                      toxic != NULL ? toxic : "(null)");
            goto out;
        }
        rc = remove_toxic(r, name, toxic);
        if (rc != NXC_OK)
            goto out;
    }
out:
    json_decref(list);
    return rc;
}
