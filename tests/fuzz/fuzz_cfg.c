/* Fuzz target: the agent config, from YAML bytes through parsing and validation. */
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = NULL;
    nxc_cfg *c = NULL;

    if (nxc_yaml_parse((const char *)data, size, &doc) != 0)
        return 0;
    if (nxc_cfg_from_json(doc, "fuzz", &c) == 0) {
        nxc_cfg_validate(c);
        nxc_cfg_set(c, "runtime.id", "x");
        nxc_cfg_free(c);
    }
    json_decref(doc);
    return 0;
}
