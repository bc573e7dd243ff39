/*
 * bus: the agent's NATS JetStream layer on cnats. The only file that includes nats.h, and
 * nat_fail() is the one place where a natsStatus becomes an nxc error code.
 *
 * Publishes: asynchronous, each with a Nats-Msg-Id and an ack deadline (jsPubOptions.MaxWait),
 * so cnats itself reports a publish that never got its ack as a time-out. Every publish that
 * was accepted gets exactly one on_ack: cnats removes it from its pending map once, whether
 * an ack, an error, a time-out or our own sweep (js_PublishAsyncGetPendingList, on disconnect
 * and on close) takes it. Publishes are refused while disconnected, so the reconnect buffer
 * only ever holds stragglers and memory stays bounded during an outage.
 *
 * Consumers: durable pull consumers created with js_AddConsumer and then bound by name, so
 * a later open never fails on a config mismatch. A pull request to a consumer the server no
 * longer has is simply never answered (nats-server 2.9 does not send 503 for it), so fetch
 * checks the consumer after each reconnect and every few idle seconds and recreates it.
 */
#include "bus.h"

#include "err.h"

#include <nats/nats.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_MAX_PENDING 4096
#define MAX_MAX_PENDING (1 << 20)
#define DEFAULT_ACK_TIMEOUT_MS 5000
#define DEFAULT_DUP_WINDOW_MS 120000
#define MAX_URLS 32
#define RECONNECT_WAIT_MS 250
#define RECONNECT_JITTER_MS 100
#define RECONNECT_JITTER_TLS_MS 250
/* Publishes are refused while disconnected, so this only holds what raced a disconnect
 * (publishes, acks, naks, pull requests). cnats fails writes beyond it. */
#define RECONNECT_BUF_BYTES (8 * 1024 * 1024)
/* Without pings a silently dead link is noticed only by TCP, which can take minutes. */
#define PING_INTERVAL_MS 5000
#define MAX_PINGS_OUT 3
/* A stalled publish wakes up this often to notice a disconnect instead of blocking on. */
#define STALL_WAIT_MS 50
#define FLUSH_SLICE_MS 50
#define CONSUMER_ACK_WAIT_MS 30000
#define CONSUMER_MAX_ACK_PENDING 20000
/* How often an idle fetch checks that its consumer still exists on the server. */
#define CONSUMER_CHECK_MS 5000
#define CHECK_MIN_WAIT_MS 250
#define ACK_SYNC_WAIT_MS 2000
#define MAX_FETCH_BATCH 10000
#define CLOSE_WAIT_MS 10000
#define SEED_FILE_MAX 4096
#define NS_PER_MS INT64_C(1000000)

struct nxc_bus {
    natsConnection *nc;      /* reconnects by itself forever */
    jsCtx *js;               /* JetStream context on nc, owns the pending publishes */
    nxc_bus_ack_fn on_ack;   /* NULL: outcomes are dropped */
    nxc_bus_conn_fn on_conn; /* NULL: not told */
    void *ctx;               /* passed to both */
    int64_t ack_timeout_ms;  /* MaxWait of each publish */
    /* Held around js_PublishMsgAsync and the pending sweeps: cnats still reads a message
     * after putting it in its pending map, so a sweep must not take it back meanwhile. */
    pthread_mutex_t pub_mu;
    /* Under pub_mu: a publish went through. cnats 3.4.1 creates its pending map on the first
     * async publish and js_PublishAsyncGetPendingList crashes without one. */
    int published;
    pthread_mutex_t cb_mu;  /* guards the fields below */
    pthread_cond_t cb_cond; /* signalled when in_cb drops or closed is set */
    int closing;            /* close started: callbacks no longer reach the caller */
    int in_cb;              /* our callbacks running now */
    int closed;             /* cnats delivered its closed callback, the last one */
    atomic_uint conn_gen;   /* bumped at each (re)connect so consumers check themselves */
    natsSubscription *ctl;  /* the control subscription (nxc_bus_serve), or NULL */
    nxc_bus_request_fn on_request;
    void *request_ctx;
};

struct nxc_bus_consumer {
    nxc_bus *bus;          /* borrowed */
    natsSubscription *sub; /* pull subscription bound to the durable */
    char *stream;          /* stream name */
    char *filter;          /* subject filter, or NULL for the whole stream */
    char *durable;         /* durable consumer name */
    unsigned checked_gen;  /* bus->conn_gen when the consumer was last found on the server */
    int64_t checked_ms;    /* monotonic time of that check */
};

struct nxc_bus_msg {
    natsMsg *m;         /* the message, owned */
    nxc_bus *bus;       /* for ack: NULL for a message read with stream_get (cannot be acked) */
    uint64_t seq;       /* stream sequence */
    uint64_t pending;   /* messages left after this one for the consumer, 0 for stream_get */
    int64_t time_ns;    /* stream timestamp */
    uint64_t delivered; /* how many times the consumer delivered it (1 the first time) */
};

/* --- errors ---------------------------------------------------------------------------- */

static int map_status(natsStatus s, jsErrCode jerr)
{
    switch (jerr) {
    case JSStreamNotFoundErr:
    case JSConsumerNotFoundErr:
    case JSNoMessageFoundErr: return NXC_ENOTFOUND;
    case JSStreamNameExistErr: return NXC_EEXISTS;
    default: break;
    }
    switch (s) {
    case NATS_OK: return NXC_OK;
    case NATS_NOT_FOUND: return NXC_ENOTFOUND;
    case NATS_TIMEOUT: return NXC_EAGAIN;
    case NATS_NO_MEMORY: return NXC_ENOMEM;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_TIMEOUT:
    case NATS_ADDRESS_MISSING: return NXC_EINVALID;
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED: return NXC_EFORBIDDEN;
    case NATS_MAX_PAYLOAD:
    case NATS_INSUFFICIENT_BUFFER:
    case NATS_SLOW_CONSUMER: return NXC_ELIMIT;
    case NATS_IO_ERROR:
    case NATS_NO_SERVER:
    case NATS_STALE_CONNECTION:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_NO_RESPONDERS:
    case NATS_NOT_YET_CONNECTED:
    case NATS_SSL_ERROR: return NXC_EUNAVAIL;
    default: return NXC_ERROR;
    }
}

