/* The workloads of ../shared/bench/WORKLOADS.md for nn, through the public API only. Each run
 * does one workload and prints one JSON line with its figures; bench/run.py times the whole
 * process and reads its peak memory.
 *
 *   nn_workloads blog|tabular|fmnist-mlp|fmnist-cnn|infer-mlp|infer-cnn
 *                [--data DIR] [--epochs N] [--seed N] [--model FILE]
 *
 * blog standardizes through a Normalization layer that fit adapts to the training rows
 * (the same as scikit-learn's StandardScaler in the blog). Fashion-MNIST stays uint8 in memory
 * and a Rescaling(1/255) layer scales each batch. fmnist-* saves the trained model to --model,
 * and infer-* loads it from there. fmnist-cnn builds its Conv2D and MaxPooling2D layers by name,
 * so it runs as soon as the layer registry knows them; until then it reports "unsupported".
 */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BATCH_INFER = 256, LATENCY_IMAGES = 1000, TIMED_PASSES = 3 };

typedef struct {
    const char *workload, *data, *model_path;
    int epochs;
    uint64_t seed;
} bench_args;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const bench_args *a, const char *what) {
    fprintf(stderr, "nn_workloads %s: %s: %s\n", a->workload, what, nn_last_error());
    return 1;
}

static int compare_doubles(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double median(double *v, int count) {
    qsort(v, (size_t)count, sizeof *v, compare_doubles);
    return count % 2 ? v[count / 2] : 0.5 * (v[count / 2 - 1] + v[count / 2]);
}

/* Compiles, fits and evaluates; the fit alone is timed. */
static int train(const bench_args *a, nn_model *m, const char *loss, const nn_dataset *train_set,
                 const nn_dataset *test_set, int batch, double *fit_seconds, double *accuracy) {
    if (!m) return fail(a, "building the model");
    if (nn_compile(m, &(nn_compile_opts){ .optimizer = "adam", .loss = loss,
                                          .metrics = (const char *[]){ "accuracy", NULL } }))
        return fail(a, "compile");
    double t0 = now();
    if (nn_fit(m, train_set, &(nn_fit_opts){ .epochs = a->epochs, .batch_size = batch, .verbose = NN_OFF }, NULL))
        return fail(a, "fit");
    *fit_seconds = now() - t0;
    nn_metrics result;
    if (nn_evaluate(m, test_set, &(nn_eval_opts){ .batch_size = batch }, &result)) return fail(a, "evaluate");
    *accuracy = nn_metrics_get(&result, "accuracy");
    return 0;
}

/* Dense(32, relu) -> Dense(16, relu) -> Dense(1, sigmoid), after a Normalization layer for the
 * blog (its features are on very different scales) or straight on the tabular data. */
static nn_model *binary_mlp(bool normalize) {
    nn_layer *layers[5] = { 0 }, **next = layers;
    if (normalize) *next++ = nn_normalization();
    *next++ = nn_dense(32, .activation = "relu");
    *next++ = nn_dense(16, .activation = "relu");
    *next++ = nn_dense(1, .activation = "sigmoid");
    return nn_sequential(layers);
}

static int run_blog(const bench_args *a) {
    char train_path[4096], test_path[4096];
    snprintf(train_path, sizeof train_path, "%s/breast_cancer_train.csv", a->data);
    snprintf(test_path, sizeof test_path, "%s/breast_cancer_test.csv", a->data);
    nn_dataset *train_set = NULL, *test_set = NULL;
    int status = 0;
    if (nn_csv_load(train_path, &(nn_csv_opts){ .target = "target" }, &train_set) ||
        nn_csv_load(test_path, &(nn_csv_opts){ .target = "target" }, &test_set))
        status = fail(a, "loading the data");
    nn_model *m = status ? NULL : binary_mlp(true);
    double fit_seconds = 0, accuracy = 0;
    if (!status) status = train(a, m, "binary_crossentropy", train_set, test_set, 32, &fit_seconds, &accuracy);
    if (!status) printf("{\"accuracy\": %.6f, \"fit_seconds\": %.6f}\n", accuracy, fit_seconds);
    nn_model_free(m);
    nn_dataset_free(train_set);
    nn_dataset_free(test_set);
    return status;
}

static int load_npy_pair(const bench_args *a, const char *part, nn_dataset **out) {
    char x_path[4096], y_path[4096];
    snprintf(x_path, sizeof x_path, "%s/tabular_%s_x.npy", a->data, part);
    snprintf(y_path, sizeof y_path, "%s/tabular_%s_y.npy", a->data, part);
    nn_tensor *x = NULL, *y = NULL;
    if (nn_npy_load(x_path, NULL, &x) || nn_npy_load(y_path, NULL, &y)) {
        nn_tensor_free(x);
        return fail(a, "loading the data");
    }
    *out = nn_dataset_new(x, y);
    return *out ? 0 : fail(a, "making the dataset");
}

static int run_tabular(const bench_args *a) {
    nn_dataset *train_set = NULL, *test_set = NULL;
    int status = load_npy_pair(a, "train", &train_set);
    if (!status) status = load_npy_pair(a, "test", &test_set);
    nn_model *m = status ? NULL : binary_mlp(false);
    double fit_seconds = 0, accuracy = 0;
    if (!status) status = train(a, m, "binary_crossentropy", train_set, test_set, 32, &fit_seconds, &accuracy);
    if (!status) {
        int64_t n = nn_dataset_size(train_set), steps = (n + 31) / 32 * a->epochs;
        printf("{\"accuracy\": %.6f, \"fit_seconds\": %.6f, \"steps\": %lld, \"steps_per_second\": %.1f, "
               "\"us_per_step\": %.3f}\n",
               accuracy, fit_seconds, (long long)steps, (double)steps / fit_seconds, fit_seconds / (double)steps * 1e6);
    }
    nn_model_free(m);
    nn_dataset_free(train_set);
    nn_dataset_free(test_set);
    return status;
}

/* A JSON string literal of text (the unsupported-layer message). */
static void print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') printf("\\%c", *c);
        else if (*c < 0x20) printf("\\u%04x", *c);
        else putchar(*c);
    }
    putchar('"');
}

