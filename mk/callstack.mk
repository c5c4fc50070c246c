# callstack.mk - the callstack profiler's host program (vmx-callstack, the
# viewer) and its test guests.  Collection itself is src/stats/cs_*.c, linked
# by the main Makefile into the stats/opt/obj builds.

CS_TOOL_OBJS := $(patsubst src/%.c,$(B)/host/%.o,$(wildcard src/cstools/*.c))

# vmx-callstack: views and exports a profile written by a stats build.
$(B)/host/vmx-callstack: $(CS_TOOL_OBJS) $(B)/host/libvmx3host.a
	@echo "  LD [host] $@"
	$(Q)$(CC) -o $@ $^ -lncurses -lelf -ljansson -lz -lpthread

HOST_PROGS += $(B)/host/vmx-callstack

# Bare-metal test guests with frame pointers: $(B)/isa/cs-<name>.elf.
CS_GUEST_CFLAGS = $(filter-out -O2,$(ISA_CFLAGS)) -O1 -fno-omit-frame-pointer -fno-inline \
                   -fno-optimize-sibling-calls
$(B)/isa/cs-%.elf: tests/callstack/guest/%.c tests/isa/common/crt0.S tests/isa/common/lib.c tests/isa/common/link.ld tests/isa/common/test.h
	@mkdir -p $(@D)
	@echo "  CC [isa] $<"
	$(Q)$(ISA_CC) $(CS_GUEST_CFLAGS) $(CS_GUEST_DEFS) -o $@ $(ISA_COMMON) $<

callstack-test-guests: $(B)/isa/cs-shares.elf $(B)/isa/cs-stacks.elf
.PHONY: callstack-test-guests

# A short run of the same guest, for the obj build's slow-path test.
$(B)/isa/cs-shares-short.elf: tests/callstack/guest/shares.c tests/isa/common/crt0.S tests/isa/common/lib.c tests/isa/common/link.ld tests/isa/common/test.h
	@mkdir -p $(@D)
	@echo "  CC [isa] $<"
	$(Q)$(ISA_CC) $(CS_GUEST_CFLAGS) -DCS_ROUNDS=100 -o $@ $(ISA_COMMON) $<
callstack-test-guests: $(B)/isa/cs-shares-short.elf

# The same guest for as long as a test needs it (the web interface's browser
# test profiles a VM that keeps running), outside $(B)/isa: every ELF there is an
# ISA test that must end.
$(B)/callstack/cs-shares-long.elf: tests/callstack/guest/shares.c tests/isa/common/crt0.S tests/isa/common/lib.c tests/isa/common/link.ld tests/isa/common/test.h
	@mkdir -p $(@D)
	@echo "  CC [isa] $<"
	$(Q)$(ISA_CC) $(CS_GUEST_CFLAGS) -DCS_ROUNDS=1000000000 -o $@ $(ISA_COMMON) $<
callstack-test-guests: $(B)/callstack/cs-shares-long.elf

# Sampling on versus off on the default guest's CPU workload (figures go to
# docs/BENCHMARKS.md by hand).  CS_BENCH_RUNS pairs of runs.
CS_BENCH_RUNS ?= 5
bench-callstack: $(B)/stats/vmx-stats $(B)/guest/fw_dynamic.bin $(B)/guest/Image $(B)/guest/initrd.gz $(B)/guest/disk.img
	tests/callstack/bench.sh $(B) $(CS_BENCH_RUNS)
bench: bench-callstack
.PHONY: bench-callstack

# The profile parser's fuzz target links the viewer's sources and jansson.
$(B)/fuzz/fuzz_cs_profile: fuzz/fuzz_cs_profile.c src/cstools/csp.c src/cstools/csp_export.c $(wildcard src/lib/*.c) $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
	    -o $@ fuzz/fuzz_cs_profile.c src/cstools/csp.c src/cstools/csp_export.c \
	    $(wildcard src/lib/*.c) $(B)/release/version.c -lpthread -ljansson -lz

# The guest kernel's symbols from its Image (src/stats/cs_kallsyms.c): the
# host-side driver of tests/integration/callstack_kallsyms.sh, and the fuzz
# target of the decoder (the tables are parsed from an arbitrary file).
$(B)/stats/tests/ksymdump: tests/callstack/ksymdump.c $(B)/stats/libvmx.a
	@mkdir -p $(@D)
	@echo "  LD [stats] $@"
	$(Q)$(CC) $(BASE_CFLAGS) $(FLAGS_stats) -o $@ $< $(B)/stats/libvmx.a $(LDFLAGS_stats) $(VMX_LIBS) $(VMX_STATS_LIBS)

$(B)/fuzz/fuzz_cs_kallsyms: fuzz/fuzz_cs_kallsyms.c src/stats/cs_kallsyms.c src/stats/cs_sym.c $(wildcard src/lib/*.c) $(B)/release/version.c
	@mkdir -p $(@D)
	$(Q)clang -std=c17 -D_GNU_SOURCE -g -O1 -Isrc -fsanitize=fuzzer,address,undefined \
	    -o $@ fuzz/fuzz_cs_kallsyms.c src/stats/cs_kallsyms.c src/stats/cs_sym.c \
	    $(wildcard src/lib/*.c) $(B)/release/version.c -lpthread -lelf -lz
