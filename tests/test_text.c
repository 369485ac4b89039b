/* Text vectorization (Keras's TextVectorization, checked against Keras's own vocabularies and
 * outputs), vocabulary files, the text corpus reader, text datasets and the fortunes loader. */
#include "nn.h"
#include "test.h"
#include "scratch.h"
#include "failing_alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>

#define FIXTURES "tests/data/text/"
#define FORTUNES_TINY FIXTURES "fortunes_tiny"
#define FORTUNES_DIR "/usr/share/games/fortunes"

static int64_t at(const nn_tensor *t, int64_t row, int64_t col) { return ((const int64_t *)t->data)[row * t->shape[1] + col]; }

/* ---------------------------------------------------------------- Keras reference cases */

/* One escaped line of cases.txt ("\\xHH" for a byte, "\\\\" for a backslash) as a malloc'd string. */
static char *unescape_line(FILE *f) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) abort();
    if (n > 0 && line[n - 1] == '\n') line[--n] = '\0';
    char *out = line;
    for (const char *p = line; *p; p++) {
        if (*p == '\\' && p[1] == 'x') {
            unsigned v;
            if (sscanf(p + 2, "%2X", &v) != 1) abort();
            *out++ = (char)v;
            p += 3;
        } else if (*p == '\\' && p[1] == '\\') *out++ = *p++;
        else *out++ = *p;
    }
    *out = '\0';
    return line;
}

typedef struct string_list { char **items; int count; } string_list;

static string_list read_strings(FILE *f, const char *tag) {
    string_list l = { 0 };
    char word[32];
    if (fscanf(f, " %31s %d", word, &l.count) != 2 || strcmp(word, tag) != 0) abort();
    fgetc(f); /* the header's newline */
    l.items = calloc((size_t)l.count + 1, sizeof *l.items);
    for (int i = 0; i < l.count; i++) l.items[i] = unescape_line(f);
    return l;
}

static void free_strings(string_list *l) {
    for (int i = 0; i < l->count; i++) free(l->items[i]);
    free(l->items);
}

/* Compares nn's output against the next "<tag> rows cols" matrix of the file. */
static void check_matrix(FILE *f, const char *tag, const char *case_name, const nn_tensor *got) {
    char word[32];
    long long rows, cols;
    if (fscanf(f, " %31s %lld %lld", word, &rows, &cols) != 3 || strcmp(word, tag) != 0) abort();
    CHECK(got->dtype == NN_INT64 && got->ndim == 2 && got->shape[0] == rows && got->shape[1] == cols);
    int mismatches = 0;
    for (long long r = 0; r < rows; r++)
        for (long long c = 0; c < cols; c++) {
            long long want;
            if (fscanf(f, "%lld", &want) != 1) abort();
            if (got->shape[0] == rows && got->shape[1] == cols && at(got, r, c) != want && mismatches++ < 3)
                printf("  case %s %s[%lld, %lld]: nn %lld, Keras %lld\n", case_name, tag, r, c,
                       (long long)at(got, r, c), want);
        }
    CHECK(mismatches == 0);
}

static char *option_value(FILE *f, const char *key) {
    char word[64], value[64];
    if (fscanf(f, " %63s %63s", word, value) != 2 || strcmp(word, key) != 0) abort();
    return strdup(value);
}

/* Builds the case's vectorizer, adapts it to the texts and checks vocabulary and outputs. */
static bool run_case(FILE *f, const string_list *texts, const string_list *queries) {
    char word[32], name[64];
    if (fscanf(f, " %31s", word) != 1 || strcmp(word, "case") != 0) return false;
    if (fscanf(f, " %63s", name) != 1) abort();
    char *max_tokens = option_value(f, "max_tokens"), *standardize = option_value(f, "standardize"),
         *split = option_value(f, "split"), *length = option_value(f, "output_sequence_length");
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){
        .max_tokens = atoll(max_tokens), .standardize = standardize, .split = split,
        .output_sequence_length = atoll(length) });
    CHECK(v != NULL);
    CHECK(nn_text_vectorizer_adapt(v, (const char *const *)texts->items, texts->count) == NN_OK);
    string_list vocab = read_strings(f, "vocab");
    CHECK(nn_text_vectorizer_vocabulary_size(v) == vocab.count);
    int wrong = 0;
    for (int i = 0; i < vocab.count && i < nn_text_vectorizer_vocabulary_size(v); i++)
        if (strcmp(nn_text_vectorizer_token(v, i), vocab.items[i]) != 0 && wrong++ < 3)
            printf("  case %s vocabulary[%d]: nn '%s', Keras '%s'\n", name, i, nn_text_vectorizer_token(v, i),
                   vocab.items[i]);
    CHECK(wrong == 0);
    const string_list *inputs[2] = { texts, queries };
    const char *tags[2] = { "texts_out", "queries_out" };
    for (int k = 0; k < 2; k++) {
        nn_tensor *out = NULL;
        CHECK(nn_text_vectorize(v, (const char *const *)inputs[k]->items, inputs[k]->count, &out) == NN_OK);
        if (out) check_matrix(f, tags[k], name, out);
        nn_tensor_free(out);
    }
    if (fscanf(f, " %31s", word) != 1 || strcmp(word, "end") != 0) abort();
    free_strings(&vocab);
    nn_text_vectorizer_free(v);
    free(max_tokens), free(standardize), free(split), free(length);
    return true;
}

