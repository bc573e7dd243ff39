/*
 * bus: NATS JetStream for the agent — streams, asynchronous publishes with headers and
 * deduplication, durable pull consumers. The only file that includes nats.h.
 *
 * Threads: nxc_bus_* calls may come from any thread (cnats is thread-safe). The publish ack
 * callback runs on a cnats thread: it must copy what it needs and return quickly. A consumer
 * and the messages it fetched belong to the thread that fetches.
 *
 * A publish counts as done only when JetStream acknowledged it (the ack callback with ok=1);
 * a publish that times out or fails is reported with ok=0 and must be sent again by the
 * caller. Nats-Msg-Id makes resending safe within the stream's duplicate window.
 */
#ifndef NXC_BUS_H
#define NXC_BUS_H

#include <stddef.h>
#include <stdint.h>

typedef struct nxc_bus nxc_bus;
typedef struct nxc_bus_consumer nxc_bus_consumer;
typedef struct nxc_bus_msg nxc_bus_msg;

/* Called on a cnats thread for each asynchronous publish: ok=1 with the stream sequence, or
 * ok=0 with a reason (time-out, no responders, error). msg_id is borrowed for the call.
 * Exactly once per accepted publish, possibly from two cnats threads at once (acks, and the
 * failures reported when the connection drops). */
typedef void (*nxc_bus_ack_fn)(void *ctx, const char *msg_id, int ok, uint64_t seq,
                               const char *reason);
/* Called on a cnats thread when the connection is lost (up=0) and when it is back (up=1). */
typedef void (*nxc_bus_conn_fn)(void *ctx, int up);

typedef struct nxc_bus_opts {
    const char *urls;           /* comma-separated nats:// URLs */
    const char *name;           /* connection name shown by the server */
    const char *creds_file;     /* NULL or a .creds file (JWT + nkey seed) */
    const char *nkey_seed_file; /* NULL or a file holding an nkey seed */
    const char *ca_file;        /* NULL or a CA bundle for TLS */
    const char *cert_file;      /* NULL or a client certificate for mutual TLS */
    const char *key_file;       /* NULL or its key */
    const char *domain;         /* NULL or the JetStream domain of this side */
    int max_pending;            /* publishes in flight before publish blocks (default 4096) */
    long ack_timeout_ms;        /* publish ack time-out (default 5000) */
    nxc_bus_ack_fn on_ack;
    nxc_bus_conn_fn on_conn;
    void *ctx;
} nxc_bus_opts;

typedef struct nxc_bus_stream_opts {
    const char *name;          /* stream name */
    const char *subjects;      /* one subject filter, e.g. "nxc.A.>"; NULL for a mirror */
    const char *mirror;        /* NULL, or the stream this one mirrors (it then has no subjects) */
    const char *mirror_domain; /* the JetStream domain of the mirrored stream (NULL: ours) */
    int64_t max_msgs_per_subject; /* 1 keeps the latest message per object */
    int64_t max_age_ms;           /* 0 = unlimited */
    int64_t max_bytes;            /* 0 = unlimited */
    int64_t duplicate_window_ms;  /* default 120000 */
    int replicas;                 /* default 1 */
} nxc_bus_stream_opts;

/* Connects (retrying in the background when the server is not there: the call returns
 * NXC_OK after the first failed attempt, and the connection comes up later). */
int nxc_bus_connect(const nxc_bus_opts *o, nxc_bus **out);
void nxc_bus_close(nxc_bus *b);
int nxc_bus_connected(nxc_bus *b); /* 1 when connected now */

/* Creates the stream, or updates its limits if it exists. */
int nxc_bus_stream_ensure(nxc_bus *b, const nxc_bus_stream_opts *o);
/* First and last sequence and message count of a stream (domain of the bus). */
int nxc_bus_stream_info(nxc_bus *b, const char *stream, uint64_t *first, uint64_t *last,
                        uint64_t *msgs);

/* Header list for publish: pairs of name, value; n pairs. */
typedef struct nxc_bus_header {
    const char *name;
    const char *value;
} nxc_bus_header;

