#include "space/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

extern char **environ;

static const char *const tier_names[STORAGE_TIERS] = {"small", "medium", "large"};
/* HF's tiers: 20 GB, 150 GB, 1 TB */
static const uint64_t hf_tier_bytes[STORAGE_TIERS] = {20ULL << 30, 150ULL << 30, 1ULL << 40};

static struct {
    uint64_t default_bytes;
    uint64_t tier_bytes[STORAGE_TIERS];
} conf = {0, {20ULL << 30, 150ULL << 30, 1ULL << 40}};

void storage_configure(uint64_t default_bytes, const uint64_t tier_bytes[STORAGE_TIERS])
{
    conf.default_bytes = default_bytes;
    for (int i = 0; i < STORAGE_TIERS; i++)
        conf.tier_bytes[i] = tier_bytes && tier_bytes[i] ? tier_bytes[i] : hf_tier_bytes[i];
}

int storage_parse_tiers(const char *text, uint64_t tier_bytes[STORAGE_TIERS])
{
    char copy[256];
    if (snprintf(copy, sizeof copy, "%s", text) >= (int)sizeof copy)
        return -1;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        long long mb;
        if (!eq)
            return -1;
        *eq = '\0';
        int i = 0;
        while (i < STORAGE_TIERS && strcmp(item, tier_names[i]) != 0)
            i++;
        if (i == STORAGE_TIERS || util_parse_int(eq + 1, 1, 1LL << 30, &mb) < 0)
            return -1;
        tier_bytes[i] = (uint64_t)mb << 20;
    }
    return 0;
}

const char *storage_tier_name(const char *name)
{
    for (int i = 0; name && i < STORAGE_TIERS; i++)
        if (strcmp(name, tier_names[i]) == 0)
            return tier_names[i];
    return NULL;
}

uint64_t storage_tier_bytes(const char *tier)
{
    for (int i = 0; tier && i < STORAGE_TIERS; i++)
        if (strcmp(tier, tier_names[i]) == 0)
            return conf.tier_bytes[i];
    return 0;
}

uint64_t storage_quota(const char *tier, uint64_t profile_bytes)
{
    uint64_t bytes = storage_tier_bytes(tier);
    if (bytes)
        return bytes;
    return profile_bytes ? profile_bytes : conf.default_bytes;
}

void storage_path(const char *data_dir, int64_t id, char *out, size_t size)
{
    snprintf(out, size, "%s/volumes/%lld", data_dir, (long long)id);
}

static void image_path(const char *data_dir, int64_t id, char *out, size_t size)
{
    snprintf(out, size, "%s/volumes/%lld.img", data_dir, (long long)id);
}

/* The device mounted on dir, or 0 when dir is not a mount point (same device
 * as its parent). */
static dev_t mounted_dev(const char *dir)
{
    char parent[4200];
    struct stat st, pst;
    snprintf(parent, sizeof parent, "%s/..", dir);
    if (stat(dir, &st) < 0 || stat(parent, &pst) < 0 || st.st_dev == pst.st_dev)
        return 0;
    return st.st_dev;
}

bool storage_grows(const char *data_dir, int64_t id, uint64_t bytes)
{
    char img[4200];
    struct stat st;
    image_path(data_dir, id, img, sizeof img);
    return bytes && stat(img, &st) == 0 && (uint64_t)st.st_size < bytes;
}

bool storage_ready(const char *data_dir, int64_t id, uint64_t bytes)
{
    char dir[4200], img[4200];
    struct stat st;
    storage_path(data_dir, id, dir, sizeof dir);
    image_path(data_dir, id, img, sizeof img);
    if (bytes == 0)
        return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && stat(img, &st) < 0;
    return mounted_dev(dir) != 0 && stat(img, &st) == 0 && (uint64_t)st.st_size >= bytes;
}

/* Runs argv (from PATH's sbin directories) to completion; 0 when it exits
 * with at most ok_max, else -1 with the command and its last output in err.
 * Blocking. */
