/* The value tree (JSON-shaped), its JSON text form, and the parser of Keras-style calls such as
 * "Dense(32, activation=relu)". */
#include "nn_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>

/* Bounds the recursion of both parsers, so hostile input cannot exhaust the stack. */
#define NN_VALUE_MAX_DEPTH 64
/* Longer numeric literals are not something a config or a Keras file contains. */
#define NN_NUMBER_MAX_CHARS 128
/* How much of a call's text an error message quotes. */
#define NN_CALL_QUOTE_MAX 120

/* ================================================================ the tree */

void nn_value_clear(nn_value *v) {
    if (!v) return;
    nn_free(v->string);
    /* Entries below count are complete (key and value); a partially built value stops there. */
    for (int i = 0; i < v->count; i++) {
        if (v->keys) nn_free(v->keys[i]);
        if (v->items) nn_value_clear(&v->items[i]);
    }
    nn_free(v->items);
    nn_free(v->keys);
    *v = (nn_value){ .type = NN_VALUE_NULL };
}

nn_value nn_value_number(double x) { return (nn_value){ .type = NN_VALUE_NUMBER, .number = x }; }

nn_value nn_value_bool(bool b) { return (nn_value){ .type = NN_VALUE_BOOL, .boolean = b }; }

int nn_value_string(nn_value *out, const char *s) {
    if (!out || !s) return nn_error(NN_ERR_ARG, "nn_value_string: NULL %s", out ? "string" : "output");
    *out = (nn_value){ .type = NN_VALUE_NULL };
    char *copy = nn_strdup(s);
    if (!copy) return NN_ERR_NOMEM;
    *out = (nn_value){ .type = NN_VALUE_STRING, .string = copy };
    return NN_OK;
}

int nn_value_list_new(nn_value *out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_value_list_new: NULL output");
    *out = (nn_value){ .type = NN_VALUE_LIST };
    return NN_OK;
}

int nn_value_dict_new(nn_value *out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_value_dict_new: NULL output");
    *out = (nn_value){ .type = NN_VALUE_DICT };
    return NN_OK;
}

/* The struct has no capacity field, so capacity is a function of count: 0, then 4, 8, 16, ...
 * Room must be made exactly when count is 0 or a power of two of at least 4. */
static int make_room_for_one_more(nn_value *c) {
    int n = c->count;
    if (n != 0 && (n < 4 || (n & (n - 1)) != 0)) return NN_OK;
    if (n > INT_MAX / 2) return nn_error(NN_ERR_ARG, "value holds too many items (%d)", n);
    size_t capacity = n ? (size_t)n * 2 : 4;
    nn_value *items = nn_realloc(c->items, capacity * sizeof *items);
    if (!items) return NN_ERR_NOMEM;
    c->items = items;
    if (c->type == NN_VALUE_DICT) {
        char **keys = nn_realloc(c->keys, capacity * sizeof *keys);
        if (!keys) return NN_ERR_NOMEM;
        c->keys = keys;
    }
    return NN_OK;
}

int nn_value_list_push(nn_value *list, nn_value item) {
    if (!list || list->type != NN_VALUE_LIST) {
        nn_value_clear(&item);
        return nn_error(NN_ERR_ARG, "nn_value_list_push: not a list");
    }
    int status = make_room_for_one_more(list);
    if (status) {
        nn_value_clear(&item);
        return status;
    }
    list->items[list->count++] = item;
    return NN_OK;
}

static int dict_index(const nn_value *dict, const char *key) {
    for (int i = 0; i < dict->count; i++)
        if (strcmp(dict->keys[i], key) == 0) return i;
    return -1;
}

int nn_value_dict_set(nn_value *dict, const char *key, nn_value item) {
    if (!dict || dict->type != NN_VALUE_DICT || !key) {
        nn_value_clear(&item);
        return nn_error(NN_ERR_ARG, "nn_value_dict_set: %s", key ? "not a dict" : "NULL key");
    }
    int existing = dict_index(dict, key);
    if (existing >= 0) {
        nn_value_clear(&dict->items[existing]);
        dict->items[existing] = item;
        return NN_OK;
    }
    char *key_copy = nn_strdup(key);
    int status = key_copy ? make_room_for_one_more(dict) : NN_ERR_NOMEM;
    if (status) {
        nn_free(key_copy);
        nn_value_clear(&item);
        return status;
    }
    dict->keys[dict->count] = key_copy;
    dict->items[dict->count] = item;
    dict->count++;
    return NN_OK;
}

