/* A language-identification data set made of Debian's fortune cookies (fortune-mod's data
 * format: entries separated by lines holding only "%"), one class per language package. */
#include "nn_internal.h"

#include <dirent.h>
#include <sys/stat.h>

#define FORTUNES_DIR "/usr/share/games/fortunes"
#define DEFAULT_MAX_PER_LANGUAGE 2000
#define DEFAULT_TEST_SIZE 0.2
#define DEFAULT_MAX_TOKENS 20000
#define DEFAULT_SEQUENCE_LENGTH 64

/* Where a language's fortunes are: listed files under the fortunes directory, or every fortune
 * file of a sub-directory (a regular file named without a '.' or ending in ".fortunes", which
 * leaves out the .dat indexes, the .u8 links and sub-directories such as es/off) less `skip`. */
typedef struct fortune_language {
    const char *name;
    const char *packages;
    const char *subdir;
    const char *const *files;
    const char *const *skip;
} fortune_language;

/* Sorted by name: the class order. */
static const fortune_language languages[] = {
    { "English", "fortunes-min fortunes", NULL,
      (const char *const[]){ "fortunes", "literature", "riddles", "art", "computers", "cookie", "debian",
                             "definitions", "disclaimer", "drugs", "education", "ethnic", "food", "goedel",
                             "humorists", "kids", "knghtbrd", "law", "linux", "linuxcookie", "love", "magic",
                             "medicine", "men-women", "miscellaneous", "news", "paradoxum", "people", "perl",
                             "pets", "platitudes", "politics", "pratchett", "science", "songs-poems", "sports",
                             "startrek", "tao", "translate-me", "wisdom", "work", "zippy", NULL },
      NULL },
    { "German", "fortunes-de", "de", NULL, (const char *const[]){ "asciiart", NULL } },
    { "Italian", "fortunes-it", "it", NULL, (const char *const[]){ "banner", NULL } },
    { "Portuguese", "fortunes-br", NULL, (const char *const[]){ "brasil", NULL }, NULL },
    { "Spanish", "fortunes-es", "es", NULL, NULL },
};
#define LANGUAGE_COUNT ((int)NN_ARRAY_LEN(languages))

/* Resolves overstrikes (fortune files underline and embolden as "_\bx" and "x\bx": the
 * character after the backspace is the one shown) and turns other control characters but tab
 * and newline into spaces. In place. */
static void clean_fortune(char *text) {
    char *out = text;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '\b') {
            if (out > text) out--;
            while (out > text && ((unsigned char)*out & 0xC0) == 0x80) out--; /* a whole UTF-8 character */
            continue;
        }
        *out++ = (*p < 0x20 && *p != '\t' && *p != '\n') || *p == 0x7F ? ' ' : (char)*p;
    }
    *out = '\0';
}

static bool listed(const char *name, const char *const *list) {
    for (; list && *list; list++)
        if (strcmp(name, *list) == 0) return true;
    return false;
}

static bool is_fortune_file(const char *dir, const char *name, const char *const *skip) {
    const char *dot = strchr(name, '.');
    if (name[0] == '.' || (dot && strcmp(dot, ".fortunes") != 0) || listed(name, skip)) return false;
    char path[8192];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int missing_language(const fortune_language *l, const char *where) {
    return nn_error(NN_ERR_IO,
                    "fortunes: no %s fortunes in '%s': install Debian's %s (apt install %s), pass the directory "
                    "that holds them, or leave %s out of .languages",
                    l->name, where, l->packages, l->packages, l->name);
}

/* The names of a sub-directory's fortune files, sorted; *names is nn_malloc'd with each name. */
static int list_subdir(const char *path, const fortune_language *l, char ***names, int *count) {
    DIR *d = opendir(path);
    if (!d) return missing_language(l, path);
    char **list = NULL;
    int n = 0, cap = 0, status = NN_OK;
    for (struct dirent *e; !status && (e = readdir(d)) != NULL;) {
        if (!is_fortune_file(path, e->d_name, l->skip)) continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **bigger = nn_realloc(list, (size_t)cap * sizeof *list);
            if (!bigger) {
                status = NN_ERR_NOMEM;
                break;
            }
            list = bigger;
        }
        if ((list[n] = nn_strdup(e->d_name)) == NULL) status = NN_ERR_NOMEM;
        else n++;
    }
    closedir(d);
    if (!status && n == 0) status = missing_language(l, path);
    if (!status) qsort(list, (size_t)n, sizeof *list, by_name);
    *names = list;
    *count = n;
    return status;
}

