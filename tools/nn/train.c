/* nn train: a model from --layers (or a saved one from --model), trained on CSV or array data;
 * also the engine behind nn demo. */
#include "train.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

static const char train_help[] =
    "usage: nn train --data FILE --target COLUMN --layers \"LAYER LAYER ...\" --loss LOSS [options]\n"
    "       nn train --x FILE --y FILE --layers \"...\" --loss LOSS [options]\n"
    "       nn train --model SAVED.nn --x FILE [--x FILE ...] --y FILE [options]\n"
    "\n"
    "Builds a Sequential model from Keras-style layer calls separated by spaces, e.g.\n"
    "  --layers \"Normalization() Dense(32, activation=relu) Dense(1, activation=sigmoid)\"\n"
    "compiles it, trains it and reports the figures.\n"
    "\n"
    "data (a CSV with a header row and --target, or an .npz holding arrays x and y; --x/--y take\n"
    "any array file: .npy, .npz, .csv, IDX such as train-images-idx3-ubyte.gz):\n"
    "  --data FILE            training data; --target names the label column of CSV files\n"
    "  --x FILE, --y FILE     training features and labels as two array files; for a model of several\n"
    "                         inputs or outputs, --x once per input and --y once per output, in order\n"
    "  --validation-data FILE, --validation-x FILE --validation-y FILE\n"
    "                         evaluated after each epoch (val_ figures)\n"
    "  --test-data FILE, --test-x FILE --test-y FILE\n"
    "                         evaluated after training (reported as \"test\")\n"
    "model and training:\n"
    "  --layers TEXT          the layers of a Sequential model, e.g. \"Dense(16, activation=relu) Dense(1)\"\n"
    "  --model FILE           or start from a saved model (any architecture, e.g. a functional one\n"
    "                         from nn_model_save): its weights, and its compile settings unless\n"
    "                         --optimizer/--loss/--metrics are given (then it is compiled afresh)\n"
    "  --optimizer NAME|CALL  adam, sgd, \"SGD(learning_rate=0.01, momentum=0.9)\", ... (default rmsprop)\n"
    "  --loss NAME|CALL       binary_crossentropy, sparse_categorical_crossentropy, mse, ... (required\n"
    "                         with --layers, and with a --model saved uncompiled)\n"
    "  --metrics A,B          comma-separated metric names, e.g. accuracy,auc\n"
    "  --epochs N             training epochs (default 1)\n"
    "  --batch-size N         samples per step (default 32)\n"
    "  --validation-split F   hold out the last fraction F of the training samples\n"
    "  --seed N               seed for weights, shuffling and dropout (default 42)\n"
    "  --verbose 0|1|2        progress: 0 silent, 1 bar (default), 2 one line per epoch\n"
    "  --save FILE            save the trained model (architecture, weights, optimizer state)\n"
    "  --history FILE.csv     write the per-epoch loss and metrics (Keras's History) as CSV\n"
    "  --json                 print one JSON object with the figures as the last line\n";

static const cli_option train_options[] = {
    { "data", true }, { "target", true }, { "x", true }, { "y", true },
    { "validation-data", true }, { "validation-x", true }, { "validation-y", true },
    { "test-data", true }, { "test-x", true }, { "test-y", true }, { "layers", true }, { "model", true },
    { "optimizer", true }, { "loss", true }, { "metrics", true }, { "epochs", true },
    { "batch-size", true }, { "validation-split", true }, { "seed", true }, { "verbose", true },
    { "save", true }, { "history", true }, { "json", false }, { NULL, false },
};

/* "Dense(32) Dense(1)" -> layers appended to the model. */
static int add_layers(nn_model *m, const char *text) {
    const char *p = text;
    int count = 0;
    while (*p) {
        while (isspace((unsigned char)*p)) p++;
        if (!*p) break;
        char *name = NULL;
        nn_value args, kwargs;
        const char *end = NULL;
        if (nn_parse_call(p, &name, &args, &kwargs, &end)) return 1;
        nn_free(name);
        nn_value_clear(&args);
        nn_value_clear(&kwargs);
        char *one = nn_malloc((size_t)(end - p) + 1);
        if (!one) return 1;
        memcpy(one, p, (size_t)(end - p));
        one[end - p] = '\0';
        nn_layer *layer = nn_layer_parse(one);
        nn_free(one);
        if (!layer || nn_model_add(m, layer)) return 1;
        count++;
        p = end;
    }
    if (!count) return nn_error(NN_ERR_ARG, "--layers is empty"), 1;
    return 0;
}

/* "accuracy,auc" -> a NULL-terminated array pointing into `buf`. */
static int split_metrics(const char *text, char *buf, size_t size, const char **names, int max) {
    int n = 0;
    snprintf(buf, size, "%s", text ? text : "");
    for (char *tok = strtok(buf, ", "); tok && n < max - 1; tok = strtok(NULL, ", ")) names[n++] = tok;
    names[n] = NULL;
    return n;
}

static int print_result_json(const nn_history *history, const nn_metrics *test, double fit_seconds);

