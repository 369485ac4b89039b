/* Shared pieces of the `nn` command: option parsing, data and model loading, JSON output. */
#ifndef NN_CLI_H
#define NN_CLI_H

#include "nn.h"
#include "nn_internal.h"

#include <stdio.h>

/* Parsed command line: --name value pairs plus positional arguments. */
#define CLI_MAX_ARGS 32
typedef struct cli_args {
    int count;
    const char *names[CLI_MAX_ARGS];
    const char *values[CLI_MAX_ARGS];  /* NULL for flags */
    int npositional;
    const char *positional[CLI_MAX_ARGS];
    bool help;
} cli_args;

/* Options each subcommand accepts: name, whether it takes a value. */
typedef struct cli_option { const char *name; bool takes_value; } cli_option;

/* Fails (message on stderr) on an unknown option or a missing value. */
int cli_parse(int argc, char **argv, const cli_option *options, cli_args *out);
const char *cli_get(const cli_args *a, const char *name);
/* Every value of a repeatable option, in order: how many (at most max), or -1 with a message. */
int cli_get_all(const cli_args *a, const char *name, const char **values, int max);
bool cli_flag(const cli_args *a, const char *name);
/* Parses an integer / number option; fails naming the option. */
int cli_int(const cli_args *a, const char *name, int fallback, int *out);
int cli_double(const cli_args *a, const char *name, double fallback, double *out);

/* Prints "nn <command>: <message>" and returns 1 (the exit status). */
int cli_fail(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports nn_last_error() for a failed library call. */
int cli_fail_nn(const char *command);

/* A dataset from one file: CSV (target column named by `target`) or .npz (members x and y). */
int cli_load_dataset_file(const char *path, const char *target, nn_dataset **out);
/* A dataset from --<data_opt> FILE (with --target) or --<x_opt> FILE [--<y_opt> FILE] (arrays in
 * any supported format; --x once per model input and --y once per output for models of several).
 * *out stays NULL (and 0 is returned) when none of them is given. */
int cli_load_data(const cli_args *a, const char *data_opt, const char *x_opt, const char *y_opt, nn_dataset **out);
/* As cli_load_data with --data/--x/--y, failing when none is given. */
int cli_load_required(const cli_args *a, nn_dataset **out);

/* Prints a JSON object built from a value as the last line of output. */
int cli_print_json(const nn_value *v);
/* {"loss": [...], ...} from a history; {"loss": x, "accuracy": y} from metrics. */
int cli_history_json(const nn_history *h, nn_value *out);
int cli_metrics_json(const nn_metrics *m, nn_value *out);

/* Subcommands. */
int cmd_demo(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_summary(int argc, char **argv);
int cmd_data(int argc, char **argv);

#endif
