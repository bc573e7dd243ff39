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
    char tmp[MSG_MAX];

    snprintf(tmp, sizeof(tmp), "%s: %s", prefix, last_msg);
    memcpy(last_msg, tmp, sizeof(last_msg));
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
