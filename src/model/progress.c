/* Keras 3's progress bar: "15/15 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.9561 - loss: 0.1234",
 * redrawn in place on a terminal; one line per epoch otherwise (verbose 1), or Keras's
 * verbose=2 line "15/15 - 0s - 2ms/step - ...". */
#include "model/model.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH 20
#define REDRAW_INTERVAL 0.05 /* seconds between redraws, as Keras's Progbar */

double nn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void nn_progress_start(nn_progress *p, FILE *out, int verbose, int64_t target) {
    *p = (nn_progress){ .out = out, .verbose = verbose, .target = target, .start = nn_now() };
    p->dynamic = verbose == 1 && isatty(fileno(out));
}

static int format_step_time(char *buf, size_t size, double seconds) {
    if (seconds >= 1 || seconds == 0) return snprintf(buf, size, " %.0fs/step", seconds);
    if (seconds >= 1e-3) return snprintf(buf, size, " %.0fms/step", seconds * 1e3);
    return snprintf(buf, size, " %.0fus/step", seconds * 1e6);
}

static int format_logs(char *buf, size_t size, const nn_logs *logs) {
    size_t used = 0;
    for (int i = 0; i < logs->count && used < size; i++) {
        double v = logs->values[i];
        used += (size_t)snprintf(buf + used, size - used, fabs(v) > 1e-3 ? " - %s: %.4f" : " - %s: %.4e", logs->names[i], v);
    }
    return (int)used;
}

bool nn_progress_due(const nn_progress *p) {
    return p->verbose && p->dynamic && nn_now() - p->last_draw >= REDRAW_INTERVAL;
}

void nn_progress_update(nn_progress *p, int64_t step, const nn_logs *logs, bool final) {
    if (!final && !nn_progress_due(p)) return;
    if (!p->verbose) return;
    double now = nn_now(), elapsed = now - p->start;
    p->last_draw = now;
    char line[1024], per_step[32], metrics[800];
    format_step_time(per_step, sizeof per_step, step ? elapsed / (double)step : 0);
    format_logs(metrics, sizeof metrics, logs);
    int digits = snprintf(NULL, 0, "%lld", (long long)p->target);
    if (p->verbose == 2) {
        fprintf(p->out, "%*lld/%lld - %.0fs -%s%s\n", digits, (long long)step, (long long)p->target, elapsed,
                per_step, metrics);
        fflush(p->out);
        return;
    }
    int filled = p->target ? (int)(BAR_WIDTH * step / p->target) : BAR_WIDTH;
    char bar[BAR_WIDTH * 3 + 32] = "";
    size_t used = 0;
    const char *on = p->dynamic ? "\033[32m" : "", *off = p->dynamic ? "\033[0m" : "", *dim = p->dynamic ? "\033[37m" : "";
    used += (size_t)snprintf(bar + used, sizeof bar - used, "%s", on);
    for (int i = 0; i < filled; i++) used += (size_t)snprintf(bar + used, sizeof bar - used, "\u2501");
    used += (size_t)snprintf(bar + used, sizeof bar - used, "%s%s", off, dim);
    for (int i = filled; i < BAR_WIDTH; i++) used += (size_t)snprintf(bar + used, sizeof bar - used, "\u2501");
    snprintf(bar + used, sizeof bar - used, "%s", off);
    double eta = step ? elapsed / (double)step * (double)(p->target - step) : 0;
    int width = snprintf(line, sizeof line, "%*lld/%lld %s %.0fs%s%s", digits, (long long)step, (long long)p->target,
                         bar, final ? elapsed : eta, per_step, metrics);
    if (p->dynamic) {
        fprintf(p->out, "\r%s", line);
        if (p->prev_width > width) fprintf(p->out, "%*s", p->prev_width - width, "");
        if (final) fputc('\n', p->out);
        p->prev_width = width;
    } else {
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}
