/*
 * control: requests peers send to this agent over core NATS, on nxc.ctl.<self>.<verb>:
 *   resync  — the peer lost messages of our stream: publish everything again;
 *   status  — body: the asking runtime's id. The answer tells how far this agent applied
 *             the asker's stream (every message up to "applied" is done: a message waiting
 *             for a retry holds it below) and what of it waits or failed here, so the asker
 *             can show it on its ReplicationConfigs:
 *             {"runtime": self, "applied": seq,
 *              "problems": [{"kind": "type-not-installed"|"forbidden"|"rejected",
 *                            "what": type or object key, "message": text}]}
 * Requests come on a cnats thread; problems are guarded by their mutex, positions are read
 * in a read transaction of their own.
 */
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "err.h"
#include "log.h"

static const char *kind_name(enum problem_kind k)
{
    switch (k) {
    case PROBLEM_TYPE_MISSING: return "type-not-installed";
    case PROBLEM_FORBIDDEN: return "forbidden";
    case PROBLEM_REJECTED: return "rejected";
    }
    return "unknown";
}

void agent_problem_set(agent *a, enum problem_kind kind, const char *origin, const char *what,
                       const char *message)
{
    size_t i, slot;

    pthread_mutex_lock(&a->problems_mu);
    for (i = 0; i < a->nproblems; i++)
        if (a->problems[i].kind == kind && strcmp(a->problems[i].what, what) == 0 &&
            strcmp(a->problems[i].origin, origin) == 0)
            break;
    if (i < a->nproblems) {
        slot = i;
    } else if (a->nproblems < AGENT_PROBLEMS) {
        slot = a->nproblems++;
    } else { /* full: the oldest goes */
        slot = 0;
        for (i = 1; i < a->nproblems; i++)
            if (a->problems[i].at_ms < a->problems[slot].at_ms)
                slot = i;
    }
    a->problems[slot].kind = kind;
    snprintf(a->problems[slot].origin, sizeof(a->problems[slot].origin), "%s", origin);
    snprintf(a->problems[slot].what, sizeof(a->problems[slot].what), "%s", what);
    snprintf(a->problems[slot].message, sizeof(a->problems[slot].message), "%s", message);
    a->problems[slot].at_ms = now_ms();
    pthread_mutex_unlock(&a->problems_mu);
}

void agent_problem_clear(agent *a, const char *origin, const char *type, const char *key)
{
    pthread_mutex_lock(&a->problems_mu);
    for (size_t i = 0; i < a->nproblems;) {
        agent_problem *p = &a->problems[i];
        int match =
            strcmp(p->origin, origin) == 0 &&
            (p->kind == PROBLEM_REJECTED ? strcmp(p->what, key) == 0 : strcmp(p->what, type) == 0);

        if (match)
            *p = a->problems[--a->nproblems];
        else
            i++;
    }
    pthread_mutex_unlock(&a->problems_mu);
}

static void answer_status(agent *a, const char *asker, const char *reply)
{
    json_t *doc, *probs = json_array();
    nxc_store_txn *txn = NULL;
    uint64_t applied = 0;
    char pos[128];
    char *text;

    snprintf(pos, sizeof(pos), "peer:%s", asker);
    if (nxc_store_txn_begin(a->store, 1, &txn) == NXC_OK) {
        if (nxc_store_pos_get(txn, pos, &applied) != NXC_OK)
            applied = 0;
        nxc_store_txn_abort(txn);
    }
    /* a message put back for a retry holds the floor below it */
    for (size_t i = 0; i < a->npeers; i++) {
        peer_state *p = &a->peers[i];

        if (strcmp(p->cfg->id, asker) != 0)
            continue;
        pthread_mutex_lock(&p->wait_mu);
        for (size_t j = 0; j < p->nwaiting; j++)
            if (p->waiting[j] <= applied)
                applied = p->waiting[j] - 1;
        pthread_mutex_unlock(&p->wait_mu);
    }
    pthread_mutex_lock(&a->problems_mu);
    for (size_t i = 0; probs && i < a->nproblems; i++) {
        const agent_problem *p = &a->problems[i];

        if (strcmp(p->origin, asker) == 0)
            json_array_append_new(probs, json_pack("{s:s,s:s,s:s}", "kind", kind_name(p->kind),
                                                   "what", p->what, "message", p->message));
    }
    pthread_mutex_unlock(&a->problems_mu);
    doc = json_pack("{s:s,s:I,s:o}", "runtime", a->cfg->runtime_id, "applied", (json_int_t)applied,
                    "problems", probs ? probs : json_array());
    text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (text)
        nxc_bus_respond(a->bus, reply, text, strlen(text));
    free(text);
    json_decref(doc);
}

void agent_on_control(void *ctx, const char *subject, const void *data, size_t len,
                      const char *reply)
{
    agent *a = ctx;
    const char *verb = subject ? strrchr(subject, '.') : NULL;
    char asker[NXC_VV_ID_MAX + 1];

    if (!verb)
        return;
    verb++;
    if (strcmp(verb, "resync") == 0) {
        publish_on_resync_request(a, data, len, reply);
        return;
    }
    if (strcmp(verb, "status") == 0) {
        snprintf(asker, sizeof(asker), "%.*s", (int)(len < sizeof(asker) ? len : sizeof(asker) - 1),
                 (const char *)data);
        if (nxc_vv_id_valid(asker))
            answer_status(a, asker, reply);
        return;
    }
    NXC_DEBUG("control", "event=unknown-request subject=%s", subject);
}
