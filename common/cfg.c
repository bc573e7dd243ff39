/*
 * cfg: reads the agent's YAML config into nxc_cfg (see cfg.h). The document is first turned
 * into JSON by yaml.c, then walked section by section; each section lists the keys it knows
 * so an unknown key is reported with its full dotted name.
 */
#include "cfg.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "vv.h"
#include "yaml.h"

#define CFG_MAX_TYPES 4096
#define CFG_MAX_PEERS 32 /* a peer set is a 32-bit mask in the agent */

static char *dupstr(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int set_str(char **dst, const char *v)
{
    char *n = strdup(v);

    if (!n)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    free(*dst);
    *dst = n;
    return NXC_OK;
}

int nxc_cfg_parse_duration(const char *s, int64_t *ms)
{
    char *end;
    double v;
    double mul;

    if (!s || !*s)
        return nxc_error_set(NXC_EINVALID, "empty duration");
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return nxc_error_set(NXC_EINVALID, "'%s' is not a duration (e.g. 500ms, 30s, 2m, 1h)", s);
    if (*end == '\0' || strcmp(end, "s") == 0)
        mul = 1000;
    else if (strcmp(end, "ms") == 0)
        mul = 1;
    else if (strcmp(end, "m") == 0)
        mul = 60000;
    else if (strcmp(end, "h") == 0)
        mul = 3600000;
    else if (strcmp(end, "d") == 0)
        mul = 86400000;
    else
        return nxc_error_set(NXC_EINVALID, "'%s' is not a duration (e.g. 500ms, 30s, 2m, 1h)", s);
    if (v * mul > 9.2e18)
        return nxc_error_set(NXC_EINVALID, "duration '%s' is too large", s);
    *ms = (int64_t)(v * mul);
    return NXC_OK;
}

int nxc_cfg_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *suffix;
        uint64_t mul;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KiB", 1ull << 10},
                 {"MiB", 1ull << 20},
                 {"GiB", 1ull << 30},
                 {"TiB", 1ull << 40},
                 {"KB", 1000},
                 {"MB", 1000000},
                 {"GB", 1000000000ull}};
    char *end;
    unsigned long long v;

    if (!s || !isdigit((unsigned char)*s))
        return nxc_error_set(NXC_EINVALID, "'%s' is not a size (e.g. 512MiB, 8GiB)", s ? s : "");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno)
        return nxc_error_set(NXC_EINVALID, "size '%s' is too large", s);
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return nxc_error_set(NXC_EINVALID, "size '%s' is too large", s);
            *bytes = v * units[i].mul;
            return NXC_OK;
        }
    }
    return nxc_error_set(NXC_EINVALID, "'%s' is not a size (e.g. 512MiB, 8GiB)", s);
}

/* Checks that obj (at dotted path `where`) is an object with only the listed keys. */
static int check_keys(const json_t *obj, const char *where, const char *const *known)
{
    const char *key;
    json_t *val;

    if (!json_is_object(obj))
        return nxc_error_set(NXC_EINVALID, "%s: must be a mapping", where);
    json_object_foreach ((json_t *)obj, key, val) {
        int ok = 0;

        (void)val;
        for (const char *const *k = known; *k; k++)
            if (strcmp(*k, key) == 0)
                ok = 1;
        if (!ok)
            return nxc_error_set(NXC_EINVALID, "%s%s%s: unknown field", where, *where ? "." : "",
                                 key);
    }
    return NXC_OK;
}

/* Scalar at obj[key] as a string (numbers and booleans are accepted in their text form). */
static int get_scalar(const json_t *obj, const char *where, const char *key, char **dst)
{
    json_t *v = json_object_get(obj, key);
    char tmp[64];

    if (!v || json_is_null(v))
        return NXC_OK;
    if (json_is_string(v))
        return set_str(dst, json_string_value(v));
    if (json_is_integer(v))
        snprintf(tmp, sizeof(tmp), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_boolean(v))
        snprintf(tmp, sizeof(tmp), "%s", json_is_true(v) ? "true" : "false");
    else
        return nxc_error_set(NXC_EINVALID, "%s%s%s: must be a string", where, *where ? "." : "",
                             key);
    return set_str(dst, tmp);
}

