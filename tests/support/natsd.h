/*
 * natsd: a real nats-server with JetStream for one test, on a free port of 127.0.0.1 and a
 * store in its own temporary directory; never the shared server on 4222. It can be stopped,
 * killed, frozen (SIGSTOP) and started again on the same port and store, or with its store
 * wiped to stand for a server that lost its state.
 *
 * The binary is $NXC_NATS_SERVER, else nats-server from PATH. Its output goes to
 * <dir>/nats-server.log; the directory is removed by free unless $NXC_TEST_KEEP is set.
 * Threads: the test's main thread (see proc.h). Errors: negative NXC_* codes, with a line
 * on stderr.
 */
#ifndef NXC_TEST_NATSD_H
#define NXC_TEST_NATSD_H

typedef struct nxc_test_natsd nxc_test_natsd;

typedef struct nxc_test_natsd_opts {
    const char *config; /* NULL or nats-server config text (authorization, tls, limits...);
                           the port, address and store always come from the command line */
    int port;           /* 0: pick a free one */
    int no_start;       /* 1: prepare (port, dir) but do not start yet */
} nxc_test_natsd_opts;

/* Starts a server (o may be NULL) and waits until it accepts connections. */
int nxc_test_natsd_start(const nxc_test_natsd_opts *o, nxc_test_natsd **out);
/* SIGTERM and wait (SIGKILL after a few seconds). */
int nxc_test_natsd_stop(nxc_test_natsd *d);
/* kill -9. */
int nxc_test_natsd_kill9(nxc_test_natsd *d);
/* Sends sig to the server (SIGSTOP freezes it, SIGCONT thaws it). */
int nxc_test_natsd_signal(nxc_test_natsd *d, int sig);
/* Starts it again (after stop or kill9) on the same port and store; waits for the port. */
int nxc_test_natsd_restart(nxc_test_natsd *d);
/* Removes the JetStream store; the server must be stopped. */
int nxc_test_natsd_wipe(nxc_test_natsd *d);
int nxc_test_natsd_running(nxc_test_natsd *d);

/* "nats://127.0.0.1:<port>", borrowed. */
const char *nxc_test_natsd_url(const nxc_test_natsd *d);
int nxc_test_natsd_port(const nxc_test_natsd *d);
/* The server's temporary directory, for the test's own files (keys, certs), borrowed. */
const char *nxc_test_natsd_dir(const nxc_test_natsd *d);

/* Stops the server if it runs and removes its directory. */
void nxc_test_natsd_free(nxc_test_natsd *d);

#endif
