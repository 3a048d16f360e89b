#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

static void test_append_and_consume(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_int_equal(buf_puts(&b, "hello "), 0);
    assert_int_equal(buf_printf(&b, "%s %d", "world", 42), 0);
    assert_string_equal(b.data, "hello world 42");
    buf_consume(&b, 6);
    assert_string_equal(b.data, "world 42");
    assert_int_equal(b.len, 8);
    buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    buf_free(&b);
}

static void test_grows_past_initial_capacity(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(buf_append(&b, "x", 1), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap > b.len);
    assert_int_equal(b.data[b.len], '\0');
    char *owned = buf_detach(&b);
    assert_null(b.data);
    assert_int_equal(strlen(owned), 10000);
    free(owned);
}

static void test_binary_data(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    assert_int_equal(buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 3);
    buf_free(&b);
}

static void test_reserve_overflow_fails(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    buf_puts(&b, "abc");
    assert_int_equal(buf_reserve(&b, (size_t)-1), -1);
    assert_string_equal(b.data, "abc");
    buf_free(&b);
}

static void test_numbers_as_printf_writes_them(void **state)
{
    (void)state;
    static const uint64_t values[] = {0, 7, 10, 99, 100, 4096, 65535, 1234567890123ULL, UINT64_MAX};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char want[64];
        buf b;
        buf_init(&b);
        assert_int_equal(buf_put_u64(&b, values[i]), 0);
        buf_puts(&b, "|");
        assert_int_equal(buf_put_hex(&b, values[i], 8), 0);
        snprintf(want, sizeof want, "%llu|%08llx", (unsigned long long)values[i],
                 (unsigned long long)values[i]);
        assert_string_equal(b.data, want);
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_consume),
        cmocka_unit_test(test_grows_past_initial_capacity),
        cmocka_unit_test(test_binary_data),
        cmocka_unit_test(test_reserve_overflow_fails),
        cmocka_unit_test(test_numbers_as_printf_writes_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
