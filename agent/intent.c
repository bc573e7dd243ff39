/*
 * intent: on-demand replication. The loop feeds it the CRDs (the datamodel, from their
 * `nexus` annotations) and the ReplicationConfigs of the local runtime (the intent); it
 * decides which objects of the on-demand types are replicated, adds watches for the types
 * the configs cover, rescans those types when the intent changes (so newly selected objects
 * are published and objects no config selects any more are released), and writes each
 * config's status. Loop thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define STATUS_EVERY_MS 2000

static const char *name_of(const json_t *obj)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
}

static int peer_index(const agent *a, const char *peer)
{
    for (size_t i = 0; i < a->npeers; i++)
        if (strcmp(a->peers[i].cfg->id, peer) == 0)
            return (int)i;
    return -1;
}

static int peer_ours(const agent *a, const char *peer)
{
    return peer_index(a, peer) >= 0;
}

int intent_watch(agent *a, item *it)
{
    type_state *t = it->type;
    const char *name = name_of(it->obj);
    int changed = 0, rc = NXC_OK;

    if (!name)
        return NXC_OK;
    if (it->ev == 0 && nxc_strmap_put(t->seen, name, t) != 0)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    if (it->ev == NXC_KUBE_DELETED) {
        if (t->role == ROLE_CRDS)
            scope_del_crd(a->scope, name, &changed);
        else
            scope_del_config(a->scope, name, &changed);
    } else if (t->role == ROLE_CRDS) {
        rc = scope_set_crd(a->scope, it->obj, &changed);
    } else {
        rc = scope_set_config(a->scope, it->obj, &changed);
    }
    if (rc == NXC_EINVALID) {
        NXC_WARN("intent", "event=ignored name=%s err=\"%s\"", name, nxc_error_last());
        return NXC_OK;
    }
    if (rc)
        return rc;
    if (changed) {
        a->scope_dirty = 1;
        a->status_due_ms = 0;
        if (t->role == ROLE_CONFIGS)
            NXC_INFO("intent", "event=config-%s name=%s",
                     it->ev == NXC_KUBE_DELETED ? "deleted" : "changed", name);
        else
            NXC_DEBUG("intent", "event=crd-%s name=%s",
                      it->ev == NXC_KUBE_DELETED ? "deleted" : "changed", name);
    }
    return NXC_OK;
}

/* A complete list of the CRDs or configs ended: what it did not show is gone. */
int intent_list_end(agent *a, type_state *t)
{
    size_t n = t->role == ROLE_CRDS ? scope_type_count(a->scope) : scope_config_count(a->scope);
    char (*gone)[SCOPE_NAME_MAX] = n ? calloc(n, SCOPE_NAME_MAX) : NULL;
    size_t ngone = 0;
    int changed;

    if (n && !gone)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *name = t->role == ROLE_CRDS ? scope_type_at(a->scope, i)->crd
                                                : scope_config_at(a->scope, i)->name;
        int seen;

        nxc_strmap_get(t->seen, name, &seen);
        if (!seen)
            snprintf(gone[ngone++], SCOPE_NAME_MAX, "%s", name);
    }
    for (size_t i = 0; i < ngone; i++) {
        if (t->role == ROLE_CRDS)
            scope_del_crd(a->scope, gone[i], &changed);
        else
            scope_del_config(a->scope, gone[i], &changed);
        a->scope_dirty = 1;
    }
    free(gone);
    nxc_strmap_clear(t->seen);
    atomic_store(&t->listed, 1);
    a->scope_dirty = 1; /* the first complete picture: decide */
    return NXC_OK;
}

/* The datamodel has been listed, and the configs too (or their CRD is not installed). */
int intent_ready(agent *a)
{
    type_state *crds = &a->types[0], *configs = &a->types[1];

    return atomic_load(&crds->listed) &&
           (atomic_load(&configs->listed) || atomic_load(&configs->missing));
}

peer_mask intent_wants(agent *a, const type_state *t, const json_t *obj, int *policy_delete)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const json_t *labels = json_object_get(meta, "labels");
    size_t n = 0, deletes = 0;
    peer_mask m = 0;

    for (size_t i = 0; name && i < scope_config_count(a->scope); i++) {
        const scope_config *c = scope_config_at(a->scope, i);
        int p = peer_index(a, c->peer);

        if (c->error[0] || p < 0)
            continue;
        if (scope_config_selects(a->scope, c, t->gvr.group, t->gvr.resource, ns, name, labels)) {
            m |= PEER_BIT(p);
            n++;
            deletes += c->policy == SCOPE_DELETE;
        }
    }
    *policy_delete = n > 0 && deletes == n;
    return m;
}

static int stop_at_first(void *ctx, const char *key, const nxc_store_rec *r)
{
    (void)key;
    (void)r;
    *(int *)ctx = 1;
    return 1;
}

