/* commit: API commits on a space's bare repository (libgit2, no work tree).
 *
 * A commit is a batch of operations (add or replace a file, delete a file,
 * delete a folder) applied in order to the tree of main, in an in-memory
 * index. Every path and operation is checked before anything is written; then
 * the blobs, trees and the commit object are written and refs/heads/main is
 * moved from the parent it was built on to the new commit with a
 * compare-and-swap. A racing push or commit therefore makes this commit fail
 * (COMMIT_CONFLICT) instead of being lost or losing the other one, and a
 * failure at any step leaves main exactly where it was. */
#ifndef HANGAR_COMMIT_H
#define HANGAR_COMMIT_H

#include <stdbool.h>
#include <stddef.h>

#define COMMIT_PATH_MAX 1024 /* bytes of a path in the repository */

typedef enum {
    COMMIT_OP_ADD,          /* add or replace a file with data */
    COMMIT_OP_DELETE_FILE,  /* the file must exist */
    COMMIT_OP_DELETE_FOLDER /* everything under the folder; it must hold something */
} commit_op_kind;

typedef struct commit_op {
    commit_op_kind kind;
    char *path;          /* owned; a folder without its trailing '/' */
    unsigned char *data; /* owned file content (COMMIT_OP_ADD), may be NULL when len is 0 */
    size_t len;
    bool lfs; /* data is a Git LFS pointer: .gitattributes must route path to LFS */
} commit_op;

typedef struct commit_batch {
    commit_op *ops;
    size_t count;
    size_t cap;
} commit_batch;

void commit_batch_init(commit_batch *b);
void commit_batch_free(commit_batch *b);
/* Appends an operation. path is copied (a folder's trailing '/' dropped); data
 * (malloc'd) is taken over, and freed on failure too. 0, or -1 when memory
 * runs out. Paths are checked by commit_apply, not here. */
int commit_batch_add(commit_batch *b, commit_op_kind kind, const char *path, unsigned char *data,
                     size_t len);

/* Appends an add whose data is an LFS pointer file (see git/lfs.h): the
 * commit also adds "<path> filter=lfs diff=lfs merge=lfs -text" to
 * .gitattributes unless a rule there already sends path to LFS. */
int commit_batch_add_lfs(commit_batch *b, const char *path, unsigned char *pointer, size_t len);

typedef struct commit_info {
    const char *author;      /* user name: author and committer */
    const char *email;       /* NULL: <author>@users.noreply.hangar */
    const char *summary;     /* first line of the message, not empty */
    const char *description; /* NULL or "" for none */
    /* The head main must have: a full or abbreviated (5+) sha, "" for an empty
     * repository, or NULL to build on whatever main is now. */
    const char *parent;
} commit_info;

typedef enum {
    COMMIT_OK = 0,
    COMMIT_INVALID = -1,   /* a bad path or operation: the client's fault (400) */
    COMMIT_NOT_FOUND = -2, /* deleting a file or folder that does not exist (404) */
    COMMIT_CONFLICT = -3,  /* main is not at parent, or moved while committing (409) */
    COMMIT_ERROR = -4,     /* the repository could not be read or written (500) */
    COMMIT_NO_SPACE = -5   /* the disk is full (507); nothing was committed */
} commit_result;

/* Applies batch to main of the bare repository at repo_path as one commit.
 * On COMMIT_OK the new commit's sha is in sha; otherwise err holds a message
 * for the client and main has not moved. */
commit_result commit_apply(const char *repo_path, const commit_info *info,
                           const commit_batch *batch, char sha[41], char *err, size_t err_size);

/* Why path (len bytes, not NUL-terminated necessarily) cannot be written, or
 * NULL when it can. Refused: empty, over COMMIT_PATH_MAX bytes, NUL or other
 * control bytes, backslashes, a leading '/', empty, "." or ".." components,
 * components a clone would take for its .git directory (".git" in any case,
 * and NTFS's ".git." / ".git " / ".git::stream" / "git~1"), and a trailing
 * '/' unless folder is set. */
const char *commit_path_problem(const char *path, size_t len, bool folder);
/* The problem commit_path_problem names for a ".git" component (compare with
 * strcmp): HF's preupload ignores such files rather than refusing them. */
#define COMMIT_PROBLEM_DOT_GIT "has a '.git' component"
bool commit_path_valid(const char *path, size_t len, bool folder);

#endif
