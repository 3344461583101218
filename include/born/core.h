/* Born core (layer 1): errors, dtypes, devices, tensor handles and their lifetime, creation,
 * element access, random numbers and threads.
 *
 * Ownership in one paragraph: every function that returns a `born_tensor *` returns a new
 * reference. Inside a scope (born_scope_begin/end) that reference belongs to the innermost scope
 * and is released when the scope ends; outside any scope it belongs to the caller, who releases it
 * with born_free. born_keep moves a tensor out to the enclosing scope (or to the caller). */
#ifndef BORN_CORE_H
#define BORN_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define BORN_API __attribute__((visibility("default")))
#else
#define BORN_API
#endif

#define BORN_VERSION_MAJOR 0
#define BORN_VERSION_MINOR 1
#define BORN_VERSION_PATCH 0
#define BORN_VERSION "0.1.0"

/* The most dimensions a tensor may have. */
#define BORN_MAX_DIMS 8

/* A shape or dimension list literal: born_zeros(BORN_F32, BORN_DIMS(2, 3)) passes 2, {2, 3}. */
#define BORN_DIMS(...)                                                                     \
    (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),                       \
        (const int64_t[]) { __VA_ARGS__ }

/* ------------------------------------------------------------------------------------------ */
/* Library                                                                                      */

/* The library's version as "major.minor.patch"; a static string. */
BORN_API const char *born_version(void);

/* Initialises the library (thread pool, CPU detection, optional device plugins). Calling it is
 * optional, since every entry point initialises lazily; calling it twice is harmless. */
BORN_API void born_init(void);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                       */

typedef enum born_status {
    BORN_OK = 0,
    BORN_ERR_ARGUMENT,    /* a bad argument: NULL, a dimension out of range, a bad option */
    BORN_ERR_SHAPE,       /* shapes that do not fit together */
    BORN_ERR_DTYPE,       /* a dtype the operation does not accept */
    BORN_ERR_DEVICE,      /* tensors on different devices, or a device that is not there */
    BORN_ERR_MEMORY,      /* an allocation failed */
    BORN_ERR_IO,          /* reading or writing a file failed */
    BORN_ERR_FORMAT,      /* a malformed file or message */
    BORN_ERR_UNSUPPORTED, /* valid, but not supported by this build or device */
    BORN_ERR_AUTOGRAD,    /* autograd misuse: a freed graph, a saved tensor modified in place */
    BORN_ERR_INTERNAL     /* a bug in Born; please report it */
} born_status;

/* The message of the first error recorded on this thread since the last born_clear_error, or ""
 * when there is none. The string stays valid until born_clear_error on this thread. */
BORN_API const char *born_last_error(void);

/* The status of that first error, BORN_OK when there is none. */
BORN_API born_status born_last_status(void);

/* Forgets this thread's recorded error so that the next failure is recorded. */
BORN_API void born_clear_error(void);

/* A short English name for a status ("shape error"); a static string. */
BORN_API const char *born_status_name(born_status status);

/* ------------------------------------------------------------------------------------------ */
/* Dtypes                                                                                       */

/* Element types. The numbering is part of the ABI: values are only ever appended. */
typedef enum born_dtype {
    BORN_F32 = 0,
    BORN_F64,
    BORN_F16,
    BORN_BF16,
    BORN_I8,
    BORN_I16,
    BORN_I32,
    BORN_I64,
    BORN_U8,
    BORN_BOOL,
    /* Block-quantized types with GGUF's (ggml's) exact layouts: a block of
     * born_dtype_block_size() elements takes born_dtype_block_bytes() bytes. Tensors of these
     * types are weights: born_to_dtype (de)quantizes them, born_linear / born_matmul take them as
     * the weight, born_embedding gathers their rows, and views that keep rows whole apply; other
     * ops refuse them with a message saying so. */
    BORN_Q4_0,
    BORN_Q4_1,
    BORN_Q5_0,
    BORN_Q5_1,
    BORN_Q8_0,
    BORN_Q8_1,
    BORN_Q2_K,
    BORN_Q3_K,
    BORN_Q4_K,
    BORN_Q5_K,
    BORN_Q6_K,
    BORN_Q8_K,
    BORN_IQ4_NL,
    BORN_IQ4_XS,
    BORN_DTYPE_COUNT
} born_dtype;

/* The dtype's short name ("f32", "bf16", "bool"), or "invalid"; a static string. */
BORN_API const char *born_dtype_name(born_dtype dtype);

