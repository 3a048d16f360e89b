#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "git/commit.h"
#include "git/repo.h"

typedef struct fixture {
    char dir[64];
    char repo[128];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/hangar-commit-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->repo, sizeof f->repo, "%s/r.git", f->dir);
    if (repo_init_bare(f->repo) < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    repo_remove(f->dir);
    free(f);
    return 0;
}

static void add(commit_batch *b, const char *path, const char *text)
{
    size_t len = strlen(text);
    unsigned char *data = malloc(len + 1);
    memcpy(data, text, len);
    assert_int_equal(commit_batch_add(b, COMMIT_OP_ADD, path, data, len), 0);
}

static void del(commit_batch *b, commit_op_kind kind, const char *path)
{
    assert_int_equal(commit_batch_add(b, kind, path, NULL, 0), 0);
}

static commit_result apply(fixture *f, commit_batch *b, const char *parent, char sha[41], char *err)
{
    commit_info info = {"alice", NULL, "Update files", "Longer text", parent};
    commit_result rc = commit_apply(f->repo, &info, b, sha, err, 512);
    commit_batch_free(b);
    return rc;
}

static void assert_file(fixture *f, const char *sha, const char *path, const char *text)
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(repo_read_file(f->repo, sha, path, &data, &len), 0);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(data, text, len);
    free(data);
}

static void assert_no_file(fixture *f, const char *sha, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(repo_read_file(f->repo, sha, path, &data, &len), 1);
    free(data);
}

static void assert_head(fixture *f, const char *expected)
{
    char head[41];
    assert_int_equal(repo_head(f->repo, head), 0);
    assert_string_equal(head, expected);
}

static int count_object(const git_oid *id, void *arg)
{
    (void)id;
    (*(size_t *)arg)++;
    return 0;
}

/* Every object in the repository, loose or packed. */
static size_t object_count(fixture *f)
{
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    size_t n = 0;
    assert_int_equal(git_repository_open_bare(&repo, f->repo), 0);
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_foreach(odb, count_object, &n), 0);
    git_odb_free(odb);
    git_repository_free(repo);
    return n;
}

/* An independent, slow statement of the path rules, to check the fast one. */
static bool oracle_valid(const char *p, size_t len)
{
    if (len == 0 || len > 1024 || p[0] == '/' || p[len - 1] == '/')
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\')
            return false;
    char copy[1100];
    memcpy(copy, p, len);
    copy[len] = '\0';
    char *save = NULL;
    size_t parts = 0, slashes = 0;
    for (size_t i = 0; i < len; i++)
        slashes += p[i] == '/';
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        parts++;
        if (!strcmp(c, ".") || !strcmp(c, "..") || !strcasecmp(c, "git~1"))
            return false;
        char *colon = strchr(c, ':');
        if (colon)
            *colon = '\0';
        size_t n = strlen(c);
        while (n > 4 && (c[n - 1] == '.' || c[n - 1] == ' '))
            c[--n] = '\0';
        if (!strcasecmp(c, ".git"))
            return false;
    }
    return parts == slashes + 1; /* no empty component */
}

static void test_path_random(void **state)
{
    (void)state;
    /* Pieces that make the interesting cases likely, glued at random. */
    static const char *pieces[] = {".git", ".GiT", "git~1", "GIT~1", ".",    "..", "/", " ",
                                   ":",    "a",    "\\",    "\n",    "\x7f", "x",  "~"};
    static const size_t npieces = sizeof pieces / sizeof pieces[0];
    unsigned seed = 12345;
    char path[64];
    for (int round = 0; round < 300000; round++) {
        size_t len = 0;
        seed = seed * 1103515245u + 12345u;
        size_t count = (seed >> 16) % 8;
        for (size_t i = 0; i < count; i++) {
            seed = seed * 1103515245u + 12345u;
            const char *piece = pieces[(seed >> 16) % npieces];
            memcpy(path + len, piece, strlen(piece));
            len += strlen(piece);
        }
        if (round % 7 == 0 && len < sizeof path)
            path[len++] = '\0'; /* a NUL inside the given length */
        assert_int_equal(commit_path_valid(path, len, false), oracle_valid(path, len));
    }
}

