/*
 * Unit tests of event: the message body round-trips exactly, and decoding refuses every kind
 * of malformed input with NXC_EINVALID and a cleared event. Malformed bodies are made by
 * encoding a good event, reading it as a msgpack tree, changing one field and packing it
 * again, so each case differs from a valid message in exactly one way.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "event.h"

#define STAMP (((uint64_t)1700000000000ULL << 16) + 3)

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);

    cr_assert_not_null(v, "bad test JSON: %s", err.text);
    return v;
}

static void fill_plane(nxc_event_plane *pl, enum nxc_event_op op, const char *data, const char *vv,
                       uint64_t hlc)
{
    json_t *d = load(data);

    cr_assert_eq(nxc_vv_parse(vv, &pl->vv), NXC_OK);
    pl->hlc = hlc;
    memcpy(pl->by, "rt-a", 5);
    cr_assert_eq(nxc_codec_hash(d, pl->hash), NXC_OK);
    if (op == NXC_EVENT_UPSERT)
        pl->data = d;
    else
        json_decref(d);
}

static void make_event(nxc_event *ev, enum nxc_event_op op)
{
    memset(ev, 0, sizeof(*ev));
    ev->op = op;
    memcpy(ev->origin, "rt-a", 5);
    ev->hlc = STAMP;
    memcpy(ev->group, "g.example.com", 14);
    memcpy(ev->version, "v1", 3);
    memcpy(ev->resource, "nodes", 6);
    memcpy(ev->kind, "Node", 5);
    memcpy(ev->name, "n1", 3);
    fill_plane(&ev->plane[NXC_PLANE_SPEC], op,
               "{\"labels\": {\"nexus/display_name\": \"n1\"}, \"fields\": {\"spec\": "
               "{\"big\": 9007199254740993, \"min\": -9223372036854775808, \"r\": 0.1, "
               "\"s\": \"\u65e5\u672c \xf0\x9f\x98\x80\", \"n\": null}}}",
               "rt-a=3,rt-b=1", STAMP - 1);
    fill_plane(&ev->plane[NXC_PLANE_STATUS], op, "{\"phase\": \"Ready\"}", "rt-b=2", STAMP - 7);
}

static void assert_cleared(const nxc_event *ev)
{
    nxc_event zero;

    memset(&zero, 0, sizeof(zero));
    cr_assert(memcmp(ev, &zero, sizeof(zero)) == 0, "the event was not left cleared");
}

static void assert_same(const nxc_event *a, const nxc_event *b)
{
    cr_assert_eq(a->op, b->op);
    cr_assert_str_eq(a->origin, b->origin);
    cr_assert_eq(a->hlc, b->hlc);
    cr_assert_str_eq(a->group, b->group);
    cr_assert_str_eq(a->version, b->version);
    cr_assert_str_eq(a->resource, b->resource);
    cr_assert_str_eq(a->kind, b->kind);
    cr_assert_str_eq(a->ns, b->ns);
    cr_assert_str_eq(a->name, b->name);
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        const nxc_event_plane *x = &a->plane[p], *y = &b->plane[p];

        cr_assert_eq(nxc_vv_compare(x->vv, y->vv), NXC_VV_EQUAL);
        cr_assert_eq(x->hlc, y->hlc);
        cr_assert_str_eq(x->by, y->by);
        cr_assert(memcmp(x->hash, y->hash, NXC_CODEC_HASH_LEN) == 0);
        if (x->data || y->data)
            cr_assert(json_equal(x->data, y->data), "plane %d data differs", p);
    }
}

static void round_trip(const nxc_event *ev)
{
    nxc_event back;
    char *bytes;
    size_t len;

    cr_assert_eq(nxc_event_encode(ev, &bytes, &len), NXC_OK, "%s", nxc_error_last());
    cr_assert_eq(nxc_event_decode(bytes, len, &back), NXC_OK, "%s", nxc_error_last());
    assert_same(ev, &back);
    nxc_event_clear(&back);
    free(bytes);
}

Test(event, upsert_round_trip)
{
    nxc_event ev;

    make_event(&ev, NXC_EVENT_UPSERT);
    round_trip(&ev);
    memcpy(ev.ns, "team-a", 7);
    memcpy(ev.group, "", 1);
    round_trip(&ev);
    nxc_event_clear(&ev);
    assert_cleared(&ev);
}

Test(event, delete_round_trip)
{
    nxc_event ev, back;
    char *bytes;
    size_t len;

    make_event(&ev, NXC_EVENT_DELETE);
    round_trip(&ev);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_OK);
    cr_assert_eq(nxc_event_decode(bytes, len, &back), NXC_OK);
    cr_assert_null(back.plane[NXC_PLANE_SPEC].data);
    cr_assert_eq(nxc_vv_get(back.plane[NXC_PLANE_SPEC].vv, "rt-a"), 3, "vectors are kept");
    nxc_event_clear(&back);
    nxc_event_clear(&ev);
    free(bytes);
}

Test(event, deep_data_round_trip)
{
    nxc_event ev;
    json_t *v = json_null();
    json_t *plane = json_object();
    char *bytes;
    size_t len;

    /* The plane object is one level, "fields" another: 62 more reach the cap. */
    for (int i = 0; i < NXC_CODEC_MAX_DEPTH - 2; i++) {
        json_t *a = json_array();

        json_array_append_new(a, v);
        v = a;
    }
    json_object_set_new(plane, "fields", json_pack("{s:o}", "spec", v));
    make_event(&ev, NXC_EVENT_UPSERT);
    json_decref(ev.plane[0].data);
    ev.plane[0].data = plane;
    cr_assert_eq(nxc_codec_hash(plane, ev.plane[0].hash), NXC_OK);
    round_trip(&ev);
    /* One level more is refused on the way out, not only on the way in. */
    v = json_array();
    json_array_append(v, json_object_get(json_object_get(plane, "fields"), "spec"));
    json_object_set_new(json_object_get(plane, "fields"), "spec", v);
    cr_assert_eq(nxc_codec_hash(plane, ev.plane[0].hash), NXC_EINVALID);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    nxc_event_clear(&ev);
}

