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

/* Column widths (with their padding): Keras's 88-column table for Sequential models and its
 * 108-column one, with "Connected to", for functional models. */
typedef struct table {
    int ncols;
    int widths[4];
} table;

static void rule(FILE *f, const table *t, const char *left, const char *fill, const char *mid, const char *right) {
    fputs(left, f);
    for (int c = 0; c < t->ncols; c++) {
        for (int i = 0; i < t->widths[c]; i++) fputs(fill, f);
        fputs(c + 1 < t->ncols ? mid : right, f);
    }
    fputc('\n', f);
}

/* One row; a cell longer than its column wraps onto further lines, and "\n" in a cell starts
 * a new line (Connected to lists one input per line). The Param # column is right-aligned. */
static void row(FILE *f, const table *t, const char *bar, const char *const *cells) {
    const char *rest[4];
    for (int c = 0; c < t->ncols; c++) rest[c] = cells[c];
    for (bool more = true; more;) {
        more = false;
        fputs(bar, f);
        for (int c = 0; c < t->ncols; c++) {
            int room = t->widths[c] - 2, len = (int)strcspn(rest[c], "\n");
            int take = len < room ? len : room;
            /* wrap at the last space that fits, as Keras's table does */
            for (int k = take; take < len && k > 0; k--)
                if (rest[c][k] == ' ') {
                    take = k;
                    break;
                }
            if (c == 2) fprintf(f, " %*.*s %s", room, take, rest[c], bar);
            else fprintf(f, " %-*.*s %s", room, take, rest[c], bar);
            rest[c] += take;
            if ((*rest[c] == '\n' && take == len) || (*rest[c] == ' ' && take < len)) rest[c]++;
            more |= *rest[c] != '\0';
        }
        fputc('\n', f);
    }
}

/* "dense[0][0]", one per line, for the inputs of model node k. */
static void connected_to(const nn_model *m, int k, char *buf, size_t size) {
    const nn_model_node *node = &m->nodes[k];
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < node->ninputs && used < size; i++) {
        nn_model_ref ref = node->inputs[i];
        used += (size_t)snprintf(buf + used, size - used, "%s%s[%d][%d]", i ? "\n" : "", m->layers[m->nodes[ref.node].layer]->name,
                                 nn_model_keras_node_index(m, ref.node), ref.index);
    }
    if (!node->ninputs) snprintf(buf, size, "-");
}

int nn_model_summary(nn_model *m, FILE *f) {
    if (!m || !f) return nn_error(NN_ERR_ARG, "nn_model_summary: model or stream is NULL");
    const table t = m->functional ? (table){ 4, { 30, 27, 19, 27 } } : (table){ 3, { COL_LAYER, COL_SHAPE, COL_PARAMS } };
    fprintf(f, "Model: \"%s\"\n", m->name);
    rule(f, &t, "\u250f", "\u2501", "\u2533", "\u2513");
    row(f, &t, "\u2503", (const char *const[]){ "Layer (type)", "Output Shape", "Param #", "Connected to" });
    rule(f, &t, "\u2521", "\u2501", "\u2547", "\u2529");
    /* functional models list each layer call; Sequential ones each layer */
    int rows = m->functional ? m->nnodes : m->nlayers;
    for (int i = 0; i < rows; i++) {
        const nn_layer *l = m->layers[m->functional ? m->nodes[i].layer : i];
        char name[160], shape[96] = "?", params[32] = "0 (unbuilt)", links[512] = "";
        snprintf(name, sizeof name, "%s (%s)", l->name, l->def->class_name);
        if (m->built) {
            nn_shape_str(l->out_ndim, l->out_shape, shape, sizeof shape);
            nn_format_count(l->param_count, params, sizeof params);
        }
        if (m->functional) connected_to(m, i, links, sizeof links);
        row(f, &t, "\u2502", (const char *const[]){ name, shape, params, links });
        if (i + 1 < rows) rule(f, &t, "\u251c", "\u2500", "\u253c", "\u2524");
    }
    rule(f, &t, "\u2514", "\u2500", "\u2534", "\u2518");
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
