/*
 * cluster: real Nexus Runtimes and real nexus-agent processes for e2e tests. A runtime is
 * etcd + kube-apiserver started by tools/runtime/start-runtime.sh with a directory of CRDs;
 * an agent is the built nexus-agent binary with a generated config, its /metrics scraped over
 * HTTP. Everything lives in one temporary directory per test, removed at the end unless
 * $NXC_TEST_KEEP is set.
 *
 * Threads: the test's main thread. Errors: negative NXC_* codes, a line on stderr.
 */
#ifndef NXC_TEST_CLUSTER_H
#define NXC_TEST_CLUSTER_H

#include <jansson.h>

#include "kube.h"

#define NXC_TEST_EXAMPLE_CRDS NXC_SHARED_DIR "/datamodels/example"

typedef struct nxc_test_runtime {
    char *dir;              /* the runtime's directory */
    char *agent_kubeconfig; /* kubeconfig of the agent identity */
    nxc_kube_config *cfg;   /* admin identity */
    nxc_kube *admin;        /* admin client for the test's own reads and writes */
} nxc_test_runtime;

/* Starts a runtime in dir with every CRD of crd_dir installed (crd_dir may be NULL). */
int nxc_test_runtime_start(const char *dir, const char *crd_dir, nxc_test_runtime **out);
/* Stops the API server only (start it again with nxc_test_runtime_resume). */
int nxc_test_runtime_pause(nxc_test_runtime *rt);
int nxc_test_runtime_resume(nxc_test_runtime *rt);
void nxc_test_runtime_stop(nxc_test_runtime *rt);
/* Compacts the runtime's etcd at its current revision: every older resourceVersion is gone
 * (a watch resumed from one is answered 410 when the API server's watch cache is off). */
int nxc_test_runtime_compact(nxc_test_runtime *rt);
/* Stops the runtime, deletes its etcd data and starts it again on the same address with
 * crd_dir's CRDs: a runtime that lost its state. */
int nxc_test_runtime_wipe(nxc_test_runtime *rt, const char *crd_dir);

/* The types of every CRD in crd_dir, as `replicate:` YAML list items (caller frees). */
char *nxc_test_types_yaml(const char *crd_dir);

typedef struct nxc_test_agent nxc_test_agent;

typedef struct nxc_test_agent_opts {
    const char *id;         /* runtime id */
    const char *peer;       /* peer runtime id, or ids separated by commas */
    const char *kubeconfig; /* the runtime's agent kubeconfig */
    const char *nats_url;
    const char *dir;         /* config, store and log go here */
    const char *types_yaml;  /* `replicate:` list items (NULL: none, on-demand only) */
    const char *nats_domain; /* NULL, or this side's JetStream domain (leaf-node topology) */
    const char *peer_domain; /* NULL, or the peer's JetStream domain */
    const char *extra_yaml;  /* NULL, or more top-level config sections */
} nxc_test_agent_opts;

/* Writes the config and starts the agent; waits until /healthz answers. */
int nxc_test_agent_start(const nxc_test_agent_opts *o, nxc_test_agent **out);
/* SIGTERM and wait for a clean exit: 0 only if it exited with status 0. */
int nxc_test_agent_stop(nxc_test_agent *a);
int nxc_test_agent_kill9(nxc_test_agent *a);
/* Starts it again with the same config and store. */
int nxc_test_agent_restart(nxc_test_agent *a);
/* 1 when /readyz says ready. */
int nxc_test_agent_ready(nxc_test_agent *a);
/* Value of metric `name` (e.g. "nxc_runtime_writes_total"); -1 when unreachable. */
double nxc_test_agent_metric(nxc_test_agent *a, const char *name);
const char *nxc_test_agent_log(const nxc_test_agent *a);
const char *nxc_test_agent_config(const nxc_test_agent *a);
/* The agent's resident set size in KiB (from /proc), or -1 when it does not run. */
long nxc_test_agent_rss_kib(const nxc_test_agent *a);
/* Counts lines of the agent's log containing needle. */
int nxc_test_agent_log_count(const nxc_test_agent *a, const char *needle);
void nxc_test_agent_free(nxc_test_agent *a);

/* Reads a JSON fixture from tests/fixtures/<rel> (new reference). */
json_t *nxc_test_fixture(const char *rel);

#endif
