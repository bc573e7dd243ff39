/*
 * main: nexus-agent's entry point — flags, config, start-up and shutdown. It builds the
 * agent (store, runtime client, NATS), starts one watch thread per type and one consumer
 * thread per peer, runs the loop until SIGTERM/SIGINT, then stops the threads, flushes
 * publishes in flight and closes everything.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "err.h"
#include "log.h"

#define NXC_VERSION "0.1.0"

static agent *the_agent;

static void free_value(void *ctx, const char *key, void *val)
{
    (void)ctx;
    (void)key;
    free(val);
}

static void on_signal(int sig)
{
    (void)sig;
    if (the_agent)
        the_agent->stop = 1;
}

/* The files the config names must be there and readable, and the kubeconfig must load: bad
 * config is found before anything starts, with the field named. */
static int check_files(const nxc_cfg *c)
{
    const struct {
        const char *field;
        const char *path;
    } files[] = {{"nats.credentials", c->nats_creds},
                 {"nats.nkey", c->nats_nkey},
                 {"nats.tls.ca", c->nats_ca},
                 {"nats.tls.cert", c->nats_cert},
                 {"nats.tls.key", c->nats_key}};
    nxc_kube_config *kc = NULL;
    struct stat st;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
        if (files[i].path && access(files[i].path, R_OK) != 0)
            return nxc_error_set(NXC_EINVALID, "%s: cannot read %s: %s", files[i].field,
                                 files[i].path, strerror(errno));
    if (stat(c->store_path, &st) == 0 && !S_ISDIR(st.st_mode))
        return nxc_error_set(NXC_EINVALID, "store.path: %s is not a directory", c->store_path);
    if (c->kubeconfig) {
        if (nxc_kube_config_load(c->kubeconfig, c->kube_context, &kc) != NXC_OK) {
            nxc_error_wrap("runtime.kubeconfig");
            return NXC_EINVALID;
        }
        nxc_kube_config_free(kc);
    }
    return NXC_OK;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: nexus-agent --config FILE [flags]\n"
               "\n"
               "Replicates Nexus Runtime objects with peer runtimes through NATS JetStream.\n"
               "\n"
               "flags (each overrides the config field named in brackets):\n"
               "  -c, --config FILE       YAML config file (required)\n"
               "      --runtime-id ID     [runtime.id]\n"
               "      --kubeconfig FILE   [runtime.kubeconfig]\n"
               "      --nats-url URLS     [nats.urls]\n"
               "      --store DIR         [store.path]\n"
               "      --listen HOST:PORT  [http.listen]\n"
               "      --log-level LEVEL   [log.level] debug, info, warn or error\n"
               "      --check             validate the config and exit\n"
               "      --replay ID         rebuild the local runtime from runtime ID's stream\n"
               "                          (repeat for several; the agent must be stopped)\n"
               "      --from-seq N        replay: apply from stream sequence N on\n"
               "      --since TIME        replay: apply messages stored since TIME (RFC 3339 UTC,\n"
               "                          e.g. 2026-12-01T10:00:00Z)\n"
               "  -h, --help              this text\n"
               "  -V, --version           print the version\n");
}

/* One agent (or replay) per store: a second one on the same directory would apply and
 * publish against the same records and the same durable consumer. */
static int lock_store(agent *a)
{
    char path[4096];

    if (mkdir(a->cfg->store_path, 0700) != 0 && errno != EEXIST) {
        NXC_ERROR("agent", "event=store-open-failed path=%s err=%s", a->cfg->store_path,
                  nxc_log_q(strerror(errno)));
        return NXC_ERROR;
    }
    snprintf(path, sizeof(path), "%s/agent.lock", a->cfg->store_path);
    a->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (a->lock_fd < 0 || flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        NXC_ERROR("agent",
                  "event=store-locked path=%s err=\"another nexus-agent (or a replay) uses this "
                  "store\"",
                  a->cfg->store_path);
        return NXC_ERROR;
    }
    return NXC_OK;
}