/* Bytes per element, or 0 for an invalid dtype and for the block-quantized dtypes (whose sizes
 * are per block: born_dtype_block_bytes). */
BORN_API size_t born_dtype_size(born_dtype dtype);

/* True for the block-quantized dtypes (BORN_Q4_0 ... BORN_IQ4_XS). */
BORN_API bool born_dtype_is_quantized(born_dtype dtype);

/* Elements per block (32 or 256 for quantized dtypes, 1 for the others; 0 if invalid). */
BORN_API int64_t born_dtype_block_size(born_dtype dtype);

/* Bytes per block (the element size for dtypes that are not quantized; 0 if invalid). */
BORN_API size_t born_dtype_block_bytes(born_dtype dtype);

/* Bytes that numel elements take (numel a multiple of the block size). */
BORN_API size_t born_dtype_nbytes(born_dtype dtype, int64_t numel);

/* True for f32, f64, f16 and bf16. */
BORN_API bool born_dtype_is_floating(born_dtype dtype);

/* True for the signed and unsigned integer dtypes (not bool). */
BORN_API bool born_dtype_is_integer(born_dtype dtype);

/* The dtype that both a and b convert to without losing their category, as torch.promote_types:
 * bool < integers < floats; u8 with i8 gives i16; f16 with bf16 gives f32. */
BORN_API born_dtype born_promote_types(born_dtype a, born_dtype b);

/* IEEE-754 binary16 and bfloat16 conversions, rounding to nearest even; NaN and Inf preserved. */
BORN_API uint16_t born_f32_to_f16(float value);
BORN_API float born_f16_to_f32(uint16_t bits);
BORN_API uint16_t born_f32_to_bf16(float value);
BORN_API float born_bf16_to_f32(uint16_t bits);

/* ------------------------------------------------------------------------------------------ */
/* Devices                                                                                      */

typedef enum born_device_type { BORN_DEVICE_CPU = 0, BORN_DEVICE_CUDA = 1 } born_device_type;

typedef struct born_device {
    born_device_type type;
    int index;
} born_device;

#define BORN_CPU ((born_device){BORN_DEVICE_CPU, 0})
#define BORN_CUDA(i) ((born_device){BORN_DEVICE_CUDA, (i)})

/* True when a and b name the same device. */
BORN_API bool born_device_equal(born_device a, born_device b);

/* How many devices of the type this process can use (CPU: 1; CUDA: 0 without a GPU or plugin). */
BORN_API int born_device_count(born_device_type type);

/* Writes the device's name ("cpu", "cuda:1") into buf (always NUL-terminated); returns buf. */
BORN_API const char *born_device_name(born_device device, char *buf, size_t buf_size);

/* Waits until all work queued on the device has finished, and reports any error the device met
 * while running it. CPU work is synchronous, so for the CPU this returns BORN_OK at once. */
BORN_API born_status born_synchronize(born_device device);

/* Why no CUDA device can be used ("libborn-cuda.so not found: ...", "no CUDA driver: ..."), or ""
 * when at least one can. The string is static. */
BORN_API const char *born_cuda_unavailable_reason(void);

/* The CUDA caching allocator's counters for one device, in bytes and calls. "allocated" is what
 * live tensors hold; "reserved" is what the allocator holds from the driver (allocated + cached). */
typedef struct born_cuda_mem_stats {
    size_t allocated, peak_allocated;
    size_t reserved, peak_reserved;
    uint64_t allocations;        /* allocation requests served */
    uint64_t cache_hits;         /* of those, served from the cache without asking the driver */
    uint64_t device_allocations; /* cudaMalloc calls */
    uint64_t device_frees;       /* cudaFree calls (cache releases) */
} born_cuda_mem_stats;

/* Fills *stats with the counters of cuda:device. Fails with BORN_ERR_DEVICE when that device is
 * not available. */
BORN_API born_status born_cuda_memory_stats(int device, born_cuda_mem_stats *stats);

/* Returns the cached, unused blocks of cuda:device to the driver (after waiting for the device).
 * Memory held by live tensors is untouched. */
BORN_API born_status born_cuda_empty_cache(int device);

/* ------------------------------------------------------------------------------------------ */
/* Tensor handles and lifetime                                                                  */

typedef struct born_tensor born_tensor;

/* Opens a scope on this thread: tensors returned from now on belong to it. */
BORN_API void born_scope_begin(void);

