/*
 * Unit tests of vv: version vector order, merge and forms; the hybrid logical clock; the
 * winner rule both sides must agree on.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "vv.h"

static nxc_vv *parse(const char *s)
{
    nxc_vv *v;

    cr_assert_eq(nxc_vv_parse(s, &v), NXC_OK, "parse \"%s\": %s", s, nxc_error_last());
    return v;
}

static enum nxc_vv_order cmp(const char *a, const char *b)
{
    nxc_vv *va = parse(a), *vb = parse(b);
    enum nxc_vv_order o = nxc_vv_compare(va, vb);

    nxc_vv_free(va);
    nxc_vv_free(vb);
    return o;
}

static void assert_format(const nxc_vv *v, const char *want)
{
    char *s = nxc_vv_format(v);

    cr_assert_not_null(s);
    cr_assert_str_eq(s, want);
    free(s);
}

Test(vv, id_valid)
{
    char longest[NXC_VV_ID_MAX + 2];

    cr_assert(nxc_vv_id_valid("A"));
    cr_assert(nxc_vv_id_valid("saas-control_plane-01"));
    memset(longest, 'x', sizeof(longest));
    longest[NXC_VV_ID_MAX] = '\0';
    cr_assert(nxc_vv_id_valid(longest));
    longest[NXC_VV_ID_MAX] = 'x';
    longest[NXC_VV_ID_MAX + 1] = '\0';
    cr_assert_not(nxc_vv_id_valid(longest), "64 bytes is too long");
    cr_assert_not(nxc_vv_id_valid(""));
    cr_assert_not(nxc_vv_id_valid(NULL));
    cr_assert_not(nxc_vv_id_valid("a.b"));
    cr_assert_not(nxc_vv_id_valid("a b"));
    cr_assert_not(nxc_vv_id_valid("a=b"));
    cr_assert_not(nxc_vv_id_valid("a,b"));
    cr_assert_not(nxc_vv_id_valid("\xc3\xa9"));
}

Test(vv, compare_all_orders)
{
    cr_assert_eq(cmp("", ""), NXC_VV_EQUAL);
    cr_assert_eq(cmp("A=1,B=2", "A=1,B=2"), NXC_VV_EQUAL);
    cr_assert_eq(cmp("A=2,B=2", "A=1,B=2"), NXC_VV_DOMINATES);
    cr_assert_eq(cmp("A=1,B=2", "A=1"), NXC_VV_DOMINATES);
    cr_assert_eq(cmp("A=1", ""), NXC_VV_DOMINATES);
    cr_assert_eq(cmp("", "A=1"), NXC_VV_STALE);
    cr_assert_eq(cmp("A=1", "A=1,B=1"), NXC_VV_STALE);
    cr_assert_eq(cmp("A=1,B=1", "A=3,B=1"), NXC_VV_STALE);
    cr_assert_eq(cmp("A=2,B=1", "A=1,B=2"), NXC_VV_CONCURRENT);
    cr_assert_eq(cmp("A=1", "B=1"), NXC_VV_CONCURRENT);
    cr_assert_eq(cmp("A=1,C=1", "B=1"), NXC_VV_CONCURRENT);
}

Test(vv, compare_null_is_empty)
{
    nxc_vv *a = parse("A=1");

    cr_assert_eq(nxc_vv_compare(NULL, NULL), NXC_VV_EQUAL);
    cr_assert_eq(nxc_vv_compare(a, NULL), NXC_VV_DOMINATES);
    cr_assert_eq(nxc_vv_compare(NULL, a), NXC_VV_STALE);
    nxc_vv_free(a);
}

Test(vv, merge_is_pointwise_max)
{
    nxc_vv *a = parse("A=3,C=1");
    nxc_vv *b = parse("A=1,B=5,C=2");
    nxc_vv *empty = nxc_vv_new();

    cr_assert_eq(nxc_vv_merge(a, b), NXC_OK);
    assert_format(a, "A=3,B=5,C=2");
    cr_assert_eq(nxc_vv_compare(a, b), NXC_VV_DOMINATES);
    cr_assert_eq(nxc_vv_merge(a, empty), NXC_OK);
    assert_format(a, "A=3,B=5,C=2");
    cr_assert_eq(nxc_vv_merge(empty, a), NXC_OK);
    cr_assert_eq(nxc_vv_compare(empty, a), NXC_VV_EQUAL);
    nxc_vv_free(a);
    nxc_vv_free(b);
    nxc_vv_free(empty);
}

Test(vv, bump_set_get)
{
    nxc_vv *v = nxc_vv_new();
    uint64_t c = 0;

    cr_assert_eq(nxc_vv_get(v, "A"), 0);
    cr_assert_eq(nxc_vv_bump(v, "B"), NXC_OK);
    cr_assert_eq(nxc_vv_bump(v, "B"), NXC_OK);
    cr_assert_eq(nxc_vv_bump(v, "A"), NXC_OK);
    cr_assert_eq(nxc_vv_get(v, "B"), 2);
    cr_assert_eq(nxc_vv_size(v), 2);
    cr_assert_str_eq(nxc_vv_id_at(v, 0, &c), "A");
    cr_assert_eq(c, 1);
    cr_assert_str_eq(nxc_vv_id_at(v, 1, NULL), "B");
    cr_assert_null(nxc_vv_id_at(v, 2, &c));
    /* Zero is absence. */
    cr_assert_eq(nxc_vv_set(v, "A", 0), NXC_OK);
    cr_assert_eq(nxc_vv_size(v), 1);
    assert_format(v, "B=2");
    cr_assert_eq(nxc_vv_set(v, "bad id", 1), NXC_EINVALID);
    cr_assert_eq(nxc_vv_bump(v, ""), NXC_EINVALID);
    cr_assert_eq(nxc_vv_set(v, "A", (uint64_t)INT64_MAX + 1), NXC_EINVALID);
    cr_assert_eq(nxc_vv_set(v, "A", INT64_MAX), NXC_OK);
    cr_assert_eq(nxc_vv_bump(v, "A"), NXC_ELIMIT, "a counter never wraps");
    cr_assert_eq(nxc_vv_get(v, "A"), INT64_MAX);
    nxc_vv_free(v);
}

