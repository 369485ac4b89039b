/* Keras's TextVectorization (output_mode "int"): standardization, splitting, a vocabulary
 * adapted from a corpus, and texts to padded integer sequences.
 *
 * The spec is Keras 3's text_vectorization.py and index_lookup.py over TensorFlow's string
 * ops: tf.strings.lower (ASCII only), regex_replace of the ASCII punctuation class,
 * tf.strings.split (ASCII whitespace), tf.strings.unicode_split (U+FFFD for each maximal
 * ill-formed subsequence), and a vocabulary sorted as np.lexsort((tokens, counts))[::-1]. */
#include "nn_internal.h"

#include <stdio.h>

#define PAD_TOKEN ""
#define OOV_TOKEN "[UNK]"
#define OOV_INDEX 1
#define FIRST_TOKEN_INDEX 2
/* Vocabulary files larger than this are refused. */
#define VOCABULARY_FILE_LIMIT ((size_t)1 << 30)

enum standardize_mode { STANDARDIZE_LOWER = 1, STANDARDIZE_STRIP = 2 };
enum split_mode { SPLIT_WHITESPACE, SPLIT_CHARACTER, SPLIT_NONE };

static const struct { const char *name; int flags; } standardize_names[] = {
    { "lower_and_strip_punctuation", STANDARDIZE_LOWER | STANDARDIZE_STRIP },
    { "lower", STANDARDIZE_LOWER },
    { "strip_punctuation", STANDARDIZE_STRIP },
    { "none", 0 },
};
static const struct { const char *name; enum split_mode mode; } split_names[] = {
    { "whitespace", SPLIT_WHITESPACE }, { "character", SPLIT_CHARACTER }, { "none", SPLIT_NONE },
};

/* ------------------------------------------------------------ token -> index map */

/* Open addressing with linear probing over owned, NUL-terminated keys. */
typedef struct token_map {
    char **keys;         /* NULL = empty slot */
    int64_t *values;
    size_t capacity;     /* a power of two, or 0 */
    size_t used;
} token_map;

