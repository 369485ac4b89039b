/* libFuzzer target for the model-file loader: the input is the file's JSON metadata, a NUL
 * byte, then its tensor data; the harness lays them out as docs/FILE_FORMAT.md describes, with
 * a correct checksum (so inputs reach the model, layer and graph checks rather than stopping at
 * the CRC), writes the file and loads it; a model that loads also predicts once. Seeds in
 * fuzz/corpus/model are saved models: Sequential, functional with two inputs, nested and
 * recurrent. */
#include <nn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put_u32(unsigned char *p, uint32_t x) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(x >> (8 * i));
}

/* One sample of zeros for each of the model's inputs. */
static void predict_once(nn_model *m) {
    nn_predictor *p = NULL;
    if (nn_predictor_new(m, 1, &p) != NN_OK) return;
    float *x = calloc((size_t)nn_predictor_input_size(p) + 1, sizeof(float));
    float *y = calloc((size_t)nn_predictor_output_size(p) + 1, sizeof(float));
    if (x && y) nn_predictor_run(p, x, 1, y);
    free(x), free(y);
    nn_predictor_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t meta = nul ? (size_t)(nul - data) : size, tensors = nul ? size - meta - 1 : 0;
    size_t start = (24 + meta + 63) / 64 * 64, total = start + tensors + 4;
    unsigned char *b = calloc(1, total);
    if (!b) return 0;
    memcpy(b, "NNMODEL\0", 8);
    put_u32(b + 8, 1);
    put_u32(b + 16, (uint32_t)meta);
    memcpy(b + 24, data, meta);
    if (tensors) memcpy(b + start, nul + 1, tensors);
    put_u32(b + total - 4, (uint32_t)crc32(0L, b, (uInt)(total - 4)));
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_model_%ld.nn", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(b, 1, total, f);
        fclose(f);
        nn_model *m = NULL;
        if (nn_model_load(path, &m) == NN_OK) predict_once(m);
        nn_model_free(m);
        remove(path);
    }
    free(b);
    return 0;
}
