/*
 * loop: the agent's single owner of state. It takes items from the queue in batches, handles
 * each inside one LMDB write transaction, commits, and only then publishes the batch's local
 * changes and acks the batch's peer messages — so nothing is announced or acknowledged that
 * is not durable. See agent.h for the overall flow.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define BATCH_MAX 256
#define APPLY_RETRIES 5

enum action { ACT_ACK = 0, ACT_NAK = 1 };

int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

item *item_new(int kind, int cls)
{
    item *it = calloc(1, sizeof(*it));

    if (!it)
        return NULL;
    it->q.kind = kind;
    it->q.cls = cls;
    return it;
}

void item_free(item *it)
{
    if (!it)
        return;
    json_decref(it->obj);
    if (it->msg)
        nxc_bus_msg_free(it->msg);
    free(it->msg_id);
    free(it);
}

static const char *str_at(const json_t *obj, const char *a, const char *b)
{
    const json_t *v = json_object_get(obj, a);

    if (b)
        v = json_object_get(v, b);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int make_key(const char *group, const char *resource, const char *ns, const char *name,
                    char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/%s/%s/%s", group, resource, ns ? ns : "", name);

    return (n < 0 || (size_t)n >= len) ? NXC_ELIMIT : NXC_OK;
}

/* resourceVersions are compared as numbers (etcd revisions); 0 when either is not one. */
static int rv_not_newer(const char *ev_rv, const char *rec_rv)
{
    char *e1, *e2;
    unsigned long long a, b;

    if (!ev_rv || !*ev_rv || !*rec_rv)
        return 0;
    errno = 0;
    a = strtoull(ev_rv, &e1, 10);
    b = strtoull(rec_rv, &e2, 10);
    if (errno || *e1 || *e2)
        return 0;
    return a <= b;
}

static void rec_set_meta(nxc_store_rec *r, const json_t *obj)
{
    const char *rv = str_at(obj, "metadata", "resourceVersion");
    const char *uid = str_at(obj, "metadata", "uid");

    if (rv)
        snprintf(r->rv, sizeof(r->rv), "%s", rv);
    if (uid)
        snprintf(r->uid, sizeof(r->uid), "%s", uid);
}

static int get_rec(nxc_store_txn *txn, const char *key, nxc_store_rec **out, int *fresh)
{
    int rc = nxc_store_get(txn, key, out);

    *fresh = 0;
    if (rc == NXC_ENOTFOUND) {
        *out = nxc_store_rec_new();
        *fresh = 1;
        return *out ? NXC_OK : nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    return rc;
}

/* Fills ev's identity from a type and object names. */
static void event_ident(nxc_event *ev, const agent *a, const type_state *t, const char *ns,
                        const char *name)
{
    snprintf(ev->origin, sizeof(ev->origin), "%s", a->cfg->runtime_id);
    snprintf(ev->group, sizeof(ev->group), "%s", t->gvr.group);
    snprintf(ev->version, sizeof(ev->version), "%s", t->gvr.version);
    snprintf(ev->resource, sizeof(ev->resource), "%s", t->gvr.resource);
    snprintf(ev->kind, sizeof(ev->kind), "%s", t->kind);
    snprintf(ev->ns, sizeof(ev->ns), "%s", ns ? ns : "");
    snprintf(ev->name, sizeof(ev->name), "%s", name);
}

/* Copies the record's plane bookkeeping into an event (data is set by the caller). */
static int event_planes_from(nxc_event *ev, const nxc_store_rec *r)
{
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        ev->plane[p].vv = nxc_vv_dup(r->plane[p].vv);
        if (!ev->plane[p].vv)
            return nxc_error_set(NXC_ENOMEM, "out of memory");
        ev->plane[p].hlc = r->plane[p].hlc;
        memcpy(ev->plane[p].by, r->plane[p].by, sizeof(ev->plane[p].by));
        memcpy(ev->plane[p].hash, r->plane[p].hash, NXC_CODEC_HASH_LEN);
    }
    return NXC_OK;
}

static const char *plane_names(unsigned mask)
{
    switch (mask & 3) {
    case 1: return "spec";
    case 2: return "status";
    case 3: return "spec,status";
    default: return "none";
    }
}

/* ---- destinations ---- */

static peer_mask all_peers(const agent *a)
{
    return a->npeers >= 32 ? ~(peer_mask)0 : PEER_BIT(a->npeers) - 1;
}

static peer_mask peer_bit(const agent *a, const char *id)
{
    for (size_t i = 0; i < a->npeers; i++)
        if (strcmp(a->peers[i].cfg->id, id) == 0)
            return PEER_BIT(i);
    return 0;
}

/* "a,b" -> the mask of those of our peers (an id no longer configured is dropped). */
static peer_mask mask_of(const agent *a, const char *csv)
{
    peer_mask m = 0;
    char id[NXC_VV_ID_MAX + 1];

    while (*csv) {
        size_t n = strcspn(csv, ",");

        if (n < sizeof(id)) {
            memcpy(id, csv, n);
            id[n] = '\0';
            m |= peer_bit(a, id);
        }
        csv += n + (csv[n] == ',');
    }
    return m;
}

static void set_dests(const agent *a, nxc_store_rec *r, peer_mask m)
{
    size_t o = 0;

    r->dests[0] = '\0';
    for (size_t i = 0; i < a->npeers; i++) {
        int n;

        if (!(m & PEER_BIT(i)))
            continue;
        n = snprintf(r->dests + o, sizeof(r->dests) - o, "%s%s", o ? "," : "", a->peers[i].cfg->id);
        if (n < 0 || (size_t)n >= sizeof(r->dests) - o)
            break;
        o += (size_t)n;
    }
}

/* The peers that hold (or were sent) the object of this record. */
static peer_mask sent_to(const agent *a, const type_state *t, const nxc_store_rec *r)
{
    if (t->role == ROLE_STATIC)
        return all_peers(a);
    return mask_of(a, r->dests) | peer_bit(a, r->origin);
}

/*
 * Configs no longer send an object to some peers (a config was deleted or edited, or labels
 * moved the object out of a sub-graph): tell those peers to forget it — "retract" when the
 * selecting configs' policy was Delete (the peer removes the replica it created), "release"
 * otherwise. The object itself stays here; the record keeps the peers it still goes to.
 */
static int release(agent *a, nxc_store_txn *txn, type_state *t, const char *key, const char *ns,
                   const char *name, nxc_store_rec *r, peer_mask gone)
{
    nxc_event ev;
    peer_mask left = mask_of(a, r->dests) & ~gone;
    int rc;

    memset(&ev, 0, sizeof(ev));
    ev.op = (r->flags & NXC_STORE_F_POLICY_DELETE) ? NXC_EVENT_RETRACT : NXC_EVENT_RELEASE;
    ev.hlc = nxc_hlc_now(&a->hlc);
    event_ident(&ev, a, t, ns, name);
    rc = event_planes_from(&ev, r);
    if (!rc)
        rc = publish_event(a, txn, &ev, key, gone);
    set_dests(a, r, left);
    /* ours and sent nowhere now: marked, not forgotten — selected again, it goes out with
     * newer vectors (a resend of the old version would be a duplicate to JetStream) */
    if (!left && strcmp(r->origin, a->cfg->runtime_id) == 0)
        r->flags |= NXC_STORE_F_RELEASED;
    if (!rc)
        rc = nxc_store_put(txn, key, r);
    if (!rc && !left)
        intent_untrack(a, key);
    if (!rc) {
        atomic_fetch_add(&a->stats.released, 1);
        NXC_INFO("agent", "event=released key=%s op=%s still_to=%s", key, nxc_event_op_name(ev.op),
                 left ? r->dests : "-");
    }
    nxc_event_clear(&ev);
    return rc;
}

