#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>

#include "auth/throttle.h"

static void test_burst_then_refused_then_refilled(void **state)
{
    (void)state;
    throttle_reset();
    uint64_t t = 1000000;
    unsigned retry = 0;
    for (int i = 0; i < THROTTLE_BURST; i++) {
        assert_true(throttle_allowed("192.0.2.1", t, &retry));
        throttle_failure("192.0.2.1", t);
    }
    assert_false(throttle_allowed("192.0.2.1", t, &retry));
    assert_int_equal(retry, THROTTLE_REFILL_MS / 1000);
    /* other addresses are not concerned */
    assert_true(throttle_allowed("192.0.2.2", t, &retry));
    /* one attempt again after one refill period, not two */
    t += THROTTLE_REFILL_MS;
    assert_true(throttle_allowed("192.0.2.1", t, &retry));
    throttle_failure("192.0.2.1", t);
    assert_false(throttle_allowed("192.0.2.1", t, &retry));
}

static void test_many_addresses_keep_the_table_bounded(void **state)
{
    (void)state;
    throttle_reset();
    uint64_t t = 5000000;
    for (int i = 0; i < THROTTLE_BURST; i++)
        throttle_failure("198.51.100.7", t);
    /* a flood of other failing addresses evicts the least suspicious first */
    char addr[64];
    for (int i = 0; i < 4 * THROTTLE_SLOTS; i++) {
        snprintf(addr, sizeof addr, "10.%d.%d.%d", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        throttle_failure(addr, t);
    }
    assert_false(throttle_allowed("198.51.100.7", t, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_then_refused_then_refilled),
        cmocka_unit_test(test_many_addresses_keep_the_table_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
