/*
 * vv: version vectors and the hybrid logical clock (vv.h).
 *
 * A vector is a small array sorted by id: a few runtimes take part in a replication, so
 * linear scans beat any map, and the sorted order makes compare/merge one merge-join and the
 * readable and msgpack forms canonical. A counter of 0 is never stored (absent means 0), so
 * equal histories have equal representations.
 *
 * Counters are kept at or below INT64_MAX so they fit every JSON and signed-integer consumer;
 * a peer can therefore never push a counter to where bumping it would wrap.
 */
#include "vv.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"

#define COUNTER_MAX ((uint64_t)INT64_MAX)
#define HLC_LOGICAL_BITS 16
#define HLC_MS_MASK ((UINT64_C(1) << 48) - 1)

struct entry {
    uint64_t counter;           /* 1..COUNTER_MAX */
    char id[NXC_VV_ID_MAX + 1]; /* valid runtime id, NUL-terminated */
};

struct nxc_vv {
    struct entry *e; /* n entries sorted by id (bytewise), no duplicates */
    size_t n;        /* entries in use */
    size_t cap;      /* entries allocated */
};

static int id_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Length of a valid id at s of at most max bytes, else 0. */
static size_t id_len(const char *s, size_t max)
{
    size_t n;

    for (n = 0; n < max && s[n]; n++) {
        if (n == NXC_VV_ID_MAX || !id_char((unsigned char)s[n]))
            return 0;
    }
    return n;
}

int nxc_vv_id_valid(const char *id)
{
    if (!id)
        return 0;
    return id_len(id, NXC_VV_ID_MAX + 1) > 0;
}

nxc_vv *nxc_vv_new(void)
{
    return calloc(1, sizeof(nxc_vv));
}

nxc_vv *nxc_vv_dup(const nxc_vv *v)
{
    nxc_vv *d = nxc_vv_new();

    if (!d || !v || !v->n)
        return d;
    d->e = malloc(v->n * sizeof(*d->e));
    if (!d->e) {
        free(d);
        return NULL;
    }
    memcpy(d->e, v->e, v->n * sizeof(*d->e));
    d->n = v->n;
    d->cap = v->n;
    return d;
}

void nxc_vv_free(nxc_vv *v)
{
    if (!v)
        return;
    free(v->e);
    free(v);
}

/* Index of id, or the index where it would go with *found = 0. */
static size_t find(const nxc_vv *v, const char *id, int *found)
{
    size_t lo = 0, hi = v->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v->e[mid].id, id);

        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

uint64_t nxc_vv_get(const nxc_vv *v, const char *id)
{
    int found;
    size_t i;

    if (!v || !id)
        return 0;
    i = find(v, id, &found);
    return found ? v->e[i].counter : 0;
}

static int reserve(nxc_vv *v, size_t n)
{
    struct entry *e;
    size_t cap;

    if (n <= v->cap)
        return NXC_OK;
    if (n > NXC_VV_MAX_ENTRIES)
        return nxc_error_set(NXC_ELIMIT, "version vector: more than %d entries",
                             NXC_VV_MAX_ENTRIES);
    cap = v->cap ? v->cap * 2 : 4;
    if (cap < n)
        cap = n;
    if (cap > NXC_VV_MAX_ENTRIES)
        cap = NXC_VV_MAX_ENTRIES;
    e = realloc(v->e, cap * sizeof(*e));
    if (!e)
        return nxc_error_set(NXC_ENOMEM, "version vector: out of memory");
    v->e = e;
    v->cap = cap;
    return NXC_OK;
}

int nxc_vv_set(nxc_vv *v, const char *id, uint64_t counter)
{
    size_t i, len;
    int found, rc;

    if (!v)
        return nxc_error_set(NXC_EINVALID, "version vector: none given");
    if (!nxc_vv_id_valid(id))
        return nxc_error_set(NXC_EINVALID, "version vector: invalid runtime id");
    if (counter > COUNTER_MAX)
        return nxc_error_set(NXC_EINVALID, "version vector: counter %llu is above 2^63-1",
                             (unsigned long long)counter);
    i = find(v, id, &found);
    if (found) {
        if (counter) {
            v->e[i].counter = counter;
        } else {
            memmove(&v->e[i], &v->e[i + 1], (v->n - i - 1) * sizeof(*v->e));
            v->n--;
        }
        return NXC_OK;
    }
    if (!counter)
        return NXC_OK;
    rc = reserve(v, v->n + 1);
    if (rc)
        return rc;
    memmove(&v->e[i + 1], &v->e[i], (v->n - i) * sizeof(*v->e));
    len = strlen(id);
    memcpy(v->e[i].id, id, len + 1);
    v->e[i].counter = counter;
    v->n++;
    return NXC_OK;
}

int nxc_vv_bump(nxc_vv *v, const char *id)
{
    uint64_t c = nxc_vv_get(v, id);

    if (c >= COUNTER_MAX)
        return nxc_error_set(NXC_ELIMIT, "version vector: counter of %s cannot grow", id);
    return nxc_vv_set(v, id, c + 1);
}

