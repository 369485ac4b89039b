/* The MLP workloads of ../shared/bench/WORKLOADS.md for FANN 2.2 (Debian's libfann-dev, float
 * build), as close as FANN allows. One workload per process; prints one JSON line.
 *
 *   fann_workloads blog|tabular|fmnist-mlp|infer-mlp [--data DIR] [--epochs N] [--seed N] [--model FILE]
 *   cc -O2 -Iinclude bench/fann_workloads.c build/libnn.a -lfloatfann -lz -lm -lpthread
 *
 * Where FANN differs, and so the figures are FANN's nearest equivalent, not the same model:
 *  - FANN 2.2 has no ReLU and no softmax: hidden layers are tanh (FANN_SIGMOID_SYMMETRIC), outputs
 *    logistic (FANN_SIGMOID), the loss is squared error on one-hot targets;
 *  - no Adam and no mini-batches: training is FANN_TRAIN_INCREMENTAL (plain SGD, one sample per
 *    update, learning rate LEARNING_RATE), the samples shuffled each epoch;
 *  - inference runs one sample at a time (FANN has no batched run), so "batch 256" is 256
 *    single runs; the uint8 pixels are scaled by 1/255 per image inside the timed region;
 *  - weights start uniform in [-0.1, 0.1] (FANN's default).
 * The files are read with nn's loaders (the reading is not part of any timed figure).
 */
#include <floatfann.h>
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEARNING_RATE 0.05f
enum { BATCH_INFER = 256, LATENCY_IMAGES = 1000, TIMED_PASSES = 3, PIXELS = 28 * 28, CLASSES = 10 };

typedef struct {
    const char *workload, *data, *model_path;
    int epochs;
    unsigned seed;
} bench_args;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int fail(const bench_args *a, const char *what) {
    fprintf(stderr, "fann_workloads %s: %s: %s\n", a->workload, what, nn_last_error());
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

/* FANN training data from nn tensors: x (N, ...) of any dtype times `scale`; y as one target per
 * sample (binary, outputs == 1) or a class index (one-hot over `outputs`). */
static struct fann_train_data *to_fann(const nn_tensor *x, const nn_tensor *y, float scale, unsigned outputs) {
    unsigned n = (unsigned)x->shape[0], inputs = (unsigned)(nn_tensor_size(x) / x->shape[0]);
    struct fann_train_data *d = fann_create_train(n, inputs, outputs);
    if (!d) return NULL;
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < inputs; j++) d->input[i][j] = (float)nn_tensor_get(x, (int64_t)i * inputs + j) * scale;
        double target = nn_tensor_get(y, i);
        for (unsigned k = 0; k < outputs; k++) d->output[i][k] = outputs == 1 ? (float)target : (float)(k == (unsigned)target);
    }
    return d;
}

static struct fann *new_network(const bench_args *a, unsigned layers, const unsigned *sizes) {
    struct fann *ann = fann_create_standard_array(layers, sizes);
    if (!ann) return NULL;
    srand(a->seed);
    fann_randomize_weights(ann, -0.1f, 0.1f);
    fann_set_activation_function_hidden(ann, FANN_SIGMOID_SYMMETRIC);
    fann_set_activation_function_output(ann, FANN_SIGMOID);
    fann_set_training_algorithm(ann, FANN_TRAIN_INCREMENTAL);
    fann_set_train_error_function(ann, FANN_ERRORFUNC_LINEAR);
    fann_set_learning_rate(ann, LEARNING_RATE);
    return ann;
}

static double fit(struct fann *ann, struct fann_train_data *train, int epochs) {
    double t0 = now();
    for (int e = 0; e < epochs; e++) {
        fann_shuffle_train_data(train);
        fann_train_epoch(ann, train);
    }
    return now() - t0;
}

/* Share of samples whose output is right: above 0.5 for a binary target, else the arg max. */
static double accuracy(struct fann *ann, struct fann_train_data *test) {
    unsigned outputs = fann_get_num_output(ann), right = 0;
    for (unsigned i = 0; i < test->num_data; i++) {
        const float *out = fann_run(ann, test->input[i]), *truth = test->output[i];
        unsigned best = 0, want = 0;
        for (unsigned k = 1; k < outputs; k++) {
            if (out[k] > out[best]) best = k;
            if (truth[k] > truth[want]) want = k;
        }
        right += outputs == 1 ? (out[0] >= 0.5f) == (truth[0] >= 0.5f) : best == want;
    }
    return (double)right / test->num_data;
}

