/*
 * store: a process that dies inside transactions must not wedge the store for the next one.
 *
 * A crasher child commits a batch, then dies holding a read transaction (a reader slot) and,
 * in two of the three tests, an open write transaction (LMDB's writer lock). A holder child keeps a
 * raw environment open throughout, as a tool or a second agent process would, so the lock file is
 * not re-created when the parent reopens: the parent's open must clear the dead reader slot itself
 * (mdb_reader_check), and the holder counts the slots before and after.
 */
#include <criterion/criterion.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "err.h"
#include "store.h"
#include "support.h"

#define BATCH 50

static int count_line(const char *msg, void *ctx)
{
    int *n = ctx;

    /* one line per live slot, after a header line; "(no active readers)" when none */
    if (strstr(msg, "pid") == NULL && strstr(msg, "no active readers") == NULL)
        (*n)++;
    return 0;
}

/* Holder: opens a raw environment, then answers 'c' with the count of taken reader slots
 * and leaves on 'q'. Never returns. */
static void holder(int cmd, int res)
{
    MDB_env *env;
    char c;

    if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) ||
        mdb_env_open(env, test_dir, MDB_NOTLS, 0600))
        _exit(10);
    c = 'r';
    if (write(res, &c, 1) != 1)
        _exit(11);
    while (read(cmd, &c, 1) == 1 && c == 'c') {
        int n = 0;
        unsigned char out;

        mdb_reader_list(env, count_line, &n);
        out = (unsigned char)n;
        if (write(res, &out, 1) != 1)
            _exit(12);
    }
    mdb_env_close(env);
    _exit(0);
}

static int ask_readers(int cmd, int res)
{
    unsigned char n;
    char c = 'c';

    cr_assert_eq(write(cmd, &c, 1), 1);
    cr_assert_eq(read(res, &n, 1), 1);
    return n;
}

/* Crasher: commits batch "done/", then holds a read transaction and (with_writer) writes batch
 * "lost/" in an open write transaction, tells the parent, and dies: _exit() or waiting for
 * SIGKILL. */
static void crasher(int ready, int by_kill, int with_writer)
{
    nxc_store *s;
    nxc_store_txn *w, *r;
    nxc_store_rec *rec, *got;
    char key[32];
    char c = 'r';
    int i;

    if (nxc_store_open(test_dir, 0, &s))
        _exit(20);
    rec = rec_full(3);
    if (nxc_store_txn_begin(s, 0, &w))
        _exit(21);
    for (i = 0; i < BATCH; i++) {
        snprintf(key, sizeof(key), "done/%03d", i);
        if (nxc_store_put(w, key, rec))
            _exit(22);
    }
    if (nxc_store_pos_put(w, "peer:B", 100) || nxc_store_outbox_put(w, "done/000", "e", 1))
        _exit(23);
    if (nxc_store_txn_commit(w))
        _exit(24);

    if (nxc_store_txn_begin(s, 1, &r) || nxc_store_get(r, "done/000", &got))
        _exit(25);
    nxc_store_rec_free(got);
    if (!with_writer)
        goto crash;
    if (nxc_store_txn_begin(s, 0, &w))
        _exit(26);
    for (i = 0; i < BATCH; i++) {
        snprintf(key, sizeof(key), "lost/%03d", i);
        if (nxc_store_put(w, key, rec))
            _exit(27);
    }
    if (nxc_store_del(w, "done/001") || nxc_store_pos_put(w, "peer:B", 200) ||
        nxc_store_outbox_put(w, "lost/000", "e", 1))
        _exit(28);
crash:
    if (write(ready, &c, 1) != 1)
        _exit(29);
    if (by_kill) {
        for (;;)
            pause();
    }
    _exit(0);
}

