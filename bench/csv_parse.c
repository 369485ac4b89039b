/* Times nn_csv_load for bench/csv_parse.py. Usage: csv_parse FILE.csv (the last column is the
 * target). Each line read from stdin asks for one load, answered with one line, "SECONDS ROWS
 * FEATURES", so the script can alternate readers without counting process start-up; a failed
 * load prints the error and exits 1. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include "nn.h"

#include <stdio.h>
#include <time.h>

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.csv\n", argv[0]);
        return 2;
    }
    char request[64];
    while (fgets(request, sizeof request, stdin)) {
        nn_dataset *d = NULL;
        double start = now_seconds();
        int status = nn_csv_load(argv[1], &(nn_csv_opts){ .target_index = -1 }, &d);
        double seconds = now_seconds() - start;
        if (status) {
            fprintf(stderr, "%s\n", nn_last_error());
            return 1;
        }
        printf("%.6f %lld %lld\n", seconds, (long long)nn_dataset_x(d)->shape[0],
               (long long)nn_dataset_x(d)->shape[1]);
        fflush(stdout);
        nn_dataset_free(d);
    }
    return 0;
}
