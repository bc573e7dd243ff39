/*
 * bench-replication: measures, side by side on this machine, (1) the raw create rate of a
 * runtime's API server for a plain client creating objects one after another, and (2) the
 * rate at which nexus-agent replicates the same number of objects that already exist on the
 * peer when the agents start (initial replication), then (3) the propagation latency of
 * single changes (local write -> visible on the peer). Prints the figures and the ratio.
 *
 *   bench-replication [N]      N objects (default 2000)
 *
 * Real processes: two runtimes from tools/runtime/start-runtime.sh, one nats-server, two
 * agents from the build directory. Needs tools/setup.sh to have run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cluster.h"
#include "err.h"
#include "natsd.h"
#include "proc.h"

static const nxc_kube_gvr ROOT = {"root.tsm.tanzu.vmware.com", "v1", "roots", 0};

static json_t *root_obj(const char *name)
{
    return json_pack("{s:s,s:s,s:{s:s,s:{s:s}},s:{}}", "apiVersion", "root.tsm.tanzu.vmware.com/v1",
                     "kind", "Root", "metadata", "name", name, "labels", "nexus/display_name", name,
                     "spec");
}

static double create_n(nxc_kube *k, const char *prefix, int n)
{
    int64_t t0 = nxc_test_now_ms();

    for (int i = 0; i < n; i++) {
        char name[64];
        json_t *o;

        snprintf(name, sizeof(name), "%s-%06d", prefix, i);
        o = root_obj(name);
        if (nxc_kube_create(k, &ROOT, NULL, o, NULL) != 0) {
            fprintf(stderr, "create %s: %s\n", name, nxc_error_last());
            exit(1);
        }
        json_decref(o);
    }
    return (double)(nxc_test_now_ms() - t0) / 1000.0;
}

static int count_cb(void *ctx, json_t *item)
{
    (void)item;
    (*(int *)ctx)++;
    return 0;
}

static int count(nxc_kube *k)
{
    int n = 0;
    char *rv = NULL;

    nxc_kube_list(k, &ROOT, NULL, count_cb, NULL, &n, &rv);
    free(rv);
    return n;
}

struct reach {
    nxc_kube *k;
    int want;
};

static int reached(void *ctx)
{
    struct reach *r = ctx;

    return count(r->k) >= r->want;
}

struct seen {
    nxc_kube *k;
    const char *name;
    const char *value;
};

static int value_seen(void *ctx)
{
    struct seen *s = ctx;
    json_t *o = NULL;
    int ok = 0;

    if (nxc_kube_get(s->k, &ROOT, NULL, s->name, &o) == 0) {
        const char *v = json_string_value(
            json_object_get(json_object_get(json_object_get(o, "metadata"), "labels"), "bench"));
        ok = v && strcmp(v, s->value) == 0;
    }
    json_decref(o);
    return ok;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000;
    char *dir = NULL, *types;
    nxc_test_natsd *nats = NULL;
    nxc_test_runtime *rt[2];
    nxc_test_agent *agent[2];
    const char *ids[2] = {"saas", "edge"};
    double raw_s, repl_s, lat[100];
    int64_t t0;

    if (n <= 0)
        n = 2000;
    nxc_kube_global_init();
    if (nxc_test_tmpdir("nxc-bench", &dir) || nxc_test_natsd_start(NULL, &nats))
        return 1;
    for (int i = 0; i < 2; i++) {
        char rdir[512];

        snprintf(rdir, sizeof(rdir), "%s/runtime-%s", dir, ids[i]);
        if (nxc_test_runtime_start(rdir, NXC_SHARED_DIR "/datamodels/example", &rt[i]))
            return 1;
    }

    /* (1) raw create rate on the peer's API server, then the objects go again */
    raw_s = create_n(rt[1]->admin, "raw", n);
    for (int i = 0; i < n; i++) {
        char name[64];

        snprintf(name, sizeof(name), "raw-%06d", i);
        nxc_kube_delete(rt[1]->admin, &ROOT, NULL, name, NULL);
    }

    /* (2) n objects on saas, then both agents start: time until edge has all of them */
    create_n(rt[0]->admin, "node", n);
    types = nxc_test_types_yaml(NXC_SHARED_DIR "/datamodels/example");
    t0 = nxc_test_now_ms();
    for (int i = 0; i < 2; i++) {
        char adir[512];
        nxc_test_agent_opts o;

        snprintf(adir, sizeof(adir), "%s/agent-%s", dir, ids[i]);
        mkdir(adir, 0700);
        o = (nxc_test_agent_opts){.id = ids[i],
                                  .peer = ids[1 - i],
                                  .kubeconfig = rt[i]->agent_kubeconfig,
                                  .nats_url = nxc_test_natsd_url(nats),
                                  .dir = adir,
                                  .types_yaml = types};
        if (nxc_test_agent_start(&o, &agent[i]))
            return 1;
    }
    {
        struct reach r = {rt[1]->admin, n};

        if (nxc_test_poll(600000, reached, &r)) {
            fprintf(stderr, "replication did not finish; logs in %s\n", dir);
            return 1;
        }
    }
    repl_s = (double)(nxc_test_now_ms() - t0) / 1000.0;

    /* (3) latency of single changes, one at a time */
    for (int i = 0; i < 100; i++) {
        char val[32];
        json_t *o = NULL;
        struct seen s = {rt[1]->admin, "node-000000", val};

        snprintf(val, sizeof(val), "v%d", i);
        nxc_kube_get(rt[0]->admin, &ROOT, NULL, "node-000000", &o);
        json_object_set_new(json_object_get(json_object_get(o, "metadata"), "labels"), "bench",
                            json_string(val));
        t0 = nxc_test_now_ms();
        nxc_kube_update(rt[0]->admin, &ROOT, NULL, o, NULL);
        json_decref(o);
        /* a tight poll (1 ms) so the figure is the replication's, not the poll's */
        while (!value_seen(&s) && nxc_test_now_ms() - t0 < 10000)
            usleep(1000);
        lat[i] = (double)(nxc_test_now_ms() - t0);
    }
    qsort(lat, 100, sizeof(double), cmp_d);

    printf("objects                      %d\n", n);
    printf("raw create rate (peer API)   %.0f objects/s (%.2f s)\n", n / raw_s, raw_s);
    printf("initial replication          %.0f objects/s (%.2f s, agent start included)\n",
           n / repl_s, repl_s);
    printf("replication / raw            %.0f%%\n", 100.0 * raw_s / repl_s);
    printf("change latency p50 / p99     %.0f ms / %.0f ms (one change at a time)\n", lat[49],
           lat[98]);
    for (int i = 0; i < 2; i++)
        nxc_test_agent_free(agent[i]);
    for (int i = 0; i < 2; i++)
        nxc_test_runtime_stop(rt[i]);
    nxc_test_natsd_free(nats);
    if (!getenv("NXC_TEST_KEEP"))
        nxc_test_rmtree(dir);
    free(types);
    free(dir);
    return 0;
}
