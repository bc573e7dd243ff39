/* store: records, transactions, walks, positions and the outbox against a real LMDB file. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"
#include "store.h"
#include "support.h"

#define T(name) Test(store, name, .init = store_setup, .fini = store_teardown)

T(round_trip_every_field)
{
    nxc_store *s = open_store();
    nxc_store_rec *full = rec_full(7);
    nxc_store_rec *bare = nxc_store_rec_new();
    nxc_store_rec *got;
    nxc_store_txn *t;
    int rc;

    cr_assert_not_null(bare);
    cr_assert_eq(full->tombstone, 1);
    put_one(s, "example.com/roots/default/r1", full);
    put_one(s, "example.com/roots/default/r2", bare);

    rc = nxc_store_txn_begin(s, 1, &t);
    cr_assert_eq(rc, NXC_OK);
    rc = nxc_store_get(t, "example.com/roots/default/r1", &got);
    cr_assert_eq(rc, NXC_OK, "%s", nxc_error_last());
    assert_rec_eq(got, full);
    cr_assert_eq(got->plane[NXC_PLANE_STATUS].hlc, full->plane[NXC_PLANE_STATUS].hlc);
    nxc_store_rec_free(got);

    /* an empty record keeps its "never seen" planes and empty, non-NULL vectors */
    rc = nxc_store_get(t, "example.com/roots/default/r2", &got);
    cr_assert_eq(rc, NXC_OK, "%s", nxc_error_last());
    assert_rec_eq(got, bare);
    cr_assert_eq(got->plane[NXC_PLANE_SPEC].has_hash, 0);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(got);

    rc = nxc_store_txn_begin(s, 0, &t);
    cr_assert_eq(rc, NXC_OK);
    rc = nxc_store_del(t, "example.com/roots/default/r1");
    cr_assert_eq(rc, NXC_OK);
    rc = nxc_store_get(t, "example.com/roots/default/r1", &got);
    cr_assert_eq(rc, NXC_ENOTFOUND);
    cr_assert_null(got);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);

    nxc_store_rec_free(full);
    nxc_store_rec_free(bare);
    nxc_store_close(s);
}

T(put_replaces)
{
    nxc_store *s = open_store();
    nxc_store_rec *a = rec_full(2), *b = rec_full(3), *got;
    nxc_store_txn *t;

    put_one(s, "k", a);
    put_one(s, "k", b);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "k", &got), NXC_OK);
    assert_rec_eq(got, b);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(got);
    nxc_store_rec_free(a);
    nxc_store_rec_free(b);
    nxc_store_close(s);
}

T(null_vector_stored_as_empty)
{
    nxc_store *s = open_store();
    nxc_store_rec r, *got;
    nxc_store_txn *t;

    memset(&r, 0, sizeof(r));
    snprintf(r.rv, sizeof(r.rv), "12");
    put_one(s, "k", &r);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "k", &got), NXC_OK);
    cr_assert_not_null(got->plane[0].vv);
    cr_assert_not_null(got->plane[1].vv);
    cr_assert_str_eq(got->rv, "12");
    nxc_store_txn_abort(t);
    nxc_store_rec_free(got);
    nxc_store_close(s);
}

T(get_absent_is_not_found)
{
    nxc_store *s = open_store();
    nxc_store_rec *got = (nxc_store_rec *)&got;
    nxc_store_txn *t;
    const void *data;
    size_t len;
    uint64_t seq;

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "nope", &got), NXC_ENOTFOUND);
    cr_assert_null(got);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_ENOTFOUND);
    cr_assert_eq(nxc_store_outbox_get(t, "nope", &data, &len), NXC_ENOTFOUND);
    /* deleting what is not there is not an error */
    cr_assert_eq(nxc_store_del(t, "nope"), NXC_OK);
    cr_assert_eq(nxc_store_outbox_del(t, "nope"), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);
    nxc_store_close(s);
}

T(abort_discards)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(1), *got;
    nxc_store_txn *t;
    uint64_t seq;

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_put(t, "k", r), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "peer:B", 9), NXC_OK);
    cr_assert_eq(nxc_store_outbox_put(t, "k", "x", 1), NXC_OK);
    /* visible inside the transaction ... */
    cr_assert_eq(nxc_store_get(t, "k", &got), NXC_OK);
    nxc_store_rec_free(got);
    nxc_store_txn_abort(t);

    /* ... and gone after the abort */
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "k", &got), NXC_ENOTFOUND);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_ENOTFOUND);
    cr_assert_eq(nxc_store_outbox_count(t), 0);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(r);
    nxc_store_close(s);
}

