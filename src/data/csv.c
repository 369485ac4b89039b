/* CSV files <-> datasets and tensors. The reader loads the file into one buffer and parses it in
 * place: a first pass counts the rows so x and y are allocated once, a second fills them, and no
 * cell is copied. Quoting follows RFC 4180: a cell starting with '"' runs to the closing quote,
 * across delimiters and line ends, with "" standing for one quote. */
#include "nn_internal.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

enum {
    QUOTED_CELL_MAX = 40,  /* characters of a cell quoted in a message */
    COLUMN_LIST_MAX = 300, /* characters of a column list in a message */
    DETECT_ROWS = 5,       /* rows looked at to detect the delimiter */
    QUOTE_WINDOW = 1 << 16, /* bytes searched for quotes at a time */
};

static const char DELIMITER_CANDIDATES[] = { ',', ';', '\t', '|' };
static const char UTF8_BOM[] = "\xEF\xBB\xBF";

/* ------------------------------------------------------------------ reading the file */

typedef struct csv_file {
    const char *path;
    char *text;
    size_t size;
} csv_file;

/* The whole file, NUL-terminated. A NUL byte inside means a binary file; refusing it also keeps
 * every cell free of string ends, so strtod stops at a cell's end at the latest. */
static int read_whole_file(csv_file *f) {
    /* no limit but memory's; a quarter of the address space keeps the reader's doubling sane */
    int status = nn_read_file(f->path, SIZE_MAX / 4, &f->text, &f->size);
    const char *nul = status ? NULL : memchr(f->text, '\0', f->size);
    if (nul)
        return nn_error(NN_ERR_FORMAT, "'%s' byte %zu: a NUL byte; this is not a text file",
                        f->path, (size_t)(nul - f->text));
    return status;
}

/* ------------------------------------------------------------------ records and cells */

/* One row of the file: one line, or several when a quoted cell holds line ends. */
typedef struct csv_record {
    const char *begin, *end; /* without the line end */
    int64_t line;            /* the line it starts on (1-based, as an editor counts) */
} csv_record;

typedef enum csv_scan { CSV_RECORD, CSV_END, CSV_UNTERMINATED } csv_scan;

/* Walks the records, skipping blank and comment lines. */
typedef struct csv_scanner {
    const char *pos, *end;
    const char *quote_free_until; /* no '"' between pos and here: lines ending before it are
                                     split without looking at quotes */
    int64_t line;           /* lines consumed */
    char delimiter, comment;
    int64_t open_quote_line, open_quote_column; /* where an unclosed quote opened */
} csv_scanner;

static bool is_padding(char c, char delimiter) {
    return (c == ' ' || c == '\t') && c != delimiter;
}

static const char *skip_padding(const char *p, const char *end, char delimiter) {
    while (p < end && is_padding(*p, delimiter)) p++;
    return p;
}

/* skip_padding for the parser's inner loop, where p <= end and *end is readable: mostly there is
 * no padding, and one test says so. */
static inline const char *skip_any_padding(const char *p, const char *end, char delimiter) {
    return (unsigned char)*p > ' ' ? p : skip_padding(p, end, delimiter);
}

static const char *find_char(const char *p, const char *end, char c) {
    const char *found = memchr(p, c, (size_t)(end - p));
    return found ? found : end;
}

static int64_t count_newlines(const char *p, const char *end) {
    int64_t count = 0;
    for (p = find_char(p, end, '\n'); p < end; p = find_char(p + 1, end, '\n')) count++;
    return count;
}

static csv_scanner scanner_at(const char *begin, const char *end, char delimiter, char comment) {
    return (csv_scanner){ .pos = begin, .end = end, .quote_free_until = begin,
                          .delimiter = delimiter, .comment = comment };
}

static bool is_skipped_line(const csv_scanner *s, const char *line_end) {
    const char *p = skip_padding(s->pos, line_end, s->delimiter);
    return p == line_end || (*p == '\r' && p + 1 == line_end) || *p == s->comment;
}

/* After an opening quote: the closing one, or NULL. Sets *escaped when "" stands for a quote. */
static const char *closing_quote(const char *p, const char *end, bool *escaped) {
    for (;;) {
        const char *quote = memchr(p, '"', (size_t)(end - p));
        if (!quote || quote + 1 == end || quote[1] != '"') return quote;
        *escaped = true;
        p = quote + 2;
    }
}

/* The end of a record holding a quote, found cell by cell: a cell that starts with a quote runs
 * to its closing quote. NULL when a quote is never closed (s->open_quote_* say where). A quote
 * inside an unquoted cell is an ordinary character, as in Python's csv module. */
static const char *quoted_record_end(csv_scanner *s) {
    const char *p = s->pos;
    bool escaped;
    for (int64_t column = 1;; column++) {
        p = skip_padding(p, s->end, s->delimiter);
        if (p < s->end && *p == '"') {
            const char *close = closing_quote(p + 1, s->end, &escaped);
            if (!close) {
                s->open_quote_line = s->line + 1 + count_newlines(s->pos, p);
                s->open_quote_column = column;
                return NULL;
            }
            p = close + 1;
        }
        while (p < s->end && *p != s->delimiter && *p != '\n') p++;
        if (p == s->end || *p == '\n') return p;
        p++;
    }
}

/* Looks ahead a window at a time, so a file without quotes costs one memchr per window rather
 * than one per line, and a scanner that reads a few lines does not search the whole file. */
static bool line_has_quote(csv_scanner *s, const char *line_end) {
    if (line_end <= s->quote_free_until) return false;
    const char *limit = s->end - line_end > QUOTE_WINDOW ? line_end + QUOTE_WINDOW : s->end;
    s->quote_free_until = find_char(s->pos, limit, '"');
    return s->quote_free_until < line_end;
}

