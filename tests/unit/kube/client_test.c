/*
 * The REST client against a scripted loopback server: headers and auth, status -> code
 * mapping with the server's message, limits, stop and time-outs, list pagination with an
 * expiring continue token, and watch streaming (bookmarks, 410s, ERROR events, idle).
 */
#include <criterion/criterion.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "fake.h"
#include "kube.h"

#define TOKEN "s3cret-token-value"

static const nxc_kube_gvr things = {"example.com", "v1", "things", 0};
static const nxc_kube_gvr pods = {"", "v1", "pods", 1};

struct fixture {
    char *dir;
    struct fake_server *srv;
    nxc_kube_config *cfg;
    nxc_kube *k;
};

static struct fixture fx;

/* Waits ms, returning early once the client has closed the connection. */
static void wait_or_closed(int fd, int ms)
{
    int waited;

    for (waited = 0; waited < ms; waited += 50) {
        struct pollfd p = {fd, POLLIN, 0};
        char c;

        if (poll(&p, 1, 50) > 0 && recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) <= 0)
            return;
    }
}

static void start(fake_handler h, void *ctx, const char *token)
{
    char *path;

    cr_assert_eq(nxc_kube_global_init(), 0);
    fx.dir = fake_mkdtemp();
    fx.srv = fake_start(h, ctx);
    path = fake_kubeconfig(fx.dir, fake_port(fx.srv), token);
    cr_assert_eq(nxc_kube_config_load(path, NULL, &fx.cfg), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_new(fx.cfg, &fx.k), 0, "%s", nxc_error_last());
    free(path);
}

static void finish(void)
{
    nxc_kube_free(fx.k);
    nxc_kube_config_free(fx.cfg);
    if (fx.srv)
        fake_stop(fx.srv);
    if (fx.dir) {
        fake_rmdir(fx.dir);
        free(fx.dir);
    }
    memset(&fx, 0, sizeof(fx));
}

TestSuite(kube_client, .fini = finish, .timeout = 30);

/* ---- plain requests ---- */

static const char *status_json(int code, const char *reason, const char *msg)
{
    static char buf[512];

    snprintf(buf, sizeof(buf),
             "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
             "\"message\":\"%s\",\"reason\":\"%s\",\"code\":%d}",
             msg, reason, code);
    return buf;
}

static int rest(void *ctx, const struct fake_req *rq, int fd)
{
    const char *t = rq->target;

    (void)ctx;
    if (strcmp(rq->method, "GET") == 0 && strstr(t, "/things/a")) {
        fake_reply(fd, 200,
                   "{\"apiVersion\":\"example.com/v1\",\"kind\":\"Thing\","
                   "\"metadata\":{\"name\":\"a\",\"resourceVersion\":\"9007199254740993\"}}");
    } else if (strcmp(rq->method, "GET") == 0 && strstr(t, "/things/nul")) {
        fake_reply(fd, 200,
                   "{\"kind\":\"Thing\",\"metadata\":{\"name\":\"nul\"},\"spec\":{"
                   "\"note\":\"a\\u0000b\"}}");
    } else if (strstr(t, "/things/missing")) {
        fake_reply(fd, 404, status_json(404, "NotFound", "things \\\"missing\\\" not found"));
    } else if (strcmp(rq->method, "POST") == 0) {
        if (strstr(rq->body, "\"exists\""))
            fake_reply(fd, 409,
                       status_json(409, "AlreadyExists",
                                   "things \\\"exists\\\" already "
                                   "exists"));
        else
            fake_reply(fd, 201, rq->body);
    } else if (strcmp(rq->method, "PUT") == 0 && strstr(t, "/status")) {
        fake_reply(fd, 200, rq->body);
    } else if (strcmp(rq->method, "PUT") == 0) {
        fake_reply(fd, 409, status_json(409, "Conflict", "the object has been modified"));
    } else if (strcmp(rq->method, "DELETE") == 0) {
        fake_reply(fd, 200, "{\"kind\":\"Status\",\"status\":\"Success\"}");
    } else if (strstr(t, "/things/forbidden")) {
        fake_reply(fd, 403, status_json(403, "Forbidden", "no access for " TOKEN "-free user"));
    } else if (strstr(t, "/things/invalid")) {
        fake_reply(fd, 422, status_json(422, "Invalid", "spec.x: Invalid value"));
    } else if (strstr(t, "/things/broken")) {
        fake_reply(fd, 502, "<html>\n<body>bad gateway</body></html>");
    } else if (strstr(t, "/things/notjson")) {
        fake_reply(fd, 200, "{nope");
    } else if (strstr(t, "/things/slow")) {
        wait_or_closed(fd, 5000);
        return 1;
    } else if (strstr(t, "/things/huge")) {
        static char zeros[1 << 16];
        char head[128];
        size_t sent;

        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                 (size_t)NXC_KUBE_MAX_RESPONSE + 1);
        fake_write(fd, head, strlen(head));
        for (sent = 0; sent <= NXC_KUBE_MAX_RESPONSE; sent += sizeof(zeros)) {
            if (fake_write(fd, zeros, sizeof(zeros)) < 0)
                break;
        }
        return 1;
    } else {
        fake_reply(fd, 404, "");
    }
    return 0;
}

