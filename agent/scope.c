/*
 * scope: the datamodel and the ReplicationConfigs, and the membership test (see scope.h).
 * A few dozen types and configs are expected; both live in plain arrays.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "scope.h"

struct scope {
    scope_type *types;
    char **type_text; /* what was learned, to tell a real change from a resend */
    size_t ntypes, captypes;
    scope_config *configs;
    char **config_text;
    size_t nconfigs, capconfigs;
};

#define DISPLAY_LABEL "nexus/display_name"

static const char *str_at(const json_t *o, const char *path)
{
    char part[64];

    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);

        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        o = json_object_get(o, part);
        path += n + (dot ? 1 : 0);
    }
    /* a string with a NUL inside is not the name it seems to be up to the NUL */
    if (!json_is_string(o) || strlen(json_string_value(o)) != json_string_length(o))
        return NULL;
    return json_string_value(o);
}

static const json_t *obj_at(const json_t *o, const char *a, const char *b, const char *c)
{
    o = json_object_get(o, a);
    if (b)
        o = json_object_get(o, b);
    if (c)
        o = json_object_get(o, c);
    return o;
}

static void copy(char *dst, size_t len, const char *src)
{
    snprintf(dst, len, "%s", src ? src : "");
}

scope *scope_new(void)
{
    return calloc(1, sizeof(scope));
}

static void type_clear(scope_type *t)
{
    for (size_t i = 0; i < t->nhierarchy; i++)
        free(t->hierarchy[i]);
    free(t->hierarchy);
    memset(t, 0, sizeof(*t));
}

static void label_clear(scope_label *l)
{
    free(l->key);
    for (size_t j = 0; j < l->nvalues; j++)
        free(l->values[j]);
    free(l->values);
    memset(l, 0, sizeof(*l));
}

static void labels_free(scope_label *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        label_clear(&l[i]);
    free(l);
}

static void config_clear(scope_config *c)
{
    labels_free(c->labels, c->nlabels);
    memset(c, 0, sizeof(*c));
}

void scope_free(scope *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->ntypes; i++) {
        type_clear(&s->types[i]);
        free(s->type_text[i]);
    }
    for (size_t i = 0; i < s->nconfigs; i++) {
        config_clear(&s->configs[i]);
        free(s->config_text[i]);
    }
    free(s->types);
    free(s->type_text);
    free(s->configs);
    free(s->config_text);
    free(s);
}

/* Grows a pair of parallel arrays by one slot. */
static int grow(void **arr, size_t elem, char ***text, size_t n, size_t *cap)
{
    void *a;
    char **t;

    if (n < *cap)
        return NXC_OK;
    *cap = *cap ? *cap * 2 : 16;
    a = realloc(*arr, *cap * elem);
    if (!a)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    *arr = a;
    t = realloc(*text, *cap * sizeof(char *));
    if (!t)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    *text = t;
    return NXC_OK;
}

/* ---- datamodel ---- */

