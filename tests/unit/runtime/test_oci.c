/* The driver choice (runtime modes) and the oci driver's pure parts: image
 * names, the build command line, and what a start refuses before any engine
 * runs. The containers themselves are tested end to end (tests/e2e/test_docker.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "runtime/oci.h"
#include "runtime/runtime.h"

static void test_modes(void **state)
{
    (void)state;
    runtime_mode m;
    assert_int_equal(runtime_mode_parse("auto", &m), 0);
    assert_int_equal(m, RUNTIME_MODE_AUTO);
    assert_int_equal(runtime_mode_parse("podman", &m), 0);
    assert_int_equal(m, RUNTIME_MODE_PODMAN);
    assert_int_equal(runtime_mode_parse("docker", &m), 0);
    assert_int_equal(runtime_mode_parse("sandbox", &m), 0);
    assert_int_equal(m, RUNTIME_MODE_SANDBOX);
    assert_int_equal(runtime_mode_parse("Podman", &m), -1);
    assert_int_equal(runtime_mode_parse("", &m), -1);
    assert_string_equal(runtime_mode_name(RUNTIME_MODE_DOCKER), "docker");
}

static void test_driver_for(void **state)
{
    (void)state;
    /* Docker spaces always run in containers */
    assert_int_equal(runtime_driver_for(RUNTIME_MODE_AUTO, "docker"), RUNTIME_DRIVER_OCI);
    assert_int_equal(runtime_driver_for(RUNTIME_MODE_SANDBOX, "docker"), RUNTIME_DRIVER_OCI);
    assert_int_equal(runtime_driver_for(RUNTIME_MODE_AUTO, "gradio"), RUNTIME_DRIVER_SANDBOX);
    assert_int_equal(runtime_driver_for(RUNTIME_MODE_SANDBOX, "streamlit"), RUNTIME_DRIVER_SANDBOX);
    assert_int_equal(runtime_driver_for(RUNTIME_MODE_PODMAN, "gradio"), RUNTIME_DRIVER_OCI);
    assert_int_equal(runtime_driver_for(RUNTIME_MODE_DOCKER, "streamlit"), RUNTIME_DRIVER_OCI);
}

static void test_image_name(void **state)
{
    (void)state;
    char name[128];
    oci_image_name(42, "0123456789abcdef0123456789abcdef01234567", name, sizeof name);
    assert_string_equal(name, "localhost/hangar/42:0123456789ab");
}

static bool has_arg(char **argv, const char *want)
{
    for (; *argv; argv++)
        if (strcmp(*argv, want) == 0)
            return true;
    return false;
}

static void test_build_argv(void **state)
{
    (void)state;
    const char *args[] = {"GREETING=hello world", NULL};
    const char *secrets[] = {"API_KEY=/data/cache/build-secrets/x/API_KEY", NULL};
    oci_build b = {.context = "/ctx",
                   .dockerfile = "/ctx/Dockerfile",
                   .tag = "localhost/hangar/7:abc",
                   .build_args = args,
                   .secret_files = secrets,
                   .no_cache = true};
    char *argv[64];
    int n = oci_build_argv(&b, 7, argv, 64);
    assert_true(n > 5);
    assert_null(argv[n]);
    assert_string_equal(argv[1], "build");
    /* one argument each: a value with spaces stays whole, secrets name only a file */
    assert_true(has_arg(argv, "--build-arg=GREETING=hello world"));
    assert_true(has_arg(argv, "--secret=id=API_KEY,src=/data/cache/build-secrets/x/API_KEY"));
    assert_true(has_arg(argv, "--tag=localhost/hangar/7:abc"));
    assert_true(has_arg(argv, "--label=hangar.space=7"));
    assert_true(has_arg(argv, "--no-cache"));
    assert_string_equal(argv[n - 1], "/ctx");
    for (int i = 0; i < n; i++)
        free(argv[i]);
    /* too small: nothing is left allocated */
    assert_int_equal(oci_build_argv(&b, 7, argv, 4), -1);
    assert_null(argv[0]);
}

static void test_start_without_engine(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    runtime_spec spec = {.driver = RUNTIME_DRIVER_OCI,
                         .name = "t",
                         .image = "localhost/x:1",
                         .uid = 1000,
                         .gid = 1000};
    runtime_instance *inst = (runtime_instance *)&spec; /* must be reset */
    char err[256] = "";
    assert_int_equal(runtime_start(&loop, &spec, NULL, NULL, &inst, err, sizeof err), -1);
    assert_null(inst);
    assert_non_null(strstr(err, "no container engine"));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_modes),
        cmocka_unit_test(test_driver_for),
        cmocka_unit_test(test_image_name),
        cmocka_unit_test(test_build_argv),
        cmocka_unit_test(test_start_without_engine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
