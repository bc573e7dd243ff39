/*
 * fake: helpers for the kube unit tests — a scripted HTTP/1.1 server on a loopback port
 * (one thread, one connection at a time, keep-alive) standing in for the API server, and
 * temporary directories with files. Integration tests use a real kube-apiserver instead.
 */
#ifndef NXC_TEST_KUBE_FAKE_H
#define NXC_TEST_KUBE_FAKE_H

#include <stddef.h>

#define FAKE_MAX_REQS 64

struct fake_req {
    char method[16];
    char target[4096];      /* path and query */
    char auth[1024];        /* the Authorization header value, "" when absent */
    char content_type[256]; /* the Content-Type header value */
    char *body;             /* NUL-terminated request body */
    size_t body_len;
};

/* Answers one request on fd. Returns 0 to keep the connection, 1 to close it. */
typedef int (*fake_handler)(void *ctx, const struct fake_req *req, int fd);

struct fake_server;

struct fake_server *fake_start(fake_handler h, void *ctx);
int fake_port(const struct fake_server *s);
void fake_stop(struct fake_server *s);
/* Requests seen so far (copies kept by the server) and connections accepted. */
int fake_nreqs(struct fake_server *s);
const struct fake_req *fake_req(struct fake_server *s, int i);
int fake_nconns(struct fake_server *s);

/* Response helpers for handlers. */
void fake_reply(int fd, int status, const char *body);
void fake_stream_begin(int fd, int status);
void fake_stream_chunk(int fd, const char *data, size_t len);
void fake_stream_end(int fd);
/* Writes raw bytes; returns -1 once the client has gone. */
int fake_write(int fd, const void *data, size_t len);

/* A fresh directory under /tmp (removed with fake_rmdir) and files in it. */
char *fake_mkdtemp(void);
void fake_rmdir(const char *dir);
/* Writes content to dir/name and returns the full path (free it). */
char *fake_file(const char *dir, const char *name, const char *content);
/* A kubeconfig in dir for the server on port with token (NULL: none); returns its path. */
char *fake_kubeconfig(const char *dir, int port, const char *token);

#endif
