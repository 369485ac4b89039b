/* libFuzzer target for the text readers and the vectorizer: each input is written to a
 * temporary file, read as a corpus (records separated by "%" lines) and as a vocabulary file,
 * and its records are adapted and vectorized split by whitespace and by character (the UTF-8
 * decoder sees every ill-formed sequence). Built and run by `make fuzz`. */
#include <nn.h>

#include <stdio.h>
#include <unistd.h>

static void vectorize_all(const nn_texts *t, const char *split) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .split = split, .max_tokens = 50 });
    nn_tensor *out = NULL;
    if (v && nn_text_vectorizer_adapt(v, nn_texts_strings(t), nn_texts_count(t)) == NN_OK &&
        nn_text_vectorize(v, nn_texts_strings(t), nn_texts_count(t), &out) == NN_OK) {
        /* every index is inside the vocabulary */
        for (int64_t i = 0; i < nn_tensor_size(out); i++)
            if (((int64_t *)out->data)[i] < 0 || ((int64_t *)out->data)[i] >= nn_text_vectorizer_vocabulary_size(v))
                __builtin_trap();
    }
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[64];
    snprintf(path, sizeof path, "/tmp/nn_fuzz_text_%ld.txt", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t written = fwrite(data, 1, size, f);
    fclose(f);
    if (written == size) {
        nn_texts *t = NULL;
        if (nn_text_corpus_load(path, NULL, &t) == NN_OK) {
            vectorize_all(t, "whitespace");
            vectorize_all(t, "character");
        }
        nn_texts_free(t);
        nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
        if (v) nn_text_vectorizer_load_vocabulary(v, path);
        nn_text_vectorizer_free(v);
    }
    remove(path);
    return 0;
}
