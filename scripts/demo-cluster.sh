#!/usr/bin/env bash
# demo-cluster.sh - what `make demo-cluster` shows (docs/CENTER.md): etcd,
# three hostd on loopback sharing a datastore ("old" has only the release
# binary) and two vmx3-center.  The default guest (Debian's kernel running the
# counter workload) is powered on through the center, switched to stats while
# it runs, moved live to the old host, where it runs default, and on to h2,
# where stats is put back, then moved cold (suspended) back to h1; the guest's
# counter carries on across every step.  Then the leading center is killed and the other leads.
# Everything it started is stopped at the end.
set -eu
B=${B:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
GUEST_DIR=$(cd "${GUEST_DIR:-$B/guest}" && pwd)
HOST=$B/host
D=$(mkdir -p "$B/demo-cluster" && cd "$B/demo-cluster" && pwd)
PW=vmx3-demo
export VMX3_USER=root VMX3_PASSWORD=$PW

for f in fw_dynamic.bin Image initrd.gz; do
  [ -e "$GUEST_DIR/$f" ] || { echo "demo-cluster: $GUEST_DIR/$f is missing (make guest)" >&2; exit 1; }
done
command -v etcd >/dev/null || { echo "demo-cluster: etcd is missing (scripts/deps.sh installs etcd-server)" >&2; exit 1; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
step() { printf '\n== %s\n' "$*"; }

PIDS=()
finish() {
  [ -n "${VMID:-}" ] && [ -n "${ON:-}" ] &&
    "$HOST/vmx3-cmd" --server "unix:$D/$ON/hostd.sock" power "$VMID" hardOff >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap finish EXIT
rm -rf "$D"/h1 "$D"/h2 "$D"/old "$D"/etcd "$D"/shared "$D"/old-bin
mkdir -p "$D/shared/counter" "$D/old-bin"
cp "$B/release/vmx" "$D/old-bin/vmx"

step "etcd and three hosts on loopback; datastore \"shared\" = $D/shared on each"
EP=$(freeport); PP=$(freeport)
ETCD="http://127.0.0.1:$EP"
etcd --name demo --data-dir "$D/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "demo=http://127.0.0.1:$PP" >"$D/etcd.out" 2>&1 &
PIDS+=($!)
declare -A PORT
for h in h1 h2 old; do
  PORT[$h]=$(freeport)
  extra=()
  [ "$h" = old ] && extra=(--vmx-dir "$D/old-bin")
  "$HOST/hostd" --state "$D/$h" useradd root admin >/dev/null
  "$HOST/hostd" --state "$D/$h" --port "${PORT[$h]}" --datastore "shared=$D/shared" \
    --images "$GUEST_DIR" "${extra[@]}" >"$D/$h.out" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 100); do curl -sf -o /dev/null "$ETCD/health" && break; sleep 0.1; done
for h in h1 h2 old; do
  for _ in $(seq 100); do [ -S "$D/$h/hostd.sock" ] && break; sleep 0.05; done
  printf '   %-4s hostd http://127.0.0.1:%s%s\n' "$h" "${PORT[$h]}" "$([ "$h" = old ] && echo '  (only vmx: no debug or stats binary)')"
done
echo "   etcd $ETCD"

step "two vmx3-center on that etcd"
VMX3_NEW_PASSWORD=$PW "$HOST/vmx3-center" --etcd "$ETCD" useradd root admin
declare -A CPORT CPID
for c in c1 c2; do
  CPORT[$c]=$(freeport)
  "$HOST/vmx3-center" --name "$c" --etcd "$ETCD" --port "${CPORT[$c]}" --lease-ttl 3 >"$D/$c.out" 2>&1 &
  CPID[$c]=$!; PIDS+=($!)
done
leader() {
  local c
  for _ in $(seq 100); do
    for c in c1 c2; do
      [ -n "${CPID[$c]:-}" ] || continue
      curl -s "http://127.0.0.1:${CPORT[$c]}/api/v1/host" -H "Authorization: Bearer $(token "$c")" |
        grep -q '"leader":true' && { echo "$c"; return 0; }
    done
    sleep 0.1
  done
  return 1
}
token() { curl -s "http://127.0.0.1:${CPORT[$1]}/api/v1/session" -d "{\"username\":\"root\",\"password\":\"$PW\"}" |
  sed -n 's/.*"token":"\([0-9a-f]*\)".*/\1/p'; }
for c in c1 c2; do for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:${CPORT[$c]}/api/v1" && break; sleep 0.05; done; done
L=$(leader)
echo "   c1 http://127.0.0.1:${CPORT[c1]}, c2 http://127.0.0.1:${CPORT[c2]}: $L leads"
C="127.0.0.1:${CPORT[$L]}"
TOK=$(token "$L")
for h in h1 h2 old; do
  curl -s -o /dev/null "http://$C/api/v1/hosts" -H "Authorization: Bearer $TOK" \
    -d "{\"name\":\"$h\",\"url\":\"http://127.0.0.1:${PORT[$h]}\",\"user\":\"root\",\"password\":\"$PW\"}"
done
"$HOST/vmx3-cmd" --server "$C" hosts

cat >"$D/shared/counter/counter.vmx" <<VMX
displayName = "counter"
memSize = "512"
numvcpus = "1"
vmx.buildType = "default"
guest.firmware = "$GUEST_DIR/fw_dynamic.bin"
guest.kernel = "$GUEST_DIR/Image"
guest.initrd = "$GUEST_DIR/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
serial0.fileName = "counter.serial"
VMX
VMID=$("$HOST/vmx3-cmd" --server "unix:$D/h1/hostd.sock" --json register "[shared] counter/counter.vmx" |
       sed -n 's/.*"id": \([0-9]*\).*/\1/p' | head -1)
ON=h1
counter() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$D/shared/counter/counter.serial" 2>/dev/null | tail -1; }
carries_on() { # the counter passes its value before the step
  local n0=$1
  for _ in $(seq 600); do [ "$(counter || echo 0)" -gt "$n0" ] 2>/dev/null && break; sleep 0.2; done
  echo "   guest counter carried on: $n0 -> $(counter)"
}
line1() { printf '   vmx.log line 1 on %s: %s\n' "$ON" "$(head -1 "$D/shared/counter/vmx.log" | sed -n 's/.*\(pid=[0-9]*\).*\(buildType=[a-z]*\).*/\1 \2/p')"; }

step "power on through the center (host h1)"
"$HOST/vmx3-cmd" --server "$C" --host h1 power "$VMID" on >/dev/null
carries_on 5
line1

step "switch to stats while it runs, through the center"
n=$(counter)
"$HOST/vmx-buildtype" --server "$C" --host h1 --vmname counter --buildType stats --verbose | sed 's/^/   /'
carries_on "$n"
line1

move() { # FROM TO [cold]
  local t0 t1 n out
  n=$(counter)
  t0=$(date +%s%N)
  [ "${3:-}" = cold ] && "$HOST/vmx3-cmd" --server "$C" --host "$1" power "$VMID" suspend >/dev/null
  out=$("$HOST/vmx3-cmd" --server "$C" --json --host "$1" migrate "$VMID" "$2")
  VMID=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["newId"])' <<<"$out")
  ON=$2
  [ "${3:-}" = cold ] && "$HOST/vmx3-cmd" --server "$C" --host "$2" power "$VMID" resume >/dev/null
  t1=$(date +%s%N)
  python3 -c 'import json,sys
r=json.load(sys.stdin)["result"]
print("   moved %s -> %s (%s%s); build type there: %s%s" % (r["from"], r["to"], r["powerState"],
      ", live: %d rounds, %d pages sent, %d of them zero" % (r["rounds"], r["pagesSent"], r["zeroPages"]) if r.get("method") == "live" else "",
      r["buildType"], "; %s kept for later" % r["requestedBuildType"] if "requestedBuildType" in r else ""))
if r.get("method") == "live": print("   downtime (the guest paused): %.3f ms" % r["downtimeMs"])' <<<"$out"
  if [ "${3:-}" = cold ]; then
    echo "   suspend + move + resume: $(( (t1 - t0) / 1000000 )) ms of guest downtime"
  else
    echo "   the whole move took $(( (t1 - t0) / 1000000 )) ms while the guest ran"
  fi
  carries_on "$n"
  line1
}

step "live migration to the old host while it runs: stats is dropped there"
move h1 old
step "and live to h2, which has the stats binary: stats is put back"
move old h2
step "cold migration back to h1 (suspend, move, resume)"
move h2 h1 cold

step "kill -9 of the leading center ($L)"
kill -9 "${CPID[$L]}"; wait "${CPID[$L]}" 2>/dev/null || true
unset "CPID[$L]"
t0=$(date +%s%N)
L2=$(leader)
t1=$(date +%s%N)
echo "   $L2 leads $(( (t1 - t0) / 1000000 )) ms later (lease 3 s)"
C="127.0.0.1:${CPORT[$L2]}"
"$HOST/vmx3-cmd" --server "$C" list

step "the center's events"
curl -s "http://$C/api/v1/events?limit=12" -H "Authorization: Bearer $(token "$L2")" |
  python3 -c 'import json,sys
for e in reversed(json.load(sys.stdin)["events"]): print("   %s %-18s %s" % (e["time"][11:19], e["type"], e["message"]))'
