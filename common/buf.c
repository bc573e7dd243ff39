/* buf: bounded dynamic buffer (see buf.h). */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

void nxc_buf_init(nxc_buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

static int grow(nxc_buf *b, size_t need)
{
    size_t cap;
    char *p;

    if (need <= b->cap)
        return NXC_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = realloc(b->ptr, cap);
    if (!p)
        return nxc_error_set(NXC_ENOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->ptr = p;
    b->cap = cap;
    return NXC_OK;
}

int nxc_buf_add(nxc_buf *b, const void *data, size_t len)
{
    int rc;

    if (len > b->max || b->len > b->max - len)
        return nxc_error_set(NXC_ELIMIT, "buffer limit of %zu bytes exceeded", b->max);
    rc = grow(b, b->len + len + 1);
    if (rc)
        return rc;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
    return NXC_OK;
}

int nxc_buf_addf(nxc_buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];
    char *big = NULL;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return nxc_error_set(NXC_ERROR, "format error");
    if ((size_t)n < sizeof(small))
        return nxc_buf_add(b, small, (size_t)n);
    big = malloc((size_t)n + 1);
    if (!big)
        return nxc_error_set(NXC_ENOMEM, "out of memory formatting %d bytes", n);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    rc = nxc_buf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

void nxc_buf_consume(nxc_buf *b, size_t n)
{
    if (n >= b->len) {
        nxc_buf_reset(b);
        return;
    }
    memmove(b->ptr, b->ptr + n, b->len - n);
    b->len -= n;
    b->ptr[b->len] = '\0';
}

void nxc_buf_reset(nxc_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void nxc_buf_free(nxc_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
}

char *nxc_buf_steal(nxc_buf *b)
{
    char *p = b->ptr;

    if (!p)
        p = calloc(1, 1);
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
