/* Unit tests for src/space/config.c: front matter, YAML typing, the typed config,
 * validation messages and the limits that protect against hostile READMEs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "space/config.h"

/* ---- helpers ------------------------------------------------------------ */

static json_t *card_of(const char *readme)
{
    return config_card_data(readme, strlen(readme));
}

/* Parses "---\n<yaml>---\n" and expects success. */
static void parse_ok(const char *yaml, const char *repo_sdk, config *c)
{
    char readme[4096], err[512] = "";

    snprintf(readme, sizeof readme, "---\n%s---\n# Title\n", yaml);
    int rc = config_parse(readme, strlen(readme), repo_sdk, c, err, sizeof err);
    if (rc != 0)
        fail_msg("config_parse failed: %s\n--- input:\n%s", err, yaml);
}

/* Parses "---\n<yaml>---\n" and expects an error containing want. */
static void parse_fails(const char *yaml, const char *want)
{
    char readme[4096], err[512] = "";
    config c;

    snprintf(readme, sizeof readme, "---\n%s---\n", yaml);
    int rc = config_parse(readme, strlen(readme), "gradio", &c, err, sizeof err);
    if (rc != -1)
        fail_msg("config_parse accepted:\n%s", yaml);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not contain \"%s\"\n--- input:\n%s", err, want, yaml);
    assert_null(c.card); /* nothing left to free */
    assert_null(c.title);
}

/* The card value of key "v" in "---\nv: <scalar>\n---". */
static json_t *value_of(const char *scalar)
{
    char readme[512];

    snprintf(readme, sizeof readme, "---\nv: %s\n---\n", scalar);
    json_t *card = card_of(readme);
    assert_non_null(card);
    json_t *v = json_incref(json_object_get(card, "v"));
    json_decref(card);
    assert_non_null(v);
    return v;
}

static void assert_string_value(const char *scalar, const char *want)
{
    json_t *v = value_of(scalar);
    if (!json_is_string(v) || strcmp(json_string_value(v), want) != 0)
        fail_msg("%s: not the string \"%s\"", scalar, want);
    json_decref(v);
}

static void assert_int_value(const char *scalar, json_int_t want)
{
    json_t *v = value_of(scalar);
    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("%s: not the integer %lld", scalar, (long long)want);
    json_decref(v);
}

static void assert_real_value(const char *scalar, double want)
{
    json_t *v = value_of(scalar);
    int ok = json_is_real(v) && json_real_value(v) == want;
    json_decref(v);
    if (!ok)
        fail_msg("%s: not the float %g", scalar, want);
}

static void assert_bool_value(const char *scalar, int want)
{
    json_t *v = value_of(scalar);
    if (!json_is_boolean(v) || json_is_true(v) != want)
        fail_msg("%s: not the boolean %d", scalar, want);
    json_decref(v);
}

static void assert_null_value(const char *scalar)
{
    json_t *v = value_of(scalar);
    if (!json_is_null(v))
        fail_msg("%s: not null", scalar);
    json_decref(v);
}

/* ---- front matter ------------------------------------------------------- */

static void test_no_front_matter(void **state)
{
    const char *readmes[] = {
        "# Hello\n", "",      "--\ntitle: x\n--\n", "---\ntitle: x\n", " ---\ntitle: x\n---\n",
        "---",       "---\n", "----\nx: 1\n----\n"};
    (void)state;
    for (size_t i = 0; i < sizeof readmes / sizeof readmes[0]; i++) {
        config c;
        char err[256];
        assert_null(card_of(readmes[i]));
        assert_int_equal(
            config_parse(readmes[i], strlen(readmes[i]), "gradio", &c, err, sizeof err), 0);
        assert_null(c.card);
        assert_null(c.title);
        assert_string_equal(c.sdk, "gradio");
        assert_string_equal(c.app_file, "app.py");
        assert_int_equal(c.app_port, 7860);
        assert_int_equal(c.startup_duration_timeout, 30 * 60);
        assert_false(c.pinned);
        assert_int_equal(c.tags.n, 0);
        config_free(&c);
    }
    assert_null(config_card_data(NULL, 0));
}

static void test_crlf_and_bom(void **state)
{
    const char *readmes[] = {
        "---\r\ntitle: Hi\r\nsdk: static\r\n---\r\n# body\r\n",
        "\xEF\xBB\xBF---\ntitle: Hi\nsdk: static\n---\n",
        "\xEF\xBB\xBF---\r\ntitle: Hi\r\nsdk: static\r\n---",
        "---\ntitle: Hi\nsdk: static\n---\n---\nother: 1\n---\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof readmes / sizeof readmes[0]; i++) {
        config c;
        char err[256];
        assert_int_equal(config_parse(readmes[i], strlen(readmes[i]), NULL, &c, err, sizeof err),
                         0);
        assert_string_equal(c.title, "Hi");
        assert_string_equal(c.sdk, "static");
        assert_string_equal(c.app_file, "index.html");
        assert_null(json_object_get(c.card, "other"));
        config_free(&c);
    }
}