TEST(vectorizer_matches_keras_text_vectorization) {
    FILE *f = fopen(FIXTURES "cases.txt", "r");
    CHECK(f != NULL);
    if (!f) return;
    char comment[256];
    if (!fgets(comment, sizeof comment, f)) abort();
    string_list texts = read_strings(f, "texts"), queries = read_strings(f, "queries");
    int cases = 0;
    while (run_case(f, &texts, &queries)) cases++;
    CHECK(cases == 11);
    free_strings(&texts);
    free_strings(&queries);
    fclose(f);
}

/* The vocabulary.txt Keras's save_assets wrote loads into the same lookups, and saving it again
 * gives the same bytes. */
TEST(vocabulary_file_round_trips_with_keras) {
    static const char *texts[] = { "The quick brown fox jumps over the lazy dog.", "THE DOG barks; the fox runs!  The end...",
                                   "don't stop-me now: e-mail me@example.com (maybe) [UNK] UNK" };
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_load_vocabulary(v, FIXTURES "keras_vocabulary.txt") == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 20);
    CHECK(strcmp(nn_text_vectorizer_token(v, 0), "") == 0 && strcmp(nn_text_vectorizer_token(v, 1), "[UNK]") == 0);
    nn_tensor *out = NULL;
    CHECK(nn_text_vectorize(v, texts, 3, &out) == NN_OK);
    FILE *f = fopen(FIXTURES "keras_vocabulary_out.txt", "r");
    CHECK(f != NULL);
    if (f && out) check_matrix(f, "out", "keras_vocabulary", out);
    if (f) fclose(f);
    nn_tensor_free(out);

    const char *path = scratch("vocabulary.txt");
    CHECK(nn_text_vectorizer_save_vocabulary(v, path) == NN_OK);
    size_t a_size = 0, b_size = 0;
    char *a = read_bytes(FIXTURES "keras_vocabulary.txt", &a_size), *b = read_bytes(path, &b_size);
    CHECK(a && b && a_size == b_size && memcmp(a, b, a_size) == 0);
    free(a), free(b);

    nn_text_vectorizer *adapted = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_adapt(adapted, texts, 3) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(adapted) == 20);
    for (int64_t i = 0; i < 20; i++)
        CHECK(strcmp(nn_text_vectorizer_token(adapted, i), nn_text_vectorizer_token(v, i)) == 0);
    nn_text_vectorizer_free(adapted);
    nn_text_vectorizer_free(v);
}

/* ---------------------------------------------------------------- edge cases */

static nn_tensor *vectorize(const nn_text_vectorizer *v, const char *const *texts, int64_t n) {
    nn_tensor *out = NULL;
    CHECK(nn_text_vectorize(v, texts, n, &out) == NN_OK);
    return out;
}

TEST(empty_and_punctuation_only_texts_give_padding) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .output_sequence_length = 3 });
    const char *corpus[] = { "", "hello world", "?!", "   " };
    CHECK(nn_text_vectorizer_adapt(v, corpus, 4) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 4);
    nn_tensor *out = vectorize(v, corpus, 4);
    CHECK(out && out->shape[0] == 4 && out->shape[1] == 3);
    for (int c = 0; out && c < 3; c++) CHECK(at(out, 0, c) == 0 && at(out, 2, c) == 0 && at(out, 3, c) == 0);
    nn_tensor_free(out);
    out = vectorize(v, NULL, 0); /* no texts: a (0, 3) tensor */
    CHECK(out && out->shape[0] == 0 && out->shape[1] == 3);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);

    /* with no fixed length, a call of empty texts is (n, 0) */
    v = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_adapt(v, corpus, 4) == NN_OK);
    out = vectorize(v, (const char *[]){ "", "..." }, 2);
    CHECK(out && out->shape[0] == 2 && out->shape[1] == 0);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
}

TEST(adapting_a_corpus_without_tokens_is_an_error) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "", "!!! ...", " \t\n" }, 3) == NN_ERR_DATA);
    CHECK_CONTAINS(nn_last_error(), "the 3 texts hold no token to learn");
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 0);
    /* "" and "[UNK]" are never learned (standardize "none" keeps the brackets) */
    nn_text_vectorizer_free(v);
    v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .standardize = "none" });
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "[UNK] [UNK]" }, 1) == NN_ERR_DATA);
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "[UNK] [UNK] x" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 3);
    nn_tensor *out = vectorize(v, (const char *[]){ "x [UNK] y" }, 1);
    CHECK(out && at(out, 0, 0) == 2 && at(out, 0, 1) == 1 && at(out, 0, 2) == 1);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
}

