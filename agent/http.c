/*
 * http: /healthz (the process is alive), /readyz (every type listed and watched, NATS
 * connected, the local API server answering), /metrics (Prometheus text). Served by libmicrohttpd
 * on its own thread; it only reads atomics, never the loop's state.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "buf.h"
#include "log.h"

struct http_server {
    struct MHD_Daemon *d;
    agent *a;
};

static int ready(agent *a, nxc_buf *why)
{
    int ok = 1;

    if (!atomic_load(&a->bus_up)) {
        nxc_buf_addf(why, "nats: disconnected\n");
        ok = 0;
    }
    if (!atomic_load(&a->runtime_up)) {
        nxc_buf_addf(why, "runtime: the API server does not answer\n");
        ok = 0;
    }
    for (size_t i = 0; i < atomic_load(&a->ntypes); i++) {
        /* a type this runtime does not serve, or that the agent may not list, is reported,
         * not waited for: it is retried on its own while everything else replicates */
        if (atomic_load(&a->types[i].missing)) {
            nxc_buf_addf(why, "%s.%s: not installed here\n", a->types[i].gvr.resource,
                         a->types[i].gvr.group);
            continue;
        }
        if (atomic_load(&a->types[i].forbidden)) {
            nxc_buf_addf(why, "%s.%s: forbidden (the agent may not list it)\n",
                         a->types[i].gvr.resource, a->types[i].gvr.group);
            continue;
        }
        if (atomic_load(&a->types[i].unreadable)) {
            /* one object the agent cannot read holds up every change of its type */
            nxc_buf_addf(why, "%s.%s: the runtime sends what the agent cannot read (see the log)\n",
                         a->types[i].gvr.resource, a->types[i].gvr.group);
            ok = 0;
            continue;
        }
        if (!atomic_load(&a->types[i].listed)) {
            nxc_buf_addf(why, "%s.%s: not listed yet\n", a->types[i].gvr.resource,
                         a->types[i].gvr.group);
            ok = 0;
        }
    }
    return ok;
}

static void metric(nxc_buf *b, const char *name, const char *type, const char *help,
                   unsigned long long v)
{
    nxc_buf_addf(b, "# HELP nxc_%s %s\n# TYPE nxc_%s %s\nnxc_%s %llu\n", name, help, name, type,
                 name, v);
}

static void metrics(agent *a, nxc_buf *b)
{
    agent_stats *s = &a->stats;

    metric(b, "local_changes_total", "counter", "Local changes recorded and queued for publish.",
           atomic_load(&s->local_changes));
    metric(b, "published_total", "counter", "Publishes acknowledged by JetStream.",
           atomic_load(&s->published));
    metric(b, "publish_failures_total", "counter", "Publishes failed or timed out (retried).",
           atomic_load(&s->publish_failures));
    metric(b, "applied_total", "counter", "Peer changes written to the local runtime.",
           atomic_load(&s->applied));
    metric(b, "skipped_stale_total", "counter", "Peer changes older than the local version.",
           atomic_load(&s->skipped_stale));
    metric(b, "echoes_total", "counter", "Watch events that carried no local change.",
           atomic_load(&s->echoes));
    metric(b, "conflicts_total", "counter", "Concurrent versions resolved.",
           atomic_load(&s->conflicts));
    metric(b, "apply_errors_total", "counter", "Peer changes the local runtime rejected.",
           atomic_load(&s->apply_errors));
    metric(b, "malformed_messages_total", "counter", "Peer messages that could not be decoded.",
           atomic_load(&s->malformed));
    metric(b, "released_total", "counter",
           "Objects no ReplicationConfig sends to a peer any more (released or retracted).",
           atomic_load(&s->released));
    metric(b, "runtime_writes_total", "counter", "Create, update and delete calls made.",
           atomic_load(&s->runtime_writes));
    metric(b, "relists_total", "counter", "Complete lists of a type.", atomic_load(&s->relists));
    metric(b, "outbox_pending", "gauge", "Local changes waiting for a JetStream ack.",
           atomic_load(&s->outbox));
    metric(b, "nats_reconnects_total", "counter", "NATS connections made.",
           atomic_load(&s->bus_reconnects));
    metric(b, "nats_connected", "gauge", "1 when connected to NATS.", atomic_load(&a->bus_up) != 0);
    metric(b, "runtime_up", "gauge", "1 while the local API server answers.",
           atomic_load(&a->runtime_up) != 0);
    nxc_buf_addf(b, "# HELP nxc_peer_reachable 1 when the peer's stream answered lately.\n"
                    "# TYPE nxc_peer_reachable gauge\n");
    for (size_t i = 0; i < a->npeers; i++)
        nxc_buf_addf(b, "nxc_peer_reachable{peer=\"%s\"} %d\n", a->peers[i].cfg->id,
                     atomic_load(&a->peers[i].reachable));
    nxc_buf_addf(b, "# HELP nxc_peer_lag_messages Peer messages not yet applied here.\n"
                    "# TYPE nxc_peer_lag_messages gauge\n");
    for (size_t i = 0; i < a->npeers; i++)
        nxc_buf_addf(b, "nxc_peer_lag_messages{peer=\"%s\"} %llu\n", a->peers[i].cfg->id,
                     atomic_load(&a->peers[i].pending));
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_len, void **con_cls)
{
    struct http_server *h = cls;
    struct MHD_Response *resp;
    unsigned status = MHD_HTTP_OK;
    enum MHD_Result ret;
    nxc_buf b;

    (void)version;
    (void)upload;
    (void)upload_len;
    (void)con_cls;
    nxc_buf_init(&b, 1u << 20);
    if (strcmp(method, "GET") != 0) {
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
        nxc_buf_addf(&b, "method not allowed\n");
    } else if (strcmp(url, "/healthz") == 0) {
        nxc_buf_addf(&b, "ok\n");
    } else if (strcmp(url, "/readyz") == 0) {
        if (ready(h->a, &b))
            nxc_buf_addf(&b, "ok\n");
        else
            status = MHD_HTTP_SERVICE_UNAVAILABLE;
    } else if (strcmp(url, "/metrics") == 0) {
        metrics(h->a, &b);
    } else {
        status = MHD_HTTP_NOT_FOUND;
        nxc_buf_addf(&b, "not found\n");
    }
    resp =
        MHD_create_response_from_buffer(b.len, b.ptr ? b.ptr : (char *)"", MHD_RESPMEM_MUST_COPY);
    nxc_buf_free(&b);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4");
    ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

struct http_server *http_start(agent *a, const char *listen)
{
    struct http_server *h;
    struct sockaddr_in sa;
    char host[64];
    const char *colon = strrchr(listen, ':');
    long port;

    if (!colon || (size_t)(colon - listen) >= sizeof(host))
        return NULL;
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    port = strtol(colon + 1, NULL, 10);
    if (port < 0 || port > 65535)
        return NULL;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (!*host || strcmp(host, "0.0.0.0") == 0)
        sa.sin_addr.s_addr = htonl(INADDR_ANY);
    else if (strcmp(host, "localhost") == 0)
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return NULL;
    h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->a = a;
    h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL, NULL, answer, h,
                            MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return NULL;
    }
    {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);

        NXC_INFO("http", "event=listening addr=%s:%u paths=/healthz,/readyz,/metrics",
                 *host ? host : "0.0.0.0", info ? (unsigned)info->port : (unsigned)port);
    }
    return h;
}

void http_stop(struct http_server *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    free(h);
}