static csv_scan next_record(csv_scanner *s, csv_record *r) {
    while (s->pos < s->end) {
        const char *line_end = find_char(s->pos, s->end, '\n');
        if (is_skipped_line(s, line_end)) {
            s->line++;
            s->pos = line_end < s->end ? line_end + 1 : s->end;
            continue;
        }
        int64_t lines = 1;
        if (line_has_quote(s, line_end)) {
            line_end = quoted_record_end(s);
            if (!line_end) return CSV_UNTERMINATED;
            lines += count_newlines(s->pos, line_end);
        }
        r->begin = s->pos;
        r->end = line_end > s->pos && line_end[-1] == '\r' ? line_end - 1 : line_end;
        r->line = s->line + 1;
        s->line += lines;
        s->pos = line_end < s->end ? line_end + 1 : s->end;
        return CSV_RECORD;
    }
    return CSV_END;
}

/* One cell: its text, inside the quotes when quoted, trimmed of padding when not. */
typedef struct csv_cell {
    const char *begin, *end;
    bool escaped;          /* holds "" pairs, each standing for one quote */
    bool text_after_quote; /* something other than padding follows the closing quote */
} csv_cell;

typedef struct csv_cells {
    const char *pos, *end;
    char delimiter;
    bool done;
} csv_cells;

static csv_cells cells_of(csv_record r, char delimiter) {
    return (csv_cells){ r.begin, r.end, delimiter, false };
}

static csv_cell next_cell(csv_cells *cells) {
    csv_cell cell = { 0 };
    const char *p = skip_padding(cells->pos, cells->end, cells->delimiter), *stop;
    if (p < cells->end && *p == '"') {
        cell.begin = p + 1;
        cell.end = closing_quote(cell.begin, cells->end, &cell.escaped);
        if (!cell.end) cell.end = cells->end; /* the scanner saw it closed; kept safe anyway */
        p = skip_padding(cell.end + (cell.end < cells->end), cells->end, cells->delimiter);
        stop = find_char(p, cells->end, cells->delimiter);
        cell.text_after_quote = stop != p;
    } else {
        stop = find_char(p, cells->end, cells->delimiter);
        cell.begin = p;
        cell.end = stop;
        while (cell.end > cell.begin && is_padding(cell.end[-1], cells->delimiter)) cell.end--;
    }
    cells->done = stop == cells->end;
    cells->pos = cells->done ? stop : stop + 1;
    return cell;
}

static int64_t count_cells(csv_record r, char delimiter) {
    int64_t count = 0;
    for (csv_cells cells = cells_of(r, delimiter); !cells.done; count++) next_cell(&cells);
    return count;
}

static csv_cell cell_at(csv_record r, char delimiter, int64_t column) {
    csv_cells cells = cells_of(r, delimiter);
    csv_cell cell = next_cell(&cells);
    for (int64_t i = 0; i < column && !cells.done; i++) cell = next_cell(&cells);
    return cell;
}

static bool is_empty(csv_cell cell) { return cell.begin == cell.end; }

/* The cell's text without the doubled quotes. Returns its length. */
static size_t copy_unescaped(char *out, csv_cell cell) {
    size_t length = 0;
    for (const char *p = cell.begin; p < cell.end; p++) {
        out[length++] = *p;
        if (cell.escaped && *p == '"') p++;
    }
    return length;
}

static size_t unescaped_length(csv_cell cell) {
    size_t length = (size_t)(cell.end - cell.begin);
    if (cell.escaped)
        for (const char *p = cell.begin; p < cell.end; p++)
            if (*p == '"') length--, p++;
    return length;
}

/* ------------------------------------------------------------------ numbers */

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* Eight characters at a time (the SWAR method of simdjson and fast_float): finds how many of
 * them lead with digits, then combines those digits in three multiplies. A non-digit can only
 * disturb the bytes after it, which are discarded. Returns the run's length (0 to 8). */
static inline __attribute__((always_inline)) int add_digit_run8(const char *s,
                                                                uint64_t *significand) {
    static const uint64_t powers_of_ten[] = { 1, 10, 100, 1000, 10000, 100000, 1000000,
                                              10000000, 100000000 };
    const uint64_t high_nibbles = UINT64_C(0xF0F0F0F0F0F0F0F0);
    const uint64_t zeros = UINT64_C(0x3030303030303030);
    uint64_t word;
    memcpy(&word, s, sizeof word);
    uint64_t not_digit = ((word & high_nibbles) ^ zeros) |
                         (((word + UINT64_C(0x0606060606060606)) & high_nibbles) ^ zeros);
    int length = not_digit ? __builtin_ctzll(not_digit) / 8 : 8;
    if (length == 0) return 0;
    uint64_t digits = (word - zeros) << (8 * (8 - length)); /* as if led by zeros */
    digits = digits * 10 + (digits >> 8);
    digits = ((digits & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x000F424000000064) +
              ((digits >> 16) & UINT64_C(0x000000FF000000FF)) * UINT64_C(0x0000271000000001)) >>
             32;
    *significand = *significand * powers_of_ten[length] + (uint32_t)digits;
    return length;
}
#define CSV_DIGIT_RUNS 1
#endif

/* Reads digits into *significand (which may wrap past 19 digits: the caller refuses those).
 * Returns where they end. `end` bounds only the eight-byte reads: the byte at a cell's end (a
 * delimiter, quote, padding, line end or the NUL after the file) is never a digit. */