/* The one translation of a natsStatus: an nxc code plus a message keeping cnats' own text
 * (natsStatus_GetText, and nats_GetLastError when it belongs to this failure). */
static int nat_fail(natsStatus s, jsErrCode jerr, const char *what)
{
    natsStatus last = NATS_OK;
    const char *detail = nats_GetLastError(&last);
    char js[32] = "";

    if (detail == NULL || last != s)
        detail = "";
    if (jerr != 0)
        snprintf(js, sizeof(js), " (js error %d)", (int)jerr);
    if (detail[0] != '\0')
        return nxc_error_set(map_status(s, jerr), "%s: %s: %s%s", what, natsStatus_GetText(s),
                             detail, js);
    return nxc_error_set(map_status(s, jerr), "%s: %s%s", what, natsStatus_GetText(s), js);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ms_to_ns(int64_t ms, int64_t *ns)
{
    if (ms < 0 || ms > INT64_MAX / NS_PER_MS)
        return nxc_error_set(NXC_EINVALID, "duration %" PRId64 " ms out of range", ms);
    *ns = ms * NS_PER_MS;
    return NXC_OK;
}

/* --- nkey seed -------------------------------------------------------------------------- */

/* cnats wants the public key next to the seed file; an nkey seed holds the Ed25519 private
 * seed, so the public key is derived here rather than asking the operator for both.
 * Encoding (nkeys): base32 of prefix bytes + key + CRC-16/XMODEM little-endian. */
#define NKEY_PREFIX_SEED (18 << 3)
#define NKEY_PREFIX_USER (20 << 3)

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static uint16_t crc16_xmodem(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;

    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

static int b32_decode(const char *in, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        const char *p = strchr(b32_alphabet, in[i]);

        if (in[i] == '\0' || p == NULL)
            return -1;
        acc = (acc << 5) | (uint32_t)(p - b32_alphabet);
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (len == cap)
                return -1;
            out[len++] = (unsigned char)(acc >> bits);
        }
    }
    *outlen = len;
    return 0;
}

static void b32_encode(const unsigned char *in, size_t n, char *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t len = 0;

    for (size_t i = 0; i < n && len + 1 < cap; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5 && len + 1 < cap) {
            bits -= 5;
            out[len++] = b32_alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0 && len + 1 < cap)
        out[len++] = b32_alphabet[(acc << (5 - bits)) & 31];
    out[len] = '\0';
}

static int read_seed(const char *path, char *buf, size_t cap, size_t *len)
{
    FILE *f = fopen(path, "r");
    size_t n;
    size_t start = 0;
    int rc = NXC_OK;

    if (f == NULL)
        return nxc_error_set(NXC_EINVALID, "nkey seed file %s: %s", path, strerror(errno));
    n = fread(buf, 1, cap - 1, f);
    if (ferror(f)) {
        rc = nxc_error_set(NXC_EINVALID, "nkey seed file %s: read error", path);
        goto out;
    }
    buf[n] = '\0';
    /* The seed is the first line that starts with 'S' (nk writes just the seed; a creds-like
     * file may wrap it in banner lines). */
    while (start < n) {
        size_t end = start;

        while (end < n && buf[end] != '\n')
            end++;
        while (start < end && isspace((unsigned char)buf[start]))
            start++;
        if (start < end && buf[start] == 'S') {
            size_t l = end - start;

            while (l > 0 && isspace((unsigned char)buf[start + l - 1]))
                l--;
            memmove(buf, buf + start, l);
            buf[l] = '\0';
            OPENSSL_cleanse(buf + l, n - l);
            *len = l;
            goto out;
        }
        start = end + 1;
    }
    OPENSSL_cleanse(buf, n);
    rc = nxc_error_set(NXC_EINVALID, "nkey seed file %s: no seed in it", path);
out:
    fclose(f);
    return rc;
}

static int nkey_public_from_seed_file(const char *path, char *pub, size_t pubcap)
{
    char text[SEED_FILE_MAX];
    unsigned char raw[64];
    unsigned char pk[35];
    size_t textlen = 0;
    size_t rawlen = 0;
    size_t pklen = 32;
    EVP_PKEY *key = NULL;
    uint16_t crc;
    int rc;

    rc = read_seed(path, text, sizeof(text), &textlen);
    if (rc != NXC_OK)
        return rc;
    if (b32_decode(text, textlen, raw, sizeof(raw), &rawlen) != 0 || rawlen != 36) {
        rc = nxc_error_set(NXC_EINVALID, "nkey seed file %s: not an nkey seed", path);
        goto out;
    }
    crc = crc16_xmodem(raw, 34);
    if ((raw[34] | (raw[35] << 8)) != crc || (raw[0] & 0xf8) != NKEY_PREFIX_SEED) {
        rc = nxc_error_set(NXC_EINVALID, "nkey seed file %s: bad checksum or prefix", path);
        goto out;
    }
    if ((((raw[0] & 7) << 5) | ((raw[1] & 0xf8) >> 3)) != NKEY_PREFIX_USER) {
        rc = nxc_error_set(NXC_EINVALID, "nkey seed file %s: not a user seed", path);
        goto out;
    }
    key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, raw + 2, 32);
    if (key == NULL) {
        rc = nxc_error_set(NXC_EINVALID, "nkey seed file %s: bad Ed25519 seed", path);
        goto out;
    }
    if (EVP_PKEY_get_raw_public_key(key, pk + 1, &pklen) != 1 || pklen != 32) {
        rc = nxc_error_set(NXC_ERROR, "nkey seed file %s: cannot derive public key", path);
        goto out;
    }
    pk[0] = NKEY_PREFIX_USER;
    crc = crc16_xmodem(pk, 33);
    pk[33] = (unsigned char)(crc & 0xff);
    pk[34] = (unsigned char)(crc >> 8);
    b32_encode(pk, sizeof(pk), pub, pubcap);
out:
    EVP_PKEY_free(key);
    OPENSSL_cleanse(text, sizeof(text));
    OPENSSL_cleanse(raw, sizeof(raw));
    return rc;
}