TEST(utf8_bytes_are_word_characters_and_only_ascii_is_lowercased) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "ÀB àb ÀB Caf\xC3\xA9, \xFF\xFE!" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 6);
    CHECK(strcmp(nn_text_vectorizer_token(v, 2), "Àb") == 0); /* count 2 */
    /* count 1, by descending bytes: 0xFF > 0xC3 ('à') > 'c' */
    CHECK(strcmp(nn_text_vectorizer_token(v, 3), "\xFF\xFE") == 0);
    CHECK(strcmp(nn_text_vectorizer_token(v, 4), "àb") == 0);
    CHECK(strcmp(nn_text_vectorizer_token(v, 5), "caf\xC3\xA9") == 0);
    nn_text_vectorizer_free(v);

    /* characters: each ill-formed subsequence is one U+FFFD */
    v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .split = "character", .standardize = "none" });
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "\xE2\x82" "a\xF0\x9F\x99\x82\xC0" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 5);
    CHECK(strcmp(nn_text_vectorizer_token(v, 2), "\xEF\xBF\xBD") == 0); /* twice */
    nn_text_vectorizer_free(v);
}

TEST(very_long_tokens_and_texts) {
    size_t n = 200000;
    char *big = malloc(n + 1);
    memset(big, 'Q', n);
    big[n] = '\0';
    big[n / 2] = ' ';
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    const char *corpus[] = { big, "q" };
    CHECK(nn_text_vectorizer_adapt(v, corpus, 2) == NN_OK);
    /* three tokens counted once, by descending bytes: the longer run of q's first */
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 5);
    CHECK(strlen(nn_text_vectorizer_token(v, 2)) == n / 2 && strlen(nn_text_vectorizer_token(v, 3)) == n / 2 - 1);
    nn_tensor *out = vectorize(v, corpus, 2);
    CHECK(out && out->shape[1] == 2 && at(out, 0, 0) == 2 && at(out, 0, 1) == 3 && at(out, 1, 0) == 4 &&
          at(out, 1, 1) == 0);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);

    /* a long text truncated at output_sequence_length; character split counts code points */
    memset(big, 'x', n);
    v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .split = "character", .output_sequence_length = 4 });
    CHECK(nn_text_vectorizer_adapt(v, corpus, 1) == NN_OK);
    out = vectorize(v, (const char *[]){ big, "x\xC3\xA9" }, 2);
    CHECK(out && at(out, 0, 3) == 2 && at(out, 1, 0) == 2 && at(out, 1, 1) == 1 && at(out, 1, 2) == 0);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
    free(big);
}

TEST(max_tokens_cuts_the_vocabulary) {
    const char *corpus[] = { "a a a b b c d" };
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .max_tokens = 3 });
    CHECK(nn_text_vectorizer_adapt(v, corpus, 1) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 3 && strcmp(nn_text_vectorizer_token(v, 2), "a") == 0);
    nn_tensor *out = vectorize(v, corpus, 1);
    CHECK(out && out->shape[1] == 7 && at(out, 0, 0) == 2 && at(out, 0, 3) == 1 && at(out, 0, 6) == 1);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
    /* max_tokens 2 keeps only "" and "[UNK]" (Keras fails there on building an empty table) */
    v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .max_tokens = 2 });
    CHECK(nn_text_vectorizer_adapt(v, corpus, 1) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 2);
    out = vectorize(v, corpus, 1);
    CHECK(out && at(out, 0, 0) == 1 && at(out, 0, 6) == 1);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
}

TEST(adapting_again_replaces_the_vocabulary) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "one two" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "three" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 3 && strcmp(nn_text_vectorizer_token(v, 2), "three") == 0);
    nn_tensor *out = vectorize(v, (const char *[]){ "one three" }, 1);
    CHECK(out && at(out, 0, 0) == 1 && at(out, 0, 1) == 2);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
}

/* ---------------------------------------------------------------- bad input */

TEST(bad_options_are_named) {
    CHECK(nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .standardize = "upper" }) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown standardize 'upper' (known: lower_and_strip_punctuation, lower, "
                                    "strip_punctuation, none)");
    CHECK(nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .split = "words" }) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown split 'words' (known: whitespace, character, none)");
    CHECK(nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .max_tokens = 1 }) == NULL);
    CHECK_CONTAINS(nn_last_error(), "max_tokens is 1; it must be greater than 1");
    CHECK(nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .max_tokens = -4 }) == NULL);
    CHECK_CONTAINS(nn_last_error(), "max_tokens is -4");
    CHECK(nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .output_sequence_length = -1 }) == NULL);
    CHECK_CONTAINS(nn_last_error(), "output_sequence_length is -1");
}