static int covered(agent *a, const scope_type *st)
{
    for (size_t i = 0; i < scope_config_count(a->scope); i++) {
        const scope_config *c = scope_config_at(a->scope, i);

        if (!c->error[0] && peer_ours(a, c->peer) && scope_config_covers_type(a->scope, c, st))
            return 1;
    }
    return 0;
}

struct rescan {
    agent *a;
    nxc_store_txn *txn;
    type_state *t;
};

static int rescan_item(void *ctx, json_t *obj)
{
    struct rescan *r = ctx;

    return agent_local_upsert(r->a, r->txn, r->t, obj);
}

/* Lists t and passes every object through the local change path (in the current phase). */
static int rescan_type(agent *a, nxc_store_txn *txn, type_state *t)
{
    struct rescan r = {a, txn, t};
    char *rv = NULL;
    int rc = nxc_kube_list(a->kube, &t->gvr, NULL, rescan_item, NULL, &r, &rv);

    free(rv);
    if (rc && rc != NXC_ENOMEM) {
        NXC_WARN("intent", "event=rescan-failed type=%s.%s err=\"%s\" action=retry",
                 t->gvr.resource, t->gvr.group, nxc_error_last());
        a->scope_dirty = 1; /* again after the next batch */
        rc = NXC_OK;
    }
    return rc;
}

/* The on-demand types in hierarchy order: roots first (children's types last). */
static size_t dynamic_types_ordered(agent *a, type_state **out, size_t cap)
{
    size_t n = 0, total = atomic_load(&a->ntypes);

    for (size_t depth = 0; depth <= 64 && n < cap; depth++) {
        for (size_t i = 0; i < total && n < cap; i++) {
            type_state *t = &a->types[i];
            const scope_type *st = scope_type_by_gr(a->scope, t->gvr.group, t->gvr.resource);
            size_t d = st ? (st->nhierarchy < 64 ? st->nhierarchy : 64) : 64;

            if (t->role == ROLE_DYNAMIC && d == depth)
                out[n++] = t;
        }
    }
    return n;
}

/*
 * The intent or the datamodel changed: watch every type a config covers (and every type we
 * hold records of, so replicas' edits and deletes flow back after a restart); then list the
 * on-demand types and publish what is now selected, parents' types first, and release what
 * is no longer selected, children's types first. Returns -1 when the store failed.
 */
int intent_reconcile(agent *a)
{
    nxc_store_txn *txn = NULL;
    type_state *order[AGENT_MAX_TYPES];
    size_t n;
    int rc;

    a->scope_dirty = 0;
    a->status_due_ms = 0;
    rc = nxc_store_txn_begin(a->store, 0, &txn);
    if (rc) {
        NXC_ERROR("intent", "event=store-error err=\"%s\"", nxc_error_last());
        return -1;
    }
    for (size_t i = 0; i < scope_type_count(a->scope) && !rc; i++) {
        const scope_type *st = scope_type_at(a->scope, i);
        char prefix[520];
        int records = 0;

        if (agent_type_find(a, st->group, st->resource))
            continue;
        snprintf(prefix, sizeof(prefix), "%s/%s/", st->group, st->resource);
        rc = nxc_store_foreach(txn, prefix, stop_at_first, &records);
        if (rc == 1)
            rc = NXC_OK;
        if (rc || (!records && !covered(a, st)))
            continue;
        if (!agent_type_add(a, ROLE_DYNAMIC, st->group, st->version, st->resource, st->kind,
                            st->namespaced, 1))
            NXC_ERROR("intent", "event=type-add-failed type=%s err=\"%s\"", st->crd,
                      nxc_error_last());
    }
    n = dynamic_types_ordered(a, order, AGENT_MAX_TYPES);
    a->rescan_phase = 1;
    for (size_t i = 0; i < n && !rc; i++)
        rc = rescan_type(a, txn, order[i]);
    a->rescan_phase = 2;
    for (size_t i = n; i > 0 && !rc; i--)
        rc = rescan_type(a, txn, order[i - 1]);
    a->rescan_phase = 0;
    if (rc) {
        NXC_ERROR("intent", "event=rescan-failed err=\"%s\"", nxc_error_last());
        nxc_store_txn_abort(txn);
        publish_batch_discard();
        return -1;
    }
    rc = nxc_store_txn_commit(txn);
    if (rc) {
        NXC_ERROR("intent", "event=store-commit-failed err=\"%s\"", nxc_error_last());
        publish_batch_discard();
        return -1;
    }
    publish_batch_flush(a);
    return 0;
}

/* ---- status ---- */

static void now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const peer_state *peer_of(const agent *a, const char *id)
{
    for (size_t i = 0; i < a->npeers; i++)
        if (strcmp(a->peers[i].cfg->id, id) == 0)
            return &a->peers[i];
    return NULL;
}

