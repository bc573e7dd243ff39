/*
 * End-to-end: a hub with two spokes. Runtime "hub" replicates a different sub-graph to each
 * spoke ("north" and "south"); three runtimes, three agents, one nats-server. Each spoke
 * receives exactly what the configs naming it select, and an edit on a spoke comes back to
 * the hub only.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "e2e.h"
#include "err.h"
#include "proc.h"

#define SCRIPT NXC_SOURCE_DIR "/tools/runtime/start-runtime.sh"
#define CFG_LABEL E2E_CFG_LABEL
#define ROOT_LABEL E2E_ROOT_LABEL
#define RC E2E_RC
#define create e2e_create_obj
#define node e2e_node
static const char *const IDS[3] = {"hub", "north", "south"};
static const char *const PEERS[3] = {"north,south", "hub", "hub"};

static struct trio {
    char *dir;
    nxc_test_natsd *nats;
    nxc_test_runtime *rt[3];
    nxc_test_agent *agent[3];
    nxc_bus *bus;
} live;

static void trio_cleanup(void)
{
    if (!live.dir)
        return;
    fprintf(stderr, "e2e: test failed; logs kept in %s\n", live.dir);
    for (int i = 0; i < 3; i++) {
        if (live.agent[i])
            nxc_test_agent_kill9(live.agent[i]);
        nxc_test_agent_free(live.agent[i]);
        nxc_test_runtime_stop(live.rt[i]);
    }
    nxc_bus_close(live.bus);
    if (live.nats)
        nxc_test_natsd_stop(live.nats);
    free(live.dir);
    memset(&live, 0, sizeof(live));
}

TestSuite(e2e_hub, .fini = trio_cleanup);

static int all_ready(void *ctx)
{
    (void)ctx;
    for (int i = 0; i < 3; i++)
        if (!nxc_test_agent_ready(live.agent[i]))
            return 0;
    return 1;
}

static void trio_up(void)
{
    nxc_bus_opts bo;

    memset(&live, 0, sizeof(live));
    cr_assert_eq(nxc_test_tmpdir("nxc-e2e-hub", &live.dir), 0);
    cr_assert_eq(nxc_test_natsd_start(NULL, &live.nats), 0);
    for (int i = 0; i < 3; i++) {
        char rdir[512], adir[512], log[600];
        const char *argv[] = {SCRIPT, "install-crds", rdir, NXC_SOURCE_DIR "/schemas", NULL};
        nxc_test_agent_opts o;

        snprintf(rdir, sizeof(rdir), "%s/runtime-%s", live.dir, IDS[i]);
        snprintf(adir, sizeof(adir), "%s/agent-%s", live.dir, IDS[i]);
        snprintf(log, sizeof(log), "%s/install-schemas.log", live.dir);
        cr_assert_eq(nxc_test_runtime_start(rdir, NXC_TEST_EXAMPLE_CRDS, &live.rt[i]), 0);
        cr_assert_eq(nxc_test_run(argv, log, 120000), 0, "see %s", log);
        cr_assert_eq(mkdir(adir, 0700), 0);
        memset(&o, 0, sizeof(o));
        o.id = IDS[i];
        o.peer = PEERS[i];
        o.kubeconfig = live.rt[i]->agent_kubeconfig;
        o.nats_url = nxc_test_natsd_url(live.nats);
        o.dir = adir;
        cr_assert_eq(nxc_test_agent_start(&o, &live.agent[i]), 0);
    }
    memset(&bo, 0, sizeof(bo));
    bo.urls = nxc_test_natsd_url(live.nats);
    bo.name = "e2e-test";
    cr_assert_eq(nxc_bus_connect(&bo, &live.bus), 0);
    cr_assert_eq(nxc_test_poll(60000, all_ready, NULL), 0, "the agents did not get ready");
}

static void trio_down(void)
{
    struct trio t = live;

    memset(&live, 0, sizeof(live));
    for (int i = 0; i < 3; i++) {
        cr_expect_eq(nxc_test_agent_stop(t.agent[i]), 0, "agent %s did not stop cleanly", IDS[i]);
        nxc_test_agent_free(t.agent[i]);
        nxc_test_runtime_stop(t.rt[i]);
    }
    nxc_bus_close(t.bus);
    nxc_test_natsd_free(t.nats);
    if (!getenv("NXC_TEST_KEEP"))
        nxc_test_rmtree(t.dir);
    free(t.dir);
}

/* A config replicating the sub-graph below Config `display` to `peer`. */
static json_t *subgraph(const char *name, const char *display, const char *peer)
{
    return json_pack("{s:s,s:s,s:{s:s},s:{s:{s:s},s:{s:s,s:{s:{s:s,s:s},s:s}}}}", "apiVersion",
                     "connect.nexus.vmware.com/v1", "kind", "ReplicationConfig", "metadata", "name",
                     name, "spec", "remoteEndpointGvk", "name", peer, "source", "kind", "Object",
                     "object", "objectType", "group", "config.tsm.tanzu.vmware.com", "kind",
                     "Config", "name", display);
}

