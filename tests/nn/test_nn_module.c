/* The module abstraction: registration and ownership, a module written in C, names and order of
 * parameters and state dicts against torch, load_state_dict (round trip and every error),
 * train/eval, printing against torch's print(model), and NULL/error propagation. LSan (make test
 * SAN=1) checks that freed modules leak nothing.
 *
 * torch's side (torch 2.x):
 *   m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
 *                     nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
 *   list(m.state_dict().keys()); print(m); sum(p.numel() for p in m.parameters())
 *   # the values of cnn_eval/cnn_train: every state-dict entry k set to
 *   # pat(shape, 0.1 (k + 1), 0.3, 0.5) (running_var: 1 + that squared; num_batches_tracked: 3),
 *   # x = pat([2, 1, 8, 8], 0.37, 0.1); m.eval(); m(x); m.train(); m(x); m[1].running_mean */
#include <stdlib.h>
#include <string.h>

#include "nn/nn_test_util.h"

static const double cnn_eval[] = {0.700803757, 0.668436527, 0.119116008, -0.503222585, -0.713285089, -0.363301903, 0.254234016, 0.65034622, 0.527182937, 0.00186979771, -0.00213487446, 0.171201378, 0.231133834, 0.127136022, -0.0761765838, -0.236512423, -0.232196212, -0.0545232743, 0.175937176, 0.289313942};
static const double cnn_train[] = {1.59773016, 0.990330338, -0.395267248, -1.43641663, -1.30792165, -0.136781722, 1.11807013, 1.45042002, 0.614165723, -0.6948331, 0.291494548, -0.329468757, -0.657498538, -0.428256184, 0.152420282, 0.590547681, 0.52209574, 0.0148270577, -0.495937765, -0.578501523};
static const double cnn_rm_after[] = {0.152429849, 0.35420543, 0.470371872, 0.475642681};

static born_module *small_cnn(void) {
    born_conv2d_options c = born_conv2d_default_options(3, 3);
    c.padding[0] = c.padding[1] = 1;
    born_pool2d_params p = born_pool2d_default_params(2, 2);
    return born_sequential_of(BORN_MODULES(born_conv2d_new(1, 4, &c, NULL), born_batch_norm2d_new(4, NULL),
                                           born_relu_new(), born_max_pool2d_new(&p), born_flatten_new(1, -1),
                                           born_linear_new(64, 10, true, NULL)));
}

