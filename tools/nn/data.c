/* nn data FILE: what an array file holds: shape, dtype, size and per-column statistics. */
#include "cli.h"

#include <string.h>

static const char data_help[] =
    "usage: nn data FILE [--json]\n"
    "       nn data FILE --text [--separator LINE] [--json]\n"
    "\n"
    "Prints the shape, dtype and size of an array file (.csv, .npy, .npz, IDX, gzipped or not)\n"
    "and statistics per column (the last axis of a 2-D array; the whole array otherwise): min,\n"
    "max, mean, standard deviation and NaN count. Every member of an .npz is described.\n"
    "\n"
    "With --text, FILE is a text corpus: records separated by lines holding only LINE (default\n"
    "\"%\", the fortune-file format; \"\" for blank lines). Prints the record count, tokens per\n"
    "record (Keras TextVectorization's default standardization and whitespace split), the\n"
    "vocabulary size (with \"\" and \"[UNK]\") and the most frequent tokens.\n";

typedef struct column_stats { double min, max, sum, sumsq; int64_t count, nans; } column_stats;

static void accumulate(column_stats *s, double v) {
    if (isnan(v)) {
        s->nans++;
        return;
    }
    if (!s->count || v < s->min) s->min = v;
    if (!s->count || v > s->max) s->max = v;
    s->sum += v;
    s->sumsq += v * v;
    s->count++;
}

/* Statistics of one column (or the whole array when columns == 1). */
static column_stats column(const nn_tensor *t, int64_t col, int64_t columns) {
    column_stats s = { 0 };
    for (int64_t i = col, n = nn_tensor_size(t); i < n; i += columns) accumulate(&s, nn_tensor_get(t, i));
    return s;
}

static int put_string(nn_value *dict, const char *key, const char *text) {
    nn_value v;
    int status = nn_value_string(&v, text);
    return status ? status : nn_value_dict_set(dict, key, v);
}

/* {"name": ..., "min": ..., "max": ..., "mean": ..., "std": ..., "nan": ...} */
static int column_json(const char *name, const column_stats *s, double mean, double sd, nn_value *out) {
    const struct { const char *key; double v; } fields[] = {
        { "min", s->count ? s->min : NAN }, { "max", s->count ? s->max : NAN }, { "mean", mean }, { "std", sd },
        { "nan", (double)s->nans },
    };
    int status = nn_value_dict_new(out);
    if (!status) status = put_string(out, "name", name);
    for (size_t i = 0; !status && i < sizeof fields / sizeof fields[0]; i++)
        status = nn_value_dict_set(out, fields[i].key, nn_value_number(fields[i].v));
    return status;
}

static int describe(const char *name, const nn_tensor *t, const nn_dataset *labelled, bool json, nn_value *out) {
    char shape[128];
    nn_shape_str(t->ndim, t->shape, shape, sizeof shape);
    int64_t columns = t->ndim == 2 ? t->shape[1] : 1;
    size_t bytes = (size_t)nn_tensor_size(t) * nn_dtype_size(t->dtype);
    if (!json) {
        printf("%s: shape %s, dtype %s, %zu bytes\n", name, shape, nn_dtype_name(t->dtype), bytes);
        printf("  %-24s %12s %12s %12s %12s %6s\n", "column", "min", "max", "mean", "std", "NaN");
    }
    nn_value entry, dims, cols = { NN_VALUE_NULL };
    int status = nn_value_dict_new(&entry);
    if (!status) status = put_string(&entry, "dtype", nn_dtype_name(t->dtype));
    if (!status) status = nn_value_list_new(&dims);
    for (int i = 0; !status && i < t->ndim; i++) status = nn_value_list_push(&dims, nn_value_number((double)t->shape[i]));
    if (!status) status = nn_value_dict_set(&entry, "shape", dims);
    if (!status) status = nn_value_list_new(&cols);
    for (int64_t c = 0; !status && c < columns; c++) {
        column_stats s = column(t, c, columns);
        double mean = s.count ? s.sum / (double)s.count : NAN;
        double var = s.count ? s.sumsq / (double)s.count - mean * mean : NAN;
        double sd = isnan(var) ? NAN : sqrt(var > 0 ? var : 0);
        const char *col_name = labelled ? nn_dataset_feature_name(labelled, c) : NULL;
        char label[32];
        if (!col_name) snprintf(label, sizeof label, columns == 1 ? "all" : "%lld", (long long)c), col_name = label;
        if (!json) printf("  %-24.24s %12.6g %12.6g %12.6g %12.6g %6lld\n", col_name, s.count ? s.min : NAN,
                          s.count ? s.max : NAN, mean, sd, (long long)s.nans);
        nn_value col;
        status = column_json(col_name, &s, mean, sd, &col);
        status = status ? (nn_value_clear(&col), status) : nn_value_list_push(&cols, col);
    }
    if (!status) status = nn_value_dict_set(&entry, "columns", cols);
    else nn_value_clear(&cols);
    if (!status) return nn_value_dict_set(out, name, entry);
    nn_value_clear(&entry);
    return status;
}

