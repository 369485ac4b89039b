/* Keras's model summary table. */
#include "model/model.h"

#include <stdio.h>

enum { COL_LAYER = 33, COL_SHAPE = 24, COL_PARAMS = 15 };

void nn_format_count(int64_t n, char *buf, size_t size) {
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", (long long)n), used = 0;
    for (int i = 0; i < len && (size_t)used + 2 < size; i++) {
        if (i && (len - i) % 3 == 0) buf[used++] = ',';
        buf[used++] = digits[i];
    }
    buf[used] = '\0';
}

/* Keras's readable_memory_size: powers of 1024 with two decimals. */
static void format_bytes(double bytes, char *buf, size_t size) {
    const char *units[] = { "B", "KB", "MB", "GB", "TB" };
    int u = 0;
    while (bytes >= 1024 && u < 4) bytes /= 1024, u++;
    snprintf(buf, size, "%.2f %s", bytes, units[u]);
}

static void rule(FILE *f, const char *left, const char *fill, const char *mid, const char *right) {
    const int widths[] = { COL_LAYER, COL_SHAPE, COL_PARAMS };
    fputs(left, f);
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < widths[c]; i++) fputs(fill, f);
        fputs(c < 2 ? mid : right, f);
    }
    fputc('\n', f);
}

static void row(FILE *f, const char *bar, const char *layer, const char *shape, const char *params) {
    fprintf(f, "%s %-*s %s %-*s %s %*s %s\n", bar, COL_LAYER - 2, layer, bar, COL_SHAPE - 2, shape, bar,
            COL_PARAMS - 2, params, bar);
}

int nn_model_summary(nn_model *m, FILE *f) {
    if (!m || !f) return nn_error(NN_ERR_ARG, "nn_model_summary: model or stream is NULL");
    fprintf(f, "Model: \"%s\"\n", m->name);
    rule(f, "\u250f", "\u2501", "\u2533", "\u2513");
    row(f, "\u2503", "Layer (type)", "Output Shape", "Param #");
    rule(f, "\u2521", "\u2501", "\u2547", "\u2529");
    for (int i = 0; i < m->nlayers; i++) {
        const nn_layer *l = m->layers[i];
        char name[128], shape[96] = "?", params[32] = "0 (unbuilt)";
        snprintf(name, sizeof name, "%s (%s)", l->name, l->def->class_name);
        if (m->built) {
            nn_shape_str(l->out_ndim, l->out_shape, shape, sizeof shape);
            nn_format_count(l->param_count, params, sizeof params);
        }
        row(f, "\u2502", name, shape, params);
        if (i + 1 < m->nlayers) rule(f, "\u251c", "\u2500", "\u253c", "\u2524");
    }
    rule(f, "\u2514", "\u2500", "\u2534", "\u2518");
    int64_t total = nn_model_param_count(m, false), trainable = nn_model_param_count(m, true);
    int64_t total_bytes = nn_model_param_bytes(m, false), trainable_bytes = nn_model_param_bytes(m, true);
    const struct { const char *label; int64_t n, bytes; } lines[] = {
        { "Total", total, total_bytes }, { "Trainable", trainable, trainable_bytes },
        { "Non-trainable", total - trainable, total_bytes - trainable_bytes },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(lines); i++) {
        char count[32], bytes[32];
        nn_format_count(lines[i].n, count, sizeof count);
        format_bytes((double)lines[i].bytes, bytes, sizeof bytes);
        fprintf(f, " %s params: %s (%s)\n", lines[i].label, count, bytes);
    }
    return NN_OK;
}
