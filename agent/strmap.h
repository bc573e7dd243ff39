/*
 * strmap: a string-keyed hash map (open addressing, linear probing) for the loop's in-memory
 * sets: keys seen during a relist, publishes in flight. Keys are copied; values are borrowed
 * pointers the caller manages. Single-threaded: the loop owns each map.
 */
#ifndef NXC_AGENT_STRMAP_H
#define NXC_AGENT_STRMAP_H

#include <stddef.h>

typedef struct nxc_strmap nxc_strmap;

nxc_strmap *nxc_strmap_new(void);
void nxc_strmap_free(nxc_strmap *m);
/* Sets key -> val (replacing). 0 ok, -1 out of memory. */
int nxc_strmap_put(nxc_strmap *m, const char *key, void *val);
/* Value for key, or NULL; *found (may be NULL) tells presence apart from a NULL value. */
void *nxc_strmap_get(const nxc_strmap *m, const char *key, int *found);
/* Removes key; returns its value (NULL if absent). */
void *nxc_strmap_del(nxc_strmap *m, const char *key);
size_t nxc_strmap_len(const nxc_strmap *m);
void nxc_strmap_clear(nxc_strmap *m);
/* Calls fn for each entry; fn must not change the map. */
void nxc_strmap_each(const nxc_strmap *m, void (*fn)(void *ctx, const char *key, void *val),
                     void *ctx);

#endif
