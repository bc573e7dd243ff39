/*
 * kube: a client for one Kubernetes API server (a Nexus Runtime) — kubeconfig, REST calls,
 * paginated list and resumable watch. The only file that includes curl.h.
 *
 * Ownership and threads: an nxc_kube_config is immutable after load and may be shared by
 * threads. An nxc_kube (a client: one connection-reusing curl handle) belongs to one thread.
 * JSON values passed in are borrowed; values returned through **out are the caller's
 * (json_decref). Errors keep the API server's Status message in nxc_error_last().
 *
 * HTTP status -> code: 404 NXC_ENOTFOUND, 409 NXC_ECONFLICT (AlreadyExists: NXC_EEXISTS),
 * 410 NXC_EGONE, 401/403 NXC_EFORBIDDEN, 400/413/422 NXC_EINVALID, 5xx and connection
 * failures NXC_EUNAVAIL.
 */
#ifndef NXC_KUBE_H
#define NXC_KUBE_H

#include <jansson.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define NXC_KUBE_MAX_RESPONSE (64u * 1024u * 1024u) /* one response body */
#define NXC_KUBE_MAX_EVENT (16u * 1024u * 1024u)    /* one watch event line */
#define NXC_KUBE_LIST_PAGE 500

typedef struct nxc_kube_config nxc_kube_config;
typedef struct nxc_kube nxc_kube;

/* A resource type. Strings are borrowed. group "" is the core group. */
typedef struct nxc_kube_gvr {
    const char *group;
    const char *version;
    const char *resource;
    int namespaced;
} nxc_kube_gvr;

/* Once per process, before any thread uses the module. */
int nxc_kube_global_init(void);

/* Loads a kubeconfig file: current-context (or context if non-NULL); server; CA from
 * certificate-authority or -data; client cert/key from file or -data; token or tokenFile;
 * insecure-skip-tls-verify; proxy-url. Relative paths are relative to the file. Inline data
 * is written to private temporary files that live as long as the config. */
int nxc_kube_config_load(const char *path, const char *context, nxc_kube_config **out);
/* The in-cluster service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token/CA). */
int nxc_kube_config_in_cluster(nxc_kube_config **out);
void nxc_kube_config_free(nxc_kube_config *c);
const char *nxc_kube_config_server(const nxc_kube_config *c); /* borrowed */

int nxc_kube_new(const nxc_kube_config *c, nxc_kube **out); /* c must outlive the client */
void nxc_kube_free(nxc_kube *k);
/* A stop flag checked during transfers: when *stop becomes non-zero, a call in progress
 * (watch included) returns NXC_ESTOPPED within about a second. */
void nxc_kube_set_stop(nxc_kube *k, const volatile int *stop);
/* A flag the client keeps up to date: 1 once the API server answered a request of this
 * client (any status below 500, a watch as soon as its response starts), 0 after a request
 * that could not reach it (connection refused, time-out) or got a 5xx. NULL: none. Several
 * clients may share one flag. */
void nxc_kube_set_health(nxc_kube *k, atomic_int *up);
/* Overall time limit for non-watch requests in milliseconds (default 30000). */
void nxc_kube_set_timeout(nxc_kube *k, long ms);

/* Generic request; path starts with "/". body may be NULL. *out may be NULL to discard.
 * content_type NULL means application/json. */
int nxc_kube_request(nxc_kube *k, const char *method, const char *path, const char *content_type,
                     const json_t *body, json_t **out);

/* Builds the collection or object path: /api/v1/... or /apis/<g>/<v>/..., with
 * namespaces/<ns>/ when namespaced, and "/<name>" and "/<sub>" when given. */
int nxc_kube_path(const nxc_kube_gvr *r, const char *ns, const char *name, const char *sub,
                  char *buf, size_t len);

int nxc_kube_get(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const char *name,
                 json_t **out);
int nxc_kube_create(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
                    json_t **out);
/* PUT: obj's metadata.resourceVersion is the precondition (409 -> NXC_ECONFLICT). */
int nxc_kube_update(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
                    json_t **out);
/* PUT to the /status subresource. */
int nxc_kube_update_status(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
                           json_t **out);
/* DELETE; uid non-NULL adds a uid precondition. Absent -> NXC_ENOTFOUND. */
int nxc_kube_delete(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const char *name,
                    const char *uid);

/* Lists every object of r (label_selector may be NULL) in pages of NXC_KUBE_LIST_PAGE,
 * calling item_cb for each (item borrowed for the call). When a continue token expires
 * (410) the list starts over from the beginning after calling restart_cb (may be NULL), so
 * the caller can forget what it collected. On success *rv is the list's resourceVersion
 * (caller frees). A non-zero return from item_cb stops the list and is returned. */
typedef int (*nxc_kube_item_fn)(void *ctx, json_t *item);
typedef void (*nxc_kube_restart_fn)(void *ctx);
int nxc_kube_list(nxc_kube *k, const nxc_kube_gvr *r, const char *label_selector,
                  nxc_kube_item_fn item_cb, nxc_kube_restart_fn restart_cb, void *ctx, char **rv);

/* Watch event types passed to the callback. Bookmarks are handled inside (they advance rv)
 * and are not passed on. */
enum nxc_kube_event { NXC_KUBE_ADDED = 1, NXC_KUBE_MODIFIED = 2, NXC_KUBE_DELETED = 3 };
typedef int (*nxc_kube_watch_fn)(void *ctx, enum nxc_kube_event type, json_t *obj);

/* Watches r from resourceVersion *rv (with bookmarks) until the server ends the stream
 * (returns NXC_OK; call again to resume), the resourceVersion is too old — HTTP 410 or an
 * in-stream ERROR event with code 410 (NXC_EGONE: relist) — no byte arrives for idle_ms
 * (NXC_EAGAIN: restart), a stop (NXC_ESTOPPED), or an error. *rv is updated with every
 * event and bookmark (realloc'd; caller owns it). A non-zero return from cb is returned.
 * obj is borrowed for the call. *rv moves past an event only once cb returned 0 for it, so
 * a resume delivers an event cb refused again (at least once, never skipped). */
int nxc_kube_watch(nxc_kube *k, const nxc_kube_gvr *r, const char *label_selector, char **rv,
                   long idle_ms, nxc_kube_watch_fn cb, void *ctx);

/*
 * Watch stream framing (exposed for tests and fuzzing): the API server sends one JSON object
 * per line, split across chunks anywhere. Feed bytes as they arrive; each complete line is
 * parsed and passed to cb (borrowed for the call); "\r\n" ends and blank lines are fine.
 * A line over max bytes or that is not a JSON object is NXC_EINVALID; a non-zero return
 * from cb is returned. After any error the partial line is dropped (the framer is reset)
 * and the framer can be fed again.
 */
typedef struct nxc_kube_framer nxc_kube_framer;
typedef int (*nxc_kube_frame_fn)(void *ctx, json_t *event);
int nxc_kube_framer_new(size_t max, nxc_kube_frame_fn cb, void *ctx, nxc_kube_framer **out);
int nxc_kube_framer_feed(nxc_kube_framer *f, const char *data, size_t len);
void nxc_kube_framer_free(nxc_kube_framer *f);

#endif
