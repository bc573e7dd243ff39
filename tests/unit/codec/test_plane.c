/*
 * Unit tests of the planes: what each plane holds of a Kubernetes object, and that writing a
 * plane back keeps what belongs to this side only (connector markers, last-applied,
 * status.nexus).
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"

#define MARKER NXC_CODEC_ANNOTATION_PREFIX "origin"
#define LAST_APPLIED "kubectl.kubernetes.io/last-applied-configuration"

static json_t *load(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);

    cr_assert_not_null(v, "bad test JSON: %s (%s)", err.text, text);
    return v;
}

static void assert_json_eq(const json_t *got, const char *want_text)
{
    json_t *want = load(want_text);

    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);

        cr_assert_fail("got %s\nwant %s", g, want_text);
    }
    json_decref(want);
}

static json_t *object(void)
{
    return load("{\"apiVersion\": \"g.example.com/v1\", \"kind\": \"Node\","
                " \"metadata\": {\"name\": \"n1\", \"uid\": \"u-1\", \"resourceVersion\": \"7\","
                "   \"labels\": {\"nexus/display_name\": \"n1\", \"root.g\": \"r\"},"
                "   \"annotations\": {\"note\": \"hi\", \"" MARKER "\": \"A\","
                "     \"" LAST_APPLIED "\": \"{...}\"}},"
                " \"spec\": {\"size\": 3, \"child\": {\"group\": \"g\", \"kind\": \"C\","
                "   \"name\": \"c1\"}},"
                " \"data\": [1, 2.5],"
                " \"status\": {\"phase\": \"Ready\", \"nexus\": {\"sourceGeneration\": 4}}}");
}

Test(codec, plane_spec_get)
{
    json_t *obj = object();
    json_t *p;

    cr_assert_eq(nxc_codec_plane_get(obj, NXC_PLANE_SPEC, &p), NXC_OK, "%s", nxc_error_last());
    assert_json_eq(p, "{\"labels\": {\"nexus/display_name\": \"n1\", \"root.g\": \"r\"},"
                      " \"annotations\": {\"note\": \"hi\"},"
                      " \"fields\": {\"spec\": {\"size\": 3, \"child\": {\"group\": \"g\","
                      "   \"kind\": \"C\", \"name\": \"c1\"}}, \"data\": [1, 2.5]}}");
    /* A copy: changing the plane leaves the object alone. */
    json_object_set_new(json_object_get(p, "fields"), "spec", json_null());
    cr_assert(json_is_object(json_object_get(obj, "spec")));
    json_decref(p);
    json_decref(obj);
}

Test(codec, plane_status_get)
{
    json_t *obj = object();
    json_t *p;

    cr_assert_eq(nxc_codec_plane_get(obj, NXC_PLANE_STATUS, &p), NXC_OK);
    assert_json_eq(p, "{\"phase\": \"Ready\"}");
    json_decref(p);
    json_decref(obj);
}

Test(codec, plane_absent_parts_left_out)
{
    json_t *bare = load("{\"apiVersion\": \"v1\", \"kind\": \"X\", \"metadata\": {\"name\": "
                        "\"x\", \"labels\": {}, \"annotations\": {\"" MARKER "\": \"1\"}}}");
    json_t *p;

    cr_assert_eq(nxc_codec_plane_get(bare, NXC_PLANE_SPEC, &p), NXC_OK);
    assert_json_eq(p, "{}");
    json_decref(p);
    cr_assert_eq(nxc_codec_plane_get(bare, NXC_PLANE_STATUS, &p), NXC_OK);
    assert_json_eq(p, "{}");
    json_decref(p);
    json_decref(bare);
}

Test(codec, plane_null_field_kept)
{
    json_t *obj = load("{\"kind\": \"X\", \"spec\": null, \"status\": {\"a\": null}}");
    json_t *p;

    cr_assert_eq(nxc_codec_plane_get(obj, NXC_PLANE_SPEC, &p), NXC_OK);
    assert_json_eq(p, "{\"fields\": {\"spec\": null}}");
    json_decref(p);
    cr_assert_eq(nxc_codec_plane_get(obj, NXC_PLANE_STATUS, &p), NXC_OK);
    assert_json_eq(p, "{\"a\": null}");
    json_decref(p);
    json_decref(obj);
}

