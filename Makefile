# Hangar build. `make` builds $(BUILD)/hangar; `make test` runs the whole suite
# (unit tests and end-to-end tests against an ASan+UBSan build).
CC      ?= cc
BUILD   ?= build
PKGS    := libuv sqlite3 jansson libsodium libgit2 yaml-0.1 libcurl zlib
CSTD    := -std=c17 -D_GNU_SOURCE
WARN    := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Wstrict-prototypes -Wno-format-truncation
DEPFLAGS = -MMD -MP
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lpthread
VERSION := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
CFLAGS_BASE := $(CSTD) $(WARN) $(PKG_CFLAGS) -Isrc -DHANGAR_VERSION=\"$(VERSION)\"

OPT_CFLAGS  := -O2 -g
SAN_CFLAGS  := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
SAN_LDFLAGS := -fsanitize=address,undefined

# The sandbox helper is a small program of its own (sandbox_main.c): the
# daemon's binary takes ~10 ms to load, on the path of every space start.
HELPER_MAIN := src/runtime/sandbox_main.c
HELPER_SRC  := $(HELPER_MAIN) src/runtime/sandbox_exec.c src/runtime/cgroup.c src/lib/log.c \
               src/lib/util.c
HELPER_LIBS := $(shell pkg-config --libs jansson 2>/dev/null)
SRC       := $(filter-out $(HELPER_MAIN),$(shell find src -name '*.c' | sort))
LIB_SRC   := $(filter-out src/main.c,$(SRC))
# The web UI's static files, compiled in (scripts/embed.sh).
ASSETS    := $(sort $(wildcard src/ui/static/*))
GEN_SRC   := $(BUILD)/gen/ui_assets.c
OBJ       := $(SRC:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/gen/ui_assets.o
SAN_OBJ   := $(SRC:%.c=$(BUILD)/san/%.o) $(BUILD)/san/gen/ui_assets.o
# ThreadSanitizer (make test-tsan): the proxy's loops run on several threads.
TSAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
TSAN_OBJ  := $(SRC:%.c=$(BUILD)/tsan/%.o) $(BUILD)/tsan/gen/ui_assets.o
SAN_LIB   := $(LIB_SRC:%.c=$(BUILD)/san/%.o) $(BUILD)/san/gen/ui_assets.o
UNIT_SRC  := $(shell find tests/unit -name 'test_*.c' | sort)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/unit/%)

VENV ?= $(HOME)/.cache/hangar/venv
PYTEST ?= $(VENV)/bin/python -m pytest

.PHONY: all deps run test unit e2e san format format-check clean install screenshots test-examples
all: $(BUILD)/hangar $(BUILD)/hangar-sandbox

deps:
	@./scripts/deps.sh

# The Python base image Docker spaces build FROM without a registry (debootstrap +
# podman import; skipped when it exists). The podman tests need it.
.PHONY: base-image
base-image:
	@./scripts/base-image.sh

# V=1 shows the commands.
Q := $(if $(V),,@)

$(BUILD)/hangar: $(OBJ)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(PKG_LIBS)

$(BUILD)/san/hangar: $(SAN_OBJ)
	@echo "  LD    $@"
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(PKG_LIBS)

$(BUILD)/tsan/hangar: $(TSAN_OBJ)
	@echo "  LD    $@"
	$(Q)$(CC) -fsanitize=thread -o $@ $^ $(PKG_LIBS)

$(BUILD)/tsan/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (thread sanitizer)"
	$(Q)$(CC) $(CFLAGS_BASE) $(TSAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/tsan/gen/ui_assets.o: $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC    $< (thread sanitizer)"
	$(Q)$(CC) $(CFLAGS_BASE) $(TSAN_CFLAGS) -c -o $@ $<

$(BUILD)/hangar-sandbox: $(HELPER_SRC:%.c=$(BUILD)/obj/%.o)
	@echo "  LD    $@"
	$(Q)$(CC) -o $@ $^ $(HELPER_LIBS)

$(BUILD)/san/hangar-sandbox: $(HELPER_SRC:%.c=$(BUILD)/san/%.o)
	@echo "  LD    $@"
	$(Q)$(CC) $(SAN_LDFLAGS) -o $@ $^ $(HELPER_LIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (sanitizers)"
	$(Q)$(CC) $(CFLAGS_BASE) $(SAN_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(GEN_SRC): $(ASSETS) scripts/embed.sh
	@mkdir -p $(dir $@)
	@echo "  GEN   $@"
	$(Q)./scripts/embed.sh $@ $(ASSETS)

$(BUILD)/obj/gen/ui_assets.o: $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS_BASE) $(OPT_CFLAGS) -c -o $@ $<

$(BUILD)/san/gen/ui_assets.o: $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC    $< (sanitizers)"
	$(Q)$(CC) $(CFLAGS_BASE) $(SAN_CFLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(SAN_LIB)
	@mkdir -p $(dir $@)
	@echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS_BASE) $(SAN_CFLAGS) -Itests/unit -o $@ $< $(SAN_LIB) $(SAN_LDFLAGS) $(PKG_LIBS) -lcmocka

san: $(BUILD)/san/hangar $(BUILD)/san/hangar-sandbox

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

# Test files run three at a time (pytest-xdist, one file per worker at a time:
# module fixtures stay whole); E2E_JOBS=1 runs them one after the other.
E2E_JOBS ?= 3
e2e: $(BUILD)/san/hangar $(BUILD)/san/hangar-sandbox $(BUILD)/hangar $(BUILD)/hangar-sandbox
	HANGAR_BIN=$(abspath $(BUILD))/san/hangar $(PYTEST) -q $(if $(filter-out 1,$(E2E_JOBS)),-n $(E2E_JOBS) --dist loadfile) tests/e2e $(PYTEST_ARGS)

# The example spaces including text-similarity, whose PyTorch is too heavy for make test.
test-examples: deps all san
	HANGAR_BIN=$(abspath $(BUILD))/san/hangar HANGAR_TEST_HEAVY_EXAMPLES=1 \
		$(PYTEST) -q tests/e2e/test_examples.py $(PYTEST_ARGS)

# PNGs of the main pages of the web UI into docs/screenshots (headless Chromium).
screenshots: $(BUILD)/san/hangar
	HANGAR_BIN=$(abspath $(BUILD))/san/hangar HANGAR_SCREENSHOTS=$(abspath docs/screenshots) \
		$(PYTEST) -q tests/e2e/test_ui.py -k screenshots

# The proxy's tests on a ThreadSanitizer build (the worker loops and the main
# loop share routes, metrics and the log): any race report fails them.
.PHONY: test-tsan
test-tsan: $(BUILD)/tsan/hangar
	HANGAR_BIN=$(abspath $(BUILD))/tsan/hangar TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 exitcode=0" \
		$(PYTEST) -q tests/e2e/test_proxy.py $(PYTEST_ARGS)

# Benchmarks, never part of make test (root: the spaces run in the sandbox).
# ROUNDS=N sets bench/wake's number of wakes (default 20).
.PHONY: bench-proxy bench-wake
bench-proxy:
	BUILD=$(BUILD) ./bench/proxy
bench-wake:
	BUILD=$(BUILD) ./bench/wake $(ROUNDS)

test: deps
	@if command -v podman >/dev/null 2>&1; then $(MAKE) --no-print-directory base-image; fi
	@$(MAKE) --no-print-directory all san
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz-smoke
	@$(MAKE) --no-print-directory e2e

run: deps
	@$(MAKE) --no-print-directory all
	@./scripts/run.sh

# Load (issue 11; not part of make test, about 10 minutes): 1,000 keep-alive
# clients through the proxy beside a direct baseline, then 1,000 spaces of which
# 50 run, with the daemon's RSS. Needs root, wrk and nginx. BENCH_ARGS passes
# options to bench/load.py (--duration, --clients, --spaces, --running, ...).
.PHONY: bench-load
bench-load: $(BUILD)/hangar
	python3 bench/load.py --build $(BUILD) $(BENCH_ARGS)

PREFIX ?= /usr/local
install: $(BUILD)/hangar $(BUILD)/hangar-sandbox
	install -D -m 0755 $(BUILD)/hangar $(DESTDIR)$(PREFIX)/bin/hangar
	install -D -m 0755 $(BUILD)/hangar-sandbox $(DESTDIR)$(PREFIX)/bin/hangar-sandbox
	install -D -m 0644 docs/hangar.1 $(DESTDIR)$(PREFIX)/share/man/man1/hangar.1

format:
	clang-format -i $(SRC) $(HELPER_MAIN) $(shell find src tests/unit -name '*.h') $(UNIT_SRC)

format-check:
	clang-format --dry-run --Werror $(SRC) $(HELPER_MAIN) $(shell find src tests/unit -name '*.h') $(UNIT_SRC)

clean:
	rm -rf $(BUILD)

include tests/fuzz/fuzz.mk

-include $(OBJ:.o=.d) $(SAN_OBJ:.o=.d) $(TSAN_OBJ:.o=.d) $(BUILD)/obj/$(HELPER_MAIN:.c=.d) \
	$(BUILD)/san/$(HELPER_MAIN:.c=.d)