static inline __attribute__((always_inline)) const char *
read_digits(const char *s, const char *end, uint64_t *significand) {
#ifdef CSV_DIGIT_RUNS
    if (end - s >= 8) { /* once: more than 8 digits are few, and more than 19 are strtod's */
        int length = add_digit_run8(s, significand);
        s += length;
        if (length < 8) return s;
    }
#endif
    for (; (unsigned)(*s - '0') < 10; s++) *significand = *significand * 10 + (uint64_t)(*s - '0');
    return s;
}

/* Clinger's fast path: a decimal significand below 2^53 times an exact power of ten (10^0 to
 * 10^22) takes one correctly rounded IEEE multiply or divide, so the result equals strtod's
 * while skipping its locale and generality. Reads the number at s, a cell's start, whose end
 * is `end` or before; returns where it stops, or NULL for anything else (more than 19 digits, a
 * large exponent, hex, inf, nan: strtod's work). Its results are within float32's range: below
 * 2^53 * 10^22. */
static const char *parse_decimal_fast(const char *s, const char *end, double *out) {
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
    static const double exact_powers_of_ten[] = {
        1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    };
    bool negative = *s == '-';
    s += negative || *s == '+';
    uint64_t significand = 0;
    const char *digits = s;
    for (; (unsigned)(*s - '0') < 10; s++) /* mostly one digit: too few for add_digit_run8 */
        significand = significand * 10 + (uint64_t)(*s - '0');
    int64_t integer_digits = s - digits, fraction_digits = 0;
    if (*s == '.') {
        const char *fraction = ++s;
        s = read_digits(s, end, &significand);
        fraction_digits = s - fraction;
    }
    if (integer_digits + fraction_digits == 0 || integer_digits + fraction_digits > 19) return NULL;
    int64_t exponent = -fraction_digits;
    if (*s == 'e' || *s == 'E') {
        bool negative_exponent = *++s == '-';
        s += negative_exponent || *s == '+';
        const char *exponent_digits = s;
        int value = 0;
        for (; (unsigned)(*s - '0') < 10; s++)
            if (value < 100000) value = value * 10 + (*s - '0');
        if (s == exponent_digits) return NULL;
        exponent += negative_exponent ? -value : value;
    }
    if (significand > (UINT64_C(1) << 53)) return NULL;
    double magnitude = 0.0;
    if (significand) {
        if (exponent < -22 || exponent > 22) return NULL;
        magnitude = exponent < 0 ? (double)significand / exact_powers_of_ten[-exponent]
                                 : (double)significand * exact_powers_of_ten[exponent];
    }
    *out = negative ? -magnitude : magnitude;
    return s;
#else
    (void)s, (void)end, (void)out;
    return NULL; /* excess precision would round twice */
#endif
}

/* The cell's number (anything strtod takes: long significands, nan, inf, hex); false if the cell
 * is empty, holds an escaped quote or has anything after the number. The file holds no NUL, so
 * strtod stops at the cell's end at the latest. */
static bool parse_number(csv_cell cell, double *out) {
    if (is_empty(cell) || cell.escaped || cell.text_after_quote) return false;
    if (parse_decimal_fast(cell.begin, cell.end, out) == cell.end) return true;
    char *stop;
    *out = strtod(cell.begin, &stop);
    return stop == cell.end;
}

/* The common cell, an unquoted decimal number, read in one go without finding its end first:
 * true with the iterator moved on, or false with nothing moved for next_cell to handle. */
static bool next_number_fast(csv_cells *cells, double *value, csv_cell *cell) {
    const char *begin = skip_any_padding(cells->pos, cells->end, cells->delimiter);
    const char *stop = parse_decimal_fast(begin, cells->end, value);
    if (!stop) return false;
    const char *after = skip_any_padding(stop, cells->end, cells->delimiter);
    if (after < cells->end && *after != cells->delimiter) return false;
    *cell = (csv_cell){ .begin = begin, .end = stop };
    cells->done = after == cells->end;
    cells->pos = cells->done ? after : after + 1;
    return true;
}

/* Text for header detection: not empty (a missing value) and not a number. */
static bool is_text(csv_cell cell) {
    double ignored;
    return !is_empty(cell) && !parse_number(cell, &ignored);
}

/* ------------------------------------------------------------------ names */

/* A block of `count` string pointers followed by the strings, as datasets keep names. */
typedef struct names_block {
    char **names;
    char *strings;
    int64_t used;
} names_block;

static int names_block_new(names_block *b, int64_t count, size_t string_bytes) {
    size_t pointer_bytes;
    if (!nn_size_mul((size_t)count, sizeof(char *), &pointer_bytes) ||
        pointer_bytes > SIZE_MAX - string_bytes)
        return nn_error(NN_ERR_NOMEM, "out of memory");
    b->names = nn_malloc(pointer_bytes + string_bytes);
    if (!b->names) return NN_ERR_NOMEM;
    b->strings = (char *)(b->names + count);
    b->used = 0;
    return NN_OK;
}

static void names_block_add(names_block *b, csv_cell cell) {
    size_t length = copy_unescaped(b->strings, cell);
    b->strings[length] = '\0';
    b->names[b->used++] = b->strings;
    b->strings += length + 1;
}

static csv_cell text_cell(const char *text) {
    return (csv_cell){ .begin = text, .end = text + strlen(text) };
}

/* ------------------------------------------------------------------ the table being read */

typedef enum target_kind { TARGET_UNKNOWN, TARGET_NUMBERS, TARGET_LABELS } target_kind;

