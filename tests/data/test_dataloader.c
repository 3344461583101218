/* Datasets and the data loader: shapes, transforms, views, batching, shuffling determinism and
 * coverage, the background thread against a synchronous run, and lifetimes (run under
 * `make test SAN=1` for leaks). */
#include <stdlib.h>
#include <string.h>

#include "test.h"

/* n samples: inputs [n, 2, 3] f32 with sample i holding 100 i + (0..5), targets [n] i64 = i. */
static born_dataset *counting_dataset(int64_t n) {
    born_scope_begin();
    born_tensor *x = born_empty(BORN_F32, BORN_DIMS(n, 2, 3));
    born_tensor *y = born_arange(0, (double)n, 1, BORN_I64);
    float *p = born_data_f32(x);
    for (int64_t i = 0; i < n; i++)
        for (int k = 0; k < 6; k++) p[i * 6 + k] = (float)(100 * i + k);
    born_dataset *ds = born_tensor_dataset_new(x, y);
    born_scope_end(); /* the dataset holds its own references */
    return ds;
}

TEST(dataset_basics) {
    born_dataset *ds = counting_dataset(10);
    CHECK(ds);
    if (!ds) return;
    CHECK_EQ_INT(born_dataset_len(ds), 10);
    born_tensor *x = NULL, *y = NULL;
    CHECK_OK(born_dataset_get(ds, 3, &x, &y));
    CHECK_SHAPE(x, 2, 3);
    CHECK_EQ_INT(born_tensor_ndim(y), 0);
    CHECK_TENSOR_NEAR(x, ((const double[]){300, 301, 302, 303, 304, 305}), 6, 0, 0);
    CHECK_NEAR(born_item(y), 3, 0);
    CHECK_OK(born_dataset_get(ds, -1, &x, NULL));
    CHECK_TENSOR_NEAR(x, ((const double[]){900, 901, 902, 903, 904, 905}), 6, 0, 0);
    CHECK(born_dataset_get(ds, 10, &x, &y) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "born_dataset_get: index 10 is out of range for 10 samples");
    born_dataset_free(ds);
}

TEST(dataset_errors) {
    born_tensor *x = born_zeros(BORN_F32, BORN_DIMS(4, 2));
    born_tensor *y = born_zeros(BORN_I64, BORN_DIMS(5));
    CHECK(born_tensor_dataset_new(x, y) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "different numbers of samples (4 vs 5)");
    CHECK(born_tensor_dataset_new(born_scalar(BORN_F32, 1), NULL) == NULL);
    CHECK_ERROR(BORN_ERR_SHAPE, "inputs [] f32 has no dimension");
    CHECK(born_tensor_dataset_new(NULL, y) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "inputs is NULL");
    born_dataset *ds = born_tensor_dataset_new(x, NULL);
    CHECK(ds);
    born_transform_params p = born_transform_default_params();
    p.std = 0;
    CHECK(born_dataset_set_transform(ds, &p) == BORN_ERR_ARGUMENT);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "std nonzero");
    p = born_transform_default_params();
    p.input_dtype = BORN_I32;
    p.scale = 2;
    CHECK(born_dataset_set_transform(ds, &p) == BORN_ERR_DTYPE);
    CHECK_ERROR(BORN_ERR_DTYPE, "must be floating, not i32");
    born_dataset *a = NULL, *b = NULL;
    CHECK(born_dataset_split(ds, 5, &a, &b) == BORN_ERR_ARGUMENT);
    CHECK(a == NULL && b == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "cannot split 4 samples after the first 5");
    CHECK(born_dataset_subset(ds, 3, 2) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "samples [3, 3 + 2) are not within the dataset's 4");
    CHECK(born_dataloader_new(ds, &(born_dataloader_params){.batch_size = 0, .prefetch = 1}) ==
          NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "batch_size is 0");
    born_dataloader_params lp = born_dataloader_default_params();
    lp.prefetch = 0;
    CHECK(born_dataloader_new(ds, &lp) == NULL);
    CHECK_ERROR(BORN_ERR_ARGUMENT, "prefetch is 0");
    born_tensor *bx = NULL;
    CHECK(!born_dataloader_next(NULL, &bx, NULL));
    CHECK_ERROR(BORN_ERR_ARGUMENT, "loader is NULL");
    born_dataset_free(ds);
}