static uint64_t hash_bytes(const char *s, size_t len) {
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void map_free(token_map *m) {
    for (size_t i = 0; m->keys && i < m->capacity; i++) nn_free(m->keys[i]);
    nn_free(m->keys);
    nn_free(m->values);
    *m = (token_map){ 0 };
}

/* The slot holding (s, len), or the empty slot where it would go. Needs capacity > used. */
static size_t map_slot(const token_map *m, const char *s, size_t len) {
    size_t mask = m->capacity - 1, i = (size_t)hash_bytes(s, len) & mask;
    while (m->keys[i] && (strncmp(m->keys[i], s, len) != 0 || m->keys[i][len] != '\0')) i = (i + 1) & mask;
    return i;
}

/* The value of token (s, len), or -1 when absent. */
static int64_t map_get(const token_map *m, const char *s, size_t len) {
    if (!m->capacity) return -1;
    size_t i = map_slot(m, s, len);
    return m->keys[i] ? m->values[i] : -1;
}

static int map_grow(token_map *m) {
    token_map bigger = { 0 };
    bigger.capacity = m->capacity ? m->capacity * 2 : 64;
    bigger.keys = nn_calloc(bigger.capacity, sizeof *bigger.keys);
    bigger.values = nn_calloc(bigger.capacity, sizeof *bigger.values);
    if (!bigger.keys || !bigger.values) {
        map_free(&bigger);
        return NN_ERR_NOMEM;
    }
    for (size_t i = 0; i < m->capacity; i++) {
        if (!m->keys[i]) continue;
        size_t j = map_slot(&bigger, m->keys[i], strlen(m->keys[i]));
        bigger.keys[j] = m->keys[i];
        bigger.values[j] = m->values[i];
    }
    bigger.used = m->used;
    nn_free(m->keys);
    nn_free(m->values);
    *m = bigger;
    return NN_OK;
}

/* The slot of token (s, len), inserted with value 0 when absent. */
static int map_upsert(token_map *m, const char *s, size_t len, size_t *slot) {
    if (2 * (m->used + 1) > m->capacity) {
        int status = map_grow(m);
        if (status) return status;
    }
    size_t i = map_slot(m, s, len);
    if (!m->keys[i]) {
        char *key = nn_malloc(len + 1);
        if (!key) return NN_ERR_NOMEM;
        memcpy(key, s, len);
        key[len] = '\0';
        m->keys[i] = key;
        m->values[i] = 0;
        m->used++;
    }
    *slot = i;
    return NN_OK;
}

/* ------------------------------------------------------------ standardizing and splitting */

struct nn_text_vectorizer {
    int standardize;                 /* STANDARDIZE_* flags */
    enum split_mode split;
    int64_t max_tokens;              /* 0 = no limit */
    int64_t sequence_length;         /* 0 = the longest text of each call */
    token_map index;                 /* learned token -> vocabulary index */
    const char **vocabulary;         /* index order; entries from 2 on are index's keys */
    int64_t vocabulary_size;         /* 0 = no vocabulary yet */
};

static bool is_ascii_punctuation(unsigned char c) {
    return c < 0x80 && c > ' ' && c != 0x7F && !(c >= '0' && c <= '9') && !(c >= 'a' && c <= 'z') &&
           !(c >= 'A' && c <= 'Z');
}

static bool is_ascii_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Writes the standardized text into *buf (grown as needed); its length goes to *len. */
static int standardize(const nn_text_vectorizer *v, const char *text, char **buf, size_t *cap, size_t *len) {
    size_t n = strlen(text);
    if (n + 1 > *cap) {
        char *bigger = nn_realloc(*buf, n + 1);
        if (!bigger) return NN_ERR_NOMEM;
        *buf = bigger;
        *cap = n + 1;
    }
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        if ((v->standardize & STANDARDIZE_STRIP) && is_ascii_punctuation(c)) continue;
        if ((v->standardize & STANDARDIZE_LOWER) && c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
        (*buf)[out++] = (char)c;
    }
    (*buf)[out] = '\0';
    *len = out;
    return NN_OK;
}

/* The length of the UTF-8 sequence at p (at most avail bytes): a well-formed one (*valid), or
 * the maximal ill-formed subpart that one U+FFFD replaces (Unicode's table 3-7). */
static size_t utf8_sequence(const unsigned char *p, size_t avail, bool *valid) {
    unsigned char c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    *valid = false;
    if (c < 0x80) need = 1;
    else if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; /* nothing past U+10FFFF */
    } else return 1;
    size_t k = 1;
    for (; k < need && k < avail; k++) {
        unsigned char b = p[k];
        if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) break;
    }
    *valid = k == need;
    return k;
}

/* Walks the tokens of a standardized text. */
typedef struct tokenizer {
    const char *s;
    size_t len, pos;
    enum split_mode split;
    bool done;            /* SPLIT_NONE: the one token was given */
} tokenizer;

static bool next_token(tokenizer *t, const char **token, size_t *len) {
    static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */
    if (t->split == SPLIT_NONE) {
        if (t->done) return false;
        t->done = true;
        *token = t->s;
        *len = t->len;
        return true;
    }
    if (t->split == SPLIT_WHITESPACE)
        while (t->pos < t->len && is_ascii_space((unsigned char)t->s[t->pos])) t->pos++;
    if (t->pos >= t->len) return false;
    size_t start = t->pos;
    if (t->split == SPLIT_WHITESPACE) {
        while (t->pos < t->len && !is_ascii_space((unsigned char)t->s[t->pos])) t->pos++;
        *token = t->s + start;
        *len = t->pos - start;
        return true;
    }
    bool valid;
    t->pos += utf8_sequence((const unsigned char *)t->s + start, t->len - start, &valid);
    *token = valid ? t->s + start : replacement;
    *len = valid ? t->pos - start : sizeof replacement - 1;
    return true;
}

