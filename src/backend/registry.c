/* Which backend serves which device. The CPU backend is built in. The CUDA backend lives in
 * libborn-cuda.so and is loaded with dlopen at start-up, so one binary runs everywhere and uses a
 * GPU when one is there. The plugin is looked for at $BORN_CUDA_PLUGIN, then beside the running
 * program, then beside libborn.so, then on the loader's search path. The NVIDIA driver is asked
 * first whether there is a GPU at all, so that a machine without one never maps the plugin and the
 * CUDA libraries it links (cuBLASLt alone is over 100 MiB of resident pages). Whatever goes wrong
 * (no driver, no GPU, no plugin, a plugin from another build) is kept as a reason string that
 * every later use of a CUDA device reports; nothing here crashes or prints. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/llm_device.h"
#include "backend/plugin.h"
#include "core/error.h"

static const born_backend *cuda_backend;
static int cuda_devices;
static born_plugin_info cuda_info;
static char cuda_why[320] = "the CUDA plugin was not looked for";

static born_status host_error(born_status status, const char *message) {
    return born_error(status, "%s", message);
}

static const born_plugin_host host = {
    .abi = BORN_PLUGIN_ABI,
    .backend_size = sizeof(born_backend),
    .error = host_error,
    .dtype_name = born_dtype_name,
    .unary_op_name = born_unary_op_name,
    .binary_op_name = born_binary_op_name,
    .clear_error = born_clear_error,
};

/* dlopen of dir/libborn-cuda.so, where dir is the directory part of path. */
static void *open_beside(const char *path) {
    if (!path) return NULL;
    const char *slash = strrchr(path, '/');
    if (!slash) return NULL;
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%.*s/libborn-cuda.so", (int)(slash - path), path);
    if (n <= 0 || (size_t)n >= sizeof buf || access(buf, F_OK) != 0) return NULL;
    return dlopen(buf, RTLD_NOW | RTLD_LOCAL);
}

static void *open_plugin(char *err, size_t err_size) {
    const char *env = getenv("BORN_CUDA_PLUGIN");
    if (env && *env) {
        void *lib = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!lib) snprintf(err, err_size, "%s", dlerror());
        return lib;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    void *lib = NULL;
    if (n > 0) {
        exe[n] = 0;
        lib = open_beside(exe);
    }
    Dl_info self;
    if (!lib && dladdr((void *)open_plugin, &self)) lib = open_beside(self.dli_fname);
    if (!lib) lib = dlopen("libborn-cuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) snprintf(err, err_size, "%s", dlerror());
    return lib;
}

/* Whether the NVIDIA driver (libcuda.so.1) is present and sees at least one device; if not, why
 * goes into why_out. The driver stays loaded: the plugin's runtime uses it next. */
static bool driver_sees_a_gpu(char *why_out, size_t why_size) {
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
        snprintf(why_out, why_size, "no CUDA driver: %s", dlerror());
        return false;
    }
    typedef int (*cu_init_fn)(unsigned flags);
    typedef int (*cu_device_count_fn)(int *count);
    cu_init_fn cu_init = (cu_init_fn)dlsym(driver, "cuInit");
    cu_device_count_fn cu_device_count = (cu_device_count_fn)dlsym(driver, "cuDeviceGetCount");
    if (!cu_init || !cu_device_count) {
        snprintf(why_out, why_size, "no CUDA driver: libcuda.so.1 lacks cuInit/cuDeviceGetCount");
        return false;
    }
    int status = cu_init(0), count = 0;
    if (status == 0) status = cu_device_count(&count);
    if (status != 0) {
        snprintf(why_out, why_size,
                 "the CUDA driver found no usable GPU (cuInit/cuDeviceGetCount error %d)", status);
        return false;
    }
    if (count <= 0) {
        snprintf(why_out, why_size, "no CUDA GPU found");
        return false;
    }
    return true;
}