/* --- callbacks -------------------------------------------------------------------------- */

/* Callbacks come on cnats threads and may still be queued when close runs: each one
 * registers itself so close can wait for it, and none reaches the caller after close. */
static int cb_enter(nxc_bus *b)
{
    int ok;

    pthread_mutex_lock(&b->cb_mu);
    ok = !b->closing;
    if (ok)
        b->in_cb++;
    pthread_mutex_unlock(&b->cb_mu);
    return ok;
}

static void cb_leave(nxc_bus *b)
{
    pthread_mutex_lock(&b->cb_mu);
    b->in_cb--;
    pthread_cond_broadcast(&b->cb_cond);
    pthread_mutex_unlock(&b->cb_mu);
}

static const char *msg_id_of(natsMsg *m)
{
    const char *id = NULL;

    if (natsMsgHeader_Get(m, "Nats-Msg-Id", &id) != NATS_OK || id == NULL)
        return "";
    return id;
}

static void report(nxc_bus *b, const char *id, int ok, uint64_t seq, const char *reason)
{
    if (b->on_ack != NULL)
        b->on_ack(b->ctx, id, ok, seq, reason);
}

static void on_pub_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    nxc_bus *b = closure;
    char reason[320];

    (void)js;
    if (!cb_enter(b))
        goto out;
    if (pa != NULL) {
        /* A duplicate is acked with the sequence of the copy already stored: it is there. */
        report(b, msg_id_of(msg), 1, pa->Sequence, NULL);
    } else {
        const char *text = "unknown error";

        if (pae != NULL && pae->ErrText != NULL && pae->ErrText[0] != '\0')
            text = pae->ErrText;
        else if (pae != NULL)
            text = natsStatus_GetText(pae->Err);
        if (pae != NULL && pae->Err == NATS_TIMEOUT)
            snprintf(reason, sizeof(reason), "no ack within %" PRId64 " ms: %s", b->ack_timeout_ms,
                     text);
        else if (pae != NULL && pae->ErrCode != 0)
            snprintf(reason, sizeof(reason), "%s (js error %d)", text, (int)pae->ErrCode);
        else
            snprintf(reason, sizeof(reason), "%s", text);
        report(b, msg_id_of(msg), 0, 0, reason);
    }
    cb_leave(b);
out:
    natsMsg_Destroy(msg);
}

/* Takes back every publish still waiting for its ack and reports it failed. Called when
 * the connection drops: an ack for a message sent before that would go to a connection
 * that is gone, so waiting for the time-out only delays the resend (which Nats-Msg-Id
 * makes safe if the server did store it). */
static void fail_pending(nxc_bus *b, const char *reason)
{
    natsMsgList list = {0};
    natsStatus s;

    pthread_mutex_lock(&b->pub_mu);
    s = b->published ? js_PublishAsyncGetPendingList(&list, b->js) : NATS_NOT_FOUND;
    pthread_mutex_unlock(&b->pub_mu);
    if (s != NATS_OK)
        return; /* NATS_NOT_FOUND: nothing pending */
    for (int i = 0; i < list.Count; i++) {
        if (list.Msgs[i] != NULL)
            report(b, msg_id_of(list.Msgs[i]), 0, 0, reason);
    }
    natsMsgList_Destroy(&list);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    nxc_bus *b = closure;

    (void)nc;
    if (!cb_enter(b))
        return;
    fail_pending(b, "connection lost before the ack came");
    if (b->on_conn != NULL)
        b->on_conn(b->ctx, 0);
    cb_leave(b);
}

static void on_connected(natsConnection *nc, void *closure)
{
    nxc_bus *b = closure;

    (void)nc;
    atomic_fetch_add(&b->conn_gen, 1);
    if (!cb_enter(b))
        return;
    if (b->on_conn != NULL)
        b->on_conn(b->ctx, 1);
    cb_leave(b);
}

static void on_closed(natsConnection *nc, void *closure)
{
    nxc_bus *b = closure;

    (void)nc;
    pthread_mutex_lock(&b->cb_mu);
    b->closed = 1;
    pthread_cond_broadcast(&b->cb_cond);
    pthread_mutex_unlock(&b->cb_mu);
}

/* --- connection ------------------------------------------------------------------------- */

static int set_servers(natsOptions *no, const char *urls)
{
    char *copy = strdup(urls);
    const char *list[MAX_URLS];
    char *save = NULL;
    int n = 0;
    int rc = NXC_OK;
    natsStatus s;

    if (copy == NULL)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        char *end;

        while (isspace((unsigned char)*tok))
            tok++;
        end = tok + strlen(tok);
        while (end > tok && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*tok == '\0')
            continue;
        if (n == MAX_URLS) {
            rc = nxc_error_set(NXC_ELIMIT, "more than %d NATS URLs", MAX_URLS);
            goto out;
        }
        list[n++] = tok;
    }
    if (n == 0) {
        rc = nxc_error_set(NXC_EINVALID, "no NATS URL in \"%s\"", urls);
        goto out;
    }
    s = natsOptions_SetServers(no, list, n);
    if (s != NATS_OK)
        rc = nat_fail(s, 0, "NATS URLs");
out:
    free(copy);
    return rc;
}