/*
 * A local object as the runtime shows it (watch, list, or a read before an apply). Planes
 * whose hash differs from the record are local changes: bump, stamp, store, publish.
 * Returns NXC_OK; *changed (may be NULL) gets the mask of changed planes.
 */
static int local_upsert(agent *a, nxc_store_txn *txn, type_state *t, json_t *obj,
                        unsigned *changed_out)
{
    const char *name = str_at(obj, "metadata", "name");
    const char *ns = str_at(obj, "metadata", "namespace");
    const char *rv = str_at(obj, "metadata", "resourceVersion");
    const char *uid = str_at(obj, "metadata", "uid");
    char key[640];
    nxc_store_rec *r = NULL;
    json_t *content[NXC_PLANE_COUNT] = {NULL, NULL};
    unsigned char hash[NXC_PLANE_COUNT][NXC_CODEC_HASH_LEN];
    nxc_event ev;
    unsigned changed = 0;
    peer_mask want = all_peers(a), newly = 0;
    uint32_t flags;
    int fresh, rc, revived = 0;

    memset(&ev, 0, sizeof(ev));
    if (changed_out)
        *changed_out = 0;
    if (!name)
        return nxc_error_set(NXC_EINVALID, "object without metadata.name");
    rc = make_key(t->gvr.group, t->gvr.resource, ns, name, key, sizeof(key));
    if (rc)
        return nxc_error_set(rc, "object key too long");
    rc = get_rec(txn, key, &r, &fresh);
    if (rc)
        return rc;
    if (t->role == ROLE_DYNAMIC) {
        int del = 0, live = !fresh && !r->tombstone && !(r->flags & NXC_STORE_F_RELEASED);
        peer_mask sent = live ? sent_to(a, t, r) : 0, gone;

        want = intent_wants(a, t, obj, &del);
        if (live && strcmp(r->origin, a->cfg->runtime_id) != 0)
            want |= peer_bit(a, r->origin); /* a replica: its edits go back to its origin */
        gone = sent & ~want;
        if (a->rescan_phase == 2 || (a->rescan_phase == 0 && gone)) {
            if (gone) {
                rc = release(a, txn, t, key, ns, name, r, gone);
                if (rc || !want)
                    goto out;
            }
            if (a->rescan_phase == 2)
                goto out;
        }
        if (!want)
            goto out; /* nobody asked for it */
        if (a->rescan_phase == 1)
            want |= sent; /* releases come in the second phase */
        newly = want & ~sent;
        revived = !fresh && (r->flags & NXC_STORE_F_RELEASED);
        flags = (del ? (r->flags | NXC_STORE_F_POLICY_DELETE)
                     : (r->flags & ~NXC_STORE_F_POLICY_DELETE)) &
                ~NXC_STORE_F_RELEASED;
        if (flags != r->flags || mask_of(a, r->dests) != (want & ~peer_bit(a, r->origin))) {
            r->flags = flags;
            set_dests(a, r, want & ~peer_bit(a, r->origin));
            if (!fresh && (rc = nxc_store_put(txn, key, r)) != NXC_OK)
                goto out;
        }
    }
    intent_track(a, t, obj, key, want, 0);
    /* an event no newer than what we recorded for the same object tells nothing new (it can
     * be an intermediate state of our own two-step write) */
    if (!a->resync_salt && !fresh && !r->tombstone && !newly && uid && strcmp(uid, r->uid) == 0 &&
        rv_not_newer(rv, r->rv)) {
        atomic_fetch_add(&a->stats.echoes, 1);
        goto out;
    }
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        rc = nxc_codec_plane_get(obj, p, &content[p]);
        if (!rc)
            rc = nxc_codec_hash(content[p], hash[p]);
        if (rc)
            goto out;
        if (fresh || r->tombstone || revived || !r->plane[p].has_hash ||
            memcmp(hash[p], r->plane[p].hash, NXC_CODEC_HASH_LEN) != 0)
            changed |= 1u << p;
    }
    rec_set_meta(r, obj);
    if (!changed && (a->resync_salt || newly)) {
        /* a peer lost messages, or a config now sends the object to more peers: send the
         * current version again, unchanged (with message ids of its own: the same version
         * may have gone to that peer before, within the duplicate window) */
        char salt[48];

        if (!a->resync_salt) {
            snprintf(salt, sizeof(salt), "sent-%lld", (long long)now_ms());
            a->resync_salt = salt;
        } else {
            newly = want;
        }
        rc = nxc_store_put(txn, key, r);
        if (rc) {
            if (a->resync_salt == salt)
                a->resync_salt = NULL;
            goto out;
        }
        ev.op = NXC_EVENT_UPSERT;
        ev.hlc = r->plane[0].hlc > r->plane[1].hlc ? r->plane[0].hlc : r->plane[1].hlc;
        event_ident(&ev, a, t, ns, name);
        rc = event_planes_from(&ev, r);
        for (int p = 0; !rc && p < NXC_PLANE_COUNT; p++) {
            ev.plane[p].data = content[p];
            content[p] = NULL;
        }
        if (!rc)
            rc = publish_event(a, txn, &ev, key, newly);
        if (a->resync_salt == salt)
            a->resync_salt = NULL;
        goto out;
    }
    if (!changed) {
        atomic_fetch_add(&a->stats.echoes, 1);
        rc = nxc_store_put(txn, key, r);
        goto out;
    }
    ev.hlc = nxc_hlc_now(&a->hlc);
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        if (!(changed & (1u << p)))
            continue;
        rc = nxc_vv_bump(r->plane[p].vv, a->cfg->runtime_id);
        if (rc)
            goto out;
        r->plane[p].hlc = ev.hlc;
        snprintf(r->plane[p].by, sizeof(r->plane[p].by), "%s", a->cfg->runtime_id);
        memcpy(r->plane[p].hash, hash[p], NXC_CODEC_HASH_LEN);
        r->plane[p].has_hash = 1;
    }
    r->tombstone = 0;
    r->tombstone_at = 0;
    if (!r->origin[0])
        snprintf(r->origin, sizeof(r->origin), "%s", a->cfg->runtime_id);
    rc = nxc_store_put(txn, key, r);
    if (rc)
        goto out;
    ev.op = NXC_EVENT_UPSERT;
    event_ident(&ev, a, t, ns, name);
    rc = event_planes_from(&ev, r);
    if (rc)
        goto out;
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        ev.plane[p].data = content[p];
        content[p] = NULL;
    }
    rc = publish_event(a, txn, &ev, key, want);
    if (rc)
        goto out;
    intent_track(a, t, obj, key, want, 1);
    atomic_fetch_add(&a->stats.local_changes, 1);
    {
        char *svv = nxc_vv_format(r->plane[0].vv), *tvv = nxc_vv_format(r->plane[1].vv);

        NXC_INFO("agent", "event=local-change op=upsert key=%s planes=%s spec_vv=%s status_vv=%s",
                 key, plane_names(changed), svv ? svv : "", tvv ? tvv : "");
        free(svv);
        free(tvv);
    }
    if (changed_out)
        *changed_out = changed;