Test(vv, entries_capped)
{
    nxc_vv *v = nxc_vv_new();
    nxc_vv *other = nxc_vv_new();
    char id[16];

    for (int i = 0; i < NXC_VV_MAX_ENTRIES; i++) {
        snprintf(id, sizeof(id), "r%03d", i);
        cr_assert_eq(nxc_vv_bump(v, id), NXC_OK);
    }
    cr_assert_eq(nxc_vv_bump(v, "z-one-too-many"), NXC_ELIMIT);
    cr_assert_eq(nxc_vv_bump(other, "z-one-too-many"), NXC_OK);
    cr_assert_eq(nxc_vv_merge(v, other), NXC_ELIMIT);
    cr_assert_eq(nxc_vv_size(v), NXC_VV_MAX_ENTRIES, "a failed merge changes nothing");
    nxc_vv_free(v);
    nxc_vv_free(other);
}

Test(vv, dup_is_deep)
{
    nxc_vv *a = parse("A=1,B=2");
    nxc_vv *b = nxc_vv_dup(a);
    nxc_vv *e = nxc_vv_new();
    nxc_vv *ed = nxc_vv_dup(e);

    cr_assert_eq(nxc_vv_bump(a, "A"), NXC_OK);
    assert_format(b, "A=1,B=2");
    cr_assert_eq(nxc_vv_size(ed), 0);
    nxc_vv_free(a);
    nxc_vv_free(b);
    nxc_vv_free(e);
    nxc_vv_free(ed);
    nxc_vv_free(NULL);
}

Test(vv, format_parse_round_trip)
{
    const char *forms[] = {"", "A=1", "A=1,B=2", "a-1=9223372036854775807,b_2=1,z=42"};

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        nxc_vv *v = parse(forms[i]);

        assert_format(v, forms[i]);
        nxc_vv_free(v);
    }
}

Test(vv, format_sorts_ids)
{
    nxc_vv *v = parse("b=1,B=2,a=3");

    assert_format(v, "B=2,a=3,b=1");
    nxc_vv_free(v);
}

Test(vv, parse_rejects_malformed)
{
    const char *bad[] = {"A",
                         "A=",
                         "=1",
                         "A=1,",
                         ",A=1",
                         "A=1,,B=2",
                         "A=x",
                         "A=-1",
                         "A=+1",
                         "A=1 ",
                         " A=1",
                         "A=1,A=2",
                         "A=0",
                         "A=9223372036854775808",
                         "A=99999999999999999999",
                         "a b=1",
                         "A==1",
                         "A=1=2",
                         "A=1;B=2"};
    nxc_vv *v = (nxc_vv *)1;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(nxc_vv_parse(bad[i], &v), NXC_EINVALID, "\"%s\" was accepted", bad[i]);
        cr_assert_null(v);
    }
    cr_assert_eq(nxc_vv_parse(NULL, &v), NXC_EINVALID);
}

