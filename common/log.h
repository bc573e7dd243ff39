/*
 * log: one line per event, `key=value`, to stderr. Only agent/ and tools/ log; the libraries
 * in common/ return errors instead. Never pass a secret (token, key, credential) to a log.
 * Thread-safe: each line is written with one locked stdio call.
 */
#ifndef NXC_LOG_H
#define NXC_LOG_H

enum nxc_log_level { NXC_LOG_DEBUG = 0, NXC_LOG_INFO = 1, NXC_LOG_WARN = 2, NXC_LOG_ERROR = 3 };

/* Parses "debug", "info", "warn" or "error"; -1 otherwise. */
int nxc_log_level_parse(const char *s);
void nxc_log_set_level(enum nxc_log_level level);
int nxc_log_enabled(enum nxc_log_level level);

/* Writes "<time> level=<level> mod=<module> <formatted message>\n". The message is a run of
 * key=value pairs; values with spaces, quotes or text from outside (error messages, API
 * answers) are quoted by the caller with nxc_log_q. Control bytes left in a line are written
 * as '?', so a line is always one line. */
void nxc_log(enum nxc_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Quotes s for a log value into buf ("..." with \" and \\ escaped, control bytes as \xNN,
 * cut to len). Returns buf. */
const char *nxc_log_quote(const char *s, char *buf, unsigned len);

/* nxc_log_quote into one of NXC_LOG_Q_SLOTS per-thread buffers of NXC_LOG_Q_LEN bytes, for
 * a value passed straight to a log call ("err=%s", nxc_log_q(nxc_error_last())). A thread's
 * slots are reused in turn: at most NXC_LOG_Q_SLOTS of them per log line. */
#define NXC_LOG_Q_SLOTS 4
#define NXC_LOG_Q_LEN 768
const char *nxc_log_q(const char *s);

#define NXC_DEBUG(mod, ...)                                                                        \
    do {                                                                                           \
        if (nxc_log_enabled(NXC_LOG_DEBUG))                                                        \
            nxc_log(NXC_LOG_DEBUG, mod, __VA_ARGS__);                                              \
    } while (0)
#define NXC_INFO(mod, ...) nxc_log(NXC_LOG_INFO, mod, __VA_ARGS__)
#define NXC_WARN(mod, ...) nxc_log(NXC_LOG_WARN, mod, __VA_ARGS__)
#define NXC_ERROR(mod, ...) nxc_log(NXC_LOG_ERROR, mod, __VA_ARGS__)

#endif
