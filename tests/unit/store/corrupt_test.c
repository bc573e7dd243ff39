/*
 * store: a damaged LMDB value must be refused with NXC_EINVALID, never crash or pass for a
 * good record. Garbage goes in through a raw environment on the same directory, since the
 * store itself only ever writes good records.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "store.h"
#include "support.h"

#define T(name) Test(store, name, .init = store_setup, .fini = store_teardown)

/* Stores a full record through the store and returns its bytes as written (caller frees). */
static unsigned char *good_bytes(size_t *len)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(11);
    void *data;

    put_one(s, "good", r);
    nxc_store_rec_free(r);
    nxc_store_close(s);
    cr_assert_eq(raw_get("objects", "good", &data, len), 0);
    return data;
}

static int get_rc(nxc_store_txn *t, const char *key)
{
    nxc_store_rec *got = NULL;
    int rc;

    rc = nxc_store_get(t, key, &got);
    if (rc == NXC_OK) {
        cr_assert_not_null(got);
        cr_assert_not_null(got->plane[0].vv);
        cr_assert_not_null(got->plane[1].vv);
        nxc_store_rec_free(got);
    } else {
        cr_assert_null(got);
    }
    return rc;
}

static int walk_count(void *ctx, const char *key, const nxc_store_rec *r)
{
    (void)key;
    (void)r;
    (*(int *)ctx)++;
    return 0;
}

T(garbage_record_is_invalid)
{
    static const struct {
        const char *key;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"bad/empty", "", 0},
        {"bad/text", "hello, not msgpack", 18},
        {"bad/int", "\x05", 1},
        {"bad/nil", "\xc0", 1},
        {"bad/never-used", "\xc1", 1},
        {"bad/huge-array", "\xdd\xff\xff\xff\xff", 5},
        {"bad/huge-map", "\xdf\xff\xff\xff\xff", 5},
        {"bad/huge-str", "\xdb\xff\xff\xff\xff", 5},
        {"bad/huge-ext", "\xc9\xff\xff\xff\xff\x01", 6},
        {"bad/short-array", "\x91\x01", 2},
        {"bad/empty-array", "\x90", 1},
        {"bad/version-str", "\x98\xa1\x31", 3},
        {"bad/two-values", "\x01\x01", 2},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    size_t len, i;
    unsigned char *good = good_bytes(&len);
    unsigned char *buf = malloc(len + 1);
    unsigned char deep[3000];
    raw_env *raw;
    nxc_store_rec *r;
    nxc_store *s;
    nxc_store_txn *t;
    int count = 0;

    cr_assert_not_null(buf);
    raw = raw_begin("objects");
    for (i = 0; i < n; i++)
        raw_set(raw, cases[i].key, cases[i].bytes, cases[i].len);
    /* nesting far deeper than any record */
    memset(deep, 0x91, sizeof(deep));
    deep[sizeof(deep) - 1] = 0xc0;
    raw_set(raw, "bad/deep", deep, sizeof(deep));
    /* a good record with a future format version, and with a byte trailing */
    cr_assert_eq(good[0], 0x99);
    cr_assert_eq(good[1], 0x01);
    memcpy(buf, good, len);
    buf[1] = 0x02;
    raw_set(raw, "bad/version", buf, len);
    memcpy(buf, good, len);
    buf[len] = 0xc0;
    raw_set(raw, "bad/trailing", buf, len + 1);
    raw_commit(raw);

    s = open_store();
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(get_rc(t, "good"), NXC_OK);
    for (i = 0; i < n; i++) {
        cr_assert_eq(get_rc(t, cases[i].key), NXC_EINVALID, "%s", cases[i].key);
        cr_assert_not_null(strstr(nxc_error_last(), cases[i].key), "%s", nxc_error_last());
    }
    cr_assert_eq(get_rc(t, "bad/deep"), NXC_EINVALID);
    cr_assert_eq(get_rc(t, "bad/version"), NXC_EINVALID);
    cr_assert_not_null(strstr(nxc_error_last(), "version"), "%s", nxc_error_last());
    cr_assert_eq(get_rc(t, "bad/trailing"), NXC_EINVALID);
    /* a walk stops at the first damaged record and says which */
    cr_assert_eq(nxc_store_foreach(t, "bad/", walk_count, &count), NXC_EINVALID);
    cr_assert_eq(count, 0);
    cr_assert_eq(nxc_store_foreach(t, "good", walk_count, &count), NXC_OK);
    cr_assert_eq(count, 1);
    nxc_store_txn_abort(t);

    /* a damaged record can be overwritten or deleted */
    r = nxc_store_rec_new();
    put_one(s, "bad/text", r);
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK);
    cr_assert_eq(nxc_store_del(t, "bad/huge-array"), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK);
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(get_rc(t, "bad/text"), NXC_OK);
    cr_assert_eq(get_rc(t, "bad/huge-array"), NXC_ENOTFOUND);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(r);
    nxc_store_close(s);
    free(buf);
    free(good);
}

