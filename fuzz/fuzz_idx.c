/* libFuzzer target for the IDX reader: each input is written to a temporary file (the reader
 * takes a path) and loaded, plain or gzipped as its first bytes say. Build and run:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc fuzz/fuzz_idx.c \
 *       src/core/status.c src/core/tensor.c src/data/files.c src/data/dataset.c src/data/idx.c \
 *       -lz -lm -lpthread -o /tmp/fuzz_idx
 *   /tmp/fuzz_idx -max_total_time=60 fuzz/corpus/idx */
#include <nn.h>

#include <stdio.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/nn_fuzz_idx_%ld.idx", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t written = fwrite(data, 1, size, f);
    fclose(f);
    if (written == size) {
        nn_tensor *t = NULL;
        if (nn_idx_load(path, &t) == NN_OK) {
            /* touch every element, so a shape larger than the data it came with shows */
            volatile double sum = 0;
            for (int64_t i = 0; i < nn_tensor_size(t); i++) sum += nn_tensor_get(t, i);
            (void)sum;
        }
        nn_tensor_free(t);
    }
    remove(path);
    return 0;
}
