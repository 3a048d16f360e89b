#include "space/hardware.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

#define MAX_PROFILES 64

typedef struct gpu {
    char name[128]; /* uuid or index, for CUDA_VISIBLE_DEVICES */
    char model[64];
    char device[512]; /* its node, /dev/nvidiaN */
    int64_t owner;    /* space id, 0 when free */
} gpu;

static hardware_profile profiles[MAX_PROFILES];
static size_t nprofiles;
static gpu gpus[HARDWARE_MAX_GPUS];
static int ngpus;

static const hardware_profile defaults[] = {
    {"cpu-basic", "CPU basic", 2, 16ULL << 30, 1024, 0, "", 0},
    {"cpu-upgrade", "CPU upgrade", 8, 32ULL << 30, 4096, 0, "", 0},
};

static int parse_profile(json_t *item, hardware_profile *p, char *err, size_t errsize)
{
    const char *name = json_string_value(json_object_get(item, "name"));
    json_t *cpu = json_object_get(item, "cpu"), *mem = json_object_get(item, "memory_mb");
    if (!name || strlen(name) >= sizeof p->name || !json_is_number(cpu) || !json_is_integer(mem) ||
        json_number_value(cpu) <= 0 || json_integer_value(mem) < 16) {
        snprintf(err, errsize, "each profile needs \"name\", \"cpu\" > 0 and \"memory_mb\" >= 16");
        return -1;
    }
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    const char *pretty = json_string_value(json_object_get(item, "prettyName"));
    snprintf(p->pretty_name, sizeof p->pretty_name, "%s", pretty ? pretty : name);
    p->cpus = json_number_value(cpu);
    p->memory_bytes = (uint64_t)json_integer_value(mem) << 20;
    json_t *pids = json_object_get(item, "pids"), *g = json_object_get(item, "gpus");
    json_t *storage = json_object_get(item, "storage_mb");
    p->pids_max = json_is_integer(pids) ? (int)json_integer_value(pids) : 1024;
    p->gpus = json_is_integer(g) ? (int)json_integer_value(g) : 0;
    const char *model = json_string_value(json_object_get(item, "gpu_model"));
    snprintf(p->gpu_model, sizeof p->gpu_model, "%s", model ? model : "");
    p->storage_bytes = json_is_integer(storage) ? (uint64_t)json_integer_value(storage) << 20 : 0;
    if (p->gpus < 0 || p->gpus > HARDWARE_MAX_GPUS || p->pids_max < 16) {
        snprintf(err, errsize, "profile %s: gpus must be 0..%d and pids >= 16", name,
                 HARDWARE_MAX_GPUS);
        return -1;
    }
    return 0;
}

/* device: the GPU's node; NULL for /dev/nvidia<position>, as the driver
 * numbers them in nvidia-smi's order. */
static void add_gpu(const char *name, const char *model, const char *device)
{
    if (ngpus >= HARDWARE_MAX_GPUS)
        return;
    snprintf(gpus[ngpus].name, sizeof gpus[ngpus].name, "%s", name);
    snprintf(gpus[ngpus].model, sizeof gpus[ngpus].model, "%s", model);
    if (device)
        snprintf(gpus[ngpus].device, sizeof gpus[ngpus].device, "%s", device);
    else
        snprintf(gpus[ngpus].device, sizeof gpus[ngpus].device, "/dev/nvidia%d", ngpus);
    gpus[ngpus].owner = 0;
    ngpus++;
}

/* "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)" per line. */
static void probe_nvidia_smi(void)
{
    FILE *p = popen("nvidia-smi -L 2>/dev/null", "r");
    if (!p)
        return;
    char line[512];
    while (fgets(line, sizeof line, p)) {
        char *colon = strchr(line, ':'), *uuid = strstr(line, "(UUID: ");
        if (strncmp(line, "GPU ", 4) != 0 || !colon || !uuid)
            continue;
        char model[64];
        snprintf(model, sizeof model, "%.*s", (int)(uuid - colon - 3), colon + 2);
        char *end = strchr(uuid + 7, ')');
        char name[128];
        snprintf(name, sizeof name, "%.*s", end ? (int)(end - uuid - 7) : 0, uuid + 7);
        int index = atoi(line + 4);
        char device[64];
        snprintf(device, sizeof device, "/dev/nvidia%d", index);
        add_gpu(name, model, device);
    }
    pclose(p);
    if (ngpus)
        log_info("hardware", "found %d GPU(s) with nvidia-smi", ngpus);
}