static int check_texts(const char *caller, const char *const *texts, int64_t n) {
    if (n < 0) return nn_error(NN_ERR_ARG, "%s: the text count %lld is negative", caller, (long long)n);
    if (n > 0 && !texts) return nn_error(NN_ERR_ARG, "%s: texts is NULL", caller);
    for (int64_t i = 0; i < n; i++)
        if (!texts[i]) return nn_error(NN_ERR_ARG, "%s: texts[%lld] is NULL", caller, (long long)i);
    return NN_OK;
}

/* ------------------------------------------------------------ the vectorizer */

static int find_option(const char *key, const char *name, const char *const *known, size_t count, size_t *found) {
    for (size_t i = 0; i < count; i++)
        if (strcmp(name, known[i]) == 0) return *found = i, NN_OK;
    char list[256];
    nn_join_names(list, sizeof list, known, count);
    return nn_error(NN_ERR_NAME, "TextVectorization: unknown %s '%s' (known: %s)", key, name, list);
}

int nn_text_vectorizer_make(const nn_text_vectorizer_opts *opts, nn_text_vectorizer **out) {
    *out = NULL;
    nn_text_vectorizer_opts o = opts ? *opts : (nn_text_vectorizer_opts){ 0 };
    const char *standardize_list[NN_ARRAY_LEN(standardize_names)], *split_list[NN_ARRAY_LEN(split_names)];
    for (size_t i = 0; i < NN_ARRAY_LEN(standardize_names); i++) standardize_list[i] = standardize_names[i].name;
    for (size_t i = 0; i < NN_ARRAY_LEN(split_names); i++) split_list[i] = split_names[i].name;
    size_t standardize_at = 0, split_at = 0;
    int status = o.standardize ? find_option("standardize", o.standardize, standardize_list,
                                             NN_ARRAY_LEN(standardize_list), &standardize_at)
                               : NN_OK;
    if (!status && o.split) status = find_option("split", o.split, split_list, NN_ARRAY_LEN(split_list), &split_at);
    if (status) return status;
    if (o.max_tokens < 0 || o.max_tokens == 1)
        return nn_error(NN_ERR_ARG, "TextVectorization: max_tokens is %lld; it must be greater than 1 (or 0 for no limit)",
                        (long long)o.max_tokens);
    if (o.output_sequence_length < 0)
        return nn_error(NN_ERR_ARG, "TextVectorization: output_sequence_length is %lld; it must be >= 0 (0 = the "
                        "longest text)", (long long)o.output_sequence_length);
    nn_text_vectorizer *v = nn_calloc(1, sizeof *v);
    if (!v) return NN_ERR_NOMEM;
    v->standardize = standardize_names[standardize_at].flags;
    v->split = split_names[split_at].mode;
    v->max_tokens = o.max_tokens;
    v->sequence_length = o.output_sequence_length;
    *out = v;
    return NN_OK;
}

nn_text_vectorizer *nn_text_vectorizer_new(const nn_text_vectorizer_opts *opts) {
    nn_text_vectorizer *v;
    nn_text_vectorizer_make(opts, &v);
    return v;
}

static void clear_vocabulary(nn_text_vectorizer *v) {
    map_free(&v->index);
    nn_free(v->vocabulary);
    v->vocabulary = NULL;
    v->vocabulary_size = 0;
}

void nn_text_vectorizer_free(nn_text_vectorizer *v) {
    if (!v) return;
    clear_vocabulary(v);
    nn_free(v);
}

