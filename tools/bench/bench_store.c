/*
 * bench-store: writes N records in batches (one transaction each, as the agent batches its
 * changes), then reads them all back in one read transaction, and prints ops/s for each
 * phase. A measure, not a test: run it on the disk the agent will use, since each commit
 * waits for fsync.
 *
 * usage: bench-store [-n records] [-b batch] [-d dir]
 * Without -d it works in a new directory under $TMPDIR (or /tmp) and removes it after.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "store.h"

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void key_of(char *key, size_t cap, long i)
{
    snprintf(key, cap, "gns.example.com/roots/default/%012ld", i);
}

/* A record shaped like a real one: both planes hashed, two-entry vectors, ids and times. */
static int fill(nxc_store_rec *r, long i)
{
    int p;
    int rc;

    for (p = 0; p < NXC_PLANE_COUNT; p++) {
        r->plane[p].has_hash = 1;
        memset(r->plane[p].hash, (int)(i + p) & 0xff, sizeof(r->plane[p].hash));
        rc = nxc_vv_set(r->plane[p].vv, "runtime-a", (uint64_t)i + 1);
        if (rc)
            return rc;
        rc = nxc_vv_set(r->plane[p].vv, "runtime-b", (uint64_t)p + 1);
        if (rc)
            return rc;
        r->plane[p].hlc = ((uint64_t)1700000000000 + (uint64_t)i) << 16;
        snprintf(r->plane[p].by, sizeof(r->plane[p].by), "runtime-a");
    }
    snprintf(r->rv, sizeof(r->rv), "%ld", 100000 + i);
    snprintf(r->uid, sizeof(r->uid), "6e1f0c52-9a1b-4c7e-8f00-%012ld", i);
    snprintf(r->origin, sizeof(r->origin), "runtime-a");
    r->flags = NXC_STORE_F_CREATED_BY_CONNECTOR;
    return NXC_OK;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench-store [-n records] [-b batch] [-d dir]\n");
}

int main(int argc, char **argv)
{
    long n = 100000, batch = 500, i;
    const char *dir = NULL;
    char tmp[512];
    char key[96];
    char path[600];
    nxc_store *s = NULL;
    nxc_store_txn *t = NULL;
    nxc_store_rec *r = NULL, *got;
    struct stat st;
    double t0, secs;
    int made = 0;
    int opt;
    int rc = 1;

    while ((opt = getopt(argc, argv, "n:b:d:")) != -1) {
        switch (opt) {
        case 'n': n = strtol(optarg, NULL, 10); break;
        case 'b': batch = strtol(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        default: usage(); return 2;
        }
    }
    if (n <= 0 || batch <= 0) {
        usage();
        return 2;
    }
    if (!dir) {
        const char *base = getenv("TMPDIR");

        snprintf(tmp, sizeof(tmp), "%s/bench-store-XXXXXX", base && base[0] ? base : "/tmp");
        if (!mkdtemp(tmp)) {
            perror("bench-store: mkdtemp");
            return 1;
        }
        dir = tmp;
        made = 1;
    }
    if (nxc_store_open(dir, 0, &s))
        goto out;
    r = nxc_store_rec_new();
    if (!r)
        goto out;

    t0 = now();
    for (i = 0; i < n; i++) {
        if (!t && nxc_store_txn_begin(s, 0, &t))
            goto out;
        if (fill(r, i))
            goto out;
        key_of(key, sizeof(key), i);
        if (nxc_store_put(t, key, r))
            goto out;
        if ((i + 1) % batch == 0 || i + 1 == n) {
            int crc = nxc_store_txn_commit(t);

            t = NULL;
            if (crc)
                goto out;
        }
    }
    secs = now() - t0;
    printf("bench-store phase=write records=%ld batch=%ld commits=%ld secs=%.3f ops_per_s=%.0f\n",
           n, batch, (n + batch - 1) / batch, secs, (double)n / secs);

    t0 = now();
    if (nxc_store_txn_begin(s, 1, &t))
        goto out;
    for (i = 0; i < n; i++) {
        key_of(key, sizeof(key), i);
        if (nxc_store_get(t, key, &got))
            goto out;
        nxc_store_rec_free(got);
    }
    nxc_store_txn_abort(t);
    t = NULL;
    secs = now() - t0;
    printf("bench-store phase=read records=%ld secs=%.3f ops_per_s=%.0f\n", n, secs,
           (double)n / secs);

    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &st) == 0)
        printf("bench-store file_bytes=%lld bytes_per_record=%.0f\n", (long long)st.st_size,
               (double)st.st_size / (double)n);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench-store: %s\n", nxc_error_last());
    nxc_store_txn_abort(t);
    nxc_store_rec_free(r);
    nxc_store_close(s);
    if (made)
        nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
