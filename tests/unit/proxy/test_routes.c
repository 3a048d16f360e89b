#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy/routes.h"

static route_spec spec_of(const char *label, int fd, uint64_t generation)
{
    static const http_header headers[] = {{"X-Frame", "deny"}, {"Content-Security-Policy", "x"}};
    return (route_spec){.label = label,
                        .space_id = 7,
                        .netns_fd = fd,
                        .port = 7860,
                        .generation = generation,
                        .headers = headers,
                        .nheaders = 2};
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

static void test_publish_get_copies_what_it_needs(void **state)
{
    (void)state;
    routes_clear();
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    route_spec spec = spec_of("alice-demo", fds[0], 5);
    assert_int_equal(routes_publish(&spec), 0);
    close(fds[0]); /* the route has its own descriptor */
    close(fds[1]);
    route *r = routes_get("alice-demo");
    assert_non_null(r);
    assert_string_equal(r->label, "alice-demo");
    assert_int_equal(r->port, 7860);
    assert_int_equal(r->generation, 5);
    assert_int_equal(r->nheaders, 2);
    assert_string_equal(r->headers[1].name, "Content-Security-Policy");
    assert_true(r->netns_fd >= 0 && fd_open(r->netns_fd));
    assert_true(routes_valid(r));
    assert_true(routes_has("alice-demo", 5));
    assert_false(routes_has("alice-demo", 6));
    assert_null(routes_get("bob-demo"));
    routes_unref(r);
    routes_clear();
    assert_null(routes_get("alice-demo"));
}

static void test_invalidate_drops_routes_but_not_held_ones(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    route_spec spec = spec_of("alice-demo", fds[0], 1);
    assert_int_equal(routes_publish(&spec), 0);
    route *held = routes_get("alice-demo");
    assert_non_null(held);
    int fd = held->netns_fd;
    routes_invalidate();
    assert_null(routes_get("alice-demo"));
    assert_false(routes_has("alice-demo", 1));
    assert_false(routes_valid(held));
    assert_true(fd_open(fd)); /* still ours while held */
    routes_unref(held);
    assert_false(fd_open(fd)); /* the last reference closed it */
    close(fds[0]);
    close(fds[1]);
}

static void test_publish_replaces_and_host_network(void **state)
{
    (void)state;
    route_spec older = spec_of("alice-demo", -1, 1), newer = spec_of("alice-demo", -1, 2);
    assert_int_equal(routes_publish(&older), 0);
    route *first = routes_get("alice-demo");
    assert_int_equal(routes_publish(&newer), 0);
    route *second = routes_get("alice-demo");
    assert_int_equal(second->generation, 2);
    assert_int_equal(second->netns_fd, -1);
    assert_true(routes_valid(first)); /* replaced, not invalidated: still a right answer */
    routes_unref(first);
    routes_unref(second);
    route_spec long_label = spec_of("a-label-far-longer-than-any-dns-label-can-ever-be-so-"
                                    "publishing-it-must-fail-cleanly",
                                    -1, 3);
    assert_int_equal(routes_publish(&long_label), -1);
    routes_clear();
}

static _Atomic bool stop;

static void *reader(void *arg)
{
    (void)arg;
    uint64_t seen = 0;
    while (!atomic_load(&stop)) {
        route *r = routes_get("alice-demo");
        if (r) {
            seen += r->generation + (uint64_t)r->nheaders; /* touches what it holds */
            routes_unref(r);
        }
    }
    return (void *)(uintptr_t)seen;
}

/* Loops on other threads get and drop routes while the main loop publishes
 * and invalidates (run under the sanitizers: no use after free, no leak). */
static void test_concurrent_readers(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pthread_t threads[3];
    atomic_store(&stop, false);
    for (int i = 0; i < 3; i++)
        pthread_create(&threads[i], NULL, reader, NULL);
    for (uint64_t g = 1; g <= 20000; g++) {
        route_spec spec = spec_of("alice-demo", fds[0], g);
        assert_int_equal(routes_publish(&spec), 0);
        if (g % 3 == 0)
            routes_invalidate();
    }
    atomic_store(&stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(threads[i], NULL);
    routes_clear();
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_get_copies_what_it_needs),
        cmocka_unit_test(test_invalidate_drops_routes_but_not_held_ones),
        cmocka_unit_test(test_publish_replaces_and_host_network),
        cmocka_unit_test(test_concurrent_readers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