static void test_path_valid(void **state)
{
    (void)state;
    static const char *good[] = {"app.py",     "a/b/c.txt",      "README.md", ".gitattributes",
                                 ".gitignore", "dir/.github/x",  "a..b",      "...",
                                 "é.txt",      "with space.txt", "x.git",     ".gitx/y"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(commit_path_valid(good[i], strlen(good[i]), false));
    static const char *bad[] = {"",     "/abs",  "a/../b",    "..",          "../x",     "a/..",
                                "./a",  "a/./b", ".git",      ".git/config", "a/.GIT/b", "a/.Git",
                                "a//b", "a\\b",  "tab\there", "nl\n",        "del\x7f",  "dir/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(commit_path_valid(bad[i], strlen(bad[i]), false));
    assert_false(commit_path_valid("a\0b", 3, false));
    assert_true(commit_path_valid("dir/", 4, true));
    assert_true(commit_path_valid("a/b/", 4, true));
    assert_false(commit_path_valid("/", 1, true));
    assert_false(commit_path_valid(".git/", 5, true));
    char name[1100];
    memset(name, 'a', sizeof name);
    assert_true(commit_path_valid(name, 1024, false));
    assert_false(commit_path_valid(name, 1025, false));
    assert_string_equal(commit_path_problem("a/../b", 6, false), "has a '..' component");
}

static void test_first_commit_and_update(void **state)
{
    fixture *f = *state;
    char sha1[41], sha2[41], err[512];
    commit_batch b;
    commit_batch_init(&b);
    add(&b, "app.py", "print('hi')\n");
    add(&b, "dir/sub/data.txt", "data");
    add(&b, "empty.txt", "");
    assert_int_equal(apply(f, &b, "", sha1, err), COMMIT_OK);
    assert_int_equal(strlen(sha1), 40);
    assert_head(f, sha1);
    assert_file(f, sha1, "app.py", "print('hi')\n");
    assert_file(f, sha1, "dir/sub/data.txt", "data");
    assert_file(f, sha1, "empty.txt", "");

    commit_batch_init(&b);
    add(&b, "app.py", "print('bye')\n");
    del(&b, COMMIT_OP_DELETE_FOLDER, "dir/");
    assert_int_equal(apply(f, &b, sha1, sha2, err), COMMIT_OK);
    assert_head(f, sha2);
    assert_file(f, sha2, "app.py", "print('bye')\n");
    assert_no_file(f, sha2, "dir/sub/data.txt");
    assert_file(f, sha1, "dir/sub/data.txt", "data"); /* history kept */

    repo_entry e;
    assert_int_equal(repo_entry_at(f->repo, sha2, "app.py", &e), 0);
    assert_false(e.is_dir);
    assert_int_equal(e.size, 13);
    assert_int_equal(repo_entry_at(f->repo, sha2, "dir", &e), 1);
}

static void test_stale_parent_conflicts(void **state)
{
    fixture *f = *state;
    char sha1[41], sha2[41], sha3[41], err[512];
    commit_batch b;
    commit_batch_init(&b);
    add(&b, "a.txt", "1");
    assert_int_equal(apply(f, &b, NULL, sha1, err), COMMIT_OK);
    commit_batch_init(&b);
    add(&b, "a.txt", "2");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_OK);

    commit_batch_init(&b);
    add(&b, "a.txt", "3");
    assert_int_equal(apply(f, &b, sha1, sha3, err), COMMIT_CONFLICT);
    assert_non_null(strstr(err, "A commit has happened since"));
    assert_head(f, sha2);

    /* "" means "the repository is empty": not true any more. */
    commit_batch_init(&b);
    add(&b, "a.txt", "3");
    assert_int_equal(apply(f, &b, "", sha3, err), COMMIT_CONFLICT);
    assert_head(f, sha2);

    /* An abbreviated parent that matches is fine. */
    char prefix[8];
    snprintf(prefix, sizeof prefix, "%.7s", sha2);
    commit_batch_init(&b);
    add(&b, "a.txt", "3");
    assert_int_equal(apply(f, &b, prefix, sha3, err), COMMIT_OK);
    assert_head(f, sha3);
}

static void test_all_or_nothing(void **state)
{
    fixture *f = *state;
    char sha1[41], sha2[41], err[512];
    commit_batch b;
    commit_batch_init(&b);
    add(&b, "keep.txt", "keep");
    assert_int_equal(apply(f, &b, "", sha1, err), COMMIT_OK);
    size_t objects = object_count(f);

    /* A good operation followed by a bad one: nothing lands. */
    commit_batch_init(&b);
    add(&b, "new.txt", "new");
    del(&b, COMMIT_OP_DELETE_FILE, "missing.txt");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_NOT_FOUND);
    assert_non_null(strstr(err, "A file with this name doesn't exist"));
    assert_head(f, sha1);

    commit_batch_init(&b);
    add(&b, "new.txt", "new");
    add(&b, "a/../escape.txt", "x");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_INVALID);
    assert_head(f, sha1);

    commit_batch_init(&b);
    add(&b, ".git/config", "x");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_INVALID);
    assert_head(f, sha1);

    commit_batch_init(&b);
    del(&b, COMMIT_OP_DELETE_FOLDER, "nope");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_NOT_FOUND);
    assert_head(f, sha1);

    /* A file under a file, and a file over a folder, are refused. */
    commit_batch_init(&b);
    add(&b, "keep.txt/inner", "x");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_INVALID);
    /* Refused batches wrote no object at all. */
    assert_int_equal(object_count(f), objects);
    commit_batch_init(&b);
    add(&b, "d/x", "x");
    assert_int_equal(apply(f, &b, NULL, sha2, err), COMMIT_OK);
    commit_batch_init(&b);
    add(&b, "d", "file over folder");
    assert_int_equal(apply(f, &b, NULL, sha1, err), COMMIT_INVALID);
    assert_head(f, sha2);

    /* Deleting then re-adding in one commit is fine. */
    commit_batch_init(&b);
    del(&b, COMMIT_OP_DELETE_FOLDER, "d");
    add(&b, "d", "now a file");
    assert_int_equal(apply(f, &b, sha2, sha1, err), COMMIT_OK);
    assert_file(f, sha1, "d", "now a file");
}

