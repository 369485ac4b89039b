/* A functional model with two inputs and a residual block, on the Breast Cancer Wisconsin
 * data: the ten "mean" measurements of each tumour go to one input, the twenty "error" and
 * "worst" ones to the other. In Keras:
 *
 *   means = Input((10,), name="means"); rest = Input((20,), name="errors_and_worst")
 *   a = Dense(16, activation="relu")(Normalization()(means))
 *   b = Dense(16, activation="relu")(Normalization()(rest))
 *   h = Concatenate()([a, b])
 *   r = Dense(32)(Dense(32, activation="relu")(h))
 *   h = Activation("relu")(Add()([h, r]))
 *   out = Dense(1, activation="sigmoid")(h)
 *   model = Model([means, rest], out)
 *
 * Run from the project root: build/examples/two_inputs [data directory, default "data"] [SAVE.nn]
 * With SAVE.nn the trained model is saved; `nn train --model SAVE.nn --x means --x rest --y y`
 * trains it on, `nn predict SAVE.nn --x ... --x ...` predicts with it. */
#include <nn.h>
#include <stdio.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "two_inputs: %s: %s\n", what, nn_last_error());
    return 1;
}

/* Columns [first, first + count) of x as a new float32 tensor. */
static nn_tensor *columns(const nn_tensor *x, int64_t first, int64_t count) {
    int64_t rows = x->shape[0], width = x->shape[1];
    nn_tensor *t = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ rows, count });
    for (int64_t r = 0; t && r < rows; r++)
        for (int64_t c = 0; c < count; c++) nn_tensor_f32(t)[r * count + c] = (float)nn_tensor_get(x, r * width + first + c);
    return t;
}

/* The CSV's dataset split into the two inputs; y is copied. */
static nn_dataset *two_inputs(const nn_dataset *d) {
    const nn_tensor *x = nn_dataset_x(d), *y = nn_dataset_y(d);
    nn_tensor *target = nn_tensor_new(NN_FLOAT32, y->ndim, y->shape);
    if (target) memcpy(target->data, nn_tensor_f32(y), (size_t)nn_tensor_size(y) * sizeof(float));
    return nn_dataset_new_multi((nn_tensor *[]){ columns(x, 0, 10), columns(x, 10, 20), NULL }, (nn_tensor *[]){ target, NULL });
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data";
    char train_path[1024], test_path[1024];
    snprintf(train_path, sizeof train_path, "%s/breast_cancer_train.csv", dir);
    snprintf(test_path, sizeof test_path, "%s/breast_cancer_test.csv", dir);
    nn_dataset *train_csv = NULL, *test_csv = NULL;
    if (nn_csv_load(train_path, &(nn_csv_opts){ .target = "target" }, &train_csv) ||
        nn_csv_load(test_path, &(nn_csv_opts){ .target = "target" }, &test_csv)) {
        nn_dataset_free(train_csv);
        return fail("loading data");
    }
    nn_dataset *train = two_inputs(train_csv), *test = two_inputs(test_csv);
    nn_dataset_free(train_csv);
    nn_dataset_free(test_csv);
    if (!train || !test) {
        nn_dataset_free(train);
        return fail("splitting the columns");
    }

    nn_set_seed(42);
    nn_symbol *means = nn_input({ 10 }, .name = "means"), *rest = nn_input({ 20 }, .name = "errors_and_worst");
    nn_symbol *a = nn_call(nn_dense(16, .activation = "relu"), nn_call(nn_normalization(), means));
    nn_symbol *b = nn_call(nn_dense(16, .activation = "relu"), nn_call(nn_normalization(), rest));
    nn_symbol *h = nn_call_many(nn_concatenate(), (nn_symbol *[]){ a, b, NULL });
    nn_symbol *r = nn_call(nn_dense(32), nn_call(nn_dense(32, .activation = "relu"), h));
    h = nn_call(nn_activation("relu"), nn_call_many(nn_add(), (nn_symbol *[]){ h, r, NULL }));
    nn_symbol *out = nn_call(nn_dense(1, .activation = "sigmoid"), h);
    nn_model *model = nn_model_new((nn_symbol *[]){ means, rest, NULL }, (nn_symbol *[]){ out, NULL }, "two_inputs");
    if (!model) {
        nn_dataset_free(train), nn_dataset_free(test);
        return fail("building the model");
    }
    nn_model_summary(model, stdout);

    nn_metrics result;
    int status = nn_compile(model, &(nn_compile_opts){ .optimizer = "adam", .loss = "binary_crossentropy",
                                                       .metrics = (const char *[]){ "accuracy", NULL } });
    if (!status) status = nn_fit(model, train, &(nn_fit_opts){ .epochs = 10, .batch_size = 32 }, NULL);
    if (!status) status = nn_evaluate(model, test, NULL, &result);
    if (!status) printf("test loss %.4f, test accuracy %.4f\n", result.loss, nn_metrics_get(&result, "accuracy"));
    if (!status && argc > 2 && !(status = nn_model_save(model, argv[2]))) printf("saved %s\n", argv[2]);
    nn_model_free(model);
    nn_dataset_free(train), nn_dataset_free(test);
    return status ? fail("training") : 0;
}
