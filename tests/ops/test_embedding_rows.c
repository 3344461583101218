/* Embedding lookups and their gradients through the CPU's whole-row paths (index_select and
 * index_add along dim 0 with contiguous rows): against a plain loop, with repeated and unused
 * tokens, bit for bit (each row's additions in index order), at 1 and 3 threads. */
#include <math.h>
#include <string.h>

#include "test.h"

TEST(embedding_rows_match_loop) {
    enum { V = 300, D = 96, N = 1000 };
    int threads = born_get_num_threads();
    born_generator *gen = born_generator_new(5);
    born_scope_begin();
    born_tensor *w = born_requires_grad(born_randn(gen, BORN_F32, BORN_DIMS(V, D)), true);
    born_tensor *go = born_randn(gen, BORN_F32, BORN_DIMS(2, N / 2, D));
    int64_t ids[N];
    uint64_t s = 12345;
    for (int i = 0; i < N; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int64_t)((s >> 33) % (V / 2)) * ((s >> 20) & 1 ? 1 : 2) % V; /* repeats, gaps */
    }
    born_tensor *idx = born_from_data(BORN_I64, BORN_DIMS(2, N / 2), ids, sizeof ids);
    const float *wv = born_data_f32(w), *gv = born_data_f32(go);
    static float ref[V * D];
    memset(ref, 0, sizeof ref);
    for (int i = 0; i < N; i++)
        for (int d = 0; d < D; d++) ref[ids[i] * D + d] += gv[i * D + d];
    for (int t = 1; t <= 3; t += 2) {
        born_set_num_threads(t);
        born_zero_grad(w);
        born_tensor *out = born_embedding(w, idx);
        CHECK_OK_TENSOR(out);
        CHECK_SHAPE(out, 2, N / 2, D);
        const float *o = born_data_f32(out);
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += memcmp(o + i * D, wv + ids[i] * D, sizeof(float) * D) != 0;
        CHECK_MSG(bad == 0, "%d looked-up rows differ (threads %d)", bad, t);
        born_backward_params bp = born_backward_default_params();
        bp.grad = go;
        CHECK_OK(born_backward_ex(out, &bp));
        const float *g = born_data_f32(born_grad(w));
        CHECK(g != NULL);
        bad = 0;
        for (int i = 0; i < V * D; i++) bad += g[i] != ref[i];
        CHECK_MSG(bad == 0, "%d gradient elements differ from the loop (threads %d)", bad, t);
    }
    born_scope_end();
    born_generator_free(gen);
    born_set_num_threads(threads);
}
