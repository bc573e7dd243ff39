/*
 * store: the agent's durable state in LMDB (see store.h). The only file that includes lmdb.h;
 * LMDB's codes become nxc codes in lmdb_error() alone.
 *
 * Record layout (msgpack, private to this file), format version 1:
 *   [1, [plane, plane], rv, uid, tombstone, tombstone_at, origin, flags]
 *   plane = [hash (bin 32) or nil, vector (map id -> uint), hlc, by]
 * The first element is the format version so a later layout can be told apart and migrated.
 * A value that does not decode exactly to this layout is rejected with NXC_EINVALID: the file
 * may be corrupted, and a damaged record must never pass for a good one.
 * Positions are 8 bytes big-endian, so the file means the same on any host; outbox values are
 * the caller's bytes, untouched.
 */
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "err.h"

#define REC_VERSION 1
#define REC_FIELDS 9 /* 8 in records written before destinations were kept */
#define PLANE_FIELDS 4
#define KEY_MAX 511 /* LMDB's default key limit; sizes the key buffer of a walk */
#define MAXDBS 4    /* objects, positions, outbox, and a spare for a later version */

struct nxc_store {
    MDB_env *env;      /* one environment per directory and process (LMDB's rule) */
    MDB_dbi objects;   /* object key -> record */
    MDB_dbi positions; /* name -> 8-byte big-endian sequence */
    MDB_dbi outbox;    /* object key -> encoded event awaiting its ack */
    size_t maxkey;     /* longest key accepted: LMDB's limit, at most KEY_MAX */
};

struct nxc_store_txn {
    nxc_store *s; /* the store the transaction belongs to */
    MDB_txn *txn; /* live until commit or abort */
    int readonly; /* began with MDB_RDONLY: writes are refused before LMDB sees them */
};

/* The one place where LMDB (and errno) codes become nxc codes; the message keeps LMDB's text
 * so an operator can look it up. */
static int lmdb_error(int rc, const char *what, const char *key)
{
    const char *sep = key ? " " : "";
    const char *msg = mdb_strerror(rc);

    if (!key)
        key = "";
    switch (rc) {
    case MDB_NOTFOUND:
        return nxc_error_set(NXC_ENOTFOUND, "store: %s%s%s: %s", what, sep, key, msg);
    case MDB_MAP_FULL:
        return nxc_error_set(NXC_ELIMIT,
                             "store: %s%s%s: %s: the store is full, raise its map size "
                             "(this transaction can no longer commit)",
                             what, sep, key, msg);
    case MDB_TXN_FULL:
        return nxc_error_set(NXC_ELIMIT, "store: %s%s%s: %s: commit in smaller batches", what, sep,
                             key, msg);
    case MDB_READERS_FULL:
        return nxc_error_set(NXC_ELIMIT, "store: %s%s%s: %s: too many read transactions open", what,
                             sep, key, msg);
    case MDB_BAD_VALSIZE:
        return nxc_error_set(NXC_ELIMIT, "store: %s%s%s: %s", what, sep, key, msg);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return nxc_error_set(NXC_EINVALID, "store: %s%s%s: %s", what, sep, key, msg);
    case ENOMEM: return nxc_error_set(NXC_ENOMEM, "store: %s%s%s: %s", what, sep, key, msg);
    default: return nxc_error_set(NXC_ERROR, "store: %s%s%s: %s", what, sep, key, msg);
    }
}

static int check_key(const nxc_store *s, const char *what, const char *key, MDB_val *k)
{
    size_t len;

    if (!key || !key[0])
        return nxc_error_set(NXC_EINVALID, "store: %s: empty key", what);
    /* strnlen: a runaway string costs no more than the limit to reject */
    len = strnlen(key, s->maxkey + 1);
    if (len > s->maxkey)
        return nxc_error_set(NXC_ELIMIT, "store: %s: key longer than %zu bytes", what, s->maxkey);
    k->mv_size = len;
    k->mv_data = (void *)key;
    return NXC_OK;
}

static int check_writable(const nxc_store_txn *t, const char *what)
{
    if (t->readonly)
        return nxc_error_set(NXC_EINVALID, "store: %s in a read-only transaction", what);
    return NXC_OK;
}

