/* hardware: the profiles a space can run on, and the GPUs they hand out.
 *
 * Profiles come from a JSON file (`hangar serve --hardware FILE`) or the
 * built-in defaults modelled on HF's cpu-basic and cpu-upgrade. GPUs are found
 * with `nvidia-smi -L` at start-up, or listed in the file ("gpus": [...]), and
 * are given to one space at a time: a request that cannot be met waits, it is
 * never oversubscribed. */
#ifndef HANGAR_HARDWARE_H
#define HANGAR_HARDWARE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define HARDWARE_DEFAULT "cpu-basic"
#define HARDWARE_MAX_GPUS 16

typedef struct hardware_profile {
    char name[32];
    char pretty_name[64];
    double cpus;
    uint64_t memory_bytes;
    int pids_max;
    int gpus;               /* how many GPUs a space on it gets */
    char gpu_model[64];     /* e.g. "A100", "" for any */
    uint64_t storage_bytes; /* /data quota, 0: none */
} hardware_profile;

/* Loads profiles from path (NULL: the defaults) and the GPU inventory.
 * Returns 0, or -1 with a message in err. */
int hardware_init(const char *path, char *err, size_t errsize);
void hardware_free(void);
const hardware_profile *hardware_find(const char *name);
/* GET /api/spaces/hardware in HF's shape. */
json_t *hardware_list_json(void);

/* GPUs: claim n of model for owner (a space id); fills ids (device indexes)
 * and returns 0, or -1 when not enough are free (reason in why). */
int hardware_claim_gpus(int64_t owner, int n, const char *model, int *ids, char *why,
                        size_t whysize);
void hardware_release_gpus(int64_t owner);
int hardware_gpu_count(void);
/* The uuid-or-index string of GPU id for CUDA_VISIBLE_DEVICES. */
const char *hardware_gpu_name(int id);
/* The device nodes a space holding GPUs ids[0..n) gets (each appears in the
 * space as /dev/<its name>), into out
 * (NULL-terminated, at most max-1): each GPU's node, then the driver's
 * control nodes (nvidiactl, nvidia-uvm...) that exist on this host. */
int hardware_gpu_devices(const int *ids, int n, const char **out, int max);

#endif