static const char *const cnn_keys[] = {"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                       "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"};

TEST(nn_state_dict_names_and_order_match_torch) {
    born_module *m = small_cnn();
    CHECK_OK_TENSOR(born_module_get_parameter(m, "0.weight"));
    born_tensor_list *sd = born_module_state_dict(m);
    CHECK(sd != NULL);
    CHECK_EQ_INT(sd->count, 9);
    for (int64_t i = 0; sd && i < sd->count && i < 9; i++)
        CHECK_MSG(strcmp(sd->items[i].name, cnn_keys[i]) == 0, "key %lld: %s vs %s", (long long)i,
                  sd->items[i].name, cnn_keys[i]);
    born_tensor *nbt = born_tensor_list_get(sd, "1.num_batches_tracked");
    CHECK(nbt && born_tensor_dtype(nbt) == BORN_I64 && born_tensor_ndim(nbt) == 0);
    /* entries are detached views sharing the module's storage */
    born_tensor *w = born_tensor_list_get(sd, "0.weight");
    CHECK(!born_tensor_requires_grad(w) && born_tensor_shares_storage(w, born_module_get_parameter(m, "0.weight")));
    born_tensor_list_free(sd);

    born_tensor_list *np = born_module_named_parameters(m);
    const char *const pkeys[] = {"0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"};
    CHECK_EQ_INT(np->count, 6);
    for (int64_t i = 0; i < np->count && i < 6; i++) {
        CHECK(strcmp(np->items[i].name, pkeys[i]) == 0);
        CHECK(born_tensor_requires_grad(np->items[i].tensor) && born_tensor_is_leaf(np->items[i].tensor));
    }
    born_tensor_list_free(np);
    born_tensor_list *nb = born_module_named_buffers(m);
    CHECK_EQ_INT(nb->count, 3);
    CHECK(strcmp(nb->items[2].name, "1.num_batches_tracked") == 0);
    born_tensor_list_free(nb);

    int64_t count = 0;
    born_tensor **params = born_module_parameters(m, &count);
    CHECK_EQ_INT(count, 6);
    CHECK(params && params[4] == born_module_get_parameter(m, "5.weight"));
    free(params);
    CHECK_EQ_INT(born_module_num_parameters(m), 698); /* torch: 698 */
    born_module_free(m);
}

TEST(nn_small_cnn_with_torch_state_dict_matches_torch) {
    born_module *m = small_cnn();
    born_tensor_list *sd = born_tensor_list_new();
    for (int k = 0; k < 9; k++) {
        born_tensor *mine = born_module_get_buffer(m, cnn_keys[k]);
        if (!mine) {
            born_clear_error();
            mine = born_module_get_parameter(m, cnn_keys[k]);
        }
        born_tensor *v;
        if (born_tensor_dtype(mine) == BORN_I64) {
            v = born_scalar(BORN_I64, 3);
        } else {
            v = nn_pattern(BORN_F32, born_tensor_ndim(mine), born_tensor_shape(mine), 0.1 * (k + 1), 0.3, 0.5);
            if (strstr(cnn_keys[k], "running_var")) v = born_add_scalar(born_square(v), 1.0);
        }
        CHECK_OK(born_tensor_list_add(sd, cnn_keys[k], v));
    }
    CHECK_OK(born_module_load_state_dict(m, sd, true));
    born_tensor_list_free(sd);
    born_tensor *x = PAT(0.37, 0.1, 1.0, 2, 1, 8, 8);
    born_module_eval(m);
    CHECK_TENSOR_NEAR(born_module_forward(m, x), cnn_eval, 20, 1e-5, 1e-5);
    born_module_train(m, true);
    born_tensor *y = born_module_forward(m, x);
    CHECK_TENSOR_NEAR(y, cnn_train, 20, 1e-5, 1e-5);
    CHECK_TENSOR_NEAR(born_module_get_buffer(m, "1.running_mean"), cnn_rm_after, 4, 1e-5, 1e-6);
    CHECK_EQ_INT(born_item(born_module_get_buffer(m, "1.num_batches_tracked")), 4);

    /* gradients reach every parameter; zero_grad drops them */
    CHECK_OK(born_backward(born_sum(born_square(y), 0, NULL, false)));
    born_tensor_list *np = born_module_named_parameters(m);
    for (int64_t i = 0; i < np->count; i++)
        CHECK_MSG(born_grad(np->items[i].tensor) != NULL, "%s has no gradient", np->items[i].name);
    born_module_zero_grad(m);
    for (int64_t i = 0; i < np->count; i++) CHECK(born_grad(np->items[i].tensor) == NULL);
    born_tensor_list_free(np);
    born_module_free(m);
}

TEST(nn_load_state_dict_round_trip_and_errors) {
    born_module *a = small_cnn(), *b = small_cnn();
    born_tensor_list *sd = born_module_state_dict(a);
    CHECK_OK(born_module_load_state_dict(b, sd, true));
    double wa[36], wb[36];
    CHECK(test_read(born_module_get_parameter(a, "0.weight"), wa, 36));
    CHECK(test_read(born_module_get_parameter(b, "0.weight"), wb, 36));
    CHECK(memcmp(wa, wb, sizeof wa) == 0);
    /* b's tensors are still its own: writing a does not show in b */
    born_no_grad_begin();
    born_fill_(born_module_get_parameter(a, "0.weight"), 7.0);
    born_no_grad_end();
    CHECK(test_read(born_module_get_parameter(b, "0.weight"), wb, 36) && wb[0] == wa[0]);
    born_tensor_list_free(sd);

    born_module *c = small_cnn();
    double before[36];
    CHECK(test_read(born_module_get_parameter(c, "0.weight"), before, 36));

    /* a missing key: an error when strict, fine otherwise */
    born_tensor_list *part = born_tensor_list_new();
    born_tensor_list_add(part, "0.weight", born_full(BORN_F32, BORN_DIMS(4, 1, 3, 3), 0.5));
    CHECK(born_module_load_state_dict(c, part, true) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "missing key(s) \"0.bias\", \"1.weight\"");
    double now[36];
    CHECK(test_read(born_module_get_parameter(c, "0.weight"), now, 36) && memcmp(now, before, sizeof now) == 0);
    CHECK_OK(born_module_load_state_dict(c, part, false));
    CHECK(test_read(born_module_get_parameter(c, "0.weight"), now, 36) && now[0] == 0.5 && now[35] == 0.5);

    /* an unexpected key */
    born_tensor_list_add(part, "9.weight", born_zeros(BORN_F32, BORN_DIMS(2)));
    CHECK(born_module_load_state_dict(c, part, false) == BORN_OK);
    born_tensor_list *full = born_module_state_dict(b);
    born_tensor_list_add(full, "extra.bias", born_zeros(BORN_F32, BORN_DIMS(2)));
    CHECK(born_module_load_state_dict(c, full, true) != BORN_OK);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "unexpected key(s) \"extra.bias\"");
    CHECK(test_read(born_module_get_parameter(c, "0.weight"), now, 36) && now[0] == 0.5);
    born_tensor_list_free(full);

    /* a shape or dtype mismatch fails even when not strict, naming the key and both shapes */
    born_tensor_list *bad = born_tensor_list_new();
    born_tensor_list_add(bad, "0.bias", born_zeros(BORN_F32, BORN_DIMS(4)));
    born_tensor_list_add(bad, "5.weight", born_zeros(BORN_F32, BORN_DIMS(10, 63)));
    CHECK(born_module_load_state_dict(c, bad, false) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "shape mismatch for \"5.weight\": the state dict has [10, 63] f32, the module [10, 64] f32");
    double bias[4];
    CHECK(test_read(born_module_get_parameter(c, "0.bias"), bias, 4) && bias[0] != 0); /* untouched */
    born_tensor_list_free(bad);
    bad = born_tensor_list_new();
    born_tensor_list_add(bad, "1.num_batches_tracked", born_scalar(BORN_F32, 1));
    CHECK(born_module_load_state_dict(c, bad, false) == BORN_ERR_SHAPE);
    CHECK_ERROR(BORN_ERR_SHAPE, "dtype mismatch for \"1.num_batches_tracked\": the state dict has [] f32, the module [] i64");
    born_tensor_list_free(bad);
    born_tensor_list_free(part);
    CHECK(born_module_load_state_dict(c, NULL, true) == BORN_ERR_ARGUMENT);
    born_clear_error();
    born_module_free(a);
    born_module_free(b);
    born_module_free(c);
}

