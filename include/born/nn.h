/* Born nn (layer 5): neural-network modules, their functional forms, losses and initialisers,
 * after torch.nn.
 *
 * A module (born_module) owns its parameters, buffers and child modules and is freed with
 * born_module_free. Layers are created with born_X_new(...) and run with born_module_forward;
 * parameter names, state-dict keys, default initialisation, shapes and printed summaries follow
 * PyTorch, so a model written here and its torch twin exchange state dicts key for key.
 *
 * Writing a module in C: embed `born_module base;` as the first field of a struct, give it a
 * static born_module_vtable, call born_module_init(&s->base, &vtable) and register parameters,
 * buffers and children by name. The vtable's forward receives the module and one input and
 * returns a new reference; born_module_forward runs it in its own scope (so intermediates never
 * reach the caller's scope), and destroy frees the struct itself once born_module_free has
 * released what the base owns:
 *
 *     typedef struct scale { born_module base; born_tensor *w; } scale;
 *     static born_tensor *scale_forward(born_module *m, born_tensor *x) {
 *         return born_mul(x, ((scale *)m)->w);
 *     }
 *     static const born_module_vtable scale_vt = {"Scale", scale_forward, NULL, NULL};
 *     scale *s = calloc(1, sizeof *s);
 *     born_module_init(&s->base, &scale_vt);           (destroy NULL: free(s) at the end)
 *     s->w = born_ones(BORN_F32, BORN_DIMS(4));
 *     born_module_register_parameter(&s->base, "w", s->w);
 *
 * The functional forms (born_layer_norm, born_batch_norm, the losses, ...) are compositions of
 * public ops, so autograd differentiates them by composition; each runs in its own scope and
 * returns a new reference like any op. Errors are recorded as everywhere in Born (born_last_error)
 * and name the function, the shapes and the dtypes. */
#ifndef BORN_NN_H
#define BORN_NN_H

#include "born/autograd.h"
#include "born/core.h"
#include "born/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Modules                                                                                      */

typedef struct born_module born_module;

/* What a module type provides. New fields are only ever appended, so a vtable written as
 * {name, forward, destroy, describe} keeps compiling. */
typedef struct born_module_vtable {
    /* The class name shown by born_module_summary ("Linear"). */
    const char *type_name;
    /* Computes the output for input x and returns a new reference (never x itself), or NULL with
     * an error recorded. NULL for containers that cannot run (born_module_forward then fails). */
    born_tensor *(*forward)(born_module *m, born_tensor *x);
    /* Frees what the module allocated itself and the struct, after born_module_free released the
     * parameters, buffers and children. NULL means free(m). */
    void (*destroy)(born_module *m);
    /* Writes the text torch's extra_repr gives ("in_features=4, out_features=2, bias=True") into
     * buf (NUL-terminated, at most size bytes). NULL means no text. */
    void (*describe)(const born_module *m, char *buf, size_t size);
} born_module_vtable;

typedef struct born_module_child {
    char *name;          /* owned by the parent */
    born_module *module; /* owned by the parent */
} born_module_child;

/* The base every module embeds as its first field. Users read these fields but change them only
 * through the functions below. Parameters and buffers are kept in registration order, each list
 * holding one reference to its tensors. */
struct born_module {
    const born_module_vtable *vt;
    bool training;   /* set by born_module_train; true after born_module_init */
    bool has_parent; /* registered as some module's child */
    born_named_tensor *params;
    int64_t nparams, params_capacity;
    born_named_tensor *buffers;
    int64_t nbuffers, buffers_capacity;
    born_module_child *children;
    int64_t nchildren, children_capacity;
    void *reserved[4]; /* zero; room to grow without changing the size */
};

/* Prepares m (zeroing the base, training mode on) for the type vt, which must stay valid for the
 * module's life. Reports BORN_ERR_ARGUMENT when m or vt is NULL. */
BORN_API born_status born_module_init(born_module *m, const born_module_vtable *vt);