out:
    for (int p = 0; p < NXC_PLANE_COUNT; p++)
        json_decref(content[p]);
    nxc_event_clear(&ev);
    nxc_store_rec_free(r);
    return rc;
}

/* A local object is gone: record a tombstone (a spec-plane change) and publish the delete. */
static int local_delete(agent *a, nxc_store_txn *txn, type_state *t, const char *key,
                        const char *ns, const char *name)
{
    nxc_store_rec *r = NULL;
    nxc_event ev;
    int rc;

    memset(&ev, 0, sizeof(ev));
    rc = nxc_store_get(txn, key, &r);
    if (rc == NXC_ENOTFOUND)
        return NXC_OK;
    if (rc)
        return rc;
    if (r->tombstone) { /* the echo of a delete we applied */
        atomic_fetch_add(&a->stats.echoes, 1);
        intent_untrack(a, key);
        goto out;
    }
    ev.hlc = nxc_hlc_now(&a->hlc);
    rc = nxc_vv_bump(r->plane[NXC_PLANE_SPEC].vv, a->cfg->runtime_id);
    if (rc)
        goto out;
    r->plane[NXC_PLANE_SPEC].hlc = ev.hlc;
    snprintf(r->plane[NXC_PLANE_SPEC].by, sizeof(r->plane[0].by), "%s", a->cfg->runtime_id);
    r->tombstone = 1;
    r->tombstone_at = (uint64_t)now_ms();
    rc = nxc_store_put(txn, key, r);
    if (rc)
        goto out;
    ev.op = NXC_EVENT_DELETE;
    event_ident(&ev, a, t, ns, name);
    rc = event_planes_from(&ev, r);
    if (rc)
        goto out;
    rc = publish_event(a, txn, &ev, key, sent_to(a, t, r));
    if (rc)
        goto out;
    intent_untrack(a, key);
    atomic_fetch_add(&a->stats.local_changes, 1);
    {
        char *svv = nxc_vv_format(r->plane[0].vv);

        NXC_INFO("agent", "event=local-change op=delete key=%s spec_vv=%s", key, svv ? svv : "");
        free(svv);
    }
out:
    nxc_event_clear(&ev);
    nxc_store_rec_free(r);
    return rc;
}

int agent_local_upsert(agent *a, nxc_store_txn *txn, type_state *t, json_t *obj)
{
    return local_upsert(a, txn, t, obj, NULL);
}

/* Splits a store key "group/resource/ns/name" into ns and name (pointers into buf). */
static int split_key(const char *key, char *buf, size_t len, const char **ns, const char **name)
{
    char *p;

    if (strlen(key) >= len)
        return -1;
    memcpy(buf, key, strlen(key) + 1);
    p = strchr(buf, '/');
    if (!p)
        return -1;
    p = strchr(p + 1, '/');
    if (!p)
        return -1;
    *ns = p + 1;
    p = strchr(p + 1, '/');
    if (!p)
        return -1;
    *p = '\0';
    *name = p + 1;
    return 0;
}

struct absent {
    nxc_strmap *seen;
    const char *list_rv; /* the list's resourceVersion */
    char **keys;
    size_t n, cap;
};

static int collect_absent(void *ctx, const char *key, const nxc_store_rec *r)
{
    struct absent *ab = ctx;
    char **grown;

    int seen;

    nxc_strmap_get(ab->seen, key, &seen);
    if (r->tombstone || seen)
        return 0;
    /* written after the list's snapshot (by an apply that raced the list): not a delete */
    if (ab->list_rv && rv_not_newer(ab->list_rv, r->rv) && strcmp(ab->list_rv, r->rv) != 0)
        return 0;
    if (ab->n == ab->cap) {
        ab->cap = ab->cap ? ab->cap * 2 : 64;
        grown = realloc(ab->keys, ab->cap * sizeof(char *));
        if (!grown)
            return NXC_ENOMEM;
        ab->keys = grown;
    }
    ab->keys[ab->n] = strdup(key);
    if (!ab->keys[ab->n])
        return NXC_ENOMEM;
    ab->n++;
    return 0;
}

/* A complete list of t ended: every live record of t the list did not show was deleted
 * while nobody watched. */
static int list_end(agent *a, nxc_store_txn *txn, type_state *t, nxc_strmap *seen,
                    const char *list_rv)
{
    struct absent ab = {seen, list_rv, NULL, 0, 0};
    int rc;

    rc = nxc_store_foreach(txn, t->prefix, collect_absent, &ab);
    for (size_t i = 0; i < ab.n; i++) {
        char buf[640];
        const char *ns, *name;

        if (!rc && split_key(ab.keys[i], buf, sizeof(buf), &ns, &name) == 0)
            rc = local_delete(a, txn, t, ab.keys[i], ns, name);
        free(ab.keys[i]);
    }
    free(ab.keys);
    nxc_strmap_clear(seen);
    atomic_fetch_add(&a->stats.relists, 1);
    atomic_store(&t->listed, 1);
    if (t->rescan_pending) {
        t->rescan_pending = 0;
        a->scope_dirty = 1; /* the intent may have changed while the list ran */
    }
    return rc;
}

/* Builds a new object for t from an event's planes. */
static json_t *object_from_event(const type_state *t, const nxc_event *ev)
{
    json_t *obj = json_object(), *meta = json_object();
    char api[320];

    if (!obj || !meta)
        goto fail;
    if (*t->gvr.group)
        snprintf(api, sizeof(api), "%s/%s", t->gvr.group, t->gvr.version);
    else
        snprintf(api, sizeof(api), "%s", t->gvr.version);
    json_object_set_new(obj, "apiVersion", json_string(api));
    json_object_set_new(obj, "kind", json_string(ev->kind[0] ? ev->kind : t->kind));
    json_object_set_new(meta, "name", json_string(ev->name));
    if (ev->ns[0])
        json_object_set_new(meta, "namespace", json_string(ev->ns));
    json_object_set_new(obj, "metadata", meta);
    meta = NULL;
    for (int p = 0; p < NXC_PLANE_COUNT; p++)
        if (ev->plane[p].data && nxc_codec_plane_put(obj, p, ev->plane[p].data) != NXC_OK)
            goto fail;
    return obj;
fail:
    json_decref(meta);
    json_decref(obj);
    return NULL;
}

/* The content that lost a conflict, for the record (cut to a readable size). */
static void log_lost(const char *key, int plane, const char *by, const json_t *content)
{
    char *text = content ? json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    NXC_WARN("agent", "event=conflict-lost key=%s plane=%s by=%s content=%.2048s%s", key,
             plane ? "status" : "spec", by, text ? text : "null",
             text && strlen(text) > 2048 ? "..." : "");
    free(text);
}