/* ---- a module written in C ------------------------------------------------------------------ */

typedef struct scale_shift {
    born_module base;
    born_tensor *scale; /* borrowed from base.params */
    int *destroyed;
} scale_shift;

static born_tensor *scale_shift_forward(born_module *m, born_tensor *x) {
    scale_shift *s = (scale_shift *)m;
    return born_add(born_mul(x, s->scale), born_module_get_buffer(m, "shift"));
}

static void scale_shift_describe(const born_module *m, char *buf, size_t size) {
    (void)m;
    snprintf(buf, size, "features=3");
}

static void scale_shift_destroy(born_module *m) {
    scale_shift *s = (scale_shift *)m;
    if (s->destroyed) (*s->destroyed)++;
    free(s);
}

static const born_module_vtable scale_shift_vt = {"ScaleShift", scale_shift_forward, scale_shift_destroy,
                                                  scale_shift_describe};

static born_module *scale_shift_new(int *destroyed) {
    scale_shift *s = calloc(1, sizeof *s);
    born_module_init(&s->base, &scale_shift_vt);
    s->destroyed = destroyed;
    s->scale = born_full(BORN_F32, BORN_DIMS(3), 2.0);
    born_module_register_parameter(&s->base, "scale", s->scale);
    born_module_register_buffer(&s->base, "shift", born_full(BORN_F32, BORN_DIMS(3), 0.5));
    return &s->base;
}

typedef struct net {
    born_module base;
    born_module *body, *head;
} net;

static born_tensor *net_forward(born_module *m, born_tensor *x) {
    net *n = (net *)m;
    return born_module_forward(n->head, born_module_forward(n->body, x));
}

static const born_module_vtable net_vt = {"Net", net_forward, NULL, NULL};

