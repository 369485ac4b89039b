/* libFuzzer target for the .npz reader: the input is written to a temporary file and loaded
 * with a 64 MiB cap per member (so declared sizes cannot exhaust the fuzzer's memory). Build
 * and run (see fuzz/corpus/npz for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_npz.c \
 *       $(find src -name '*.c') -lz -lm -lpthread -o /tmp/fuzz_npz
 *   /tmp/fuzz_npz -max_total_time=60 fuzz/corpus/npz */
#include <nn.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_npz_%ld.npz", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    nn_npz *z = NULL;
    if (nn_npz_load(path, &(nn_npz_opts){ .max_bytes = 64u << 20 }, &z) == NN_OK) {
        for (int i = 0; i < nn_npz_count(z); i++) {
            const nn_tensor *t = nn_npz_get(z, nn_npz_name(z, i));
            volatile uint8_t sink = 0;
            size_t bytes = (size_t)nn_tensor_size(t) * nn_dtype_size(t->dtype);
            for (size_t b = 0; b < bytes; b++) sink ^= ((const uint8_t *)t->data)[b];
            (void)sink;
        }
    }
    nn_npz_free(z);
    remove(path);
    return 0;
}
