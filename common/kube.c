/*
 * kube: the Kubernetes API client (see kube.h). One curl easy handle per client, reset and
 * reconfigured for every request: curl_easy_reset keeps the live connection, so requests
 * share one keep-alive TCP/TLS connection (HTTP/2 when the server offers it).
 *
 * CURLcode and HTTP statuses are translated to NXC_* codes in exactly two places,
 * curl_failure() and status_error(). The bearer token goes only into the Authorization
 * header: never into an error message, and the header copy is wiped after each request.
 */
#include "kube.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "buf.h"
#include "err.h"
#include "yaml.h"

#define PATH_LEN 2048                  /* an object path: names are at most 253 bytes */
#define TOKEN_MAX (64u * 1024u)        /* a bearer token file */
#define TOKEN_REFRESH_MS 60000         /* how often a token file is re-read (it may rotate) */
#define ERROR_BODY_MAX (1024u * 1024u) /* an error response of a watch */
#define KEEP_BUF_MAX (1024u * 1024u)   /* response buffer kept between requests */
#define CONNECT_TIMEOUT_MS 10000L
#define WATCH_TIMEOUT_S 300 /* the server ends a watch after 300-599 s */
#define LIST_RESTARTS 5     /* expired continue tokens tolerated in one list */
#define MAX_TEMPS 3         /* CA, client certificate, client key */
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct nxc_kube_config {
    char *server;           /* base URL, no trailing '/' */
    char *ca_file;          /* CA bundle for the server certificate; NULL: system store */
    char *cert_file;        /* client certificate (PEM); NULL: none */
    char *key_file;         /* client key (PEM); NULL: none */
    char *token;            /* bearer token as loaded; NULL: none */
    char *token_file;       /* re-read by clients as it rotates; NULL: token is fixed */
    char *proxy;            /* proxy URL; NULL: libcurl's default (the environment) */
    int insecure;           /* skip server certificate verification */
    char *temps[MAX_TEMPS]; /* private files holding inline data, removed on free */
    int ntemps;             /* used entries of temps */
};

struct nxc_kube {
    const nxc_kube_config *cfg; /* borrowed; outlives the client */
    CURL *h;                    /* the one easy handle; keeps the connection alive */
    char *token;                /* current bearer token (NULL: none) */
    long long token_at;         /* monotonic ms when token_file was last read */
    const volatile int *stop;   /* non-zero: abort transfers; NULL: never */
    atomic_int *up;             /* the server answers (nxc_kube_set_health); NULL: none */
    long timeout_ms;            /* limit for non-watch requests; 0: none */
    nxc_buf resp;               /* response body of the current request */
    char errbuf[CURL_ERROR_SIZE];
};

/* State of one transfer, shared with the curl callbacks. */
struct xfer {
    nxc_kube *k;
    nxc_buf *body;           /* where body bytes go (when not to the framer) */
    nxc_kube_framer *framer; /* watch: a 200 response's bytes go here */
    long idle_ms;            /* abort when no byte came for this long; 0: never */
    long long last_rx;       /* monotonic ms of the last byte (or the start) */
    int why;                 /* set when a callback aborted the transfer: its NXC_* code */
    CURLcode res;            /* what curl_easy_perform returned */
    int answered;            /* the response's status line came (health noted) */
};

/* 1 when the integer token p[0..n) (digits, maybe a leading '-') is beyond 64 bits. */
static int beyond_int64(const char *p, size_t n)
{
    const char *limit = "9223372036854775807";

    if (n && *p == '-') {
        p++;
        n--;
        limit = "9223372036854775808";
    }
    return n > 19 || (n == 19 && memcmp(p, limit, 19) > 0);
}

/* Copies the JSON text p[0..n) into out with ".0" after each integer beyond 64 bits, so that
 * those — and only those — are read as reals. */
static int widen_big_integers(const char *p, size_t n, nxc_buf *out)
{
    size_t i = 0;
    int rc = NXC_OK;

    while (i < n && !rc) {
        size_t j = i;

        if (p[i] == '"') { /* a string, escapes included, copied as it is */
            for (j = i + 1; j < n && p[j] != '"'; j++)
                if (p[j] == '\\')
                    j++;
            j = j < n ? j + 1 : n;
        } else if (p[i] == '-' || (p[i] >= '0' && p[i] <= '9')) {
            size_t digits_end;

            for (j = i + 1; j < n && p[j] >= '0' && p[j] <= '9'; j++)
                ;
            digits_end = j;
            while (j < n && (p[j] == '.' || p[j] == 'e' || p[j] == 'E' || p[j] == '+' ||
                             p[j] == '-' || (p[j] >= '0' && p[j] <= '9')))
                j++;
            rc = nxc_buf_add(out, p + i, j - i);
            if (!rc && j == digits_end && beyond_int64(p + i, j - i))
                rc = nxc_buf_add(out, ".0", 2);
            i = j;
            continue;
        } else {
            j = i + 1;
        }
        rc = nxc_buf_add(out, p + i, j - i);
        i = j;
    }
    return rc;
}

/* JSON from the API server. A string may hold NUL (\u0000 is valid JSON and the server keeps
 * it): it is read with its length, never cut. An integer beyond 64 bits (the API server keeps
 * what it was given) cannot be held by jansson; rather than failing the whole response — and
 * with it every later event of the type — such a document is read again with those integers,
 * and only those, as reals (every other number keeps its exact value and its type). */