/* Which planes of an upsert to take, and whether any plane was concurrent. */
static unsigned decide_upsert(agent *a, const nxc_event *ev, const nxc_store_rec *r,
                              const char *key, unsigned *concurrent)
{
    unsigned take = 0;

    *concurrent = 0;
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        enum nxc_vv_order o = nxc_vv_compare(ev->plane[p].vv, r->plane[p].vv);

        if (o == NXC_VV_DOMINATES) {
            take |= 1u << p;
        } else if (o == NXC_VV_CONCURRENT) {
            int in_wins =
                nxc_vv_a_wins(ev->plane[p].hlc, ev->plane[p].by, r->plane[p].hlc, r->plane[p].by);

            *concurrent |= 1u << p;
            if (in_wins)
                take |= 1u << p;
            NXC_WARN("agent",
                     "event=conflict key=%s plane=%s winner=%s loser=%s winner_hlc=%" PRIu64, key,
                     p ? "status" : "spec", in_wins ? ev->plane[p].by : r->plane[p].by,
                     in_wins ? r->plane[p].by : ev->plane[p].by,
                     in_wins ? ev->plane[p].hlc : r->plane[p].hlc);
            if (!in_wins)
                log_lost(key, p, ev->plane[p].by, ev->plane[p].data);
            intent_conflict(a, key, in_wins ? ev->plane[p].by : r->plane[p].by);
        }
    }
    return take;
}

/* Records in r that planes in mask took the event's version (hash from the written object). */
static int rec_take(nxc_store_rec *r, const nxc_event *ev, unsigned take, unsigned concurrent,
                    const json_t *written)
{
    for (int p = 0; p < NXC_PLANE_COUNT; p++) {
        int rc;

        if (!((take | concurrent) & (1u << p)))
            continue;
        rc = nxc_vv_merge(r->plane[p].vv, ev->plane[p].vv);
        if (rc)
            return rc;
        if (!(take & (1u << p)))
            continue;
        r->plane[p].hlc = ev->plane[p].hlc;
        memcpy(r->plane[p].by, ev->plane[p].by, sizeof(r->plane[p].by));
        if (written) {
            json_t *c = NULL;

            rc = nxc_codec_plane_get(written, p, &c);
            if (!rc)
                rc = nxc_codec_hash(c, r->plane[p].hash);
            json_decref(c);
            if (rc)
                return rc;
        } else {
            memcpy(r->plane[p].hash, ev->plane[p].hash, NXC_CODEC_HASH_LEN);
        }
        r->plane[p].has_hash = 1;
    }
    return NXC_OK;
}

/* Outcome of one remote message. */
typedef struct outcome {
    enum action act;
    long delay_ms;
} outcome;

static outcome retry_later(long ms)
{
    return (outcome){ACT_NAK, ms};
}

/* Maps a runtime error while applying to what happens to the message. */
static outcome apply_failed(agent *a, const nxc_event *ev, const char *key, const char *what,
                            int rc)
{
    char type[520], msg[256];

    snprintf(type, sizeof(type), "%s.%s", ev->resource, ev->group);
    if (rc == NXC_EINVALID && strcmp(what, "read") == 0) {
        /* the object as this runtime holds it cannot be read (it is not the content that
         * was refused): the message waits until the object can be read again */
        NXC_WARN("agent", "event=apply-waiting key=%s op=%s reason=unreadable err=%s", key, what,
                 nxc_log_q(nxc_error_last()));
        return retry_later(5000);
    }
    if (rc == NXC_EFORBIDDEN) {
        /* RBAC answers before the type is looked up: a 403 hides a type this runtime does
         * not serve, which the type's own list has found out */
        type_state *t = agent_type_find(a, ev->group, ev->resource);

        if (t && atomic_load(&t->missing)) {
            snprintf(msg, sizeof(msg), "%s", nxc_error_last());
            rc = nxc_error_set(NXC_ENOTFOUND, "%s is not installed here (%s)", type, msg);
        }
    }
    snprintf(msg, sizeof(msg), "%s", nxc_error_last());
    if (rc == NXC_EINVALID || rc == NXC_ENOTFOUND || rc == NXC_EFORBIDDEN)
        agent_problem_clear(a, ev->origin, type, ""); /* the type's problem is this one now */
    if (rc == NXC_EINVALID)
        agent_problem_set(a, PROBLEM_REJECTED, ev->origin, key, msg);
    else if (rc == NXC_ENOTFOUND)
        agent_problem_set(a, PROBLEM_TYPE_MISSING, ev->origin, type, msg);
    else if (rc == NXC_EFORBIDDEN)
        agent_problem_set(a, PROBLEM_FORBIDDEN, ev->origin, type, msg);
    switch (rc) {
    case NXC_EINVALID:
        /* the runtime will never take this content; a later change of the object will
         * bring a new message. Counted and reported, not retried in a loop. */
        atomic_fetch_add(&a->stats.apply_errors, 1);
        NXC_ERROR("agent", "event=apply-rejected key=%s op=%s err=%s", key, what,
                  nxc_log_q(nxc_error_last()));
        return (outcome){ACT_ACK, 0};
    case NXC_ENOTFOUND:
        NXC_WARN("agent", "event=apply-waiting key=%s op=%s reason=type-not-installed err=%s", key,
                 what, nxc_log_q(nxc_error_last()));
        return retry_later(5000);
    case NXC_EFORBIDDEN:
        NXC_WARN("agent", "event=apply-waiting key=%s op=%s reason=forbidden err=%s", key, what,
                 nxc_log_q(nxc_error_last()));
        return retry_later(5000);
    default:
        NXC_WARN("agent", "event=apply-waiting key=%s op=%s reason=%s err=%s", key, what,
                 nxc_error_name(rc), nxc_log_q(nxc_error_last()));
        return retry_later(2000);
    }
}

static void problem_clear(agent *a, const nxc_event *ev, const char *key)
{
    char type[520];

    snprintf(type, sizeof(type), "%s.%s", ev->resource, ev->group);
    agent_problem_clear(a, ev->origin, type, key);
}

/* Writes the planes in take into the runtime. *cur is the current object (NULL: create). On
 * success *written is the object as the runtime holds it now. */
static int write_planes(agent *a, type_state *t, const nxc_event *ev, json_t *cur, unsigned take,
                        json_t **written)
{
    json_t *obj = NULL, *resp = NULL, *resp2 = NULL;
    const char *ns = ev->ns[0] ? ev->ns : NULL;
    int rc;

    *written = NULL;
    if (!cur) {
        obj = object_from_event(t, ev);
        if (!obj)
            return nxc_error_set(NXC_ENOMEM, "could not build the object");
        rc = nxc_kube_create(a->kube, &t->gvr, ns, obj, &resp);
        atomic_fetch_add(&a->stats.runtime_writes, 1);
        if (rc)
            goto out;
    } else {
        obj = json_deep_copy(cur);
        if (!obj)
            return nxc_error_set(NXC_ENOMEM, "out of memory");
        for (int p = 0; p < NXC_PLANE_COUNT; p++) {
            if (!(take & (1u << p)))
                continue;
            rc = nxc_codec_plane_put(obj, p, ev->plane[p].data);
            if (rc)
                goto out;
        }
        if (take & 1u) {
            rc = nxc_kube_update(a->kube, &t->gvr, ns, obj, &resp);
            atomic_fetch_add(&a->stats.runtime_writes, 1);
            if (rc)
                goto out;
        } else {
            resp = json_incref(obj);
        }
    }
    /* status goes through the /status subresource; a type without one took it above */
    if ((take & 2u) || !cur) {
        json_t *st = ev->plane[NXC_PLANE_STATUS].data;

        if ((take & 2u) && st && json_object_size(st) > 0) {
            json_t *copy = json_deep_copy(resp);

            rc = copy ? nxc_codec_plane_put(copy, NXC_PLANE_STATUS, st) : NXC_ENOMEM;
            if (!rc) {
                rc = nxc_kube_update_status(a->kube, &t->gvr, ns, copy, &resp2);
                atomic_fetch_add(&a->stats.runtime_writes, 1);
            }
            json_decref(copy);
            if (rc == NXC_ENOTFOUND && cur)
                rc = NXC_OK; /* no status subresource: the update carried it */
            if (rc)
                goto out;
        }
    }
    *written = resp2 ? resp2 : resp;
    if (resp2)
        json_decref(resp);
    resp = resp2 = NULL;
    rc = NXC_OK;
out:
    json_decref(obj);
    json_decref(resp);
    json_decref(resp2);
    return rc;
}

