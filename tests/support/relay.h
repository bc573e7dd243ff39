/*
 * relay: a real TCP relay (toxiproxy-server) between a client and a server, one per test, so
 * a test can lose the link the way networks lose it: cut (connections closed, new ones
 * refused), blackhole (connections stay open but nothing passes and nothing is reset: a link
 * that died silently), or slow. Each relay is one toxiproxy-server process on a free port of
 * 127.0.0.1 holding any number of named proxies, driven over toxiproxy's HTTP API.
 *
 * The binary is $NXC_TOXIPROXY, else ${NXC_CACHE:-~/.cache/nexus-connector}/bin/
 * toxiproxy-server (built by tools/runtime/build-tools.sh toxiproxy), else toxiproxy-server
 * from PATH. Its output goes to <dir>/toxiproxy.log; the directory is removed by free unless
 * $NXC_TEST_KEEP is set.
 * Threads: the test's main thread (see proc.h). Errors: negative NXC_* codes, with a line on
 * stderr saying why. Proxy names are 1-64 characters of A-Z a-z 0-9 _ . - (they go into
 * URLs unescaped).
 */
#ifndef NXC_TEST_RELAY_H
#define NXC_TEST_RELAY_H

typedef struct nxc_test_relay nxc_test_relay;

/* Starts a toxiproxy-server and waits until its API answers. */
int nxc_test_relay_start(nxc_test_relay **out);

/* Creates proxy `name` listening on 127.0.0.1 and forwarding each connection it accepts to
 * host:port (which need not be up yet: it is dialled per connection). *listen_port is where
 * clients connect; toxiproxy picks it (no race with other tests) and keeps it across
 * cut/restore. NXC_EEXISTS if the name is taken. */
int nxc_test_relay_add(nxc_test_relay *r, const char *name, const char *host, int port,
                       int *listen_port);
/* The listen port of proxy `name`, or NXC_ENOTFOUND. */
int nxc_test_relay_port(nxc_test_relay *r, const char *name);
/* Forwards new connections to host:port instead; open ones are closed (toxiproxy restarts
 * the proxy, on the same listen port, and a cut proxy stays cut). For a relay whose address
 * must be known before its upstream's port is, e.g. the address a hub advertises to its
 * leaves (natsd.h): add it towards any port, start the server, retarget. */
int nxc_test_relay_retarget(nxc_test_relay *r, const char *name, const char *host, int port);

/* Disables the proxy: open connections are closed at once (both sides see the close) and new
 * ones are refused until restore. Cutting a cut proxy is fine. */
int nxc_test_relay_cut(nxc_test_relay *r, const char *name);
/* Enables it again on the same port. */
int nxc_test_relay_restore(nxc_test_relay *r, const char *name);

/* Adds a `timeout` toxic with timeout 0 on both directions: connections, open and new, stay
 * open, nothing is forwarded and nothing is reset; only the peers' own keep-alives can notice.
 * Already blackholed is fine. */
int nxc_test_relay_blackhole(nxc_test_relay *r, const char *name);
/* Removes those toxics. toxiproxy then closes the connections that were blackholed (what was
 * dropped cannot be replayed, so the byte streams would be corrupt): clients see a
 * disconnect and reconnect. Not blackholed is fine. */
int nxc_test_relay_unblackhole(nxc_test_relay *r, const char *name);
/* Delays everything forwarded by ms in each direction (a round trip takes 2*ms longer), on
 * open and new connections; a new value replaces the old one, 0 removes the delay. */
int nxc_test_relay_delay(nxc_test_relay *r, const char *name, long ms);
/* Removes every toxic of the proxy (blackhole, delay, any other). */
int nxc_test_relay_clear(nxc_test_relay *r, const char *name);

/* Stops the server (SIGTERM, then SIGKILL): every proxied connection closes. */
int nxc_test_relay_stop(nxc_test_relay *r);
/* Stops the server if it runs and removes its directory. NULL is fine. */
void nxc_test_relay_free(nxc_test_relay *r);

#endif