Test(codec, plane_spec_put_keeps_local_annotations)
{
    json_t *obj = object();
    json_t *plane = load("{\"labels\": {\"x\": \"1\"},"
                         " \"annotations\": {\"new\": \"v\", \"" MARKER "\": \"peer\"},"
                         " \"fields\": {\"spec\": {\"size\": 4}, \"extra\": true}}");
    json_t *back;

    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_SPEC, plane), NXC_OK, "%s", nxc_error_last());
    assert_json_eq(obj,
                   "{\"apiVersion\": \"g.example.com/v1\", \"kind\": \"Node\","
                   " \"metadata\": {\"name\": \"n1\", \"uid\": \"u-1\", \"resourceVersion\": \"7\","
                   "   \"labels\": {\"x\": \"1\"},"
                   "   \"annotations\": {\"new\": \"v\", \"" MARKER "\": \"A\","
                   "     \"" LAST_APPLIED "\": \"{...}\"}},"
                   " \"spec\": {\"size\": 4}, \"extra\": true,"
                   " \"status\": {\"phase\": \"Ready\", \"nexus\": {\"sourceGeneration\": 4}}}");
    /* What was written reads back as the same plane, minus the peer's marker. */
    cr_assert_eq(nxc_codec_plane_get(obj, NXC_PLANE_SPEC, &back), NXC_OK);
    assert_json_eq(back, "{\"labels\": {\"x\": \"1\"}, \"annotations\": {\"new\": \"v\"},"
                         " \"fields\": {\"spec\": {\"size\": 4}, \"extra\": true}}");
    json_decref(back);
    json_decref(plane);
    json_decref(obj);
}

Test(codec, plane_spec_put_empty_removes)
{
    json_t *obj = object();
    json_t *empty = json_object();

    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_SPEC, empty), NXC_OK);
    assert_json_eq(obj,
                   "{\"apiVersion\": \"g.example.com/v1\", \"kind\": \"Node\","
                   " \"metadata\": {\"name\": \"n1\", \"uid\": \"u-1\", \"resourceVersion\": \"7\","
                   "   \"annotations\": {\"" MARKER "\": \"A\", \"" LAST_APPLIED "\": \"{...}\"}},"
                   " \"status\": {\"phase\": \"Ready\", \"nexus\": {\"sourceGeneration\": 4}}}");
    json_decref(empty);
    json_decref(obj);
}

Test(codec, plane_spec_put_creates_metadata)
{
    json_t *obj = load("{\"kind\": \"X\"}");
    json_t *plane = load("{\"labels\": {\"a\": \"b\"}, \"fields\": {\"spec\": {}}}");

    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_SPEC, plane), NXC_OK);
    assert_json_eq(obj, "{\"kind\": \"X\", \"metadata\": {\"labels\": {\"a\": \"b\"}},"
                        " \"spec\": {}}");
    json_decref(plane);
    json_decref(obj);
}

Test(codec, plane_status_put_keeps_nexus)
{
    json_t *obj = object();
    json_t *plane = load("{\"phase\": \"Failed\", \"nexus\": {\"sourceGeneration\": 99}}");
    json_t *back;

    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_STATUS, plane), NXC_OK);
    assert_json_eq(json_object_get(obj, "status"),
                   "{\"phase\": \"Failed\", \"nexus\": {\"sourceGeneration\": 4}}");
    cr_assert_eq(nxc_codec_plane_get(obj, NXC_PLANE_STATUS, &back), NXC_OK);
    assert_json_eq(back, "{\"phase\": \"Failed\"}");
    cr_assert(json_is_object(json_object_get(obj, "spec")), "spec untouched");
    json_decref(back);
    json_decref(plane);
    json_decref(obj);
}

Test(codec, plane_status_put_on_object_without_status)
{
    json_t *obj = load("{\"kind\": \"X\"}");
    json_t *empty = json_object();
    json_t *plane = load("{\"ok\": true}");

    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_STATUS, empty), NXC_OK);
    assert_json_eq(obj, "{\"kind\": \"X\"}");
    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_STATUS, plane), NXC_OK);
    assert_json_eq(obj, "{\"kind\": \"X\", \"status\": {\"ok\": true}}");
    json_decref(empty);
    json_decref(plane);
    json_decref(obj);
}

Test(codec, plane_round_trip_between_objects)
{
    /* Side A's planes written onto side B's copy make B's planes equal A's. */
    json_t *a = object();
    json_t *b =
        load("{\"apiVersion\": \"g.example.com/v1\", \"kind\": \"Node\","
             " \"metadata\": {\"name\": \"n1\", \"uid\": \"u-2\","
             "   \"annotations\": {\"" MARKER "\": \"B\"}},"
             " \"spec\": {\"old\": 1}, \"status\": {\"nexus\": {\"remoteGeneration\": 1}}}");

    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        unsigned char ha[NXC_CODEC_HASH_LEN], hb[NXC_CODEC_HASH_LEN];
        json_t *pa, *pb;

        cr_assert_eq(nxc_codec_plane_get(a, p, &pa), NXC_OK);
        cr_assert_eq(nxc_codec_plane_put(b, p, pa), NXC_OK);
        cr_assert_eq(nxc_codec_plane_get(b, p, &pb), NXC_OK);
        cr_assert_eq(nxc_codec_hash(pa, ha), NXC_OK);
        cr_assert_eq(nxc_codec_hash(pb, hb), NXC_OK);
        cr_assert(memcmp(ha, hb, sizeof(ha)) == 0, "plane %d differs", p);
        json_decref(pa);
        json_decref(pb);
    }
    assert_json_eq(json_object_get(b, "metadata"),
                   "{\"name\": \"n1\", \"uid\": \"u-2\","
                   " \"labels\": {\"nexus/display_name\": \"n1\", \"root.g\": \"r\"},"
                   " \"annotations\": {\"note\": \"hi\", \"" MARKER "\": \"B\"}}");
    assert_json_eq(json_object_get(b, "status"),
                   "{\"phase\": \"Ready\", \"nexus\": {\"remoteGeneration\": 1}}");
    json_decref(a);
    json_decref(b);
}