/* Standardizes test with train's column statistics (train in place too), as StandardScaler. */
static int standardize_pair(nn_tensor *train, nn_tensor *test) {
    int64_t columns = train->shape[1];
    float *mean = calloc((size_t)columns, sizeof *mean), *std = calloc((size_t)columns, sizeof *std);
    int status = mean && std ? nn_standardize(train, mean, std) : NN_ERR_NOMEM;
    float *t = nn_tensor_f32(test);
    for (int64_t i = 0; !status && i < nn_tensor_size(test); i++) t[i] = (t[i] - mean[i % columns]) / std[i % columns];
    free(mean);
    free(std);
    return status;
}

static int load_pair(const bench_args *a, const char *part, nn_tensor **x, nn_tensor **y) {
    char path[4096];
    if (!strcmp(a->workload, "blog")) {
        nn_dataset *d = NULL;
        snprintf(path, sizeof path, "%s/breast_cancer_%s.csv", a->data, part);
        if (nn_csv_load(path, &(nn_csv_opts){ .target = "target" }, &d)) return 1;
        *x = nn_tensor_copy(nn_dataset_x(d));
        *y = nn_tensor_copy(nn_dataset_y(d));
        nn_dataset_free(d);
        return !*x || !*y;
    }
    snprintf(path, sizeof path, "%s/tabular_%s_x.npy", a->data, part);
    if (nn_npy_load(path, NULL, x)) return 1;
    snprintf(path, sizeof path, "%s/tabular_%s_y.npy", a->data, part);
    return nn_npy_load(path, NULL, y);
}

static int run_binary(const bench_args *a) {
    nn_tensor *x_train = NULL, *y_train = NULL, *x_test = NULL, *y_test = NULL;
    int status = load_pair(a, "train", &x_train, &y_train) || load_pair(a, "test", &x_test, &y_test) ? fail(a, "loading the data") : 0;
    if (!status && !strcmp(a->workload, "blog") && standardize_pair(x_train, x_test)) status = fail(a, "standardizing");
    struct fann_train_data *train = status ? NULL : to_fann(x_train, y_train, 1.0f, 1);
    struct fann_train_data *test = status ? NULL : to_fann(x_test, y_test, 1.0f, 1);
    const unsigned sizes[] = { (unsigned)(x_train ? x_train->shape[1] : 0), 32, 16, 1 };
    struct fann *ann = status ? NULL : new_network(a, 4, sizes);
    if (!status && (!train || !test || !ann)) status = fail(a, "FANN setup");
    if (!status) {
        double seconds = fit(ann, train, a->epochs);
        long updates = (long)train->num_data * a->epochs;
        printf("{\"accuracy\": %.6f, \"fit_seconds\": %.6f, \"samples_per_second\": %.1f, \"updates\": %ld}\n",
               accuracy(ann, test), seconds, (double)updates / seconds, updates);
    }
    fann_destroy(ann);
    fann_destroy_train(train);
    fann_destroy_train(test);
    nn_tensor_free(x_train), nn_tensor_free(y_train), nn_tensor_free(x_test), nn_tensor_free(y_test);
    return status;
}