/* Replay before its starting point: the record learns the message's version, the runtime is
 * not touched (see agent_replay). */
static outcome record_only(agent *a, nxc_store_txn *txn, const nxc_event *ev, const char *key)
{
    nxc_store_rec *r = NULL;
    unsigned take, conc;
    int fresh, rc;

    rc = get_rec(txn, key, &r, &fresh);
    if (rc)
        goto fail;
    if (ev->op == NXC_EVENT_DELETE) {
        take = nxc_vv_compare(ev->plane[0].vv, r->plane[0].vv) == NXC_VV_DOMINATES;
        rc = nxc_vv_merge(r->plane[0].vv, ev->plane[0].vv);
        if (!rc && take) {
            r->tombstone = 1;
            r->plane[0].hlc = ev->plane[0].hlc;
            memcpy(r->plane[0].by, ev->plane[0].by, sizeof(r->plane[0].by));
        }
    } else {
        take = decide_upsert(a, ev, r, key, &conc);
        rc = rec_take(r, ev, take, conc, NULL);
        if (take & 1u)
            r->tombstone = 0;
    }
    if (!rc)
        rc = nxc_store_put(txn, key, r);
fail:
    nxc_store_rec_free(r);
    return rc ? retry_later(1000) : (outcome){ACT_ACK, 0};
}

static outcome remote_upsert(agent *a, nxc_store_txn *txn, type_state *t, const nxc_event *ev,
                             const char *key)
{
    const char *ns = ev->ns[0] ? ev->ns : NULL;
    nxc_store_rec *r = NULL;
    json_t *cur = NULL, *written = NULL;
    outcome out = {ACT_ACK, 0};
    unsigned take = 0, conc = 0;
    int fresh = 0, rc, created = 0, blind;

    /* an object this runtime never had: create it straight away (one request, the common case
     * of an initial replication); if it exists after all, the loop reads and re-decides */
    rc = nxc_store_get(txn, key, &r);
    blind = rc == NXC_ENOTFOUND;
    nxc_store_rec_free(r);
    r = NULL;
    if (rc && rc != NXC_ENOTFOUND)
        goto fail_store;
    for (int attempt = 0; attempt < APPLY_RETRIES; attempt++) {
        json_decref(cur);
        cur = NULL;
        nxc_store_rec_free(r);
        r = NULL;
        /* read the object first: a local change the loop has not seen yet is recorded now, so
         * the decision below sees it (and a concurrent edit is resolved, not overwritten) */
        rc = blind ? NXC_ENOTFOUND : nxc_kube_get(a->kube, &t->gvr, ns, ev->name, &cur);
        blind = 0;
        if (rc == NXC_OK && !a->replaying) {
            rc = local_upsert(a, txn, t, cur, NULL);
            if (rc)
                goto fail_store;
        } else if (rc != NXC_OK && rc != NXC_ENOTFOUND) {
            out = apply_failed(a, ev, key, "read", rc);
            goto done;
        }
        rc = get_rec(txn, key, &r, &fresh);
        if (rc)
            goto fail_store;
        if (!cur && !fresh && !r->tombstone && !a->replaying) {
            /* gone locally and the watch has not told us yet: that is a local delete */
            rc = local_delete(a, txn, t, key, ns, ev->name);
            if (rc)
                goto fail_store;
            continue;
        }
        take = decide_upsert(a, ev, r, key, &conc);
        if (fresh && cur && take)
            NXC_INFO("agent",
                     "event=adopted key=%s from=%s reason=\"an object of that name existed here, "
                     "not replicated; the peer's version replaces it\"",
                     key, ev->origin);
        for (int p = 0; cur && p < NXC_PLANE_COUNT; p++) {
            json_t *mine = NULL;

            if (!((conc & take) & (1u << p)) || nxc_codec_plane_get(cur, p, &mine) != NXC_OK)
                continue;
            log_lost(key, p, r->plane[p].by, mine);
            json_decref(mine);
        }
        if (!cur && !(take & 1u)) {
            /* our delete stands against this edit, or the edit is old: nothing to create */
            take = 0;
        }
        if (!take)
            break;
        rc = write_planes(a, t, ev, cur, cur ? take : (take | 1u), &written);
        if (rc == NXC_ECONFLICT || (rc == NXC_EEXISTS && !cur))
            continue; /* re-read and re-decide */
        if (rc) {
            out = apply_failed(a, ev, key, cur ? "update" : "create", rc);
            goto done;
        }
        created = !cur;
        break;
    }
    if (take && !written) {
        out = retry_later(1000);
        goto done;
    }
    if (!take && !conc) {
        atomic_fetch_add(&a->stats.skipped_stale, 1);
        NXC_DEBUG("agent", "event=skip-stale key=%s from=%s", key, ev->origin);
        goto done;
    }
    if (conc)
        atomic_fetch_add(&a->stats.conflicts, 1);
    if (!r)
        goto done;
    if (created)
        take |= 1u;
    rc = rec_take(r, ev, take, conc, written);
    if (rc)
        goto fail_store;
    if (written) {
        rec_set_meta(r, written);
        r->tombstone = 0;
        r->tombstone_at = 0;
        if (created)
            r->flags |= NXC_STORE_F_CREATED_BY_CONNECTOR;
    }
    if (!r->origin[0])
        snprintf(r->origin, sizeof(r->origin), "%s", ev->origin);
    rc = nxc_store_put(txn, key, r);
    if (rc)
        goto fail_store;
    if (take) {
        char *svv = nxc_vv_format(r->plane[0].vv), *tvv = nxc_vv_format(r->plane[1].vv);

        atomic_fetch_add(&a->stats.applied, 1);
        problem_clear(a, ev, key);
        intent_track_applied(a, t, written, key);
        NXC_INFO("agent", "event=applied op=%s key=%s from=%s planes=%s spec_vv=%s status_vv=%s",
                 created ? "create" : "update", key, ev->origin, plane_names(take), svv ? svv : "",
                 tvv ? tvv : "");
        free(svv);
        free(tvv);
    }
    goto done;
fail_store:
    NXC_ERROR("agent", "event=store-error key=%s err=%s", key, nxc_log_q(nxc_error_last()));
    out = retry_later(1000);
done:
    json_decref(cur);
    json_decref(written);
    nxc_store_rec_free(r);
    return out;
}