TEST(dataset_image_transform) {
    const double pix[8] = {0, 255, 51, 102, 1, 2, 3, 4};
    born_tensor *x = tensor_of(BORN_U8, BORN_DIMS(2, 2, 2), pix);
    born_tensor *y = tensor_of(BORN_U8, BORN_DIMS(2), (const double[]){7, 3});
    born_dataset *ds = born_tensor_dataset_new(x, y);
    CHECK(ds);
    if (!ds) return;
    born_transform_params p = born_transform_image_params(0.1307, 0.3081);
    CHECK_OK(born_dataset_set_transform(ds, &p));
    born_dataloader *dl = born_dataloader_new(ds, &(born_dataloader_params){
                                                      .batch_size = 2, .prefetch = 1,
                                                      .background = true});
    born_tensor *bx = NULL, *by = NULL;
    CHECK(born_dataloader_next(dl, &bx, &by));
    CHECK_OK_TENSOR(bx);
    if (bx) {
        CHECK(born_tensor_dtype(bx) == BORN_F32);
        CHECK(born_tensor_dtype(by) == BORN_I64);
        CHECK_SHAPE(bx, 2, 2, 2);
        double want[8];
        for (int i = 0; i < 8; i++) want[i] = (float)((pix[i] / 255.0 - 0.1307) / 0.3081);
        CHECK_TENSOR_NEAR(bx, want, 8, 0, 0);
        CHECK_TENSOR_NEAR(by, ((const double[]){7, 3}), 2, 0, 0);
    }
    born_dataloader_free(dl);
    /* a general transform: i16 inputs to f64, targets to f32 */
    born_tensor *xi = tensor_of(BORN_I16, BORN_DIMS(2, 1), (const double[]){-4, 10});
    born_dataset *di = born_tensor_dataset_new(xi, y);
    p = (born_transform_params){.input_dtype = BORN_F64, .scale = 0.5, .mean = 1, .std = 4,
                                .target_dtype = BORN_F32};
    CHECK_OK(born_dataset_set_transform(di, &p));
    born_tensor *sx = NULL, *sy = NULL;
    CHECK_OK(born_dataset_get(di, 1, &sx, &sy));
    CHECK(sx && born_tensor_dtype(sx) == BORN_F64);
    CHECK_TENSOR_NEAR(sx, ((const double[]){1.0}), 1, 0, 0);
    CHECK(sy && born_tensor_dtype(sy) == BORN_F32);
    CHECK_NEAR(born_item(sy), 3, 0);
    born_dataset_free(di);
    born_dataset_free(ds);
}

TEST(dataset_split_is_a_view) {
    born_dataset *ds = counting_dataset(10);
    born_dataset *a = NULL, *b = NULL;
    CHECK_OK(born_dataset_split(ds, 7, &a, &b));
    CHECK(a && b);
    if (!a || !b) return;
    CHECK_EQ_INT(born_dataset_len(a), 7);
    CHECK_EQ_INT(born_dataset_len(b), 3);
    CHECK(born_tensor_shares_storage(born_dataset_inputs(a), born_dataset_inputs(ds)));
    CHECK(born_tensor_shares_storage(born_dataset_inputs(b), born_dataset_inputs(ds)));
    CHECK(born_tensor_shares_storage(born_dataset_targets(b), born_dataset_targets(ds)));
    born_dataset_free(ds); /* the views keep the storage alive */
    born_tensor *x = NULL, *y = NULL;
    CHECK_OK(born_dataset_get(b, 0, &x, &y));
    CHECK_TENSOR_NEAR(x, ((const double[]){700, 701, 702, 703, 704, 705}), 6, 0, 0);
    CHECK_NEAR(born_item(y), 7, 0);
    born_dataset *empty = born_dataset_subset(b, 3, 0);
    CHECK(empty && born_dataset_len(empty) == 0);
    born_dataloader *dl = born_dataloader_new(empty, NULL);
    CHECK_EQ_INT(born_dataloader_len(dl), 0);
    CHECK(!born_dataloader_next(dl, &x, &y));
    CHECK(born_last_status() == BORN_OK);
    born_dataloader_free(dl);
    born_dataset_free(empty);
    born_dataset_free(a);
    born_dataset_free(b);
}