/* Registers t as the parameter `name` (no '.', unique among the module's parameters, buffers and
 * children) and marks it as requiring grad. The module takes over the reference it is given (the
 * creation reference, from its scope if one holds it): do not born_free t afterwards. t must be a
 * floating leaf. On failure the reference is dropped all the same, so the call never leaks. */
BORN_API born_status born_module_register_parameter(born_module *m, const char *name,
                                                    born_tensor *t);

/* Registers t as the buffer `name` (state that is saved but not trained, e.g. running_mean),
 * taking over its reference as born_module_register_parameter does. Any dtype. */
BORN_API born_status born_module_register_buffer(born_module *m, const char *name, born_tensor *t);

/* Registers child as the submodule `name` and takes ownership of it (it is freed with m). On
 * failure the child is freed, unless it already belongs to another module (a module has one
 * parent). A NULL child (a constructor that failed) is reported without a new message. */
BORN_API born_status born_module_register_child(born_module *m, const char *name,
                                                born_module *child);

/* Runs m's forward on x inside its own scope and returns a new reference. NULL x returns NULL
 * (keeping the first error), as ops do. A forward that returns a tensor it does not own (its
 * input, a parameter) is answered with a view of it, never with the tensor itself. */
BORN_API born_tensor *born_module_forward(born_module *m, born_tensor *x);

/* Frees m's children, parameters and buffers, then m itself (vt->destroy). NULL is ignored.
 * Freeing a module that is some other module's child is the parent's job. */
BORN_API void born_module_free(born_module *m);

/* Sets training mode on m and every descendant (dropout and batch norm read it); eval is
 * train(m, false). */
BORN_API void born_module_train(born_module *m, bool training);
BORN_API void born_module_eval(born_module *m);
BORN_API bool born_module_is_training(const born_module *m);

/* The module's type name ("Conv2d"), or "" for NULL. */
BORN_API const char *born_module_type_name(const born_module *m);

/* Look-ups by dotted path, as torch's get_parameter/get_buffer/get_submodule
 * ("features.0.weight"): borrowed, or NULL (with BORN_ERR_ARGUMENT recorded) if there is none.
 * born_module_get_child with "" returns m. */
BORN_API born_tensor *born_module_get_parameter(const born_module *m, const char *path);
BORN_API born_tensor *born_module_get_buffer(const born_module *m, const char *path);
BORN_API born_module *born_module_get_child(const born_module *m, const char *path);

/* Every parameter of m and its descendants, each once, in torch's order (a module's own, then
 * its children's in registration order, depth first). Returns a malloc'd array of *count
 * borrowed pointers (free the array with free(); the tensors stay the module's), or NULL with an
 * error. The array is valid (not NULL) when there are no parameters. */
BORN_API born_tensor **born_module_parameters(born_module *m, int64_t *count);

/* A new list of (dotted name, parameter) in that order, each parameter once, as
 * torch's named_parameters(); the list holds references to the parameters themselves. */
BORN_API born_tensor_list *born_module_named_parameters(born_module *m);

/* A new list of (dotted name, buffer), as torch's named_buffers(). */
BORN_API born_tensor_list *born_module_named_buffers(born_module *m);

/* A new list of every parameter and buffer under torch's state_dict keys and order (for each
 * module: its parameters, its buffers, then its children). The entries are detached views that
 * share the module's storage, as torch's state_dict(): later training shows through them. */
BORN_API born_tensor_list *born_module_state_dict(born_module *m);

/* Copies the tensors of sd into m's parameters and buffers with the same keys. Every key is
 * checked before anything is written, so on failure m is unchanged: the message lists missing
 * keys and unexpected keys (both only errors when strict), or names the first key whose shape or
 * dtype differs with both descriptions. */
BORN_API born_status born_module_load_state_dict(born_module *m, const born_tensor_list *sd,
                                                 bool strict);

/* The number of parameter elements (each shared parameter counted once); -1 for NULL. */
BORN_API int64_t born_module_num_parameters(const born_module *m);

