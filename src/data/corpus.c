/* Lists of texts with optional class labels, text corpus files (records separated by a line,
 * as fortune files separate entries by "%"), and datasets of vectorized texts. */
#include "nn_internal.h"

/* Corpus files larger than this are refused (the largest fortune file is 2 MB). */
#define CORPUS_FILE_LIMIT ((size_t)1 << 30)

struct nn_texts {
    char **items;          /* nn_malloc'd strings */
    int64_t *labels;       /* class index per text, -1 = none */
    int64_t count, capacity;
    char **class_names;    /* one block: pointers then strings; NULL = unlabelled */
    int64_t class_count;
};

nn_texts *nn_texts_new(void) { return nn_calloc(1, sizeof(nn_texts)); }

void nn_texts_free(nn_texts *t) {
    if (!t) return;
    for (int64_t i = 0; i < t->count; i++) nn_free(t->items[i]);
    nn_free(t->items);
    nn_free(t->labels);
    nn_free(t->class_names);
    nn_free(t);
}

int64_t nn_texts_count(const nn_texts *t) { return t ? t->count : 0; }

const char *const *nn_texts_strings(const nn_texts *t) { return t ? (const char *const *)t->items : NULL; }

const int64_t *nn_texts_labels(const nn_texts *t) { return t && t->class_names ? t->labels : NULL; }

int64_t nn_texts_class_count(const nn_texts *t) { return t ? t->class_count : 0; }

const char *nn_texts_class_name(const nn_texts *t, int64_t index) {
    if (!t || !t->class_names) return NULL;
    if (index < 0 || index >= t->class_count)
        return nn_error(NN_ERR_ARG, "class index %lld is outside 0..%lld", (long long)index,
                        (long long)t->class_count - 1), NULL;
    return t->class_names[index];
}

int nn_texts_push(nn_texts *t, char *text, int64_t label) {
    if (t->count == t->capacity) {
        int64_t cap = t->capacity ? t->capacity * 2 : 64;
        char **items = nn_realloc(t->items, (size_t)cap * sizeof *items);
        if (items) t->items = items;
        int64_t *labels = items ? nn_realloc(t->labels, (size_t)cap * sizeof *labels) : NULL;
        if (!labels) return nn_free(text), NN_ERR_NOMEM;
        t->labels = labels;
        t->capacity = cap;
    }
    t->items[t->count] = text;
    t->labels[t->count++] = label;
    return NN_OK;
}

/* A names block (count pointers, then the strings) holding copies of names[0..count). */
static char **copy_names(const char *const *names, int64_t count) {
    size_t bytes = (size_t)count * sizeof(char *);
    for (int64_t i = 0; i < count; i++) bytes += strlen(names[i]) + 1;
    char **block = nn_malloc(bytes ? bytes : 1);
    if (!block) return NULL;
    char *strings = (char *)(block + count);
    for (int64_t i = 0; i < count; i++) {
        size_t n = strlen(names[i]) + 1;
        block[i] = memcpy(strings, names[i], n);
        strings += n;
    }
    return block;
}

int nn_texts_set_classes(nn_texts *t, const char *const *names, int64_t count) {
    char **block = copy_names(names, count);
    if (!block) return NN_ERR_NOMEM;
    nn_free(t->class_names);
    t->class_names = block;
    t->class_count = count;
    return NN_OK;
}

nn_texts *nn_texts_take(const nn_texts *t, const int64_t *index, int64_t count) {
    nn_texts *out = nn_texts_new();
    int status = out ? NN_OK : NN_ERR_NOMEM;
    for (int64_t i = 0; !status && i < count; i++) {
        char *copy = nn_strdup(t->items[index[i]]);
        status = copy ? nn_texts_push(out, copy, t->labels[index[i]]) : NN_ERR_NOMEM;
    }
    if (!status && t->class_names)
        status = nn_texts_set_classes(out, (const char *const *)t->class_names, t->class_count);
    if (status) {
        nn_texts_free(out);
        return NULL;
    }
    return out;
}

/* ------------------------------------------------------------ corpus files */

static bool only_whitespace(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && (*s < '\t' || *s > '\r')) return false;
    return true;
}

