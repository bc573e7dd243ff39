/*
 * event: the replication message body and its msgpack form (event.h).
 *
 * Encode checks everything decode checks, so an agent never publishes a message its peer
 * would refuse; decode takes bytes from the network and trusts nothing: the body is read by
 * nxc_codec_parse (sizes checked before allocation, depth capped), every field is typed and
 * bounded, names are checked so they are safe inside an API path, and the hash of each plane
 * must match its data, since the receiver stores that hash to recognise its own echo.
 * Unknown keys are ignored so a later format can add fields; "v" changes when meaning does.
 */
#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

#define FORMAT_VERSION 1
#define VERSION_MAX 63 /* sizeof(ev->version) - 1 */
#define NS_MAX 63      /* sizeof(ev->ns) - 1: a DNS label */
#define HLC_MAX ((uint64_t)INT64_MAX)

static const char *const plane_key[NXC_PLANE_COUNT] = {"spec", "status"};

/* ---- validation, shared by encode and decode ------------------------------------------ */

/* A name that is safe as one segment of an API path: printable ASCII without '/' or '%',
 * not "." or ".." (the API server's own rule for path segment names). */
static int name_ok(const char *s, size_t len, size_t max, int may_be_empty)
{
    if (len == 0)
        return may_be_empty;
    if (len > max)
        return 0;
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x21 || c > 0x7e || c == '/' || c == '%')
            return 0;
    }
    return 1;
}

struct obj_field {
    const char *key;  /* key in the "obj" map */
    size_t offset;    /* of the char array in nxc_event */
    size_t max;       /* longest value */
    int may_be_empty; /* "" allowed */
};

static const struct obj_field obj_fields[] = {
    {"group", offsetof(nxc_event, group), NXC_EVENT_NAME_MAX, 1},
    {"version", offsetof(nxc_event, version), VERSION_MAX, 0},
    {"resource", offsetof(nxc_event, resource), NXC_EVENT_NAME_MAX, 0},
    {"kind", offsetof(nxc_event, kind), NXC_EVENT_NAME_MAX, 0},
    {"ns", offsetof(nxc_event, ns), NS_MAX, 1},
    {"name", offsetof(nxc_event, name), NXC_EVENT_NAME_MAX, 0},
};
#define OBJ_FIELDS (sizeof(obj_fields) / sizeof(obj_fields[0]))

static const char *obj_str(const nxc_event *ev, size_t i)
{
    return (const char *)ev + obj_fields[i].offset;
}

/* "by" may be empty only for a plane no runtime has changed yet. */
static int by_ok(const char *by, const nxc_vv *vv)
{
    return nxc_vv_id_valid(by) || (by[0] == '\0' && nxc_vv_size(vv) == 0);
}

const char *nxc_event_op_name(enum nxc_event_op op)
{
    switch (op) {
    case NXC_EVENT_UPSERT: return "upsert";
    case NXC_EVENT_DELETE: return "delete";
    case NXC_EVENT_RELEASE: return "release";
    case NXC_EVENT_RETRACT: return "retract";
    }
    return "unknown";
}

static int check_event(const nxc_event *ev)
{
    if (ev->op < NXC_EVENT_UPSERT || ev->op > NXC_EVENT_RETRACT)
        return nxc_error_set(NXC_EINVALID, "event: unknown op %d", (int)ev->op);
    if (!nxc_vv_id_valid(ev->origin))
        return nxc_error_set(NXC_EINVALID, "event: origin is not a valid runtime id");
    if (ev->hlc > HLC_MAX)
        return nxc_error_set(NXC_EINVALID, "event: hlc is above 2^63-1");
    for (size_t i = 0; i < OBJ_FIELDS; i++) {
        const char *s = obj_str(ev, i);
        size_t len = strnlen(s, obj_fields[i].max + 1);

        if (!name_ok(s, len, obj_fields[i].max, obj_fields[i].may_be_empty))
            return nxc_error_set(NXC_EINVALID, "event: obj.%s is not a valid name",
                                 obj_fields[i].key);
    }
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        const nxc_event_plane *pl = &ev->plane[p];

        if (!pl->vv)
            return nxc_error_set(NXC_EINVALID, "event: %s.vv is missing", plane_key[p]);
        if (pl->hlc > HLC_MAX)
            return nxc_error_set(NXC_EINVALID, "event: %s.hlc is above 2^63-1", plane_key[p]);
        if (!by_ok(pl->by, pl->vv))
            return nxc_error_set(NXC_EINVALID, "event: %s.by is not a valid runtime id",
                                 plane_key[p]);
        if (ev->op == NXC_EVENT_UPSERT && !json_is_object(pl->data))
            return nxc_error_set(NXC_EINVALID, "event: %s.data must be an object on upsert",
                                 plane_key[p]);
        if (ev->op != NXC_EVENT_UPSERT && pl->data)
            return nxc_error_set(NXC_EINVALID, "event: %s.data must be absent on delete",
                                 plane_key[p]);
    }
    return NXC_OK;
}