static uint64_t hub_last_seq(void)
{
    uint64_t first = 0, last = 0, msgs = 0;

    if (nxc_bus_stream_info(live.bus, "NXC_hub", &first, &last, &msgs) != 0)
        return 0;
    return last;
}

static int hub_seq_at(void *ctx)
{
    return hub_last_seq() >= *(uint64_t *)ctx;
}

static int absent(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name)
{
    json_t *obj = NULL;
    int rc = nxc_kube_get(rt->admin, gvr, NULL, name, &obj);

    json_decref(obj);
    return rc == NXC_ENOTFOUND;
}

Test(e2e_hub, each_spoke_gets_what_its_configs_select, .timeout = 400)
{
    nxc_test_runtime *hub, *north, *south;
    uint64_t five = 5;

    trio_up();
    hub = live.rt[0];
    north = live.rt[1];
    south = live.rt[2];
    node(hub, &E2E_CONFIG, "example/config.json", "config-n",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "n"));
    node(hub, &E2E_CONFIG, "example/config.json", "config-s",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", "nexus/display_name", "s"));
    node(hub, &E2E_GNS, "example/gns.json", "gns-n1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "n"));
    node(hub, &E2E_GNS, "example/gns.json", "gns-n2",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "n"));
    node(hub, &E2E_GNS, "example/gns.json", "gns-s1",
         json_pack("{s:s,s:s}", ROOT_LABEL, "default", CFG_LABEL, "s"));

    create(hub, &RC, subgraph("to-north", "n", "north"));
    create(hub, &RC, subgraph("to-south", "s", "south"));
    e2e_wait_exists(north, &E2E_CONFIG, "config-n");
    e2e_wait_exists(north, &E2E_GNS, "gns-n1");
    e2e_wait_exists(north, &E2E_GNS, "gns-n2");
    e2e_wait_exists(south, &E2E_CONFIG, "config-s");
    e2e_wait_exists(south, &E2E_GNS, "gns-s1");
    /* one message per object and destination: 3 for north, 2 for south, nothing else */
    cr_assert_eq(nxc_test_poll(E2E_DEADLINE_MS, hub_seq_at, &five), 0);
    cr_assert_eq(hub_last_seq(), 5);
    cr_assert(absent(north, &E2E_CONFIG, "config-s"));
    cr_assert(absent(north, &E2E_GNS, "gns-s1"));
    cr_assert(absent(south, &E2E_CONFIG, "config-n"));
    cr_assert(absent(south, &E2E_GNS, "gns-n1"));
    cr_assert(absent(south, &E2E_GNS, "gns-n2"));
    cr_assert_eq(nxc_test_agent_metric(live.agent[1], "nxc_applied_total"), 3);
    cr_assert_eq(nxc_test_agent_metric(live.agent[2], "nxc_applied_total"), 2);

    /* an edit on north comes back to the hub, and goes nowhere else */
    e2e_set_spec(north, &E2E_GNS, "gns-n1", "port", json_integer(4242));
    e2e_wait_spec(hub, &E2E_GNS, "gns-n1", "port", json_integer(4242));
    cr_assert(absent(south, &E2E_GNS, "gns-n1"));
    cr_assert_eq(nxc_test_agent_metric(live.agent[2], "nxc_applied_total"), 2);
    cr_assert_eq(hub_last_seq(), 5, "the hub applied the edit: no message of its own");
    trio_down();
}