const nn_value *nn_value_get(const nn_value *dict, const char *key) {
    if (!dict || dict->type != NN_VALUE_DICT || !key) return NULL;
    int i = dict_index(dict, key);
    return i >= 0 ? &dict->items[i] : NULL;
}

int nn_value_copy(nn_value *out, const nn_value *v) {
    if (!out || !v) return nn_error(NN_ERR_ARG, "nn_value_copy: NULL %s", out ? "value" : "output");
    *out = (nn_value){ .type = v->type, .boolean = v->boolean, .number = v->number };
    if (v->type == NN_VALUE_STRING) return nn_value_string(out, v->string);
    if (v->type != NN_VALUE_LIST && v->type != NN_VALUE_DICT) return NN_OK;
    for (int i = 0; i < v->count; i++) {
        nn_value item;
        int status = nn_value_copy(&item, &v->items[i]);
        if (!status)
            status = v->type == NN_VALUE_LIST ? nn_value_list_push(out, item)
                                              : nn_value_dict_set(out, v->keys[i], item);
        if (status) {
            nn_value_clear(out);
            return status;
        }
    }
    return NN_OK;
}

/* ================================================================ growing text */

/* A growing string whose first failure sticks, so writers can append without checking each
 * call. */
typedef struct text_buf {
    char *data;
    size_t len, capacity;
    int status;
} text_buf;