void backend_registry_init(void);
void backend_registry_init(void) {
    if (!driver_sees_a_gpu(cuda_why, sizeof cuda_why)) return;
    char err[256] = "";
    void *lib = open_plugin(err, sizeof err);
    if (!lib) {
        snprintf(cuda_why, sizeof cuda_why, "libborn-cuda.so could not be loaded (%s)", err);
        return;
    }
    born_plugin_open_fn open = (born_plugin_open_fn)dlsym(lib, BORN_PLUGIN_ENTRY);
    if (!open) {
        snprintf(cuda_why, sizeof cuda_why, "libborn-cuda.so has no %s entry", BORN_PLUGIN_ENTRY);
        dlclose(lib);
        return;
    }
    memset(&cuda_info, 0, sizeof cuda_info);
    born_status st = open(&host, &cuda_info);
    cuda_info.why[sizeof cuda_info.why - 1] = 0;
    if (st != BORN_OK || !cuda_info.backend || cuda_info.device_count <= 0) {
        snprintf(cuda_why, sizeof cuda_why, "%s",
                 cuda_info.why[0] ? cuda_info.why : "the CUDA plugin found no device");
        /* the plugin stays loaded: the CUDA runtime does not always unload cleanly */
        return;
    }
    cuda_backend = cuda_info.backend;
    cuda_devices = cuda_info.device_count;
    cuda_why[0] = 0;
}

int born_device_count(born_device_type type) {
    born_ensure_init();
    if (type == BORN_DEVICE_CPU) return 1;
    if (type == BORN_DEVICE_CUDA) return cuda_devices;
    return 0;
}

const char *born_cuda_unavailable_reason(void) {
    born_ensure_init();
    return cuda_why;
}

const born_backend *backend_for(born_device device) {
    if (device.type == BORN_DEVICE_CPU) return cpu_backend();
    if (device.type == BORN_DEVICE_CUDA && cuda_backend && device.index >= 0 &&
        device.index < cuda_devices)
        return cuda_backend;
    char name[32];
    born_device_name(device, name, sizeof name);
    if (device.type == BORN_DEVICE_CUDA && cuda_devices == 0)
        return born_error_null(BORN_ERR_DEVICE, "%s: no CUDA device is available: %s", name,
                               cuda_why);
    if (device.type == BORN_DEVICE_CUDA)
        return born_error_null(BORN_ERR_DEVICE, "%s: no such device (%d CUDA device%s found)", name,
                               cuda_devices, cuda_devices == 1 ? "" : "s");
    return born_error_null(BORN_ERR_DEVICE, "%s: no such device", name);
}

born_status born_synchronize(born_device device) {
    born_ensure_init();
    const born_backend *be = backend_for(device);
    if (!be) return born_last_status();
    return be->synchronize(device.index);
}

/* True when cuda:device is usable; otherwise records an error naming fn and the reason. */
static bool cuda_ready(const char *fn, int device) {
    born_ensure_init();
    if (device >= 0 && device < cuda_devices) return true;
    if (cuda_devices == 0)
        born_error(BORN_ERR_DEVICE, "%s: cuda:%d: no CUDA device is available: %s", fn, device,
                   cuda_why);
    else
        born_error(BORN_ERR_DEVICE, "%s: cuda:%d: no such device (%d CUDA device%s found)", fn,
                   device, cuda_devices, cuda_devices == 1 ? "" : "s");
    return false;
}

born_status born_cuda_memory_stats(int device, born_cuda_mem_stats *stats) {
    if (!stats) return born_error(BORN_ERR_ARGUMENT, "born_cuda_memory_stats: stats is NULL");
    if (!cuda_ready("born_cuda_memory_stats", device)) return born_last_status();
    return cuda_info.memory_stats(device, stats);
}

const llm_device_ops *backend_llm_ops(born_device device) {
    born_ensure_init();
    if (device.type != BORN_DEVICE_CUDA) {
        char name[32];
        born_device_name(device, name, sizeof name);
        return born_error_null(BORN_ERR_DEVICE, "%s has no device LLM decoder (the CPU runs the "
                               "model itself)", name);
    }
    if (!backend_for(device)) return NULL;
    if (!cuda_info.llm)
        return born_error_null(BORN_ERR_DEVICE, "cuda:%d: the CUDA plugin has no LLM decoder",
                               device.index);
    return cuda_info.llm;
}

born_status born_cuda_empty_cache(int device) {
    if (!cuda_ready("born_cuda_empty_cache", device)) return born_last_status();
    return cuda_info.empty_cache(device);
}
