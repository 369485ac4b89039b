/* The Breast Cancer Wisconsin data bundled with nn, found wherever nn runs from. */
#include "nn_internal.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#ifndef NN_DATA_DIR
#define NN_DATA_DIR "/usr/local/share/nn/data"
#endif

/* The directory holding the running program, for data beside an installed or built binary. */
static void program_dir(char *dir, size_t size) {
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0) {
        snprintf(dir, size, ".");
        return;
    }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
}

/* Looks in: dir (when given), else $NN_DATA_DIR, ./data, the source tree beside a built
 * program (build/nn -> data/), an install under any prefix (bin/nn -> share/nn/data/), and the
 * configured prefix. */
static int find_data_dir(const char *dir, const char *probe, char *found, size_t size) {
    char exe[PATH_MAX], beside[PATH_MAX + 16], installed[PATH_MAX + 24];
    program_dir(exe, sizeof exe);
    snprintf(beside, sizeof beside, "%s/../data", exe);
    snprintf(installed, sizeof installed, "%s/../share/nn/data", exe);
    const char *dirs[] = { getenv("NN_DATA_DIR"), "data", beside, installed, NN_DATA_DIR };
    const char *const *list = dir ? &dir : dirs;
    size_t count = dir ? 1 : NN_ARRAY_LEN(dirs);
    for (size_t i = 0; i < count; i++) {
        if (!list[i]) continue;
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/%s", list[i], probe);
        if (access(path, R_OK) == 0) {
            snprintf(found, size, "%s", list[i]);
            return NN_OK;
        }
    }
    if (dir) return nn_error(NN_ERR_IO, "no '%s' in '%s'", probe, dir);
    return nn_error(NN_ERR_IO, "cannot find the bundled data file '%s' (looked in $NN_DATA_DIR, ./data, %s, %s, %s)",
                    probe, beside, installed, NN_DATA_DIR);
}

int nn_breast_cancer_load(const char *dir, nn_dataset **train, nn_dataset **test) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    char found[PATH_MAX], path[PATH_MAX + 64];
    int status = find_data_dir(dir, "breast_cancer_train.csv", found, sizeof found);
    const char *names[2] = { "breast_cancer_train.csv", "breast_cancer_test.csv" };
    nn_dataset **outs[2] = { train, test };
    for (int i = 0; !status && i < 2; i++) {
        if (!outs[i]) continue;
        snprintf(path, sizeof path, "%s/%s", found, names[i]);
        status = nn_csv_load(path, &(nn_csv_opts){ .target = "target" }, outs[i]);
    }
    if (status && train) {
        nn_dataset_free(*train);
        *train = NULL;
    }
    return status;
}