static int set_options(natsOptions *no, const nxc_bus_opts *o, nxc_bus *b)
{
    natsStatus s;
    int rc;

    rc = set_servers(no, o->urls);
    if (rc != NXC_OK)
        return rc;
    s = natsOptions_SetName(no, o->name != NULL ? o->name : "nexus-connector");
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(no, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(no, RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectJitter(no, RECONNECT_JITTER_MS, RECONNECT_JITTER_TLS_MS);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(no, RECONNECT_BUF_BYTES);
    if (s == NATS_OK)
        s = natsOptions_SetPingInterval(no, PING_INTERVAL_MS);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(no, MAX_PINGS_OUT);
    /* API requests (stream info, AckSync...) fail at once on a disconnect instead of
     * waiting out their time-out on a connection that is gone. */
    if (s == NATS_OK)
        s = natsOptions_SetFailRequestsOnDisconnect(no, true);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(no, true, on_connected, b);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(no, on_disconnected, b);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(no, on_connected, b);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(no, on_closed, b);
    if (s != NATS_OK)
        return nat_fail(s, 0, "NATS options");

    if (o->creds_file != NULL && o->nkey_seed_file != NULL)
        return nxc_error_set(NXC_EINVALID, "NATS: a creds file and an nkey seed file exclude "
                                           "each other");
    if (o->creds_file != NULL) {
        s = natsOptions_SetUserCredentialsFromFiles(no, o->creds_file, NULL);
        if (s != NATS_OK)
            return nat_fail(s, 0, "NATS creds file");
    }
    if (o->nkey_seed_file != NULL) {
        char pub[64];

        rc = nkey_public_from_seed_file(o->nkey_seed_file, pub, sizeof(pub));
        if (rc != NXC_OK)
            return rc;
        s = natsOptions_SetNKeyFromSeed(no, pub, o->nkey_seed_file);
        if (s != NATS_OK)
            return nat_fail(s, 0, "NATS nkey");
    }
    if (o->ca_file != NULL || o->cert_file != NULL) {
        s = natsOptions_SetSecure(no, true);
        if (s != NATS_OK)
            return nat_fail(s, 0, "NATS TLS");
    }
    if (o->ca_file != NULL) {
        s = natsOptions_LoadCATrustedCertificates(no, o->ca_file);
        if (s != NATS_OK)
            return nat_fail(s, 0, "NATS TLS CA file");
    }
    if ((o->cert_file != NULL) != (o->key_file != NULL))
        return nxc_error_set(NXC_EINVALID, "NATS TLS: a client certificate needs its key");
    if (o->cert_file != NULL) {
        s = natsOptions_LoadCertificatesChain(no, o->cert_file, o->key_file);
        if (s != NATS_OK)
            return nat_fail(s, 0, "NATS TLS client certificate");
    }
    return NXC_OK;
}

/* Closes the connection and frees b once cnats is done calling back into it: the closed
 * callback is the connection's last, and in_cb covers the publish ack thread. */
static void bus_free(nxc_bus *b)
{
    struct timespec deadline;

    pthread_mutex_lock(&b->cb_mu);
    b->closing = 1;
    pthread_mutex_unlock(&b->cb_mu);
    jsCtx_Destroy(b->js);
    if (b->nc != NULL) {
        natsConnection_Close(b->nc);
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += CLOSE_WAIT_MS / 1000;
        pthread_mutex_lock(&b->cb_mu);
        while (!b->closed || b->in_cb > 0) {
            if (pthread_cond_timedwait(&b->cb_cond, &b->cb_mu, &deadline) == ETIMEDOUT)
                break;
        }
        pthread_mutex_unlock(&b->cb_mu);
        natsConnection_Destroy(b->nc);
    }
    pthread_cond_destroy(&b->cb_cond);
    pthread_mutex_destroy(&b->cb_mu);
    pthread_mutex_destroy(&b->pub_mu);
    free(b);
}

int nxc_bus_connect(const nxc_bus_opts *o, nxc_bus **out)
{
    natsOptions *no = NULL;
    nxc_bus *b = NULL;
    jsOptions jo;
    natsStatus s;
    int rc;

    *out = NULL;
    if (o == NULL || o->urls == NULL)
        return nxc_error_set(NXC_EINVALID, "NATS: no URL");
    if (o->max_pending < 0 || o->max_pending > MAX_MAX_PENDING)
        return nxc_error_set(NXC_EINVALID, "NATS: max_pending %d out of range", o->max_pending);
    if (o->ack_timeout_ms < 0)
        return nxc_error_set(NXC_EINVALID, "NATS: negative ack time-out");
    b = calloc(1, sizeof(*b));
    if (b == NULL)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    pthread_mutex_init(&b->pub_mu, NULL);
    pthread_mutex_init(&b->cb_mu, NULL);
    pthread_cond_init(&b->cb_cond, NULL);
    b->on_ack = o->on_ack;
    b->on_conn = o->on_conn;
    b->ctx = o->ctx;
    b->ack_timeout_ms = o->ack_timeout_ms > 0 ? o->ack_timeout_ms : DEFAULT_ACK_TIMEOUT_MS;

    s = natsOptions_Create(&no);
    if (s != NATS_OK) {
        rc = nat_fail(s, 0, "NATS options");
        goto fail;
    }
    rc = set_options(no, o, b);
    if (rc != NXC_OK)
        goto fail;
    s = natsConnection_Connect(&b->nc, no);
    /* NATS_NOT_YET_CONNECTED: the server is not there yet; cnats keeps trying. */
    if (s != NATS_OK && s != NATS_NOT_YET_CONNECTED) {
        rc = nat_fail(s, 0, "NATS connect");
        goto fail;
    }
    jsOptions_Init(&jo);
    jo.Domain = o->domain;
    jo.PublishAsync.MaxPending = o->max_pending > 0 ? o->max_pending : DEFAULT_MAX_PENDING;
    jo.PublishAsync.AckHandler = on_pub_ack;
    jo.PublishAsync.AckHandlerClosure = b;
    jo.PublishAsync.StallWait = STALL_WAIT_MS;
    s = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (s != NATS_OK) {
        rc = nat_fail(s, 0, "JetStream context");
        goto fail;
    }
    natsOptions_Destroy(no);
    *out = b;
    return NXC_OK;
fail:
    natsOptions_Destroy(no);
    bus_free(b);
    return rc;
}

void nxc_bus_close(nxc_bus *b)
{
    if (b == NULL)
        return;
    if (b->ctl != NULL) {
        natsSubscription_Unsubscribe(b->ctl);
        natsSubscription_Destroy(b->ctl);
        b->ctl = NULL;
    }
    /* Nothing may be left pending without an outcome: what the sweep takes is reported. */
    fail_pending(b, "bus closed before the ack came");
    bus_free(b);
}

int nxc_bus_connected(nxc_bus *b)
{
    return b != NULL && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* --- streams ---------------------------------------------------------------------------- */

int nxc_bus_stream_ensure(nxc_bus *b, const nxc_bus_stream_opts *o)
{
    jsStreamConfig cfg;
    jsStreamSource mirror;
    jsExternalStream ext;
    char api_prefix[256];
    const char *subjects[1];
    int64_t dup_ms;
    jsErrCode jerr = 0;
    natsStatus s;
    int rc;

    if (o == NULL || o->name == NULL || (o->subjects == NULL) == (o->mirror == NULL))
        return nxc_error_set(NXC_EINVALID, "stream: a name and either subjects or a mirror");
    jsStreamConfig_Init(&cfg);
    cfg.Name = o->name;
    if (o->mirror) {
        /* a mirror copies another stream (here: a peer's, across the leaf-node link through
         * the peer domain's API prefix) and keeps its sequence numbers */
        jsStreamSource_Init(&mirror);
        mirror.Name = o->mirror;
        if (o->mirror_domain && *o->mirror_domain) {
            jsExternalStream_Init(&ext);
            snprintf(api_prefix, sizeof(api_prefix), "$JS.%s.API", o->mirror_domain);
            ext.APIPrefix = api_prefix;
            /* cnats 3.4 writes this field unconditionally (NULL crashes it); no deliver
             * prefix is needed within one account */
            ext.DeliverPrefix = "";
            mirror.External = &ext;
        }
        cfg.Mirror = &mirror;
    } else {
        subjects[0] = o->subjects;
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
    }
    cfg.Retention = js_LimitsPolicy;
    cfg.Storage = js_FileStorage;
    cfg.Discard = js_DiscardOld;
    cfg.MaxMsgsPerSubject = o->max_msgs_per_subject > 0 ? o->max_msgs_per_subject : -1;
    cfg.MaxBytes = o->max_bytes > 0 ? o->max_bytes : -1;
    cfg.Replicas = o->replicas > 0 ? o->replicas : 1;
    /* Rollup would let a single message purge a subject or the stream: not ours to allow. */
    cfg.AllowRollup = false;
    /* Direct get serves stream_get's "this sequence or the next one" in one request. */
    cfg.AllowDirect = true;
    rc = ms_to_ns(o->max_age_ms > 0 ? o->max_age_ms : 0, &cfg.MaxAge);
    if (rc != NXC_OK)
        return rc;
    /* The server refuses a duplicate window longer than the maximum age. */
    dup_ms = o->duplicate_window_ms > 0 ? o->duplicate_window_ms : DEFAULT_DUP_WINDOW_MS;
    if (o->max_age_ms > 0 && dup_ms > o->max_age_ms)
        dup_ms = o->max_age_ms;
    rc = ms_to_ns(dup_ms, &cfg.Duplicates);
    if (rc != NXC_OK)
        return rc;

    s = js_AddStream(NULL, b->js, &cfg, NULL, &jerr);
    /* Adding with the same config succeeds; a different one says "name in use". */
    if (s != NATS_OK && jerr == JSStreamNameExistErr) {
        jerr = 0;
        s = js_UpdateStream(NULL, b->js, &cfg, NULL, &jerr);
        if (s != NATS_OK)
            return nat_fail(s, jerr, "stream update");
        return NXC_OK;
    }
    if (s != NATS_OK)
        return nat_fail(s, jerr, "stream create");
    return NXC_OK;
}

int nxc_bus_stream_info(nxc_bus *b, const char *stream, uint64_t *first, uint64_t *last,
                        uint64_t *msgs)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    s = js_GetStreamInfo(&si, b->js, stream, NULL, &jerr);
    if (s != NATS_OK)
        return nat_fail(s, jerr, "stream info");
    if (first != NULL)
        *first = si->State.FirstSeq;
    if (last != NULL)
        *last = si->State.LastSeq;
    if (msgs != NULL)
        *msgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return NXC_OK;
}

int nxc_bus_stream_limits(nxc_bus *b, const char *stream, int64_t *max_age_ms, int64_t *max_bytes)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    s = js_GetStreamInfo(&si, b->js, stream, NULL, &jerr);
    if (s != NATS_OK)
        return nat_fail(s, jerr, "stream info");
    *max_age_ms = si->Config->MaxAge > 0 ? si->Config->MaxAge / 1000000 : 0;
    *max_bytes = si->Config->MaxBytes > 0 ? si->Config->MaxBytes : 0;
    jsStreamInfo_Destroy(si);
    return NXC_OK;
}

/* --- control requests (core NATS, outside JetStream) ------------------------------------ */

static void on_ctl_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    nxc_bus *b = closure;

    (void)nc;
    (void)sub;
    if (cb_enter(b)) {
        if (b->on_request != NULL && natsMsg_GetReply(msg) != NULL)
            b->on_request(b->request_ctx, natsMsg_GetSubject(msg), natsMsg_GetData(msg),
                          (size_t)natsMsg_GetDataLength(msg), natsMsg_GetReply(msg));
        cb_leave(b);
    }
    natsMsg_Destroy(msg);
}

