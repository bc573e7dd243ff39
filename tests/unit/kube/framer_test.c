/* Watch stream framing: events split anywhere across chunks, line ends, limits, bad input. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kube.h"

struct seen {
    int n;
    char *names[64];
    int fail_at; /* return an error for this event number (1-based); 0: never */
};

static int collect(void *ctx, json_t *ev)
{
    struct seen *s = ctx;
    const char *name = json_string_value(json_object_get(ev, "n"));

    s->n++;
    if (s->fail_at && s->n == s->fail_at)
        return nxc_error_set(NXC_ECONFLICT, "callback refused");
    if (s->n <= 64)
        s->names[s->n - 1] = strdup(name ? name : "?");
    return 0;
}

static void seen_free(struct seen *s)
{
    int i;

    for (i = 0; i < s->n && i < 64; i++)
        free(s->names[i]);
}

static const char three[] = "{\"n\":\"a\",\"type\":\"ADDED\"}\n"
                            "{\"n\":\"b\",\"object\":{\"x\":[1,2,{\"y\":\"z\"}]}}\n"
                            "{\"n\":\"c\"}\n";

Test(kube, framer_one_byte_chunks)
{
    struct seen s = {0};
    nxc_kube_framer *f;
    size_t i;

    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    for (i = 0; i < strlen(three); i++)
        cr_assert_eq(nxc_kube_framer_feed(f, three + i, 1), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.names[0], "a");
    cr_assert_str_eq(s.names[1], "b");
    cr_assert_str_eq(s.names[2], "c");
    nxc_kube_framer_free(f);
    seen_free(&s);
}

Test(kube, framer_many_events_in_one_chunk)
{
    struct seen s = {0};
    nxc_kube_framer *f;
    char buf[4096];
    size_t off = 0;
    int i;

    for (i = 0; i < 50; i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "{\"n\":\"e%d\"}\n", i);
    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, buf, off), 0);
    cr_assert_eq(s.n, 50);
    cr_assert_str_eq(s.names[0], "e0");
    cr_assert_str_eq(s.names[49], "e49");
    nxc_kube_framer_free(f);
    seen_free(&s);
}

Test(kube, framer_one_event_across_many_chunks)
{
    struct seen s = {0};
    nxc_kube_framer *f;
    char *big = malloc(200000);
    size_t len, off;

    /* One event of ~200 KB fed in 7-byte pieces, then a second one in the same chunk as the
     * end of the first. */
    len = (size_t)snprintf(big, 200000, "{\"n\":\"big\",\"pad\":\"");
    memset(big + len, 'x', 150000);
    len += 150000;
    len += (size_t)snprintf(big + len, 200000 - len, "\"}\n{\"n\":\"after\"}\n");
    cr_assert_eq(nxc_kube_framer_new(NXC_KUBE_MAX_EVENT, collect, &s, &f), 0);
    for (off = 0; off < len; off += 7)
        cr_assert_eq(nxc_kube_framer_feed(f, big + off, len - off < 7 ? len - off : 7), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.names[0], "big");
    cr_assert_str_eq(s.names[1], "after");
    nxc_kube_framer_free(f);
    seen_free(&s);
    free(big);
}

Test(kube, framer_crlf_and_blank_lines)
{
    static const char in[] = "\r\n\n  \r\n{\"n\":\"a\"}\r\n\n{\"n\":\"b\"}\r\n";
    struct seen s = {0};
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, in, strlen(in)), 0);
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.names[1], "b");
    nxc_kube_framer_free(f);
    seen_free(&s);
}

Test(kube, framer_partial_line_waits)
{
    struct seen s = {0};
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"a\"}", 9), 0);
    cr_assert_eq(s.n, 0);
    cr_assert_eq(nxc_kube_framer_feed(f, "\n", 1), 0);
    cr_assert_eq(s.n, 1);
    nxc_kube_framer_free(f);
    seen_free(&s);
}

Test(kube, framer_oversize_line_then_recovers)
{
    struct seen s = {0};
    nxc_kube_framer *f;
    char line[64];

    cr_assert_eq(nxc_kube_framer_new(16, collect, &s, &f), 0);
    /* Exactly the limit is fine, with or without \r. */
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"abcdefgh\"}\n", 17), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"abcdefgh\"}\r\n", 18), 0);
    cr_assert_eq(s.n, 2);
    /* Too long in one chunk. */
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"abcdefghi\"}\n", 18), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "longer than 16"), "%s", nxc_error_last());
    /* Too long without a newline yet: refused before it is buffered. */
    memset(line, 'x', sizeof(line));
    cr_assert_eq(nxc_kube_framer_feed(f, "{", 1), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, line, sizeof(line)), NXC_EINVALID);
    /* The framer was reset: a whole new event parses. */
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"ok\"}\n", 11), 0);
    cr_assert_eq(s.n, 3);
    cr_assert_str_eq(s.names[2], "ok");
    nxc_kube_framer_free(f);
    seen_free(&s);
}