/* Closes this thread's innermost scope, releasing every tensor it still owns. Safe to call when no
 * scope is open (it does nothing), so error paths may always call it. */
BORN_API void born_scope_end(void);

/* How many scopes are open on this thread. */
BORN_API int born_scope_depth(void);

/* Moves t from the innermost scope to the enclosing one, or to the caller when it was the
 * outermost, so it outlives born_scope_end. Returns t; does nothing to a tensor that the innermost
 * scope does not own (or to NULL). */
BORN_API born_tensor *born_keep(born_tensor *t);

/* Adds a reference owned by the caller; release it with born_free. Returns t. */
BORN_API born_tensor *born_tensor_retain(born_tensor *t);

/* Drops one reference: the scope's, if a scope still owns t (so a tensor can be freed before its
 * scope ends), else the caller's. The tensor dies with its last reference. NULL is ignored. */
BORN_API void born_free(born_tensor *t);

/* ------------------------------------------------------------------------------------------ */
/* Tensor properties (borrowed views of the handle; t must not be NULL)                        */

BORN_API born_dtype born_tensor_dtype(const born_tensor *t);
BORN_API born_device born_tensor_device(const born_tensor *t);
BORN_API int born_tensor_ndim(const born_tensor *t);

/* The tensor's sizes (ndim entries), borrowed from the handle. */
BORN_API const int64_t *born_tensor_shape(const born_tensor *t);

/* The tensor's strides in elements (ndim entries), borrowed from the handle. */
BORN_API const int64_t *born_tensor_strides(const born_tensor *t);

/* The size of dimension dim; negative dims count from the end. Returns -1 (and records an error)
 * when dim is out of range. */
BORN_API int64_t born_tensor_size(const born_tensor *t, int dim);

/* The number of elements (1 for a 0-dimensional tensor). */
BORN_API int64_t born_tensor_numel(const born_tensor *t);

/* The offset, in elements, of the tensor's first element within its storage. */
BORN_API int64_t born_tensor_offset(const born_tensor *t);

/* True when the elements are laid out row-major without gaps. */
BORN_API bool born_tensor_is_contiguous(const born_tensor *t);

/* True when a and b share storage (one is a view of the other, or both view a third). */
BORN_API bool born_tensor_shares_storage(const born_tensor *a, const born_tensor *b);

/* Writes a description such as "[2, 3] f32" into buf (always NUL-terminated); returns buf. */
BORN_API const char *born_tensor_describe(const born_tensor *t, char *buf, size_t buf_size);

/* ------------------------------------------------------------------------------------------ */
/* Creation. New tensors are on the CPU and contiguous; shapes are validated (sizes >= 0, at most
 * BORN_MAX_DIMS dimensions, a byte size that fits in memory).                                 */

/* A tensor with uninitialised contents. */
BORN_API born_tensor *born_empty(born_dtype dtype, int ndim, const int64_t *shape);
BORN_API born_tensor *born_zeros(born_dtype dtype, int ndim, const int64_t *shape);
BORN_API born_tensor *born_ones(born_dtype dtype, int ndim, const int64_t *shape);

/* A tensor filled with value, converted to dtype as born_to_dtype would. */
BORN_API born_tensor *born_full(born_dtype dtype, int ndim, const int64_t *shape, double value);

/* A 0-dimensional tensor holding value. */
BORN_API born_tensor *born_scalar(born_dtype dtype, double value);

/* Tensors shaped like t (same shape and dtype, contiguous). */
BORN_API born_tensor *born_zeros_like(const born_tensor *t);
BORN_API born_tensor *born_ones_like(const born_tensor *t);
BORN_API born_tensor *born_full_like(const born_tensor *t, double value);
BORN_API born_tensor *born_empty_like(const born_tensor *t);

/* Values start, start+step, ... below end (above end for a negative step), as torch.arange. */
BORN_API born_tensor *born_arange(double start, double end, double step, born_dtype dtype);

/* steps values evenly spaced from start to end inclusive, as torch.linspace. */
BORN_API born_tensor *born_linspace(double start, double end, int64_t steps, born_dtype dtype);

/* An n x m matrix with ones on the diagonal. */
BORN_API born_tensor *born_eye(int64_t n, int64_t m, born_dtype dtype);

/* A tensor holding a copy of data, which must be exactly numel x itemsize bytes long. */
BORN_API born_tensor *born_from_data(born_dtype dtype, int ndim, const int64_t *shape,
                                     const void *data, size_t nbytes);

