/* libFuzzer target for the .npy reader: the input is written to a temporary file and loaded
 * both read and memory-mapped. Build and run (see fuzz/corpus/npy for seeds):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Isrc fuzz/fuzz_npy.c \
 *       $(find src -name '*.c') -lz -lm -lpthread -o /tmp/fuzz_npy
 *   /tmp/fuzz_npy -max_total_time=60 fuzz/corpus/npy */
#include <nn.h>

#include <stdio.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_npy_%ld.npy", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    for (int mapped = 0; mapped < 2; mapped++) {
        nn_tensor *t = NULL;
        if (nn_npy_load(path, &(nn_npy_opts){ .mmap = mapped }, &t) == NN_OK) {
            /* touch every byte, so a tensor pointing outside its data shows */
            volatile uint8_t sink = 0;
            size_t bytes = (size_t)nn_tensor_size(t) * nn_dtype_size(t->dtype);
            for (size_t i = 0; i < bytes; i++) sink ^= ((const uint8_t *)t->data)[i];
            (void)sink;
        }
        nn_tensor_free(t);
    }
    remove(path);
    return 0;
}
