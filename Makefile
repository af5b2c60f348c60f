# Bunsen build. `make help` lists the targets.
#
# Layout: sources under src/ (every .c except src/main.c goes into build/libbunsen.a),
# the binary at build/bunsen, unit tests tests/unit/test_*.c (one cmocka executable each),
# API tests tests/api/test_*.c (they start build/bunsen as a real daemon).
# `make asan` repeats the whole build and test run in build/asan with ASan + UBSan; `make tsan`
# the unit, API and PostgreSQL tests in build/tsan under ThreadSanitizer.

BUILD    ?= build
PKGS     := libmicrohttpd jansson sqlite3 gsl libsodium libpcre2-16 libcrypto libpq
DEB_PKGS := build-essential pkg-config libmicrohttpd-dev libjansson-dev libsqlite3-dev \
            libgsl-dev libsodium-dev libpcre2-dev libcmocka-dev clang-format sqlite3 systemd \
            curl man-db libssl-dev postgresql-15 libpq-dev
CC       ?= cc
WARN     := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
            -Wformat=2 -Wcast-qual -Wwrite-strings -Wvla -Wundef -Werror
OPT      ?= -O2
SAN      ?=
CFLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g $(OPT) $(WARN) \
            -ffp-contract=off -pthread -Iinclude -I$(BUILD)/gen $(SAN) $(EXTRA_CFLAGS)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS      = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
TEST_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)
VERSION  := $(shell cat VERSION 2>/dev/null || echo 0.0.0)
# safe.directory: `sudo make install` in a clone another user owns (root's git refuses it,
# "dubious ownership"); the recipe of version.h below keeps the revision it has when git fails
GIT_REV  := $(shell git -c safe.directory='$(CURDIR)' rev-parse --short HEAD 2>/dev/null || \
              echo unknown)