TEST(nn_user_module_in_c) {
    int destroyed = 0;
    born_scope_begin(); /* the parameters outlive the scope they were made in */
    net *n = calloc(1, sizeof *n);
    CHECK_OK(born_module_init(&n->base, &net_vt));
    n->body = scale_shift_new(&destroyed);
    n->head = born_linear_new(3, 2, false, NULL);
    CHECK_OK(born_module_register_child(&n->base, "body", n->body));
    CHECK_OK(born_module_register_child(&n->base, "head", n->head));
    born_scope_end();
    born_tensor_list *sd = born_module_state_dict(&n->base);
    CHECK_EQ_INT(sd->count, 3);
    CHECK(strcmp(sd->items[0].name, "body.scale") == 0 && strcmp(sd->items[1].name, "body.shift") == 0 &&
          strcmp(sd->items[2].name, "head.weight") == 0);
    born_tensor_list_free(sd);
    CHECK(born_module_get_child(&n->base, "body") == n->body);
    CHECK(born_module_get_child(&n->base, "") == &n->base);
    CHECK(born_module_get_parameter(&n->base, "body.scale") == ((scale_shift *)n->body)->scale);
    CHECK(born_module_get_parameter(&n->base, "body.nope") == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "ScaleShift has no parameter 'nope'");
    CHECK(born_module_get_child(&n->base, "tail.x") == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "Net has no child 'tail'");

    nn_set(&n->base, "head.weight", tensor_of(BORN_F32, BORN_DIMS(2, 3), (double[]){1, 0, 0, 0, 1, 1}));
    born_tensor *y = born_module_forward(&n->base, tensor_of(BORN_F32, BORN_DIMS(1, 3), (double[]){1, 2, 3}));
    CHECK_TENSOR_NEAR(y, ((double[]){2.5, 4.5 + 6.5}), 2, 0, 1e-6);
    char *s = born_module_summary(&n->base);
    CHECK(s && strcmp(s, "Net(\n  (body): ScaleShift(features=3)\n  (head): Linear(in_features=3, "
                         "out_features=2, bias=False)\n)\nTotal parameters: 9\n") == 0);
    free(s);
    /* frozen parameters are listed apart */
    born_requires_grad(((scale_shift *)n->body)->scale, false);
    s = born_module_summary(&n->base);
    CHECK(s && strstr(s, "Total parameters: 9\nTrainable parameters: 6\n"));
    free(s);

    born_module_apply(&n->base, NULL, NULL); /* ignored */
    born_module_free(&n->base);
    CHECK_EQ_INT(destroyed, 1);
}

static void count_module(born_module *m, void *ctx) {
    (void)m;
    (*(int *)ctx)++;
}