/* Publishes asynchronously with Nats-Msg-Id = msg_id; the outcome comes to on_ack. Blocks
 * while max_pending publishes are in flight. NXC_EUNAVAIL when disconnected. */
int nxc_bus_publish(nxc_bus *b, const char *subject, const nxc_bus_header *h, size_t nh,
                    const void *data, size_t len, const char *msg_id);
/* Waits up to timeout_ms for every publish in flight to be acknowledged or failed. */
int nxc_bus_publish_flush(nxc_bus *b, long timeout_ms);

/* Binds to (creating if needed) durable pull consumer `durable` on stream, explicit ack,
 * delivering the messages whose subject matches filter (NULL: all) from the start the first
 * time (start_seq 0) or from start_seq. A durable made with another filter is made again. */
int nxc_bus_consumer_open(nxc_bus *b, const char *stream, const char *durable, const char *filter,
                          uint64_t start_seq, nxc_bus_consumer **out);
void nxc_bus_consumer_close(nxc_bus_consumer *c);
/* Fetches up to batch messages, waiting up to timeout_ms: NXC_EAGAIN when none came.
 * Re-issues the pull after reconnects. *msgs is an array of n messages (free each with
 * nxc_bus_msg_free, then free() the array). */
int nxc_bus_fetch(nxc_bus_consumer *c, int batch, long timeout_ms, nxc_bus_msg ***msgs, int *n);

const void *nxc_bus_msg_data(const nxc_bus_msg *m);
size_t nxc_bus_msg_len(const nxc_bus_msg *m);
const char *nxc_bus_msg_subject(const nxc_bus_msg *m);
const char *nxc_bus_msg_header(const nxc_bus_msg *m, const char *name); /* NULL if absent */
uint64_t nxc_bus_msg_seq(const nxc_bus_msg *m);                         /* stream sequence */
uint64_t nxc_bus_msg_pending(const nxc_bus_msg *m);   /* messages left after this one */
uint64_t nxc_bus_msg_delivered(const nxc_bus_msg *m); /* deliveries so far (1 = first; 0 for
                                                         stream_get) */
int64_t nxc_bus_msg_time_ns(const nxc_bus_msg *m);    /* stream timestamp */
int nxc_bus_msg_ack(nxc_bus_msg *m);                  /* only after apply and commit */
int nxc_bus_msg_nak(nxc_bus_msg *m, long delay_ms);   /* redeliver later */
void nxc_bus_msg_free(nxc_bus_msg *m);

/* A stream's age and size limits (0 = none). */
int nxc_bus_stream_limits(nxc_bus *b, const char *stream, int64_t *max_age_ms, int64_t *max_bytes);

/*
 * Control requests over core NATS (outside JetStream): an agent serves requests on a subject
 * and peers ask with request/reply. They cross leaf-node links like any core subject.
 */
/* Called on a cnats thread for each request; data is borrowed for the call; answer with
 * nxc_bus_respond(reply). */
typedef void (*nxc_bus_request_fn)(void *ctx, const char *subject, const void *data, size_t len,
                                   const char *reply);
/* Serves requests on subject, which may hold wildcards (one subscription per bus; kept
 * across reconnects); fn gets the subject each request came on. */
int nxc_bus_serve(nxc_bus *b, const char *subject, nxc_bus_request_fn fn, void *ctx);
int nxc_bus_respond(nxc_bus *b, const char *reply, const void *data, size_t len);
/* Sends a request and waits up to timeout_ms for the answer (*reply malloc'd, NUL-terminated;
 * the caller frees it). NXC_EUNAVAIL / time-out when nobody answers. */
int nxc_bus_request(nxc_bus *b, const char *subject, const void *data, size_t len, long timeout_ms,
                    char **reply, size_t *reply_len);

/* Reads a stream directly (for inspect/replay, no consumer state): message at seq or the
 * next one after it. NXC_ENOTFOUND past the end. */
int nxc_bus_stream_get(nxc_bus *b, const char *stream, uint64_t seq, nxc_bus_msg **out);

#endif