static const char *const CNN_FEATURE_LAYERS[] = {
    "Conv2D(32, 3, activation=relu)", "MaxPooling2D(2)", "Conv2D(64, 3, activation=relu)", "MaxPooling2D(2)",
};
enum { CNN_FEATURE_COUNT = sizeof CNN_FEATURE_LAYERS / sizeof CNN_FEATURE_LAYERS[0] };

/* The CNN's convolution and pooling layers by name; false (with nn_last_error saying why) when
 * nn does not know one of them yet. */
static bool parse_cnn_features(nn_layer **features) {
    for (int i = 0; i < CNN_FEATURE_COUNT; i++) {
        features[i] = nn_layer_parse(CNN_FEATURE_LAYERS[i]);
        if (!features[i]) {
            while (i--) nn_layer_free(features[i]);
            return false;
        }
    }
    return true;
}

static nn_model *fashion_mlp(void) {
    return nn_sequential((nn_layer *[]){
        nn_rescaling(1.0 / 255, .input_shape = { 28, 28 }),
        nn_flatten(),
        nn_dense(256, .activation = "relu"),
        nn_dense(128, .activation = "relu"),
        nn_dense(10, .activation = "softmax"),
        NULL });
}

static nn_model *fashion_cnn(nn_layer **features) {
    return nn_sequential((nn_layer *[]){
        nn_rescaling(1.0 / 255, .input_shape = { 28, 28 }),
        nn_reshape({ 28, 28, 1 }),
        features[0], features[1], features[2], features[3],
        nn_flatten(),
        nn_dense(128, .activation = "relu"),
        nn_dense(10, .activation = "softmax"),
        NULL });
}

