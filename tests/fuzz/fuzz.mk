# tests/fuzz/fuzz.mk - libFuzzer targets, included from the main Makefile:
#
#     include tests/fuzz/fuzz.mk
#
# `make fuzz` builds every target in tests/fuzz/fuzz_*.c into $(FUZZ_BUILD)/ with clang
# (-fsanitize=fuzzer,address,undefined; every src/ file but src/main.c is compiled again
# with the same flags, so coverage and sanitizers reach the code under test) and runs each
# for FUZZ_SECONDS seconds, starting from the seeds in tests/fuzz/corpus/<target>/ (read
# only; new inputs go to $(FUZZ_BUILD)/corpus/<target>/). A crash, leak, sanitizer report,
# timeout or failed FUZZ_CHECK fails the target and leaves the input in
# $(FUZZ_BUILD)/artifacts/<target>/; reproduce with `$(FUZZ_BUILD)/fuzz_<target> FILE`.
# `make fuzz-build` only builds; `make fuzz-seeds` runs every target once over its seeds.
# Reproducers of bugs found so far live in tests/fuzz/regressions/<target>/ (also fed to
# the same functions by tests/unit/test_fuzz_regressions.c); FUZZ_IGNORE_KNOWN=1 in the
# environment makes a target skip inputs that hit an already reported bug.
# Needs clang-14 and libclang-rt-14-dev (Debian): `make fuzz-deps` installs FUZZ_DEB_PKGS.
#
# Variables from the main Makefile are used only inside recipes (WARN, PKGS, PKG_CFLAGS,
# LIBS, VERSION, MIGR, MIGR_PG), so the include may sit anywhere in it.

# Keep the includer's default goal (`make` alone still builds the daemon).
FUZZ_SAVED_GOAL := $(.DEFAULT_GOAL)

FUZZ_BUILD    ?= build/fuzz
FUZZ_SECONDS  ?= 60
FUZZ_CC       ?= clang
FUZZ_DEB_PKGS := clang libclang-rt-14-dev
FUZZ_TARGETS  := $(sort $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BIN      := $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
FUZZ_SAN      := -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                 -fno-omit-frame-pointer
FUZZ_CFLAGS    = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 $(WARN) \
                 -ffp-contract=off -pthread -Iinclude -I$(FUZZ_BUILD)/gen $(FUZZ_SAN)
FUZZ_LIB_SRC  := $(sort $(shell find src -name '*.c' ! -name main.c))
FUZZ_LIB_OBJ  := $(FUZZ_LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)
FUZZ_GEN_OBJ  := $(FUZZ_BUILD)/gen/migrations.o $(FUZZ_BUILD)/gen/openapi.o
FUZZ_LIB      := $(FUZZ_BUILD)/libbunsen_fuzz.a
FUZZ_RUN_OPTS ?= -print_final_stats=1 -timeout=10 -rss_limit_mb=2048

.PHONY: fuzz fuzz-build fuzz-seeds fuzz-deps

fuzz-deps:
	@sh tools/deps.sh $(FUZZ_DEB_PKGS)

fuzz-build: $(FUZZ_BIN)

$(FUZZ_LIB_OBJ): $(FUZZ_BUILD)/%.o: %.c $(wildcard include/bunsen/*.h) $(wildcard src/*/*_int.h src/*/*/*_int.h) \
    $(FUZZ_BUILD)/gen/version.h $(FUZZ_BUILD)/gen/paths.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/gen/version.h:
	@mkdir -p $(dir $@)
	@printf '#define BUNSEN_VERSION "%s"\n#define BUNSEN_GIT_REV "fuzz"\n' '$(VERSION)' > $@

$(FUZZ_BUILD)/gen/paths.h:
	@mkdir -p $(dir $@)
	@printf '#define BUNSEN_SHARE_DIR "%s"\n' '$(SHAREDIR)' > $@

$(FUZZ_BUILD)/gen/migrations.c: $(MIGR) $(MIGR_PG) tools/embed_migrations.sh
	@mkdir -p $(dir $@)
	sh tools/embed_migrations.sh bunsen_migrations $(MIGR) > $@
	sh tools/embed_migrations.sh bunsen_migrations_pg $(MIGR_PG) | sed 1,2d >> $@

$(FUZZ_BUILD)/gen/openapi.c: docs/openapi.yaml tools/embed_text.sh
	@mkdir -p $(dir $@)
	sh tools/embed_text.sh bunsen_openapi_yaml docs/openapi.yaml > $@

$(FUZZ_GEN_OBJ): %.o: %.c
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(FUZZ_LIB): $(FUZZ_LIB_OBJ) $(FUZZ_GEN_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BIN): $(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_LIB)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(PKG_CFLAGS) -Itests/fuzz -o $@ $< $(FUZZ_LIB) $(LIBS)

# One target after the other, FUZZ_SECONDS each; stops at the first failing target.
fuzz: $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	    dict=""; [ -f tests/fuzz/$$t.dict ] && dict="-dict=tests/fuzz/$$t.dict"; \
	    log=$(FUZZ_BUILD)/fuzz_$$t.log; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s (log $$log)"; \
	    if ! $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(FUZZ_RUN_OPTS) $$dict \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	        $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t >$$log 2>&1; then \
	        tail -n 80 $$log; \
	        echo "fuzz: $$t FAILED; input saved in $(FUZZ_BUILD)/artifacts/$$t/"; \
	        exit 1; \
	    fi; \
	    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' $$log \
	        | sed "s/^/fuzz: $$t /"; \
	done; echo "fuzz: all $(words $(FUZZ_TARGETS)) targets passed"

# Every seed once through every target (a quick regression check, no fuzzing).
fuzz-seeds: $(FUZZ_BIN)
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_BUILD)/artifacts/$$t; \
	    $(FUZZ_BUILD)/fuzz_$$t -runs=0 -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	        tests/fuzz/corpus/$$t >$(FUZZ_BUILD)/seeds_$$t.log 2>&1 \
	        || { tail -n 80 $(FUZZ_BUILD)/seeds_$$t.log; echo "fuzz-seeds: $$t FAILED"; exit 1; }; \
	done; echo "fuzz-seeds: all $(words $(FUZZ_TARGETS)) targets passed"

.DEFAULT_GOAL := $(FUZZ_SAVED_GOAL)