/* Drops the gradient of every parameter (torch's zero_grad(set_to_none=True)). */
BORN_API void born_module_zero_grad(born_module *m);

/* Calls fn(module, ctx) on every descendant and then on m (children first, as torch's apply);
 * handy for custom initialisation. */
BORN_API void born_module_apply(born_module *m, void (*fn)(born_module *m, void *ctx), void *ctx);

/* Converts every floating parameter and buffer, in place, to dtype (torch's model.double()):
 * the tensors keep their identity (pointers held elsewhere stay valid), their gradients are
 * dropped. Integer buffers (num_batches_tracked) are left alone. dtype must be floating. */
BORN_API born_status born_module_to_dtype(born_module *m, born_dtype dtype);

/* Moves every parameter and buffer, in place, to device (torch's model.to(device)): the tensors
 * keep their identity and dtype, their gradients are dropped. Create optimizers after the move,
 * as in torch; on failure some tensors may already have moved (move the module back). */
BORN_API born_status born_module_to(born_module *m, born_device device);

/* The module as torch's print(model) shows it:
 *     Sequential(
 *       (0): Linear(in_features=784, out_features=128, bias=True)
 *       (1): ReLU()
 *     )
 * Returns a malloc'd string (free with free()), or NULL with an error. */
BORN_API char *born_module_repr(const born_module *m);

/* born_module_repr followed by a line "Total parameters: N" (and, when some are frozen,
 * "Trainable parameters: N"); malloc'd. */
BORN_API char *born_module_summary(const born_module *m);

/* ------------------------------------------------------------------------------------------ */
/* Containers                                                                                   */

/* An empty Sequential: forward feeds the input through the children in order. */
BORN_API born_module *born_sequential_new(void);

/* Appends child under the next index ("0", "1", ...), taking ownership as
 * born_module_register_child does. */
BORN_API born_status born_sequential_append(born_module *seq, born_module *child);

/* A Sequential of n modules (ownership of all of them passes to it). If any is NULL, the others
 * are freed and NULL is returned, so constructors can be nested without leaking:
 *     born_sequential_of(BORN_MODULES(born_linear_new(4, 8, true, NULL), born_relu_new())) */
BORN_API born_module *born_sequential_of(int n, born_module *const *modules);

#define BORN_MODULES(...)                                                                   \
    (int)(sizeof((born_module *const[]){__VA_ARGS__}) / sizeof(born_module *)),             \
        (born_module *const[]) { __VA_ARGS__ }

/* ------------------------------------------------------------------------------------------ */
/* Layers. Parameters are f32, initialised as torch initialises them, from gen (NULL: the default
 * generator; a generator passed in is only used during construction unless stated). Each returns
 * a new module (owned; born_module_free) or NULL with an error.                               */

/* y = x W^T + b: weight [out, in] and bias [out] from U(-1/sqrt(in), 1/sqrt(in)); x [..., in]. */
BORN_API born_module *born_linear_new(int64_t in_features, int64_t out_features, bool bias,
                                      born_generator *gen);

typedef struct born_conv2d_options {
    int64_t kernel[2];   /* kernel size (kh, kw) */
    int64_t stride[2];   /* default 1, 1 */
    int64_t padding[2];  /* default 0, 0 (zeros) */
    int64_t dilation[2]; /* default 1, 1 */
    int64_t groups;      /* default 1; divides in and out channels */
    bool bias;           /* default true */
} born_conv2d_options;

BORN_API born_conv2d_options born_conv2d_default_options(int64_t kh, int64_t kw);

/* Conv2d: weight [out, in/groups, kh, kw] and bias [out] from U(-1/sqrt(fan_in), ...) with
 * fan_in = in/groups * kh * kw; input [N, C, H, W] or [C, H, W]. */
BORN_API born_module *born_conv2d_new(int64_t in_channels, int64_t out_channels,
                                      const born_conv2d_options *options, born_generator *gen);

/* MaxPool2d / AvgPool2d with the given parameters (born_pool2d_default_params(k, k) for the
 * common case; return_indices is not offered). */
