#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "space/hardware.h"

static char path[] = "/tmp/hangar-hw-XXXXXX";

static int write_config(const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    return fclose(f);
}

static int setup(void **state)
{
    (void)state;
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    hardware_free();
    return 0;
}

static const char *profiles = "{\"profiles\": [{\"name\": \"cpu-basic\", \"cpu\": 2, "
                              "\"memory_mb\": 1024}, {\"name\": \"gpu-2\", \"cpu\": 2, "
                              "\"memory_mb\": 1024, \"gpus\": 2}],";

static void test_gpu_devices(void **state)
{
    (void)state;
    char text[1024], err[256] = "";
    snprintf(text, sizeof text,
             "%s \"gpus\": [{\"name\": \"GPU-a\"}, {\"name\": \"GPU-b\", \"device\": "
             "\"/srv/gpus/b\"}, {\"name\": \"GPU-c\"}]}",
             profiles);
    assert_int_equal(write_config(text), 0);
    assert_int_equal(hardware_init(path, err, sizeof err), 0);
    assert_int_equal(hardware_gpu_count(), 3);
    int ids[2];
    char why[128];
    assert_int_equal(hardware_claim_gpus(7, 2, "", ids, why, sizeof why), 0);
    const char *devs[8];
    int n = hardware_gpu_devices(ids, 2, devs, 8);
    /* the GPUs' own nodes first (default /dev/nvidia<position>), then only
     * the control nodes this host has */
    assert_true(n >= 2);
    assert_string_equal(devs[0], "/dev/nvidia0");
    assert_string_equal(devs[1], "/srv/gpus/b");
    for (int i = 2; i < n; i++)
        assert_int_equal(access(devs[i], F_OK), 0);
    assert_null(devs[n]);
    /* the third is another space's; none left for a fourth claim */
    int other[2];
    assert_int_equal(hardware_claim_gpus(8, 1, "", other, why, sizeof why), 0);
    assert_int_equal(hardware_gpu_devices(other, 1, devs, 8) >= 1, 1);
    assert_string_equal(devs[0], "/dev/nvidia2");
    assert_int_equal(hardware_claim_gpus(9, 1, "", other, why, sizeof why), -1);
    /* no GPU, no node: not even the control ones */
    assert_int_equal(hardware_gpu_devices(NULL, 0, devs, 8), 0);
    assert_null(devs[0]);
}

static void test_bad_device_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {"dev/nvidia0", "/dev/../etc/shadow", "/dev/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024], err[256] = "";
        snprintf(text, sizeof text, "%s \"gpus\": [{\"name\": \"GPU-a\", \"device\": \"%s\"}]}",
                 profiles, bad[i]);
        assert_int_equal(write_config(text), 0);
        assert_int_equal(hardware_init(path, err, sizeof err), -1);
        assert_non_null(strstr(err, "device"));
        hardware_free();
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_gpu_devices, reset),
        cmocka_unit_test_teardown(test_bad_device_refused, reset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
