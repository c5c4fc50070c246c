#!/usr/bin/env bash
# net_tap.sh - the tap backend: a tap interface made for the test (root only,
# SKIP otherwise) with the host at 10.213.0.1/24, the guest at a static
# 10.213.0.2 (vmx3.ip=); the host fetches the guest's page over the tap,
# and removing the tap while the VM runs gives a log line and link down,
# not a hang.
set -u
B=${B:-build}
G="$PWD/$B/guest"
CTL="$B/host/vmx-ctl"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
if [ "$(id -u)" != 0 ] || [ ! -c /dev/net/tun ] || ! command -v ip >/dev/null; then
  echo "SKIP net-tap (needs root, /dev/net/tun and ip)"; exit 0
fi
tap="vmx3t$$"; tap=${tap:0:15}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; ip link del "$tap" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
if ! ip tuntap add dev "$tap" mode tap 2>/dev/null; then
  echo "SKIP net-tap (cannot create a tap device here)"; exit 0
fi
ip addr add 10.213.0.1/24 dev "$tap"
ip link set "$tap" up
cat >"$tmp/t.vmx" <<VMX
memSize = "256"
numvcpus = "1"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=httpd vmx3.ip=10.213.0.2/24"
serial0.fileName = "console.log"
ethernet0.present = "TRUE"
ethernet0.connectionType = "tap"
ethernet0.vnet = "$tap"
ethernet0.address = "02:00:0a:d5:00:02"
VMX
wait_for() { local i; for i in $(seq 1 $(($1 * 10))); do "${@:2}" && return 0; sleep 0.1; done; return 1; }
"$B/release/vmx" "$tmp/t.vmx" >"$tmp/out" 2>&1 &
pid=$!
check net-tap-httpd-ready wait_for 180 grep -q 'VMX3 httpd ready' "$tmp/console.log"
check net-tap-static-mac grep -q 'VMX3 net eth0 ip=10.213.0.2 static mac=02:00:0a:d5:00:02' "$tmp/console.log"
check net-tap-no-generated bash -c "! grep -q generatedAddress '$tmp/t.vmx'"
check net-tap-page wait_for 20 bash -c "curl -s -m 3 http://10.213.0.2/ | grep -q VMX3-HTTPD-OK"
check net-tap-cgi grep -q VMX3-CGI-OK <(curl -s -m 5 "http://10.213.0.2/cgi-bin/info")
ip link del "$tap"
"$CTL" "$tmp" status >/dev/null 2>&1   # wakes nothing; the next read of the tap fails
check net-tap-removed-logged wait_for 20 grep -q 'ethernet0: the tap backend failed' "$tmp/vmx.log"
check net-tap-vmx-survives kill -0 "$pid"
"$CTL" "$tmp" poweroff >/dev/null 2>&1 || kill "$pid"
wait "$pid"
pid=
