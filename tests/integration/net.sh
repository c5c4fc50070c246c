#!/usr/bin/env bash
# net.sh - the virtio-net device with passt, without hostd:
#  - ethernetN keys with bad values are refused naming the key;
#  - the guest gets an address by DHCP, serves a page and a CGI through the
#    port forward, and its MAC is the one generated once into the .vmx;
#  - suspend and resume in another build type: a new passt serves the same
#    forward, the guest was asked to announce itself and did, the page loads
#    again, the MAC is unchanged;
#  - passt killed: vmx logs it, the link goes down, the VM keeps running;
#  - the stats build counts frames per queue, the backend's kstat and the
#    device's lock.
set -u
B=${B:-build}
G="$PWD/$B/guest"
CTL="$B/host/vmx-ctl"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
command -v passt >/dev/null || { echo "FAIL net-needs-passt (scripts/deps.sh installs it)"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; [ -n "${KEEP_T:-}" ] || rm -rf "$tmp"; }
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

mkvm() { # dir [extra lines]
  mkdir -p "$1"
  cat >"$1/n.vmx" <<VMX
memSize = "256"
numvcpus = "1"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=httpd"
serial0.fileName = "console.log"
ethernet0.present = "TRUE"
${2:-}
VMX
}

# --- bad keys --------------------------------------------------------------------
badkey() { # name key line
  mkvm "$tmp/bad" "$3"
  out=$(timeout 20 "$B/release/vmx" "$tmp/bad/n.vmx" 2>&1); rc=$?
  check "net-badkey-$1-refused" test $rc -ne 0
  check "net-badkey-$1-names-key" grep -q "$2" <<<"$out"
}
badkey virtualdev "ethernet0.virtualDev" 'ethernet0.virtualDev = "e1000"'
badkey conntype "ethernet0.connectionType" 'ethernet0.connectionType = "bridged"'
badkey forward "ethernet0.portForward" 'ethernet0.portForward = "tcp:99999:80"'
badkey forward2 "ethernet0.portForward" 'ethernet0.portForward = "sctp:8080:80"'
badkey address "ethernet0.address" 'ethernet0.address = "01:00:5e:00:00:01"'
badkey tapname "ethernet0.vnet" 'ethernet0.connectionType = "tap"'
badkey present "ethernet0.present" 'ethernet0.present = "maybe"'
check net-badkey-nothing-stored bash -c "! grep -q generatedAddress '$tmp/bad/n.vmx'"

# --- serve through the forward -----------------------------------------------------
vm="$tmp/vm"
mkvm "$vm" "ethernet0.portForward = \"tcp:$PORT:80\""
ready() { [ "$(grep -c 'VMX3 httpd ready' "$vm/console.log" 2>/dev/null)" -ge "$1" ]; }
wait_for() { local i; for i in $(seq 1 $(($1 * 10))); do "${@:2}" && return 0; sleep 0.1; done; return 1; }
"$B/release/vmx" "$vm/n.vmx" >"$vm/out1" 2>&1 &
pid=$!; pids+=($pid)
check net-httpd-ready wait_for 180 ready 1
URL="http://127.0.0.1:$PORT"
check net-dhcp-address grep -q 'VMX3 net eth0 ip=[0-9.]* router=[0-9.]* mtu=65520' "$vm/console.log"
check net-page grep -q VMX3-HTTPD-OK <(curl -s -m 10 "$URL/")
check net-cgi grep -q 'VMX3-CGI-OK uptime=[0-9.]* query=x=2' <(curl -s -m 10 "$URL/cgi-bin/info?x=2")
mac=$(sed -n 's/^ethernet0.generatedAddress = "\(.*\)"$/\1/p' "$vm/n.vmx")
check net-mac-generated grep -qE '^02(:[0-9a-f]{2}){5}$' <<<"$mac"
check net-mac-address-type grep -q '^ethernet0.addressType = "generated"$' "$vm/n.vmx"
check net-guest-mac grep -q "VMX3 net eth0 .* mac=$mac" "$vm/console.log"
# A burst of requests: nothing lost on the device's queues.
if command -v ab >/dev/null; then
  out=$(ab -q -n 300 -c 4 "$URL/" 2>&1)
  check net-burst-complete grep -q '^Complete requests: *300$' <<<"$out"
  check net-burst-no-failed grep -q '^Failed requests: *0$' <<<"$out"
fi

# --- suspend, resume in the beta build -------------------------------------------------
"$CTL" "$vm" suspend >/dev/null
wait $pid; rc=$?
check net-suspend-exit3 test $rc -eq 3
check net-forward-closed-after-suspend bash -c "! curl -s -m 2 '$URL/' >/dev/null"
"$B/beta/vmx-debug" "$vm/n.vmx" >"$vm/out2" 2>&1 &
pid=$!; pids+=($pid)
announced() { grep -q 'ethernet0: the guest announced itself' "$vm/vmx.log"; }
check net-resume-asks-announce wait_for 30 grep -q 'asking the guest to announce itself' "$vm/vmx.log"
check net-resume-guest-announced wait_for 30 announced
check net-resume-page wait_for 30 bash -c "curl -s -m 3 '$URL/' | grep -q VMX3-HTTPD-OK"
check net-resume-same-mac grep -q "^ethernet0.generatedAddress = \"$mac\"$" "$vm/n.vmx"
check net-resume-no-reboot test "$(grep -c 'VMX3-MARKER: init' "$vm/console.log")" -eq 1

# --- passt dies --------------------------------------------------------------------
pp=$(pgrep -f "^passt .*-t $PORT:80" | head -1)
check net-passt-found test -n "$pp"
kill -9 "${pp:-0}" 2>/dev/null
check net-backend-death-logged wait_for 10 grep -q 'ethernet0: the user-mode network (passt) backend failed .*link down' "$vm/vmx.log"
check net-vmx-survives-backend kill -0 $pid
check net-vmx-answers "$CTL" "$vm" status
"$CTL" "$vm" poweroff >/dev/null 2>&1 || kill $pid
wait $pid
check net-no-beta-check-failed bash -c "! grep -q 'check:' '$vm/vmx.log'"

# --- stats build: per-queue counters, the backend kstat, the lock --------------------
sv="$tmp/st"
mkvm "$sv" "ethernet0.portForward = \"tcp:$PORT:80\""
"$B/stats/vmx-stats" "$sv/n.vmx" >"$sv/out" 2>&1 &
pid=$!; pids+=($pid)
vm=$sv
check net-stats-httpd-ready wait_for 180 ready 1
for i in 1 2 3 4 5; do curl -s -m 5 "$URL/" >/dev/null; done
st=$("$CTL" "$sv" stats 2>&1)
counter() { python3 -c 'import json,sys; j=json.load(sys.stdin); print(sum(c["total"] for c in j["counters"] if c["name"] == sys.argv[1]))' "NET.ethernet0.$1" <<<"$st"; }
for c in rx.packets rx.bytes tx.packets tx.bytes tx.notifies rx.irqs; do
  check "net-stats-$c" test "$(counter $c)" -gt 0
done
check net-stats-kstat-backend grep -q '"name": "NET_BACKEND"' <<<"$("$CTL" "$sv" kstats 2>&1)"
"$CTL" "$sv" poweroff >/dev/null 2>&1 || kill $pid
wait $pid
check net-stats-lock grep -q virtioNet0 <<<"$("$B/host/vmx-getstats" --locks "$sv" 2>&1)"