static int parse_crd(const json_t *crd, scope_type *t)
{
    const json_t *versions = obj_at(crd, "spec", "versions", NULL), *v;
    const char *ann = str_at(crd, "metadata.annotations.nexus");
    const char *name = str_at(crd, "metadata.name");
    size_t i;

    memset(t, 0, sizeof(*t));
    if (!name || !str_at(crd, "spec.group") || !str_at(crd, "spec.names.plural") ||
        !str_at(crd, "spec.names.kind"))
        return nxc_error_set(NXC_EINVALID, "CRD without name, group, plural or kind");
    copy(t->crd, sizeof(t->crd), name);
    copy(t->group, sizeof(t->group), str_at(crd, "spec.group"));
    copy(t->resource, sizeof(t->resource), str_at(crd, "spec.names.plural"));
    copy(t->kind, sizeof(t->kind), str_at(crd, "spec.names.kind"));
    t->namespaced =
        str_at(crd, "spec.scope") && strcmp(str_at(crd, "spec.scope"), "Namespaced") == 0;
    json_array_foreach (versions, i, v) {
        const char *vn = str_at(v, "name");
        size_t used = strlen(t->served);

        if (vn && !json_is_false(json_object_get(v, "served")) &&
            used + strlen(vn) + 2 < sizeof(t->served))
            snprintf(t->served + used, sizeof(t->served) - used, "%s%s,", used ? "" : ",", vn);
        if (json_is_true(json_object_get(v, "storage")) || !t->version[0]) {
            const json_t *st = obj_at(v, "schema", "openAPIV3Schema", "properties");

            copy(t->version, sizeof(t->version), str_at(v, "name"));
            st = obj_at(st, "status", "properties", "nexus");
            t->nexus_status = obj_at(st, "properties", "remoteGeneration", NULL) != NULL;
        }
    }
    if (!t->version[0])
        return nxc_error_set(NXC_EINVALID, "CRD %s has no version", name);
    if (ann) {
        json_t *doc = json_loads(ann, 0, NULL);
        const json_t *h = json_object_get(doc, "hierarchy"), *e;

        if (json_is_array(h) && json_array_size(h) > 0) {
            t->hierarchy = calloc(json_array_size(h), sizeof(char *));
            if (!t->hierarchy) {
                json_decref(doc);
                return nxc_error_set(NXC_ENOMEM, "out of memory");
            }
            json_array_foreach (h, i, e) {
                if (!json_is_string(e))
                    continue;
                t->hierarchy[t->nhierarchy] = strdup(json_string_value(e));
                if (!t->hierarchy[t->nhierarchy]) {
                    json_decref(doc);
                    return nxc_error_set(NXC_ENOMEM, "out of memory");
                }
                t->nhierarchy++;
            }
        }
        json_decref(doc);
    }
    return NXC_OK;
}

/* The part of a CRD the scope uses, as text. */
static char *crd_text(const json_t *crd)
{
    json_t *o = json_pack("{s:O?,s:O?,s:O?}", "n", json_object_get(crd, "spec"), "a",
                          obj_at(crd, "metadata", "annotations", "nexus"), "m",
                          obj_at(crd, "metadata", "name", NULL));
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

    json_decref(o);
    return s;
}

static size_t find_type(const scope *s, const char *crd)
{
    for (size_t i = 0; i < s->ntypes; i++)
        if (strcmp(s->types[i].crd, crd) == 0)
            return i;
    return (size_t)-1;
}