Test(event, empty_by_only_for_untouched_plane)
{
    nxc_event ev;
    char *bytes;
    size_t len;

    make_event(&ev, NXC_EVENT_UPSERT);
    ev.plane[1].by[0] = '\0';
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    nxc_vv_free(ev.plane[1].vv);
    ev.plane[1].vv = nxc_vv_new();
    round_trip(&ev);
    nxc_event_clear(&ev);
}

Test(event, key)
{
    nxc_event ev;
    char buf[128];

    make_event(&ev, NXC_EVENT_DELETE);
    cr_assert_eq(nxc_event_key(&ev, buf, sizeof(buf)), NXC_OK);
    cr_assert_str_eq(buf, "g.example.com/nodes//n1");
    ev.group[0] = '\0';
    memcpy(ev.ns, "ns1", 4);
    cr_assert_eq(nxc_event_key(&ev, buf, sizeof(buf)), NXC_OK);
    cr_assert_str_eq(buf, "/nodes/ns1/n1");
    cr_assert_eq(nxc_event_key(&ev, buf, 13), NXC_ELIMIT);
    nxc_event_clear(&ev);
}

Test(event, to_json)
{
    nxc_event ev;
    json_t *j, *spec;
    char hex[2 * NXC_CODEC_HASH_LEN + 1];
    json_t *want_vv = load("{\"rt-a\": 3, \"rt-b\": 1}");

    make_event(&ev, NXC_EVENT_UPSERT);
    cr_assert_eq(nxc_event_to_json(&ev, &j), NXC_OK, "%s", nxc_error_last());
    cr_assert_str_eq(json_string_value(json_object_get(j, "op")), "upsert");
    cr_assert_str_eq(json_string_value(json_object_get(j, "origin")), "rt-a");
    cr_assert_eq((uint64_t)json_integer_value(json_object_get(j, "hlc")), STAMP);
    cr_assert_str_eq(json_string_value(json_object_get(j, "key")), "g.example.com/nodes//n1");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "obj"), "kind")), "Node");
    spec = json_object_get(j, "spec");
    nxc_codec_hash_hex(ev.plane[0].hash, hex);
    cr_assert_str_eq(json_string_value(json_object_get(spec, "hash")), hex);
    cr_assert(json_equal(json_object_get(spec, "vv"), want_vv));
    cr_assert(json_equal(json_object_get(spec, "data"), ev.plane[0].data));
    cr_assert_str_eq(json_string_value(json_object_get(spec, "by")), "rt-a");
    cr_assert_not_null(json_object_get(j, "status"));
    json_decref(j);
    json_decref(want_vv);
    nxc_event_clear(&ev);
}

