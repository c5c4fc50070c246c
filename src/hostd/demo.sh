#!/usr/bin/env bash
# demo.sh - the hostd part of `make demo`: starts hostd on an embedded default
# (state in $B/demo/hostd, datastore "datastore1" = $B/demo/datastore1),
# registers the default guest (Debian's kernel running the counter workload),
# powers it on, switches it to stats and back to default while it runs with
# vmx-buildtype, and shows line 1 of vmx.log after each step.  hostd listens
# on its Unix socket and on a free loopback port (VMX3_DEMO_PORT to choose
# one), so the demo never clashes with a hostd on the default port, and ends by
# printing the web interface's address and user.  Run from a terminal, hostd
# and the VM keep running for the interface (`make demo-stop` ends them);
# otherwise (VMX3_DEMO_KEEP=0, as in CI) everything it started is stopped.
set -eu
B=${B:-build}
GUEST_DIR=${GUEST_DIR:-$B/guest}
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
D=$(mkdir -p "$B/demo" && cd "$B/demo" && pwd)
STATE=$D/hostd
DS=$D/datastore1
HOST=$B/host
export VMX3_SERVER="unix:$STATE/hostd.sock" VMX3_USER=root VMX3_PASSWORD=vmx3-demo

for f in fw_dynamic.bin Image initrd.gz; do
  [ -e "$GUEST_DIR/$f" ] || { echo "demo: $GUEST_DIR/$f is missing (make guest)" >&2; exit 1; }
done
mkdir -p "$STATE" "$DS/default"
# A hostd left over from an earlier demo on this state directory.
old=$(cat "$STATE/hostd.lock" 2>/dev/null || true)
if [ -n "$old" ] && grep -qs "$STATE" "/proc/$old/cmdline"; then kill "$old"; sleep 0.5; fi

cat >"$DS/default/default.vmx" <<VMX
displayName = "default"
memSize = "512"
numvcpus = "1"
vmx.buildType = "default"
guest.firmware = "$(realpath "$GUEST_DIR/fw_dynamic.bin")"
guest.kernel = "$(realpath "$GUEST_DIR/Image")"
guest.initrd = "$(realpath "$GUEST_DIR/initrd.gz")"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
serial0.fileName = "default.serial"
VMX
rm -f "$DS/default/default.vmss" "$DS/default/default.serial" "$STATE"/hostd.db*

"$HOST/hostd" --state "$STATE" useradd root admin >/dev/null
# As root, hostd runs each vmx as the unprivileged user vmx3; hostd opens the
# binary, the VM directory and the guest's files for it, so a clone under a
# private directory (/root) works as well.
# The guest's files stay where make guest put them: a read-only image directory.
if [ -z "${VMX3_DEMO_KEEP:-}" ]; then
  if [ -t 0 ] && [ -t 1 ]; then VMX3_DEMO_KEEP=1; else VMX3_DEMO_KEEP=0; fi
fi
# A hostd left running by an earlier demo holds the state directory.
[ -s "$D/hostd.pid" ] && kill "$(cat "$D/hostd.pid")" 2>/dev/null && sleep 0.5
PORT=${VMX3_DEMO_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
"$HOST/hostd" --state "$STATE" --port "$PORT" --listen 127.0.0.1 --datastore "datastore1=$DS" \
  --images "$GUEST_DIR" >"$D/hostd.out" 2>&1 &
hostd=$!
echo "$hostd" >"$D/hostd.pid"
vmid=
kept=0
finish() {
  [ "$kept" = 1 ] && return 0
  [ -n "$vmid" ] && "$HOST/vmx3-cmd" power "$vmid" hardOff >/dev/null 2>&1 || true
  kill "$hostd" 2>/dev/null || true
  wait "$hostd" 2>/dev/null || true
  rm -f "$D/hostd.pid"
}
trap finish EXIT
for _ in $(seq 100); do [ -S "$STATE/hostd.sock" ] && break; sleep 0.05; done

step() { printf '\n== %s\n' "$*"; }
line1() { printf '   vmx.log line 1: %s\n' "$(head -1 "$DS/default/vmx.log")"; }
counter() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$DS/default/default.serial" 2>/dev/null | tail -1; }
wait_counter() { # until the guest's counter passes $1 (bounded)
  for _ in $(seq 600); do [ "$(counter || echo 0)" -gt "$1" ] 2>/dev/null && return 0; sleep 0.2; done
  echo "demo: the guest's counter did not advance" >&2; return 1
}

step "hostd running (state $STATE, datastore1 = $DS)"
out=$("$HOST/vmx3-cmd" --json register "[datastore1] default/default.vmx")
vmid=$(sed -n 's/.*"id": \([0-9]*\).*/\1/p' <<<"$out" | head -1)
"$HOST/vmx3-cmd" list

step "power on"
"$HOST/vmx3-cmd" power "$vmid" on >/dev/null
line1
wait_counter 10
echo "   guest counter: $(counter)"
"$HOST/vmx-buildtype" --vmname default

step "switch to stats while it runs (fast: the guest's memory is handed to the new vmx)"
out=$("$HOST/vmx-buildtype" --vmname default --buildType stats --verbose)
echo "$out"
echo "   fast switch downtime: $(sed -n 's/^  downtime *\([0-9.]*\) ms.*/\1/p' <<<"$out") ms ($(sed -n 's/^  method *//p' <<<"$out"))"
line1
echo "   stats directory: $(ls -d "$DS/default/stats" 2>/dev/null || echo missing)"
n=$(counter); wait_counter "$n"
echo "   guest counter carried on: $n -> $(counter)"

step "switch back to default (the suspend method, for comparison)"
"$HOST/vmx-buildtype" --vmname default --buildType default --method suspend --verbose
line1
n=$(counter); wait_counter "$n"
echo "   guest counter carried on: $n -> $(counter)"
"$HOST/vmx3-cmd" list

step "logs: each vmx process started its own, the older ones rotated"
for f in "$DS"/default/vmx.log "$DS"/default/vmx-[0-9]*.log; do
  [ -e "$f" ] || continue
  printf '   %-10s %s\n' "$(basename "$f")" "$(head -1 "$f" | sed -n 's/.*\(pid=[0-9]*\).*\(buildType=[a-z]*\).*/\1 \2/p')"
done

step "events"
"$HOST/vmx3-cmd" events "$vmid" | head -8

step "the web interface"
if [ "$VMX3_DEMO_KEEP" = 1 ]; then
  kept=1
  echo "$vmid" >"$D/hostd.vmid"
  echo "   open http://127.0.0.1:$PORT/ui/ and log in as root, password $VMX3_PASSWORD"
  echo "   hostd (pid $hostd) and the VM keep running for it; make demo-stop ends them"
else
  echo "   http://127.0.0.1:$PORT/ui/ (user root, password $VMX3_PASSWORD) served the interface"
  echo "   during the demo; it stops now (not a terminal). Run make demo in a terminal to keep it."
fi
