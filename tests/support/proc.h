/*
 * proc: what integration and e2e tests need to run real processes — spawn with argv and
 * extra environment, output to a log file, stop (SIGTERM, then SIGKILL after a deadline) or
 * kill -9, free TCP ports on 127.0.0.1, waiting for a port, polling a condition with a
 * deadline, and temporary directories.
 *
 * Threads: call from the test's main thread. A spawned process gets SIGKILL when the thread
 * that spawned it ends, so a crashed test leaves no server behind.
 * Errors: functions return 0 or a negative NXC_* code and print a line to stderr saying why
 * (this is test code: the message is for the person reading the test log).
 */
#ifndef NXC_TEST_PROC_H
#define NXC_TEST_PROC_H

#include <stdint.h>
#include <sys/types.h>

typedef struct nxc_test_proc nxc_test_proc;

/* Starts argv[0] (searched in PATH) with argv, the current environment plus env (NULL or a
 * NULL-terminated list of "NAME=value" that add or replace), stdout and stderr appended to
 * log_path. The process leads its own process group, so stopping it stops its children. */
int nxc_test_proc_spawn(const char *const *argv, const char *const *env, const char *log_path,
                        nxc_test_proc **out);
pid_t nxc_test_proc_pid(const nxc_test_proc *p);
/* 1 while the process runs (reaps it if it ended). */
int nxc_test_proc_alive(nxc_test_proc *p);
/* Sends sig to the process group (e.g. SIGSTOP/SIGCONT to freeze a server). */
int nxc_test_proc_signal(nxc_test_proc *p, int sig);
/* SIGTERM, then SIGKILL if still running after grace_ms; reaps. Returns the wait status in
 * *status when not NULL. A process already gone is fine. */
int nxc_test_proc_stop(nxc_test_proc *p, long grace_ms, int *status);
/* Waits up to deadline_ms for the process to end by itself: 0 with its wait status in
 * *status (when not NULL), or NXC_EAGAIN if it still runs. */
int nxc_test_proc_wait(nxc_test_proc *p, long deadline_ms, int *status);
/* Runs argv to completion (log as for spawn): 0 if it exited with status 0 within
 * deadline_ms, else a negative code (a process still running is killed). */
int nxc_test_run(const char *const *argv, const char *log_path, long deadline_ms);
/* kill -9 and reap. */
int nxc_test_proc_kill9(nxc_test_proc *p);
/* Stops the process if it still runs (kill -9), then frees. */
void nxc_test_proc_free(nxc_test_proc *p);

/* A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, read, closed). */
int nxc_test_free_port(void);
/* Waits until 127.0.0.1:port accepts connections: 0, or NXC_EAGAIN after deadline_ms. */
int nxc_test_wait_port(int port, long deadline_ms);

/* Calls fn(ctx) every ~20 ms until it returns non-zero: 0 then, or NXC_EAGAIN when
 * deadline_ms passed (fn is called one last time at the deadline). */
int nxc_test_poll(long deadline_ms, int (*fn)(void *ctx), void *ctx);
/* Monotonic milliseconds. */
int64_t nxc_test_now_ms(void);

/* Makes a fresh directory under $TMPDIR (or /tmp) named prefix-XXXXXX; *out is malloc'd. */
int nxc_test_tmpdir(const char *prefix, char **out);
/* rm -rf path (does not follow symlinks). A missing path is fine. */
int nxc_test_rmtree(const char *path);
/* Writes len bytes to path (created or truncated, mode 0600). */
int nxc_test_write_file(const char *path, const void *data, size_t len);

#endif
