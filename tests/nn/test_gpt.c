/* GPT against PyTorch (the llm.c test): tools/gen_gpt_fixtures.py builds the same tiny GPT-2- and
 * LLaMA-style models in torch (float64) with fixed weights and a fixed batch. Born's model loads
 * those weights by name (strict: every parameter name must match) and must reproduce the logits
 * and the loss (1e-5), every parameter's gradient (1e-4) and the losses of 10 AdamW steps (1e-4).
 * Tolerances are relative to the largest magnitude of the reference tensor. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* max |a - b| / max(max |ref|, 1e-3), as a double (INFINITY when a shape differs or a tensor is
 * missing). The floor matters for one gradient only: k_proj.bias's is zero in exact arithmetic
 * (a key bias adds the same q . b to every score of a row, and softmax ignores that), so torch's
 * float64 value is ~1e-17 and Born's float32 rounding must stay below 1e-3 x the tolerance. */
static double rel_err(born_tensor *got, born_tensor *ref) {
    if (!got || !ref || born_tensor_numel(got) != born_tensor_numel(ref)) return INFINITY;
    born_scope_begin();
    born_tensor *g = born_contiguous(born_to_dtype(got, BORN_F64));
    born_tensor *r = born_contiguous(born_to_dtype(ref, BORN_F64));
    const double *gp = born_data_ptr(g), *rp = born_data_ptr(r);
    double diff = 0, mag = 0;
    for (int64_t i = 0; gp && rp && i < born_tensor_numel(r); i++) {
        diff = fmax(diff, fabs(gp[i] - rp[i]));
        mag = fmax(mag, fabs(rp[i]));
    }
    bool ok = gp && rp;
    born_scope_end();
    return ok ? diff / fmax(mag, 1e-3) : INFINITY;
}

static int64_t meta_int(born_file *f, const char *key) {
    const char *s = born_string_map_get(born_file_metadata(f), key);
    return s ? strtoll(s, NULL, 10) : -1;
}

static double meta_double(born_file *f, const char *key) {
    const char *s = born_string_map_get(born_file_metadata(f), key);
    return s ? strtod(s, NULL) : NAN;
}

