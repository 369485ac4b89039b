/* Numeric CSV with a header row -> dataset. The file is read into one buffer and parsed in
 * place: a first pass counts the data rows so x and y are allocated once, a second fills them. */
#include "nn_internal.h"

#include <errno.h>
#include <float.h>
#include <stdio.h>
#include <sys/stat.h>

enum { QUOTED_CELL_MAX = 40, COLUMN_LIST_MAX = 300 };

typedef struct csv_span {
    const char *begin, *end;
} csv_span;

/* Walks the buffer line by line, keeping the editor-style line number (1-based). */
typedef struct csv_lines {
    const char *pos, *end;
    int64_t number;
} csv_lines;

typedef struct csv_header {
    char **names;          /* every column, one block as nn_dataset_set_feature_names takes */
    int64_t count;
    int64_t target;        /* column index of the target, -1 when unlabelled */
    int64_t line;
} csv_header;

typedef struct csv_file {
    const char *path;
    char delimiter;
    char *text;
    size_t size;
} csv_file;

/* Buffer size for a file: its size plus a byte to see the end and one for the terminator, so a
 * regular file arrives in one fread. Directories are refused (fopen opens them on Linux). */
static int initial_capacity(const csv_file *f, FILE *fp, size_t *capacity) {
    struct stat info;
    *capacity = 1 << 16;
    if (fstat(fileno(fp), &info) != 0) return NN_OK;
    if (S_ISDIR(info.st_mode))
        return nn_error(NN_ERR_IO, "cannot read '%s': %s", f->path, strerror(EISDIR));
    if (S_ISREG(info.st_mode) && (uintmax_t)info.st_size < SIZE_MAX - 2)
        *capacity = (size_t)info.st_size + 2;
    return NN_OK;
}

/* Reads to the end, growing only for streams whose size was unknown (pipes). */
static int read_stream(csv_file *f, FILE *fp, size_t capacity) {
    size_t size = 0;
    char *text = nn_malloc(capacity);
    while (text) {
        size += fread(text + size, 1, capacity - size - 1, fp);
        if (size + 1 < capacity || ferror(fp)) break;
        char *grown = capacity <= SIZE_MAX / 2 ? nn_realloc(text, capacity * 2) : NULL;
        if (!grown) nn_free(text);
        text = grown;
        capacity *= 2;
    }
    if (!text) return NN_ERR_NOMEM;
    if (ferror(fp)) {
        nn_free(text);
        return nn_error(NN_ERR_IO, "cannot read '%s': %s", f->path, strerror(errno));
    }
    text[size] = '\0';
    f->text = text;
    f->size = size;
    return NN_OK;
}

static int read_whole_file(csv_file *f) {
    FILE *fp = fopen(f->path, "rb");
    if (!fp) return nn_error(NN_ERR_IO, "cannot open '%s': %s", f->path, strerror(errno));
    size_t capacity;
    int status = initial_capacity(f, fp, &capacity);
    if (!status) status = read_stream(f, fp, capacity);
    fclose(fp);
    return status;
}

static bool is_padding(char c, char delimiter) {
    return (c == ' ' || c == '\t') && c != delimiter;
}

static bool is_blank(csv_span line, char delimiter) {
    for (const char *p = line.begin; p < line.end; p++)
        if (!is_padding(*p, delimiter)) return false;
    return true;
}

/* The next line without its "\n" or "\r\n"; false at the end of the text. */
static bool next_line(csv_lines *lines, csv_span *line) {
    if (lines->pos >= lines->end) return false;
    const char *newline = memchr(lines->pos, '\n', (size_t)(lines->end - lines->pos));
    const char *stop = newline ? newline : lines->end;
    line->begin = lines->pos;
    line->end = stop > lines->pos && stop[-1] == '\r' ? stop - 1 : stop;
    lines->pos = newline ? newline + 1 : lines->end;
    lines->number++;
    return true;
}

static bool next_nonblank_line(csv_lines *lines, csv_span *line, char delimiter) {
    while (next_line(lines, line))
        if (!is_blank(*line, delimiter)) return true;
    return false;
}

