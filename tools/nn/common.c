/* Option parsing, data loading and JSON output shared by the subcommands. */
#include "train.h"

#include <time.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_fail(const char *command, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nn %s: ", command);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_fail_nn(const char *command) { return cli_fail(command, "%s", nn_last_error()); }

static const cli_option *find_option(const cli_option *options, const char *name, size_t len) {
    for (; options->name; options++)
        if (strlen(options->name) == len && strncmp(options->name, name, len) == 0) return options;
    return NULL;
}

int cli_parse(int argc, char **argv, const cli_option *options, cli_args *a) {
    *a = (cli_args){ 0 };
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            a->help = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            if (a->npositional == CLI_MAX_ARGS) return cli_fail(argv[0], "too many arguments");
            a->positional[a->npositional++] = arg;
            continue;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const cli_option *opt = find_option(options, name, len);
        if (!opt) return cli_fail(argv[0], "unknown option '--%.*s' (see 'nn %s --help')", (int)len, name, argv[0]);
        if (a->count == CLI_MAX_ARGS) return cli_fail(argv[0], "too many options");
        const char *value = NULL;
        if (opt->takes_value) {
            if (eq) value = eq + 1;
            else if (i + 1 < argc) value = argv[++i];
            else return cli_fail(argv[0], "option '--%s' needs a value", opt->name);
        } else if (eq) {
            return cli_fail(argv[0], "option '--%s' takes no value", opt->name);
        }
        a->names[a->count] = opt->name;
        a->values[a->count++] = value;
    }
    return 0;
}

const char *cli_get(const cli_args *a, const char *name) {
    const char *value = NULL;
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->names[i], name) == 0) value = a->values[i];
    return value;
}

bool cli_flag(const cli_args *a, const char *name) {
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->names[i], name) == 0) return true;
    return false;
}

int cli_double(const cli_args *a, const char *name, double fallback, double *out) {
    const char *s = cli_get(a, name);
    *out = fallback;
    if (!s) return 0;
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x)) return cli_fail("option", "--%s: '%s' is not a number", name, s);
    *out = x;
    return 0;
}

int cli_int(const cli_args *a, const char *name, int fallback, int *out) {
    double x;
    if (cli_double(a, name, fallback, &x)) return 1;
    if (x != floor(x) || x < INT_MIN || x > INT_MAX) return cli_fail("option", "--%s: '%s' is not an integer", name, cli_get(a, name));
    *out = (int)x;
    return 0;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int cli_get_all(const cli_args *a, const char *name, const char **values, int max) {
    int n = 0;
    for (int i = 0; i < a->count; i++)
        if (strcmp(a->names[i], name) == 0) {
            if (n == max) return nn_error(NN_ERR_ARG, "--%s is given more than %d times", name, max);
            values[n++] = a->values[i];
        }
    return n;
}

/* Inputs and targets from array files of any supported format: one --x per model input, one
 * --y per output. */
static int load_arrays(const char *const *x_paths, int nx, const char *const *y_paths, int ny, nn_dataset **out) {
    nn_tensor *x[NN_MAX_MODEL_IO + 1] = { 0 }, *y[NN_MAX_MODEL_IO + 1] = { 0 };
    *out = NULL;
    int failed = 0;
    for (int i = 0; i < nx && !failed; i++) failed = nn_array_load(x_paths[i], &x[i]) != NN_OK;
    for (int i = 0; i < ny && !failed; i++) failed = nn_array_load(y_paths[i], &y[i]) != NN_OK;
    if (failed) {
        for (int i = 0; i < NN_MAX_MODEL_IO; i++) nn_tensor_free(x[i]), nn_tensor_free(y[i]);
        return 1;
    }
    *out = nn_dataset_new_multi(x, y);
    return *out ? 0 : 1;
}

int cli_load_dataset_file(const char *path, const char *target, nn_dataset **out) {
    *out = NULL;
    if (has_suffix(path, ".npz")) {
        nn_npz *z = NULL;
        if (nn_npz_load(path, NULL, &z)) return 1;
        const nn_tensor *x = nn_npz_get(z, "x"), *y = nn_npz_get(z, "y");
        if (!x) {
            nn_npz_free(z);
            nn_error(NN_ERR_ARG, "'%s' has no member 'x' (an .npz dataset holds arrays named x and y)", path);
            return 1;
        }
        nn_tensor *xc = nn_tensor_copy(x), *yc = y ? nn_tensor_copy(y) : NULL;
        nn_npz_free(z);
        if (!xc || (y && !yc)) return nn_tensor_free(xc), nn_tensor_free(yc), 1;
        *out = nn_dataset_new(xc, yc);
        return *out ? 0 : 1;
    }
    return nn_csv_load(path, &(nn_csv_opts){ .target = target }, out) ? 1 : 0;
}

int cli_load_data(const cli_args *a, const char *data_opt, const char *x_opt, const char *y_opt, nn_dataset **out) {
    const char *data = cli_get(a, data_opt), *xs[NN_MAX_MODEL_IO], *ys[NN_MAX_MODEL_IO];
    int nx = cli_get_all(a, x_opt, xs, NN_MAX_MODEL_IO), ny = nx < 0 ? 0 : cli_get_all(a, y_opt, ys, NN_MAX_MODEL_IO);
    *out = NULL;
    if (nx < 0 || ny < 0) return 1;
    if (data && nx) return nn_error(NN_ERR_ARG, "give --%s or --%s/--%s, not both", data_opt, x_opt, y_opt), 1;
    if (data) return cli_load_dataset_file(data, cli_get(a, "target"), out);
    if (nx) return load_arrays(xs, nx, ys, ny, out);
    if (ny) return nn_error(NN_ERR_ARG, "--%s needs --%s", y_opt, x_opt), 1;
    return 0;
}

int cli_load_required(const cli_args *a, nn_dataset **out) {
    if (cli_load_data(a, "data", "x", "y", out)) return 1;
    if (!*out) return nn_error(NN_ERR_ARG, "no data: give --data FILE (with --target for a CSV) or --x FILE --y FILE"), 1;
    return 0;
}

int cli_print_json(const nn_value *v) {
    char *text = NULL;
    if (nn_value_to_json(v, &text)) return 1;
    printf("%s\n", text);
    nn_free(text);
    return 0;
}

int cli_history_json(const nn_history *h, nn_value *out) {
    int status = nn_value_dict_new(out);
    for (int c = 0; !status && c < nn_history_columns(h); c++) {
        nn_value list;
        const char *name = nn_history_column_name(h, c);
        status = nn_value_list_new(&list);
        for (int e = 0; !status && e < nn_history_epochs(h); e++)
            status = nn_value_list_push(&list, nn_value_number(nn_history_get(h, name, e)));
        if (!status) status = nn_value_dict_set(out, name, list);
        else nn_value_clear(&list);
    }
    return status;
}

int cli_metrics_json(const nn_metrics *m, nn_value *out) {
    int status = nn_value_dict_new(out);
    for (int i = 0; !status && i < m->count; i++) status = nn_value_dict_set(out, m->names[i], nn_value_number(m->values[i]));
    return status;
}

double nn_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
