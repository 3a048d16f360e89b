#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ui/html.h"
#include "ui/session.h"

static void test_text_is_escaped(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_int_equal(html_printf(&b, "<p title=\"%s\">%s</p>", "\"><script>", "a&b<c>'d"), 0);
    assert_string_equal(b.data, "<p title=\"&quot;&gt;&lt;script&gt;\">a&amp;b&lt;c&gt;&#39;d</p>");
    buf_free(&b);
}

static void test_urls_and_numbers(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_int_equal(html_printf(&b, "/s/%u/%p?q=%u %d %l %% %h|%s", "a b/c", "dir/x y.txt", "\"&<",
                                 -3, 1LL << 40, "<b>ok</b>", (const char *)NULL),
                     0);
    assert_string_equal(b.data,
                        "/s/a%20b%2Fc/dir/x%20y.txt?q=%22%26%3C -3 1099511627776 % <b>ok</b>|");
    buf_free(&b);
}

static void test_unknown_conversion_fails(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_int_equal(html_printf(&b, "x %z", "y"), -1);
    buf_free(&b);
}

static void test_csrf_is_bound_to_the_session(void **state)
{
    (void)state;
    char a[SESSION_ID_LEN + 1], b[SESSION_ID_LEN + 1], ta[SESSION_CSRF_LEN + 1];
    session_random_id(a);
    session_random_id(b);
    assert_int_equal(strlen(a), SESSION_ID_LEN);
    assert_string_not_equal(a, b);
    session_csrf(a, ta);
    assert_true(session_csrf_valid(a, ta));
    assert_false(session_csrf_valid(b, ta));
    assert_false(session_csrf_valid(a, NULL));
    assert_false(session_csrf_valid(a, ""));
    assert_false(session_csrf_valid("", ta));
    assert_string_not_equal(ta, a);
}

static void test_cookie_header(void **state)
{
    (void)state;
    char h[256];
    session_cookie_header(h, sizeof h, "hangar_session", "abc", 60, true, "example.com");
    assert_string_equal(h, "hangar_session=abc; Path=/; Max-Age=60; HttpOnly; SameSite=Lax; "
                           "Secure; Domain=example.com");
    session_cookie_header(h, sizeof h, "hangar_session", "", 0, false, NULL);
    assert_string_equal(h, "hangar_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
}

static void test_strip_cookies(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_int_equal(session_strip_cookies("a=1; hangar_session=abc; b=2;hangar_login=x", &b), 0);
    assert_string_equal(b.data, "a=1; b=2");
    buf_reset(&b);
    assert_int_equal(session_strip_cookies("hangar_session=abc", &b), 0);
    assert_true(b.len == 0);
    /* an app pass never reaches the app either */
    buf_reset(&b);
    assert_int_equal(session_strip_cookies("hangar_app=v1.c.1.2.x.y; app=1", &b), 0);
    assert_string_equal(b.data, "app=1");
    buf_free(&b);
}

static void test_app_pass_cookie(void **state)
{
    (void)state;
    char h[512];
    session_pass_cookie_header(h, sizeof h, "v1.c.x", true);
    assert_non_null(strstr(h, "hangar_app=v1.c.x; Path=/;"));
    assert_non_null(strstr(h, "HttpOnly; Secure; SameSite=None; Partitioned"));
    assert_null(strstr(h, "Domain"));
    session_pass_cookie_header(h, sizeof h, "v1.c.x", false);
    assert_non_null(strstr(h, "SameSite=Lax"));
    assert_null(strstr(h, "Secure"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_is_escaped),
        cmocka_unit_test(test_urls_and_numbers),
        cmocka_unit_test(test_unknown_conversion_fails),
        cmocka_unit_test(test_csrf_is_bound_to_the_session),
        cmocka_unit_test(test_cookie_header),
        cmocka_unit_test(test_strip_cookies),
        cmocka_unit_test(test_app_pass_cookie),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
