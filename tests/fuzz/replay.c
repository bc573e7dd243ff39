/*
 * replay: runs a fuzz target's LLVMFuzzerTestOneInput once on every file of a directory, so
 * builds without libFuzzer (gcc, sanitizers) still exercise the committed corpus. Each input
 * gets a buffer of exactly its size, so a read past the end shows up under ASan.
 * Usage: fuzz_<name> <corpus directory>
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads path into a new buffer of exactly its size; returns 0 on success. */
static int read_file(const char *path, uint8_t **out, size_t *len)
{
    FILE *f = NULL;
    uint8_t *buf = NULL;
    struct stat st;
    int rc = -1;

    if (stat(path, &st) != 0 || st.st_size < 0)
        goto out;
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf)
        goto out;
    f = fopen(path, "rb");
    if (!f)
        goto out;
    if (fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size)
        goto out;
    *out = buf;
    *len = (size_t)st.st_size;
    buf = NULL;
    rc = 0;
out:
    if (f)
        fclose(f);
    free(buf);
    return rc;
}

int main(int argc, char **argv)
{
    struct dirent **names = NULL;
    size_t ran = 0;
    int n, failed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
        return 1;
    }
    n = scandir(argv[1], &names, NULL, alphasort);
    if (n < 0) {
        fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        uint8_t *data;
        size_t len;
        int w = snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]->d_name);

        free(names[i]);
        if (w < 0 || (size_t)w >= sizeof(path) || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (read_file(path, &data, &len) != 0) {
            fprintf(stderr, "%s: cannot read %s\n", argv[0], path);
            failed = 1;
            continue;
        }
        LLVMFuzzerTestOneInput(data, len);
        free(data);
        ran++;
    }
    free(names);
    printf("ran %zu inputs from %s\n", ran, argv[1]);
    if (ran == 0) {
        fprintf(stderr, "%s: no inputs in %s\n", argv[0], argv[1]);
        return 1;
    }
    return failed;
}
