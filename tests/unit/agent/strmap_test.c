/* Unit tests of the agent's string map. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "strmap.h"

Test(strmap, put_get_del_many)
{
    nxc_strmap *m = nxc_strmap_new();
    char key[32];
    int found;

    cr_assert_not_null(m);
    for (long i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        cr_assert_eq(nxc_strmap_put(m, key, (void *)(i + 1)), 0);
    }
    cr_assert_eq(nxc_strmap_len(m), 10000);
    for (long i = 0; i < 10000; i += 2) {
        snprintf(key, sizeof(key), "k%ld", i);
        cr_assert_eq(nxc_strmap_del(m, key), (void *)(i + 1));
    }
    cr_assert_eq(nxc_strmap_len(m), 5000);
    for (long i = 0; i < 10000; i++) {
        snprintf(key, sizeof(key), "k%ld", i);
        void *v = nxc_strmap_get(m, key, &found);
        cr_assert_eq(found, i % 2, "key %s", key);
        cr_assert_eq(v, found ? (void *)(i + 1) : NULL);
    }
    nxc_strmap_free(m);
}

Test(strmap, null_value_is_present)
{
    nxc_strmap *m = nxc_strmap_new();
    int found = 0;

    cr_assert_eq(nxc_strmap_put(m, "a", NULL), 0);
    cr_assert_null(nxc_strmap_get(m, "a", &found));
    cr_assert_eq(found, 1);
    nxc_strmap_get(m, "b", &found);
    cr_assert_eq(found, 0);
    nxc_strmap_free(m);
}

Test(strmap, replace_keeps_one_entry)
{
    nxc_strmap *m = nxc_strmap_new();

    nxc_strmap_put(m, "x", (void *)1);
    nxc_strmap_put(m, "x", (void *)2);
    cr_assert_eq(nxc_strmap_len(m), 1);
    cr_assert_eq(nxc_strmap_get(m, "x", NULL), (void *)2);
    nxc_strmap_free(m);
}

/* Churn (insert, delete, insert other keys) must not fill the table with tombstones. */
Test(strmap, churn_stays_usable)
{
    nxc_strmap *m = nxc_strmap_new();
    char key[32];

    for (long round = 0; round < 200; round++) {
        for (long i = 0; i < 50; i++) {
            snprintf(key, sizeof(key), "r%ld-%ld", round, i);
            cr_assert_eq(nxc_strmap_put(m, key, (void *)1), 0);
        }
        for (long i = 0; i < 50; i++) {
            snprintf(key, sizeof(key), "r%ld-%ld", round, i);
            cr_assert_not_null(nxc_strmap_del(m, key));
        }
    }
    cr_assert_eq(nxc_strmap_len(m), 0);
    nxc_strmap_clear(m);
    cr_assert_eq(nxc_strmap_put(m, "after-clear", (void *)3), 0);
    cr_assert_eq(nxc_strmap_get(m, "after-clear", NULL), (void *)3);
    nxc_strmap_free(m);
}

static void count(void *ctx, const char *key, void *val)
{
    (void)key;
    *(long *)ctx += (long)val;
}

Test(strmap, each_visits_live_entries)
{
    nxc_strmap *m = nxc_strmap_new();
    long sum = 0;

    nxc_strmap_put(m, "a", (void *)1);
    nxc_strmap_put(m, "b", (void *)10);
    nxc_strmap_put(m, "c", (void *)100);
    nxc_strmap_del(m, "b");
    nxc_strmap_each(m, count, &sum);
    cr_assert_eq(sum, 101);
    nxc_strmap_free(m);
}
