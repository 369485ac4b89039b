#!/bin/sh
# The long examples: Fashion-MNIST MLP (the fmnist-mlp workload) through the library and through
# `nn train`, the CNN (fmnist-cnn), and the Embedding + GRU language identifier on Debian's
# fortunes (library and `nn train`), each reaching its stated test accuracy. Run by `make test` in the optimized build
# (LONG_TESTS=1); skipped under the sanitizers, and when Debian's dataset-fashion-mnist is absent.
NN=${NN:-build/nn}
BUILD=${BUILD:-build}
FMNIST=/usr/share/datasets/fashion-mnist
passed=0; failed=0
if [ "${LONG_TESTS:-}" != 1 ] || [ ! -d "$FMNIST" ]; then
    echo "tests/test_examples.sh: skipped (LONG_TESTS=${LONG_TESTS:-} or no $FMNIST): 0 passed, 0 failed"
    exit 0
fi
# at_least NAME OUTPUT PATTERN MINIMUM: the number after PATTERN in OUTPUT is >= MINIMUM
at_least() {
    value=$(printf '%s\n' "$2" | sed -n "s/.*$3\([0-9.]*\).*/\1/p" | tail -n 1)
    if [ -n "$value" ] && awk "BEGIN { exit !($value >= $4) }"; then
        passed=$((passed + 1)); echo "  $1: $value"
    else
        failed=$((failed + 1)); echo "  FAIL $1: '$value' < $4"; printf '%s\n' "$2" | tail -n 5
    fi
}
out=$("$BUILD/examples/fashion_mlp" 2>&1)
at_least "examples/fashion_mlp test accuracy" "$out" "test accuracy: " 0.865
out=$("$NN" train --x $FMNIST/train-images-idx3-ubyte.gz --y $FMNIST/train-labels-idx1-ubyte.gz \
    --test-x $FMNIST/t10k-images-idx3-ubyte.gz --test-y $FMNIST/t10k-labels-idx1-ubyte.gz \
    --layers "Rescaling(scale=0.00392156862745098) Flatten() Dense(256, activation=relu) Dense(128, activation=relu) Dense(10, activation=softmax)" \
    --optimizer adam --loss sparse_categorical_crossentropy --metrics accuracy --epochs 5 --batch-size 128 \
    --verbose 2 --json 2>&1)
at_least "nn train fmnist-mlp test accuracy" "$out" '"test":{"accuracy":' 0.865
out=$("$BUILD/examples/fashion_cnn" 2>&1)
at_least "examples/fashion_cnn test accuracy" "$out" "test accuracy: " 0.865
# the text example: language identification on Debian's fortunes, through the library and `nn train`
if [ -d /usr/share/games/fortunes/de ]; then
    tmp=$(mktemp -d)
    out=$("$BUILD/examples/text_language" /usr/share/games/fortunes "$tmp/fortunes" 2>&1)
    at_least "examples/text_language test accuracy" "$out" "test accuracy: " 0.95
    out=$("$NN" train --x "$tmp/fortunes_x_train.npy" --y "$tmp/fortunes_y_train.npy" --test-x "$tmp/fortunes_x_test.npy" \
        --test-y "$tmp/fortunes_y_test.npy" --layers "Embedding(20000, 32, mask_zero=True) GRU(32) Dense(5, activation=softmax)" \
        --optimizer adam --loss sparse_categorical_crossentropy --metrics accuracy --epochs 3 --batch-size 64 --verbose 2 --json 2>&1)
    at_least "nn train text_language test accuracy" "$out" '"test":{"accuracy":' 0.95
    rm -rf "$tmp"
else
    echo "  text example skipped: the fortunes packages are not installed"
fi
echo "tests/test_examples.sh: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