static outcome remote_delete(agent *a, nxc_store_txn *txn, type_state *t, const nxc_event *ev,
                             const char *key)
{
    const char *ns = ev->ns[0] ? ev->ns : NULL;
    nxc_store_rec *r = NULL;
    json_t *cur = NULL;
    outcome out = {ACT_ACK, 0};
    enum nxc_vv_order o;
    int fresh, rc, del = 0;

    rc = nxc_kube_get(a->kube, &t->gvr, ns, ev->name, &cur);
    if (rc == NXC_OK && !a->replaying) {
        rc = local_upsert(a, txn, t, cur, NULL);
        if (rc)
            goto fail_store;
    } else if (rc != NXC_OK && rc != NXC_ENOTFOUND) {
        out = apply_failed(a, ev, key, "read", rc);
        goto done;
    }
    rc = get_rec(txn, key, &r, &fresh);
    if (rc)
        goto fail_store;
    o = nxc_vv_compare(ev->plane[NXC_PLANE_SPEC].vv, r->plane[NXC_PLANE_SPEC].vv);
    if (o == NXC_VV_DOMINATES) {
        del = 1;
    } else if (o == NXC_VV_CONCURRENT) {
        del = nxc_vv_a_wins(ev->plane[0].hlc, ev->plane[0].by, r->plane[0].hlc, r->plane[0].by);
        atomic_fetch_add(&a->stats.conflicts, 1);
        NXC_WARN("agent", "event=conflict key=%s plane=spec winner=%s loser=%s op=delete", key,
                 del ? ev->plane[0].by : r->plane[0].by, del ? r->plane[0].by : ev->plane[0].by);
        intent_conflict(a, key, del ? ev->plane[0].by : r->plane[0].by);
    } else {
        atomic_fetch_add(&a->stats.skipped_stale, 1);
        goto done;
    }
    if (del && cur && !r->tombstone) {
        rc = nxc_kube_delete(a->kube, &t->gvr, ns, ev->name, r->uid[0] ? r->uid : NULL);
        atomic_fetch_add(&a->stats.runtime_writes, 1);
        if (rc && rc != NXC_ENOTFOUND) {
            if (rc == NXC_ECONFLICT || rc == NXC_EINVALID)
                out = retry_later(500); /* uid changed under us: re-decide */
            else
                out = apply_failed(a, ev, key, "delete", rc);
            goto done;
        }
    }
    rc = nxc_vv_merge(r->plane[NXC_PLANE_SPEC].vv, ev->plane[NXC_PLANE_SPEC].vv);
    if (!rc)
        rc = nxc_vv_merge(r->plane[NXC_PLANE_STATUS].vv, ev->plane[NXC_PLANE_STATUS].vv);
    if (rc)
        goto fail_store;
    if (del) {
        r->plane[0].hlc = ev->plane[0].hlc;
        memcpy(r->plane[0].by, ev->plane[0].by, sizeof(r->plane[0].by));
        r->tombstone = 1;
        r->tombstone_at = (uint64_t)now_ms();
    }
    if (!r->origin[0])
        snprintf(r->origin, sizeof(r->origin), "%s", ev->origin);
    rc = nxc_store_put(txn, key, r);
    if (rc)
        goto fail_store;
    if (del) {
        atomic_fetch_add(&a->stats.applied, 1);
        problem_clear(a, ev, key);
        intent_untrack(a, key);
        NXC_INFO("agent", "event=applied op=delete key=%s from=%s", key, ev->origin);
    }
    goto done;
fail_store:
    NXC_ERROR("agent", "event=store-error key=%s err=%s", key, nxc_log_q(nxc_error_last()));
    out = retry_later(1000);
done:
    json_decref(cur);
    nxc_store_rec_free(r);
    return out;
}

/* The origin stopped replicating an object to us: forget the record; for "retract" also
 * remove the replica if the connector created it here. */
static outcome remote_release(agent *a, nxc_store_txn *txn, type_state *t, const nxc_event *ev,
                              const char *key)
{
    const char *ns = ev->ns[0] ? ev->ns : NULL;
    nxc_store_rec *r = NULL;
    outcome out = {ACT_ACK, 0};
    int rc, removed = 0;

    rc = nxc_store_get(txn, key, &r);
    if (rc == NXC_ENOTFOUND)
        return out;
    if (rc)
        goto fail_store;
    if (strcmp(r->origin, ev->origin) != 0 || r->tombstone) {
        /* not the origin's to release (or already gone): nothing to do */
        goto done;
    }
    if (ev->op == NXC_EVENT_RETRACT && (r->flags & NXC_STORE_F_CREATED_BY_CONNECTOR) &&
        !a->replaying) {
        rc = nxc_kube_delete(a->kube, &t->gvr, ns, ev->name, r->uid[0] ? r->uid : NULL);
        atomic_fetch_add(&a->stats.runtime_writes, 1);
        if (rc && rc != NXC_ENOTFOUND && rc != NXC_ECONFLICT && rc != NXC_EINVALID) {
            out = apply_failed(a, ev, key, "delete", rc);
            goto done;
        }
        removed = rc == NXC_OK;
    }
    rc = nxc_store_del(txn, key);
    if (rc)
        goto fail_store;
    intent_untrack(a, key);
    atomic_fetch_add(&a->stats.released, 1);
    NXC_INFO("agent", "event=released-by-peer key=%s from=%s op=%s replica=%s", key, ev->origin,
             nxc_event_op_name(ev->op), removed ? "deleted" : "kept");
    goto done;
fail_store:
    NXC_ERROR("agent", "event=store-error key=%s err=%s", key, nxc_log_q(nxc_error_last()));
    out = retry_later(1000);
done:
    nxc_store_rec_free(r);
    return out;
}

int agent_apply_message(agent *a, nxc_store_txn *txn, const void *data, size_t len,
                        const char *from, uint64_t seq, long *retry_ms)
{
    nxc_event ev;
    char key[640];
    type_state *t;
    outcome out = {ACT_ACK, 0};
    int rc;

    *retry_ms = 0;
    rc = nxc_event_decode(data, len, &ev);
    if (rc) {
        atomic_fetch_add(&a->stats.malformed, 1);
        NXC_ERROR("agent", "event=malformed-message from=%s seq=%" PRIu64 " err=%s", from, seq,
                  nxc_log_q(nxc_error_last()));
        return 0; /* it can never be applied; keeping it would stall the peer's stream */
    }
    /* our own change coming back is never applied — except when rebuilding from our stream */
    if (strcmp(ev.origin, a->cfg->runtime_id) == 0 && !a->replaying)
        goto done;
    nxc_hlc_observe(&a->hlc, ev.hlc);
    t = agent_type_find(a, ev.group, ev.resource);
    if (t && t->role != ROLE_STATIC && t->role != ROLE_DYNAMIC) {
        NXC_WARN("agent", "event=skip-control-type group=%s resource=%s name=%s from=%s", ev.group,
                 ev.resource, ev.name, ev.origin);
        goto done;
    }
    if (!t) {
        /* a type the peer replicates to us: watch it from now on, so edits made here flow
         * back (the event names its version and kind) */
        t = agent_type_add(a, ROLE_DYNAMIC, ev.group, ev.version, ev.resource, ev.kind,
                           ev.ns[0] != '\0', !a->replaying);
        if (!t) {
            NXC_ERROR("agent", "event=type-add-failed group=%s resource=%s err=%s", ev.group,
                      ev.resource, nxc_log_q(nxc_error_last()));
            out = retry_later(30000);
            goto done;
        }
    }
    if (make_key(ev.group, ev.resource, ev.ns, ev.name, key, sizeof(key)) != NXC_OK)
        goto done;
    if (ev.op == NXC_EVENT_RELEASE || ev.op == NXC_EVENT_RETRACT)
        out = remote_release(a, txn, t, &ev, key);
    else if (a->replay_record_only)
        out = record_only(a, txn, &ev, key);
    else if (ev.op == NXC_EVENT_DELETE)
        out = remote_delete(a, txn, t, &ev, key);
    else
        out = remote_upsert(a, txn, t, &ev, key);
done:
    nxc_event_clear(&ev);
    if (out.act == ACT_NAK) {
        *retry_ms = out.delay_ms;
        return 1;
    }
    return 0;
}

