/* fake: the scripted loopback HTTP server and temp-file helpers of the kube unit tests. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "fake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct fake_server {
    int lfd; /* listening socket */
    int port;
    volatile int stopping;
    pthread_t thread;
    fake_handler h;
    void *ctx;
    pthread_mutex_t mu; /* guards reqs, nreqs, nconns */
    struct fake_req reqs[FAKE_MAX_REQS];
    int nreqs;
    int nconns;
};

int fake_write(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char *reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 404: return "Not Found";
    case 409: return "Conflict";
    case 410: return "Gone";
    default: return "Status";
    }
}

void fake_reply(int fd, int status, const char *body)
{
    char head[256];
    size_t len = body ? strlen(body) : 0;

    snprintf(head, sizeof(head),
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             status, reason(status), len);
    fake_write(fd, head, strlen(head));
    if (len)
        fake_write(fd, body, len);
}

void fake_stream_begin(int fd, int status)
{
    char head[256];

    snprintf(head, sizeof(head),
             "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
             "Transfer-Encoding: chunked\r\n\r\n",
             status, reason(status));
    fake_write(fd, head, strlen(head));
}

void fake_stream_chunk(int fd, const char *data, size_t len)
{
    char head[32];

    if (len == 0)
        return;
    snprintf(head, sizeof(head), "%zx\r\n", len);
    fake_write(fd, head, strlen(head));
    fake_write(fd, data, len);
    fake_write(fd, "\r\n", 2);
}

void fake_stream_end(int fd)
{
    fake_write(fd, "0\r\n\r\n", 5);
}

/* Reads until the end of the headers; returns bytes in buf or -1. */
static int read_head(struct fake_server *s, int fd, char *buf, size_t cap, size_t *have)
{
    for (;;) {
        char *end = *have ? memmem(buf, *have, "\r\n\r\n", 4) : NULL;
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n;

        if (end)
            return (int)(end - buf) + 4;
        if (*have == cap)
            return -1;
        if (s->stopping)
            return -1;
        if (poll(&p, 1, 100) <= 0)
            continue;
        n = recv(fd, buf + *have, cap - *have, 0);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
}

static void header_value(const char *head, const char *name, char *out, size_t cap)
{
    const char *p = head;
    size_t nl = strlen(name);

    out[0] = '\0';
    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1, *e;

            while (*v == ' ')
                v++;
            e = strstr(v, "\r\n");
            snprintf(out, cap, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            return;
        }
    }
}

static void serve(struct fake_server *s, int fd)
{
    static char buf[1 << 20];
    size_t have = 0;

    for (;;) {
        struct fake_req rq;
        char clen[32];
        int head_len, close_after;
        size_t body_len;

        memset(&rq, 0, sizeof(rq));
        head_len = read_head(s, fd, buf, sizeof(buf) - 1, &have);
        if (head_len < 0)
            return;
        buf[head_len - 2] = '\0';
        sscanf(buf, "%15s %4095s", rq.method, rq.target);
        header_value(buf, "Authorization", rq.auth, sizeof(rq.auth));
        header_value(buf, "Content-Type", rq.content_type, sizeof(rq.content_type));
        header_value(buf, "Content-Length", clen, sizeof(clen));
        body_len = (size_t)strtoul(clen, NULL, 10);
        while (have < (size_t)head_len + body_len && have < sizeof(buf) - 1) {
            ssize_t n = recv(fd, buf + have, sizeof(buf) - 1 - have, 0);

            if (n <= 0)
                return;
            have += (size_t)n;
        }
        rq.body = calloc(1, body_len + 1);
        memcpy(rq.body, buf + head_len, body_len);
        rq.body_len = body_len;
        memmove(buf, buf + head_len + body_len, have - (size_t)head_len - body_len);
        have -= (size_t)head_len + body_len;
        pthread_mutex_lock(&s->mu);
        if (s->nreqs < FAKE_MAX_REQS)
            s->reqs[s->nreqs++] = rq;
        else
            free(rq.body);
        pthread_mutex_unlock(&s->mu);
        close_after = s->h(s->ctx, &rq, fd);
        if (close_after)
            return;
    }
}

static void *run(void *p)
{
    struct fake_server *s = p;

    while (!s->stopping) {
        struct pollfd pfd = {s->lfd, POLLIN, 0};
        int fd;

        if (poll(&pfd, 1, 100) <= 0)
            continue;
        fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_mutex_lock(&s->mu);
        s->nconns++;
        pthread_mutex_unlock(&s->mu);
        serve(s, fd);
        close(fd);
    }
    return NULL;
}

struct fake_server *fake_start(fake_handler h, void *ctx)
{
    struct fake_server *s = calloc(1, sizeof(*s));
    struct sockaddr_in a = {0};
    socklen_t alen = sizeof(a);

    s->h = h;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(s->lfd, 8) != 0)
        abort();
    getsockname(s->lfd, (struct sockaddr *)&a, &alen);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, run, s);
    return s;
}

int fake_port(const struct fake_server *s)
{
    return s->port;
}

void fake_stop(struct fake_server *s)
{
    int i;

    s->stopping = 1;
    pthread_join(s->thread, NULL);
    close(s->lfd);
    for (i = 0; i < s->nreqs; i++)
        free(s->reqs[i].body);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int fake_nreqs(struct fake_server *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->nreqs;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const struct fake_req *fake_req(struct fake_server *s, int i)
{
    return i < fake_nreqs(s) ? &s->reqs[i] : NULL;
}

int fake_nconns(struct fake_server *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->nconns;
    pthread_mutex_unlock(&s->mu);
    return n;
}

char *fake_mkdtemp(void)
{
    char *d = strdup("/tmp/nxc-kube-test-XXXXXX");

    if (!mkdtemp(d))
        abort();
    return d;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void fake_rmdir(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *fake_file(const char *dir, const char *name, const char *content)
{
    char *path = NULL;
    FILE *f;

    if (asprintf(&path, "%s/%s", dir, name) < 0)
        abort();
    f = fopen(path, "w");
    if (!f)
        abort();
    fputs(content, f);
    fclose(f);
    return path;
}

char *fake_kubeconfig(const char *dir, int port, const char *token)
{
    char *text = NULL, *path;

    if (asprintf(&text,
                 "apiVersion: v1\n"
                 "kind: Config\n"
                 "current-context: test\n"
                 "clusters:\n"
                 "- name: fake\n"
                 "  cluster:\n"
                 "    server: http://127.0.0.1:%d/\n"
                 "contexts:\n"
                 "- name: test\n"
                 "  context:\n"
                 "    cluster: fake\n"
                 "    user: tester\n"
                 "users:\n"
                 "- name: tester\n"
                 "  user:\n"
                 "%s%s%s",
                 port, token ? "    token: \"" : "    {}\n", token ? token : "",
                 token ? "\"\n" : "") < 0)
        abort();
    path = fake_file(dir, "kubeconfig", text);
    free(text);
    return path;
}