int scope_set_crd(scope *s, const json_t *crd, int *changed)
{
    scope_type t;
    char *text;
    size_t i;
    int rc;

    if (changed)
        *changed = 0;
    rc = parse_crd(crd, &t);
    if (rc) {
        type_clear(&t);
        return rc;
    }
    text = crd_text(crd);
    if (!text) {
        type_clear(&t);
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    i = find_type(s, t.crd);
    if (i != (size_t)-1) {
        if (strcmp(s->type_text[i], text) == 0) {
            free(text);
            type_clear(&t);
            return NXC_OK;
        }
        type_clear(&s->types[i]);
        free(s->type_text[i]);
    } else {
        rc = grow((void **)&s->types, sizeof(*s->types), &s->type_text, s->ntypes, &s->captypes);
        if (rc) {
            free(text);
            type_clear(&t);
            return rc;
        }
        i = s->ntypes++;
    }
    s->types[i] = t;
    s->type_text[i] = text;
    if (changed)
        *changed = 1;
    return NXC_OK;
}

void scope_del_crd(scope *s, const char *name, int *changed)
{
    size_t i = find_type(s, name);

    if (changed)
        *changed = i != (size_t)-1;
    if (i == (size_t)-1)
        return;
    type_clear(&s->types[i]);
    free(s->type_text[i]);
    s->ntypes--;
    s->types[i] = s->types[s->ntypes];
    s->type_text[i] = s->type_text[s->ntypes];
}

size_t scope_type_count(const scope *s)
{
    return s->ntypes;
}

const scope_type *scope_type_at(const scope *s, size_t i)
{
    return i < s->ntypes ? &s->types[i] : NULL;
}

const scope_type *scope_type_by_crd(const scope *s, const char *crd)
{
    size_t i = find_type(s, crd);

    return i == (size_t)-1 ? NULL : &s->types[i];
}

const scope_type *scope_type_by_gk(const scope *s, const char *group, const char *kind)
{
    for (size_t i = 0; i < s->ntypes; i++)
        if (strcmp(s->types[i].group, group) == 0 && strcmp(s->types[i].kind, kind) == 0)
            return &s->types[i];
    return NULL;
}

const scope_type *scope_type_by_gr(const scope *s, const char *group, const char *resource)
{
    for (size_t i = 0; i < s->ntypes; i++)
        if (strcmp(s->types[i].group, group) == 0 && strcmp(s->types[i].resource, resource) == 0)
            return &s->types[i];
    return NULL;
}

/* ---- label filters ---- */

static char *trimmed(const char *p, size_t n)
{
    char *out;

    while (n && isspace((unsigned char)*p)) {
        p++;
        n--;
    }
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    out = malloc(n + 1);
    if (out) {
        memcpy(out, p, n);
        out[n] = '\0';
    }
    return out;
}

static int add_label(scope_config *c, scope_label *l)
{
    scope_label *grown = realloc(c->labels, (c->nlabels + 1) * sizeof(*grown));

    if (!grown) {
        label_clear(l);
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    c->labels = grown;
    c->labels[c->nlabels++] = *l;
    return NXC_OK;
}

static int add_value(scope_label *l, const char *p, size_t n)
{
    char **grown = realloc(l->values, (l->nvalues + 1) * sizeof(char *));

    if (!grown)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    l->values = grown;
    l->values[l->nvalues] = trimmed(p, n);
    if (!l->values[l->nvalues])
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    l->nvalues++;
    return NXC_OK;
}

static int pair(scope_config *c, const char *key, const char *value)
{
    scope_label l;

    memset(&l, 0, sizeof(l));
    l.op = SEL_EQ;
    l.key = strdup(key);
    if (!l.key || add_value(&l, value, strlen(value))) {
        label_clear(&l);
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    return add_label(c, &l);
}

static int valid_key(const char *k)
{
    if (!*k)
        return 0;
    for (; *k; k++)
        if (!isalnum((unsigned char)*k) && !strchr("-_./", *k))
            return 0;
    return 1;
}

/* One term of a label selector: "k=v", "k==v", "k!=v", "k", "!k", "k in (a,b)",
 * "k notin (a,b)". */
static int selector_term(scope_config *c, const char *p, size_t n)
{
    scope_label l;
    char *term = trimmed(p, n), *op, *open;
    int rc = NXC_OK;

    memset(&l, 0, sizeof(l));
    if (!term)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    if (term[0] == '!') {
        l.op = SEL_ABSENT;
        l.key = trimmed(term + 1, strlen(term + 1));
    } else if ((op = strstr(term, "!=")) != NULL) {
        l.op = SEL_NE;
        l.key = trimmed(term, (size_t)(op - term));
        rc = add_value(&l, op + 2, strlen(op + 2));
    } else if ((op = strchr(term, '=')) != NULL) {
        const char *v = op[1] == '=' ? op + 2 : op + 1;

        l.op = SEL_EQ;
        l.key = trimmed(term, (size_t)(op - term));
        rc = add_value(&l, v, strlen(v));
    } else if ((open = strchr(term, '(')) != NULL) {
        char *sp = term;
        char *close = strrchr(term, ')');

        while (sp < open && !isspace((unsigned char)*sp))
            sp++;
        l.key = trimmed(term, (size_t)(sp - term));
        op = trimmed(sp, (size_t)(open - sp));
        if (!op || !close || close < open || close[1]) {
            free(op);
            rc = NXC_EINVALID;
        } else {
            l.op = strcmp(op, "in") == 0 ? SEL_IN : strcmp(op, "notin") == 0 ? SEL_NOTIN : -1;
            if ((int)l.op == -1)
                rc = NXC_EINVALID;
            free(op);
            for (char *q = open + 1; !rc && q < close;) {
                char *e = memchr(q, ',', (size_t)(close - q));

                if (!e)
                    e = close;
                rc = add_value(&l, q, (size_t)(e - q));
                q = e + 1;
            }
            if (!rc && l.nvalues == 0)
                rc = NXC_EINVALID; /* "k in ()": an empty set is no selector */
        }
    } else {
        l.op = SEL_EXISTS;
        l.key = trimmed(term, strlen(term));
    }
    if (!rc && (!l.key || !valid_key(l.key)))
        rc = NXC_EINVALID;
    for (size_t i = 0; !rc && i < l.nvalues; i++)
        if (strchr(l.values[i], ' ') || strchr(l.values[i], '='))
            rc = NXC_EINVALID;
    if (rc) {
        label_clear(&l);
        if (rc == NXC_EINVALID)
            snprintf(c->error, sizeof(c->error),
                     "spec.source.sourceFilters.labelSelector: cannot read \"%.120s\"", term);
        free(term);
        return rc;
    }
    free(term);
    return add_label(c, &l);
}

static int parse_selector(scope_config *c, const char *sel)
{
    int depth = 0;
    const char *start = sel;

    for (const char *p = sel;; p++) {
        if (*p == '(')
            depth++;
        else if (*p == ')')
            depth--;
        if (*p == '\0' || (*p == ',' && depth == 0)) {
            if (p > start) {
                int rc = selector_term(c, start, (size_t)(p - start));

                if (rc)
                    return rc;
            }
            if (!*p)
                break;
            start = p + 1;
        }
    }
    return NXC_OK;
}

/* [{key, value}, ...] as equality filters; where names the field in errors. */
static int parse_pairs(scope_config *c, const json_t *arr, const char *where)
{
    size_t i;
    const json_t *e;

    if (!arr)
        return NXC_OK;
    if (!json_is_array(arr)) {
        snprintf(c->error, sizeof(c->error), "%s: must be a list of {key, value}", where);
        return NXC_EINVALID;
    }
    json_array_foreach (arr, i, e) {
        const char *k = str_at(e, "key"), *v = str_at(e, "value");

        if (!k || !v) {
            snprintf(c->error, sizeof(c->error), "%s[%zu]: needs a key and a value", where, i);
            return NXC_EINVALID;
        }
        if (!valid_key(k)) {
            snprintf(c->error, sizeof(c->error), "%s[%zu].key: '%.64s' is not a label key", where,
                     i, k);
            return NXC_EINVALID;
        }
        if (pair(c, k, v))
            return NXC_ENOMEM;
    }
    return NXC_OK;
}

static int parse_config(const json_t *rc, scope_config *c)
{
    const json_t *spec = json_object_get(rc, "spec");
    const char *kind = str_at(spec, "source.kind");
    const char *policy = str_at(spec, "deletionPolicy");
    const json_t *gen = obj_at(rc, "metadata", "generation", NULL);
    int err;

    copy(c->name, sizeof(c->name), str_at(rc, "metadata.name"));
    copy(c->peer, sizeof(c->peer), str_at(spec, "remoteEndpointGvk.name"));
    c->generation = json_is_integer(gen) ? (long long)json_integer_value(gen) : 0;
    c->policy = SCOPE_ORPHAN;
    if (!c->peer[0]) {
        copy(c->error, sizeof(c->error), "spec.remoteEndpointGvk.name: required (the peer)");
        return NXC_EINVALID;
    }
    if ((str_at(spec, "remoteEndpointGvk.group") &&
         strcmp(str_at(spec, "remoteEndpointGvk.group"), SCOPE_OWN_GROUP) != 0) ||
        (str_at(spec, "remoteEndpointGvk.kind") &&
         strcmp(str_at(spec, "remoteEndpointGvk.kind"), "NexusEndpoint") != 0)) {
        copy(c->error, sizeof(c->error),
             "spec.remoteEndpointGvk: names a NexusEndpoint (group " SCOPE_OWN_GROUP
             ", kind NexusEndpoint)");
        return NXC_EINVALID;
    }
    if (policy && strcmp(policy, "Delete") == 0) {
        c->policy = SCOPE_DELETE;
    } else if (policy && strcmp(policy, "Orphan") != 0) {
        copy(c->error, sizeof(c->error), "spec.deletionPolicy: must be Orphan or Delete");
        return NXC_EINVALID;
    }
    if (kind && strcmp(kind, "Object") == 0) {
        const json_t *o = obj_at(spec, "source", "object", NULL);
        const json_t *h = json_object_get(o, "hierarchical");
        const json_t *d = json_object_get(o, "depth");

        c->source = SCOPE_OBJECT;
        copy(c->group, sizeof(c->group), str_at(o, "objectType.group"));
        copy(c->kind, sizeof(c->kind), str_at(o, "objectType.kind"));
        copy(c->version, sizeof(c->version), str_at(o, "objectType.version"));
        copy(c->node, sizeof(c->node), str_at(o, "name"));
        if (!c->kind[0] || !c->node[0] || !str_at(o, "objectType.group")) {
            copy(c->error, sizeof(c->error),
                 "spec.source.object: needs objectType (group, kind) and name");
            return NXC_EINVALID;
        }
        if (strcmp(c->group, SCOPE_OWN_GROUP) == 0)
            goto own;
        c->hierarchical = !json_is_false(h);
        if (d && (!json_is_integer(d) || json_integer_value(d) < 0)) {
            copy(c->error, sizeof(c->error), "spec.source.object.depth: must be 0 or more");
            return NXC_EINVALID;
        }
        c->depth = d ? (long)json_integer_value(d) : 0;
        return parse_pairs(c, obj_at(o, "hierarchy", "labels", NULL),
                           "spec.source.object.hierarchy.labels");
    }
    if (kind && strcmp(kind, "Type") == 0) {
        const json_t *f = obj_at(spec, "source", "sourceFilters", NULL);
        const char *sel = str_at(f, "labelSelector");

        c->source = SCOPE_TYPE;
        copy(c->group, sizeof(c->group), str_at(spec, "source.type.group"));
        copy(c->kind, sizeof(c->kind), str_at(spec, "source.type.kind"));
        copy(c->version, sizeof(c->version), str_at(spec, "source.type.version"));
        copy(c->ns, sizeof(c->ns), str_at(f, "namespace"));
        if (!c->kind[0] || !str_at(spec, "source.type.group")) {
            copy(c->error, sizeof(c->error), "spec.source.type: needs group and kind");
            return NXC_EINVALID;
        }
        if (strcmp(c->group, SCOPE_OWN_GROUP) == 0)
            goto own;
        err = parse_pairs(c, json_object_get(f, "labels"), "spec.source.sourceFilters.labels");
        if (!err && sel)
            err = parse_selector(c, sel);
        return err;
    }
    copy(c->error, sizeof(c->error), "spec.source.kind: must be Object or Type");
    return NXC_EINVALID;
own:
    copy(c->error, sizeof(c->error),
         "spec.source: the connector's own types (" SCOPE_OWN_GROUP ") are not replicated");
    return NXC_EINVALID;
}

static size_t find_config(const scope *s, const char *name)
{
    for (size_t i = 0; i < s->nconfigs; i++)
        if (strcmp(s->configs[i].name, name) == 0)
            return i;
    return (size_t)-1;
}

int scope_set_config(scope *s, const json_t *rc, int *changed)
{
    scope_config c;
    const char *name = str_at(rc, "metadata.name");
    char *text;
    size_t i;
    int err;

    if (changed)
        *changed = 0;
    if (!name)
        return nxc_error_set(NXC_EINVALID, "ReplicationConfig without a name");
    text = json_dumps(json_object_get(rc, "spec"), JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        text = strdup("null");
    if (!text)
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    i = find_config(s, name);
    if (i != (size_t)-1 && strcmp(s->config_text[i], text) == 0) {
        free(text);
        return NXC_OK;
    }
    memset(&c, 0, sizeof(c));
    err = parse_config(rc, &c);
    if (err == NXC_ENOMEM) {
        config_clear(&c);
        free(text);
        return nxc_error_set(NXC_ENOMEM, "out of memory");
    }
    if (err) { /* kept, with its error: it selects nothing and says why */
        labels_free(c.labels, c.nlabels);
        c.labels = NULL;
        c.nlabels = 0;
    }
    if (i != (size_t)-1) {
        config_clear(&s->configs[i]);
        free(s->config_text[i]);
    } else {
        err = grow((void **)&s->configs, sizeof(*s->configs), &s->config_text, s->nconfigs,
                   &s->capconfigs);
        if (err) {
            config_clear(&c);
            free(text);
            return err;
        }
        i = s->nconfigs++;
    }
    s->configs[i] = c;
    s->config_text[i] = text;
    if (changed)
        *changed = 1;
    return NXC_OK;
}

void scope_del_config(scope *s, const char *name, int *changed)
{
    size_t i = find_config(s, name);

    if (changed)
        *changed = i != (size_t)-1;
    if (i == (size_t)-1)
        return;
    config_clear(&s->configs[i]);
    free(s->config_text[i]);
    s->nconfigs--;
    s->configs[i] = s->configs[s->nconfigs];
    s->config_text[i] = s->config_text[s->nconfigs];
}

size_t scope_config_count(const scope *s)
{
    return s->nconfigs;
}

const scope_config *scope_config_at(const scope *s, size_t i)
{
    return i < s->nconfigs ? &s->configs[i] : NULL;
}

/* ---- membership ---- */

static const char *label(const json_t *labels, const char *key)
{
    const json_t *v = json_object_get(labels, key);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int label_ok(const scope_label *l, const json_t *labels)
{
    const char *v = label(labels, l->key);
    int in = 0;

    for (size_t i = 0; v && i < l->nvalues; i++)
        in |= strcmp(v, l->values[i]) == 0;
    switch (l->op) {
    case SEL_EQ:
    case SEL_IN: return in;
    case SEL_NE:
    case SEL_NOTIN: return !in;
    case SEL_EXISTS: return v != NULL;
    case SEL_ABSENT: return v == NULL;
    }
    return 0;
}

static int labels_ok(const scope_config *c, const json_t *labels)
{
    for (size_t i = 0; i < c->nlabels; i++)
        if (!label_ok(&c->labels[i], labels))
            return 0;
    return 1;
}

int scope_type_serves(const scope_type *t, const char *version)
{
    char needle[72];

    snprintf(needle, sizeof(needle), ",%s,", version);
    return strstr(t->served, needle) != NULL;
}

const scope_type *scope_config_type(const scope *s, const scope_config *c)
{
    const scope_type *t = scope_type_by_gk(s, c->group, c->kind);

    return t && (!c->version[0] || scope_type_serves(t, c->version)) ? t : NULL;
}

int scope_config_covers_type(const scope *s, const scope_config *c, const scope_type *t)
{
    const scope_type *root;

    if (c->error[0])
        return 0;
    root = scope_config_type(s, c);
    if (!root)
        return 0;
    if (c->source == SCOPE_TYPE)
        return root == t;
    if (root == t)
        return 1;
    if (!c->hierarchical)
        return 0;
    for (size_t i = 0; i < t->nhierarchy; i++)
        if (strcmp(t->hierarchy[i], root->crd) == 0)
            return !c->depth || (long)(t->nhierarchy - i) <= c->depth;
    return 0;
}

int scope_config_selects(const scope *s, const scope_config *c, const char *group,
                         const char *resource, const char *ns, const char *name,
                         const json_t *labels)
{
    const scope_type *t = scope_type_by_gr(s, group, resource), *root;
    const char *display;

    if (!t || !scope_config_covers_type(s, c, t))
        return 0;
    if (c->source == SCOPE_TYPE)
        return (!c->ns[0] || (ns && strcmp(ns, c->ns) == 0)) && labels_ok(c, labels);
    if (!labels_ok(c, labels)) /* the ancestors' labels */
        return 0;
    root = scope_config_type(s, c);
    if (root == t) {
        display = label(labels, DISPLAY_LABEL);
        return strcmp(display ? display : name, c->node) == 0;
    }
    display = label(labels, root->crd);
    return display && strcmp(display, c->node) == 0;
}