TEST(null_and_out_of_order_calls_are_errors) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    nn_tensor *out = NULL;
    CHECK(nn_text_vectorize(v, (const char *[]){ "a" }, 1, &out) == NN_ERR_STATE && out == NULL);
    CHECK_CONTAINS(nn_last_error(), "nn_text_vectorize: the vectorizer has no vocabulary yet");
    CHECK(nn_text_vectorizer_save_vocabulary(v, scratch("never.txt")) == NN_ERR_STATE);
    CHECK_CONTAINS(nn_last_error(), "has no vocabulary yet");
    CHECK(nn_text_vectorizer_adapt(NULL, (const char *[]){ "a" }, 1) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "the vectorizer is NULL");
    CHECK(nn_text_vectorizer_adapt(v, NULL, 2) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_text_vectorizer_adapt: texts is NULL");
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "a", NULL }, 2) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "texts[1] is NULL");
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "a" }, -1) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "the text count -1 is negative");
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "a b" }, 1) == NN_OK);
    CHECK(nn_text_vectorize(v, (const char *[]){ NULL }, 1, &out) == NN_ERR_ARG && out == NULL);
    CHECK_CONTAINS(nn_last_error(), "nn_text_vectorize: texts[0] is NULL");
    CHECK(nn_text_vectorize(v, (const char *[]){ "a" }, 1, NULL) == NN_ERR_ARG);
    CHECK(nn_text_vectorizer_token(v, 4) == NULL);
    CHECK_CONTAINS(nn_last_error(), "index 4 is outside the vocabulary (size 4)");
    CHECK(nn_text_vectorizer_token(v, -1) == NULL);
    CHECK(nn_text_vectorizer_token(NULL, 0) == NULL);
    CHECK(nn_text_vectorizer_vocabulary_size(NULL) == 0);
    nn_text_vectorizer_free(v);
    nn_text_vectorizer_free(NULL);
}

TEST(set_vocabulary_follows_keras_rules) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .max_tokens = 5 });
    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "earth", "wind", "fire" }, 3) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 5 && strcmp(nn_text_vectorizer_token(v, 4), "fire") == 0);
    /* the special tokens at the front are recognized, not doubled */
    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "", "[UNK]", "wind" }, 3) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 3 && strcmp(nn_text_vectorizer_token(v, 2), "wind") == 0);
    nn_tensor *out = vectorize(v, (const char *[]){ "Wind, FIRE!" }, 1);
    CHECK(out && at(out, 0, 0) == 2 && at(out, 0, 1) == 1);
    nn_tensor_free(out);

    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "a" }, 0) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "cannot set an empty vocabulary");
    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "a", "b", "a" }, 3) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "token 'a' is repeated (entry 2)");
    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "a", "" }, 2) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "the padding token \"\" is entry 1");
    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "a", "b", "c", "d" }, 4) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "6 entries with \"\" and \"[UNK]\", more than max_tokens 5");
    CHECK(nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "a", NULL }, 2) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "texts[1] is NULL");
    /* a failed call keeps the vocabulary */
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 3);
    nn_text_vectorizer_free(v);
}

TEST(vocabulary_files_bad_and_odd) {
    nn_text_vectorizer *v = nn_text_vectorizer_new(NULL);
    CHECK(nn_text_vectorizer_load_vocabulary(v, FIXTURES "missing.txt") == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "cannot open 'tests/data/text/missing.txt'");
    CHECK(nn_text_vectorizer_load_vocabulary(v, FIXTURES) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "is a directory");
    CHECK(nn_text_vectorizer_load_vocabulary(v, write_bytes(scratch("empty.txt"), "\n\n", 2)) == NN_ERR_FORMAT);
    CHECK_CONTAINS(nn_last_error(), "the vocabulary file is empty");
    CHECK(nn_text_vectorizer_load_vocabulary(v, write_bytes(scratch("nul.txt"), "a\nb\0c\n", 6)) == NN_ERR_FORMAT);
    CHECK_CONTAINS(nn_last_error(), "line 2 holds a NUL byte");
    const char *repeated = write_bytes(scratch("repeated.txt"), "\n[UNK]\nx\ny\nx\n", 12);
    CHECK(nn_text_vectorizer_load_vocabulary(v, repeated) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "repeated.txt': nn_text_vectorizer_set_vocabulary: token 'x' is repeated");
    CHECK(nn_text_vectorizer_load_vocabulary(v, NULL) == NN_ERR_ARG);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 0);
    /* CRLF lines, no special tokens, a trailing newline: all as Keras reads them */
    CHECK(nn_text_vectorizer_load_vocabulary(v, write_bytes(scratch("crlf.txt"), "alpha\r\nbeta\rgamma\r\n\r\n", 21)) == NN_OK);
    CHECK(nn_text_vectorizer_vocabulary_size(v) == 5 && strcmp(nn_text_vectorizer_token(v, 3), "beta") == 0 &&
          strcmp(nn_text_vectorizer_token(v, 4), "gamma") == 0);
    nn_text_vectorizer_free(v);

    /* a token holding a line break cannot be saved */
    v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .split = "character" });
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "ab\ncd\n" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_save_vocabulary(v, scratch("newline.txt")) == NN_ERR_DATA);
    CHECK_CONTAINS(nn_last_error(), "token 2 holds a line break");
    CHECK(nn_text_vectorizer_save_vocabulary(v, NULL) == NN_ERR_ARG);
    CHECK(nn_text_vectorizer_adapt(v, (const char *[]){ "abc" }, 1) == NN_OK);
    CHECK(nn_text_vectorizer_save_vocabulary(v, "/nonexistent-dir/v.txt") == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "cannot create '/nonexistent-dir/v.txt");
    nn_text_vectorizer_free(v);
}

