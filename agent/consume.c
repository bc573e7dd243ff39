/*
 * consume: one thread per peer. It fetches the peer's stream through a durable pull consumer
 * (named after this runtime, so it resumes where it stopped across restarts), posts each
 * message to the loop, and waits until the loop has finished the batch before fetching more:
 * memory stays bounded by the batch, whatever the backlog. The loop acks each message only
 * after its runtime write and LMDB commit.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define FETCH_BATCH 128
#define FETCH_WAIT_MS 1000
#define RETRY_MS 1000

void consume_finished(peer_state *p, int n)
{
    pthread_mutex_lock(&p->mu);
    p->outstanding -= n;
    if (p->outstanding <= 0)
        pthread_cond_signal(&p->done);
    pthread_mutex_unlock(&p->mu);
}

static void pause_ms(agent *a, long ms)
{
    while (ms > 0 && !a->stop) {
        long step = ms < 100 ? ms : 100;

        usleep((useconds_t)step * 1000);
        ms -= step;
    }
}

/*
 * A gap: the stream's first message is past what we applied, and the stream has limits (age
 * or size), so what lay between may have been discarded unread — not only superseded by a
 * newer version of the same object, which compaction does and which loses nothing. Then ask
 * the peer to publish its whole state again, until it answers.
 */
static void check_gap(agent *a, peer_state *p)
{
    uint64_t first = 0, last = 0, msgs = 0, pos = 0;
    int64_t max_age = 0, max_bytes = 0;
    nxc_store_txn *txn = NULL;
    char subject[128];

    if (nxc_bus_stream_info(a->bus, p->stream, &first, &last, &msgs) != NXC_OK ||
        nxc_bus_stream_limits(a->bus, p->stream, &max_age, &max_bytes) != NXC_OK)
        return;
    if (nxc_store_txn_begin(a->store, 1, &txn) == NXC_OK) {
        if (nxc_store_pos_get(txn, p->position, &pos) != NXC_OK)
            pos = 0;
        nxc_store_txn_abort(txn);
    }
    if ((max_age == 0 && max_bytes == 0) || first <= pos + 1)
        return;
    NXC_WARN("consume",
             "event=gap-detected peer=%s stream=%s applied_up_to=%llu stream_first=%llu "
             "action=resync",
             p->cfg->id, p->stream, (unsigned long long)pos, (unsigned long long)first);
    snprintf(subject, sizeof(subject), "nxc.ctl.%s.resync", p->cfg->id);
    while (!a->stop) {
        char *reply = NULL;
        size_t len = 0;
        int rc = nxc_bus_request(a->bus, subject, a->cfg->runtime_id, strlen(a->cfg->runtime_id),
                                 5000, &reply, &len);

        free(reply);
        if (rc == NXC_OK) {
            NXC_INFO("consume", "event=resync-accepted peer=%s", p->cfg->id);
            return;
        }
        pause_ms(a, 5000);
    }
}

/* Peer changes are applied only once every local type's kind is known (or the type is known
 * to be missing here): a change applied earlier could need to record a local delete, whose
 * event names the kind. */
static int types_known(agent *a)
{
    for (size_t i = 0; i < atomic_load(&a->ntypes); i++)
        if (!atomic_load(&a->types[i].kind_known) && !atomic_load(&a->types[i].missing))
            return 0;
    return 1;
}