static int run_status(const char *const *argv, int ok_max, char *err, size_t errsize)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        snprintf(err, errsize, "pipe: %s", strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
    char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C",
                   NULL};
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(err, errsize, "%s: %s", argv[0], strerror(rc));
        return -1;
    }
    char out[1024];
    size_t len = 0;
    ssize_t n;
    while ((n = read(fds[0], out + len, sizeof out - 1 - len)) > 0 || (n < 0 && errno == EINTR)) {
        len += n > 0 ? (size_t)n : 0;
        if (len == sizeof out - 1) /* keep the tail: the reason is at the end */
            len = 0;
    }
    out[len] = '\0';
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) <= ok_max)
        return 0;
    while (len && (out[len - 1] == '\n' || out[len - 1] == ' '))
        out[--len] = '\0';
    snprintf(err, errsize, "%s failed (status %d): %s", argv[0], status, out);
    return -1;
}

/* A new sparse image of bytes with an empty ext4 on it (root owned by root:
 * the lifecycle hands it to the space's uid after mounting). */
static int run(const char *const *argv, char *err, size_t errsize)
{
    return run_status(argv, 0, err, errsize);
}

static int make_image(const char *img, uint64_t bytes, char *err, size_t errsize)
{
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.new", img);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
        snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    /* no reserved blocks (the space may use all of it); inode tables and the
     * journal are left sparse and never zeroed (noinit_itable below) */
    const char *argv[] = {
        "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1",
        tmp,         NULL};
    if (run(argv, err, errsize) < 0 || rename(tmp, img) < 0) {
        if (!*err)
            snprintf(err, errsize, "rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int mount_image(const char *img, const char *dir, char *err, size_t errsize)
{
    const char *argv[] = {"mount", "-t", "ext4", "-o", "loop,nosuid,nodev,discard,noinit_itable",
                          img,     dir,  NULL};
    if (run(argv, err, errsize) < 0)
        return -1;
    /* lost+found is for fsck; the app sees an empty /data as on HF */
    char lf[4300];
    snprintf(lf, sizeof lf, "%s/lost+found", dir);
    rmdir(lf);
    return 0;
}

/* Grows the (unmounted) file system of img to bytes. Offline, because online
 * resizing is not allowed everywhere (EXT4_IOC_RESIZE_FS fails with EPERM in
 * some VMs and containers): the lifecycle stops the space's app first. */
static int grow_image(const char *img, uint64_t bytes, char *err, size_t errsize)
{
    struct stat st;
    if (stat(img, &st) < 0 || truncate(img, (off_t)bytes) < 0) {
        snprintf(err, errsize, "truncate %s: %s", img, strerror(errno));
        return -1;
    }
    /* resize2fs wants a freshly checked file system */
    const char *check[] = {"e2fsck", "-f", "-p", img, NULL};
    const char *resize[] = {"resize2fs", img, NULL};
    /* e2fsck's 1: "errors corrected", such as the lost+found mount_image removed */
    if (run_status(check, 1, err, errsize) < 0 || run(resize, err, errsize) < 0) {
        /* the file system kept its size: so does the image (the quota stays) */
        if (truncate(img, st.st_size) < 0)
            log_warn("storage", "cannot shrink %s back: %s", img, strerror(errno));
        return -1;
    }
    log_info("storage", "%s grown to %llu MB", img, (unsigned long long)(bytes >> 20));
    return 0;
}

static bool dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return true;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0;
    closedir(d);
    return empty;
}

int storage_prepare(const char *data_dir, int64_t id, uint64_t bytes, char *err, size_t errsize)
{
    char dir[4200], img[4200];
    struct stat st;
    err[0] = '\0';
    storage_path(data_dir, id, dir, sizeof dir);
    image_path(data_dir, id, img, sizeof img);
    if (util_mkdir_p(dir, 0700) < 0) {
        snprintf(err, errsize, "%s: %s", dir, strerror(errno));
        return -1;
    }
    bool have_image = stat(img, &st) == 0;
    dev_t dev = mounted_dev(dir);
    if (bytes == 0 && !have_image)
        return 0;
    if (bytes == 0)
        bytes = (uint64_t)st.st_size; /* the quota was dropped: keep the data and its size */
    if (!have_image) {
        /* /data from before quotas (or from a failed mount) stays as it is */
        if (!dir_empty(dir)) {
            snprintf(err, errsize, "%s holds files from before its quota: not enforced", dir);
            return 1;
        }
        if (make_image(img, bytes, err, errsize) < 0)
            return 1;
        st.st_size = (off_t)bytes;
    }
    if ((uint64_t)st.st_size < bytes) {
        /* nothing uses it now (storage_grows): unmount, grow, mount again; a
         * failed grow leaves the old size enforced */
        if (dev && umount2(dir, 0) < 0) {
            snprintf(err, errsize, "umount %s to grow it: %s", dir, strerror(errno));
            return 1;
        }
        dev = 0;
        if (grow_image(img, bytes, err, errsize) < 0 && mount_image(img, dir, err, errsize) == 0)
            return 1;
    }
    if (!dev && mount_image(img, dir, err, errsize) < 0)
        return 1;
    return 0;
}

static int unmount(const char *dir, char *err, size_t errsize)
{
    if (!mounted_dev(dir))
        return 0;
    /* busy only if something still uses it: detach it, the loop device
     * (autoclear) goes with the last user */
    if (umount2(dir, 0) < 0 && umount2(dir, MNT_DETACH) < 0) {
        snprintf(err, errsize, "umount %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT)
        log_warn("storage", "cannot remove %s: %s", path, strerror(errno));
    return 0;
}

int storage_remove(const char *data_dir, int64_t id, char *err, size_t errsize)
{
    char dir[4200], img[4200];
    storage_path(data_dir, id, dir, sizeof dir);
    image_path(data_dir, id, img, sizeof img);
    err[0] = '\0';
    if (unmount(dir, err, errsize) < 0)
        return -1;
    /* FTW_MOUNT: never into a file system mounted below (there should be none) */
    if (nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) < 0 && errno != ENOENT) {
        snprintf(err, errsize, "remove %s: %s", dir, strerror(errno));
        return -1;
    }
    if (unlink(img) < 0 && errno != ENOENT) {
        snprintf(err, errsize, "remove %s: %s", img, strerror(errno));
        return -1;
    }
    return 0;
}

void storage_release_all(const char *data_dir)
{
    char vols[4200];
    snprintf(vols, sizeof vols, "%s/volumes", data_dir);
    DIR *d = opendir(vols);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        char dir[4500], err[512];
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || strchr(e->d_name, '.'))
            continue;
        snprintf(dir, sizeof dir, "%s/%s", vols, e->d_name);
        if (unmount(dir, err, sizeof err) < 0)
            log_warn("storage", "%s", err);
    }
    closedir(d);
}

void storage_runtime_json(const char *data_dir, int64_t id, const char *tier, uint64_t bytes,
                          json_t *rt)
{
    char dir[4200];
    struct statvfs vfs;
    storage_path(data_dir, id, dir, sizeof dir);
    bool enforced = bytes && mounted_dev(dir) != 0;
    json_t *q = json_object();
    json_object_set_new(q, "bytes", bytes ? json_integer((json_int_t)bytes) : json_null());
    if (enforced && statvfs(dir, &vfs) == 0)
        json_object_set_new(
            q, "usedBytes",
            json_integer((json_int_t)((vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize)));
    json_object_set_new(q, "enforced", json_boolean(enforced));
    json_object_set_new(rt, "storage", tier && *tier ? json_string(tier) : json_null());
    json_object_set_new(rt, "storageQuota", q);
}