static void test_empty_front_matter(void **state)
{
    const char *readmes[] = {"---\n---",
                             "---\n---\n# x",
                             "---\r\n---\r\n",
                             "---\n\n---\n",
                             "---\n# just a comment\n---\n",
                             "---\n~\n---\n"};
    (void)state;
    for (size_t i = 0; i < sizeof readmes / sizeof readmes[0]; i++) {
        json_t *card = card_of(readmes[i]);
        assert_true(json_is_object(card));
        assert_int_equal(json_object_size(card), 0);
        json_decref(card);

        config c;
        char err[256];
        assert_int_equal(
            config_parse(readmes[i], strlen(readmes[i]), "docker", &c, err, sizeof err), 0);
        assert_string_equal(c.sdk, "docker");
        assert_null(c.app_file);
        assert_true(json_is_object(c.card));
        config_free(&c);
    }
}

static void test_not_a_mapping(void **state)
{
    (void)state;
    assert_null(card_of("---\n- a\n- b\n---\n"));
    assert_null(card_of("---\njust text\n---\n"));
    parse_fails("- a\n", "front matter must be a YAML mapping (line 2)");
    parse_fails("hello\n", "must be a YAML mapping");
}

/* ---- YAML typing, as js-yaml (YAML 1.2 core schema) --------------------- */

static void test_booleans_and_null(void **state)
{
    (void)state;
    assert_bool_value("true", 1);
    assert_bool_value("True", 1);
    assert_bool_value("TRUE", 1);
    assert_bool_value("false", 0);
    assert_bool_value("False", 0);
    assert_bool_value("FALSE", 0);
    /* YAML 1.1 booleans are strings in 1.2 */
    assert_string_value("yes", "yes");
    assert_string_value("no", "no");
    assert_string_value("on", "on");
    assert_string_value("off", "off");
    assert_string_value("tRUE", "tRUE");
    /* quoted scalars stay strings */
    assert_string_value("\"true\"", "true");
    assert_string_value("'false'", "false");
    assert_string_value("\"null\"", "null");
    assert_string_value("'12'", "12");
    assert_null_value("null");
    assert_null_value("Null");
    assert_null_value("NULL");
    assert_null_value("~");
    assert_null_value("");
    assert_string_value("nULL", "nULL");
}

static void test_numbers(void **state)
{
    (void)state;
    assert_int_value("0", 0);
    assert_int_value("-0", 0);
    assert_int_value("42", 42);
    assert_int_value("+42", 42);
    assert_int_value("-17", -17);
    assert_int_value("012", 12); /* no octal without 0o in YAML 1.2 */
    assert_int_value("0o17", 15);
    assert_int_value("0x1F", 31);
    assert_int_value("-0x10", -16);
    assert_int_value("0b101", 5);
    assert_int_value("9223372036854775807", INT64_MAX);
    assert_int_value("-9223372036854775808", INT64_MIN);
    assert_real_value("9223372036854775808", 9223372036854775808.0);
    assert_real_value("18446744073709551616", 18446744073709551616.0);
    assert_real_value("-0x10000000000000000", -18446744073709551616.0);
    assert_null_value("1e999");
    char big[420] = "0x";
    memset(big + 2, 'F', 300);
    big[302] = '\0';
    assert_null_value(big); /* beyond a double: Infinity, which JSON writes as null */
    memset(big, '9', 400);
    big[400] = '\0';
    assert_null_value(big);
    assert_real_value("1.5", 1.5);
    assert_real_value("-2.25", -2.25);
    assert_real_value(".5", 0.5);
    assert_real_value("3.10", 3.1);
    assert_real_value("1.5e-3", 1.5e-3);
    assert_int_value("1e3", 1000); /* integral floats are integers, as in JSON.stringify */
    assert_int_value("2.0", 2);
    assert_int_value("1.", 1);
    assert_null_value(".inf");
    assert_null_value("-.Inf");
    assert_null_value(".NaN");
    assert_string_value("0x", "0x");
    assert_string_value("0b2", "0b2");
    assert_string_value("0B101", "0B101");
    assert_string_value("1_000", "1_000");
    assert_string_value("+.5", "+.5");
    assert_string_value("1e", "1e");
    assert_string_value(".", ".");
    assert_string_value("-.nan", "-.nan");
    assert_string_value("4.44.1", "4.44.1");
    assert_string_value("1h30m", "1h30m");
    assert_string_value("2024-01-01", "2024-01-01"); /* timestamps stay text */
}

static void test_tags(void **state)
{
    char err[256];
    config c;
    (void)state;
    assert_string_value("!!str 12", "12");
    assert_string_value("!!str true", "true");
    assert_int_value("!!int \"12\"", 12);
    assert_real_value("!!float '1.5'", 1.5);
    assert_bool_value("!!bool \"true\"", 1);
    assert_null_value("!!null ''");
    assert_string_value("! 12", "12");
    assert_null(card_of("---\nv: !!bool yes\n---\n"));
    assert_null(card_of("---\nv: !!int abc\n---\n"));
    assert_null(card_of("---\nv: !custom x\n---\n"));
    assert_null(card_of("---\nv: !!set {a}\n---\n"));
    assert_null(card_of("---\nv: !!binary aGk=\n---\n"));
    const char *r = "---\ntitle: x\nv: !!int abc\n---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: cannot resolve abc with explicit tag "
                             "tag:yaml.org,2002:int (line 3)");
    r = "---\nv: !custom x\n---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: unsupported tag !custom (line 2)");
}

