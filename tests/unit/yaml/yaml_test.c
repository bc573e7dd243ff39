/* YAML -> JSON: core-schema scalar typing, structure, documents, limits and error lines. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "err.h"
#include "yaml.h"

static json_t *parse_ok(const char *text)
{
    json_t *v = NULL;

    cr_assert_eq(nxc_yaml_parse(text, strlen(text), &v), 0, "%s: %s", text, nxc_error_last());
    return v;
}

/* The value of key "v" in "v: <scalar>". */
static json_t *scalar(const char *s)
{
    char text[256];
    json_t *doc, *v;

    snprintf(text, sizeof(text), "v: %s\n", s);
    doc = parse_ok(text);
    v = json_incref(json_object_get(doc, "v"));
    json_decref(doc);
    cr_assert_not_null(v, "%s", s);
    return v;
}

static void expect_error(const char *text, int code, const char *needle)
{
    json_t *v = NULL;

    cr_assert_eq(nxc_yaml_parse(text, strlen(text), &v), code, "%s -> %s", text, nxc_error_last());
    cr_assert_null(v);
    cr_assert(strstr(nxc_error_last(), needle), "%s: want \"%s\" in \"%s\"", text, needle,
              nxc_error_last());
}

Test(yaml, nulls_and_bools)
{
    static const char *const nulls[] = {"null", "Null", "NULL", "~", ""};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    /* YAML 1.1 booleans are strings in 1.2. */
    static const char *const strs[] = {"yes", "no", "on", "off", "y", "tRUE", "nULL"};
    size_t i;
    json_t *v;

    for (i = 0; i < sizeof(nulls) / sizeof(*nulls); i++) {
        v = scalar(nulls[i]);
        cr_assert(json_is_null(v), "%s", nulls[i]);
        json_decref(v);
    }
    for (i = 0; i < 3; i++) {
        v = scalar(trues[i]);
        cr_assert(json_is_true(v), "%s", trues[i]);
        json_decref(v);
        v = scalar(falses[i]);
        cr_assert(json_is_false(v), "%s", falses[i]);
        json_decref(v);
    }
    for (i = 0; i < sizeof(strs) / sizeof(*strs); i++) {
        v = scalar(strs[i]);
        cr_assert_str_eq(json_string_value(v), strs[i]);
        json_decref(v);
    }
}

Test(yaml, integers_exact)
{
    static const struct {
        const char *in;
        json_int_t want;
    } cases[] = {
        {"0", 0},
        {"-0", 0},
        {"42", 42},
        {"+42", 42},
        {"-17", -17},
        {"007", 7},
        {"0o17", 15},
        {"0x1F", 31},
        {"0xff", 255},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN},
        {"9007199254740993", 9007199254740993LL},
        {"0x7fffffffffffffff", INT64_MAX},
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        json_t *v = scalar(cases[i].in);

        cr_assert(json_is_integer(v), "%s", cases[i].in);
        cr_assert_eq(json_integer_value(v), cases[i].want, "%s", cases[i].in);
        json_decref(v);
    }
}

Test(yaml, integer_out_of_range_is_an_error_with_line)
{
    expect_error("a: 1\nb:\n  c: 9223372036854775808\n", NXC_EINVALID, "line 3, column 6");
    expect_error("v: -9223372036854775809\n", NXC_EINVALID, "64-bit");
    expect_error("v: 0x8000000000000000\n", NXC_EINVALID, "64-bit");
    expect_error("- 99999999999999999999999\n", NXC_EINVALID, "line 1");
}

Test(yaml, floats)
{
    static const struct {
        const char *in;
        double want;
    } cases[] = {
        {"1.5", 1.5},  {"-2.25", -2.25},  {".5", 0.5},   {"5.", 5.0},
        {"1e3", 1000}, {"1.5E-2", 0.015}, {"+3.0", 3.0}, {"1e-400", 0.0},
    };
    static const char *const strs[] = {"1.2.3", "1e",  "e3",  ".",     "+-",   "1_000",
                                       "0x",    "0o8", "1,5", "12:30", "-.5e", "0b101"};
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        json_t *v = scalar(cases[i].in);

        cr_assert(json_is_real(v), "%s", cases[i].in);
        cr_assert_float_eq(json_real_value(v), cases[i].want, 1e-12, "%s", cases[i].in);
        json_decref(v);
    }
    for (i = 0; i < sizeof(strs) / sizeof(*strs); i++) {
        json_t *v = scalar(strs[i]);

        cr_assert(json_is_string(v), "%s", strs[i]);
        cr_assert_str_eq(json_string_value(v), strs[i]);
        json_decref(v);
    }
}

Test(yaml, inf_and_nan_rejected)
{
    expect_error("v: .inf\n", NXC_EINVALID, "cannot be represented");
    expect_error("v: -.Inf\n", NXC_EINVALID, "line 1, column 4");
    expect_error("x: 1\nv: .NaN\n", NXC_EINVALID, "line 2");
    expect_error("v: 1e999\n", NXC_EINVALID, "out of range");
}

