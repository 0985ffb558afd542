# Ostiary build. `make` builds every binary; see README.md for run/test.
# Sources are found by wildcard so that adding a file never needs an edit here.

SANITIZE ?= 0
OPT      ?= -O2
CC       ?= gcc
ifeq ($(SANITIZE),1)
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
LIBS     := -lczmq -lzmq -lmsgpackc -ljansson -lpq -lssl -lcrypto -lpthread
GW_LIBS  := -lcivetweb -lqrencode
FLOW_LIBS:= -largon2 -lcurl
TEST_LIBS:= -lcmocka

COMMON_SRC := $(wildcard common/*.c)
COMMON_OBJ := $(COMMON_SRC:%.c=$(BUILD)/obj/%.o)
LIBCOMMON  := $(BUILD)/libostiary.a

SERVICES   := gateway token-svc flow-svc keys-svc
BINS       := $(SERVICES:%=$(BUILD)/bin/%) $(BUILD)/bin/ostiaryctl
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run test unit e2e clean format bench check-deps
# Keep object files of the test programs (make would delete them as intermediates).
.SECONDARY:
all: $(BINS) $(UNIT_BINS)

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

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCOMMON) $(TEST_LIBS) $(LIBS)

# Installs what is missing from Debian's archive (see scripts/deps.sh).
deps:
	@scripts/deps.sh install

check-deps:
	@scripts/deps.sh check || scripts/deps.sh install

run: check-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) scripts/run.sh

test: check-deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) SANITIZE=$(SANITIZE) scripts/test.sh

bench: check-deps
	@$(MAKE) --no-print-directory all BUILD=build/bench OPT="-O3 -DNDEBUG"
	@BUILD=build/bench bench/run.sh

format:
	clang-format -i $(wildcard */*.c */*.h)

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

# The programs, migrations, flows and hardened systemd units; PREFIX and
# DESTDIR as usual (make install PREFIX=/usr DESTDIR=/tmp/stage).
install: $(BINS)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(DATADIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/ostiary
	install -m 0755 $(BINS) $(DESTDIR)$(BINDIR)/
	cp -R migrations flows $(DESTDIR)$(DATADIR)/
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
	rm -rf $(DESTDIR)$(DATADIR)

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