LIB_SRC  := $(sort $(shell find src -name '*.c' ! -name main.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/migrations.o $(BUILD)/gen/openapi.o
MIGR     := $(sort $(wildcard migrations/sqlite/*.sql))
MIGR_PG  := $(sort $(wildcard migrations/postgres/*.sql))
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
API_SRC  := $(sort $(wildcard tests/api/test_*.c))
API_BIN  := $(API_SRC:tests/api/%.c=$(BUILD)/tests/api/%)
# Suites that need PostgreSQL (several daemons on one database, failover): they run only in
# the PostgreSQL pass (tests/pg/api.sh), not as skips in the SQLite one.
PG_ONLY_BIN := $(BUILD)/tests/api/test_multi_daemon $(BUILD)/tests/api/test_failover \
               $(BUILD)/tests/api/test_hung_db $(BUILD)/tests/api/test_pg_conn
API_LIB  := $(BUILD)/tests/api/harness.o $(BUILD)/tests/api/harness_db.o \
            $(BUILD)/tests/api/harness_time.o $(BUILD)/tests/api/harness_hold.o \
            $(BUILD)/tests/api/harness_util.o $(BUILD)/tests/api/calls.o \
            $(BUILD)/tests/api/results_csv.o $(BUILD)/tests/api/results_ref.o \
            $(BUILD)/tests/api/pgcluster.o
FMT_SRC  := $(shell find src include tests bench -name '*.[ch]' 2>/dev/null)

DOCS     := $(sort $(wildcard docs/*.md))

# make install [PREFIX=/usr/local] [DESTDIR=/staging]
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
SHAREDIR ?= $(PREFIX)/share/bunsen
MANDIR   ?= $(PREFIX)/share/man
DOCDIR   ?= $(PREFIX)/share/doc/bunsen

# `make run`: PORT=, DATA_DIR=, LISTEN= on the command line, else the daemon's own variables
# (BUNSEN_PORT...; the flags below would override them otherwise), else the defaults
PORT     ?= $(or $(BUNSEN_PORT),8080)
DATA_DIR ?= $(or $(BUNSEN_DATA_DIR),./data)
LISTEN   ?= $(or $(BUNSEN_LISTEN),127.0.0.1)

.PHONY: all deps run test unit api asan tsan format format-check clean help bench install uninstall
all: $(BUILD)/bunsen

help:
	@echo "make            build $(BUILD)/bunsen"
	@echo "make run        install deps, build, migrate and serve on $(LISTEN):$(PORT) (data in $(DATA_DIR))"
	@echo "make test       install deps, build, run the unit, API, PostgreSQL, ops (shell),"
	@echo "                SDK and browser suites (NODE_SUITES=, SH_SUITES=, PG_SUITES= skip some)"
	@echo "make unit       build the unit tests; make api: the daemon and the API tests"
	@echo "make asan       unit, API and PostgreSQL tests under ASan + UBSan (not the node or"
	@echo "                shell suites)"
	@echo "make tsan       the same under ThreadSanitizer (suppressions: tests/tsan.supp); by hand"
	@echo "                before a release, not in CI"
	@echo "make format     rewrite sources with clang-format; format-check fails on a diff"
	@echo "make deps       apt-get install the missing Debian packages (idempotent)"
	@echo "make fuzz       libFuzzer targets under ASan/UBSan, FUZZ_SECONDS (60) each; fuzz-deps"
	@echo "                installs clang, fuzz-build only builds, fuzz-seeds runs each seed once"
	@echo "make bench      build, then the assign benchmark and callgrind (docs/PERFORMANCE.md)"
	@echo "make install    install bunsen, the dashboard, bunsen(1), the systemd unit and the docs under"
	@echo "                PREFIX ($(PREFIX)), staged under DESTDIR when given"
	@echo "make uninstall  remove what make install installed (not the data)"
	@echo "make clean      remove build/"

deps:
	@sh tools/deps.sh $(DEB_PKGS)

$(BUILD)/%.o: %.c $(wildcard include/bunsen/*.h) $(wildcard src/*/*_int.h src/*/*/*_int.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# VERSION and the git revision, rewritten only when they change (so `bunsen version` is
# never stale and nothing else rebuilds). Included by the few files that print them, and by
# the PostgreSQL adapter's conn.c (the sessions' application_name). When git cannot tell the
# revision (no git, or it refuses the clone) a version.h of the same VERSION is kept: `make &&
# sudo make install` once rebuilt objects as root and installed "(unknown)".
$(BUILD)/gen/version.h: FORCE
	@mkdir -p $(dir $@)
	@printf '#define BUNSEN_VERSION "%s"\n#define BUNSEN_GIT_REV "%s"\n' '$(VERSION)' '$(GIT_REV)' > $@.tmp
	@if [ '$(GIT_REV)' = unknown ] && grep -qs 'BUNSEN_VERSION "$(VERSION)"' $@; then :; \
	 else cmp -s $@.tmp $@ || mv $@.tmp $@; fi; rm -f $@.tmp

$(BUILD)/src/main.o $(BUILD)/src/serve.o $(BUILD)/src/api/health.o $(BUILD)/src/api/prom.o \
    $(BUILD)/src/store/pg/conn.o: $(BUILD)/gen/version.h

.PHONY: FORCE
FORCE:

$(BUILD)/gen/migrations.c: $(MIGR) $(MIGR_PG) tools/embed_migrations.sh
	@mkdir -p $(dir $@)
	sh tools/embed_migrations.sh bunsen_migrations $(MIGR) > $@
	sh tools/embed_migrations.sh bunsen_migrations_pg $(MIGR_PG) | sed 1,2d >> $@

$(BUILD)/gen/migrations.o: $(BUILD)/gen/migrations.c
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/gen/openapi.c: docs/openapi.yaml tools/embed_text.sh
	@mkdir -p $(dir $@)
	sh tools/embed_text.sh bunsen_openapi_yaml docs/openapi.yaml > $@

$(BUILD)/gen/openapi.o: $(BUILD)/gen/openapi.c
	$(CC) $(CFLAGS) -Wno-overlength-strings -c -o $@ $<

$(BUILD)/libbunsen.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/bunsen: $(BUILD)/src/main.o $(BUILD)/libbunsen.a
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libbunsen.a tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libbunsen.a $(LIBS) $(TEST_LIBS)

# The store unit tests (test_store_*, one per concern) share tests/unit/store_fixture.c: the
# backend under test and a fresh database per test. tests/pg/api.sh runs them on PostgreSQL.
$(BUILD)/tests/unit/store_fixture.o: tests/unit/store_fixture.c tests/unit/store_fixture.h \
                                     tests/unit/unit.h $(wildcard include/bunsen/*.h) \
                                     $(wildcard src/*/*_int.h src/*/*/*_int.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/tests/unit/test_store_%: tests/unit/test_store_%.c $(BUILD)/tests/unit/store_fixture.o \
                                 $(BUILD)/libbunsen.a tests/unit/unit.h tests/unit/store_fixture.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/tests/unit/store_fixture.o \
	    $(BUILD)/libbunsen.a $(LIBS) $(TEST_LIBS)

# The OpenAPI unit tests (test_openapi*, paths and roles; query parameters) share
# tests/unit/openapi_spec.c: a line-based reader of docs/openapi.yaml.
$(BUILD)/tests/unit/openapi_spec.o: tests/unit/openapi_spec.c tests/unit/openapi_spec.h \
                                    tests/unit/unit.h $(wildcard include/bunsen/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -c -o $@ $<

$(BUILD)/tests/unit/test_openapi $(BUILD)/tests/unit/test_openapi_query: \
    $(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/tests/unit/openapi_spec.o $(BUILD)/libbunsen.a \
    tests/unit/unit.h tests/unit/openapi_spec.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/tests/unit/openapi_spec.o \
	    $(BUILD)/libbunsen.a $(LIBS) $(TEST_LIBS)

# The stats unit tests (test_stats, test_stats_* one per concern: reference values, power,
# numerics, degenerate inputs) share tests/unit/stats_fixture.c: tolerances, all-finite checks.
STATS_UNIT_BIN := $(filter $(BUILD)/tests/unit/test_stats $(BUILD)/tests/unit/test_stats_%,$(UNIT_BIN))
$(BUILD)/tests/unit/stats_fixture.o: tests/unit/stats_fixture.c tests/unit/stats_fixture.h \
                                     tests/unit/unit.h $(wildcard include/bunsen/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -c -o $@ $<

$(STATS_UNIT_BIN): $(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/tests/unit/stats_fixture.o \
    $(BUILD)/libbunsen.a tests/unit/unit.h tests/unit/stats_fixture.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/tests/unit/stats_fixture.o \
	    $(BUILD)/libbunsen.a $(LIBS) $(TEST_LIBS)

$(BUILD)/tests/api/harness.o: tests/api/harness.c tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/harness_db.o: tests/api/harness_db.c tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/harness_time.o: tests/api/harness_time.c tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/harness_hold.o: tests/api/harness_hold.c tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/harness_util.o: tests/api/harness_util.c tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/calls.o: tests/api/calls.c tests/api/calls.h tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/results_csv.o: tests/api/results_csv.c tests/api/results_csv.h tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/results_ref.o: tests/api/results_ref.c tests/api/results_ref.h tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/pgcluster.o: tests/api/pgcluster.c tests/api/pgcluster.h tests/api/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -c -o $@ $<

$(BUILD)/tests/api/%: tests/api/%.c $(API_LIB) $(BUILD)/libbunsen.a tests/api/harness.h \
                     tests/api/calls.h tests/api/results_csv.h tests/api/results_ref.h \
                     tests/api/pgcluster.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -Itests/api -o $@ $< $(API_LIB) $(BUILD)/libbunsen.a $(LIBS) $(TEST_LIBS)

unit: $(UNIT_BIN)
api: $(BUILD)/bunsen $(API_BIN)

# Node suites (real GrowthBook / OpenFeature SDKs, the dashboard in headless Chromium):
# their run.sh scripts install what they need and print TAP like the C tests.
NODE_SUITES ?= tests/sdk/run.sh tests/ecosystem/run.sh tests/browser/run.sh
# PostgreSQL: the store unit tests and the API suites again on a throwaway cluster, then
# several daemons on one database (tests/pg/*.sh start and stop their own clusters).
PG_SUITES ?= tests/pg/api.sh
# Shell suites: make install into a staging dir, the installed binary, systemd-analyze verify;
# `make run` and its variables.
SH_SUITES   ?= tests/ops/install.sh tests/ops/make_run.sh

test: deps
	@$(MAKE) --no-print-directory unit api
	@BUNSEN_BIN=$(abspath $(BUILD)/bunsen) sh tests/run.sh $(UNIT_BIN) \
	    $(filter-out $(PG_ONLY_BIN),$(API_BIN)) $(SH_SUITES) \
	    $(PG_SUITES) \
	    $(NODE_SUITES)

# The unit and API tests again under AddressSanitizer + UndefinedBehaviorSanitizer, on
# SQLite and on PostgreSQL (PG_SUITES).
asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan OPT=-O1 NODE_SUITES= SH_SUITES= \
	    SAN="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all \
	         -fno-omit-frame-pointer" test

# The unit, API and PostgreSQL tests under ThreadSanitizer (docs/TESTING.md): the daemon the API
# tests start is build/tsan/bunsen. Reports go to build/tsan/reports/tsan.<pid> (a daemon's
# stderr is deleted with its test directory), not only to stderr; the run fails when any was
# written. halt_on_error: a raced daemon exits 66 and the test that drove it fails there.
# Not in .ci/run: run by hand before a release.
TSAN_DIR := $(abspath build/tsan)
tsan: deps
	@rm -rf $(TSAN_DIR)/reports && mkdir -p $(TSAN_DIR)/reports
	@TSAN_OPTIONS="suppressions=$(abspath tests/tsan.supp) halt_on_error=1 \
	     second_deadlock_stack=1 log_path=$(TSAN_DIR)/reports/tsan" \
	 $(MAKE) --no-print-directory BUILD=build/tsan OPT=-O1 NODE_SUITES= SH_SUITES= \
	    SAN="-fsanitize=thread -fno-omit-frame-pointer" test; rc=$$?; \
	 if ls $(TSAN_DIR)/reports/tsan.* >/dev/null 2>&1; then \
	     cat $(TSAN_DIR)/reports/tsan.*; echo "ThreadSanitizer reports above"; exit 1; fi; \
	 exit $$rc

run: deps
	@$(MAKE) --no-print-directory all
	$(BUILD)/bunsen serve --listen $(LISTEN) --port $(PORT) --data-dir $(DATA_DIR)

# The binary, the dashboard under share/bunsen/web, the man page bunsen(1), the systemd unit
# (ExecStart pointing at BINDIR) and the docs: README.md and LICENSE in DOCDIR, every
# docs/*.md, openapi.yaml and the screenshots under DOCDIR/docs/, and a copy of the unit
# under DOCDIR/contrib/systemd/, where the README's links point (the API.md and openapi.yaml of older installs, in DOCDIR itself, are removed). DESTDIR stages the tree for packaging. Nothing
# of PREFIX is compiled in (the daemon finds its dashboard next to its binary, serve.c), so
# `sudo make install PREFIX=...` after `make` copies what was built and compiles nothing as
# root (a PREFIX compiled in rebuilt serve.o and relinked, leaving root-owned build files).
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(MANDIR)/man1 \
	    $(DESTDIR)$(SHAREDIR)/systemd $(DESTDIR)$(DOCDIR)/docs/img $(DESTDIR)$(DOCDIR)/contrib/systemd
	install -m 0755 $(BUILD)/bunsen $(DESTDIR)$(BINDIR)/bunsen
	rm -rf $(DESTDIR)$(SHAREDIR)/web
	cp -R web $(DESTDIR)$(SHAREDIR)/web
	find $(DESTDIR)$(SHAREDIR)/web -type d -exec chmod 0755 {} + -o -type f -exec chmod 0644 {} +
	install -m 0644 docs/bunsen.1 $(DESTDIR)$(MANDIR)/man1/bunsen.1
	sed 's|/usr/local/bin/bunsen|$(BINDIR)/bunsen|g' contrib/systemd/bunsen.service \
	    > $(DESTDIR)$(SHAREDIR)/systemd/bunsen.service
	install -m 0644 contrib/systemd/bunsen.sysusers $(DESTDIR)$(SHAREDIR)/systemd/bunsen.sysusers
	rm -f $(DESTDIR)$(DOCDIR)/API.md $(DESTDIR)$(DOCDIR)/openapi.yaml
	install -m 0644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	install -m 0644 $(DOCS) docs/openapi.yaml $(DESTDIR)$(DOCDIR)/docs/
	install -m 0644 $(wildcard docs/img/*.png) $(DESTDIR)$(DOCDIR)/docs/img/
	install -m 0644 $(DESTDIR)$(SHAREDIR)/systemd/bunsen.service \
	    $(DESTDIR)$(DOCDIR)/contrib/systemd/bunsen.service

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/bunsen $(DESTDIR)$(MANDIR)/man1/bunsen.1
	rm -rf $(DESTDIR)$(SHAREDIR) $(DESTDIR)$(DOCDIR)

bench: all
	@sh bench/assign.sh
	@sh bench/callgrind.sh

format:
	clang-format -i $(FMT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FMT_SRC) && echo "clang-format: clean"

clean:
	rm -rf build

# libFuzzer targets: make fuzz (FUZZ_SECONDS=60 each), fuzz-build, fuzz-seeds, fuzz-deps
include tests/fuzz/fuzz.mk