static void test_structure_to_json(void **state)
{
    (void)state;
    json_t *card = card_of("---\n"
                           "title: Demo\n"
                           "tags:\n  - a\n  - 2\n  - [x, y]\n"
                           "nested: {a: {b: [1, {c: null}]}}\n"
                           "1: one\n"
                           "true: yes\n"
                           "~: nothing\n"
                           "1.5: float key\n"
                           "\"quoted key\": \"multi\\nline\"\n"
                           "folded: >\n  a\n  b\n"
                           "unknown_key: kept\n"
                           "---\n");
    assert_non_null(card);
    char *s = json_dumps(card, JSON_COMPACT | JSON_REAL_PRECISION(15));
    assert_string_equal(s, "{\"title\":\"Demo\",\"tags\":[\"a\",2,[\"x\",\"y\"]],"
                           "\"nested\":{\"a\":{\"b\":[1,{\"c\":null}]}},"
                           "\"1\":\"one\",\"true\":\"yes\",\"null\":\"nothing\","
                           "\"1.5\":\"float key\",\"quoted key\":\"multi\\nline\","
                           "\"folded\":\"a b\\n\",\"unknown_key\":\"kept\"}");
    free(s);
    json_decref(card);
}

static void test_string_with_nul_and_escapes(void **state)
{
    (void)state;
    json_t *card = card_of("---\nv: \"a\\0b\"\nw: \"\\u00e9\\U0001F600\"\n---\n");
    assert_non_null(card);
    json_t *v = json_object_get(card, "v");
    assert_int_equal(json_string_length(v), 3);
    assert_memory_equal(json_string_value(v), "a\0b", 3);
    assert_string_equal(json_string_value(json_object_get(card, "w")), "\xC3\xA9\xF0\x9F\x98\x80");
    json_decref(card);
    parse_fails("title: \"a\\0b\"\n", "title: must not contain NUL characters (line 2)");
}

/* ---- anchors, aliases, merges, duplicates ------------------------------- */

static void test_anchors_and_aliases(void **state)
{
    (void)state;
    json_t *card = card_of("---\n"
                           "base: &b {a: 1, b: 2}\n"
                           "copy: *b\n"
                           "name: &n hello\n"
                           "title: *n\n"
                           "list: [*n, *b]\n"
                           "merged:\n  <<: *b\n  a: 3\n"
                           "multi:\n  <<: [{x: 1}, {x: 2, y: 2}]\n"
                           "---\n");
    assert_non_null(card);
    char *s = json_dumps(card, JSON_COMPACT);
    assert_string_equal(s, "{\"base\":{\"a\":1,\"b\":2},\"copy\":{\"a\":1,\"b\":2},"
                           "\"name\":\"hello\",\"title\":\"hello\","
                           "\"list\":[\"hello\",{\"a\":1,\"b\":2}],"
                           "\"merged\":{\"a\":3,\"b\":2},\"multi\":{\"x\":1,\"y\":2}}");
    free(s);
    json_decref(card);

    config c;
    parse_ok("t: &t Shared\ntitle: *t\ntags: &tags [a, b]\nmodels: *tags\n", NULL, &c);
    assert_string_equal(c.title, "Shared");
    assert_int_equal(c.models.n, 2);
    assert_string_equal(c.models.items[1], "b");
    config_free(&c);

    parse_fails("a: *missing\n", "invalid YAML: unknown alias *missing (line 2)");
    parse_fails("a: &x [1, *x]\n", "unknown alias *x"); /* no self reference */
    parse_fails("a: 1\nb: {<<: 5}\n", "<< needs a mapping");
    parse_fails("a: 1\nb: {<<: [5]}\n", "<< needs a mapping");
    parse_fails("m: &m {a: 1}\n*m : x\n", "mapping keys must be scalars");
    parse_fails("? [a, b]\n: x\n", "mapping keys must be scalars (line 2)");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    parse_fails("title: a\nsdk: gradio\ntitle: b\n",
                "invalid YAML: duplicated mapping key title (line 4)");
    parse_fails("a: {x: 1, x: 2}\n", "duplicated mapping key x");
    /* a merged key may be overridden, but only once */
    json_t *card = card_of("---\nb: &b {x: 1}\nm: {<<: *b, x: 2}\n---\n");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(card, "m"), "x")), 2);
    json_decref(card);
    assert_null(card_of("---\nb: &b {x: 1}\nm: {<<: *b, x: 2, x: 3}\n---\n"));
}

