/* nn demo: the blog's program on the bundled Breast Cancer Wisconsin data. */
#include "train.h"

static const char demo_help[] =
    "usage: nn demo [--epochs N] [--batch-size N] [--seed N] [--verbose 0|1|2] [--save FILE]\n"
    "               [--history FILE.csv] [--json]\n"
    "\n"
    "Trains the blog's model, Normalization -> Dense(32, relu) -> Dense(16, relu) ->\n"
    "Dense(1, sigmoid), with adam and binary_crossentropy for 10 epochs of batch 32 on the\n"
    "455 training rows of the Breast Cancer Wisconsin data bundled with nn, then evaluates it on\n"
    "the 114 held-out rows and shows a few predictions beside the truth.\n";

static const cli_option demo_options[] = {
    { "epochs", true }, { "batch-size", true }, { "seed", true }, { "verbose", true },
    { "save", true }, { "history", true }, { "json", false }, { NULL, false },
};

static void show_predictions(nn_model *m, const nn_dataset *test) {
    nn_tensor *pred = NULL;
    if (nn_predict(m, nn_dataset_x(test), NULL, &pred)) return;
    const float *p = nn_tensor_f32(pred), *y = nn_tensor_f32(nn_dataset_y(test));
    printf("\nfirst predictions (probability of benign) beside the truth:\n");
    for (int i = 0; i < 8 && i < nn_dataset_size(test); i++)
        printf("  sample %d: %.3f -> %s (truth: %s)\n", i, (double)p[i], p[i] >= 0.5f ? "benign   " : "malignant",
               y[i] >= 0.5f ? "benign" : "malignant");
    nn_tensor_free(pred);
}

int cmd_demo(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv, demo_options, &a)) return 2;
    if (a.help) return fputs(demo_help, stdout), 0;
    training_job job = {
        .layers = "Normalization() Dense(32, activation=relu) Dense(16, activation=relu) Dense(1, activation=sigmoid)",
        .optimizer = "adam", .loss = "binary_crossentropy", .metrics = "accuracy", .epochs = 10, .batch_size = 32,
    };
    if (parse_common_training(&a, &job)) return 2;
    nn_dataset *train = NULL, *test = NULL;
    if (nn_breast_cancer_load(NULL, &train, &test)) return cli_fail_nn("demo");
    job.train = train;
    job.test = test;
    bool quiet = job.verbose == NN_OFF;
    if (!quiet)
        printf("Breast Cancer Wisconsin (Diagnostic): %lld training rows, %lld features (UCI, CC BY 4.0)\n\n",
               (long long)nn_dataset_size(train), (long long)nn_dataset_x(train)->shape[1]);
    nn_model *m = NULL;
    int failed = run_training("demo", &job, &m);
    if (!failed && !quiet) {
        nn_model_summary(m, stdout);
        show_predictions(m, test);
    }
    nn_model_free(m);
    nn_dataset_free(train);
    nn_dataset_free(test);
    return failed;
}