/* ---------------------------------------------------------------- the corpus reader */

static nn_texts *load_corpus(const char *name, const char *content, const char *separator) {
    nn_texts *t = NULL;
    int status = nn_text_corpus_load(write_bytes(scratch(name), content, strlen(content)),
                                     &(nn_text_corpus_opts){ .separator = separator }, &t);
    CHECK(status == NN_OK);
    if (status) printf("  %s\n", nn_last_error());
    return t;
}

TEST(corpus_reader_splits_records_at_separator_lines) {
    nn_texts *t = load_corpus("fortune.txt", "%\nfirst record\nline two\n%\n\n%\n \t\n%\nthird %\n% \n%%\n%\r\n\nfourth\n\n", NULL);
    CHECK(nn_texts_count(t) == 3);
    if (nn_texts_count(t) == 3) {
        const char *const *s = nn_texts_strings(t);
        CHECK(strcmp(s[0], "first record\nline two") == 0);
        CHECK(strcmp(s[1], "third %\n% \n%%") == 0);
        CHECK(strcmp(s[2], "\nfourth\n") == 0);
    }
    CHECK(nn_texts_labels(t) == NULL && nn_texts_class_count(t) == 0 && nn_texts_class_name(t, 0) == NULL);
    nn_texts_free(t);

    /* blank lines as the separator: paragraphs; CRLF lines lose their "\r" */
    t = load_corpus("paragraphs.txt", "para one\r\nstill one\r\n\r\n\n\npara two\n\npara three", "");
    CHECK(nn_texts_count(t) == 3);
    if (nn_texts_count(t) == 3) {
        CHECK(strcmp(nn_texts_strings(t)[0], "para one\nstill one") == 0);
        CHECK(strcmp(nn_texts_strings(t)[2], "para three") == 0);
    }
    nn_texts_free(t);

    t = load_corpus("dashes.txt", "a\n----\nb\n---\nc\n", "----");
    CHECK(nn_texts_count(t) == 2 && strcmp(nn_texts_strings(t)[1], "b\n---\nc") == 0);
    nn_texts_free(t);

    t = load_corpus("empty.txt", "", NULL);
    CHECK(nn_texts_count(t) == 0);
    nn_texts_free(t);

    /* the fixture of the fortunes loader, bytes kept as they are (overstrikes too) */
    CHECK(nn_text_corpus_load(FORTUNES_TINY "/fortunes", NULL, &t) == NN_OK);
    CHECK(nn_texts_count(t) == 7 && strchr(nn_texts_strings(t)[5], '\b') != NULL);
    nn_texts_free(t);
}

TEST(corpus_reader_bad_input) {
    nn_texts *t = (nn_texts *)&t;
    CHECK(nn_text_corpus_load(FIXTURES "missing.txt", NULL, &t) == NN_ERR_IO && t == NULL);
    CHECK_CONTAINS(nn_last_error(), "cannot open 'tests/data/text/missing.txt'");
    CHECK(nn_text_corpus_load(FIXTURES, NULL, &t) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "is a directory");
    CHECK(nn_text_corpus_load(write_bytes(scratch("nul.txt"), "ok\n%\nbad\0byte\n", 14), NULL, &t) == NN_ERR_FORMAT);
    CHECK_CONTAINS(nn_last_error(), "nul.txt': line 3 holds a NUL byte");
    CHECK(nn_text_corpus_load(NULL, NULL, &t) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "path and out must not be NULL");
    CHECK(nn_text_corpus_load(FORTUNES_TINY "/fortunes", NULL, NULL) == NN_ERR_ARG);
    CHECK(nn_text_corpus_load(FORTUNES_TINY "/fortunes", &(nn_text_corpus_opts){ .separator = "%\n" }, &t) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "the separator holds a line break");
    CHECK(nn_texts_count(NULL) == 0 && nn_texts_strings(NULL) == NULL && nn_texts_labels(NULL) == NULL);
    nn_texts_free(NULL);
}