/* Creates dir and its missing parents, mode 0700: the state is the agent account's alone. */
static int make_dir(const char *dir)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);
    size_t i;

    if (len >= sizeof(path))
        return nxc_error_set(NXC_ELIMIT, "store: directory path longer than %d bytes", PATH_MAX);
    memcpy(path, dir, len + 1);
    for (i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return lmdb_error(errno, "create directory", path);
        path[i] = dir[i];
    }
    return NXC_OK;
}

int nxc_store_open(const char *dir, size_t mapsize, nxc_store **out)
{
    nxc_store *s = NULL;
    MDB_txn *txn = NULL;
    int dead = 0;
    int maxkey;
    int rc;

    *out = NULL;
    if (!dir || !dir[0])
        return nxc_error_set(NXC_EINVALID, "store: no directory given");
    rc = make_dir(dir);
    if (rc)
        return rc;
    s = calloc(1, sizeof(*s));
    if (!s)
        return nxc_error_set(NXC_ENOMEM, "store: out of memory");
    rc = mdb_env_create(&s->env);
    if (rc) {
        s->env = NULL;
        rc = lmdb_error(rc, "create environment", dir);
        goto out;
    }
    rc = mdb_env_set_maxdbs(s->env, MAXDBS);
    if (rc) {
        rc = lmdb_error(rc, "set maxdbs", dir);
        goto out;
    }
    /* The map is address space, not disk: the file grows only as pages are used. */
    rc = mdb_env_set_mapsize(s->env, mapsize ? mapsize : NXC_STORE_DEFAULT_MAPSIZE);
    if (rc) {
        rc = lmdb_error(rc, "set map size", dir);
        goto out;
    }
    /* MDB_NOTLS ties a read transaction to its handle, not to the thread's reader slot, so a
     * read transaction may be used from any thread and a thread may hold several. */
    rc = mdb_env_open(s->env, dir, MDB_NOTLS, 0600);
    if (rc) {
        rc = lmdb_error(rc, "open", dir);
        goto out;
    }
    /* A process that died inside a read transaction leaves its reader slot taken; while it
     * stays, LMDB cannot reuse pages newer than that snapshot and the map fills up. */
    rc = mdb_reader_check(s->env, &dead);
    if (rc) {
        rc = lmdb_error(rc, "clear stale readers", dir);
        goto out;
    }
    maxkey = mdb_env_get_maxkeysize(s->env);
    s->maxkey = maxkey > 0 && maxkey < KEY_MAX ? (size_t)maxkey : KEY_MAX;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc) {
        rc = lmdb_error(rc, "begin transaction", dir);
        goto out;
    }
    rc = mdb_dbi_open(txn, "objects", MDB_CREATE, &s->objects);
    if (rc) {
        rc = lmdb_error(rc, "open database", "objects");
        goto out;
    }
    rc = mdb_dbi_open(txn, "positions", MDB_CREATE, &s->positions);
    if (rc) {
        rc = lmdb_error(rc, "open database", "positions");
        goto out;
    }
    rc = mdb_dbi_open(txn, "outbox", MDB_CREATE, &s->outbox);
    if (rc) {
        rc = lmdb_error(rc, "open database", "outbox");
        goto out;
    }
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc) {
        rc = lmdb_error(rc, "commit", dir);
        goto out;
    }
    *out = s;
    s = NULL;
out:
    if (txn)
        mdb_txn_abort(txn);
    if (s) {
        if (s->env)
            mdb_env_close(s->env);
        free(s);
    }
    return rc;
}

void nxc_store_close(nxc_store *s)
{
    if (!s)
        return;
    mdb_env_close(s->env);
    free(s);
}

int nxc_store_txn_begin(nxc_store *s, int readonly, nxc_store_txn **out)
{
    nxc_store_txn *t;
    int rc;

    *out = NULL;
    t = calloc(1, sizeof(*t));
    if (!t)
        return nxc_error_set(NXC_ENOMEM, "store: out of memory");
    rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &t->txn);
    if (rc) {
        free(t);
        return lmdb_error(rc, "begin transaction", NULL);
    }
    t->s = s;
    t->readonly = readonly != 0;
    *out = t;
    return NXC_OK;
}