static void text_append(text_buf *b, const char *s, size_t n) {
    if (b->status) return;
    if (n >= b->capacity - b->len) {
        size_t need = b->len + n + 1, capacity = b->capacity ? b->capacity : 64;
        while (capacity < need) {
            if (capacity > SIZE_MAX / 2) {
                b->status = nn_error(NN_ERR_NOMEM, "text of %zu bytes is too long", need);
                return;
            }
            capacity *= 2;
        }
        char *data = nn_realloc(b->data, capacity);
        if (!data) {
            b->status = NN_ERR_NOMEM;
            return;
        }
        b->data = data;
        b->capacity = capacity;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void text_putc(text_buf *b, char c) { text_append(b, &c, 1); }

static void text_puts(text_buf *b, const char *s) { text_append(b, s, strlen(s)); }

/* Hands the text over (never NULL on success, even when empty), or frees it on failure. */
static int text_finish(text_buf *b, char **out) {
    if (!b->status) text_append(b, "", 0);
    if (b->status) {
        nn_free(b->data);
        *out = NULL;
        return b->status;
    }
    *out = b->data;
    return NN_OK;
}

/* Appends code point cp (1..0x10FFFF, not a surrogate) as UTF-8. */
static void text_put_utf8(text_buf *b, unsigned long cp) {
    char s[4];
    size_t n;
    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xC0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xE0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        s[0] = (char)(0xF0 | (cp >> 18));
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        s[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    text_append(b, s, n);
}

/* ================================================================ JSON writer */

/* Non-finite numbers are written as Python's json module writes them, so files agree with
 * Keras's. Integers print without a decimal point; other numbers with the fewest digits that
 * read back as the same double. */
static void write_number(text_buf *b, double x) {
    char s[40];
    if (isnan(x)) {
        text_puts(b, "NaN");
        return;
    }
    if (isinf(x)) {
        text_puts(b, x > 0 ? "Infinity" : "-Infinity");
        return;
    }
    if (x == floor(x) && fabs(x) < 1e17) {
        snprintf(s, sizeof s, "%.0f", x);
    } else {
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(s, sizeof s, "%.*g", digits, x);
            if (strtod(s, NULL) == x) break;
        }
    }
    text_puts(b, s);
}

static void write_string(text_buf *b, const char *s) {
    text_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        const char *escape = NULL;
        switch (*p) {
        case '"': escape = "\\\""; break;
        case '\\': escape = "\\\\"; break;
        case '\n': escape = "\\n"; break;
        case '\t': escape = "\\t"; break;
        case '\r': escape = "\\r"; break;
        case '\b': escape = "\\b"; break;
        case '\f': escape = "\\f"; break;
        default: break;
        }
        if (escape) {
            text_puts(b, escape);
        } else if (*p < 0x20) {
            char u[8];
            snprintf(u, sizeof u, "\\u%04x", *p);
            text_puts(b, u);
        } else {
            text_putc(b, (char)*p);
        }
    }
    text_putc(b, '"');
}

static void write_value(text_buf *b, const nn_value *v) {
    switch (v->type) {
    case NN_VALUE_NULL: text_puts(b, "null"); return;
    case NN_VALUE_BOOL: text_puts(b, v->boolean ? "true" : "false"); return;
    case NN_VALUE_NUMBER: write_number(b, v->number); return;
    case NN_VALUE_STRING: write_string(b, v->string ? v->string : ""); return;
    case NN_VALUE_LIST:
    case NN_VALUE_DICT: {
        bool is_dict = v->type == NN_VALUE_DICT;
        text_putc(b, is_dict ? '{' : '[');
        for (int i = 0; i < v->count && !b->status; i++) {
            if (i) text_putc(b, ',');
            if (is_dict) {
                write_string(b, v->keys[i]);
                text_putc(b, ':');
            }
            write_value(b, &v->items[i]);
        }
        text_putc(b, is_dict ? '}' : ']');
        return;
    }
    }
    if (!b->status) b->status = nn_error(NN_ERR_ARG, "nn_value_to_json: bad value type %d", (int)v->type);
}

int nn_value_to_json(const nn_value *v, char **out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_value_to_json: NULL output");
    *out = NULL;
    if (!v) return nn_error(NN_ERR_ARG, "nn_value_to_json: NULL value");
    text_buf b = { 0 };
    write_value(&b, v);
    return text_finish(&b, out);
}

/* ================================================================ JSON reader */

typedef struct json_reader {
    const char *text;
    size_t len, pos;
    int depth;
} json_reader;

static int json_fail(size_t at, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int json_fail(size_t at, const char *fmt, ...) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return nn_error(NN_ERR_FORMAT, "JSON: %s at byte %zu", what, at);
}

/* "'x'" for a printable character, "byte 0xNN" otherwise. */
static const char *describe_char(char c, char buf[16]) {
    unsigned char u = (unsigned char)c;
    if (u >= 0x20 && u < 0x7F) snprintf(buf, 16, "'%c'", c);
    else snprintf(buf, 16, "byte 0x%02x", u);
    return buf;
}

static bool json_at_end(const json_reader *r) { return r->pos >= r->len; }

static char json_peek(const json_reader *r) { return json_at_end(r) ? '\0' : r->text[r->pos]; }

static void json_skip_space(json_reader *r) {
    while (!json_at_end(r)) {
        char c = r->text[r->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        r->pos++;
    }
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }

/* Expects `c` at the current position (after spaces); `what` names it in the message. */
static int json_expect(json_reader *r, char c, const char *what) {
    json_skip_space(r);
    if (json_at_end(r)) return json_fail(r->pos, "unexpected end of input (expected %s)", what);
    if (r->text[r->pos] != c) {
        char buf[16];
        return json_fail(r->pos, "expected %s, found %s", what, describe_char(r->text[r->pos], buf));
    }
    return NN_OK;
}

static int json_digits(json_reader *r, const char *where) {
    if (!is_digit(json_peek(r))) return json_fail(r->pos, "bad number: expected a digit %s", where);
    while (is_digit(json_peek(r))) r->pos++;
    return NN_OK;
}

/* JSON's number grammar, stricter than strtod's (no leading '+', '.5', hex, or "inf"). */
static int json_number(json_reader *r, nn_value *out) {
    size_t start = r->pos;
    if (json_peek(r) == '-') r->pos++;
    if (json_peek(r) == '0') r->pos++;
    else if (json_digits(r, "after '-'")) return NN_ERR_FORMAT;
    if (json_peek(r) == '.') {
        r->pos++;
        if (json_digits(r, "after '.'")) return NN_ERR_FORMAT;
    }
    if (json_peek(r) == 'e' || json_peek(r) == 'E') {
        r->pos++;
        if (json_peek(r) == '+' || json_peek(r) == '-') r->pos++;
        if (json_digits(r, "in the exponent")) return NN_ERR_FORMAT;
    }
    size_t n = r->pos - start;
    if (n >= NN_NUMBER_MAX_CHARS)
        return json_fail(start, "number longer than %d characters", NN_NUMBER_MAX_CHARS - 1);
    char digits[NN_NUMBER_MAX_CHARS];
    memcpy(digits, r->text + start, n);
    digits[n] = '\0';
    /* Out of range reads as +-inf or 0, as Python's json reads it. */
    *out = nn_value_number(strtod(digits, NULL));
    return NN_OK;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Reads the XXXX of a \uXXXX escape whose backslash is at `at`; pos is after the 'u'. */
static int json_hex4(json_reader *r, size_t at, unsigned long *code) {
    *code = 0;
    for (size_t i = 0; i < 4; i++) {
        if (r->pos + i >= r->len) return json_fail(at, "truncated \\u escape");
        int h = hex_value(r->text[r->pos + i]);
        if (h < 0) return json_fail(at, "bad \\u escape (expected 4 hex digits)");
        *code = *code * 16 + (unsigned long)h;
    }
    r->pos += 4;
    return NN_OK;
}

/* A \uXXXX escape (pos after the 'u'), joining a UTF-16 surrogate pair into one code point. */
static int json_unicode_escape(json_reader *r, size_t at, text_buf *b) {
    unsigned long code, low;
    if (json_hex4(r, at, &code)) return NN_ERR_FORMAT;
    if (code >= 0xDC00 && code <= 0xDFFF)
        return json_fail(at, "unpaired surrogate \\u%04lX", code);
    if (code >= 0xD800 && code <= 0xDBFF) {
        if (r->len - r->pos < 2 || r->text[r->pos] != '\\' || r->text[r->pos + 1] != 'u')
            return json_fail(at, "unpaired surrogate \\u%04lX", code);
        size_t low_at = r->pos;
        r->pos += 2;
        if (json_hex4(r, low_at, &low)) return NN_ERR_FORMAT;
        if (low < 0xDC00 || low > 0xDFFF) return json_fail(at, "unpaired surrogate \\u%04lX", code);
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
    }
    if (code == 0) return json_fail(at, "\\u0000 is not allowed (strings end at NUL)");
    text_put_utf8(b, code);
    return NN_OK;
}

static int json_escape(json_reader *r, text_buf *b) {
    size_t at = r->pos++;
    char c = r->text[r->pos++];
    switch (c) {
    case '"':
    case '\\':
    case '/': text_putc(b, c); return NN_OK;
    case 'b': text_putc(b, '\b'); return NN_OK;
    case 'f': text_putc(b, '\f'); return NN_OK;
    case 'n': text_putc(b, '\n'); return NN_OK;
    case 'r': text_putc(b, '\r'); return NN_OK;
    case 't': text_putc(b, '\t'); return NN_OK;
    case 'u': return json_unicode_escape(r, at, b);
    default: break;
    }
    char buf[16];
    return json_fail(at, "bad escape '\\' followed by %s", describe_char(c, buf));
}

/* A string; pos is at the opening quote. *out is nn_malloc'd. */
static int json_string(json_reader *r, char **out) {
    size_t start = r->pos++;
    text_buf b = { 0 };
    while (!b.status) {
        if (json_at_end(r)) {
            b.status = json_fail(start, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)r->text[r->pos];
        if (c == '"') {
            r->pos++;
            break;
        }
        if (c == '\\') {
            if (r->len - r->pos < 2) b.status = json_fail(start, "unterminated string");
            else if (json_escape(r, &b)) b.status = NN_ERR_FORMAT;
        } else if (c < 0x20) {
            b.status = json_fail(r->pos, "control character 0x%02x in string (write it as \\u%04x)", c, c);
        } else {
            text_putc(&b, (char)c);
            r->pos++;
        }
    }
    return text_finish(&b, out);
}

static int json_value(json_reader *r, nn_value *out);

/* An object's `"key":`; *key is nn_malloc'd. */
static int json_key(json_reader *r, char **key) {
    *key = NULL;
    int status = json_expect(r, '"', "a string key");
    if (!status) status = json_string(r, key);
    if (!status) status = json_expect(r, ':', "':' after the key");
    if (!status) r->pos++;
    return status;
}

/* After an item of a list or dict: ',' (with no closer right after it) or the closer. Sets
 * *more when another item follows. */
static int json_after_item(json_reader *r, char closer, bool *more) {
    json_skip_space(r);
    char c = json_peek(r);
    if (json_at_end(r)) return json_fail(r->pos, "unexpected end of input (expected ',' or '%c')", closer);
    if (c == closer) {
        r->pos++;
        *more = false;
        return NN_OK;
    }
    if (c != ',') {
        char buf[16];
        return json_fail(r->pos, "expected ',' or '%c', found %s", closer, describe_char(c, buf));
    }
    size_t comma = r->pos++;
    json_skip_space(r);
    if (json_peek(r) == closer) return json_fail(comma, "trailing comma before '%c'", closer);
    *more = true;
    return NN_OK;
}

/* A list or dict; pos is at the opener. Entering one counts against the depth limit. */
static int json_container(json_reader *r, nn_value *out) {
    bool is_dict = r->text[r->pos] == '{';
    char closer = is_dict ? '}' : ']';
    if (r->depth >= NN_VALUE_MAX_DEPTH)
        return json_fail(r->pos, "nesting deeper than %d", NN_VALUE_MAX_DEPTH);
    r->depth++;
    r->pos++;
    *out = (nn_value){ .type = is_dict ? NN_VALUE_DICT : NN_VALUE_LIST };
    json_skip_space(r);
    bool more = json_peek(r) != closer;
    if (!more) r->pos++;
    int status = NN_OK;
    while (more && !status) {
        char *key = NULL;
        nn_value item;
        if (is_dict) status = json_key(r, &key);
        if (!status) status = json_value(r, &item);
        if (!status) status = is_dict ? nn_value_dict_set(out, key, item) : nn_value_list_push(out, item);
        nn_free(key);
        if (!status) status = json_after_item(r, closer, &more);
    }
    r->depth--;
    if (status) nn_value_clear(out);
    return status;
}

/* A word that stands for a value: JSON's literals, Python's True/False/None. */
typedef struct named_value {
    const char *text;
    nn_value value;
} named_value;

static int json_value(json_reader *r, nn_value *out) {
    /* NaN and the infinities are not JSON, but Python's json writes and reads them. */
    const named_value literals[] = {
        { "true", { .type = NN_VALUE_BOOL, .boolean = true } },
        { "false", { .type = NN_VALUE_BOOL, .boolean = false } },
        { "null", { .type = NN_VALUE_NULL } },
        { "NaN", { .type = NN_VALUE_NUMBER, .number = NAN } },
        { "Infinity", { .type = NN_VALUE_NUMBER, .number = INFINITY } },
        { "-Infinity", { .type = NN_VALUE_NUMBER, .number = -INFINITY } },
    };
    *out = (nn_value){ .type = NN_VALUE_NULL };
    json_skip_space(r);
    if (json_at_end(r)) return json_fail(r->pos, "unexpected end of input (expected a value)");
    char c = r->text[r->pos];
    if (c == '{' || c == '[') return json_container(r, out);
    if (c == '"') {
        char *s;
        int status = json_string(r, &s);
        if (!status) *out = (nn_value){ .type = NN_VALUE_STRING, .string = s };
        return status;
    }
    for (size_t i = 0; i < NN_ARRAY_LEN(literals); i++) {
        size_t n = strlen(literals[i].text);
        if (r->len - r->pos >= n && memcmp(r->text + r->pos, literals[i].text, n) == 0) {
            r->pos += n;
            *out = literals[i].value;
            return NN_OK;
        }
    }
    if (c == '-' || is_digit(c)) return json_number(r, out);
    char buf[16];
    return json_fail(r->pos, "expected a value, found %s", describe_char(c, buf));
}

int nn_value_from_json(const char *text, size_t len, nn_value *out) {
    if (!out) return nn_error(NN_ERR_ARG, "nn_value_from_json: NULL output");
    *out = (nn_value){ .type = NN_VALUE_NULL };
    if (!text && len) return nn_error(NN_ERR_ARG, "nn_value_from_json: NULL text");
    json_reader r = { .text = text, .len = len };
    int status = json_value(&r, out);
    if (status) return status;
    json_skip_space(&r);
    if (!json_at_end(&r)) {
        nn_value_clear(out);
        char buf[16];
        return json_fail(r.pos, "trailing characters after the value (%s)", describe_char(r.text[r.pos], buf));
    }
    return NN_OK;
}

/* ================================================================ Keras-style calls */

/* Reads Python call syntax over a NUL-terminated text. Errors quote the call and give the
 * 1-based character position from its name. */
typedef struct call_reader {
    const char *text; /* where the name starts */
    const char *pos;
    int depth;
} call_reader;

static bool is_space(char c) { return c && strchr(" \t\n\r\f\v", c); }

static int call_fail(const call_reader *r, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int call_fail(const call_reader *r, const char *at, const char *fmt, ...) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    size_t quoted = strlen(r->text);
    while (quoted && is_space(r->text[quoted - 1])) quoted--;
    bool cut = quoted > NN_CALL_QUOTE_MAX;
    return nn_error(NN_ERR_ARG, "in '%.*s%s': %s at position %zu", (int)(cut ? NN_CALL_QUOTE_MAX : quoted),
                    r->text, cut ? "..." : "", what, (size_t)(at - r->text) + 1);
}

static const char *skip_space(const char *p) {
    while (is_space(*p)) p++;
    return p;
}

static bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

static bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }

static const char *name_end(const char *p) {
    while (is_name_char(*p)) p++;
    return p;
}

/* The n bytes at s as an nn_malloc'd string. */
static char *copy_span(const char *s, size_t n) {
    char *copy = nn_malloc(n + 1);
    if (!copy) return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

static int call_value(call_reader *r, nn_value *out);

/* Python number literals: [+-] digits [. digits] [e [+-] digits], also ".5" and "5.". */
static int call_number(call_reader *r, nn_value *out) {
    const char *start = r->pos, *p = r->pos;
    if (*p == '+' || *p == '-') p++;
    const char *mantissa = p;
    while (is_digit(*p)) p++;
    bool has_digits = p > mantissa;
    if (*p == '.') {
        p++;
        has_digits |= is_digit(*p);
        while (is_digit(*p)) p++;
    }
    if (!has_digits) return call_fail(r, start, "expected a number");
    if (*p == 'e' || *p == 'E') {
        const char *e = p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return call_fail(r, e, "expected digits in the exponent");
        while (is_digit(*p)) p++;
    }
    size_t n = (size_t)(p - start);
    if (n >= NN_NUMBER_MAX_CHARS)
        return call_fail(r, start, "number longer than %d characters", NN_NUMBER_MAX_CHARS - 1);
    char digits[NN_NUMBER_MAX_CHARS];
    memcpy(digits, start, n);
    digits[n] = '\0';
    *out = nn_value_number(strtod(digits, NULL));
    r->pos = p;
    return NN_OK;
}

/* A string quoted with ' or ", with Python's common escapes. */
static int call_quoted(call_reader *r, nn_value *out) {
    const char *start = r->pos;
    char quote = *r->pos++;
    text_buf b = { 0 };
    while (!b.status && *r->pos != quote) {
        char c = *r->pos;
        if (c == '\0' || (c == '\\' && r->pos[1] == '\0')) {
            b.status = call_fail(r, start, "unterminated string");
        } else if (c == '\\') {
            const char *from = "\\'\"ntr", *to = "\\'\"\n\t\r";
            const char *known = strchr(from, r->pos[1]);
            if (known) text_putc(&b, to[known - from]);
            else b.status = call_fail(r, r->pos, "unknown escape '\\%c'", r->pos[1]);
            r->pos += 2;
        } else {
            text_putc(&b, c);
            r->pos++;
        }
    }
    char *s;
    int status = text_finish(&b, &s);
    if (status) return status;
    r->pos++;
    *out = (nn_value){ .type = NN_VALUE_STRING, .string = s };
    return NN_OK;
}

static int call_arguments(call_reader *r, nn_value *args, nn_value *kwargs);

/* A call inside the arguments, as in Bidirectional(LSTM(8)) or HeNormal(seed=1): Keras's
 * serialized form {"class_name": name, "config": keyword arguments}, with the positional ones
 * under "args" when there are any (the callee binds them to its own names). */
static int call_nested(call_reader *r, const char *start, size_t n, const char *paren, nn_value *out) {
    if (r->depth >= NN_VALUE_MAX_DEPTH) return call_fail(r, paren, "nesting deeper than %d", NN_VALUE_MAX_DEPTH);
    nn_value args = { NN_VALUE_NULL }, kwargs = { NN_VALUE_NULL }, name = { NN_VALUE_NULL };
    char *class_name = copy_span(start, n);
    int status = class_name ? nn_value_dict_new(out) : NN_ERR_NOMEM;
    if (!status) status = nn_value_list_new(&args);
    if (!status) status = nn_value_dict_new(&kwargs);
    if (!status) {
        r->pos = paren;
        r->depth++;
        status = call_arguments(r, &args, &kwargs);
        r->depth--;
    }
    if (!status) status = nn_value_string(&name, class_name);
    if (!status) status = nn_value_dict_set(out, "class_name", name);
    if (!status) status = nn_value_dict_set(out, "config", kwargs);
    else nn_value_clear(&kwargs);
    if (!status && args.count) status = nn_value_dict_set(out, "args", args);
    else nn_value_clear(&args);
    nn_free(class_name);
    if (status) nn_value_clear(out);
    return status;
}

/* A bare name: True/False/None (Python's, and JSON's lower-case booleans), else a string; a
 * name followed by '(' is a nested call. */
static int call_name_value(call_reader *r, nn_value *out) {
    const char *start = r->pos, *end = name_end(start);
    size_t n = (size_t)(end - start);
    const char *after = skip_space(end);
    if (*after == '(') return call_nested(r, start, n, after, out);
    r->pos = end;
    const named_value constants[] = {
        { "True", { .type = NN_VALUE_BOOL, .boolean = true } },
        { "true", { .type = NN_VALUE_BOOL, .boolean = true } },
        { "False", { .type = NN_VALUE_BOOL, .boolean = false } },
        { "false", { .type = NN_VALUE_BOOL, .boolean = false } },
        { "None", { .type = NN_VALUE_NULL } },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(constants); i++) {
        if (strlen(constants[i].text) == n && memcmp(constants[i].text, start, n) == 0) {
            *out = constants[i].value;
            return NN_OK;
        }
    }
    char *s = copy_span(start, n);
    if (!s) return NN_ERR_NOMEM;
    *out = (nn_value){ .type = NN_VALUE_STRING, .string = s };
    return NN_OK;
}

/* After an item of a sequence or argument list: ',' or the closer. Sets *more when the list
 * goes on (a trailing comma before the closer is allowed, as in Python). */
static int call_after_item(call_reader *r, char closer, bool *more) {
    r->pos = skip_space(r->pos);
    if (*r->pos == ',') {
        r->pos = skip_space(r->pos + 1);
        *more = *r->pos != closer;
        if (!*more) r->pos++;
        return NN_OK;
    }
    if (*r->pos == closer) {
        r->pos++;
        *more = false;
        return NN_OK;
    }
    if (*r->pos == '\0') return call_fail(r, r->pos, "missing '%c'", closer);
    return call_fail(r, r->pos, "expected ',' or '%c'", closer);
}

/* A tuple (...) or list [...]: a LIST. As in Python, "(x)" without a comma is just x. */
static int call_sequence(call_reader *r, nn_value *out) {
    char closer = *r->pos == '(' ? ')' : ']';
    if (r->depth >= NN_VALUE_MAX_DEPTH)
        return call_fail(r, r->pos, "nesting deeper than %d", NN_VALUE_MAX_DEPTH);
    r->depth++;
    *out = (nn_value){ .type = NN_VALUE_LIST };
    r->pos = skip_space(r->pos + 1);
    bool more = *r->pos != closer, saw_comma = false;
    if (!more) r->pos++;
    int status = NN_OK;
    while (more && !status) {
        nn_value item;
        status = call_value(r, &item);
        if (!status) status = nn_value_list_push(out, item);
        if (!status) {
            r->pos = skip_space(r->pos);
            saw_comma |= *r->pos == ',';
            status = call_after_item(r, closer, &more);
        }
    }
    r->depth--;
    if (status) {
        nn_value_clear(out);
    } else if (closer == ')' && out->count == 1 && !saw_comma) {
        nn_value only = out->items[0];
        out->count = 0;
        nn_value_clear(out);
        *out = only;
    }
    return status;
}

static int call_value(call_reader *r, nn_value *out) {
    *out = (nn_value){ .type = NN_VALUE_NULL };
    r->pos = skip_space(r->pos);
    char c = *r->pos;
    if (c == '(' || c == '[') return call_sequence(r, out);
    if (c == '\'' || c == '"') return call_quoted(r, out);
    if (is_digit(c) || c == '.' || c == '-' || c == '+') return call_number(r, out);
    if (is_name_start(c)) return call_name_value(r, out);
    return call_fail(r, r->pos, c ? "expected a value" : "expected a value, found the end");
}

/* One argument: `key=value` into kwargs, or a value into args. */
static int call_argument(call_reader *r, nn_value *args, nn_value *kwargs) {
    const char *start = r->pos, *key_end = name_end(start);
    const char *eq = skip_space(key_end);
    bool is_keyword = is_name_start(*start) && *eq == '=' && eq[1] != '=';
    nn_value value;
    if (!is_keyword) {
        if (kwargs->count) return call_fail(r, start, "positional argument follows keyword argument");
        int status = call_value(r, &value);
        return status ? status : nn_value_list_push(args, value);
    }
    char *key = copy_span(start, (size_t)(key_end - start));
    if (!key) return NN_ERR_NOMEM;
    int status = nn_value_get(kwargs, key) ? call_fail(r, start, "keyword argument '%s' repeated", key) : NN_OK;
    r->pos = eq + 1;
    if (!status) status = call_value(r, &value);
    if (!status) status = nn_value_dict_set(kwargs, key, value);
    nn_free(key);
    return status;
}

static int call_arguments(call_reader *r, nn_value *args, nn_value *kwargs) {
    r->pos = skip_space(r->pos + 1);
    bool more = *r->pos != ')';
    if (!more) r->pos++;
    int status = NN_OK;
    while (more && !status) {
        status = call_argument(r, args, kwargs);
        if (!status) status = call_after_item(r, ')', &more);
    }
    return status;
}

int nn_parse_call(const char *text, char **name, nn_value *args, nn_value *kwargs, const char **end) {
    if (!text || !name || !args || !kwargs) return nn_error(NN_ERR_ARG, "nn_parse_call: NULL argument");
    *name = NULL;
    *args = *kwargs = (nn_value){ .type = NN_VALUE_NULL };
    call_reader r = { .text = skip_space(text) };
    r.pos = r.text;
    if (!is_name_start(*r.pos)) return call_fail(&r, r.pos, "expected a name such as Dense");
    const char *after_name = name_end(r.pos);
    *name = copy_span(r.pos, (size_t)(after_name - r.pos));
    if (!*name) return NN_ERR_NOMEM;
    nn_value_list_new(args);
    nn_value_dict_new(kwargs);
    r.pos = skip_space(after_name);
    int status = NN_OK;
    if (*r.pos == '(') status = call_arguments(&r, args, kwargs);
    else r.pos = after_name;
    if (status) {
        nn_free(*name);
        *name = NULL;
        nn_value_clear(args);
        nn_value_clear(kwargs);
        return status;
    }
    if (end) *end = r.pos;
    return NN_OK;
}

int nn_bind_positional(const char *text, const char *callee, const char *const *positional, nn_value *args,
                       nn_value *kwargs) {
    int npositional = 0, status = NN_OK;
    while (positional && positional[npositional]) npositional++;
    if (args->count > npositional)
        status = nn_error(NN_ERR_ARG, "in '%.120s': %s takes at most %d positional argument%s", text, callee,
                          npositional, npositional == 1 ? "" : "s");
    for (int i = 0; !status && i < args->count; i++) {
        if (nn_value_get(kwargs, positional[i])) {
            status = nn_error(NN_ERR_ARG, "in '%.120s': '%s' given twice", text, positional[i]);
        } else {
            status = nn_value_dict_set(kwargs, positional[i], args->items[i]);
            args->items[i] = (nn_value){ NN_VALUE_NULL };
        }
    }
    nn_value_clear(args);
    return status;
}