BORN_API born_module *born_max_pool2d_new(const born_pool2d_params *params);
BORN_API born_module *born_avg_pool2d_new(const born_pool2d_params *params);

/* AdaptiveAvgPool2d to an (oh, ow) output. */
BORN_API born_module *born_adaptive_avg_pool2d_new(int64_t oh, int64_t ow);

typedef struct born_batch_norm_options {
    double eps;               /* default 1e-5 */
    double momentum;          /* default 0.1; a negative value means None (cumulative average) */
    bool affine;              /* default true: weight (ones) and, with bias, bias (zeros) */
    bool bias;                /* default true; only with affine (torch's bias keyword) */
    bool track_running_stats; /* default true: running_mean, running_var, num_batches_tracked */
} born_batch_norm_options;

BORN_API born_batch_norm_options born_batch_norm_default_options(void);

/* BatchNorm1d (input [N, C] or [N, C, L]) and BatchNorm2d ([N, C, H, W]) over num_features
 * channels; options NULL means the defaults. Training normalises with the batch statistics and
 * updates the running ones (unbiased variance); eval uses the running statistics. */
BORN_API born_module *born_batch_norm1d_new(int64_t num_features,
                                            const born_batch_norm_options *options);
BORN_API born_module *born_batch_norm2d_new(int64_t num_features,
                                            const born_batch_norm_options *options);

/* LayerNorm over the last ndim dimensions, which must equal shape. elementwise_affine adds
 * weight (ones) and, when bias is true, bias (zeros), both shaped like shape. */
BORN_API born_module *born_layer_norm_new(int ndim, const int64_t *shape, double eps,
                                          bool elementwise_affine, bool bias);

/* The eps torch's RMSNorm uses when eps is None: the machine epsilon of the input's dtype. */
#define BORN_RMS_NORM_EPS_DEFAULT (-1.0)

/* RMSNorm over the last ndim dimensions: x / sqrt(mean(x^2) + eps) * weight. eps < 0 means None
 * (BORN_RMS_NORM_EPS_DEFAULT). */
BORN_API born_module *born_rms_norm_new(int ndim, const int64_t *shape, double eps,
                                        bool elementwise_affine);

/* Dropout: in training zeroes each element with probability p and scales the rest by 1/(1-p);
 * identity in eval mode. gen (borrowed, must outlive the module; NULL: the default generator)
 * draws the masks. */
BORN_API born_module *born_dropout_new(double p, born_generator *gen);

/* No padding row for born_embedding_new. */
#define BORN_EMBEDDING_NO_PADDING INT64_MIN

/* Embedding: weight [num, dim] from N(0, 1). padding_idx (negative counts from the end, as
 * torch) names a row initialised to zero that receives no gradient; BORN_EMBEDDING_NO_PADDING
 * for none. Input: integer indices of any shape; output [..., dim]. */
BORN_API born_module *born_embedding_new(int64_t num_embeddings, int64_t embedding_dim,
                                         int64_t padding_idx, born_generator *gen);

/* Flatten(start_dim, end_dim); torch's defaults are 1, -1. */
BORN_API born_module *born_flatten_new(int start_dim, int end_dim);

/* Activation modules, as torch.nn's. */
BORN_API born_module *born_identity_new(void);
BORN_API born_module *born_relu_new(void);
BORN_API born_module *born_leaky_relu_new(double negative_slope); /* torch default 0.01 */
BORN_API born_module *born_gelu_new(bool tanh_approximation);      /* approximate='tanh' */
BORN_API born_module *born_silu_new(void);
BORN_API born_module *born_sigmoid_new(void);
BORN_API born_module *born_tanh_new(void);
BORN_API born_module *born_softplus_new(double beta, double threshold); /* defaults 1, 20 */
BORN_API born_module *born_elu_new(double alpha);                       /* default 1 */
BORN_API born_module *born_softmax_new(int dim);
BORN_API born_module *born_log_softmax_new(int dim);

