/* nn evaluate MODEL: loss and metrics of a saved model on labelled data. */
#include "cli.h"

static const char evaluate_help[] =
    "usage: nn evaluate MODEL --data FILE.csv --target COLUMN [--batch-size N] [--json]\n"
    "       nn evaluate MODEL --x X.csv --y Y.csv [--json]\n"
    "\n"
    "Evaluates a model saved by 'nn train --save' (or nn_model_save) and prints its loss and\n"
    "compiled metrics.\n";

static const cli_option evaluate_options[] = {
    { "data", true }, { "target", true }, { "x", true }, { "y", true }, { "batch-size", true },
    { "json", false }, { NULL, false },
};

int cmd_evaluate(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv, evaluate_options, &a)) return 2;
    if (a.help) return fputs(evaluate_help, stdout), 0;
    if (a.npositional != 1) return cli_fail("evaluate", "give exactly one MODEL file (see 'nn evaluate --help')"), 2;
    int batch = 32;
    if (cli_int(&a, "batch-size", 32, &batch)) return 2;
    nn_model *m = NULL;
    nn_dataset *d = NULL;
    nn_metrics result;
    int failed = nn_model_load(a.positional[0], &m) || cli_load_required(&a, &d) ||
                 nn_evaluate(m, d, &(nn_eval_opts){ .batch_size = batch }, &result);
    if (failed) {
        cli_fail_nn("evaluate");
    } else {
        for (int i = 0; i < result.count; i++) printf("%s: %.4f\n", result.names[i], result.values[i]);
        nn_value json;
        if (cli_flag(&a, "json")) {
            failed = cli_metrics_json(&result, &json) || cli_print_json(&json);
            nn_value_clear(&json);
        }
    }
    nn_dataset_free(d);
    nn_model_free(m);
    return failed ? 1 : 0;
}
