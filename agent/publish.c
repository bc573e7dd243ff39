/*
 * publish: the durable outbox. A local change is written to the LMDB outbox in the same
 * transaction as its record; after the commit it is published asynchronously, and only a
 * JetStream ack removes it from the outbox. Anything not acked — a failed publish, a time-out,
 * a publish lost with the connection, an agent crash — is found by the next sweep and sent
 * again; Nats-Msg-Id (derived from the change itself) lets JetStream drop the duplicates, and
 * the peer's version-vector check makes any that get through harmless.
 *
 * Outbox value layout: "<msg id>\0<subject>\0<msgpack event>".
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define SWEEP_INTERVAL_MS 2000
#define INFLIGHT_LOST_MS 30000 /* an ack this late will not come: send again */

/* Value of the in-flight map: which object the publish was for, and when it left. */
typedef struct inflight {
    int64_t at;
    char key[];
} inflight;
#define MAX_BATCH_PUBLISH 4096

/* Publishes queued by publish_event in the current batch, sent after its commit. */
typedef struct pending_pub {
    char *value; /* outbox value (owned) */
    size_t len;
    char *key; /* object key (owned) */
} pending_pub;

static pending_pub batch_pubs[MAX_BATCH_PUBLISH];
static size_t batch_n;

/* Subject of an object on its origin's stream, for one destination peer: dots inside tokens
 * become '_' (never part of a Kubernetes name, group or namespace, so the mapping is one to
 * one). */
static int subject_for(const nxc_event *ev, const char *dest, char *buf, size_t len)
{
    const char *parts[4] = {*ev->group ? ev->group : "core", ev->resource, *ev->ns ? ev->ns : "_",
                            ev->name};
    size_t o;
    int n;

    n = snprintf(buf, len, "nxc.%s.%s", ev->origin, dest);
    if (n < 0 || (size_t)n >= len)
        return NXC_ELIMIT;
    o = (size_t)n;
    for (int i = 0; i < 4; i++) {
        if (o + strlen(parts[i]) + 2 > len)
            return NXC_ELIMIT;
        buf[o++] = '.';
        for (const char *p = parts[i]; *p; p++)
            buf[o++] = (*p == '.' || *p == '*' || *p == '>' || *p == ' ') ? '_' : *p;
    }
    buf[o] = '\0';
    return NXC_OK;
}

/* Nats-Msg-Id: the same change always gets the same id, so a resend is a duplicate. */
static void msg_id_for(const nxc_event *ev, const char *key, const char *salt, char out[96])
{
    unsigned char md[NXC_CODEC_HASH_LEN];
    char *svv = nxc_vv_format(ev->plane[NXC_PLANE_SPEC].vv);
    char *tvv = nxc_vv_format(ev->plane[NXC_PLANE_STATUS].vv);
    char h0[2 * NXC_CODEC_HASH_LEN + 1], h1[2 * NXC_CODEC_HASH_LEN + 1];
    json_t *parts;
    int n;

    nxc_codec_hash_hex(ev->plane[0].hash, h0);
    nxc_codec_hash_hex(ev->plane[1].hash, h1);
    parts = json_pack("[s,s,s,s,s,s,s]", key,
                      ev->op == NXC_EVENT_UPSERT   ? "u"
                      : ev->op == NXC_EVENT_DELETE ? "d"
                                                   : nxc_event_op_name(ev->op),
                      svv ? svv : "", tvv ? tvv : "", h0, h1, salt ? salt : "");
    free(svv);
    free(tvv);
    memset(md, 0, sizeof(md));
    if (parts)
        nxc_codec_hash(parts, md);
    json_decref(parts);
    n = snprintf(out, 96, "%s-", ev->origin);
    for (int i = 0; i < 16 && n + 2 < 96; i++, n += 2)
        snprintf(out + n, 3, "%02x", md[i]);
}

