#!/usr/bin/env bash
# boot.sh - the Debian kernel with 2 vCPUs boots to init in release, beta and
# stats (translator on, the default) and once more in release with
# monitor.translate = "FALSE" (interpreter only), writes and reads back the
# virtio disk (raw and ext4), and powers off (exit 0); while it runs, the
# control socket answers status.  Also: a guest powered off through the
# control socket, and bad guest files named clearly.
set -u
B=${B:-build}
G="$PWD/$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

mkvm() { # dir cmdline [vcpus]
  mkdir -p "$1"
  cp "$G/disk.img" "$1/disk.img"
  cat >"$1/$(basename "$1").vmx" <<VMX
memSize = "256"
numvcpus = "${3:-2}"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 panic=-1 $2"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
}

# NAME:BUILD/BINARY:monitor.translate
for t in release:release/vmx:TRUE beta:beta/vmx-debug:TRUE stats:stats/vmx-stats:TRUE \
         release-interp:release/vmx:FALSE; do
  type=${t%%:*} t=${t#*:}
  bin=${t%%:*} translate=${t#*:}
  vm="$tmp/boot-$type"
  mkvm "$vm" "vmx3.run=disk"
  echo "monitor.translate = \"$translate\"" >>"$vm/boot-$type.vmx"
  timeout 300 "$B/$bin" "$vm/boot-$type.vmx" >"$vm/out" 2>&1; rc=$?
  check "boot-$type-exit0" test $rc -eq 0
  check "boot-$type-init" grep -q 'VMX3-MARKER: init' "$vm/console.log"
  check "boot-$type-disk-raw" grep -q 'VMX3 bench disk raw .* ok' "$vm/console.log"
  check "boot-$type-disk-ext4" grep -q 'VMX3 bench disk fs .* ok' "$vm/console.log"
  check "boot-$type-done" grep -q 'VMX3-MARKER: done ok' "$vm/console.log"
  check "boot-$type-2cpus" grep -q 'smp: Brought up 1 node, 2 CPUs' "$vm/console.log"
  [ $rc -eq 0 ] || tail -n 20 "$vm/console.log" "$vm/vmx.log"
done

# A running guest: status over the control socket, then power off through it.
vm="$tmp/ctl"
mkvm "$vm" "vmx3.run=counter" 1
"$B/release/vmx" "$vm/ctl.vmx" >"$vm/out" 2>&1 &
pid=$!
for _ in $(seq 1 200); do grep -q 'VMX3-MARKER: init' "$vm/console.log" 2>/dev/null && break; sleep 0.1; done
st=$("$B/host/vmx-ctl" "$vm" status)
check ctl-status-powered-on grep -q '"powerState": "poweredOn"' <<<"$st"
check ctl-status-pid grep -q "\"pid\": $pid" <<<"$st"
check ctl-status-buildtype grep -q '"buildType": "release"' <<<"$st"
n=$(sed -n 's/.*"instructionsRetired": \([0-9]*\).*/\1/p' <<<"$st")
check ctl-status-instret test "${n:-0}" -gt 1000000
"$B/host/vmx-ctl" "$vm" frobnicate >"$tmp/o" 2>&1; rc=$?
check ctl-unknown-command test $rc -eq 1 -a -n "$(grep 'unknown command' "$tmp/o")"
"$B/host/vmx-ctl" "$vm" poweroff >/dev/null
wait $pid; rc=$?
check ctl-poweroff-exit0 test $rc -eq 0
check ctl-socket-removed test ! -e "$vm/vmx.ctl"

# vmx-ctl reads a reply of any length (a large VM's stats run to megabytes):
# a stand-in control socket answers one 1.5 MB line.
big="$tmp/big"
mkdir -p "$big"
/usr/bin/python3 - "$big/vmx.ctl" <<'PY' &
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
c.recv(4096)
c.sendall((json.dumps({"v": 1, "ok": True, "blob": "x" * 1500000}) + "\n").encode())
c.close()
PY
bpid=$!
for _ in $(seq 1 50); do [ -S "$big/vmx.ctl" ] && break; sleep 0.1; done
"$B/host/vmx-ctl" "$big" status >"$tmp/big.out" 2>&1; rc=$?
wait $bpid
check ctl-long-reply-whole test $rc -eq 0 -a "$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["blob"]))' "$tmp/big.out" 2>/dev/null)" = 1500000

# A graceful shutdown: the guest powers itself off (serial SysRq), exit 0.
vm="$tmp/shut"
mkvm "$vm" "vmx3.run=counter vmx3.counter=0" 1
"$B/release/vmx" "$vm/shut.vmx" >"$vm/out" 2>&1 &
pid=$!
for _ in $(seq 1 300); do grep -q 'VMX3 counter n=3 ' "$vm/console.log" 2>/dev/null && break; sleep 0.1; done
"$B/host/vmx-ctl" "$vm" shutdown >/dev/null
wait $pid; rc=$?
check shutdown-exit0 test $rc -eq 0
check shutdown-by-guest grep -q 'sysrq: Power Off' "$vm/console.log"

# Bad guest files: each named, non-zero exit, no crash.
vm="$tmp/bad"
mkvm "$vm" "" 1
head -c 1000 /dev/urandom >"$vm/garbage"
sed -i "s|^guest.kernel = .*|guest.kernel = \"garbage\"|" "$vm/bad.vmx"
"$B/release/vmx" "$vm/bad.vmx" >"$tmp/o" 2>&1; rc=$?
check bad-kernel-named test $rc -eq 1 -a -n "$(grep garbage "$tmp/o")"
sed -i "s|^guest.kernel = .*|guest.kernel = \"$G/Image\"|; s|^memSize = .*|memSize = \"99999999\"|" "$vm/bad.vmx"
"$B/release/vmx" "$vm/bad.vmx" >"$tmp/o" 2>&1; rc=$?
check bad-memsize-named test $rc -eq 1 -a -n "$(grep -i memsize "$tmp/o")"
sed -i "s|^memSize = .*|memSize = \"256\"|; s|^numvcpus = .*|numvcpus = \"64\"|" "$vm/bad.vmx"
"$B/release/vmx" "$vm/bad.vmx" >"$tmp/o" 2>&1; rc=$?
check bad-numvcpus-named test $rc -eq 1 -a -n "$(grep -i numvcpus "$tmp/o")"
