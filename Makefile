# Ostiary build. `make` builds every binary; see README.md for run/test.
# Sources are found by wildcard so that adding a file never needs an edit here.

SANITIZE ?= 0
OPT      ?= -O2
CC       ?= gcc
FUZZ     ?= 0
ifeq ($(FUZZ),1)
# The libFuzzer build (README.md, "Fuzzing"): Debian's clang, every object
# instrumented for coverage and checked by ASan and UBSan.
# (override: a BUILD or CC given to the calling make must not leak in).
override BUILD    := build/fuzz
override CC       := clang
override SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
                     -fno-sanitize-recover=undefined
override OPT      := -O1 -g
else ifeq ($(SANITIZE),1)
BUILD    ?= build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT      := -O1 -g
else
BUILD    ?= build/rel
SANFLAGS :=
endif

CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
            -Wno-format-nonliteral -g $(OPT) $(SANFLAGS) -I. -Icommon -I/usr/include/postgresql \
            -MMD -MP $(EXTRA_CFLAGS)
LDFLAGS  := $(SANFLAGS) $(EXTRA_LDFLAGS)
LIBS     := -lczmq -lzmq -lmsgpackc -ljansson -lpq -lcurl -lssl -lcrypto -lpthread -lm
GW_LIBS  := -lcivetweb -lqrencode
FLOW_LIBS:= -largon2 -lcurl
TEST_LIBS:= -lcmocka

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LIBCOMMON  := $(BUILD)/libostiary.a

SERVICES   := gateway token-svc flow-svc keys-svc
BINS       := $(SERVICES:%=$(BUILD)/bin/%) $(BUILD)/bin/ostiaryctl
# Build tools (not installed): proto/ops.md from proto/ops.def, docs/audit.md
# from common/audit.def, docs/metrics.md from common/metrics.def.
TOOLS      := $(BUILD)/bin/ostiary-opsdoc $(BUILD)/bin/ostiary-auditdoc $(BUILD)/bin/ostiary-metricsdoc
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test conformance unit e2e clean format format-check bench check-deps docs fuzz fuzz-build fuzz-harnesses fuzz-merge fuzz-regress
# Keep object files of the test programs (make would delete them as intermediates).
.SECONDARY:
# ostiaryctl's man page and bash completion, made by ostiaryctl from its
# command table (ctl/manual.c).
CTL_MAN    := $(BUILD)/share/man/man1/ostiaryctl.1
CTL_COMP   := $(BUILD)/share/bash-completion/completions/ostiaryctl
all: $(BINS) $(UNIT_BINS) $(TOOLS) $(CTL_MAN) $(CTL_COMP)

$(CTL_MAN): $(BUILD)/bin/ostiaryctl
	@mkdir -p $(dir $@)
	$< --man > $@.tmp && mv $@.tmp $@

$(CTL_COMP): $(BUILD)/bin/ostiaryctl
	@mkdir -p $(dir $@)
	$< --completion > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(LIBCOMMON): $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# program_rule(source folder, binary name, extra libraries): every program is