T(truncated_record_is_invalid)
{
    size_t len, cut;
    unsigned char *good = good_bytes(&len);
    raw_env *raw;
    nxc_store *s;
    nxc_store_txn *t;
    char key[32];

    raw = raw_begin("objects");
    for (cut = 0; cut < len; cut++) {
        snprintf(key, sizeof(key), "cut/%04zu", cut);
        raw_set(raw, key, good, cut);
    }
    raw_commit(raw);

    s = open_store();
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    for (cut = 0; cut < len; cut++) {
        snprintf(key, sizeof(key), "cut/%04zu", cut);
        cr_assert_eq(get_rc(t, key), NXC_EINVALID, "%s", key);
    }
    nxc_store_txn_abort(t);
    nxc_store_close(s);
    free(good);
}

/* Every single-byte damage either still decodes (the byte was in a free-form field) or is
 * refused; none crashes, leaks or reads outside the value (the sanitizer build checks). */
T(mutated_record_never_crashes)
{
    static const unsigned char subst[] = {0x00, 0xc0, 0xc1, 0xdc, 0xdd, 0xde, 0xdf, 0xff};
    size_t len, i, j;
    unsigned char *good = good_bytes(&len);
    unsigned char *buf = malloc(len);
    raw_env *raw;
    nxc_store *s;
    nxc_store_txn *t;
    char key[48];
    int ok = 0, bad = 0;

    cr_assert_not_null(buf);
    raw = raw_begin("objects");
    for (i = 0; i < len; i++) {
        for (j = 0; j < 8 + sizeof(subst); j++) {
            memcpy(buf, good, len);
            if (j < 8)
                buf[i] ^= (unsigned char)(1u << j);
            else
                buf[i] = subst[j - 8];
            snprintf(key, sizeof(key), "mut/%04zu/%02zu", i, j);
            raw_set(raw, key, buf, len);
        }
    }
    raw_commit(raw);

    s = open_store();
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    for (i = 0; i < len; i++) {
        for (j = 0; j < 8 + sizeof(subst); j++) {
            int rc;

            snprintf(key, sizeof(key), "mut/%04zu/%02zu", i, j);
            rc = get_rc(t, key);
            cr_assert(rc == NXC_OK || rc == NXC_EINVALID, "%s: %d %s", key, rc, nxc_error_last());
            if (rc == NXC_OK)
                ok++;
            else
                bad++;
        }
    }
    cr_assert_gt(ok, 0);
    cr_assert_gt(bad, 0);
    nxc_store_txn_abort(t);
    nxc_store_close(s);
    free(buf);
    free(good);
}

T(bad_position_is_invalid)
{
    nxc_store *s = open_store();
    nxc_store_txn *t;
    uint64_t seq;

    nxc_store_close(s);
    raw_put("positions", "peer:B", "\x01\x02\x03", 3);
    raw_put("positions", "peer:C", "123456789", 9);
    s = open_store();
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_EINVALID);
    cr_assert_eq(nxc_store_pos_get(t, "peer:C", &seq), NXC_EINVALID);
    nxc_store_txn_abort(t);
    nxc_store_close(s);
}

/* Records written before destinations were kept have 8 fields: they still read, with none. */
T(record_without_destinations_reads)
{
    nxc_store *s = open_store();
    nxc_store_rec *r = rec_full(12), *got = NULL; /* no destinations */
    nxc_store_txn *t;
    raw_env *raw;
    void *data;
    unsigned char *old;
    size_t len;

    cr_assert_str_eq(r->dests, "");
    put_one(s, "new", r);
    nxc_store_close(s);
    cr_assert_eq(raw_get("objects", "new", &data, &len), 0);
    old = data;
    cr_assert_eq(old[0], 0x99);
    cr_assert_eq(old[len - 1], 0xa0); /* the empty destinations string, last */
    old[0] = 0x98;
    raw = raw_begin("objects");
    raw_set(raw, "old", old, len - 1);
    raw_commit(raw);
    s = open_store();
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "old", &got), NXC_OK, "%s", nxc_error_last());
    assert_rec_eq(got, r);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(got);
    nxc_store_rec_free(r);
    free(data);
    nxc_store_close(s);
}
