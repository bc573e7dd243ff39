/*
 * err: the error codes every common/ module returns, and a thread-local message that says
 * what went wrong. A function that fails sets the message and returns a negative code; the
 * caller reads the message with nxc_error_last() on the same thread before the next call.
 * Foreign codes (CURLcode, natsStatus, MDB_*) are translated once, in their own module.
 */
#ifndef NXC_ERR_H
#define NXC_ERR_H

enum {
    NXC_OK = 0,
    NXC_ERROR = -1,      /* generic failure; the message says more */
    NXC_ENOMEM = -2,     /* allocation failed */
    NXC_ENOTFOUND = -3,  /* no such object / record / key */
    NXC_ECONFLICT = -4,  /* optimistic concurrency lost (HTTP 409 Conflict on update) */
    NXC_EEXISTS = -5,    /* already exists (HTTP 409 AlreadyExists on create) */
    NXC_EGONE = -6,      /* resourceVersion too old (HTTP 410): relist */
    NXC_EAGAIN = -7,     /* nothing yet: time-out, try again */
    NXC_EINVALID = -8,   /* input rejected: malformed bytes, bad config, HTTP 400/422 */
    NXC_EFORBIDDEN = -9, /* HTTP 401/403 */
    NXC_ELIMIT = -10,    /* a size cap was exceeded */
    NXC_EUNAVAIL = -11,  /* peer unreachable: connection refused, 5xx, broker down */
    NXC_ESTOPPED = -12,  /* the operation was stopped on request */
};

/* Sets this thread's message (printf format) and returns code, so `return nxc_error_set(..)`. */
int nxc_error_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's last message; never NULL (empty when none). Borrowed until the next set. */
const char *nxc_error_last(void);

/* Prefixes this thread's message with "prefix: " (context added on the way up). */
void nxc_error_wrap(const char *prefix);

void nxc_error_clear(void);

/* A short stable name for a code ("conflict", "not-found", ...), for logs and metrics. */
const char *nxc_error_name(int code);

#endif