static void *consume_main(void *arg)
{
    peer_state *p = arg;
    agent *a = p->agent;
    nxc_bus_consumer *c = NULL;
    int warned = 0, mirrored = 0;

    while (!a->stop && !types_known(a))
        pause_ms(a, 100);
    while (!a->stop) {
        nxc_bus_msg **msgs = NULL;
        int n = 0, rc;

        if (!mirrored && p->cfg->domain) {
            /* leaf-node topology: the peer's stream lives in its own JetStream domain; a
             * local mirror follows it across the link (catching up by itself after a cut),
             * and this agent consumes the mirror, so it never depends on the link */
            nxc_bus_stream_opts so;

            memset(&so, 0, sizeof(so));
            so.name = p->stream;
            so.mirror = p->stream;
            so.mirror_domain = p->cfg->domain;
            so.max_msgs_per_subject = 1;
            so.max_age_ms = a->cfg->stream_max_age_ms;
            so.max_bytes = a->cfg->stream_max_bytes;
            so.duplicate_window_ms = a->cfg->stream_dup_window_ms;
            rc = nxc_bus_stream_ensure(a->bus, &so);
            if (rc) {
                if (!warned)
                    NXC_WARN("consume",
                             "event=mirror-unavailable peer=%s domain=%s err=%s "
                             "action=retry",
                             p->cfg->id, p->cfg->domain, nxc_log_q(nxc_error_last()));
                warned = 1;
                pause_ms(a, RETRY_MS);
                continue;
            }
            mirrored = 1;
            warned = 0;
            NXC_INFO("consume", "event=mirror-ready peer=%s stream=%s domain=%s", p->cfg->id,
                     p->stream, p->cfg->domain);
        }
        if (!c) {
            rc = nxc_bus_consumer_open(a->bus, p->stream, p->durable, p->filter, 0, &c);
            if (rc) {
                if (!warned)
                    NXC_WARN("consume",
                             "event=peer-stream-unavailable peer=%s stream=%s "
                             "err=%s action=retry",
                             p->cfg->id, p->stream, nxc_log_q(nxc_error_last()));
                warned = 1;
                atomic_store(&p->reachable, 0);
                pause_ms(a, RETRY_MS);
                continue;
            }
            warned = 0;
            NXC_INFO("consume", "event=consuming peer=%s stream=%s durable=%s", p->cfg->id,
                     p->stream, p->durable);
            check_gap(a, p);
        }
        rc = nxc_bus_fetch(c, FETCH_BATCH, FETCH_WAIT_MS, &msgs, &n);
        if (rc == NXC_EAGAIN) {
            /* nothing new: the stream answered, unless the pull only timed out because NATS
             * is away (cnats keeps the request until it reconnects) */
            atomic_store(&p->reachable, nxc_bus_connected(a->bus));
            atomic_store(&p->pending, 0);
            continue;
        }
        if (rc) {
            atomic_store(&p->reachable, 0);
            NXC_DEBUG("consume", "event=fetch-failed peer=%s err=%s", p->cfg->id,
                      nxc_log_q(nxc_error_last()));
            pause_ms(a, RETRY_MS / 4);
            continue;
        }
        atomic_store(&p->reachable, 1);
        atomic_store(&p->pending, nxc_bus_msg_pending(msgs[n - 1]) + (uint64_t)n);
        pthread_mutex_lock(&p->mu);
        p->outstanding += n;
        pthread_mutex_unlock(&p->mu);
        for (int i = 0; i < n; i++) {
            item *it = item_new(ITEM_REMOTE, CLS_REMOTE);

            if (!it || (it->peer = p, it->msg = msgs[i], nxc_queue_post(a->queue, &it->q)) != 0) {
                /* shutting down: the message is redelivered after AckWait */
                if (it)
                    item_free(it);
                else
                    nxc_bus_msg_free(msgs[i]);
                consume_finished(p, 1);
            }
        }
        free(msgs);
        pthread_mutex_lock(&p->mu);
        while (p->outstanding > 0 && !a->stop)
            pthread_cond_wait(&p->done, &p->mu);
        pthread_mutex_unlock(&p->mu);
    }
    nxc_bus_consumer_close(c);
    return NULL;
}

int consume_start(agent *a, peer_state *p)
{
    p->agent = a;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->done, NULL);
    if (pthread_create(&p->thread, NULL, consume_main, p) != 0)
        return nxc_error_set(NXC_ERROR, "could not start the consumer thread");
    p->started = 1;
    return NXC_OK;
}