Test(event, encode_rejects_invalid_events)
{
    nxc_event ev;
    char *bytes = (char *)1;
    size_t len = 1;

    make_event(&ev, NXC_EVENT_UPSERT);
    memcpy(ev.origin, "a b", 4);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    cr_assert_null(bytes);
    cr_assert_eq(len, 0);
    memcpy(ev.origin, "rt-a", 5);
    memcpy(ev.name, "a/b", 4);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    memcpy(ev.name, "..", 3);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    memcpy(ev.name, "n1", 3);
    ev.op = NXC_EVENT_DELETE; /* data present on delete */
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    ev.op = 7;
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    ev.op = NXC_EVENT_UPSERT;
    ev.hlc = (uint64_t)INT64_MAX + 1;
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    ev.hlc = STAMP;
    json_decref(ev.plane[1].data);
    ev.plane[1].data = NULL; /* data missing on upsert */
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_EINVALID);
    nxc_event_clear(&ev);
}

Test(event, encode_rejects_oversize)
{
    nxc_event ev;
    char *big = malloc(NXC_EVENT_MAX_BYTES);
    char *bytes;
    size_t len;

    memset(big, 'x', NXC_EVENT_MAX_BYTES);
    make_event(&ev, NXC_EVENT_UPSERT);
    json_decref(ev.plane[1].data);
    ev.plane[1].data = json_pack("{s:s%}", "blob", big, (size_t)NXC_EVENT_MAX_BYTES);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_ELIMIT);
    nxc_event_clear(&ev);
    free(big);
}

/* ---- malformed bodies ----------------------------------------------------------------- */

struct doc {
    char *bytes; /* the good encoding; the tree points into it */
    size_t len;
    msgpack_zone zone;   /* the tree's arrays and maps */
    msgpack_object root; /* the body as a tree, edited by the tests */
};

static void doc_init(struct doc *d, enum nxc_event_op op)
{
    nxc_event ev;

    make_event(&ev, op);
    cr_assert_eq(nxc_event_encode(&ev, &d->bytes, &d->len), NXC_OK);
    nxc_event_clear(&ev);
    cr_assert(msgpack_zone_init(&d->zone, 4096));
    cr_assert_eq(nxc_codec_parse(d->bytes, d->len, 80, &d->zone, &d->root), NXC_OK);
}

static void doc_free(struct doc *d)
{
    msgpack_zone_destroy(&d->zone);
    free(d->bytes);
}

/* The map holding the last component of a dotted path, and that component. */
static msgpack_object *parent_of(struct doc *d, const char *path, const char **last)
{
    msgpack_object *m = &d->root;
    const char *dot;

    while ((dot = strchr(path, '.'))) {
        size_t n = (size_t)(dot - path);
        msgpack_object *next = NULL;

        for (uint32_t i = 0; i < m->via.map.size; i++) {
            msgpack_object *k = &m->via.map.ptr[i].key;

            if (k->via.str.size == n && !memcmp(k->via.str.ptr, path, n))
                next = &m->via.map.ptr[i].val;
        }
        cr_assert_not_null(next, "no %.*s", (int)n, path);
        m = next;
        path = dot + 1;
    }
    *last = path;
    return m;
}

