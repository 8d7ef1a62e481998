# async-inspect: hand-written Makefile with dependency files (after tig's).
#
#   make            build build/async-inspect
#   make demo       install dependencies, build, run the tool on a bundled demo program
#   make check      install dependencies, check the #include graph has no cycle, build, run every
#                   test, then again under ASan+UBSan, then 4,000 fixed inputs through the fuzz
#                   harnesses whose runs repeat exactly
#   make deps       install the Debian packages we need (apt-get; a no-op when all are there)
#   make install    install the binary and man page under PREFIX (default /usr/local)
#   make bench      run the benchmarks in tests/bench
#   make soak       a TUI session at 10 Hz on a busy program for SOAK_SECONDS (default 180)
#   make soak-faults  fault soaks on the busy fixture (docs/RELIABILITY.md): SOAK_CYCLES (default
#                   1000) attach/detach cycles, then SOAK_SAN_CYCLES (50) with the ASan build;
#                   FAULT_TRIALS (1000) SIGKILLs of the target during dump; FAULT_KILL_TRIALS (500)
#                   SIGKILLs of the tool during dump and attach. Each checks the target is left
#                   running and untouched, and prints its counts
#   make fuzz       each libFuzzer harness of tests/fuzz for FUZZ_TIME (default 60s), with clang

PREFIX ?= /usr/local
BUILD ?= build
CC ?= gcc
PKGS = libelf libunwind-generic libunwind-ptrace jansson ncursesw capstone libmicrohttpd libcurl

# libdwarf-dev only for its dwarf.h (the DW_* constants): DWARF is read by src/debuginfo/dwarf_reader.c.
CPPFLAGS += -Iinclude -I/usr/include/libdwarf -D_GNU_SOURCE
# CFLAGS and LDFLAGS are the user's (make CFLAGS=-O0); what the build needs is kept apart so that
# setting them on the command line cannot drop the warnings or the sanitizers.
CFLAGS ?= -O2 -g
WARNFLAGS = -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -fno-omit-frame-pointer
LDLIBS = -lelf -lunwind-ptrace -lunwind-generic -lunwind -ljansson -lncursesw -lz -lzstd -lcapstone \
	-lmicrohttpd -lcurl -lpthread

