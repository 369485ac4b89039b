# nn: `make` builds build/libnn.a, build/libnn.so and build/nn; `make test` runs every test
# (optimized, then under ASan + UBSan, then the fuzz targets); `make install PREFIX=...`.
# Builds run on every CPU unless told otherwise (make -jN): serially, compiling the library
# three ways for `make test` takes several minutes longer.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS += -j$(JOBS)
CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
OPT ?= -O3 -fno-math-errno -fno-trapping-math
CFLAGS_BASE := -std=c11 -Wall -Wextra -D_GNU_SOURCE -fPIC -ffunction-sections -fdata-sections -Iinclude -Isrc
CFLAGS ?= $(OPT)
ALL_CFLAGS := $(CFLAGS_BASE) $(CFLAGS) -MMD -MP
LDLIBS := -lz -lm -lpthread

# The AVX-512 GEMM first: it takes minutes at -O3 (GCC's loop unswitching of its tiles), so
# the other files compile beside it rather than after it.
LIB_SRC := $(filter %/gemm_avx512.c,$(wildcard src/*/*/*.c)) \
	$(filter-out %/gemm_avx512.c,$(sort $(wildcard src/*/*.c src/*/*/*.c)))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(sort $(wildcard tools/nn/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
TEST_SCRIPTS := $(sort $(wildcard tests/test_*.sh))
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: all test unit fuzz install clean serve-static
all: $(BUILD)/libnn.a $(BUILD)/libnn.so $(BUILD)/nn $(EXAMPLES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libnn.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

# A self-contained program that loads a model and predicts (examples/serve.c), linked
# statically with unused code dropped: the size of shipping nn inside a program.
serve-static: $(BUILD)/serve-static
$(BUILD)/serve-static: examples/serve.c $(BUILD)/libnn.a
	$(CC) $(ALL_CFLAGS) -static -Wl,--gc-sections -s -o $@ $< $(BUILD)/libnn.a $(LDLIBS)
	@echo "$@: $$(stat -c %s $@) bytes"

# The library finds the bundled data where `make install` puts it.
$(BUILD)/obj/src/data/bundled.o: ALL_CFLAGS += -DNN_DATA_DIR='"$(PREFIX)/share/nn/data"'

$(BUILD)/nn: $(CLI_OBJ) $(BUILD)/libnn.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libnn.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libnn.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libnn.a $(LDFLAGS) $(LDLIBS)

SAN_OPT := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 15
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o)

SAN_VARS := BUILD=build-san OPT="$(SAN_OPT)" LDFLAGS="-fsanitize=address,undefined"

# `make test`: every test in the optimized build (the long example runs included), then all
# again under ASan + UBSan (with leak checks), then each file reader's fuzz target for
# FUZZ_SECONDS. `make unit` runs one build's tests only. Tests run from the project root.
# The three builds compile first, side by side on the job slots: the AVX-512 GEMM file alone
# takes minutes at -O3 and would leave the other CPUs idle.
test: builds
	$(MAKE) unit LONG_TESTS=1
	$(MAKE) $(SAN_VARS) unit
	$(MAKE) fuzz

.PHONY: built builds built-optimized built-sanitized
built: all $(TEST_BIN) # one build's library, command, examples and test programs
builds: built-optimized built-sanitized $(FUZZ_BIN)
built-optimized:
	$(MAKE) built
built-sanitized:
	$(MAKE) $(SAN_VARS) built

# libFuzzer targets (clang), over the library built with the same sanitizers.
fuzz: $(FUZZ_BIN)
	@sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -MMD -MP -fsanitize=fuzzer-no-link -c $< -o $@

build-fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer $< $(FUZZ_LIB_OBJ) $(LDLIBS) -o $@

# the fuzz build's objects are kept between runs
.SECONDARY: $(FUZZ_LIB_OBJ)

unit: built
	@BUILD=$(BUILD) NN=$(BUILD)/nn LONG_TESTS=$(LONG_TESTS) EXTRA_LDFLAGS="$(LDFLAGS)" sh tests/run_all.sh $(TEST_BIN) $(TEST_SCRIPTS)

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/nn.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libnn.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libnn.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/nn $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/nn/data
	install -m 644 data/*.csv data/README.md $(DESTDIR)$(PREFIX)/share/nn/data/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/#define NN_VERSION "\(.*\)"/\1/p' include/nn.h)|' \
		nn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn.pc

clean:
	rm -rf build build-san build-fuzz

include bench/Makefile.inc

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(FUZZ_LIB_OBJ:.o=.d)
