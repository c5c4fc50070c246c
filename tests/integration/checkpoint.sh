#!/usr/bin/env bash
# checkpoint.sh - suspend and resume across build types with a real guest:
# a counter printing every 100 ms keeps counting without restarting through
# release -> beta -> stats, the file it wrote before the first suspend is
# intact at the end; a damaged checkpoint is refused with the section named
# and left in place; a suspend onto a full disk fails and the VM runs on.
set -u
B=${B:-build}
G="$PWD/$B/guest"
CTL="$B/host/vmx-ctl"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp=$(mktemp -d)
cleanup() { kill $(jobs -p) 2>/dev/null; umount "$tmp/full" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

mkvm() { # dir cmdline
  mkdir -p "$1"
  [ -e "$tmp/disk-$(basename "$1").img" ] || cp "$G/disk.img" "$tmp/disk-$(basename "$1").img"
  cat >"$1/$(basename "$1").vmx" <<VMX
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 $2"
disk0.fileName = "$tmp/disk-$(basename "$1").img"
serial0.fileName = "console.log"
VMX
}

last_count() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$1" | tail -1; }
wait_count() { # console n timeout_s
  local i
  for i in $(seq 1 $(($3 * 10))); do
    [ "$(last_count "$1")" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
suspend_vm() { # vmdir pid -> exit status of vmx
  "$CTL" "$1" suspend >/dev/null || return 99
  wait "$2"
}

vm="$tmp/cont"
mkvm "$vm" "vmx3.run=diskfs,counter,diskcheck vmx3.counter=60"
"$B/release/vmx" "$vm/cont.vmx" >"$vm/out1" 2>&1 &
pid=$!
check cont-counting-release wait_count "$vm/console.log" 10 120
suspend_vm "$vm" $pid; rc=$?
check cont-suspend-exit3 test $rc -eq 3
check cont-vmss-written test -s "$vm/cont.vmss"
check cont-vmstate-key grep -q '^checkpoint.vmState = "cont.vmss"$' "$vm/cont.vmx"
n1=$(last_count "$vm/console.log")

"$B/beta/vmx-debug" "$vm/cont.vmx" >"$vm/out2" 2>&1 &
pid=$!
check cont-counting-beta wait_count "$vm/console.log" $((n1 + 10)) 120
check cont-resume-logged grep -q 'resume: .*cont.vmss written by vmx .* (release build)' "$vm/vmx.log"
check cont-log1-beta grep -q 'buildType=beta ' <(head -1 "$vm/vmx.log")
suspend_vm "$vm" $pid; rc=$?
check cont-suspend2-exit3 test $rc -eq 3
n2=$(last_count "$vm/console.log")

timeout 300 "$B/stats/vmx-stats" "$vm/cont.vmx" >"$vm/out3" 2>&1; rc=$?
check cont-final-exit0 test $rc -eq 0
check cont-done-ok grep -q 'VMX3-MARKER: done ok' "$vm/console.log"
check cont-one-boot test "$(grep -c 'VMX3-MARKER: init' "$vm/console.log")" -eq 1
seq_ok() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$vm/console.log" | awk 'NR != $1 {exit 1} END {exit NR != 60}'; }
check cont-counter-1-to-60-no-restart seq_ok
mono_ok() { sed -n 's/^VMX3 counter n=[0-9]* mono_ms=\([0-9]*\) .*/\1/p' "$vm/console.log" | awk 'prev > $1 {exit 1} {prev = $1}'; }
check cont-guest-clock-monotonic mono_ok
check cont-counted-across-both test "$n1" -lt "$n2" -a "$n2" -lt 60
check cont-vmss-removed test ! -e "$vm/cont.vmss"
check cont-key-removed test -z "$(grep checkpoint.vmState "$vm/cont.vmx")"
check cont-three-logs test -f "$vm/vmx-1.log" -a -f "$vm/vmx-0.log"

# A damaged checkpoint: refused, section named, file and key left in place.
vm="$tmp/dmg"
mkvm "$vm" "vmx3.run=counter vmx3.counter=0"
"$B/release/vmx" "$vm/dmg.vmx" >/dev/null 2>&1 &
pid=$!
wait_count "$vm/console.log" 3 120
suspend_vm "$vm" $pid; rc=$?
check dmg-suspended test $rc -eq 3
cp "$vm/dmg.vmss" "$tmp/good.vmss"
printf '\xff' | dd of="$vm/dmg.vmss" bs=1 seek=200 conv=notrunc 2>/dev/null
"$B/release/vmx" "$vm/dmg.vmx" >"$tmp/o" 2>&1; rc=$?
check dmg-refused test $rc -ne 0 -a $rc -ne 3
check dmg-section-named grep -q 'section "[a-z0-9.-]*": checksum mismatch' "$tmp/o"
check dmg-file-kept cmp -s <(wc -c <"$vm/dmg.vmss") <(wc -c <"$tmp/good.vmss")
check dmg-key-kept grep -q checkpoint.vmState "$vm/dmg.vmx"
head -c 5000 "$tmp/good.vmss" >"$vm/dmg.vmss"
"$B/beta/vmx-debug" "$vm/dmg.vmx" >"$tmp/o" 2>&1; rc=$?
check trunc-refused test $rc -ne 0 -a -n "$(grep -E 'truncated|bad extent' "$tmp/o")"
cp "$tmp/good.vmss" "$vm/dmg.vmss"
"$B/stats/vmx-stats" "$vm/dmg.vmx" >/dev/null 2>&1 &
pid=$!
check dmg-good-copy-resumes wait_count "$vm/console.log" 8 120
"$CTL" "$vm" poweroff >/dev/null; wait $pid

# A full disk during suspend: the suspend fails and the guest keeps running.
vm="$tmp/full"
mkdir -p "$vm"
if mount -t tmpfs -o size=2m tmpfs "$vm" 2>/dev/null; then
  mkvm "$vm" "vmx3.run=counter vmx3.counter=0"
  "$B/release/vmx" "$vm/full.vmx" >/dev/null 2>&1 &
  pid=$!
  wait_count "$vm/console.log" 3 120
  "$CTL" "$vm" suspend >/dev/null
  for _ in $(seq 1 100); do
    st=$("$CTL" "$vm" suspendStatus 2>/dev/null)
    grep -q '"state": "failed"' <<<"$st" && break
    sleep 0.1
  done
  check full-suspend-failed grep -q '"state": "failed"' <<<"$st"
  check full-error-says-space grep -qi 'space' <<<"$st"
  n=$(last_count "$vm/console.log")
  check full-guest-keeps-running wait_count "$vm/console.log" $((n + 5)) 60
  check full-no-vmss test ! -e "$vm/full.vmss"
  check full-no-tmp test -z "$(ls "$vm" | grep tmp)"
  "$CTL" "$vm" poweroff >/dev/null; wait $pid
  check full-poweroff-after test $? -eq 0
else
  echo "SKIP full-disk (cannot mount a tmpfs here)"
fi