int nxc_bus_serve(nxc_bus *b, const char *subject, nxc_bus_request_fn fn, void *ctx)
{
    natsStatus s;

    if (b->ctl != NULL)
        return nxc_error_set(NXC_EINVALID, "bus: already serving");
    b->on_request = fn;
    b->request_ctx = ctx;
    s = natsConnection_Subscribe(&b->ctl, b->nc, subject, on_ctl_msg, b);
    if (s != NATS_OK)
        return nat_fail(s, 0, "subscribe");
    return NXC_OK;
}

int nxc_bus_respond(nxc_bus *b, const char *reply, const void *data, size_t len)
{
    natsStatus s = natsConnection_Publish(b->nc, reply, data, (int)len);

    return s == NATS_OK ? NXC_OK : nat_fail(s, 0, "respond");
}

int nxc_bus_request(nxc_bus *b, const char *subject, const void *data, size_t len, long timeout_ms,
                    char **reply, size_t *reply_len)
{
    natsMsg *m = NULL;
    natsStatus s;

    *reply = NULL;
    *reply_len = 0;
    s = natsConnection_Request(&m, b->nc, subject, data, (int)len, timeout_ms);
    if (s != NATS_OK)
        return nat_fail(s, 0, "request");
    *reply_len = (size_t)natsMsg_GetDataLength(m);
    *reply = malloc(*reply_len + 1);
    if (*reply == NULL) {
        natsMsg_Destroy(m);
        return nxc_error_set(NXC_ENOMEM, "bus: out of memory");
    }
    memcpy(*reply, natsMsg_GetData(m), *reply_len);
    (*reply)[*reply_len] = '\0';
    natsMsg_Destroy(m);
    return NXC_OK;
}

