/*
 * proc: processes, ports, polling and temporary directories for tests that run real
 * servers. fork+exec rather than posix_spawn so the child can ask for SIGKILL when its
 * parent dies: a test that crashes must not leave a server holding a port.
 */
#include "proc.h"

#include "err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POLL_STEP_MS 20
#define MAX_ENV 4096

extern char **environ;

struct nxc_test_proc {
    pid_t pid;   /* child pid, also its process group id */
    int running; /* 0 once reaped */
    int status;  /* wait status once reaped */
};

int64_t nxc_test_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int fail(int code, const char *what)
{
    fprintf(stderr, "test support: %s: %s\n", what, strerror(errno));
    return code;
}

static size_t name_len(const char *kv)
{
    const char *eq = strchr(kv, '=');

    return eq != NULL ? (size_t)(eq - kv) : strlen(kv);
}

/* environ with env's entries added or replacing those of the same name. Built before fork:
 * the child of a threaded process may only make async-signal-safe calls. */
static char **merge_env(const char *const *env)
{
    size_t n = 0;
    size_t extra = 0;
    char **out;
    size_t k = 0;

    while (environ[n] != NULL)
        n++;
    while (env != NULL && env[extra] != NULL)
        extra++;
    if (n + extra >= MAX_ENV)
        return NULL;
    out = calloc(n + extra + 1, sizeof(*out));
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int replaced = 0;

        for (size_t j = 0; j < extra; j++) {
            size_t l = name_len(env[j]);

            if (name_len(environ[i]) == l && strncmp(environ[i], env[j], l) == 0)
                replaced = 1;
        }
        if (!replaced)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < extra; j++)
        out[k++] = (char *)env[j];
    out[k] = NULL;
    return out;
}

int nxc_test_proc_spawn(const char *const *argv, const char *const *env, const char *log_path,
                        nxc_test_proc **out)
{
    nxc_test_proc *p = NULL;
    char **envp = NULL;
    pid_t parent = getpid();
    pid_t pid;
    int rc = NXC_OK;

    *out = NULL;
    if (argv == NULL || argv[0] == NULL || log_path == NULL)
        return NXC_EINVALID;
    p = calloc(1, sizeof(*p));
    envp = merge_env(env);
    if (p == NULL || envp == NULL) {
        rc = NXC_ENOMEM;
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = fail(NXC_ERROR, "fork");
        goto out;
    }
    if (pid == 0) {
        int fd;

        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            dup2(fd, 0);
        execvpe(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    /* Also from the parent, so the group exists before anyone signals it. */
    setpgid(pid, pid);
    p->pid = pid;
    p->running = 1;
    *out = p;
    p = NULL;
out:
    free(envp);
    free(p);
    return rc;
}

pid_t nxc_test_proc_pid(const nxc_test_proc *p)
{
    return p->pid;
}

int nxc_test_proc_alive(nxc_test_proc *p)
{
    int st;

    if (!p->running)
        return 0;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        p->running = 0;
        p->status = st;
    }
    return p->running;
}

int nxc_test_proc_signal(nxc_test_proc *p, int sig)
{
    if (!nxc_test_proc_alive(p))
        return NXC_ENOTFOUND;
    if (kill(-p->pid, sig) != 0 && errno != ESRCH)
        return fail(NXC_ERROR, "kill");
    return NXC_OK;
}

int nxc_test_proc_stop(nxc_test_proc *p, long grace_ms, int *status)
{
    int64_t deadline = nxc_test_now_ms() + grace_ms;

    if (nxc_test_proc_alive(p)) {
        /* A stopped process would not act on SIGTERM. */
        kill(-p->pid, SIGCONT);
        kill(-p->pid, SIGTERM);
        while (nxc_test_proc_alive(p) && nxc_test_now_ms() < deadline)
            sleep_ms(10);
    }
    if (p->running) {
        int st;

        kill(-p->pid, SIGKILL);
        if (waitpid(p->pid, &st, 0) == p->pid)
            p->status = st;
        p->running = 0;
    }
    if (status != NULL)
        *status = p->status;
    return NXC_OK;
}

static int proc_ended(void *ctx)
{
    return !nxc_test_proc_alive(ctx);
}

int nxc_test_proc_wait(nxc_test_proc *p, long deadline_ms, int *status)
{
    int rc = nxc_test_poll(deadline_ms, proc_ended, p);

    if (rc == NXC_OK && status != NULL)
        *status = p->status;
    return rc;
}

int nxc_test_run(const char *const *argv, const char *log_path, long deadline_ms)
{
    nxc_test_proc *p = NULL;
    int status = 0;
    int rc;

    rc = nxc_test_proc_spawn(argv, NULL, log_path, &p);
    if (rc != NXC_OK)
        return rc;
    rc = nxc_test_proc_wait(p, deadline_ms, &status);
    if (rc == NXC_OK && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "test support: %s failed (status %d), see %s\n", argv[0], status, log_path);
        rc = NXC_ERROR;
    }
    nxc_test_proc_free(p);
    return rc;
}