# a library of its folder's code ($(BUILD)/lib<folder>.a, which tests and fuzz
# harnesses link) plus the folder's thin main.c.
define program_rule
$(1)_SRC := $$(filter-out $(1)/main.c,$$(wildcard $(1)/*.c))
$(1)_OBJ := $$($(1)_SRC:%.c=$(BUILD)/obj/%.o)
$(1)_LIB := $(BUILD)/lib$(1).a
$(1)_LIBS := $(3)
$$($(1)_LIB): $$($(1)_OBJ)
	@mkdir -p $$(dir $$@)
	rm -f $$@ && ar rcs $$@ $$^
$(BUILD)/bin/$(2): $(BUILD)/obj/$(1)/main.o $$($(1)_LIB) $(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$(CC) $(LDFLAGS) -o $$@ $(BUILD)/obj/$(1)/main.o $$($(1)_LIB) $(LIBCOMMON) $(3) $(LIBS)
endef
$(eval $(call program_rule,gateway,gateway,$(GW_LIBS)))
$(eval $(call program_rule,token-svc,token-svc,))
$(eval $(call program_rule,flow-svc,flow-svc,$(FLOW_LIBS)))
$(eval $(call program_rule,keys-svc,keys-svc,))
$(eval $(call program_rule,ctl,ostiaryctl,))

$(BUILD)/bin/ostiary-opsdoc: $(BUILD)/obj/tools/opsdoc.o $(BUILD)/obj/tools/docgen.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tools/docgen.o $(LIBCOMMON) $(LIBS)

$(BUILD)/bin/ostiary-auditdoc: $(BUILD)/obj/tools/auditdoc.o $(BUILD)/obj/tools/docgen.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tools/docgen.o $(LIBCOMMON) $(LIBS)

$(BUILD)/bin/ostiary-metricsdoc: $(BUILD)/obj/tools/metricsdoc.o $(BUILD)/obj/tools/docgen.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(BUILD)/obj/tools/docgen.o $(LIBCOMMON) $(LIBS)

# proto/ops.md from proto/ops.def, docs/audit.md from common/audit.def and
# docs/metrics.md from common/metrics.def; make test fails while one is out
# of date.
docs: $(BUILD)/bin/ostiary-opsdoc $(BUILD)/bin/ostiary-auditdoc $(BUILD)/bin/ostiary-metricsdoc
	$(BUILD)/bin/ostiary-opsdoc --update proto/ops.md
	$(BUILD)/bin/ostiary-auditdoc --update docs/audit.md
	$(BUILD)/bin/ostiary-metricsdoc --update docs/metrics.md
	scripts/config-doc.sh --update
	scripts/deps.sh readme --update

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(TEST_LIBS) $(LIBS)

# Unit tests of the gateway's own code (tests/unit/test_gw_*.c).
$(BUILD)/tests/test_gw_%: $(BUILD)/obj/tests/unit/test_gw_%.o $(gateway_LIB) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(gateway_LIB) $(LIBCOMMON) $(TEST_LIBS) $(GW_LIBS) $(LIBS)

# libFuzzer harnesses: fuzz/fuzz_<name>.c, each linked with every program
# library (an archive member is pulled in only when the harness uses it).
FUZZ_SRC   := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS  := $(FUZZ_SRC:fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_LINK  := $(gateway_LIB) $(flow-svc_LIB) $(token-svc_LIB) $(keys-svc_LIB) $(LIBCOMMON) \
              $(GW_LIBS) $(FLOW_LIBS) $(LIBS)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= $(FUZZ_SRC:fuzz/fuzz_%.c=%)

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(gateway_LIB) $(flow-svc_LIB) $(token-svc_LIB) $(keys-svc_LIB) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(subst fuzzer-no-link,fuzzer,$(SANFLAGS)) -o $@ $< $(FUZZ_LINK)

fuzz-harnesses: $(FUZZ_BINS)

# The harnesses, built with clang into build/fuzz whatever BUILD says.
fuzz-build: check-deps
	@command -v clang >/dev/null 2>&1 || { echo "fuzz: clang is missing (scripts/deps.sh installs it)" >&2; exit 1; }
	@$(MAKE) --no-print-directory FUZZ=1 fuzz-harnesses

# Each harness for FUZZ_SECONDS over its checked-in corpus; what it finds
# that is new goes to build/fuzz/new/<name>, never into fuzz/corpus.
fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) scripts/fuzz.sh run $(FUZZ_TARGETS)

# Folds build/fuzz/new/<name> into fuzz/corpus/<name> (inputs that add coverage only).
fuzz-merge: fuzz-build
	@scripts/fuzz.sh merge $(FUZZ_TARGETS)

# Each harness once over every file of its corpus (what `make test` runs).
fuzz-regress: fuzz-build
	@scripts/fuzz.sh regress $(FUZZ_TARGETS)

# In-process service tests: tests/svc/test_*.c, each linked with the
# services' libraries and the harness that runs them on inproc:// endpoints
# (tests/svc/svc_harness.h), against OSTIARY_TEST_DB.
SVC_SRC    := $(wildcard tests/svc/test_*.c)
SVC_BINS   := $(SVC_SRC:tests/svc/%.c=$(BUILD)/tests/svc/%)
SVC_LINK   := $(BUILD)/obj/tests/svc/svc_harness.o $(flow-svc_LIB) $(token-svc_LIB) $(keys-svc_LIB) $(LIBCOMMON)
all: $(SVC_BINS)
$(SVC_BINS): $(BUILD)/tests/svc/%: $(BUILD)/obj/tests/svc/%.o $(SVC_LINK)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(SVC_LINK) $(FLOW_LIBS) $(TEST_LIBS) $(LIBS)

# Installs what is missing from Debian's archive (see scripts/deps.sh): by
# default what `make test` needs; DEPS_FOR=run|bench|fuzz|deploy|all for
# another target's set. Each target below checks its own set only
# (a target-specific DEPS_FOR, which check-deps inherits).
DEPS_FOR ?= test
deps:
	@scripts/deps.sh install $(DEPS_FOR)

check-deps:
	@scripts/deps.sh check $(DEPS_FOR) || scripts/deps.sh install $(DEPS_FOR)

run: DEPS_FOR = run
test conformance: DEPS_FOR = test
bench: DEPS_FOR = bench
fuzz fuzz-build fuzz-merge fuzz-regress: DEPS_FOR = fuzz
image test-deploy: DEPS_FOR = deploy

# On a terminal, run.sh runs as a job of its own (bash -m gives it the
# terminal), so that Ctrl-C reaches it and the suite but not make: run.sh
# stops everything and exits 0, and make reports no error.
run: check-deps
	@$(MAKE) --no-print-directory all
	@if [ -t 0 ] && [ -t 2 ]; then BUILD=$(BUILD) bash -m -c 'scripts/run.sh; exit $$?'; \
	else BUILD=$(BUILD) scripts/run.sh; fi

# The builds of `make test` (the binaries and the fuzz harnesses, side by
# side) run on every core unless the caller gave -j itself.
TEST_JOBS = $(if $(filter -j%,$(MAKEFLAGS)),,-j$(shell nproc 2>/dev/null || echo 2))

test: check-deps
	@$(MAKE) --no-print-directory $(TEST_JOBS) all fuzz-build
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) scripts/test.sh

# The OpenID Foundation's OP test plans module by module (tests/conformance);
# writes tests/conformance/README.md.
conformance: check-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/conformance.sh

bench: check-deps
	@$(MAKE) --no-print-directory all BUILD=build/bench OPT="-O3 -DNDEBUG"
	@BUILD=build/bench bench/run.sh

# C sources under version control (.clang-format says how they look).
FORMAT_SRC = $(shell git ls-files '*.c' '*.h' 2>/dev/null)
format:
	clang-format -i $(FORMAT_SRC)

# Fails, naming the files, when a source is not as `make format` leaves it.
format-check:
	@bad=""; for f in $(FORMAT_SRC); do clang-format --dry-run -Werror "$$f" >/dev/null 2>&1 || bad="$$bad $$f"; done; \
	if [ -n "$$bad" ]; then echo "not clang-format clean (run make format):$$bad"; exit 1; fi

clean:
	rm -rf build

# ---- deployments: container images, the compose stack run for real, hosts
# without containers (docs/deploy.md). Every target of this block is here.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
DATADIR     ?= $(PREFIX)/share/ostiary
SYSCONFDIR  ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR     ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
UNITS       := $(wildcard deploy/systemd/*.service) $(wildcard deploy/systemd/*.target)
.PHONY: image test-deploy install uninstall

# The image (and compose's PostgreSQL image) with podman, on a Debian 12 base
# made once by debootstrap (scripts/image.sh).
image: check-deps
	@scripts/image.sh build

# docker-compose.yml brought up with podman and used (scripts/deploy-test.sh);
# 15 minutes at most, whatever hangs.
test-deploy: check-deps
	@timeout -k 60 900 scripts/deploy-test.sh

# The programs, migrations, flows, message catalogues, hardened systemd units, ostiaryctl's man
# page and bash completion; PREFIX and DESTDIR as usual (make install
# PREFIX=/usr DESTDIR=/tmp/stage). The pages' stylesheet is built into the
# gateway: there are no static files to install.
install: $(BINS) $(CTL_MAN) $(CTL_COMP)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/ostiary \
	  $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	install -m 0644 $(CTL_MAN) $(DESTDIR)$(MANDIR)/man1/ostiaryctl.1
	install -m 0644 $(CTL_COMP) $(DESTDIR)$(BASHCOMPDIR)/ostiaryctl
	cp -R migrations flows locales $(DESTDIR)$(DATADIR)/
	chmod -R u=rwX,go=rX $(DESTDIR)$(DATADIR)
	for u in $(UNITS); do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DATADIR@|$(DATADIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	    $$u > $(DESTDIR)$(UNITDIR)/$$(basename $$u) && chmod 0644 $(DESTDIR)$(UNITDIR)/$$(basename $$u) || exit 1; \
	done
	sed -e 's|@DATADIR@|$(DATADIR)|g' deploy/systemd/ostiary.env > $(DESTDIR)$(SYSCONFDIR)/ostiary/ostiary.env.example
	chmod 0644 $(DESTDIR)$(SYSCONFDIR)/ostiary/ostiary.env.example

uninstall:
	rm -f $(BINS:$(BUILD)/bin/%=$(DESTDIR)$(BINDIR)/%)
	rm -f $(addprefix $(DESTDIR)$(UNITDIR)/,$(notdir $(UNITS)))
	rm -f $(DESTDIR)$(SYSCONFDIR)/ostiary/ostiary.env.example
	rm -f $(DESTDIR)$(MANDIR)/man1/ostiaryctl.1 $(DESTDIR)$(BASHCOMPDIR)/ostiaryctl
	rm -rf $(DESTDIR)$(DATADIR)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
