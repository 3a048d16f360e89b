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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_finds_each_kind),
        cmocka_unit_test(test_ignores_lookalikes),
        cmocka_unit_test(test_own_secret_values),
        cmocka_unit_test(test_path_cannot_forge_lines),
        cmocka_unit_test(test_log_mask_of_stars_terminates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