/* One destination: the outbox entry "<key>#<peer>" holds the latest message for it. */
static int publish_to(agent *a, nxc_store_txn *txn, const nxc_event *ev, const char *key,
                      const char *dest, const char *body, size_t blen)
{
    char subject[1024], id[96], okey[NXC_OUTBOX_KEY_MAX];
    char *value = NULL;
    size_t vlen, idl, sl;
    int rc;

    rc = subject_for(ev, dest, subject, sizeof(subject));
    if (rc)
        return nxc_error_set(rc, "subject too long for %s", key);
    if ((size_t)snprintf(okey, sizeof(okey), "%s#%s", key, dest) >= sizeof(okey))
        return nxc_error_set(NXC_ELIMIT, "outbox key too long for %s", key);
    msg_id_for(ev, okey, a->resync_salt, id);
    idl = strlen(id);
    sl = strlen(subject);
    vlen = idl + 1 + sl + 1 + blen;
    value = malloc(vlen);
    if (!value)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    memcpy(value, id, idl + 1);
    memcpy(value + idl + 1, subject, sl + 1);
    memcpy(value + idl + 1 + sl + 1, body, blen);
    rc = nxc_store_outbox_put(txn, okey, value, vlen);
    if (rc) {
        free(value);
        return rc;
    }
    if (batch_n < MAX_BATCH_PUBLISH) {
        batch_pubs[batch_n].value = value;
        batch_pubs[batch_n].len = vlen;
        batch_pubs[batch_n].key = strdup(okey);
        batch_n++;
    } else {
        free(value); /* the sweep sends it */
    }
    return NXC_OK;
}

int publish_event(agent *a, nxc_store_txn *txn, const nxc_event *ev, const char *key,
                  peer_mask dests)
{
    char *body = NULL;
    size_t blen = 0;
    int rc;

    if (!dests)
        return NXC_OK;
    rc = nxc_event_encode(ev, &body, &blen);
    if (rc)
        return rc;
    for (size_t i = 0; i < a->npeers && !rc; i++)
        if (dests & PEER_BIT(i))
            rc = publish_to(a, txn, ev, key, a->peers[i].cfg->id, body, blen);
    free(body);
    return rc;
}

/* Splits an outbox value; 0 when well formed. */
static int split_value(const char *v, size_t len, const char **id, const char **subject,
                       const char **body, size_t *blen)
{
    const char *z1 = memchr(v, '\0', len), *z2;

    if (!z1)
        return -1;
    z2 = memchr(z1 + 1, '\0', len - (size_t)(z1 + 1 - v));
    if (!z2)
        return -1;
    *id = v;
    *subject = z1 + 1;
    *body = z2 + 1;
    *blen = len - (size_t)(z2 + 1 - v);
    return 0;
}

static void send_one(agent *a, const char *key, const char *value, size_t len)
{
    const char *id, *subject, *body;
    size_t blen;
    nxc_event ev;
    char hspec[512] = "", hstatus[512] = "", hhlc[32];
    nxc_bus_header h[7];
    char okey[NXC_OUTBOX_KEY_MAX];
    size_t nh = 0;
    inflight *fl;
    int rc;

    {
        const char *hash = strrchr(key, '#');
        size_t n = hash ? (size_t)(hash - key) : strlen(key);

        snprintf(okey, sizeof(okey), "%.*s", (int)n, key);
    }
    if (split_value(value, len, &id, &subject, &body, &blen) != 0) {
        NXC_ERROR("publish", "event=outbox-corrupt key=%s", key);
        return;
    }
    if (nxc_strmap_get(a->inflight, id, NULL) || !atomic_load(&a->bus_up) || !a->stream_ready)
        return;
    /* headers make `nats stream view` readable without decoding the body */
    if (nxc_event_decode(body, blen, &ev) == NXC_OK) {
        char *s = nxc_vv_format(ev.plane[NXC_PLANE_SPEC].vv);
        char *t = nxc_vv_format(ev.plane[NXC_PLANE_STATUS].vv);

        snprintf(hspec, sizeof(hspec), "%s", s ? s : "");
        snprintf(hstatus, sizeof(hstatus), "%s", t ? t : "");
        free(s);
        free(t);
        snprintf(hhlc, sizeof(hhlc), "%llu", (unsigned long long)ev.hlc);
        h[nh++] = (nxc_bus_header){"Nxc-Op", nxc_event_op_name(ev.op)};
        h[nh++] = (nxc_bus_header){"Nxc-Key", okey};
        h[nh++] = (nxc_bus_header){"Nxc-Origin", a->cfg->runtime_id};
        h[nh++] = (nxc_bus_header){"Nxc-Spec-VV", hspec};
        h[nh++] = (nxc_bus_header){"Nxc-Status-VV", hstatus};
        h[nh++] = (nxc_bus_header){"Nxc-HLC", hhlc};
        h[nh++] = (nxc_bus_header){"Content-Type", "application/x-msgpack; nxc=event-v1"};
        nxc_event_clear(&ev);
    }
    fl = malloc(sizeof(*fl) + strlen(key) + 1);
    if (!fl)
        return;
    fl->at = now_ms();
    memcpy(fl->key, key, strlen(key) + 1);
    if (nxc_strmap_put(a->inflight, id, fl) != 0) {
        free(fl);
        return;
    }
    rc = nxc_bus_publish(a->bus, subject, h, nh, body, blen, id);
    if (rc) {
        free(nxc_strmap_del(a->inflight, id));
        atomic_fetch_add(&a->stats.publish_failures, 1);
        if (rc == NXC_ELIMIT) {
            /* larger than the server takes: it stays in the outbox (a later, smaller version
             * replaces it), and says so now and then — every try would flood the log */
            static int64_t warned_ms; /* the loop thread only */

            if (now_ms() - warned_ms >= 60000) {
                warned_ms = now_ms();
                NXC_WARN("publish",
                         "event=publish-too-large key=%s bytes=%zu err=%s action=kept-in-outbox",
                         key, blen, nxc_log_q(nxc_error_last()));
            }
        }
        NXC_DEBUG("publish", "event=publish-deferred key=%s err=%s", key, nxc_error_name(rc));
    }
}

