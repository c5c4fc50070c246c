#!/usr/bin/env bash
# vmxlog.sh - vmx's handling of its configuration and log: line 1 of vmx.log,
# rotation across runs, errors naming file:line:key, clear errors for a bad
# build type and missing guest files, and usage errors.
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vm="$tmp/vm1"
mkdir -p "$vm"
cat >"$vm/vm1.vmx" <<'VMX'
# a VM whose kernel is missing: vmx starts, logs, and fails clearly
memSize = "64"
guest.firmware = "nofw.bin"
guest.kernel = "nokernel"
log.keepOld = "2"
VMX
for i in 1 2 3 4; do "$B/stats/vmx-stats" "$vm/vm1.vmx" >"$tmp/out$i" 2>&1; echo $? >"$tmp/rc$i"; done
check missing-file-exit-nonzero test "$(cat "$tmp/rc1")" -ne 0
check missing-file-named grep -q 'nofw.bin\|nokernel' "$tmp/out1"
line1=$(head -1 "$vm/vmx.log")
check log-line1-form grep -Eq '^Log for vmx3 pid=[0-9]+ version=[0-9.]+ build=[0-9a-f]+(-dirty)? buildType=stats hostKernel=[^ ]+$' <<<"$line1"
check log-line1-hostkernel grep -q "hostKernel=$(uname -r)\$" <<<"$line1"
check log-error-in-log grep -q 'nofw.bin\|nokernel' "$vm/vmx.log"
check log-rotation-count test -f "$vm/vmx-0.log" -a -f "$vm/vmx-1.log" -a ! -e "$vm/vmx-2.log"
p0=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p;q' "$vm/vmx.log")
p1=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p;q' "$vm/vmx-0.log")
p2=$(sed -n 's/.*pid=\([0-9]*\).*/\1/p;q' "$vm/vmx-1.log")
check log-rotation-order test "$p0" -ne "$p1" -a "$p1" -ne "$p2"
check log-line2-form grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z [a-z0-9-]+ [EWIVD] ' <(sed -n 2p "$vm/vmx.log")

printf 'memSize = "64"\nnumvcpus = 2\n' >"$vm/bad.vmx"
"$B/release/vmx" "$vm/bad.vmx" >"$tmp/o" 2>&1; rc=$?
check syntax-error-exit test $rc -eq 1
check syntax-error-file-line-key grep -q "bad.vmx:2: key 'numvcpus'" "$tmp/o"

printf 'vmx.buildType = "turbo"\n' >"$vm/bt.vmx"
"$B/release/vmx" "$vm/bt.vmx" >"$tmp/o" 2>&1; rc=$?
check bad-buildtype-error grep -q "bt.vmx:1: key 'vmx.buildType': unknown build type \"turbo\"" "$tmp/o"

"$B/release/vmx" "$tmp/does-not-exist.vmx" >"$tmp/o" 2>&1; rc=$?
check missing-vmx-named test $rc -ne 0 -a -n "$(grep does-not-exist.vmx "$tmp/o")"
"$B/release/vmx" --bogus >"$tmp/o" 2>&1; rc=$?
check usage-error test $rc -eq 2
