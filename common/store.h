/*
 * store: the agent's durable state in LMDB — the only file that includes lmdb.h.
 *
 * Three named databases in one environment:
 *   objects   object key "group/resource/ns/name" -> record (per-plane hash, vector, HLC,
 *             writer; last resourceVersion; tombstone flag; origin)
 *   positions name (e.g. a consumer "peer:B") -> uint64 stream sequence
 *   outbox    object key -> encoded event not yet acknowledged by JetStream (latest only:
 *             a newer change of the same object replaces the older pending one)
 * Records are stored as msgpack; their layout is private to this module.
 *
 * Threads: an nxc_store may be shared; a transaction belongs to the thread that began it.
 * One write transaction at a time (LMDB's rule); the agent batches many changes in one.
 * Open clears reader slots left by dead processes, so a crash never wedges the map.
 */
#ifndef NXC_STORE_H
#define NXC_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "vv.h"

#define NXC_STORE_DEFAULT_MAPSIZE ((size_t)8 << 30) /* 8 GiB of address space, sparse */

typedef struct nxc_store nxc_store;
typedef struct nxc_store_txn nxc_store_txn;

typedef struct nxc_store_plane {
    int has_hash;                           /* 0 until the plane was seen once */
    unsigned char hash[NXC_CODEC_HASH_LEN]; /* canonical hash of the plane content */
    nxc_vv *vv;                             /* owned; never NULL in a record from get */
    uint64_t hlc;                           /* stamp of the last change */
    char by[NXC_VV_ID_MAX + 1];             /* runtime that made the last change */
} nxc_store_plane;

#define NXC_STORE_DESTS_MAX 512

typedef struct nxc_store_rec {
    nxc_store_plane plane[NXC_PLANE_COUNT];
    char rv[64];                     /* last resourceVersion seen in the local runtime */
    char uid[64];                    /* uid in the local runtime ("" when unknown) */
    int tombstone;                   /* 1: deleted; the vectors are the delete's */
    uint64_t tombstone_at;           /* wall-clock ms of the delete, for collection */
    char origin[NXC_VV_ID_MAX + 1];  /* runtime where the object was first created */
    uint32_t flags;                  /* NXC_STORE_F_* */
    char dests[NXC_STORE_DESTS_MAX]; /* on-demand objects: the peers it was sent to,
                                        comma-separated ("" = every peer / none yet) */
} nxc_store_rec;

#define NXC_STORE_F_CREATED_BY_CONNECTOR 0x1u /* this agent created the local replica */
#define NXC_STORE_F_POLICY_DELETE 0x2u /* the configs selecting it have deletionPolicy Delete */
#define NXC_STORE_F_RELEASED                                                                       \
    0x4u /* ours, sent to no peer any more; kept so that its vectors                               \
            (and message ids) go on if it is selected again */

/* Opens (creating the directory's files if needed) the store in dir. mapsize 0 = default. */
int nxc_store_open(const char *dir, size_t mapsize, nxc_store **out);
void nxc_store_close(nxc_store *s);

int nxc_store_txn_begin(nxc_store *s, int readonly, nxc_store_txn **out);
/* A child of a write transaction: its writes join the parent on commit and vanish on abort,
 * so one item of a batch can fail without undoing the others. The parent must not be used
 * until the child ends. */
int nxc_store_txn_nested(nxc_store_txn *parent, nxc_store_txn **out);
/* Commit or abort ends and frees the transaction in all cases. */
int nxc_store_txn_commit(nxc_store_txn *t);
void nxc_store_txn_abort(nxc_store_txn *t);

/* A zeroed record whose planes have empty vectors; free with nxc_store_rec_free. */
nxc_store_rec *nxc_store_rec_new(void);
void nxc_store_rec_free(nxc_store_rec *r);

/* NXC_ENOTFOUND when absent; *out is the caller's. */
int nxc_store_get(nxc_store_txn *t, const char *key, nxc_store_rec **out);
int nxc_store_put(nxc_store_txn *t, const char *key, const nxc_store_rec *r);
int nxc_store_del(nxc_store_txn *t, const char *key); /* absent is not an error */

/* Calls cb for every record whose key starts with prefix ("" = all), in key order. The record
 * is borrowed for the call. A non-zero return from cb stops the walk and is returned. */
typedef int (*nxc_store_each_fn)(void *ctx, const char *key, const nxc_store_rec *r);
int nxc_store_foreach(nxc_store_txn *t, const char *prefix, nxc_store_each_fn cb, void *ctx);

/* Consumer and other positions. get: NXC_ENOTFOUND when never stored. */
int nxc_store_pos_get(nxc_store_txn *t, const char *name, uint64_t *seq);
int nxc_store_pos_put(nxc_store_txn *t, const char *name, uint64_t seq);

/* Outbox of encoded events awaiting a JetStream ack, keyed by object key. */
int nxc_store_outbox_put(nxc_store_txn *t, const char *key, const void *data, size_t len);
/* NXC_ENOTFOUND when absent. *data is borrowed from the transaction. */
int nxc_store_outbox_get(nxc_store_txn *t, const char *key, const void **data, size_t *len);
int nxc_store_outbox_del(nxc_store_txn *t, const char *key);
typedef int (*nxc_store_outbox_fn)(void *ctx, const char *key, const void *data, size_t len);
int nxc_store_outbox_foreach(nxc_store_txn *t, nxc_store_outbox_fn cb, void *ctx);
size_t nxc_store_outbox_count(nxc_store_txn *t);

#endif