TEST(text_dataset_vectorizes_and_keeps_labels) {
    nn_texts *train = NULL;
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .test_size = 0.2, .seed = 3 }, &train, NULL) == NN_OK);
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .output_sequence_length = 5 });
    CHECK(nn_text_vectorizer_adapt(v, nn_texts_strings(train), nn_texts_count(train)) == NN_OK);
    nn_dataset *d = NULL;
    CHECK(nn_text_dataset(v, train, &d) == NN_OK);
    CHECK(nn_dataset_size(d) == nn_texts_count(train));
    const nn_tensor *x = nn_dataset_x(d), *y = nn_dataset_y(d);
    CHECK(x && x->dtype == NN_INT64 && x->shape[1] == 5);
    CHECK(y && y->dtype == NN_INT64 && y->ndim == 1);
    for (int64_t i = 0; y && i < nn_dataset_size(d); i++) CHECK(((int64_t *)y->data)[i] == nn_texts_labels(train)[i]);
    CHECK(nn_dataset_class_count(d) == 5 && strcmp(nn_dataset_class_name(d, 4), "Spanish") == 0);
    nn_dataset_free(d);

    nn_texts *plain = NULL;
    CHECK(nn_text_corpus_load(FORTUNES_TINY "/brasil", NULL, &plain) == NN_OK);
    CHECK(nn_text_dataset(v, plain, &d) == NN_OK);
    CHECK(nn_dataset_size(d) == 5 && nn_dataset_y(d) == NULL && nn_dataset_class_count(d) == 0);
    nn_dataset_free(d);
    CHECK(nn_text_dataset(NULL, plain, &d) == NN_ERR_ARG && d == NULL);
    CHECK_CONTAINS(nn_last_error(), "nn_text_dataset: the vectorizer, texts and out must not be NULL");
    nn_texts_free(plain);
    nn_texts_free(train);
    nn_text_vectorizer_free(v);
}

/* ---------------------------------------------------------------- fortunes */

static int64_t count_label(const nn_texts *t, int64_t label) {
    int64_t n = 0;
    for (int64_t i = 0; i < nn_texts_count(t); i++) n += nn_texts_labels(t)[i] == label;
    return n;
}

static bool holds(const nn_texts *t, const char *text) {
    for (int64_t i = 0; i < nn_texts_count(t); i++)
        if (strcmp(nn_texts_strings(t)[i], text) == 0) return true;
    return false;
}

/* The fixture: English 7 entries (one twice, one with overstrikes) plus "Ich bin ein Berliner."
 * in literature, which German holds too; German 6 of which that one, plus an ASCII-art file to
 * skip; Italian 5 plus a banner to skip; Spanish 5 plus es/off and a .fortunes-pre to skip;
 * Portuguese 5 in CRLF lines. */
TEST(fortunes_loader_reads_a_miniature_directory) {
    nn_texts *train = NULL, *test = NULL;
    int status = nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .test_size = 0.2, .seed = 7 }, &train, &test);
    CHECK(status == NN_OK);
    if (status) {
        printf("  %s\n", nn_last_error());
        return;
    }
    static const char *names[] = { "English", "German", "Italian", "Portuguese", "Spanish" };
    static const int64_t sizes[] = { 6, 5, 5, 5, 5 };
    CHECK(nn_texts_class_count(train) == 5 && nn_texts_class_count(test) == 5);
    for (int c = 0; c < 5; c++) {
        CHECK(strcmp(nn_texts_class_name(train, c), names[c]) == 0);
        CHECK(count_label(train, c) + count_label(test, c) == sizes[c]);
        CHECK(count_label(test, c) >= 1);
    }
    CHECK(nn_texts_count(train) + nn_texts_count(test) == 26);
    bool either_bold = holds(train, "This is bold and this is bold too.") || holds(test, "This is bold and this is bold too.");
    CHECK(either_bold);
    CHECK(!holds(train, "Ich bin ein Berliner.") && !holds(test, "Ich bin ein Berliner."));
    CHECK(holds(train, "Quem não tem cão caça com gato.") || holds(test, "Quem não tem cão caça com gato."));
    CHECK(!holds(train, "Should never be read.") && !holds(train, "Preamble never read."));
    CHECK(holds(train, "When in doubt, tell the truth.\n\t\t-- Mark Twain") ||
          holds(test, "When in doubt, tell the truth.\n\t\t-- Mark Twain"));

    /* the same seed gives the same split; another seed another one */
    nn_texts *again = NULL, *other = NULL;
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .test_size = 0.2, .seed = 7 }, &again, NULL) == NN_OK);
    CHECK(nn_texts_count(again) == nn_texts_count(train));
    for (int64_t i = 0; i < nn_texts_count(again) && i < nn_texts_count(train); i++)
        CHECK(strcmp(nn_texts_strings(again)[i], nn_texts_strings(train)[i]) == 0);
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .test_size = 0.2, .seed = 8 }, &other, NULL) == NN_OK);
    bool differs = false;
    for (int64_t i = 0; i < nn_texts_count(other) && i < nn_texts_count(train); i++)
        differs |= strcmp(nn_texts_strings(other)[i], nn_texts_strings(train)[i]) != 0;
    CHECK(differs);
    nn_texts_free(again);
    nn_texts_free(other);
    nn_texts_free(train);
    nn_texts_free(test);
}

