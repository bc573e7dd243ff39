/*
 * watch: one thread per replicated type. It lists the type completely (pages, restarting
 * when a continue token expires), tells the loop where the complete list begins and ends so
 * deletes missed while nobody watched can be inferred exactly once, then watches from the
 * list's resourceVersion. A 410 (too old) relists; a silent or broken stream is resumed from
 * the last resourceVersion. The thread only copies objects to the loop's queue.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define WATCH_IDLE_MS                                                                              \
    90000 /* bookmarks come about once a minute: silence past this is a dead stream */
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000

static int post_rv(type_state *t, int kind, enum nxc_kube_event ev, json_t *obj, const char *rv)
{
    item *it = item_new(kind, kind == ITEM_WATCH ? CLS_WATCH : CLS_FREE);

    if (!it)
        return NXC_ENOMEM;
    it->type = t;
    it->ev = ev;
    it->obj = obj ? json_incref(obj) : NULL;
    if (rv && !(it->msg_id = strdup(rv))) {
        item_free(it);
        return NXC_ENOMEM;
    }
    if (nxc_queue_post(t->agent->queue, &it->q) != 0) {
        item_free(it);
        return NXC_ESTOPPED;
    }
    return NXC_OK;
}

static int post(type_state *t, int kind, enum nxc_kube_event ev, json_t *obj)
{
    return post_rv(t, kind, ev, obj, NULL);
}

/* The type's kind, from API discovery, into kind (kind_len bytes): NXC_ENOTFOUND when this
 * runtime does not serve the type. */
static int discover(const type_state *t, nxc_kube *k, char *kind_out, size_t kind_len)
{
    char path[512];
    json_t *doc = NULL, *res;
    size_t i;
    int rc;

    if (*t->gvr.group)
        snprintf(path, sizeof(path), "/apis/%s/%s", t->gvr.group, t->gvr.version);
    else
        snprintf(path, sizeof(path), "/api/%s", t->gvr.version);
    rc = nxc_kube_request(k, "GET", path, NULL, NULL, &doc);
    if (rc)
        return rc;
    rc = NXC_ENOTFOUND;
    json_array_foreach (json_object_get(doc, "resources"), i, res) {
        const char *name = json_string_value(json_object_get(res, "name"));
        const char *kind = json_string_value(json_object_get(res, "kind"));

        if (name && kind && strcmp(name, t->gvr.resource) == 0) {
            snprintf(kind_out, kind_len, "%s", kind);
            rc = NXC_OK;
            break;
        }
    }
    json_decref(doc);
    if (rc)
        nxc_error_set(rc, "%s is not served by %s", t->gvr.resource, path);
    return rc;
}

/* Learns the type's kind, so creates and deletes can name it before any object of the type
 * was seen. */
static int discover_kind(type_state *t, nxc_kube *k)
{
    return discover(t, k, t->kind, sizeof(t->kind));
}

static int on_item(void *ctx, json_t *obj)
{
    return post(ctx, ITEM_WATCH, 0, obj);
}

static void on_restart(void *ctx)
{
    post(ctx, ITEM_LIST_BEGIN, 0, NULL);
}

static int on_event(void *ctx, enum nxc_kube_event type, json_t *obj)
{
    return post(ctx, ITEM_WATCH, type, obj);
}

/* Sleeps ms in small steps so a stop is seen quickly. */
static void pause_ms(agent *a, long ms)
{
    while (ms > 0 && !a->stop) {
        long step = ms < 100 ? ms : 100;

        usleep((useconds_t)step * 1000);
        ms -= step;
    }
}

