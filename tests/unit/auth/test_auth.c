#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"

static void test_token_shape(void **state)
{
    (void)state;
    char a[AUTH_TOKEN_LEN + 1], b[AUTH_TOKEN_LEN + 1];
    auth_token_generate(a);
    auth_token_generate(b);
    assert_int_equal(strlen(a), 37);
    assert_memory_equal(a, "hf_", 3);
    assert_string_not_equal(a, b);
    for (int i = 3; i < AUTH_TOKEN_LEN; i++)
        assert_true((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z'));
}

static void test_hash_is_stable_hex(void **state)
{
    (void)state;
    char h1[AUTH_HASH_LEN + 1], h2[AUTH_HASH_LEN + 1], h3[AUTH_HASH_LEN + 1];
    auth_token_hash("hf_abc", h1);
    auth_token_hash("hf_abc", h2);
    auth_token_hash("hf_abd", h3);
    assert_string_equal(h1, h2);
    assert_string_not_equal(h1, h3);
    assert_int_equal(strlen(h1), 64);
}

static void expect_token(const char *header, const char *want)
{
    char *got = auth_token_from_header(header);
    if (!want) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_header_forms(void **state)
{
    (void)state;
    expect_token("Bearer hf_abc", "hf_abc");
    expect_token("bearer   hf_abc  ", "hf_abc");
    expect_token("Bearer ", NULL);
    expect_token("Bearer", NULL);
    expect_token("", NULL);
    expect_token(NULL, NULL);
    expect_token("Digest abc", NULL);
    /* base64("user:hf_tok") */
    expect_token("Basic dXNlcjpoZl90b2s=", "hf_tok");
    /* base64("hf_tok") has no colon: no password */
    expect_token("Basic aGZfdG9r", NULL);
    /* base64("user:") has an empty password */
    expect_token("Basic dXNlcjo=", NULL);
    expect_token("Basic !!!", NULL);
    /* base64("u:a\0b"): a NUL inside the password is refused */
    expect_token("Basic dTphAGI=", NULL);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_shape),
        cmocka_unit_test(test_hash_is_stable_hex),
        cmocka_unit_test(test_header_forms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