int nxc_store_txn_nested(nxc_store_txn *parent, nxc_store_txn **out)
{
    nxc_store_txn *t;
    int rc;

    *out = NULL;
    if (!parent || parent->readonly)
        return nxc_error_set(NXC_EINVALID, "store: a nested transaction needs a write parent");
    t = calloc(1, sizeof(*t));
    if (!t)
        return nxc_error_set(NXC_ENOMEM, "store: out of memory");
    rc = mdb_txn_begin(parent->s->env, parent->txn, 0, &t->txn);
    if (rc) {
        free(t);
        return lmdb_error(rc, "begin nested transaction", NULL);
    }
    t->s = parent->s;
    *out = t;
    return NXC_OK;
}

int nxc_store_txn_commit(nxc_store_txn *t)
{
    int rc;

    if (!t)
        return nxc_error_set(NXC_EINVALID, "store: commit without a transaction");
    /* LMDB frees the transaction whether the commit succeeds or not */
    rc = mdb_txn_commit(t->txn);
    free(t);
    if (rc)
        return lmdb_error(rc, "commit", NULL);
    return NXC_OK;
}

void nxc_store_txn_abort(nxc_store_txn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

static void rec_clear(nxc_store_rec *r)
{
    int i;

    for (i = 0; i < NXC_PLANE_COUNT; i++) {
        nxc_vv_free(r->plane[i].vv);
        r->plane[i].vv = NULL;
    }
}

nxc_store_rec *nxc_store_rec_new(void)
{
    nxc_store_rec *r;
    int i;

    r = calloc(1, sizeof(*r));
    if (!r)
        goto nomem;
    for (i = 0; i < NXC_PLANE_COUNT; i++) {
        r->plane[i].vv = nxc_vv_new();
        if (!r->plane[i].vv)
            goto nomem;
    }
    return r;
nomem:
    nxc_store_rec_free(r);
    nxc_error_set(NXC_ENOMEM, "store: out of memory");
    return NULL;
}

void nxc_store_rec_free(nxc_store_rec *r)
{
    if (!r)
        return;
    rec_clear(r);
    free(r);
}

/* A string field must hold its NUL within its array, or it would not read back as written. */
static int check_str(const char *key, const char *field, const char *s, size_t cap)
{
    if (strnlen(s, cap) == cap)
        return nxc_error_set(NXC_EINVALID, "store: put %s: field %s is not terminated", key, field);
    return NXC_OK;
}

static int check_rec(const char *key, const nxc_store_rec *r)
{
    int rc = NXC_OK;
    int i;

    for (i = 0; i < NXC_PLANE_COUNT && !rc; i++)
        rc = check_str(key, "by", r->plane[i].by, sizeof(r->plane[i].by));
    if (!rc)
        rc = check_str(key, "rv", r->rv, sizeof(r->rv));
    if (!rc)
        rc = check_str(key, "uid", r->uid, sizeof(r->uid));
    if (!rc)
        rc = check_str(key, "origin", r->origin, sizeof(r->origin));
    return rc;
}

static int pack_str(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    int err;

    err = msgpack_pack_str(pk, len);
    if (err)
        return err;
    return msgpack_pack_str_body(pk, s, len);
}

/* msgpack's pack calls fail only when the buffer cannot grow, so their results are or-ed and
 * checked once. */
static int encode_rec(const nxc_store_rec *r, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    int err = 0;
    int rc;
    int i;

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    err |= msgpack_pack_array(&pk, REC_FIELDS);
    err |= msgpack_pack_uint32(&pk, REC_VERSION);
    err |= msgpack_pack_array(&pk, NXC_PLANE_COUNT);
    for (i = 0; i < NXC_PLANE_COUNT; i++) {
        const nxc_store_plane *p = &r->plane[i];

        err |= msgpack_pack_array(&pk, PLANE_FIELDS);
        if (p->has_hash) {
            err |= msgpack_pack_bin(&pk, NXC_CODEC_HASH_LEN);
            err |= msgpack_pack_bin_body(&pk, p->hash, NXC_CODEC_HASH_LEN);
        } else {
            err |= msgpack_pack_nil(&pk);
        }
        if (p->vv) {
            rc = nxc_vv_pack(&pk, p->vv);
            if (rc)
                return rc;
        } else {
            /* a hand-built record may leave a vector out: it means "empty" */
            err |= msgpack_pack_map(&pk, 0);
        }
        err |= msgpack_pack_uint64(&pk, p->hlc);
        err |= pack_str(&pk, p->by);
    }
    err |= pack_str(&pk, r->rv);
    err |= pack_str(&pk, r->uid);
    err |= r->tombstone ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
    err |= msgpack_pack_uint64(&pk, r->tombstone_at);
    err |= pack_str(&pk, r->origin);
    err |= msgpack_pack_uint32(&pk, r->flags);
    err |= pack_str(&pk, r->dests);
    if (err)
        return nxc_error_set(NXC_ENOMEM, "store: out of memory encoding a record");
    return NXC_OK;
}

static uint32_t be_read(const unsigned char *p, int n)
{
    uint32_t v = 0;
    int i;

    for (i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Checks that p holds exactly one msgpack value whose arrays and maps claim no more elements
 * than bytes remain. msgpack-c allocates a container's elements before reading them, so
 * without this a few corrupted bytes could ask it for gigabytes. */
static int msgpack_bounded(const unsigned char *p, size_t len)
{
    size_t pos = 0;
    size_t pending = 1; /* values still to read */

    while (pending > 0) {
        size_t head = 1; /* type byte and length fields */
        size_t lenbytes = 0;
        size_t extra = 0; /* ext type byte after the length */
        size_t body = 0;
        size_t items = 0;
        int per_item = 0; /* 1 for an array, 2 for a map: values per counted element */
        unsigned char c;

        if (pos >= len)
            return 0;
        c = p[pos];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool: the type byte is the value */
        } else if (c <= 0x8f) {
            items = 2 * (size_t)(c & 0x0f);
        } else if (c <= 0x9f) {
            items = c & 0x0f;
        } else if (c <= 0xbf) {
            body = c & 0x1f;
        } else if (c >= 0xc4 && c <= 0xc6) { /* bin 8/16/32 */
            lenbytes = (size_t)1 << (c - 0xc4);
        } else if (c >= 0xc7 && c <= 0xc9) { /* ext 8/16/32: length, then a type byte */
            lenbytes = (size_t)1 << (c - 0xc7);
            extra = 1;
        } else if (c == 0xca || c == 0xcb) { /* float 32/64 */
            body = c == 0xca ? 4 : 8;
        } else if (c >= 0xcc && c <= 0xd3) { /* uint, int 8/16/32/64 */
            body = (size_t)1 << ((c - 0xcc) & 3);
        } else if (c >= 0xd4 && c <= 0xd8) { /* fixext 1..16 after a type byte */
            body = 1 + ((size_t)1 << (c - 0xd4));
        } else if (c >= 0xd9 && c <= 0xdb) { /* str 8/16/32 */
            lenbytes = (size_t)1 << (c - 0xd9);
        } else if (c == 0xdc || c == 0xdd) { /* array 16/32 */
            lenbytes = c == 0xdc ? 2 : 4;
            per_item = 1;
        } else if (c == 0xde || c == 0xdf) { /* map 16/32 */
            lenbytes = c == 0xde ? 2 : 4;
            per_item = 2;
        } else {
            return 0; /* 0xc1 is never used */
        }
        head += lenbytes + extra;
        if (head > len - pos)
            return 0;
        if (lenbytes) {
            size_t n = be_read(p + pos + 1, (int)lenbytes);

            if (per_item)
                items = n * (size_t)per_item;
            else
                body = n;
        }
        pos += head;
        if (body > len - pos)
            return 0;
        pos += body;
        /* every element takes at least one byte */
        if (items > len - pos)
            return 0;
        pending = pending - 1 + items;
    }
    return pos == len;
}

static int get_uint(const msgpack_object *o, uint64_t max, uint64_t *v)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max)
        return -1;
    *v = o->via.u64;
    return 0;
}

