/* Library start-up and device naming. Initialisation is lazy and idempotent: the first tensor
 * made, or an explicit born_init, detects CPU features and looks for device plugins. */
#include <pthread.h>
#include <stdio.h>

#include "backend/backend.h"
#include "core/cpu_features.h"
#include "core/tensor_impl.h"

void backend_registry_init(void);

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void init_body(void) {
    cpu_get_level();
    backend_registry_init();
}

void born_ensure_init(void) { pthread_once(&init_once, init_body); }

void born_init(void) { born_ensure_init(); }

const char *born_version(void) { return BORN_VERSION; }

bool born_device_equal(born_device a, born_device b) {
    return a.type == b.type && (a.type == BORN_DEVICE_CPU || a.index == b.index);
}

const char *born_device_name(born_device device, char *buf, size_t size) {
    if (device.type == BORN_DEVICE_CPU)
        snprintf(buf, size, "cpu");
    else if (device.type == BORN_DEVICE_CUDA)
        snprintf(buf, size, "cuda:%d", device.index);
    else
        snprintf(buf, size, "device(%d):%d", (int)device.type, device.index);
    return buf;
}