static void gpt_matches_torch(const char *path) {
    born_file *f = born_file_open(path, NULL);
    CHECK_MSG(f != NULL, "%s: %s", path, born_last_error());
    if (!f) return;
    const char *llama = born_string_map_get(born_file_metadata(f), "llama");
    born_gpt_config cfg = born_gpt_default_config(llama && strcmp(llama, "True") == 0);
    cfg.vocab_size = meta_int(f, "vocab");
    cfg.block_size = meta_int(f, "block");
    cfg.n_layer = meta_int(f, "layers");
    cfg.n_head = meta_int(f, "heads");
    cfg.n_kv_head = meta_int(f, "kv_heads");
    cfg.n_embd = meta_int(f, "dim");
    cfg.ffn_hidden = meta_int(f, "hidden");
    cfg.norm_eps = meta_double(f, "norm_eps");
    cfg.rope_theta = meta_double(f, "rope_theta");
    born_generator *gen = born_generator_new(0);
    born_module *model = born_gpt_new(&cfg, gen);
    CHECK_OK_TENSOR((born_tensor *)model);

    /* the weights, by name: param.<name> in the file is <name> in the model */
    born_tensor_list *sd = born_tensor_list_new();
    for (int64_t i = 0; i < born_file_count(f); i++) {
        born_tensor_info info;
        CHECK_OK(born_file_tensor_info(f, i, &info));
        if (strncmp(info.name, "param.", 6) != 0) continue;
        born_tensor *t = born_file_get_index(f, i);
        CHECK_OK(born_tensor_list_add(sd, info.name + 6, t));
        born_free(t);
    }
    CHECK_MSG(model && born_module_load_state_dict(model, sd, true) == BORN_OK, "%s: %s", path,
              born_last_error());
    born_tensor_list_free(sd);

    born_tensor *idx = born_file_get(f, "idx"), *targets = born_file_get(f, "targets");
    int64_t n = born_tensor_numel(targets);
    born_tensor *flat_targets = born_reshape(targets, BORN_DIMS(n));

    /* logits, loss, gradients */
    born_scope_begin();
    born_tensor *logits = born_module_forward(model, idx);
    born_tensor *loss = born_cross_entropy(born_reshape(logits, BORN_DIMS(n, cfg.vocab_size)),
                                           flat_targets, NULL);
    born_tensor *ref_logits = born_file_get(f, "logits"), *ref_loss = born_file_get(f, "loss");
    double e_logits = rel_err(logits, ref_logits), e_loss = rel_err(loss, ref_loss);
    CHECK_MSG(e_logits <= 1e-5, "%s: logits relative error %.3g", path, e_logits);
    CHECK_MSG(e_loss <= 1e-5, "%s: loss relative error %.3g", path, e_loss);
    born_free(ref_logits);
    born_free(ref_loss);
    CHECK_OK(born_backward(loss));
    born_tensor_list *params = born_module_named_parameters(model);
    int64_t checked = 0;
    for (int64_t i = 0; params && i < params->count; i++) {
        char key[256];
        snprintf(key, sizeof key, "grad.%s", params->items[i].name);
        born_tensor *ref = born_file_get(f, key);
        double e = rel_err(born_grad(params->items[i].tensor), ref);
        CHECK_MSG(e <= 1e-4, "%s: gradient of %s relative error %.3g", path, params->items[i].name, e);
        checked += ref != NULL;
        born_free(ref);
    }
    born_scope_end();

    /* 10 AdamW steps with the script's hyperparameters */
    int64_t np_;
    born_tensor **ps = born_module_parameters(model, &np_);
    CHECK(params && checked == params->count && np_ == params->count);
    born_tensor_list_free(params);
    born_adam_params ap = born_adamw_default_params();
    ap.lr = meta_double(f, "lr");
    ap.betas[0] = meta_double(f, "beta1");
    ap.betas[1] = meta_double(f, "beta2");
    ap.eps = meta_double(f, "eps");
    ap.weight_decay = meta_double(f, "weight_decay");
    born_optimizer *opt = born_adamw(ps, np_, &ap);
    free(ps);
    CHECK_OK_TENSOR((born_tensor *)opt);
    born_module_zero_grad(model);
    int64_t steps = meta_int(f, "steps");
    born_tensor *stored_losses = born_file_get(f, "losses");
    born_tensor *ref_losses = born_contiguous(stored_losses);
    born_free(stored_losses);
    const float *rl = ref_losses ? born_data_ptr(ref_losses) : NULL;
    CHECK(rl && steps == 10 && born_tensor_numel(ref_losses) == steps + 1);
    for (int64_t s = 0; rl && opt && s <= steps; s++) {
        born_scope_begin();
        if (s == steps) born_no_grad_begin();
        born_tensor *l = born_cross_entropy(
            born_reshape(born_module_forward(model, idx), BORN_DIMS(n, cfg.vocab_size)), flat_targets,
            NULL);
        double got = l ? born_item(l) : NAN;
        CHECK_MSG(fabs(got - rl[s]) <= 1e-4 * fabs(rl[s]), "%s: loss of step %lld: %.7f, torch %.7f",
                  path, (long long)s, got, (double)rl[s]);
        if (s < steps) {
            CHECK_OK(born_backward(l));
            CHECK_OK(born_optimizer_step(opt));
            born_optimizer_zero_grad(opt);
        } else {
            born_no_grad_end();
        }
        born_scope_end();
    }
    born_free(ref_losses);
    born_optimizer_free(opt);
    born_free(flat_targets);
    born_free(idx);
    born_free(targets);
    born_module_free(model);
    born_generator_free(gen);
    born_file_close(f);
}

TEST(gpt2_matches_pytorch) { gpt_matches_torch("tests/fixtures/gpt/gpt2.safetensors"); }

TEST(llama_matches_pytorch) { gpt_matches_torch("tests/fixtures/gpt/llama.safetensors"); }

/* Impossible configurations are refused with a message naming the function. */
TEST(gpt_rejects_bad_config) {
    born_gpt_config c = born_gpt_default_config(false);
    c.n_head = 3; /* 64 is not a multiple of 3 */
    CHECK(born_gpt_new(&c, NULL) == NULL);
    CHECK(strstr(born_last_error(), "born_gpt_new") != NULL);
    CHECK(born_gpt_new(NULL, NULL) == NULL);
    c = born_gpt_default_config(true);
    c.n_kv_head = 3;
    CHECK(born_gpt_new(&c, NULL) == NULL);
    CHECK(born_gpt_get_config(NULL) == NULL);
}

/* A GPT refuses token ids longer than its context, and the default configuration builds. */
TEST(gpt_rejects_long_context) {
    born_gpt_config c = born_gpt_default_config(false);
    c.block_size = 4;
    born_module *m = born_gpt_new(&c, NULL);
    CHECK_OK_TENSOR((born_tensor *)m);
    CHECK(m && born_gpt_get_config(m)->block_size == 4);
    born_scope_begin();
    born_tensor *ok = born_module_forward(m, born_zeros(BORN_I64, BORN_DIMS(1, 4)));
    CHECK_SHAPE(ok, 1, 4, 256);
    CHECK(born_module_forward(m, born_zeros(BORN_I64, BORN_DIMS(1, 5))) == NULL);
    CHECK(strstr(born_last_error(), "block_size") != NULL);
    born_scope_end();
    born_module_free(m);
}
