#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/util.h"

static void test_iso8601(void **state)
{
    (void)state;
    char out[40];
    util_iso8601_ms(0, out, sizeof out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    util_iso8601_ms(1764125072580LL, out, sizeof out);
    assert_string_equal(out, "2025-11-26T02:44:32.580Z");
}

static void test_percent_decode(void **state)
{
    (void)state;
    char a[] = "a%2Fb%20c";
    assert_int_equal(util_percent_decode(a), 0);
    assert_string_equal(a, "a/b c");
    char bad[] = "a%2";
    assert_int_equal(util_percent_decode(bad), -1);
    char badhex[] = "%zz";
    assert_int_equal(util_percent_decode(badhex), -1);
    char nul[] = "a%00b";
    assert_int_equal(util_percent_decode(nul), -1);
}

static void test_nocase(void **state)
{
    (void)state;
    assert_true(util_streq_nocase("Content-Length", "content-length"));
    assert_false(util_streq_nocase("Content-Length", "content-lengt"));
    assert_true(util_strneq_nocase("HOST", 4, "host"));
    assert_false(util_strneq_nocase("HOS", 3, "host"));
    assert_true(util_has_prefix("/api/x", "/api/"));
    assert_false(util_has_prefix("/ap", "/api/"));
}

static void test_hex(void **state)
{
    (void)state;
    unsigned char in[] = {0x00, 0xab, 0xff};
    char out[7];
    util_hex(in, 3, out);
    assert_string_equal(out, "00abff");
}

static void test_parse_int(void **state)
{
    (void)state;
    long long v;
    assert_int_equal(util_parse_int("42", 0, 100, &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(util_parse_int("101", 0, 100, &v), -1);
    assert_int_equal(util_parse_int("4x", 0, 100, &v), -1);
    assert_int_equal(util_parse_int("", 0, 100, &v), -1);
    assert_int_equal(util_parse_int(NULL, 0, 100, &v), -1);
    assert_int_equal(util_parse_int("99999999999999999999", 0, 100, &v), -1);
}

static void test_mkdir_p(void **state)
{
    (void)state;
    char dir[] = "/tmp/hangar-unit-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    assert_int_equal(util_mkdir_p(path, 0700), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(util_mkdir_p(path, 0700), 0); /* idempotent */
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(util_utf8_valid("", 0));
    assert_true(util_utf8_valid("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14));
    assert_false(util_utf8_valid("\xFF", 1));
    assert_false(util_utf8_valid("\xC3", 1));             /* truncated */
    assert_false(util_utf8_valid("\xC0\xAE", 2));         /* overlong '.' */
    assert_false(util_utf8_valid("\xE0\x80\xAF", 3));     /* overlong '/' */
    assert_false(util_utf8_valid("\xED\xA0\x80", 3));     /* a surrogate */
    assert_false(util_utf8_valid("\xF4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(util_utf8_valid("a\x80", 2));            /* a lone continuation */
}

static void test_env_pass(void **state)
{
    (void)state;
    setenv("HANGAR_TEST_PASS", "yes", 1);
    setenv("HANGAR_TEST_PASS_NOT", "no", 1);
    setenv("HANGAR_TEST_KEEP", "secret", 1);
    static const char *const names[] = {"HANGAR_TEST_PASS", "HANGAR_TEST_ABSENT"};
    const char *env[4] = {"PATH=/bin", NULL};
    util_env_pass(env, 4, names, 2);
    /* the named one only: not a longer name sharing its prefix, not others */
    assert_string_equal(env[0], "PATH=/bin");
    assert_string_equal(env[1], "HANGAR_TEST_PASS=yes");
    assert_null(env[2]);
    /* never past max, always NULL-terminated */
    const char *full[2] = {"PATH=/bin", NULL};
    util_env_pass(full, 2, names, 2);
    assert_null(full[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601),    cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_nocase),     cmocka_unit_test(test_hex),
        cmocka_unit_test(test_parse_int),  cmocka_unit_test(test_mkdir_p),
        cmocka_unit_test(test_utf8_valid), cmocka_unit_test(test_env_pass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
