/* Fuzz target: the watch stream framer. The first byte picks the chunk size and the line
 * limit, so splits and oversize lines are both explored; the rest is the stream. Feeding
 * continues after errors, since the framer promises to reset and carry on. */
#include <stdint.h>
#include <stdlib.h>

#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_event(void *ctx, json_t *ev)
{
    size_t *n = ctx;

    if (!json_is_object(ev))
        abort();
    (*n)++;
    /* Let the callback fail now and then, as a watch callback can. */
    return json_object_get(ev, "stop") ? -4 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    nxc_kube_framer *f = NULL;
    size_t chunk, max, off, n = 0;

    if (size < 1)
        return 0;
    chunk = (size_t)(data[0] & 0x0f) + 1;
    max = data[0] & 0x80 ? 64 : 4096;
    data++;
    size--;
    if (nxc_kube_framer_new(max, on_event, &n, &f) != 0)
        abort();
    for (off = 0; off < size; off += chunk)
        nxc_kube_framer_feed(f, (const char *)data + off, size - off < chunk ? size - off : chunk);
    nxc_kube_framer_free(f);
    return 0;
}
