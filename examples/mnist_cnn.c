/* Train a convolutional network on MNIST digits with Born: the whole program, as a tutorial.
 *
 *   make && ./build/examples/mnist_cnn data/mnist-10k
 *
 * It reads the digits (IDX files, gzip-compressed), builds two convolution + pooling stages and
 * two linear layers, trains them with Adam for a few epochs, prints the test accuracy, and saves
 * the trained weights. Every Born call that can fail returns NULL (or a status) and leaves a
 * message in born_last_error(). */
#include <stdio.h>
#include <stdlib.h>

#include "born/born.h"

/* Stops the program with Born's error message when a step failed. */
static void check(bool ok, const char *what) {
    if (ok) return;
    fprintf(stderr, "%s: %s\n", what, born_last_error());
    exit(1);
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data/mnist-10k";
    char images_path[512], labels_path[512];
    snprintf(images_path, sizeof images_path, "%s/mnist-10k-images-idx3-ubyte.gz", dir);
    snprintf(labels_path, sizeof labels_path, "%s/mnist-10k-labels-idx1-ubyte.gz", dir);

    /* 1. Data. born_idx_read gives u8 tensors [10000, 28, 28] and [10000]. Tensors made outside
     *    any scope belong to us until born_free. */
    born_tensor *images = born_idx_read(images_path);
    born_tensor *labels = born_idx_read(labels_path);
    check(images && labels, "reading the digits");

    /* Convolutions want a channel dimension: [10000, 1, 28, 28], a view (no copy). */
    born_tensor *with_channel = born_view(images, BORN_DIMS(10000, 1, 28, 28));
    check(with_channel != NULL, "reshaping");
    born_free(images);
    images = with_channel;

    /* A dataset of (image, label) rows. The transform turns u8 pixels into f32, scaled to [0, 1]
     * and normalised with MNIST's mean and standard deviation, and labels into i64 classes. */
    born_dataset *all = born_tensor_dataset_new(images, labels);
    born_transform_params transform = born_transform_image_params(0.1307, 0.3081);
    check(all && born_dataset_set_transform(all, &transform) == BORN_OK, "making the dataset");
    born_dataset *train, *test;
    check(born_dataset_split(all, 8000, &train, &test) == BORN_OK, "splitting");

    /* 2. Model: the layers PyTorch users know, initialised as PyTorch does, from one seed.
     *    [N,1,28,28] -conv3x3-> [N,32,26,26] -pool-> [N,32,13,13] -conv3x3-> [N,64,11,11]
     *    -pool-> [N,64,5,5] -flatten-> [N,1600] -> [N,128] -> [N,10] */
    born_generator *gen = born_generator_new(0);
    born_conv2d_options k3 = born_conv2d_default_options(3, 3);
    born_pool2d_params pool = born_pool2d_default_params(2, 2);
    born_module *model = born_sequential_of(BORN_MODULES(
        born_conv2d_new(1, 32, &k3, gen), born_relu_new(), born_max_pool2d_new(&pool),
        born_conv2d_new(32, 64, &k3, gen), born_relu_new(), born_max_pool2d_new(&pool),
        born_flatten_new(1, -1), born_linear_new(1600, 128, true, gen), born_relu_new(),
        born_linear_new(128, 10, true, gen)));
    check(model != NULL, "building the model");
    char *summary = born_module_summary(model);
    printf("%s\n", summary);
    free(summary);

    /* 3. Optimizer over the model's parameters. */
    int64_t nparams;
    born_tensor **params = born_module_parameters(model, &nparams);
    born_optimizer *adam = born_adam(params, nparams, NULL); /* lr 1e-3, betas (0.9, 0.999) */
    free(params);
    check(adam != NULL, "making the optimizer");

    /* 4. Training. A data loader shuffles each epoch and prepares batches in the background. */
    born_dataloader_params loader = born_dataloader_default_params();
    loader.batch_size = 64;
    loader.shuffle = true;
    born_dataloader *batches = born_dataloader_new(train, &loader);
    check(batches != NULL, "making the loader");
    for (int epoch = 1; epoch <= 3; epoch++) {
        if (epoch > 1) born_dataloader_reset(batches);
        double loss_sum = 0;
        int steps = 0;
        born_tensor *x, *y;
        while (born_dataloader_next(batches, &x, &y)) {
            /* Everything made inside the scope (activations, the graph, gradients of
             * intermediates) is released at its end, so each step runs in constant memory. */
            born_scope_begin();
            born_tensor *loss = born_cross_entropy(born_module_forward(model, x), y, NULL);
            check(loss && born_backward(loss) == BORN_OK, "the training step");
            check(born_optimizer_step(adam) == BORN_OK, "the optimizer step");
            born_optimizer_zero_grad(adam);
            loss_sum += born_item(loss);
            steps++;
            born_scope_end();
            born_free(x); /* the batches were made outside the scope: we free them */
            born_free(y);
        }
        printf("epoch %d: mean training loss %.4f\n", epoch, loss_sum / steps);
    }

    /* 5. Evaluation: no graph is recorded under no_grad. */
    born_module_eval(model);
    born_dataloader_params eval_loader = born_dataloader_default_params();
    eval_loader.batch_size = 1000;
    born_dataloader *test_batches = born_dataloader_new(test, &eval_loader);
    int64_t correct = 0, seen = 0;
    born_tensor *x, *y;
    born_no_grad_begin();
    while (born_dataloader_next(test_batches, &x, &y)) {
        born_scope_begin();
        born_tensor *predicted = born_argmax(born_module_forward(model, x), 1, false);
        correct += (int64_t)born_item(born_sum(born_eq(predicted, y), 0, NULL, false));
        seen += born_tensor_size(y, 0);
        born_scope_end();
        born_free(x);
        born_free(y);
    }
    born_no_grad_end();
    printf("test accuracy: %.2f%% of %lld digits\n", 100.0 * (double)correct / (double)seen, (long long)seen);

    /* 6. Save the weights (a .born file; born_module_load reads them back). */
    check(born_module_save(model, "mnist_cnn.born", BORN_FORMAT_AUTO) == BORN_OK, "saving");
    printf("saved mnist_cnn.born\n");

    born_dataloader_free(test_batches);
    born_dataloader_free(batches);
    born_optimizer_free(adam);
    born_module_free(model);
    born_generator_free(gen);
    born_dataset_free(train);
    born_dataset_free(test);
    born_dataset_free(all);
    born_free(images);
    born_free(labels);
    return 0;
}