/* ---- encode --------------------------------------------------------------------------- */

/* Packs into a buffer capped at NXC_EVENT_MAX_BYTES, so an oversize body stops growing at the
 * cap instead of being built whole and thrown away. */
struct writer {
    nxc_buf buf; /* the body so far */
    int rc;      /* the first write error: NXC_ELIMIT or NXC_ENOMEM */
};

static int writer_write(void *data, const char *bytes, size_t len)
{
    struct writer *w = data;
    int rc = nxc_buf_add(&w->buf, bytes, len);

    if (rc && !w->rc)
        w->rc = rc;
    return rc ? -1 : 0;
}

static int pack_key(msgpack_packer *pk, const char *key)
{
    return msgpack_pack_str_with_body(pk, key, strlen(key));
}

/* Nonzero on failure; a failed write is reported by the writer. */
static int pack_plane(msgpack_packer *pk, const nxc_event_plane *pl)
{
    if (msgpack_pack_map(pk, pl->data ? 5 : 4) || pack_key(pk, "vv") || nxc_vv_pack(pk, pl->vv) ||
        pack_key(pk, "hlc") || msgpack_pack_uint64(pk, pl->hlc) || pack_key(pk, "by") ||
        pack_key(pk, pl->by) || pack_key(pk, "hash") ||
        msgpack_pack_bin_with_body(pk, pl->hash, NXC_CODEC_HASH_LEN))
        return NXC_ERROR;
    if (!pl->data)
        return NXC_OK;
    if (pack_key(pk, "data"))
        return NXC_ERROR;
    return nxc_codec_pack_json(pk, pl->data, 0);
}

static int pack_body(msgpack_packer *pk, const nxc_event *ev)
{
    int rc;

    if (msgpack_pack_map(pk, 7) || pack_key(pk, "v") || msgpack_pack_uint64(pk, FORMAT_VERSION) ||
        pack_key(pk, "op") || pack_key(pk, nxc_event_op_name(ev->op)) || pack_key(pk, "origin") ||
        pack_key(pk, ev->origin) || pack_key(pk, "hlc") || msgpack_pack_uint64(pk, ev->hlc) ||
        pack_key(pk, "obj") || msgpack_pack_map(pk, OBJ_FIELDS))
        return NXC_ERROR;
    for (size_t i = 0; i < OBJ_FIELDS; i++) {
        if (pack_key(pk, obj_fields[i].key) || pack_key(pk, obj_str(ev, i)))
            return NXC_ERROR;
    }
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        if (pack_key(pk, plane_key[p]))
            return NXC_ERROR;
        rc = pack_plane(pk, &ev->plane[p]);
        if (rc) {
            nxc_error_wrap(plane_key[p]);
            return rc;
        }
    }
    return NXC_OK;
}

int nxc_event_encode(const nxc_event *ev, char **out, size_t *out_len)
{
    struct writer w = {.rc = NXC_OK};
    msgpack_packer pk;
    int rc;

    *out = NULL;
    *out_len = 0;
    rc = check_event(ev);
    if (rc)
        return rc;
    nxc_buf_init(&w.buf, NXC_EVENT_MAX_BYTES);
    msgpack_packer_init(&pk, &w, writer_write);
    rc = pack_body(&pk, ev);
    if (w.rc == NXC_ELIMIT)
        rc = nxc_error_set(NXC_ELIMIT, "event: the body is larger than %u bytes",
                           NXC_EVENT_MAX_BYTES);
    else if (w.rc)
        rc = nxc_error_set(w.rc, "event: out of memory encoding");
    else if (rc)
        nxc_error_wrap("event");
    if (rc)
        goto out;
    *out_len = w.buf.len;
    *out = nxc_buf_steal(&w.buf);
    if (!*out) {
        *out_len = 0;
        rc = nxc_error_set(NXC_ENOMEM, "event: out of memory encoding");
    }
out:
    nxc_buf_free(&w.buf);
    return rc;
}

