/*
 * agent: the nexus-agent daemon's shared state. One loop thread owns the store, the clock,
 * the write client and every map here; watch threads (one per type), consumer threads (one
 * per peer) and cnats callbacks only post copies of what they got to the loop's queue.
 *
 * Flow (DESIGN §5): a watch event is a local change when a plane's canonical hash differs
 * from the LMDB record: the loop bumps that plane's vector, stamps the HLC, stores the record
 * and the encoded event in the outbox in one transaction, commits, then publishes. A message
 * from a peer is compared plane by plane against the record: dominating content is written to
 * the runtime, stale content skipped, concurrent content resolved by (HLC, runtime id) the
 * same way on both sides; the record is committed and only then the message acked.
 */
#ifndef NXC_AGENT_H
#define NXC_AGENT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bus.h"
#include "cfg.h"
#include "event.h"
#include "kube.h"
#include "queue.h"
#include "scope.h"
#include "store.h"
#include "strmap.h"
#include "vv.h"

/* A set of peers, by their index in the config (at most 32 peers). */
typedef uint32_t peer_mask;
#define PEER_BIT(i) ((peer_mask)1 << (i))
#define NXC_OUTBOX_KEY_MAX 768 /* "<object key>#<peer>" */

/* Queue item kinds. */
enum item_kind {
    ITEM_WATCH = 1,  /* a watch or list event of a local object */
    ITEM_LIST_BEGIN, /* a complete list of a type starts (or restarts) */
    ITEM_LIST_END,   /* ... and ended: absent known objects are deletes */
    ITEM_REMOTE,     /* a message from a peer's stream */
    ITEM_PUB_ACK,    /* a publish was acknowledged or failed */
    ITEM_BATCH_DONE, /* internal: marks the end of a consumer batch */
    ITEM_RESYNC,     /* a peer lost messages of our stream: publish everything again */
};

/* Producer classes, each with its own queue bound. */
enum item_class { CLS_FREE = 0, CLS_WATCH = 1, CLS_REMOTE = 2 };

struct agent;

/* What a watched type is for. */
enum type_role {
    ROLE_STATIC = 0, /* listed in the config's replicate: every object, to every peer */
    ROLE_DYNAMIC,    /* replicated on demand: objects a ReplicationConfig selects, and
                        objects a peer replicates to us (their edits flow back) */
    ROLE_CRDS,       /* the datamodel: CustomResourceDefinitions */
    ROLE_CONFIGS,    /* the intent: ReplicationConfigs */
};

#define AGENT_MAX_TYPES 512 /* watched types (the array never moves: threads hold pointers) */

/* One watched type and its watch thread. */
typedef struct type_state {
    struct agent *agent;
    enum type_role role;
    nxc_kube_gvr gvr; /* strings point at the arrays below */
    char group[254], version[64], resource[254];
    char kind[128];   /* learned from the first object seen, for creates */
    char prefix[512]; /* store key prefix "group/resource/" */
    nxc_strmap *seen; /* loop-owned: keys seen by the complete list in progress */
    pthread_t thread;
    int started;
    atomic_int listed;     /* 1 once a complete list went through */
    atomic_int watching;   /* 1 while a watch stream is open */
    atomic_int missing;    /* 1 while the runtime does not serve the type (CRD not installed) */
    atomic_int kind_known; /* 1 once discovery told the kind (written before, read after) */
    atomic_int forbidden;  /* 1 while the runtime refuses (403) to let the agent list it */
    atomic_int unreadable; /* 1 while what the runtime sends of the type cannot be read */
    int rescan_pending;    /* loop: a rescan could not list it before its first complete list;
                              rescan once that list is in */
} type_state;

/* What a peer told about our changes (loop-owned, refreshed by the status tick). */
typedef struct peer_report {
    int ok;           /* the last request was answered */
    int64_t at_ms;    /* ... at */
    uint64_t applied; /* our stream's sequence the peer applied up to */
    json_t *problems; /* [{kind, what, message}] */
} peer_report;

/* One peer and its consumer thread. */
typedef struct peer_state {
    struct agent *agent;
    const nxc_cfg_peer *cfg;
    char stream[96];    /* NXC_<peer> */
    char durable[96];   /* nxc-<self> */
    char filter[160];   /* nxc.<peer>.<self>.>: what the peer sends to us */
    char position[128]; /* store position name */
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t done;     /* the loop finished the batch the thread posted */
    int outstanding;         /* messages posted and not yet finished by the loop */
    atomic_int reachable;    /* the peer's stream answered recently */
    atomic_ullong pending;   /* messages of the peer not yet delivered to us (lag) */
    peer_report report;      /* loop: the peer's last answer about our stream */
    pthread_mutex_t wait_mu; /* guards waiting (the control thread reads it) */
    uint64_t *waiting;       /* sequences of the peer's messages put back for a retry */
    size_t nwaiting, capwaiting;
} peer_state;

