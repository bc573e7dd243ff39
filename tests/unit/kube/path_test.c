/* nxc_kube_path: core and named groups, namespaced and cluster-scoped, subresources. */
#include <criterion/criterion.h>
#include <string.h>

#include "err.h"
#include "kube.h"

static const nxc_kube_gvr pods = {"", "v1", "pods", 1};
static const nxc_kube_gvr nodes = {NULL, "v1", "nodes", 0};
static const nxc_kube_gvr gnses = {"gns.tsm.tanzu.vmware.com", "v1", "gnses", 0};
static const nxc_kube_gvr deploys = {"apps", "v1", "deployments", 1};

static const char *path(const nxc_kube_gvr *r, const char *ns, const char *name, const char *sub)
{
    static char buf[512];

    cr_assert_eq(nxc_kube_path(r, ns, name, sub, buf, sizeof(buf)), 0, "%s", nxc_error_last());
    return buf;
}

Test(kube, path_core)
{
    cr_assert_str_eq(path(&pods, "default", NULL, NULL), "/api/v1/namespaces/default/pods");
    cr_assert_str_eq(path(&pods, "default", "p1", NULL), "/api/v1/namespaces/default/pods/p1");
    cr_assert_str_eq(path(&pods, "kube-system", "p1", "status"),
                     "/api/v1/namespaces/kube-system/pods/p1/status");
    cr_assert_str_eq(path(&pods, NULL, NULL, NULL), "/api/v1/pods"); /* all namespaces */
    cr_assert_str_eq(path(&nodes, NULL, "n1", NULL), "/api/v1/nodes/n1");
}

Test(kube, path_named_group)
{
    cr_assert_str_eq(path(&gnses, NULL, NULL, NULL), "/apis/gns.tsm.tanzu.vmware.com/v1/gnses");
    cr_assert_str_eq(path(&gnses, NULL, "abc", NULL),
                     "/apis/gns.tsm.tanzu.vmware.com/v1/gnses/abc");
    cr_assert_str_eq(path(&gnses, NULL, "abc", "status"),
                     "/apis/gns.tsm.tanzu.vmware.com/v1/gnses/abc/status");
    /* A namespace given for a cluster-scoped type is ignored, as is an empty one. */
    cr_assert_str_eq(path(&gnses, "default", "abc", NULL),
                     "/apis/gns.tsm.tanzu.vmware.com/v1/gnses/abc");
    cr_assert_str_eq(path(&deploys, "ns1", "d", "scale"),
                     "/apis/apps/v1/namespaces/ns1/deployments/d/scale");
    cr_assert_str_eq(path(&deploys, "", NULL, NULL), "/apis/apps/v1/deployments");
}

Test(kube, path_rejects_bad_input)
{
    char buf[512];

    cr_assert_eq(nxc_kube_path(&pods, NULL, "p1", NULL, buf, sizeof(buf)), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "namespace"), "%s", nxc_error_last());
    cr_assert_eq(nxc_kube_path(&gnses, NULL, NULL, "status", buf, sizeof(buf)), NXC_EINVALID);
    cr_assert_eq(nxc_kube_path(&gnses, NULL, "a/b", NULL, buf, sizeof(buf)), NXC_EINVALID);
    cr_assert_eq(nxc_kube_path(&gnses, NULL, "..", NULL, buf, sizeof(buf)), NXC_EINVALID);
    cr_assert_eq(nxc_kube_path(&gnses, NULL, "a?b", NULL, buf, sizeof(buf)), NXC_EINVALID);
    cr_assert_eq(nxc_kube_path(&gnses, NULL, "", NULL, buf, sizeof(buf)), NXC_EINVALID);
    cr_assert_eq(nxc_kube_path(&pods, "a b", NULL, NULL, buf, sizeof(buf)), NXC_EINVALID);
}

Test(kube, path_too_long_for_buffer)
{
    char buf[16];

    cr_assert_eq(nxc_kube_path(&gnses, NULL, NULL, NULL, buf, sizeof(buf)), NXC_ELIMIT);
    /* Exactly fitting (with its NUL) works. */
    cr_assert_eq(nxc_kube_path(&nodes, NULL, NULL, NULL, buf, 14), 0);
    cr_assert_str_eq(buf, "/api/v1/nodes");
    cr_assert_eq(nxc_kube_path(&nodes, NULL, NULL, NULL, buf, 13), NXC_ELIMIT);
}