Test(kube_client, get_sends_token_and_reuses_connection)
{
    json_t *obj = NULL;
    int i;

    start(rest, NULL, TOKEN);
    for (i = 0; i < 3; i++) {
        cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &obj), 0, "%s", nxc_error_last());
        cr_assert_str_eq(
            json_string_value(json_object_get(json_object_get(obj, "metadata"), "name")), "a");
        json_decref(obj);
    }
    cr_assert_str_eq(fake_req(fx.srv, 0)->auth, "Bearer " TOKEN);
    cr_assert_str_eq(fake_req(fx.srv, 0)->target, "/apis/example.com/v1/things/a");
    cr_assert_eq(fake_nconns(fx.srv), 1, "keep-alive: one connection for all requests");
}

Test(kube_client, a_nul_inside_a_string_is_kept)
{
    json_t *obj = NULL, *note;

    start(rest, NULL, TOKEN);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "nul", &obj), 0, "%s", nxc_error_last());
    note = json_object_get(json_object_get(obj, "spec"), "note");
    cr_assert_eq(json_string_length(note), 3, "the string was cut at its NUL");
    cr_assert_eq(memcmp(json_string_value(note), "a\0b", 3), 0);
    json_decref(obj);
}

Test(kube_client, no_token_no_authorization)
{
    json_t *obj = NULL;

    start(rest, NULL, NULL);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &obj), 0, "%s", nxc_error_last());
    json_decref(obj);
    cr_assert_str_eq(fake_req(fx.srv, 0)->auth, "");
}

Test(kube_client, status_codes_keep_the_message)
{
    json_t *obj = json_pack("{s:{s:s}}", "metadata", "name", "exists");
    json_t *out = NULL;

    start(rest, NULL, TOKEN);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "missing", &out), NXC_ENOTFOUND);
    cr_assert(strstr(nxc_error_last(), "404 Not Found: things \"missing\" not found"), "%s",
              nxc_error_last());
    cr_assert_null(out);
    cr_assert_eq(nxc_kube_create(fx.k, &things, NULL, obj, &out), NXC_EEXISTS);
    cr_assert(strstr(nxc_error_last(), "already exists"), "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_update(fx.k, &things, NULL, obj, &out), NXC_ECONFLICT);
    cr_assert(strstr(nxc_error_last(), "409 Conflict: the object has been modified"), "%s",
              nxc_error_last());
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "forbidden", &out), NXC_EFORBIDDEN);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "invalid", &out), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "spec.x: Invalid value"), "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "broken", &out), NXC_EUNAVAIL);
    cr_assert(strstr(nxc_error_last(), "502 Bad Gateway: <html> <body>bad gateway"), "%s",
              nxc_error_last());
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "notjson", &out), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "not JSON"), "%s", nxc_error_last());
    json_decref(obj);
}