static uint32_t index_of(msgpack_object *m, const char *key)
{
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        msgpack_object *k = &m->via.map.ptr[i].key;

        if (k->via.str.size == strlen(key) && !memcmp(k->via.str.ptr, key, k->via.str.size))
            return i;
    }
    cr_assert_fail("no key %s", key);
    return 0;
}

static void doc_set(struct doc *d, const char *path, msgpack_object v)
{
    const char *key;
    msgpack_object *m = parent_of(d, path, &key);

    m->via.map.ptr[index_of(m, key)].val = v;
}

static void doc_drop(struct doc *d, const char *path)
{
    const char *key;
    msgpack_object *m = parent_of(d, path, &key);
    uint32_t i = index_of(m, key);

    memmove(&m->via.map.ptr[i], &m->via.map.ptr[i + 1],
            (m->via.map.size - i - 1) * sizeof(msgpack_object_kv));
    m->via.map.size--;
}

/* Adds key = v to the map at path ("" for the body). */
static void doc_add(struct doc *d, const char *path, const char *key, msgpack_object v)
{
    msgpack_object *m = &d->root;
    msgpack_object_kv *kv;
    const char *last;

    if (*path) {
        m = parent_of(d, path, &last);
        m = &m->via.map.ptr[index_of(m, last)].val;
    }
    kv = msgpack_zone_malloc(&d->zone, (m->via.map.size + 1) * sizeof(*kv));
    memcpy(kv, m->via.map.ptr, m->via.map.size * sizeof(*kv));
    kv[m->via.map.size].key.type = MSGPACK_OBJECT_STR;
    kv[m->via.map.size].key.via.str.ptr = key;
    kv[m->via.map.size].key.via.str.size = (uint32_t)strlen(key);
    kv[m->via.map.size].val = v;
    m->via.map.ptr = kv;
    m->via.map.size++;
}

static int doc_decode(struct doc *d, nxc_event *ev)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(msgpack_pack_object(&pk, d->root), 0);
    rc = nxc_event_decode(sb.data, sb.size, ev);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static msgpack_object mp_str(const char *s)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR};

    o.via.str.ptr = s;
    o.via.str.size = (uint32_t)strlen(s);
    return o;
}

static msgpack_object mp_uint(uint64_t v)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER};

    o.via.u64 = v;
    return o;
}

static msgpack_object mp_neg(int64_t v)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER};

    o.via.i64 = v;
    return o;
}

static msgpack_object mp_bin(const char *p, uint32_t n)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_BIN};

    o.via.bin.ptr = p;
    o.via.bin.size = n;
    return o;
}

static msgpack_object mp_nil(void)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_NIL};

    return o;
}

/* Expects the edited body to be refused, with a message naming what, and a cleared event. */
static void expect_refused(struct doc *d, const char *what)
{
    nxc_event ev;

    cr_assert_eq(doc_decode(d, &ev), NXC_EINVALID, "accepted: %s", what);
    cr_assert(strstr(nxc_error_last(), what), "message \"%s\" does not mention \"%s\"",
              nxc_error_last(), what);
    assert_cleared(&ev);
}

Test(event, decode_unchanged_doc_accepted)
{
    struct doc d;
    nxc_event ev;

    /* The harness itself changes nothing: a re-packed good body decodes. */
    doc_init(&d, NXC_EVENT_UPSERT);
    cr_assert_eq(doc_decode(&d, &ev), NXC_OK, "%s", nxc_error_last());
    nxc_event_clear(&ev);
    doc_free(&d);
}