/* Replaces the vocabulary by "", "[UNK]" and tokens[0..count) (distinct, none ""). */
static int install_vocabulary(nn_text_vectorizer *v, const char *const *tokens, int64_t count) {
    token_map index = { 0 };
    const char **vocabulary = nn_calloc((size_t)count + FIRST_TOKEN_INDEX, sizeof *vocabulary);
    int status = vocabulary ? NN_OK : NN_ERR_NOMEM;
    for (int64_t i = 0; !status && i < count; i++) {
        size_t slot;
        status = map_upsert(&index, tokens[i], strlen(tokens[i]), &slot);
        if (!status) index.values[slot] = i + FIRST_TOKEN_INDEX;
    }
    if (status) {
        map_free(&index);
        nn_free(vocabulary);
        return status;
    }
    for (size_t slot = 0; slot < index.capacity; slot++)
        if (index.keys[slot]) vocabulary[index.values[slot]] = index.keys[slot];
    vocabulary[0] = PAD_TOKEN;
    vocabulary[OOV_INDEX] = OOV_TOKEN;
    clear_vocabulary(v);
    v->index = index;
    v->vocabulary = vocabulary;
    v->vocabulary_size = count + FIRST_TOKEN_INDEX;
    return NN_OK;
}

/* Counts every token of texts[0..n) into counts. */
static int count_tokens(const nn_text_vectorizer *v, const char *const *texts, int64_t n, token_map *counts) {
    char *buf = NULL;
    size_t cap = 0, len = 0;
    int status = NN_OK;
    for (int64_t i = 0; !status && i < n; i++) {
        status = standardize(v, texts[i], &buf, &cap, &len);
        tokenizer t = { .s = buf, .len = len, .split = v->split };
        const char *token;
        size_t token_len, slot;
        while (!status && next_token(&t, &token, &token_len)) {
            status = map_upsert(counts, token, token_len, &slot);
            if (!status) counts->values[slot]++;
        }
    }
    nn_free(buf);
    return status;
}

typedef struct counted_token { const char *token; int64_t count; } counted_token;

/* Keras's order: count descending, then the token's bytes descending (strcmp compares bytes as
 * unsigned char, as numpy compares bytes objects). */
static int by_count_then_bytes(const void *a, const void *b) {
    const counted_token *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return -strcmp(x->token, y->token);
}

int nn_text_vectorizer_adapt(nn_text_vectorizer *v, const char *const *texts, int64_t n) {
    static const char caller[] = "nn_text_vectorizer_adapt";
    if (!v) return nn_error(NN_ERR_ARG, "%s: the vectorizer is NULL", caller);
    int status = check_texts(caller, texts, n);
    token_map counts = { 0 };
    if (!status) status = count_tokens(v, texts, n, &counts);
    counted_token *order = NULL;
    const char **tokens = NULL;
    size_t kept = 0;
    if (!status && (order = nn_calloc(counts.used + 1, sizeof *order)) == NULL) status = NN_ERR_NOMEM;
    for (size_t slot = 0; !status && slot < counts.capacity; slot++) {
        const char *key = counts.keys[slot];
        if (key && strcmp(key, PAD_TOKEN) != 0 && strcmp(key, OOV_TOKEN) != 0)
            order[kept++] = (counted_token){ key, counts.values[slot] };
    }
    if (!status && kept == 0)
        status = nn_error(NN_ERR_DATA, "%s: the %lld texts hold no token to learn after standardization and "
                          "splitting", caller, (long long)n);
    if (!status) {
        qsort(order, kept, sizeof *order, by_count_then_bytes);
        if (v->max_tokens && kept > (size_t)(v->max_tokens - FIRST_TOKEN_INDEX))
            kept = (size_t)(v->max_tokens - FIRST_TOKEN_INDEX);
        tokens = nn_calloc(kept + 1, sizeof *tokens);
        if (!tokens) status = NN_ERR_NOMEM;
    }
    for (size_t i = 0; !status && i < kept; i++) tokens[i] = order[i].token;
    if (!status) status = install_vocabulary(v, tokens, (int64_t)kept);
    nn_free(tokens);
    nn_free(order);
    map_free(&counts);
    return status;
}