TEST(dataloader_batch_shapes_and_drop_last) {
    born_dataset *ds = counting_dataset(10);
    for (int bg = 0; bg < 2; bg++) {
        born_dataloader_params p = born_dataloader_default_params();
        p.batch_size = 4;
        p.background = bg;
        born_dataloader *dl = born_dataloader_new(ds, &p);
        CHECK_EQ_INT(born_dataloader_len(dl), 3);
        born_tensor *x = NULL, *y = NULL;
        const int64_t sizes[3] = {4, 4, 2};
        for (int b = 0; b < 3; b++) {
            CHECK(born_dataloader_next(dl, &x, &y));
            CHECK_SHAPE(x, sizes[b], 2, 3);
            CHECK_SHAPE(y, sizes[b]);
            CHECK_NEAR(born_item(born_select(y, 0, 0)), 4 * b, 0);
            CHECK_NEAR(born_item(born_select(born_flatten(x, 0, -1), 0, 0)), 400 * b, 0);
        }
        CHECK(!born_dataloader_next(dl, &x, &y));
        CHECK(x == NULL && y == NULL);
        CHECK(!born_dataloader_next(dl, &x, &y)); /* stays over until reset */
        CHECK(born_last_status() == BORN_OK);
        CHECK_EQ_INT(born_dataloader_epoch(dl), 1);
        CHECK_OK(born_dataloader_reset(dl));
        CHECK_EQ_INT(born_dataloader_epoch(dl), 2);
        CHECK(born_dataloader_next(dl, &x, NULL)); /* targets skipped */
        CHECK_SHAPE(x, 4, 2, 3);
        born_dataloader_free(dl);

        p.drop_last = true;
        dl = born_dataloader_new(ds, &p);
        CHECK_EQ_INT(born_dataloader_len(dl), 2);
        int count = 0;
        while (born_dataloader_next(dl, &x, &y)) {
            CHECK_SHAPE(x, 4, 2, 3);
            count++;
        }
        CHECK_EQ_INT(count, 2);
        born_dataloader_free(dl);

        p.drop_last = false;
        p.batch_size = 64; /* larger than the dataset: one batch of everything */
        dl = born_dataloader_new(ds, &p);
        CHECK_EQ_INT(born_dataloader_len(dl), 1);
        CHECK(born_dataloader_next(dl, &x, &y));
        CHECK_SHAPE(x, 10, 2, 3);
        born_dataloader_free(dl);
    }
    born_dataset_free(ds);
}

/* Every target of one epoch, in batch order, into out (n entries); returns the count. */
static int64_t epoch_targets(born_dataloader *dl, int64_t *out, int64_t n) {
    int64_t got = 0;
    born_tensor *x = NULL, *y = NULL;
    born_scope_begin();
    while (born_dataloader_next(dl, &x, &y)) {
        int64_t b = born_tensor_numel(y);
        const int64_t *p = born_data_i64(y);
        for (int64_t i = 0; i < b && got < n; i++) out[got++] = p[i];
        /* inputs follow their targets */
        const float *xp = born_data_f32(x);
        if (b > 0 && xp[5] != (float)(100 * p[0] + 5)) out[0] = -1;
        born_scope_end();
        born_scope_begin();
    }
    born_scope_end();
    return got;
}