Test(event, decode_ignores_unknown_keys)
{
    struct doc d;
    nxc_event ev;

    doc_init(&d, NXC_EVENT_UPSERT);
    doc_add(&d, "", "future", mp_str("x"));
    doc_add(&d, "obj", "uid", mp_uint(5));
    doc_add(&d, "spec", "note", mp_nil());
    cr_assert_eq(doc_decode(&d, &ev), NXC_OK, "%s", nxc_error_last());
    nxc_event_clear(&ev);
    doc_free(&d);
}

Test(event, decode_rejects_wrong_types)
{
    static const char name254[] = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                                  "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                                  "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
                                  "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
    static const char ns64[] = "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn";
    static const char hash[40];
    const struct {
        const char *path;
        msgpack_object v;
        const char *what;
    } cases[] = {
        {"v", mp_uint(2), "version"},
        {"v", mp_str("1"), "version"},
        {"op", mp_str("merge"), "op"},
        {"op", mp_uint(1), "op"},
        {"origin", mp_str("a b"), "origin"},
        {"origin", mp_uint(1), "origin"},
        {"hlc", mp_str("12"), "hlc"},
        {"hlc", mp_neg(-1), "hlc"},
        {"hlc", mp_uint((uint64_t)INT64_MAX + 1), "hlc"},
        {"obj", mp_str("x"), "obj"},
        {"obj.name", mp_uint(3), "obj.name"},
        {"obj.name", mp_str(""), "obj.name"},
        {"obj.name", mp_str(".."), "obj.name"},
        {"obj.name", mp_str("a/b"), "obj.name"},
        {"obj.name", mp_str("a%2fb"), "obj.name"},
        {"obj.name", mp_str("a b"), "obj.name"},
        {"obj.name", mp_str(name254), "obj.name"},
        {"obj.ns", mp_str(ns64), "obj.ns"},
        {"obj.version", mp_str(""), "obj.version"},
        {"obj.group", mp_str("\xc3\xa9"), "obj.group"},
        {"spec", mp_uint(0), "spec"},
        {"spec.vv", mp_str("rt-a=1"), "spec.vv"},
        {"status.hlc", mp_str("1"), "status.hlc"},
        {"spec.by", mp_str("not valid"), "spec.by"},
        {"spec.hash", mp_bin(hash, 31), "spec.hash"},
        {"spec.hash", mp_bin(hash, 33), "spec.hash"},
        {"spec.hash", mp_bin(hash, 0), "spec.hash"},
        {"status.hash", mp_str("0123456789abcdef0123456789abcdef"), "status.hash"},
        {"status.hash", mp_bin(hash, 32), "does not match"},
        {"spec.data", mp_str("{}"), "spec.data"},
        {"spec.data", mp_nil(), "spec.data"},
        {"status.data", mp_bin(hash, 4), "status.data"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct doc d;

        doc_init(&d, NXC_EVENT_UPSERT);
        doc_set(&d, cases[i].path, cases[i].v);
        expect_refused(&d, cases[i].what);
        doc_free(&d);
    }
}

Test(event, decode_rejects_missing_fields)
{
    const char *paths[] = {"v",       "op",        "origin",    "hlc",        "obj",     "spec",
                           "status",  "obj.ns",    "obj.group", "obj.kind",   "spec.vv", "spec.hlc",
                           "spec.by", "spec.hash", "spec.data", "status.data"};

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        struct doc d;

        doc_init(&d, NXC_EVENT_UPSERT);
        doc_drop(&d, paths[i]);
        expect_refused(&d, "missing");
        doc_free(&d);
    }
}

Test(event, decode_rejects_duplicate_keys)
{
    struct doc d;

    doc_init(&d, NXC_EVENT_UPSERT);
    doc_add(&d, "", "op", mp_str("delete"));
    expect_refused(&d, "twice");
    doc_free(&d);
    doc_init(&d, NXC_EVENT_UPSERT);
    doc_add(&d, "spec", "hlc", mp_uint(1));
    expect_refused(&d, "twice");
    doc_free(&d);
}

