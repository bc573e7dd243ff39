/*
 * e2e: the two-runtime setup the end-to-end tests share — runtimes "saas" and "edge" with
 * the example Nexus datamodel, one nats-server, one agent per runtime — and assertions that
 * poll with deadlines. Every helper fails the current Criterion test on error.
 */
#ifndef NXC_E2E_H
#define NXC_E2E_H

#include <jansson.h>
#include <stdint.h>

#include "bus.h"
#include "cluster.h"
#include "natsd.h"
#include "relay.h"

#define E2E_DEADLINE_MS 30000

extern const nxc_kube_gvr E2E_ROOT, E2E_CONFIG, E2E_GNS, E2E_FOO, E2E_RC;

/* Hierarchy labels of the example datamodel. */
#define E2E_ROOT_LABEL "roots.root.tsm.tanzu.vmware.com"
#define E2E_CFG_LABEL "configs.config.tsm.tanzu.vmware.com"
#define E2E_GNS_LABEL "gnses.gns.tsm.tanzu.vmware.com"

/*
 * Topology, from $NXC_E2E_TOPOLOGY: "single" (default) — both agents on one nats-server; or
 * "leaf" — saas's agent on a hub server (JetStream domain "hub"), edge's agent on a leaf
 * server (domain "leaf") linked to the hub through a relay the test can cut or blackhole.
 */
typedef struct e2e_pair {
    char *dir;
    int leaf;                  /* 1 in the leaf-node topology */
    nxc_test_natsd *nats;      /* the server of saas's agent (the hub in the leaf topology) */
    nxc_test_natsd *nats_leaf; /* the leaf server (edge's agent), or NULL */
    nxc_test_relay *relay;     /* "leaf": the leaf-node link, or NULL */
    nxc_test_runtime *rt[2];   /* 0 = saas, 1 = edge */
    nxc_test_agent *agent[2];
    nxc_bus *bus[2]; /* the test's own connections, to read each side's stream */
} e2e_pair;

extern const char *const E2E_IDS[2];
extern const char *const E2E_STREAMS[2];

void e2e_pair_up(e2e_pair *p);
/* As e2e_pair_up, always in the leaf-node topology (for tests of the link itself). */
void e2e_pair_up_leaf(e2e_pair *p);
/* Single-server topology with relays in front of saas's agent's connections: flags of
 * E2E_RELAY_NATS (proxy "nats": saas's agent -> nats-server) and E2E_RELAY_API (proxy "api":
 * saas's agent -> saas's API server, whose watch cache is off so that a compacted etcd makes
 * a resumed watch answer 410). */
#define E2E_RELAY_NATS 1
#define E2E_RELAY_API 2
void e2e_pair_up_relayed(e2e_pair *p, int flags);
/* Single-server topology with more config for saas's agent (top-level YAML sections). */
void e2e_pair_up_saas_config(e2e_pair *p, const char *saas_yaml);
/* Agents with no static types (replication on demand only), the connector's CRDs (schemas/)
 * installed in both runtimes; the topology of $NXC_E2E_TOPOLOGY. */
void e2e_pair_up_on_demand(e2e_pair *p);
/* The same, with each runtime's datamodel CRDs from its own directory. */
void e2e_pair_up_on_demand_crds(e2e_pair *p, const char *saas_crds, const char *edge_crds);
/* The TCP port of rt's API server. */
int e2e_apiserver_port(nxc_test_runtime *rt);
/* As e2e_pair_up, with each runtime's CRDs from its own directory. */
void e2e_pair_up_crds(e2e_pair *p, const char *saas_crds, const char *edge_crds);
void e2e_pair_down(e2e_pair *p);
/* Criterion .fini of every e2e suite: when a test failed before e2e_pair_down, stops every
 * process it started (runtimes are not children of the test) and keeps its directory for the
 * logs, printing where it is. */
void e2e_cleanup(void);
/* Waits until both agents are ready. */
void e2e_wait_ready(e2e_pair *p);
/* Conditions for nxc_test_poll on one agent (ctx: nxc_test_agent *): /readyz says ready, or
 * says not ready. */
int e2e_ready(void *agent);
int e2e_unready(void *agent);

uint64_t e2e_last_seq(e2e_pair *p, int side);
/* Waits until side's stream has exactly `want` messages (it must not pass want). */
void e2e_expect_stream(e2e_pair *p, int side, uint64_t want);
/* No stream message and no runtime write for window_ms. */
void e2e_expect_quiet(e2e_pair *p, long window_ms);

json_t *e2e_create(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *fixture);
/* Creates obj (steals it) on rt. */
void e2e_create_obj(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, json_t *obj);
/* Creates a fixture under another name, with other labels (steals labels). */
void e2e_node(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *fixture, const char *name,
              json_t *labels);
/* Waits until ReplicationConfig `config` on rt has a condition of that type, status and
 * reason (and, needle not NULL, a message holding needle); on time-out the test fails with
 * the config's status printed. */
void e2e_wait_condition(nxc_test_runtime *rt, const char *config, const char *type,
                        const char *status, const char *reason, const char *needle);
/* Makes dir, holding links to example CRD files: those named in only (NULL-terminated) when
 * only is not NULL, else every one but those named in skip (may be NULL). */
void e2e_crd_dir(const char *dir, const char *const *skip, const char *const *only);
json_t *e2e_get(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name);
/* Sets spec.<field> = value (steals value) with a read-modify-write. */
void e2e_set_spec(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                  const char *field, json_t *value);
void e2e_wait_exists(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name);
void e2e_wait_gone(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name);
/* Waits until spec.<field> equals value (steals value). */
void e2e_wait_spec(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                   const char *field, json_t *value);
/* Waits until the value at path (NULL-terminated) equals value (steals value); returns the
 * object (caller's). */
json_t *e2e_wait_path(nxc_test_runtime *rt, const nxc_kube_gvr *gvr, const char *name,
                      const char *const *path, json_t *value);
json_t *e2e_at(json_t *v, const char *const *path);
/* Creates roots prefix-0000 .. prefix-(n-1) on rt; after creating `at` of them calls
 * fn(ctx) once (fn may be NULL). */
void e2e_create_roots(nxc_test_runtime *rt, const char *prefix, int n, int at,
                      void (*fn)(void *ctx), void *ctx);
/* Number of roots on rt (-1 when the list failed). */
int e2e_count_roots(nxc_test_runtime *rt);
/* Waits until rt has exactly n roots. */
void e2e_wait_roots(nxc_test_runtime *rt, int n, long deadline_ms);
/* Keeps a fault in place for ms while checking that both agents stay alive. */
void e2e_hold(e2e_pair *p, long ms);

#endif
