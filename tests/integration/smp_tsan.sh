#!/usr/bin/env bash
# smp_tsan.sh - the monitor's own threads under ThreadSanitizer: the tsan
# build (make tsan: the obj build's checks, clang's -fsanitize=thread) boots
# the default guest with 2 vCPUs, each on its own thread, and runs the `smp`
# workload (atomics, LR/SC, locks, message passing, cross-modifying code on
# both vCPUs at once), then the bare-metal SMP tests with 2 and 4 vCPUs.
# Every run must end as it should and print no ThreadSanitizer report.
#
# The guest's own races on guest RAM are not the monitor's: the CPU reaches
# guest RAM through ram_guest_load/store, which TSan does not instrument
# (docs/CPU.md).  There are no suppressions.
set -u
B=${B:-build}
B=$(cd "$B" && pwd)
G="$B/guest"
TSAN="$B/tsan/vmx-tsan"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

[ -x "$TSAN" ] || { bad tsan-binary "$TSAN missing: make tsan"; exit 1; }
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
# A report must not stop the run: every report of a run is counted.
export TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1"

no_reports() { ! grep -q 'WARNING: ThreadSanitizer' "$1"; }

# Linux, 2 vCPUs, the smp workload with few iterations (TSan is ~10x slower).
vm="$tmp/linux"
mkdir -p "$vm"
cp --sparse=always "$G/disk.img" "$vm/disk.img"
cat >"$vm/vm.vmx" <<VMX
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 panic=-1 vmx3.run=smp vmx3.smp_iters=2000"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
(cd "$vm" && timeout 900 "$TSAN" vm.vmx >"$vm/out" 2>&1); rc=$?
check tsan-linux-exit0 test $rc -eq 0
check tsan-linux-2cpus grep -q 'smp: Brought up 1 node, 2 CPUs' "$vm/console.log"
check tsan-linux-smp-ok grep -q '^VMX3 smp threads=2 .* ok' "$vm/console.log"
check tsan-linux-done grep -q 'VMX3-MARKER: done ok' "$vm/console.log"
check tsan-linux-no-reports no_reports "$vm/out"
if [ $rc -ne 0 ] || ! no_reports "$vm/out"; then
  grep -a 'PANIC\|check:' "$vm/out" | head -5
  grep -A20 'WARNING: ThreadSanitizer' "$vm/out" | head -60
  tail -n 5 "$vm/console.log"
fi

# Bare-metal SMP tests: every hart busy at once, no kernel in between.
smp_elfs=$(ls "$B"/smp/*.elf 2>/dev/null)
if [ -z "$smp_elfs" ]; then
  bad tsan-baremetal "no ELFs in $B/smp (make isa-tests)"
else
  for n in 2 4; do
    for elf in $smp_elfs; do
      name=$(basename "$elf" .elf)
      d="$tmp/bm-$name-$n"
      mkdir -p "$d"
      printf 'guest.elf = "%s"\nnumvcpus = "%s"\n' "$elf" "$n" >"$d/vm.vmx"
      (cd "$d" && timeout 300 "$TSAN" vm.vmx </dev/null >"$d/out" 2>&1); rc=$?
      check "tsan-$name-${n}vcpus" test $rc -eq 0
      check "tsan-$name-${n}vcpus-no-reports" no_reports "$d/out"
      [ $rc -eq 0 ] || grep -a 'PANIC\|check:' "$d/out" | head -5
      no_reports "$d/out" || grep -A20 'WARNING: ThreadSanitizer' "$d/out" | head -40
    done
  done
fi
