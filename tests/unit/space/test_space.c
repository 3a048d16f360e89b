#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "space/space.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(space_name_valid("demo"));
    assert_true(space_name_valid("my_demo-1.v2"));
    assert_false(space_name_valid(""));
    assert_false(space_name_valid("-demo"));
    assert_false(space_name_valid("demo-"));
    assert_false(space_name_valid(".demo"));
    assert_false(space_name_valid("demo."));
    assert_false(space_name_valid("a--b"));
    assert_false(space_name_valid("a..b"));
    assert_false(space_name_valid("a/b"));
    assert_false(space_name_valid("a b"));
    assert_false(space_name_valid("caf\xc3\xa9"));
    assert_false(space_name_valid("demo.git"));
    char long_name[98];
    memset(long_name, 'a', 97);
    long_name[97] = '\0';
    assert_false(space_name_valid(long_name));
    long_name[96] = '\0';
    assert_true(space_name_valid(long_name));
}

static void test_id_split(void **state)
{
    (void)state;
    char owner[SPACE_NAME_MAX + 1], name[SPACE_NAME_MAX + 1];
    assert_true(space_id_split("alice/demo", owner, name));
    assert_string_equal(owner, "alice");
    assert_string_equal(name, "demo");
    assert_false(space_id_split("alice", owner, name));
    assert_false(space_id_split("a/b/c", owner, name));
    assert_false(space_id_split("/demo", owner, name));
    assert_false(space_id_split("alice/..", owner, name));
}

static void test_subdomain(void **state)
{
    (void)state;
    char sub[SPACE_SUBDOMAIN_MAX + 1];
    space_subdomain("user", "tmp_test_space", sub);
    assert_string_equal(sub, "user-tmp-test-space");
    space_subdomain("NimaBoscarino", "hotdog-gradio", sub);
    assert_string_equal(sub, "nimaboscarino-hotdog-gradio");
    space_subdomain("a", "b.c", sub);
    assert_string_equal(sub, "a-b-c");
    /* '_' may start an owner or end a name; a DNS label may not start or end with '-'. */
    space_subdomain("_owner", "name_", sub);
    assert_string_equal(sub, "owner-name");

    char longa[97], longb[97], sub2[SPACE_SUBDOMAIN_MAX + 1];
    memset(longa, 'x', 96);
    longa[96] = '\0';
    memcpy(longb, longa, sizeof longa);
    longb[95] = 'y';
    space_subdomain("owner", longa, sub);
    space_subdomain("owner", longb, sub2);
    assert_true(strlen(sub) <= 63);
    assert_true(strlen(sub2) <= 63);
    assert_string_not_equal(sub, sub2);
    assert_memory_equal(sub, "owner-xxxx", 10);
}

static void test_sdk(void **state)
{
    (void)state;
    assert_true(space_sdk_valid("gradio"));
    assert_true(space_sdk_valid("static"));
    assert_true(space_sdk_valid("docker"));
    assert_true(space_sdk_valid("streamlit"));
    assert_false(space_sdk_valid("Gradio"));
    assert_false(space_sdk_valid(""));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_id_split),
        cmocka_unit_test(test_subdomain),
        cmocka_unit_test(test_sdk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
