/*
 * buf: a growable byte buffer with a hard maximum size and a single owner. Appending past
 * the maximum fails with NXC_ELIMIT and leaves the buffer as it was, so untrusted input can
 * never grow memory without bound. The content is always NUL-terminated (not counted in len).
 */
#ifndef NXC_BUF_H
#define NXC_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct nxc_buf {
    char *ptr;  /* content, NUL-terminated; NULL until the first append */
    size_t len; /* bytes of content */
    size_t cap; /* bytes allocated */
    size_t max; /* hard limit on len */
} nxc_buf;

void nxc_buf_init(nxc_buf *b, size_t max);
int nxc_buf_add(nxc_buf *b, const void *data, size_t len);
int nxc_buf_addf(nxc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Removes the first n bytes (n <= len). */
void nxc_buf_consume(nxc_buf *b, size_t n);
/* Empties the buffer and keeps its allocation. */
void nxc_buf_reset(nxc_buf *b);
/* Frees the allocation; the buffer can be used again after nxc_buf_init. */
void nxc_buf_free(nxc_buf *b);
/* Hands the content to the caller (free() it) and leaves the buffer empty. */
char *nxc_buf_steal(nxc_buf *b);

#endif
