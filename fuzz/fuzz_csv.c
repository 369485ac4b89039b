/* libFuzzer target for the CSV reader and writer. The first input byte picks the options
 * (delimiter given or detected, header mode, target, fill, comment sign); the rest is the file,
 * written to a temporary path (the reader takes a path). A file that loads is saved with its
 * feature names and loaded again: the names and every value must come back the same (the
 * writer's promise), else the target traps. Build and run:
 *   make build-fuzz/fuzz_csv
 *   cp -r fuzz/corpus/csv /tmp/csv_seeds && build-fuzz/fuzz_csv -max_total_time=60 /tmp/csv_seeds */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool write_file(const char *path, const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    size_t written = fwrite(data, 1, size, f);
    return fclose(f) == 0 && written == size;
}

static nn_csv_opts options_from(uint8_t bits) {
    static const char delimiters[] = { 0, ',', ';', '\t' };
    static const char *const targets[] = { NULL, "1", "b", "a,b" };
    static const int header_modes[] = { 0, 1, NN_OFF, 0 };
    nn_csv_opts opts = {
        .delimiter = delimiters[bits & 3],
        .header = header_modes[bits >> 2 & 3],
        .fill_missing = bits >> 6 & 1,
        .fill_value = -1,
        .comment = bits >> 7 ? '%' : 0,
    };
    if (bits >> 4 & 3) opts.target = targets[bits >> 4 & 3];
    else opts.target_index = bits & 4 ? -1 : 0;
    return opts;
}

static void check_round_trip(const char *path, const nn_dataset *d) {
    const nn_tensor *x = nn_dataset_x(d);
    int64_t columns = x->shape[1];
    const char **names = calloc((size_t)columns + 1, sizeof *names);
    if (!names) return;
    for (int64_t i = 0; i < columns; i++) names[i] = nn_dataset_feature_name(d, i);
    nn_dataset *again = NULL;
    if (nn_csv_save(path, x, names) != NN_OK ||
        nn_csv_load(path, &(nn_csv_opts){ .header = 1, .delimiter = ',' }, &again) != NN_OK)
        __builtin_trap();
    const nn_tensor *y = nn_dataset_x(again);
    if (y->shape[0] != x->shape[0] || y->shape[1] != columns ||
        memcmp(x->data, y->data, (size_t)nn_tensor_size(x) * sizeof(float)) != 0)
        __builtin_trap();
    for (int64_t i = 0; i < columns; i++)
        if (strcmp(names[i], nn_dataset_feature_name(again, i)) != 0) __builtin_trap();
    nn_dataset_free(again);
    free(names);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/nn_fuzz_csv_%ld.csv", (long)getpid());
    if (write_file(path, data + 1, size - 1)) {
        nn_csv_opts opts = options_from(data[0]);
        nn_dataset *d = NULL;
        if (nn_csv_load(path, &opts, &d) == NN_OK) {
            for (int64_t i = 0; i < nn_dataset_class_count(d); i++)
                if (!nn_dataset_class_name(d, i)) __builtin_trap();
            check_round_trip(path, d);
        }
        nn_dataset_free(d);
    }
    remove(path);
    return 0;
}
