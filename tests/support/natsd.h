/*
 * natsd: a real nats-server with JetStream for one test, on a free port of 127.0.0.1 and a
 * store in its own temporary directory; never the shared server on 4222. It can be stopped,
 * killed, frozen (SIGSTOP) and started again on the same port and store, or with its store
 * wiped to stand for a server that lost its state.
 *
 * Two servers make the leaf-node topology of deploy/nats/hub.conf and leaf.conf: a hub with
 * its own JetStream domain accepting leafnode connections, and a leaf with its own domain
 * connecting to it. To cut the link between them, put a relay (relay.h) in front of the
 * hub's leafnode port:
 *
 *     nxc_test_relay_add(relay, "leaf", "127.0.0.1", 1, &rport);    upstream set below
 *     hub:  domain "hub", leafnode_port -1, leafnode_advertise "127.0.0.1:<rport>"
 *     nxc_test_relay_retarget(relay, "leaf", "127.0.0.1", nxc_test_natsd_leafnode_port(hub));
 *     leaf: domain "leaf", leaf_remote "nats-leaf://127.0.0.1:<rport>"
 *
 * leafnode_advertise matters: nats-server 2.9 sends its leafnode address to each leaf
 * (INFO leafnode_urls), and a leaf that lost its link tries that address before its
 * configured URL, which would go around the relay. `leafnodes { no_advertise }` does not
 * prevent it in 2.9.10 (it only stops the gossip between clustered servers).
 *
 * Ports left to natsd (port 0, leafnode_port and monitor_port -1) are picked again when
 * another process took one before nats-server could bind it.
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
    /* Topology; the zero values leave a plain single server. These are written into the
     * config file after `config`, which must then not hold server_name, jetstream or
     * leafnodes itself. Strings may not contain quotes, backslashes or newlines. */
    const char *name;               /* server_name; NULL: the server's generated id */
    const char *domain;             /* JetStream domain; NULL: none */
    int leafnode_port;              /* accept leafnodes on 127.0.0.1:<port>; 0: no, -1: a free
                                       port (kept across restarts) */
    const char *leafnode_advertise; /* host:port told to leaves as this server's leafnode
                                       address (a relay in front of it); NULL: the real one */
    const char *leaf_remote;        /* makes this server a leaf of the hub at this URL, e.g.
                                       "nats-leaf://127.0.0.1:<port>" (a relay's port) */
    int monitor_port;               /* HTTP monitoring (/varz, /jsz, /leafz) on 127.0.0.1;
                                       0: no, -1: a free port (kept across restarts) */
} nxc_test_natsd_opts;

/* Starts a server (o may be NULL) and waits until it is ready: its port accepts and its log
 * says "Server is ready" (so a config must not send the log elsewhere). */
int nxc_test_natsd_start(const nxc_test_natsd_opts *o, nxc_test_natsd **out);
/* SIGTERM and wait (SIGKILL after a few seconds). */
int nxc_test_natsd_stop(nxc_test_natsd *d);
/* kill -9. */
int nxc_test_natsd_kill9(nxc_test_natsd *d);
/* Sends sig to the server (SIGSTOP freezes it, SIGCONT thaws it). */
int nxc_test_natsd_signal(nxc_test_natsd *d, int sig);
/* Starts it again (after stop or kill9) on the same port and store; waits until ready. */
int nxc_test_natsd_restart(nxc_test_natsd *d);
/* Removes the JetStream store; the server must be stopped. */
int nxc_test_natsd_wipe(nxc_test_natsd *d);
int nxc_test_natsd_running(nxc_test_natsd *d);

/* "nats://127.0.0.1:<port>", borrowed. */
const char *nxc_test_natsd_url(const nxc_test_natsd *d);
int nxc_test_natsd_port(const nxc_test_natsd *d);
/* The server's temporary directory, for the test's own files (keys, certs), borrowed. */
const char *nxc_test_natsd_dir(const nxc_test_natsd *d);
/* The leafnode listen port and the monitoring port; 0 when the server has none. */
int nxc_test_natsd_leafnode_port(const nxc_test_natsd *d);
int nxc_test_natsd_monitor_port(const nxc_test_natsd *d);

/* GET http://127.0.0.1:<monitor port><path> (path like "/jsz?streams=1"): 0 with the body in
 * *body (malloc'd, the caller frees it) on HTTP 200; NXC_EINVALID without a monitoring port,
 * NXC_EUNAVAIL when the server does not answer. */
int nxc_test_natsd_monitor_get(nxc_test_natsd *d, const char *path, char **body);
/* The number of leafnode connections the server has now, from /leafz (on a hub: its
 * leaves; on a leaf: its links to hubs). */
int nxc_test_natsd_leafnodes(nxc_test_natsd *d, int *n);

/* Stops the server if it runs and removes its directory. */
void nxc_test_natsd_free(nxc_test_natsd *d);

#endif
