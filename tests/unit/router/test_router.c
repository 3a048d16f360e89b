#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "router/router.h"

static void clear(http_request *req)
{
    for (int i = 0; i < req->nparams; i++)
        free(req->params[i]);
    req->nparams = 0;
}

static void test_literal(void **state)
{
    (void)state;
    http_request req;
    memset(&req, 0, sizeof req);
    assert_true(router_match("/api/health", "/api/health", &req));
    assert_false(router_match("/api/health", "/api/healthz", &req));
    assert_false(router_match("/api/health", "/api", &req));
    assert_false(router_match("/api/health", "/api/health/", &req));
    assert_int_equal(req.nparams, 0);
}

static void test_captures_are_decoded(void **state)
{
    (void)state;
    http_request req;
    memset(&req, 0, sizeof req);
    assert_true(router_match("/api/spaces/:owner/:name", "/api/spaces/al%69ce/demo", &req));
    assert_int_equal(req.nparams, 2);
    assert_string_equal(req.params[0], "alice");
    assert_string_equal(req.params[1], "demo");
    clear(&req);
    assert_false(router_match("/api/spaces/:owner/:name", "/api/spaces/alice", &req));
    assert_false(router_match("/api/spaces/:owner/:name", "/api/spaces//demo", &req));
    assert_int_equal(req.nparams, 0);
}

static void test_rest_capture(void **state)
{
    (void)state;
    http_request req;
    memset(&req, 0, sizeof req);
    assert_true(router_match("/x/:a/rev/*", "/x/1/rev/refs%2Fpr%2F1/more", &req));
    assert_int_equal(req.nparams, 2);
    assert_string_equal(req.params[1], "refs/pr/1/more");
    clear(&req);
    assert_true(router_match("/x/*", "/x", &req));
    assert_int_equal(req.nparams, 1);
    assert_string_equal(req.params[0], "");
    clear(&req);
}

static void test_bad_escape_fails_match(void **state)
{
    (void)state;
    http_request req;
    memset(&req, 0, sizeof req);
    assert_false(router_match("/a/:b", "/a/%zz", &req));
    assert_false(router_match("/a/:b", "/a/%00", &req));
    assert_int_equal(req.nparams, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal),
        cmocka_unit_test(test_captures_are_decoded),
        cmocka_unit_test(test_rest_capture),
        cmocka_unit_test(test_bad_escape_fails_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
