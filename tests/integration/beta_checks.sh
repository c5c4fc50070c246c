#!/usr/bin/env bash
# beta_checks.sh - the beta build's invariant checks (docs/STATS.md, "Invariant
# checks") on the default Linux guest (2 vCPUs, deterministic, disk workload):
#  - each kind of check, broken on purpose with the test knob
#    monitor.debugTestCorrupt (opt/obj builds only), stops the VM with exit 70
#    and a crash report in the VM directory naming that check: obj (ASan) for
#    the kinds that fire within the first few hundred million instructions,
#    opt for virtio and plic, which need Linux to drive the disk and take the
#    console interrupt (some 2e9 instructions, too slow under ASan);
#  - release with the same .vmx file runs to the instruction budget, no report;
#  - beta runs the default guest with every check on (and the knob ignored:
#    VMX_DEVEL is 0 there) to the budget, disk I/O done, no report, with the
#    same state hash as release;
#  - opt refuses a knob value it does not know, naming the key.
set -u
B=${B:-build}
G="$PWD/$B/guest"
N=${BETA_CHECKS_N:-2600000000}
SHORT=400000000
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

for f in release/vmx beta/vmx-debug opt/vmx-opt obj/vmx-obj; do
  if [ ! -x "$B/$f" ]; then bad "beta-checks-binaries ($B/$f missing)"; exit 0; fi
done
if [ ! -e "$G/Image" ] || [ ! -e "$G/disk.img" ]; then
  bad "beta-checks-guest (make B=$B guest-for-tests)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkvm() { # dir knob-value
  rm -rf "$1"; mkdir -p "$1"
  cp "$G/disk.img" "$1/disk.img"
  cat >"$1/det.vmx" <<VMX
memSize = "256"
numvcpus = "2"
monitor.deterministic = "TRUE"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=diskraw,counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
monitor.debugTestCorrupt = "$2"
VMX
}

# kind:build that runs it
for kb in tlb-fill:obj tlb-flush:obj decode-cache:obj jit-link:obj clint:obj uart:obj irq-lines:obj \
          virtio:opt plic:opt; do
  k=${kb%%:*} t=${kb#*:}
  d="$tmp/$k"
  mkvm "$d" "$k"
  (cd "$d" && timeout 300 "$OLDPWD/$B/$t/vmx-$t" --quiet --until-insns "$N" det.vmx \
     >out.txt 2>err.txt); rc=$?
  check "beta-check-$k-$t-exit-70" test "$rc" -eq 70
  check "beta-check-$k-stderr-names-check" grep -q "PANIC .*: $k check: " "$d/err.txt"
  rep=$(ls "$d"/vmx-crash-*.txt 2>/dev/null | head -1)
  check "beta-check-$k-report" test -n "$rep"
  rep=${rep:-/dev/null}
  check "beta-check-$k-report-message" grep -Eq "^message: src/[a-z/_]+\.[ch]:[0-9]+: $k check: .+" "$rep"
  check "beta-check-$k-report-backtrace" grep -Eq '^  #[0-9]+ +0x[0-9a-f]+ dbg_fail\+' "$rep"
  check "beta-check-$k-report-vcpus" test "$(grep -c '^hart ' "$rep")" -ge 2
  check "beta-check-$k-report-log-tail" grep -q 'board: 2 hart(s)' "$rep"
  check "beta-check-$k-log-names-report" grep -q 'crash report: .*vmx-crash-' "$d/vmx.log"
  # Release ignores the knob: the same file runs on (the slow kinds are run to N below).
  if [ "$t" = obj ]; then
    rm -f "$d"/vmx-crash-*.txt; cp "$G/disk.img" "$d/disk.img"
    (cd "$d" && timeout 300 "$OLDPWD/$B/release/vmx" --quiet --until-insns "$SHORT" det.vmx \
       >/dev/null 2>&1); rc=$?
    check "beta-check-$k-release-runs" test "$rc" -eq 0
    check "beta-check-$k-release-no-report" test -z "$(ls "$d" | grep vmx-crash)"
  fi
done

# Checkpoint: beta reads back what a suspend wrote; the knob makes the file
# disagree with the stopped VM.  Release writes its (equally wrong) file and exits 3.
d="$tmp/checkpoint"
mkvm "$d" checkpoint
(cd "$d" && timeout 300 "$OLDPWD/$B/obj/vmx-obj" --quiet --until-insns 50000000 --suspend det.vmx \
   >out.txt 2>err.txt); rc=$?
check beta-check-checkpoint-obj-exit-70 test "$rc" -eq 70
check beta-check-checkpoint-names-field grep -q 'checkpoint check: section "cpu.0" field pc differs from hart 0' "$d/err.txt"
check beta-check-checkpoint-report test -n "$(ls "$d"/vmx-crash-*.txt 2>/dev/null)"
rm -f "$d"/vmx-crash-*.txt "$d"/det.vmss
(cd "$d" && timeout 300 "$OLDPWD/$B/release/vmx" --quiet --until-insns 50000000 --suspend det.vmx \
   >/dev/null 2>&1); rc=$?
check beta-check-checkpoint-release-suspends test "$rc" -eq 3 -a -s "$d/det.vmss"
# Without the knob the read-back passes: beta suspends normally.
mkvm "$d" ""
(cd "$d" && timeout 300 "$OLDPWD/$B/beta/vmx-debug" --quiet --until-insns 300000000 --suspend det.vmx \
   >/dev/null 2>"$d/err.txt"); rc=$?
check beta-check-checkpoint-beta-suspends test "$rc" -eq 3 -a -s "$d/det.vmss" -a -z "$(ls "$d" | grep vmx-crash)"

# The slow kinds' files in release, and in beta with every check on, to N:
# disk I/O done, no report, and beta's state hash equals release's.
for tk in release:virtio release:plic beta:virtio; do
  t=${tk%%:*} k=${tk#*:}
  d="$tmp/full-$t-$k"
  mkvm "$d" "$k"
  bin=$B/release/vmx; [ $t = beta ] && bin=$B/beta/vmx-debug
  (cd "$d" && timeout 600 "$OLDPWD/$bin" --quiet --until-insns "$N" --hash det.vmx \
     >hash.txt 2>err.txt); rc=$?
  check "beta-checks-$t-$k-runs-to-N" test "$rc" -eq 0 -a -s "$d/hash.txt"
  check "beta-checks-$t-$k-disk-io" grep -q 'VMX3 bench disk raw .* ok' "$d/console.log"
  check "beta-checks-$t-$k-no-report" test -z "$(ls "$d" | grep vmx-crash)"
done
check beta-checks-beta-hash-equals-release \
  cmp -s "$tmp/full-release-virtio/hash.txt" "$tmp/full-beta-virtio/hash.txt"

# An unknown knob value is a configuration error in opt.
mkvm "$tmp/bad" no-such-check
(cd "$tmp/bad" && timeout 60 "$OLDPWD/$B/opt/vmx-opt" --quiet --until-insns 1000 det.vmx >/dev/null 2>&1); rc=$?
check beta-checks-bad-knob-exit-1 test "$rc" -eq 1
check beta-checks-bad-knob-names-key grep -q "det.vmx:10: key 'monitor.debugTestCorrupt': \"no-such-check\" is not one of" "$tmp/bad/vmx.log"