/* One condition, keeping lastTransitionTime when the status did not change. */
static json_t *condition(const json_t *old, const char *type, int ok, const char *reason,
                         const char *message, const char *now)
{
    const json_t *c;
    size_t i;
    const char *since = now;

    json_array_foreach (json_object_get(old, "conditions"), i, c) {
        const char *ty = json_string_value(json_object_get(c, "type"));
        const char *st = json_string_value(json_object_get(c, "status"));
        const char *lt = json_string_value(json_object_get(c, "lastTransitionTime"));

        if (ty && st && lt && strcmp(ty, type) == 0 && strcmp(st, ok ? "True" : "False") == 0)
            since = lt;
    }
    return json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", type, "status", ok ? "True" : "False",
                     "reason", reason, "message", message, "lastTransitionTime", since);
}

/* Why a config replicates nothing ("" when it is usable here). */
static void config_problem(agent *a, const scope_config *c, char *reason, size_t rlen,
                           char *msg, size_t mlen)
{
    *reason = *msg = '\0';
    if (c->error[0]) {
        snprintf(reason, rlen, "InvalidSpec");
        snprintf(msg, mlen, "%s", c->error);
    } else if (!peer_ours(a, c->peer)) {
        snprintf(reason, rlen, "NotOurPeer");
        snprintf(msg, mlen, "%s is not a peer of agent %s; left alone", c->peer,
                 a->cfg->runtime_id);
    } else if (!scope_type_by_gk(a->scope, c->group, c->kind)) {
        snprintf(reason, rlen, "TypeNotInstalled");
        snprintf(msg, mlen, "no CRD of group %s kind %s in this runtime", c->group, c->kind);
    }
}

static json_t *status_for(agent *a, const scope_config *c, const json_t *old)
{
    char reason[64], msg[320], now[32];
    const peer_state *p = peer_of(a, c->peer);
    int ready, reachable, synced;
    json_t *st, *conds;

    now_rfc3339(now, sizeof(now));
    config_problem(a, c, reason, sizeof(reason), msg, sizeof(msg));
    ready = reason[0] == '\0';
    reachable = p && atomic_load(&p->reachable) && atomic_load(&a->bus_up);
    synced = ready && atomic_load(&a->stats.outbox) == 0 && atomic_load(&a->bus_up);
    conds = json_array();
    json_array_append_new(conds, condition(old, "Ready", ready, ready ? "Replicating" : reason,
                                           ready ? "the selection is replicated" : msg, now));
    json_array_append_new(
        conds, condition(old, "PeerReachable", reachable, reachable ? "Reachable" : "Unreachable",
                         reachable ? "the peer's stream answers" : "the peer's stream does not "
                                                                   "answer (changes wait)",
                         now));
    json_array_append_new(conds, condition(old, "Synced", synced,
                                           synced ? "NothingPending" : "Pending",
                                           synced ? "every local change is on the stream"
                                                  : "local changes wait to be published",
                                           now));
    st = json_pack("{s:o,s:I}", "conditions", conds, "observedGeneration",
                   (json_int_t)c->generation);
    if (synced)
        json_object_set_new(st, "lastSyncTime", json_string(now));
    else if (json_object_get(old, "lastSyncTime"))
        json_object_set(st, "lastSyncTime", json_object_get(old, "lastSyncTime"));
    return st;
}

/* Writes each config's status when it changed (at most every STATUS_EVERY_MS). */
void intent_status(agent *a)
{
    type_state *t = &a->types[1];
    int64_t now = now_ms();

    if (a->replaying || !atomic_load(&t->listed) || now < a->status_due_ms)
        return;
    a->status_due_ms = now + STATUS_EVERY_MS;
    for (size_t i = 0; i < scope_config_count(a->scope); i++) {
        const scope_config *c = scope_config_at(a->scope, i);
        json_t *cur = NULL, *st, *old, *body;
        char path[512];
        int rc;

        if (nxc_kube_get(a->kube, &t->gvr, NULL, c->name, &cur) != NXC_OK)
            continue;
        old = json_object_get(cur, "status");
        st = status_for(a, c, old);
        /* lastSyncTime moves every time: only a change of anything else is worth a write */
        {
            json_t *a1 = json_deep_copy(st), *b1 = json_deep_copy(old ? old : json_null());
            int same;

            if (json_is_object(a1))
                json_object_del(a1, "lastSyncTime");
            if (json_is_object(b1))
                json_object_del(b1, "lastSyncTime");
            same = json_equal(a1, b1);
            json_decref(a1);
            json_decref(b1);
            if (same) {
                json_decref(st);
                json_decref(cur);
                continue;
            }
        }
        body = json_pack("{s:o}", "status", st);
        rc = nxc_kube_path(&t->gvr, NULL, c->name, "status", path, sizeof(path));
        if (!rc)
            rc = nxc_kube_request(a->kube, "PATCH", path, "application/merge-patch+json", body,
                                  NULL);
        if (rc)
            NXC_WARN("intent", "event=status-write-failed name=%s err=\"%s\"", c->name,
                     nxc_error_last());
        json_decref(body);
        json_decref(cur);
    }
}