/* ------------------------------------------------------------------------------------------ */
/* Transformers                                                                                 */

/* A training-side KV cache: per layer, keys and values [batch, kv_heads, max_len, head_dim]
 * filled up to a shared length. Attention modules given the cache (born_attention_set_cache)
 * append their new keys/values at the current length and attend to everything cached, with
 * queries placed after it (causal offset, RoPE positions); born_kv_cache_advance then moves the
 * length past the new tokens, and born_kv_cache_truncate rolls it back. Cached values are
 * detached (inference and evaluation, not training through the cache). */
typedef struct born_kv_cache born_kv_cache;

/* A new zero-filled cache (owned; born_kv_cache_free), or NULL with an error. */
BORN_API born_kv_cache *born_kv_cache_new(int n_layers, int64_t batch, int64_t kv_heads,
                                          int64_t max_len, int64_t head_dim, born_dtype dtype);
BORN_API void born_kv_cache_free(born_kv_cache *cache);

/* The number of positions filled (0 for NULL). */
BORN_API int64_t born_kv_cache_length(const born_kv_cache *cache);

/* Counts n more positions as filled (after every layer appended them); fails past max_len. */
BORN_API born_status born_kv_cache_advance(born_kv_cache *cache, int64_t n);

/* Forgets every position from length on (rollback); length must not exceed the filled length. */
BORN_API born_status born_kv_cache_truncate(born_kv_cache *cache, int64_t length);

typedef struct born_attention_options {
    int64_t num_heads;
    int64_t num_kv_heads; /* 0 or num_heads: multi-head; 1: multi-query; else grouped-query */
    int64_t head_dim;     /* 0: embed_dim / num_heads */
    bool bias;            /* q/k/v projections (default true) */
    bool out_bias;        /* the output projection (default false) */
    bool causal;          /* default true */
    double dropout;       /* on attention probabilities in training (default 0) */
    born_generator *dropout_gen; /* borrowed; NULL: the default generator */
    bool use_rope;        /* rotate q and k (default false) with rope */
    born_rope_params rope;
} born_attention_options;

BORN_API born_attention_options born_attention_default_options(int64_t num_heads);

/* Self-attention on x [B, T, embed_dim]: Linear q_proj, k_proj, v_proj, o_proj (HF Llama names),
 * heads split as [B, H, T, D], optional RoPE, born_scaled_dot_product_attention (GQA without
 * copies), heads merged, o_proj. Returns a new module or NULL with an error. */
BORN_API born_module *born_attention_new(int64_t embed_dim, const born_attention_options *options,
                                         born_generator *gen);

/* Non-causal multi-head attention with (bias) on all four projections. */
BORN_API born_module *born_multihead_attention_new(int64_t embed_dim, int64_t num_heads, bool bias,
                                                   born_generator *gen);

/* Non-causal grouped-query attention: num_kv_heads key/value heads shared by the query heads. */
BORN_API born_module *born_grouped_query_attention_new(int64_t embed_dim, int64_t num_heads,
                                                       int64_t num_kv_heads, bool bias,
                                                       born_generator *gen);

/* Makes an Attention module read and extend layer `layer` of cache (NULL: no cache). The cache
 * is borrowed and must outlive its use. */
BORN_API born_status born_attention_set_cache(born_module *attention, born_kv_cache *cache,
                                              int layer);

typedef enum born_ffn_kind {
    BORN_FFN_GELU = 0,  /* down(gelu(up(x))) */
    BORN_FFN_GELU_TANH, /* down(gelu_tanh(up(x))) (GPT-2) */
    BORN_FFN_RELU,
    BORN_FFN_SILU,
    BORN_FFN_SWIGLU, /* down(silu(gate(x)) * up(x)) (Llama) */
    BORN_FFN_GEGLU,  /* down(gelu(gate(x)) * up(x)) */
    BORN_FFN_REGLU   /* down(relu(gate(x)) * up(x)) */
} born_ffn_kind;

/* The feed-forward network of a transformer block: Linear gate_proj (gated kinds only),
 * up_proj [hidden, dim] and down_proj [dim, hidden]. */