Test(kube, framer_invalid_json)
{
    struct seen s = {0};
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"a\"}\n{\"n\": nope}\n{\"n\":\"c\"}\n", 32),
                 NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "not JSON"), "%s", nxc_error_last());
    cr_assert_eq(s.n, 1);
    /* A JSON value that is not an object is not an event either. */
    cr_assert_eq(nxc_kube_framer_feed(f, "[1,2]\n", 6), NXC_EINVALID);
    /* Two values on one line. */
    cr_assert_eq(nxc_kube_framer_feed(f, "{} {}\n", 6), NXC_EINVALID);
    cr_assert_eq(nxc_kube_framer_feed(f, "{\"n\":\"d\"}\n", 10), 0);
    cr_assert_eq(s.n, 2);
    nxc_kube_framer_free(f);
    seen_free(&s);
}

Test(kube, framer_callback_error_is_returned)
{
    struct seen s = {.fail_at = 2};
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, three, strlen(three)), NXC_ECONFLICT);
    cr_assert_eq(s.n, 2); /* the third event is not delivered after the error */
    nxc_kube_framer_free(f);
    seen_free(&s);
}

/* An integer beyond 64 bits (the API server keeps what a client wrote) must not stop the
 * stream: the event still arrives, that number read as a real, and the next ones follow. */
Test(kube, framer_integer_beyond_64_bits_does_not_stop_the_stream)
{
    static const char two[] = "{\"n\":\"big\",\"v\":92233720368547758080}\n{\"n\":\"next\"}\n";
    struct seen s = {0};
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(1024, collect, &s, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, two, strlen(two)), 0, "%s", nxc_error_last());
    cr_assert_eq(s.n, 2);
    cr_assert_str_eq(s.names[0], "big");
    cr_assert_str_eq(s.names[1], "next");
    nxc_kube_framer_free(f);
    seen_free(&s);
}

static int keep_note(void *ctx, json_t *ev)
{
    json_t **out = ctx;

    *out = json_incref(json_object_get(ev, "note"));
    return 0;
}

Test(kube, framer_keeps_nul_inside_a_string)
{
    static const char ev[] = "{\"note\":\"a\\u0000b\"}\n";
    json_t *note = NULL;
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(1024, keep_note, &note, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, ev, strlen(ev)), 0, "%s", nxc_error_last());
    cr_assert_not_null(note);
    cr_assert_eq(json_string_length(note), 3, "the string was cut at its NUL");
    cr_assert_eq(memcmp(json_string_value(note), "a\0b", 3), 0);
    json_decref(note);
    nxc_kube_framer_free(f);
}

static int keep_event(void *ctx, json_t *ev)
{
    json_t **out = ctx;

    *out = json_incref(ev);
    return 0;
}

/* Only the integer beyond 64 bits becomes a real: every other number keeps its exact value
 * and type, strings that look like numbers are left alone, reals stay as they were. */
Test(kube, framer_only_the_huge_integer_becomes_a_real)
{
    static const char ev[] = "{\"huge\":18446744073709551615,\"neg\":-9223372036854775809,"
                             "\"big\":9007199254740993,\"max\":9223372036854775807,"
                             "\"min\":-9223372036854775808,\"gen\":4,\"pi\":3.14159,"
                             "\"exp\":1.5e300,\"frac\":0.99999999999999999999999,"
                             "\"s\":\"18446744073709551615 \\\" 99999999999999999999\","
                             "\"a\":[1,99999999999999999999,2]}\n";
    json_t *got = NULL;
    nxc_kube_framer *f;

    cr_assert_eq(nxc_kube_framer_new(4096, keep_event, &got, &f), 0);
    cr_assert_eq(nxc_kube_framer_feed(f, ev, strlen(ev)), 0, "%s", nxc_error_last());
    cr_assert_not_null(got);
    cr_assert(json_is_real(json_object_get(got, "huge")));
    cr_assert(json_is_real(json_object_get(got, "neg")));
    cr_assert_eq(json_integer_value(json_object_get(got, "big")), 9007199254740993LL);
    cr_assert_eq(json_integer_value(json_object_get(got, "max")), INT64_MAX);
    cr_assert_eq(json_integer_value(json_object_get(got, "min")), INT64_MIN);
    cr_assert(json_is_integer(json_object_get(got, "gen")));
    cr_assert_eq(json_integer_value(json_object_get(got, "gen")), 4);
    cr_assert(json_is_real(json_object_get(got, "pi")));
    cr_assert(json_is_real(json_object_get(got, "exp")));
    cr_assert(json_is_real(json_object_get(got, "frac")));
    cr_assert_str_eq(json_string_value(json_object_get(got, "s")),
                     "18446744073709551615 \" 99999999999999999999");
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(got, "a"), 0)), 1);
    cr_assert(json_is_real(json_array_get(json_object_get(got, "a"), 1)));
    cr_assert_eq(json_integer_value(json_array_get(json_object_get(got, "a"), 2)), 2);
    json_decref(got);
    nxc_kube_framer_free(f);
}
