"""Reference vocabularies and outputs for tests/test_text.c, made by real Keras 3
TextVectorization (TensorFlow backend, output_mode="int").

A small corpus of byte strings (mixed case, punctuation, ASCII whitespace of every kind, a
no-break space, accented capitals, emoji, ill-formed UTF-8, a 300-byte token, count ties, an
empty text and a text of punctuation only) is adapted by one layer per case; the file records
the case's options, the learned vocabulary (read from the lookup table as bytes, in index
order) and the layer's output on the corpus and on a few query texts with unseen tokens.
A split=None layer is called on (N, 1) input, so its output is (N, L) like the others.

tests/data/text/cases.txt:

    texts <n>                      then n lines, one text each
    queries <n>                    then n lines
    case <name>                    then the options, one per line:
    max_tokens <n>                   0 = None
    standardize <name>               none = None
    split <name>                     none = None
    output_sequence_length <n>       0 = None
    vocab <n>                      then n lines, entry 0 ("") first
    texts_out <rows> <cols>        then rows lines of cols integers
    queries_out <rows> <cols>
    end

Strings are written escaped, one per line: printable ASCII but '\\' as is, '\\' as "\\\\", every
other byte as "\\xHH".

tests/data/text/keras_vocabulary.txt: the vocabulary.txt that Keras's save_assets writes for
a default layer adapted on the first three texts, and tests/data/text/keras_vocabulary_out.txt
that layer's output on those texts (`out <rows> <cols>` and the rows), for the load test.

Run: python3 tests/gen/make_text_ref.py
"""
import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "text")

TEXTS = [
    b"The quick brown fox jumps over the lazy dog.",
    b"THE DOG barks; the fox runs!  The end...",
    b"don't stop-me now: e-mail me@example.com (maybe) [UNK] UNK",
    b"",
    b"!!! ... ??? ---",
    b"tabs\tand\nnewlines\x0bvertical\x0cform\rreturn and\xc2\xa0nbsp\x1cunit",
    "Ünïcode ÀÉ straße Straße ÜBER über café CAFÉ".encode(),
    "🙂 smile 🙂 日本語 テキスト".encode(),
    b"bad \xff\xfe bytes \xc3( \xe2\x82 end\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 x\xc3!y",
    b"a" * 300 + b" " + b"b" * 5 + b" " + b"a" * 300,
    b"zeta alpha beta gamma alpha beta zeta gamma",
    b"   leading and trailing spaces   ",
    "Ça va? Oui, ça va. ¿Qué tal? ¡Muy bien!".encode(),
    b"numbers 123 4.56 7,890 and under_scores and back\\slash and `ticks` {braces} |pipes| ~tilde^",
    b"UPPER lower MiXeD upper LOWER mixed",
]
QUERIES = [
    b"the unknown words zebra quick",
    b"",
    b"fox " * 40,
    "über ÜBER".encode(),
]
CASES = [
    ("default", {}),
    ("default_len8", {"output_sequence_length": 8}),
    ("lower", {"standardize": "lower", "output_sequence_length": 10}),
    ("strip_punctuation", {"standardize": "strip_punctuation", "output_sequence_length": 10}),
    ("no_standardize", {"standardize": None, "output_sequence_length": 10}),
    ("max_tokens_10", {"max_tokens": 10, "output_sequence_length": 6}),
    ("character", {"split": "character", "output_sequence_length": 20}),
    ("character_raw", {"split": "character", "standardize": None}),
    ("character_max_tokens_5", {"split": "character", "max_tokens": 5, "output_sequence_length": 12}),
    ("no_split", {"split": None}),
    ("no_split_len3", {"split": None, "standardize": "lower", "output_sequence_length": 3}),
]


def escape(b):
    out = []
    for byte in b:
        if byte == 0x5C:
            out.append("\\\\")
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append("\\x%02X" % byte)
    return "".join(out)


def vocabulary(layer):
    """The vocabulary as bytes in index order, from the lookup table (get_vocabulary would
    decode ill-formed UTF-8)."""
    lookup = layer._lookup_layer
    keys, values = lookup.lookup_table.export()
    vocab = {int(v): k for k, v in zip(keys.numpy(), values.numpy())}
    size = lookup.vocabulary_size()
    return [b"", b"[UNK]"] + [vocab[i] for i in range(2, size)]


def call(layer, texts, split):
    x = tf.constant(texts, dtype=tf.string)
    if split is None:
        x = tf.reshape(x, (-1, 1))
    return np.asarray(layer(x))


def write_matrix(f, tag, m):
    f.write("%s %d %d\n" % (tag, m.shape[0], m.shape[1]))
    for row in m:
        f.write(" ".join(str(int(v)) for v in row) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# made by tests/gen/make_text_ref.py with Keras %s, TensorFlow %s\n" % (keras.__version__, tf.__version__))
        for tag, texts in (("texts", TEXTS), ("queries", QUERIES)):
            f.write("%s %d\n" % (tag, len(texts)))
            for t in texts:
                f.write(escape(t) + "\n")
        for name, kwargs in CASES:
            layer = keras.layers.TextVectorization(**kwargs)
            split = kwargs.get("split", "whitespace")
            layer.adapt(tf.constant(TEXTS, dtype=tf.string))
            f.write("case %s\n" % name)
            f.write("max_tokens %d\n" % (kwargs.get("max_tokens") or 0))
            f.write("standardize %s\n" % (kwargs.get("standardize", "lower_and_strip_punctuation") or "none"))
            f.write("split %s\n" % (split or "none"))
            f.write("output_sequence_length %d\n" % (kwargs.get("output_sequence_length") or 0))
            vocab = vocabulary(layer)
            f.write("vocab %d\n" % len(vocab))
            for token in vocab:
                f.write(escape(token) + "\n")
            write_matrix(f, "texts_out", call(layer, TEXTS, split))
            write_matrix(f, "queries_out", call(layer, QUERIES, split))
            f.write("end\n")

    layer = keras.layers.TextVectorization()
    layer.adapt(tf.constant(TEXTS[:3], dtype=tf.string))
    with tempfile.TemporaryDirectory() as tmp:
        layer.save_assets(tmp)
        with open(os.path.join(tmp, "vocabulary.txt"), "rb") as src:
            data = src.read()
    with open(os.path.join(OUT, "keras_vocabulary.txt"), "wb") as dst:
        dst.write(data)
    with open(os.path.join(OUT, "keras_vocabulary_out.txt"), "w") as f:
        write_matrix(f, "out", call(layer, TEXTS[:3], "whitespace"))


if __name__ == "__main__":
    main()