BORN_API born_module *born_ffn_new(int64_t dim, int64_t hidden, born_ffn_kind kind, bool bias,
                                   born_generator *gen);

typedef struct born_transformer_block_options {
    born_attention_options attention;
    int64_t ffn_hidden;
    born_ffn_kind ffn; /* default GELU */
    bool ffn_bias;     /* default true */
    bool pre_norm;     /* default true: x + attn(norm1(x)), then + mlp(norm2(.)); false:
                        * norm1(x + attn(x)), then norm2(. + mlp(.)) (the original Transformer) */
    bool rms_norm;     /* RMSNorm instead of LayerNorm */
    double norm_eps;   /* default 1e-5 */
} born_transformer_block_options;

BORN_API born_transformer_block_options born_transformer_block_default_options(int64_t num_heads,
                                                                               int64_t ffn_hidden);

/* A transformer block on [B, T, dim] with children norm1, attn, norm2, mlp. */
BORN_API born_module *born_transformer_block_new(int64_t dim,
                                                 const born_transformer_block_options *options,
                                                 born_generator *gen);

/* born_attention_set_cache on the block's attention. */
BORN_API born_status born_transformer_block_set_cache(born_module *block, born_kv_cache *cache,
                                                      int layer);

/* A decoder-only language model (src/nn/gpt.c). GPT-2 style (llama false): learned position
 * embeddings, LayerNorm, GELU-tanh MLP, biased projections, logits through the tied token
 * embedding. LLaMA style: RMSNorm, RoPE, grouped-query attention, SwiGLU, no biases, an untied
 * lm_head. */
typedef struct born_gpt_config {
    int64_t vocab_size;
    int64_t block_size; /* the longest context (rows of wpe) */
    int64_t n_layer, n_head;
    int64_t n_kv_head;  /* 0: n_head */
    int64_t n_embd;
    int64_t ffn_hidden; /* 0: 4 * n_embd */
    bool llama;
    double norm_eps;    /* default 1e-5 */
    double rope_theta;  /* default 10000 (LLaMA) */
} born_gpt_config;

/* A small default configuration of either flavour (2 layers, 64 wide, 4 heads, context 64,
 * byte vocabulary of 256). */
BORN_API born_gpt_config born_gpt_default_config(bool llama);

/* A new GPT module with nanoGPT's initialisation drawn from gen: forward takes integer token ids
 * [B, T] (T <= block_size) and returns logits [B, T, vocab_size]. NULL with an error for an
 * impossible configuration. */
BORN_API born_module *born_gpt_new(const born_gpt_config *config, born_generator *gen);

/* The configuration of a module made by born_gpt_new (borrowed), or NULL with an error for any
 * other module. */
BORN_API const born_gpt_config *born_gpt_get_config(const born_module *m);

/* ------------------------------------------------------------------------------------------ */
/* Functional forms                                                                             */

/* Layer normalisation over the last ndim dimensions (which must equal shape): (x - mean) /
 * sqrt(var + eps) * weight + bias with the biased variance; weight and bias (shape) may be NULL. */
BORN_API born_tensor *born_layer_norm(born_tensor *x, int ndim, const int64_t *shape,
                                      born_tensor *weight, born_tensor *bias, double eps);

/* RMS normalisation over the last ndim dimensions: x / sqrt(mean(x^2) + eps) * weight; weight
 * may be NULL; eps < 0 means the machine epsilon of x's dtype (torch's eps=None). */
BORN_API born_tensor *born_rms_norm(born_tensor *x, int ndim, const int64_t *shape,
                                    born_tensor *weight, double eps);

/* Batch normalisation of x [N, C, ...] over every dimension but 1, as
 * torch.nn.functional.batch_norm. training: normalise with the batch mean and biased variance and,
 * when running_mean/running_var ([C], may be NULL) are given, update them in place (outside the
 * graph) as r = (1 - momentum) r + momentum s, with the unbiased variance. Not training: normalise
 * with the running statistics (which must then be given). weight and bias ([C]) may be NULL.
 * Training needs more than one value per channel. */
