# guest.mk - the default guest (Debian riscv64 kernel + OpenSBI + own
# initramfs and disk), the bare-metal ISA tests and the benchmarks.
#
# Targets:   guest       $(GUEST_DIR)/{fw_dynamic.bin,Image,initrd.gz,disk.img}
#            isa-tests   $(ISA_TEST_ELFS)   (isa-tests-qemu: run them on QEMU spike)
#            bench       bench/run.sh over the vmx build types and QEMU
# Variables for the test runner:
#   GUEST_DIR      directory holding the assembled guest files
#   GUEST_FILES    the four files above
#   ISA_TEST_ELFS  every built bare-metal test ELF ($(ISA_DIR)/<name>.elf)
# The Debian packages are cached in $${VMX3_CACHE:-$$HOME/.cache/vmx3}; once
# cached, `make guest` needs no network.

GUEST_DIR     := $(B)/guest
GUEST_CC      := riscv64-linux-gnu-gcc
GUEST_CFLAGS  := -static -O2 -std=gnu17 -Wall -Wextra -Werror
GUEST_PROGS   := $(patsubst guest/src/%.c,$(GUEST_DIR)/bin/%,$(wildcard guest/src/*.c))
GUEST_FETCHED := $(GUEST_DIR)/fw_dynamic.bin $(GUEST_DIR)/Image $(GUEST_DIR)/busybox \
                 $(GUEST_DIR)/modules/load.order
GUEST_FILES   := $(GUEST_DIR)/fw_dynamic.bin $(GUEST_DIR)/Image $(GUEST_DIR)/initrd.gz \
                 $(GUEST_DIR)/disk.img

guest: $(GUEST_FILES)

# One script produces all fetched files; kernel.version is its stamp.
$(GUEST_DIR)/kernel.version: guest/fetch-debian.sh
	@echo "  FETCH $(GUEST_DIR)"
	$(Q)guest/fetch-debian.sh $(GUEST_DIR)
$(GUEST_FETCHED): $(GUEST_DIR)/kernel.version
	@test -e $@ || { rm -f $<; echo "missing $@: rerun make guest" >&2; exit 1; }

$(GUEST_DIR)/bin/%: guest/src/%.c
	@mkdir -p $(@D)
	@echo "  CC [guest] $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -o $@ $<

$(GUEST_DIR)/initrd.gz: guest/build-initramfs.sh guest/init $(GUEST_PROGS) \
                        $(GUEST_DIR)/busybox $(GUEST_DIR)/modules/load.order
	$(Q)guest/build-initramfs.sh $(GUEST_DIR)

# Only rebuilt when missing or when the script changes: the workloads write to
# it, and a test that needs a pristine disk should copy it first.
$(GUEST_DIR)/disk.img: guest/build-disk.sh
	@mkdir -p $(@D)
	$(Q)guest/build-disk.sh $@

# --- bare-metal ISA tests ------------------------------------------------------
# Each tests/isa/<name>.c or <name>.S is one test program, linked with the
# common start-up code, trap handler and linker script into $(ISA_DIR)/<name>.elf.
ISA_DIR       := $(B)/isa
ISA_CC        := riscv64-unknown-elf-gcc
ISA_CFLAGS    := -march=rv64gc -mabi=lp64d -mcmodel=medany -static -nostdlib -nostartfiles \
                 -ffreestanding -fno-builtin -fno-tree-loop-distribute-patterns -O2 -g \
                 -Wall -Wextra -Werror -Itests/isa/common -Ttests/isa/common/link.ld \
                 -Wl,--no-warn-rwx-segments
ISA_COMMON    := tests/isa/common/crt0.S tests/isa/common/lib.c tests/isa/common/smp.c
ISA_DEPS      := $(ISA_COMMON) tests/isa/common/link.ld $(wildcard tests/isa/common/*.h)
ISA_NAMES     := $(sort $(basename $(notdir $(wildcard tests/isa/*.c tests/isa/*.S))))
ISA_TEST_ELFS := $(patsubst %,$(ISA_DIR)/%.elf,$(ISA_NAMES))

# Multi-hart tests (tests/smp/<name>.c, docs/GUEST.md): the same harness and
# flags, in $(SMP_DIR) so that tests/isa/run.sh's default list stays the ISA
# tier's; tests/smp/run.sh runs both with 1, 2, 4 and 8 vCPUs.
SMP_DIR       := $(B)/smp
SMP_NAMES     := $(sort $(basename $(notdir $(wildcard tests/smp/*.c))))
SMP_TEST_ELFS := $(patsubst %,$(SMP_DIR)/%.elf,$(SMP_NAMES))
$(SMP_DIR)/%.elf: tests/smp/%.c $(ISA_DEPS)
	@mkdir -p $(@D)
	@echo "  CC [smp] $<"
	$(Q)$(ISA_CC) $(ISA_CFLAGS) -o $@ $(ISA_COMMON) $<

isa-tests: $(ISA_TEST_ELFS) $(SMP_TEST_ELFS)

$(ISA_DIR)/%.elf: tests/isa/%.c $(ISA_DEPS)
	@mkdir -p $(@D)
	@echo "  CC [isa] $<"
	$(Q)$(ISA_CC) $(ISA_CFLAGS) -o $@ $(ISA_COMMON) $<
$(ISA_DIR)/%.elf: tests/isa/%.S $(ISA_DEPS)
	@mkdir -p $(@D)
	@echo "  AS [isa] $<"
	$(Q)$(ISA_CC) $(ISA_CFLAGS) -o $@ $(ISA_COMMON) $<

# Every ISA test under QEMU's spike machine, which understands tohost too;
# proves the tests themselves before they judge vmx.
isa-tests-qemu: $(ISA_TEST_ELFS)
	tests/isa/run.sh --qemu $(ISA_TEST_ELFS)

# The multi-hart tests on QEMU virt with MTTCG, 1, 2, 4 and 8 harts.
smp-tests-qemu: $(SMP_TEST_ELFS)
	tests/smp/run.sh --qemu $(SMP_TEST_ELFS)
.PHONY: smp-tests-qemu

# What the lead's test runner needs from this area.
guest-for-tests: guest isa-tests

# --- benchmarks ------------------------------------------------------------------
# RAM sizes (MiB) for bench/switch.sh, the fast/suspend build-type switch.
SWITCH_SIZES ?= 512 2048 8192
# RAM sizes (MiB) for bench/migrate.sh, live migration against QEMU's.
MIGRATE_SIZES ?= 512 2048
# BENCH_VMX: vmx binaries to compare with QEMU (default: every build type built).
BENCH_VMX ?= $(wildcard $(foreach t,$(BUILDTYPES),$(B)/$(t)/$(BIN_$(t))))
bench: guest bench-overhead $(B)/bench/cpuloop.elf $(B)/bench/smp.elf
	bench/run.sh --guest $(GUEST_DIR) $(BENCH_VMX)
	bench/cpuloop.sh $(B)/bench/cpuloop.elf qemu $(B)/release/vmx $(B)/release/vmx:interp
	bench/smp.sh $(B)/bench/smp.elf $(B)/release/vmx $(B)/release/vmx:1thread
	BENCH_CPUS=2 bench/boot.sh qemu $(B)/release/vmx $(B)/release/vmx:1thread
	bench/ckpt.sh --guest $(GUEST_DIR) $(B)/release/vmx
	bench/switch.sh --guest $(GUEST_DIR) -m "$(SWITCH_SIZES)" $(B)
	bench/migrate.sh --guest $(GUEST_DIR) -m "$(MIGRATE_SIZES)" $(B)

# The CPU loop as a bare-metal program (bench/cpuloop.sh): no kernel in the way.
$(B)/bench/cpuloop.elf: bench/cpuloop/cpuloop.S bench/cpuloop/cpuloop.ld
	@mkdir -p $(@D)
	@echo "  AS [bench] $<"
	$(Q)$(ISA_CC) -march=rv64gc -mabi=lp64d -nostdlib -nostartfiles -static \
		-Wl,--no-warn-rwx-segments -T bench/cpuloop/cpuloop.ld -o $@ $<

# The same loop on 1, 2 and 4 harts at once (bench/smp.sh), built with the
# ISA tests' harness, which starts and counts the harts.
$(B)/bench/smp.elf: bench/smp/smp.c $(ISA_DEPS)
	@mkdir -p $(@D)
	@echo "  CC [bench] $<"
	$(Q)$(ISA_CC) $(ISA_CFLAGS) -o $@ $(ISA_COMMON) $<

# Build-type and knob overheads as side-by-side ratios (docs/BENCHMARKS.md):
# stats vs release (CPU- and I/O-bound), the callstack sampler on vs off,
# beta vs release.
OVERHEAD_ROUNDS ?= 5
bench-overhead: guest $(B)/release/vmx $(B)/stats/vmx-stats $(B)/beta/vmx-debug
	bench/overhead.sh --guest $(GUEST_DIR) -n $(OVERHEAD_ROUNDS) release=$(B)/release/vmx \
		stats=$(B)/stats/vmx-stats stats-nocallstack=$(B)/stats/vmx-stats,monitor.callstack=FALSE \
		beta=$(B)/beta/vmx-debug
.PHONY: bench-overhead
