/* strmap: open-addressing string hash map with tombstones (see strmap.h). */
#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DELETED ((char *)1)

struct nxc_strmap {
    char **keys; /* NULL empty, DELETED removed, else owned key */
    void **vals;
    size_t cap;  /* power of two */
    size_t len;  /* live entries */
    size_t used; /* live + DELETED slots */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

nxc_strmap *nxc_strmap_new(void)
{
    return calloc(1, sizeof(nxc_strmap));
}

void nxc_strmap_clear(nxc_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && m->keys[i] != DELETED)
            free(m->keys[i]);
    free(m->keys);
    free(m->vals);
    m->keys = NULL;
    m->vals = NULL;
    m->cap = m->len = m->used = 0;
}

void nxc_strmap_free(nxc_strmap *m)
{
    if (!m)
        return;
    nxc_strmap_clear(m);
    free(m);
}

static size_t find(const nxc_strmap *m, const char *key, int *found)
{
    size_t mask = m->cap - 1, i = (size_t)hash(key) & mask, first_free = SIZE_MAX;

    for (;;) {
        char *k = m->keys[i];

        if (!k) {
            *found = 0;
            return first_free != SIZE_MAX ? first_free : i;
        }
        if (k == DELETED) {
            if (first_free == SIZE_MAX)
                first_free = i;
        } else if (strcmp(k, key) == 0) {
            *found = 1;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static int grow(nxc_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 64;
    char **okeys = m->keys;
    void **ovals = m->vals;
    size_t ocap = m->cap;

    if (m->len * 4 < m->cap)
        ncap = m->cap; /* mostly tombstones: rehash in place size */
    m->keys = calloc(ncap, sizeof(char *));
    m->vals = calloc(ncap, sizeof(void *));
    if (!m->keys || !m->vals) {
        free(m->keys);
        free(m->vals);
        m->keys = okeys;
        m->vals = ovals;
        return -1;
    }
    m->cap = ncap;
    m->used = m->len;
    for (size_t i = 0; i < ocap; i++) {
        int found;
        size_t j;

        if (!okeys[i] || okeys[i] == DELETED)
            continue;
        j = find(m, okeys[i], &found);
        m->keys[j] = okeys[i];
        m->vals[j] = ovals[i];
    }
    free(okeys);
    free(ovals);
    return 0;
}

int nxc_strmap_put(nxc_strmap *m, const char *key, void *val)
{
    int found;
    size_t i;
    char *k;

    if ((m->used + 1) * 4 >= m->cap * 3 && grow(m) != 0)
        return -1;
    i = find(m, key, &found);
    if (found) {
        m->vals[i] = val;
        return 0;
    }
    k = strdup(key);
    if (!k)
        return -1;
    if (m->keys[i] != DELETED)
        m->used++;
    m->keys[i] = k;
    m->vals[i] = val;
    m->len++;
    return 0;
}

void *nxc_strmap_get(const nxc_strmap *m, const char *key, int *found)
{
    int f = 0;
    size_t i;

    if (m->cap == 0) {
        if (found)
            *found = 0;
        return NULL;
    }
    i = find(m, key, &f);
    if (found)
        *found = f;
    return f ? m->vals[i] : NULL;
}

void *nxc_strmap_del(nxc_strmap *m, const char *key)
{
    int found;
    size_t i;
    void *v;

    if (m->cap == 0)
        return NULL;
    i = find(m, key, &found);
    if (!found)
        return NULL;
    v = m->vals[i];
    free(m->keys[i]);
    m->keys[i] = DELETED;
    m->vals[i] = NULL;
    m->len--;
    return v;
}

size_t nxc_strmap_len(const nxc_strmap *m)
{
    return m->len;
}

void nxc_strmap_each(const nxc_strmap *m, void (*fn)(void *ctx, const char *key, void *val),
                     void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] && m->keys[i] != DELETED)
            fn(ctx, m->keys[i], m->vals[i]);
}