static void test_billion_laughs_refused(void **state)
{
    char yaml[2048] = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
    (void)state;
    for (char c = 'b'; c <= 'j'; c++) {
        char line[128];
        snprintf(line, sizeof line, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, c - 1,
                 c - 1, c - 1, c - 1, c - 1, c - 1, c - 1, c - 1);
        strcat(yaml, line);
    }
    parse_fails(yaml, "aliases expand to more than 262144 bytes");

    /* a modest amount of sharing is fine */
    config c;
    parse_ok("a: &a [x, y]\nb: [*a, *a, *a]\n", NULL, &c);
    config_free(&c);
}

/* ---- limits ------------------------------------------------------------- */

static char *nested(int levels, const char *open, const char *close, const char *inner)
{
    size_t n = strlen(open) * levels + strlen(close) * levels + strlen(inner) + 64;
    char *s = malloc(n);
    strcpy(s, "---\nv: ");
    for (int i = 0; i < levels; i++)
        strcat(s, open);
    strcat(s, inner);
    for (int i = 0; i < levels; i++)
        strcat(s, close);
    strcat(s, "\n---\n");
    return s;
}

static void test_deep_nesting_refused(void **state)
{
    char err[256];
    config c;
    (void)state;
    /* the root mapping is level 1: 31 more levels fit, 32 do not */
    char *ok = nested(31, "[", "]", "x");
    json_t *card = card_of(ok);
    assert_non_null(card);
    json_decref(card);
    free(ok);

    char *deep = nested(32, "[", "]", "x");
    assert_null(card_of(deep));
    assert_int_equal(config_parse(deep, strlen(deep), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: nesting deeper than 32 levels (line 2)");
    free(deep);

    char *maps = nested(40, "{a: ", "}", "1");
    assert_null(card_of(maps));
    free(maps);

    char *huge = nested(100000, "[", "]", "");
    assert_null(card_of(huge)); /* also over 64 KiB */
    free(huge);

    /* an alias may not carry a node past the limit either */
    char *inner = nested(20, "[", "]", "x");
    size_t n = strlen(inner) + 256;
    char *yaml = malloc(n);
    snprintf(yaml, n, "---\nd: &d %.*s\ne: [[[[[[[[[[[[[[*d]]]]]]]]]]]]]]\n---\n",
             (int)(strlen(inner) - 12), inner + 7);
    assert_int_equal(config_parse(yaml, strlen(yaml), NULL, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "nesting deeper than 32 levels (line 3)"));
    free(yaml);
    free(inner);
}

static void test_huge_front_matter_refused(void **state)
{
    size_t n = CONFIG_MAX_BYTES + 100;
    char *s = malloc(n + 32), err[256];
    config c;
    json_t *errors, *warnings;
    (void)state;
    strcpy(s, "---\n");
    size_t len = 4;
    while (len < n) {
        len += (size_t)sprintf(s + len, "k%zu: v\n", len);
    }
    strcpy(s + len, "---\n");
    len += 4;
    assert_null(config_card_data(s, len));
    assert_int_equal(config_parse(s, len, NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "front matter is larger than 65536 bytes");
    assert_int_equal(config_validate_yaml(s, len, &errors, &warnings), 1);
    json_decref(errors);
    json_decref(warnings);

    /* a long README with a small front matter is fine */
    char *big = malloc(1 << 20);
    strcpy(big, "---\ntitle: x\n---\n");
    memset(big + 17, 'a', (1 << 20) - 18);
    big[(1 << 20) - 1] = '\0';
    assert_int_equal(config_parse(big, strlen(big), NULL, &c, err, sizeof err), 0);
    config_free(&c);
    free(big);
    free(s);
}

/* ---- YAML errors with README lines -------------------------------------- */

static void test_yaml_syntax_error_line(void **state)
{
    char err[256];
    config c;
    (void)state;
    const char *r = "---\n"            /* line 1 */
                    "title: Demo\n"    /* line 2 */
                    "sdk: gradio\n"    /* line 3 */
                    "tags: [a, b\n"    /* line 4 */
                    "colorFrom: red\n" /* line 5 */
                    "---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: did not find expected ',' or ']' while parsing a "
                             "flow sequence (line 5)");
    r = "\xEF\xBB\xBF---\r\ntitle: a\r\n  bad: indent\r\n---\r\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err,
                        "invalid YAML: mapping values are not allowed in this context (line 3)");
    r = "---\ntitle: ok\nx: \"unterminated\n---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "invalid YAML: "));
    r = "---\ntitle: ok\nbad: \x01\n---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: control characters are not allowed (line 3)");
    r = "---\ntitle: ok\nbad: \xff\xfe\n---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: invalid leading UTF-8 octet (line 3)");
    r = "---\na: 1\n...\nb: 2\n---\n";
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: did not find expected <document start> (line 4)");
    r = "---\na: 1\n--- \nb: 2\n---\n"; /* "--- " is no fence: a second document */
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, sizeof err), -1);
    assert_string_equal(err, "invalid YAML: expected a single document (line 3)");
    /* a tiny buffer still gets a terminated prefix, and NULL is allowed */
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, err, 8), -1);
    assert_int_equal(strlen(err), 7);
    assert_int_equal(config_parse(r, strlen(r), NULL, &c, NULL, 0), -1);
}