/* ---- decode --------------------------------------------------------------------------- */

/* Finds the wanted keys of map m: found[i] is the value of names[i], or NULL when absent.
 * Repeated wanted keys are an error (which one would count?); others are ignored. */
static int find_keys(const msgpack_object *m, const char *what, const char *const names[],
                     size_t count, const msgpack_object *found[])
{
    for (size_t i = 0; i < count; i++)
        found[i] = NULL;
    if (m->type != MSGPACK_OBJECT_MAP)
        return nxc_error_set(NXC_EINVALID, "event: %s is not a map", what);
    for (uint32_t k = 0; k < m->via.map.size; k++) {
        const msgpack_object *key = &m->via.map.ptr[k].key;

        if (key->type != MSGPACK_OBJECT_STR)
            return nxc_error_set(NXC_EINVALID, "event: %s has a key that is not a string", what);
        for (size_t i = 0; i < count; i++) {
            if (key->via.str.size != strlen(names[i]) ||
                memcmp(key->via.str.ptr, names[i], key->via.str.size))
                continue;
            if (found[i])
                return nxc_error_set(NXC_EINVALID, "event: %s.%s appears twice", what, names[i]);
            found[i] = &m->via.map.ptr[k].val;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (!found[i] && strcmp(names[i], "data"))
            return nxc_error_set(NXC_EINVALID, "event: %s.%s is missing", what, names[i]);
    }
    return NXC_OK;
}

static int get_uint(const msgpack_object *o, const char *what, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return nxc_error_set(NXC_EINVALID, "event: %s is not an unsigned integer", what);
    if (o->via.u64 > max)
        return nxc_error_set(NXC_EINVALID, "event: %s is above %llu", what,
                             (unsigned long long)max);
    *out = o->via.u64;
    return NXC_OK;
}

/* Copies a string of at most max bytes into buf (max + 1 bytes). */
static int get_str(const msgpack_object *o, const char *what, char *buf, size_t max)
{
    if (o->type != MSGPACK_OBJECT_STR)
        return nxc_error_set(NXC_EINVALID, "event: %s is not a string", what);
    if (o->via.str.size > max)
        return nxc_error_set(NXC_EINVALID, "event: %s is longer than %zu bytes", what, max);
    if (o->via.str.size && memchr(o->via.str.ptr, '\0', o->via.str.size))
        return nxc_error_set(NXC_EINVALID, "event: %s contains a NUL byte", what);
    if (o->via.str.size)
        memcpy(buf, o->via.str.ptr, o->via.str.size);
    buf[o->via.str.size] = '\0';
    return NXC_OK;
}

static int read_obj(const msgpack_object *o, nxc_event *ev)
{
    const char *names[OBJ_FIELDS];
    const msgpack_object *found[OBJ_FIELDS];
    char what[32];
    int rc;

    for (size_t i = 0; i < OBJ_FIELDS; i++)
        names[i] = obj_fields[i].key;
    rc = find_keys(o, "obj", names, OBJ_FIELDS, found);
    if (rc)
        return rc;
    for (size_t i = 0; i < OBJ_FIELDS; i++) {
        char *dst = (char *)ev + obj_fields[i].offset;

        snprintf(what, sizeof(what), "obj.%s", names[i]);
        rc = get_str(found[i], what, dst, obj_fields[i].max);
        if (rc)
            return rc;
        if (!name_ok(dst, strlen(dst), obj_fields[i].max, obj_fields[i].may_be_empty))
            return nxc_error_set(NXC_EINVALID, "event: %s is not a valid name", what);
    }
    return NXC_OK;
}

static int read_plane(const msgpack_object *o, int p, nxc_event *ev)
{
    static const char *const names[] = {"vv", "hlc", "by", "hash", "data"};
    const msgpack_object *found[5];
    nxc_event_plane *pl = &ev->plane[p];
    unsigned char hash[NXC_CODEC_HASH_LEN];
    const char *what = plane_key[p];
    char field[32];
    int rc;

    rc = find_keys(o, what, names, 5, found);
    if (rc)
        return rc;
    rc = nxc_vv_unpack(found[0], &pl->vv);
    if (rc) {
        snprintf(field, sizeof(field), "event: %s.vv", what);
        nxc_error_wrap(field);
        return rc;
    }
    snprintf(field, sizeof(field), "%s.hlc", what);
    rc = get_uint(found[1], field, HLC_MAX, &pl->hlc);
    if (rc)
        return rc;
    snprintf(field, sizeof(field), "%s.by", what);
    rc = get_str(found[2], field, pl->by, NXC_VV_ID_MAX);
    if (rc)
        return rc;
    if (!by_ok(pl->by, pl->vv))
        return nxc_error_set(NXC_EINVALID, "event: %s is not a valid runtime id", field);
    if (found[3]->type != MSGPACK_OBJECT_BIN)
        return nxc_error_set(NXC_EINVALID, "event: %s.hash is not binary", what);
    if (found[3]->via.bin.size != NXC_CODEC_HASH_LEN)
        return nxc_error_set(NXC_EINVALID, "event: %s.hash is %u bytes, not %d", what,
                             found[3]->via.bin.size, NXC_CODEC_HASH_LEN);
    memcpy(pl->hash, found[3]->via.bin.ptr, NXC_CODEC_HASH_LEN);

    if (ev->op != NXC_EVENT_UPSERT) {
        if (found[4])
            return nxc_error_set(NXC_EINVALID, "event: %s.data must be absent on delete", what);
        return NXC_OK;
    }
    if (!found[4])
        return nxc_error_set(NXC_EINVALID, "event: %s.data is missing", what);
    if (found[4]->type != MSGPACK_OBJECT_MAP)
        return nxc_error_set(NXC_EINVALID, "event: %s.data is not a map", what);
    rc = nxc_codec_unpack_json(found[4], &pl->data);
    if (rc) {
        snprintf(field, sizeof(field), "event: %s.data", what);
        nxc_error_wrap(field);
        return rc;
    }
    rc = nxc_codec_hash(pl->data, hash);
    if (rc)
        return rc;
    if (memcmp(hash, pl->hash, NXC_CODEC_HASH_LEN))
        return nxc_error_set(NXC_EINVALID, "event: %s.hash does not match %s.data", what, what);
    return NXC_OK;
}

static int read_event(const msgpack_object *root, nxc_event *ev)
{
    static const char *const names[] = {"v", "op", "origin", "hlc", "obj", "spec", "status"};
    const msgpack_object *found[7];
    const msgpack_object *op;
    uint64_t v = 0;
    int rc;

    rc = find_keys(root, "body", names, 7, found);
    if (rc)
        return rc;
    /* The version first: a later format may change what the other fields mean. */
    if (found[0]->type != MSGPACK_OBJECT_POSITIVE_INTEGER || found[0]->via.u64 != FORMAT_VERSION)
        return nxc_error_set(NXC_EINVALID, "event: unsupported format version (want %d)",
                             FORMAT_VERSION);
    op = found[1];
    if (op->type != MSGPACK_OBJECT_STR)
        return nxc_error_set(NXC_EINVALID, "event: op is not a string");
    ev->op = 0;
    for (int k = NXC_EVENT_UPSERT; k <= NXC_EVENT_RETRACT; k++) {
        const char *name = nxc_event_op_name((enum nxc_event_op)k);

        if (op->via.str.size == strlen(name) && !memcmp(op->via.str.ptr, name, strlen(name)))
            ev->op = (enum nxc_event_op)k;
    }
    if (!ev->op)
        return nxc_error_set(NXC_EINVALID, "event: unknown op");
    rc = get_str(found[2], "origin", ev->origin, NXC_VV_ID_MAX);
    if (rc)
        return rc;
    if (!nxc_vv_id_valid(ev->origin))
        return nxc_error_set(NXC_EINVALID, "event: origin is not a valid runtime id");
    rc = get_uint(found[3], "hlc", HLC_MAX, &v);
    if (rc)
        return rc;
    ev->hlc = v;
    rc = read_obj(found[4], ev);
    if (rc)
        return rc;
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        rc = read_plane(found[5 + p], p, ev);
        if (rc)
            return rc;
    }
    return NXC_OK;
}