static int get_str(const msgpack_object *o, char *dst, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap)
        return -1;
    dst[0] = '\0';
    /* msgpack-c gives an empty string no pointer */
    if (o->via.str.size == 0)
        return 0;
    /* an embedded NUL would cut the string short without a word */
    if (memchr(o->via.str.ptr, '\0', o->via.str.size))
        return -1;
    memcpy(dst, o->via.str.ptr, o->via.str.size);
    dst[o->via.str.size] = '\0';
    return 0;
}

static int decode_plane(const msgpack_object *o, nxc_store_plane *p, const char **why)
{
    const msgpack_object *f;
    int rc;

    *why = "plane";
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != PLANE_FIELDS)
        return NXC_EINVALID;
    f = o->via.array.ptr;
    *why = "plane hash";
    if (f[0].type == MSGPACK_OBJECT_BIN) {
        if (f[0].via.bin.size != NXC_CODEC_HASH_LEN)
            return NXC_EINVALID;
        memcpy(p->hash, f[0].via.bin.ptr, NXC_CODEC_HASH_LEN);
        p->has_hash = 1;
    } else if (f[0].type != MSGPACK_OBJECT_NIL) {
        return NXC_EINVALID;
    }
    *why = "plane vector";
    rc = nxc_vv_unpack(&f[1], &p->vv);
    if (rc)
        return rc == NXC_ENOMEM ? rc : NXC_EINVALID;
    *why = "plane hlc";
    if (get_uint(&f[2], UINT64_MAX, &p->hlc))
        return NXC_EINVALID;
    *why = "plane writer";
    if (get_str(&f[3], p->by, sizeof(p->by)))
        return NXC_EINVALID;
    return NXC_OK;
}

