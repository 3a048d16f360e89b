/* lfs: the Git LFS object store behind every space.
 *
 * Large and binary files live outside git: the repository holds a small
 * pointer file ("version https://git-lfs.github.com/spec/v1", "oid sha256:..",
 * "size N") and the bytes live once, content-addressed, in
 * DATA/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>, shared by every space that
 * references them. An upload streams into DATA/lfs/tmp while its sha256 is
 * computed, and is renamed into place only when hash and size match, so the
 * store never holds an object whose name lies about its content.
 *
 * Objects are written read-only (0444): builds hard-link them into their
 * checkouts, and nobody may change the one copy they share.
 *
 * The functions here block on disk: call them from the thread pool (or from a
 * command), never from the event loop, except the cheap lfs_oid_valid,
 * lfs_pointer_* and lfs_object_path. */
#ifndef HANGAR_LFS_H
#define HANGAR_LFS_H

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LFS_OID_LEN 64 /* hex sha256 */
/* Bytes of a pointer file as Hangar writes them: anything outside this range
 * is not one, which lets listings skip reading most blobs. */
#define LFS_POINTER_MIN 120
#define LFS_POINTER_MAX 200
#define LFS_PATH_MAX 4400
/* Objects younger than this are never collected: an upload may have stored
 * one that its commit has not referenced yet. */
#define LFS_GC_GRACE_S 3600

/* Whether oid is 64 lowercase hex digits. */
bool lfs_oid_valid(const char *oid);
/* DATA/lfs/objects/<oid[0:2]>/<oid[2:4]>/<oid>. */
void lfs_object_path(const char *data_dir, const char *oid, char *out, size_t size);
/* 0 with *size set when the object is stored, 1 when not, -1 on error. */
int lfs_object_stat(const char *data_dir, const char *oid, int64_t *size);
/* Marks an object as just used (mtime now), so that a collection running
 * meanwhile treats it as fresh. */
void lfs_object_touch(const char *data_dir, const char *oid);

/* Parses a pointer file; 0 with oid (65 bytes) and size set, -1 when data is
 * not a sha256 pointer. */
int lfs_pointer_parse(const char *data, size_t len, char oid[LFS_OID_LEN + 1], int64_t *size);
/* Writes the canonical pointer of (oid, size) into out; returns its length,
 * or -1 when out is too small. */
int lfs_pointer_format(const char *oid, int64_t size, char *out, size_t out_size);

/* An object being received. */
typedef struct lfs_writer {
    int fd;
    char tmp[LFS_PATH_MAX];
    char dest[LFS_PATH_MAX];
    char oid[LFS_OID_LEN + 1];
    int64_t size;    /* announced */
    int64_t written; /* so far */
    int error;       /* errno of the failure, so that a full disk can say so */
    crypto_hash_sha256_state hash;
} lfs_writer;

/* Opens a temporary file for object oid of size bytes; 0 or -1 (logged). */
int lfs_writer_open(lfs_writer *w, const char *data_dir, const char *oid, int64_t size);
/* Appends data and hashes it; -1 on a write error or past the announced size. */
int lfs_writer_write(lfs_writer *w, const void *data, size_t len);
/* Checks size and sha256, then moves the object into place. 0; 1 when the
 * content does not match (err says how; nothing stored); -1 on an I/O error.
 * The writer is closed either way. */
int lfs_writer_finish(lfs_writer *w, char *err, size_t err_size);
/* Whether the writer failed for lack of space (ENOSPC, EDQUOT). */
bool lfs_writer_no_space(const lfs_writer *w);
/* Drops the temporary file. Safe after finish and on a zeroed writer. */
void lfs_writer_abort(lfs_writer *w);

/* Hard-links the object into path (or copies it when DATA and path are on
 * different file systems). 0; 1 when the object is missing; -1 on error. */
int lfs_object_materialize(const char *data_dir, const char *oid, const char *path);

typedef struct lfs_gc_stats {
    long referenced; /* distinct objects referenced by some space's history */
    long kept;       /* stored objects kept */
    long young;      /* unreferenced but within the grace period */
    long removed;
    int64_t removed_bytes;
} lfs_gc_stats;

/* Removes stored objects that no commit reachable from any ref of any
 * repository under DATA/repos references, except those modified within
 * grace_s seconds. 0 or -1 (logged; nothing is removed when a repository
 * cannot be read, since its references would be unknown). */
int lfs_gc(const char *data_dir, int64_t grace_s, lfs_gc_stats *stats);

#endif
