/* libFuzzer target for the log encoder (src/space/logs.c): lines from an app
 * (any bytes) are cleaned to UTF-8, masked and written as NDJSON events, then
 * read back with logs_tail_text. Input: mask values, one a line, then an
 * empty line, then the log's lines. No '*'-free printable mask may survive in
 * what is read back, and every record must be valid JSON. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "lib/log.h"
#include "space/logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_MASKS 8

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snprintf(path, sizeof path, "/tmp/hangar-fuzz-logs-%d.log", (int)getpid());
    log_set_level(LOG_ERROR);
    return 0;
}

static bool checkable(const char *mask)
{
    if (!*mask)
        return false;
    for (const char *p = mask; *p; p++)
        if (*p == '*' || *p < 0x20 || *p > 0x7e)
            return false;
    return true;
}

static void check_file(char *const *masks, size_t n)
{
    FILE *f = fopen(path, "r");
    char line[1 << 16];
    if (!f)
        abort();
    while (fgets(line, sizeof line, f)) {
        json_error_t err;
        json_t *ev = json_loads(line, 0, &err);
        const char *text = json_string_value(json_object_get(ev, "data"));
        if (!ev || !text)
            abort();
        for (size_t i = 0; i < n; i++)
            if (checkable(masks[i]) && strstr(text, masks[i]))
                abort();
        json_decref(ev);
    }
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), *masks[MAX_MASKS];
    size_t nmasks = 0, pos = 0;
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* masks up to the first empty line */
    while (pos < size && nmasks < MAX_MASKS) {
        char *nl = memchr(text + pos, '\n', size - pos);
        if (!nl || nl == text + pos)
            break;
        *nl = '\0';
        masks[nmasks++] = text + pos;
        pos = (size_t)(nl - text) + 1;
    }
    if (pos < size && text[pos] == '\n')
        pos++;
    logs_stream *log = logs_open(path, true);
    if (!log)
        abort();
    logs_set_masks(log, (const char *const *)masks, nmasks);
    while (pos < size) {
        char *nl = memchr(text + pos, '\n', size - pos);
        size_t n = nl ? (size_t)(nl - (text + pos)) : size - pos;
        logs_append(log, text + pos, n);
        pos += n + 1;
    }
    logs_close(log);
    check_file(masks, nmasks);
    free(logs_tail_text(path, 3));
    free(logs_tail_text(path, -1));
    free(text);
    return 0;
}
