/*
 * codec: JSON <-> msgpack, the canonical hash, and the two planes of an object (codec.h).
 *
 * The hash is what detects change (DESIGN §5), so the canonical form must be a pure function
 * of the JSON value: keys sorted bytewise, integers in msgpack's smallest encoding, reals
 * always float64. It is streamed straight into the digest, so hashing allocates only the
 * sorted key lists.
 *
 * Reading msgpack from the wire goes through our own reader (nxc_codec_parse): msgpack-c's
 * unpacker allocates a container's declared size before its bytes arrive, so five bytes can
 * ask for tens of GiB, and its fixed stack stops at 32 levels, below NXC_CODEC_MAX_DEPTH.
 */
#include "codec.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "err.h"

#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

/* ---- JSON -> msgpack ---------------------------------------------------------------- */

struct key_ref {
    const char *key; /* borrowed from the object */
    size_t len;      /* key bytes (keys may hold NUL) */
    json_t *val;     /* borrowed */
};

static int key_cmp(const void *a, const void *b)
{
    const struct key_ref *x = a;
    const struct key_ref *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->key, y->key, n);

    if (c)
        return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int write_failed(void)
{
    return nxc_error_set(NXC_ENOMEM, "msgpack: writing the packed bytes failed");
}

static int pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    if (len > UINT32_MAX)
        return nxc_error_set(NXC_ELIMIT, "msgpack: string of %zu bytes is too long", len);
    if (msgpack_pack_str(pk, len))
        return write_failed();
    if (len && msgpack_pack_str_body(pk, s, len))
        return write_failed();
    return NXC_OK;
}

static int pack_value(msgpack_packer *pk, const json_t *v, int canonical, unsigned depth);

static int pack_object(msgpack_packer *pk, const json_t *v, int canonical, unsigned depth)
{
    json_t *obj = (json_t *)v; /* jansson's iterators take a non-const object */
    size_t n = json_object_size(obj);
    struct key_ref *keys = NULL;
    size_t i = 0;
    void *it;
    int rc;

    if (msgpack_pack_map(pk, n))
        return write_failed();
    if (!canonical) {
        for (it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
            rc = pack_str(pk, json_object_iter_key(it), json_object_iter_key_len(it));
            if (rc)
                return rc;
            rc = pack_value(pk, json_object_iter_value(it), canonical, depth);
            if (rc)
                return rc;
        }
        return NXC_OK;
    }
    if (n == 0)
        return NXC_OK;
    keys = malloc(n * sizeof(*keys));
    if (!keys)
        return nxc_error_set(NXC_ENOMEM, "msgpack: out of memory sorting %zu keys", n);
    for (it = json_object_iter(obj); it && i < n; it = json_object_iter_next(obj, it)) {
        keys[i].key = json_object_iter_key(it);
        keys[i].len = json_object_iter_key_len(it);
        keys[i].val = json_object_iter_value(it);
        i++;
    }
    qsort(keys, i, sizeof(*keys), key_cmp);
    rc = NXC_OK;
    for (size_t k = 0; k < i && rc == NXC_OK; k++) {
        rc = pack_str(pk, keys[k].key, keys[k].len);
        if (rc == NXC_OK)
            rc = pack_value(pk, keys[k].val, canonical, depth);
    }
    free(keys);
    return rc;
}

static int pack_value(msgpack_packer *pk, const json_t *v, int canonical, unsigned depth)
{
    size_t i;
    int rc;

    if (!v)
        return nxc_error_set(NXC_EINVALID, "msgpack: no JSON value to pack");
    switch (json_typeof(v)) {
    case JSON_NULL:
        if (msgpack_pack_nil(pk))
            return write_failed();
        return NXC_OK;
    case JSON_TRUE:
        if (msgpack_pack_true(pk))
            return write_failed();
        return NXC_OK;
    case JSON_FALSE:
        if (msgpack_pack_false(pk))
            return write_failed();
        return NXC_OK;
    case JSON_INTEGER:
        if (msgpack_pack_int64(pk, (int64_t)json_integer_value(v)))
            return write_failed();
        return NXC_OK;
    case JSON_REAL:
        if (msgpack_pack_double(pk, json_real_value(v)))
            return write_failed();
        return NXC_OK;
    case JSON_STRING: return pack_str(pk, json_string_value(v), json_string_length(v));
    case JSON_ARRAY:
        if (depth + 1 > NXC_CODEC_MAX_DEPTH)
            return nxc_error_set(NXC_EINVALID, "msgpack: nesting deeper than %d levels",
                                 NXC_CODEC_MAX_DEPTH);
        if (msgpack_pack_array(pk, json_array_size(v)))
            return write_failed();
        for (i = 0; i < json_array_size(v); i++) {
            rc = pack_value(pk, json_array_get(v, i), canonical, depth + 1);
            if (rc)
                return rc;
        }
        return NXC_OK;
    case JSON_OBJECT:
        if (depth + 1 > NXC_CODEC_MAX_DEPTH)
            return nxc_error_set(NXC_EINVALID, "msgpack: nesting deeper than %d levels",
                                 NXC_CODEC_MAX_DEPTH);
        return pack_object(pk, v, canonical, depth + 1);
    }
    return nxc_error_set(NXC_EINVALID, "msgpack: unknown JSON type %d", (int)json_typeof(v));
}