typedef struct csv_table {
    const char *path;
    const char *text, *text_end; /* after a byte order mark */
    char delimiter, comment;
    bool fill_missing;
    float fill_value;
    char **names;                /* every column, in a names block */
    int64_t columns;
    int64_t header_line;         /* 0 when the file has no header row */
    int64_t first_line;          /* the first row's line: the header or the first data row */
    int64_t *targets;            /* y's columns as file columns, in the order asked */
    int64_t target_count;
    int64_t *y_column;           /* per file column: its y column, or -1 for a feature */
    csv_scanner data;            /* positioned at the first data row */
    int64_t rows;
    /* what the target column held so far, for string class labels */
    target_kind kind;
    int64_t kind_line;
    csv_cell kind_cell;
} csv_table;

static csv_scanner table_scanner(const csv_table *t, char delimiter) {
    return scanner_at(t->text, t->text_end, delimiter, t->comment);
}

static int64_t cell_line(csv_record r, csv_cell cell) {
    return r.line + count_newlines(r.begin, cell.begin);
}

/* "'data.csv' line 4, column 2 'b': cell "4x" is not a number" */
static int cell_error(const csv_table *t, csv_record r, int64_t column, csv_cell cell, int status,
                      const char *problem, ...) __attribute__((format(printf, 6, 7)));
static int cell_error(const csv_table *t, csv_record r, int64_t column, csv_cell cell, int status,
                      const char *problem, ...) {
    char what[256], name[COLUMN_LIST_MAX];
    va_list args;
    va_start(args, problem);
    vsnprintf(what, sizeof what, problem, args);
    va_end(args);
    name[0] = '\0';
    if (t->names) snprintf(name, sizeof name, " '%s'", t->names[column]);
    int length = (int)(cell.end - cell.begin);
    const char *more = length > QUOTED_CELL_MAX ? "..." : "";
    if (length > QUOTED_CELL_MAX) length = QUOTED_CELL_MAX;
    return nn_error(status, "'%s' line %lld, column %lld%s: cell \"%.*s%s\" %s", t->path,
                    (long long)cell_line(r, cell), (long long)column + 1, name, length,
                    cell.begin, more, what);
}

static int scan_error(const csv_table *t, const csv_scanner *s) {
    return nn_error(NN_ERR_FORMAT,
                    "'%s' line %lld, column %lld: the quoted cell opened here is not closed "
                    "before the end of the file",
                    t->path, (long long)s->open_quote_line, (long long)s->open_quote_column);
}

/* The next record into *r: NN_OK with *found, or an error for a quote never closed. */
static int next_row(const csv_table *t, csv_scanner *s, csv_record *r, bool *found) {
    csv_scan scan = next_record(s, r);
    *found = scan == CSV_RECORD;
    return scan == CSV_UNTERMINATED ? scan_error(t, s) : NN_OK;
}

static int ragged_error(const csv_table *t, csv_record r) {
    int64_t got = count_cells(r, t->delimiter);
    const char *reference = t->header_line ? "the header" : "the first row";
    if (got < t->columns)
        return nn_error(NN_ERR_FORMAT,
                        "'%s' line %lld: expected %lld cells as in %s (line %lld), got %lld: "
                        "column %lld '%s' is missing",
                        t->path, (long long)r.line, (long long)t->columns, reference,
                        (long long)t->first_line, (long long)got, (long long)got + 1,
                        t->names[got]);
    return nn_error(NN_ERR_FORMAT,
                    "'%s' line %lld: expected %lld cells as in %s (line %lld), got %lld: column "
                    "%lld has no %s",
                    t->path, (long long)r.line, (long long)t->columns, reference,
                    (long long)t->first_line, (long long)got, (long long)t->columns + 1,
                    t->header_line ? "header" : "counterpart in the first row");
}

/* ------------------------------------------------------------------ layout: delimiter, header */

/* The candidate giving the most cells, the same number on each of the first rows; ',' when
 * none gives more than one (a single column) and on ties. */
static char detect_delimiter(const csv_table *t) {
    char best = ',';
    int64_t best_cells = 1;
    for (size_t i = 0; i < sizeof DELIMITER_CANDIDATES; i++) {
        char candidate = DELIMITER_CANDIDATES[i];
        if (candidate == t->comment) continue;
        csv_scanner s = table_scanner(t, candidate);
        csv_record r;
        int64_t cells = 0;
        bool consistent = true;
        for (int row = 0; row < DETECT_ROWS && consistent; row++) {
            if (next_record(&s, &r) != CSV_RECORD) break;
            int64_t count = count_cells(r, candidate);
            consistent = row == 0 || count == cells;
            cells = count;
        }
        if (consistent && cells > best_cells) { /* rows before an unclosed quote count */
            best = candidate;
            best_cells = cells;
        }
    }
    return best;
}

/* The first row is a header when it holds text (a cell neither empty nor a number), unless
 * every such cell sits above text in the next row too: that first row is data whose columns
 * hold strings (class labels, as in UCI's iris.data). A first row of text only is a header. */
static bool looks_like_header(const csv_table *t, csv_record first, csv_scanner after_first) {
    csv_record second;
    bool has_second = next_record(&after_first, &second) == CSV_RECORD;
    bool any_text = false, all_text = true;
    csv_cells cells = cells_of(first, t->delimiter);
    for (int64_t column = 0; !cells.done; column++) {
        bool text = is_text(next_cell(&cells));
        any_text |= text;
        all_text &= text;
        if (text && (!has_second || !is_text(cell_at(second, t->delimiter, column)))) return true;
    }
    return any_text && all_text;
}

