/* Fuzz target: arbitrary bytes through the YAML reader, one document and all documents. A
 * result must serialize as JSON (no inf/nan, valid UTF-8) and errors must leave *out NULL. */
#include <stdint.h>
#include <stdlib.h>

#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *v = NULL;
    char *s;

    if (nxc_yaml_parse_all((const char *)data, size, &v) == 0) {
        s = json_dumps(v, JSON_ENCODE_ANY);
        if (!s)
            abort();
        free(s);
        json_decref(v);
    } else if (v) {
        abort();
    }
    v = NULL;
    if (nxc_yaml_parse((const char *)data, size, &v) == 0)
        json_decref(v);
    else if (v)
        abort();
    return 0;
}
