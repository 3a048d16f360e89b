/* Unit tests for src/space/storage.c: tiers, the quota rule (tier, then the
 * hardware profile's, then the daemon's default) and the runtime JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "space/storage.h"

#define MB (1ULL << 20)

static void test_tiers(void **state)
{
    (void)state;
    uint64_t tiers[STORAGE_TIERS] = {0};
    assert_int_equal(storage_parse_tiers("small=24,large=100", tiers), 0);
    assert_int_equal(tiers[0], 24 * MB);
    assert_int_equal(tiers[1], 0);
    assert_int_equal(tiers[2], 100 * MB);
    assert_int_equal(storage_parse_tiers("huge=1", tiers), -1);
    assert_int_equal(storage_parse_tiers("small", tiers), -1);
    assert_int_equal(storage_parse_tiers("small=0", tiers), -1);
    assert_int_equal(storage_parse_tiers("small=x", tiers), -1);
    storage_configure(8 * MB, tiers);
    assert_int_equal(storage_tier_bytes("small"), 24 * MB);
    assert_int_equal(storage_tier_bytes("medium"), 150ULL << 30); /* HF's */
    assert_int_equal(storage_tier_bytes("bogus"), 0);
    assert_string_equal(storage_tier_name("large"), "large");
    assert_null(storage_tier_name("Large"));
    assert_null(storage_tier_name(NULL));
}

static void test_quota_rule(void **state)
{
    (void)state;
    storage_configure(8 * MB, (uint64_t[STORAGE_TIERS]){24 * MB, 0, 0});
    assert_int_equal(storage_quota("small", 16 * MB), 24 * MB); /* the tier first */
    assert_int_equal(storage_quota("", 16 * MB), 16 * MB);      /* then the profile's */
    assert_int_equal(storage_quota(NULL, 0), 8 * MB);           /* then the default */
    storage_configure(0, NULL);
    assert_int_equal(storage_quota(NULL, 0), 0); /* no quota at all */
}

static void test_runtime_json(void **state)
{
    (void)state;
    json_t *rt = json_object();
    /* a space whose volume was never mounted: the quota is known, not enforced */
    storage_runtime_json("/nonexistent-hangar-data", 7, "small", 24 * MB, rt);
    assert_string_equal(json_string_value(json_object_get(rt, "storage")), "small");
    json_t *q = json_object_get(rt, "storageQuota");
    assert_int_equal(json_integer_value(json_object_get(q, "bytes")), 24 * MB);
    assert_true(json_is_false(json_object_get(q, "enforced")));
    storage_runtime_json("/nonexistent-hangar-data", 7, "", 0, rt);
    assert_true(json_is_null(json_object_get(rt, "storage")));
    json_decref(rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_quota_rule),
        cmocka_unit_test(test_runtime_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