static int parse_bool(const char *field, const char *v, int *out)
{
    if (strcmp(v, "true") == 0) {
        *out = 1;
        return NXC_OK;
    }
    if (strcmp(v, "false") == 0) {
        *out = 0;
        return NXC_OK;
    }
    return nxc_error_set(NXC_EINVALID, "%s: must be true or false, not '%s'", field, v);
}

/* The table of scalar fields: dotted name -> how to store it. */
enum kind { K_STR, K_BOOL, K_DURATION, K_SIZE, K_INT };

struct field {
    const char *name;
    enum kind kind;
    size_t off;
};

#define F(name, kind, member)                                                                      \
    {                                                                                              \
        name, kind, offsetof(nxc_cfg, member)                                                      \
    }
static const struct field fields[] = {
    F("runtime.id", K_STR, runtime_id),
    F("runtime.kubeconfig", K_STR, kubeconfig),
    F("runtime.context", K_STR, kube_context),
    F("runtime.in-cluster", K_BOOL, in_cluster),
    F("nats.urls", K_STR, nats_urls),
    F("nats.credentials", K_STR, nats_creds),
    F("nats.nkey", K_STR, nats_nkey),
    F("nats.domain", K_STR, nats_domain),
    F("nats.tls.ca", K_STR, nats_ca),
    F("nats.tls.cert", K_STR, nats_cert),
    F("nats.tls.key", K_STR, nats_key),
    F("store.path", K_STR, store_path),
    F("store.map-size", K_SIZE, store_map_size),
    F("http.listen", K_STR, listen),
    F("log.level", K_STR, log_level),
    F("stream.max-age", K_DURATION, stream_max_age_ms),
    F("stream.max-bytes", K_SIZE, stream_max_bytes),
    F("stream.duplicate-window", K_DURATION, stream_dup_window_ms),
    F("apply.concurrency", K_INT, apply_concurrency),
};
#undef F

int nxc_cfg_set(nxc_cfg *c, const char *field, const char *value)
{
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const struct field *f = &fields[i];
        char *base = (char *)c + f->off;
        int rc = NXC_OK;

        if (strcmp(f->name, field) != 0)
            continue;
        switch (f->kind) {
        case K_STR: return set_str((char **)base, value);
        case K_BOOL: return parse_bool(field, value, (int *)base);
        case K_DURATION: rc = nxc_cfg_parse_duration(value, (int64_t *)base); break;
        case K_SIZE: {
            uint64_t b;

            rc = nxc_cfg_parse_size(value, &b);
            if (rc == NXC_OK && f->off == offsetof(nxc_cfg, stream_max_bytes)) {
                if (b > INT64_MAX)
                    rc = nxc_error_set(NXC_EINVALID, "too large");
                else
                    *(int64_t *)base = (int64_t)b;
            } else if (rc == NXC_OK) {
                *(uint64_t *)base = b;
            }
            break;
        }
        case K_INT: {
            char *end;
            long v;

            errno = 0;
            v = strtol(value, &end, 10);
            if (errno || *end || end == value || v < 1 || v > 100000)
                rc = nxc_error_set(NXC_EINVALID, "'%s' is not a number from 1 to 100000", value);
            else
                *(int *)base = (int)v;
            break;
        }
        }
        if (rc) {
            nxc_error_wrap(field);
            return rc;
        }
        return NXC_OK;
    }
    return nxc_error_set(NXC_EINVALID, "%s: unknown field", field);
}

