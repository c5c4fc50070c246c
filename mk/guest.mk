# guest.mk - the default guest (Debian riscv64 kernel + OpenSBI + own
# initramfs and disk), the bare-metal ISA tests and the benchmarks.
#
# Targets:   guest       $(GUEST_DIR)/{fw_dynamic.bin,Image,initrd.gz,disk.img}
#            isa-tests   $(ISA_TEST_ELFS)
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
-include tests/isa/isa.mk

# --- benchmarks ------------------------------------------------------------------
# BENCH_VMX: vmx binaries to compare with QEMU (default: every build type built).
BENCH_VMX ?= $(wildcard $(foreach t,$(BUILDTYPES),$(B)/$(t)/$(BIN_$(t))))
bench: guest
	bench/run.sh --guest $(GUEST_DIR) $(BENCH_VMX)