Test(kube_client, create_update_status_delete_requests)
{
    json_t *obj =
        json_pack("{s:s, s:{s:s, s:s}, s:{s:I}}", "kind", "Thing", "metadata", "name", "b",
                  "resourceVersion", "7", "status", "big", (json_int_t)9007199254740993LL);
    json_t *out = NULL, *body;

    start(rest, NULL, TOKEN);
    cr_assert_eq(nxc_kube_create(fx.k, &things, NULL, obj, &out), 0, "%s", nxc_error_last());
    cr_assert(json_equal(out, obj), "created object echoed back");
    json_decref(out);
    cr_assert_eq(nxc_kube_update_status(fx.k, &things, NULL, obj, &out), 0, "%s", nxc_error_last());
    json_decref(out);
    cr_assert_eq(nxc_kube_delete(fx.k, &things, NULL, "b", "uid-123"), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_delete(fx.k, &things, NULL, "b", NULL), 0, "%s", nxc_error_last());

    cr_assert_str_eq(fake_req(fx.srv, 0)->method, "POST");
    cr_assert_str_eq(fake_req(fx.srv, 0)->target, "/apis/example.com/v1/things");
    cr_assert_str_eq(fake_req(fx.srv, 0)->content_type, "application/json");
    cr_assert_str_eq(fake_req(fx.srv, 1)->method, "PUT");
    cr_assert_str_eq(fake_req(fx.srv, 1)->target, "/apis/example.com/v1/things/b/status");
    /* Integers beyond 2^53 stay exact on the wire. */
    cr_assert(strstr(fake_req(fx.srv, 1)->body, "9007199254740993"));
    cr_assert_str_eq(fake_req(fx.srv, 2)->method, "DELETE");
    cr_assert_str_eq(fake_req(fx.srv, 2)->target, "/apis/example.com/v1/things/b");
    body = json_loads(fake_req(fx.srv, 2)->body, 0, NULL);
    cr_assert_str_eq(json_string_value(json_object_get(body, "kind")), "DeleteOptions");
    cr_assert_str_eq(
        json_string_value(json_object_get(json_object_get(body, "preconditions"), "uid")),
        "uid-123");
    json_decref(body);
    cr_assert_eq(fake_req(fx.srv, 3)->body_len, 0);
    json_decref(obj);
}

Test(kube_client, namespaced_create_takes_namespace_from_object)
{
    json_t *obj = json_pack("{s:{s:s, s:s}}", "metadata", "name", "p", "namespace", "ns1");
    json_t *bare = json_pack("{s:{s:s}}", "metadata", "name", "p");

    start(rest, NULL, TOKEN);
    cr_assert_eq(nxc_kube_create(fx.k, &pods, NULL, obj, NULL), 0, "%s", nxc_error_last());
    cr_assert_str_eq(fake_req(fx.srv, 0)->target, "/api/v1/namespaces/ns1/pods");
    cr_assert_eq(nxc_kube_create(fx.k, &pods, NULL, bare, NULL), NXC_EINVALID);
    cr_assert_eq(fake_nreqs(fx.srv), 1);
    json_decref(obj);
    json_decref(bare);
}

Test(kube_client, token_never_in_error_messages)
{
    json_t *out = NULL;

    start(rest, NULL, TOKEN);
    /* What the client adds to the server's message (method, path, status) has no token. */
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "missing", &out), NXC_ENOTFOUND);
    cr_assert_null(strstr(nxc_error_last(), TOKEN));
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "broken", &out), NXC_EUNAVAIL);
    cr_assert_null(strstr(nxc_error_last(), TOKEN));
}

