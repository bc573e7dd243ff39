/* err: thread-local error messages for the common libraries. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MSG_MAX 1024

static _Thread_local char last_msg[MSG_MAX];

int nxc_error_set(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_msg, sizeof(last_msg), fmt, ap);
    va_end(ap);
    return code;
}

const char *nxc_error_last(void)
{
    return last_msg;
}

void nxc_error_wrap(const char *prefix)
{
    size_t plen = strlen(prefix), mlen = strlen(last_msg);

    /* keep the prefix whole and cut the old message if both do not fit */
    if (plen + 2 >= MSG_MAX)
        plen = MSG_MAX - 3;
    if (plen + 2 + mlen >= MSG_MAX)
        mlen = MSG_MAX - 1 - plen - 2;
    memmove(last_msg + plen + 2, last_msg, mlen);
    memcpy(last_msg, prefix, plen);
    last_msg[plen] = ':';
    last_msg[plen + 1] = ' ';
    last_msg[plen + 2 + mlen] = '\0';
}

void nxc_error_clear(void)
{
    last_msg[0] = '\0';
}

const char *nxc_error_name(int code)
{
    switch (code) {
    case NXC_OK: return "ok";
    case NXC_ENOMEM: return "no-memory";
    case NXC_ENOTFOUND: return "not-found";
    case NXC_ECONFLICT: return "conflict";
    case NXC_EEXISTS: return "exists";
    case NXC_EGONE: return "gone";
    case NXC_EAGAIN: return "again";
    case NXC_EINVALID: return "invalid";
    case NXC_EFORBIDDEN: return "forbidden";
    case NXC_ELIMIT: return "limit";
    case NXC_EUNAVAIL: return "unavailable";
    case NXC_ESTOPPED: return "stopped";
    default: return "error";
    }
}
