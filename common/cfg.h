/*
 * cfg: the nexus-agent configuration — one YAML file, overridden by flags. Parsing checks
 * every field and fails with a message that names it ("config: nats.urls: ..."); unknown
 * keys are errors, so a typo never silently falls back to a default.
 *
 * The struct is plain data owned by the caller of nxc_cfg_load (free with nxc_cfg_free); it
 * is read-only after validation and may be shared by threads. It holds file paths to
 * credentials, never the credentials themselves.
 */
#ifndef NXC_CFG_H
#define NXC_CFG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nxc_cfg_type {
    char *group;    /* API group ("" for core) */
    char *version;  /* e.g. "v1" */
    char *resource; /* plural resource name */
    int namespaced; /* 1 for namespaced types */
} nxc_cfg_type;

typedef struct nxc_cfg_peer {
    char *id;     /* the peer's runtime id */
    char *domain; /* JetStream domain holding the peer's stream (NULL: same as ours) */
} nxc_cfg_peer;

typedef struct nxc_cfg {
    char *runtime_id;   /* runtime.id: this runtime's id */
    char *kubeconfig;   /* runtime.kubeconfig: path; NULL with in_cluster */
    char *kube_context; /* runtime.context: NULL = current-context */
    int in_cluster;     /* runtime.in-cluster: use the pod's service account */

    char *nats_urls;   /* nats.urls: comma-separated */
    char *nats_creds;  /* nats.credentials: .creds file */
    char *nats_nkey;   /* nats.nkey: nkey seed file */
    char *nats_ca;     /* nats.tls.ca */
    char *nats_cert;   /* nats.tls.cert */
    char *nats_key;    /* nats.tls.key */
    char *nats_domain; /* nats.domain: JetStream domain of this side */

    nxc_cfg_peer *peers; /* peers: at least one */
    size_t npeers;

    nxc_cfg_type *types; /* replicate: types replicated in full, without a ReplicationConfig
                            (optional: on-demand types are learned at run time) */
    size_t ntypes;

    char *store_path;        /* store.path: LMDB directory */
    uint64_t store_map_size; /* store.map-size: bytes (0 = default) */

    char *listen;    /* http.listen: host:port for /metrics /healthz /readyz; NULL off */
    char *log_level; /* log.level */

    int64_t stream_max_age_ms;    /* stream.max-age (0 = unlimited) */
    int64_t stream_max_bytes;     /* stream.max-bytes (0 = unlimited) */
    int64_t stream_dup_window_ms; /* stream.duplicate-window */
    int apply_concurrency;        /* apply.concurrency: API writes in flight */
} nxc_cfg;

/* Loads and validates a config file. On error the message names the file and the field. */
int nxc_cfg_load(const char *path, nxc_cfg **out);
/* Builds a config from an already parsed document (origin names it in messages). */
int nxc_cfg_from_json(const json_t *doc, const char *origin, nxc_cfg **out);
/* Overrides one field by its dotted name (as in the file: "runtime.id", "nats.urls", ...),
 * for command-line flags. Validate again afterwards. */
int nxc_cfg_set(nxc_cfg *c, const char *field, const char *value);
/* Checks the whole config (required fields, formats). */
int nxc_cfg_validate(const nxc_cfg *c);
void nxc_cfg_free(nxc_cfg *c);

/* "30s", "2m", "500ms", "1h" or a plain number of seconds -> milliseconds. */
int nxc_cfg_parse_duration(const char *s, int64_t *ms);
/* "512MiB", "8GiB", "1000000" (bytes) -> bytes. */
int nxc_cfg_parse_size(const char *s, uint64_t *bytes);

#endif
