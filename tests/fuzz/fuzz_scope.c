/* Fuzz target: ReplicationConfig and CRD objects as the API server would send them (JSON),
 * through the scope's parsers (label selectors included) and its membership test. */
#include <stddef.h>
#include <stdint.h>

#include "scope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *doc = json_loadb((const char *)data, size, JSON_ALLOW_NUL, NULL); /* as kube.c */
    json_t *labels = json_pack("{s:s,s:s,s:s}", "nexus/display_name", "g1", "app", "web",
                               "configs.config.tsm.tanzu.vmware.com", "c1");
    scope *s = scope_new();
    json_t *crd =
        json_loads("{\"metadata\":{\"name\":\"gnses.g\",\"annotations\":{\"nexus\":"
                   "\"{\\\"hierarchy\\\":[\\\"configs.config.tsm.tanzu.vmware.com\\\"]}\"}},"
                   "\"spec\":{\"group\":\"g\",\"names\":{\"plural\":\"gnses\",\"kind\":\"Gns\"},"
                   "\"scope\":\"Cluster\",\"versions\":[{\"name\":\"v1\",\"storage\":true}]}}",
                   0, NULL);
    int changed;

    if (s && crd)
        scope_set_crd(s, crd, &changed); /* a type for configs to select from */
    json_decref(crd);
    if (doc && s && labels) {
        scope_set_crd(s, doc, &changed);
        scope_set_config(s, doc, &changed);
        scope_set_config(s, doc, &changed); /* the same again: no change */
        for (size_t i = 0; i < scope_config_count(s); i++) {
            const scope_config *c = scope_config_at(s, i);

            for (size_t j = 0; j < scope_type_count(s); j++) {
                const scope_type *t = scope_type_at(s, j);

                scope_config_covers_type(s, c, t);
                scope_config_selects(s, c, t->group, t->resource, NULL, "n", labels);
            }
            scope_config_selects(s, c, "g", "r", "ns", "n", labels);
        }
        scope_del_config(s, "x", &changed);
    }
    scope_free(s);
    json_decref(labels);
    json_decref(doc);
    return 0;
}