T(reopen_keeps_data)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(4), *got;
    nxc_store_txn *t;
    const void *data;
    size_t len;
    uint64_t seq;

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_put(t, "g/r/ns/a", r), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "peer:B", 4242), NXC_OK);
    cr_assert_eq(nxc_store_outbox_put(t, "g/r/ns/a", "event", 5), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);
    nxc_store_close(s);

    s = open_store();
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "g/r/ns/a", &got), NXC_OK);
    assert_rec_eq(got, r);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_OK);
    cr_assert_eq(seq, 4242);
    cr_assert_eq(nxc_store_outbox_get(t, "g/r/ns/a", &data, &len), NXC_OK);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(data, "event", 5);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(got);
    nxc_store_rec_free(r);
    nxc_store_close(s);
}

T(open_creates_private_directory)
{
    char dir[160];
    nxc_store *s;
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/a/b/store", test_dir);
    cr_assert_eq(nxc_store_open(dir, 0, &s), NXC_OK, "%s", nxc_error_last());
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
    cr_assert_eq(st.st_mode & 0777, 0700);
    nxc_store_close(s);
    /* a second open of the existing directory is fine */
    cr_assert_eq(nxc_store_open(dir, 0, &s), NXC_OK, "%s", nxc_error_last());
    nxc_store_close(s);
}

T(open_fails_on_a_file)
{
    char path[160];
    nxc_store *s = NULL;
    FILE *f;

    snprintf(path, sizeof(path), "%s/file", test_dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_lt(nxc_store_open(path, 0, &s), 0);
    cr_assert_null(s);
    cr_assert_neq(nxc_error_last()[0], '\0');
}

struct walk {
    char keys[16][32];
    int n;
    int stop_at; /* return 7 from the callback at this count, or -1 */
    nxc_store_txn *t;
    int delete_each; /* delete each record from inside the callback */
};

static int walk_cb(void *ctx, const char *key, const nxc_store_rec *r)
{
    struct walk *w = ctx;

    cr_assert_not_null(r->plane[0].vv);
    cr_assert_lt(w->n, 16);
    snprintf(w->keys[w->n], sizeof(w->keys[0]), "%s", key);
    w->n++;
    if (w->delete_each)
        cr_assert_eq(nxc_store_del(w->t, key), NXC_OK);
    if (w->n == w->stop_at)
        return 7;
    return 0;
}

static void put_keys(nxc_store *s, const char *const *keys, int n)
{
    nxc_store_rec *r = rec_full(9);
    nxc_store_txn *t;
    int i;

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    for (i = 0; i < n; i++)
        cr_assert_eq(nxc_store_put(t, keys[i], r), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);
    nxc_store_rec_free(r);
}

T(foreach_prefix_in_key_order)
{
    static const char *const keys[] = {"b/1", "a/3", "a", "ab/1", "a/1", "a/2", "a0", "c"};
    nxc_store *s = open_store();
    nxc_store_txn *t;
    struct walk w;

    put_keys(s, keys, 8);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);

    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_foreach(t, "a/", walk_cb, &w), 0);
    cr_assert_eq(w.n, 3);
    cr_assert_str_eq(w.keys[0], "a/1");
    cr_assert_str_eq(w.keys[1], "a/2");
    cr_assert_str_eq(w.keys[2], "a/3");

    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_foreach(t, "", walk_cb, &w), 0);
    cr_assert_eq(w.n, 8);
    cr_assert_str_eq(w.keys[0], "a");
    cr_assert_str_eq(w.keys[1], "a/1");
    cr_assert_str_eq(w.keys[4], "a0");
    cr_assert_str_eq(w.keys[5], "ab/1");
    cr_assert_str_eq(w.keys[7], "c");

    /* a prefix that sorts between keys, one past all keys, and NULL (all) */
    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_foreach(t, "a/0", walk_cb, &w), 0);
    cr_assert_eq(w.n, 0);
    cr_assert_eq(nxc_store_foreach(t, "zz", walk_cb, &w), 0);
    cr_assert_eq(w.n, 0);
    cr_assert_eq(nxc_store_foreach(t, NULL, walk_cb, &w), 0);
    cr_assert_eq(w.n, 8);
    nxc_store_txn_abort(t);
    nxc_store_close(s);
}

T(foreach_stops_early)
{
    static const char *const keys[] = {"p/1", "p/2", "p/3", "p/4", "q/1"};
    nxc_store *s = open_store();
    nxc_store_txn *t;
    struct walk w;

    put_keys(s, keys, 5);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    memset(&w, 0, sizeof(w));
    w.stop_at = 2;
    cr_assert_eq(nxc_store_foreach(t, "p/", walk_cb, &w), 7);
    cr_assert_eq(w.n, 2);
    cr_assert_str_eq(w.keys[1], "p/2");
    nxc_store_txn_abort(t);
    nxc_store_close(s);
}