size_t nxc_vv_size(const nxc_vv *v)
{
    return v ? v->n : 0;
}

const char *nxc_vv_id_at(const nxc_vv *v, size_t i, uint64_t *counter)
{
    if (!v || i >= v->n)
        return NULL;
    if (counter)
        *counter = v->e[i].counter;
    return v->e[i].id;
}

enum nxc_vv_order nxc_vv_compare(const nxc_vv *a, const nxc_vv *b)
{
    size_t na = nxc_vv_size(a), nb = nxc_vv_size(b);
    size_t i = 0, j = 0;
    int a_more = 0, b_more = 0;

    while (i < na || j < nb) {
        int c;

        if (i == na)
            c = 1;
        else if (j == nb)
            c = -1;
        else
            c = strcmp(a->e[i].id, b->e[j].id);
        if (c < 0) {
            a_more = 1; /* only a has this id, and its counter is > 0 */
            i++;
        } else if (c > 0) {
            b_more = 1;
            j++;
        } else {
            if (a->e[i].counter > b->e[j].counter)
                a_more = 1;
            else if (a->e[i].counter < b->e[j].counter)
                b_more = 1;
            i++;
            j++;
        }
    }
    if (a_more && b_more)
        return NXC_VV_CONCURRENT;
    if (a_more)
        return NXC_VV_DOMINATES;
    if (b_more)
        return NXC_VV_STALE;
    return NXC_VV_EQUAL;
}

int nxc_vv_merge(nxc_vv *a, const nxc_vv *b)
{
    size_t missing = 0;
    int found, rc;

    if (!a)
        return nxc_error_set(NXC_EINVALID, "version vector: none given");
    /* Check the size first so a failed merge leaves a unchanged. */
    for (size_t j = 0; j < nxc_vv_size(b); j++) {
        find(a, b->e[j].id, &found);
        if (!found)
            missing++;
    }
    rc = reserve(a, a->n + missing);
    if (rc)
        return rc;
    for (size_t j = 0; j < nxc_vv_size(b); j++) {
        if (b->e[j].counter > nxc_vv_get(a, b->e[j].id)) {
            rc = nxc_vv_set(a, b->e[j].id, b->e[j].counter);
            if (rc)
                return rc;
        }
    }
    return NXC_OK;
}

char *nxc_vv_format(const nxc_vv *v)
{
    /* id, '=', up to 19 digits, ',' per entry */
    size_t cap = nxc_vv_size(v) * (NXC_VV_ID_MAX + 22) + 1;
    size_t off = 0;
    char *s = malloc(cap);

    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < nxc_vv_size(v); i++) {
        int n = snprintf(s + off, cap - off, "%s%s=%llu", i ? "," : "", v->e[i].id,
                         (unsigned long long)v->e[i].counter);

        if (n < 0 || (size_t)n >= cap - off) {
            free(s);
            return NULL;
        }
        off += (size_t)n;
    }
    return s;
}

/* Parses one "id=counter" of n bytes into v. */
static int parse_entry(nxc_vv *v, const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    char id[NXC_VV_ID_MAX + 1];
    uint64_t counter = 0;
    size_t idn, i;

    if (!eq)
        return nxc_error_set(NXC_EINVALID, "version vector: entry without '='");
    idn = (size_t)(eq - s);
    if (idn == 0 || idn > NXC_VV_ID_MAX || id_len(s, idn) != idn)
        return nxc_error_set(NXC_EINVALID, "version vector: invalid runtime id");
    memcpy(id, s, idn);
    id[idn] = '\0';
    if (idn + 1 == n)
        return nxc_error_set(NXC_EINVALID, "version vector: %s has no counter", id);
    for (i = idn + 1; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return nxc_error_set(NXC_EINVALID, "version vector: counter of %s is not a number", id);
        d = (unsigned)(s[i] - '0');
        if (counter > (COUNTER_MAX - d) / 10)
            return nxc_error_set(NXC_EINVALID, "version vector: counter of %s is too large", id);
        counter = counter * 10 + d;
    }
    /* The readable form never holds a 0 (absent means 0), and refusing it keeps repeated
     * ids detectable from the vector itself. */
    if (counter == 0)
        return nxc_error_set(NXC_EINVALID, "version vector: counter of %s is 0", id);
    if (nxc_vv_get(v, id))
        return nxc_error_set(NXC_EINVALID, "version vector: %s appears twice", id);
    return nxc_vv_set(v, id, counter);
}

