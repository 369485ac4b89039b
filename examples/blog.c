/* The blog's Keras program, step for step, in C:
 *
 *   model = Sequential([Dense(32, activation="relu"), Dense(16, activation="relu"),
 *                       Dense(1, activation="sigmoid")])
 *   model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
 *   model.fit(X_train, y_train, epochs=10, batch_size=32)
 *   loss, accuracy = model.evaluate(X_test, y_test)
 *   predictions = model.predict(X_test)
 *
 * on the Breast Cancer Wisconsin data. The features are standardized by a Normalization layer
 * that fit adapts to the training rows (the blog uses scikit-learn's StandardScaler).
 *
 * Build against an installed nn:  cc blog.c $(pkg-config --cflags --libs nn) -o blog
 * Run from the project root:      ./blog [data directory, default "data"]
 */
#include <nn.h>
#include <stdio.h>

static int fail(const char *what) {
    fprintf(stderr, "blog: %s: %s\n", what, nn_last_error());
    return 1;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "data";
    char train_path[1024], test_path[1024];
    snprintf(train_path, sizeof train_path, "%s/breast_cancer_train.csv", dir);
    snprintf(test_path, sizeof test_path, "%s/breast_cancer_test.csv", dir);

    nn_dataset *train = NULL, *test = NULL;
    if (nn_csv_load(train_path, &(nn_csv_opts){ .target = "target" }, &train) ||
        nn_csv_load(test_path, &(nn_csv_opts){ .target = "target" }, &test)) {
        nn_dataset_free(train);
        return fail("loading data");
    }

    nn_set_seed(42);
    nn_model *model = nn_sequential((nn_layer *[]){
        nn_normalization(),
        nn_dense(32, .activation = "relu"),
        nn_dense(16, .activation = "relu"),
        nn_dense(1, .activation = "sigmoid"),
        NULL });
    int status = model ? 0 : fail("building the model");

    if (!status && nn_compile(model, &(nn_compile_opts){
                       .optimizer = "adam", .loss = "binary_crossentropy",
                       .metrics = (const char *[]){ "accuracy", NULL } }))
        status = fail("compile");

    nn_history *history = NULL;
    if (!status && nn_fit(model, train, &(nn_fit_opts){ .epochs = 10, .batch_size = 32 }, &history))
        status = fail("fit");

    nn_metrics result;
    if (!status && nn_evaluate(model, test, NULL, &result)) status = fail("evaluate");
    if (!status) printf("Test loss: %.4f, test accuracy: %.4f\n", result.loss, nn_metrics_get(&result, "accuracy"));

    nn_tensor *predictions = NULL;
    if (!status && nn_predict(model, nn_dataset_x(test), NULL, &predictions)) status = fail("predict");
    for (int i = 0; !status && i < 5; i++)
        printf("prediction %d: %.3f (truth %.0f)\n", i, (double)nn_tensor_f32(predictions)[i],
               (double)nn_tensor_f32(nn_dataset_y(test))[i]);

    nn_tensor_free(predictions);
    nn_history_free(history);
    nn_model_free(model);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return status;
}