static int run_fashion(const bench_args *a, bool cnn) {
    nn_layer *features[CNN_FEATURE_COUNT];
    if (cnn && !parse_cnn_features(features)) {
        printf("{\"unsupported\": ");
        print_json_string(nn_last_error());
        printf("}\n");
        return 0;
    }
    nn_dataset *train_set = NULL, *test_set = NULL;
    if (nn_fashion_mnist_load(a->data[0] ? a->data : NULL, &train_set, &test_set)) {
        for (int i = 0; cnn && i < CNN_FEATURE_COUNT; i++) nn_layer_free(features[i]);
        return fail(a, "loading Fashion-MNIST");
    }
    nn_model *m = cnn ? fashion_cnn(features) : fashion_mlp();
    double fit_seconds = 0, accuracy = 0;
    int status = train(a, m, "sparse_categorical_crossentropy", train_set, test_set, 128, &fit_seconds, &accuracy);
    if (!status && a->model_path[0] && nn_model_save(m, a->model_path)) status = fail(a, "saving the model");
    if (!status)
        printf("{\"accuracy\": %.6f, \"fit_seconds\": %.6f, \"samples_per_second\": %.1f}\n", accuracy, fit_seconds,
               (double)nn_dataset_size(train_set) * a->epochs / fit_seconds);
    nn_model_free(m);
    nn_dataset_free(train_set);
    nn_dataset_free(test_set);
    return status;
}

static double class_accuracy(const nn_tensor *scores, const nn_tensor *labels) {
    int64_t n = scores->shape[0], classes = nn_tensor_size(scores) / n, right = 0;
    const float *s = nn_tensor_f32(scores);
    for (int64_t i = 0; i < n; i++) {
        int64_t best = 0;
        for (int64_t c = 1; c < classes; c++)
            if (s[i * classes + c] > s[i * classes + best]) best = c;
        right += best == (int64_t)nn_tensor_get(labels, i);
    }
    return (double)right / (double)n;
}

/* Median seconds of predicting all of x at batch BATCH_INFER, after one warm-up pass whose
 * scores are kept in *scores. */
static int time_batches(nn_model *m, const nn_tensor *x, nn_tensor **scores, double *seconds) {
    double passes[TIMED_PASSES];
    if (nn_predict(m, x, &(nn_predict_opts){ .batch_size = BATCH_INFER }, scores)) return 1;
    for (int pass = 0; pass < TIMED_PASSES; pass++) {
        nn_tensor *out = NULL;
        double t0 = now();
        int status = nn_predict(m, x, &(nn_predict_opts){ .batch_size = BATCH_INFER }, &out);
        passes[pass] = now() - t0;
        nn_tensor_free(out);
        if (status) return 1;
    }
    *seconds = median(passes, TIMED_PASSES);
    return 0;
}

/* Image `row` of x (uint8 pixels, as Fashion-MNIST is kept) as floats, by a plain loop over its
 * bytes as a serving program would convert them; nn_tensor_get for any other dtype. */
static void image_floats(const nn_tensor *x, int64_t row, int64_t inputs, float *image) {
    if (x->dtype == NN_UINT8) {
        const uint8_t *bytes = (const uint8_t *)x->data + row * inputs;
        for (int64_t k = 0; k < inputs; k++) image[k] = bytes[k];
        return;
    }
    for (int64_t k = 0; k < inputs; k++) image[k] = (float)nn_tensor_get(x, row * inputs + k);
}

/* Median seconds of predicting one image, over the first LATENCY_IMAGES (after 20 warm-ups),
 * through a predictor as a serving program would (no allocation per request); the timing
 * includes turning the image's bytes into floats. */
