#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/hangar-store-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void test_migrations_are_idempotent(void **state)
{
    (void)state;
    store *st;
    assert_int_equal(store_open(dir, &st), STORE_OK);
    int version = store_schema_version(st);
    assert_true(version >= 2);
    store_close(st);
    assert_int_equal(store_open(dir, &st), STORE_OK);
    assert_int_equal(store_schema_version(st), version);
    store_close(st);
}

static void test_users_and_tokens(void **state)
{
    (void)state;
    store *st;
    assert_int_equal(store_open(dir, &st), STORE_OK);
    int64_t id;
    assert_int_equal(store_user_create(st, "alice", false, &id), STORE_OK);
    assert_int_equal(store_user_create(st, "alice", false, NULL), STORE_EXISTS);
    store_user u;
    assert_int_equal(store_user_by_name(st, "alice", &u), STORE_OK);
    assert_int_equal(u.id, id);
    assert_false(u.admin);
    assert_int_equal(store_user_by_name(st, "nobody", &u), STORE_NOTFOUND);

    assert_int_equal(store_token_create(st, id, "read", "ci", "abc123"), STORE_OK);
    assert_int_equal(store_token_create(st, id, "write", "dup", "abc123"), STORE_EXISTS);
    assert_int_equal(store_token_create(st, id, "owner", "bad role", "zzz"), STORE_EXISTS);
    store_token t;
    assert_int_equal(store_token_by_hash(st, "abc123", &t, &u), STORE_OK);
    assert_string_equal(t.role, "read");
    assert_string_equal(t.display_name, "ci");
    assert_string_equal(u.name, "alice");
    assert_int_equal(store_token_by_hash(st, "nope", &t, &u), STORE_NOTFOUND);
    store_close(st);
}

static void list_count(const space *sp, void *arg)
{
    (void)sp;
    (*(int *)arg)++;
}

static void test_spaces_visibility(void **state)
{
    (void)state;
    store *st;
    assert_int_equal(store_open(dir, &st), STORE_OK);
    int64_t bob;
    assert_int_equal(store_user_create(st, "bob", false, &bob), STORE_OK);
    space sp;
    memset(&sp, 0, sizeof sp);
    snprintf(sp.hex_id, sizeof sp.hex_id, "%024d", 1);
    sp.owner_id = bob;
    strcpy(sp.owner, "bob");
    strcpy(sp.name, "secret");
    strcpy(sp.sdk, "static");
    strcpy(sp.subdomain, "bob-secret");
    sp.is_private = true;
    assert_int_equal(store_space_create(st, &sp), STORE_OK);
    /* Same id in another case is the same space. */
    space clash = sp;
    strcpy(clash.name, "SECRET");
    strcpy(clash.subdomain, "other");
    snprintf(clash.hex_id, sizeof clash.hex_id, "%024d", 2);
    assert_int_equal(store_space_create(st, &clash), STORE_EXISTS);

    store_space_query q = {.limit = 10};
    int n = 0;
    assert_int_equal(store_space_list(st, &q, list_count, &n), 0);
    q.viewer_id = bob;
    n = 0;
    assert_int_equal(store_space_list(st, &q, list_count, &n), 1);
    assert_int_equal(store_event_add(st, sp.id, "commit", "{}"), STORE_OK);
    int64_t deleted_id = sp.id;
    assert_int_equal(store_space_delete(st, sp.id), STORE_OK);
    assert_int_equal(store_space_get(st, "bob", "secret", &sp), STORE_NOTFOUND);
    /* Made again under the same name: a new id, never the deleted one's (its
     * builds and /data may still be being removed). */
    snprintf(sp.hex_id, sizeof sp.hex_id, "%024d", 3);
    assert_int_equal(store_space_create(st, &sp), STORE_OK);
    assert_true(sp.id > deleted_id);
    store_close(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_migrations_are_idempotent),
        cmocka_unit_test(test_users_and_tokens),
        cmocka_unit_test(test_spaces_visibility),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
