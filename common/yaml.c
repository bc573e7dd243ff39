/*
 * yaml: libyaml events -> jansson values (see yaml.h for the typing rules).
 *
 * The event parser streams, so a recursive descent over events builds the tree; the depth cap
 * bounds the recursion, the size cap bounds the rest. Aliases are refused rather than
 * expanded: expanding them is how "billion laughs" documents explode memory, and none of the
 * files we read (configs, kubeconfigs, CRDs) use them.
 */
#include "yaml.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"

/* Reaches libyaml's own header through the forwarder at the end of our yaml.h. */
#define NXC_YAML_LIBYAML
#include <yaml.h>

#define TAG_STR "tag:yaml.org,2002:str"
#define TAG_NULL "tag:yaml.org,2002:null"
#define TAG_BOOL "tag:yaml.org,2002:bool"
#define TAG_INT "tag:yaml.org,2002:int"
#define TAG_FLOAT "tag:yaml.org,2002:float"

/* What a plain scalar resolves to under the core schema. */
enum kind { K_STR, K_NULL, K_BOOL, K_INT, K_FLOAT, K_INF_NAN };

struct reader {
    yaml_parser_t parser; /* libyaml state, reading the caller's buffer */
    yaml_event_t ev;      /* the current event, owned while have_ev */
    int have_ev;          /* ev must be deleted before the next parse */
};

static int mark_error(int code, const yaml_mark_t *m, const char *what)
{
    return nxc_error_set(code, "line %zu, column %zu: %s", m->line + 1, m->column + 1, what);
}

static int parser_error(const yaml_parser_t *p)
{
    const yaml_mark_t *m = &p->problem_mark;
    const char *problem = p->problem ? p->problem : "syntax error";

    if (p->error == YAML_MEMORY_ERROR)
        return nxc_error_set(NXC_ENOMEM, "out of memory parsing YAML");
    /* Reader errors (bad encoding) have no problem mark; the current position is close. */
    if (p->error == YAML_READER_ERROR)
        m = &p->mark;
    if (p->context)
        return nxc_error_set(NXC_EINVALID, "line %zu, column %zu: %s (%s at line %zu, column %zu)",
                             m->line + 1, m->column + 1, problem, p->context,
                             p->context_mark.line + 1, p->context_mark.column + 1);
    return mark_error(NXC_EINVALID, m, problem);
}

static int next_event(struct reader *r)
{
    if (r->have_ev) {
        yaml_event_delete(&r->ev);
        r->have_ev = 0;
    }
    if (!yaml_parser_parse(&r->parser, &r->ev))
        return parser_error(&r->parser);
    r->have_ev = 1;
    return NXC_OK;
}

static int all_in(const char *s, size_t n, const char *set)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (!strchr(set, s[i]))
            return 0;
    }
    return 1;
}

static int is_one_of(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++) {
        if (strlen(*words) == n && memcmp(s, *words, n) == 0)
            return 1;
    }
    return 0;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float(const char *s, size_t n)
{
    size_t i = 0, digits = 0;

    if (i < n && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        size_t frac = 0;

        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            frac++;
        }
        /* ".5" needs its fraction; "5." is fine. */
        if (digits == 0 && frac == 0)
            return 0;
    } else if (digits == 0) {
        return 0;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp = 0;

        i++;
        if (i < n && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9') {
            i++;
            exp++;
        }
        if (exp == 0)
            return 0;
    }
    return i == n;
}