TEST(fortunes_loader_caps_and_chooses_languages) {
    nn_texts *train = NULL, *test = NULL;
    nn_fortunes_opts o = { .languages = (const char *[]){ "Spanish", "English", NULL }, .max_per_language = 4,
                           .test_size = 0.25, .seed = 1 };
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &o, &train, &test) == NN_OK);
    CHECK(nn_texts_class_count(train) == 2 && strcmp(nn_texts_class_name(train, 0), "English") == 0 &&
          strcmp(nn_texts_class_name(train, 1), "Spanish") == 0);
    CHECK(nn_texts_count(train) == 6 && nn_texts_count(test) == 2);
    CHECK(count_label(test, 0) == 1 && count_label(test, 1) == 1);
    nn_texts_free(train);
    nn_texts_free(test);

    /* the datasets: the vectorizer is adapted on the training part */
    nn_dataset *dtrain = NULL, *dtest = NULL;
    nn_text_vectorizer *v = NULL;
    o.vectorizer = (nn_text_vectorizer_opts){ .max_tokens = 30, .output_sequence_length = 6 };
    CHECK(nn_fortunes_load(FORTUNES_TINY, &o, &dtrain, &dtest, &v) == NN_OK);
    CHECK(nn_dataset_size(dtrain) == 6 && nn_dataset_size(dtest) == 2);
    CHECK(nn_dataset_x(dtrain)->shape[1] == 6 && nn_text_vectorizer_vocabulary_size(v) == 30);
    CHECK(strcmp(nn_dataset_class_name(dtest, 1), "Spanish") == 0);
    nn_dataset_free(dtrain);
    nn_dataset_free(dtest);
    nn_text_vectorizer_free(v);
    CHECK(nn_fortunes_load(FORTUNES_TINY, &o, NULL, &dtest, NULL) == NN_OK && nn_dataset_size(dtest) == 2);
    nn_dataset_free(dtest);
}

TEST(fortunes_loader_bad_input) {
    nn_texts *train = (nn_texts *)&train;
    CHECK(nn_fortunes_texts("/nonexistent", NULL, &train, NULL) == NN_ERR_IO && train == NULL);
    CHECK_CONTAINS(nn_last_error(), "fortunes: no directory '/nonexistent': install Debian's fortune packages");
    CHECK(nn_fortunes_texts(FIXTURES, NULL, &train, NULL) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "no English fortunes in 'tests/data/text/': install Debian's fortunes-min fortunes");
    CHECK(nn_fortunes_texts(FIXTURES, &(nn_fortunes_opts){ .languages = (const char *[]){ "German", NULL } }, &train, NULL) == NN_ERR_IO);
    CHECK_CONTAINS(nn_last_error(), "no German fortunes in 'tests/data/text//de': install Debian's fortunes-de (apt install fortunes-de)");
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .languages = (const char *[]){ "French", NULL } }, &train, NULL) == NN_ERR_NAME);
    CHECK_CONTAINS(nn_last_error(), "unknown language 'French' (known: English, German, Italian, Portuguese, Spanish)");
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .languages = (const char *[]){ "Italian", "Italian", NULL } }, &train, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "language 'Italian' is given twice");
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .languages = (const char *[]){ NULL } }, &train, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), ".languages is empty");
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .max_per_language = -3 }, &train, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "max_per_language is -3");
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .test_size = 1.5 }, &train, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "fortunes: nn_train_test_split: test_size 1.5");
    CHECK(nn_fortunes_texts(FORTUNES_TINY, &(nn_fortunes_opts){ .max_per_language = 1 }, &train, NULL) == NN_ERR_DATA);
    CHECK_CONTAINS(nn_last_error(), "fortunes: English has 1 entry (max_per_language 1); the stratified split needs at least 2");
    nn_dataset *d = NULL;
    CHECK(nn_fortunes_load(FORTUNES_TINY, &(nn_fortunes_opts){ .vectorizer.split = "words" }, &d, NULL, NULL) == NN_ERR_NAME && d == NULL);
    CHECK_CONTAINS(nn_last_error(), "fortunes: TextVectorization: unknown split 'words'");
}

/* ---------------------------------------------------------------- allocation failures */

static int vectorize_round_trip(void) {
    static const char *corpus[] = { "the cat, the hat", "a \xC3\xA9t\xC3\xA9 cat" };
    nn_text_vectorizer *v = nn_text_vectorizer_new(&(nn_text_vectorizer_opts){ .max_tokens = 4 });
    nn_tensor *out = NULL;
    int status = v ? nn_text_vectorizer_adapt(v, corpus, 2) : NN_ERR_NOMEM;
    if (!status) status = nn_text_vectorize(v, corpus, 2, &out);
    if (!status) status = nn_text_vectorizer_save_vocabulary(v, scratch("sweep.txt"));
    if (!status) status = nn_text_vectorizer_load_vocabulary(v, scratch("sweep.txt"));
    if (!status) status = nn_text_vectorizer_set_vocabulary(v, (const char *[]){ "x", "y" }, 2);
    nn_tensor_free(out);
    nn_text_vectorizer_free(v);
    return status;
}