int nxc_codec_pack_json(msgpack_packer *pk, const json_t *v, int canonical)
{
    return pack_value(pk, v, canonical, 0);
}

/* ---- bytes -> msgpack_object -------------------------------------------------------- */

struct reader {
    const unsigned char *p;   /* next byte */
    const unsigned char *end; /* one past the last byte */
    msgpack_zone *zone;       /* where arrays and maps go */
    unsigned max_depth;       /* deepest container nesting accepted */
};

static int truncated(void)
{
    return nxc_error_set(NXC_EINVALID, "msgpack: truncated input");
}

static uint64_t load_be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian length or number. */
static int take_be(struct reader *r, size_t n, uint64_t *out)
{
    if ((size_t)(r->end - r->p) < n)
        return truncated();
    *out = load_be(r->p, n);
    r->p += n;
    return NXC_OK;
}

/* Takes len raw bytes (a str, bin or ext body) without copying them. */
static int take_body(struct reader *r, uint64_t len, const char **out)
{
    if ((uint64_t)(r->end - r->p) < len)
        return truncated();
    *out = (const char *)r->p;
    r->p += len;
    return NXC_OK;
}

static int read_value(struct reader *r, msgpack_object *o, unsigned depth);

static int read_container(struct reader *r, msgpack_object *o, uint64_t n, int is_map,
                          unsigned depth)
{
    uint64_t left = (uint64_t)(r->end - r->p);
    int rc;

    if (depth + 1 > r->max_depth)
        return nxc_error_set(NXC_EINVALID, "msgpack: nesting deeper than %u levels", r->max_depth);
    /* Each element takes at least one byte: a count larger than what is left is a lie, and
     * checking it first bounds the allocation by the input size. */
    if (n > left || (is_map && n > left / 2))
        return truncated();
    if (is_map) {
        msgpack_object_kv *kv = NULL;

        if (n) {
            kv = msgpack_zone_malloc(r->zone, (size_t)n * sizeof(*kv));
            if (!kv)
                return nxc_error_set(NXC_ENOMEM, "msgpack: out of memory for a map");
        }
        o->type = MSGPACK_OBJECT_MAP;
        o->via.map.size = (uint32_t)n;
        o->via.map.ptr = kv;
        for (uint64_t i = 0; i < n; i++) {
            rc = read_value(r, &kv[i].key, depth + 1);
            if (rc)
                return rc;
            rc = read_value(r, &kv[i].val, depth + 1);
            if (rc)
                return rc;
        }
        return NXC_OK;
    }

    msgpack_object *items = NULL;

    if (n) {
        items = msgpack_zone_malloc(r->zone, (size_t)n * sizeof(*items));
        if (!items)
            return nxc_error_set(NXC_ENOMEM, "msgpack: out of memory for an array");
    }
    o->type = MSGPACK_OBJECT_ARRAY;
    o->via.array.size = (uint32_t)n;
    o->via.array.ptr = items;
    for (uint64_t i = 0; i < n; i++) {
        rc = read_value(r, &items[i], depth + 1);
        if (rc)
            return rc;
    }
    return NXC_OK;
}

static void set_int(msgpack_object *o, int64_t v)
{
    /* msgpack-c's convention: a non-negative value is a positive integer whatever its
     * encoding, so equal numbers compare equal. */
    if (v >= 0) {
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = (uint64_t)v;
    } else {
        o->type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
        o->via.i64 = v;
    }
}

