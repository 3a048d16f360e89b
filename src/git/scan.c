#include "git/scan.h"

#include <git2.h>
#include <jansson.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/vault.h"
#include "lib/log.h"

#define SCAN_BLOB_MAX (32u * 1024 * 1024)         /* larger blobs are not read */
#define SCAN_PUSH_BYTES_MAX ((uint64_t)512 << 20) /* files read for one ref of a push */

void scan_report_init(scan_report *r)
{
    buf_init(&r->text);
    r->count = 0;
}

void scan_report_free(scan_report *r)
{
    buf_free(&r->text);
    r->count = 0;
}

static bool is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_letter(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_upper_digit(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* n characters of class ok at p, with no word character on either side, so
 * that a longer identifier that merely contains the shape is not reported. */
static bool token_at(const unsigned char *line, size_t len, size_t at, size_t prefix, size_t n,
                     bool (*ok)(unsigned char))
{
    if (at > 0 && (is_alnum(line[at - 1]) || line[at - 1] == '_'))
        return false;
    if (at + prefix + n > len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!ok(line[at + prefix + i]))
            return false;
    size_t end = at + prefix + n;
    return end == len || !(is_alnum(line[end]) || line[end] == '_');
}

static bool find_shape(const unsigned char *line, size_t len, const char *prefix, size_t n,
                       bool (*ok)(unsigned char))
{
    size_t plen = strlen(prefix);
    const unsigned char *p = line, *end = line + len;
    while (p < end && (p = memmem(p, (size_t)(end - p), prefix, plen)) != NULL) {
        if (token_at(line, len, (size_t)(p - line), plen, n, ok))
            return true;
        p++;
    }
    return false;
}

static bool pem_private_key(const unsigned char *line, size_t len)
{
    const unsigned char *begin = memmem(line, len, "-----BEGIN ", 11);
    if (!begin)
        return false;
    size_t rest = len - (size_t)(begin - line);
    return memmem(begin, rest, "PRIVATE KEY-----", 16) != NULL;
}

static void add_finding(scan_report *r, const char *path, size_t line, const char *kind)
{
    buf one;
    buf_init(&one);
    /* path is the repository's: control bytes would forge lines of output */
    buf_puts(&one, "warning: ");
    for (const char *p = path; *p; p++)
        buf_append(&one, (unsigned char)*p < 0x20 || *p == 0x7f ? "?" : p, 1);
    buf_printf(&one, " line %zu: looks like %s; it is now in the repository's history\n", line,
               kind);
    /* Commits of one push that touch the same file find the same line again. */
    bool again = one.data && r->text.data && memmem(r->text.data, r->text.len, one.data, one.len);
    if (one.data && !again && r->count++ < SCAN_MAX_FINDINGS)
        buf_append(&r->text, one.data, one.len);
    buf_free(&one);
}

static void scan_line(scan_report *r, const char *path, size_t lineno, const unsigned char *line,
                      size_t len, const scan_secret *secrets, size_t nsecrets)
{
    if (find_shape(line, len, "hf_", 34, is_letter))
        add_finding(r, path, lineno, "a Hugging Face access token");
    if (find_shape(line, len, "AKIA", 16, is_upper_digit))
        add_finding(r, path, lineno, "an AWS access key id");
    if (pem_private_key(line, len))
        add_finding(r, path, lineno, "a PEM private key");
    for (size_t i = 0; i < nsecrets; i++) {
        if (secrets[i].len < SCAN_SECRET_MIN ||
            !memmem(line, len, secrets[i].value, secrets[i].len))
            continue;
        char kind[160];
        snprintf(kind, sizeof kind, "the value of the space secret %.100s", secrets[i].name);
        add_finding(r, path, lineno, kind);
    }
}

void scan_file(scan_report *r, const char *path, const unsigned char *data, size_t len,
               const scan_secret *secrets, size_t nsecrets)
{
    size_t pos = 0, lineno = 0;
    while (pos < len) {
        const unsigned char *start = data + pos;
        const unsigned char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        lineno++;
        scan_line(r, path, lineno, start, n, secrets, nsecrets);
        pos += n + 1;
    }
}

/* ---- the space's own secrets --------------------------------------------------- */

typedef struct secret_list {
    scan_secret *items;
    size_t count;
} secret_list;

static void add_secret(const char *key, const char *sealed, const char *description,
                       int64_t updated_ms, void *arg)
{
    secret_list *l = arg;
    size_t len = 0;
    char *plain = vault_open_value(sealed, &len);
    if (!plain)
        return; /* a value the vault cannot open cannot be in a file either */
    scan_secret *grown = realloc(l->items, (l->count + 1) * sizeof *grown);
    char *name = strdup(key);
    if (!grown || !name) {
        if (grown)
            l->items = grown;
        free(name);
        vault_free_plain(plain);
        return;
    }
    l->items = grown;
    l->items[l->count++] = (scan_secret){.name = name, .value = plain, .len = len};
}

scan_secret *scan_secrets_load(store *st, int64_t space_id, size_t *count)
{
    secret_list l = {NULL, 0};
    if (store_env_list(st, true, space_id, add_secret, &l) < 0)
        log_warn("scan", "could not read the secrets of space %lld to scan for them",
                 (long long)space_id);
    *count = l.count;
    return l.items;
}

void scan_secrets_free(scan_secret *secrets, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        free((char *)secrets[i].name);
        vault_free_plain((char *)secrets[i].value);
    }
    free(secrets);
}

/* ---- commits ------------------------------------------------------------------------ */

typedef struct diff_ctx {
    git_repository *repo;
    scan_report *r;
    const scan_secret *secrets;
    size_t nsecrets;
    uint64_t bytes; /* read so far, up to SCAN_PUSH_BYTES_MAX */
} diff_ctx;

static int on_delta(const git_diff_delta *delta, float progress, void *arg)
{
    diff_ctx *d = arg;
    git_blob *blob = NULL;
    if (delta->status != GIT_DELTA_ADDED && delta->status != GIT_DELTA_MODIFIED)
        return 0;
    if (delta->new_file.size > SCAN_BLOB_MAX ||
        git_blob_lookup(&blob, d->repo, &delta->new_file.id) < 0)
        return 0;
    d->bytes += (uint64_t)git_blob_rawsize(blob);
    if (d->bytes > SCAN_PUSH_BYTES_MAX) {
        /* the pusher waits for the hook: stop, and say the scan is partial */
        git_blob_free(blob);
        git_error_set_str(GIT_ERROR_INVALID, "more than the scan's limit of bytes to read");
        return -1;
    }
    scan_file(d->r, delta->new_file.path, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
              d->secrets, d->nsecrets);
    git_blob_free(blob);
    return 0;
}

/* The files commit changed against its first parent (every file of a root commit). */
static int scan_one_commit(git_repository *repo, const git_oid *id, diff_ctx *d)
{
    git_commit *commit = NULL, *parent = NULL;
    git_tree *tree = NULL, *parent_tree = NULL;
    git_diff *diff = NULL;
    int rc = -1;
    if (git_commit_lookup(&commit, repo, id) < 0 || git_commit_tree(&tree, commit) < 0)
        goto done;
    if (git_commit_parentcount(commit) > 0 &&
        (git_commit_parent(&parent, commit, 0) < 0 || git_commit_tree(&parent_tree, parent) < 0))
        goto done;
    if (git_diff_tree_to_tree(&diff, repo, parent_tree, tree, NULL) < 0 ||
        git_diff_foreach(diff, on_delta, NULL, NULL, NULL, d) < 0)
        goto done;
    rc = 0;
done:
    git_diff_free(diff);
    git_tree_free(parent_tree);
    git_tree_free(tree);
    git_commit_free(parent);
    git_commit_free(commit);
    return rc;
}

/* Hides from walk the history of every ref that does not point at tip: for a
 * new branch, the commits the repository already had (the push has already
 * moved its refs when the hook runs). */
static int hide_other_refs(git_repository *repo, git_revwalk *walk, const git_oid *tip)
{
    git_strarray refs = {0};
    if (git_reference_list(&refs, repo) < 0)
        return -1;
    for (size_t i = 0; i < refs.count; i++) {
        git_oid id;
        if (strncmp(refs.strings[i], "refs/", 5) != 0 ||
            git_reference_name_to_id(&id, repo, refs.strings[i]) < 0 || git_oid_equal(&id, tip))
            continue;
        git_revwalk_hide(walk, &id); /* a tag of a tree or a blob: nothing to hide */
    }
    git_strarray_dispose(&refs);
    return 0;
}

/* Every commit in old..new (new alone: the commits no other ref has), each
 * against its parent: a key added by one commit and deleted by the next is
 * still in the history a clone gets. */
static int scan_range(git_repository *repo, const char *old_sha, const char *new_sha, diff_ctx *d)
{
    git_revwalk *walk = NULL;
    git_oid id, old_id;
    size_t seen = 0;
    int rc = -1;
    bool has_old = old_sha && old_sha[0] && strspn(old_sha, "0") != strlen(old_sha);
    if (git_revwalk_new(&walk, repo) < 0 || git_oid_fromstr(&id, new_sha) < 0 ||
        git_revwalk_push(walk, &id) < 0)
        goto done;
    if (has_old ? git_oid_fromstr(&old_id, old_sha) < 0 || git_revwalk_hide(walk, &old_id) < 0
                : hide_other_refs(repo, walk, &id) < 0)
        goto done;
    while (seen++ < SCAN_MAX_COMMITS && git_revwalk_next(&id, walk) == 0)
        if (scan_one_commit(repo, &id, d) < 0)
            goto done;
    rc = 0;
done:
    git_revwalk_free(walk);
    return rc;
}

int scan_commits(scan_report *r, const char *repo_path, const char *old_sha, const char *new_sha,
                 const scan_secret *secrets, size_t nsecrets)
{
    git_repository *repo = NULL;
    int rc = -1;
    if (git_repository_open_bare(&repo, repo_path) < 0)
        goto done;
    diff_ctx d = {repo, r, secrets, nsecrets, 0};
    rc = scan_range(repo, old_sha, new_sha, &d);
done:
    if (rc < 0) {
        const git_error *e = git_error_last();
        log_warn("scan", "%s: could not scan %.12s: %s", repo_path, new_sha ? new_sha : "?",
                 e ? e->message : "unknown error");
    }
    git_repository_free(repo);
    return rc;
}

/* ---- the post-receive hook ---------------------------------------------------------- */

static bool zero_sha(const char *sha)
{
    return strspn(sha, "0") == strlen(sha);
}

/* Scans the refs named on stdin; -1 when some could not be read. */
static int hook_scan_refs(scan_report *r, const char *repo, const scan_secret *secrets,
                          size_t nsecrets)
{
    char line[1024];
    int rc = 0;
    while (fgets(line, sizeof line, stdin)) {
        char old_sha[65], new_sha[65], ref[900];
        if (sscanf(line, "%64s %64s %899s", old_sha, new_sha, ref) != 3 || zero_sha(new_sha))
            continue; /* a deleted ref adds nothing */
        if (strncmp(ref, "refs/heads/", 11) != 0 && strncmp(ref, "refs/tags/", 10) != 0)
            continue;
        if (scan_commits(r, repo, old_sha, new_sha, secrets, nsecrets) < 0)
            rc = -1;
    }
    return rc;
}

/* The report for the daemon: the data of a secret-warning event. */
static void hook_write_report(const scan_report *r, const char *path)
{
    json_t *data = json_pack("{s:I, s:s%, s:s}", "count", (json_int_t)r->count, "message",
                             r->text.data ? r->text.data : "", r->text.len, "via", "git push");
    if (!data || json_dump_file(data, path, JSON_COMPACT) < 0)
        fprintf(stderr, "hangar: could not record this warning as a space event\n");
    json_decref(data);
}

int scan_hook_main(void)
{
    const char *data_dir = getenv("HANGAR_DATA");
    const char *space_id = getenv("HANGAR_SCAN_SPACE");
    const char *report = getenv("HANGAR_SCAN_REPORT");
    const char *repo = getenv("GIT_DIR");
    store *st = NULL;
    scan_secret *secrets = NULL;
    size_t nsecrets = 0;
    scan_report r;
    scan_report_init(&r);
    /* log_* writes to stderr, which the pusher sees: only warnings matter there */
    log_set_level(LOG_WARN);
    git_libgit2_init();
    if (data_dir && space_id && sodium_init() >= 0 && vault_open(data_dir) == 0 &&
        store_open(data_dir, &st) == STORE_OK)
        secrets = scan_secrets_load(st, strtoll(space_id, NULL, 10), &nsecrets);
    if (hook_scan_refs(&r, repo ? repo : ".", secrets, nsecrets) < 0)
        fprintf(stderr, "hangar: some of this push could not be scanned for credentials\n");
    if (r.count) {
        fprintf(stderr,
                "hangar: this push adds what looks like credentials; it was accepted, but "
                "anyone who can read this space can read them:\n%s"
                "hangar: revoke them, and rewrite the history to remove them\n",
                r.text.data);
        if (report)
            hook_write_report(&r, report);
    }
    scan_secrets_free(secrets, nsecrets);
    scan_report_free(&r);
    if (st)
        store_close(st);
    vault_close();
    git_libgit2_shutdown();
    return 0;
}