Test(yaml, quoted_and_block_scalars_are_strings)
{
    json_t *doc = parse_ok("a: \"123\"\n"
                           "b: 'true'\n"
                           "c: \"\"\n"
                           "d: 'null'\n"
                           "e: |\n"
                           "  line1\n"
                           "  42\n"
                           "f: >\n"
                           "  folded\n"
                           "  text\n"
                           "g: |-\n"
                           "  1.5\n"
                           "h: \"tab\\there\\u00e9\"\n"
                           "i: !!str 12\n"
                           "j: ! 12\n"
                           "k: !!int \"12\"\n"
                           "l: !!float 2\n"
                           "m: !custom 3\n");

    cr_assert_str_eq(json_string_value(json_object_get(doc, "a")), "123");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "b")), "true");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "c")), "");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "d")), "null");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "e")), "line1\n42\n");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "f")), "folded text\n");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "g")), "1.5");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "h")), "tab\there\xc3\xa9");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "i")), "12");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "j")), "12");
    cr_assert_eq(json_integer_value(json_object_get(doc, "k")), 12);
    cr_assert(json_is_real(json_object_get(doc, "l")));
    cr_assert_eq(json_integer_value(json_object_get(doc, "m")), 3, "unknown tags are ignored");
    json_decref(doc);
    expect_error("v: !!int abc\n", NXC_EINVALID, "explicit tag");
}

Test(yaml, structure_block_and_flow)
{
    json_t *doc = parse_ok("# comment\n"
                           "top:\n"
                           "  list:\n"
                           "  - 1\n"
                           "  - two\n"
                           "  - {x: 1, y: [a, b]}\n"
                           "  - - nested\n"
                           "  empty_map: {}\n"
                           "  empty_list: []\n"
                           "  novalue:\n"
                           "&anchor anchored: plain anchors are fine\n");
    json_t *expect = json_loads("{\"top\":{\"list\":[1,\"two\",{\"x\":1,\"y\":[\"a\",\"b\"]},"
                                "[\"nested\"]],\"empty_map\":{},\"empty_list\":[],"
                                "\"novalue\":null},\"anchored\":\"plain anchors are fine\"}",
                                0, NULL);

    cr_assert(json_equal(doc, expect), "%s", json_dumps(doc, 0));
    json_decref(doc);
    json_decref(expect);
}

Test(yaml, non_string_keys_keep_their_text)
{
    json_t *doc = parse_ok("1: one\ntrue: yes\n~: nothing\n1.5: f\n\"q\": quoted\n");

    cr_assert_str_eq(json_string_value(json_object_get(doc, "1")), "one");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "true")), "yes");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "~")), "nothing");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "1.5")), "f");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "q")), "quoted");
    json_decref(doc);
    expect_error("? [a, b]\n: v\n", NXC_EINVALID, "keys must be scalars");
    expect_error("\"a\\0b\": v\n", NXC_EINVALID, "NUL");
}

Test(yaml, duplicate_keys)
{
    expect_error("a: 1\nb: 2\na: 3\n", NXC_EINVALID, "line 3, column 1: duplicate key \"a\"");
    expect_error("x:\n  y: 1\n  'y': 2\n", NXC_EINVALID, "line 3");
    expect_error("{a: 1, a: 2}\n", NXC_EINVALID, "duplicate key");
}

Test(yaml, aliases_rejected)
{
    expect_error("a: &x 1\nb: *x\n", NXC_EINVALID, "line 2, column 4: aliases are not supported");
    expect_error("base: &b {x: 1}\nother:\n  <<: *b\n", NXC_EINVALID, "aliases");
}

Test(yaml, syntax_errors_have_line_and_column)
{
    expect_error("a: 1\nb: [1, 2\nc: 3\n", NXC_EINVALID, "line ");
    expect_error("a:\n  b: 1\n c: 2\n", NXC_EINVALID, "line 3");
    expect_error("a: \"unterminated\n", NXC_EINVALID, "line ");
    expect_error("key: value: other\n", NXC_EINVALID, "line 1, column 11");
    expect_error("\t- tab\n", NXC_EINVALID, "line 1");
}

Test(yaml, invalid_utf8_rejected)
{
    static const char bad[] = "v: \xff\xfe\n";
    json_t *v = NULL;

    cr_assert_eq(nxc_yaml_parse(bad, sizeof(bad) - 1, &v), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "line 1"), "%s", nxc_error_last());
}

Test(yaml, multiple_documents)
{
    static const char text[] = "---\n"
                               "# only a comment\n"
                               "---\n"
                               "a: 1\n"
                               "---\n"
                               "- x\n"
                               "...\n"
                               "---\n"
                               "~\n"
                               "---\n"
                               "---\n"
                               "plain\n";
    json_t *all = NULL, *first;

    cr_assert_eq(nxc_yaml_parse_all(text, strlen(text), &all), 0, "%s", nxc_error_last());
    cr_assert_eq(json_array_size(all), 4, "empty documents are skipped");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(all, 0), "a")), 1);
    cr_assert_str_eq(json_string_value(json_array_get(json_array_get(all, 1), 0)), "x");
    cr_assert(json_is_null(json_array_get(all, 2)), "an explicit null is kept");
    cr_assert_str_eq(json_string_value(json_array_get(all, 3)), "plain");
    json_decref(all);
    first = parse_ok(text);
    cr_assert_eq(json_integer_value(json_object_get(first, "a")), 1);
    json_decref(first);
}