static int load_file(const char *path, char *err, size_t errsize)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    int rc = -1;
    if (!root) {
        snprintf(err, errsize, "%s: %s (line %d)", path, jerr.text, jerr.line);
        return -1;
    }
    json_t *list = json_object_get(root, "profiles"), *item;
    size_t i;
    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > MAX_PROFILES) {
        snprintf(err, errsize, "%s: \"profiles\" must be a list of 1..%d profiles", path,
                 MAX_PROFILES);
        goto done;
    }
    json_array_foreach(list, i, item)
    {
        if (parse_profile(item, &profiles[nprofiles], err, errsize) < 0)
            goto done;
        nprofiles++;
    }
    json_t *inventory = json_object_get(root, "gpus");
    json_array_foreach(inventory, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *model = json_string_value(json_object_get(item, "model"));
        const char *device = json_string_value(json_object_get(item, "device"));
        if (device &&
            (device[0] != '/' || strstr(device, "/..") || device[strlen(device) - 1] == '/' ||
             strlen(device) >= sizeof gpus[0].device)) {
            snprintf(err, errsize, "%s: gpu %s: \"device\" must be the absolute path of its node",
                     path, name ? name : "?");
            goto done;
        }
        if (name)
            add_gpu(name, model ? model : "", device);
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

int hardware_init(const char *path, char *err, size_t errsize)
{
    nprofiles = 0;
    ngpus = 0;
    if (path && *path) {
        if (load_file(path, err, errsize) < 0)
            return -1;
    } else {
        memcpy(profiles, defaults, sizeof defaults);
        nprofiles = sizeof defaults / sizeof defaults[0];
    }
    if (ngpus == 0)
        probe_nvidia_smi();
    if (!hardware_find(HARDWARE_DEFAULT) && path) {
        snprintf(err, errsize, "%s: a profile named %s is required (the default)", path,
                 HARDWARE_DEFAULT);
        return -1;
    }
    return 0;
}

void hardware_free(void)
{
    nprofiles = 0;
    ngpus = 0;
}

const hardware_profile *hardware_find(const char *name)
{
    for (size_t i = 0; i < nprofiles; i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    return NULL;
}

json_t *hardware_list_json(void)
{
    json_t *list = json_array();
    for (size_t i = 0; i < nprofiles; i++) {
        const hardware_profile *p = &profiles[i];
        /* HF writes cpu and ram as text ("2 vCPU", "16 GB"); clients parse them so. */
        char cpu[32], ram[32], disk[32];
        snprintf(cpu, sizeof cpu, "%g vCPU", p->cpus);
        snprintf(ram, sizeof ram, "%g GB", (double)p->memory_bytes / (1ULL << 30));
        if (p->storage_bytes)
            snprintf(disk, sizeof disk, "%g GB", (double)p->storage_bytes / (1ULL << 30));
        else
            snprintf(disk, sizeof disk, "unlimited");
        json_t *item =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:s}", "name", p->name, "prettyName",
                      p->pretty_name, "cpu", cpu, "ram", ram, "ephemeralStorage", disk,
                      "unitCostMicroUSD", 0, "unitCostUSD", 0.0, "unitLabel", "hour");
        if (item && p->gpus > 0)
            json_object_set_new(item, "accelerator",
                                json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", "gpu", "model",
                                          p->gpu_model[0] ? p->gpu_model : "any", "quantity",
                                          p->gpus, "vram", "unknown", "manufacturer", "NVIDIA"));
        json_array_append_new(list, item);
    }
    return list;
}

static bool model_matches(const gpu *g, const char *model)
{
    return !model || !*model || strstr(g->model, model) != NULL;
}

int hardware_claim_gpus(int64_t owner, int n, const char *model, int *ids, char *why,
                        size_t whysize)
{
    int free_count = 0, matching = 0;
    for (int i = 0; i < ngpus; i++) {
        if (!model_matches(&gpus[i], model))
            continue;
        matching++;
        if (gpus[i].owner == 0 || gpus[i].owner == owner)
            free_count++;
    }
    if (free_count < n) {
        if (matching < n)
            snprintf(why, whysize, "this host has %d %s GPU(s); the hardware asks for %d", matching,
                     model && *model ? model : "", n);
        else
            snprintf(why, whysize, "waiting for %d GPU(s): %d of %d are in use by other spaces", n,
                     matching - free_count, matching);
        return -1;
    }
    int got = 0;
    for (int i = 0; i < ngpus && got < n; i++) {
        if (!model_matches(&gpus[i], model) || (gpus[i].owner && gpus[i].owner != owner))
            continue;
        gpus[i].owner = owner;
        ids[got++] = i;
    }
    return 0;
}

void hardware_release_gpus(int64_t owner)
{
    for (int i = 0; i < ngpus; i++)
        if (gpus[i].owner == owner)
            gpus[i].owner = 0;
}

int hardware_gpu_count(void)
{
    return ngpus;
}

const char *hardware_gpu_name(int id)
{
    return id >= 0 && id < ngpus ? gpus[id].name : "";
}

int hardware_gpu_devices(const int *ids, int n, const char **out, int max)
{
    static const char *const control[] = {"/dev/nvidiactl", "/dev/nvidia-uvm",
                                          "/dev/nvidia-uvm-tools", "/dev/nvidia-modeset"};
    int k = 0;
    for (int i = 0; i < n && k + 1 < max; i++)
        if (ids[i] >= 0 && ids[i] < ngpus)
            out[k++] = gpus[ids[i]].device;
    for (size_t i = 0; n > 0 && i < sizeof control / sizeof control[0] && k + 1 < max; i++)
        if (access(control[i], F_OK) == 0)
            out[k++] = control[i];
    out[k] = NULL;
    return k;
}
