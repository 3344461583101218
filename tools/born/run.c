/* born run: generate text from a prompt with a GGUF model, streaming it to stdout; timings go to
 * stderr. */
#include <stdio.h>
#include <string.h>

#include "tools/born/commands.h"
#include "tools/born/llm_opts.h"

static void usage(FILE *out) {
    fprintf(out, "usage: born run -m MODEL -p PROMPT [options]\n\n%s", llm_opts_usage);
}

static bool print_piece(int32_t id, const char *piece, size_t len, void *user) {
    (void)id;
    (void)user;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return true;
}

static const char *reason_name(born_stop_reason r) {
    switch (r) {
    case BORN_STOP_EOG: return "end of generation";
    case BORN_STOP_MAX_TOKENS: return "max tokens";
    case BORN_STOP_STRING: return "stop string";
    case BORN_STOP_CALLBACK: return "callback";
    case BORN_STOP_CONTEXT: return "context full";
    default: return "none";
    }
}

int cmd_run(int argc, char **argv) {
    llm_opts o;
    llm_opts_init(&o);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        int r = llm_opts_parse(&o, argc, argv, &i, "run");
        if (r < 0) return 2;
        if (r == 0) {
            fprintf(stderr, "born run: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!o.prompt) {
        fprintf(stderr, "born run: -p PROMPT is required\n");
        usage(stderr);
        return 2;
    }
    born_model *m = llm_opts_load(&o, "run");
    if (!m) return 1;
    born_session_params sp = born_session_default_params();
    sp.n_ctx = o.n_ctx;
    sp.n_batch = o.n_batch;
    born_session *s = born_session_new(m, &sp);
    born_sampler *smp = s ? born_sampler_new(&o.sp, born_model_n_vocab(m)) : NULL;
    int status = 1;
    if (!s || !smp) {
        fprintf(stderr, "born run: %s\n", born_last_error());
        goto done;
    }
    born_generate_params gp = born_generate_default_params();
    gp.max_tokens = o.n_predict;
    gp.add_bos = !o.no_bos;
    gp.stop = o.stop;
    gp.n_stop = o.n_stop;
    gp.on_token = print_piece;
    born_generate_result res;
    if (born_generate(s, smp, o.prompt, &gp, &res) != BORN_OK) {
        fprintf(stderr, "\nborn run: %s\n", born_last_error());
        goto done;
    }
    printf("\n");
    fflush(stdout);
    fprintf(stderr,
            "prompt: %d tokens in %.1f ms (%.2f t/s); generation: %d tokens in %.1f ms (%.2f t/s); "
            "stopped by %s; seed %llu\n",
            (int)res.n_prompt, res.prompt_ms,
            res.prompt_ms > 0 ? res.n_prompt * 1e3 / res.prompt_ms : 0.0, (int)res.n_generated,
            res.generate_ms, res.generate_ms > 0 ? res.n_generated * 1e3 / res.generate_ms : 0.0,
            reason_name(res.stop_reason), (unsigned long long)born_sampler_seed(smp));
    born_generate_result_clear(&res);
    status = 0;
done:
    born_clear_error();
    born_sampler_free(smp);
    born_session_free(s);
    born_model_free(m);
    return status;
}