Test(yaml, empty_input)
{
    json_t *v = NULL;

    v = parse_ok("");
    cr_assert(json_is_null(v));
    json_decref(v);
    v = parse_ok("# nothing\n");
    cr_assert(json_is_null(v));
    json_decref(v);
    cr_assert_eq(nxc_yaml_parse_all("", 0, &v), 0);
    cr_assert_eq(json_array_size(v), 0);
    json_decref(v);
}

Test(yaml, error_in_a_later_document)
{
    static const char text[] = "a: 1\n---\nb: 2\nb: 3\n";
    json_t *v = NULL;

    cr_assert_eq(nxc_yaml_parse_all(text, strlen(text), &v), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), "line 4"), "%s", nxc_error_last());
    cr_assert_null(v);
}

static char *nested(int depth, int flow)
{
    /* Block style indents each level: quadratic, fine for the small depths used. */
    char *s = malloc(flow ? (size_t)depth * 2 + 16 : (size_t)depth * ((size_t)depth * 2 + 4) + 16);
    size_t off = 0;
    int i;

    for (i = 0; i < depth; i++) {
        if (flow) {
            s[off++] = '[';
        } else {
            memset(s + off, ' ', (size_t)i * 2);
            off += (size_t)i * 2;
            memcpy(s + off, "k:\n", 3);
            off += 3;
        }
    }
    if (flow) {
        memset(s + off, ']', (size_t)depth);
        off += (size_t)depth;
    }
    s[off++] = '\n';
    s[off] = '\0';
    return s;
}

Test(yaml, depth_limit)
{
    char *ok = nested(NXC_YAML_MAX_DEPTH, 1);
    char *deep = nested(NXC_YAML_MAX_DEPTH + 1, 1);
    char *block = nested(NXC_YAML_MAX_DEPTH + 1, 0);
    char *huge = nested(100000, 1);
    json_t *v = NULL;

    cr_assert_eq(nxc_yaml_parse(ok, strlen(ok), &v), 0, "%s", nxc_error_last());
    json_decref(v);
    cr_assert_eq(nxc_yaml_parse(deep, strlen(deep), &v), NXC_ELIMIT);
    cr_assert(strstr(nxc_error_last(), "deeper than 64"), "%s", nxc_error_last());
    cr_assert_eq(nxc_yaml_parse(block, strlen(block), &v), NXC_ELIMIT, "%s", nxc_error_last());
    cr_assert_eq(nxc_yaml_parse(huge, strlen(huge), &v), NXC_ELIMIT);
    free(ok);
    free(deep);
    free(block);
    free(huge);
}

Test(yaml, size_limit)
{
    json_t *v = NULL;

    cr_assert_eq(nxc_yaml_parse("a: 1\n", (size_t)NXC_YAML_MAX_SIZE + 1, &v), NXC_ELIMIT);
    cr_assert_null(v);
}

Test(yaml, load_files)
{
    char dir[] = "/tmp/nxc-yaml-test-XXXXXX";
    char path[128], big[128];
    json_t *v = NULL;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/x.yaml", dir);
    f = fopen(path, "w");
    fputs("a: 1\n---\nb: [1, 2\n", f);
    fclose(f);
    cr_assert_eq(nxc_yaml_load_file(path, &v), 0, "%s", nxc_error_last());
    cr_assert_eq(json_integer_value(json_object_get(v, "a")), 1);
    json_decref(v);
    cr_assert_eq(nxc_yaml_load_file_all(path, &v), NXC_EINVALID);
    cr_assert(strstr(nxc_error_last(), path), "%s", nxc_error_last());
    cr_assert(strstr(nxc_error_last(), "line 4"), "%s", nxc_error_last());

    snprintf(big, sizeof(big), "%s/big.yaml", dir);
    cr_assert_eq(truncate(path, 0), 0);
    f = fopen(big, "w");
    fseek(f, (long)NXC_YAML_MAX_SIZE, SEEK_SET);
    fputc('\n', f);
    fclose(f);
    cr_assert_eq(nxc_yaml_load_file(big, &v), NXC_ELIMIT);
    cr_assert(strstr(nxc_error_last(), big), "%s", nxc_error_last());

    snprintf(path, sizeof(path), "%s/none.yaml", dir);
    cr_assert_eq(nxc_yaml_load_file(path, &v), NXC_ENOTFOUND);
    cr_assert(strstr(nxc_error_last(), path), "%s", nxc_error_last());
    cr_assert_eq(nxc_yaml_load_file(dir, &v), NXC_ERROR, "a directory");

    unlink(big);
    snprintf(path, sizeof(path), "%s/x.yaml", dir);
    unlink(path);
    rmdir(dir);
}