/* --- publish ---------------------------------------------------------------------------- */

static int header_ok(const char *s, int is_name)
{
    if (s == NULL || (is_name && *s == '\0'))
        return 0;
    for (; *s != '\0'; s++) {
        if (*s == '\r' || *s == '\n' || (is_name && (*s == ':' || *s == ' ')))
            return 0;
    }
    return 1;
}

int nxc_bus_publish(nxc_bus *b, const char *subject, const nxc_bus_header *h, size_t nh,
                    const void *data, size_t len, const char *msg_id)
{
    natsMsg *m = NULL;
    jsPubOptions po;
    natsStatus s;
    int rc = NXC_OK;

    if (subject == NULL || (len > 0 && data == NULL) || (nh > 0 && h == NULL))
        return nxc_error_set(NXC_EINVALID, "publish: bad arguments");
    if (len > INT_MAX)
        return nxc_error_set(NXC_ELIMIT, "publish: %zu bytes is too large", len);
    if (msg_id != NULL && !header_ok(msg_id, 0))
        return nxc_error_set(NXC_EINVALID, "publish: bad message id");
    if (!nxc_bus_connected(b))
        return nxc_error_set(NXC_EUNAVAIL, "publish: not connected to NATS");
    s = natsMsg_Create(&m, subject, NULL, data, (int)len);
    if (s != NATS_OK)
        return nat_fail(s, 0, "publish");
    for (size_t i = 0; i < nh; i++) {
        if (!header_ok(h[i].name, 1) || !header_ok(h[i].value, 0)) {
            rc = nxc_error_set(NXC_EINVALID, "publish: bad header %zu", i);
            goto out;
        }
        s = natsMsgHeader_Add(m, h[i].name, h[i].value);
        if (s != NATS_OK) {
            rc = nat_fail(s, 0, "publish header");
            goto out;
        }
    }
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    po.MaxWait = b->ack_timeout_ms;
    for (;;) {
        pthread_mutex_lock(&b->pub_mu);
        s = js_PublishMsgAsync(b->js, &m, &po);
        if (s == NATS_OK)
            b->published = 1;
        pthread_mutex_unlock(&b->pub_mu);
        /* NATS_TIMEOUT here only means max_pending are in flight after a stall wait: keep
         * blocking while connected, since each of them ends by its own ack deadline. */
        if (s != NATS_TIMEOUT)
            break;
        if (!nxc_bus_connected(b)) {
            rc = nxc_error_set(NXC_EUNAVAIL, "publish: NATS connection lost while waiting");
            goto out;
        }
    }
    if (s != NATS_OK)
        rc = nat_fail(s, 0, "publish");
out:
    natsMsg_Destroy(m); /* NULL once cnats owns it */
    return rc;
}

int nxc_bus_publish_flush(nxc_bus *b, long timeout_ms)
{
    int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    jsPubOptions po;
    natsStatus s;

    /* Short slices: a sweep of the pending list does not wake cnats' waiters, so a single
     * long wait could outlast the publishes it waits for. */
    for (;;) {
        int64_t left = deadline - now_ms();

        jsPubOptions_Init(&po);
        po.MaxWait = left < FLUSH_SLICE_MS ? (left > 0 ? left : 1) : FLUSH_SLICE_MS;
        s = js_PublishAsyncComplete(b->js, &po);
        if (s == NATS_OK)
            return NXC_OK;
        if (s != NATS_TIMEOUT)
            return nat_fail(s, 0, "publish flush");
        if (left <= 0)
            return nxc_error_set(NXC_EAGAIN, "publish flush: acks still missing after %ld ms",
                                 timeout_ms);
    }
}

/* --- consumers -------------------------------------------------------------------------- */

static int consumer_create(nxc_bus *b, const char *stream, const char *durable, const char *filter,
                           uint64_t start_seq)
{
    jsConsumerConfig cc;
    jsErrCode jerr = 0;
    natsStatus s;

    jsConsumerConfig_Init(&cc);
    cc.Durable = durable;
    cc.FilterSubject = filter;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = start_seq > 0 ? js_DeliverByStartSequence : js_DeliverAll;
    cc.OptStartSeq = start_seq;
    cc.AckWait = CONSUMER_ACK_WAIT_MS * NS_PER_MS;
    /* Messages waiting on a parent are nak'd with a delay and stay pending meanwhile: room
     * for many of them, yet a bound. */
    cc.MaxAckPending = CONSUMER_MAX_ACK_PENDING;
    s = js_AddConsumer(NULL, b->js, stream, &cc, NULL, &jerr);
    if (s != NATS_OK)
        return nat_fail(s, jerr, "consumer create");
    return NXC_OK;
}

/* Makes sure the durable exists, recreating it when the server lost it. It comes back
 * delivering the whole stream: the start sequence given at open may mean nothing if the
 * stream was lost as well, and re-applying is harmless where skipping would lose writes.
 * wait_ms bounds the lookup so a fetch keeps roughly to its time-out. */
static int consumer_check(nxc_bus_consumer *c, int64_t wait_ms)
{
    jsConsumerInfo *ci = NULL;
    jsOptions jo;
    jsErrCode jerr = 0;
    unsigned gen = atomic_load(&c->bus->conn_gen);
    natsStatus s;
    int rc;

    jsOptions_Init(&jo);
    jo.Wait = wait_ms < CHECK_MIN_WAIT_MS ? CHECK_MIN_WAIT_MS : wait_ms;
    s = js_GetConsumerInfo(&ci, c->bus->js, c->stream, c->durable, &jo, &jerr);
    jsConsumerInfo_Destroy(ci);
    if (s == NATS_OK)
        goto ok;
    if (jerr != JSConsumerNotFoundErr)
        return nat_fail(s, jerr, "consumer check");
    rc = consumer_create(c->bus, c->stream, c->durable, c->filter, 0);
    if (rc != NXC_OK)
        return rc;
ok:
    c->checked_gen = gen;
    c->checked_ms = now_ms();
    return NXC_OK;
}