/* The cells of one line, left to right. */
typedef struct csv_cells {
    const char *pos, *end;
    char delimiter;
    bool done;
} csv_cells;

static csv_cells cells_of(csv_span line, char delimiter) {
    return (csv_cells){ line.begin, line.end, delimiter, false };
}

static bool has_cell(const csv_cells *cells) { return !cells->done; }

/* The next cell, trimmed of padding. */
static csv_span next_cell(csv_cells *cells) {
    const char *stop = memchr(cells->pos, cells->delimiter, (size_t)(cells->end - cells->pos));
    csv_span cell = { cells->pos, stop ? stop : cells->end };
    cells->pos = stop ? stop + 1 : cells->end;
    cells->done = !stop;
    while (cell.begin < cell.end && is_padding(*cell.begin, cells->delimiter)) cell.begin++;
    while (cell.end > cell.begin && is_padding(cell.end[-1], cells->delimiter)) cell.end--;
    return cell;
}

static int64_t count_cells(csv_span line, char delimiter) {
    int64_t count = 0;
    for (csv_cells cells = cells_of(line, delimiter); has_cell(&cells); count++) next_cell(&cells);
    return count;
}

/* Clinger's fast path: a decimal significand below 2^53 times an exact power of ten (10^0 to
 * 10^22) takes one correctly rounded IEEE multiply or divide, so the result equals strtod's
 * while skipping its locale and generality. Returns false for anything else. */
static bool parse_decimal_fast(const char *s, const char *end, double *out) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double exact_powers_of_ten[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    };
    bool negative = false, any_digit = false, in_fraction = false;
    uint64_t significand = 0;
    int digits = 0;
    int64_t exponent = 0; /* wide: each leading fractional zero lowers it */
    if (s < end && (*s == '+' || *s == '-')) negative = *s++ == '-';
    for (; s < end; s++) {
        if (*s == '.' && !in_fraction) {
            in_fraction = true;
            continue;
        }
        if (*s < '0' || *s > '9') break;
        any_digit = true;
        if (significand == 0 && *s == '0') {
            exponent -= in_fraction;
            continue;
        }
        if (++digits > 19) return false;
        significand = significand * 10 + (uint64_t)(*s - '0');
        exponent -= in_fraction;
    }
    if (!any_digit) return false;
    if (s < end && (*s == 'e' || *s == 'E')) {
        bool negative_exponent = false, any_exponent_digit = false;
        int value = 0;
        if (++s < end && (*s == '+' || *s == '-')) negative_exponent = *s++ == '-';
        for (; s < end && *s >= '0' && *s <= '9'; s++, any_exponent_digit = true)
            if (value < 100000) value = value * 10 + (*s - '0');
        if (!any_exponent_digit) return false;
        exponent += negative_exponent ? -value : value;
    }
    if (s != end || significand > (UINT64_C(1) << 53)) return false;
    double magnitude = 0.0;
    if (significand) {
        if (exponent < -22 || exponent > 22) return false;
        magnitude = exponent < 0 ? (double)significand / exact_powers_of_ten[-exponent]
                                 : (double)significand * exact_powers_of_ten[exponent];
    }
    *out = negative ? -magnitude : magnitude;
    return true;
#else
    (void)s, (void)end, (void)out;
    return false; /* excess precision would round twice */
#endif
}

/* The cell's number (anything strtod takes: long significands, nan, inf, hex); false if the
 * cell is empty or has anything after the number. */
static bool parse_number(csv_span cell, double *out) {
    if (cell.begin == cell.end) return false;
    if (parse_decimal_fast(cell.begin, cell.end, out)) return true;
    char *stop;
    *out = strtod(cell.begin, &stop);
    return stop == cell.end;
}

static int cell_error(const csv_file *f, const csv_header *h, int64_t line, int64_t column,
                      csv_span cell, int status, const char *problem) {
    int length = (int)(cell.end - cell.begin);
    const char *more = length > QUOTED_CELL_MAX ? "..." : "";
    if (length > QUOTED_CELL_MAX) length = QUOTED_CELL_MAX;
    return nn_error(status, "'%s' line %lld, column %lld '%s': cell \"%.*s%s\" %s", f->path,
                    (long long)line, (long long)column + 1, h->names[column], length, cell.begin,
                    more, problem);
}