Test(codec, plane_put_rejects_bad_content)
{
    const char *bad[] = {
        "{\"spec\": {}}",                         /* not a plane part */
        "{\"labels\": []}",                       /* part not an object */
        "{\"fields\": {\"metadata\": {}}}",       /* reserved field */
        "{\"fields\": {\"status\": {}}}",         /* reserved field */
        "{\"fields\": {\"apiVersion\": \"v2\"}}", /* reserved field */
    };
    json_t *obj = object();
    json_t *before = json_deep_copy(obj);
    json_t *arr = json_array();

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *plane = load(bad[i]);

        cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_SPEC, plane), NXC_EINVALID, "%s", bad[i]);
        cr_assert(json_equal(obj, before), "a refused plane changed the object: %s", bad[i]);
        json_decref(plane);
    }
    cr_assert_eq(nxc_codec_plane_put(obj, NXC_PLANE_STATUS, arr), NXC_EINVALID);
    json_decref(arr);
    json_decref(before);
    json_decref(obj);
}

Test(codec, plane_get_rejects_malformed_object)
{
    json_t *not_obj = load("[1]");
    json_t *bad_meta = load("{\"metadata\": 3}");
    json_t *bad_labels = load("{\"metadata\": {\"labels\": \"x\"}}");
    json_t *bad_status = load("{\"status\": [1]}");
    json_t *p;

    cr_assert_eq(nxc_codec_plane_get(not_obj, NXC_PLANE_SPEC, &p), NXC_EINVALID);
    cr_assert_eq(nxc_codec_plane_get(bad_meta, NXC_PLANE_SPEC, &p), NXC_EINVALID);
    cr_assert_eq(nxc_codec_plane_get(bad_labels, NXC_PLANE_SPEC, &p), NXC_EINVALID);
    cr_assert_eq(nxc_codec_plane_get(bad_status, NXC_PLANE_STATUS, &p), NXC_EINVALID);
    cr_assert_null(p);
    json_decref(not_obj);
    json_decref(bad_meta);
    json_decref(bad_labels);
    json_decref(bad_status);
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

Test(codec, allocation_failure_is_an_error)
{
    json_t *obj = object();
    unsigned char packed[512];
    size_t packed_len;
    msgpack_sbuffer sb;
    msgpack_packer pk;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(nxc_codec_pack_json(&pk, obj, 0), NXC_OK);
    cr_assert_lt(sb.size, sizeof(packed));
    memcpy(packed, sb.data, sb.size);
    packed_len = sb.size;
    msgpack_sbuffer_destroy(&sb);
    json_set_alloc_funcs(failing_malloc, free);

    for (int plane = 0; plane < NXC_PLANE_COUNT; plane++) {
        for (long n = 0;; n++) {
            json_t *target, *p = NULL, *back = NULL;
            msgpack_zone zone;
            msgpack_object o;
            int rc[3];

            fail_at = -1; /* the target is set up without failures */
            target = json_deep_copy(obj);
            allocs = 0;
            fail_at = n;
            rc[0] = nxc_codec_plane_get(obj, plane, &p);
            rc[1] = p ? nxc_codec_plane_put(target, plane, p) : NXC_OK;
            cr_assert(msgpack_zone_init(&zone, 1024));
            cr_assert_eq(nxc_codec_parse(packed, packed_len, 8, &zone, &o), NXC_OK);
            rc[2] = nxc_codec_unpack_json(&o, &back);
            msgpack_zone_destroy(&zone);
            for (int i = 0; i < 3; i++)
                cr_assert(rc[i] == NXC_OK || rc[i] == NXC_ENOMEM, "step %d: %d at %ld", i, rc[i],
                          n);
            cr_assert(rc[2] != NXC_OK || json_equal(back, obj));
            json_decref(p);
            json_decref(back);
            json_decref(target);
            if (allocs <= n) /* nothing failed: every allocation has had its turn */
                break;
        }
    }
    fail_at = -1;
    json_decref(obj);
}
