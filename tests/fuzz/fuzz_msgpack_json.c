/*
 * fuzz_msgpack_json: reads arbitrary bytes as msgpack and converts them to JSON. Whatever
 * converts must survive msgpack -> JSON -> msgpack -> JSON and JSON text -> JSON unchanged,
 * and hash the same each way round: the agent relies on that to tell its own echo from a
 * change. An object's planes, written onto a copy of it or onto an empty object, must read
 * back the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *from_bytes(const void *data, size_t size)
{
    msgpack_zone zone;
    msgpack_object o;
    json_t *v = NULL;

    if (!msgpack_zone_init(&zone, 1024))
        abort();
    if (nxc_codec_parse(data, size, NXC_CODEC_MAX_DEPTH, &zone, &o) == NXC_OK)
        nxc_codec_unpack_json(&o, &v);
    msgpack_zone_destroy(&zone);
    return v;
}

/* Hash of one plane of obj; 0 when obj has no such plane. */
static int plane_hash(const json_t *obj, int plane, unsigned char out[NXC_CODEC_HASH_LEN])
{
    json_t *p;
    int rc;

    if (nxc_codec_plane_get(obj, plane, &p) != NXC_OK)
        return 0;
    rc = nxc_codec_hash(p, out) == NXC_OK;
    json_decref(p);
    return rc;
}

static void check_planes(const json_t *obj)
{
    for (int plane = 0; plane < NXC_PLANE_COUNT; plane++) {
        unsigned char want[NXC_CODEC_HASH_LEN], got[NXC_CODEC_HASH_LEN];
        json_t *targets[2] = {json_deep_copy(obj), json_object()};
        json_t *p;

        if (nxc_codec_plane_get(obj, plane, &p) != NXC_OK) {
            json_decref(targets[0]);
            json_decref(targets[1]);
            continue;
        }
        /* A plane nested past the cap has no hash; it must still be refused the same way. */
        if (nxc_codec_hash(p, want) != NXC_OK)
            memset(want, 0, sizeof(want));
        for (int t = 0; t < 2; t++) {
            if (nxc_codec_plane_put(targets[t], plane, p) != NXC_OK)
                abort();
            if (!plane_hash(targets[t], plane, got))
                memset(got, 0, sizeof(got));
            if (memcmp(want, got, sizeof(want)))
                abort();
            json_decref(targets[t]);
        }
        json_decref(p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char h1[NXC_CODEC_HASH_LEN], h2[NXC_CODEC_HASH_LEN], h3[NXC_CODEC_HASH_LEN];
    json_t *first, *second, *third;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char *text;

    first = from_bytes(data, size);
    if (!first)
        return 0;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (nxc_codec_pack_json(&pk, first, size & 1) != NXC_OK)
        abort();
    second = from_bytes(sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (!second || !json_equal(first, second))
        abort();
    if (nxc_codec_hash(first, h1) != NXC_OK || nxc_codec_hash(second, h2) != NXC_OK ||
        memcmp(h1, h2, sizeof(h1)))
        abort();

    /* The JSON text the API server would get reads back as the same value. */
    text = json_dumps(first, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        abort();
    third = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!third || !json_equal(first, third) || nxc_codec_hash(third, h3) != NXC_OK ||
        memcmp(h1, h3, sizeof(h1)))
        abort();
    free(text);
    if (json_is_object(first))
        check_planes(first);
    json_decref(first);
    json_decref(second);
    json_decref(third);
    return 0;
}
