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

/* Creates a bare repository whose HEAD is refs/heads/main (unborn). */
int repo_init_bare(const char *path);
/* Copies the bare repository from (all branches and history) into a new bare
 * repository at to, configured like repo_init_bare's. */
int repo_clone_bare(const char *from, const char *to);
/* Removes a repository directory tree. */
int repo_remove(const char *path);
/* Moves a repository (rename), creating the parent of to. */
int repo_move(const char *from, const char *to);

/* The commit sha of main into sha (41 bytes); "" when main is unborn.
 * Returns 0, or -1 when the repository cannot be read. */
int repo_head(const char *path, char sha[41]);

/* Resolves a revision (branch, tag, full or abbreviated sha, "HEAD") to a
 * commit sha. Returns 0, 1 when it names nothing, -1 on error. */
int repo_resolve(const char *path, const char *rev, char sha[41]);

/* The files of the commit as HF "siblings": [{"rfilename": path}, ...].
 * With sizes, adds "size" and "blobId". NULL on error; [] for an unborn head. */
json_t *repo_siblings(const char *path, const char *sha, bool with_sizes);

/* Reads a file of a commit into a new buffer (caller frees). Returns 0,
 * 1 when there is no such file, -1 on error. */
int repo_read_file(const char *path, const char *sha, const char *file, char **data, size_t *len);

/* The commit time (unix ms) of sha, or 0. */
int64_t repo_commit_time_ms(const char *path, const char *sha);

#endif