Test(vv, parse_rejects_too_many_entries)
{
    char s[NXC_VV_MAX_ENTRIES * 16];
    size_t off = 0;
    nxc_vv *v;

    for (int i = 0; i <= NXC_VV_MAX_ENTRIES; i++)
        off += (size_t)snprintf(s + off, sizeof(s) - off, "%sr%d=1", i ? "," : "", i);
    cr_assert_eq(nxc_vv_parse(s, &v), NXC_EINVALID);
}

/* Packs v into sb and reads it back as one msgpack object. */
static int pack_unpack(const nxc_vv *v, nxc_vv **out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    cr_assert_eq(nxc_vv_pack(&pk, v), NXC_OK);
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    rc = nxc_vv_unpack(&u.data, out);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

Test(vv, pack_unpack_round_trip)
{
    const char *forms[] = {"", "A=1", "A=1,B=300,C=9223372036854775807"};

    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        nxc_vv *v = parse(forms[i]);
        nxc_vv *back;

        cr_assert_eq(pack_unpack(v, &back), NXC_OK, "%s", nxc_error_last());
        cr_assert_eq(nxc_vv_compare(v, back), NXC_VV_EQUAL);
        assert_format(back, forms[i]);
        nxc_vv_free(v);
        nxc_vv_free(back);
    }
}

/* Unpacks a map built by the caller's packing function. */
static int unpack_built(void (*build)(msgpack_packer *pk), nxc_vv **out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
    size_t off = 0;
    int rc;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    build(&pk);
    msgpack_unpacked_init(&u);
    cr_assert_eq(msgpack_unpack_next(&u, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    rc = nxc_vv_unpack(&u.data, out);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void entry(msgpack_packer *pk, const char *id, uint64_t c)
{
    msgpack_pack_str_with_body(pk, id, strlen(id));
    msgpack_pack_uint64(pk, c);
}

static void bad_id(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    entry(pk, "no spaces", 1);
}

static void empty_id(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    entry(pk, "", 1);
}

static void duplicate(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    entry(pk, "A", 1);
    entry(pk, "A", 2);
}

static void too_many(msgpack_packer *pk)
{
    char id[16];

    msgpack_pack_map(pk, NXC_VV_MAX_ENTRIES + 1);
    for (int i = 0; i <= NXC_VV_MAX_ENTRIES; i++) {
        snprintf(id, sizeof(id), "r%d", i);
        entry(pk, id, 1);
    }
}

static void negative(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "A", 1);
    msgpack_pack_int64(pk, -1);
}

static void huge(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    entry(pk, "A", UINT64_MAX);
}

static void int_key(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 1);
}

static void not_a_map(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 0);
}

static void zero_entry(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 2);
    entry(pk, "A", 0);
    entry(pk, "B", 4);
}

Test(vv, unpack_rejects_malformed)
{
    void (*bad[])(msgpack_packer *) = {bad_id,   empty_id, duplicate, too_many,
                                       negative, huge,     int_key,   not_a_map};
    nxc_vv *v;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(unpack_built(bad[i], &v), NXC_EINVALID, "case %zu accepted", i);
        cr_assert_null(v);
    }
    cr_assert_eq(nxc_vv_unpack(NULL, &v), NXC_EINVALID);
}

Test(vv, unpack_zero_counter_is_absent)
{
    nxc_vv *v;

    cr_assert_eq(unpack_built(zero_entry, &v), NXC_OK);
    assert_format(v, "B=4");
    nxc_vv_free(v);
}

Test(vv, hlc_layout)
{
    nxc_hlc c = {0};

    cr_assert_eq(nxc_hlc_now_at(&c, 1000), (uint64_t)1000 << 16);
    cr_assert_eq(nxc_hlc_now_at(&c, 1000), ((uint64_t)1000 << 16) + 1);
    cr_assert_eq(nxc_hlc_now_at(&c, 1001), (uint64_t)1001 << 16);
}