static int read_str(struct reader *r, msgpack_object *o, int type, uint64_t len)
{
    const char *body = NULL;
    int rc = take_body(r, len, &body);

    if (rc)
        return rc;
    o->type = type;
    if (type == MSGPACK_OBJECT_STR) {
        o->via.str.size = (uint32_t)len;
        o->via.str.ptr = body;
    } else {
        o->via.bin.size = (uint32_t)len;
        o->via.bin.ptr = body;
    }
    return NXC_OK;
}

static int read_ext(struct reader *r, msgpack_object *o, uint64_t len)
{
    const char *body = NULL;
    uint64_t type = 0;
    int rc;

    rc = take_be(r, 1, &type);
    if (rc)
        return rc;
    rc = take_body(r, len, &body);
    if (rc)
        return rc;
    o->type = MSGPACK_OBJECT_EXT;
    o->via.ext.type = (int8_t)(uint8_t)type;
    o->via.ext.size = (uint32_t)len;
    o->via.ext.ptr = body;
    return NXC_OK;
}

static int read_value(struct reader *r, msgpack_object *o, unsigned depth)
{
    unsigned char tag;
    uint64_t v = 0;
    int rc;

    if (r->p >= r->end)
        return truncated();
    tag = *r->p++;
    memset(o, 0, sizeof(*o));
    if (tag <= 0x7f) {
        set_int(o, tag);
        return NXC_OK;
    }
    if (tag >= 0xe0) {
        set_int(o, (int8_t)tag);
        return NXC_OK;
    }
    if (tag >= 0x80 && tag <= 0x8f)
        return read_container(r, o, tag & 0x0f, 1, depth);
    if (tag >= 0x90 && tag <= 0x9f)
        return read_container(r, o, tag & 0x0f, 0, depth);
    if (tag >= 0xa0 && tag <= 0xbf)
        return read_str(r, o, MSGPACK_OBJECT_STR, tag & 0x1f);

    switch (tag) {
    case 0xc0: o->type = MSGPACK_OBJECT_NIL; return NXC_OK;
    case 0xc2:
    case 0xc3:
        o->type = MSGPACK_OBJECT_BOOLEAN;
        o->via.boolean = tag == 0xc3;
        return NXC_OK;
    case 0xc4: /* bin 8/16/32 */
    case 0xc5:
    case 0xc6:
        rc = take_be(r, (size_t)1 << (tag - 0xc4), &v);
        if (rc)
            return rc;
        return read_str(r, o, MSGPACK_OBJECT_BIN, v);
    case 0xc7: /* ext 8/16/32 */
    case 0xc8:
    case 0xc9:
        rc = take_be(r, (size_t)1 << (tag - 0xc7), &v);
        if (rc)
            return rc;
        return read_ext(r, o, v);
    case 0xca: {
        uint32_t bits;
        float f;

        rc = take_be(r, 4, &v);
        if (rc)
            return rc;
        bits = (uint32_t)v;
        memcpy(&f, &bits, sizeof(f));
        o->type = MSGPACK_OBJECT_FLOAT32;
        o->via.f64 = f;
        return NXC_OK;
    }
    case 0xcb: {
        double d;

        rc = take_be(r, 8, &v);
        if (rc)
            return rc;
        memcpy(&d, &v, sizeof(d));
        o->type = MSGPACK_OBJECT_FLOAT64;
        o->via.f64 = d;
        return NXC_OK;
    }
    case 0xcc: /* uint 8/16/32/64 */
    case 0xcd:
    case 0xce:
    case 0xcf:
        rc = take_be(r, (size_t)1 << (tag - 0xcc), &v);
        if (rc)
            return rc;
        o->type = MSGPACK_OBJECT_POSITIVE_INTEGER;
        o->via.u64 = v;
        return NXC_OK;
    case 0xd0: /* int 8/16/32/64 */
    case 0xd1:
    case 0xd2:
    case 0xd3: {
        size_t n = (size_t)1 << (tag - 0xd0);

        rc = take_be(r, n, &v);
        if (rc)
            return rc;
        /* Sign-extend in unsigned arithmetic: shifting negative values is not portable. */
        if (n < 8 && ((v >> (8 * n - 1)) & 1))
            v |= ~(uint64_t)0 << (8 * n);
        set_int(o, (int64_t)v);
        return NXC_OK;
    }
    case 0xd4: /* fixext 1/2/4/8/16 */
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8: return read_ext(r, o, (uint64_t)1 << (tag - 0xd4));
    case 0xd9: /* str 8/16/32 */
    case 0xda:
    case 0xdb:
        rc = take_be(r, (size_t)1 << (tag - 0xd9), &v);
        if (rc)
            return rc;
        return read_str(r, o, MSGPACK_OBJECT_STR, v);
    case 0xdc: /* array 16/32 */
    case 0xdd:
        rc = take_be(r, tag == 0xdc ? 2 : 4, &v);
        if (rc)
            return rc;
        return read_container(r, o, v, 0, depth);
    case 0xde: /* map 16/32 */
    case 0xdf:
        rc = take_be(r, tag == 0xde ? 2 : 4, &v);
        if (rc)
            return rc;
        return read_container(r, o, v, 1, depth);
    }
    return nxc_error_set(NXC_EINVALID, "msgpack: invalid type byte 0x%02x", tag);
}

