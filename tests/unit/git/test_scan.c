/* Credential scanning (src/git/scan.c) and secret masking in logs
 * (src/space/logs.c): what is found, where it is said to be, and that the
 * value itself never appears in what is reported or stored. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "git/commit.h"
#include "git/repo.h"
#include "git/scan.h"
#include "space/logs.h"

#define HF_TOKEN "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"

static size_t scan_text(const char *text, const scan_secret *secrets, size_t n, scan_report *r)
{
    scan_report_init(r);
    scan_file(r, "app.py", (const unsigned char *)text, strlen(text), secrets, n);
    return r->count;
}

static void test_finds_each_kind(void **state)
{
    scan_report r;
    assert_int_equal(scan_text("x = 1\ntoken = \"" HF_TOKEN "\"\n", NULL, 0, &r), 1);
    assert_non_null(strstr(r.text.data, "app.py line 2"));
    assert_non_null(strstr(r.text.data, "Hugging Face access token"));
    assert_null(strstr(r.text.data, HF_TOKEN));
    scan_report_free(&r);

    assert_int_equal(scan_text("AWS=AKIAIOSFODNN7EXAMPLE\n", NULL, 0, &r), 1);
    assert_non_null(strstr(r.text.data, "AWS access key id"));
    assert_null(strstr(r.text.data, "AKIAIOSFODNN7EXAMPLE"));
    scan_report_free(&r);

    assert_int_equal(scan_text("\n\n-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbg==\n", NULL, 0, &r),
                     1);
    assert_non_null(strstr(r.text.data, "line 3: looks like a PEM private key"));
    scan_report_free(&r);
}

static void test_ignores_lookalikes(void **state)
{
    scan_report r;
    /* too short, too long, part of a longer word, a public key */
    assert_int_equal(scan_text("hf_abc\nmy_hf_abcdefghijklmnopqrstuvwxyzABCDEFGH\n"
                               "hf_abcdefghijklmnopqrstuvwxyzABCDEFGHI\nAKIA123\n"
                               "-----BEGIN PUBLIC KEY-----\n",
                               NULL, 0, &r),
                     0);
    assert_int_equal(r.text.len, 0);
    scan_report_free(&r);
}

static void test_own_secret_values(void **state)
{
    scan_secret s[] = {{"DB_PASSWORD", "correct-horse", 13}, {"PIN", "1234", 4}};
    scan_report r;
    assert_int_equal(scan_text("pw = 'correct-horse'\npin = 1234\n", s, 2, &r), 1);
    assert_non_null(strstr(r.text.data, "space secret DB_PASSWORD"));
    assert_null(strstr(r.text.data, "correct-horse"));
    scan_report_free(&r);
}

static void test_path_cannot_forge_lines(void **state)
{
    scan_report r;
    scan_report_init(&r);
    scan_file(&r, "a\nremote: fake", (const unsigned char *)HF_TOKEN, strlen(HF_TOKEN), NULL, 0);
    assert_int_equal(r.count, 1);
    assert_non_null(strstr(r.text.data, "a?remote: fake"));
    scan_report_free(&r);
}

/* Regression (found while writing tests/fuzz/fuzz_logs.c): a mask made of '*'
 * matched its own "***" replacement and logs_append never returned. */
static void test_log_mask_of_stars_terminates(void **state)
{
    char path[] = "/tmp/hangar-test-scan-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    logs_stream *log = logs_open(path, true);
    assert_non_null(log);
    const char *masks[] = {"*", "**", "s3cret"};
    logs_set_masks(log, masks, 3);
    logs_append(log, "a * b ** s3cret", 15);
    logs_close(log);
    char *text = logs_tail_text(path, -1);
    assert_non_null(text);
    assert_null(strstr(text, "s3cret"));
    free(text);
    unlink(path);
}

static void commit_one(const char *repo, const char *path, const char *text, char sha[41])
{
    commit_batch b;
    commit_batch_init(&b);
    size_t len = text ? strlen(text) : 0;
    unsigned char *data = text ? malloc(len + 1) : NULL;
    if (data)
        memcpy(data, text, len);
    assert_int_equal(
        commit_batch_add(&b, text ? COMMIT_OP_ADD : COMMIT_OP_DELETE_FILE, path, data, len), 0);
    commit_info info = {"alice", NULL, "step", NULL, NULL};
    char err[512];
    assert_int_equal(commit_apply(repo, &info, &b, sha, err, sizeof err), COMMIT_OK);
    commit_batch_free(&b);
}

/* A push is scanned commit by commit: a key added and then deleted within the
 * pushed range is reported (a clone still gets it), once; the commits before
 * the range are not scanned again. */
static void test_commits_in_range_each_scanned(void **state)
{
    char dir[] = "/tmp/hangar-test-scan-XXXXXX", repo[128];
    char base[41], added[41], touched[41], removed[41];
    assert_non_null(mkdtemp(dir));
    snprintf(repo, sizeof repo, "%s/r.git", dir);
    repo_global_init();
    assert_int_equal(repo_init_bare(repo), 0);
    commit_one(repo, "old.txt", "AWS=AKIAIOSFODNN7EXAMPLE\n", base);
    commit_one(repo, "key.env", "x\nHF=" HF_TOKEN "\n", added);
    commit_one(repo, "key.env", "y\nHF=" HF_TOKEN "\n", touched);
    commit_one(repo, "key.env", NULL, removed);

    scan_report r;
    scan_report_init(&r);
    assert_int_equal(scan_commits(&r, repo, base, removed, NULL, 0), 0);
    assert_int_equal(r.count, 1);
    assert_non_null(strstr(r.text.data, "key.env line 2"));
    assert_null(strstr(r.text.data, "old.txt"));
    scan_report_free(&r);

    /* A new branch with no other ref: its whole history. */
    scan_report_init(&r);
    assert_int_equal(scan_commits(&r, repo, NULL, removed, NULL, 0), 0);
    assert_int_equal(r.count, 2);
    assert_non_null(strstr(r.text.data, "old.txt line 1"));
    scan_report_free(&r);
    repo_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finds_each_kind),
        cmocka_unit_test(test_ignores_lookalikes),
        cmocka_unit_test(test_own_secret_values),
        cmocka_unit_test(test_path_cannot_forge_lines),
        cmocka_unit_test(test_log_mask_of_stars_terminates),
        cmocka_unit_test(test_commits_in_range_each_scanned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