int nn_text_vectorizer_set_vocabulary(nn_text_vectorizer *v, const char *const *tokens, int64_t n) {
    static const char caller[] = "nn_text_vectorizer_set_vocabulary";
    if (!v) return nn_error(NN_ERR_ARG, "%s: the vectorizer is NULL", caller);
    int status = check_texts(caller, tokens, n);
    if (status) return status;
    if (n == 0) return nn_error(NN_ERR_ARG, "%s: cannot set an empty vocabulary", caller);
    int64_t skip = n >= 2 && strcmp(tokens[0], PAD_TOKEN) == 0 && strcmp(tokens[1], OOV_TOKEN) == 0 ? 2 : 0;
    if (v->max_tokens && n - skip + FIRST_TOKEN_INDEX > v->max_tokens)
        return nn_error(NN_ERR_ARG, "%s: the vocabulary has %lld entries with \"\" and \"[UNK]\", more than max_tokens %lld",
                        caller, (long long)(n - skip + FIRST_TOKEN_INDEX), (long long)v->max_tokens);
    token_map seen = { 0 };
    for (int64_t i = skip; !status && i < n; i++) {
        size_t slot;
        if (strcmp(tokens[i], PAD_TOKEN) == 0)
            status = nn_error(NN_ERR_ARG, "%s: the padding token \"\" is entry %lld; it may only come first, followed "
                              "by \"[UNK]\"", caller, (long long)i);
        else if ((status = map_upsert(&seen, tokens[i], strlen(tokens[i]), &slot)) == NN_OK && seen.values[slot]++)
            status = nn_error(NN_ERR_ARG, "%s: token '%s' is repeated (entry %lld)", caller, tokens[i], (long long)i);
    }
    map_free(&seen);
    return status ? status : install_vocabulary(v, tokens + skip, n - skip);
}

int64_t nn_text_vectorizer_vocabulary_size(const nn_text_vectorizer *v) { return v ? v->vocabulary_size : 0; }

const char *nn_text_vectorizer_token(const nn_text_vectorizer *v, int64_t i) {
    if (!v) return nn_error(NN_ERR_ARG, "nn_text_vectorizer_token: the vectorizer is NULL"), NULL;
    if (i < 0 || i >= v->vocabulary_size)
        return nn_error(NN_ERR_ARG, "nn_text_vectorizer_token: index %lld is outside the vocabulary (size %lld)",
                        (long long)i, (long long)v->vocabulary_size), NULL;
    return v->vocabulary[i];
}

/* ------------------------------------------------------------ vectorizing */

static int64_t lookup(const nn_text_vectorizer *v, const char *token, size_t len) {
    if (len == 0) return 0; /* the padding (mask) token */
    int64_t index = map_get(&v->index, token, len);
    return index < 0 ? OOV_INDEX : index;
}

/* Writes the indices of text's first `width` tokens to row (NULL: only counts); returns the
 * number of tokens in *count. */
static int vectorize_one(const nn_text_vectorizer *v, const char *text, char **buf, size_t *cap, int64_t *row,
                         int64_t width, int64_t *count) {
    size_t len;
    int status = standardize(v, text, buf, cap, &len);
    if (status) return status;
    tokenizer t = { .s = *buf, .len = len, .split = v->split };
    const char *token;
    size_t token_len;
    *count = 0;
    while (next_token(&t, &token, &token_len) && (!row || *count < width)) {
        if (row) row[*count] = lookup(v, token, token_len);
        (*count)++;
    }
    return NN_OK;
}

int nn_text_vectorize(const nn_text_vectorizer *v, const char *const *texts, int64_t n, nn_tensor **out) {
    static const char caller[] = "nn_text_vectorize";
    if (out) *out = NULL;
    if (!v || !out) return nn_error(NN_ERR_ARG, "%s: the vectorizer and out must not be NULL", caller);
    if (!v->vocabulary_size)
        return nn_error(NN_ERR_STATE, "%s: the vectorizer has no vocabulary yet: adapt it to a corpus, or set or load "
                        "one", caller);
    int status = check_texts(caller, texts, n);
    char *buf = NULL;
    size_t cap = 0;
    int64_t width = v->sequence_length, count;
    for (int64_t i = 0; !status && !v->sequence_length && i < n; i++) {
        status = vectorize_one(v, texts[i], &buf, &cap, NULL, 0, &count);
        if (count > width) width = count;
    }
    nn_tensor *t = status ? NULL : nn_tensor_new(NN_INT64, 2, (int64_t[]){ n, width });
    if (!status && !t) status = NN_ERR_NOMEM;
    for (int64_t i = 0; !status && i < n; i++)
        status = vectorize_one(v, texts[i], &buf, &cap, (int64_t *)t->data + i * width, width, &count);
    nn_free(buf);
    if (status) nn_tensor_free(t);
    else *out = t;
    return status;
}