/* Called when a borrowed buffer is no longer used by any tensor. */
typedef void (*born_release_fn)(void *data, void *ctx);

/* A tensor over the caller's buffer without copying (nbytes must equal numel x itemsize and data
 * must be aligned to the dtype). When the last tensor using it dies, release(data, ctx) is called
 * if release is not NULL; until then the caller keeps the buffer alive. When this call fails it
 * returns NULL and never calls release: the buffer is still the caller's. */
BORN_API born_tensor *born_from_buffer(born_dtype dtype, int ndim, const int64_t *shape,
                                       void *data, size_t nbytes, born_release_fn release,
                                       void *ctx);

/* ------------------------------------------------------------------------------------------ */
/* Element access (CPU tensors; other devices report BORN_ERR_DEVICE)                          */

/* The value of a one-element tensor, converted to double; on a device, the element is copied
 * back (waiting for the work queued there). Returns NaN and records an error if t does not have
 * exactly one element. */
BORN_API double born_item(const born_tensor *t);

/* Reads the element at index (ndim entries, negative entries count from the end) as double or
 * int64 (the latter exact for every integer dtype). */
BORN_API born_status born_get(const born_tensor *t, const int64_t *index, double *value);
BORN_API born_status born_get_i64(const born_tensor *t, const int64_t *index, int64_t *value);

/* Writes value, converted to t's dtype, at index. This is an in-place write: it fails on a
 * tensor that requires grad while grad mode is on. */
BORN_API born_status born_set(born_tensor *t, const int64_t *index, double value);

/* Copies the elements, in row-major order and t's dtype, into buf (nbytes = numel x itemsize). */
BORN_API born_status born_copy_to_buffer(const born_tensor *t, void *buf, size_t nbytes);

/* Typed pointers to a contiguous CPU tensor's first element (borrowed, valid while t lives).
 * They return NULL and record an error when the dtype differs or t is not contiguous. */
BORN_API float *born_data_f32(born_tensor *t);
BORN_API double *born_data_f64(born_tensor *t);
BORN_API int32_t *born_data_i32(born_tensor *t);
BORN_API int64_t *born_data_i64(born_tensor *t);
BORN_API uint8_t *born_data_u8(born_tensor *t);

/* The raw pointer to the first element of a CPU tensor of any dtype (NULL on other devices). */
BORN_API void *born_data_ptr(born_tensor *t);

/* ------------------------------------------------------------------------------------------ */
/* Printing                                                                                     */

typedef struct born_print_params {
    int precision;      /* digits after the point (default 4) */
    int64_t threshold;  /* more elements than this are elided (default 1000) */
    int edgeitems;      /* items shown at each end of an elided dimension (default 3) */
    int linewidth;      /* characters per line before wrapping (default 80) */
} born_print_params;

BORN_API born_print_params born_print_default_params(void);

/* Formats t as PyTorch's repr does ("tensor([[1., 2.],\n        [3., 4.]])"), eliding large
 * tensors. Returns a malloc'd string the caller frees with free(), or NULL on error. */
BORN_API char *born_format(const born_tensor *t, const born_print_params *params);

/* Writes born_format(t) and a newline to stream (stdout for born_print). */
BORN_API born_status born_fprint(FILE *stream, const born_tensor *t);
BORN_API born_status born_print(const born_tensor *t);

/* ------------------------------------------------------------------------------------------ */
/* Random numbers. A generator is counter-based (Philox4x32-10): the numbers a call produces depend
 * only on the seed and on how many numbers were drawn before, never on the machine or the number
 * of threads.                                                                                  */

typedef struct born_generator born_generator;

/* A new generator (owned; free with born_generator_free). */
BORN_API born_generator *born_generator_new(uint64_t seed);
BORN_API void born_generator_free(born_generator *gen);

/* Restarts gen's stream at seed. */
BORN_API void born_generator_seed(born_generator *gen, uint64_t seed);

/* The generator's state (seed and position), so a run can be checkpointed and resumed exactly. */
BORN_API void born_generator_get_state(const born_generator *gen, uint64_t *seed,
                                       uint64_t *offset);
BORN_API void born_generator_set_state(born_generator *gen, uint64_t seed, uint64_t offset);

/* The process-wide default generator used when a function is passed NULL (borrowed). */
BORN_API born_generator *born_default_generator(void);

/* Reseeds the default generator, as torch.manual_seed. */
BORN_API void born_manual_seed(uint64_t seed);

