#!/usr/bin/env bash
# jit_diffmode.sh - the translator's differential mode (monitor.debugJitDiff,
# opt build): the default guest boots with 2 vCPUs and runs the disk and CPU
# workloads while sampled translated blocks are run again by the interpreter
# from the same state; every comparison must agree (a difference stops the
# vmx with exit 70), and the log must show that blocks were compared at all.
# The release build ignores the knob.
set -u
B=${B:-build}
B=$(cd "$B" && pwd)
G="$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkvm() { # dir
  mkdir -p "$1"
  cp "$G/disk.img" "$1/disk.img"
  cat >"$1/diff.vmx" <<VMX
memSize = "256"
numvcpus = "2"
monitor.debugJitDiff = "TRUE"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=disk,cpu vmx3.cpu_iters=2000000"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
}

mkvm "$tmp/opt"
(cd "$tmp/opt" && timeout 600 "$B/opt/vmx-opt" --quiet diff.vmx >out.txt 2>err.txt); rc=$?
check jit-diffmode-opt-exit-0 test "$rc" -eq 0
check jit-diffmode-guest-done grep -q "VMX3-MARKER: done ok" "$tmp/opt/console.log"
check jit-diffmode-no-report test -z "$(ls "$tmp/opt" | grep vmx-crash)"
n=$(sed -n 's/.*differential mode: \([0-9]*\) translated blocks checked.*/\1/p' "$tmp/opt/vmx.log" |
    awk '{ s += $1 } END { print s + 0 }')
echo "differential mode: $n translated blocks compared with the interpreter"
check jit-diffmode-compared-blocks test "$n" -ge 1000

mkvm "$tmp/rel"
(cd "$tmp/rel" && timeout 600 "$B/release/vmx" --quiet diff.vmx >out.txt 2>err.txt); rc=$?
check jit-diffmode-release-ignores-knob test "$rc" -eq 0
check jit-diffmode-release-no-count test -z "$(grep 'differential mode' "$tmp/rel/vmx.log")"