int nxc_vv_parse(const char *s, nxc_vv **out)
{
    nxc_vv *v;
    size_t entries = 0;
    int rc = NXC_OK;

    *out = NULL;
    if (!s)
        return nxc_error_set(NXC_EINVALID, "version vector: no text");
    v = nxc_vv_new();
    if (!v)
        return nxc_error_set(NXC_ENOMEM, "version vector: out of memory");
    while (*s) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);

        if (++entries > NXC_VV_MAX_ENTRIES) {
            rc = nxc_error_set(NXC_EINVALID, "version vector: more than %d entries",
                               NXC_VV_MAX_ENTRIES);
            goto out;
        }
        if (n == 0) {
            rc = nxc_error_set(NXC_EINVALID, "version vector: empty entry");
            goto out;
        }
        rc = parse_entry(v, s, n);
        if (rc)
            goto out;
        s += n;
        if (comma) {
            s++;
            if (!*s) {
                rc = nxc_error_set(NXC_EINVALID, "version vector: trailing ','");
                goto out;
            }
        }
    }
out:
    if (rc) {
        nxc_vv_free(v);
        return rc;
    }
    *out = v;
    return NXC_OK;
}

int nxc_vv_pack(msgpack_packer *pk, const nxc_vv *v)
{
    if (msgpack_pack_map(pk, nxc_vv_size(v)))
        return nxc_error_set(NXC_ENOMEM, "version vector: writing msgpack failed");
    for (size_t i = 0; i < nxc_vv_size(v); i++) {
        size_t len = strlen(v->e[i].id);

        if (msgpack_pack_str_with_body(pk, v->e[i].id, len) ||
            msgpack_pack_uint64(pk, v->e[i].counter))
            return nxc_error_set(NXC_ENOMEM, "version vector: writing msgpack failed");
    }
    return NXC_OK;
}

int nxc_vv_unpack(const msgpack_object *o, nxc_vv **out)
{
    nxc_vv *v = NULL;
    int rc = NXC_OK;

    *out = NULL;
    if (!o || o->type != MSGPACK_OBJECT_MAP)
        return nxc_error_set(NXC_EINVALID, "version vector: not a map");
    if (o->via.map.size > NXC_VV_MAX_ENTRIES)
        return nxc_error_set(NXC_EINVALID, "version vector: %u entries, at most %d",
                             o->via.map.size, NXC_VV_MAX_ENTRIES);
    v = nxc_vv_new();
    if (!v)
        return nxc_error_set(NXC_ENOMEM, "version vector: out of memory");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *c = &o->via.map.ptr[i].val;
        char id[NXC_VV_ID_MAX + 1];

        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 ||
            k->via.str.size > NXC_VV_ID_MAX ||
            id_len(k->via.str.ptr, k->via.str.size) != k->via.str.size) {
            rc = nxc_error_set(NXC_EINVALID, "version vector: invalid runtime id");
            goto out;
        }
        memcpy(id, k->via.str.ptr, k->via.str.size);
        id[k->via.str.size] = '\0';
        if (c->type != MSGPACK_OBJECT_POSITIVE_INTEGER || c->via.u64 > COUNTER_MAX) {
            rc = nxc_error_set(NXC_EINVALID,
                               "version vector: counter of %s is not an integer in 0..2^63-1", id);
            goto out;
        }
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object *pk = &o->via.map.ptr[j].key;

            if (pk->via.str.size == k->via.str.size &&
                !memcmp(pk->via.str.ptr, k->via.str.ptr, k->via.str.size)) {
                rc = nxc_error_set(NXC_EINVALID, "version vector: %s appears twice", id);
                goto out;
            }
        }
        rc = nxc_vv_set(v, id, c->via.u64);
        if (rc)
            goto out;
    }
out:
    if (rc) {
        nxc_vv_free(v);
        return rc;
    }
    *out = v;
    return NXC_OK;
}

/* ---- hybrid logical clock ------------------------------------------------------------- */

uint64_t nxc_hlc_now_at(nxc_hlc *c, uint64_t wall_ms)
{
    /* 48 bits of milliseconds last until the year 10889; clamp rather than wrap. */
    uint64_t wall = (wall_ms > HLC_MS_MASK ? HLC_MS_MASK : wall_ms) << HLC_LOGICAL_BITS;

    if (wall > c->last) {
        c->last = wall;
    } else if (c->last != UINT64_MAX) {
        /* Same or earlier millisecond (the wall clock may step back): count within the
         * last one; a full logical counter carries into the milliseconds, which keeps
         * stamps unique and ordered. */
        c->last++;
    }
    return c->last;
}

uint64_t nxc_hlc_now(nxc_hlc *c)
{
    struct timespec ts;
    uint64_t ms = 0;

    if (clock_gettime(CLOCK_REALTIME, &ts) == 0 && ts.tv_sec >= 0)
        ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return nxc_hlc_now_at(c, ms);
}

void nxc_hlc_observe(nxc_hlc *c, uint64_t remote)
{
    if (remote > c->last)
        c->last = remote;
}

int nxc_vv_a_wins(uint64_t hlc_a, const char *id_a, uint64_t hlc_b, const char *id_b)
{
    if (hlc_a != hlc_b)
        return hlc_a > hlc_b;
    /* strcmp orders as unsigned char: bytewise. The same (hlc, id) on both sides is the
     * same version, so either answer is right; say a. */
    return strcmp(id_a ? id_a : "", id_b ? id_b : "") >= 0;
}