static enum kind classify(const char *s, size_t n)
{
    static const char *const nulls[] = {"null", "Null", "NULL", "~", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const infnan[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                         "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                         ".NaN",  ".NAN",  NULL};
    size_t sign = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;

    if (n == 0 || is_one_of(s, n, nulls))
        return K_NULL;
    if (is_one_of(s, n, bools))
        return K_BOOL;
    if (all_in(s + sign, n - sign, "0123456789"))
        return K_INT;
    if (n > 2 && s[0] == '0' && s[1] == 'o' && all_in(s + 2, n - 2, "01234567"))
        return K_INT;
    if (n > 2 && s[0] == '0' && s[1] == 'x' && all_in(s + 2, n - 2, "0123456789abcdefABCDEF"))
        return K_INT;
    if (is_one_of(s, n, infnan))
        return K_INF_NAN;
    if (is_float(s, n))
        return K_FLOAT;
    return K_STR;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return c - 'A' + 10;
}

/* s was classified K_INT. Exact, or an error: a config value silently changed is worse. */
static int to_int(const char *s, size_t n, json_int_t *out)
{
    const uint64_t pos_max = (uint64_t)INT64_MAX;
    uint64_t v = 0, limit;
    unsigned base = 10;
    size_t i = 0;
    int neg = 0;

    if (s[0] == '-' || s[0] == '+') {
        neg = s[0] == '-';
        i = 1;
    } else if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
    }
    limit = neg ? pos_max + 1 : pos_max;
    for (; i < n; i++) {
        unsigned d = (unsigned)digit_value(s[i]);

        if (v > (limit - d) / base)
            return NXC_ELIMIT;
        v = v * base + d;
    }
    if (neg)
        *out = v == pos_max + 1 ? INT64_MIN : -(json_int_t)v;
    else
        *out = (json_int_t)v;
    return NXC_OK;
}

/* Builds the value of a scalar of kind k; errors are reported at the scalar's mark. */
static int make_value(enum kind k, const char *s, size_t n, const yaml_mark_t *m, json_t **out)
{
    json_int_t i;
    double d;

    switch (k) {
    case K_NULL: *out = json_null(); return NXC_OK;
    case K_BOOL: *out = json_boolean(s[0] == 't' || s[0] == 'T'); return NXC_OK;
    case K_INT:
        if (to_int(s, n, &i))
            return mark_error(NXC_EINVALID, m, "integer out of the 64-bit range");
        *out = json_integer(i);
        break;
    case K_FLOAT:
        /* libyaml NUL-terminates scalar values, and the whole scalar matched the float
         * pattern, so strtod reads exactly it. */
        d = strtod(s, NULL);
        if (isinf(d))
            return mark_error(NXC_EINVALID, m, "float out of range");
        *out = json_real(d);
        break;
    case K_INF_NAN:
        return mark_error(NXC_EINVALID, m, ".inf and .nan cannot be represented in JSON");
    case K_STR:
        *out = json_stringn(s, n);
        if (!*out)
            return mark_error(NXC_EINVALID, m, "string is not valid UTF-8");
        return NXC_OK;
    }
    if (!*out)
        return nxc_error_set(NXC_ENOMEM, "out of memory building a YAML value");
    return NXC_OK;
}

static int scalar(const yaml_event_t *ev, json_t **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    size_t n = ev->data.scalar.length;
    const yaml_mark_t *m = &ev->start_mark;
    enum kind k = classify(s, n);
    enum kind want;

    if (tag && (strcmp(tag, TAG_STR) == 0 || strcmp(tag, "!") == 0))
        return make_value(K_STR, s, n, m, out);
    if (tag && strcmp(tag, TAG_NULL) == 0)
        want = K_NULL;
    else if (tag && strcmp(tag, TAG_BOOL) == 0)
        want = K_BOOL;
    else if (tag && strcmp(tag, TAG_INT) == 0)
        want = K_INT;
    else if (tag && strcmp(tag, TAG_FLOAT) == 0)
        want = K_FLOAT;
    else if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
        return make_value(k, s, n, m, out);
    else
        return make_value(K_STR, s, n, m, out);

    if (want == K_FLOAT && k == K_INT) {
        /* "!!float 1" is 1.0; parse it as an integer first so the range check applies. */
        int rc = make_value(K_INT, s, n, m, out);
        json_t *r;

        if (rc)
            return rc;
        r = json_real((double)json_integer_value(*out));
        json_decref(*out);
        *out = r;
        return r ? NXC_OK : nxc_error_set(NXC_ENOMEM, "out of memory building a YAML value");
    }
    if (k != want && !(want == K_FLOAT && k == K_INF_NAN))
        return mark_error(NXC_EINVALID, m, "value does not match its explicit tag");
    return make_value(k, s, n, m, out);
}

static int node(struct reader *r, int depth, json_t **out);

static int sequence(struct reader *r, int depth, json_t **out)
{
    json_t *arr = json_array();
    json_t *item = NULL;
    int rc;

    if (!arr)
        return nxc_error_set(NXC_ENOMEM, "out of memory building a YAML sequence");
    for (;;) {
        rc = next_event(r);
        if (rc)
            goto out;
        if (r->ev.type == YAML_SEQUENCE_END_EVENT)
            break;
        rc = node(r, depth, &item);
        if (rc)
            goto out;
        rc = json_array_append_new(arr, item);
        item = NULL;
        if (rc) {
            rc = nxc_error_set(NXC_ENOMEM, "out of memory building a YAML sequence");
            goto out;
        }
    }
    *out = arr;
    arr = NULL;
out:
    json_decref(arr);
    return rc;
}

static int mapping(struct reader *r, int depth, json_t **out)
{
    json_t *obj = json_object();
    json_t *value = NULL;
    char *key = NULL;
    yaml_mark_t key_mark;
    int rc;

    if (!obj)
        return nxc_error_set(NXC_ENOMEM, "out of memory building a YAML mapping");
    for (;;) {
        rc = next_event(r);
        if (rc)
            goto out;
        if (r->ev.type == YAML_MAPPING_END_EVENT)
            break;
        key_mark = r->ev.start_mark;
        if (r->ev.type == YAML_ALIAS_EVENT) {
            rc = mark_error(NXC_EINVALID, &key_mark, "aliases are not supported");
            goto out;
        }
        if (r->ev.type != YAML_SCALAR_EVENT) {
            rc = mark_error(NXC_EINVALID, &key_mark, "mapping keys must be scalars");
            goto out;
        }
        if (memchr(r->ev.data.scalar.value, '\0', r->ev.data.scalar.length)) {
            rc = mark_error(NXC_EINVALID, &key_mark, "mapping key contains NUL");
            goto out;
        }
        /* Any scalar key keeps its text: JSON keys are strings. */
        key = strdup((const char *)r->ev.data.scalar.value);
        if (!key) {
            rc = nxc_error_set(NXC_ENOMEM, "out of memory building a YAML mapping");
            goto out;
        }
        rc = next_event(r);
        if (rc)
            goto out;
        rc = node(r, depth, &value);
        if (rc)
            goto out;
        if (json_object_get(obj, key)) {
            char what[160];

            snprintf(what, sizeof(what), "duplicate key \"%.100s\"", key);
            rc = mark_error(NXC_EINVALID, &key_mark, what);
            goto out;
        }
        rc = json_object_set_new(obj, key, value);
        value = NULL;
        if (rc) {
            /* Keys are UTF-8 from libyaml, so a failure here is allocation. */
            rc = nxc_error_set(NXC_ENOMEM, "out of memory building a YAML mapping");
            goto out;
        }
        free(key);
        key = NULL;
    }
    *out = obj;
    obj = NULL;
out:
    free(key);
    json_decref(value);
    json_decref(obj);
    return rc;
}

/* Converts the node whose first event is r->ev; on return r->ev is its last event. */
static int node(struct reader *r, int depth, json_t **out)
{
    switch (r->ev.type) {
    case YAML_SCALAR_EVENT: return scalar(&r->ev, out);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (depth >= NXC_YAML_MAX_DEPTH) {
            char what[64];

            snprintf(what, sizeof(what), "nested deeper than %d levels", NXC_YAML_MAX_DEPTH);
            return mark_error(NXC_ELIMIT, &r->ev.start_mark, what);
        }
        if (r->ev.type == YAML_SEQUENCE_START_EVENT)
            return sequence(r, depth + 1, out);
        return mapping(r, depth + 1, out);
    case YAML_ALIAS_EVENT:
        return mark_error(NXC_EINVALID, &r->ev.start_mark, "aliases are not supported");
    default: return mark_error(NXC_EINVALID, &r->ev.start_mark, "unexpected YAML event");
    }
}

/* An empty document (nothing, or only comments) arrives as an untagged empty plain scalar. */
static int is_empty_document(const yaml_event_t *ev)
{
    return ev->type == YAML_SCALAR_EVENT && ev->data.scalar.length == 0 &&
           ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
           !ev->data.scalar.anchor;
}

/* Parses documents of text: all of them into an array, or only the first non-empty one. */
static int parse(const char *text, size_t len, int all, json_t **out)
{
    struct reader r;
    json_t *docs = NULL, *doc = NULL;
    int rc;

    *out = NULL;
    if (len > NXC_YAML_MAX_SIZE)
        return nxc_error_set(NXC_ELIMIT, "YAML input of %zu bytes is over the %u byte limit", len,
                             NXC_YAML_MAX_SIZE);
    memset(&r, 0, sizeof(r));
    if (!yaml_parser_initialize(&r.parser))
        return nxc_error_set(NXC_ENOMEM, "out of memory starting the YAML parser");
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    docs = json_array();
    if (!docs) {
        rc = nxc_error_set(NXC_ENOMEM, "out of memory parsing YAML");
        goto out;
    }
    for (;;) {
        rc = next_event(&r);
        if (rc)
            goto out;
        if (r.ev.type == YAML_STREAM_END_EVENT)
            break;
        if (r.ev.type != YAML_DOCUMENT_START_EVENT)
            continue; /* STREAM_START */
        rc = next_event(&r);
        if (rc)
            goto out;
        if (!is_empty_document(&r.ev)) {
            rc = node(&r, 0, &doc);
            if (rc)
                goto out;
            rc = json_array_append_new(docs, doc);
            doc = NULL;
            if (rc) {
                rc = nxc_error_set(NXC_ENOMEM, "out of memory parsing YAML");
                goto out;
            }
            if (!all)
                break;
        }
        rc = next_event(&r); /* DOCUMENT_END */
        if (rc)
            goto out;
    }
    if (all) {
        *out = docs;
        docs = NULL;
    } else {
        *out = json_array_size(docs) ? json_incref(json_array_get(docs, 0)) : json_null();
    }
out:
    if (r.have_ev)
        yaml_event_delete(&r.ev);
    yaml_parser_delete(&r.parser);
    json_decref(docs);
    return rc;
}

int nxc_yaml_parse(const char *text, size_t len, json_t **out)
{
    return parse(text, len, 0, out);
}

int nxc_yaml_parse_all(const char *text, size_t len, json_t **out)
{
    return parse(text, len, 1, out);
}

static int read_file(const char *path, nxc_buf *b)
{
    char chunk[65536];
    ssize_t n;
    int fd, rc = NXC_OK;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return nxc_error_set(errno == ENOENT ? NXC_ENOTFOUND : NXC_ERROR, "%s: %s", path,
                             strerror(errno));
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = nxc_error_set(NXC_ERROR, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        rc = nxc_buf_add(b, chunk, (size_t)n);
        if (rc == NXC_ELIMIT) {
            rc = nxc_error_set(NXC_ELIMIT, "%s: larger than the %u byte limit for YAML", path,
                               NXC_YAML_MAX_SIZE);
            goto out;
        }
        if (rc)
            goto out;
    }
out:
    close(fd);
    return rc;
}

static int load(const char *path, int all, json_t **out)
{
    nxc_buf b;
    int rc;

    *out = NULL;
    nxc_buf_init(&b, NXC_YAML_MAX_SIZE);
    rc = read_file(path, &b);
    if (rc)
        goto out;
    rc = parse(b.ptr ? b.ptr : "", b.len, all, out);
    if (rc)
        nxc_error_wrap(path);
out:
    nxc_buf_free(&b);
    return rc;
}

int nxc_yaml_load_file(const char *path, json_t **out)
{
    return load(path, 0, out);
}

int nxc_yaml_load_file_all(const char *path, json_t **out)
{
    return load(path, 1, out);
}