/* ---- the typed config --------------------------------------------------- */

static void test_full_config(void **state)
{
    config c;
    (void)state;
    parse_ok("title: My Demo\n"
             "emoji: \xF0\x9F\x9A\x80\n"
             "colorFrom: indigo\n"
             "colorTo: pink\n"
             "sdk: gradio\n"
             "sdk_version: 4.44.1\n"
             "python_version: 3.10\n"
             "app_file: src/main.py\n"
             "app_port: 8080\n"
             "base_path: /ui\n"
             "startup_duration_timeout: 1h30m\n"
             "custom_headers:\n"
             "  cross-origin-embedder-policy: require-corp\n"
             "  cross-origin-opener-policy: same-origin\n"
             "  cross-origin-resource-policy: cross-origin\n"
             "disable_embedding: true\n"
             "short_description: Does a thing\n"
             "models: [openai/whisper-tiny, gpt2]\n"
             "datasets:\n  - squad\n"
             "tags: [audio, 2024]\n"
             "pinned: true\n"
             "license: apache-2.0\n"
             "suggested_hardware: t4-small\n"
             "preload_from_hub:\n  - gpt2\n  - openai/whisper-tiny config.json,model.bin abc123\n"
             "fullWidth: true\n"
             "hf_oauth: true\n",
             "docker", &c);
    assert_string_equal(c.title, "My Demo");
    assert_string_equal(c.emoji, "\xF0\x9F\x9A\x80");
    assert_string_equal(c.color_from, "indigo");
    assert_string_equal(c.color_to, "pink");
    assert_string_equal(c.sdk, "gradio"); /* the front matter wins over the space's sdk */
    assert_string_equal(c.sdk_version, "4.44.1");
    assert_string_equal(c.python_version, "3.10"); /* as written, not the float 3.1 */
    assert_string_equal(c.app_file, "src/main.py");
    assert_int_equal(c.app_port, 8080);
    assert_string_equal(c.base_path, "/ui");
    assert_int_equal(c.startup_duration_timeout, 5400);
    assert_int_equal(c.n_custom_headers, 3);
    assert_string_equal(c.custom_headers[0].name, "cross-origin-embedder-policy");
    assert_string_equal(c.custom_headers[0].value, "require-corp");
    assert_string_equal(c.custom_headers[2].value, "cross-origin");
    assert_true(c.disable_embedding);
    assert_string_equal(c.short_description, "Does a thing");
    assert_int_equal(c.models.n, 2);
    assert_string_equal(c.models.items[0], "openai/whisper-tiny");
    assert_int_equal(c.datasets.n, 1);
    assert_int_equal(c.tags.n, 2);
    assert_string_equal(c.tags.items[1], "2024"); /* as written */
    assert_true(c.pinned);
    assert_int_equal(c.license.n, 1);
    assert_string_equal(c.license.items[0], "apache-2.0");
    assert_string_equal(c.suggested_hardware, "t4-small");
    assert_int_equal(c.preload_from_hub.n, 2);
    assert_string_equal(c.preload_from_hub.items[1],
                        "openai/whisper-tiny config.json,model.bin abc123");
    /* the card keeps everything, typed */
    assert_true(json_is_true(json_object_get(c.card, "hf_oauth")));
    assert_true(json_is_true(json_object_get(c.card, "fullWidth")));
    assert_true(json_is_real(json_object_get(c.card, "python_version")));
    config_free(&c);
    config_free(&c); /* safe twice: config_free zeroes */
    config_free(NULL);
}