T(foreach_empty_store)
{
    nxc_store *s = open_store();
    nxc_store_txn *t;
    struct walk w;

    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_foreach(t, "", walk_cb, &w), 0);
    cr_assert_eq(nxc_store_foreach(t, "x", walk_cb, &w), 0);
    cr_assert_eq(w.n, 0);
    nxc_store_txn_abort(t);
    nxc_store_close(s);
}

/* Tombstone collection walks the records and deletes some as it goes. */
T(foreach_may_delete_the_current_record)
{
    static const char *const keys[] = {"t/1", "t/2", "t/3", "t/4", "u/1"};
    nxc_store *s = open_store();
    nxc_store_rec *got;
    nxc_store_txn *t;
    struct walk w;

    put_keys(s, keys, 5);
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    w.t = t;
    w.delete_each = 1;
    cr_assert_eq(nxc_store_foreach(t, "t/", walk_cb, &w), 0, "%s", nxc_error_last());
    cr_assert_eq(w.n, 4);
    cr_assert_str_eq(w.keys[0], "t/1");
    cr_assert_str_eq(w.keys[3], "t/4");
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);

    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_foreach(t, "", walk_cb, &w), 0);
    cr_assert_eq(w.n, 1);
    cr_assert_str_eq(w.keys[0], "u/1");
    cr_assert_eq(nxc_store_get(t, "t/2", &got), NXC_ENOTFOUND);
    nxc_store_txn_abort(t);
    nxc_store_close(s);
}

T(positions)
{
    nxc_store *s = open_store();
    nxc_store_txn *t;
    uint64_t seq = 0;
    void *raw;
    size_t len;
    static const unsigned char be[8] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "peer:B", 17), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "peer:C", 0), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "max", UINT64_MAX), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "order", 0x0102030405060708ull), NXC_OK);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_OK);
    cr_assert_eq(seq, 17);
    cr_assert_eq(nxc_store_pos_put(t, "peer:B", 18), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);

    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_OK);
    cr_assert_eq(seq, 18);
    cr_assert_eq(nxc_store_pos_get(t, "peer:C", &seq), NXC_OK);
    cr_assert_eq(seq, 0);
    cr_assert_eq(nxc_store_pos_get(t, "max", &seq), NXC_OK);
    cr_assert_eq(seq, UINT64_MAX);
    nxc_store_txn_abort(t);
    nxc_store_close(s);

    /* the file holds 8 bytes, big-endian */
    cr_assert_eq(raw_get("positions", "order", &raw, &len), 0);
    cr_assert_eq(len, 8);
    cr_assert_arr_eq(raw, be, 8);
    free(raw);
}

struct outbox_walk {
    char keys[8][16];
    char data[8][16];
    size_t lens[8];
    int n;
    int stop_at;
};

static int outbox_cb(void *ctx, const char *key, const void *data, size_t len)
{
    struct outbox_walk *w = ctx;

    cr_assert_lt(w->n, 8);
    cr_assert_lt(len, sizeof(w->data[0]));
    snprintf(w->keys[w->n], sizeof(w->keys[0]), "%s", key);
    memcpy(w->data[w->n], data, len);
    w->lens[w->n] = len;
    w->n++;
    return w->n == w->stop_at ? 5 : 0;
}

