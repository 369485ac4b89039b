/* Language identification on real text that ships with Debian: the fortune cookies of the
 * packages fortunes-min/fortunes (English), fortunes-de, fortunes-it, fortunes-br (Portuguese)
 * and fortunes-es, 2,000 entries per language split 80/20. Words become integer sequences with
 * a vocabulary adapted on the training part (Keras's TextVectorization), then
 *
 *   model = Sequential([Embedding(20000, 32, mask_zero=True), GRU(32),
 *                       Dense(5, activation="softmax")])
 *   model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
 *   model.fit(x_train, y_train, epochs=3, batch_size=64)
 *
 * and a few new sentences are classified.
 *
 * Run: build/examples/text_language [fortunes dir, default /usr/share/games/fortunes] [OUT]
 * With OUT, the vectorized data is also written as OUT_x_train.npy, OUT_y_train.npy,
 * OUT_x_test.npy and OUT_y_test.npy, so `nn train --x ... --layers "Embedding(...) GRU(32) ..."`
 * trains the same model. */
#include <nn.h>
#include <stdio.h>

static int fail(const char *what) {
    fprintf(stderr, "text_language: %s: %s\n", what, nn_last_error());
    return 1;
}

static int save_arrays(const char *prefix, const nn_dataset *train, const nn_dataset *test) {
    const struct { const char *name; const nn_tensor *t; } arrays[] = {
        { "x_train", nn_dataset_x(train) }, { "y_train", nn_dataset_y(train) },
        { "x_test", nn_dataset_x(test) },   { "y_test", nn_dataset_y(test) },
    };
    for (size_t i = 0; i < sizeof arrays / sizeof arrays[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s_%s.npy", prefix, arrays[i].name);
        if (nn_npy_save(path, arrays[i].t)) return 1;
    }
    return 0;
}

/* The most likely language of each sentence. */
static int classify(nn_model *model, const nn_text_vectorizer *v, const nn_dataset *train) {
    const char *sentences[] = {
        "The early bird catches the worm, but the second mouse gets the cheese.",
        "Wer zuletzt lacht, hat es nicht eher begriffen.",
        "Chi va piano va sano e va lontano.",
        "Quem espera sempre alcança.",
        "No hay mal que por bien no venga.",
    };
    int n = (int)(sizeof sentences / sizeof sentences[0]);
    nn_tensor *ids = NULL, *probs = NULL;
    if (nn_text_vectorize(v, sentences, n, &ids) || nn_predict(model, ids, NULL, &probs)) {
        nn_tensor_free(ids);
        return 1;
    }
    int64_t classes = probs->shape[1];
    for (int i = 0; i < n; i++) {
        const float *p = nn_tensor_f32(probs) + i * classes;
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (p[c] > p[best]) best = c;
        printf("  %-11s %.2f  %s\n", nn_dataset_class_name(train, best), p[best], sentences[i]);
    }
    nn_tensor_free(ids);
    nn_tensor_free(probs);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : NULL;
    nn_set_seed(42);
    nn_dataset *train = NULL, *test = NULL;
    nn_text_vectorizer *vectorizer = NULL;
    if (nn_fortunes_load(dir, &(nn_fortunes_opts){ .vectorizer = { .max_tokens = 20000, .output_sequence_length = 64 } },
                         &train, &test, &vectorizer))
        return fail("loading the fortunes");
    int64_t vocabulary = nn_text_vectorizer_vocabulary_size(vectorizer), classes = nn_dataset_class_count(train);
    printf("%lld training and %lld test texts in %lld languages; vocabulary of %lld words\n",
           (long long)nn_dataset_size(train), (long long)nn_dataset_size(test), (long long)classes, (long long)vocabulary);
    int status = argc > 2 ? save_arrays(argv[2], train, test) : 0;

    nn_model *model = status ? NULL : nn_sequential((nn_layer *[]){
        nn_embedding(vocabulary, 32, .mask_zero = true),
        nn_gru(32),
        nn_dense(classes, .activation = "softmax"),
        NULL });
    if (!status && !model) status = 1;
    if (!status) status = nn_compile(model, &(nn_compile_opts){ .optimizer = "adam", .loss = "sparse_categorical_crossentropy",
                                                                .metrics = (const char *[]){ "accuracy", NULL } });
    if (!status) status = nn_fit(model, train, &(nn_fit_opts){ .epochs = 3, .batch_size = 64, .verbose = 2 }, NULL);
    nn_metrics result;
    if (!status) status = nn_evaluate(model, test, NULL, &result);
    if (!status) {
        nn_model_summary(model, stdout);
        printf("test loss: %.4f, test accuracy: %.4f\n", result.loss, nn_metrics_get(&result, "accuracy"));
        status = classify(model, vectorizer, train);
    }
    if (status) fail("training");
    nn_model_free(model);
    nn_text_vectorizer_free(vectorizer);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return status ? 1 : 0;
}
