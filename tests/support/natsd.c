/*
 * natsd: one nats-server with JetStream per test, started from the Debian binary with the
 * port, address and store on the command line (they override any config file), so a test
 * config can only add to a known-good base. The hub/leaf topology is config text written from
 * the options (nats-server 2.9 has no flags for domains or leafnodes); the store stays on the
 * command line, since store_dir in the file as well is refused as a duplicate.
 */
#include "natsd.h"

#include "buf.h"
#include "err.h"
#include "proc.h"

#include <curl/curl.h>
#include <jansson.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define START_DEADLINE_MS 15000
#define STOP_GRACE_MS 5000
#define START_TRIES 3
#define CONF_MAX (64 * 1024)
#define MONITOR_TIMEOUT_MS 5000
#define MONITOR_REPLY_MAX (4 * 1024 * 1024)

struct nxc_test_natsd {
    nxc_test_proc *proc; /* NULL while stopped */
    int port;            /* fixed for the life of the object */
    int leaf_port;       /* leafnode listen port, 0 when none; fixed like port */
    int mon_port;        /* monitoring port, 0 when none; fixed like port */
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
    long log_from; /* size of the log before this start: earlier runs do not count */
    int died;
};

/* Whether the log, from offset on, holds line. */
static int log_has(const char *path, long offset, const char *line)
{
    FILE *f = fopen(path, "r");
    char buf[1024];
    int found = 0;

    if (f == NULL)
        return 0;
    if (fseek(f, offset, SEEK_SET) == 0) {
        while (!found && fgets(buf, sizeof(buf), f) != NULL)
            found = strstr(buf, line) != NULL;
    }
    fclose(f);
    return found;
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* The port accepting is not enough: another process may hold it, and this server is about
 * to exit for that. nats-server says "Server is ready" once every listener is bound. */
static int server_up(void *ctx)
{
    struct up_check *u = ctx;

    if (!nxc_test_proc_alive(u->d->proc)) {
        u->died = 1;
        return 1;
    }
    return nxc_test_wait_port(u->d->port, 0) == NXC_OK &&
           log_has(u->d->log, u->log_from, "Server is ready");
}

static int launch(nxc_test_natsd *d)
{
    const char *bin = getenv("NXC_NATS_SERVER");
    char port[16];
    char mon[16];
    const char *argv[16];
    struct up_check u = {d, file_size(d->log), 0};
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
    if (d->mon_port > 0) {
        snprintf(mon, sizeof(mon), "%d", d->mon_port);
        argv[n++] = "-m";
        argv[n++] = mon;
    }
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

/* Config text holds option strings between quotes: refuse what would break out of them. */
static int conf_string_ok(const char *what, const char *v)
{
    if (v == NULL || (v[0] != '\0' && strpbrk(v, "\"\\\n\r") == NULL))
        return 1;
    fprintf(stderr, "natsd: %s '%s' cannot go into a config file\n", what, v);
    return 0;
}

/* o->config, then the topology options as config text. */
static int build_config(nxc_test_natsd *d, const nxc_test_natsd_opts *o, nxc_buf *conf)
{
    int rc = NXC_OK;

    if (!conf_string_ok("name", o->name) || !conf_string_ok("domain", o->domain) ||
        !conf_string_ok("leafnode_advertise", o->leafnode_advertise) ||
        !conf_string_ok("leaf_remote", o->leaf_remote))
        return NXC_EINVALID;
    if (o->config != NULL)
        rc = nxc_buf_addf(conf, "%s\n", o->config);
    if (rc == NXC_OK && o->name != NULL)
        rc = nxc_buf_addf(conf, "server_name: \"%s\"\n", o->name);
    /* Only the domain: -js and -sd on the command line enable it and place the store. */
    if (rc == NXC_OK && o->domain != NULL)
        rc = nxc_buf_addf(conf, "jetstream {\n  domain: \"%s\"\n}\n", o->domain);
    if (rc == NXC_OK && (d->leaf_port > 0 || o->leaf_remote != NULL))
        rc = nxc_buf_addf(conf, "leafnodes {\n");
    if (rc == NXC_OK && d->leaf_port > 0)
        rc = nxc_buf_addf(conf, "  listen: \"127.0.0.1:%d\"\n", d->leaf_port);
    if (rc == NXC_OK && d->leaf_port > 0 && o->leafnode_advertise != NULL)
        rc = nxc_buf_addf(conf, "  advertise: \"%s\"\n", o->leafnode_advertise);
    if (rc == NXC_OK && o->leaf_remote != NULL)
        rc = nxc_buf_addf(conf, "  remotes: [ { url: \"%s\" } ]\n", o->leaf_remote);
    if (rc == NXC_OK && (d->leaf_port > 0 || o->leaf_remote != NULL))
        rc = nxc_buf_addf(conf, "}\n");
    return rc;
}

/* A port option: a positive value as is, -1 a free port, 0 none. */
static int pick_port(int want)
{
    if (want == -1)
        return nxc_test_free_port();
    return want > 0 ? want : 0;
}

/* Picks the ports the options leave to this file and writes the config file for them. */
static int prepare(nxc_test_natsd *d, const nxc_test_natsd_opts *o)
{
    nxc_buf conf;
    int rc = NXC_OK;

    d->port = o != NULL && o->port > 0 ? o->port : nxc_test_free_port();
    d->leaf_port = o != NULL ? pick_port(o->leafnode_port) : 0;
    d->mon_port = o != NULL ? pick_port(o->monitor_port) : 0;
    if (d->port <= 0 || d->leaf_port < 0 || d->mon_port < 0)
        return NXC_ERROR;
    snprintf(d->url, sizeof(d->url), "nats://127.0.0.1:%d", d->port);
    nxc_buf_init(&conf, CONF_MAX);
    if (o != NULL)
        rc = build_config(d, o, &conf);
    if (rc == NXC_OK && conf.len > 0) {
        snprintf(d->conf, sizeof(d->conf), "%s/nats.conf", d->dir);
        rc = nxc_test_write_file(d->conf, conf.ptr, conf.len);
    }
    nxc_buf_free(&conf);
    return rc;
}

/* A free port is only free until someone binds it: on a busy machine another test's server,
 * or the ephemeral port of any outgoing connection, can take it before nats-server does.
 * Then the ports picked here are picked again; ports the caller fixed are not. */
static int port_was_taken(const nxc_test_natsd *d, const nxc_test_natsd_opts *o)
{
    if (o != NULL && o->port > 0 && o->leafnode_port != -1 && o->monitor_port != -1)
        return 0;
    return log_has(d->log, 0, "address already in use");
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
    snprintf(d->store, sizeof(d->store), "%s/js", d->dir);
    snprintf(d->log, sizeof(d->log), "%s/nats-server.log", d->dir);
    for (int attempt = 1;; attempt++) {
        rc = prepare(d, o);
        if (rc != NXC_OK || (o != NULL && o->no_start))
            break;
        rc = launch(d);
        if (rc == NXC_OK || attempt == START_TRIES || !port_was_taken(d, o))
            break;
        fprintf(stderr, "natsd: a port was taken before nats-server bound it; new ports\n");
        unlink(d->log);
    }
    if (rc != NXC_OK)
        goto fail;
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

int nxc_test_natsd_leafnode_port(const nxc_test_natsd *d)
{
    return d->leaf_port;
}

int nxc_test_natsd_monitor_port(const nxc_test_natsd *d)
{
    return d->mon_port;
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    if (nxc_buf_add(ctx, data, size * n) != NXC_OK)
        return 0;
    return size * n;
}

int nxc_test_natsd_monitor_get(nxc_test_natsd *d, const char *path, char **body)
{
    CURL *curl = NULL;
    nxc_buf reply;
    char url[512];
    long status = 0;
    CURLcode cc;
    int rc = NXC_OK;

    *body = NULL;
    nxc_buf_init(&reply, MONITOR_REPLY_MAX);
    if (d->mon_port <= 0) {
        fprintf(stderr, "natsd: GET %s: the server has no monitoring port\n", path);
        return NXC_EINVALID;
    }
    if (snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", d->mon_port, path) >= (int)sizeof(url))
        return NXC_ELIMIT;
    curl = curl_easy_init();
    if (curl == NULL)
        return NXC_ENOMEM;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    /* Never through an http_proxy from the environment: the server is on loopback. */
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)MONITOR_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &reply);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "natsd: GET %s: %s\n", url, curl_easy_strerror(cc));
        rc = NXC_EUNAVAIL;
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200) {
        fprintf(stderr, "natsd: GET %s: HTTP %ld\n", url, status);
        rc = NXC_ERROR;
        goto out;
    }
    *body = nxc_buf_steal(&reply);
    if (*body == NULL)
        *body = strdup("");
    if (*body == NULL)
        rc = NXC_ENOMEM;
out:
    curl_easy_cleanup(curl);
    nxc_buf_free(&reply);
    return rc;
}

int nxc_test_natsd_leafnodes(nxc_test_natsd *d, int *n)
{
    char *body = NULL;
    json_t *j = NULL;
    json_t *count;
    int rc;

    *n = 0;
    rc = nxc_test_natsd_monitor_get(d, "/leafz", &body);
    if (rc != NXC_OK)
        return rc;
    j = json_loads(body, 0, NULL);
    count = json_object_get(j, "leafnodes");
    if (!json_is_integer(count) || json_integer_value(count) < 0 ||
        json_integer_value(count) > INT_MAX) {
        fprintf(stderr, "natsd: /leafz without a leafnode count: %.200s\n", body);
        rc = NXC_ERROR;
        goto out;
    }
    *n = (int)json_integer_value(count);
out:
    json_decref(j);
    free(body);
    return rc;
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
