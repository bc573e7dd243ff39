/*
 * replay: rebuilds the local runtime from connector streams — for a runtime restored from an
 * old backup, or wiped and reinstalled. It runs instead of the agent (the agent must be
 * stopped), reads each named runtime's stream (a peer's, or this runtime's own: together they
 * hold the latest version of every replicated object) and:
 *   1. forgets this agent's records of the replicated types: the runtime no longer matches
 *      them, and a record describing objects that are gone would turn into deletes;
 *   2. messages before the starting point (a sequence or a time) only teach the records their
 *      version; from the starting point on, each message is applied to the runtime with the
 *      usual version-vector rules among the messages — the runtime's current content does not
 *      count as a change of its own.
 * Nothing is published. When the agent starts again it finds the runtime equal to its
 * records, except for objects the streams did not mention, which it treats as local.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "log.h"

struct keys {
    char **v;
    size_t n, cap;
};

static int collect(void *ctx, const char *key, const nxc_store_rec *r)
{
    struct keys *k = ctx;
    char **grown;

    (void)r;
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 256;
        grown = realloc(k->v, k->cap * sizeof(char *));
        if (!grown)
            return NXC_ENOMEM;
        k->v = grown;
    }
    k->v[k->n] = strdup(key);
    return k->v[k->n++] ? 0 : NXC_ENOMEM;
}

static int forget_records(agent *a)
{
    nxc_store_txn *txn = NULL;
    struct keys k = {NULL, 0, 0};
    int rc;

    rc = nxc_store_txn_begin(a->store, 0, &txn);
    if (!rc) /* every record: on-demand types are not known before the streams are read */
        rc = nxc_store_foreach(txn, "", collect, &k);
    for (size_t i = 0; i < k.n; i++) {
        if (!rc)
            rc = nxc_store_del(txn, k.v[i]);
        free(k.v[i]);
    }
    free(k.v);
    if (rc) {
        nxc_store_txn_abort(txn);
        return rc;
    }
    NXC_INFO("replay", "event=records-forgotten count=%zu", k.n);
    return nxc_store_txn_commit(txn);
}

/* 1 when subject is "nxc.<origin>.<self>...": the origin sent it to us. */
static int for_us(const char *subject, const char *origin, const char *self)
{
    size_t lo = strlen(origin), ls = strlen(self);

    return subject && strncmp(subject, "nxc.", 4) == 0 && strncmp(subject + 4, origin, lo) == 0 &&
           subject[4 + lo] == '.' && strncmp(subject + 5 + lo, self, ls) == 0 &&
           subject[5 + lo + ls] == '.';
}

static int replay_stream(agent *a, const char *id, uint64_t from_seq, int64_t since_ns,
                         uint64_t *applied, uint64_t *failed)
{
    char stream[96];
    uint64_t first = 0, last = 0, msgs = 0, seq;
    int rc;

    snprintf(stream, sizeof(stream), "NXC_%s", id);
    rc = nxc_bus_stream_info(a->bus, stream, &first, &last, &msgs);
    if (rc) {
        NXC_ERROR("replay", "event=stream-unavailable stream=%s err=%s", stream,
                  nxc_log_q(nxc_error_last()));
        return rc;
    }
    NXC_INFO("replay", "event=stream stream=%s first=%" PRIu64 " last=%" PRIu64 " msgs=%" PRIu64,
             stream, first, last, msgs);
    for (seq = first; seq <= last && !a->stop;) {
        nxc_bus_msg *m = NULL;
        nxc_store_txn *txn = NULL;
        long retry_ms = 0;
        int again;

        rc = nxc_bus_stream_get(a->bus, stream, seq, &m);
        if (rc == NXC_ENOTFOUND)
            break;
        if (rc)
            return rc;
        seq = nxc_bus_msg_seq(m);
        /* a peer's stream: what it sent to us; our own: everything (one copy per peer) */
        if (strcmp(id, a->cfg->runtime_id) != 0 &&
            !for_us(nxc_bus_msg_subject(m), id, a->cfg->runtime_id)) {
            nxc_bus_msg_free(m);
            seq++;
            continue;
        }
        a->replay_record_only =
            seq < from_seq || (since_ns > 0 && nxc_bus_msg_time_ns(m) < since_ns);
        rc = nxc_store_txn_begin(a->store, 0, &txn);
        if (rc) {
            nxc_bus_msg_free(m);
            return rc;
        }
        again = agent_apply_message(a, txn, nxc_bus_msg_data(m), nxc_bus_msg_len(m), id, seq,
                                    &retry_ms);
        rc = nxc_store_txn_commit(txn);
        if (rc) {
            nxc_bus_msg_free(m);
            return rc;
        }
        if (again) {
            (*failed)++;
            NXC_ERROR("replay", "event=apply-failed stream=%s seq=%" PRIu64, stream, seq);
        } else if (!a->replay_record_only) {
            (*applied)++;
        }
        nxc_bus_msg_free(m);
        seq++;
    }
    a->replay_record_only = 0;
    return NXC_OK;
}

int agent_replay(agent *a, const char *const *runtimes, size_t n, uint64_t from_seq,
                 int64_t since_ns)
{
    uint64_t applied = 0, failed = 0;
    int rc;

    a->replaying = 1;
    rc = forget_records(a);
    if (rc) {
        NXC_ERROR("replay", "event=store-error err=%s", nxc_log_q(nxc_error_last()));
        return rc;
    }
    for (size_t i = 0; i < n; i++) {
        rc = replay_stream(a, runtimes[i], from_seq, since_ns, &applied, &failed);
        if (rc) {
            NXC_ERROR("replay", "event=replay-failed runtime=%s err=%s", runtimes[i],
                      nxc_log_q(nxc_error_last()));
            return rc;
        }
    }
    NXC_INFO("replay", "event=done applied=%" PRIu64 " failed=%" PRIu64, applied, failed);
    return failed ? NXC_ERROR : NXC_OK;
}
