/* Which backend serves which device. The CPU backend is built in. A CUDA backend, when built,
 * lives in libborn-cuda.so and is loaded with dlopen at start-up, so one binary runs everywhere
 * and uses a GPU when one is there. The plugin exports born_plugin_backend(), which returns its
 * vtable and the number of devices it found (0 when there is no GPU or driver). */
#include <dlfcn.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "core/error.h"

typedef const born_backend *(*plugin_entry_fn)(int *device_count);

static const born_backend *cuda_backend;
static int cuda_devices;

void backend_registry_init(void);
void backend_registry_init(void) {
    const char *path = getenv("BORN_CUDA_PLUGIN");
    void *lib = dlopen(path && *path ? path : "libborn-cuda.so", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    plugin_entry_fn entry = (plugin_entry_fn)dlsym(lib, "born_plugin_backend");
    int count = 0;
    const born_backend *be = entry ? entry(&count) : NULL;
    if (!be || count <= 0) {
        dlclose(lib);
        return;
    }
    cuda_backend = be;
    cuda_devices = count;
}

int born_device_count(born_device_type type) {
    born_ensure_init();
    if (type == BORN_DEVICE_CPU) return 1;
    if (type == BORN_DEVICE_CUDA) return cuda_devices;
    return 0;
}

const born_backend *backend_for(born_device device) {
    if (device.type == BORN_DEVICE_CPU) return cpu_backend();
    if (device.type == BORN_DEVICE_CUDA && cuda_backend && device.index >= 0 &&
        device.index < cuda_devices)
        return cuda_backend;
    char name[32];
    if (device.type == BORN_DEVICE_CUDA && cuda_devices == 0)
        return born_error_null(BORN_ERR_DEVICE, "%s: no CUDA device is available (no GPU, no "
                               "driver, or libborn-cuda.so not found)",
                               born_device_name(device, name, sizeof name));
    return born_error_null(BORN_ERR_DEVICE, "%s: no such device",
                           born_device_name(device, name, sizeof name));
}
