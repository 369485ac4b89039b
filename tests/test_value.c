/* The value tree, its JSON form and the Keras-style call parser (src/core/value.c).
 * Expected JSON texts of numbers and unicode were made with Python 3.11's json module, e.g.
 * json.dumps([0.1 + 0.2, 1e-7, 1/3]) and json.loads('"\\ud83d\\ude00"').encode(). */
#include "../src/nn_internal.h"
#include "test.h"
#include "failing_alloc.h"

#include <float.h>

/* ---------------------------------------------------------------- helpers */

/* JSON of v, in a static buffer so checks read as one line. */
static const char *json_of(const nn_value *v) {
    static char text[4096];
    char *json = NULL;
    if (nn_value_to_json(v, &json)) return nn_last_error();
    snprintf(text, sizeof text, "%s", json);
    nn_free(json);
    return text;
}

/* Parses and re-writes JSON, or returns the error message. */
static const char *json_round(const char *text) {
    nn_value v;
    if (nn_value_from_json(text, strlen(text), &v)) return nn_last_error();
    const char *out = json_of(&v);
    nn_value_clear(&v);
    return out;
}

/* "Name [args] {kwargs} | rest" for a call, or the error message. */
static const char *call_summary(const char *text) {
    static char summary[4096];
    char *name = NULL;
    nn_value args, kwargs;
    const char *end = NULL;
    if (nn_parse_call(text, &name, &args, &kwargs, &end)) return nn_last_error();
    char args_json[1024];
    snprintf(args_json, sizeof args_json, "%.1000s", json_of(&args));
    snprintf(summary, sizeof summary, "%.100s %.1000s %.1000s |%.1000s", name, args_json, json_of(&kwargs), end);
    nn_free(name);
    nn_value_clear(&args);
    nn_value_clear(&kwargs);
    return summary;
}

/* Checks that parsing `text` fails with NN_ERR_FORMAT and leaves a NULL value. */
static const char *json_error(const char *text, size_t len) {
    nn_value v = nn_value_number(7);
    int status = nn_value_from_json(text, len, &v);
    if (status != NN_ERR_FORMAT || v.type != NN_VALUE_NULL) return "(no format error)";
    return nn_last_error();
}

static const char *call_error(const char *text) {
    char *name = (char *)"unchanged";
    nn_value args, kwargs;
    int status = nn_parse_call(text, &name, &args, &kwargs, NULL);
    if (status != NN_ERR_ARG || name || args.type != NN_VALUE_NULL || kwargs.type != NN_VALUE_NULL)
        return "(no argument error)";
    return nn_last_error();
}

/* ---------------------------------------------------------------- the tree */

TEST(test_dict_set_get_replace) {
    nn_value d, s;
    CHECK(nn_value_dict_new(&d) == 0);
    CHECK(nn_value_dict_set(&d, "units", nn_value_number(32)) == 0);
    CHECK(nn_value_string(&s, "relu") == 0);
    CHECK(nn_value_dict_set(&d, "activation", s) == 0);
    CHECK(nn_value_dict_set(&d, "use_bias", nn_value_bool(true)) == 0);
    CHECK(nn_value_string(&s, "tanh") == 0);
    CHECK(nn_value_dict_set(&d, "activation", s) == 0); /* replaces, keeps the position */
    CHECK(d.count == 3);
    CHECK(strcmp(json_of(&d), "{\"units\":32,\"activation\":\"tanh\",\"use_bias\":true}") == 0);
    const nn_value *units = nn_value_get(&d, "units");
    CHECK(units && units->type == NN_VALUE_NUMBER && units->number == 32);
    CHECK(nn_value_get(&d, "missing") == NULL);
    CHECK(nn_value_get(units, "units") == NULL); /* not a dict */
    CHECK(nn_value_get(NULL, "units") == NULL);
    nn_value_clear(&d);
    CHECK(d.type == NN_VALUE_NULL && d.count == 0 && !d.items && !d.keys);
    nn_value_clear(&d); /* twice is fine */
    nn_value_clear(NULL);
}