static int ragged_error(const csv_file *f, const csv_header *h, int64_t line, csv_span text) {
    int64_t got = count_cells(text, f->delimiter);
    if (got < h->count)
        return nn_error(NN_ERR_FORMAT,
                        "'%s' line %lld: expected %lld cells as in the header (line %lld), got "
                        "%lld: column %lld '%s' is missing",
                        f->path, (long long)line, (long long)h->count, (long long)h->line,
                        (long long)got, (long long)got + 1, h->names[got]);
    return nn_error(NN_ERR_FORMAT,
                    "'%s' line %lld: expected %lld cells as in the header (line %lld), got %lld: "
                    "column %lld has no header",
                    f->path, (long long)line, (long long)h->count, (long long)h->line,
                    (long long)got, (long long)h->count + 1);
}

/* Parses one data line: the target column into *target, the others into features. */
static int parse_row(const csv_file *f, const csv_header *h, int64_t line_number, csv_span line,
                     float *features, float *target) {
    csv_cells cells = cells_of(line, f->delimiter);
    for (int64_t column = 0; column < h->count; column++) {
        if (!has_cell(&cells)) return ragged_error(f, h, line_number, line);
        csv_span cell = next_cell(&cells);
        double value;
        if (!parse_number(cell, &value))
            return cell_error(f, h, line_number, column, cell, NN_ERR_FORMAT, "is not a number");
        if (!isfinite(value))
            return cell_error(f, h, line_number, column, cell, NN_ERR_DATA, "is not finite");
        float narrowed = (float)value;
        if (!isfinite(narrowed))
            return cell_error(f, h, line_number, column, cell, NN_ERR_DATA,
                              "is beyond the float32 range (+-3.4e38)");
        if (column == h->target) *target = narrowed;
        else *features++ = narrowed;
    }
    if (has_cell(&cells)) return ragged_error(f, h, line_number, line);
    return NN_OK;
}

/* Copies the header's names into one block: `count` pointers, then the strings. */
static int read_header(const csv_file *f, csv_span line, csv_header *h) {
    size_t bytes = 0;
    h->count = 0;
    for (csv_cells cells = cells_of(line, f->delimiter); has_cell(&cells); h->count++) {
        csv_span cell = next_cell(&cells);
        bytes += sizeof(char *) + (size_t)(cell.end - cell.begin) + 1;
    }
    h->names = nn_malloc(bytes);
    if (!h->names) return NN_ERR_NOMEM;
    char *strings = (char *)(h->names + h->count);
    csv_cells cells = cells_of(line, f->delimiter);
    for (int64_t i = 0; i < h->count; i++) {
        csv_span cell = next_cell(&cells);
        size_t length = (size_t)(cell.end - cell.begin);
        memcpy(strings, cell.begin, length);
        strings[length] = '\0';
        h->names[i] = strings;
        strings += length + 1;
    }
    return NN_OK;
}

static int find_target(const csv_file *f, const char *target, csv_header *h) {
    h->target = -1;
    if (!target) return NN_OK;
    for (int64_t i = 0; i < h->count && h->target < 0; i++)
        if (strcmp(h->names[i], target) == 0) h->target = i;
    if (h->target >= 0) return NN_OK;
    char columns[COLUMN_LIST_MAX];
    nn_join_names(columns, sizeof columns, (const char *const *)h->names, (size_t)h->count);
    bool truncated = strlen(columns) + 1 >= sizeof columns;
    return nn_error(NN_ERR_NAME,
                    "'%s' line %lld: target column '%s' not found; the %lld columns are: %s%s",
                    f->path, (long long)h->line, target, (long long)h->count, columns,
                    truncated ? "..." : "");
}

/* Drops the target's pointer so the block lists the feature columns in x order. */
static void remove_target_name(csv_header *h) {
    if (h->target < 0) return;
    memmove(h->names + h->target, h->names + h->target + 1,
            (size_t)(h->count - h->target - 1) * sizeof *h->names);
}

