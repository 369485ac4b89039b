/* nn predict MODEL --out FILE.csv: a saved model's outputs for each row of the input. */
#include "cli.h"

#include <errno.h>
#include <string.h>

static const char predict_help[] =
    "usage: nn predict MODEL --data FILE.csv [--target COLUMN] --out PREDICTIONS.csv\n"
    "       nn predict MODEL --x X.csv --out PREDICTIONS.csv\n"
    "\n"
    "Writes one CSV row of model outputs per input row (columns output_0, output_1, ...).\n"
    "--target names a label column of --data to leave out of the inputs.\n";

static const cli_option predict_options[] = {
    { "data", true }, { "target", true }, { "x", true }, { "out", true }, { "batch-size", true },
    { NULL, false },
};

static int write_csv(const char *path, const nn_tensor *t) {
    FILE *f = fopen(path, "w");
    if (!f) return nn_error(NN_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    int64_t rows = t->shape[0], cols = rows ? nn_tensor_size(t) / rows : 0;
    const float *v = nn_tensor_f32(t);
    for (int64_t c = 0; c < cols; c++) fprintf(f, "%soutput_%lld", c ? "," : "", (long long)c);
    fputc('\n', f);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) fprintf(f, "%.9g%c", (double)v[r * cols + c], c + 1 < cols ? ',' : '\n');
    if (fclose(f) != 0) return nn_error(NN_ERR_IO, "writing '%s' failed: %s", path, strerror(errno));
    return 0;
}

int cmd_predict(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv, predict_options, &a)) return 2;
    if (a.help) return fputs(predict_help, stdout), 0;
    if (a.npositional != 1) return cli_fail("predict", "give exactly one MODEL file (see 'nn predict --help')"), 2;
    if (!cli_get(&a, "out")) return cli_fail("predict", "--out FILE.csv is required"), 2;
    int batch = 32;
    if (cli_int(&a, "batch-size", 32, &batch)) return 2;
    nn_model *m = NULL;
    nn_dataset *d = NULL;
    nn_tensor *pred = NULL;
    int failed = nn_model_load(a.positional[0], &m) || cli_load_data(&a, "data", &d) ||
                 nn_predict(m, nn_dataset_x(d), &(nn_predict_opts){ .batch_size = batch }, &pred) ||
                 write_csv(cli_get(&a, "out"), pred);
    if (failed) cli_fail_nn("predict");
    else printf("wrote %lld predictions to %s\n", (long long)pred->shape[0], cli_get(&a, "out"));
    nn_tensor_free(pred);
    nn_dataset_free(d);
    nn_model_free(m);
    return failed ? 1 : 0;
}