TEST(dataloader_shuffle_covers_every_sample_once) {
    enum { N = 1000 };
    born_dataset *ds = counting_dataset(N);
    born_dataloader_params p = born_dataloader_default_params();
    p.batch_size = 64;
    p.shuffle = true;
    p.seed = 1234;
    born_dataloader *dl = born_dataloader_new(ds, &p);
    static int64_t e1[N], e2[N];
    CHECK_EQ_INT(epoch_targets(dl, e1, N), N);
    CHECK_OK(born_dataloader_reset(dl));
    CHECK_EQ_INT(epoch_targets(dl, e2, N), N);
    static int seen1[N], seen2[N];
    memset(seen1, 0, sizeof seen1);
    memset(seen2, 0, sizeof seen2);
    bool in_range = true, in_order = true;
    for (int i = 0; i < N; i++) {
        in_range &= e1[i] >= 0 && e1[i] < N && e2[i] >= 0 && e2[i] < N;
        if (!in_range) break;
        seen1[e1[i]]++;
        seen2[e2[i]]++;
        in_order &= e1[i] == i;
    }
    CHECK(in_range);
    bool once = true;
    for (int i = 0; i < N; i++) once &= seen1[i] == 1 && seen2[i] == 1;
    CHECK(once);
    CHECK(!in_order);
    CHECK(memcmp(e1, e2, sizeof e1) != 0); /* a new order each epoch */
    born_dataloader_free(dl);

    /* the same seed gives the same orders; another seed another */
    static int64_t f1[N], f2[N], g1[N];
    dl = born_dataloader_new(ds, &p);
    epoch_targets(dl, f1, N);
    born_dataloader_reset(dl);
    epoch_targets(dl, f2, N);
    born_dataloader_free(dl);
    CHECK(memcmp(e1, f1, sizeof e1) == 0);
    CHECK(memcmp(e2, f2, sizeof e2) == 0);
    p.seed = 1235;
    dl = born_dataloader_new(ds, &p);
    epoch_targets(dl, g1, N);
    born_dataloader_free(dl);
    CHECK(memcmp(e1, g1, sizeof e1) != 0);

    /* a borrowed generator: the loader draws from it, so the same state gives the same order */
    born_generator *gen = born_generator_new(99);
    p.generator = gen;
    dl = born_dataloader_new(ds, &p);
    epoch_targets(dl, f1, N);
    born_dataloader_free(dl);
    born_generator_seed(gen, 99);
    dl = born_dataloader_new(ds, &p);
    epoch_targets(dl, f2, N);
    born_dataloader_free(dl);
    CHECK(memcmp(f1, f2, sizeof f1) == 0);
    uint64_t seed = 0, offset = 0;
    born_generator_get_state(gen, &seed, &offset);
    CHECK(offset > 0);
    born_generator_free(gen);
    born_dataset_free(ds);
}

/* All batches of two epochs, concatenated (inputs as floats). */
static float *run_loader(born_dataset *ds, born_dataloader_params p, size_t *count) {
    born_dataloader *dl = born_dataloader_new(ds, &p);
    size_t cap = 1 << 16, n = 0;
    float *all = malloc(cap * sizeof *all);
    born_tensor *x = NULL, *y = NULL;
    for (int epoch = 0; epoch < 2 && dl && all; epoch++) {
        if (epoch > 0) born_dataloader_reset(dl);
        while (born_dataloader_next(dl, &x, &y)) {
            size_t b = (size_t)born_tensor_numel(x);
            if (n + b > cap) break;
            memcpy(all + n, born_data_f32(x), b * sizeof *all);
            n += b;
            born_free(x);
            born_free(y);
        }
    }
    born_dataloader_free(dl);
    *count = n;
    return all;
}

TEST(dataloader_background_equals_synchronous) {
    born_dataset *ds = counting_dataset(500);
    born_dataloader_params p = born_dataloader_default_params();
    p.batch_size = 33;
    p.shuffle = true;
    p.seed = 7;
    p.background = false;
    size_t n_sync = 0, n_bg = 0, n_bg1 = 0, n_one = 0;
    float *sync = run_loader(ds, p, &n_sync);
    p.background = true;
    p.prefetch = 4;
    float *bg = run_loader(ds, p, &n_bg);
    p.prefetch = 1;
    float *bg1 = run_loader(ds, p, &n_bg1);
    int threads = born_get_num_threads();
    born_set_num_threads(1);
    float *one = run_loader(ds, p, &n_one);
    born_set_num_threads(threads);
    CHECK_EQ_INT(n_sync, 2 * 500 * 6);
    CHECK(n_bg == n_sync && n_bg1 == n_sync && n_one == n_sync);
    CHECK(sync && bg && bg1 && one);
    if (sync && bg && bg1 && one && n_bg == n_sync && n_bg1 == n_sync && n_one == n_sync) {
        CHECK(memcmp(sync, bg, n_sync * sizeof *sync) == 0);
        CHECK(memcmp(sync, bg1, n_sync * sizeof *sync) == 0);
        CHECK(memcmp(sync, one, n_sync * sizeof *sync) == 0);
    }
    free(sync);
    free(bg);
    free(bg1);
    free(one);
    born_dataset_free(ds);
}