/* Reads the fortune files of a scanned sub-directory, in name order. */
static int read_subdir(nn_texts *t, const char *dir, const fortune_language *l, int64_t label) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, l->subdir);
    char **names = NULL;
    int count = 0;
    int status = list_subdir(path, l, &names, &count);
    for (int i = 0; i < count; i++) {
        char file[8192];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        if (!status) status = nn_texts_read_corpus(t, file, "%", clean_fortune, label);
        nn_free(names[i]);
    }
    nn_free(names);
    return status;
}

/* Reads a language's listed files; a file of an older or newer package may be missing, but
 * not all of them. */
static int read_listed(nn_texts *t, const char *dir, const fortune_language *l, int64_t label) {
    int found = 0, status = NN_OK;
    for (const char *const *name = l->files; !status && *name; name++) {
        char file[4096];
        struct stat st;
        snprintf(file, sizeof file, "%s/%s", dir, *name);
        if (stat(file, &st) != 0) continue;
        found++;
        status = nn_texts_read_corpus(t, file, "%", clean_fortune, label);
    }
    return !status && !found ? missing_language(l, dir) : status;
}

/* The languages asked for, as indices into `languages`, in class order. */
static int choose_languages(const char *const *names, int *chosen, int *count) {
    bool wanted[LANGUAGE_COUNT] = { false };
    if (names && !names[0]) return nn_error(NN_ERR_ARG, "fortunes: .languages is empty (NULL = every language)");
    for (; names && *names; names++) {
        int i = 0;
        while (i < LANGUAGE_COUNT && strcmp(*names, languages[i].name) != 0) i++;
        if (i == LANGUAGE_COUNT) {
            const char *known[LANGUAGE_COUNT];
            char list[256];
            for (int k = 0; k < LANGUAGE_COUNT; k++) known[k] = languages[k].name;
            nn_join_names(list, sizeof list, known, LANGUAGE_COUNT);
            return nn_error(NN_ERR_NAME, "fortunes: unknown language '%s' (known: %s)", *names, list);
        }
        if (wanted[i]) return nn_error(NN_ERR_ARG, "fortunes: language '%s' is given twice", *names);
        wanted[i] = true;
    }
    *count = 0;
    for (int i = 0; i < LANGUAGE_COUNT; i++)
        if (!names || wanted[i]) chosen[(*count)++] = i;
    return NN_OK;
}

/* ------------------------------------------------------------ duplicates and sampling */

typedef struct text_ref { const char *text; int64_t index; } text_ref;