/* Copies every scalar field under section `sec` of doc into c. */
static int load_section(nxc_cfg *c, const json_t *doc, const char *sec)
{
    size_t seclen = strlen(sec);

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        const char *name = fields[i].name;
        const json_t *obj = doc;
        char *val = NULL;
        char part[64];
        const char *p, *dot;
        int rc;

        if (strncmp(name, sec, seclen) != 0 || name[seclen] != '.')
            continue;
        /* walk the dotted path to the parent mapping */
        p = name;
        while ((dot = strchr(p, '.')) != NULL) {
            size_t n = (size_t)(dot - p);

            if (n >= sizeof(part))
                return nxc_error_set(NXC_ERROR, "field name too long");
            memcpy(part, p, n);
            part[n] = '\0';
            obj = json_object_get(obj, part);
            if (!obj)
                break;
            p = dot + 1;
        }
        if (!obj)
            continue;
        rc = get_scalar(obj, "", p, &val);
        if (rc) {
            nxc_error_set(rc, "%s: must be a string or number", name);
            return rc;
        }
        if (!val)
            continue;
        rc = nxc_cfg_set(c, name, val);
        free(val);
        if (rc)
            return rc;
    }
    return NXC_OK;
}

static int load_types(nxc_cfg *c, const json_t *arr)
{
    static const char *const known[] = {"group", "version", "resource", "namespaced", NULL};
    size_t i;
    json_t *t;
    char where[64];

    if (!arr)
        return NXC_OK;
    if (!json_is_array(arr))
        return nxc_error_set(NXC_EINVALID, "replicate: must be a list of types");
    if (json_array_size(arr) > CFG_MAX_TYPES)
        return nxc_error_set(NXC_EINVALID, "replicate: more than %d types", CFG_MAX_TYPES);
    c->types = calloc(json_array_size(arr) + 1, sizeof(*c->types));
    if (!c->types)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    json_array_foreach (arr, i, t) {
        nxc_cfg_type *ty = &c->types[i];
        char *ns = NULL;
        int rc;

        snprintf(where, sizeof(where), "replicate[%zu]", i);
        c->ntypes = i + 1;
        rc = check_keys(t, where, known);
        if (!rc)
            rc = get_scalar(t, where, "group", &ty->group);
        if (!rc)
            rc = get_scalar(t, where, "version", &ty->version);
        if (!rc)
            rc = get_scalar(t, where, "resource", &ty->resource);
        if (!rc)
            rc = get_scalar(t, where, "namespaced", &ns);
        if (!rc && ns) {
            char fname[96];

            snprintf(fname, sizeof(fname), "%s.namespaced", where);
            rc = parse_bool(fname, ns, &ty->namespaced);
        }
        free(ns);
        if (rc)
            return rc;
    }
    return NXC_OK;
}

static int load_peers(nxc_cfg *c, const json_t *arr)
{
    static const char *const known[] = {"id", "domain", NULL};
    size_t i;
    json_t *p;
    char where[64];

    if (!arr)
        return NXC_OK;
    if (!json_is_array(arr))
        return nxc_error_set(NXC_EINVALID, "peers: must be a list of {id, domain}");
    if (json_array_size(arr) > CFG_MAX_PEERS)
        return nxc_error_set(NXC_EINVALID, "peers: more than %d peers", CFG_MAX_PEERS);
    c->peers = calloc(json_array_size(arr) + 1, sizeof(*c->peers));
    if (!c->peers)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    json_array_foreach (arr, i, p) {
        int rc;

        snprintf(where, sizeof(where), "peers[%zu]", i);
        c->npeers = i + 1;
        if (json_is_string(p)) {
            rc = set_str(&c->peers[i].id, json_string_value(p));
        } else {
            rc = check_keys(p, where, known);
            if (!rc)
                rc = get_scalar(p, where, "id", &c->peers[i].id);
            if (!rc)
                rc = get_scalar(p, where, "domain", &c->peers[i].domain);
        }
        if (rc)
            return rc;
    }
    return NXC_OK;
}