static int setup(agent *a)
{
    nxc_cfg *c = a->cfg;
    nxc_bus_opts bo;
    int rc;

    rc = c->in_cluster ? nxc_kube_config_in_cluster(&a->kcfg)
                       : nxc_kube_config_load(c->kubeconfig, c->kube_context, &a->kcfg);
    if (rc) {
        NXC_ERROR("agent", "event=kubeconfig-invalid err=%s", nxc_log_q(nxc_error_last()));
        return rc;
    }
    rc = nxc_kube_new(a->kcfg, &a->kube);
    if (rc)
        return rc;
    nxc_kube_set_stop(a->kube, &a->stop);
    atomic_store(&a->runtime_up, 1); /* until a request says otherwise */
    nxc_kube_set_health(a->kube, &a->runtime_up);
    rc = lock_store(a);
    if (rc)
        return rc;
    rc = nxc_store_open(c->store_path, c->store_map_size, &a->store);
    if (rc) {
        NXC_ERROR("agent", "event=store-open-failed path=%s err=%s", c->store_path,
                  nxc_log_q(nxc_error_last()));
        return rc;
    }
    a->queue = nxc_queue_new((const size_t[4]){0, 4096, 1024, 0});
    a->inflight = nxc_strmap_new();
    if (!a->queue || !a->inflight)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    snprintf(a->stream, sizeof(a->stream), "NXC_%s", c->runtime_id);

    pthread_mutex_init(&a->problems_mu, NULL);
    a->types = calloc(AGENT_MAX_TYPES, sizeof(*a->types));
    a->npeers = c->npeers;
    a->peers = calloc(c->npeers, sizeof(*a->peers));
    a->scope = scope_new();
    if (!a->types || !a->peers || !a->scope)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    /* the datamodel and the intent first: the loop judges every object against them */
    if (!agent_type_add(a, ROLE_CRDS, "apiextensions.k8s.io", "v1", "customresourcedefinitions",
                        "CustomResourceDefinition", 0, 0) ||
        !agent_type_add(a, ROLE_CONFIGS, SCOPE_OWN_GROUP, "v1", "replicationconfigs", NULL, 0, 0))
        return NXC_ELIMIT;
    for (size_t i = 0; i < c->ntypes; i++)
        if (!agent_type_add(a, ROLE_STATIC, c->types[i].group, c->types[i].version,
                            c->types[i].resource, NULL, c->types[i].namespaced, 0))
            return NXC_ELIMIT;
    for (size_t i = 0; i < c->npeers; i++) {
        peer_state *p = &a->peers[i];

        p->agent = a;
        p->cfg = &c->peers[i];
        snprintf(p->stream, sizeof(p->stream), "NXC_%s", p->cfg->id);
        snprintf(p->durable, sizeof(p->durable), "nxc-%s", c->runtime_id);
        snprintf(p->filter, sizeof(p->filter), "nxc.%s.%s.>", p->cfg->id, c->runtime_id);
        snprintf(p->position, sizeof(p->position), "peer:%s", p->cfg->id);
        pthread_mutex_init(&p->wait_mu, NULL);
    }

    memset(&bo, 0, sizeof(bo));
    bo.urls = c->nats_urls;
    bo.name = c->runtime_id;
    bo.creds_file = c->nats_creds;
    bo.nkey_seed_file = c->nats_nkey;
    bo.ca_file = c->nats_ca;
    bo.cert_file = c->nats_cert;
    bo.key_file = c->nats_key;
    bo.domain = c->nats_domain;
    bo.on_ack = publish_on_ack;
    bo.on_conn = publish_on_conn;
    bo.ctx = a;
    rc = nxc_bus_connect(&bo, &a->bus);
    if (rc) {
        NXC_ERROR("agent", "event=nats-setup-failed err=%s", nxc_log_q(nxc_error_last()));
        return rc;
    }
    atomic_store(&a->bus_up, nxc_bus_connected(a->bus));
    return NXC_OK;
}