static outcome handle_remote(agent *a, nxc_store_txn *txn, item *it)
{
    long retry_ms;
    int rc;

    if (agent_apply_message(a, txn, nxc_bus_msg_data(it->msg), nxc_bus_msg_len(it->msg),
                            it->peer->cfg->id, nxc_bus_msg_seq(it->msg), &retry_ms))
        return retry_later(retry_ms);
    {
        /* the highest sequence applied (a retried message may come after later ones) */
        uint64_t seq = nxc_bus_msg_seq(it->msg), had = 0;

        rc = nxc_store_pos_get(txn, it->peer->position, &had);
        rc = (rc == NXC_OK || rc == NXC_ENOTFOUND)
                 ? (seq > had ? nxc_store_pos_put(txn, it->peer->position, seq) : NXC_OK)
                 : rc;
    }
    return rc ? retry_later(1000) : (outcome){ACT_ACK, 0};
}

static int handle_watch(agent *a, nxc_store_txn *txn, item *it)
{
    type_state *t = it->type;

    if (t->role == ROLE_CRDS || t->role == ROLE_CONFIGS)
        return intent_watch(a, it);
    const char *name = str_at(it->obj, "metadata", "name");
    const char *ns = str_at(it->obj, "metadata", "namespace");
    char key[640];

    if (!name)
        return NXC_OK;
    if (make_key(t->gvr.group, t->gvr.resource, ns, name, key, sizeof(key)) != NXC_OK)
        return nxc_error_set(NXC_ELIMIT, "object key too long: %s", name);
    if (it->ev == 0 && nxc_strmap_put(t->seen, key, t) != 0) /* seen by a complete list */
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    if (it->ev == NXC_KUBE_DELETED)
        return local_delete(a, txn, t, key, ns, name);
    return local_upsert(a, txn, t, it->obj, NULL);
}

/* Keeps the set of a peer's messages that wait for a retry (for the floor we report). */
static void note_waiting(peer_state *p, uint64_t seq, int waiting)
{
    size_t i;

    pthread_mutex_lock(&p->wait_mu);
    for (i = 0; i < p->nwaiting && p->waiting[i] != seq; i++)
        ;
    if (!waiting && i < p->nwaiting) {
        p->waiting[i] = p->waiting[--p->nwaiting];
    } else if (waiting && i == p->nwaiting) {
        if (p->nwaiting == p->capwaiting) {
            size_t cap = p->capwaiting ? p->capwaiting * 2 : 64;
            uint64_t *grown = realloc(p->waiting, cap * sizeof(*grown));

            if (grown) {
                p->waiting = grown;
                p->capwaiting = cap;
            }
        }
        if (p->nwaiting < p->capwaiting)
            p->waiting[p->nwaiting++] = seq;
    }
    pthread_mutex_unlock(&p->wait_mu);
}

/* Acks or naks the peer messages of a committed segment. */
static void settle(item **items, const outcome *outs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        item *it = items[i];

        if (it->q.kind != ITEM_REMOTE)
            continue;
        note_waiting(it->peer, nxc_bus_msg_seq(it->msg), outs[i].act != ACT_ACK);
        if (outs[i].act == ACT_ACK) {
            nxc_bus_msg_ack(it->msg);
        } else {
            /* a message that keeps failing waits longer each time (up to a minute): no hot
             * retry loop, and it is never dropped */
            uint64_t tries = nxc_bus_msg_delivered(it->msg);
            long delay = outs[i].delay_ms;

            for (uint64_t k = 1; k < tries && delay < 60000; k++)
                delay *= 2;
            nxc_bus_msg_nak(it->msg, delay < 60000 ? delay : 60000);
        }
        consume_finished(it->peer, 1);
    }
}

struct resync_ctx {
    agent *a;
    nxc_store_txn *txn;
    type_state *t;
    size_t sent;
};

static int resync_item(void *ctx, json_t *obj)
{
    struct resync_ctx *r = ctx;

    r->sent++;
    return local_upsert(r->a, r->txn, r->t, obj, NULL);
}

static int resync_tombstone(void *ctx, const char *key, const nxc_store_rec *rec)
{
    struct resync_ctx *r = ctx;
    nxc_event ev;
    char buf[640];
    const char *ns, *name;
    int rc;

    if (!rec->tombstone || split_key(key, buf, sizeof(buf), &ns, &name) != 0)
        return 0;
    memset(&ev, 0, sizeof(ev));
    ev.op = NXC_EVENT_DELETE;
    ev.hlc = rec->plane[0].hlc;
    event_ident(&ev, r->a, r->t, ns, name);
    rc = event_planes_from(&ev, rec);
    if (!rc)
        rc = publish_event(r->a, r->txn, &ev, key, sent_to(r->a, r->t, rec));
    nxc_event_clear(&ev);
    r->sent++;
    return rc;
}

/*
 * A peer found that messages of our stream were discarded (stream limits) before it read
 * them: publish the current version of every object of every type again, deletes included,
 * with message ids of their own so the stream's duplicate window does not drop them.
 */
static int resync(agent *a, nxc_store_txn *txn, const char *peer)
{
    char salt[32];
    size_t total = 0;
    int rc = NXC_OK;

    snprintf(salt, sizeof(salt), "resync-%lld", (long long)now_ms());
    a->resync_salt = salt;
    for (size_t i = 0; i < atomic_load(&a->ntypes) && !rc; i++) {
        type_state *t = &a->types[i];
        struct resync_ctx c = {a, txn, t, 0};
        char *rv = NULL;

        if ((t->role != ROLE_STATIC && t->role != ROLE_DYNAMIC) || atomic_load(&t->missing) ||
            !t->kind[0])
            continue;
        rc = nxc_kube_list(a->kube, &t->gvr, NULL, resync_item, NULL, &c, &rv);
        free(rv);
        if (!rc)
            rc = nxc_store_foreach(txn, t->prefix, resync_tombstone, &c);
        total += c.sent;
    }
    a->resync_salt = NULL;
    if (rc)
        NXC_ERROR("agent", "event=resync-failed peer=%s err=%s", peer, nxc_log_q(nxc_error_last()));
    else
        NXC_INFO("agent", "event=resync peer=%s republished=%zu", peer, total);
    return rc;
}