void publish_batch_flush(agent *a)
{
    for (size_t i = 0; i < batch_n; i++) {
        send_one(a, batch_pubs[i].key, batch_pubs[i].value, batch_pubs[i].len);
        free(batch_pubs[i].value);
        free(batch_pubs[i].key);
    }
    batch_n = 0;
}

void publish_batch_truncate(size_t mark)
{
    while (batch_n > mark) {
        batch_n--;
        free(batch_pubs[batch_n].value);
        free(batch_pubs[batch_n].key);
    }
}

void publish_batch_discard(void)
{
    publish_batch_truncate(0);
}

size_t publish_batch_mark(void)
{
    return batch_n;
}

static int sweep_one(void *ctx, const char *key, const void *data, size_t len)
{
    send_one(ctx, key, data, len);
    return 0;
}

struct expiry {
    nxc_strmap *m;
    int64_t cutoff;
    char **ids;
    size_t n, cap;
};

static void collect_lost(void *ctx, const char *id, void *val)
{
    struct expiry *e = ctx;
    inflight *fl = val;
    char **grown;

    if (fl->at >= e->cutoff)
        return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 16;
        grown = realloc(e->ids, e->cap * sizeof(char *));
        if (!grown)
            return;
        e->ids = grown;
    }
    e->ids[e->n] = strdup(id);
    if (e->ids[e->n])
        e->n++;
}

/* Forgets publishes whose ack is long overdue, so the sweep sends them again. */
static void expire_inflight(agent *a, int64_t now)
{
    struct expiry e = {a->inflight, now - INFLIGHT_LOST_MS, NULL, 0, 0};

    nxc_strmap_each(a->inflight, collect_lost, &e);
    for (size_t i = 0; i < e.n; i++) {
        free(nxc_strmap_del(a->inflight, e.ids[i]));
        free(e.ids[i]);
    }
    free(e.ids);
}

void publish_sweep(agent *a)
{
    nxc_store_txn *txn = NULL;
    int64_t now = now_ms();
    int up = atomic_load(&a->bus_up);

    if (!atomic_load(&a->resend_all) && now - a->last_sweep_ms < SWEEP_INTERVAL_MS)
        return;
    a->last_sweep_ms = now;
    expire_inflight(a, now);
    if (nxc_store_txn_begin(a->store, 1, &txn) != NXC_OK)
        return;
    /* the gauge is kept up to date during outages too: that is when it matters */
    atomic_store(&a->stats.outbox, nxc_store_outbox_count(txn));
    if (up && a->stream_ready) {
        atomic_store(&a->resend_all, 0);
        nxc_store_outbox_foreach(txn, sweep_one, a);
    }
    nxc_store_txn_abort(txn);
}