static int read_header_names(csv_table *t, csv_record header) {
    size_t bytes = 0;
    int64_t column = 0;
    for (csv_cells cells = cells_of(header, t->delimiter); !cells.done; column++) {
        csv_cell cell = next_cell(&cells);
        if (cell.text_after_quote)
            return cell_error(t, header, column, cell, NN_ERR_FORMAT,
                              "has text after its closing quote");
        bytes += unescaped_length(cell) + 1;
    }
    names_block b = { 0 };
    int status = names_block_new(&b, t->columns, bytes);
    if (status) return status;
    for (csv_cells cells = cells_of(header, t->delimiter); !cells.done;)
        names_block_add(&b, next_cell(&cells));
    t->names = b.names;
    return NN_OK;
}

/* Columns of a file without a header are named "1", "2", ... */
static int number_the_columns(csv_table *t) {
    size_t bytes = 0;
    for (int64_t i = 1; i <= t->columns; i++)
        bytes += (size_t)snprintf(NULL, 0, "%lld", (long long)i) + 1;
    names_block b = { 0 };
    int status = names_block_new(&b, t->columns, bytes);
    if (status) return status;
    for (int64_t i = 1; i <= t->columns; i++) {
        char number[24];
        snprintf(number, sizeof number, "%lld", (long long)i);
        names_block_add(&b, text_cell(number));
    }
    t->names = b.names;
    return NN_OK;
}

/* Reads the first row as the header or as data, names the columns, and leaves t->data at the
 * first data row. */
static int read_first_row(csv_table *t, int header_option) {
    csv_scanner s = table_scanner(t, t->delimiter);
    csv_scanner before_first = s;
    csv_record first;
    bool found;
    int status = next_row(t, &s, &first, &found);
    if (status) return status;
    if (!found)
        return nn_error(NN_ERR_FORMAT,
                        "'%s' has no rows: it is empty or holds only blank and comment lines",
                        t->path);
    bool header = header_option == 1 || (header_option == 0 && looks_like_header(t, first, s));
    t->columns = count_cells(first, t->delimiter);
    t->first_line = first.line;
    t->header_line = header ? first.line : 0;
    t->data = header ? s : before_first;
    return header ? read_header_names(t, first) : number_the_columns(t);
}

/* ------------------------------------------------------------------ targets */

static int column_list_error(const csv_table *t, int status, const char *problem) {
    char columns[COLUMN_LIST_MAX];
    nn_join_names(columns, sizeof columns, (const char *const *)t->names, (size_t)t->columns);
    bool truncated = strlen(columns) + 1 >= sizeof columns;
    return nn_error(status, "'%s' line %lld: %s; the %lld columns are: %s%s%s", t->path,
                    (long long)t->first_line, problem, (long long)t->columns, columns,
                    truncated ? "..." : "",
                    t->header_line ? "" : " (the file has no header row; use target_index)");
}

static int add_target(csv_table *t, int64_t column) {
    if (t->y_column[column] >= 0) {
        char problem[COLUMN_LIST_MAX];
        snprintf(problem, sizeof problem, "target column '%s' is given twice", t->names[column]);
        return column_list_error(t, NN_ERR_ARG, problem);
    }
    t->y_column[column] = t->target_count;
    t->targets[t->target_count++] = column;
    return NN_OK;
}

static int add_target_named(csv_table *t, const char *name, size_t length) {
    for (int64_t column = 0; column < t->columns; column++)
        if (strncmp(t->names[column], name, length) == 0 && t->names[column][length] == '\0')
            return add_target(t, column);
    char problem[COLUMN_LIST_MAX];
    snprintf(problem, sizeof problem, "target column '%.*s' not found", (int)length, name);
    return column_list_error(t, NN_ERR_NAME, problem);
}

/* "a,b": each name trimmed of spaces. */
static int add_targets_named(csv_table *t, const char *list) {
    for (const char *p = list;; p++) {
        const char *stop = p + strcspn(p, ",");
        const char *begin = skip_padding(p, stop, ','), *end = stop;
        while (end > begin && is_padding(end[-1], ',')) end--;
        int status = add_target_named(t, begin, (size_t)(end - begin));
        if (status || !*stop) return status;
        p = stop;
    }
}

static int add_target_at(csv_table *t, int index) {
    int64_t column = index > 0 ? index - 1 : t->columns + index;
    if (column < 0 || column >= t->columns)
        return nn_error(NN_ERR_ARG,
                        "'%s': target_index %d is outside the %lld columns (1 to %lld, or -1 to "
                        "-%lld from the end)",
                        t->path, index, (long long)t->columns, (long long)t->columns,
                        (long long)t->columns);
    return add_target(t, column);
}

static int resolve_targets(csv_table *t, const nn_csv_opts *opts) {
    size_t bytes;
    if (!nn_size_mul((size_t)t->columns, 2 * sizeof(int64_t), &bytes))
        return nn_error(NN_ERR_NOMEM, "out of memory");
    t->targets = nn_malloc(bytes);
    if (!t->targets) return NN_ERR_NOMEM;
    t->y_column = t->targets + t->columns;
    for (int64_t i = 0; i < t->columns; i++) t->y_column[i] = -1;
    int status = NN_OK;
    if (opts && opts->target) status = add_targets_named(t, opts->target);
    else if (opts && opts->target_index) status = add_target_at(t, opts->target_index);
    if (!status && t->target_count == t->columns)
        return column_list_error(t, NN_ERR_ARG, "every column is a target: no feature is left");
    return status;
}

/* ------------------------------------------------------------------ filling x and y */

static int store_number(const csv_table *t, csv_record r, int64_t column, csv_cell cell,
                        double value, float *out) {
    float narrowed = (float)value;
    if (isfinite(narrowed)) {
        *out = narrowed;
        return NN_OK;
    }
    return cell_error(t, r, column, cell, NN_ERR_DATA, "%s",
                      isfinite(value) ? "is beyond the float32 range (+-3.4e38)" : "is not finite");
}