/* A text corpus: records, tokens per record, vocabulary. */
static int describe_text(const char *path, const char *separator, bool json, nn_value *out) {
    nn_texts *texts = NULL;
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    int status = v ? nn_text_corpus_load(path, &(nn_text_corpus_opts){ .separator = separator }, &texts) : NN_ERR_NOMEM;
    int64_t n = nn_texts_count(texts), total = 0, least = 0, most = 0;
    if (!status) status = nn_text_vectorizer_adapt(v, nn_texts_strings(texts), n);
    for (int64_t i = 0; !status && i < n; i++) {
        nn_tensor *row = NULL;
        status = nn_text_vectorize(v, nn_texts_strings(texts) + i, 1, &row);
        int64_t count = row ? row->shape[1] : 0;
        total += count;
        if (!i || count < least) least = count;
        if (count > most) most = count;
        nn_tensor_free(row);
    }
    int64_t size = nn_text_vectorizer_vocabulary_size(v), top = size - 2 < 10 ? size - 2 : 10;
    if (!status && !json) {
        printf("%s: %lld records, %lld tokens (per record: min %lld, mean %.1f, max %lld), vocabulary %lld\n", path,
               (long long)n, (long long)total, (long long)least, n ? (double)total / (double)n : 0.0, (long long)most,
               (long long)size);
        printf("  most frequent:");
        for (int64_t i = 2; i < 2 + top; i++) printf(" %s", nn_text_vectorizer_token(v, i));
        printf("\n");
    }
    nn_value entry, tokens;
    if (!status) status = nn_value_dict_new(&entry);
    if (!status) {
        const struct { const char *key; double v; } fields[] = {
            { "records", (double)n }, { "tokens", (double)total }, { "min_tokens", (double)least },
            { "max_tokens", (double)most }, { "vocabulary_size", (double)size },
        };
        for (size_t i = 0; !status && i < sizeof fields / sizeof fields[0]; i++)
            status = nn_value_dict_set(&entry, fields[i].key, nn_value_number(fields[i].v));
        if (!status) status = nn_value_list_new(&tokens);
        for (int64_t i = 2; !status && i < 2 + top; i++) {
            nn_value token;
            status = nn_value_string(&token, nn_text_vectorizer_token(v, i));
            if (!status) status = nn_value_list_push(&tokens, token);
        }
        if (!status) status = nn_value_dict_set(&entry, "most_frequent", tokens);
        status = status ? (nn_value_clear(&entry), status) : nn_value_dict_set(out, path, entry);
    }
    nn_texts_free(texts);
    nn_text_vectorizer_free(v);
    return status;
}

static bool is_npz(const char *path) {
    size_t n = strlen(path);
    return n >= 4 && strcmp(path + n - 4, ".npz") == 0;
}

int cmd_data(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv,
                  (const cli_option[]){ { "json", false }, { "text", false }, { "separator", true }, { NULL, false } },
                  &a))
        return 2;
    if (a.help) return fputs(data_help, stdout), 0;
    if (a.npositional != 1) return cli_fail("data", "give exactly one FILE (see 'nn data --help')"), 2;
    const char *path = a.positional[0];
    bool json = cli_flag(&a, "json");
    nn_value result;
    int status = nn_value_dict_new(&result);
    size_t n = strlen(path);
    if (cli_get(&a, "separator") && !cli_flag(&a, "text"))
        return nn_value_clear(&result), cli_fail("data", "--separator goes with --text"), 2;
    if (!status && cli_flag(&a, "text")) {
        status = describe_text(path, cli_get(&a, "separator"), json, &result);
    } else if (!status && is_npz(path)) {
        nn_npz *z = NULL;
        status = nn_npz_load(path, NULL, &z);
        for (int i = 0; !status && i < nn_npz_count(z); i++)
            status = describe(nn_npz_name(z, i), nn_npz_get(z, nn_npz_name(z, i)), NULL, json, &result);
        nn_npz_free(z);
    } else if (!status && n >= 4 && strcmp(path + n - 4, ".csv") == 0) {
        nn_dataset *d = NULL;
        status = nn_csv_load(path, NULL, &d);
        if (!status) status = describe(path, nn_dataset_x(d), d, json, &result);
        nn_dataset_free(d);
    } else if (!status) {
        nn_tensor *t = NULL;
        status = nn_array_load(path, &t);
        if (!status) status = describe(path, t, NULL, json, &result);
        nn_tensor_free(t);
    }
    if (!status && json) status = cli_print_json(&result);
    nn_value_clear(&result);
    return status ? cli_fail_nn("data") : 0;
}