static int load_tiny_fortunes(void) {
    nn_dataset *train = (nn_dataset *)&train, *test = NULL;
    nn_text_vectorizer *v = NULL;
    int status = nn_fortunes_load(FORTUNES_TINY, &(nn_fortunes_opts){ .test_size = 0.2 }, &train, &test, &v);
    if (status) CHECK(train == NULL && test == NULL && v == NULL);
    nn_dataset_free(train);
    nn_dataset_free(test);
    nn_text_vectorizer_free(v);
    return status;
}

static int load_corpus_file(void) {
    nn_texts *t = (nn_texts *)&t;
    int status = nn_text_corpus_load(FORTUNES_TINY "/fortunes", NULL, &t);
    if (status) CHECK(t == NULL);
    nn_texts_free(t);
    return status;
}

/* Fails the 1st, 2nd, ... allocation of attempt() until it succeeds; returns how many failed,
 * each with NN_ERR_NOMEM (ASan's leak check at exit reports anything left behind). */
static int sweep_allocation_failures(int (*attempt)(void)) {
    int failures = 0;
    for (long n = 1; n <= 5000; n++) {
        failing_alloc state;
        failing_alloc_install(&state, n);
        int status = attempt();
        nn_set_allocator(NULL);
        if (status == NN_OK) return failures;
        failures++;
        if (status != NN_ERR_NOMEM) {
            printf("  allocation %ld failed as %s: %s\n", n, nn_status_name(status), nn_last_error());
            CHECK(status == NN_ERR_NOMEM);
            return failures;
        }
    }
    CHECK(!"no attempt succeeded");
    return failures;
}

TEST(allocation_failures_fail_cleanly) {
    CHECK(sweep_allocation_failures(vectorize_round_trip) >= 10);
    CHECK(sweep_allocation_failures(load_corpus_file) >= 8);
    CHECK(sweep_allocation_failures(load_tiny_fortunes) >= 50);
}

/* Debian's packages, when installed (CI installs them): the default data set. */
TEST(fortunes_installed_packages_give_a_balanced_set) {
    struct stat st;
    if (stat(FORTUNES_DIR "/de", &st) != 0 || stat(FORTUNES_DIR "/brasil", &st) != 0) {
        printf("  note: Debian's fortune packages are absent (apt install fortunes-min fortunes fortunes-de "
               "fortunes-it fortunes-br fortunes-es); skipped\n");
        return;
    }
    nn_dataset *train = NULL, *test = NULL;
    nn_text_vectorizer *v = NULL;
    int status = nn_fortunes_load(NULL, &(nn_fortunes_opts){ .seed = 1 }, &train, &test, &v);
    CHECK(status == NN_OK);
    if (status) {
        printf("  %s\n", nn_last_error());
        return;
    }
    CHECK(nn_dataset_size(train) == 8000 && nn_dataset_size(test) == 2000);
    CHECK(nn_dataset_x(train)->shape[1] == 64 && nn_text_vectorizer_vocabulary_size(v) == 20000);
    int64_t per_class[5] = { 0 };
    for (int64_t i = 0; i < nn_dataset_size(test); i++) per_class[((int64_t *)nn_dataset_y(test)->data)[i]]++;
    for (int c = 0; c < 5; c++) CHECK(per_class[c] == 400);
    CHECK(strcmp(nn_text_vectorizer_token(v, 2), "a") == 0 || strcmp(nn_text_vectorizer_token(v, 2), "the") == 0);
    nn_dataset_free(train);
    nn_dataset_free(test);
    nn_text_vectorizer_free(v);
}

int main(void) {
    RUN_TESTS(vectorizer_matches_keras_text_vectorization, vocabulary_file_round_trips_with_keras,
              empty_and_punctuation_only_texts_give_padding, adapting_a_corpus_without_tokens_is_an_error,
              utf8_bytes_are_word_characters_and_only_ascii_is_lowercased, very_long_tokens_and_texts,
              max_tokens_cuts_the_vocabulary, adapting_again_replaces_the_vocabulary, bad_options_are_named,
              null_and_out_of_order_calls_are_errors, set_vocabulary_follows_keras_rules,
              vocabulary_files_bad_and_odd, corpus_reader_splits_records_at_separator_lines,
              corpus_reader_bad_input, text_dataset_vectorizes_and_keeps_labels,
              fortunes_loader_reads_a_miniature_directory, fortunes_loader_caps_and_chooses_languages,
              fortunes_loader_bad_input, allocation_failures_fail_cleanly,
              fortunes_installed_packages_give_a_balanced_set);
}
