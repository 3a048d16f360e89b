/* ignore: the .gitignore rules of a folder being uploaded: names, fnmatch
 * globs, patterns anchored by a '/', directory-only patterns ending in '/',
 * "**" and '!' negation. Rules stack as the walk descends: a folder's
 * .gitignore applies below it and wins over its parents'. */
#ifndef HANGAR_CLI_IGNORE_H
#define HANGAR_CLI_IGNORE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct cli_ignore_rule {
    char *base;    /* folder of the .gitignore, relative to the root; "" at the root */
    char *pattern; /* without '!', leading '/' and trailing '/' */
    bool negate;
    bool dir_only;
    bool anchored; /* matched against the path below base, not the name */
} cli_ignore_rule;

typedef struct cli_ignore {
    cli_ignore_rule *rules;
    size_t count, cap;
} cli_ignore;

void cli_ignore_init(cli_ignore *ig);
void cli_ignore_free(cli_ignore *ig);
/* Adds the rules of text (a .gitignore's content) for folder base. */
int cli_ignore_add_text(cli_ignore *ig, const char *base, const char *text);
/* Adds root/base/.gitignore when there is one; 0 when there is none. */
int cli_ignore_load(cli_ignore *ig, const char *root, const char *base);
/* Drops the rules added after count rules (when the walk leaves a folder). */
void cli_ignore_truncate(cli_ignore *ig, size_t count);
/* Whether path (relative to the root, '/'-separated) is ignored. */
bool cli_ignore_match(const cli_ignore *ig, const char *path, bool is_dir);

#endif
