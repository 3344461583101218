/* Finds, reads and checks the IDX files of a dataset folder. */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tools/born/datasets.h"

/* The file in dir whose name contains every word in want (and, for "images", "idx3"), or false. */
static bool find_file(const char *dir, const char *const *want, int nwant, char *path, size_t size) {
    DIR *d = opendir(dir);
    if (!d) return false;
    struct dirent *e;
    bool found = false;
    while (!found && (e = readdir(d)) != NULL) {
        bool all = e->d_name[0] != '.';
        for (int i = 0; all && i < nwant; i++) all = strstr(e->d_name, want[i]) != NULL;
        if (all) found = (size_t)snprintf(path, size, "%s/%s", dir, e->d_name) < size;
    }
    closedir(d);
    return found;
}

/* Reads images [N, H, W] u8 and labels [N] u8 and checks that they belong together. */
static bool read_pair(const char *images_path, const char *labels_path, born_tensor **images,
                      born_tensor **labels, char *err, size_t size) {
    *images = born_idx_read(images_path);
    *labels = *images ? born_idx_read(labels_path) : NULL;
    if (!*images || !*labels) {
        snprintf(err, size, "%s", born_last_error());
        born_clear_error();
        return false;
    }
    const int64_t *is = born_tensor_shape(*images), *ls = born_tensor_shape(*labels);
    if (born_tensor_ndim(*images) != 3 || born_tensor_dtype(*images) != BORN_U8)
        snprintf(err, size, "%s: expected u8 images [N, H, W]", images_path);
    else if (born_tensor_ndim(*labels) != 1 || born_tensor_dtype(*labels) != BORN_U8)
        snprintf(err, size, "%s: expected u8 labels [N]", labels_path);
    else if (is[0] != ls[0])
        snprintf(err, size, "%s has %" PRId64 " images but %s has %" PRId64 " labels",
                 images_path, is[0], labels_path, ls[0]);
    else
        return true;
    return false;
}

static int64_t max_label(born_tensor *labels) {
    born_scope_begin();
    int64_t m = labels && born_tensor_numel(labels) ? (int64_t)born_item(born_max(labels, 0, NULL, false)) : -1;
    born_scope_end();
    return m;
}

/* Mean and standard deviation of the pixels (scaled to [0, 1]) of the first n images. */
static void pixel_stats(born_tensor *images, int64_t n, double *mean, double *std) {
    born_scope_begin();
    born_tensor *x = born_div_scalar(born_to_dtype(born_narrow(images, 0, 0, n), BORN_F64), 255.0);
    *mean = born_item(born_mean(x, 0, NULL, false));
    *std = born_item(born_std(x, 0, NULL, 0, false));
    born_scope_end();
    if (!(*std > 0)) *std = 1.0;
}

static born_dataset *make_dataset(born_tensor *images, born_tensor *labels, double mean, double std) {
    born_scope_begin();
    const int64_t *s = born_tensor_shape(images);
    born_tensor *x = born_view(images, BORN_DIMS(s[0], 1, s[1], s[2]));
    born_dataset *ds = x ? born_tensor_dataset_new(x, labels) : NULL;
    born_scope_end();
    born_transform_params tp = born_transform_image_params(mean, std);
    if (ds && born_dataset_set_transform(ds, &tp) != BORN_OK) {
        born_dataset_free(ds);
        ds = NULL;
    }
    return ds;
}

bool cli_data_load(const char *dir, int64_t split, cli_data *data, char *err, size_t size) {
    memset(data, 0, sizeof *data);
    char train_images[1024], train_labels[1024], test_images[1024], test_labels[1024];
    born_tensor *ti = NULL, *tl = NULL, *vi = NULL, *vl = NULL;
    bool ok = false;
    DIR *probe = opendir(dir);
    if (!probe) {
        snprintf(err, size, "%s: cannot open the dataset folder", dir);
        return false;
    }
    closedir(probe);
    bool four = find_file(dir, (const char *[]){"train", "images", "idx3"}, 3, train_images, sizeof train_images) &&
                find_file(dir, (const char *[]){"train", "labels", "idx1"}, 3, train_labels, sizeof train_labels) &&
                find_file(dir, (const char *[]){"t10k", "images", "idx3"}, 3, test_images, sizeof test_images) &&
                find_file(dir, (const char *[]){"t10k", "labels", "idx1"}, 3, test_labels, sizeof test_labels);
    double mean = 0, std = 1;
    if (four) {
        if (!read_pair(train_images, train_labels, &ti, &tl, err, size) ||
            !read_pair(test_images, test_labels, &vi, &vl, err, size))
            goto done;
        pixel_stats(ti, born_tensor_shape(ti)[0], &mean, &std);
        data->train = make_dataset(ti, tl, mean, std);
        data->test = make_dataset(vi, vl, mean, std);
    } else {
        if (!find_file(dir, (const char *[]){"images", "idx3"}, 2, train_images, sizeof train_images) ||
            !find_file(dir, (const char *[]){"labels", "idx1"}, 2, train_labels, sizeof train_labels)) {
            snprintf(err, size, "%s: no IDX images and labels files (expected names like "
                     "train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz)", dir);
            goto done;
        }
        if (!read_pair(train_images, train_labels, &ti, &tl, err, size)) goto done;
        int64_t n = born_tensor_shape(ti)[0];
        if (split <= 0 || split >= n) {
            snprintf(err, size, "%s: %" PRId64 " samples cannot be split at %" PRId64
                     " into training and test sets", dir, n, split);
            goto done;
        }
        pixel_stats(ti, split, &mean, &std);
        born_dataset *all = make_dataset(ti, tl, mean, std);
        if (all) born_dataset_split(all, split, &data->train, &data->test);
        born_dataset_free(all);
    }
    if (!data->train || !data->test) {
        snprintf(err, size, "%s: %s", dir, born_last_error());
        born_clear_error();
        goto done;
    }
    int64_t max_train = max_label(tl), max_test = max_label(vl);
    data->classes = 1 + (max_train > max_test ? max_train : max_test);
    const int64_t *s = born_tensor_shape(ti);
    snprintf(data->description, sizeof data->description,
             "%" PRId64 " training and %" PRId64 " test images of %" PRId64 "x%" PRId64 ", %" PRId64 " classes, from %s",
             born_dataset_len(data->train), born_dataset_len(data->test), s[1], s[2], data->classes, dir);
    ok = true;
done:
    born_free(ti);
    born_free(tl);
    born_free(vi);
    born_free(vl);
    if (!ok) cli_data_free(data);
    return ok;
}

void cli_data_free(cli_data *data) {
    born_dataset_free(data->train);
    born_dataset_free(data->test);
    data->train = data->test = NULL;
}