int nxc_event_decode(const void *data, size_t len, nxc_event *ev)
{
    msgpack_zone zone;
    msgpack_object root;
    int rc;

    memset(ev, 0, sizeof(*ev));
    if (len > NXC_EVENT_MAX_BYTES)
        return nxc_error_set(NXC_EINVALID, "event: %zu bytes, the limit is %u", len,
                             NXC_EVENT_MAX_BYTES);
    if (!msgpack_zone_init(&zone, 4096))
        return nxc_error_set(NXC_ENOMEM, "event: out of memory");
    /* Two levels of envelope (body, plane) above the plane data, which has its own cap. */
    rc = nxc_codec_parse(data, len, NXC_CODEC_MAX_DEPTH + 2, &zone, &root);
    if (rc) {
        nxc_error_wrap("event");
        goto out;
    }
    rc = read_event(&root, ev);
out:
    msgpack_zone_destroy(&zone);
    if (rc)
        nxc_event_clear(ev);
    return rc;
}

void nxc_event_clear(nxc_event *ev)
{
    if (!ev)
        return;
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        nxc_vv_free(ev->plane[p].vv);
        json_decref(ev->plane[p].data);
    }
    memset(ev, 0, sizeof(*ev));
}

int nxc_event_key(const nxc_event *ev, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s/%s/%s", ev->group, ev->resource, ev->ns, ev->name);

    if (n < 0 || (size_t)n >= len)
        return nxc_error_set(NXC_ELIMIT, "event: key needs %d bytes, have %zu", n, len);
    return NXC_OK;
}