typedef struct item {
    nxc_qitem q;
    type_state *type;       /* ITEM_WATCH, ITEM_LIST_* */
    enum nxc_kube_event ev; /* ITEM_WATCH; 0 = object seen in a list */
    json_t *obj;            /* ITEM_WATCH: owned */
    peer_state *peer;       /* ITEM_REMOTE */
    nxc_bus_msg *msg;       /* ITEM_REMOTE: owned */
    char *msg_id;           /* ITEM_PUB_ACK: owned; ITEM_LIST_END: the list's rv;
                               ITEM_RESYNC: the peer that asked */
    int ok;                 /* ITEM_PUB_ACK */
    uint64_t seq;           /* ITEM_PUB_ACK: the stream sequence of the publish */
} item;

/* An apply that waits or failed, told to the peer that sent it (see agent_on_control). */
enum problem_kind { PROBLEM_TYPE_MISSING = 1, PROBLEM_FORBIDDEN, PROBLEM_REJECTED };
#define AGENT_PROBLEMS 32
typedef struct agent_problem {
    enum problem_kind kind;
    char origin[NXC_VV_ID_MAX + 1]; /* the peer whose change it was */
    char what[640];                 /* the type ("resource.group") or, rejected, the key */
    char message[256];
    int64_t at_ms;
} agent_problem;

/* Counters, read by /metrics from another thread. */
typedef struct agent_stats {
    atomic_ullong local_changes;    /* local changes recorded */
    atomic_ullong published;        /* publishes acknowledged by JetStream */
    atomic_ullong publish_failures; /* publishes that failed or timed out (retried) */
    atomic_ullong applied;          /* remote changes written to the runtime */
    atomic_ullong skipped_stale;    /* remote planes older than ours */
    atomic_ullong echoes;           /* watch events that were our own writes or no-ops */
    atomic_ullong conflicts;        /* concurrent versions resolved */
    atomic_ullong apply_errors;     /* remote changes the runtime refused */
    atomic_ullong malformed;        /* peer messages that could not be decoded */
    atomic_ullong runtime_writes;   /* create/update/delete calls made */
    atomic_ullong relists;          /* complete lists of a type */
    atomic_ullong outbox;           /* events waiting for a JetStream ack */
    atomic_ullong bus_reconnects;   /* NATS reconnections */
    atomic_ullong released;         /* objects no config selects any more (release/retract) */
} agent_stats;

typedef struct agent {
    nxc_cfg *cfg;
    nxc_kube_config *kcfg;
    nxc_kube *kube; /* the loop's client for writes */
    nxc_store *store;
    nxc_bus *bus;
    nxc_queue *queue;
    nxc_hlc hlc;
    volatile int stop;       /* set by the signal handler */
    int replaying;           /* replay mode: the streams are the truth, the runtime is not */
    int replay_record_only;  /* replay before its starting point: records only */
    const char *resync_salt; /* during a resync: makes its message ids new */
    int stream_ready;        /* loop: our stream exists; nothing is published before */
    int64_t stream_try_ms;   /* loop: last attempt to create it */
    long stream_backoff_ms;  /* loop: wait before the next attempt */
    int lock_fd;             /* flock on the store directory: one agent per store */
    atomic_int bus_up;       /* NATS connected */
    atomic_int runtime_up;   /* the local API server answers (every client notes it) */

    type_state *types;       /* AGENT_MAX_TYPES slots; [0, ntypes) in use */
    atomic_size_t ntypes;    /* grows (loop only); other threads read it atomically */
    scope *scope;            /* loop: the datamodel and the ReplicationConfigs */
    int scope_dirty;         /* loop: configs or CRDs changed since the last rescan */
    int64_t rescan_after_ms; /* loop: a failed rescan is tried again after this */
    long rescan_backoff_ms;  /* loop: the wait after the next failed rescan (doubles) */
    int rescan_failed;       /* loop: a type of the rescan in progress could not be listed */
    int rescan_phase;        /* loop, during a rescan: 1 publishes what is selected (parents'
                                types first), 2 releases what is not (children's types first) */
    int64_t status_due_ms;   /* loop: next ReplicationConfig status write */
    peer_state *peers;
    size_t npeers;

    nxc_strmap *inflight;  /* msg id -> (key, time): published, ack not yet in */
    int64_t last_sweep_ms; /* last outbox sweep */
    atomic_int resend_all; /* reconnected: sweep the outbox now */

    char stream[96]; /* our own stream, NXC_<self> */
    agent_stats stats;
    struct http_server *http;

    pthread_mutex_t problems_mu; /* guards problems (the control thread reads them) */
    agent_problem problems[AGENT_PROBLEMS];
    size_t nproblems;
    struct intent_track *track; /* loop: per replicated object, for config status */
} agent;