static int run_fashion(const bench_args *a) {
    nn_dataset *train_set = NULL, *test_set = NULL;
    if (nn_fashion_mnist_load(a->data[0] ? a->data : NULL, &train_set, &test_set)) return fail(a, "loading Fashion-MNIST");
    struct fann_train_data *train = to_fann(nn_dataset_x(train_set), nn_dataset_y(train_set), 1.0f / 255, CLASSES);
    struct fann_train_data *test = to_fann(nn_dataset_x(test_set), nn_dataset_y(test_set), 1.0f / 255, CLASSES);
    nn_dataset_free(train_set);
    nn_dataset_free(test_set);
    const unsigned sizes[] = { PIXELS, 256, 128, CLASSES };
    struct fann *ann = new_network(a, 4, sizes);
    int status = train && test && ann ? 0 : fail(a, "FANN setup");
    if (!status) {
        double seconds = fit(ann, train, a->epochs);
        if (a->model_path[0] && fann_save(ann, a->model_path)) status = fail(a, "saving the network");
        if (!status)
            printf("{\"accuracy\": %.6f, \"fit_seconds\": %.6f, \"samples_per_second\": %.1f}\n", accuracy(ann, test),
                   seconds, (double)train->num_data * a->epochs / seconds);
    }
    fann_destroy(ann);
    fann_destroy_train(train);
    fann_destroy_train(test);
    return status;
}

/* One image through the network: scaled from uint8 into `input`, run; returns the arg max. */
static unsigned classify(struct fann *ann, const uint8_t *pixels, float *input) {
    for (int j = 0; j < PIXELS; j++) input[j] = pixels[j] * (1.0f / 255);
    const float *out = fann_run(ann, input);
    unsigned best = 0;
    for (unsigned k = 1; k < CLASSES; k++)
        if (out[k] > out[best]) best = k;
    return best;
}

static int run_infer(const bench_args *a) {
    struct fann *ann = fann_create_from_file(a->model_path);
    if (!ann) return fprintf(stderr, "fann_workloads infer-mlp: cannot load %s\n", a->model_path), 1;
    nn_dataset *test_set = NULL;
    if (nn_fashion_mnist_load(a->data[0] ? a->data : NULL, NULL, &test_set)) {
        fann_destroy(ann);
        return fail(a, "loading Fashion-MNIST");
    }
    const nn_tensor *x = nn_dataset_x(test_set), *y = nn_dataset_y(test_set);
    const uint8_t *pixels = x->data;
    int64_t n = x->shape[0], right = 0;
    float input[PIXELS];
    double passes[TIMED_PASSES], latencies[LATENCY_IMAGES];
    for (int pass = -1; pass < TIMED_PASSES; pass++) {
        double t0 = now();
        for (int64_t i = 0; i < n; i++) {
            unsigned label = classify(ann, pixels + i * PIXELS, input);
            if (pass < 0) right += label == (unsigned)nn_tensor_get(y, i);
        }
        if (pass >= 0) passes[pass] = now() - t0;
    }
    for (int i = 0; i < LATENCY_IMAGES; i++) {
        double t0 = now();
        classify(ann, pixels + (int64_t)i * PIXELS, input);
        latencies[i] = now() - t0;
    }
    printf("{\"accuracy\": %.6f, \"samples_per_second\": %.1f, \"latency_us\": %.3f}\n", (double)right / (double)n,
           (double)n / median(passes, TIMED_PASSES), median(latencies, LATENCY_IMAGES) * 1e6);
    nn_dataset_free(test_set);
    fann_destroy(ann);
    return 0;
}

static int usage(void) {
    fprintf(stderr, "usage: fann_workloads blog|tabular|fmnist-mlp|infer-mlp [--data DIR] [--epochs N] [--seed N] [--model FILE]\n");
    return 2;
}

int main(int argc, char **argv) {
    static const struct { const char *name; int epochs; } workloads[] = {
        { "blog", 10 }, { "tabular", 5 }, { "fmnist-mlp", 5 }, { "infer-mlp", 0 },
    };
    int w = -1;
    for (int i = 0; argc > 1 && i < 4; i++)
        if (!strcmp(argv[1], workloads[i].name)) w = i;
    if (w < 0) return usage();
    bench_args a = { workloads[w].name, "", "", workloads[w].epochs, 42 };
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 >= argc) return usage();
        if (!strcmp(argv[i], "--data")) a.data = argv[i + 1];
        else if (!strcmp(argv[i], "--model")) a.model_path = argv[i + 1];
        else if (!strcmp(argv[i], "--epochs")) a.epochs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : a.epochs;
        else if (!strcmp(argv[i], "--seed")) a.seed = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else return usage();
    }
    if (w <= 1) return run_binary(&a);
    return w == 2 ? run_fashion(&a) : run_infer(&a);
}