void publish_acked(agent *a, nxc_store_txn *txn, const char *msg_id, int ok, uint64_t seq)
{
    inflight *fl = nxc_strmap_del(a->inflight, msg_id);
    const void *data;
    size_t len;

    if (!ok) {
        atomic_fetch_add(&a->stats.publish_failures, 1);
        free(fl);
        return;
    }
    atomic_fetch_add(&a->stats.published, 1);
    /* only the exact change that was acked leaves the outbox; a newer one stays */
    if (fl && nxc_store_outbox_get(txn, fl->key, &data, &len) == NXC_OK && len > strlen(msg_id) &&
        strcmp((const char *)data, msg_id) == 0)
        nxc_store_outbox_del(txn, fl->key);
    if (fl) {
        char *hash = strrchr(fl->key, '#');

        if (hash)
            *hash = '\0';
        intent_track_seq(a, fl->key, seq);
    }
    free(fl);
}

void publish_on_ack(void *ctx, const char *msg_id, int ok, uint64_t seq, const char *reason)
{
    agent *a = ctx;
    item *it = item_new(ITEM_PUB_ACK, CLS_FREE);

    if (!ok)
        NXC_WARN("publish", "event=publish-failed msg_id=%s reason=%s", msg_id, nxc_log_q(reason));
    if (!it)
        return;
    it->msg_id = strdup(msg_id);
    it->ok = ok;
    it->seq = seq;
    if (!it->msg_id || nxc_queue_post(a->queue, &it->q) != 0)
        item_free(it);
}

void publish_on_conn(void *ctx, int up)
{
    agent *a = ctx;

    atomic_store(&a->bus_up, up);
    if (up) {
        atomic_fetch_add(&a->stats.bus_reconnects, 1);
        atomic_store(&a->resend_all, 1);
    }
    NXC_INFO("bus", "event=%s", up ? "connected" : "disconnected");
}

/* Called on a cnats thread for a peer's resync request: queue it for the loop. */
void publish_on_resync_request(agent *a, const void *data, size_t len, const char *reply)
{
    item *it = item_new(ITEM_RESYNC, CLS_FREE);
    char peer[NXC_VV_ID_MAX + 1];

    snprintf(peer, sizeof(peer), "%.*s", (int)(len < sizeof(peer) ? len : sizeof(peer) - 1),
             (const char *)data);
    if (!it || !nxc_vv_id_valid(peer) || !(it->msg_id = strdup(peer)) ||
        nxc_queue_post(a->queue, &it->q) != 0) {
        item_free(it);
        return;
    }
    NXC_WARN("publish", "event=resync-requested peer=%s", peer);
    nxc_bus_respond(a->bus, reply, "queued", 6);
}

/* Creates (or updates) our stream; one attempt, with a growing wait between attempts. The
 * loop calls it until it succeeds: NATS may be away at start. */
void publish_ensure_stream(agent *a)
{
    nxc_bus_stream_opts so;
    char subjects[128];
    int64_t now = now_ms();
    int rc;

    if (a->stream_ready || now - a->stream_try_ms < a->stream_backoff_ms)
        return;
    a->stream_try_ms = now;
    snprintf(subjects, sizeof(subjects), "nxc.%s.>", a->cfg->runtime_id);
    memset(&so, 0, sizeof(so));
    so.name = a->stream;
    so.subjects = subjects;
    so.max_msgs_per_subject = 1;
    so.max_age_ms = a->cfg->stream_max_age_ms;
    so.max_bytes = a->cfg->stream_max_bytes;
    so.duplicate_window_ms = a->cfg->stream_dup_window_ms;
    so.replicas = 1;
    rc = nxc_bus_stream_ensure(a->bus, &so);
    if (rc == NXC_OK) {
        a->stream_ready = 1;
        atomic_store(&a->resend_all, 1);
        NXC_INFO("agent", "event=stream-ready stream=%s subjects=%s", so.name, subjects);
        return;
    }
    a->stream_backoff_ms = a->stream_backoff_ms ? a->stream_backoff_ms * 2 : 250;
    if (a->stream_backoff_ms > 5000)
        a->stream_backoff_ms = 5000;
    NXC_WARN("agent", "event=stream-unavailable stream=%s err=%s retry_ms=%ld", so.name,
             nxc_log_q(nxc_error_last()), a->stream_backoff_ms);
}
