/*
 * End-to-end: a type that is not installed on the receiving runtime. Its events wait — never
 * dropped, never acked as done — while every other type keeps replicating, and they apply by
 * themselves once the CRD is installed, without restarting anything.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

#define SCRIPT NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh"

/* A directory of links to every example CRD except `skip`, and one holding only `skip`. */
static void split_crds(const char *base, const char *skip, char *rest, char *only, size_t len)
{
    snprintf(rest, len, "%s/crds-rest", base);
    snprintf(only, len, "%s/crds-only", base);
    e2e_crd_dir(rest, (const char *const[]){skip, NULL}, NULL);
    e2e_crd_dir(only, NULL, (const char *const[]){skip, NULL});
}

TestSuite(e2e_types, .fini = e2e_cleanup);

static int wait_reported(void *ctx)
{
    return nxc_test_agent_log_count(ctx, "event=apply-waiting key=gns") >= 1;
}

Test(e2e_types, missing_type_waits_then_applies, .timeout = 300)
{
    e2e_pair p;
    char *base = NULL, rest[PATH_MAX], only[PATH_MAX], log[PATH_MAX];
    json_t *obj = NULL;

    cr_assert_eq(nxc_test_tmpdir("nxc-crds", &base), 0);
    split_crds(base, "gns_gns.yaml", rest, only, sizeof(rest));
    e2e_pair_up_crds(&p, NXC_TEST_EXAMPLE_CRDS, rest);

    json_decref(e2e_create(p.rt[0], &E2E_GNS, "example/gns.json"));
    json_decref(e2e_create(p.rt[0], &E2E_ROOT, "example/root.json"));
    /* the other type goes through although the Gns waits before it */
    e2e_wait_exists(p.rt[1], &E2E_ROOT, "root-1");
    cr_assert_eq(nxc_kube_get(p.rt[1]->admin, &E2E_GNS, NULL, "gns-1", &obj), NXC_ENOTFOUND);
    /* reported: not installed (404), or not allowed yet (403) where RBAC follows the CRDs;
     * the two types travel independently, so the report may come after root-1 arrived */
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, wait_reported, p.agent[1]), 0,
                 "the wait is not reported");

    /* the CRD arrives: the waiting event applies with no restart */
    snprintf(log, sizeof(log), "%s/install.log", base);
    {
        const char *argv[] = {SCRIPT, "install-crds", p.rt[1]->dir, only, NULL};

        cr_assert_eq(nxc_test_run(argv, log, 120000), 0, "install failed; see %s", log);
    }
    e2e_wait_spec(p.rt[1], &E2E_GNS, "gns-1", "domain", json_string("abc.io"));
    e2e_expect_stream(&p, 1, 0); /* nothing echoed back */
    e2e_pair_down(&p);
    nxc_test_rmtree(base);
    free(base);
}