static int by_text_then_index(const void *a, const void *b) {
    const text_ref *x = a, *y = b;
    int c = strcmp(x->text, y->text);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Marks keep[i]: the first of each group of equal texts, none of a group holding two labels. */
static int mark_unique(const nn_texts *t, bool *keep) {
    int64_t n = nn_texts_count(t);
    const char *const *texts = nn_texts_strings(t);
    const int64_t *labels = nn_texts_labels(t);
    text_ref *refs = nn_calloc((size_t)n + 1, sizeof *refs);
    if (!refs) return NN_ERR_NOMEM;
    for (int64_t i = 0; i < n; i++) refs[i] = (text_ref){ texts[i], i };
    qsort(refs, (size_t)n, sizeof *refs, by_text_then_index);
    for (int64_t start = 0, end; start < n; start = end) {
        bool one_label = true;
        for (end = start + 1; end < n && strcmp(refs[end].text, refs[start].text) == 0; end++)
            one_label &= labels[refs[end].index] == labels[refs[start].index];
        keep[refs[start].index] = one_label;
    }
    nn_free(refs);
    return NN_OK;
}

/* Indices of the kept texts, each language sampled down to `cap` (< 0: no cap) in a seeded
 * random choice; *count receives how many. Each language needs 2 for the stratified split. */
static int sample(const nn_texts *t, const bool *keep, int64_t classes, int64_t cap, uint64_t seed, int64_t *index,
                  int64_t *count) {
    int64_t n = nn_texts_count(t);
    const int64_t *labels = nn_texts_labels(t);
    int64_t *members = nn_calloc((size_t)n + 1, sizeof *members);
    if (!members) return NN_ERR_NOMEM;
    nn_rng rng;
    nn_rng_seed(&rng, seed);
    *count = 0;
    for (int64_t c = 0; c < classes; c++) {
        int64_t m = 0;
        for (int64_t i = 0; i < n; i++)
            if (keep[i] && labels[i] == c) members[m++] = i;
        nn_rng_shuffle(&rng, members, m);
        if (cap >= 0 && m > cap) m = cap;
        if (m < 2) {
            char limit[64] = "";
            if (cap >= 0) snprintf(limit, sizeof limit, " (max_per_language %lld)", (long long)cap);
            nn_free(members);
            return nn_error(NN_ERR_DATA, "fortunes: %s has %lld %s%s; the stratified split needs at least 2",
                            nn_texts_class_name(t, c), (long long)m, m == 1 ? "entry" : "entries", limit);
        }
        memcpy(index + *count, members, (size_t)m * sizeof *members);
        *count += m;
    }
    nn_free(members);
    return NN_OK;
}

/* ------------------------------------------------------------ the split */

/* Splits t's texts index[0..count) with nn_train_test_split (stratified), through a dataset
 * whose x holds the text indices. */
static int split(const nn_texts *t, const int64_t *index, int64_t count, const nn_fortunes_opts *o, uint64_t seed,
                 nn_texts **train, nn_texts **test) {
    nn_tensor *x = nn_tensor_new(NN_INT64, 2, (int64_t[]){ count, 1 });
    nn_tensor *y = nn_tensor_new(NN_INT64, 1, (int64_t[]){ count });
    if (!x || !y) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        return NN_ERR_NOMEM;
    }
    for (int64_t i = 0; i < count; i++) {
        ((int64_t *)x->data)[i] = index[i];
        ((int64_t *)y->data)[i] = nn_texts_labels(t)[index[i]];
    }
    nn_dataset *all = nn_dataset_new(x, y);
    if (!all) return NN_ERR_NOMEM;
    nn_dataset *parts[2] = { NULL, NULL };
    nn_texts **outs[2] = { train, test };
    nn_split_opts so = { .test_size = o->test_size ? o->test_size : DEFAULT_TEST_SIZE, .seed = seed, .stratify = true };
    int status = nn_train_test_split(all, &so, &parts[0], &parts[1]);
    if (status) nn_error_context(status, "fortunes");
    for (int p = 0; !status && p < 2; p++) {
        if (!outs[p]) continue;
        *outs[p] = nn_texts_take(t, nn_dataset_x(parts[p])->data, nn_dataset_size(parts[p]));
        if (!*outs[p]) status = NN_ERR_NOMEM;
    }
    nn_dataset_free(parts[0]);
    nn_dataset_free(parts[1]);
    nn_dataset_free(all);
    return status;
}