Test(event, decode_rejects_data_on_delete)
{
    struct doc d;

    doc_init(&d, NXC_EVENT_UPSERT);
    doc_set(&d, "op", mp_str("delete"));
    expect_refused(&d, "absent on delete");
    doc_free(&d);
}

Test(event, decode_rejects_non_map_body)
{
    const unsigned char array[] = {0x91, 0x01};
    const unsigned char scalar[] = {0xa2, 'h', 'i'};
    nxc_event ev;

    cr_assert_eq(nxc_event_decode(array, sizeof(array), &ev), NXC_EINVALID);
    assert_cleared(&ev);
    cr_assert_eq(nxc_event_decode(scalar, sizeof(scalar), &ev), NXC_EINVALID);
    cr_assert_eq(nxc_event_decode(NULL, 0, &ev), NXC_EINVALID);
    assert_cleared(&ev);
}

Test(event, decode_rejects_truncated)
{
    nxc_event ev;
    char *bytes;
    size_t len;

    make_event(&ev, NXC_EVENT_UPSERT);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_OK);
    nxc_event_clear(&ev);
    for (size_t n = 0; n < len; n++) {
        /* An exact-size copy, so a read past the end is caught by the sanitizer build. */
        char *cut = malloc(n ? n : 1);

        memcpy(cut, bytes, n);
        cr_assert_eq(nxc_event_decode(cut, n, &ev), NXC_EINVALID, "prefix of %zu accepted", n);
        assert_cleared(&ev);
        free(cut);
    }
    free(bytes);
}

Test(event, decode_rejects_trailing_bytes)
{
    nxc_event ev;
    char *bytes;
    size_t len;

    make_event(&ev, NXC_EVENT_DELETE);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_OK);
    nxc_event_clear(&ev);
    bytes = realloc(bytes, len + 1);
    bytes[len] = (char)0xc0;
    cr_assert_eq(nxc_event_decode(bytes, len + 1, &ev), NXC_EINVALID);
    assert_cleared(&ev);
    free(bytes);
}

Test(event, decode_rejects_oversize)
{
    unsigned char *big = calloc(1, NXC_EVENT_MAX_BYTES + 1);
    nxc_event ev;

    cr_assert_eq(nxc_event_decode(big, NXC_EVENT_MAX_BYTES + 1, &ev), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "limit"));
    assert_cleared(&ev);
    free(big);
}

/* jansson allocations fail one after another, the n-th of each run. */
static long fail_at = -1;
static long allocs;

static void *failing_malloc(size_t n)
{
    if (fail_at >= 0 && allocs++ == fail_at)
        return NULL;
    return malloc(n);
}

Test(event, allocation_failure_is_an_error)
{
    nxc_event ev;
    char *bytes;
    size_t len;

    make_event(&ev, NXC_EVENT_UPSERT);
    cr_assert_eq(nxc_event_encode(&ev, &bytes, &len), NXC_OK);
    json_set_alloc_funcs(failing_malloc, free);
    for (long n = 0;; n++) {
        nxc_event back;
        json_t *j = NULL;
        int rc, rcj = NXC_OK;

        allocs = 0;
        fail_at = n;
        rc = nxc_event_decode(bytes, len, &back);
        if (rc == NXC_OK)
            rcj = nxc_event_to_json(&back, &j);
        fail_at = -1;
        cr_assert(rc == NXC_OK || rc == NXC_ENOMEM, "decode: %d at %ld: %s", rc, n,
                  nxc_error_last());
        cr_assert(rcj == NXC_OK || rcj == NXC_ENOMEM, "to_json: %d at %ld", rcj, n);
        if (rc == NXC_OK)
            assert_same(&ev, &back);
        else
            assert_cleared(&back);
        json_decref(j);
        nxc_event_clear(&back);
        if (allocs <= n)
            break;
    }
    nxc_event_clear(&ev);
    free(bytes);
}
