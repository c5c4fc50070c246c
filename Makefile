# vmx3 top-level Makefile.
#
# One source tree, built out of tree once per build type into build/<type>/.
# The monitor (vmx) is built five ways; host programs (hostd, tools) and the
# shared library are built once into build/host/.  Run `make help` for targets.

include mk/buildtypes.mk

# Every target that builds anything first checks the Debian packages the build
# and tests need (scripts/deps.sh: installs them as root, else prints the one
# apt-get line and stops), so a missing package is named before a compiler
# fails on a missing header.  Sub-makes inherit the result.
NO_DEPS_GOALS := clean help deps fresh-check
ifneq ($(MAKECMDGOALS),)
ifeq ($(filter-out $(NO_DEPS_GOALS),$(MAKECMDGOALS)),)
VMX3_DEPS_CHECKED := 1
endif
endif
ifndef VMX3_DEPS_CHECKED
DEPS_STATUS := $(shell scripts/deps.sh >&2; echo $$?)
ifneq ($(DEPS_STATUS),0)
$(error missing Debian packages (see the apt-get line above))
endif
export VMX3_DEPS_CHECKED := 1
endif

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
B        := build

PKGS     := libfdt
PKG_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation -g \
               -MMD -MP -Isrc $(CFLAGS_EXTRA)
VMX_LIBS := -lfdt -lelf -ljansson -lsodium -lz -lpthread -lm -lrt
# The stats code's extra library: libdw unwinds the profiler's monitor stacks.
VMX_STATS_LIBS := -ldw

VERSION  := $(shell cat VERSION)
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)

# Sources of the monitor.  Stats-only and debug-only code lives in its own
# directories and is linked only into the build types that want it, so a
# release binary does not contain it at all.
VMX_COMMON_SRCS := $(wildcard src/lib/*.c src/mem/*.c src/cpu/*.c src/devices/*.c src/ckpt/*.c \
                   src/board/*.c src/vmx/*.c)
VMX_STATS_SRCS  := $(wildcard src/stats/*.c)
VMX_DEBUG_SRCS  := $(wildcard src/debug/*.c)
VMX_MAIN        := src/vmx/main.c

vmx_srcs = $(VMX_COMMON_SRCS) $(if $(filter 1,$(STATS_$(1))),$(VMX_STATS_SRCS)) \
           $(if $(filter 1,$(DEBUG_$(1))),$(VMX_DEBUG_SRCS))
vmx_objs = $(patsubst src/%.c,$(B)/$(1)/obj/%.o,$(call vmx_srcs,$(1))) $(B)/$(1)/version.o

.PHONY: all help deps vmx-all $(BUILDTYPES) $(EXTRA_BUILDTYPES) install check demo demo-cluster bench fuzz clean guest tests \
        unit-tests isa-tests

all: vmx-all host-progs

help:
	@echo "make            build all five vmx build types and the host programs"
	@echo "make check      install dependencies, build, run every test tier"
	@echo "make demo       install dependencies, build, run the demo"
	@echo "make demo-stop  end the hostd and VM a demo run from a terminal left running for the web interface"
	@echo "make demo-cluster  etcd, three hostd and two vmx3-center: switch, live and cold migration, failover"
	@echo "make bench      benchmarks (figures go to docs/BENCHMARKS.md by hand)"
	@echo "make fuzz       run each fuzz target for FUZZ_SECONDS (default 60)"
	@echo "make soak-smp-linux  the smp guest workload, long, every vCPU count and build type"
	@echo "make kill-matrix-migrate  live migration with every party killed at every phase (long)"
	@echo "make install PREFIX=DIR [INSTALL_INTERNAL=1]"

deps:
	$(Q)scripts/deps.sh

vmx-all: $(BUILDTYPES)

# --- per build type rules ---------------------------------------------------
define BUILDTYPE_RULES
$(1): $(B)/$(1)/$(BIN_$(1))

$(B)/$(1)/obj/%.o: src/%.c
	@mkdir -p $$(@D)
	@echo "  CC [$(1)] $$<"
	$(Q)$(or $(CC_$(1)),$(CC)) $(BASE_CFLAGS) $(FLAGS_$(1)) -DVMX_BUILDTYPE_NAME='"$(1)"' -c $$< -o $$@

$(B)/$(1)/version.c: FORCE
	@mkdir -p $$(@D)
	$(Q)printf '/* generated */\nconst char vmx_version[] = "%s";\nconst char vmx_revision[] = "%s";\n' \
	    '$(VERSION)' '$(REVISION)' > $$@.tmp
	$(Q)cmp -s $$@.tmp $$@ && rm -f $$@.tmp || mv $$@.tmp $$@

$(B)/$(1)/version.o: $(B)/$(1)/version.c
	$(Q)$(or $(CC_$(1)),$(CC)) $(BASE_CFLAGS) $(FLAGS_$(1)) -c $$< -o $$@

# Everything but main: what unit tests and fuzz targets link against.
$(B)/$(1)/libvmx.a: $(filter-out $(B)/$(1)/obj/vmx/main.o,$(call vmx_objs,$(1)))
	$(Q)rm -f $$@ && ar rcs $$@ $$^

$(B)/$(1)/$(BIN_$(1)): $(B)/$(1)/obj/vmx/main.o $(B)/$(1)/libvmx.a
	@echo "  LD [$(1)] $$@"
	$(Q)$(or $(CC_$(1)),$(CC)) $(LDFLAGS_$(1)) -o $$@ $$^ $(VMX_LIBS) $(if $(filter 1,$(STATS_$(1))),$(VMX_STATS_LIBS))

-include $(patsubst %.o,%.d,$(call vmx_objs,$(1)))
endef
$(foreach t,$(BUILDTYPES) $(EXTRA_BUILDTYPES),$(eval $(call BUILDTYPE_RULES,$(t))))

FORCE:

# --- host programs (hostd, CLI tools) -------------------------------------------
HOST_PROGS :=
-include mk/host.mk
-include mk/hostd.mk
-include mk/center.mk
-include mk/stats.mk
-include mk/callstack.mk

host-progs: $(HOST_PROGS)

# --- tests -----------------------------------------------------------------------
-include mk/tests.mk
-include mk/guest.mk

# --- install ---------------------------------------------------------------------
INSTALL_TYPES := $(SHIPPED_BUILDTYPES) $(if $(filter 1,$(INSTALL_INTERNAL)),opt obj)
install: $(foreach t,$(INSTALL_TYPES),$(B)/$(t)/$(BIN_$(t))) $(HOST_PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin
	$(foreach t,$(INSTALL_TYPES),install -m 0755 $(B)/$(t)/$(BIN_$(t)) $(DESTDIR)$(PREFIX)/bin/$(BIN_$(t));)
	$(if $(HOST_PROGS),install -m 0755 $(HOST_PROGS) $(DESTDIR)$(PREFIX)/bin/)

clean:
	rm -rf $(B)

# --- demo --------------------------------------------------------------------------
demo:
	$(MAKE) -j2 all guest
	B=$(B) scripts/demo.sh

# Several hosts: etcd, three hostd and two vmx3-center on loopback (docs/CENTER.md).
demo-cluster:
	$(MAKE) -j2 all guest
	B=$(B) scripts/demo-cluster.sh