Test(kube_client, token_file_is_read)
{
    char *tok, *path, *text = NULL;
    json_t *obj = NULL;

    cr_assert_eq(nxc_kube_global_init(), 0);
    fx.dir = fake_mkdtemp();
    fx.srv = fake_start(rest, NULL);
    tok = fake_file(fx.dir, "token", "file-token\n");
    cr_assert(asprintf(&text,
                       "current-context: x\n"
                       "clusters: [{name: c, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
                       "contexts: [{name: x, context: {cluster: c, user: u}}]\n"
                       "users: [{name: u, user: {tokenFile: token}}]\n",
                       fake_port(fx.srv)) > 0);
    path = fake_file(fx.dir, "kc", text);
    cr_assert_eq(nxc_kube_config_load(path, NULL, &fx.cfg), 0, "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_new(fx.cfg, &fx.k), 0);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &obj), 0, "%s", nxc_error_last());
    cr_assert_str_eq(fake_req(fx.srv, 0)->auth, "Bearer file-token");
    json_decref(obj);
    free(tok);
    free(path);
    free(text);
}

Test(kube_client, connection_refused_is_unavailable)
{
    json_t *out = NULL;
    int port;

    start(rest, NULL, TOKEN);
    port = fake_port(fx.srv);
    fake_stop(fx.srv);
    fx.srv = NULL;
    (void)port;
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &out), NXC_EUNAVAIL);
    cr_assert(strstr(nxc_error_last(), "GET /apis/example.com/v1/things/a"), "%s",
              nxc_error_last());
}

Test(kube_client, health_flag_follows_the_answers)
{
    atomic_int up = 0;
    json_t *out = NULL;

    start(rest, NULL, TOKEN);
    nxc_kube_set_health(fx.k, &up);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &out), 0, "%s", nxc_error_last());
    json_decref(out);
    cr_assert_eq(atomic_load(&up), 1);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "broken", &out), NXC_EUNAVAIL);
    cr_assert_eq(atomic_load(&up), 0, "a 502 is no answer");
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "missing", &out), NXC_ENOTFOUND);
    cr_assert_eq(atomic_load(&up), 1, "a 404 is an answer");
    fake_stop(fx.srv);
    fx.srv = NULL;
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &out), NXC_EUNAVAIL);
    cr_assert_eq(atomic_load(&up), 0, "connection refused");
}

Test(kube_client, response_over_the_limit)
{
    json_t *out = NULL;

    start(rest, NULL, TOKEN);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "huge", &out), NXC_ELIMIT);
    cr_assert_null(out);
    /* The client is still usable. */
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &out), 0, "%s", nxc_error_last());
    json_decref(out);
}

Test(kube_client, request_timeout)
{
    json_t *out = NULL;
    long long t0 = time(NULL);

    start(rest, NULL, TOKEN);
    nxc_kube_set_timeout(fx.k, 300);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "slow", &out), NXC_EUNAVAIL);
    cr_assert(time(NULL) - t0 < 4);
}

static volatile int stop_flag;

static void *raise_stop(void *p)
{
    (void)p;
    usleep(200 * 1000);
    stop_flag = 1;
    return NULL;
}

Test(kube_client, stop_flag_interrupts_request)
{
    json_t *out = NULL;
    pthread_t t;
    struct timespec a, b;

    start(rest, NULL, TOKEN);
    stop_flag = 0;
    nxc_kube_set_stop(fx.k, &stop_flag);
    pthread_create(&t, NULL, raise_stop, NULL);
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "slow", &out), NXC_ESTOPPED);
    clock_gettime(CLOCK_MONOTONIC, &b);
    pthread_join(t, NULL);
    cr_assert(b.tv_sec - a.tv_sec < 3, "stopped within about a second");
    /* Once stopped, calls return at once. */
    cr_assert_eq(nxc_kube_get(fx.k, &things, NULL, "a", &out), NXC_ESTOPPED);
}

/* ---- list ---- */

struct lister {
    int total;       /* items on the server */
    int expire_once; /* answer the first continue request with 410 */
    int expired;
};