BORN_API born_tensor *born_batch_norm(born_tensor *x, born_tensor *running_mean,
                                      born_tensor *running_var, born_tensor *weight,
                                      born_tensor *bias, bool training, double momentum,
                                      double eps);

/* In training, x times a mask that keeps each element with probability 1 - p and scales it by
 * 1/(1-p) (p = 1 gives zeros); otherwise (or p = 0) a differentiable alias of x. The mask comes
 * from gen (NULL: the default generator). p must lie in [0, 1]. */
BORN_API born_tensor *born_dropout(born_tensor *x, double p, bool training, born_generator *gen);

/* Adaptive average pooling of [N, C, H, W] or [C, H, W] to (oh, ow): output cell i averages rows
 * floor(i H / oh) to ceil((i + 1) H / oh) - 1 (columns alike), as torch. */
BORN_API born_tensor *born_adaptive_avg_pool2d(born_tensor *x, int64_t oh, int64_t ow);

/* ------------------------------------------------------------------------------------------ */
/* Losses. All are differentiable compositions (gradients flow to inputs and floating targets). */

typedef enum born_reduction {
    BORN_REDUCTION_MEAN = 0,
    BORN_REDUCTION_SUM,
    BORN_REDUCTION_NONE
} born_reduction;

typedef struct born_cross_entropy_params {
    born_tensor *weight;    /* [C] class weights, or NULL */
    int64_t ignore_index;   /* class-index targets equal to it count for nothing (default -100) */
    double label_smoothing; /* in [0, 1] (default 0) */
    born_reduction reduction;
} born_cross_entropy_params;

BORN_API born_cross_entropy_params born_cross_entropy_default_params(void);

/* torch.nn.functional.cross_entropy on logits [N, C, d1, ...] (or [C]) and either integer class
 * indices [N, d1, ...] (or 0-dim), or floating class probabilities shaped like the logits. With
 * indices, the mean divides by the summed weight of the non-ignored targets; with probabilities,
 * by the number of positions (N d1 ...). Label smoothing mixes in the uniform distribution as
 * torch does. A class index outside [0, C) that is not ignore_index is an error naming it.
 * params NULL means the defaults. Returns a 0-dim loss, or the per-position losses for NONE. */
BORN_API born_tensor *born_cross_entropy(born_tensor *logits, born_tensor *target,
                                         const born_cross_entropy_params *params);

typedef struct born_nll_loss_params {
    born_tensor *weight;  /* [C] class weights, or NULL */
    int64_t ignore_index; /* default -100 */
    born_reduction reduction;
} born_nll_loss_params;

BORN_API born_nll_loss_params born_nll_loss_default_params(void);

/* torch.nn.functional.nll_loss: -input[n, target[n], ...] weighted by weight[target[n]], on
 * log-probabilities [N, C, d1, ...] (or [C]) and class indices [N, d1, ...] (or 0-dim). */
BORN_API born_tensor *born_nll_loss(born_tensor *input, born_tensor *target,
                                    const born_nll_loss_params *params);

/* (input - target)^2, |input - target|, and the smooth L1 loss (0.5 d^2 / beta where |d| < beta,
 * else |d| - 0.5 beta; beta = 0 is L1), reduced. input and target broadcast, as in torch. */
BORN_API born_tensor *born_mse_loss(born_tensor *input, born_tensor *target,
                                    born_reduction reduction);
BORN_API born_tensor *born_l1_loss(born_tensor *input, born_tensor *target,
                                   born_reduction reduction);
BORN_API born_tensor *born_smooth_l1_loss(born_tensor *input, born_tensor *target,
                                          born_reduction reduction, double beta);

/* The Huber loss: 0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta). */
BORN_API born_tensor *born_huber_loss(born_tensor *input, born_tensor *target,
                                      born_reduction reduction, double delta);

