/* Helpers for the store unit tests (see support.h). */
#include "support.h"

#include <criterion/criterion.h>
#include <ftw.h>
#include <lmdb.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"

char test_dir[64];

void store_setup(void)
{
    snprintf(test_dir, sizeof(test_dir), "/tmp/nxc-store-XXXXXX");
    cr_assert_not_null(mkdtemp(test_dir), "mkdtemp");
}

void store_teardown(void)
{
    if (test_dir[0])
        rm_tree(test_dir);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int rm_tree(const char *dir)
{
    return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

nxc_vv *vv_of(const char *spec)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    nxc_vv *v = NULL;
    const char *p;
    size_t n = 0;
    int rc;

    if (spec[0])
        n = 1;
    for (p = spec; *p; p++)
        n += *p == ',';
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (p = spec; *p;) {
        const char *eq = strchr(p, '=');
        char *end;
        unsigned long long c;

        cr_assert_not_null(eq, "bad vector spec %s", spec);
        msgpack_pack_str(&pk, (size_t)(eq - p));
        msgpack_pack_str_body(&pk, p, (size_t)(eq - p));
        c = strtoull(eq + 1, &end, 10);
        msgpack_pack_uint64(&pk, c);
        p = *end == ',' ? end + 1 : end;
    }
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, NULL), MSGPACK_UNPACK_SUCCESS);
    rc = nxc_vv_unpack(&u.data, &v);
    cr_assert_eq(rc, NXC_OK, "vv_unpack %s: %s", spec, nxc_error_last());
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return v;
}

int vv_same(const nxc_vv *a, const nxc_vv *b)
{
    msgpack_sbuffer sa, sb;
    msgpack_packer pa, pb;
    int same;

    msgpack_sbuffer_init(&sa);
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pa, &sa, msgpack_sbuffer_write);
    msgpack_packer_init(&pb, &sb, msgpack_sbuffer_write);
    cr_assert_eq(nxc_vv_pack(&pa, a), NXC_OK);
    cr_assert_eq(nxc_vv_pack(&pb, b), NXC_OK);
    same = sa.size == sb.size && memcmp(sa.data, sb.data, sa.size) == 0;
    msgpack_sbuffer_destroy(&sa);
    msgpack_sbuffer_destroy(&sb);
    return same;
}

nxc_store_rec *rec_full(unsigned seed)
{
    nxc_store_rec *r = nxc_store_rec_new();
    char spec[64];
    int i;
    size_t j;

    cr_assert_not_null(r);
    for (i = 0; i < NXC_PLANE_COUNT; i++) {
        nxc_store_plane *p = &r->plane[i];

        p->has_hash = 1;
        for (j = 0; j < sizeof(p->hash); j++)
            p->hash[j] = (unsigned char)(seed * 31 + (unsigned)i * 7 + j);
        snprintf(spec, sizeof(spec), "rt-a=%u,rt_b=%u", seed + 1 + (unsigned)i, 40 + seed);
        nxc_vv_free(p->vv);
        p->vv = vv_of(spec);
        p->hlc = ((uint64_t)1700000000000 + seed) << 16 | (uint64_t)i;
        snprintf(p->by, sizeof(p->by), "%s", i ? "rt_b" : "rt-a");
    }
    snprintf(r->rv, sizeof(r->rv), "%u", 1000 + seed);
    snprintf(r->uid, sizeof(r->uid), "5f0c7a2e-%04u-4c1b-9d7e-0a1b2c3d4e5f", seed % 10000);
    r->tombstone = (int)(seed & 1);
    r->tombstone_at = (uint64_t)1700000000123 + seed;
    snprintf(r->origin, sizeof(r->origin), "rt-a");
    r->flags = NXC_STORE_F_CREATED_BY_CONNECTOR | (seed << 4);
    if (seed % 3)
        snprintf(r->dests, sizeof(r->dests), "edge-%u,hub", seed % 7);
    return r;
}

void assert_rec_eq(const nxc_store_rec *a, const nxc_store_rec *b)
{
    int i;

    for (i = 0; i < NXC_PLANE_COUNT; i++) {
        const nxc_store_plane *pa = &a->plane[i], *pb = &b->plane[i];

        cr_assert_eq(pa->has_hash, pb->has_hash, "plane %d has_hash", i);
        if (pa->has_hash)
            cr_assert_arr_eq(pa->hash, pb->hash, sizeof(pa->hash), "plane %d hash", i);
        cr_assert_not_null(pa->vv);
        cr_assert_not_null(pb->vv);
        cr_assert(vv_same(pa->vv, pb->vv), "plane %d vector", i);
        cr_assert_eq(pa->hlc, pb->hlc, "plane %d hlc", i);
        cr_assert_str_eq(pa->by, pb->by, "plane %d by", i);
    }
    cr_assert_str_eq(a->rv, b->rv);
    cr_assert_str_eq(a->uid, b->uid);
    cr_assert_eq(a->tombstone, b->tombstone);
    cr_assert_eq(a->tombstone_at, b->tombstone_at);
    cr_assert_str_eq(a->origin, b->origin);
    cr_assert_eq(a->flags, b->flags);
    cr_assert_str_eq(a->dests, b->dests);
}

nxc_store *open_store(void)
{
    nxc_store *s = NULL;
    int rc;

    rc = nxc_store_open(test_dir, 0, &s);
    cr_assert_eq(rc, NXC_OK, "open: %s", nxc_error_last());
    return s;
}

void put_one(nxc_store *s, const char *key, const nxc_store_rec *r)
{
    nxc_store_txn *t;
    int rc;

    rc = nxc_store_txn_begin(s, 0, &t);
    cr_assert_eq(rc, NXC_OK, "begin: %s", nxc_error_last());
    rc = nxc_store_put(t, key, r);
    cr_assert_eq(rc, NXC_OK, "put %s: %s", key, nxc_error_last());
    rc = nxc_store_txn_commit(t);
    cr_assert_eq(rc, NXC_OK, "commit: %s", nxc_error_last());
}

/* Opens a raw environment on test_dir and database db in a transaction. */
static void raw_open(const char *db, unsigned flags, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
    cr_assert_eq(mdb_env_create(env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(*env, 4), 0);
    cr_assert_eq(mdb_env_open(*env, test_dir, 0, 0600), 0);
    cr_assert_eq(mdb_txn_begin(*env, NULL, flags, txn), 0);
    cr_assert_eq(mdb_dbi_open(*txn, db, 0, dbi), 0);
}

struct raw_env {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
};

raw_env *raw_begin(const char *db)
{
    raw_env *r = calloc(1, sizeof(*r));

    cr_assert_not_null(r);
    raw_open(db, 0, &r->env, &r->txn, &r->dbi);
    return r;
}

void raw_set(raw_env *r, const char *key, const void *data, size_t len)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v = {len, (void *)data};

    cr_assert_eq(mdb_put(r->txn, r->dbi, &k, &v, 0), 0);
}

void raw_commit(raw_env *r)
{
    cr_assert_eq(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
    free(r);
}

void raw_put(const char *db, const char *key, const void *data, size_t len)
{
    raw_env *r = raw_begin(db);

    raw_set(r, key, data, len);
    raw_commit(r);
}

int raw_get(const char *db, const char *key, void **data, size_t *len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v;
    int rc;

    raw_open(db, MDB_RDONLY, &env, &txn, &dbi);
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0) {
        *data = malloc(v.mv_size ? v.mv_size : 1);
        cr_assert_not_null(*data);
        memcpy(*data, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return rc;
}