/* Handles items[0..n) in one transaction, but ends it early after a peer message that wrote
 * to the runtime, so that a write and its record are never apart for more than one object
 * (a crash in between would make the object look like a local change at the next start).
 * Sets *used to the number of items handled. Returns 0, or -1 when the store failed. */
static int run_segment(agent *a, item **items, size_t n, outcome *outs, size_t *used)
{
    nxc_store_txn *txn = NULL;
    size_t i;
    int rc;

    *used = 0;
    rc = nxc_store_txn_begin(a->store, 0, &txn);
    if (rc) {
        NXC_ERROR("agent", "event=store-error err=%s", nxc_log_q(nxc_error_last()));
        return -1;
    }
    for (i = 0; i < n; i++) {
        item *it = items[i];
        nxc_store_txn *item_txn = NULL;
        size_t pubs = publish_batch_mark();
        unsigned long long writes = atomic_load(&a->stats.runtime_writes);
        int wrote = 0;

        outs[i] = (outcome){ACT_ACK, 0};
        /* each item in its own child transaction: a failure undoes that item only */
        rc = nxc_store_txn_nested(txn, &item_txn);
        if (rc) {
            NXC_ERROR("agent", "event=store-error err=%s", nxc_log_q(nxc_error_last()));
            nxc_store_txn_abort(txn);
            publish_batch_discard();
            return -1;
        }
        switch (it->q.kind) {
        case ITEM_WATCH:
            rc = handle_watch(a, item_txn, it);
            if (rc)
                NXC_ERROR("agent", "event=local-change-failed err=%s", nxc_log_q(nxc_error_last()));
            break;
        case ITEM_LIST_BEGIN:
            nxc_strmap_clear(it->type->seen);
            rc = NXC_OK;
            break;
        case ITEM_LIST_END:
            if (it->type->role == ROLE_CRDS || it->type->role == ROLE_CONFIGS)
                rc = intent_list_end(a, it->type);
            else
                rc = list_end(a, item_txn, it->type, it->type->seen, it->msg_id);
            if (rc)
                NXC_ERROR("agent", "event=relist-failed type=%s err=%s", it->type->gvr.resource,
                          nxc_log_q(nxc_error_last()));
            break;
        case ITEM_REMOTE:
            outs[i] = handle_remote(a, item_txn, it);
            rc = outs[i].act == ACT_ACK ? NXC_OK : NXC_EAGAIN;
            wrote = atomic_load(&a->stats.runtime_writes) != writes;
            break;
        case ITEM_PUB_ACK:
            publish_acked(a, item_txn, it->msg_id, it->ok, it->seq);
            rc = NXC_OK;
            break;
        case ITEM_RESYNC: rc = resync(a, item_txn, it->msg_id); break;
        default: rc = NXC_OK; break;
        }
        if (rc == NXC_OK || rc == NXC_EAGAIN) {
            /* a message to retry keeps what its handling recorded (e.g. a local change seen
             * on the way): only store failures roll back */
            rc = nxc_store_txn_commit(item_txn);
        } else {
            nxc_store_txn_abort(item_txn);
            publish_batch_truncate(pubs);
            rc = NXC_OK;
        }
        if (rc) {
            NXC_ERROR("agent", "event=store-error err=%s", nxc_log_q(nxc_error_last()));
            nxc_store_txn_abort(txn);
            publish_batch_discard();
            return -1;
        }
        if (wrote) {
            i++;
            break;
        }
    }
    *used = i;
    rc = nxc_store_txn_commit(txn);
    if (rc) {
        NXC_ERROR("agent", "event=store-commit-failed err=%s", nxc_log_q(nxc_error_last()));
        publish_batch_discard();
        for (size_t k = 0; k < i; k++) {
            if (items[k]->q.kind == ITEM_REMOTE) {
                nxc_bus_msg_nak(items[k]->msg, 1000);
                consume_finished(items[k]->peer, 1);
            }
        }
        return -1;
    }
    publish_batch_flush(a);
    settle(items, outs, i);
    return 0;
}

/* Handles one batch; returns 0, or -1 when the store failed (the agent stops). */
static int run_batch(agent *a, item **items, size_t n)
{
    outcome outs[BATCH_MAX];
    size_t done = 0, used;

    while (done < n) {
        if (run_segment(a, items + done, n - done, outs + done, &used) != 0) {
            /* what was not handled goes back to the peers for redelivery */
            for (size_t k = done + used; k < n; k++) {
                if (items[k]->q.kind == ITEM_REMOTE) {
                    nxc_bus_msg_nak(items[k]->msg, 1000);
                    consume_finished(items[k]->peer, 1);
                }
            }
            return -1;
        }
        done += used;
    }
    return 0;
}

/* One line a minute with the figures an operator watches during an outage. */
static void log_stats(agent *a)
{
    char peers[512] = "";
    size_t o = 0;

    for (size_t i = 0; i < a->npeers && o < sizeof(peers); i++) {
        int n = snprintf(peers + o, sizeof(peers) - o, " lag_%s=%llu reachable_%s=%d",
                         a->peers[i].cfg->id, atomic_load(&a->peers[i].pending),
                         a->peers[i].cfg->id, atomic_load(&a->peers[i].reachable));

        if (n < 0)
            break;
        o += (size_t)n;
    }
    NXC_INFO("agent",
             "event=stats nats=%s outbox=%llu local_changes=%llu published=%llu applied=%llu "
             "conflicts=%llu apply_errors=%llu reconnects=%llu%s",
             atomic_load(&a->bus_up) ? "up" : "down", atomic_load(&a->stats.outbox),
             atomic_load(&a->stats.local_changes), atomic_load(&a->stats.published),
             atomic_load(&a->stats.applied), atomic_load(&a->stats.conflicts),
             atomic_load(&a->stats.apply_errors), atomic_load(&a->stats.bus_reconnects), peers);
}

int agent_loop(agent *a)
{
    nxc_qitem *taken[BATCH_MAX];
    item *items[BATCH_MAX];
    int64_t last_stats = now_ms();
    int failed = 0;

    while (!a->stop) {
        size_t n = nxc_queue_take(a->queue, taken, BATCH_MAX, 200);

        for (size_t i = 0; i < n; i++)
            items[i] = (item *)taken[i]; /* the queue link is an item's first member */
        if (n && run_batch(a, items, n) != 0)
            failed = 1;
        for (size_t i = 0; i < n; i++)
            item_free(items[i]);
        if (failed)
            break;
        if (a->scope_dirty && intent_ready(a) && now_ms() >= a->rescan_after_ms) {
            if (intent_reconcile(a) != 0) {
                failed = 1;
                break;
            }
        }
        intent_status(a);
        /* on_conn is not called for a connection that came up at once: ask */
        atomic_store(&a->bus_up, nxc_bus_connected(a->bus));
        if (atomic_load(&a->bus_up))
            publish_ensure_stream(a);
        publish_sweep(a);
        if (now_ms() - last_stats >= 60000) {
            last_stats = now_ms();
            log_stats(a);
        }
    }
    return failed ? -1 : 0;
}