TEST(test_list_grows_past_each_capacity) {
    nn_value list;
    nn_value_list_new(&list);
    for (int i = 0; i < 100; i++) CHECK(nn_value_list_push(&list, nn_value_number(i * 0.5)) == 0);
    CHECK(list.count == 100);
    for (int i = 0; i < 100; i++) CHECK(list.items[i].number == i * 0.5);
    nn_value_clear(&list);

    nn_value d;
    nn_value_dict_new(&d);
    char key[16];
    for (int i = 0; i < 40; i++) {
        snprintf(key, sizeof key, "k%d", i);
        CHECK(nn_value_dict_set(&d, key, nn_value_number(i)) == 0);
    }
    CHECK(d.count == 40);
    CHECK(nn_value_get(&d, "k39") && nn_value_get(&d, "k39")->number == 39);
    CHECK(nn_value_get(&d, "k0") && nn_value_get(&d, "k0")->number == 0);
    nn_value_clear(&d);
}

TEST(test_push_and_set_on_wrong_type_free_the_item) {
    nn_value n = nn_value_number(1), s;
    nn_value_string(&s, "owned by the call");
    CHECK(nn_value_list_push(&n, s) == NN_ERR_ARG); /* s freed: ASan would report a leak */
    CHECK_CONTAINS(nn_last_error(), "nn_value_list_push: not a list");
    nn_value_string(&s, "owned by the call");
    CHECK(nn_value_dict_set(&n, "k", s) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_value_dict_set: not a dict");
    nn_value d;
    nn_value_dict_new(&d);
    nn_value_string(&s, "owned by the call");
    CHECK(nn_value_dict_set(&d, NULL, s) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_value_dict_set: NULL key");
    CHECK(nn_value_string(&s, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_value_string: NULL string");
    CHECK(nn_value_to_json(&d, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_value_to_json: NULL output");
    CHECK(nn_value_from_json(NULL, 3, &d) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_value_from_json: NULL text");
    CHECK(nn_value_copy(&d, NULL) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "nn_value_copy: NULL value");
}

TEST(test_copy_is_deep) {
    nn_value original;
    const char *text = "{\"a\":[1,\"x\",{\"b\":null}],\"c\":false}";
    CHECK(nn_value_from_json(text, strlen(text), &original) == 0);
    nn_value copy;
    CHECK(nn_value_copy(&copy, &original) == 0);
    nn_value_clear(&original); /* the copy shares nothing with it */
    CHECK(strcmp(json_of(&copy), text) == 0);
    nn_value_clear(&copy);
}

TEST(test_to_json_rejects_a_corrupt_type) {
    nn_value list;
    nn_value_list_new(&list);
    nn_value_list_push(&list, (nn_value){ .type = (nn_value_type)42 });
    char *json = (char *)"unchanged";
    CHECK(nn_value_to_json(&list, &json) == NN_ERR_ARG);
    CHECK(json == NULL);
    CHECK_CONTAINS(nn_last_error(), "bad value type 42");
    nn_value_clear(&list);
}

/* ---------------------------------------------------------------- JSON out */

TEST(test_json_numbers_print_as_python) {
    const struct { double x; const char *text; } cases[] = {
        { 32, "32" }, { -7, "-7" }, { 0, "0" }, { 0.1, "0.1" }, { 0.1 + 0.2, "0.30000000000000004" },
        { 1e-7, "1e-07" }, { 1.0 / 3, "0.3333333333333333" }, { 1e300, "1e+300" },
        { 5e-324, "5e-324" }, { DBL_MAX, "1.7976931348623157e+308" },
        { 1.0 / 255, "0.00392156862745098" }, { 123456789.123456789, "123456789.12345679" },
        { 1e16, "10000000000000000" }, { -2.5, "-2.5" }, { NAN, "NaN" }, { INFINITY, "Infinity" },
        { -INFINITY, "-Infinity" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) {
        nn_value v = nn_value_number(cases[i].x);
        const char *text = json_of(&v);
        if (strcmp(text, cases[i].text) != 0) printf("  case %zu: %s vs %s\n", i, text, cases[i].text);
        CHECK(strcmp(text, cases[i].text) == 0);
    }
}

TEST(test_json_numbers_round_trip_bit_exactly) {
    const double values[] = { 0.1, 1.0 / 3, 2.0 / 3, 1e-300, 5e-324, DBL_MAX, DBL_MIN, -0.0,
                              0.00392156862745098, 6.02214076e23, 9007199254740993.0, 1e-7,
                              0.9999999999999999, 4.35 };
    for (size_t i = 0; i < NN_ARRAY_LEN(values); i++) {
        nn_value v = nn_value_number(values[i]), back;
        char *json;
        CHECK(nn_value_to_json(&v, &json) == 0);
        CHECK(nn_value_from_json(json, strlen(json), &back) == 0);
        CHECK(back.type == NN_VALUE_NUMBER && memcmp(&back.number, &values[i], sizeof(double)) == 0);
        nn_free(json);
    }
    nn_value special;
    CHECK(nn_value_from_json("[NaN,Infinity,-Infinity]", 24, &special) == 0);
    CHECK(special.count == 3 && isnan(special.items[0].number));
    CHECK(special.items[1].number == INFINITY && special.items[2].number == -INFINITY);
    CHECK(strcmp(json_of(&special), "[NaN,Infinity,-Infinity]") == 0);
    nn_value_clear(&special);
}

TEST(test_json_strings_are_escaped) {
    nn_value s;
    nn_value_string(&s, "q\"b\\n\nt\tr\rb\bf\f\x01\x1f/\xc3\xa9");
    /* Control characters as \u00XX; UTF-8 is written as it is (valid JSON, read by Python). */
    CHECK(strcmp(json_of(&s), "\"q\\\"b\\\\n\\nt\\tr\\rb\\bf\\f\\u0001\\u001f/\xc3\xa9\"") == 0);
    char *json;
    nn_value back;
    nn_value_to_json(&s, &json);
    CHECK(nn_value_from_json(json, strlen(json), &back) == 0);
    CHECK(back.type == NN_VALUE_STRING && strcmp(back.string, s.string) == 0);
    nn_free(json);
    nn_value_clear(&back);
    nn_value_clear(&s);
}

/* ---------------------------------------------------------------- JSON in */

TEST(test_json_round_trips_a_config) {
    const char *text = " { \"class_name\" : \"Dense\",\n\t\"config\": {\"units\": 32, \"activation\": "
                       "\"relu\", \"use_bias\": true, \"bias_regularizer\": null,\r\n"
                       "\"shape\": [28, 28, 1], \"empty\": [], \"none\": {}, \"s\": \"\"}} ";
    CHECK(strcmp(json_round(text), "{\"class_name\":\"Dense\",\"config\":{\"units\":32,\"activation\":"
                                    "\"relu\",\"use_bias\":true,\"bias_regularizer\":null,\"shape\":"
                                    "[28,28,1],\"empty\":[],\"none\":{},\"s\":\"\"}}") == 0);
    CHECK(strcmp(json_round("{\"a\":1,\"a\":2}"), "{\"a\":2}") == 0); /* last wins, as Python */
    CHECK(strcmp(json_round("-0.5e+2"), "-50") == 0);
    CHECK(strcmp(json_round("1E2"), "100") == 0);
    CHECK(strcmp(json_round("1e999"), "Infinity") == 0); /* Python reads it as inf too */
}

TEST(test_json_unicode_escapes_become_utf8) {
    nn_value v;
    const char *text = "\"\\ud83d\\ude00 \\u00e9 \\u20AC \\/ \\\"\\\\\\b\\f\\n\\r\\t\"";
    CHECK(nn_value_from_json(text, strlen(text), &v) == 0);
    CHECK(v.type == NN_VALUE_STRING &&
          strcmp(v.string, "\xf0\x9f\x98\x80 \xc3\xa9 \xe2\x82\xac / \"\\\b\f\n\r\t") == 0);
    nn_value_clear(&v);
    CHECK(nn_value_from_json("\"\\u007f\\u0080\\u07FF\\u0800\"", 26, &v) == 0);
    CHECK(v.type == NN_VALUE_STRING && strcmp(v.string, "\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80") == 0);
    nn_value_clear(&v);
}

TEST(test_json_reads_only_len_bytes) {
    nn_value v;
    CHECK(nn_value_from_json("[1,2]xyz", 5, &v) == 0);
    CHECK(strcmp(json_of(&v), "[1,2]") == 0);
    nn_value_clear(&v);
    CHECK(nn_value_from_json("12345", 2, &v) == 0);
    CHECK(v.type == NN_VALUE_NUMBER && v.number == 12);
    /* Truncations inside every token: each stops at len, never past it. */
    const char *text = "{\"k\":[true,false,null,\"\\u00e9\",-1.5e3,NaN]}";
    size_t n = strlen(text);
    for (size_t len = 0; len < n; len++) {
        char *copy = malloc(len ? len : 1); /* exactly len bytes, so ASan sees any overread */
        memcpy(copy, text, len);
        CHECK(nn_value_from_json(copy, len, &v) == NN_ERR_FORMAT);
        CHECK(v.type == NN_VALUE_NULL);
        free(copy);
    }
}

TEST(test_json_depth_limit_is_64) {
    char text[2 * 65 + 1];
    for (int depth = 64; depth <= 65; depth++) {
        memset(text, '[', (size_t)depth);
        memset(text + depth, ']', (size_t)depth);
        nn_value v;
        int status = nn_value_from_json(text, 2 * (size_t)depth, &v);
        CHECK(status == (depth == 64 ? 0 : NN_ERR_FORMAT));
        nn_value_clear(&v);
    }
    CHECK_CONTAINS(nn_last_error(), "JSON: nesting deeper than 64 at byte 64");
    char deep_dicts[8 * 70 + 1] = "";
    for (int i = 0; i < 70; i++) strcat(deep_dicts, "{\"a\":");
    CHECK_CONTAINS(json_error(deep_dicts, strlen(deep_dicts)), "JSON: nesting deeper than 64 at byte 320");
}

TEST(test_json_malformed_messages) {
    const struct { const char *text; const char *message; } cases[] = {
        { "", "JSON: unexpected end of input (expected a value) at byte 0" },
        { "  ", "JSON: unexpected end of input (expected a value) at byte 2" },
        { "[", "JSON: unexpected end of input (expected a value) at byte 1" },
        { "[1, 2", "JSON: unexpected end of input (expected ',' or ']') at byte 5" },
        { "{\"a\": 1", "JSON: unexpected end of input (expected ',' or '}') at byte 7" },
        { "{", "JSON: unexpected end of input (expected a string key) at byte 1" },
        { "{\"a\"", "JSON: unexpected end of input (expected ':' after the key) at byte 4" },
        { "[1, 2,]", "JSON: trailing comma before ']' at byte 5" },
        { "{\"a\":1 , }", "JSON: trailing comma before '}' at byte 7" },
        { "\"abc", "JSON: unterminated string at byte 0" },
        { "[\"abc\\", "JSON: unterminated string at byte 1" },
        { "\"a\\qb\"", "JSON: bad escape '\\' followed by 'q' at byte 2" },
        { "\"a\\'\"", "JSON: bad escape '\\' followed by ''' at byte 2" },
        { "{\"a\" 1}", "JSON: expected ':' after the key, found '1' at byte 5" },
        { "{1: 2}", "JSON: expected a string key, found '1' at byte 1" },
        { "{'a': 2}", "JSON: expected a string key, found ''' at byte 1" },
        { "[1] x", "JSON: trailing characters after the value ('x') at byte 4" },
        { "{} {}", "JSON: trailing characters after the value ('{') at byte 3" },
        { "01", "JSON: trailing characters after the value ('1') at byte 1" },
        { "truex", "JSON: trailing characters after the value ('x') at byte 4" },
        { "[1 2]", "JSON: expected ',' or ']', found '2' at byte 3" },
        { "{\"a\":1 \"b\":2}", "JSON: expected ',' or '}', found '\"' at byte 7" },
        { "tru", "JSON: expected a value, found 't' at byte 0" },
        { "True", "JSON: expected a value, found 'T' at byte 0" },
        { "nan", "JSON: expected a value, found 'n' at byte 0" },
        { "+1", "JSON: expected a value, found '+' at byte 0" },
        { ".5", "JSON: expected a value, found '.' at byte 0" },
        { "[,1]", "JSON: expected a value, found ',' at byte 1" },
        { "\xef\xbb\xbf{}", "JSON: expected a value, found byte 0xef at byte 0" },
        { "-", "JSON: bad number: expected a digit after '-' at byte 1" },
        { "-a", "JSON: bad number: expected a digit after '-' at byte 1" },
        { "1.", "JSON: bad number: expected a digit after '.' at byte 2" },
        { "1.e5", "JSON: bad number: expected a digit after '.' at byte 2" },
        { "1e+", "JSON: bad number: expected a digit in the exponent at byte 3" },
        { "\"\\u12\"", "JSON: bad \\u escape (expected 4 hex digits) at byte 1" },
        { "\"\\u12", "JSON: truncated \\u escape at byte 1" },
        { "\"\\ud83d\"", "JSON: unpaired surrogate \\uD83D at byte 1" },
        { "\"\\ud83d", "JSON: unpaired surrogate \\uD83D at byte 1" },
        { "\"\\ude00\"", "JSON: unpaired surrogate \\uDE00 at byte 1" },
        { "\"\\ud83d\\u0041\"", "JSON: unpaired surrogate \\uD83D at byte 1" },
        { "\"\\ud83d\\uzzzz\"", "JSON: bad \\u escape (expected 4 hex digits) at byte 7" },
        { "\"\\u0000\"", "JSON: \\u0000 is not allowed (strings end at NUL) at byte 1" },
        { "\"a\tb\"", "JSON: control character 0x09 in string (write it as \\u0009) at byte 2" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) {
        const char *message = json_error(cases[i].text, strlen(cases[i].text));
        if (strcmp(message, cases[i].message) != 0) printf("  case %zu: %s\n", i, cases[i].text);
        CHECK(strcmp(message, cases[i].message) == 0);
    }
    CHECK(strcmp(json_error("[1]\0", 4), "JSON: trailing characters after the value (byte 0x00) at byte 3") == 0);
    CHECK(strcmp(json_error("\"a\0b\"", 5), "JSON: control character 0x00 in string (write it as \\u0000) at byte 2") == 0);
}

/* ---------------------------------------------------------------- calls */

TEST(test_call_forms) {
    const struct { const char *text, *summary; } cases[] = {
        { "Dense(32, activation=relu)", "Dense [32] {\"activation\":\"relu\"} |" },
        { "Dense(10, activation=\"softmax\")", "Dense [10] {\"activation\":\"softmax\"} |" },
        { "Reshape((28, 28, 1))", "Reshape [[28,28,1]] {} |" },
        { "Rescaling(scale=0.00392156862745098)", "Rescaling [] {\"scale\":0.00392156862745098} |" },
        { "Flatten()", "Flatten [] {} |" },
        { "Flatten", "Flatten [] {} |" },
        { "Adam(learning_rate=0.01)", "Adam [] {\"learning_rate\":0.01} |" },
        { "Dropout(0.5)", "Dropout [0.5] {} |" },
        { "Dense(1, use_bias=False)", "Dense [1] {\"use_bias\":false} |" },
        { "Conv2D(32, (3, 3), padding='same')", "Conv2D [32,[3,3]] {\"padding\":\"same\"} |" },
        { "f(x=[1, 2], y=[], z=())", "f [] {\"x\":[1,2],\"y\":[],\"z\":[]} |" },
        { "f(-1, 1e-3, -2.5E+2, +3, .5, 5.)", "f [-1,0.001,-250,3,0.5,5] {} |" },
        { "f(True, False, None, true, false, none)", "f [true,false,null,true,false,\"none\"] {} |" },
        { "f((3), (3,), ((1, 2), [3]), [4,])", "f [3,[3],[[1,2],[3]],[4]] {} |" },
        { "  Dense ( 32 ,\tactivation = relu , )  ", "Dense [32] {\"activation\":\"relu\"} |  " },
        { "f('it\\'s', \"a\\\"b\", 'tab\\t', 'x=1')", "f [\"it's\",\"a\\\"b\",\"tab\\t\",\"x=1\"] {} |" },
        { "f(a=b, c=d_1)", "f [] {\"a\":\"b\",\"c\":\"d_1\"} |" },
        { "_Private2()", "_Private2 [] {} |" },
        { "Dense(k=HeNormal(seed=1))", "Dense [] {\"k\":{\"class_name\":\"HeNormal\",\"config\":{\"seed\":1}}} |" },
        { "Bidirectional(LSTM(8, go_backwards=True), 'sum')",
          "Bidirectional [{\"class_name\":\"LSTM\",\"config\":{\"go_backwards\":true},\"args\":[8]},\"sum\"] {} |" },
        { "T(A(B()))", "T [{\"class_name\":\"A\",\"config\":{},\"args\":[{\"class_name\":\"B\",\"config\":{}}]}] {} |" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) {
        const char *summary = call_summary(cases[i].text);
        if (strcmp(summary, cases[i].summary) != 0) printf("  case %zu: %s\n", i, summary);
        CHECK(strcmp(summary, cases[i].summary) == 0);
    }
}

TEST(test_call_numbers_are_exact) {
    char *name;
    nn_value args, kwargs;
    CHECK(nn_parse_call("Rescaling(0.00392156862745098, offset=-1e-7)", &name, &args, &kwargs, NULL) == 0);
    CHECK(args.items[0].number == 1.0 / 255); /* Python: repr(1/255) == '0.00392156862745098' */
    CHECK(nn_value_get(&kwargs, "offset")->number == -1e-7);
    nn_free(name);
    nn_value_clear(&args);
    nn_value_clear(&kwargs);
}

TEST(test_call_sequence_in_a_loop) {
    const char *text = "Flatten Dense(32, activation=relu)\n  Dropout(0.5)Dense(1) ", *p = text;
    const char *expected[] = { "Flatten", "Dense", "Dropout", "Dense" };
    int count = 0;
    while (*(p += strspn(p, " \n")) && count < 5) {
        char *name;
        nn_value args, kwargs;
        CHECK(nn_parse_call(p, &name, &args, &kwargs, &p) == 0);
        if (count < 4) CHECK(strcmp(name, expected[count]) == 0);
        count++;
        nn_free(name);
        nn_value_clear(&args);
        nn_value_clear(&kwargs);
    }
    CHECK(count == 4);
}

TEST(test_call_errors_quote_text_and_position) {
    const struct { const char *text, *message; } cases[] = {
        { "Dense(32,, x)", "in 'Dense(32,, x)': expected a value at position 10" },
        { "  Dense(32,, x)  ", "in 'Dense(32,, x)': expected a value at position 10" },
        { "Dense(units=32, 1)", "in 'Dense(units=32, 1)': positional argument follows keyword argument at position 17" },
        { "Dense(32", "in 'Dense(32': missing ')' at position 9" },
        { "Dense(32,", "in 'Dense(32,': expected a value, found the end at position 10" },
        { "Dense(", "in 'Dense(': expected a value, found the end at position 7" },
        { "Dense(32 64)", "in 'Dense(32 64)': expected ',' or ')' at position 10" },
        { "Dense(activation='relu)", "in 'Dense(activation='relu)': unterminated string at position 18" },
        { "f('a\\", "in 'f('a\\': unterminated string at position 3" },
        { "f('a\\qb')", "in 'f('a\\qb')': unknown escape '\\q' at position 5" },
        { "Dense(a=1, a=2)", "in 'Dense(a=1, a=2)': keyword argument 'a' repeated at position 12" },
        { "32(x)", "in '32(x)': expected a name such as Dense at position 1" },
        { "", "in '': expected a name such as Dense at position 1" },
        { "  ", "in '': expected a name such as Dense at position 1" },
        { "Dense(1e)", "in 'Dense(1e)': expected digits in the exponent at position 8" },
        { "Dense(-x)", "in 'Dense(-x)': expected a number at position 7" },
        { "Dense(.)", "in 'Dense(.)': expected a number at position 7" },
        { "Dense(k=HeNormal(seed=1)", "in 'Dense(k=HeNormal(seed=1)': missing ')' at position 25" },
        { "T(A(1,,))", "in 'T(A(1,,))': expected a value at position 7" },
        { "Reshape((28, 28)", "in 'Reshape((28, 28)': missing ')' at position 17" },
        { "f([1, 2)", "in 'f([1, 2)': expected ',' or ']' at position 8" },
        { "f(@)", "in 'f(@)': expected a value at position 3" },
        { "f(x==1)", "in 'f(x==1)': expected ',' or ')' at position 4" },
        { "f(=1)", "in 'f(=1)': expected a value at position 3" },
        { "f(1_000)", "in 'f(1_000)': expected ',' or ')' at position 4" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) {
        const char *message = call_error(cases[i].text);
        if (strcmp(message, cases[i].message) != 0) printf("  case %zu: %s\n", i, message);
        CHECK(strcmp(message, cases[i].message) == 0);
    }
}

TEST(test_call_nesting_and_long_text) {
    char deep[2 * 70 + 8] = "f";
    for (int i = 0; i < 66; i++) strcat(deep, "(");
    CHECK_CONTAINS(call_error(deep), "nesting deeper than 64 at position 67");
    char ok[2 * 66 + 8] = "f";
    for (int i = 0; i < 65; i++) strcat(ok, "(");
    strcat(ok, "1,");
    for (int i = 0; i < 65; i++) strcat(ok, ")");
    CHECK_CONTAINS(call_summary(ok), "f [");

    char longer[400] = "Dense(1, ";
    for (int i = 0; i < 40; i++) strcat(longer, "a, ");
    strcat(longer, "@)");
    const char *message = call_error(longer);
    CHECK_CONTAINS(message, "...': expected a value at position 130");
    CHECK(strlen(message) < 200);
}

/* ---------------------------------------------------------------- allocation failure */

/* Runs every call with the Nth allocation and all after it failing, for each N until all
 * succeed; each failure must report NN_ERR_NOMEM and free what it took (ASan checks the leaks). */
TEST(test_every_allocation_failure_is_reported_and_cleaned_up) {
    const char *json = "{\"a\":[1,\"xy\\u00e9\",{\"b\":[[],{}]}],\"c\":\"d\",\"e\":[1,2,3,4,5,6]}";
    failing_alloc f;
    int succeeded = 0, rounds = 0;
    for (int budget = 0; budget < 200 && succeeded < 4; budget++, rounds++) {
        succeeded = 0;
        nn_value v, copy, args, kwargs;
        char *text, *name;
        failing_alloc_install_from(&f, budget + 1);
        int status = nn_value_from_json(json, strlen(json), &v);
        CHECK(status == 0 || status == NN_ERR_NOMEM);
        succeeded += status == 0;
        if (status == 0) {
            failing_alloc_install_from(&f, budget + 1);
            status = nn_value_copy(&copy, &v);
            CHECK(status == 0 || (status == NN_ERR_NOMEM && copy.type == NN_VALUE_NULL));
            succeeded += status == 0;
            if (status == 0) nn_value_clear(&copy);
            failing_alloc_install_from(&f, budget + 1);
            status = nn_value_to_json(&v, &text);
            CHECK(status == 0 || (status == NN_ERR_NOMEM && text == NULL));
            succeeded += status == 0;
            if (status == 0) nn_free(text);
            nn_value_clear(&v);
        }
        failing_alloc_install_from(&f, budget + 1);
        status = nn_parse_call("Conv2D(32, (3, 3), padding='same', a=[1, [2]], b=c)", &name, &args, &kwargs, NULL);
        CHECK(status == 0 || (status == NN_ERR_NOMEM && !name && args.type == NN_VALUE_NULL && kwargs.type == NN_VALUE_NULL));
        succeeded += status == 0;
        if (status == 0) {
            nn_free(name);
            nn_value_clear(&args);
            nn_value_clear(&kwargs);
        }
        if (status) CHECK_CONTAINS(nn_last_error(), "out of memory");
    }
    nn_set_allocator(NULL);
    CHECK(succeeded == 4);
    CHECK(rounds > 10); /* the calls allocate many times, and each of those failed once */
}

TEST(test_bind_positional_follows_python) {
    static const char *const names[] = { "units", "activation", NULL };
    char *name = NULL;
    nn_value args, kwargs;
    CHECK(nn_parse_call("Dense(32, 'relu', use_bias=False)", &name, &args, &kwargs, NULL) == NN_OK);
    CHECK(nn_bind_positional("Dense(...)", name, names, &args, &kwargs) == NN_OK);
    CHECK(args.count == 0);
    CHECK(nn_value_get(&kwargs, "units")->number == 32);
    CHECK(strcmp(nn_value_get(&kwargs, "activation")->string, "relu") == 0);
    nn_free(name), nn_value_clear(&kwargs);

    CHECK(nn_parse_call("Dense(1, 2, 3)", &name, &args, &kwargs, NULL) == NN_OK);
    CHECK(nn_bind_positional("Dense(1, 2, 3)", name, names, &args, &kwargs) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "in 'Dense(1, 2, 3)': Dense takes at most 2 positional arguments");
    nn_free(name), nn_value_clear(&kwargs);

    CHECK(nn_parse_call("Dense(4, units=5)", &name, &args, &kwargs, NULL) == NN_OK);
    CHECK(nn_bind_positional("Dense(4, units=5)", name, names, &args, &kwargs) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "'units' given twice");
    nn_free(name), nn_value_clear(&kwargs);

    CHECK(nn_parse_call("mse(1)", &name, &args, &kwargs, NULL) == NN_OK);
    CHECK(nn_bind_positional("mse(1)", name, NULL, &args, &kwargs) == NN_ERR_ARG);
    CHECK_CONTAINS(nn_last_error(), "mse takes at most 0 positional arguments");
    nn_free(name), nn_value_clear(&kwargs);
}

int main(void) {
    RUN_TESTS(test_bind_positional_follows_python, test_dict_set_get_replace, test_list_grows_past_each_capacity,
              test_push_and_set_on_wrong_type_free_the_item, test_copy_is_deep,
              test_to_json_rejects_a_corrupt_type, test_json_numbers_print_as_python,
              test_json_numbers_round_trip_bit_exactly, test_json_strings_are_escaped,
              test_json_round_trips_a_config, test_json_unicode_escapes_become_utf8,
              test_json_reads_only_len_bytes, test_json_depth_limit_is_64, test_json_malformed_messages,
              test_call_forms, test_call_numbers_are_exact, test_call_sequence_in_a_loop,
              test_call_errors_quote_text_and_position, test_call_nesting_and_long_text,
              test_every_allocation_failure_is_reported_and_cleaned_up);
}