/* Every entry of the chosen languages, labelled, with the class names set. */
static int read_languages(const char *dir, const int *chosen, int classes, nn_texts *t) {
    const char *names[LANGUAGE_COUNT];
    int status = NN_OK;
    for (int c = 0; !status && c < classes; c++) {
        const fortune_language *l = &languages[chosen[c]];
        names[c] = l->name;
        status = l->subdir ? read_subdir(t, dir, l, c) : read_listed(t, dir, l, c);
    }
    return status ? status : nn_texts_set_classes(t, names, classes);
}

int nn_fortunes_texts(const char *dir, const nn_fortunes_opts *opts, nn_texts **train, nn_texts **test) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    nn_fortunes_opts o = opts ? *opts : (nn_fortunes_opts){ 0 };
    int64_t cap = o.max_per_language == 0 ? DEFAULT_MAX_PER_LANGUAGE : o.max_per_language == NN_OFF ? -1 : o.max_per_language;
    if (cap < -1 || cap == 0)
        return nn_error(NN_ERR_ARG, "fortunes: max_per_language is %lld; it must be > 0 (0 = %d, NN_OFF = no cap)",
                        (long long)o.max_per_language, DEFAULT_MAX_PER_LANGUAGE);
    int chosen[LANGUAGE_COUNT], classes = 0;
    int status = choose_languages(o.languages, chosen, &classes);
    if (status) return status;
    if (!dir) dir = FORTUNES_DIR;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return nn_error(NN_ERR_IO, "fortunes: no directory '%s': install Debian's fortune packages (apt install "
                        "fortunes-min fortunes fortunes-de fortunes-it fortunes-br fortunes-es) or pass the "
                        "directory that holds them", dir);
    nn_texts *all = nn_texts_new();
    bool *keep = NULL;
    int64_t *index = NULL, count = 0;
    uint64_t seed = o.seed ? o.seed : nn_default_seed();
    status = all ? read_languages(dir, chosen, classes, all) : NN_ERR_NOMEM;
    int64_t n = nn_texts_count(all);
    if (!status && (!(keep = nn_calloc((size_t)n + 1, sizeof *keep)) || !(index = nn_calloc((size_t)n + 1, sizeof *index))))
        status = NN_ERR_NOMEM;
    if (!status) status = mark_unique(all, keep);
    if (!status) status = sample(all, keep, classes, cap, seed, index, &count);
    if (!status) status = split(all, index, count, &o, seed, train, test);
    if (status && train) {
        nn_texts_free(*train);
        *train = NULL;
    }
    nn_free(index);
    nn_free(keep);
    nn_texts_free(all);
    return status;
}

int nn_fortunes_load(const char *dir, const nn_fortunes_opts *opts, nn_dataset **train, nn_dataset **test,
                     nn_text_vectorizer **vectorizer) {
    if (train) *train = NULL;
    if (test) *test = NULL;
    if (vectorizer) *vectorizer = NULL;
    nn_fortunes_opts o = opts ? *opts : (nn_fortunes_opts){ 0 };
    if (!o.vectorizer.max_tokens) o.vectorizer.max_tokens = DEFAULT_MAX_TOKENS;
    if (!o.vectorizer.output_sequence_length) o.vectorizer.output_sequence_length = DEFAULT_SEQUENCE_LENGTH;
    nn_text_vectorizer *v;
    int status = nn_text_vectorizer_make(&o.vectorizer, &v);
    if (status) return nn_error_context(status, "fortunes");
    nn_texts *train_texts = NULL, *test_texts = NULL;
    status = nn_fortunes_texts(dir, &o, &train_texts, &test_texts);
    if (!status)
        status = nn_text_vectorizer_adapt(v, nn_texts_strings(train_texts), nn_texts_count(train_texts));
    if (!status && train) status = nn_text_dataset(v, train_texts, train);
    if (!status && test) status = nn_text_dataset(v, test_texts, test);
    nn_texts_free(train_texts);
    nn_texts_free(test_texts);
    if (status && train) {
        nn_dataset_free(*train);
        *train = NULL;
    }
    if (!status && vectorizer) *vectorizer = v;
    else nn_text_vectorizer_free(v);
    return status;
}
