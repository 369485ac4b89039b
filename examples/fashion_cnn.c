/* The fmnist-cnn workload: Fashion-MNIST with a small convolutional network, as Keras's
 *
 *   model = Sequential([Input((28, 28)), Rescaling(1 / 255), Reshape((28, 28, 1)),
 *                       Conv2D(32, 3, activation="relu"), MaxPooling2D(2),
 *                       Conv2D(64, 3, activation="relu"), MaxPooling2D(2),
 *                       Flatten(), Dense(128, activation="relu"), Dense(10, activation="softmax")])
 *   model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
 *   model.fit(x_train, y_train, epochs=2, batch_size=128)
 *   model.evaluate(x_test, y_test)
 *
 * Needs Debian's dataset-fashion-mnist (or the same four IDX files in the directory given).
 * Run: build/examples/fashion_cnn [directory] [epochs]
 */
#include <nn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    timespec_get(&t, TIME_UTC);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const char *what) {
    fprintf(stderr, "fashion_cnn: %s: %s\n", what, nn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 && argv[1][0] ? argv[1] : NULL;
    int epochs = argc > 2 ? atoi(argv[2]) : 2;
    nn_dataset *train = NULL, *test = NULL;
    if (nn_fashion_mnist_load(dir, &train, &test)) return fail("loading Fashion-MNIST");

    nn_set_seed(42);
    nn_model *model = nn_sequential((nn_layer *[]){
        nn_rescaling(1.0 / 255, .input_shape = { 28, 28 }),
        nn_reshape({ 28, 28, 1 }),
        nn_conv2d(32, .kernel_size = { 3 }, .activation = "relu"),
        nn_max_pooling2d(.pool_size = { 2 }),
        nn_conv2d(64, .kernel_size = { 3 }, .activation = "relu"),
        nn_max_pooling2d(.pool_size = { 2 }),
        nn_flatten(),
        nn_dense(128, .activation = "relu"),
        nn_dense(10, .activation = "softmax"),
        NULL });
    int status = model ? 0 : fail("building the model");
    if (!status && nn_compile(model, &(nn_compile_opts){
                       .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                       .metrics = (const char *[]){ "accuracy", NULL } }))
        status = fail("compile");
    if (!status) nn_model_summary(model, stdout);
    double start = seconds();
    if (!status && nn_fit(model, train, &(nn_fit_opts){ .epochs = epochs, .batch_size = 128 }, NULL))
        status = fail("fit");
    if (!status) printf("Fit time: %.2f s\n", seconds() - start);
    nn_metrics result;
    if (!status && nn_evaluate(model, test, &(nn_eval_opts){ .batch_size = 128 }, &result)) status = fail("evaluate");
    if (!status) printf("Test loss: %.4f, test accuracy: %.4f\n", result.loss, nn_metrics_get(&result, "accuracy"));
    nn_model_free(model);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return status;
}
