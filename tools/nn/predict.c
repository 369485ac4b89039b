/* nn predict MODEL --out FILE.csv: a saved model's outputs for each row of the input. */
#include "cli.h"

#include <string.h>

static const char predict_help[] =
    "usage: nn predict MODEL --data FILE [--target COLUMN] --out PREDICTIONS.csv|.npy\n"
    "       nn predict MODEL --x FILE [--x FILE ...] --out PREDICTIONS.csv|.npy [--out ...]\n"
    "\n"
    "Writes the model's outputs for every input row: a CSV with one row per sample (columns\n"
    "output_0, output_1, ...) or an .npy array, by the extension of --out. --data takes a CSV (its\n"
    "--target column is left out of the inputs) or an .npz with an array x; --x any array file\n"
    "(.npy, .npz, .csv, IDX). A model of several inputs takes --x once per input, in order, and\n"
    "one of several outputs --out once per output.\n";

static const cli_option predict_options[] = {
    { "data", true }, { "target", true }, { "x", true }, { "out", true }, { "batch-size", true },
    { NULL, false },
};

/* .npy as it is; CSV with columns output_0, output_1, ... */
static int write_predictions(const char *path, const nn_tensor *t) {
    size_t n = strlen(path);
    if (n >= 4 && strcmp(path + n - 4, ".npy") == 0) return nn_npy_save(path, t);
    int64_t cols = t->ndim > 1 ? nn_tensor_size(t) / t->shape[0] : 1;
    char (*names)[32] = nn_calloc((size_t)cols, sizeof *names);
    const char **header = nn_calloc((size_t)cols + 1, sizeof *header);
    int status = names && header ? NN_OK : NN_ERR_NOMEM;
    for (int64_t c = 0; !status && c < cols; c++) {
        snprintf(names[c], sizeof names[c], "output_%lld", (long long)c);
        header[c] = names[c];
    }
    if (!status) {
        /* (N, ...) outputs are written as (N, columns) rows */
        nn_tensor *rows = nn_tensor_wrap(t->dtype, 2, (int64_t[]){ t->shape[0], cols }, t->data);
        status = rows ? nn_csv_save(path, rows, header) : NN_ERR_NOMEM;
        nn_tensor_free(rows);
    }
    nn_free(names);
    nn_free(header);
    return status;
}

int cmd_predict(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv, predict_options, &a)) return 2;
    if (a.help) return fputs(predict_help, stdout), 0;
    if (a.npositional != 1) return cli_fail("predict", "give exactly one MODEL file (see 'nn predict --help')"), 2;
    const char *outs[NN_MAX_MODEL_IO];
    int nout = cli_get_all(&a, "out", outs, NN_MAX_MODEL_IO);
    if (nout < 0) return cli_fail_nn("predict"), 2;
    if (nout == 0) return cli_fail("predict", "--out FILE.csv is required"), 2;
    int batch = 32;
    if (cli_int(&a, "batch-size", 32, &batch)) return 2;
    nn_model *m = NULL;
    nn_dataset *d = NULL;
    nn_tensor *pred[NN_MAX_MODEL_IO] = { 0 };
    const nn_tensor *inputs[NN_MAX_MODEL_IO + 1] = { 0 };
    int failed = nn_model_load(a.positional[0], &m) || cli_load_required(&a, &d);
    if (!failed && nout != nn_model_output_count(m))
        failed = nn_error(NN_ERR_ARG, "the model has %d outputs; give --out once for each (got %d)", nn_model_output_count(m), nout) != 0;
    for (int i = 0; !failed && i < nn_dataset_input_count(d); i++) inputs[i] = nn_dataset_input(d, i);
    if (!failed) failed = nn_predict_multi(m, inputs, &(nn_predict_opts){ .batch_size = batch }, pred) != NN_OK;
    for (int o = 0; !failed && o < nout; o++) failed = write_predictions(outs[o], pred[o]) != NN_OK;
    if (failed) cli_fail_nn("predict");
    for (int o = 0; !failed && o < nout; o++) printf("wrote %lld predictions to %s\n", (long long)pred[o]->shape[0], outs[o]);
    for (int o = 0; o < NN_MAX_MODEL_IO; o++) nn_tensor_free(pred[o]);
    nn_dataset_free(d);
    nn_model_free(m);
    return failed ? 1 : 0;
}
