/*
 * natsd: one nats-server with JetStream per test, started from the Debian binary with the
 * port, address and store on the command line (they override any config file), so a test
 * config can only add to a known-good base.
 */
#include "natsd.h"

#include "err.h"
#include "proc.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define START_DEADLINE_MS 15000
#define STOP_GRACE_MS 5000

struct nxc_test_natsd {
    nxc_test_proc *proc; /* NULL while stopped */
    int port;            /* fixed for the life of the object */
    char *dir;           /* temporary directory holding everything below */
    char store[PATH_MAX];
    char log[PATH_MAX];
    char conf[PATH_MAX]; /* empty when there is no config text */
    char url[64];
};

static void print_log_tail(const nxc_test_natsd *d)
{
    FILE *f = fopen(d->log, "r");
    char line[512];
    long size;

    if (f == NULL)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > 4096 ? size - 4096 : 0, SEEK_SET);
    fprintf(stderr, "--- %s (tail) ---\n", d->log);
    while (fgets(line, sizeof(line), f) != NULL)
        fputs(line, stderr);
    fclose(f);
}

struct up_check {
    nxc_test_natsd *d;
    int died;
};

static int server_up(void *ctx)
{
    struct up_check *u = ctx;

    if (!nxc_test_proc_alive(u->d->proc)) {
        u->died = 1;
        return 1;
    }
    return nxc_test_wait_port(u->d->port, 0) == NXC_OK;
}

static int launch(nxc_test_natsd *d)
{
    const char *bin = getenv("NXC_NATS_SERVER");
    char port[16];
    const char *argv[16];
    struct up_check u = {d, 0};
    int n = 0;
    int rc;

    if (bin == NULL || bin[0] == '\0')
        bin = "nats-server";
    snprintf(port, sizeof(port), "%d", d->port);
    argv[n++] = bin;
    if (d->conf[0] != '\0') {
        argv[n++] = "-c";
        argv[n++] = d->conf;
    }
    argv[n++] = "-js";
    argv[n++] = "-sd";
    argv[n++] = d->store;
    argv[n++] = "-a";
    argv[n++] = "127.0.0.1";
    argv[n++] = "-p";
    argv[n++] = port;
    argv[n] = NULL;
    rc = nxc_test_proc_spawn(argv, NULL, d->log, &d->proc);
    if (rc != NXC_OK)
        return rc;
    rc = nxc_test_poll(START_DEADLINE_MS, server_up, &u);
    if (rc != NXC_OK || u.died) {
        fprintf(stderr, "natsd: %s on port %d did not come up\n", bin, d->port);
        print_log_tail(d);
        nxc_test_proc_free(d->proc);
        d->proc = NULL;
        return NXC_EUNAVAIL;
    }
    return NXC_OK;
}

int nxc_test_natsd_start(const nxc_test_natsd_opts *o, nxc_test_natsd **out)
{
    nxc_test_natsd *d;
    int rc;

    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NXC_ENOMEM;
    rc = nxc_test_tmpdir("nxc-natsd", &d->dir);
    if (rc != NXC_OK)
        goto fail;
    d->port = o != NULL && o->port > 0 ? o->port : nxc_test_free_port();
    if (d->port <= 0) {
        rc = NXC_ERROR;
        goto fail;
    }
    snprintf(d->store, sizeof(d->store), "%s/js", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/nats-server.log", d->dir);
    snprintf(d->url, sizeof(d->url), "nats://127.0.0.1:%d", d->port);
    if (o != NULL && o->config != NULL) {
        snprintf(d->conf, sizeof(d->conf), "%s/nats.conf", d->dir);
        rc = nxc_test_write_file(d->conf, o->config, strlen(o->config));
        if (rc != NXC_OK)
            goto fail;
    }
    if (o == NULL || !o->no_start) {
        rc = launch(d);
        if (rc != NXC_OK)
            goto fail;
    }
    *out = d;
    return NXC_OK;
fail:
    nxc_test_natsd_free(d);
    return rc;
}

int nxc_test_natsd_stop(nxc_test_natsd *d)
{
    if (d->proc == NULL)
        return NXC_OK;
    nxc_test_proc_stop(d->proc, STOP_GRACE_MS, NULL);
    nxc_test_proc_free(d->proc);
    d->proc = NULL;
    return NXC_OK;
}

int nxc_test_natsd_kill9(nxc_test_natsd *d)
{
    if (d->proc == NULL)
        return NXC_OK;
    nxc_test_proc_kill9(d->proc);
    nxc_test_proc_free(d->proc);
    d->proc = NULL;
    return NXC_OK;
}

int nxc_test_natsd_signal(nxc_test_natsd *d, int sig)
{
    if (d->proc == NULL)
        return NXC_ENOTFOUND;
    return nxc_test_proc_signal(d->proc, sig);
}

int nxc_test_natsd_restart(nxc_test_natsd *d)
{
    nxc_test_natsd_stop(d);
    return launch(d);
}

int nxc_test_natsd_wipe(nxc_test_natsd *d)
{
    if (d->proc != NULL)
        return NXC_EINVALID;
    return nxc_test_rmtree(d->store);
}

int nxc_test_natsd_running(nxc_test_natsd *d)
{
    return d->proc != NULL && nxc_test_proc_alive(d->proc);
}

const char *nxc_test_natsd_url(const nxc_test_natsd *d)
{
    return d->url;
}

int nxc_test_natsd_port(const nxc_test_natsd *d)
{
    return d->port;
}

const char *nxc_test_natsd_dir(const nxc_test_natsd *d)
{
    return d->dir;
}

void nxc_test_natsd_free(nxc_test_natsd *d)
{
    const char *keep = getenv("NXC_TEST_KEEP");

    if (d == NULL)
        return;
    nxc_test_natsd_stop(d);
    if (d->dir != NULL) {
        if (keep != NULL && keep[0] != '\0')
            fprintf(stderr, "natsd: keeping %s\n", d->dir);
        else
            nxc_test_rmtree(d->dir);
    }
    free(d->dir);
    free(d);
}