/* loop.c: runs until stop or a store failure (-1) */
int agent_loop(agent *a);
/* Applies one encoded event from `from` (stream sequence seq): 0 when done (ack it), 1 when
 * it must be retried after *retry_ms. Used by the loop and by replay. */
int agent_apply_message(agent *a, nxc_store_txn *txn, const void *data, size_t len,
                        const char *from, uint64_t seq, long *retry_ms);
/* A local object as the runtime shows it: records and publishes what changed (loop.c). */
int agent_local_upsert(agent *a, nxc_store_txn *txn, type_state *t, json_t *obj);
/* intent.c: the datamodel and the ReplicationConfigs (see intent.c) */
int intent_watch(agent *a, item *it);
int intent_list_end(agent *a, type_state *t);
int intent_ready(agent *a);
int intent_reconcile(agent *a);
void intent_status(agent *a);
/* The peers ReplicationConfigs send this object to (0: none), and whether every selecting
 * config's policy is Delete. */
peer_mask intent_wants(agent *a, const type_state *t, const json_t *obj, int *policy_delete);
/* Bookkeeping for config status and status.nexus: the object is replicated to dests (and
 * selected by the configs whose status counts it); a change of generation gen was published;
 * the publish of key went to our stream at seq; the object is no longer replicated; a
 * conflict was resolved on it. */
void intent_track(agent *a, const type_state *t, const json_t *obj, const char *key,
                  peer_mask dests, int published);
void intent_track_seq(agent *a, const char *key, uint64_t seq);
/* A peer's change was written here (written: the object now): status.nexus follows it. */
void intent_track_applied(agent *a, const type_state *t, const json_t *written, const char *key);
void intent_untrack(agent *a, const char *key);
void intent_conflict(agent *a, const char *key, const char *winner);
void intent_free(agent *a);
/* A peer's answer to a status request (untrusted): the document, or NULL when malformed. */
json_t *intent_parse_report(const char *text, size_t len);
/* replay.c: rebuilds the local runtime from streams (see README "Replay"); 0 on success */
int agent_replay(agent *a, const char *const *runtimes, size_t n, uint64_t from_seq,
                 int64_t since_ns);
/* watch.c */
int watch_start(agent *a, type_state *t);
/* Adds a watched type (loop or replay thread only); its watch starts when start is 1 and
 * the agent runs. Returns the type, or NULL when the table is full. */
type_state *agent_type_add(agent *a, enum type_role role, const char *group, const char *version,
                           const char *resource, const char *kind, int namespaced, int start);
type_state *agent_type_find(agent *a, const char *group, const char *resource);
/* consume.c */
int consume_start(agent *a, peer_state *p);
void consume_finished(peer_state *p, int n);
/* publish.c */
void publish_on_ack(void *ctx, const char *msg_id, int ok, uint64_t seq, const char *reason);
void publish_on_conn(void *ctx, int up);
void publish_on_resync_request(agent *a, const void *data, size_t len, const char *reply);
/* Control requests from peers on nxc.ctl.<self>.<verb>: "resync" and "status". */
void agent_on_control(void *ctx, const char *subject, const void *data, size_t len,
                      const char *reply);
/* Problems of applying a peer's changes (loop thread; read by the control thread). */
void agent_problem_set(agent *a, enum problem_kind kind, const char *origin, const char *what,
                       const char *message);
void agent_problem_clear(agent *a, const char *origin, const char *type, const char *key);
void publish_ensure_stream(agent *a);
/* Records the event in the outbox once per destination peer and queues the publishes. */
int publish_event(agent *a, nxc_store_txn *txn, const nxc_event *ev, const char *key,
                  peer_mask dests);
void publish_sweep(agent *a);
void publish_acked(agent *a, nxc_store_txn *txn, const char *msg_id, int ok, uint64_t seq);
void publish_batch_flush(agent *a);
void publish_batch_discard(void);
/* The number of publishes queued in this batch so far, and dropping those after a mark. */
size_t publish_batch_mark(void);
void publish_batch_truncate(size_t mark);
/* http.c */
struct http_server *http_start(agent *a, const char *listen);
void http_stop(struct http_server *h);

int64_t now_ms(void);
item *item_new(int kind, int cls);
void item_free(item *it);

#endif