/* Shared by features and targets: text after a closing quote is an error, an empty cell is
 * filled or an error. Returns false, setting nothing, when the cell is for the caller to parse. */
static bool check_cell(const csv_table *t, csv_record r, int64_t column, csv_cell cell,
                       float *out, int *status) {
    if (cell.text_after_quote)
        *status = cell_error(t, r, column, cell, NN_ERR_FORMAT, "has text after its closing quote");
    else if (!is_empty(cell))
        return false;
    else if (!t->fill_missing)
        *status = cell_error(t, r, column, cell, NN_ERR_DATA,
                             "is empty: a missing value (set fill_missing to fill it)");
    else
        *out = t->fill_value, *status = NN_OK;
    return true;
}

static int parse_feature(const csv_table *t, csv_record r, int64_t column, csv_cell cell,
                         float *out) {
    double value;
    if (parse_number(cell, &value)) return store_number(t, r, column, cell, value, out);
    int status;
    if (check_cell(t, r, column, cell, out, &status)) return status;
    return cell_error(t, r, column, cell, NN_ERR_FORMAT, "is not a number");
}

/* A target column holds numbers or, in every cell, class labels (text); a mix is an error so a
 * typo in a numeric column is not taken for a class. */
static int note_target_kind(csv_table *t, csv_record r, int64_t column, csv_cell cell,
                            target_kind kind) {
    if (t->kind == TARGET_UNKNOWN) {
        t->kind = kind;
        t->kind_line = cell_line(r, cell);
        t->kind_cell = cell;
        return NN_OK;
    }
    if (t->kind == kind) return NN_OK;
    int length = (int)(t->kind_cell.end - t->kind_cell.begin);
    if (length > QUOTED_CELL_MAX) length = QUOTED_CELL_MAX;
    return cell_error(t, r, column, cell, NN_ERR_FORMAT,
                      "is %s but line %lld holds %s \"%.*s\": a target column holds numbers or "
                      "class labels, not both",
                      kind == TARGET_LABELS ? "not a number" : "a number",
                      (long long)t->kind_line,
                      kind == TARGET_LABELS ? "the number" : "the class label", length,
                      t->kind_cell.begin);
}

static int missing_label_error(const csv_table *t, csv_record r, int64_t column, csv_cell cell) {
    return cell_error(t, r, column, cell, NN_ERR_DATA,
                      "is empty: a missing class label, which fill_missing cannot fill");
}

static int parse_target(csv_table *t, csv_record r, int64_t column, csv_cell cell, float *out) {
    double value;
    if (parse_number(cell, &value)) {
        int status = note_target_kind(t, r, column, cell, TARGET_NUMBERS);
        return status ? status : store_number(t, r, column, cell, value, out);
    }
    if (t->kind == TARGET_LABELS && is_empty(cell)) return missing_label_error(t, r, column, cell);
    int status;
    if (check_cell(t, r, column, cell, out, &status)) return status;
    if (t->target_count > 1)
        return cell_error(t, r, column, cell, NN_ERR_FORMAT,
                          "is not a number; string class labels need a single target column "
                          "(%lld were given)",
                          (long long)t->target_count);
    return note_target_kind(t, r, column, cell, TARGET_LABELS);
}

static int parse_row(csv_table *t, csv_record r, float *x_row, float *y_row) {
    csv_cells cells = cells_of(r, t->delimiter);
    for (int64_t column = 0; column < t->columns; column++) {
        if (cells.done) return ragged_error(t, r);
        int64_t y_column = t->y_column[column];
        csv_cell cell;
        double value;
        if (next_number_fast(&cells, &value, &cell)) {
            if (y_column < 0) {
                *x_row++ = (float)value;
                continue;
            }
            int status = note_target_kind(t, r, column, cell, TARGET_NUMBERS);
            if (status) return status;
            y_row[y_column] = (float)value;
            continue;
        }
        cell = next_cell(&cells);
        int status = y_column < 0 ? parse_feature(t, r, column, cell, x_row++)
                                  : parse_target(t, r, column, cell, y_row + y_column);
        if (status) return status;
    }
    return cells.done ? NN_OK : ragged_error(t, r);
}

/* A row of n cells holds n - 1 delimiters, so rows * (columns - 1) beyond the data's bytes means
 * short rows: the first ragged row is reported before x, sized by the first row, is allocated. */
static int check_rows_fit(const csv_table *t) {
    size_t delimiters, bytes = (size_t)(t->text_end - t->data.pos);
    if (nn_size_mul((size_t)t->rows, (size_t)t->columns - 1, &delimiters) && delimiters <= bytes)
        return NN_OK;
    csv_scanner s = t->data;
    csv_record r;
    bool found;
    while (!next_row(t, &s, &r, &found) && found)
        if (count_cells(r, t->delimiter) != t->columns) return ragged_error(t, r);
    return NN_OK;
}

static int count_rows(csv_table *t) {
    csv_scanner s = t->data;
    csv_record r;
    bool found;
    int status;
    while (!(status = next_row(t, &s, &r, &found)) && found) t->rows++;
    if (status) return status;
    if (t->rows) return check_rows_fit(t);
    if (t->header_line)
        return nn_error(NN_ERR_FORMAT, "'%s' has a header (line %lld) but no data rows", t->path,
                        (long long)t->header_line);
    return nn_error(NN_ERR_FORMAT, "'%s' has no data rows", t->path);
}

static int fill_rows(csv_table *t, nn_tensor *x, nn_tensor *y) {
    float *features = nn_tensor_f32(x), *targets = y ? nn_tensor_f32(y) : NULL;
    int64_t width = x->shape[1];
    csv_scanner s = t->data;
    csv_record r;
    bool found;
    for (int64_t row = 0; row < t->rows; row++) {
        int status = next_row(t, &s, &r, &found);
        if (!status) status = parse_row(t, r, features + row * width,
                                        targets ? targets + row * t->target_count : NULL);
        if (status) return status;
    }
    return NN_OK;
}