typedef struct log_seen {
    char title[64], message[128], author[64];
} log_seen;

static int collect(const repo_commit *c, void *arg)
{
    log_seen *s = arg;
    snprintf(s->title, sizeof s->title, "%s", c->summary);
    snprintf(s->message, sizeof s->message, "%s", c->message);
    snprintf(s->author, sizeof s->author, "%s", c->author);
    return 1;
}

static void test_message_and_author(void **state)
{
    fixture *f = *state;
    char sha[41], err[512];
    commit_batch b;
    commit_batch_init(&b);
    add(&b, "x", "x");
    assert_int_equal(apply(f, &b, "", sha, err), COMMIT_OK);
    log_seen s;
    memset(&s, 0, sizeof s);
    assert_int_equal(repo_log(f->repo, sha, collect, &s), 0);
    assert_string_equal(s.title, "Update files");
    assert_string_equal(s.message, "Update files\n\nLonger text");
    assert_string_equal(s.author, "alice");

    commit_info no_summary = {"alice", NULL, "", NULL, NULL};
    commit_batch_init(&b);
    assert_int_equal(commit_apply(f->repo, &no_summary, &b, sha, err, sizeof err), COMMIT_INVALID);
    commit_batch_free(&b);
}

static int count_entry(const char *file, const repo_entry *entry, void *arg)
{
    (void)file;
    (void)entry;
    (*(int *)arg)++;
    return 0;
}

static void test_tree_walk(void **state)
{
    fixture *f = *state;
    char sha[41], err[512];
    commit_batch b;
    commit_batch_init(&b);
    add(&b, "a.txt", "a");
    add(&b, "d/b.txt", "b");
    add(&b, "d/e/c.txt", "c");
    assert_int_equal(apply(f, &b, "", sha, err), COMMIT_OK);
    int n = 0;
    assert_int_equal(repo_tree_walk(f->repo, sha, "", false, count_entry, &n), 0);
    assert_int_equal(n, 2); /* a.txt, d */
    n = 0;
    assert_int_equal(repo_tree_walk(f->repo, sha, "", true, count_entry, &n), 0);
    assert_int_equal(n, 5); /* a.txt, d, d/b.txt, d/e, d/e/c.txt */
    n = 0;
    assert_int_equal(repo_tree_walk(f->repo, sha, "d", false, count_entry, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(repo_tree_walk(f->repo, sha, "a.txt", false, count_entry, &n), 1);
    assert_int_equal(repo_tree_walk(f->repo, sha, "nope", false, count_entry, &n), 1);
}

int main(void)
{
    repo_global_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_path_valid),
        cmocka_unit_test(test_path_random),
        cmocka_unit_test_setup_teardown(test_first_commit_and_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_parent_conflicts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_message_and_author, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tree_walk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