static void *watch_main(void *arg)
{
    type_state *t = arg;
    agent *a = t->agent;
    nxc_kube *k = NULL;
    char *rv = NULL, kind[sizeof(t->kind)];
    long backoff = BACKOFF_MIN_MS;
    int rc;

    rc = nxc_kube_new(a->kcfg, &k);
    if (rc) {
        NXC_ERROR("watch", "event=client-failed type=%s err=%s", t->gvr.resource,
                  nxc_log_q(nxc_error_last()));
        return NULL;
    }
    nxc_kube_set_stop(k, &a->stop);
    nxc_kube_set_health(k, &a->runtime_up);
    while (!a->stop) {
        free(rv);
        rv = NULL;
        if (!t->kind[0]) {
            rc = discover_kind(t, k);
            if (rc == NXC_ESTOPPED)
                break;
            atomic_store(&t->missing, rc == NXC_ENOTFOUND);
            atomic_store(&t->forbidden, rc == NXC_EFORBIDDEN);
            if (rc == NXC_OK)
                atomic_store(&t->kind_known, 1);
            if (rc) {
                NXC_WARN("watch",
                         "event=type-unavailable type=%s.%s reason=%s err=%s "
                         "retry_ms=%ld",
                         t->gvr.resource, t->gvr.group, nxc_error_name(rc),
                         nxc_log_q(nxc_error_last()), backoff);
                pause_ms(a, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
        }
        if (post(t, ITEM_LIST_BEGIN, 0, NULL) != NXC_OK)
            break;
        rc = nxc_kube_list(k, &t->gvr, NULL, on_item, on_restart, t, &rv);
        if (rc == NXC_ESTOPPED)
            break;
        atomic_store(&t->forbidden, rc == NXC_EFORBIDDEN);
        atomic_store(&t->unreadable, rc == NXC_EINVALID);
        if (rc == NXC_EFORBIDDEN) {
            /* RBAC answers before the type is looked up: a 403 can hide a type this runtime
             * does not serve at all */
            char why[512];

            snprintf(why, sizeof(why), "%s", nxc_error_last());
            if (discover(t, k, kind, sizeof(kind)) == NXC_ENOTFOUND) {
                atomic_store(&t->forbidden, 0);
                rc = NXC_ENOTFOUND;
            } else {
                atomic_store(&t->missing, 0); /* served: really forbidden */
                nxc_error_set(rc, "%s", why);
            }
        }
        if (rc == NXC_ENOTFOUND)
            atomic_store(&t->missing, 1);
        if (rc) {
            NXC_WARN("watch", "event=list-failed type=%s.%s reason=%s err=%s retry_ms=%ld",
                     t->gvr.resource, t->gvr.group, nxc_error_name(rc), nxc_log_q(nxc_error_last()),
                     backoff);
            pause_ms(a, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            continue;
        }
        atomic_store(&t->missing, 0);
        if (post_rv(t, ITEM_LIST_END, 0, NULL, rv) != NXC_OK)
            break;
        NXC_INFO("watch", "event=listed type=%s.%s rv=%s", t->gvr.resource, t->gvr.group,
                 rv ? rv : "");
        backoff = BACKOFF_MIN_MS;
        while (!a->stop) {
            atomic_store(&t->watching, 1);
            rc = nxc_kube_watch(k, &t->gvr, NULL, &rv, WATCH_IDLE_MS, on_event, t);
            atomic_store(&t->watching, 0);
            if (rc == NXC_OK) {
                backoff = BACKOFF_MIN_MS;
                continue; /* the server ended the stream: resume */
            }
            if (rc == NXC_EAGAIN) {
                NXC_INFO("watch", "event=watch-silent type=%s.%s action=restart", t->gvr.resource,
                         t->gvr.group);
                continue;
            }
            if (rc == NXC_EGONE) {
                NXC_INFO("watch", "event=watch-expired type=%s.%s action=relist", t->gvr.resource,
                         t->gvr.group);
                break;
            }
            if (rc == NXC_ESTOPPED)
                break;
            if (rc == NXC_EFORBIDDEN)
                atomic_store(&t->forbidden, 1);
            if (rc == NXC_EINVALID)
                atomic_store(&t->unreadable, 1);
            NXC_WARN("watch", "event=watch-failed type=%s.%s reason=%s err=%s retry_ms=%ld",
                     t->gvr.resource, t->gvr.group, nxc_error_name(rc), nxc_log_q(nxc_error_last()),
                     backoff);
            pause_ms(a, backoff);
            backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
            if (rc == NXC_ENOTFOUND || rc == NXC_EFORBIDDEN || rc == NXC_EINVALID)
                break; /* the type went away, lost access, or sent an event that cannot be
                        * read (resuming would read it again): start over with a list */
        }
    }
    free(rv);
    nxc_kube_free(k);
    return NULL;
}

int watch_start(agent *a, type_state *t)
{
    t->agent = a;
    if (pthread_create(&t->thread, NULL, watch_main, t) != 0)
        return nxc_error_set(NXC_ERROR, "could not start the watch thread");
    t->started = 1;
    return NXC_OK;
}

type_state *agent_type_find(agent *a, const char *group, const char *resource)
{
    size_t n = atomic_load(&a->ntypes);

    for (size_t i = 0; i < n; i++)
        if (strcmp(a->types[i].gvr.group, group) == 0 &&
            strcmp(a->types[i].gvr.resource, resource) == 0)
            return &a->types[i];
    return NULL;
}

type_state *agent_type_add(agent *a, enum type_role role, const char *group, const char *version,
                           const char *resource, const char *kind, int namespaced, int start)
{
    size_t n = atomic_load(&a->ntypes);
    type_state *t;

    if (n >= AGENT_MAX_TYPES) {
        nxc_error_set(NXC_ELIMIT, "more than %d types to watch", AGENT_MAX_TYPES);
        return NULL;
    }
    t = &a->types[n];
    memset(t, 0, sizeof(*t));
    t->agent = a;
    t->role = role;
    snprintf(t->group, sizeof(t->group), "%s", group);
    snprintf(t->version, sizeof(t->version), "%s", version);
    snprintf(t->resource, sizeof(t->resource), "%s", resource);
    t->gvr.group = t->group;
    t->gvr.version = t->version;
    t->gvr.resource = t->resource;
    t->gvr.namespaced = namespaced;
    snprintf(t->prefix, sizeof(t->prefix), "%s/%s/", group, resource);
    if (kind && *kind) {
        snprintf(t->kind, sizeof(t->kind), "%s", kind);
        atomic_store(&t->kind_known, 1);
    }
    t->seen = nxc_strmap_new();
    if (!t->seen) {
        nxc_error_set(NXC_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_store(&a->ntypes, n + 1);
    if (role == ROLE_DYNAMIC)
        NXC_INFO("watch", "event=type-added type=%s.%s version=%s", resource, group, version);
    if (start && watch_start(a, t) != NXC_OK) {
        NXC_ERROR("watch", "event=watch-start-failed type=%s.%s err=%s", resource, group,
                  nxc_log_q(nxc_error_last()));
    }
    return t;
}
