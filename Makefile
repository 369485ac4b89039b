# nn: `make` builds build/libnn.a, build/libnn.so and build/nn; `make test` runs every test;
# `make sanitize` runs the tests under ASan + UBSan; `make install PREFIX=...`.
CC ?= cc
PREFIX ?= /usr/local
BUILD ?= build
OPT ?= -O2
CFLAGS_BASE := -std=c11 -Wall -Wextra -D_GNU_SOURCE -fPIC -Iinclude -Isrc
CFLAGS ?= $(OPT)
ALL_CFLAGS := $(CFLAGS_BASE) $(CFLAGS) -MMD -MP
LDLIBS := -lm -lpthread

LIB_SRC := $(sort $(wildcard src/*/*.c src/*/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_SRC := $(sort $(wildcard tools/nn/*.c))
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SRC := $(sort $(wildcard tests/test_*.c))
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: all test sanitize install clean examples
all: $(BUILD)/libnn.a $(BUILD)/libnn.so $(BUILD)/nn $(EXAMPLES)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libnn.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/nn: $(CLI_OBJ) $(BUILD)/libnn.a
	$(CC) -o $@ $(CLI_OBJ) $(BUILD)/libnn.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/test.h $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libnn.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libnn.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libnn.a $(LDFLAGS) $(LDLIBS)

# Every test program runs from the project root; the totals line is summed at the end.
test: all $(TEST_BIN)
	@BUILD=$(BUILD) sh tests/run_all.sh $(TEST_BIN)

sanitize:
	$(MAKE) BUILD=build-san OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
		LDFLAGS="-fsanitize=address,undefined" test

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/nn.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libnn.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libnn.so $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/nn $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/#define NN_VERSION "\(.*\)"/\1/p' include/nn.h)|' \
		nn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/nn.pc

clean:
	rm -rf build build-san

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
