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
#define RESCAN_RETRY_MS 5000      /* the first wait after a failed rescan ... */
#define RESCAN_RETRY_MAX_MS 60000 /* ... doubling up to this */

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

/* A config changed: say so, and say why when it cannot be used. */
static void log_config(agent *a, const char *name, int deleted)
{
    const scope_config *c = NULL;

    for (size_t i = 0; !deleted && i < scope_config_count(a->scope); i++)
        if (strcmp(scope_config_at(a->scope, i)->name, name) == 0)
            c = scope_config_at(a->scope, i);
    if (c && c->error[0])
        NXC_WARN("intent", "event=config-invalid name=%s err=%s", name, nxc_log_q(c->error));
    else
        NXC_INFO("intent", "event=config-%s name=%s", deleted ? "deleted" : "changed", name);
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
        NXC_WARN("intent", "event=ignored name=%s err=%s", name, nxc_log_q(nxc_error_last()));
        return NXC_OK;
    }
    if (rc)
        return rc;
    if (changed) {
        a->scope_dirty = 1;
        a->status_due_ms = 0;
        if (t->role == ROLE_CONFIGS)
            log_config(a, name, it->ev == NXC_KUBE_DELETED);
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
    char(*gone)[SCOPE_NAME_MAX] = n ? calloc(n, SCOPE_NAME_MAX) : NULL;
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
    if (rc && rc != NXC_ENOMEM && !atomic_load(&t->listed)) {
        /* not listed yet (not served, or not readable here): its watch keeps trying with a
         * backoff of its own, and its first complete list goes through the selection; only
         * a change of intent while that list runs needs another rescan */
        NXC_INFO("intent", "event=rescan-deferred type=%s.%s reason=%s err=%s", t->gvr.resource,
                 t->gvr.group, nxc_error_name(rc), nxc_log_q(nxc_error_last()));
        t->rescan_pending = 1;
        rc = NXC_OK;
    } else if (rc && rc != NXC_ENOMEM) {
        long wait = a->rescan_backoff_ms ? a->rescan_backoff_ms : RESCAN_RETRY_MS;

        NXC_WARN("intent", "event=rescan-failed type=%s.%s reason=%s err=%s retry_ms=%ld",
                 t->gvr.resource, t->gvr.group, nxc_error_name(rc), nxc_log_q(nxc_error_last()),
                 wait);
        a->scope_dirty = 1; /* again in a while */
        a->rescan_after_ms = now_ms() + wait;
        a->rescan_failed = 1;
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
    a->rescan_failed = 0;
    a->status_due_ms = 0;
    rc = nxc_store_txn_begin(a->store, 0, &txn);
    if (rc) {
        NXC_ERROR("intent", "event=store-error err=%s", nxc_log_q(nxc_error_last()));
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
            NXC_ERROR("intent", "event=type-add-failed type=%s err=%s", st->crd,
                      nxc_log_q(nxc_error_last()));
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
        NXC_ERROR("intent", "event=rescan-failed err=%s", nxc_log_q(nxc_error_last()));
        nxc_store_txn_abort(txn);
        publish_batch_discard();
        return -1;
    }
    rc = nxc_store_txn_commit(txn);
    if (rc) {
        NXC_ERROR("intent", "event=store-commit-failed err=%s", nxc_log_q(nxc_error_last()));
        publish_batch_discard();
        return -1;
    }
    publish_batch_flush(a);
    if (!a->rescan_failed)
        a->rescan_backoff_ms = 0;
    else if (a->rescan_backoff_ms < RESCAN_RETRY_MAX_MS)
        a->rescan_backoff_ms =
            a->rescan_backoff_ms ? a->rescan_backoff_ms * 2 : RESCAN_RETRY_MS * 2;
    if (a->rescan_backoff_ms > RESCAN_RETRY_MAX_MS)
        a->rescan_backoff_ms = RESCAN_RETRY_MAX_MS;
    return 0;
}

/* ---- tracking: per replicated object, for config status and status.nexus ---- */

#define SLOTS 64           /* configs whose status counts objects */
#define NEXUS_WRITES 100   /* status.nexus writes per status tick */
#define REPORT_WAIT_MS 250 /* a peer's answer to a status request */
#define REPORT_RETRY_MS 10000

typedef struct track_obj {
    uint64_t cfgs;   /* slots of the configs that select it */
    peer_mask dests; /* peers it is replicated to */
    uint64_t seq;    /* stream sequence of the last publish (highest over the peers) */
    int64_t gen;     /* metadata.generation of the last published change */
    int waiting;     /* a published change the peers have not confirmed yet */
    int nexus;       /* its type has status.nexus */
    int64_t applied; /* generation after a peer's change was written here (0: none due) */
    int64_t written; /* generation last written to status.nexus */
} track_obj;

struct intent_track {
    nxc_strmap *objs;
    char slot[SLOTS][SCOPE_NAME_MAX]; /* config name per slot ("" = free) */
    unsigned long long conflicts[SLOTS];
    char last_conflict[SLOTS][640];
    char last_winner[SLOTS][NXC_VV_ID_MAX + 1];
    int64_t report_retry_ms[32]; /* per peer: next status request after a failed one */
};

static struct intent_track *tracker(agent *a)
{
    if (!a->track) {
        a->track = calloc(1, sizeof(*a->track));
        if (a->track && !(a->track->objs = nxc_strmap_new())) {
            free(a->track);
            a->track = NULL;
        }
    }
    return a->track;
}

/* The tracked object of key, added when new; NULL when out of memory. */
static track_obj *track_obj_of(struct intent_track *tr, const char *key)
{
    int found;
    track_obj *o = nxc_strmap_get(tr->objs, key, &found);

    if (found)
        return o;
    o = calloc(1, sizeof(*o));
    if (o && nxc_strmap_put(tr->objs, key, o) != 0) {
        free(o);
        o = NULL;
    }
    return o;
}

static void free_obj(void *ctx, const char *key, void *val)
{
    (void)ctx;
    (void)key;
    free(val);
}

void intent_free(agent *a)
{
    if (!a->track)
        return;
    nxc_strmap_each(a->track->objs, free_obj, NULL);
    nxc_strmap_free(a->track->objs);
    free(a->track);
    a->track = NULL;
    for (size_t i = 0; i < a->npeers; i++) {
        json_decref(a->peers[i].report.problems);
        a->peers[i].report.problems = NULL;
    }
}

/* The slot of a config (assigned on first use; -1 when all are taken). */
static int slot_of(struct intent_track *tr, const char *name, int assign)
{
    int free_slot = -1;

    for (int i = 0; i < SLOTS; i++) {
        if (strcmp(tr->slot[i], name) == 0)
            return i;
        if (free_slot < 0 && !tr->slot[i][0])
            free_slot = i;
    }
    if (!assign || free_slot < 0)
        return -1;
    snprintf(tr->slot[free_slot], sizeof(tr->slot[free_slot]), "%s", name);
    tr->conflicts[free_slot] = 0;
    tr->last_conflict[free_slot][0] = tr->last_winner[free_slot][0] = '\0';
    return free_slot;
}

void intent_track(agent *a, const type_state *t, const json_t *obj, const char *key,
                  peer_mask dests, int published)
{
    struct intent_track *tr = tracker(a);
    const json_t *meta = json_object_get(obj, "metadata");
    const char *ns = json_string_value(json_object_get(meta, "namespace"));
    const char *name = json_string_value(json_object_get(meta, "name"));
    const json_t *labels = json_object_get(meta, "labels");
    const scope_type *st = scope_type_by_gr(a->scope, t->gvr.group, t->gvr.resource);
    track_obj *o;

    if (!tr || !name)
        return;
    o = track_obj_of(tr, key);
    if (!o)
        return;
    o->cfgs = 0;
    for (size_t i = 0; i < scope_config_count(a->scope); i++) {
        const scope_config *c = scope_config_at(a->scope, i);
        int slot;

        if (c->error[0] || !peer_ours(a, c->peer) ||
            !scope_config_selects(a->scope, c, t->gvr.group, t->gvr.resource, ns, name, labels))
            continue;
        slot = slot_of(tr, c->name, 1);
        if (slot >= 0)
            o->cfgs |= (uint64_t)1 << slot;
    }
    o->dests = dests;
    o->nexus = st && st->nexus_status;
    if (published) {
        const json_t *gen = json_object_get(meta, "generation");

        o->gen = json_is_integer(gen) ? (int64_t)json_integer_value(gen) : 0;
        o->waiting = 1;
        o->seq = 0;
    }
}

void intent_track_applied(agent *a, const type_state *t, const json_t *written, const char *key)
{
    struct intent_track *tr = tracker(a);
    const scope_type *st = scope_type_by_gr(a->scope, t->gvr.group, t->gvr.resource);
    const json_t *gen = json_object_get(json_object_get(written, "metadata"), "generation");
    track_obj *o;

    if (!tr || !st || !st->nexus_status || !json_is_integer(gen))
        return;
    o = track_obj_of(tr, key);
    if (!o)
        return;
    o->nexus = 1;
    o->applied = (int64_t)json_integer_value(gen);
    NXC_DEBUG("intent", "event=nexus-due key=%s generation=%lld written=%lld", key,
              (long long)o->applied, (long long)o->written);
}

void intent_track_seq(agent *a, const char *key, uint64_t seq)
{
    track_obj *o = a->track ? nxc_strmap_get(a->track->objs, key, NULL) : NULL;

    if (o && seq > o->seq)
        o->seq = seq;
}

void intent_untrack(agent *a, const char *key)
{
    if (a->track)
        free(nxc_strmap_del(a->track->objs, key));
}

void intent_conflict(agent *a, const char *key, const char *winner)
{
    track_obj *o = a->track ? nxc_strmap_get(a->track->objs, key, NULL) : NULL;

    for (int i = 0; o && i < SLOTS; i++) {
        if (!(o->cfgs & ((uint64_t)1 << i)))
            continue;
        a->track->conflicts[i]++;
        snprintf(a->track->last_conflict[i], sizeof(a->track->last_conflict[i]), "%s", key);
        snprintf(a->track->last_winner[i], sizeof(a->track->last_winner[i]), "%s", winner);
    }
}

/* ---- status ---- */

static void now_rfc3339(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Asks each peer how far it applied our stream and what waits there. */
static void refresh_reports(agent *a)
{
    struct intent_track *tr = a->track;
    char subject[160];

    for (size_t i = 0; i < a->npeers && i < 32; i++) {
        peer_state *p = &a->peers[i];
        char *reply = NULL;
        size_t len = 0;
        json_t *doc;
        int64_t now = now_ms();

        if (!atomic_load(&a->bus_up) || (tr && now < tr->report_retry_ms[i])) {
            if (now - p->report.at_ms > 3 * REPORT_RETRY_MS)
                p->report.ok = 0;
            continue;
        }
        snprintf(subject, sizeof(subject), "nxc.ctl.%s.status", p->cfg->id);
        if (nxc_bus_request(a->bus, subject, a->cfg->runtime_id, strlen(a->cfg->runtime_id),
                            REPORT_WAIT_MS, &reply, &len) != NXC_OK) {
            if (tr)
                tr->report_retry_ms[i] = now + REPORT_RETRY_MS;
            p->report.ok = 0;
            continue;
        }
        doc = intent_parse_report(reply, len);
        free(reply);
        if (!doc) {
            p->report.ok = 0;
            continue;
        }
        p->report.ok = 1;
        p->report.at_ms = now;
        p->report.applied = (uint64_t)json_integer_value(json_object_get(doc, "applied"));
        json_decref(p->report.problems);
        p->report.problems = json_incref(json_object_get(doc, "problems"));
        json_decref(doc);
    }
}

json_t *intent_parse_report(const char *text, size_t len)
{
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL), *probs, *pr;
    json_t *applied;
    size_t i;

    applied = json_object_get(doc, "applied");
    probs = json_object_get(doc, "problems");
    if (!json_is_object(doc) || !json_is_integer(applied) || json_integer_value(applied) < 0 ||
        !json_is_array(probs) || json_array_size(probs) > 1000) {
        json_decref(doc);
        return NULL;
    }
    json_array_foreach (probs, i, pr) {
        if (!json_is_string(json_object_get(pr, "kind")) ||
            !json_is_string(json_object_get(pr, "what")) ||
            !json_is_string(json_object_get(pr, "message"))) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* 1 when every peer in dests confirmed applying up to seq. */
static int confirmed(const agent *a, peer_mask dests, uint64_t seq)
{
    if (!seq || !dests)
        return 0;
    for (size_t i = 0; i < a->npeers && i < 32; i++)
        if ((dests & PEER_BIT(i)) && (!a->peers[i].report.ok || a->peers[i].report.applied < seq))
            return 0;
    return 1;
}

struct counts {
    unsigned long long selected[SLOTS], pending[SLOTS], failed[SLOTS];
    char failed_key[SLOTS][640];
};

struct tick {
    agent *a;
    struct counts *n;
    char (*nexus)[640]; /* keys whose status.nexus is due */
    int64_t *gens;
    size_t nnexus;
};

/* 1 when the peers of slot's config report key as rejected. */
static int rejected(const agent *a, const char *key, peer_mask dests)
{
    for (size_t i = 0; i < a->npeers && i < 32; i++) {
        const json_t *pr;
        size_t j;

        if (!(dests & PEER_BIT(i)) || !a->peers[i].report.ok)
            continue;
        json_array_foreach (a->peers[i].report.problems, j, pr) {
            if (strcmp(json_string_value(json_object_get(pr, "kind")), "rejected") == 0 &&
                strcmp(json_string_value(json_object_get(pr, "what")), key) == 0)
                return 1;
        }
    }
    return 0;
}

static void tick_obj(void *ctx, const char *key, void *val)
{
    struct tick *k = ctx;
    track_obj *o = val;
    int bad = 0;

    if (o->waiting)
        bad = rejected(k->a, key, o->dests); /* applied past it, but refused */
    if (o->waiting && !bad && confirmed(k->a, o->dests, o->seq))
        o->waiting = 0;
    /* status.nexus: the generation both sides hold — a change of ours the peers confirmed,
     * or a peer's change written here — never an older one */
    if (o->nexus && k->nnexus < NEXUS_WRITES) {
        int64_t due = o->applied > o->written ? o->applied : 0;

        if (!o->waiting && o->gen > o->written && o->gen > due)
            due = o->gen;
        if (due) { /* marked written once the write went through (see intent_status) */
            snprintf(k->nexus[k->nnexus], 640, "%s", key);
            k->gens[k->nnexus++] = due;
        }
    }
    for (int i = 0; i < SLOTS; i++) {
        if (!(o->cfgs & ((uint64_t)1 << i)))
            continue;
        k->n->selected[i]++;
        if (bad) {
            k->n->failed[i]++;
            snprintf(k->n->failed_key[i], sizeof(k->n->failed_key[i]), "%s", key);
        } else if (o->waiting) {
            k->n->pending[i]++;
        }
    }
}

/* Writes status.nexus of a replicated object: the generation the peers confirmed. */
static int write_nexus(agent *a, const char *key, int64_t gen)
{
    char buf[640], path[1024];
    char *group = buf, *resource, *ns, *name;
    type_state *t;
    json_t *body;
    int rc;

    snprintf(buf, sizeof(buf), "%s", key);
    if (!(resource = strchr(group, '/')) || !(ns = strchr(resource + 1, '/')) ||
        !(name = strchr(ns + 1, '/')))
        return NXC_EINVALID;
    *resource++ = *ns++ = *name++ = '\0';
    t = agent_type_find(a, group, resource);
    if (!t || nxc_kube_path(&t->gvr, *ns ? ns : NULL, name, "status", path, sizeof(path)))
        return NXC_EINVALID;
    body = json_pack("{s:{s:{s:I,s:I}}}", "status", "nexus", "sourceGeneration", (json_int_t)gen,
                     "remoteGeneration", (json_int_t)gen);
    if (!body)
        return NXC_ENOMEM;
    rc = nxc_kube_request(a->kube, "PATCH", path, "application/merge-patch+json", body, NULL);
    json_decref(body);
    if (rc && rc != NXC_ENOTFOUND)
        NXC_INFO("intent",
                 "event=nexus-status-failed key=%s generation=%lld err=%s "
                 "action=retry",
                 key, (long long)gen, nxc_log_q(nxc_error_last()));
    return rc;
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
static void config_problem(agent *a, const scope_config *c, char *reason, size_t rlen, char *msg,
                           size_t mlen)
{
    const scope_type *t;

    *reason = *msg = '\0';
    if (c->error[0]) {
        snprintf(reason, rlen, "InvalidSpec");
        snprintf(msg, mlen, "%s", c->error);
    } else if (!peer_ours(a, c->peer)) {
        snprintf(reason, rlen, "NotOurPeer");
        snprintf(msg, mlen, "%.100s is not a peer of agent %.64s; left alone", c->peer,
                 a->cfg->runtime_id);
    } else if (!(t = scope_type_by_gk(a->scope, c->group, c->kind))) {
        snprintf(reason, rlen, "TypeNotInstalled");
        snprintf(msg, mlen, "no CRD of group %.100s kind %.100s in this runtime", c->group,
                 c->kind);
    } else if (c->version[0] && !scope_type_serves(t, c->version)) {
        /* t->served is ",v1,v2,": shown as "v1,v2" */
        int n = t->served[0] ? (int)strlen(t->served) - 2 : 0;

        snprintf(reason, rlen, "TypeNotInstalled");
        snprintf(msg, mlen, "CRD %.100s serves no version %.60s here (it serves %.*s)", t->crd,
                 c->version, n > 0 ? n : 4, n > 0 ? t->served + 1 : "none");
    }
}

/* What the peer reports waiting (types not installed there, or not allowed): "" if none. */
static void peer_waiting(const peer_state *p, char *msg, size_t len)
{
    const json_t *pr;
    size_t i, o = 0;

    *msg = '\0';
    if (!p || !p->report.ok)
        return;
    json_array_foreach (p->report.problems, i, pr) {
        const char *kind = json_string_value(json_object_get(pr, "kind"));
        int n;

        if (strcmp(kind, "rejected") == 0)
            continue;
        n = snprintf(msg + o, len - o, "%s%s %s %s", o ? "; " : "", p->cfg->id,
                     strcmp(kind, "forbidden") == 0 ? "may not write" : "has no CRD for",
                     json_string_value(json_object_get(pr, "what")));
        if (n < 0 || (size_t)n >= len - o) {
            msg[o] = '\0';
            break;
        }
        o += (size_t)n;
    }
    if (o && o + 20 < len)
        snprintf(msg + o, len - o, ": its changes wait");
}

/* The types config c covers that this agent may not list here (RBAC), or (bad = 1) whose
 * objects here it cannot read: "" if none. */
static void unreadable(agent *a, const scope_config *c, int bad, char *msg, size_t len)
{
    size_t o = 0, total = atomic_load(&a->ntypes);

    *msg = '\0';
    for (size_t i = 0; i < total; i++) {
        const type_state *t = &a->types[i];
        const scope_type *st;
        int n;

        if (t->role != ROLE_DYNAMIC || !atomic_load(bad ? &t->unreadable : &t->forbidden))
            continue;
        st = scope_type_by_gr(a->scope, t->gvr.group, t->gvr.resource);
        if (!st || !scope_config_covers_type(a->scope, c, st))
            continue;
        n = snprintf(msg + o, len - o, "%s%s.%s", o ? ", " : "", t->gvr.resource, t->gvr.group);
        if (n < 0 || (size_t)n >= len - o) {
            msg[o] = '\0';
            break;
        }
        o += (size_t)n;
    }
}

/* What keeps config c's objects here from going out, if anything: the Synced reason and
 * message. 0 when nothing does. */
static int source_problem(agent *a, const scope_config *c, const char **reason, char *msg,
                          size_t len)
{
    static const char *const reasons[2] = {"SourceForbidden", "SourceUnreadable"};
    static const char *const before[2] = {"this agent may not list ", "an object of "};
    static const char *const after[2] = {
        " here: those objects are not replicated until its role allows it",
        " here cannot be read (see this agent's log): the type's changes wait until it is fixed "
        "or deleted"};
    char types[300];

    for (int bad = 0; bad < 2; bad++) {
        unreadable(a, c, bad, types, sizeof(types));
        if (types[0]) {
            *reason = reasons[bad];
            snprintf(msg, len, "%s%s%s", before[bad], types, after[bad]);
            return 1;
        }
    }
    return 0;
}

/* Logs a config's Ready condition when it changes: what the status says, in the log too. */
static void log_readiness(const scope_config *c, const json_t *old, const char *reason,
                          const char *msg)
{
    const json_t *cond;
    const char *was = NULL;
    size_t i;

    json_array_foreach (json_object_get(old, "conditions"), i, cond) {
        const char *ty = json_string_value(json_object_get(cond, "type"));

        if (ty && strcmp(ty, "Ready") == 0)
            was = json_string_value(json_object_get(cond, "reason"));
    }
    if (was && strcmp(was, reason) == 0)
        return;
    if (strcmp(reason, "Replicating") == 0) {
        if (was)
            NXC_INFO("intent", "event=config-ready name=%s was=%s", c->name, was);
        return;
    }
    NXC_WARN("intent", "event=config-not-ready name=%s reason=%s message=%s", c->name, reason,
             nxc_log_q(msg));
}

static json_t *status_for(agent *a, const scope_config *c, const json_t *old,
                          const struct counts *n)
{
    struct intent_track *tr = a->track;
    int slot = tr ? slot_of(tr, c->name, 1) : -1;
    char reason[64], msg[640], wait[400], src[640], now[32];
    const char *src_reason = NULL;
    const peer_state *p = NULL;
    unsigned long long sel = 0, pend = 0, fail = 0, conf = 0;
    int ready, reachable, synced;
    json_t *st, *conds;

    for (size_t i = 0; i < a->npeers; i++)
        if (strcmp(a->peers[i].cfg->id, c->peer) == 0)
            p = &a->peers[i];
    if (slot >= 0) {
        sel = n->selected[slot];
        pend = n->pending[slot];
        fail = n->failed[slot];
        conf = tr->conflicts[slot];
    }
    now_rfc3339(now, sizeof(now));
    config_problem(a, c, reason, sizeof(reason), msg, sizeof(msg));
    ready = reason[0] == '\0';
    log_readiness(c, old, ready ? "Replicating" : reason, msg);
    reachable = p && p->report.ok && atomic_load(&a->bus_up);
    peer_waiting(p, wait, sizeof(wait));
    source_problem(a, c, &src_reason, src, sizeof(src));
    synced = ready && reachable && slot >= 0 && pend == 0 && fail == 0 && !wait[0] && !src_reason;
    conds = json_array();
    json_array_append_new(conds, condition(old, "Ready", ready, ready ? "Replicating" : reason,
                                           ready ? "the selection is replicated" : msg, now));
    if (c->error[0])
        json_array_append_new(conds, condition(old, "PeerReachable", 0, "InvalidSpec",
                                               "the spec is not usable (see Ready)", now));
    else if (!p) /* not a peer of ours: nothing to reach, nothing waits */
        json_array_append_new(conds, condition(old, "PeerReachable", 0, "NotOurPeer",
                                               "not a peer of this agent", now));
    else
        json_array_append_new(conds, condition(old, "PeerReachable", reachable,
                                               reachable ? "Reachable" : "Unreachable",
                                               reachable ? "the peer answers"
                                                         : "the peer does not answer (changes "
                                                           "wait)",
                                               now));
    if (synced) {
        json_array_append_new(conds,
                              condition(old, "Synced", 1, "Synced",
                                        "every selected object is applied on the peer", now));
    } else if (!ready) {
        json_array_append_new(conds, condition(old, "Synced", 0, "NotReady",
                                               "nothing is replicated (see Ready)", now));
    } else if (src_reason) {
        json_array_append_new(conds, condition(old, "Synced", 0, src_reason, src, now));
    } else if (!reachable) {
        json_array_append_new(conds, condition(old, "Synced", 0, "PeerUnreachable",
                                               "the peer does not answer: changes wait on the "
                                               "stream",
                                               now));
    } else if (slot < 0) {
        json_array_append_new(conds, condition(old, "Synced", 0, "NotCounted",
                                               "more than 64 configs: this one is replicated "
                                               "but not counted",
                                               now));
    } else if (wait[0]) {
        json_array_append_new(conds, condition(old, "Synced", 0, "PeerWaiting", wait, now));
    } else if (fail) {
        snprintf(msg, sizeof(msg), "%llu object(s) rejected by %.64s, last %.300s", fail, c->peer,
                 n->failed_key[slot]);
        json_array_append_new(conds, condition(old, "Synced", 0, "Rejected", msg, now));
    } else {
        snprintf(msg, sizeof(msg), "%llu change(s) not yet applied on the peer", pend);
        json_array_append_new(conds, condition(old, "Synced", 0, "Pending", msg, now));
    }
    if (conf) {
        snprintf(msg, sizeof(msg), "%llu concurrent edit(s) resolved; last %.400s (winner %.64s)",
                 conf, tr->last_conflict[slot], tr->last_winner[slot]);
        json_array_append_new(conds, condition(old, "Conflict", 1, "ConcurrentEdit", msg, now));
    } else {
        json_array_append_new(
            conds, condition(old, "Conflict", 0, "NoConflict", "no concurrent edits", now));
    }
    st = json_pack("{s:o,s:I,s:I,s:I,s:I,s:I,s:I}", "conditions", conds, "observedGeneration",
                   (json_int_t)c->generation, "selected", (json_int_t)sel, "synced",
                   (json_int_t)(sel - pend - fail), "pending", (json_int_t)pend, "failed",
                   (json_int_t)fail, "conflicts", (json_int_t)conf);
    if (synced)
        json_object_set_new(st, "lastSyncTime", json_string(now));
    else if (json_object_get(old, "lastSyncTime"))
        json_object_set(st, "lastSyncTime", json_object_get(old, "lastSyncTime"));
    return st;
}

/* Frees the slots of configs that are gone. */
static void drop_slots(agent *a)
{
    struct intent_track *tr = a->track;

    for (int i = 0; tr && i < SLOTS; i++) {
        int live = 0;

        for (size_t j = 0; tr->slot[i][0] && j < scope_config_count(a->scope); j++)
            live |= strcmp(scope_config_at(a->scope, j)->name, tr->slot[i]) == 0;
        if (tr->slot[i][0] && !live)
            tr->slot[i][0] = '\0';
    }
}

/* Every STATUS_EVERY_MS: asks the peers, confirms generations, writes configs' status. */
void intent_status(agent *a)
{
    type_state *t = &a->types[1];
    int64_t now = now_ms();
    struct counts *n;
    struct tick k;

    if (a->replaying || now < a->status_due_ms)
        return;
    a->status_due_ms = now + STATUS_EVERY_MS;
    if (!tracker(a))
        return;
    drop_slots(a);
    if (nxc_strmap_len(a->track->objs) == 0 && scope_config_count(a->scope) == 0)
        return;
    refresh_reports(a);
    n = calloc(1, sizeof(*n));
    k.nexus = calloc(NEXUS_WRITES, 640);
    k.gens = calloc(NEXUS_WRITES, sizeof(int64_t));
    if (!n || !k.nexus || !k.gens) {
        free(n);
        free(k.nexus);
        free(k.gens);
        return;
    }
    k.a = a;
    k.n = n;
    k.nnexus = 0;
    nxc_strmap_each(a->track->objs, tick_obj, &k);
    for (size_t i = 0; i < k.nnexus; i++) {
        int rc = write_nexus(a, k.nexus[i], k.gens[i]);
        track_obj *o = nxc_strmap_get(a->track->objs, k.nexus[i], NULL);

        /* a failed write stays due for the next tick; gone objects need none */
        if (o &&
            (rc == NXC_OK || rc == NXC_ENOTFOUND || rc == NXC_EINVALID || rc == NXC_EFORBIDDEN)) {
            if (k.gens[i] > o->written)
                o->written = k.gens[i];
            if (o->applied <= o->written)
                o->applied = 0;
        }
    }
    /* not before the datamodel is complete: a config's type would look not installed */
    for (size_t i = 0; atomic_load(&t->listed) && atomic_load(&a->types[0].listed) &&
                       i < scope_config_count(a->scope);
         i++) {
        const scope_config *c = scope_config_at(a->scope, i);
        json_t *cur = NULL, *st, *old, *body;
        char path[512];
        int rc;

        if (nxc_kube_get(a->kube, &t->gvr, NULL, c->name, &cur) != NXC_OK)
            continue;
        old = json_object_get(cur, "status");
        st = status_for(a, c, old, n);
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
            NXC_WARN("intent", "event=status-write-failed name=%s err=%s", c->name,
                     nxc_log_q(nxc_error_last()));
        json_decref(body);
        json_decref(cur);
    }
    free(n);
    free(k.nexus);
    free(k.gens);
}
