/* log: key=value lines on stderr (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static atomic_int min_level = NXC_LOG_INFO;

static const char *const names[] = {"debug", "info", "warn", "error"};

int nxc_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void nxc_log_set_level(enum nxc_log_level level)
{
    atomic_store(&min_level, (int)level);
}

int nxc_log_enabled(enum nxc_log_level level)
{
    return (int)level >= atomic_load(&min_level);
}

void nxc_log(enum nxc_log_level level, const char *module, const char *fmt, ...)
{
    char line[4096];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if (!nxc_log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s mod=%s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 ts.tv_nsec / 1000000, names[level & 3], module);
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    /* one call per line keeps lines whole when several threads log */
    fprintf(stderr, "%s\n", line);
}

const char *nxc_log_quote(const char *s, char *buf, unsigned len)
{
    unsigned o = 0;

    if (len < 3) {
        if (len)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        char tmp[5];
        unsigned k;

        if (*p == '"' || *p == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)*p;
            k = 2;
        } else if (*p < 0x20 || *p == 0x7f) {
            snprintf(tmp, sizeof(tmp), "\\x%02x", *p);
            k = 4;
        } else {
            tmp[0] = (char)*p;
            k = 1;
        }
        if (o + k + 2 > len)
            break;
        memcpy(buf + o, tmp, k);
        o += k;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

const char *nxc_log_q(const char *s)
{
    static _Thread_local char slots[NXC_LOG_Q_SLOTS][NXC_LOG_Q_LEN];
    static _Thread_local unsigned next;
    char *buf = slots[next++ % NXC_LOG_Q_SLOTS];

    return nxc_log_quote(s, buf, NXC_LOG_Q_LEN);
}