int nxc_codec_parse(const void *data, size_t len, unsigned max_depth, msgpack_zone *zone,
                    msgpack_object *out)
{
    struct reader r;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!data || !len)
        return nxc_error_set(NXC_EINVALID, "msgpack: empty input");
    r.p = data;
    r.end = r.p + len;
    r.zone = zone;
    r.max_depth = max_depth;
    rc = read_value(&r, out, 0);
    if (rc)
        return rc;
    if (r.p != r.end)
        return nxc_error_set(NXC_EINVALID, "msgpack: %zu bytes after the value",
                             (size_t)(r.end - r.p));
    return NXC_OK;
}

/* ---- msgpack_object -> JSON --------------------------------------------------------- */

/* Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF (as jansson). */
static int utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        unsigned c = s[i];
        size_t need;
        uint32_t cp, min;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < need)
            return 0;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

static int unpack_value(const msgpack_object *o, json_t **out, unsigned depth);

static int unpack_map(const msgpack_object *o, json_t **out, unsigned depth)
{
    json_t *obj = json_object();
    json_t *val = NULL;
    int rc = NXC_OK;

    if (!obj)
        return nxc_error_set(NXC_ENOMEM, "json: out of memory for an object");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const char *key;

        if (k->type != MSGPACK_OBJECT_STR) {
            rc = nxc_error_set(NXC_EINVALID, "msgpack: map key of type %d is not a string",
                               (int)k->type);
            goto out;
        }
        key = k->via.str.size ? k->via.str.ptr : "";
        if (!utf8_valid((const unsigned char *)key, k->via.str.size)) {
            rc = nxc_error_set(NXC_EINVALID, "msgpack: map key is not valid UTF-8");
            goto out;
        }
        /* jansson cannot parse a key holding NUL back from JSON text: such an object would
         * be written to the API server and then never read again. */
        if (memchr(key, '\0', k->via.str.size)) {
            rc = nxc_error_set(NXC_EINVALID, "msgpack: map key contains a NUL byte");
            goto out;
        }
        /* A repeated key would silently keep one value: the two sides would then disagree
         * on what the message said. */
        if (json_object_getn(obj, key, k->via.str.size)) {
            rc = nxc_error_set(NXC_EINVALID, "msgpack: map key \"%.*s\" appears twice",
                               (int)(k->via.str.size > 64 ? 64 : k->via.str.size), key);
            goto out;
        }
        rc = unpack_value(&o->via.map.ptr[i].val, &val, depth);
        if (rc)
            goto out;
        if (json_object_setn_new_nocheck(obj, key, k->via.str.size, val)) {
            val = NULL;
            rc = nxc_error_set(NXC_ENOMEM, "json: out of memory adding a key");
            goto out;
        }
        val = NULL;
    }
out:
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return NXC_OK;
}

static int unpack_array(const msgpack_object *o, json_t **out, unsigned depth)
{
    json_t *arr = json_array();
    json_t *val;
    int rc;

    if (!arr)
        return nxc_error_set(NXC_ENOMEM, "json: out of memory for an array");
    for (uint32_t i = 0; i < o->via.array.size; i++) {
        rc = unpack_value(&o->via.array.ptr[i], &val, depth);
        if (rc) {
            json_decref(arr);
            return rc;
        }
        if (json_array_append_new(arr, val)) {
            json_decref(arr);
            return nxc_error_set(NXC_ENOMEM, "json: out of memory growing an array");
        }
    }
    *out = arr;
    return NXC_OK;
}

