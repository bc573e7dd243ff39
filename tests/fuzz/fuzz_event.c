/*
 * fuzz_event: decodes arbitrary bytes as a replication message. Whatever decodes must be a
 * valid event: it converts to JSON, re-encodes, and decodes again to the same event. A refused
 * input must leave the event cleared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_cleared(const nxc_event *ev)
{
    static const nxc_event zero;

    if (memcmp(ev, &zero, sizeof(zero)) != 0)
        abort();
}

static void check_same(const nxc_event *a, const nxc_event *b)
{
    char ka[4 * (NXC_EVENT_NAME_MAX + 1)], kb[4 * (NXC_EVENT_NAME_MAX + 1)];

    if (nxc_event_key(a, ka, sizeof(ka)) || nxc_event_key(b, kb, sizeof(kb)) || strcmp(ka, kb))
        abort();
    if (a->op != b->op || a->hlc != b->hlc || strcmp(a->origin, b->origin) ||
        strcmp(a->version, b->version) || strcmp(a->kind, b->kind))
        abort();
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        const nxc_event_plane *x = &a->plane[p], *y = &b->plane[p];

        if (nxc_vv_compare(x->vv, y->vv) != NXC_VV_EQUAL || x->hlc != y->hlc ||
            strcmp(x->by, y->by) || memcmp(x->hash, y->hash, NXC_CODEC_HASH_LEN))
            abort();
        if ((x->data || y->data) && !json_equal(x->data, y->data))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nxc_event a, b;
    json_t *j = NULL;
    char *bytes = NULL;
    size_t len = 0;
    int rc;

    if (nxc_event_decode(data, size, &a) != NXC_OK) {
        check_cleared(&a);
        return 0;
    }
    if (nxc_event_to_json(&a, &j) != NXC_OK)
        abort();
    free(json_dumps(j, JSON_COMPACT));
    json_decref(j);
    rc = nxc_event_encode(&a, &bytes, &len);
    /* float32 grows to float64 on the way out: only the size cap may refuse it. */
    if (rc == NXC_ELIMIT) {
        nxc_event_clear(&a);
        return 0;
    }
    if (rc != NXC_OK)
        abort();
    if (nxc_event_decode(bytes, len, &b) != NXC_OK)
        abort();
    check_same(&a, &b);
    nxc_event_clear(&a);
    nxc_event_clear(&b);
    free(bytes);
    return 0;
}
