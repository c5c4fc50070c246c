# stats.mk - the stats report tools (host programs reading ustats files) and
# the small test programs of the stats/beta infrastructure, built against each
# build type's libvmx.a.

USTATS_READ_OBJ := $(B)/host/stats/ustats_read.o

# vmx-getstats: counters and lock statistics of a ustats file.
$(B)/host/vmx-getstats: $(B)/host/stattools/getstats.o $(USTATS_READ_OBJ) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ -lz -lpthread

# vmx-kstats: where the time went, by kstat, flat and nested.
$(B)/host/vmx-kstats: $(B)/host/stattools/kstats.o $(USTATS_READ_OBJ) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ -lz -lpthread

HOST_PROGS += $(B)/host/vmx-getstats $(B)/host/vmx-kstats

# Test programs: tests/stats/<name>.c linked against a build type's library,
# as $(B)/<type>/tests/<name>.  Integration scripts (tests/integration/stats_*.sh)
# build the ones they need with `make B=... <path>`.
STATS_TEST_PROGS := $(patsubst tests/stats/%.c,%,$(wildcard tests/stats/*.c))
define STATS_TEST_RULES
$(B)/$(1)/tests/%: tests/stats/%.c $(B)/$(1)/libvmx.a
	@mkdir -p $$(@D)
	@echo "  LD [$(1)] $$@"
	$(Q)$(CC) $(BASE_CFLAGS) $(FLAGS_$(1)) -o $$@ $$< $(B)/$(1)/libvmx.a $(LDFLAGS_$(1)) $(VMX_LIBS) $(if $(filter 1,$(STATS_$(1))),$(VMX_STATS_LIBS))
endef
$(foreach t,$(BUILDTYPES),$(eval $(call STATS_TEST_RULES,$(t))))

stats-test-progs: $(foreach t,$(BUILDTYPES),$(foreach p,$(STATS_TEST_PROGS),$(B)/$(t)/tests/$(p)))
.PHONY: stats-test-progs

# The ustats fuzz target also needs the reader and zlib; this explicit rule
# takes precedence over the generic fuzz pattern rule in mk/tests.mk.
$(B)/fuzz/fuzz_ustats: fuzz/fuzz_ustats.c src/stats/ustats_read.c $(wildcard src/lib/*.c) $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
	    -o $@ fuzz/fuzz_ustats.c src/stats/ustats_read.c $(wildcard src/lib/*.c) \
	    $(B)/release/version.c -lpthread -ljansson -lz

# Crafted bare-metal guests of the stats tests (same toolchain and harness as
# the ISA tests in mk/guest.mk): $(B)/isa/stats-<name>.elf.
STATS_GUEST_DEPS := tests/isa/common/crt0.S tests/isa/common/lib.c tests/isa/common/link.ld \
                    tests/isa/common/test.h tests/isa/common/test_asm.h
$(B)/isa/stats-%.elf: tests/stats/guest/%.c $(STATS_GUEST_DEPS)
	@mkdir -p $(@D)
	@echo "  CC [isa] $<"
	$(Q)$(ISA_CC) $(ISA_CFLAGS) -o $@ $(ISA_COMMON) $<