static int time_single_images(nn_model *m, const nn_tensor *x, double *seconds) {
    static double latencies[LATENCY_IMAGES];
    nn_predictor *p = NULL;
    if (nn_predictor_new(m, 1, &p)) return 1;
    int64_t inputs = nn_predictor_input_size(p);
    float *image = malloc((size_t)inputs * sizeof *image), *scores = malloc((size_t)nn_predictor_output_size(p) * sizeof *scores);
    int status = image && scores ? 0 : 1;
    for (int i = -20; !status && i < LATENCY_IMAGES; i++) {
        int64_t row = i < 0 ? i + 20 : i;
        double t0 = now();
        image_floats(x, row, inputs, image);
        status = nn_predictor_run(p, image, 1, scores);
        if (i >= 0) latencies[i] = now() - t0;
    }
    free(image);
    free(scores);
    nn_predictor_free(p);
    if (!status) *seconds = median(latencies, LATENCY_IMAGES);
    return status;
}

static int run_infer(const bench_args *a) {
    nn_model *m = NULL;
    nn_dataset *test_set = NULL;
    if (nn_model_load(a->model_path, &m)) return fail(a, "loading the model");
    int status = nn_fashion_mnist_load(a->data[0] ? a->data : NULL, NULL, &test_set) ? fail(a, "loading Fashion-MNIST") : 0;
    const nn_tensor *x = status ? NULL : nn_dataset_x(test_set);
    nn_tensor *scores = NULL;
    double batch_seconds = 0, latency_seconds = 0;
    if (!status && time_batches(m, x, &scores, &batch_seconds)) status = fail(a, "predict at batch 256");
    if (!status && time_single_images(m, x, &latency_seconds)) status = fail(a, "predict at batch 1");
    if (!status)
        printf("{\"accuracy\": %.6f, \"samples_per_second\": %.1f, \"latency_us\": %.3f}\n",
               class_accuracy(scores, nn_dataset_y(test_set)), (double)x->shape[0] / batch_seconds, latency_seconds * 1e6);
    nn_tensor_free(scores);
    nn_model_free(m);
    nn_dataset_free(test_set);
    return status;
}

typedef struct {
    const char *name;
    int epochs;
} workload;

static const workload WORKLOADS[] = {
    { "blog", 10 }, { "tabular", 5 }, { "fmnist-mlp", 5 }, { "fmnist-cnn", 2 }, { "infer-mlp", 0 }, { "infer-cnn", 0 },
};
enum { WORKLOAD_COUNT = sizeof WORKLOADS / sizeof WORKLOADS[0] };

static int usage(void) {
    fprintf(stderr, "usage: nn_workloads blog|tabular|fmnist-mlp|fmnist-cnn|infer-mlp|infer-cnn\n"
                    "                    [--data DIR] [--epochs N] [--seed N] [--model FILE]\n");
    return 2;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    const workload *w = NULL;
    for (int i = 0; argc > 1 && i < WORKLOAD_COUNT; i++)
        if (!strcmp(argv[1], WORKLOADS[i].name)) w = &WORKLOADS[i];
    if (!w) return usage();
    *a = (bench_args){ .workload = w->name, .data = "", .model_path = "", .epochs = w->epochs, .seed = 42 };
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) return usage();
        const char *key = argv[i], *value = argv[i + 1];
        if (!strcmp(key, "--data")) a->data = value;
        else if (!strcmp(key, "--model")) a->model_path = value;
        else if (!strcmp(key, "--epochs")) a->epochs = atoi(value) > 0 ? atoi(value) : w->epochs;
        else if (!strcmp(key, "--seed")) a->seed = strtoull(value, NULL, 10);
        else return usage();
    }
    return 0;
}

int main(int argc, char **argv) {
    bench_args a;
    int status = parse_args(argc, argv, &a);
    if (status) return status;
    nn_set_seed(a.seed);
    if (!strcmp(a.workload, "blog")) return run_blog(&a);
    if (!strcmp(a.workload, "tabular")) return run_tabular(&a);
    if (!strncmp(a.workload, "fmnist-", 7)) return run_fashion(&a, !strcmp(a.workload, "fmnist-cnn"));
    return run_infer(&a);
}