Test(vv, hlc_monotonic_when_clock_goes_back)
{
    nxc_hlc c = {0};
    uint64_t prev = nxc_hlc_now_at(&c, 5000);
    const uint64_t walls[] = {4000, 4000, 1, 5000, 4999, 6000, 0, 6000};

    for (size_t i = 0; i < sizeof(walls) / sizeof(walls[0]); i++) {
        uint64_t t = nxc_hlc_now_at(&c, walls[i]);

        cr_assert_gt(t, prev, "wall %llu gave %llu after %llu", (unsigned long long)walls[i],
                     (unsigned long long)t, (unsigned long long)prev);
        prev = t;
    }
    cr_assert_eq(prev >> 16, 6000);
}

Test(vv, hlc_logical_overflow_advances_ms)
{
    nxc_hlc c = {0};
    uint64_t prev = nxc_hlc_now_at(&c, 7000);

    for (int i = 0; i < 70000; i++) {
        uint64_t t = nxc_hlc_now_at(&c, 7000);

        cr_assert_gt(t, prev);
        prev = t;
    }
    /* 70000 stamps in one millisecond spill into the next. */
    cr_assert_eq(prev >> 16, 7001);
    cr_assert_eq(prev & 0xffff, 70000 - 65536);
    /* The wall clock catching up continues from there. */
    cr_assert_gt(nxc_hlc_now_at(&c, 7001), prev);
    cr_assert_eq(nxc_hlc_now_at(&c, 7002), (uint64_t)7002 << 16);
}

Test(vv, hlc_observe)
{
    nxc_hlc c = {0};
    uint64_t remote = ((uint64_t)900000 << 16) + 17;
    uint64_t t;

    nxc_hlc_now_at(&c, 1000);
    nxc_hlc_observe(&c, remote);
    t = nxc_hlc_now_at(&c, 1000);
    cr_assert_gt(t, remote);
    nxc_hlc_observe(&c, 5); /* an older remote stamp changes nothing */
    cr_assert_gt(nxc_hlc_now_at(&c, 1000), t);
}

Test(vv, hlc_saturates)
{
    nxc_hlc c = {0};

    nxc_hlc_observe(&c, UINT64_MAX);
    cr_assert_eq(nxc_hlc_now_at(&c, 1), UINT64_MAX);
    c.last = 0;
    cr_assert_eq(nxc_hlc_now_at(&c, UINT64_MAX) >> 16, ((uint64_t)1 << 48) - 1,
                 "a wall clock beyond 48 bits is clamped, not wrapped");
}

Test(vv, hlc_now_uses_wall_clock)
{
    nxc_hlc c = {0};
    uint64_t a = nxc_hlc_now(&c);
    uint64_t b = nxc_hlc_now(&c);

    cr_assert_gt(b, a);
    cr_assert_gt(a >> 16, (uint64_t)1600000000000ULL, "milliseconds since the epoch");
}

Test(vv, winner_rule)
{
    cr_assert(nxc_vv_a_wins(10, "A", 9, "B"), "higher HLC wins");
    cr_assert_not(nxc_vv_a_wins(9, "Z", 10, "A"));
    cr_assert(nxc_vv_a_wins(10, "B", 10, "A"), "then the greater id");
    cr_assert_not(nxc_vv_a_wins(10, "A", 10, "B"));
    cr_assert(nxc_vv_a_wins(10, "a", 10, "B"), "bytewise: 'a' > 'B'");
    cr_assert(nxc_vv_a_wins(10, "AB", 10, "A"), "a longer id with the same prefix");
}

Test(vv, winner_symmetric)
{
    const uint64_t hlcs[] = {0, 1, 65536, (uint64_t)INT64_MAX, UINT64_MAX};
    const char *ids[] = {"A", "B", "a", "AA", "runtime-1", "runtime-2"};
    const size_t nh = sizeof(hlcs) / sizeof(hlcs[0]), ni = sizeof(ids) / sizeof(ids[0]);

    for (size_t h1 = 0; h1 < nh; h1++)
        for (size_t i1 = 0; i1 < ni; i1++)
            for (size_t h2 = 0; h2 < nh; h2++)
                for (size_t i2 = 0; i2 < ni; i2++) {
                    if (h1 == h2 && i1 == i2)
                        continue;
                    cr_assert_eq(nxc_vv_a_wins(hlcs[h1], ids[i1], hlcs[h2], ids[i2]),
                                 !nxc_vv_a_wins(hlcs[h2], ids[i2], hlcs[h1], ids[i1]),
                                 "(%zu,%s) vs (%zu,%s)", h1, ids[i1], h2, ids[i2]);
                }
}