/* ------------------------------------------------------------ vocabulary files */

static int write_vocabulary(FILE *f, void *ctx) {
    const nn_text_vectorizer *v = ctx;
    for (int64_t i = 0; i < v->vocabulary_size; i++)
        if ((i && fputc('\n', f) == EOF) || fputs(v->vocabulary[i], f) == EOF)
            return nn_error(NN_ERR_IO, "writing the vocabulary failed");
    return NN_OK;
}

int nn_text_vectorizer_save_vocabulary(const nn_text_vectorizer *v, const char *path) {
    static const char caller[] = "nn_text_vectorizer_save_vocabulary";
    if (!v || !path) return nn_error(NN_ERR_ARG, "%s: the vectorizer and path must not be NULL", caller);
    if (!v->vocabulary_size) return nn_error(NN_ERR_STATE, "%s: the vectorizer has no vocabulary yet", caller);
    for (int64_t i = 0; i < v->vocabulary_size; i++)
        if (strpbrk(v->vocabulary[i], "\r\n"))
            return nn_error(NN_ERR_DATA, "%s: token %lld holds a line break, which a vocabulary file cannot hold",
                            caller, (long long)i);
    return nn_write_file_atomic(path, write_vocabulary, (void *)v);
}

/* Cuts data into lines in place (Python's universal newlines: "\n", "\r\n", "\r"). */
static int split_lines(const char *path, char *data, size_t size, const char ***lines, int64_t *count) {
    int64_t n = 0, cap = 0;
    const char **list = NULL;
    for (size_t pos = 0; pos < size;) {
        size_t end = pos;
        while (end < size && data[end] != '\n' && data[end] != '\r' && data[end] != '\0') end++;
        if (end < size && data[end] == '\0') {
            nn_free(list);
            return nn_error(NN_ERR_FORMAT, "'%s': line %lld holds a NUL byte", path, (long long)n + 1);
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 256;
            const char **bigger = nn_realloc(list, (size_t)cap * sizeof *list);
            if (!bigger) return nn_free(list), NN_ERR_NOMEM;
            list = bigger;
        }
        list[n++] = data + pos;
        size_t next = end + (end + 1 < size && data[end] == '\r' && data[end + 1] == '\n' ? 2 : 1);
        data[end] = '\0';
        pos = next;
    }
    *lines = list;
    *count = n;
    return NN_OK;
}

int nn_text_vectorizer_load_vocabulary(nn_text_vectorizer *v, const char *path) {
    static const char caller[] = "nn_text_vectorizer_load_vocabulary";
    if (!v || !path) return nn_error(NN_ERR_ARG, "%s: the vectorizer and path must not be NULL", caller);
    char *data;
    size_t size;
    const char **lines = NULL;
    int64_t count = 0;
    int status = nn_read_file(path, VOCABULARY_FILE_LIMIT, &data, &size);
    if (!status) status = split_lines(path, data, size, &lines, &count);
    while (!status && count > 0 && lines[count - 1][0] == '\0') count--;
    if (!status && count == 0) status = nn_error(NN_ERR_FORMAT, "'%s': the vocabulary file is empty", path);
    if (!status && (status = nn_text_vectorizer_set_vocabulary(v, lines, count)) != NN_OK)
        nn_error_context(status, "'%s'", path);
    nn_free(lines);
    nn_free(data);
    return status;
}