static int64_t count_data_rows(csv_lines lines, char delimiter) {
    csv_span line;
    int64_t rows = 0;
    while (next_nonblank_line(&lines, &line, delimiter)) rows++;
    return rows;
}

static int fill_rows(const csv_file *f, const csv_header *h, csv_lines lines, nn_tensor *x,
                     nn_tensor *y) {
    float *features = nn_tensor_f32(x), *targets = y ? nn_tensor_f32(y) : NULL;
    int64_t width = x->shape[1];
    csv_span line;
    for (int64_t row = 0; next_nonblank_line(&lines, &line, f->delimiter); row++) {
        int status = parse_row(f, h, lines.number, line, features + row * width,
                               targets ? targets + row : NULL);
        if (status) return status;
    }
    return NN_OK;
}

static int check_delimiter(char delimiter) {
    if (delimiter == '\n' || delimiter == '\r' || delimiter == '"' || delimiter == '.' ||
        delimiter == '+' || delimiter == '-' || (delimiter >= '0' && delimiter <= '9') ||
        (delimiter >= 'a' && delimiter <= 'z') || (delimiter >= 'A' && delimiter <= 'Z'))
        return nn_error(NN_ERR_ARG,
                        "CSV delimiter '%c' can be part of a number or a line end; use ',', ';', "
                        "'\\t' or '|'",
                        delimiter);
    return NN_OK;
}

/* Skips a UTF-8 byte order mark, which spreadsheet programs write before the header. */
static const char *skip_bom(const csv_file *f) {
    return f->size >= 3 && memcmp(f->text, "\xEF\xBB\xBF", 3) == 0 ? f->text + 3 : f->text;
}

/* Reads the header and sizes x (N, F) and y (N, 1) from the data rows that follow. */
static int parse_layout(const csv_file *f, const char *target, csv_lines *lines, csv_header *h,
                        int64_t *rows) {
    csv_span line;
    if (!next_nonblank_line(lines, &line, f->delimiter))
        return nn_error(NN_ERR_FORMAT, "'%s' is empty: expected a header row of column names",
                        f->path);
    h->line = lines->number;
    int status = read_header(f, line, h);
    if (!status) status = find_target(f, target, h);
    if (status) return status;
    *rows = count_data_rows(*lines, f->delimiter);
    if (*rows == 0)
        return nn_error(NN_ERR_FORMAT, "'%s' has a header (line %lld) but no data rows", f->path,
                        (long long)h->line);
    return NN_OK;
}

static int load_dataset(const csv_file *f, const char *target, nn_dataset **out) {
    csv_lines lines = { skip_bom(f), f->text + f->size, 0 };
    csv_header h = { 0 };
    int64_t rows = 0;
    int status = parse_layout(f, target, &lines, &h, &rows);
    if (status) return nn_free(h.names), status;
    int64_t features = h.count - (h.target >= 0);
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ rows, features });
    nn_tensor *y = h.target >= 0 ? nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ rows, 1 }) : NULL;
    if (!x || (h.target >= 0 && !y)) status = NN_ERR_NOMEM;
    if (!status) status = fill_rows(f, &h, lines, x, y);
    if (status) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        nn_free(h.names);
        return status;
    }
    *out = nn_dataset_new(x, y);
    if (!*out) return nn_free(h.names), NN_ERR_NOMEM;
    remove_target_name(&h);
    nn_dataset_set_feature_names(*out, h.names, features);
    return NN_OK;
}

int nn_csv_load(const char *path, const nn_csv_opts *opts, nn_dataset **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_csv_load: out is NULL");
    *out = NULL;
    if (!path) return nn_error(NN_ERR_ARG, "nn_csv_load: path is NULL");
    csv_file f = { path, opts && opts->delimiter ? opts->delimiter : ',', NULL, 0 };
    int status = check_delimiter(f.delimiter);
    if (!status) status = read_whole_file(&f);
    if (!status) status = load_dataset(&f, opts ? opts->target : NULL, out);
    nn_free(f.text);
    return status == NN_ERR_NOMEM ? nn_error_context(status, "loading '%s'", path) : status;
}
