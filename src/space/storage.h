/* storage: each space's persistent /data and its size quota.
 *
 * A space's /data is DATA/volumes/<id>. With a quota it is a sparse ext4
 * image, DATA/volumes/<id>.img, loop-mounted (mount -o loop, nosuid, nodev,
 * discard) on that directory: the file system is the quota, so an app that
 * fills it gets ENOSPC and the host disk keeps its free space. The image only
 * takes the space its files use (discard gives deleted blocks back). Both
 * runtimes bind the mounted directory at /data. Where no image can be made
 * or mounted (no mkfs.ext4, no loop devices, no CAP_SYS_ADMIN), /data is the
 * plain directory, without a quota, and a warning says so.
 *
 * The quota of a space: its storage tier (HF's "small", "medium", "large",
 * POST /api/spaces/{id}/storage), else its hardware profile's storage_mb,
 * else `hangar serve --storage-size`. A larger quota grows the file system
 * (unmounted: the lifecycle stops the app, e2fsck + resize2fs, mounts it
 * again); a smaller one is refused (as on HF, where a tier cannot be
 * downgraded).
 *
 * storage_prepare, storage_remove and storage_release_all block (child
 * processes, mount syscalls): the lifecycle calls the first two from libuv's
 * thread pool, the last at shutdown. */
#ifndef HANGAR_STORAGE_H
#define HANGAR_STORAGE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STORAGE_TIERS 3

/* Default quota (0: none) and the sizes of the tiers (0: HF's 20 GB, 150 GB
 * and 1 TB). */
void storage_configure(uint64_t default_bytes, const uint64_t tier_bytes[STORAGE_TIERS]);
/* "small=MB,medium=MB,large=MB" (any subset) into tier_bytes; 0 or -1. */
int storage_parse_tiers(const char *text, uint64_t tier_bytes[STORAGE_TIERS]);
/* The canonical name of a tier, or NULL when name is none. */
const char *storage_tier_name(const char *name);
/* The bytes of a tier (0 for NULL or an unknown name). */
uint64_t storage_tier_bytes(const char *tier);
/* The quota of a space with this tier (NULL or "") and hardware profile quota. */
uint64_t storage_quota(const char *tier, uint64_t profile_bytes);

/* DATA/volumes/<id> */
void storage_path(const char *data_dir, int64_t id, char *out, size_t size);
/* True when /data of space id needs no work before a start: no quota and the
 * directory exists, or the image is mounted with at least bytes. Cheap
 * (stat calls): for the loop thread. */
bool storage_ready(const char *data_dir, int64_t id, uint64_t bytes);
/* True when the image of space id exists and is smaller than bytes: it can
 * only grow while no app uses it (see grow_image in storage.c). */
bool storage_grows(const char *data_dir, int64_t id, uint64_t bytes);
/* Makes, grows and mounts the image of space id for a quota of bytes (0: a
 * plain directory). Returns 0; 1 when the quota could not be applied and /data
 * is the plain directory (why in err, for a warning); -1 on failure (err). */
int storage_prepare(const char *data_dir, int64_t id, uint64_t bytes, char *err, size_t errsize);
/* Unmounts and deletes /data of space id (image and directory). 0 or -1. */
int storage_remove(const char *data_dir, int64_t id, char *err, size_t errsize);
/* Unmounts every space's image (daemon shutdown; the next start mounts them
 * again). */
void storage_release_all(const char *data_dir);
/* HF's runtime "storage" (the tier or null) and Hangar's "storageQuota"
 * ({"bytes", "usedBytes", "enforced"}) added to rt. */
void storage_runtime_json(const char *data_dir, int64_t id, const char *tier, uint64_t bytes,
                          json_t *rt);

#endif