int nxc_test_proc_kill9(nxc_test_proc *p)
{
    return nxc_test_proc_stop(p, 0, NULL);
}

void nxc_test_proc_free(nxc_test_proc *p)
{
    if (p == NULL)
        return;
    nxc_test_proc_kill9(p);
    free(p);
}

int nxc_test_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = NXC_ERROR;

    if (fd < 0)
        return fail(NXC_ERROR, "socket");
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fail(NXC_ERROR, "bind 127.0.0.1:0");
        goto out;
    }
    if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        fail(NXC_ERROR, "getsockname");
        goto out;
    }
    port = ntohs(sa.sin_port);
out:
    close(fd);
    return port;
}

static int port_accepts(void *ctx)
{
    int port = *(int *)ctx;
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok;

    if (fd < 0)
        return 0;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int nxc_test_wait_port(int port, long deadline_ms)
{
    return nxc_test_poll(deadline_ms, port_accepts, &port);
}

int nxc_test_poll(long deadline_ms, int (*fn)(void *ctx), void *ctx)
{
    int64_t deadline = nxc_test_now_ms() + deadline_ms;

    for (;;) {
        int64_t left;

        if (fn(ctx))
            return NXC_OK;
        left = deadline - nxc_test_now_ms();
        if (left <= 0)
            return NXC_EAGAIN;
        sleep_ms(left < POLL_STEP_MS ? (long)left : POLL_STEP_MS);
    }
}

int nxc_test_tmpdir(const char *prefix, char **out)
{
    const char *base = getenv("TMPDIR");
    char path[4096];
    char *dup;

    *out = NULL;
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    if (snprintf(path, sizeof(path), "%s/%s-XXXXXX", base, prefix) >= (int)sizeof(path))
        return NXC_ELIMIT;
    if (mkdtemp(path) == NULL)
        return fail(NXC_ERROR, "mkdtemp");
    dup = strdup(path);
    if (dup == NULL)
        return NXC_ENOMEM;
    *out = dup;
    return NXC_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        fprintf(stderr, "test support: remove %s: %s\n", path, strerror(errno));
    return 0;
}

int nxc_test_rmtree(const char *path)
{
    struct stat st;

    if (path == NULL || lstat(path, &st) != 0)
        return NXC_OK;
    if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return fail(NXC_ERROR, "nftw");
    return NXC_OK;
}

int nxc_test_write_file(const char *path, const void *data, size_t len)
{
    const char *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int rc = NXC_OK;

    if (fd < 0)
        return fail(NXC_ERROR, "open for write");
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = fail(NXC_ERROR, "write");
            break;
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0 && rc == NXC_OK)
        rc = fail(NXC_ERROR, "close");
    return rc;
}
