/*
 * event: the replication message that travels on the stream, and its msgpack encoding.
 * Pure: no I/O. Decoding takes untrusted bytes: every size is capped and a malformed message
 * is NXC_EINVALID, never a crash.
 *
 * Body (msgpack map, keys are short strings):
 *   "v": 1                         format version
 *   "op": "upsert" | "delete" | "release" | "retract"
 *   "origin": runtime id that published it
 *   "hlc": uint                    stamp of the change that caused this message
 *   "obj": {"group","version","resource","kind","ns","name"}  ("ns" "" = cluster-scoped)
 *   "spec"/"status": {"vv": map, "hlc": uint, "by": runtime id, "hash": bin(32),
 *                     "data": plane content}     (both present on upsert; "data" absent on
 *                                                  delete, the vectors kept)
 */
#ifndef NXC_EVENT_H
#define NXC_EVENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "vv.h"

#define NXC_EVENT_MAX_BYTES (8u * 1024u * 1024u) /* larger bodies are rejected */
#define NXC_EVENT_NAME_MAX 253                   /* Kubernetes name limit */

/* release: the origin stopped replicating the object (no ReplicationConfig selects it any
 * more); the peer forgets its record and keeps its replica. retract: the same, and the peer
 * removes its replica if the connector created it (deletion policy Delete). Both carry the
 * vectors without data, like a delete. */
enum nxc_event_op {
    NXC_EVENT_UPSERT = 1,
    NXC_EVENT_DELETE = 2,
    NXC_EVENT_RELEASE = 3,
    NXC_EVENT_RETRACT = 4
};

/* "upsert", "delete", "release", "retract" */
const char *nxc_event_op_name(enum nxc_event_op op);

typedef struct nxc_event_plane {
    nxc_vv *vv;                             /* owned; never NULL in a decoded event */
    uint64_t hlc;                           /* stamp of the plane's last change */
    char by[NXC_VV_ID_MAX + 1];             /* runtime that made that change */
    unsigned char hash[NXC_CODEC_HASH_LEN]; /* canonical hash of data */
    json_t *data;                           /* owned; NULL on delete */
} nxc_event_plane;

typedef struct nxc_event {
    enum nxc_event_op op;
    char origin[NXC_VV_ID_MAX + 1];
    uint64_t hlc;
    char group[NXC_EVENT_NAME_MAX + 1]; /* "" for the core group */
    char version[64];
    char resource[NXC_EVENT_NAME_MAX + 1];
    char kind[NXC_EVENT_NAME_MAX + 1];
    char ns[64]; /* "" when cluster-scoped */
    char name[NXC_EVENT_NAME_MAX + 1];
    nxc_event_plane plane[NXC_PLANE_COUNT];
} nxc_event;

/* Encodes ev into a new buffer (*out malloc'd, caller frees). */
int nxc_event_encode(const nxc_event *ev, char **out, size_t *out_len);
/* Decodes untrusted bytes into *ev (zeroed first); free with nxc_event_clear. On error *ev is
 * left cleared. */
int nxc_event_decode(const void *data, size_t len, nxc_event *ev);
/* Frees what ev owns and zeroes it. */
void nxc_event_clear(nxc_event *ev);

/* The object key "group/resource/ns/name" (ns may be empty) into buf; NXC_ELIMIT if small. */
int nxc_event_key(const nxc_event *ev, char *buf, size_t len);

/* Writes ev as one JSON object (for inspect): new reference, caller's. */
int nxc_event_to_json(const nxc_event *ev, json_t **out);

#endif