static void teardown(agent *a)
{
    if (a->queue)
        nxc_queue_close(a->queue);
    for (size_t i = 0; i < a->npeers; i++) {
        peer_state *p = &a->peers[i];

        if (!p->started)
            continue;
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->done);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    for (size_t i = 0; i < atomic_load(&a->ntypes); i++)
        if (a->types[i].started)
            pthread_join(a->types[i].thread, NULL);
    if (a->queue) { /* what the threads posted last is handled again after a restart */
        nxc_qitem *rest[64];
        size_t n;

        while ((n = nxc_queue_take(a->queue, rest, 64, 0)) > 0)
            for (size_t i = 0; i < n; i++)
                item_free((item *)rest[i]);
    }
    http_stop(a->http);
    if (a->bus) {
        nxc_bus_publish_flush(a->bus, 3000);
        nxc_bus_close(a->bus);
    }
    for (size_t i = 0; i < atomic_load(&a->ntypes); i++)
        nxc_strmap_free(a->types[i].seen);
    free(a->types);
    intent_free(a);
    scope_free(a->scope);
    for (size_t i = 0; i < a->npeers; i++) {
        if (a->peers[i].started) {
            pthread_mutex_destroy(&a->peers[i].mu);
            pthread_cond_destroy(&a->peers[i].done);
        }
    }
    for (size_t i = 0; a->peers && i < a->npeers; i++) {
        pthread_mutex_destroy(&a->peers[i].wait_mu);
        free(a->peers[i].waiting);
    }
    free(a->peers);
    if (a->inflight) {
        nxc_strmap_each(a->inflight, free_value, NULL);
        nxc_strmap_free(a->inflight);
    }
    nxc_queue_free(a->queue);
    nxc_store_close(a->store);
    if (a->lock_fd >= 0)
        close(a->lock_fd); /* releases the store for the next agent */
    nxc_kube_free(a->kube);
    nxc_kube_config_free(a->kcfg);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},   {"runtime-id", required_argument, NULL, 1},
        {"kubeconfig", required_argument, NULL, 2}, {"nats-url", required_argument, NULL, 3},
        {"store", required_argument, NULL, 4},      {"listen", required_argument, NULL, 5},
        {"log-level", required_argument, NULL, 6},  {"check", no_argument, NULL, 7},
        {"help", no_argument, NULL, 'h'},           {"version", no_argument, NULL, 'V'},
        {"replay", required_argument, NULL, 8},     {"from-seq", required_argument, NULL, 9},
        {"since", required_argument, NULL, 10},     {NULL, 0, NULL, 0}};
    static const char *const flag_field[] = {NULL,        "runtime.id", "runtime.kubeconfig",
                                             "nats.urls", "store.path", "http.listen",
                                             "log.level"};
    const char *config = NULL;
    const char *overrides[7] = {NULL};
    const char *replay[64];
    size_t nreplay = 0;
    uint64_t from_seq = 0;
    int64_t since_ns = 0;
    int check = 0, opt, rc, exit_code = 0;
    agent a;
    struct sigaction sa;

    while ((opt = getopt_long(argc, argv, "c:hV", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': config = optarg; break;
        case 1:
        case 2:
        case 3:
        case 4:
        case 5:
        case 6: overrides[opt] = optarg; break;
        case 7: check = 1; break;
        case 8:
            if (nreplay == sizeof(replay) / sizeof(replay[0])) {
                fprintf(stderr, "nexus-agent: too many --replay\n");
                return 2;
            }
            replay[nreplay++] = optarg;
            break;
        case 9: {
            char *end;

            from_seq = strtoull(optarg, &end, 10);
            if (*end || end == optarg || *optarg == '-' || from_seq == 0) {
                fprintf(stderr, "nexus-agent: --from-seq: '%s' is not a number\n", optarg);
                return 2;
            }
            break;
        }
        case 10: {
            struct tm tm;
            char *end;

            memset(&tm, 0, sizeof(tm));
            end = strptime(optarg, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (!end || *end) {
                fprintf(stderr, "nexus-agent: --since: '%s' is not YYYY-MM-DDTHH:MM:SSZ\n", optarg);
                return 2;
            }
            since_ns = (int64_t)timegm(&tm) * 1000000000LL;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("nexus-agent %s\n", NXC_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    for (size_t i = 0; i < nreplay; i++) {
        if (!nxc_vv_id_valid(replay[i])) {
            fprintf(stderr, "nexus-agent: --replay: '%s' is not a runtime id\n", replay[i]);
            return 2;
        }
    }
    if (!nreplay && (from_seq || since_ns)) {
        fprintf(stderr, "nexus-agent: --from-seq and --since go with --replay\n");
        return 2;
    }
    if (optind < argc) {
        fprintf(stderr, "nexus-agent: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!config) {
        fprintf(stderr, "nexus-agent: --config FILE is required\n");
        usage(stderr);
        return 2;
    }
    memset(&a, 0, sizeof(a));
    a.lock_fd = -1;
    rc = nxc_cfg_load(config, &a.cfg);
    for (int i = 1; rc == NXC_OK && i < 7; i++)
        if (overrides[i])
            rc = nxc_cfg_set(a.cfg, flag_field[i], overrides[i]);
    if (rc == NXC_OK)
        rc = nxc_cfg_validate(a.cfg);
    if (rc) {
        fprintf(stderr, "nexus-agent: config %s: %s\n", config, nxc_error_last());
        nxc_cfg_free(a.cfg);
        return 2;
    }
    rc = check_files(a.cfg);
    if (rc) {
        fprintf(stderr, "nexus-agent: config %s: %s\n", config, nxc_error_last());
        nxc_cfg_free(a.cfg);
        return 2;
    }
    if (check) {
        printf("nexus-agent: config %s is valid\n", config);
        nxc_cfg_free(a.cfg);
        return 0;
    }
    nxc_log_set_level((enum nxc_log_level)nxc_log_level_parse(a.cfg->log_level));

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    the_agent = &a;

    if (nxc_kube_global_init() != NXC_OK) {
        fprintf(stderr, "nexus-agent: %s\n", nxc_error_last());
        return 1;
    }
    NXC_INFO("agent", "event=starting version=%s runtime=%s types=%zu peers=%zu store=%s",
             NXC_VERSION, a.cfg->runtime_id, a.cfg->ntypes, a.cfg->npeers, a.cfg->store_path);
    rc = setup(&a);
    if (rc) {
        exit_code = 1;
        goto out;
    }
    if (!nreplay) {
        char subject[128];

        /* peers ask here for everything again (they lost messages of our stream), and for
         * how far they got in theirs (for ReplicationConfig status) */
        snprintf(subject, sizeof(subject), "nxc.ctl.%s.*", a.cfg->runtime_id);
        if (nxc_bus_serve(a.bus, subject, agent_on_control, &a) != NXC_OK)
            NXC_WARN("agent", "event=control-serve-failed err=%s", nxc_log_q(nxc_error_last()));
    }
    if (nreplay) {
        for (int waited = 0; !nxc_bus_connected(a.bus) && waited < 200 && !a.stop; waited++)
            usleep(50000);
        /* every stream must be there before the records are forgotten */
        for (size_t i = 0; i < nreplay; i++) {
            char stream[96];

            snprintf(stream, sizeof(stream), "NXC_%s", replay[i]);
            if (nxc_bus_stream_info(a.bus, stream, NULL, NULL, NULL) != NXC_OK) {
                NXC_ERROR("replay",
                          "event=stream-unavailable stream=%s err=%s "
                          "action=nothing-changed",
                          stream, nxc_log_q(nxc_error_last()));
                exit_code = 1;
                goto out;
            }
        }
        exit_code = agent_replay(&a, replay, nreplay, from_seq, since_ns) == NXC_OK ? 0 : 1;
        goto out;
    }
    if (a.cfg->listen) {
        a.http = http_start(&a, a.cfg->listen);
        if (!a.http) {
            NXC_ERROR("agent", "event=http-listen-failed listen=%s", a.cfg->listen);
            exit_code = 1;
            goto out;
        }
    }
    for (size_t i = 0; i < atomic_load(&a.ntypes); i++) {
        rc = watch_start(&a, &a.types[i]);
        if (rc) {
            exit_code = 1;
            goto out;
        }
    }
    /* the loop creates our stream when NATS answers; until then local changes are recorded
     * in LMDB (the outbox) and published afterwards */
    for (size_t i = 0; i < a.npeers; i++) {
        rc = consume_start(&a, &a.peers[i]);
        if (rc) {
            exit_code = 1;
            goto out;
        }
    }
    atomic_store(&a.resend_all, 1);
    NXC_INFO("agent", "event=started runtime=%s stream=%s", a.cfg->runtime_id, a.stream);
    if (agent_loop(&a) != 0)
        exit_code = 1;
out:
    a.stop = 1;
    NXC_INFO("agent", "event=stopping runtime=%s", a.cfg->runtime_id);
    teardown(&a);
    NXC_INFO("agent", "event=stopped runtime=%s exit=%d", a.cfg->runtime_id, exit_code);
    nxc_cfg_free(a.cfg);
    return exit_code;
}