/* Uniform on [0, 1), standard normal, and integers uniform on [low, high). Floating dtypes for
 * rand/randn; any integer or floating dtype for randint. gen may be NULL for the default. */
BORN_API born_tensor *born_rand(born_generator *gen, born_dtype dtype, int ndim,
                                const int64_t *shape);
BORN_API born_tensor *born_randn(born_generator *gen, born_dtype dtype, int ndim,
                                 const int64_t *shape);
BORN_API born_tensor *born_randint(born_generator *gen, int64_t low, int64_t high,
                                   born_dtype dtype, int ndim, const int64_t *shape);

/* A random permutation of 0..n-1 (i64). */
BORN_API born_tensor *born_randperm(born_generator *gen, int64_t n);

/* ------------------------------------------------------------------------------------------ */
/* Threads                                                                                      */

/* Sets how many threads kernels use (1 = run on the calling thread only). The default is the
 * BORN_NUM_THREADS environment variable, else the number of online CPUs. */
BORN_API born_status born_set_num_threads(int n);
BORN_API int born_get_num_threads(void);

/* Calls fn(begin, end, ctx) over disjoint chunks that cover [0, n), on the pool's threads. Chunk
 * boundaries are multiples of grain and do not depend on the thread count, so a function that
 * writes per-chunk partial results gets identical results with 1 and N threads. */
typedef void (*born_range_fn)(int64_t begin, int64_t end, void *ctx);
BORN_API void born_parallel_for(int64_t n, int64_t grain, born_range_fn fn, void *ctx);

/* ------------------------------------------------------------------------------------------ */
/* Named tensor lists: state dicts of modules and optimizers, and the tensors of a file        */

typedef struct born_named_tensor {
    char *name;          /* owned by the list */
    born_tensor *tensor; /* a reference owned by the list */
} born_named_tensor;

/* An ordered list of uniquely named tensors. The list owns its names and one reference to each
 * tensor; read entries directly through items[0..count). */
typedef struct born_tensor_list {
    born_named_tensor *items;
    int64_t count;
    int64_t capacity;
} born_tensor_list;

/* A new empty list (owned; free with born_tensor_list_free). */
BORN_API born_tensor_list *born_tensor_list_new(void);

/* Releases every tensor reference and name, then the list. NULL is ignored. */
BORN_API void born_tensor_list_free(born_tensor_list *list);

/* Appends (name, t), taking a new reference to t and a copy of name. Reports BORN_ERR_ARGUMENT
 * for a NULL or duplicate name, or a NULL tensor. */
BORN_API born_status born_tensor_list_add(born_tensor_list *list, const char *name, born_tensor *t);

/* The tensor named name (borrowed), or NULL without recording an error if there is none. */
BORN_API born_tensor *born_tensor_list_get(const born_tensor_list *list, const char *name);

/* ------------------------------------------------------------------------------------------ */
/* SHA-256 (FIPS 180-4), to check downloaded and cached files                                   */

/* A streaming SHA-256 computation; the caller owns it (on the stack or anywhere). */
typedef struct born_sha256_ctx {
    uint32_t state[8];
    uint64_t length; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes waiting in block */
} born_sha256_ctx;

/* Starts a new digest in ctx. */
BORN_API void born_sha256_init(born_sha256_ctx *ctx);

/* Hashes len more bytes of the message; any split of a message gives the same digest. Reports
 * BORN_ERR_ARGUMENT when ctx is NULL, or data is NULL with len > 0. */
BORN_API born_status born_sha256_update(born_sha256_ctx *ctx, const void *data, size_t len);

/* Writes the 32-byte digest of everything hashed since init and restarts ctx for a new message.
 * Reports BORN_ERR_ARGUMENT when ctx or digest is NULL. */
BORN_API born_status born_sha256_final(born_sha256_ctx *ctx, uint8_t digest[32]);

/* The digest of one buffer in one call (the function shares the name of the algorithm, so the
 * context type is born_sha256_ctx). Reports BORN_ERR_ARGUMENT for NULL pointers. */
BORN_API born_status born_sha256(const void *data, size_t len, uint8_t digest[32]);

/* Writes digest as 64 lowercase hex digits and a NUL into hex; returns hex. */
BORN_API char *born_sha256_hex(const uint8_t digest[32], char hex[65]);

#ifdef __cplusplus
}
#endif
#endif /* BORN_CORE_H */