T(outbox)
{
    nxc_store *s = open_store();
    nxc_store_txn *t;
    struct outbox_walk w;
    const void *data;
    size_t len;

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_outbox_count(t), 0);
    cr_assert_eq(nxc_store_outbox_put(t, "o/2", "two", 3), NXC_OK);
    cr_assert_eq(nxc_store_outbox_put(t, "o/1", "one", 3), NXC_OK);
    cr_assert_eq(nxc_store_outbox_put(t, "o/3", "three", 5), NXC_OK);
    cr_assert_eq(nxc_store_outbox_put(t, "o/4", NULL, 0), NXC_OK);
    cr_assert_eq(nxc_store_outbox_count(t), 4);
    /* a newer event for the same object replaces the pending one */
    cr_assert_eq(nxc_store_outbox_put(t, "o/2", "TWO!!", 5), NXC_OK);
    cr_assert_eq(nxc_store_outbox_count(t), 4);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);

    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_outbox_get(t, "o/2", &data, &len), NXC_OK);
    cr_assert_eq(len, 5);
    cr_assert_arr_eq(data, "TWO!!", 5);
    cr_assert_eq(nxc_store_outbox_get(t, "o/4", &data, &len), NXC_OK);
    cr_assert_eq(len, 0);

    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_outbox_foreach(t, outbox_cb, &w), 0);
    cr_assert_eq(w.n, 4);
    cr_assert_str_eq(w.keys[0], "o/1");
    cr_assert_str_eq(w.keys[1], "o/2");
    cr_assert_str_eq(w.keys[2], "o/3");
    cr_assert_str_eq(w.keys[3], "o/4");
    cr_assert_arr_eq(w.data[2], "three", 5);
    cr_assert_eq(w.lens[3], 0);

    memset(&w, 0, sizeof(w));
    w.stop_at = 1;
    cr_assert_eq(nxc_store_outbox_foreach(t, outbox_cb, &w), 5);
    cr_assert_eq(w.n, 1);

    cr_assert_eq(nxc_store_outbox_del(t, "o/1"), NXC_OK);
    cr_assert_eq(nxc_store_outbox_get(t, "o/1", &data, &len), NXC_ENOTFOUND);
    cr_assert_eq(nxc_store_outbox_count(t), 3);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);

    /* the outbox and the objects are separate databases */
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    memset(&w, 0, sizeof(w));
    w.stop_at = -1;
    cr_assert_eq(nxc_store_outbox_foreach(t, outbox_cb, &w), 0);
    cr_assert_eq(w.n, 3);
    cr_assert_eq(nxc_store_outbox_count(t), 3);
    {
        struct walk ow;

        memset(&ow, 0, sizeof(ow));
        ow.stop_at = -1;
        cr_assert_eq(nxc_store_foreach(t, "", walk_cb, &ow), 0);
        cr_assert_eq(ow.n, 0);
    }
    nxc_store_txn_abort(t);
    nxc_store_close(s);
}

T(key_too_long_is_limit)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(1), *got = NULL;
    nxc_store_txn *t;
    char key[600];
    const void *data;
    size_t len;
    uint64_t seq;

    memset(key, 'k', sizeof(key));
    key[512] = '\0';
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_put(t, key, r), NXC_ELIMIT);
    cr_assert_eq(nxc_store_get(t, key, &got), NXC_ELIMIT);
    cr_assert_eq(nxc_store_del(t, key), NXC_ELIMIT);
    cr_assert_eq(nxc_store_pos_put(t, key, 1), NXC_ELIMIT);
    cr_assert_eq(nxc_store_pos_get(t, key, &seq), NXC_ELIMIT);
    cr_assert_eq(nxc_store_outbox_put(t, key, "x", 1), NXC_ELIMIT);
    cr_assert_eq(nxc_store_outbox_get(t, key, &data, &len), NXC_ELIMIT);
    cr_assert_eq(nxc_store_outbox_del(t, key), NXC_ELIMIT);

    /* 511 bytes is LMDB's limit and still fine; the transaction survived the refusals */
    key[511] = '\0';
    cr_assert_eq(nxc_store_put(t, key, r), NXC_OK, "%s", nxc_error_last());
    cr_assert_eq(nxc_store_get(t, key, &got), NXC_OK);
    assert_rec_eq(got, r);
    nxc_store_rec_free(got);

    cr_assert_eq(nxc_store_put(t, "", r), NXC_EINVALID);
    cr_assert_eq(nxc_store_put(t, NULL, r), NXC_EINVALID);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);
    nxc_store_rec_free(r);
    nxc_store_close(s);
}

T(read_only_refuses_writes)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(1);
    nxc_store_txn *t;

    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_put(t, "k", r), NXC_EINVALID);
    cr_assert_eq(nxc_store_del(t, "k"), NXC_EINVALID);
    cr_assert_eq(nxc_store_pos_put(t, "k", 1), NXC_EINVALID);
    cr_assert_eq(nxc_store_outbox_put(t, "k", "x", 1), NXC_EINVALID);
    cr_assert_eq(nxc_store_outbox_del(t, "k"), NXC_EINVALID);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(r);
    nxc_store_close(s);
}

T(unterminated_field_is_refused)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(1), *got;
    nxc_store_txn *t;

    memset(r->uid, 'u', sizeof(r->uid));
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_put(t, "k", r), NXC_EINVALID);
    cr_assert_eq(nxc_store_get(t, "k", &got), NXC_ENOTFOUND);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(r);
    nxc_store_close(s);
}