/* ------------------------------------------------------------------ string class labels */

typedef struct class_label {
    csv_cell cell;
    int64_t row;
} class_label;

/* strcmp order of the unescaped texts (scikit-learn's LabelEncoder sorts so). */
static int compare_labels(const void *a, const void *b) {
    csv_cell x = ((const class_label *)a)->cell, y = ((const class_label *)b)->cell;
    const char *p = x.begin, *q = y.begin;
    for (; p < x.end && q < y.end; p++, q++) {
        if (*p != *q) return (unsigned char)*p < (unsigned char)*q ? -1 : 1;
        p += x.escaped && *p == '"';
        q += y.escaped && *q == '"';
    }
    return (p < x.end) - (q < y.end);
}

static int collect_labels(csv_table *t, class_label *labels) {
    csv_scanner s = t->data;
    csv_record r;
    bool found;
    int64_t column = t->targets[0];
    for (int64_t row = 0; row < t->rows; row++) {
        int status = next_row(t, &s, &r, &found);
        if (status) return status;
        csv_cell cell = cell_at(r, t->delimiter, column);
        if (is_empty(cell)) /* filled as a number before the first label was seen */
            return missing_label_error(t, r, column, cell);
        labels[row] = (class_label){ cell, row };
    }
    return NN_OK;
}

/* Sorts the labels, writes each row's class index to y and the sorted distinct names to *b. */
static int number_the_classes(const csv_table *t, class_label *labels, float *y, names_block *b) {
    qsort(labels, (size_t)t->rows, sizeof *labels, compare_labels);
    int64_t classes = 0;
    size_t bytes = 0;
    for (int64_t i = 0; i < t->rows; i++)
        if (i == 0 || compare_labels(&labels[i - 1], &labels[i]) != 0) {
            classes++;
            bytes += unescaped_length(labels[i].cell) + 1;
        }
    int status = names_block_new(b, classes, bytes);
    if (status) return status;
    for (int64_t i = 0; i < t->rows; i++) {
        if (i == 0 || compare_labels(&labels[i - 1], &labels[i]) != 0)
            names_block_add(b, labels[i].cell);
        y[labels[i].row] = (float)(b->used - 1);
    }
    return NN_OK;
}

static int map_class_labels(csv_table *t, float *y, names_block *classes) {
    class_label *labels = nn_calloc((size_t)t->rows, sizeof *labels);
    if (!labels) return NN_ERR_NOMEM;
    int status = collect_labels(t, labels);
    if (!status) status = number_the_classes(t, labels, y, classes);
    nn_free(labels);
    return status;
}

/* ------------------------------------------------------------------ loading */

/* Drops the targets' pointers so the block lists the feature columns in x order. */
static int64_t keep_feature_names(csv_table *t) {
    int64_t features = 0;
    for (int64_t column = 0; column < t->columns; column++)
        if (t->y_column[column] < 0) t->names[features++] = t->names[column];
    return features;
}

static int build_dataset(csv_table *t, nn_dataset **out) {
    int64_t features = t->columns - t->target_count;
    nn_tensor *x = nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ t->rows, features });
    nn_tensor *y = t->target_count
                       ? nn_tensor_new(NN_FLOAT32, 2, (int64_t[]){ t->rows, t->target_count })
                       : NULL;
    names_block classes = { 0 };
    int status = !x || (t->target_count && !y) ? NN_ERR_NOMEM : fill_rows(t, x, y);
    if (!status && t->kind == TARGET_LABELS)
        status = map_class_labels(t, nn_tensor_f32(y), &classes);
    if (status) {
        nn_tensor_free(x);
        nn_tensor_free(y);
        return status;
    }
    *out = nn_dataset_new(x, y);
    if (!*out) return nn_free(classes.names), NN_ERR_NOMEM;
    nn_dataset_set_feature_names(*out, t->names, keep_feature_names(t));
    t->names = NULL;
    if (classes.names) nn_dataset_set_class_names(*out, classes.names, classes.used);
    return NN_OK;
}