static json_t *load_json(const char *p, size_t n, json_error_t *err)
{
    json_t *v = json_loadb(p, n, JSON_ALLOW_NUL, err);
    nxc_buf wide;

    if (v || !strstr(err->text, "too big integer"))
        return v;
    nxc_buf_init(&wide, n + n / 2 + 16);
    if (widen_big_integers(p, n, &wide) == NXC_OK)
        v = json_loadb(wide.ptr, wide.len, JSON_ALLOW_NUL, err);
    nxc_buf_free(&wide);
    return v;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void free_secret(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

int nxc_kube_global_init(void)
{
    struct sigaction sa;
    CURLcode res;

    /* Transfers run with CURLOPT_NOSIGNAL (threads), so a peer closing a TLS connection
     * would kill the process with SIGPIPE unless it is ignored. An application's own
     * handler is left alone. */
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
        signal(SIGPIPE, SIG_IGN);
    res = curl_global_init(CURL_GLOBAL_DEFAULT);
    if (res != CURLE_OK)
        return nxc_error_set(NXC_ERROR, "curl_global_init: %s", curl_easy_strerror(res));
    return NXC_OK;
}

/* ---- configuration ------------------------------------------------------------------- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 as kubeconfigs carry it: whitespace ignored, padding optional. */
static int b64_decode(const char *in, unsigned char **out, size_t *out_len)
{
    size_t n = strlen(in), o = 0, count = 0, pad = 0, i;
    unsigned char *buf;
    unsigned long acc = 0;
    int bits = 0;

    buf = malloc(n / 4 * 3 + 3);
    if (!buf)
        return NXC_ENOMEM;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;

        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        v = b64_value(c);
        if (v < 0 || pad)
            goto bad;
        acc = ((acc << 6) | (unsigned long)v) & 0xffffff;
        bits += 6;
        count++;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (count % 4 == 1 || pad > 2 || (pad && (count + pad) % 4 != 0))
        goto bad;
    *out = buf;
    *out_len = o;
    return NXC_OK;
bad:
    free(buf);
    return NXC_EINVALID;
}

/* Writes data to a new file only this user can read; *path is the caller's. */
static int write_temp(const unsigned char *data, size_t len, char **path)
{
    const char *dir = getenv("TMPDIR");
    nxc_buf name;
    size_t off = 0;
    int fd = -1, rc;

    nxc_buf_init(&name, PATH_MAX);
    if (!dir || dir[0] != '/')
        dir = "/tmp";
    rc = nxc_buf_addf(&name, "%s/nxc-kube-XXXXXX", dir);
    if (rc)
        goto out;
    /* mkstemp creates the file 0600 whatever the umask. */
    fd = mkstemp(name.ptr);
    if (fd < 0) {
        rc = nxc_error_set(NXC_ERROR, "creating a temporary file in %s: %s", dir, strerror(errno));
        goto out;
    }
    while (off < len) {
        ssize_t n = write(fd, data + off, len - off);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = nxc_error_set(NXC_ERROR, "writing %s: %s", name.ptr, strerror(errno));
            unlink(name.ptr);
            goto out;
        }
        off += (size_t)n;
    }
    *path = nxc_buf_steal(&name);
out:
    if (fd >= 0)
        close(fd);
    nxc_buf_free(&name);
    return rc;
}

/* Reads a token file: trimmed, one line, no control characters (it becomes a header). */
static int read_token(const char *path, char **out)
{
    nxc_buf b;
    char chunk[4096];
    size_t start = 0, end, i;
    ssize_t n;
    int fd, rc = NXC_OK;

    nxc_buf_init(&b, TOKEN_MAX);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nxc_error_set(NXC_EINVALID, "token file %s: %s", path, strerror(errno));
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = nxc_error_set(NXC_EINVALID, "token file %s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        rc = nxc_buf_add(&b, chunk, (size_t)n);
        if (rc) {
            rc =
                nxc_error_set(NXC_EINVALID, "token file %s: larger than %u bytes", path, TOKEN_MAX);
            goto out;
        }
    }
    end = b.len;
    while (start < end && strchr(" \t\r\n", b.ptr[start]))
        start++;
    while (end > start && strchr(" \t\r\n", b.ptr[end - 1]))
        end--;
    for (i = start; i < end; i++) {
        if ((unsigned char)b.ptr[i] < 0x20 || b.ptr[i] == 0x7f) {
            rc = nxc_error_set(NXC_EINVALID, "token file %s: control characters in token", path);
            goto out;
        }
    }
    if (start == end) {
        rc = nxc_error_set(NXC_EINVALID, "token file %s: empty", path);
        goto out;
    }
    *out = strndup(b.ptr + start, end - start);
    if (!*out)
        rc = nxc_error_set(NXC_ENOMEM, "out of memory reading a token");
out:
    close(fd);
    if (b.ptr)
        explicit_bzero(b.ptr, b.len);
    explicit_bzero(chunk, sizeof(chunk));
    nxc_buf_free(&b);
    return rc;
}

static int check_readable(const char *path, const char *what)
{
    if (access(path, R_OK) != 0)
        return nxc_error_set(NXC_EINVALID, "%s %s: %s", what, path, strerror(errno));
    return NXC_OK;
}

/* The kubeconfig being read: its path and directory, for errors and relative paths. */
struct kc {
    const char *path;
    char *dir;
};

/* obj[key] as a string; absent or null is NULL; any other type is an error. */
static int get_str(const struct kc *kc, const char *where, const json_t *obj, const char *key,
                   const char **out)
{
    json_t *v = json_object_get(obj, key);

    *out = NULL;
    if (!v || json_is_null(v))
        return NXC_OK;
    if (!json_is_string(v))
        return nxc_error_set(NXC_EINVALID, "%s: %s: \"%s\" must be a string", kc->path, where, key);
    *out = json_string_value(v);
    return NXC_OK;
}

/* Finds the entry of list key whose name is name, and returns its field inner. */
static int find_named(const struct kc *kc, const json_t *doc, const char *key, const char *name,
                      const char *inner, json_t **out)
{
    json_t *list = json_object_get(doc, key);
    json_t *e;
    size_t i;

    *out = NULL;
    if (list && !json_is_array(list) && !json_is_null(list))
        return nxc_error_set(NXC_EINVALID, "%s: \"%s\" must be a list", kc->path, key);
    json_array_foreach (list, i, e) {
        json_t *n = json_object_get(e, "name");
        json_t *v;

        if (!json_is_string(n) || strcmp(json_string_value(n), name) != 0)
            continue;
        v = json_object_get(e, inner);
        if (!v || json_is_null(v))
            v = NULL;
        else if (!json_is_object(v))
            return nxc_error_set(NXC_EINVALID, "%s: %s \"%s\": \"%s\" must be a mapping", kc->path,
                                 key, name, inner);
        *out = v;
        return NXC_OK;
    }
    return nxc_error_set(NXC_EINVALID, "%s: %s \"%s\" not found in \"%s\"", kc->path, inner, name,
                         key);
}

static int resolve_path(const struct kc *kc, const char *p, char **out)
{
    nxc_buf b;
    int rc;

    if (p[0] == '/') {
        *out = strdup(p);
        return *out ? NXC_OK : nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    nxc_buf_init(&b, PATH_MAX);
    rc = nxc_buf_addf(&b, "%s/%s", kc->dir, p);
    if (rc) {
        nxc_buf_free(&b);
        return nxc_error_set(NXC_EINVALID, "%s: path %s is too long", kc->path, p);
    }
    *out = nxc_buf_steal(&b);
    return NXC_OK;
}

/* One credential or CA: inline base64 data (written to a private file) wins over a path. */
static int file_or_data(nxc_kube_config *c, const struct kc *kc, const char *where,
                        const json_t *obj, const char *file_key, const char *data_key, char **out)
{
    const char *file, *data;
    unsigned char *bytes = NULL;
    size_t len = 0;
    int rc;

    rc = get_str(kc, where, obj, file_key, &file);
    if (rc)
        return rc;
    rc = get_str(kc, where, obj, data_key, &data);
    if (rc)
        return rc;
    if (data && data[0]) {
        rc = b64_decode(data, &bytes, &len);
        if (rc == NXC_ENOMEM)
            return nxc_error_set(rc, "out of memory decoding %s", data_key);
        if (rc)
            return nxc_error_set(rc, "%s: %s: \"%s\" is not valid base64", kc->path, where,
                                 data_key);
        rc = write_temp(bytes, len, out);
        explicit_bzero(bytes, len);
        free(bytes);
        if (rc)
            return rc;
        c->temps[c->ntemps++] = *out;
        return NXC_OK;
    }
    if (file && file[0]) {
        rc = resolve_path(kc, file, out);
        if (rc)
            return rc;
        rc = check_readable(*out, file_key);
        if (rc)
            nxc_error_wrap(kc->path);
        return rc;
    }
    return NXC_OK;
}

static int load_cluster(nxc_kube_config *c, const struct kc *kc, const char *name, const json_t *cl)
{
    char where[300];
    const char *server, *proxy, *sni;
    json_t *insecure;
    size_t n;
    int rc;

    snprintf(where, sizeof(where), "cluster \"%.250s\"", name);
    rc = get_str(kc, where, cl, "server", &server);
    if (rc)
        return rc;
    if (!server || !server[0])
        return nxc_error_set(NXC_EINVALID, "%s: %s: \"server\" is not set", kc->path, where);
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return nxc_error_set(NXC_EINVALID, "%s: %s: \"server\" must be an http(s) URL", kc->path,
                             where);
    c->server = strdup(server);
    if (!c->server)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    n = strlen(c->server);
    while (n > 0 && c->server[n - 1] == '/')
        c->server[--n] = '\0';
    rc = get_str(kc, where, cl, "tls-server-name", &sni);
    if (rc)
        return rc;
    if (sni && sni[0])
        return nxc_error_set(NXC_EINVALID, "%s: %s: \"tls-server-name\" is not supported", kc->path,
                             where);
    insecure = json_object_get(cl, "insecure-skip-tls-verify");
    if (insecure && !json_is_boolean(insecure) && !json_is_null(insecure))
        return nxc_error_set(NXC_EINVALID,
                             "%s: %s: \"insecure-skip-tls-verify\" must be true or false", kc->path,
                             where);
    c->insecure = json_is_true(insecure);
    rc = get_str(kc, where, cl, "proxy-url", &proxy);
    if (rc)
        return rc;
    if (proxy && proxy[0]) {
        c->proxy = strdup(proxy);
        if (!c->proxy)
            return nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    return file_or_data(c, kc, where, cl, "certificate-authority", "certificate-authority-data",
                        &c->ca_file);
}

static int load_user(nxc_kube_config *c, const struct kc *kc, const char *name, const json_t *u)
{
    char where[300];
    const char *token, *token_file, *user;
    size_t i;
    int rc;

    snprintf(where, sizeof(where), "user \"%.250s\"", name);
    rc = file_or_data(c, kc, where, u, "client-certificate", "client-certificate-data",
                      &c->cert_file);
    if (rc)
        return rc;
    rc = file_or_data(c, kc, where, u, "client-key", "client-key-data", &c->key_file);
    if (rc)
        return rc;
    if (!c->cert_file != !c->key_file)
        return nxc_error_set(NXC_EINVALID,
                             "%s: %s: a client certificate needs a client key "
                             "and the other way round",
                             kc->path, where);
    rc = get_str(kc, where, u, "token", &token);
    if (rc)
        return rc;
    rc = get_str(kc, where, u, "tokenFile", &token_file);
    if (rc)
        return rc;
    /* As kubectl: an inline token wins over tokenFile. */
    if (token && token[0]) {
        for (i = 0; token[i]; i++) {
            if ((unsigned char)token[i] < 0x20 || token[i] == 0x7f)
                return nxc_error_set(NXC_EINVALID, "%s: %s: control characters in \"token\"",
                                     kc->path, where);
        }
        c->token = strdup(token);
        if (!c->token)
            return nxc_error_set(NXC_ENOMEM, "out of memory");
    } else if (token_file && token_file[0]) {
        rc = resolve_path(kc, token_file, &c->token_file);
        if (rc)
            return rc;
        rc = read_token(c->token_file, &c->token);
        if (rc) {
            nxc_error_wrap(where);
            nxc_error_wrap(kc->path);
            return rc;
        }
    }
    if (c->token || c->cert_file)
        return NXC_OK;
    if (json_object_get(u, "exec") || json_object_get(u, "auth-provider"))
        return nxc_error_set(NXC_EINVALID,
                             "%s: %s: exec and auth-provider credentials are "
                             "not supported (use a token or a client certificate)",
                             kc->path, where);
    rc = get_str(kc, where, u, "username", &user);
    if (rc)
        return rc;
    if (user)
        return nxc_error_set(NXC_EINVALID, "%s: %s: basic authentication is not supported",
                             kc->path, where);
    return NXC_OK;
}

static int parse_kubeconfig(nxc_kube_config *c, const struct kc *kc, const json_t *doc,
                            const char *context)
{
    const char *ctx_name = context, *cluster_name, *user_name;
    json_t *ctx, *cluster, *user = NULL;
    char where[300];
    int rc;

    if (!json_is_object(doc))
        return nxc_error_set(NXC_EINVALID, "%s: not a kubeconfig (expected a mapping)", kc->path);
    if (!ctx_name) {
        rc = get_str(kc, "top level", doc, "current-context", &ctx_name);
        if (rc)
            return rc;
        if (!ctx_name || !ctx_name[0])
            return nxc_error_set(NXC_EINVALID,
                                 "%s: no context given and \"current-context\" "
                                 "is not set",
                                 kc->path);
    }
    rc = find_named(kc, doc, "contexts", ctx_name, "context", &ctx);
    if (rc)
        return rc;
    snprintf(where, sizeof(where), "context \"%.250s\"", ctx_name);
    if (!ctx)
        return nxc_error_set(NXC_EINVALID, "%s: %s: \"context\" is not set", kc->path, where);
    rc = get_str(kc, where, ctx, "cluster", &cluster_name);
    if (rc)
        return rc;
    if (!cluster_name || !cluster_name[0])
        return nxc_error_set(NXC_EINVALID, "%s: %s: \"cluster\" is not set", kc->path, where);
    rc = get_str(kc, where, ctx, "user", &user_name);
    if (rc)
        return rc;
    rc = find_named(kc, doc, "clusters", cluster_name, "cluster", &cluster);
    if (rc)
        return rc;
    if (!cluster)
        return nxc_error_set(NXC_EINVALID, "%s: cluster \"%s\": \"cluster\" is not set", kc->path,
                             cluster_name);
    rc = load_cluster(c, kc, cluster_name, cluster);
    if (rc)
        return rc;
    if (user_name && user_name[0]) {
        rc = find_named(kc, doc, "users", user_name, "user", &user);
        if (rc)
            return rc;
    }
    if (user)
        return load_user(c, kc, user_name, user);
    return NXC_OK;
}

int nxc_kube_config_load(const char *path, const char *context, nxc_kube_config **out)
{
    nxc_kube_config *c = NULL;
    struct kc kc = {path, NULL};
    json_t *doc = NULL;
    char *slash;
    int rc;

    *out = NULL;
    if (!path || !path[0])
        return nxc_error_set(NXC_EINVALID, "no kubeconfig path given");
    rc = nxc_yaml_load_file(path, &doc);
    if (rc) {
        nxc_error_wrap("kubeconfig");
        return rc;
    }
    c = calloc(1, sizeof(*c));
    kc.dir = strdup(path);
    if (!c || !kc.dir) {
        rc = nxc_error_set(NXC_ENOMEM, "out of memory loading a kubeconfig");
        goto out;
    }
    slash = strrchr(kc.dir, '/');
    if (!slash) {
        free(kc.dir);
        kc.dir = strdup(".");
        if (!kc.dir) {
            rc = nxc_error_set(NXC_ENOMEM, "out of memory loading a kubeconfig");
            goto out;
        }
    } else {
        slash[slash == kc.dir ? 1 : 0] = '\0';
    }
    rc = parse_kubeconfig(c, &kc, doc, context);
    if (rc)
        goto out;
    *out = c;
    c = NULL;
out:
    nxc_kube_config_free(c);
    free(kc.dir);
    json_decref(doc);
    return rc;
}

int nxc_kube_config_in_cluster(nxc_kube_config **out)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    nxc_kube_config *c = NULL;
    nxc_buf url;
    int rc;

    *out = NULL;
    nxc_buf_init(&url, 1024);
    if (!host || !host[0] || !port || !port[0])
        return nxc_error_set(NXC_EINVALID,
                             "in-cluster config: KUBERNETES_SERVICE_HOST and "
                             "KUBERNETES_SERVICE_PORT are not set (not running in a pod?)");
    c = calloc(1, sizeof(*c));
    if (!c) {
        rc = nxc_error_set(NXC_ENOMEM, "out of memory");
        goto out;
    }
    /* An IPv6 address needs brackets in a URL. */
    rc = nxc_buf_addf(&url, strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s", host, port);
    if (rc)
        goto out;
    c->server = nxc_buf_steal(&url);
    c->token_file = strdup(SA_DIR "/token");
    c->ca_file = strdup(SA_DIR "/ca.crt");
    if (!c->server || !c->token_file || !c->ca_file) {
        rc = nxc_error_set(NXC_ENOMEM, "out of memory");
        goto out;
    }
    rc = read_token(c->token_file, &c->token);
    if (rc)
        goto out;
    rc = check_readable(c->ca_file, "service account CA");
    if (rc)
        goto out;
    *out = c;
    c = NULL;
out:
    if (rc)
        nxc_error_wrap("in-cluster config");
    nxc_buf_free(&url);
    nxc_kube_config_free(c);
    return rc;
}

void nxc_kube_config_free(nxc_kube_config *c)
{
    int i;

    if (!c)
        return;
    for (i = 0; i < c->ntemps; i++)
        unlink(c->temps[i]);
    /* temps[] alias ca_file, cert_file and key_file, which are freed below. */
    free(c->server);
    free(c->ca_file);
    free(c->cert_file);
    free(c->key_file);
    free_secret(c->token);
    free(c->token_file);
    free(c->proxy);
    free(c);
}

const char *nxc_kube_config_server(const nxc_kube_config *c)
{
    return c->server;
}

/* ---- clients ------------------------------------------------------------------------- */

int nxc_kube_new(const nxc_kube_config *c, nxc_kube **out)
{
    nxc_kube *k;

    *out = NULL;
    k = calloc(1, sizeof(*k));
    if (!k)
        return nxc_error_set(NXC_ENOMEM, "out of memory creating a kube client");
    k->cfg = c;
    k->timeout_ms = 30000;
    k->token_at = now_ms();
    nxc_buf_init(&k->resp, NXC_KUBE_MAX_RESPONSE);
    k->h = curl_easy_init();
    if (!k->h) {
        free(k);
        return nxc_error_set(NXC_ENOMEM, "curl_easy_init failed");
    }
    if (c->token) {
        k->token = strdup(c->token);
        if (!k->token) {
            nxc_kube_free(k);
            return nxc_error_set(NXC_ENOMEM, "out of memory creating a kube client");
        }
    }
    *out = k;
    return NXC_OK;
}

void nxc_kube_free(nxc_kube *k)
{
    if (!k)
        return;
    curl_easy_cleanup(k->h);
    free_secret(k->token);
    nxc_buf_free(&k->resp);
    free(k);
}

void nxc_kube_set_stop(nxc_kube *k, const volatile int *stop)
{
    k->stop = stop;
}

void nxc_kube_set_health(nxc_kube *k, atomic_int *up)
{
    k->up = up;
}

static void note_health(nxc_kube *k, int up)
{
    if (k->up && atomic_load(k->up) != up)
        atomic_store(k->up, up);
}

void nxc_kube_set_timeout(nxc_kube *k, long ms)
{
    k->timeout_ms = ms > 0 ? ms : 0;
}

/* Service-account tokens rotate: pick up the file's current token now and then. A failed
 * read keeps the token we have; the server's 401 will say if it is no longer good. */
static void refresh_token(nxc_kube *k)
{
    char *t = NULL;

    if (!k->cfg->token_file || now_ms() - k->token_at < TOKEN_REFRESH_MS)
        return;
    k->token_at = now_ms();
    if (read_token(k->cfg->token_file, &t) != NXC_OK) {
        nxc_error_clear();
        return;
    }
    free_secret(k->token);
    k->token = t;
}

static void free_headers(struct curl_slist *l)
{
    struct curl_slist *p;

    /* One of them carries the token. */
    for (p = l; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

static int add_header(struct curl_slist **l, const char *h)
{
    struct curl_slist *n = curl_slist_append(*l, h);

    if (!n)
        return nxc_error_set(NXC_ENOMEM, "out of memory building request headers");
    *l = n;
    return NXC_OK;
}

static int build_headers(nxc_kube *k, const char *content_type, struct curl_slist **out)
{
    struct curl_slist *l = NULL;
    nxc_buf auth;
    int rc;

    nxc_buf_init(&auth, TOKEN_MAX + 64);
    rc = add_header(&l, "Accept: application/json");
    if (rc)
        goto out;
    /* Large PUT bodies would otherwise wait for a 100-continue round trip. */
    rc = add_header(&l, "Expect:");
    if (rc)
        goto out;
    if (content_type) {
        rc = nxc_buf_addf(&auth, "Content-Type: %s", content_type);
        if (rc)
            goto out;
        rc = add_header(&l, auth.ptr);
        if (rc)
            goto out;
        nxc_buf_reset(&auth);
    }
    if (k->token) {
        rc = nxc_buf_addf(&auth, "Authorization: Bearer %s", k->token);
        if (rc)
            goto out;
        rc = add_header(&l, auth.ptr);
        if (rc)
            goto out;
    }
    *out = l;
    l = NULL;
out:
    if (auth.ptr)
        explicit_bzero(auth.ptr, auth.len);
    nxc_buf_free(&auth);
    free_headers(l);
    return rc;
}

static size_t on_write(char *data, size_t size, size_t n, void *p)
{
    struct xfer *x = p;
    size_t len = size * n;
    long status = 0;
    int rc;

    x->last_rx = now_ms();
    if (x->framer) {
        curl_easy_getinfo(x->k->h, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            rc = nxc_kube_framer_feed(x->framer, data, len);
            if (rc) {
                x->why = rc;
                return 0;
            }
            return len;
        }
    }
    rc = nxc_buf_add(x->body, data, len);
    if (rc) {
        x->why = nxc_error_set(NXC_ELIMIT, "response larger than %zu bytes", x->body->max);
        return 0;
    }
    return len;
}

static int on_progress(void *p, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = p;

    (void)dltotal;
    (void)dlnow;
    (void)ultotal;
    (void)ulnow;
    if (x->k->stop && *x->k->stop) {
        x->why = nxc_error_set(NXC_ESTOPPED, "stopped");
        return 1;
    }
    if (x->idle_ms > 0 && now_ms() - x->last_rx > x->idle_ms) {
        x->why = nxc_error_set(NXC_EAGAIN, "no data from the server for %ld ms", x->idle_ms);
        return 1;
    }
    if (x->k->up && !x->answered) {
        long status = 0;

        /* a watch waits long for its first event: its status line is the answer */
        curl_easy_getinfo(x->k->h, CURLINFO_RESPONSE_CODE, &status);
        if (status > 0) {
            x->answered = 1;
            note_health(x->k, status < 500);
        }
    }
    return 0;
}

/* The one place CURLcodes become NXC codes. */
static int curl_failure(CURLcode res, const char *errbuf, const char *method, const char *path)
{
    const char *msg = errbuf[0] ? errbuf : curl_easy_strerror(res);
    int code;

    switch (res) {
    case CURLE_OUT_OF_MEMORY: code = NXC_ENOMEM; break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_UNKNOWN_OPTION:
        code = NXC_EINVALID; /* our configuration, not the server */
        break;
    default: code = NXC_EUNAVAIL; break;
    }
    return nxc_error_set(code, "%s %s: %s", method, path, msg);
}

static const char *status_text(long status)
{
    switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 413: return "Request Entity Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "HTTP error";
    }
}

static int status_code(long status, const char *reason)
{
    switch (status) {
    case 404: return NXC_ENOTFOUND;
    case 409: return reason && strcmp(reason, "AlreadyExists") == 0 ? NXC_EEXISTS : NXC_ECONFLICT;
    case 410: return NXC_EGONE;
    case 401:
    case 403: return NXC_EFORBIDDEN;
    case 400:
    case 405:
    case 406:
    case 413:
    case 415:
    case 422: return NXC_EINVALID;
    case 429: return NXC_EUNAVAIL; /* throttled: retry later */
    default: return status >= 500 ? NXC_EUNAVAIL : NXC_ERROR;
    }
}

/* The one place HTTP statuses become NXC codes; keeps the server's Status message. */
static int status_error(long status, const char *method, const char *path, const char *body,
                        size_t len)
{
    json_t *st = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *msg = json_string_value(json_object_get(st, "message"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    char snippet[201];
    size_t i, n = 0;
    int code = status_code(status, reason);

    if (!msg) {
        /* Not a Status (a proxy's page?): show its start, printable bytes only. */
        for (i = 0; i < len && n < sizeof(snippet) - 1; i++)
            snippet[n++] = body[i] >= 0x20 && body[i] < 0x7f ? body[i] : ' ';
        snippet[n] = '\0';
        msg = n ? snippet : "(no message)";
    }
    nxc_error_set(code, "%ld %s: %s (%s %s)", status, status_text(status), msg, method, path);
    json_decref(st);
    return code;
}

#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (res == CURLE_OK)                                                                       \
            res = curl_easy_setopt(h, opt, val);                                                   \
    } while (0)

/* Runs one transfer. body may be NULL. On NXC_OK *status is the HTTP status and the response
 * is in x->body (or went to x->framer). */
static int perform(nxc_kube *k, struct xfer *x, const char *method, const char *path,
                   const char *content_type, const char *body, size_t body_len, long timeout_ms,
                   long *status)
{
    const nxc_kube_config *c = k->cfg;
    struct curl_slist *headers = NULL;
    CURL *h = k->h;
    CURLcode res = CURLE_OK;
    nxc_buf url;
    int rc;

    nxc_buf_init(&url, PATH_LEN * 4);
    if (k->stop && *k->stop)
        return nxc_error_set(NXC_ESTOPPED, "stopped");
    rc = nxc_buf_addf(&url, "%s%s", c->server, path);
    if (rc)
        goto out;
    refresh_token(k);
    rc = build_headers(k, body ? content_type : NULL, &headers);
    if (rc)
        goto out;
    x->k = k;
    x->last_rx = now_ms();
    x->why = 0;
    k->errbuf[0] = '\0';

    curl_easy_reset(h);
    SET(CURLOPT_URL, url.ptr);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, k->errbuf);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_KEEPIDLE, 30L);
    SET(CURLOPT_TCP_KEEPINTVL, 10L);
    SET(CURLOPT_USERAGENT, "nexus-connector/0.1");
    SET(CURLOPT_HTTPHEADER, headers);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, x);
    SET(CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    if (c->insecure) {
        SET(CURLOPT_SSL_VERIFYPEER, 0L);
        SET(CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
    if (c->cert_file) {
        SET(CURLOPT_SSLCERT, c->cert_file);
        SET(CURLOPT_SSLKEY, c->key_file);
    }
    if (c->proxy)
        SET(CURLOPT_PROXY, c->proxy);
    if (strcmp(method, "GET") == 0) {
        SET(CURLOPT_HTTPGET, 1L);
    } else {
        SET(CURLOPT_CUSTOMREQUEST, method);
        if (body || strcmp(method, "POST") == 0) {
            SET(CURLOPT_POSTFIELDS, body ? body : "");
            SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        }
    }
    if (res != CURLE_OK) {
        rc = curl_failure(res, k->errbuf, method, path);
        goto out;
    }
    /* Optional: a libcurl without HTTP/2 speaks HTTP/1.1 on the same connection. */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);

    res = curl_easy_perform(h);
    x->res = res;
    if (!x->why && res != CURLE_OK && res != CURLE_OUT_OF_MEMORY)
        note_health(k, 0); /* the server could not be reached, or the answer broke off */
    if (x->why) {
        rc = x->why; /* the callback set the message */
        goto out;
    }
    if (res != CURLE_OK) {
        rc = curl_failure(res, k->errbuf, method, path);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    note_health(k, *status > 0 && *status < 500);
    if (*status == 401 && c->token_file)
        k->token_at = 0; /* a rotated token: re-read the file before the next request */
out:
    free_headers(headers);
    nxc_buf_free(&url);
    return rc;
}

#undef SET

/* Runs a request whose whole response is read into memory and parsed. */
static int do_request(nxc_kube *k, const char *method, const char *path, const char *content_type,
                      const char *body, size_t body_len, json_t **out)
{
    struct xfer x = {0};
    json_error_t jerr;
    long status = 0;
    json_t *v;
    int rc;

    if (out)
        *out = NULL;
    if (!path || path[0] != '/')
        return nxc_error_set(NXC_EINVALID, "request path must start with '/'");
    nxc_buf_reset(&k->resp);
    x.body = &k->resp;
    rc = perform(k, &x, method, path, content_type ? content_type : "application/json", body,
                 body_len, k->timeout_ms, &status);
    if (rc)
        goto out;
    if (status < 200 || status > 299) {
        rc = status_error(status, method, path, k->resp.ptr, k->resp.len);
        goto out;
    }
    if (!out)
        goto out;
    if (k->resp.len == 0) {
        *out = json_null();
        goto out;
    }
    v = load_json(k->resp.ptr, k->resp.len, &jerr);
    if (!v) {
        rc =
            nxc_error_set(NXC_EINVALID, "%s %s: response is not JSON: %s", method, path, jerr.text);
        goto out;
    }
    *out = v;
out:
    /* A one-off huge list page must not pin its memory for the client's life. */
    if (k->resp.cap > KEEP_BUF_MAX)
        nxc_buf_free(&k->resp);
    return rc;
}

int nxc_kube_request(nxc_kube *k, const char *method, const char *path, const char *content_type,
                     const json_t *body, json_t **out)
{
    char *text = NULL;
    int rc;

    if (body) {
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return nxc_error_set(NXC_ENOMEM, "out of memory encoding a request body");
    }
    rc = do_request(k, method, path, content_type, text, text ? strlen(text) : 0, out);
    free(text);
    return rc;
}

/* ---- paths --------------------------------------------------------------------------- */

/* A path segment from the caller or an object: it must not change the path's shape. */
static int check_segment(const char *what, const char *s)
{
    size_t i;

    if (!s || !s[0])
        return nxc_error_set(NXC_EINVALID, "%s is empty", what);
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return nxc_error_set(NXC_EINVALID, "%s \"%s\" is not a valid path segment", what, s);
    for (i = 0; s[i]; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (ch <= 0x20 || ch == 0x7f || ch == '/' || ch == '?' || ch == '#' || ch == '%')
            return nxc_error_set(NXC_EINVALID,
                                 "%s \"%.100s\" contains a character not allowed "
                                 "in a path segment",
                                 what, s);
    }
    return NXC_OK;
}

static int path_add(char *buf, size_t len, size_t *off, const char *a, const char *b)
{
    int n = snprintf(buf + *off, len - *off, "%s%s", a, b);

    if (n < 0 || (size_t)n >= len - *off)
        return NXC_ELIMIT;
    *off += (size_t)n;
    return NXC_OK;
}

int nxc_kube_path(const nxc_kube_gvr *r, const char *ns, const char *name, const char *sub,
                  char *buf, size_t len)
{
    const int core = !r->group || !r->group[0];
    size_t off = 0;
    int rc;

    if (ns && !ns[0])
        ns = NULL;
    if (!r->namespaced)
        ns = NULL; /* a cluster-scoped object has no namespace, whatever the caller has */
    rc = check_segment("version", r->version);
    if (!rc && !core)
        rc = check_segment("group", r->group);
    if (!rc)
        rc = check_segment("resource", r->resource);
    if (!rc && ns)
        rc = check_segment("namespace", ns);
    if (!rc && name)
        rc = check_segment("name", name);
    if (!rc && sub)
        rc = check_segment("subresource", sub);
    if (rc)
        return rc;
    if (sub && !name)
        return nxc_error_set(NXC_EINVALID, "subresource %s without an object name", sub);
    if (name && r->namespaced && !ns)
        return nxc_error_set(NXC_EINVALID, "%s is namespaced: object %s needs a namespace",
                             r->resource, name);
    if (len == 0)
        return nxc_error_set(NXC_ELIMIT, "no room for a path");
    buf[0] = '\0';
    if (core)
        rc = path_add(buf, len, &off, "/api/", r->version);
    else
        rc = path_add(buf, len, &off, "/apis/", r->group);
    if (!rc && !core)
        rc = path_add(buf, len, &off, "/", r->version);
    if (!rc && ns)
        rc = path_add(buf, len, &off, "/namespaces/", ns);
    if (!rc)
        rc = path_add(buf, len, &off, "/", r->resource);
    if (!rc && name)
        rc = path_add(buf, len, &off, "/", name);
    if (!rc && sub)
        rc = path_add(buf, len, &off, "/", sub);
    if (rc)
        return nxc_error_set(NXC_ELIMIT, "path for %s does not fit in %zu bytes", r->resource, len);
    return NXC_OK;
}

/* Appends s percent-encoded for a query value: only RFC 3986 unreserved bytes stay. */
static int add_escaped(nxc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = NXC_OK;

    for (; *s && !rc; s++) {
        unsigned char c = (unsigned char)*s;
        char e[3];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            rc = nxc_buf_add(b, s, 1);
            continue;
        }
        e[0] = '%';
        e[1] = hex[c >> 4];
        e[2] = hex[c & 15];
        rc = nxc_buf_add(b, e, 3);
    }
    return rc;
}

static const char *meta_str(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

/* ---- objects ------------------------------------------------------------------------- */

int nxc_kube_get(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const char *name, json_t **out)
{
    char path[PATH_LEN];
    int rc;

    *out = NULL;
    rc = nxc_kube_path(r, ns, name ? name : "", NULL, path, sizeof(path));
    if (rc)
        return rc;
    return do_request(k, "GET", path, NULL, NULL, 0, out);
}

int nxc_kube_create(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
                    json_t **out)
{
    char path[PATH_LEN];
    int rc;

    if (out)
        *out = NULL;
    if (!ns || !ns[0])
        ns = meta_str(obj, "namespace");
    if (r->namespaced && (!ns || !ns[0]))
        return nxc_error_set(NXC_EINVALID, "%s is namespaced: create needs a namespace",
                             r->resource);
    rc = nxc_kube_path(r, ns, NULL, NULL, path, sizeof(path));
    if (rc)
        return rc;
    return nxc_kube_request(k, "POST", path, NULL, obj, out);
}

static int put(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
               const char *sub, json_t **out)
{
    const char *name = meta_str(obj, "name");
    char path[PATH_LEN];
    int rc;

    if (out)
        *out = NULL;
    if (!name)
        return nxc_error_set(NXC_EINVALID, "update of %s: object has no metadata.name",
                             r->resource);
    if (!ns || !ns[0])
        ns = meta_str(obj, "namespace");
    rc = nxc_kube_path(r, ns, name, sub, path, sizeof(path));
    if (rc)
        return rc;
    return nxc_kube_request(k, "PUT", path, NULL, obj, out);
}

int nxc_kube_update(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
                    json_t **out)
{
    return put(k, r, ns, obj, NULL, out);
}

int nxc_kube_update_status(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const json_t *obj,
                           json_t **out)
{
    return put(k, r, ns, obj, "status", out);
}

int nxc_kube_delete(nxc_kube *k, const nxc_kube_gvr *r, const char *ns, const char *name,
                    const char *uid)
{
    char path[PATH_LEN];
    json_t *opts = NULL;
    int rc;

    rc = nxc_kube_path(r, ns, name ? name : "", NULL, path, sizeof(path));
    if (rc)
        return rc;
    if (uid) {
        opts = json_pack("{s:s, s:s, s:{s:s}}", "apiVersion", "v1", "kind", "DeleteOptions",
                         "preconditions", "uid", uid);
        if (!opts)
            return nxc_error_set(NXC_EINVALID, "delete of %s: uid is not valid UTF-8", name);
    }
    rc = nxc_kube_request(k, "DELETE", path, NULL, opts, NULL);
    json_decref(opts);
    return rc;
}

/* ---- list ---------------------------------------------------------------------------- */

/* Items of a list lack kind and apiVersion for built-in types; the list has them. */
static int fill_type(json_t *item, const char *api_version, const char *list_kind)
{
    size_t n = list_kind ? strlen(list_kind) : 0;

    if (!json_is_object(item))
        return nxc_error_set(NXC_EINVALID, "list item is not an object");
    if (api_version && !json_object_get(item, "apiVersion") &&
        json_object_set_new(item, "apiVersion", json_string(api_version)))
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    if (n > 4 && strcmp(list_kind + n - 4, "List") == 0 && !json_object_get(item, "kind") &&
        json_object_set_new(item, "kind", json_stringn(list_kind, n - 4)))
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    return NXC_OK;
}

int nxc_kube_list(nxc_kube *k, const nxc_kube_gvr *r, const char *label_selector,
                  nxc_kube_item_fn item_cb, nxc_kube_restart_fn restart_cb, void *ctx, char **rv)
{
    char base[PATH_LEN];
    char *cont = NULL;
    json_t *page = NULL, *items, *item;
    const char *next, *page_rv;
    int restarts = 0, rc;
    nxc_buf path;
    size_t i;

    if (rv)
        *rv = NULL;
    nxc_buf_init(&path, PATH_LEN * 8);
    rc = nxc_kube_path(r, NULL, NULL, NULL, base, sizeof(base));
    if (rc)
        return rc;
    for (;;) {
        nxc_buf_reset(&path);
        rc = nxc_buf_addf(&path, "%s?limit=%d", base, NXC_KUBE_LIST_PAGE);
        if (!rc && cont) {
            rc = nxc_buf_addf(&path, "&continue=");
            if (!rc)
                rc = add_escaped(&path, cont);
        }
        if (!rc && label_selector && label_selector[0]) {
            rc = nxc_buf_addf(&path, "&labelSelector=");
            if (!rc)
                rc = add_escaped(&path, label_selector);
        }
        if (rc)
            goto out;
        json_decref(page);
        page = NULL;
        rc = do_request(k, "GET", path.ptr, NULL, NULL, 0, &page);
        if (rc == NXC_EGONE && cont) {
            /* The snapshot behind the continue token was compacted away: start over. */
            if (++restarts > LIST_RESTARTS) {
                nxc_error_wrap("list keeps expiring");
                goto out;
            }
            free(cont);
            cont = NULL;
            if (restart_cb)
                restart_cb(ctx);
            continue;
        }
        if (rc)
            goto out;
        items = json_object_get(page, "items");
        if (items && !json_is_array(items) && !json_is_null(items)) {
            rc = nxc_error_set(NXC_EINVALID, "GET %s: \"items\" is not a list", path.ptr);
            goto out;
        }
        json_array_foreach (items, i, item) {
            rc = fill_type(item, json_string_value(json_object_get(page, "apiVersion")),
                           json_string_value(json_object_get(page, "kind")));
            if (rc)
                goto out;
            rc = item_cb(ctx, item);
            if (rc)
                goto out;
        }
        free(cont);
        cont = NULL;
        next = meta_str(page, "continue");
        if (!next || !next[0])
            break;
        cont = strdup(next);
        if (!cont) {
            rc = nxc_error_set(NXC_ENOMEM, "out of memory");
            goto out;
        }
    }
    page_rv = meta_str(page, "resourceVersion");
    if (rv && page_rv) {
        *rv = strdup(page_rv);
        if (!*rv)
            rc = nxc_error_set(NXC_ENOMEM, "out of memory");
    }
out:
    free(cont);
    json_decref(page);
    nxc_buf_free(&path);
    return rc;
}

/* ---- watch framing ------------------------------------------------------------------- */

struct nxc_kube_framer {
    nxc_buf line;         /* the incomplete line carried between feeds */
    size_t max;           /* longest line accepted, without its line end */
    nxc_kube_frame_fn cb; /* receives each event, borrowed for the call */
    void *ctx;
};

int nxc_kube_framer_new(size_t max, nxc_kube_frame_fn cb, void *ctx, nxc_kube_framer **out)
{
    nxc_kube_framer *f;

    *out = NULL;
    if (max == 0 || max > SIZE_MAX - 2)
        return nxc_error_set(NXC_EINVALID, "framer line limit %zu is not usable", max);
    f = calloc(1, sizeof(*f));
    if (!f)
        return nxc_error_set(NXC_ENOMEM, "out of memory creating a watch framer");
    f->max = max;
    f->cb = cb;
    f->ctx = ctx;
    /* One more byte than max: a line of max bytes may end in "\r\n". */
    nxc_buf_init(&f->line, max + 1);
    *out = f;
    return NXC_OK;
}

void nxc_kube_framer_free(nxc_kube_framer *f)
{
    if (!f)
        return;
    nxc_buf_free(&f->line);
    free(f);
}

static int frame(nxc_kube_framer *f, const char *p, size_t n)
{
    json_error_t jerr;
    json_t *ev;
    size_t i;
    int rc;

    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > f->max)
        return nxc_error_set(NXC_EINVALID, "watch event line longer than %zu bytes", f->max);
    for (i = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r'); i++)
        ;
    if (i == n)
        return NXC_OK; /* blank line */
    ev = load_json(p, n, &jerr);
    if (!ev)
        return nxc_error_set(NXC_EINVALID, "watch event is not JSON: %s at column %d", jerr.text,
                             jerr.column);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return nxc_error_set(NXC_EINVALID, "watch event is not a JSON object");
    }
    rc = f->cb(f->ctx, ev);
    json_decref(ev);
    return rc;
}

static void framer_reset(nxc_kube_framer *f)
{
    /* Drop the allocation of a long line rather than keep it for the stream's life. */
    if (f->line.cap > KEEP_BUF_MAX) {
        nxc_buf_free(&f->line);
        nxc_buf_init(&f->line, f->max + 1);
    }
    nxc_buf_reset(&f->line);
}

int nxc_kube_framer_feed(nxc_kube_framer *f, const char *data, size_t len)
{
    const char *nl;
    size_t seg;
    int rc = NXC_OK;

    while (len > 0) {
        nl = memchr(data, '\n', len);
        if (!nl) {
            rc = nxc_buf_add(&f->line, data, len);
            if (rc) {
                rc = nxc_error_set(NXC_EINVALID, "watch event line longer than %zu bytes", f->max);
                goto out;
            }
            return NXC_OK;
        }
        seg = (size_t)(nl - data);
        if (f->line.len == 0) {
            /* The common case, a whole line in this chunk: parse it in place. */
            rc = frame(f, data, seg);
        } else {
            rc = nxc_buf_add(&f->line, data, seg);
            if (rc)
                rc = nxc_error_set(NXC_EINVALID, "watch event line longer than %zu bytes", f->max);
            else
                rc = frame(f, f->line.ptr, f->line.len);
            framer_reset(f);
        }
        if (rc)
            goto out;
        data = nl + 1;
        len -= seg + 1;
    }
out:
    /* After an error the stream position is lost; start clean on the next feed. */
    if (rc)
        framer_reset(f);
    return rc;
}

/* ---- watch --------------------------------------------------------------------------- */

struct watch {
    char **rv; /* the caller's resourceVersion, advanced as events arrive */
    nxc_kube_watch_fn cb;
    void *ctx;
};

static int set_rv(struct watch *w, const json_t *obj)
{
    const char *v = meta_str(obj, "resourceVersion");
    char *copy;

    if (!v || !v[0])
        return NXC_OK;
    copy = strdup(v);
    if (!copy)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    free(*w->rv);
    *w->rv = copy;
    return NXC_OK;
}

static int on_event(void *p, json_t *ev)
{
    struct watch *w = p;
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    enum nxc_kube_event t;
    int rc;

    if (!type || !json_is_object(obj))
        return nxc_error_set(NXC_EINVALID, "watch event without type or object");
    if (strcmp(type, "ADDED") == 0) {
        t = NXC_KUBE_ADDED;
    } else if (strcmp(type, "MODIFIED") == 0) {
        t = NXC_KUBE_MODIFIED;
    } else if (strcmp(type, "DELETED") == 0) {
        t = NXC_KUBE_DELETED;
    } else if (strcmp(type, "BOOKMARK") == 0) {
        return set_rv(w, obj);
    } else if (strcmp(type, "ERROR") == 0) {
        const char *msg = json_string_value(json_object_get(obj, "message"));
        const char *reason = json_string_value(json_object_get(obj, "reason"));
        long code = (long)json_integer_value(json_object_get(obj, "code"));

        return nxc_error_set(code ? status_code(code, reason) : NXC_ERROR, "watch: %ld %s: %s",
                             code, status_text(code), msg ? msg : "(no message)");
    } else {
        return NXC_OK; /* a type from a newer server: nothing we can act on */
    }
    rc = w->cb(w->ctx, t, obj);
    if (rc)
        return rc;
    /* Advanced only once the caller took the event, so a resume does not skip it. */
    return set_rv(w, obj);
}

int nxc_kube_watch(nxc_kube *k, const nxc_kube_gvr *r, const char *label_selector, char **rv,
                   long idle_ms, nxc_kube_watch_fn cb, void *ctx)
{
    struct watch w = {rv, cb, ctx};
    struct xfer x = {0};
    nxc_buf path, err_body;
    char base[PATH_LEN];
    long status = 0;
    int timeout_s, rc;

    nxc_buf_init(&path, PATH_LEN * 4);
    nxc_buf_init(&err_body, ERROR_BODY_MAX);
    rc = nxc_kube_path(r, NULL, NULL, NULL, base, sizeof(base));
    if (rc)
        return rc;
    /* Spread the ends of many watches, as client-go does. */
    timeout_s = WATCH_TIMEOUT_S + (int)(now_ms() % WATCH_TIMEOUT_S);
    rc = nxc_buf_addf(&path, "%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=%d", base,
                      timeout_s);
    if (!rc && *rv && (*rv)[0]) {
        rc = nxc_buf_addf(&path, "&resourceVersion=");
        if (!rc)
            rc = add_escaped(&path, *rv);
    }
    if (!rc && label_selector && label_selector[0]) {
        rc = nxc_buf_addf(&path, "&labelSelector=");
        if (!rc)
            rc = add_escaped(&path, label_selector);
    }
    if (rc)
        goto out;
    rc = nxc_kube_framer_new(NXC_KUBE_MAX_EVENT, on_event, &w, &x.framer);
    if (rc)
        goto out;
    x.body = &err_body;
    x.idle_ms = idle_ms > 0 ? idle_ms : 0;
    /* A last resort should the server never end the stream it promised to end. */
    rc = perform(k, &x, "GET", path.ptr, NULL, NULL, 0, (timeout_s + 60) * 1000L, &status);
    if (rc && x.res == CURLE_OPERATION_TIMEDOUT && !x.why)
        rc = nxc_error_set(NXC_EAGAIN, "watch of %s outlived its time limit", r->resource);
    if (rc)
        goto out;
    if (status != 200)
        rc = status_error(status, "GET", path.ptr, err_body.ptr, err_body.len);
out:
    nxc_kube_framer_free(x.framer);
    nxc_buf_free(&err_body);
    nxc_buf_free(&path);
    return rc;
}
