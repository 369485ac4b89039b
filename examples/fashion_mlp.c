/* The fmnist-mlp workload: Fashion-MNIST with an MLP, as Keras's
 *
 *   model = Sequential([Input((28, 28)), Rescaling(1 / 255), Flatten(),
 *                       Dense(256, activation="relu"), Dense(128, activation="relu"),
 *                       Dense(10, activation="softmax")])
 *   model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
 *   model.fit(x_train, y_train, epochs=5, batch_size=128)
 *   model.evaluate(x_test, y_test)
 *
 * The images stay uint8 in memory; each batch is converted to float32 as it is fed, and the
 * Rescaling layer scales it by 1/255.
 *
 * Needs Debian's dataset-fashion-mnist (or the same four IDX files in the directory given).
 * Run: build/examples/fashion_mlp [directory] [epochs]
 */
#include <nn.h>
#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what) {
    fprintf(stderr, "fashion_mlp: %s: %s\n", what, nn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 && argv[1][0] ? argv[1] : NULL;
    int epochs = argc > 2 ? atoi(argv[2]) : 5;
    nn_dataset *train = NULL, *test = NULL;
    if (nn_fashion_mnist_load(dir, &train, &test)) return fail("loading Fashion-MNIST");

    nn_set_seed(42);
    nn_model *model = nn_sequential((nn_layer *[]){
        nn_rescaling(1.0 / 255, .input_shape = { 28, 28 }),
        nn_flatten(),
        nn_dense(256, .activation = "relu"),
        nn_dense(128, .activation = "relu"),
        nn_dense(10, .activation = "softmax"),
        NULL });
    int status = model ? 0 : fail("building the model");
    if (!status && nn_compile(model, &(nn_compile_opts){
                       .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                       .metrics = (const char *[]){ "accuracy", NULL } }))
        status = fail("compile");
    if (!status) nn_model_summary(model, stdout);
    if (!status && nn_fit(model, train, &(nn_fit_opts){ .epochs = epochs, .batch_size = 128 }, NULL))
        status = fail("fit");
    nn_metrics result;
    if (!status && nn_evaluate(model, test, &(nn_eval_opts){ .batch_size = 128 }, &result)) status = fail("evaluate");
    if (!status) printf("Test loss: %.4f, test accuracy: %.4f\n", result.loss, nn_metrics_get(&result, "accuracy"));
    nn_model_free(model);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return status;
}