int nxc_bus_consumer_open(nxc_bus *b, const char *stream, const char *durable, const char *filter,
                          uint64_t start_seq, nxc_bus_consumer **out)
{
    nxc_bus_consumer *c = NULL;
    jsConsumerInfo *ci = NULL;
    jsSubOptions so;
    jsErrCode jerr = 0;
    natsStatus s;
    int rc;

    *out = NULL;
    if (stream == NULL || durable == NULL)
        return nxc_error_set(NXC_EINVALID, "consumer: stream and durable are required");
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    c->bus = b;
    c->stream = strdup(stream);
    c->durable = strdup(durable);
    c->filter = filter ? strdup(filter) : NULL;
    if (c->stream == NULL || c->durable == NULL || (filter && !c->filter)) {
        rc = nxc_error_set(NXC_ENOMEM, "out of memory");
        goto fail;
    }
    c->checked_gen = atomic_load(&b->conn_gen);
    s = js_GetConsumerInfo(&ci, b->js, stream, durable, NULL, &jerr);
    if (s == NATS_OK && ci && ci->Config) {
        const char *had = ci->Config->FilterSubject ? ci->Config->FilterSubject : "";

        if (strcmp(had, filter ? filter : "") != 0) {
            /* made with another filter (an older layout): start it over; re-applying is
             * harmless where skipping would lose writes */
            jsConsumerInfo_Destroy(ci);
            ci = NULL;
            s = js_DeleteConsumer(b->js, stream, durable, NULL, &jerr);
            if (s != NATS_OK) {
                rc = nat_fail(s, jerr, "consumer re-create");
                goto fail;
            }
            s = NATS_NOT_FOUND;
            jerr = JSConsumerNotFoundErr;
        }
    }
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK && jerr == JSConsumerNotFoundErr) {
        rc = consumer_create(b, stream, durable, filter, start_seq);
        if (rc != NXC_OK)
            goto fail;
    } else if (s != NATS_OK) {
        rc = nat_fail(s, jerr, "consumer lookup");
        goto fail;
    }
    c->checked_ms = now_ms();
    /* Bind by name with no config of our own: the server's config and position stand. */
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = durable;
    so.ManualAck = true;
    s = js_PullSubscribe(&c->sub, b->js, NULL, durable, NULL, &so, &jerr);
    if (s != NATS_OK) {
        rc = nat_fail(s, jerr, "consumer bind");
        goto fail;
    }
    *out = c;
    return NXC_OK;
fail:
    free(c->stream);
    free(c->durable);
    free(c->filter);
    free(c);
    return rc;
}

void nxc_bus_consumer_close(nxc_bus_consumer *c)
{
    if (c == NULL)
        return;
    /* Destroy, not Unsubscribe: the durable and its position stay on the server. */
    natsSubscription_Destroy(c->sub);
    free(c->stream);
    free(c->durable);
    free(c->filter);
    free(c);
}

static int wrap_list(nxc_bus *b, natsMsgList *list, nxc_bus_msg ***msgs, int *n)
{
    nxc_bus_msg **arr = calloc((size_t)list->Count, sizeof(*arr));
    int rc = NXC_OK;
    int k = 0;

    if (arr == NULL)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    for (int i = 0; i < list->Count; i++) {
        jsMsgMetaData *md = NULL;
        nxc_bus_msg *m;
        natsStatus s;

        m = calloc(1, sizeof(*m));
        if (m == NULL) {
            rc = nxc_error_set(NXC_ENOMEM, "out of memory");
            goto fail;
        }
        s = natsMsg_GetMetaData(&md, list->Msgs[i]);
        if (s != NATS_OK) {
            free(m);
            rc = nat_fail(s, 0, "message metadata");
            goto fail;
        }
        m->seq = md->Sequence.Stream;
        m->pending = md->NumPending;
        m->time_ns = md->Timestamp;
        m->delivered = md->NumDelivered;
        jsMsgMetaData_Destroy(md);
        m->m = list->Msgs[i];
        list->Msgs[i] = NULL;
        m->bus = b;
        arr[k++] = m;
    }
    *msgs = arr;
    *n = k;
    return NXC_OK;
fail:
    /* Unacked messages come back after the ack wait: dropping them here loses nothing. */
    for (int i = 0; i < k; i++)
        nxc_bus_msg_free(arr[i]);
    free(arr);
    return rc;
}

int nxc_bus_fetch(nxc_bus_consumer *c, int batch, long timeout_ms, nxc_bus_msg ***msgs, int *n)
{
    natsMsgList list = {0};
    jsErrCode jerr = 0;
    int64_t deadline;
    natsStatus s;
    int rc;

    *msgs = NULL;
    *n = 0;
    if (batch < 1 || batch > MAX_FETCH_BATCH || timeout_ms < 1)
        return nxc_error_set(NXC_EINVALID, "fetch: batch %d or time-out %ld out of range", batch,
                             timeout_ms);
    deadline = now_ms() + timeout_ms;
    /* After a reconnect the server may have come back without our consumer (state lost):
     * a pull to a missing consumer would just never be answered. */
    if (c->checked_gen != atomic_load(&c->bus->conn_gen) && nxc_bus_connected(c->bus)) {
        rc = consumer_check(c, timeout_ms);
        if (rc == NXC_ENOTFOUND)
            return rc; /* the stream itself is gone */
    }
    for (int attempt = 0;; attempt++) {
        int64_t left = deadline - now_ms();

        s = natsSubscription_Fetch(&list, c->sub, batch, left > 0 ? left : 1, &jerr);
        if (s == NATS_OK && list.Count > 0)
            break;
        natsMsgList_Destroy(&list);
        if (s != NATS_OK && s != NATS_TIMEOUT)
            return nat_fail(s, jerr, "fetch");
        /* Idle: check now and then that the consumer is still there. */
        if (attempt == 0 && nxc_bus_connected(c->bus) &&
            now_ms() - c->checked_ms >= CONSUMER_CHECK_MS) {
            rc = consumer_check(c, timeout_ms);
            if (rc == NXC_ENOTFOUND)
                return rc;
            if (rc == NXC_OK && deadline - now_ms() > 0)
                continue;
        }
        return nat_fail(NATS_TIMEOUT, 0, "fetch: no message");
    }
    rc = wrap_list(c->bus, &list, msgs, n);
    natsMsgList_Destroy(&list);
    return rc;
}