TEST(dataloader_lifetimes) {
    born_dataset *ds = counting_dataset(100);
    born_dataloader_params p = born_dataloader_default_params();
    p.batch_size = 8;
    p.shuffle = true;
    p.prefetch = 3;
    /* freed before anything is taken, and mid-epoch, with batches prepared in the background */
    born_dataloader *dl = born_dataloader_new(ds, &p);
    born_dataloader_free(dl);
    dl = born_dataloader_new(ds, &p);
    born_tensor *x = NULL, *y = NULL;
    CHECK(born_dataloader_next(dl, &x, &y));
    CHECK(born_dataloader_next(dl, &x, &y));
    /* resets mid-epoch drop what was prepared */
    for (int i = 0; i < 5; i++) CHECK_OK(born_dataloader_reset(dl));
    CHECK(born_dataloader_next(dl, &x, &y));
    born_dataloader_free(dl);
    /* the batch outlives the loader and the dataset: it belongs to this test's scope */
    born_dataset_free(ds);
    CHECK_SHAPE(x, 8, 2, 3);
    const int64_t *t = born_data_i64(y);
    const float *v = born_data_f32(x);
    bool match = true;
    for (int i = 0; i < 8; i++) match &= v[i * 6 + 1] == (float)(100 * t[i] + 1);
    CHECK(match);

    /* batches taken inside a scope die with it (LSan would report them otherwise), and those
     * taken outside any inner scope are freed with born_free */
    ds = counting_dataset(100);
    dl = born_dataloader_new(ds, &p);
    for (int round = 0; round < 5; round++) {
        born_scope_begin();
        CHECK(born_dataloader_next(dl, &x, &y));
        born_scope_end();
    }
    CHECK(born_dataloader_next(dl, &x, &y));
    born_free(x);
    born_free(y);
    born_dataloader_free(dl);
    born_dataset_free(ds);
    born_dataloader_free(NULL);
    born_dataset_free(NULL);
}

TEST(dataloader_mnist_split) {
    born_tensor *images = born_idx_read("data/mnist-10k/mnist-10k-images-idx3-ubyte.gz");
    born_tensor *labels = born_idx_read("data/mnist-10k/mnist-10k-labels-idx1-ubyte.gz");
    CHECK_OK_TENSOR(images);
    CHECK_OK_TENSOR(labels);
    if (!images || !labels) return;
    born_dataset *all = born_tensor_dataset_new(images, labels);
    born_transform_params tp = born_transform_image_params(0.1307, 0.3081);
    CHECK_OK(born_dataset_set_transform(all, &tp));
    born_dataset *train = NULL, *test = NULL;
    CHECK_OK(born_dataset_split(all, 8000, &train, &test));
    born_dataset_free(all);
    born_dataloader_params p = born_dataloader_default_params();
    p.batch_size = 64;
    p.shuffle = true;
    born_dataloader *dl = born_dataloader_new(train, &p);
    CHECK_EQ_INT(born_dataloader_len(dl), 125);
    born_tensor *x = NULL, *y = NULL;
    int64_t batches = 0, samples = 0;
    double lo = 1e9, hi = -1e9;
    while (born_dataloader_next(dl, &x, &y)) {
        born_scope_begin();
        batches++;
        samples += born_tensor_size(x, 0);
        if (batches == 1) {
            CHECK_SHAPE(x, 64, 28, 28);
            CHECK_SHAPE(y, 64);
            CHECK(born_tensor_dtype(x) == BORN_F32 && born_tensor_dtype(y) == BORN_I64);
        }
        lo = fmin(lo, born_item(born_min(x, 0, NULL, false)));
        hi = fmax(hi, born_item(born_max(x, 0, NULL, false)));
        born_scope_end();
        born_free(x);
        born_free(y);
    }
    CHECK_EQ_INT(batches, 125);
    CHECK_EQ_INT(samples, 8000);
    CHECK_NEAR(lo, -0.1307 / 0.3081, 1e-6);
    CHECK_NEAR(hi, (1 - 0.1307) / 0.3081, 1e-5);
    born_dataloader_free(dl);
    born_tensor *tx = NULL, *ty = NULL;
    CHECK_OK(born_dataset_get(test, 0, &tx, &ty));
    CHECK_NEAR(born_item(ty), 0, 0); /* numpy: labels[8000] */
    born_dataset_free(train);
    born_dataset_free(test);
}