TEST(nn_registration_rules) {
    born_module *seq = born_sequential_new();
    born_module *lin = born_linear_new(2, 2, true, NULL);
    CHECK_OK(born_sequential_append(seq, lin));
    /* a module has one parent */
    born_module *other = born_sequential_new();
    CHECK(born_module_register_child(other, "x", lin) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "already belongs to another module");
    born_module_free(other);
    /* names: unique, no dots, not empty; parameters floating leaves */
    CHECK(born_module_register_parameter(seq, "0", born_zeros(BORN_F32, BORN_DIMS(1))) != BORN_OK);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "already has a parameter, buffer or child named '0'");
    CHECK(born_module_register_buffer(seq, "a.b", born_zeros(BORN_F32, BORN_DIMS(1))) != BORN_OK);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "contains '.'");
    CHECK(born_module_register_parameter(seq, "", born_zeros(BORN_F32, BORN_DIMS(1))) != BORN_OK);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "empty");
    CHECK(born_module_register_parameter(seq, "i", born_zeros(BORN_I64, BORN_DIMS(1))) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "parameters must be floating");
    born_tensor *leaf = born_requires_grad(born_ones(BORN_F32, BORN_DIMS(2)), true);
    CHECK(born_module_register_parameter(seq, "nl", born_mul_scalar(leaf, 2.0)) == BORN_ERR_AUTOGRAD);
    CHECK_ERROR(BORN_ERR_AUTOGRAD, "must be leaves");
    /* a NULL from a failed op is passed through without a new message */
    CHECK(born_module_register_parameter(seq, "p", born_zeros(BORN_F32, BORN_DIMS(-1))) != BORN_OK);
    CHECK(strstr(born_last_error(), "born_zeros") != NULL);
    born_clear_error();
    CHECK(born_sequential_append(seq, born_linear_new(-1, 2, true, NULL)) != BORN_OK);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_linear_new");
    CHECK(born_sequential_append(lin, born_relu_new()) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "not a Sequential");
    /* a shared parameter is counted and listed once */
    born_tensor *w = born_module_get_parameter(seq, "0.weight");
    CHECK_OK(born_module_register_parameter(seq, "tied", born_tensor_retain(w)));
    CHECK_EQ_INT(born_module_num_parameters(seq), 6);
    born_tensor_list *np = born_module_named_parameters(seq);
    CHECK_EQ_INT(np->count, 2);
    CHECK(strcmp(np->items[0].name, "tied") == 0);
    born_tensor_list_free(np);
    born_tensor_list *sd = born_module_state_dict(seq);
    CHECK_EQ_INT(sd->count, 3); /* state dicts keep every key, as torch */
    born_tensor_list_free(sd);
    int n = 0;
    born_module_apply(seq, count_module, &n);
    CHECK_EQ_INT(n, 2);
    /* no forward: an error, not a crash */
    born_module bare;
    static const born_module_vtable bare_vt = {"Bare", NULL, NULL, NULL};
    born_module_init(&bare, &bare_vt);
    CHECK(born_module_forward(&bare, born_zeros(BORN_F32, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_UNSUPPORTED, "Bare has no forward");
    CHECK(born_module_forward(seq, NULL) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "input is NULL");
    CHECK(born_module_forward(NULL, born_zeros(BORN_F32, BORN_DIMS(1))) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "module is NULL");
    born_module_free(seq);

    /* sequential_of frees everything when one constructor failed */
    CHECK(born_sequential_of(BORN_MODULES(born_relu_new(), born_linear_new(2, -3, true, NULL), born_tanh_new())) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_linear_new");
    born_module *empty = born_sequential_new();
    born_tensor *x = born_ones(BORN_F32, BORN_DIMS(2));
    born_tensor *y = born_module_forward(empty, x);
    CHECK(y && y != x);
    born_module_free(empty);
    born_module_free(NULL);
}

TEST(nn_summary_matches_torch_print) {
    /* print(nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
     *                     nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))) */
    born_module *m = small_cnn();
    char *s = born_module_summary(m);
    const char *want =
        "Sequential(\n"
        "  (0): Conv2d(1, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
        "  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "  (2): ReLU()\n"
        "  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
        "  (4): Flatten(start_dim=1, end_dim=-1)\n"
        "  (5): Linear(in_features=64, out_features=10, bias=True)\n"
        ")\n"
        "Total parameters: 698\n";
    CHECK_MSG(s && strcmp(s, want) == 0, "got:\n%s", s ? s : born_last_error());
    free(s);
    born_module_free(m);

    /* every layer's description, nested: torch prints (the class Net has children features, head)
     *   features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, bias=False), nn.BatchNorm2d(8), nn.GELU(),
     *                            nn.Dropout(0.25), nn.AdaptiveAvgPool2d((1, 1)))
     *   head = nn.Sequential(nn.Flatten(), nn.LayerNorm(8), nn.Linear(8, 4), nn.LeakyReLU(0.1),
     *       nn.Softplus(), nn.ELU(), nn.RMSNorm([4]), nn.Embedding(10, 3, padding_idx=0),
     *       nn.AvgPool2d(2), nn.Conv2d(4, 4, (1, 3), padding=(0, 1), dilation=(1, 2), groups=2),
     *       nn.SiLU(), nn.Sigmoid(), nn.Tanh(), nn.Identity(), nn.GELU('tanh'), nn.LogSoftmax(dim=1),
     *       nn.BatchNorm1d(4, momentum=None, affine=False)) */
    born_conv2d_options c1 = born_conv2d_default_options(3, 3);
    c1.stride[0] = c1.stride[1] = 2;
    c1.bias = false;
    born_conv2d_options c2 = born_conv2d_default_options(1, 3);
    c2.padding[1] = 1;
    c2.dilation[1] = 2;
    c2.groups = 2;
    born_pool2d_params ap = born_pool2d_default_params(2, 2);
    born_batch_norm_options bo = born_batch_norm_default_options();
    bo.momentum = -1;
    bo.affine = false;
    net *n = calloc(1, sizeof *n);
    born_module_init(&n->base, &net_vt);
    n->body = born_sequential_of(BORN_MODULES(born_conv2d_new(3, 8, &c1, NULL), born_batch_norm2d_new(8, NULL),
                                              born_gelu_new(false), born_dropout_new(0.25, NULL),
                                              born_adaptive_avg_pool2d_new(1, 1)));
    n->head = born_sequential_of(BORN_MODULES(
        born_flatten_new(1, -1), born_layer_norm_new(BORN_DIMS(8), 1e-5, true, true), born_linear_new(8, 4, true, NULL),
        born_leaky_relu_new(0.1), born_softplus_new(1, 20), born_elu_new(1), born_rms_norm_new(BORN_DIMS(4), -1, true),
        born_embedding_new(10, 3, 0, NULL), born_avg_pool2d_new(&ap), born_conv2d_new(4, 4, &c2, NULL),
        born_silu_new(), born_sigmoid_new(), born_tanh_new(), born_identity_new(), born_gelu_new(true),
        born_log_softmax_new(1), born_batch_norm1d_new(4, &bo)));
    CHECK_OK(born_module_register_child(&n->base, "features", n->body));
    CHECK_OK(born_module_register_child(&n->base, "head", n->head));
    const char *want_net =
        "Net(\n"
        "  (features): Sequential(\n"
        "    (0): Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2), bias=False)\n"
        "    (1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)\n"
        "    (2): GELU(approximate='none')\n"
        "    (3): Dropout(p=0.25, inplace=False)\n"
        "    (4): AdaptiveAvgPool2d(output_size=(1, 1))\n"
        "  )\n"
        "  (head): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True)\n"
        "    (2): Linear(in_features=8, out_features=4, bias=True)\n"
        "    (3): LeakyReLU(negative_slope=0.1)\n"
        "    (4): Softplus(beta=1.0, threshold=20.0)\n"
        "    (5): ELU(alpha=1.0)\n"
        "    (6): RMSNorm((4,), eps=None, elementwise_affine=True)\n"
        "    (7): Embedding(10, 3, padding_idx=0)\n"
        "    (8): AvgPool2d(kernel_size=2, stride=2, padding=0)\n"
        "    (9): Conv2d(4, 4, kernel_size=(1, 3), stride=(1, 1), padding=(0, 1), dilation=(1, 2), groups=2)\n"
        "    (10): SiLU()\n"
        "    (11): Sigmoid()\n"
        "    (12): Tanh()\n"
        "    (13): Identity()\n"
        "    (14): GELU(approximate='tanh')\n"
        "    (15): LogSoftmax(dim=1)\n"
        "    (16): BatchNorm1d(4, eps=1e-05, momentum=None, affine=False, bias=False, track_running_stats=True)\n"
        "  )\n"
        ")";
    s = born_module_repr(&n->base);
    CHECK_MSG(s && strcmp(s, want_net) == 0, "got:\n%s", s ? s : born_last_error());
    free(s);
    CHECK_EQ_INT(born_module_num_parameters(&n->base), 346); /* torch: 346 */
    /* torch's key order, nested */
    const char *const keys[] = {"features.0.weight", "features.1.weight", "features.1.bias",
                                "features.1.running_mean", "features.1.running_var",
                                "features.1.num_batches_tracked", "head.1.weight", "head.1.bias",
                                "head.2.weight", "head.2.bias", "head.6.weight", "head.7.weight",
                                "head.9.weight", "head.9.bias", "head.16.running_mean",
                                "head.16.running_var", "head.16.num_batches_tracked"};
    born_tensor_list *sd = born_module_state_dict(&n->base);
    CHECK_EQ_INT(sd->count, N_OF(keys));
    for (int64_t i = 0; i < sd->count && i < N_OF(keys); i++) CHECK(strcmp(sd->items[i].name, keys[i]) == 0);
    born_tensor_list_free(sd);
    born_module_free(&n->base);
}

TEST(nn_train_eval_switching) {
    born_generator *g = born_generator_new(5);
    born_module *m = born_sequential_of(BORN_MODULES(born_dropout_new(0.5, g), born_batch_norm1d_new(4, NULL)));
    CHECK(born_module_is_training(m) && born_module_is_training(born_module_get_child(m, "0")));
    born_module_eval(m);
    CHECK(!born_module_is_training(born_module_get_child(m, "0")) && !born_module_is_training(born_module_get_child(m, "1")));
    /* eval: dropout is the identity and batch norm uses the running statistics (0 and 1) */
    born_tensor *x = PAT(0.7, 0.1, 2.0, 8, 4);
    born_tensor *y = born_module_forward(m, x);
    double xv[32], yv[32];
    CHECK(test_read(x, xv, 32) && test_read(y, yv, 32));
    for (int i = 0; i < 32; i++) CHECK_NEAR(yv[i], xv[i] / sqrt(1 + 1e-5), 1e-6);
    CHECK_EQ_INT(born_item(born_module_get_buffer(m, "1.num_batches_tracked")), 0);
    born_module_train(m, true);
    y = born_module_forward(m, x);
    CHECK_EQ_INT(born_item(born_module_get_buffer(m, "1.num_batches_tracked")), 1);
    double rm[4];
    CHECK(test_read(born_module_get_buffer(m, "1.running_mean"), rm, 4));
    CHECK(rm[0] != 0.0);
    born_module_free(m);
    born_generator_free(g);
}

TEST(nn_module_to_dtype) {
    born_module *m = small_cnn();
    born_tensor *w = born_module_get_parameter(m, "5.weight");
    double before[4];
    CHECK(test_read(w, before, 4) == false); /* 640 elements, not 4 */
    double all32[640], all64[640];
    CHECK(test_read(w, all32, 640));
    CHECK_OK(born_module_to_dtype(m, BORN_F64));
    CHECK(born_module_get_parameter(m, "5.weight") == w && born_tensor_dtype(w) == BORN_F64);
    CHECK(born_tensor_requires_grad(w));
    CHECK(born_tensor_dtype(born_module_get_buffer(m, "1.running_var")) == BORN_F64);
    CHECK(born_tensor_dtype(born_module_get_buffer(m, "1.num_batches_tracked")) == BORN_I64);
    CHECK(test_read(w, all64, 640) && memcmp(all32, all64, sizeof all32) == 0);
    born_tensor *y = born_module_forward(m, PAT64(0.37, 0.1, 1.0, 2, 1, 8, 8));
    CHECK(y && born_tensor_dtype(y) == BORN_F64);
    CHECK(born_module_to_dtype(m, BORN_I32) == BORN_ERR_DTYPE);
    born_clear_error();
    born_module_free(m);
}

static born_tensor *returns_param_forward(born_module *m, born_tensor *x) {
    (void)x;
    return m->params[0].tensor; /* wrong (not a new reference), but must not break ownership */
}

static born_tensor *returns_input_forward(born_module *m, born_tensor *x) {
    (void)m;
    return x;
}

TEST(nn_forward_returning_a_borrowed_tensor_gets_a_view) {
    static const born_module_vtable vt1 = {"P", returns_param_forward, NULL, NULL};
    static const born_module_vtable vt2 = {"I", returns_input_forward, NULL, NULL};
    born_module *m1 = calloc(1, sizeof *m1), *m2 = calloc(1, sizeof *m2);
    born_module_init(m1, &vt1);
    born_module_init(m2, &vt2);
    born_module_register_parameter(m1, "w", born_ones(BORN_F32, BORN_DIMS(3)));
    born_tensor *x = born_zeros(BORN_F32, BORN_DIMS(3));
    born_tensor *y1 = born_module_forward(m1, x), *y2 = born_module_forward(m2, x);
    CHECK(y1 && y1 != m1->params[0].tensor && born_tensor_shares_storage(y1, m1->params[0].tensor));
    CHECK(y2 && y2 != x && born_tensor_shares_storage(y2, x));
    born_free(y1);
    born_free(y2);
    CHECK(born_item(born_sum(m1->params[0].tensor, 0, NULL, false)) == 3); /* still alive */
    born_module_free(m1);
    born_module_free(m2);
}
