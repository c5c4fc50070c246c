#!/usr/bin/env bash
# net_fastswitch.sh - a guest serving HTTP (busybox httpd behind passt's port
# forward) under a steady load from ab (apache2-utils) while hostd switches
# it default -> stats -> debug -> default with the fast method.  Every request
# must succeed; the latency percentiles of the requests that started around
# each switch are reported (ab -g gives each request's start and total time).
# Checks too that each switch was a hand-over, that the guest never rebooted
# and that the same passt process (the socket was handed over) served all
# along.  NET_LOAD_SECONDS sets the load's length (default 36 s; bench/net.sh
# runs a longer one).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
G=$(realpath "$B/guest")
LOAD_S=${NET_LOAD_SECONDS:-36}
GAP_S=$(( LOAD_S / 4 ))

for p in ab passt; do
  command -v $p >/dev/null || { echo "FAIL net-fastswitch-needs-$p (scripts/deps.sh installs it)"; exit 1; }
done
mkdir -p "$T/bin"
link() { ln -sfn "$(realpath "$B/$1")" "$T/bin/$2"; }
link release/vmx vmx; link beta/vmx-debug vmx-debug; link stats/vmx-stats vmx-stats
add_users
start_hostd --vmx-dir "$T/bin" --images "$G" || exit 1
TOKEN=$(login root "$PW")
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

d="$T/ds1/w"; mkdir -p "$d"
cat >"$d/w.vmx" <<VMX
memSize = "256"
numvcpus = "1"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=httpd"
serial0.fileName = "w.serial"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "virtio"
ethernet0.connectionType = "user"
ethernet0.portForward = "tcp:$PORT:80"
VMX
V=$("$HOST/vmx3-cmd" --json register "[ds1] w/w.vmx" | jget "j['id']")
check net-registered test -n "$V"
[ -n "$V" ] || exit 1
out=$(api POST "/vms/$V/power" '{"op":"on","wait":true}' "$TOKEN")
check net-power-on grep -q '"state":"success"' <<<"$out"
ready() { grep -q 'VMX3 httpd ready' "$d/w.serial" 2>/dev/null; }
check net-httpd-ready wait_until 180 ready
ready || { tail -20 "$d/w.serial"; tail -20 "$d/vmx.log"; exit 1; }
URL="http://127.0.0.1:$PORT"
check net-page grep -q VMX3-HTTPD-OK <(curl -s -m 10 "$URL/")
check net-cgi grep -q 'VMX3-CGI-OK .*query=a=1' <(curl -s -m 10 "$URL/cgi-bin/info?a=1")
check net-mac-stored grep -qE '^ethernet0.generatedAddress = "02(:[0-9a-f]{2}){5}"$' "$d/w.vmx"
mac=$(sed -n 's/^ethernet0.generatedAddress = "\(.*\)"$/\1/p' "$d/w.vmx")
check net-guest-has-mac grep -q "VMX3 net eth0 .*mac=$mac" "$d/w.serial"
passt_pid=$(pgrep -f "^passt .*-t $PORT:80" | head -1)
check net-passt-runs test -n "$passt_pid"
check net-passt-unprivileged test "$(ps -o user= -p "${passt_pid:-1}" | tr -d ' ')" = vmx3

# --- the load, and three fast switches under it ---------------------------------
now() { date +%s.%N; }
ab -q -r -c 2 -t "$LOAD_S" -n 1000000 -s 10 -g "$T/ab.tsv" "$URL/" >"$T/ab.out" 2>&1 &
AB=$!
sleep "$GAP_S"
: >"$T/switches"
for bt in stats debug default; do
  t0=$(now)
  out=$(api PUT "/vms/$V/buildType" "{\"buildType\":\"$bt\",\"wait\":true}" "$TOKEN")
  t1=$(now)
  m=$(jget "j['result']['method']" <<<"$out")
  dt=$(jget "j['result'].get('downtimeMs')" <<<"$out")
  check "net-switch-$bt-fast" test "$m" = fast
  echo "$bt $t0 $t1 $dt" >>"$T/switches"
  sleep "$GAP_S"
done
wait "$AB"
cat "$T/ab.out" | grep -E 'Complete requests|Failed requests|Non-2xx|Requests per second'
complete=$(sed -n 's/^Complete requests: *\([0-9]*\)/\1/p' "$T/ab.out")
failed=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' "$T/ab.out")
check net-load-ran test "${complete:-0}" -ge 50
check net-load-zero-failed test "${failed:-x}" = 0
check net-load-all-2xx bash -c "! grep -q 'Non-2xx' '$T/ab.out'"
check net-no-reboot test "$(grep -c 'VMX3-MARKER: init' "$d/w.serial")" -eq 1
check net-same-passt kill -0 "${passt_pid:-0}"
check net-page-after grep -q VMX3-HTTPD-OK <(curl -s -m 10 "$URL/")
check net-runs-release test "$(readlink "/proc/$(vm_field "$V" pid)/exe")" = "$(realpath "$B/release/vmx")"
grep -q 'socket handed over' "$d/vmx.log" && ok net-log-socket-handed-over || bad net-log-socket-handed-over

# Latency: the requests that started from 1 s before a switch began to 2 s
# after it ended, against the whole run.  ab -g: starttime, seconds, ctime, dtime, ttime, wait.
python3 - "$T/ab.tsv" "$T/switches" >"$T/lat" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    f = line.split('\t')
    if len(f) < 6 or not f[1].strip().isdigit():
        continue
    rows.append((int(f[1]), int(f[4])))   # start (s, from ab: whole seconds), total ms
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))] if v else -1
alls = [t for _, t in rows]
print("all n=%d p50=%dms p99=%dms max=%dms" % (len(alls), pct(alls, 50), pct(alls, 99), max(alls or [-1])))
for line in open(sys.argv[2]):
    bt, t0, t1, dt = line.split()
    w = [t for s, t in rows if float(t0) - 1 <= s <= float(t1) + 2]
    print("switch-to-%s downtime=%sms window n=%d p50=%dms p99=%dms max=%dms"
          % (bt, dt, len(w), pct(w, 50), pct(w, 99), max(w or [-1])))
PY
sed 's/^/  /' "$T/lat"
check net-latency-report test "$(grep -c '^switch-to-' "$T/lat")" -eq 3
# A request may wait for the switch's pause, never for a retransmission timeout.
worst=$(sed -n 's/^switch-to-.* max=\([0-9]*\)ms$/\1/p' "$T/lat" | sort -n | tail -1)
check net-switch-max-under-1s test "${worst:-99999}" -lt 1000