static void crash_and_reopen(int by_kill, int with_writer)
{
    int hcmd[2], hres[2], ready[2];
    pid_t holder_pid, crasher_pid;
    nxc_store *s;
    nxc_store_txn *t;
    nxc_store_rec *rec, *got;
    const void *data;
    size_t len;
    uint64_t seq;
    char c;
    int status;
    int i;

    /* create the files first, so both children open an existing environment */
    s = open_store();
    nxc_store_close(s);

    cr_assert_eq(pipe(hcmd), 0);
    cr_assert_eq(pipe(hres), 0);
    holder_pid = fork();
    cr_assert_geq(holder_pid, 0);
    if (holder_pid == 0) {
        /* keep only its own ends, so the holder sees EOF if the parent dies */
        close(hcmd[1]);
        close(hres[0]);
        holder(hcmd[0], hres[1]);
    }
    close(hcmd[0]);
    close(hres[1]);
    cr_assert_eq(read(hres[0], &c, 1), 1);
    cr_assert_eq(c, 'r');

    cr_assert_eq(pipe(ready), 0);
    crasher_pid = fork();
    cr_assert_geq(crasher_pid, 0);
    if (crasher_pid == 0) {
        close(hcmd[1]);
        close(hres[0]);
        close(ready[0]);
        crasher(ready[1], by_kill, with_writer);
    }
    close(ready[1]);
    if (read(ready[0], &c, 1) != 1) {
        waitpid(crasher_pid, &status, 0);
        cr_assert_fail("crasher failed before the crash: status %d", status);
    }
    if (by_kill)
        cr_assert_eq(kill(crasher_pid, SIGKILL), 0);
    cr_assert_eq(waitpid(crasher_pid, &status, 0), crasher_pid);
    if (by_kill)
        cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* the dead crasher's read transaction still holds its slot ... */
    cr_assert_eq(ask_readers(hcmd[1], hres[0]), 1);
    s = open_store();
    /* ... until the reopen clears it */
    cr_assert_eq(ask_readers(hcmd[1], hres[0]), 0);

    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    rec = rec_full(3);
    for (i = 0; i < BATCH; i++) {
        char key[32];

        snprintf(key, sizeof(key), "done/%03d", i);
        cr_assert_eq(nxc_store_get(t, key, &got), NXC_OK, "%s: %s", key, nxc_error_last());
        assert_rec_eq(got, rec);
        nxc_store_rec_free(got);
        snprintf(key, sizeof(key), "lost/%03d", i);
        cr_assert_eq(nxc_store_get(t, key, &got), NXC_ENOTFOUND, "%s", key);
    }
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_OK);
    cr_assert_eq(seq, 100);
    cr_assert_eq(nxc_store_outbox_count(t), 1);
    cr_assert_eq(nxc_store_outbox_get(t, "lost/000", &data, &len), NXC_ENOTFOUND);
    nxc_store_txn_abort(t);

    /* the dead writer's lock is recovered: a write goes through */
    cr_assert_eq(nxc_store_txn_begin(s, 0, &t), NXC_OK, "%s", nxc_error_last());
    cr_assert_eq(nxc_store_put(t, "after/crash", rec), NXC_OK);
    cr_assert_eq(nxc_store_pos_put(t, "peer:B", 101), NXC_OK);
    cr_assert_eq(nxc_store_txn_commit(t), NXC_OK, "%s", nxc_error_last());
    cr_assert_eq(nxc_store_txn_begin(s, 1, &t), NXC_OK);
    cr_assert_eq(nxc_store_get(t, "after/crash", &got), NXC_OK);
    nxc_store_rec_free(got);
    cr_assert_eq(nxc_store_pos_get(t, "peer:B", &seq), NXC_OK);
    cr_assert_eq(seq, 101);
    nxc_store_txn_abort(t);
    nxc_store_rec_free(rec);
    nxc_store_close(s);

    c = 'q';
    cr_assert_eq(write(hcmd[1], &c, 1), 1);
    cr_assert_eq(waitpid(holder_pid, &status, 0), holder_pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "holder status %d", status);
}

Test(store, reopen_after_exit_mid_transaction, .init = store_setup, .fini = store_teardown)
{
    crash_and_reopen(0, 1);
}

Test(store, reopen_after_sigkill_mid_transaction, .init = store_setup, .fini = store_teardown)
{
    crash_and_reopen(1, 1);
}

/* Without a dead writer, LMDB's lock recovery does not run, so only the open's own reader
 * check frees the slot. */
Test(store, reopen_after_sigkill_in_read_transaction, .init = store_setup, .fini = store_teardown)
{
    crash_and_reopen(1, 0);
}
