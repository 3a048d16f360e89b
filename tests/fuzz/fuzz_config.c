/* libFuzzer target for src/space/config.c: a README from the network goes
 * through every entry point, and everything is freed (LeakSanitizer checks).
 *
 * clang -g -O1 -fsanitize=fuzzer,address,undefined -std=c17 -D_GNU_SOURCE -Isrc \
 *   $(pkg-config --cflags jansson yaml-0.1) tests/fuzz/fuzz_config.c src/space/config.c \
 *   $(pkg-config --libs jansson yaml-0.1) -o /tmp/fuzz_config
 * /tmp/fuzz_config -max_total_time=60 tests/fuzz/corpus/config */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "space/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether a path has a ".." component: what app_file must never have. */
static int has_dotdot(const char *p)
{
    size_t n = strlen(p);

    return !strcmp(p, "..") || !strncmp(p, "../", 3) || strstr(p, "/../") ||
           (n >= 3 && !strcmp(p + n - 3, "/.."));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy: nothing may read past size or rely on a NUL */
    char *text = malloc(size ? size : 1);
    char err[256];
    json_t *card, *errors = NULL, *warnings = NULL;
    config c;
    int n;

    if (!text)
        return 0;
    memcpy(text, data, size);

    card = config_card_data(text, size);
    if (card) {
        char *s = json_dumps(card, JSON_COMPACT); /* aliases are shared: must stay bounded */
        free(s);
        json_decref(card);
    }

    if (config_parse(text, size, "gradio", &c, err, sizeof err) == 0) {
        if (c.app_port < 1 || c.app_port > 65535 || c.startup_duration_timeout < 1)
            abort();
        if (c.app_file && (c.app_file[0] == '/' || has_dotdot(c.app_file)))
            abort();
        config_free(&c);
    } else if (!memchr(err, '\0', sizeof err) || err[0] == '\0') {
        abort(); /* a failure always says why */
    }

    n = config_validate_yaml(text, size, &errors, &warnings);
    if (n >= 0) {
        if ((size_t)n != json_array_size(errors))
            abort();
        json_decref(errors);
        json_decref(warnings);
    }
    free(text);
    return 0;
}