static int check_delimiter(char c) {
    if (c == '\n' || c == '\r' || c == '"' || c == '.' || c == '+' || c == '-' || c == ' ' ||
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return nn_error(NN_ERR_ARG,
                        "CSV delimiter '%c' can be part of a number, a quoted cell, padding or a "
                        "line end; use ',', ';', '\\t' or '|'",
                        c);
    return NN_OK;
}

static int check_comment(char c, char delimiter) {
    if (c == '\n' || c == '\r' || c == '"' || c == '.' || c == '+' || c == '-' || c == ' ' ||
        c == '\t' || (c >= '0' && c <= '9'))
        return nn_error(NN_ERR_ARG,
                        "CSV comment '%c' can be part of a number, a quoted cell, padding or a "
                        "line end; use '#' or another sign",
                        c);
    if (c == delimiter) return nn_error(NN_ERR_ARG, "CSV comment '%c' is also the delimiter", c);
    return NN_OK;
}

static int check_options(const nn_csv_opts *opts) {
    if (!opts) return NN_OK;
    if (opts->header != 0 && opts->header != 1 && opts->header != NN_OFF)
        return nn_error(NN_ERR_ARG, "CSV header option %d: use 0 (detect), 1 (present) or NN_OFF",
                        opts->header);
    if (opts->target && opts->target_index)
        return nn_error(NN_ERR_ARG, "CSV options give both target '%s' and target_index %d: "
                                    "give one", opts->target, opts->target_index);
    if (opts->fill_missing && !isfinite((float)opts->fill_value))
        return nn_error(NN_ERR_ARG, "CSV fill_value %g is not a finite float32", opts->fill_value);
    int status = opts->delimiter ? check_delimiter(opts->delimiter) : NN_OK;
    return status ? status : check_comment(opts->comment ? opts->comment : '#', opts->delimiter);
}

/* Skips a UTF-8 byte order mark, which spreadsheet programs write before the header. */
static const char *skip_bom(const csv_file *f) {
    return f->size >= 3 && memcmp(f->text, UTF8_BOM, 3) == 0 ? f->text + 3 : f->text;
}

static int load_table(const csv_file *f, const nn_csv_opts *opts, nn_dataset **out) {
    csv_table t = {
        .path = f->path,
        .text = skip_bom(f),
        .text_end = f->text + f->size,
        .comment = opts && opts->comment ? opts->comment : '#',
        .fill_missing = opts && opts->fill_missing,
        .fill_value = opts ? (float)opts->fill_value : 0.0f,
    };
    t.delimiter = opts && opts->delimiter ? opts->delimiter : detect_delimiter(&t);
    int status = read_first_row(&t, opts ? opts->header : 0);
    if (!status) status = resolve_targets(&t, opts);
    if (!status) status = count_rows(&t);
    if (!status) status = build_dataset(&t, out);
    nn_free(t.names);
    nn_free(t.targets);
    return status;
}

int nn_csv_load(const char *path, const nn_csv_opts *opts, nn_dataset **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_csv_load: out is NULL");
    *out = NULL;
    if (!path) return nn_error(NN_ERR_ARG, "nn_csv_load: path is NULL");
    csv_file f = { path, NULL, 0 };
    int status = check_options(opts);
    if (!status) status = read_whole_file(&f);
    if (!status) status = load_table(&f, opts, out);
    nn_free(f.text);
    return status == NN_ERR_NOMEM ? nn_error_context(status, "loading '%s'", path) : status;
}

/* ------------------------------------------------------------------ writing */

typedef struct csv_writer {
    const char *path;
    const nn_tensor *t;
    const char *const *header;
    int64_t rows, columns;
} csv_writer;

/* A name holding a delimiter, quote, line end or edge padding is quoted, its quotes doubled; so
 * are names that would read back otherwise: an empty one (alone, a blank line), one starting
 * with '#' (a comment) or with a byte order mark (skipped at the start of a file). */
static void write_name(FILE *f, const char *name) {
    size_t length = strlen(name);
    bool quoted = strpbrk(name, ",\"\r\n") || length == 0 || name[0] == '#' ||
                  strncmp(name, UTF8_BOM, 3) == 0 || is_padding(name[0], ',') ||
                  is_padding(name[length - 1], ',');
    if (!quoted) {
        fputs(name, f);
        return;
    }
    fputc('"', f);
    for (const char *p = name; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* Integers as integers; floats with enough digits that numpy parses back the same bits. */
static void write_value(FILE *f, const nn_tensor *t, int64_t i) {
    switch (t->dtype) {
    case NN_FLOAT32: fprintf(f, "%.9g", (double)((const float *)t->data)[i]); break;
    case NN_FLOAT64: fprintf(f, "%.17g", ((const double *)t->data)[i]); break;
    case NN_FLOAT16: fprintf(f, "%.9g", nn_tensor_get(t, i)); break;
    case NN_INT64: fprintf(f, "%" PRId64, ((const int64_t *)t->data)[i]); break;
    case NN_UINT64: fprintf(f, "%" PRIu64, ((const uint64_t *)t->data)[i]); break;
    default: fprintf(f, "%lld", (long long)nn_tensor_get(t, i)); break;
    }
}

static int write_csv(FILE *f, void *context) {
    const csv_writer *w = context;
    for (int64_t column = 0; w->header && column < w->columns; column++)
        fputs(column ? "," : "", f), write_name(f, w->header[column]);
    if (w->header) fputc('\n', f);
    for (int64_t row = 0; row < w->rows; row++) {
        for (int64_t column = 0; column < w->columns; column++) {
            if (column) fputc(',', f);
            write_value(f, w->t, row * w->columns + column);
        }
        fputc('\n', f);
    }
    return ferror(f) ? nn_error(NN_ERR_IO, "writing '%s' failed: %s", w->path, strerror(errno))
                     : NN_OK;
}

int nn_csv_save(const char *path, const nn_tensor *t, const char *const *header) {
    if (!path || !t) return nn_error(NN_ERR_ARG, "nn_csv_save: %s is NULL", path ? "t" : "path");
    if (t->ndim != 1 && t->ndim != 2) {
        char shape[128];
        return nn_error(NN_ERR_SHAPE,
                        "nn_csv_save '%s': a tensor of shape %s has %d dimensions; CSV holds 1-D "
                        "(N,) or 2-D (N, C) arrays",
                        path, nn_shape_str(t->ndim, t->shape, shape, sizeof shape), t->ndim);
    }
    csv_writer w = { path, t, header, t->shape[0], t->ndim == 2 ? t->shape[1] : 1 };
    int64_t names = 0;
    while (header && names <= w.columns && header[names]) names++;
    if (header && names > w.columns)
        return nn_error(NN_ERR_ARG, "nn_csv_save '%s': header has more names than the %lld columns",
                        path, (long long)w.columns);
    if (header && names < w.columns)
        return nn_error(NN_ERR_ARG, "nn_csv_save '%s': header has %lld names for %lld columns",
                        path, (long long)names, (long long)w.columns);
    return nn_write_file_atomic(path, write_csv, &w);
}