T(tiny_map_fills_then_recovers)
{
    nxc_store *s = NULL;
    nxc_store_rec *r = rec_full(5), *got;
    nxc_store_txn *t;
    char key[32];
    int rc = NXC_OK;
    int i;

    cr_assert_eq(nxc_store_open(test_dir, (size_t)1 << 20, &s), NXC_OK, "%s", nxc_error_last());
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    for (i = 0; i < 1000000 && rc == NXC_OK; i++) {
        snprintf(key, sizeof(key), "fill/%07d", i);
        rc = nxc_store_put(t, key, r);
    }
    cr_assert_eq(rc, NXC_ELIMIT, "rc %d after %d puts: %s", rc, i, nxc_error_last());
    cr_assert_not_null(strstr(nxc_error_last(), "map size"), "%s", nxc_error_last());
    cr_assert_gt(i, 100);
    nxc_store_txn_abort(t);

    /* nothing of the failed batch stayed, and the store takes writes again */
    put_one(s, "after", r);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "fill/0000000", &got), NXC_ENOTFOUND);
    cr_assert_eq(nxc_store_get(t, "after", &got), NXC_OK);
    assert_rec_eq(got, r);
    nxc_store_rec_free(got);
    nxc_store_txn_abort(t);
    nxc_store_close(s);

    /* committed batches fill it too; the commit or put that overflows fails cleanly */
    cr_assert_eq(nxc_store_open(test_dir, (size_t)1 << 20, &s), NXC_OK);
    rc = NXC_OK;
    for (i = 0; i < 100000 && rc == NXC_OK;) {
        int j;

        cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
        for (j = 0; j < 100 && rc == NXC_OK; j++, i++) {
            snprintf(key, sizeof(key), "fill/%07d", i);
            rc = nxc_store_put(t, key, r);
        }
        if (rc == NXC_OK)
            rc = nxc_store_txn_commit(t);
        else
            nxc_store_txn_abort(t);
    }
    cr_assert_eq(rc, NXC_ELIMIT, "%s", nxc_error_last());
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "fill/0000000", &got), NXC_OK);
    nxc_store_rec_free(got);
    nxc_store_txn_abort(t);
    /* deleting makes room again */
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    for (i = 0; i < 200; i++) {
        snprintf(key, sizeof(key), "fill/%07d", i);
        cr_assert_eq(nxc_store_del(t, key), NXC_OK);
    }
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK, "%s", nxc_error_last());
    put_one(s, "after2", r);
    nxc_store_close(s);
    nxc_store_rec_free(r);
}

struct reader_arg {
    nxc_store_txn *t;
    int rc;
    char rv[64];
};

static void *reader_thread(void *p)
{
    struct reader_arg *a = p;
    nxc_store_rec *got = NULL;

    a->rc = nxc_store_get(a->t, "k", &got);
    if (got)
        snprintf(a->rv, sizeof(a->rv), "%s", got->rv);
    nxc_store_rec_free(got);
    return NULL;
}

/* MDB_NOTLS: a read transaction begun on one thread can be used on another, and one thread
 * can hold two. */
T(read_txn_usable_from_any_thread)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(6);
    nxc_store_txn *t1, *t2;
    struct reader_arg a;
    pthread_t th;

    put_one(s, "k", r);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t1), NXC_OK);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t2), NXC_OK, "%s", nxc_error_last());
    memset(&a, 0, sizeof(a));
    a.t = t1;
    cr_assert_eq(pthread_create(&th, NULL, reader_thread, &a), 0);
    cr_assert_eq(pthread_join(th, NULL), 0);
    cr_assert_eq(a.rc, NXC_OK);
    cr_assert_str_eq(a.rv, r->rv);
    nxc_store_txn_abort(t2);
    cr_assert_eq(nxc_store_txn_commit(t1), NXC_OK);
    nxc_store_rec_free(r);
    nxc_store_close(s);
}

/* A read transaction keeps its snapshot while a writer commits. */
T(read_txn_sees_its_snapshot)
{
    nxc_store *s = open_store();
    nxc_store_rec *a = rec_full(1), *b = rec_full(2), *got;
    nxc_store_txn *rt, *wt;

    put_one(s, "k", a);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &rt), NXC_OK);
    cr_assert_eq(nxc_store_txn_begin(s, 0, &wt), NXC_OK);
    cr_assert_eq(nxc_store_put(wt, "k", b), NXC_OK);
    cr_assert_eq(nxc_store_put(wt, "k2", b), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(wt), NXC_OK);
    cr_assert_eq(nxc_store_get(rt, "k", &got), NXC_OK);
    assert_rec_eq(got, a);
    nxc_store_rec_free(got);
    cr_assert_eq(nxc_store_get(rt, "k2", &got), NXC_ENOTFOUND);
    nxc_store_txn_abort(rt);
    nxc_store_rec_free(a);
    nxc_store_rec_free(b);
    nxc_store_close(s);
}