static int list_handler(void *ctx, const struct fake_req *rq, int fd)
{
    struct lister *l = ctx;
    const char *c = strstr(rq->target, "continue=c");
    int from = c ? atoi(c + 10) : 0, limit = atoi(strstr(rq->target, "limit=") + 6), i;
    char *body = malloc(1 << 20);
    size_t off = 0;

    if (c && l->expire_once && !l->expired) {
        l->expired = 1;
        fake_reply(fd, 410,
                   status_json(410, "Expired",
                               "The provided continue parameter is "
                               "too old"));
        free(body);
        return 0;
    }
    off += (size_t)snprintf(body + off, 1 << 20,
                            "{\"kind\":\"ThingList\",\"apiVersion\":"
                            "\"example.com/v1\",\"metadata\":{\"resourceVersion\":\"77\"");
    if (from + limit < l->total)
        off += (size_t)snprintf(body + off, (1 << 20) - off, ",\"continue\":\"c%d\"", from + limit);
    off += (size_t)snprintf(body + off, (1 << 20) - off, "},\"items\":[");
    for (i = from; i < from + limit && i < l->total; i++)
        off += (size_t)snprintf(body + off, (1 << 20) - off, "%s{\"metadata\":{\"name\":\"t%d\"}}",
                                i == from ? "" : ",", i);
    snprintf(body + off, (1 << 20) - off, "]}");
    fake_reply(fd, 200, body);
    free(body);
    return 0;
}

struct collected {
    int n;
    int restarts;
    int stop_at;
    int kinds_ok;
};