static int unpack_value(const msgpack_object *o, json_t **out, unsigned depth)
{
    json_t *v = NULL;

    switch (o->type) {
    case MSGPACK_OBJECT_NIL: v = json_null(); break;
    case MSGPACK_OBJECT_BOOLEAN: v = json_boolean(o->via.boolean); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t)INT64_MAX)
            return nxc_error_set(NXC_EINVALID, "msgpack: integer %llu does not fit in int64",
                                 (unsigned long long)o->via.u64);
        v = json_integer((json_int_t)o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: v = json_integer((json_int_t)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return nxc_error_set(NXC_EINVALID, "msgpack: NaN or infinite real has no JSON form");
        v = json_real(o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        if (!utf8_valid((const unsigned char *)o->via.str.ptr, o->via.str.size))
            return nxc_error_set(NXC_EINVALID, "msgpack: string is not valid UTF-8");
        v = json_stringn_nocheck(o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        if (depth + 1 > NXC_CODEC_MAX_DEPTH)
            return nxc_error_set(NXC_EINVALID, "msgpack: nesting deeper than %d levels",
                                 NXC_CODEC_MAX_DEPTH);
        return unpack_array(o, out, depth + 1);
    case MSGPACK_OBJECT_MAP:
        if (depth + 1 > NXC_CODEC_MAX_DEPTH)
            return nxc_error_set(NXC_EINVALID, "msgpack: nesting deeper than %d levels",
                                 NXC_CODEC_MAX_DEPTH);
        return unpack_map(o, out, depth + 1);
    case MSGPACK_OBJECT_BIN:
        return nxc_error_set(NXC_EINVALID, "msgpack: binary data has no JSON form");
    case MSGPACK_OBJECT_EXT:
        return nxc_error_set(NXC_EINVALID, "msgpack: extension type %d has no JSON form",
                             (int)o->via.ext.type);
    default: return nxc_error_set(NXC_EINVALID, "msgpack: unknown object type %d", (int)o->type);
    }
    if (!v)
        return nxc_error_set(NXC_ENOMEM, "json: out of memory for a value");
    *out = v;
    return NXC_OK;
}

int nxc_codec_unpack_json(const msgpack_object *o, json_t **out)
{
    *out = NULL;
    if (!o)
        return nxc_error_set(NXC_EINVALID, "msgpack: no object to unpack");
    return unpack_value(o, out, 0);
}

/* ---- hash ----------------------------------------------------------------------------- */

static int digest_write(void *data, const char *buf, size_t len)
{
    return EVP_DigestUpdate(data, buf, len) == 1 ? 0 : -1;
}

int nxc_codec_hash(const json_t *v, unsigned char out[NXC_CODEC_HASH_LEN])
{
    EVP_MD_CTX *ctx = NULL;
    msgpack_packer pk;
    unsigned int n = 0;
    int rc;

    ctx = EVP_MD_CTX_new();
    if (!ctx)
        return nxc_error_set(NXC_ENOMEM, "hash: out of memory for a digest");
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = nxc_error_set(NXC_ERROR, "hash: SHA-256 is not available");
        goto out;
    }
    msgpack_packer_init(&pk, ctx, digest_write);
    rc = nxc_codec_pack_json(&pk, v, 1);
    if (rc) {
        nxc_error_wrap("hash");
        goto out;
    }
    if (EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != NXC_CODEC_HASH_LEN) {
        rc = nxc_error_set(NXC_ERROR, "hash: SHA-256 failed");
        goto out;
    }
    rc = NXC_OK;
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

void nxc_codec_hash_hex(const unsigned char hash[NXC_CODEC_HASH_LEN], char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < NXC_CODEC_HASH_LEN; i++) {
        out[2 * i] = digits[hash[i] >> 4];
        out[2 * i + 1] = digits[hash[i] & 0x0f];
    }
    out[2 * NXC_CODEC_HASH_LEN] = '\0';
}

/* ---- planes --------------------------------------------------------------------------- */

/* Objects are walked with jansson's iterators rather than its foreach macros, which
 * clang-format cannot lay out as loops. */

/* Top-level fields that are not part of the spec plane. */
static int reserved_field(const char *key)
{
    return !strcmp(key, "apiVersion") || !strcmp(key, "kind") || !strcmp(key, "metadata") ||
           !strcmp(key, "status");
}

static int not_reserved_field(const char *key)
{
    return !reserved_field(key);
}

/* Annotations that belong to one side: the connector's own markers and kubectl's copy of
 * the last applied manifest (which would drag a stale spec along). */
static int local_annotation(const char *key)
{
    return !strncmp(key, NXC_CODEC_ANNOTATION_PREFIX, strlen(NXC_CODEC_ANNOTATION_PREFIX)) ||
           !strcmp(key, LAST_APPLIED);
}

static int shared_annotation(const char *key)
{
    return !local_annotation(key);
}

/* status.nexus is each side's own sync bookkeeping. */
static int not_nexus(const char *key)
{
    return strcmp(key, "nexus") != 0;
}

static int any_key(const char *key)
{
    (void)key;
    return 1;
}

/* The object at key in parent: NULL when absent or null, NXC_EINVALID when another type. */
static int get_map(const json_t *parent, const char *key, const char *what, json_t **out)
{
    json_t *v = json_object_get(parent, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return NXC_OK;
    if (!json_is_object(v))
        return nxc_error_set(NXC_EINVALID, "plane: %s is not an object", what);
    *out = v;
    return NXC_OK;
}

/* Copies deeply into dst the members of src (NULL: none) whose key keep() accepts. */
static int copy_members(json_t *dst, const json_t *src, int (*keep)(const char *key))
{
    json_t *from = (json_t *)src; /* jansson's iterators take a non-const object */

    for (void *it = json_object_iter(from); it; it = json_object_iter_next(from, it)) {
        const char *key = json_object_iter_key(it);
        json_t *c;

        if (!keep(key))
            continue;
        c = json_deep_copy(json_object_iter_value(it));
        if (!c || json_object_set_new(dst, key, c))
            return nxc_error_set(NXC_ENOMEM, "plane: out of memory copying \"%s\"", key);
    }
    return NXC_OK;
}

/* Sets plane[key] to the members of src that keep() accepts, unless there are none: the API
 * server drops empty maps, so an empty part counts as absent (otherwise a write of {} would
 * read back different and look like a new change). */
static int put_part(json_t *plane, const char *key, const json_t *src, int (*keep)(const char *key))
{
    json_t *part = json_object();
    int rc;

    if (!part)
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    rc = copy_members(part, src, keep);
    if (rc || !json_object_size(part)) {
        json_decref(part);
        return rc;
    }
    if (json_object_set_new(plane, key, part))
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    return NXC_OK;
}

static int spec_get(const json_t *obj, json_t *plane)
{
    json_t *meta, *labels = NULL, *ann = NULL;
    int rc;

    rc = get_map(obj, "metadata", "metadata", &meta);
    if (rc)
        return rc;
    if (meta) {
        rc = get_map(meta, "labels", "metadata.labels", &labels);
        if (rc)
            return rc;
        rc = get_map(meta, "annotations", "metadata.annotations", &ann);
        if (rc)
            return rc;
    }
    rc = put_part(plane, "labels", labels, any_key);
    if (rc)
        return rc;
    rc = put_part(plane, "annotations", ann, shared_annotation);
    if (rc)
        return rc;
    return put_part(plane, "fields", obj, not_reserved_field);
}

static int status_get(const json_t *obj, json_t *plane)
{
    json_t *status;
    int rc;

    rc = get_map(obj, "status", "status", &status);
    if (rc)
        return rc;
    return copy_members(plane, status, not_nexus);
}

int nxc_codec_plane_get(const json_t *obj, enum nxc_codec_plane plane, json_t **out)
{
    json_t *p;
    int rc;

    *out = NULL;
    if (!json_is_object(obj))
        return nxc_error_set(NXC_EINVALID, "plane: the object is not a JSON object");
    p = json_object();
    if (!p)
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    if (plane == NXC_PLANE_SPEC)
        rc = spec_get(obj, p);
    else if (plane == NXC_PLANE_STATUS)
        rc = status_get(obj, p);
    else
        rc = nxc_error_set(NXC_EINVALID, "plane: unknown plane %d", (int)plane);
    if (rc) {
        json_decref(p);
        return rc;
    }
    *out = p;
    return NXC_OK;
}

/* Checks a spec plane before anything is written, so a bad one leaves obj untouched. */
static int spec_check(const json_t *content)
{
    json_t *c = (json_t *)content;
    json_t *fields = json_object_get(content, "fields");

    for (void *it = json_object_iter(c); it; it = json_object_iter_next(c, it)) {
        const char *key = json_object_iter_key(it);

        if (strcmp(key, "labels") && strcmp(key, "annotations") && strcmp(key, "fields"))
            return nxc_error_set(NXC_EINVALID, "plane: unknown spec plane part \"%s\"", key);
        if (!json_is_object(json_object_iter_value(it)))
            return nxc_error_set(NXC_EINVALID, "plane: spec plane part \"%s\" is not an object",
                                 key);
    }
    for (void *it = json_object_iter(fields); it; it = json_object_iter_next(fields, it)) {
        if (reserved_field(json_object_iter_key(it)))
            return nxc_error_set(NXC_EINVALID, "plane: spec plane cannot set \"%s\"",
                                 json_object_iter_key(it));
    }
    return NXC_OK;
}

/* Replaces metadata[key] with part, or removes it when part is empty; takes part. */
static int replace_part(json_t *meta, const char *key, json_t *part)
{
    if (!json_object_size(part)) {
        json_decref(part);
        json_object_del(meta, key);
        return NXC_OK;
    }
    if (json_object_set_new(meta, key, part))
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    return NXC_OK;
}

static int spec_put(json_t *obj, const json_t *content)
{
    json_t *meta, *old_ann = NULL, *ann = NULL, *labels = NULL;
    void *it, *next;
    int rc;

    rc = spec_check(content);
    if (rc)
        return rc;
    rc = get_map(obj, "metadata", "metadata", &meta);
    if (rc)
        return rc;
    if (meta) {
        rc = get_map(meta, "annotations", "metadata.annotations", &old_ann);
        if (rc)
            return rc;
    }

    /* Build the new parts before touching obj: local annotations from obj (a peer's markers
     * never replace ours), the rest from the plane. */
    ann = json_object();
    labels = json_object();
    if (!ann || !labels)
        goto nomem;
    rc = copy_members(ann, old_ann, local_annotation);
    if (!rc)
        rc = copy_members(ann, json_object_get(content, "annotations"), shared_annotation);
    if (!rc)
        rc = copy_members(labels, json_object_get(content, "labels"), any_key);
    if (rc)
        goto out;
    if (!meta) {
        meta = json_object();
        if (!meta || json_object_set_new(obj, "metadata", meta))
            goto nomem;
    }
    rc = replace_part(meta, "labels", labels);
    labels = NULL;
    if (rc)
        goto out;
    rc = replace_part(meta, "annotations", ann);
    ann = NULL;
    if (rc)
        goto out;

    /* Deleting the current member is safe once the next one is known. */
    for (it = json_object_iter(obj); it; it = next) {
        const char *key = json_object_iter_key(it);

        next = json_object_iter_next(obj, it);
        if (!reserved_field(key))
            json_object_del(obj, key);
    }
    rc = copy_members(obj, json_object_get(content, "fields"), any_key);
    goto out;
nomem:
    rc = nxc_error_set(NXC_ENOMEM, "plane: out of memory");
out:
    json_decref(ann);
    json_decref(labels);
    return rc;
}

static int status_put(json_t *obj, const json_t *content)
{
    json_t *old, *status, *nexus = NULL;
    int rc;

    rc = get_map(obj, "status", "status", &old);
    if (rc)
        return rc;
    if (old)
        nexus = json_object_get(old, "nexus");
    status = json_object();
    if (!status)
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    rc = copy_members(status, content, not_nexus);
    if (rc) {
        json_decref(status);
        return rc;
    }
    if (nexus && json_object_set(status, "nexus", nexus)) {
        json_decref(status);
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    }
    /* Nothing to say and nothing there: leave the object as it is. */
    if (!json_object_size(status) && !old) {
        json_decref(status);
        return NXC_OK;
    }
    if (json_object_set_new(obj, "status", status))
        return nxc_error_set(NXC_ENOMEM, "plane: out of memory");
    return NXC_OK;
}

int nxc_codec_plane_put(json_t *obj, enum nxc_codec_plane plane, const json_t *content)
{
    if (!json_is_object(obj))
        return nxc_error_set(NXC_EINVALID, "plane: the object is not a JSON object");
    if (!json_is_object(content))
        return nxc_error_set(NXC_EINVALID, "plane: the plane content is not a JSON object");
    if (plane == NXC_PLANE_SPEC)
        return spec_put(obj, content);
    if (plane == NXC_PLANE_STATUS)
        return status_put(obj, content);
    return nxc_error_set(NXC_EINVALID, "plane: unknown plane %d", (int)plane);
}
