# libFuzzer targets (included by the Makefile). The library sources are built
# once more with clang and the fuzzer's coverage hooks; each tests/fuzz/fuzz_*.c
# drives the real parsing code through them.
#   make fuzz              each target FUZZ_SECONDS (60) on a scratch copy of its corpus
#   make fuzz-smoke        each target once over its seed corpus (part of make test)
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 2
FUZZ_CFLAGS  := $(filter-out -Wno-format-truncation,$(CFLAGS_BASE)) -Wno-unknown-warning-option -O1 -g -fno-omit-frame-pointer \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN     := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# The web UI's generated assets, where the Makefile generates them.
FUZZ_LIB     := $(LIB_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(if $(GEN_SRC),$(BUILD)/fuzz/obj/gen/ui_assets.o)
FUZZ_SCRATCH ?= $(BUILD)/fuzz/scratch

.PHONY: fuzz fuzz-smoke fuzz-build
# Kept between runs: they are only prerequisites of a pattern rule.
.SECONDARY: $(FUZZ_LIB)

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC    $< (fuzz)"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/fuzz/obj/gen/ui_assets.o: $(GEN_SRC)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	@echo "  FUZZ  $@"
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB) $(PKG_LIBS)

fuzz-build: $(FUZZ_BIN)

# Each target over its seeds only: a regression check, a few seconds each.
fuzz-smoke: $(FUZZ_BIN)
	@set -e; for f in $(FUZZ_BIN); do n=$$(basename $$f); n=$${n#fuzz_}; \
		echo "== $$f"; \
		LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
		$$f -runs=0 tests/fuzz/corpus/$$n >$$f.smoke.log 2>&1 || { cat $$f.smoke.log; exit 1; }; \
		tail -n 1 $$f.smoke.log; done

# Generated units go to a scratch copy: never into the committed seeds.
fuzz: $(FUZZ_BIN)
	@rm -rf $(FUZZ_SCRATCH); mkdir -p $(FUZZ_SCRATCH)
	@printf '%s\n' $(FUZZ_BIN) | xargs -P $(FUZZ_JOBS) -I{} sh -c 'n=$$(basename {}); n=$${n#fuzz_}; \
		mkdir -p $(FUZZ_SCRATCH)/$$n; cp tests/fuzz/corpus/$$n/* $(FUZZ_SCRATCH)/$$n/ 2>/dev/null; \
		LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
		{} -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix=$(FUZZ_SCRATCH)/$$n- \
		$(FUZZ_SCRATCH)/$$n >$(FUZZ_SCRATCH)/$$n.log 2>&1; rc=$$?; \
		echo "$$n: rc=$$rc $$(grep -h stat::number_of_executed_units $(FUZZ_SCRATCH)/$$n.log)"; exit $$rc'

-include $(FUZZ_LIB:.o=.d)
