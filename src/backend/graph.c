/* CUDA graphs (include/born/graph.h): the device-independent part. The backend records the work
 * (graph_begin / graph_end), replays it and frees it; here the arguments are checked, the step runs
 * in its own scope between begin and end, and a failure inside the step becomes the capture's
 * error with the step's message kept. Which devices are capturing is kept per device index. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend.h"
#include "born/graph.h"

enum { GRAPH_DEVICES = 64 };

struct born_graph {
    born_device device;
    const born_backend *be;
    void *handle;
};

static atomic_bool capturing[GRAPH_DEVICES];

bool born_graph_capturing(born_device device) {
    return device.type == BORN_DEVICE_CUDA && device.index >= 0 &&
           device.index < GRAPH_DEVICES && atomic_load(&capturing[device.index]);
}

/* The backend of device if it can capture graphs; NULL with an error naming fn otherwise. */
static const born_backend *graph_backend(const char *fn, born_device device) {
    char name[32];
    born_device_name(device, name, sizeof name);
    if (device.type != BORN_DEVICE_CUDA)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: %s cannot capture graphs (its ops run "
                               "as they are called; graphs need a CUDA device)", fn, name);
    born_ensure_init();
    const born_backend *be = backend_for(device);
    if (!be) return NULL;
    if (!be->graph_begin || device.index >= GRAPH_DEVICES)
        return born_error_null(BORN_ERR_UNSUPPORTED, "%s: the %s backend of %s cannot capture "
                               "graphs", fn, be->name, name);
    return be;
}

born_graph *born_graph_capture(born_device device, born_graph_fn fn, void *ctx) {
    static const char name[] = "born_graph_capture";
    if (!fn) return born_error_null(BORN_ERR_ARGUMENT, "%s: fn is NULL", name);
    const born_backend *be = graph_backend(name, device);
    if (!be) return NULL;
    born_graph *g = calloc(1, sizeof *g);
    if (!g) return born_error_null(BORN_ERR_MEMORY, "%s: out of memory", name);
    g->device = device;
    g->be = be;
    bool had_error = born_has_error();
    born_status st = be->graph_begin(device.index);
    if (st != BORN_OK) {
        free(g);
        return NULL;
    }
    atomic_store(&capturing[device.index], true);
    born_scope_begin();
    born_status fst = fn(ctx);
    born_scope_end();
    atomic_store(&capturing[device.index], false);
    if (fst == BORN_OK && !had_error && born_has_error()) fst = born_last_status();
    if (fst != BORN_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", born_has_error() ? born_last_error() : "no message");
        born_status why = born_has_error() ? born_last_status() : fst;
        void *h = NULL;
        born_clear_error();
        be->graph_end(device.index, false, &h);
        born_clear_error();
        free(g);
        return born_error_null(why, "%s: the step failed while capturing: %s", name, msg);
    }
    st = be->graph_end(device.index, true, &g->handle);
    if (st != BORN_OK) {
        free(g);
        return NULL;
    }
    return g;
}

born_status born_graph_replay(born_graph *g) {
    if (!g) return born_error(BORN_ERR_ARGUMENT, "born_graph_replay: the graph is NULL");
    if (born_graph_capturing(g->device))
        return born_error(BORN_ERR_ARGUMENT, "born_graph_replay: cuda:%d is capturing a graph "
                         "(graphs are replayed outside captures)", g->device.index);
    return g->be->graph_replay(g->device.index, g->handle);
}

void born_graph_free(born_graph *g) {
    if (!g) return;
    g->be->graph_free(g->device.index, g->handle);
    free(g);
}