/* Decodes a stored record into r (overwritten); on failure r holds no allocation. */
static int decode_rec(const char *key, const void *data, size_t len, nxc_store_rec *r)
{
    msgpack_unpacked u;
    const msgpack_object *f;
    const char *why = "not a msgpack value";
    size_t off = 0;
    uint64_t v;
    int rc = NXC_EINVALID;
    int i;

    memset(r, 0, sizeof(*r));
    msgpack_unpacked_init(&u);
    if (!msgpack_bounded(data, len))
        goto out;
    if (msgpack_unpack_next(&u, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
        goto out;
    why = "not an array";
    if (u.data.type != MSGPACK_OBJECT_ARRAY || u.data.via.array.size < 1)
        goto out;
    f = u.data.via.array.ptr;
    why = "format version";
    if (get_uint(&f[0], UINT32_MAX, &v) || v != REC_VERSION)
        goto out;
    why = "field count";
    if (u.data.via.array.size != REC_FIELDS && u.data.via.array.size != REC_FIELDS - 1)
        goto out;
    why = "planes";
    if (f[1].type != MSGPACK_OBJECT_ARRAY || f[1].via.array.size != NXC_PLANE_COUNT)
        goto out;
    for (i = 0; i < NXC_PLANE_COUNT; i++) {
        rc = decode_plane(&f[1].via.array.ptr[i], &r->plane[i], &why);
        if (rc)
            goto out;
    }
    rc = NXC_EINVALID;
    why = "rv";
    if (get_str(&f[2], r->rv, sizeof(r->rv)))
        goto out;
    why = "uid";
    if (get_str(&f[3], r->uid, sizeof(r->uid)))
        goto out;
    why = "tombstone";
    if (f[4].type != MSGPACK_OBJECT_BOOLEAN)
        goto out;
    r->tombstone = f[4].via.boolean;
    why = "tombstone time";
    if (get_uint(&f[5], UINT64_MAX, &r->tombstone_at))
        goto out;
    why = "origin";
    if (get_str(&f[6], r->origin, sizeof(r->origin)))
        goto out;
    why = "flags";
    if (get_uint(&f[7], UINT32_MAX, &v))
        goto out;
    r->flags = (uint32_t)v;
    why = "destinations";
    if (u.data.via.array.size == REC_FIELDS && get_str(&f[8], r->dests, sizeof(r->dests)))
        goto out;
    rc = NXC_OK;
out:
    msgpack_unpacked_destroy(&u);
    if (rc) {
        rec_clear(r);
        if (rc == NXC_EINVALID)
            nxc_error_set(rc, "store: record %s is malformed (%s)", key, why);
    }
    return rc;
}

int nxc_store_get(nxc_store_txn *t, const char *key, nxc_store_rec **out)
{
    nxc_store_rec *r;
    MDB_val k, v;
    int rc;

    *out = NULL;
    rc = check_key(t->s, "get", key, &k);
    if (rc)
        return rc;
    rc = mdb_get(t->txn, t->s->objects, &k, &v);
    if (rc)
        return lmdb_error(rc, "get", key);
    r = malloc(sizeof(*r));
    if (!r)
        return nxc_error_set(NXC_ENOMEM, "store: out of memory");
    rc = decode_rec(key, v.mv_data, v.mv_size, r);
    if (rc) {
        free(r);
        return rc;
    }
    *out = r;
    return NXC_OK;
}

int nxc_store_put(nxc_store_txn *t, const char *key, const nxc_store_rec *r)
{
    msgpack_sbuffer sb;
    MDB_val k, v;
    int rc;

    msgpack_sbuffer_init(&sb);
    rc = check_writable(t, "put");
    if (rc)
        goto out;
    rc = check_key(t->s, "put", key, &k);
    if (rc)
        goto out;
    rc = check_rec(key, r);
    if (rc)
        goto out;
    rc = encode_rec(r, &sb);
    if (rc)
        goto out;
    v.mv_size = sb.size;
    v.mv_data = sb.data;
    rc = mdb_put(t->txn, t->s->objects, &k, &v, 0);
    if (rc)
        rc = lmdb_error(rc, "put", key);
out:
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Deletes key from dbi; an absent key is already what the caller wants. */
static int del_key(nxc_store_txn *t, MDB_dbi dbi, const char *what, const char *key)
{
    MDB_val k;
    int rc;

    rc = check_writable(t, what);
    if (rc)
        return rc;
    rc = check_key(t->s, what, key, &k);
    if (rc)
        return rc;
    rc = mdb_del(t->txn, dbi, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return NXC_OK;
    if (rc)
        return lmdb_error(rc, what, key);
    return NXC_OK;
}

int nxc_store_del(nxc_store_txn *t, const char *key)
{
    return del_key(t, t->s->objects, "del", key);
}

int nxc_store_foreach(nxc_store_txn *t, const char *prefix, nxc_store_each_fn cb, void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_cursor_op op;
    MDB_val k, v;
    nxc_store_rec r;
    char key[KEY_MAX + 1];
    size_t plen;
    int rc;

    if (!prefix)
        prefix = "";
    plen = strnlen(prefix, t->s->maxkey + 1);
    /* no stored key is that long, so none can match */
    if (plen > t->s->maxkey)
        return NXC_OK;
    rc = mdb_cursor_open(t->txn, t->s->objects, &cur);
    if (rc) {
        rc = lmdb_error(rc, "walk", prefix);
        goto out;
    }
    k.mv_size = plen;
    k.mv_data = (void *)prefix;
    /* keys sort bytewise, so the keys with a prefix are one run starting at the prefix */
    op = plen ? MDB_SET_RANGE : MDB_FIRST;
    for (;;) {
        rc = mdb_cursor_get(cur, &k, &v, op);
        if (rc == MDB_NOTFOUND) {
            rc = NXC_OK;
            goto out;
        }
        if (rc) {
            rc = lmdb_error(rc, "walk", prefix);
            goto out;
        }
        op = MDB_NEXT;
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0)
            goto out;
        if (k.mv_size > KEY_MAX) {
            rc = nxc_error_set(NXC_EINVALID, "store: walk %s: stored key of %zu bytes", prefix,
                               k.mv_size);
            goto out;
        }
        /* copied: the callback may change the store, which can move LMDB's pages */
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        rc = decode_rec(key, v.mv_data, v.mv_size, &r);
        if (rc)
            goto out;
        rc = cb(ctx, key, &r);
        rec_clear(&r);
        if (rc)
            goto out;
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

int nxc_store_pos_get(nxc_store_txn *t, const char *name, uint64_t *seq)
{
    const unsigned char *p;
    MDB_val k, v;
    uint64_t n = 0;
    int rc;
    int i;

    rc = check_key(t->s, "position get", name, &k);
    if (rc)
        return rc;
    rc = mdb_get(t->txn, t->s->positions, &k, &v);
    if (rc)
        return lmdb_error(rc, "position get", name);
    if (v.mv_size != 8)
        return nxc_error_set(NXC_EINVALID, "store: position %s is %zu bytes, not 8", name,
                             v.mv_size);
    p = v.mv_data;
    for (i = 0; i < 8; i++)
        n = n << 8 | p[i];
    *seq = n;
    return NXC_OK;
}

int nxc_store_pos_put(nxc_store_txn *t, const char *name, uint64_t seq)
{
    unsigned char buf[8];
    MDB_val k, v;
    int rc;
    int i;

    rc = check_writable(t, "position put");
    if (rc)
        return rc;
    rc = check_key(t->s, "position put", name, &k);
    if (rc)
        return rc;
    for (i = 7; i >= 0; i--) {
        buf[i] = (unsigned char)(seq & 0xff);
        seq >>= 8;
    }
    v.mv_size = sizeof(buf);
    v.mv_data = buf;
    rc = mdb_put(t->txn, t->s->positions, &k, &v, 0);
    if (rc)
        return lmdb_error(rc, "position put", name);
    return NXC_OK;
}

int nxc_store_outbox_put(nxc_store_txn *t, const char *key, const void *data, size_t len)
{
    MDB_val k, v;
    int rc;

    rc = check_writable(t, "outbox put");
    if (rc)
        return rc;
    rc = check_key(t->s, "outbox put", key, &k);
    if (rc)
        return rc;
    if (!data && len)
        return nxc_error_set(NXC_EINVALID, "store: outbox put %s: no data", key);
    v.mv_size = len;
    v.mv_data = (void *)data;
    rc = mdb_put(t->txn, t->s->outbox, &k, &v, 0);
    if (rc)
        return lmdb_error(rc, "outbox put", key);
    return NXC_OK;
}

int nxc_store_outbox_get(nxc_store_txn *t, const char *key, const void **data, size_t *len)
{
    MDB_val k, v;
    int rc;

    rc = check_key(t->s, "outbox get", key, &k);
    if (rc)
        return rc;
    rc = mdb_get(t->txn, t->s->outbox, &k, &v);
    if (rc)
        return lmdb_error(rc, "outbox get", key);
    *data = v.mv_data;
    *len = v.mv_size;
    return NXC_OK;
}

int nxc_store_outbox_del(nxc_store_txn *t, const char *key)
{
    return del_key(t, t->s->outbox, "outbox del", key);
}

int nxc_store_outbox_foreach(nxc_store_txn *t, nxc_store_outbox_fn cb, void *ctx)
{
    MDB_cursor *cur = NULL;
    MDB_cursor_op op = MDB_FIRST;
    MDB_val k, v;
    char key[KEY_MAX + 1];
    int rc;

    rc = mdb_cursor_open(t->txn, t->s->outbox, &cur);
    if (rc) {
        rc = lmdb_error(rc, "outbox walk", NULL);
        goto out;
    }
    for (;;) {
        rc = mdb_cursor_get(cur, &k, &v, op);
        if (rc == MDB_NOTFOUND) {
            rc = NXC_OK;
            goto out;
        }
        if (rc) {
            rc = lmdb_error(rc, "outbox walk", NULL);
            goto out;
        }
        op = MDB_NEXT;
        if (k.mv_size > KEY_MAX) {
            rc = nxc_error_set(NXC_EINVALID, "store: outbox walk: stored key of %zu bytes",
                               k.mv_size);
            goto out;
        }
        memcpy(key, k.mv_data, k.mv_size);
        key[k.mv_size] = '\0';
        rc = cb(ctx, key, v.mv_data, v.mv_size);
        if (rc)
            goto out;
    }
out:
    if (cur)
        mdb_cursor_close(cur);
    return rc;
}

size_t nxc_store_outbox_count(nxc_store_txn *t)
{
    MDB_stat st;
    int rc;

    /* the header gives no error path: a failure reads as an empty outbox, with the message
     * set for whoever looks */
    rc = mdb_stat(t->txn, t->s->outbox, &st);
    if (rc) {
        (void)lmdb_error(rc, "outbox count", NULL);
        return 0;
    }
    return st.ms_entries;
}
