/* Unit tests for src/space/hubcache.c: repository ids to huggingface_hub's
 * cache folders, and the layout a local add leaves (refs, snapshot links into
 * blobs named by sha256) that huggingface_hub reads offline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "space/hubcache.h"

static void test_parse(void **state)
{
    (void)state;
    hubcache_repo r;
    char err[256];
    assert_int_equal(hubcache_parse("alice/tiny-bert", &r, err, sizeof err), 0);
    assert_string_equal(r.folder, "models--alice--tiny-bert");
    assert_string_equal(r.api, "models");
    assert_string_equal(r.url_prefix, "");
    assert_int_equal(hubcache_parse("gpt2", &r, err, sizeof err), 0);
    assert_string_equal(r.folder, "models--gpt2");
    assert_int_equal(hubcache_parse("spaces/admin/w", &r, err, sizeof err), 0);
    assert_string_equal(r.folder, "spaces--admin--w");
    assert_string_equal(r.id, "admin/w");
    assert_string_equal(r.url_prefix, "spaces/");
    assert_int_equal(hubcache_parse("datasets/o/d", &r, err, sizeof err), 0);
    assert_string_equal(r.folder, "datasets--o--d");
    /* nothing that could leave the cache directory or confuse the folder name */
    const char *bad[] = {"", "a/b/c", "../x", "a/..", "a--b/c", "/abs", "a/b c", "a/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(hubcache_parse(bad[i], &r, err, sizeof err), -1);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_add_layout(void **state)
{
    (void)state;
    char dir[] = "/tmp/hubcache-test-XXXXXX", src[256], path[512], target[512], commit[64];
    assert_non_null(mkdtemp(dir));
    snprintf(src, sizeof src, "%s/src.json", dir);
    write_file(src, "{\"a\": 1}");
    hubcache_repo r;
    char err[512];
    assert_int_equal(hubcache_parse("alice/tiny", &r, err, sizeof err), 0);
    assert_int_equal(hubcache_add_file(dir, &r, "main", src, "config.json", err, sizeof err), 0);
    assert_int_equal(hubcache_add_file(dir, &r, "main", src, "sub/dir/c.json", err, sizeof err), 0);
    /* refs/main names one commit; both files are in its snapshot */
    snprintf(path, sizeof path, "%s/models--alice--tiny/refs/main", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(commit, sizeof commit, f));
    fclose(f);
    assert_int_equal(strlen(commit), 40);
    snprintf(path, sizeof path, "%s/models--alice--tiny/snapshots/%s/sub/dir/c.json", dir, commit);
    ssize_t n = readlink(path, target, sizeof target - 1);
    assert_true(n > 0);
    target[n] = '\0';
    /* relative, through the two levels of sub/dir: the cache can move */
    assert_string_equal(target, "../../../../blobs/"
                                "f9d86028c6e0d64e225186f96acb69338b2c59764df79162107f5c4bb34d1310");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    const char *files[] = {"config.json", "sub/dir/c.json", NULL};
    const char *missing[] = {"nope.bin", NULL};
    assert_true(hubcache_has(dir, &r, "main", files));
    assert_true(hubcache_has(dir, &r, "main", NULL));
    assert_true(hubcache_has(dir, &r, commit, files));
    assert_false(hubcache_has(dir, &r, "main", missing));
    assert_false(hubcache_has(dir, &r, "v2", NULL));
    /* a path may not climb out of the snapshot */
    assert_int_equal(hubcache_add_file(dir, &r, "main", src, "../x", err, sizeof err), -1);
    assert_int_equal(hubcache_add_file(dir, &r, "../../x", src, "a", err, sizeof err), -1);
    assert_int_equal(hubcache_remove(dir, &r, err, sizeof err), 0);
    assert_false(hubcache_has(dir, &r, "main", NULL));
    assert_int_equal(hubcache_remove(dir, &r, err, sizeof err), -1);
    unlink(src);
    assert_int_equal(rmdir(dir), 0); /* nothing else was left behind */
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_add_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
