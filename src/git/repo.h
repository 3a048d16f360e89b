/* repo: the bare git repositories behind spaces, read and written with libgit2.
 *
 * Writers never edit a ref in place: a new commit becomes visible only when
 * refs/heads/main is moved from the expected old value to the new one
 * (compare-and-swap), so a crash or a racing writer never leaves main pointing
 * at a half-written commit. */
#ifndef HANGAR_REPO_H
#define HANGAR_REPO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REPO_MAIN_REF "refs/heads/main"

/* Once per process. */
void repo_global_init(void);
/* Whether the libgit2 call that just failed ran out of disk space: its errno,
 * or the OS error text libgit2 kept (it may have made other calls since). */
bool repo_error_no_space(void);

/* Creates a bare repository whose HEAD is refs/heads/main (unborn). */
int repo_init_bare(const char *path);
/* Copies the bare repository from (all branches and history) into a new bare
 * repository at to, configured like repo_init_bare's. */
int repo_clone_bare(const char *from, const char *to);
/* Removes a repository directory tree. */
int repo_remove(const char *path);
/* At start-up, before anything writes a repository: ends the git processes
 * (upload-pack, receive-pack) a killed daemon left working on repos_dir's
 * repositories, then removes the lock files they or an interrupted commit
 * left (refs, packed-refs, HEAD, config): a stale refs/heads/main.lock would
 * refuse every later commit and push. Returns how many locks went. */
int repo_recover(const char *repos_dir);
/* Moves a repository (rename), creating the parent of to. */
int repo_move(const char *from, const char *to);

/* The commit sha of main into sha (41 bytes); "" when main is unborn.
 * Returns 0, or -1 when the repository cannot be read. */
int repo_head(const char *path, char sha[41]);

/* Resolves a revision (branch, tag, full or abbreviated sha, "HEAD") to a
 * commit sha. Returns 0, 1 when it names nothing, -1 on error. */
int repo_resolve(const char *path, const char *rev, char sha[41]);

/* The files of the commit as HF "siblings": [{"rfilename": path}, ...].
 * With sizes, adds "size" and "blobId", and "lfs" {sha256, size,
 * pointerSize} for LFS pointer files. NULL on error; [] for an unborn head. */
json_t *repo_siblings(const char *path, const char *sha, bool with_sizes);

/* Reads a file of a commit into a new buffer (caller frees). Returns 0,
 * 1 when there is no such file, -1 on error. */
int repo_read_file(const char *path, const char *sha, const char *file, char **data, size_t *len);

/* The commit time (unix ms) of sha, or 0. */
int64_t repo_commit_time_ms(const char *path, const char *sha);

/* A file or folder of a commit. */
typedef struct repo_entry {
    bool is_dir;
    char oid[41]; /* blob or tree sha */
    int64_t size; /* bytes of a file; 0 for a folder */
    /* A Git LFS pointer file: the object it stands for (size is the pointer's). */
    bool lfs;
    char lfs_oid[65];
    int64_t lfs_size;
} repo_entry;

/* The entry at file ("" is the root folder) of commit sha. Returns 0, 1 when
 * there is no such file or folder, -1 on error. */
int repo_entry_at(const char *path, const char *sha, const char *file, repo_entry *out);

/* Called for each entry with its path from the root; nonzero stops the walk. */
typedef int (*repo_tree_cb)(const char *file, const repo_entry *entry, void *arg);
/* Lists folder dir ("" the root) of commit sha in git's order, descending into
 * subfolders when recursive (a folder comes before its contents). Submodules
 * are skipped. Returns 0, 1 when dir is not a folder of sha, -1 on error. */
int repo_tree_walk(const char *path, const char *sha, const char *dir, bool recursive,
                   repo_tree_cb cb, void *arg);

/* A commit as the history lists it. */
typedef struct repo_commit {
    char sha[41];
    const char *summary; /* first paragraph, on one line */
    const char *message; /* the whole message */
    const char *author;  /* author name */
    int64_t time_ms;
} repo_commit;

/* Called for each commit, newest first; nonzero stops the walk. */
typedef int (*repo_log_cb)(const repo_commit *commit, void *arg);
/* Walks the history reachable from commit sha. 0, or -1 on error. */
int repo_log(const char *path, const char *sha, repo_log_cb cb, void *arg);

#endif
