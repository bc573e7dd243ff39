/*
 * Helpers shared by the store unit tests: a fresh directory per test, vectors built through
 * the msgpack form (so the tests need only nxc_vv_pack/unpack/new/dup/free), and whole-record
 * comparison.
 */
#ifndef NXC_TEST_STORE_SUPPORT_H
#define NXC_TEST_STORE_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The current test's directory, created by store_setup and removed by store_teardown. */
extern char test_dir[];

void store_setup(void);
void store_teardown(void);

/* Removes a directory tree; 0 on success. */
int rm_tree(const char *dir);

/* A vector from "A=3,B=1" (ids ascending), built through nxc_vv_unpack. */
nxc_vv *vv_of(const char *spec);

/* 1 when both vectors pack to the same bytes (ids ascending, same counters). */
int vv_same(const nxc_vv *a, const nxc_vv *b);

/* A record with every field set to values derived from seed. */
nxc_store_rec *rec_full(unsigned seed);

/* Asserts (Criterion) that every field of a and b is equal. */
void assert_rec_eq(const nxc_store_rec *a, const nxc_store_rec *b);

/* Opens the store in test_dir with the default map size, asserting success. */
nxc_store *open_store(void);

/* Puts r under key in its own write transaction, asserting success. */
void put_one(nxc_store *s, const char *key, const nxc_store_rec *r);

/* A separate raw LMDB environment on test_dir, to write what the store never would. The store
 * must be closed meanwhile: LMDB forbids one process opening an environment twice. */
typedef struct raw_env raw_env;
raw_env *raw_begin(const char *db);
void raw_set(raw_env *r, const char *key, const void *data, size_t len);
void raw_commit(raw_env *r);

/* raw_begin, raw_set, raw_commit for one value. */
void raw_put(const char *db, const char *key, const void *data, size_t len);

/* Reads raw bytes under key in database db (caller frees *data); 0 when found. */
int raw_get(const char *db, const char *key, void **data, size_t *len);

#endif
