#include "cli/ignore.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

/* A .gitignore larger than this is not a list of patterns. */
#define IGNORE_FILE_MAX (1024 * 1024)

void cli_ignore_init(cli_ignore *ig)
{
    memset(ig, 0, sizeof *ig);
}

static void rule_free(cli_ignore_rule *r)
{
    free(r->base);
    free(r->pattern);
}

void cli_ignore_truncate(cli_ignore *ig, size_t count)
{
    while (ig->count > count)
        rule_free(&ig->rules[--ig->count]);
}

void cli_ignore_free(cli_ignore *ig)
{
    cli_ignore_truncate(ig, 0);
    free(ig->rules);
    memset(ig, 0, sizeof *ig);
}

/* One line of a .gitignore into a rule; 0 when the line holds none. */
static int parse_line(char *line, cli_ignore_rule *r)
{
    size_t len = strlen(line);
    while (len &&
           (line[len - 1] == '\r' || (line[len - 1] == ' ' && !(len > 1 && line[len - 2] == '\\'))))
        line[--len] = '\0';
    if (len == 0 || line[0] == '#')
        return 0;
    memset(r, 0, sizeof *r);
    char *p = line;
    if (*p == '!') {
        r->negate = true;
        p++;
    } else if (*p == '\\' && (p[1] == '!' || p[1] == '#')) {
        p++;
    }
    len = strlen(p);
    if (len && p[len - 1] == '/') {
        r->dir_only = true;
        p[--len] = '\0';
    }
    /* "foo/" followed by "**" matches what is inside foo: foo itself, as a folder,
     * covers that. */
    if (len > 3 && strcmp(p + len - 3, "/**") == 0) {
        r->dir_only = true;
        p[len -= 3] = '\0';
    }
    /* A leading "**\/" matches at any depth, as a pattern without a slash does. */
    while (strncmp(p, "**/", 3) == 0 && strchr(p + 3, '/') == NULL)
        p += 3;
    if (*p == '/') {
        r->anchored = true;
        p++;
    } else if (strchr(p, '/')) {
        r->anchored = true;
    }
    if (!*p)
        return 0;
    r->pattern = strdup(p);
    return r->pattern ? 1 : -1;
}

static int add_rule(cli_ignore *ig, const char *base, cli_ignore_rule *r)
{
    if (ig->count == ig->cap) {
        size_t cap = ig->cap ? ig->cap * 2 : 32;
        cli_ignore_rule *grown = realloc(ig->rules, cap * sizeof *grown);
        if (!grown)
            return -1;
        ig->rules = grown;
        ig->cap = cap;
    }
    r->base = strdup(base);
    if (!r->base)
        return -1;
    ig->rules[ig->count++] = *r;
    return 0;
}

int cli_ignore_add_text(cli_ignore *ig, const char *base, const char *text)
{
    char *copy = strdup(text), *save = NULL;
    if (!copy)
        return -1;
    int rc = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        cli_ignore_rule r;
        int got = parse_line(line, &r);
        if (got < 0 || (got == 1 && add_rule(ig, base, &r) < 0)) {
            if (got == 1)
                rule_free(&r);
            rc = -1;
        }
    }
    free(copy);
    return rc;
}

int cli_ignore_load(cli_ignore *ig, const char *root, const char *base)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s.gitignore", root, base, *base ? "/" : "");
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
    buf text;
    buf_init(&text);
    char chunk[4096];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (text.len + n > IGNORE_FILE_MAX || buf_append(&text, chunk, n) < 0)
            rc = -1;
    fclose(f);
    if (rc == 0 && text.len)
        rc = cli_ignore_add_text(ig, base, text.data);
    buf_free(&text);
    return rc;
}

/* Anchored patterns match the whole path below the rule's folder, where '*'
 * stops at '/' but "**" does not. */
static bool match_anchored(const char *pattern, const char *sub)
{
    int flags = strstr(pattern, "**") ? 0 : FNM_PATHNAME;
    return fnmatch(pattern, sub, flags) == 0;
}

static bool rule_matches(const cli_ignore_rule *r, const char *path, bool is_dir)
{
    if (r->dir_only && !is_dir)
        return false;
    size_t blen = strlen(r->base);
    if (blen && (strncmp(path, r->base, blen) != 0 || path[blen] != '/'))
        return false;
    const char *sub = path + blen + (blen ? 1 : 0);
    if (r->anchored)
        return match_anchored(r->pattern, sub);
    const char *name = strrchr(sub, '/');
    return fnmatch(r->pattern, name ? name + 1 : sub, 0) == 0;
}

bool cli_ignore_match(const cli_ignore *ig, const char *path, bool is_dir)
{
    /* The last rule that matches decides, as in git. */
    for (size_t i = ig->count; i-- > 0;)
        if (rule_matches(&ig->rules[i], path, is_dir))
            return !ig->rules[i].negate;
    return false;
}