static nxc_cfg *cfg_new(void)
{
    nxc_cfg *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->stream_dup_window_ms = 120000;
    c->apply_concurrency = 16;
    c->log_level = dupstr("info");
    if (!c->log_level) {
        free(c);
        return NULL;
    }
    return c;
}

int nxc_cfg_from_json(const json_t *doc, const char *origin, nxc_cfg **out)
{
    static const char *const top[] = {"runtime", "nats", "peers",  "replicate", "store",
                                      "http",    "log",  "stream", "apply",     NULL};
    static const struct {
        const char *name;
        const char *const keys[10];
    } sections[] = {
        {"runtime", {"id", "kubeconfig", "context", "in-cluster", NULL}},
        {"nats", {"urls", "credentials", "nkey", "domain", "tls", NULL}},
        {"store", {"path", "map-size", NULL}},
        {"http", {"listen", NULL}},
        {"log", {"level", NULL}},
        {"stream", {"max-age", "max-bytes", "duplicate-window", NULL}},
        {"apply", {"concurrency", NULL}},
    };
    static const char *const tls_keys[] = {"ca", "cert", "key", NULL};
    nxc_cfg *c = NULL;
    int rc;

    *out = NULL;
    c = cfg_new();
    if (!c)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    if (!json_is_object(doc)) {
        rc = nxc_error_set(NXC_EINVALID, "the document must be a mapping of sections");
        goto out;
    }
    rc = check_keys(doc, "", top);
    if (rc)
        goto out;
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
        json_t *s = json_object_get(doc, sections[i].name);

        if (!s || json_is_null(s))
            continue;
        rc = check_keys(s, sections[i].name, sections[i].keys);
        if (rc)
            goto out;
        rc = load_section(c, doc, sections[i].name);
        if (rc)
            goto out;
    }
    {
        json_t *tls = json_object_get(json_object_get(doc, "nats"), "tls");

        if (tls && !json_is_null(tls)) {
            rc = check_keys(tls, "nats.tls", tls_keys);
            if (rc)
                goto out;
        }
    }
    rc = load_peers(c, json_object_get(doc, "peers"));
    if (rc)
        goto out;
    rc = load_types(c, json_object_get(doc, "replicate"));
    if (rc)
        goto out;
    *out = c;
    c = NULL;
out:
    if (rc)
        nxc_error_wrap(origin);
    nxc_cfg_free(c);
    return rc;
}

static int valid_dns_label_list(const char *s, int allow_empty)
{
    if (!*s)
        return allow_empty;
    for (const char *p = s; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '.'))
            return 0;
    return strlen(s) <= 253;
}

