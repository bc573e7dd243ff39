/* Every real CRD under /work/shared/datamodels parses, with the shape the agent relies on. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "yaml.h"

/* tests/CMakeLists.txt passes the shared directory; the fallback is where it lives here. */
#ifdef NXC_SHARED_DIR
#define NXC_DATAMODELS NXC_SHARED_DIR "/datamodels"
#else
#define NXC_DATAMODELS "/work/shared/datamodels"
#endif

static json_t *load(const char *rel)
{
    char path[512];
    json_t *v = NULL;

    snprintf(path, sizeof(path), "%s/%s", NXC_DATAMODELS, rel);
    cr_assert_eq(nxc_yaml_load_file(path, &v), 0, "%s", nxc_error_last());
    return v;
}

static int parse_dir(const char *sub)
{
    char dir[512];
    struct dirent *e;
    DIR *d;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/%s", NXC_DATAMODELS, sub);
    d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    while ((e = readdir(d)) != NULL) {
        char rel[512];
        json_t *all = NULL, *crd;
        const char *nexus;
        json_t *ann;

        if (!strstr(e->d_name, ".yaml"))
            continue;
        snprintf(rel, sizeof(rel), "%s/%s/%s", NXC_DATAMODELS, sub, e->d_name);
        cr_assert_eq(nxc_yaml_load_file_all(rel, &all), 0, "%s", nxc_error_last());
        cr_assert_eq(json_array_size(all), 1, "%s: one CRD per file", rel);
        crd = json_array_get(all, 0);
        cr_assert_str_eq(json_string_value(json_object_get(crd, "kind")),
                         "CustomResourceDefinition", "%s", rel);
        cr_assert_str_eq(json_string_value(json_object_get(json_object_get(crd, "spec"), "scope")),
                         "Cluster", "%s", rel);
        /* Every Nexus CRD carries its graph facts as a JSON string annotation. */
        nexus = json_string_value(json_object_get(
            json_object_get(json_object_get(crd, "metadata"), "annotations"), "nexus"));
        cr_assert_not_null(nexus, "%s", rel);
        ann = json_loads(nexus, 0, NULL);
        cr_assert(json_is_object(ann), "%s: nexus annotation is JSON", rel);
        /* Root types (no ancestors) omit the hierarchy. */
        cr_assert(json_is_array(json_object_get(ann, "hierarchy")) ||
                      !json_object_get(ann, "hierarchy"),
                  "%s", rel);
        cr_assert(json_is_string(json_object_get(ann, "name")), "%s", rel);
        json_decref(ann);
        json_decref(all);
        n++;
    }
    closedir(d);
    return n;
}

Test(yaml, datamodels_all_parse)
{
    cr_assert_eq(parse_dir("example"), 14);
    cr_assert_eq(parse_dir("connect"), 10);
}

Test(yaml, gns_nexus_annotation)
{
    json_t *crd = load("example/gns_gns.yaml");
    json_t *ann, *hier, *children, *child;
    const char *nexus;

    cr_assert_str_eq(json_string_value(json_object_get(crd, "apiVersion")),
                     "apiextensions.k8s.io/v1");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(crd, "metadata"), "name")),
                     "gnses.gns.tsm.tanzu.vmware.com");
    /* creationTimestamp: null is a JSON null, not the string "null". */
    cr_assert(json_is_null(json_object_get(json_object_get(crd, "metadata"), "creationTimestamp")));
    nexus = json_string_value(
        json_object_get(json_object_get(json_object_get(crd, "metadata"), "annotations"), "nexus"));
    cr_assert_not_null(nexus);
    ann = json_loads(nexus, 0, NULL);
    cr_assert_not_null(ann, "the nexus annotation is JSON");
    cr_assert_str_eq(json_string_value(json_object_get(ann, "name")), "gns.Gns");
    hier = json_object_get(ann, "hierarchy");
    cr_assert_eq(json_array_size(hier), 2);
    cr_assert_str_eq(json_string_value(json_array_get(hier, 0)), "roots.root.tsm.tanzu.vmware.com");
    cr_assert_str_eq(json_string_value(json_array_get(hier, 1)),
                     "configs.config.tsm.tanzu.vmware.com");
    children = json_object_get(ann, "children");
    child = json_object_get(children, "svcgroups.servicegroup.tsm.tanzu.vmware.com");
    cr_assert(json_is_true(json_object_get(child, "isNamed")));
    cr_assert_str_eq(json_string_value(json_object_get(child, "fieldNameGvk")),
                     "gnsServiceGroupsGvk");
    cr_assert(json_is_false(json_object_get(ann, "is_singleton")));
    json_decref(ann);
    json_decref(crd);
}

Test(yaml, crd_schema_types)
{
    json_t *crd = load("connect/connect_replicationconfig.yaml");
    json_t *versions = json_object_get(json_object_get(crd, "spec"), "versions");
    json_t *v0 = json_array_get(versions, 0);

    cr_assert(json_is_array(versions));
    cr_assert_str_eq(json_string_value(json_object_get(v0, "name")), "v1");
    cr_assert(json_is_true(json_object_get(v0, "served")));
    cr_assert(json_is_true(json_object_get(v0, "storage")));
    cr_assert(json_is_object(json_object_get(json_object_get(v0, "schema"), "openAPIV3Schema")));
    json_decref(crd);
}