/* Appends the record made of lines [begin, end) of data (each ending in "\n" or "\r\n", the
 * last possibly in neither), joined by "\n", unless it is blank. */
static int push_record(nn_texts *t, const char *begin, const char *end, void (*clean)(char *), int64_t label) {
    char *record = nn_malloc((size_t)(end - begin) + 1), *out = record;
    if (!record) return NN_ERR_NOMEM;
    for (const char *p = begin; p < end; p++)
        if (!(*p == '\r' && p + 1 < end && p[1] == '\n')) *out++ = *p;
    if (out > record && out[-1] == '\n') out--;
    *out = '\0';
    if (clean) clean(record);
    if (only_whitespace(record)) return nn_free(record), NN_OK;
    return nn_texts_push(t, record, label);
}

/* Whether the line [line, end) (its "\r\n" or "\n" excluded) is exactly the separator. */
static bool is_separator(const char *line, const char *end, const char *separator) {
    if (end > line && end[-1] == '\r') end--;
    size_t n = strlen(separator);
    return (size_t)(end - line) == n && memcmp(line, separator, n) == 0;
}

int nn_texts_read_corpus(nn_texts *t, const char *path, const char *separator, void (*clean)(char *),
                         int64_t label) {
    char *data;
    size_t size;
    int status = nn_read_file(path, CORPUS_FILE_LIMIT, &data, &size);
    if (status) return status;
    const char *nul = memchr(data, '\0', size);
    if (nul) {
        int64_t line = 1;
        for (const char *p = data; p < nul; p++) line += *p == '\n';
        nn_free(data);
        return nn_error(NN_ERR_FORMAT, "'%s': line %lld holds a NUL byte; a text corpus holds text", path,
                        (long long)line);
    }
    const char *record = data, *line = data, *end = data + size;
    while (!status && line < end) {
        const char *newline = memchr(line, '\n', (size_t)(end - line));
        const char *line_end = newline ? newline : end, *next = newline ? newline + 1 : end;
        if (is_separator(line, line_end, separator)) {
            status = push_record(t, record, line, clean, label);
            record = next;
        }
        line = next;
    }
    if (!status) status = push_record(t, record, end, clean, label);
    nn_free(data);
    return status;
}

int nn_text_corpus_load(const char *path, const nn_text_corpus_opts *opts, nn_texts **out) {
    if (out) *out = NULL;
    if (!path || !out) return nn_error(NN_ERR_ARG, "nn_text_corpus_load: path and out must not be NULL");
    const char *separator = opts && opts->separator ? opts->separator : "%";
    if (strpbrk(separator, "\r\n"))
        return nn_error(NN_ERR_ARG, "nn_text_corpus_load: the separator holds a line break; it is one whole line");
    nn_texts *t = nn_texts_new();
    if (!t) return NN_ERR_NOMEM;
    int status = nn_texts_read_corpus(t, path, separator, NULL, -1);
    if (status) nn_texts_free(t);
    else *out = t;
    return status;
}

/* ------------------------------------------------------------ datasets */

int nn_text_dataset(const nn_text_vectorizer *v, const nn_texts *texts, nn_dataset **out) {
    if (out) *out = NULL;
    if (!v || !texts || !out) return nn_error(NN_ERR_ARG, "nn_text_dataset: the vectorizer, texts and out must not be NULL");
    nn_tensor *x = NULL, *y = NULL;
    int status = nn_text_vectorize(v, nn_texts_strings(texts), texts->count, &x);
    if (!status && texts->class_names) {
        y = nn_tensor_new(NN_INT64, 1, (int64_t[]){ texts->count });
        if (!y) status = NN_ERR_NOMEM;
        else if (texts->count) memcpy(y->data, texts->labels, (size_t)texts->count * sizeof *texts->labels);
    }
    char **names = !status && texts->class_names
                       ? copy_names((const char *const *)texts->class_names, texts->class_count)
                       : NULL;
    if (!status && texts->class_names && !names) status = NN_ERR_NOMEM;
    if (status) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        return status;
    }
    *out = nn_dataset_new(x, y);
    if (!*out) return nn_free(names), NN_ERR_NOMEM;
    if (names) nn_dataset_set_class_names(*out, names, texts->class_count);
    return NN_OK;
}