int nxc_cfg_validate(const nxc_cfg *c)
{
    if (!c->runtime_id)
        return nxc_error_set(NXC_EINVALID, "runtime.id: required");
    if (!nxc_vv_id_valid(c->runtime_id))
        return nxc_error_set(NXC_EINVALID,
                             "runtime.id: '%s' must be 1 to 63 characters of A-Z a-z 0-9 _ -",
                             c->runtime_id);
    if (!c->kubeconfig && !c->in_cluster)
        return nxc_error_set(NXC_EINVALID,
                             "runtime.kubeconfig: required unless runtime.in-cluster is true");
    if (c->kubeconfig && c->in_cluster)
        return nxc_error_set(
            NXC_EINVALID, "runtime.kubeconfig: give either a kubeconfig or in-cluster, not both");
    if (!c->nats_urls || !*c->nats_urls)
        return nxc_error_set(NXC_EINVALID, "nats.urls: required (e.g. nats://127.0.0.1:4222)");
    if (strncmp(c->nats_urls, "nats://", 7) != 0 && strncmp(c->nats_urls, "tls://", 6) != 0)
        return nxc_error_set(NXC_EINVALID, "nats.urls: '%s' must start with nats:// or tls://",
                             c->nats_urls);
    if ((c->nats_cert == NULL) != (c->nats_key == NULL))
        return nxc_error_set(NXC_EINVALID, "nats.tls: cert and key go together");
    if (c->npeers == 0)
        return nxc_error_set(NXC_EINVALID, "peers: at least one peer runtime id is required");
    for (size_t i = 0; i < c->npeers; i++) {
        if (!c->peers[i].id || !nxc_vv_id_valid(c->peers[i].id))
            return nxc_error_set(NXC_EINVALID,
                                 "peers[%zu].id: must be 1 to 63 characters of A-Z a-z 0-9 _ -", i);
        if (strcmp(c->peers[i].id, c->runtime_id) == 0)
            return nxc_error_set(NXC_EINVALID, "peers[%zu].id: '%s' is this runtime's own id", i,
                                 c->peers[i].id);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->peers[i].id, c->peers[j].id) == 0)
                return nxc_error_set(NXC_EINVALID, "peers[%zu].id: '%s' is listed twice", i,
                                     c->peers[i].id);
    }
    if (!c->store_path || !*c->store_path)
        return nxc_error_set(NXC_EINVALID, "store.path: required (a directory for LMDB)");
    if (nxc_log_level_parse(c->log_level) < 0)
        return nxc_error_set(NXC_EINVALID, "log.level: '%s' must be debug, info, warn or error",
                             c->log_level);
    for (size_t i = 0; i < c->ntypes; i++) {
        const nxc_cfg_type *t = &c->types[i];

        if (!t->group || !valid_dns_label_list(t->group, 1))
            return nxc_error_set(NXC_EINVALID, "replicate[%zu].group: required (\"\" for core)", i);
        if (!t->version || !*t->version || !valid_dns_label_list(t->version, 0))
            return nxc_error_set(NXC_EINVALID, "replicate[%zu].version: required (e.g. v1)", i);
        if (!t->resource || !*t->resource || !valid_dns_label_list(t->resource, 0) ||
            strchr(t->resource, '.'))
            return nxc_error_set(
                NXC_EINVALID, "replicate[%zu].resource: required, the plural lower-case name", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(t->group, c->types[j].group) == 0 &&
                strcmp(t->resource, c->types[j].resource) == 0)
                return nxc_error_set(NXC_EINVALID, "replicate[%zu]: %s/%s is listed twice", i,
                                     t->group, t->resource);
    }
    if (c->listen && !strchr(c->listen, ':'))
        return nxc_error_set(NXC_EINVALID, "http.listen: '%s' must be host:port", c->listen);
    if (c->stream_dup_window_ms < 1000)
        return nxc_error_set(NXC_EINVALID, "stream.duplicate-window: at least 1s");
    return NXC_OK;
}

int nxc_cfg_load(const char *path, nxc_cfg **out)
{
    json_t *doc = NULL;
    int rc;

    *out = NULL;
    rc = nxc_yaml_load_file(path, &doc);
    if (rc) {
        nxc_error_wrap(path);
        return rc == NXC_ENOTFOUND ? NXC_EINVALID : rc;
    }
    rc = nxc_cfg_from_json(doc, path, out);
    json_decref(doc);
    return rc;
}

void nxc_cfg_free(nxc_cfg *c)
{
    if (!c)
        return;
    free(c->runtime_id);
    free(c->kubeconfig);
    free(c->kube_context);
    free(c->nats_urls);
    free(c->nats_creds);
    free(c->nats_nkey);
    free(c->nats_ca);
    free(c->nats_cert);
    free(c->nats_key);
    free(c->nats_domain);
    for (size_t i = 0; i < c->npeers; i++) {
        free(c->peers[i].id);
        free(c->peers[i].domain);
    }
    free(c->peers);
    for (size_t i = 0; i < c->ntypes; i++) {
        free(c->types[i].group);
        free(c->types[i].version);
        free(c->types[i].resource);
    }
    free(c->types);
    free(c->store_path);
    free(c->listen);
    free(c->log_level);
    free(c);
}