static int on_item(void *ctx, json_t *item)
{
    struct collected *c = ctx;
    const char *kind = json_string_value(json_object_get(item, "kind"));
    const char *api = json_string_value(json_object_get(item, "apiVersion"));

    c->n++;
    if (kind && strcmp(kind, "Thing") == 0 && api && strcmp(api, "example.com/v1") == 0)
        c->kinds_ok++;
    return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

static void on_restart(void *ctx)
{
    struct collected *c = ctx;

    c->restarts++;
    c->n = 0;
}

Test(kube_client, list_paginates)
{
    struct lister l = {.total = 1234};
    struct collected c = {0};
    char *rv = NULL;

    start(list_handler, &l, TOKEN);
    cr_assert_eq(nxc_kube_list(fx.k, &things, "app=x,tier in (a,b)", on_item, on_restart, &c, &rv),
                 0, "%s", nxc_error_last());
    cr_assert_eq(c.n, 1234);
    cr_assert_eq(c.kinds_ok, 1234, "items get the list's kind and apiVersion");
    cr_assert_eq(c.restarts, 0);
    cr_assert_str_eq(rv, "77");
    cr_assert_eq(fake_nreqs(fx.srv), 3);
    cr_assert_str_eq(fake_req(fx.srv, 0)->target,
                     "/apis/example.com/v1/things?limit=500"
                     "&labelSelector=app%3Dx%2Ctier%20in%20%28a%2Cb%29");
    cr_assert(strstr(fake_req(fx.srv, 1)->target, "&continue=c500&"));
    free(rv);
}

Test(kube_client, list_restarts_when_continue_expires)
{
    struct lister l = {.total = 1100, .expire_once = 1};
    struct collected c = {0};
    char *rv = NULL;

    start(list_handler, &l, TOKEN);
    cr_assert_eq(nxc_kube_list(fx.k, &things, NULL, on_item, on_restart, &c, &rv), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(c.restarts, 1);
    cr_assert_eq(c.n, 1100, "after the restart every item comes again");
    cr_assert_eq(fake_nreqs(fx.srv), 5);
    cr_assert_null(strstr(fake_req(fx.srv, 2)->target, "continue="), "restart from the top");
    free(rv);
}

Test(kube_client, list_callback_stops)
{
    struct lister l = {.total = 1100};
    struct collected c = {.stop_at = 600};
    char *rv = NULL;

    start(list_handler, &l, TOKEN);
    cr_assert_eq(nxc_kube_list(fx.k, &things, NULL, on_item, NULL, &c, &rv), 42);
    cr_assert_eq(c.n, 600);
    cr_assert_null(rv);
}

/* ---- watch ---- */

enum mode { EVENTS, GONE_EVENT, GONE_HTTP, ERROR_EVENT, IDLE, BAD_LINE, SILENT };

static void send_str(int fd, const char *s)
{
    fake_stream_chunk(fd, s, strlen(s));
}

static int watch_handler(void *ctx, const struct fake_req *rq, int fd)
{
    enum mode m = *(enum mode *)ctx;
    static const char ev[] = "{\"type\":\"MODIFIED\",\"object\":{\"kind\":\"Thing\",\"metadata\":"
                             "{\"name\":\"m\",\"resourceVersion\":\"13\"}}}\n";
    size_t i;

    (void)rq;
    if (m == GONE_HTTP) {
        fake_reply(fd, 410, status_json(410, "Expired", "too old resource version: 1 (5)"));
        return 0;
    }
    fake_stream_begin(fd, 200);
    switch (m) {
    case EVENTS:
        send_str(fd, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\","
                     "\"resourceVersion\":\"10\"}}}\n{\"type\":\"BOOKMARK\",\"object\":"
                     "{\"metadata\":{\"resourceVersion\":\"12\"}}}\n");
        /* One event dribbled out in 3-byte chunks. */
        for (i = 0; i < sizeof(ev) - 1; i += 3)
            fake_stream_chunk(fd, ev + i, sizeof(ev) - 1 - i < 3 ? sizeof(ev) - 1 - i : 3);
        send_str(fd, "{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"a\","
                     "\"resourceVersion\":\"14\"}}}\r\n");
        break;
    case GONE_EVENT:
        send_str(fd, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"status\":"
                     "\"Failure\",\"message\":\"too old resource version: 5 (90)\","
                     "\"reason\":\"Expired\",\"code\":410}}\n");
        wait_or_closed(fd, 3000);
        return 1;
    case ERROR_EVENT:
        send_str(fd, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"message\":"
                     "\"internal boom\",\"code\":500}}\n");
        wait_or_closed(fd, 3000);
        return 1;
    case IDLE:
        send_str(fd, "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":"
                     "{\"resourceVersion\":\"20\"}}}\n");
        wait_or_closed(fd, 5000);
        return 1;
    case SILENT: /* the status line, then nothing */ wait_or_closed(fd, 5000); return 1;
    case BAD_LINE:
        send_str(fd, "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"3\"}}"
                     "}\nnot json at all\n");
        wait_or_closed(fd, 3000);
        return 1;
    default: break;
    }
    fake_stream_end(fd);
    return 0;
}

struct events {
    int n;
    int types[16];
    char names[16][16];
    int fail_at;
};

static int on_watch(void *ctx, enum nxc_kube_event type, json_t *obj)
{
    struct events *e = ctx;
    const char *name = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));

    if (e->fail_at && e->n + 1 == e->fail_at)
        return nxc_error_set(7, "callback failed");
    e->types[e->n] = type;
    snprintf(e->names[e->n], sizeof(e->names[0]), "%s", name ? name : "");
    e->n++;
    return 0;
}

Test(kube_client, watch_events_bookmarks_and_resume_point)
{
    enum mode m = EVENTS;
    struct events e = {0};
    char *rv = strdup("5");

    start(watch_handler, &m, TOKEN);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, "app=x y", &rv, 5000, on_watch, &e), 0, "%s",
                 nxc_error_last());
    cr_assert_eq(e.n, 3, "the bookmark is not passed on");
    cr_assert_eq(e.types[0], NXC_KUBE_ADDED);
    cr_assert_eq(e.types[1], NXC_KUBE_MODIFIED);
    cr_assert_str_eq(e.names[1], "m");
    cr_assert_eq(e.types[2], NXC_KUBE_DELETED);
    cr_assert_str_eq(rv, "14");
    cr_assert(strstr(fake_req(fx.srv, 0)->target, "/apis/example.com/v1/things?watch=1&"));
    cr_assert(strstr(fake_req(fx.srv, 0)->target, "allowWatchBookmarks=true"));
    cr_assert(strstr(fake_req(fx.srv, 0)->target, "resourceVersion=5"));
    cr_assert(strstr(fake_req(fx.srv, 0)->target, "timeoutSeconds="));
    cr_assert(strstr(fake_req(fx.srv, 0)->target, "labelSelector=app%3Dx%20y"));
    free(rv);
}