SRC = $(sort $(wildcard src/*/*.c src/*/*/*.c))
MAIN_SRC = src/cli/main.c
LIB_SRC = $(filter-out $(MAIN_SRC),$(SRC))
# serve's page (src/serve/web) is compiled into the binary as C made by src/serve/embed.sh.
WEB_FILES = $(sort $(wildcard src/serve/web/*))
WEB_OBJ = $(BUILD)/gen/serve_web.o
OBJ = $(SRC:%.c=$(BUILD)/%.o) $(WEB_OBJ)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o) $(WEB_OBJ)
TEST_SRC = $(sort $(wildcard tests/unit/*.c) $(wildcard tests/integration/*.c) $(wildcard tests/fuzz/fuzz_*.c))
TEST_OBJ = $(TEST_SRC:%.c=$(BUILD)/%.o)

BIN = $(BUILD)/async-inspect
TEST_BIN = $(BUILD)/ai-tests
FIXTURES = $(BUILD)/fixtures
SAN_BUILD = $(BUILD)/san

.PHONY: all demo check check-includes test test-san deps install bench soak soak-faults fixtures fuzz fuzz-harnesses clean

all: $(BIN)

$(BIN): $(OBJ)
	$(CC) $(LDFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS)

$(TEST_BIN): $(LIB_OBJ) $(TEST_OBJ)
	$(CC) $(LDFLAGS) $(SANFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(WARNFLAGS) $(CFLAGS) $(SANFLAGS) -MMD -MP -c -o $@ $<

$(BUILD)/gen/serve_web.c: src/serve/embed.sh $(WEB_FILES)
	@mkdir -p $(@D)
	src/serve/embed.sh $@ $(WEB_FILES)

$(WEB_OBJ): $(BUILD)/gen/serve_web.c include/ai/serve.h
	$(CC) $(CPPFLAGS) $(WARNFLAGS) $(CFLAGS) $(SANFLAGS) -c -o $@ $<

-include $(OBJ:.o=.d) $(TEST_OBJ:.o=.d)

deps:
	@tests/install-deps.sh

fixtures: $(BIN)
	@tests/fixtures/build.sh $(FIXTURES)

# The suite: Criterion runs unit tests and end-to-end tests of the real binary on the fixtures.
test: $(BIN) $(TEST_BIN) fixtures
	AI_BINARY=$(BIN) AI_FIXTURES=$(FIXTURES) AI_SOURCE=$(CURDIR) $(TEST_BIN) --jobs 2

# The same suite built with AddressSanitizer and UBSan in its own tree.
SAN_MAKE = $(MAKE) BUILD=$(SAN_BUILD) SANFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=all" CFLAGS="-O1 -g"
test-san:
	$(SAN_MAKE) $(SAN_BUILD)/async-inspect $(SAN_BUILD)/ai-tests
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		AI_BINARY=$(SAN_BUILD)/async-inspect AI_FIXTURES=$(FIXTURES) AI_SOURCE=$(CURDIR) \
		$(SAN_BUILD)/ai-tests --jobs 2

check: deps
	$(MAKE) check-includes
	$(MAKE) test
	$(MAKE) test-san
	$(MAKE) fuzz FUZZ_TIME=4000 FUZZ_HARNESSES="$(FUZZ_FIXED_HARNESSES)"

# No header reaches itself through the #include graph of src/ and include/.
check-includes:
	@tests/include_cycles.py $(CURDIR)

demo: deps
	$(MAKE) $(BIN) fixtures
	@tests/demo.sh $(BIN) $(FIXTURES)

bench: $(BIN) fixtures
	@tests/bench/threads.sh $(BIN) $(FIXTURES)
	@tests/bench/dump.sh $(BIN) $(FIXTURES)
	@tests/bench/dump.sh $(BIN) $(FIXTURES) 5 smol 0
	@tests/bench/max_pause.sh $(BIN) $(FIXTURES)
	@tests/bench/profile.sh $(BIN) $(FIXTURES)
	@tests/bench/processes.sh $(BIN) $(FIXTURES)

SOAK_SECONDS ?= 180
soak: $(BIN) fixtures
	@tests/bench/soak.sh $(BIN) $(FIXTURES) $(SOAK_SECONDS)

SOAK_CYCLES ?= 1000
SOAK_SAN_CYCLES ?= 50
FAULT_TRIALS ?= 1000
FAULT_KILL_TRIALS ?= 500
soak-faults: $(BIN) fixtures
	$(SAN_MAKE) $(SAN_BUILD)/async-inspect
	@tests/bench/attach_soak.sh $(BIN) $(FIXTURES) $(SOAK_CYCLES) $(SOAK_SAN_CYCLES) $(SAN_BUILD)/async-inspect
	@tests/bench/target_dies.sh $(BIN) $(FIXTURES) $(FAULT_TRIALS)
	@tests/bench/tool_dies.sh $(BIN) $(FIXTURES) $(FAULT_KILL_TRIALS)

# Fuzzing: the harnesses of tests/fuzz linked with libFuzzer, ASan and UBSan (clang), in their own
# tree; tests/fuzz/run.sh runs each for FUZZ_TIME on a corpus seeded from tests/fuzz/seeds and
# the fixtures. A crash is left in $(FUZZ_BUILD)/crashes/<harness>/: copy it to
# tests/fuzz/regressions/<harness>/ with the fix, and `make check` runs it from then on.
FUZZ_BUILD = $(BUILD)/fuzz
FUZZ_HARNESSES = json elf value await core break serve
# Those whose runs with a fixed seed are the same on every machine (value's and await's coverage
# follow addresses: ASLR changes their path; core's follows the files this machine has), for
# `make check`.
FUZZ_FIXED_HARNESSES = json elf break serve
# A duration ("60s") or a number of inputs (fixed seed: what `make check` runs, the same everywhere).
FUZZ_TIME ?= 60s
FUZZ_SAN = -fsanitize=address,undefined -fno-sanitize-recover=all
fuzz: fixtures
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang CFLAGS="-O1 -g -Wno-missing-field-initializers" SANFLAGS="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" \
		fuzz-harnesses
	@tests/fuzz/run.sh $(FUZZ_BUILD) $(FIXTURES) $(FUZZ_TIME) $(FUZZ_HARNESSES)

fuzz-harnesses: $(addprefix $(BUILD)/fuzz-,$(FUZZ_HARNESSES))

$(BUILD)/fuzz-%: tests/fuzz/main.c $(BUILD)/tests/fuzz/fuzz_%.o $(LIB_OBJ)
	$(CC) $(CPPFLAGS) $(WARNFLAGS) $(CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -DAI_FUZZ_TARGET=ai_fuzz_$* \
		-o $@ $^ $(LDLIBS)

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/async-inspect
	install -m 644 docs/async-inspect.1 $(DESTDIR)$(PREFIX)/share/man/man1/async-inspect.1

clean:
	rm -rf $(BUILD)