/* --- messages --------------------------------------------------------------------------- */

const void *nxc_bus_msg_data(const nxc_bus_msg *m)
{
    return natsMsg_GetData(m->m);
}

size_t nxc_bus_msg_len(const nxc_bus_msg *m)
{
    int len = natsMsg_GetDataLength(m->m);

    return len > 0 ? (size_t)len : 0;
}

const char *nxc_bus_msg_subject(const nxc_bus_msg *m)
{
    return natsMsg_GetSubject(m->m);
}

const char *nxc_bus_msg_header(const nxc_bus_msg *m, const char *name)
{
    const char *v = NULL;

    if (natsMsgHeader_Get(m->m, name, &v) != NATS_OK)
        return NULL;
    return v;
}

uint64_t nxc_bus_msg_seq(const nxc_bus_msg *m)
{
    return m->seq;
}

uint64_t nxc_bus_msg_pending(const nxc_bus_msg *m)
{
    return m->pending;
}

uint64_t nxc_bus_msg_delivered(const nxc_bus_msg *m)
{
    return m->delivered;
}

int64_t nxc_bus_msg_time_ns(const nxc_bus_msg *m)
{
    return m->time_ns;
}

/* Synchronous: NXC_OK means the server recorded the ack, so the agent knows the message
 * will not come back. Costs one round trip per message; a failed ack only means the
 * message is delivered again after the ack wait, and apply skips it as stale. */
int nxc_bus_msg_ack(nxc_bus_msg *m)
{
    jsOptions jo;
    jsErrCode jerr = 0;
    natsStatus s;

    if (m->bus == NULL)
        return nxc_error_set(NXC_EINVALID, "ack: not a consumer message");
    if (!nxc_bus_connected(m->bus))
        return nxc_error_set(
            NXC_EUNAVAIL,
            "ack: not connected to NATS (message %" PRIu64 " will be delivered again)", m->seq);
    jsOptions_Init(&jo);
    jo.Wait = ACK_SYNC_WAIT_MS;
    s = natsMsg_AckSync(m->m, &jo, &jerr);
    if (s != NATS_OK)
        return nat_fail(s, jerr, "ack");
    return NXC_OK;
}

int nxc_bus_msg_nak(nxc_bus_msg *m, long delay_ms)
{
    natsStatus s;

    if (m->bus == NULL)
        return nxc_error_set(NXC_EINVALID, "nak: not a consumer message");
    s = natsMsg_NakWithDelay(m->m, delay_ms > 0 ? delay_ms : 0, NULL);
    if (s != NATS_OK)
        return nat_fail(s, 0, "nak");
    return NXC_OK;
}

void nxc_bus_msg_free(nxc_bus_msg *m)
{
    if (m == NULL)
        return;
    natsMsg_Destroy(m->m);
    free(m);
}

/* --- direct reads ----------------------------------------------------------------------- */

static int wrap_raw(natsMsg *raw, nxc_bus_msg **out)
{
    nxc_bus_msg *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        natsMsg_Destroy(raw);
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    m->m = raw;
    m->seq = natsMsg_GetSequence(raw);
    m->time_ns = natsMsg_GetTime(raw);
    *out = m;
    return NXC_OK;
}

/* js_GetMsg: NATS_OK, or NXC_ENOTFOUND with *gone = 1 when only that sequence is missing. */
static int get_one(nxc_bus *b, const char *stream, uint64_t seq, nxc_bus_msg **out, int *gone)
{
    natsMsg *raw = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    *gone = 0;
    s = js_GetMsg(&raw, b->js, stream, seq, NULL, &jerr);
    if (s == NATS_OK)
        return wrap_raw(raw, out);
    *gone = jerr == JSNoMessageFoundErr;
    return nat_fail(s, jerr, "stream get");
}

int nxc_bus_stream_get(nxc_bus *b, const char *stream, uint64_t seq, nxc_bus_msg **out)
{
    jsStreamInfo *si = NULL;
    jsDirectGetMsgOptions dg;
    natsMsg *raw = NULL;
    jsErrCode jerr = 0;
    uint64_t first;
    uint64_t last;
    natsStatus s;
    int gone = 0;
    int rc;

    *out = NULL;
    if (stream == NULL)
        return nxc_error_set(NXC_EINVALID, "stream get: no stream");
    if (seq == 0)
        seq = 1;
    /* The message is usually there: one plain get, which also fails fast on a missing
     * stream (a direct get to a missing stream is never answered, only timed out). */
    rc = get_one(b, stream, seq, out, &gone);
    if (rc == NXC_OK || !gone)
        return rc;

    s = js_GetStreamInfo(&si, b->js, stream, NULL, &jerr);
    if (s != NATS_OK)
        return nat_fail(s, jerr, "stream get");
    first = si->State.FirstSeq;
    last = si->State.LastSeq;
    if (si->Config != NULL && si->Config->AllowDirect && seq < last) {
        jsStreamInfo_Destroy(si);
        /* The next message matching ">" after the gap, in one request. */
        jsDirectGetMsgOptions_Init(&dg);
        dg.Sequence = seq + 1;
        dg.NextBySubject = ">";
        s = js_DirectGetMsg(&raw, b->js, stream, NULL, &dg);
        if (s != NATS_OK)
            return nat_fail(s, 0, "stream get");
        return wrap_raw(raw, out);
    }
    jsStreamInfo_Destroy(si);
    /* Without direct gets: one plain get per sequence until one is kept. */
    for (seq = seq + 1 > first ? seq + 1 : first; seq <= last; seq++) {
        rc = get_one(b, stream, seq, out, &gone);
        if (rc == NXC_OK || !gone)
            return rc;
    }
    return nxc_error_set(NXC_ENOTFOUND, "stream get: no message after %" PRIu64 " in %s", last,
                         stream);
}
