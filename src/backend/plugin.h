/* Internal: the contract between libborn and a device plugin (libborn-cuda.so). The plugin is
 * built from the same tree and loaded with dlopen; it exports one function, born_plugin_open,
 * and reaches libborn only through the host table it is given (it links no libborn symbol, so it
 * works whether the program linked libborn statically or dynamically). */
#ifndef BORN_BACKEND_PLUGIN_H
#define BORN_BACKEND_PLUGIN_H

#include "backend/backend.h"
#include "backend/llm_device.h"

/* Bumped whenever this header or born_backend changes shape. */
#define BORN_PLUGIN_ABI 9

/* What libborn lends the plugin. */
typedef struct born_plugin_host {
    int abi;                   /* BORN_PLUGIN_ABI */
    size_t backend_size;       /* sizeof(born_backend) as libborn sees it */
    /* Records an error on the calling thread (first error sticks); returns status. */
    born_status (*error)(born_status status, const char *message);
    const char *(*dtype_name)(born_dtype dtype);
    const char *(*unary_op_name)(born_unary_op op);
    const char *(*binary_op_name)(born_binary_op op);
    void (*clear_error)(void); /* forgets the calling thread's error (after a fallback worked) */
} born_plugin_host;

/* What the plugin gives back. */
typedef struct born_plugin_info {
    const born_backend *backend;
    int device_count;        /* 0: no usable GPU (why says why) */
    char why[256];
    born_status (*memory_stats)(int device, born_cuda_mem_stats *stats);
    born_status (*empty_cache)(int device);
    const llm_device_ops *llm; /* the LLM decoder (src/backend/llm_device.h), or NULL */
} born_plugin_info;

/* The plugin's one export: fills *info (device_count 0 and why set when there is no driver or
 * GPU); returns BORN_OK, or an error status with info->why set when the plugin cannot serve this
 * libborn (ABI mismatch). */
typedef born_status (*born_plugin_open_fn)(const born_plugin_host *host, born_plugin_info *info);

#define BORN_PLUGIN_ENTRY "born_plugin_open"

#endif