/* ---- JSON view ------------------------------------------------------------------------ */

static int set_new(json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v))
        return nxc_error_set(NXC_ENOMEM, "event: out of memory building JSON");
    return NXC_OK;
}

static json_t *vv_json(const nxc_vv *vv)
{
    json_t *o = json_object();
    uint64_t c;

    for (size_t i = 0; o && i < nxc_vv_size(vv); i++) {
        const char *id = nxc_vv_id_at(vv, i, &c);

        if (json_object_set_new(o, id, json_integer((json_int_t)c))) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static int plane_json(const nxc_event_plane *pl, json_t **out)
{
    char hex[2 * NXC_CODEC_HASH_LEN + 1];
    json_t *o = json_object();
    int rc;

    if (!o)
        return nxc_error_set(NXC_ENOMEM, "event: out of memory building JSON");
    nxc_codec_hash_hex(pl->hash, hex);
    rc = set_new(o, "vv", vv_json(pl->vv));
    if (!rc)
        rc = set_new(o, "hlc", json_integer((json_int_t)pl->hlc));
    if (!rc)
        rc = set_new(o, "by", json_string(pl->by));
    if (!rc)
        rc = set_new(o, "hash", json_string(hex));
    if (!rc && pl->data)
        rc = set_new(o, "data", json_deep_copy(pl->data));
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return NXC_OK;
}

int nxc_event_to_json(const nxc_event *ev, json_t **out)
{
    char key[4 * (NXC_EVENT_NAME_MAX + 1)];
    json_t *o = NULL, *obj = NULL, *pj = NULL;
    int rc;

    *out = NULL;
    rc = check_event(ev);
    if (rc)
        return rc;
    rc = nxc_event_key(ev, key, sizeof(key));
    if (rc)
        return rc;
    o = json_object();
    obj = json_object();
    if (!o || !obj) {
        rc = nxc_error_set(NXC_ENOMEM, "event: out of memory building JSON");
        goto out;
    }
    for (size_t i = 0; i < OBJ_FIELDS && !rc; i++)
        rc = set_new(obj, obj_fields[i].key, json_string(obj_str(ev, i)));
    if (!rc)
        rc = set_new(o, "v", json_integer(FORMAT_VERSION));
    if (!rc)
        rc = set_new(o, "op", json_string(nxc_event_op_name(ev->op)));
    if (!rc)
        rc = set_new(o, "origin", json_string(ev->origin));
    if (!rc)
        rc = set_new(o, "hlc", json_integer((json_int_t)ev->hlc));
    if (!rc)
        rc = set_new(o, "key", json_string(key));
    if (!rc) {
        rc = set_new(o, "obj", obj);
        obj = NULL;
    }
    for (int p = 0; p < NXC_PLANE_COUNT && !rc; p++) {
        rc = plane_json(&ev->plane[p], &pj);
        if (!rc)
            rc = set_new(o, plane_key[p], pj);
    }
out:
    json_decref(obj);
    if (rc) {
        json_decref(o);
        return rc;
    }
    *out = o;
    return NXC_OK;
}
