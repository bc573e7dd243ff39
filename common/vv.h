/*
 * vv: version vectors and a hybrid logical clock. Pure: no I/O; a vector is owned by one
 * thread at a time.
 *
 * A version vector maps runtime ids (1..63 bytes of [A-Za-z0-9_-]) to counters. Each plane of
 * each object has one. Comparing two tells whether one saw everything the other did.
 * The HLC is a 64-bit stamp: the upper 48 bits are wall-clock milliseconds, the lower 16 a
 * logical counter, so stamps order like time and never go backwards on one runtime.
 */
#ifndef NXC_VV_H
#define NXC_VV_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define NXC_VV_ID_MAX 63      /* longest runtime id */
#define NXC_VV_MAX_ENTRIES 64 /* a vector with more entries is rejected as malformed */

typedef struct nxc_vv nxc_vv;

enum nxc_vv_order {
    NXC_VV_EQUAL = 0,      /* same history */
    NXC_VV_DOMINATES = 1,  /* a saw everything b saw, and more */
    NXC_VV_STALE = 2,      /* b saw everything a saw, and more */
    NXC_VV_CONCURRENT = 3, /* each saw something the other did not */
};

/* Returns 1 when id is a valid runtime id, else 0. */
int nxc_vv_id_valid(const char *id);

nxc_vv *nxc_vv_new(void);                             /* empty vector; NULL on allocation failure */
nxc_vv *nxc_vv_dup(const nxc_vv *v);                  /* deep copy; NULL on allocation failure */
void nxc_vv_free(nxc_vv *v);                          /* NULL is fine */
uint64_t nxc_vv_get(const nxc_vv *v, const char *id); /* 0 when absent */
int nxc_vv_set(nxc_vv *v, const char *id, uint64_t counter);
int nxc_vv_bump(nxc_vv *v, const char *id); /* counter(id) += 1 */
size_t nxc_vv_size(const nxc_vv *v);
/* Entry i (0 <= i < size), in ascending id order; borrowed. */
const char *nxc_vv_id_at(const nxc_vv *v, size_t i, uint64_t *counter);

enum nxc_vv_order nxc_vv_compare(const nxc_vv *a, const nxc_vv *b);
/* a := pointwise maximum of a and b. */
int nxc_vv_merge(nxc_vv *a, const nxc_vv *b);

/* Readable form "A=3,B=1" (ids ascending; "" for empty) into a new string (free()). */
char *nxc_vv_format(const nxc_vv *v);
/* Parses the readable form; NXC_EINVALID when malformed. */
int nxc_vv_parse(const char *s, nxc_vv **out);

/* msgpack form: a map id -> uint. unpack rejects bad ids, duplicates, > MAX_ENTRIES. */
int nxc_vv_pack(msgpack_packer *pk, const nxc_vv *v);
int nxc_vv_unpack(const msgpack_object *o, nxc_vv **out);

/* Hybrid logical clock of one runtime. Not thread-safe: the agent loop owns it. */
typedef struct nxc_hlc {
    uint64_t last; /* the last stamp issued or seen */
} nxc_hlc;

/* A new stamp for a local event, greater than any stamp issued or seen before. */
uint64_t nxc_hlc_now(nxc_hlc *c);
/* Takes a remote stamp into account so later local stamps are greater. */
void nxc_hlc_observe(nxc_hlc *c, uint64_t remote);
/* For tests: as nxc_hlc_now with the wall clock given in milliseconds. */
uint64_t nxc_hlc_now_at(nxc_hlc *c, uint64_t wall_ms);

/* Deterministic winner between two concurrent versions: the higher HLC, then the greater
 * runtime id (bytewise). Returns 1 when (hlc_a, id_a) wins, 0 when (hlc_b, id_b) wins. */
int nxc_vv_a_wins(uint64_t hlc_a, const char *id_a, uint64_t hlc_b, const char *id_b);

#endif