int run_training(const char *command, const training_job *job, nn_model **trained) {
    nn_model *m = NULL;
    nn_history *history = NULL;
    nn_metrics test;
    char metric_buf[256];
    const char *metric_names[NN_MAX_METRICS];
    int failed = 0;
    nn_set_seed(job->seed);
    split_metrics(job->metrics, metric_buf, sizeof metric_buf, metric_names, NN_MAX_METRICS);
    if (job->model) {
        failed = nn_model_load(job->model, &m) != NN_OK;
        /* a saved compiled model trains on as saved unless compile options are given */
        bool recompile = job->optimizer || job->loss || job->metrics;
        if (!failed && recompile && !job->loss) failed = nn_error(NN_ERR_ARG, "--optimizer or --metrics with --model also need --loss") != 0;
        if (!failed && (recompile || !nn_model_is_compiled(m)) &&
            nn_compile(m, &(nn_compile_opts){ .optimizer = job->optimizer, .loss = job->loss, .metrics = metric_names }))
            failed = 1;
    } else {
        m = nn_sequential((nn_layer *[]){ NULL });
        if (!m || add_layers(m, job->layers) ||
            nn_compile(m, &(nn_compile_opts){ .optimizer = job->optimizer, .loss = job->loss, .metrics = metric_names }))
            failed = 1;
    }
    double start = nn_now_seconds();
    if (!failed && nn_fit(m, job->train, &(nn_fit_opts){ .epochs = job->epochs, .batch_size = job->batch_size,
                                                      .validation_split = job->validation_split,
                                                      .validation_data = job->validation, .verbose = job->verbose },
                          &history))
        failed = 1;
    double fit_seconds = nn_now_seconds() - start;
    if (!failed && job->test && nn_evaluate(m, job->test, &(nn_eval_opts){ .batch_size = job->batch_size }, &test))
        failed = 1;
    if (!failed && job->save && nn_model_save(m, job->save)) failed = 1;
    if (!failed && job->history && nn_history_save(history, job->history)) failed = 1;
    if (failed) {
        cli_fail_nn(command);
    } else {
        if (job->verbose != NN_OFF) {
            if (job->test) {
                printf("test:");
                for (int i = 0; i < test.count; i++) printf(" %s %.4f", test.names[i], test.values[i]);
                printf("\n");
            }
            printf("fit: %.3f s\n", fit_seconds);
            if (job->save) printf("saved %s\n", job->save);
        }
        if (job->json && print_result_json(history, job->test ? &test : NULL, fit_seconds)) failed = cli_fail_nn(command);
    }
    nn_history_free(history);
    if (failed || !trained) nn_model_free(m);
    else *trained = m;
    return failed;
}

static int print_result_json(const nn_history *history, const nn_metrics *test, double fit_seconds) {
    nn_value root, h, t;
    int status = nn_value_dict_new(&root);
    if (!status) status = cli_history_json(history, &h);
    if (!status) status = nn_value_dict_set(&root, "history", h);
    if (!status && test) {
        status = cli_metrics_json(test, &t);
        if (!status) status = nn_value_dict_set(&root, "test", t);
    }
    if (!status) status = nn_value_dict_set(&root, "fit_seconds", nn_value_number(fit_seconds));
    if (!status) status = cli_print_json(&root);
    nn_value_clear(&root);
    return status;
}

int parse_common_training(const cli_args *a, training_job *job) {
    int seed = 42;
    if (cli_int(a, "epochs", job->epochs, &job->epochs) || cli_int(a, "batch-size", job->batch_size, &job->batch_size) ||
        cli_double(a, "validation-split", 0.0, &job->validation_split) || cli_int(a, "seed", seed, &seed))
        return 1;
    int verbose = 1;
    if (cli_int(a, "verbose", 1, &verbose)) return 1;
    if (verbose < 0 || verbose > 2) return cli_fail("option", "--verbose must be 0, 1 or 2");
    job->verbose = verbose == 0 ? NN_OFF : verbose;
    if (job->epochs < 1 || job->batch_size < 1) return cli_fail("option", "--epochs and --batch-size must be at least 1");
    job->seed = (uint64_t)seed;
    job->json = cli_flag(a, "json");
    job->save = cli_get(a, "save");
    job->history = cli_get(a, "history");
    return 0;
}

int cmd_train(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv, train_options, &a)) return 2;
    if (a.help) return fputs(train_help, stdout), 0;
    training_job job = { .epochs = 1, .batch_size = 32, .metrics = cli_get(&a, "metrics"),
                         .layers = cli_get(&a, "layers"), .model = cli_get(&a, "model"),
                         .optimizer = cli_get(&a, "optimizer"), .loss = cli_get(&a, "loss") };
    if (parse_common_training(&a, &job)) return 2;
    if (job.layers && job.model) return cli_fail("train", "give --layers or --model, not both"), 2;
    if (!job.layers && !job.model) return cli_fail("train", "--layers or --model is required (see 'nn train --help')"), 2;
    if (job.layers && !job.loss) return cli_fail("train", "--loss is required (see 'nn train --help')"), 2;
    nn_dataset *train = NULL, *validation = NULL, *test = NULL;
    int failed = cli_load_required(&a, &train) ||
                 cli_load_data(&a, "validation-data", "validation-x", "validation-y", &validation) ||
                 cli_load_data(&a, "test-data", "test-x", "test-y", &test);
    if (failed) {
        cli_fail_nn("train");
    } else {
        job.train = train, job.validation = validation, job.test = test;
        failed = run_training("train", &job, NULL);
    }
    nn_dataset_free(train);
    nn_dataset_free(validation);
    nn_dataset_free(test);
    return failed;
}