typedef struct born_bce_params {
    born_tensor *weight;     /* broadcast to the input's shape, or NULL */
    born_tensor *pos_weight; /* weight of positive examples, broadcast along the last dim
                              * (with logits only), or NULL */
    born_reduction reduction;
} born_bce_params;

BORN_API born_bce_params born_bce_default_params(void);

/* Binary cross entropy on logits, computed stably: (1 - t) x + (1 + (pw - 1) t) softplus(-x),
 * times weight; input and target of one shape. params NULL means the defaults. */
BORN_API born_tensor *born_binary_cross_entropy_with_logits(born_tensor *input,
                                                            born_tensor *target,
                                                            const born_bce_params *params);

/* Binary cross entropy on probabilities in [0, 1], with logs clamped at -100 as torch does
 * (pos_weight must be NULL). */
BORN_API born_tensor *born_binary_cross_entropy(born_tensor *input, born_tensor *target,
                                                const born_bce_params *params);

/* ------------------------------------------------------------------------------------------ */
/* Initialisers (torch.nn.init): each fills t in place outside the graph (it may be a parameter
 * that requires grad), drawing from gen (NULL: the default generator), and returns BORN_OK or an
 * error. t must be floating.                                                                   */

typedef enum born_nonlinearity {
    BORN_NONLINEARITY_LINEAR = 0, /* also conv1d/2d/3d and the transposed convolutions: gain 1 */
    BORN_NONLINEARITY_SIGMOID,    /* 1 */
    BORN_NONLINEARITY_TANH,       /* 5/3 */
    BORN_NONLINEARITY_RELU,       /* sqrt(2) */
    BORN_NONLINEARITY_LEAKY_RELU, /* sqrt(2 / (1 + slope^2)) */
    BORN_NONLINEARITY_SELU        /* 3/4 */
} born_nonlinearity;

typedef enum born_fan_mode { BORN_FAN_IN = 0, BORN_FAN_OUT } born_fan_mode;

/* torch.nn.init.calculate_gain; param is the negative slope for LEAKY_RELU (ignored otherwise;
 * torch's default is 0.01). */
BORN_API double born_init_calculate_gain(born_nonlinearity nonlinearity, double param);

/* torch.nn.init._calculate_fan_in_and_fan_out: for a weight [out, in, k...], fan_in = in x prod(k)
 * and fan_out = out x prod(k). Needs at least 2 dimensions. */
BORN_API born_status born_init_calculate_fan(const born_tensor *t, int64_t *fan_in,
                                             int64_t *fan_out);

BORN_API born_status born_init_uniform_(born_tensor *t, double a, double b, born_generator *gen);
BORN_API born_status born_init_normal_(born_tensor *t, double mean, double std,
                                       born_generator *gen);
BORN_API born_status born_init_constant_(born_tensor *t, double value);
BORN_API born_status born_init_zeros_(born_tensor *t);
BORN_API born_status born_init_ones_(born_tensor *t);

/* U(-a, a) with a = gain sqrt(6 / (fan_in + fan_out)); N(0, gain^2 2 / (fan_in + fan_out)). */
BORN_API born_status born_init_xavier_uniform_(born_tensor *t, double gain, born_generator *gen);
BORN_API born_status born_init_xavier_normal_(born_tensor *t, double gain, born_generator *gen);

/* U(-b, b) with b = gain sqrt(3 / fan), and N(0, (gain / sqrt(fan))^2), where fan follows mode and
 * gain = calculate_gain(nonlinearity, a). torch's defaults: a = 0, FAN_IN, LEAKY_RELU. */
BORN_API born_status born_init_kaiming_uniform_(born_tensor *t, double a, born_fan_mode mode,
                                                born_nonlinearity nonlinearity,
                                                born_generator *gen);
BORN_API born_status born_init_kaiming_normal_(born_tensor *t, double a, born_fan_mode mode,
                                               born_nonlinearity nonlinearity,
                                               born_generator *gen);

#ifdef __cplusplus
}
#endif
#endif /* BORN_NN_H */