Test(kube_client, watch_callback_error_keeps_rv_before_it)
{
    enum mode m = EVENTS;
    struct events e = {.fail_at = 2};
    char *rv = strdup("5");

    start(watch_handler, &m, TOKEN);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 5000, on_watch, &e), 7);
    /* The ADDED (10) and the bookmark (12) were taken; the refused MODIFIED was not. */
    cr_assert_str_eq(rv, "12");
    free(rv);
}

Test(kube_client, watch_410_event_is_gone)
{
    enum mode m = GONE_EVENT;
    struct events e = {0};
    char *rv = strdup("5");

    start(watch_handler, &m, TOKEN);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 5000, on_watch, &e), NXC_EGONE);
    cr_assert(strstr(nxc_error_last(), "too old resource version"), "%s", nxc_error_last());
    cr_assert_str_eq(rv, "5");
    free(rv);
}

Test(kube_client, watch_410_status_is_gone)
{
    enum mode m = GONE_HTTP;
    struct events e = {0};
    char *rv = strdup("1");

    start(watch_handler, &m, TOKEN);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 5000, on_watch, &e), NXC_EGONE);
    cr_assert(strstr(nxc_error_last(), "410 Gone"), "%s", nxc_error_last());
    free(rv);
}

Test(kube_client, watch_error_event_keeps_message)
{
    enum mode m = ERROR_EVENT;
    struct events e = {0};
    char *rv = NULL;

    start(watch_handler, &m, TOKEN);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 5000, on_watch, &e), NXC_EUNAVAIL);
    cr_assert(strstr(nxc_error_last(), "internal boom"), "%s", nxc_error_last());
    cr_assert_null(strstr(fake_req(fx.srv, 0)->target, "resourceVersion="),
                   "no rv: watch from now");
}

Test(kube_client, watch_idle_is_again)
{
    enum mode m = IDLE;
    struct events e = {0};
    char *rv = strdup("5");
    struct timespec a, b;

    start(watch_handler, &m, TOKEN);
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 300, on_watch, &e), NXC_EAGAIN);
    clock_gettime(CLOCK_MONOTONIC, &b);
    cr_assert(b.tv_sec - a.tv_sec < 3);
    cr_assert_str_eq(rv, "20", "the bookmark before the silence counts");
    free(rv);
}

Test(kube_client, a_watch_answers_with_its_status_line)
{
    enum mode m = SILENT;
    struct events e = {0};
    char *rv = strdup("5");
    atomic_int up = 0;

    start(watch_handler, &m, TOKEN);
    nxc_kube_set_health(fx.k, &up);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 1500, on_watch, &e), NXC_EAGAIN);
    cr_assert_eq(e.n, 0);
    cr_assert_eq(atomic_load(&up), 1, "the server answered before any event");
    free(rv);
}

Test(kube_client, watch_stop)
{
    enum mode m = IDLE;
    struct events e = {0};
    char *rv = NULL;
    pthread_t t;

    start(watch_handler, &m, TOKEN);
    stop_flag = 0;
    nxc_kube_set_stop(fx.k, &stop_flag);
    pthread_create(&t, NULL, raise_stop, NULL);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 0, on_watch, &e), NXC_ESTOPPED);
    pthread_join(t, NULL);
    free(rv);
}

Test(kube_client, watch_bad_line_is_invalid)
{
    enum mode m = BAD_LINE;
    struct events e = {0};
    char *rv = NULL;

    start(watch_handler, &m, TOKEN);
    cr_assert_eq(nxc_kube_watch(fx.k, &things, NULL, &rv, 5000, on_watch, &e), NXC_EINVALID);
    cr_assert_eq(e.n, 1);
    cr_assert_str_eq(rv, "3");
    free(rv);
}
