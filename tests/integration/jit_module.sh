#!/usr/bin/env bash
# jit_module.sh - kernel modules load and unload under the translator: the
# default guest (release, 2 vCPUs, monitor.translate = "TRUE") runs the
# `module` workload of guest/init, three rounds of insmod and rmmod of
# crc32c_generic (the crypto manager's self-test runs the module's code as it
# registers) and crc16, so module text is written, relocated, patched, run,
# freed and its memory reused (self-modifying code for the translator).  Then
# the `disk` workload must still pass: ext4 loads crc32c_generic once more and
# checksums its metadata with it.  No oops, no failed self-test, exit 0.
set -u
B=${B:-build}
B=$(cd "$B" && pwd)
G="$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

vm="$tmp/mod"
mkdir -p "$vm"
cp "$G/disk.img" "$vm/disk.img"
cat >"$vm/mod.vmx" <<VMX
memSize = "256"
numvcpus = "2"
monitor.translate = "TRUE"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 panic=-1 vmx3.run=module,disk vmx3.module=3"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX

timeout 300 "$B/release/vmx" "$vm/mod.vmx" >"$vm/out" 2>&1 </dev/null; rc=$?
c="$vm/console.log"
check jit-module-exit0 test $rc -eq 0
if grep -q 'VMX3 init: unknown workload module' "$c" 2>/dev/null; then
  bad jit-module-workload "the initramfs predates the module workload: make guest"
fi
check jit-module-load-unload grep -q 'VMX3 module rounds=3 at .* ok' "$c"
check jit-module-no-oops test -z "$(grep -E 'Oops|BUG:|Unable to handle|Kernel panic|alg: .*(fail|error)' "$c")"
check jit-module-disk-raw-after grep -q 'VMX3 bench disk raw .* ok' "$c"
check jit-module-disk-ext4-after grep -q 'VMX3 bench disk fs .* ok' "$c"
check jit-module-done grep -q 'VMX3-MARKER: done ok' "$c"
grep -h 'VMX3 module' "$c" 2>/dev/null
if [ $rc -ne 0 ] || ! grep -q 'VMX3-MARKER: done ok' "$c"; then
  tail -n 20 "$c" "$vm/vmx.log"
fi
exit 0
