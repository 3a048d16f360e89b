/* output: how the client commands print: aligned tables for people, JSON for
 * scripts (--json), sizes and times in short human forms. */
#ifndef HANGAR_CLI_OUTPUT_H
#define HANGAR_CLI_OUTPUT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cli_table {
    size_t ncols;
    size_t nrows; /* the header row included */
    size_t cap;
    char **cells; /* row-major, nrows * ncols owned strings */
} cli_table;

/* A table with these column titles (ncols of them). */
int cli_table_init(cli_table *t, size_t ncols, const char *const *titles);
/* Adds a row of ncols cells; NULL cells print as "-". 0 or -1 (out of memory). */
int cli_table_add(cli_table *t, const char *const *cells);
/* Columns padded to their widest cell, the last one not padded. */
void cli_table_print(const cli_table *t, FILE *out);
void cli_table_free(cli_table *t);

/* Pretty-printed JSON and a newline; 0 or -1. */
int cli_print_json(json_t *value, FILE *out);

/* "1.5 KiB", "12.0 MiB": sizes for people. */
void cli_format_bytes(uint64_t bytes, char *out, size_t size);
/* "3 minutes ago" from an ISO-8601 UTC time; the time itself when unparsable. */
void cli_format_ago(const char *iso, char *out, size_t size);

/* A string member of a JSON object, or NULL. */
const char *cli_json_str(json_t *obj, const char *key);

#endif