static void test_defaults_per_sdk(void **state)
{
    static const struct {
        const char *yaml, *repo_sdk, *sdk, *app_file;
    } cases[] = {
        {"sdk: gradio\n", NULL, "gradio", "app.py"},
        {"sdk: streamlit\n", NULL, "streamlit", "app.py"},
        {"sdk: static\n", NULL, "static", "index.html"},
        {"sdk: docker\n", NULL, "docker", NULL},
        {"title: x\n", "gradio", "gradio", "app.py"},
        {"title: x\n", "static", "static", "index.html"},
        {"title: x\n", "docker", "docker", NULL},
        {"title: x\n", NULL, NULL, NULL},
        {"sdk: static\n", "gradio", "static", "index.html"},
        {"sdk: static\napp_file: dist/index.html\n", NULL, "static", "dist/index.html"},
        {"sdk:\n", "streamlit", "streamlit", "app.py"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        config c;
        parse_ok(cases[i].yaml, cases[i].repo_sdk, &c);
        if (cases[i].sdk)
            assert_string_equal(c.sdk, cases[i].sdk);
        else
            assert_null(c.sdk);
        if (cases[i].app_file)
            assert_string_equal(c.app_file, cases[i].app_file);
        else
            assert_null(c.app_file);
        assert_int_equal(c.app_port, 7860);
        assert_int_equal(c.startup_duration_timeout, 1800);
        assert_null(c.python_version);
        config_free(&c);
    }
}

static void test_durations(void **state)
{
    static const struct {
        const char *s;
        int secs;
    } cases[] = {
        {"30m", 1800},
        {"1h", 3600},
        {"90s", 90},
        {"1h30m", 5400},
        {"1h0m5s", 3605},
        {"2m30s", 150},
        {"24h", 86400},
        {"1440m", 86400},
        {"0h1s", 1},
        {"", -1},
        {"30", -1},
        {"m", -1},
        {"30x", -1},
        {"30m1h", -1},
        {"1h1h", -1},
        {"0s", -1},
        {"0m", -1},
        {"25h", -1},
        {"86401s", -1},
        {"1.5h", -1},
        {"-1h", -1},
        {"1 h", -1},
        {"1H", -1},
        {"1h ", -1},
        {"99999999999999999999s", -1},
        {"1ms", -1},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (config_parse_duration(cases[i].s) != cases[i].secs)
            fail_msg("duration \"%s\": got %d, want %d", cases[i].s,
                     config_parse_duration(cases[i].s), cases[i].secs);
    assert_int_equal(config_parse_duration(NULL), -1);

    config c;
    parse_ok("startup_duration_timeout: 45m\n", NULL, &c);
    assert_int_equal(c.startup_duration_timeout, 2700);
    config_free(&c);
    parse_ok("startup_duration_timeout: \"2h\"\n", NULL, &c);
    assert_int_equal(c.startup_duration_timeout, 7200);
    config_free(&c);
    parse_fails("startup_duration_timeout: 600\n",
                "startup_duration_timeout: must be a duration such as 30m, 1h, 90s or 1h30m "
                "(at most 24h) (line 2)");
    parse_fails("startup_duration_timeout: [30m]\n", "startup_duration_timeout: must be");
}

/* Valid values that must be accepted. */
static void test_valid_values(void **state)
{
    static const char *yamls[] = {
        "colorFrom: red\ncolorTo: gray\n",
        "colorFrom: yellow\ncolorTo: green\n",
        "colorFrom: blue\ncolorTo: purple\n",
        "sdk: streamlit\n",
        "python_version: \"3.9\"\n",
        "python_version: 3.11.4\n",
        "python_version: '3.12'\n",
        "sdk_version: 5.0\n",
        "sdk_version: 1.32.0rc1\n",
        "app_port: 1\n",
        "app_port: 65535\n",
        "app_port: 0x1F90\n",
        "base_path: /\n",
        "base_path: /app/index?x=1\n",
        "app_file: app.py\n",
        "app_file: ./app.py\n",
        "app_file: a/b/c.py\n",
        "app_file: .github-like/app.py\n",
        "app_file: my.git/app.py\n",
        "custom_headers: {}\n",
        "custom_headers:\n  cross-origin-opener-policy: same-origin-allow-popups\n",
        "custom_headers:\n  cross-origin-embedder-policy: credentialless\n",
        "disable_embedding: false\npinned: False\n",
        "license: [mit, apache-2.0]\n",
        "license: mit\n",
        "tags: single\n",
        "tags: []\n",
        "models:\n",
        "suggested_hardware: cpu-basic\n",
        "suggested_hardware: a100x8\n",
        "suggested_hardware: zero-a10g\n",
        "short_description: "
        "\"123456789012345678901234567890123456789012345678901234567890\"\n",
        "short_description: \"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9"
        "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\"\n", /* 60 x é */
        "preload_from_hub: [gpt2, \"org/model file.bin\", \"org/m a,b 0123abc\"]\n",
        "title: 2048\n",
        "title: true\n",
        "title:\n",
        "emoji: \"\xF0\x9F\x98\x80\"\n",
        "thumbnail: https://x/y.png\nheader: mini\nhf_oauth_scopes: [read-repos]\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof yamls / sizeof yamls[0]; i++) {
        config c;
        parse_ok(yamls[i], "gradio", &c);
        config_free(&c);
    }
    config c;
    parse_ok("app_port: 0x1F90\ntitle: 2048\nsdk_version: 5.0\n", NULL, &c);
    assert_int_equal(c.app_port, 8080);
    assert_string_equal(c.title, "2048");
    assert_string_equal(c.sdk_version, "5.0");
    config_free(&c);
    parse_ok("tags: single\nlicense: [mit, apache-2.0]\n", NULL, &c);
    assert_int_equal(c.tags.n, 1);
    assert_string_equal(c.tags.items[0], "single");
    assert_int_equal(c.license.n, 2);
    assert_string_equal(c.license.items[1], "apache-2.0");
    config_free(&c);
}

/* Invalid values: each must fail with a message naming the key and its line. */
static void test_invalid_values(void **state)
{
    static const struct {
        const char *yaml, *want;
    } cases[] = {
        {"title: [a, b]\n", "title: must be a string (line 2)"},
        {"title: {a: 1}\n", "title: must be a string (line 2)"},
        {"emoji: [x]\n", "emoji: must be a string"},
        {"colorFrom: teal\n", "colorFrom: must be one of red, yellow, green, blue, indigo, "
                              "purple, pink, gray (line 2)"},
        {"colorTo: Red\n", "colorTo: must be one of"},
        {"title: x\ncolorTo: [red]\n", "colorTo: must be a string (line 3)"},
        {"sdk: flask\n", "sdk: must be one of gradio, streamlit, docker, static (line 2)"},
        {"sdk: Gradio\n", "sdk: must be one of"},
        {"sdk: [gradio]\n", "sdk: must be a string"},
        {"sdk_version: \"--index-url http://evil\"\n", "sdk_version: must be a version number"},
        {"sdk_version: \"4.0 ; rm\"\n", "sdk_version: must be a version number"},
        {"sdk_version: latest\n", "sdk_version: must be a version number"},
        {"python_version: 3.10\npython_version: 3.11\n", "duplicated mapping key"},
        {"python_version: 2.7\n", "python_version: must be 3.x or 3.x.y"},
        {"python_version: 3\n", "python_version: must be 3.x or 3.x.y"},
        {"python_version: \"3.\"\n", "python_version: must be 3.x or 3.x.y"},
        {"python_version: 3.10.4.1\n", "python_version: must be 3.x or 3.x.y"},
        {"python_version: \"3.10 \"\n", "python_version: must be 3.x or 3.x.y"},
        {"python_version: \"3.x\"\n", "python_version: must be 3.x or 3.x.y"},
        {"app_file: ../etc/passwd\n", "app_file: must be a relative path"},
        {"app_file: a/../../b\n", "app_file: must be a relative path"},
        {"app_file: /etc/passwd\n", "app_file: must be a relative path"},
        {"app_file: .git/config\n", "app_file: must be a relative path"},
        {"app_file: sub/.GIT/hooks/x\n", "app_file: must be a relative path"},
        {"app_file: a//b.py\n", "app_file: must be a relative path"},
        {"app_file: dir/\n", "app_file: must be a relative path"},
        {"app_file: \"\"\n", "app_file: must be a relative path"},
        {"app_file: \"a\\tb.py\"\n", "app_file: must be a relative path"},
        {"app_file: \"a\\nb.py\"\n", "app_file: must be a relative path"},
        {"app_file: \"a\\\\b.py\"\n", "app_file: must be a relative path"},
        {"app_file: \"a\\0b.py\"\n", "app_file: must not contain NUL characters"},
        {"app_file: [app.py]\n", "app_file: must be a string"},
        {"app_port: 0\n", "app_port: must be an integer from 1 to 65535 (line 2)"},
        {"app_port: 65536\n", "app_port: must be an integer from 1 to 65535"},
        {"app_port: -1\n", "app_port: must be an integer from 1 to 65535"},
        {"app_port: \"7860\"\n", "app_port: must be an integer from 1 to 65535"},
        {"app_port: 7860.5\n", "app_port: must be an integer from 1 to 65535"},
        {"app_port: 99999999999999999999999\n", "app_port: must be an integer"},
        {"app_port: [1]\n", "app_port: must be an integer"},
        {"base_path: ui\n", "base_path: must start with / (line 2)"},
        {"base_path: \"/a b\"\n", "base_path: must be a URL path"},
        {"base_path: [/]\n", "base_path: must be a string"},
        {"custom_headers: x\n", "custom_headers: must be a mapping of header names to values"},
        {"custom_headers: [a]\n", "custom_headers: must be a mapping"},
        {"custom_headers:\n  x-frame-options: deny\n",
         "custom_headers: x-frame-options is not allowed"},
        {"custom_headers:\n  Cross-Origin-Opener-Policy: same-origin\n",
         "custom_headers: Cross-Origin-Opener-Policy is not allowed"},
        {"custom_headers:\n  cross-origin-opener-policy: Same-Origin\n",
         "custom_headers: the value of cross-origin-opener-policy must be a lower-case string"},
        {"custom_headers:\n  cross-origin-opener-policy: \"a\\r\\nx-evil: 1\"\n",
         "custom_headers: the value of cross-origin-opener-policy must be"},
        {"custom_headers:\n  cross-origin-opener-policy: \"\"\n", "custom_headers: the value"},
        {"custom_headers:\n  cross-origin-opener-policy: [a]\n", "custom_headers: the value"},
        {"custom_headers:\n  \"cross-origin-opener-policy\\0x\": a\n", "is not allowed"},
        {"disable_embedding: yes\n", "disable_embedding: must be true or false (line 2)"},
        {"disable_embedding: \"true\"\n", "disable_embedding: must be true or false"},
        {"pinned: 1\n", "pinned: must be true or false"},
        {"pinned: [true]\n", "pinned: must be true or false"},
        {"short_description: "
         "\"1234567890123456789012345678901234567890123456789012345678901\"\n",
         "short_description: must be at most 60 characters (line 2)"},
        {"short_description: \"12345678901234567890123456789012345678901234567890123456789"
         "\xF0\x9F\x98\x80\"\n", /* 59 + an emoji, two JavaScript characters */
         "short_description: must be at most 60 characters"},
        {"short_description: [a]\n", "short_description: must be a string"},
        {"models: [a, [b]]\n", "models: must be a list of strings (line 2)"},
        {"models: {a: b}\n", "models: must be a list of strings"},
        {"datasets: [a, {b: c}]\n", "datasets: must be a list of strings"},
        {"tags:\n  - ok\n  - ~\n", "tags: must be a list of strings (line 2)"},
        {"license: {name: mit}\n", "license: must be"},
        {"license: [mit, [x]]\n", "license: must be"},
        {"suggested_hardware: gpu\n", "suggested_hardware: must be a hardware flavor"},
        {"suggested_hardware: CPU-BASIC\n", "suggested_hardware: must be a hardware flavor"},
        {"suggested_hardware: [cpu-basic]\n", "suggested_hardware: must be a string"},
        {"preload_from_hub: [\"a b c d\"]\n", "preload_from_hub: items must be"},
        {"preload_from_hub: [\"a  b\"]\n", "preload_from_hub: items must be"},
        {"preload_from_hub: [\"\"]\n", "preload_from_hub: items must be"},
        {"preload_from_hub: [{a: b}]\n", "preload_from_hub: must be a list of strings"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        parse_fails(cases[i].yaml, cases[i].want);
}

static void test_error_line_of_key(void **state)
{
    (void)state;
    parse_fails("title: Demo\n"
                "emoji: x\n"
                "colorFrom: red\n"
                "colorTo: blue\n"
                "sdk: docker\n"
                "app_port: 70000\n"
                "pinned: false\n",
                "app_port: must be an integer from 1 to 65535 (line 7)");
    /* the first error in README order is the one reported */
    parse_fails("app_port: 0\ncolorFrom: teal\n", "app_port: must be");
    parse_fails("colorFrom: teal\napp_port: 0\n", "colorFrom: must be");
    /* a block list: the line of its key */
    parse_fails("title: x\ntags:\n  - a\n  - [b]\n", "tags: must be a list of strings (line 3)");
}

/* ---- validate-yaml ------------------------------------------------------ */

static char *dump(json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

static void test_validate_yaml(void **state)
{
    json_t *errors, *warnings;
    char *s;
    (void)state;

    const char *ok = "---\ntitle: x\nsdk: gradio\nunknown_thing: {deep: [1]}\n---\n# Hi\n";
    assert_int_equal(config_validate_yaml(ok, strlen(ok), &errors, &warnings), 0);
    assert_int_equal(json_array_size(errors), 0);
    assert_int_equal(json_array_size(warnings), 0);
    json_decref(errors);
    json_decref(warnings);

    const char *none = "# No front matter\n";
    assert_int_equal(config_validate_yaml(none, strlen(none), &errors, &warnings), 0);
    json_decref(errors);
    json_decref(warnings);

    const char *bad = "---\nsdk: flask\napp_port: 0\ncolorFrom: teal\nsuggested_storage: small\n"
                      "---\n";
    assert_int_equal(config_validate_yaml(bad, strlen(bad), &errors, &warnings), 3);
    s = dump(errors);
    assert_string_equal(
        s, "[{\"message\":\"sdk: must be one of gradio, streamlit, docker, static (line 2)\"},"
           "{\"message\":\"app_port: must be an integer from 1 to 65535 (line 3)\"},"
           "{\"message\":\"colorFrom: must be one of red, yellow, green, blue, indigo, purple, "
           "pink, gray (line 4)\"}]");
    free(s);
    s = dump(warnings);
    assert_string_equal(s, "[{\"message\":\"suggested_storage: ignored, persistent storage is no "
                           "longer available\"}]");
    free(s);
    json_decref(errors);
    json_decref(warnings);

    const char *syntax = "---\ntitle: [\n---\n";
    assert_int_equal(config_validate_yaml(syntax, strlen(syntax), &errors, &warnings), 1);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(errors, 0), "message")),
                           "invalid YAML"));
    json_decref(errors);
    json_decref(warnings);

    /* messages are ASCII even when they quote non-ASCII text */
    const char *dup = "---\n\xC3\xA9t\xC3\xA9: 1\n\xC3\xA9t\xC3\xA9: 2\n---\n";
    assert_int_equal(config_validate_yaml(dup, strlen(dup), &errors, &warnings), 1);
    s = dump(errors);
    assert_non_null(strstr(s, "duplicated mapping key ??t?? (line 3)"));
    free(s);
    json_decref(errors);
    json_decref(warnings);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_front_matter),
        cmocka_unit_test(test_crlf_and_bom),
        cmocka_unit_test(test_empty_front_matter),
        cmocka_unit_test(test_not_a_mapping),
        cmocka_unit_test(test_booleans_and_null),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_structure_to_json),
        cmocka_unit_test(test_string_with_nul_and_escapes),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_billion_laughs_refused),
        cmocka_unit_test(test_deep_nesting_refused),
        cmocka_unit_test(test_huge_front_matter_refused),
        cmocka_unit_test(test_yaml_syntax_error_line),
        cmocka_unit_test(test_full_config),
        cmocka_unit_test(test_defaults_per_sdk),
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_valid_values),
        cmocka_unit_test(test_invalid_values),
        cmocka_unit_test(test_error_line_of_key),
        cmocka_unit_test(test_validate_yaml),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
