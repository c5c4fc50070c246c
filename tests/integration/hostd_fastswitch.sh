#!/usr/bin/env bash
# hostd_fastswitch.sh - hostd's fast build-type switch with the real vmx
# binaries and a guest printing a counter every 100 ms:
#  - release -> beta -> stats -> release by hand-over (vmx-buildtype keeps the
#    seed's lines, --verbose names the method; phases, downtimeMs, new pid of
#    the right binary, .vmx, log line 1), then --method suspend;
#  - fallbacks to suspend/resume with the reason: admission control cannot
#    hold two vmx processes; the new binary reads older device sections;
#  - SIGKILL of the new vmx at each of its phases, of the old vmx after it
#    sent its state, and of hostd in the middle of a hand-over.
# After each: exactly one vmx runs the guest, the counter went on without a
# reboot, and the .vmx names the build type that runs.  The kill tests use
# the opt build (test knobs) installed as vmx-debug.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
G=$(realpath "$B/guest")

mkdir -p "$T/bin"
link() { ln -sfn "$(realpath "$B/$1")" "$T/bin/$2"; }
link release/vmx vmx; link beta/vmx-debug vmx-debug; link stats/vmx-stats vmx-stats
add_users
start_hostd --vmx-dir "$T/bin" --images "$G" || exit 1
TOKEN=$(login root "$PW")

d="$T/ds1/v"; mkdir -p "$d"
cp "$G/disk.img" "$d/disk.img"
cat >"$d/v.vmx" <<VMX
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "v.serial"
VMX
V=$("$HOST/vmx3-cmd" --json register "[ds1] v/v.vmx" | jget "j['id']")
check registered test -n "$V"
[ -n "$V" ] || exit 1

counter() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$d/v.serial" 2>/dev/null | tail -1; }
counting_on() { local n; n=$(counter); wait_until 60 above $((${n:-0} + 5)); }
above() { [ "$(counter)" -ge "$1" ] 2>/dev/null; }
nvmx() { pgrep -f -- "$d/v.vmx" | wc -l; }
one_vmx() { [ "$(nvmx)" -eq 1 ]; }
vmx_names() { grep -qx "vmx.buildType = \"$1\"" "$d/v.vmx"; }
exe_is() { [ "$(readlink "/proc/$(vm_field "$V" pid)/exe")" = "$(realpath "$B/$1")" ]; }
idle() { [ "$(vm_field "$V" busyTask)" = None ] && [ "$(vm_field "$V" powerState)" = poweredOn ]; }
one_boot() { [ "$(grep -c 'VMX3-MARKER: init' "$d/v.serial")" -eq 1 ]; }
in_order() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$d/v.serial" | awk 'NR != $1 {exit 1}'; }
after_all() { # NAME BUILDTYPE BINARY
  check "$1-idle" wait_until 60 idle
  check "$1-one-vmx" one_vmx
  check "$1-vmx-names-$2" vmx_names "$2"
  check "$1-runs-$3" exe_is "$3"
  check "$1-guest-counts" counting_on
  check "$1-no-reboot" one_boot
}

out=$(api POST "/vms/$V/power" '{"op":"on","wait":true}' "$TOKEN")
check power-on grep -q '"state":"success"' <<<"$out"
check counting wait_until 120 above 5

# --- the fast path through every build type --------------------------------------
p1=$(vm_field "$V" pid)
out=$("$HOST/vmx-buildtype" --vmname v --buildType debug --verbose)
check fast-cli-seed-lines test "$(head -3 <<<"$out")" = $'Suspending VM...\nReconfiguring VM "[ds1] v/v.vmx" for vmx build type debug...\nResuming VM... done.'
check fast-cli-method grep -q '^  method       fast$' <<<"$out"
check fast-cli-downtime grep -q '^  downtime  *[0-9.]* ms, new pid' <<<"$out"
check fast-new-pid test "$(vm_field "$V" pid)" != "$p1"
check fast-old-exited-5 grep -q "vmx pid $p1: exit status 5 (handed over to pid" <<<"$(vm_field "$V" lastExit)"
check fast-log-line1-beta grep -q 'buildType=beta ' <(head -1 "$d/vmx.log")
check fast-log-names-method grep -q 'changed from default to debug by user root (hostd task [0-9]*, method fast)' "$d/vmx.log"
after_all fast-debug debug beta/vmx-debug
out=$(api PUT "/vms/$V/buildType" '{"buildType":"stats","wait":true}' "$TOKEN")
check fast-api-success grep -q '"state":"success"' <<<"$out"
check fast-api-method test "$(jget "j['result']['method']" <<<"$out")" = fast
check fast-api-downtime test "$(jget "j['result']['downtimeMs'] > 0" <<<"$out")" = True
check fast-api-phases test "$(jget "[p['name'] for p in j['phases']]" <<<"$out")" = '["launch", "prepare", "pause", "transfer", "resume", "release", "reconfigure"]'
check fast-api-no-fallback test "$(jget "'fallbackReason' in j['result']" <<<"$out")" = False
after_all fast-stats stats stats/vmx-stats
out=$(api PUT "/vms/$V/buildType" '{"buildType":"default","wait":true}' "$TOKEN")
check fast-back-default test "$(jget "j['result']['method']" <<<"$out")" = fast
after_all fast-default default release/vmx

# --- the suspend method, asked for ----------------------------------------------------
out=$("$HOST/vmx-buildtype" --vmname v --buildType debug --method suspend --verbose)
check suspend-cli-method grep -q '^  method       suspend$' <<<"$out"
check suspend-cli-phases grep -q '^  save ' <<<"$out"
after_all suspend-debug debug beta/vmx-debug

# --- fallback: admission control cannot hold two processes -------------------------
stop_hostd TERM
start_hostd --vmx-dir "$T/bin" --images "$G" --mem-capacity 430 || exit 1
TOKEN=$(login root "$PW")
out=$(api PUT "/vms/$V/buildType" '{"buildType":"default","wait":true}' "$TOKEN")
check admit-fallback-success grep -q '"state":"success"' <<<"$out"
check admit-fallback-method test "$(jget "j['result']['method']" <<<"$out")" = suspend
check admit-fallback-reason grep -q 'admission control cannot hold two vmx processes' <<<"$(jget "j['result']['fallbackReason']" <<<"$out")"
after_all admit-fallback default release/vmx
stop_hostd TERM
start_hostd --vmx-dir "$T/bin" --images "$G" || exit 1
TOKEN=$(login root "$PW")

# --- fallback: the new binary reads only older device sections -----------------------
link opt/vmx-opt vmx-debug
echo 'monitor.debugTestCorrupt = "handover-hello"' >>"$d/v.vmx"
out=$(api PUT "/vms/$V/buildType" '{"buildType":"debug","wait":true}' "$TOKEN")
check version-fallback-method test "$(jget "j['result']['method']" <<<"$out")" = suspend
check version-fallback-reason grep -q 'section "[a-z-]*": this vmx (release build) writes version 2, the receiving vmx (opt build) reads up to 1' <<<"$(jget "j['result']['fallbackReason']" <<<"$out")"
sed -i '/monitor.debugTestCorrupt/d' "$d/v.vmx"
after_all version-fallback debug opt/vmx-opt
out=$(api PUT "/vms/$V/buildType" '{"buildType":"default","wait":true}' "$TOKEN")
check back-to-default test "$(jget "j['result']['method']" <<<"$out")" = fast

# --- SIGKILL of the new vmx at each of its phases ------------------------------------
new_pid() { pgrep -n -f -- "--incoming-handover .*$d/v.vmx"; }
pause_reached() { grep -qs "test pause at $1" "$d"/vmx*.log; }
to_default() {
  sed -i '/monitor.debugTestHandoverPause/d' "$d/v.vmx"
  [ "$(vm_field "$V" buildType)" = default ] ||
    api PUT "/vms/$V/buildType" '{"buildType":"default","wait":true}' "$TOKEN" >/dev/null
}
for phase in hello restored go; do
  to_default
  echo "monitor.debugTestHandoverPause = \"$phase:30\"" >>"$d/v.vmx"
  want=debug
  n0=$(counter)
  out=$(api PUT "/vms/$V/buildType" "{\"buildType\":\"$want\"}" "$TOKEN")
  task=$(jget "j['id']" <<<"$out")
  check "kill-new-$phase-paused" wait_until 60 pause_reached "$phase"
  kill -9 "$(new_pid)"
  sed -i "s/test pause at $phase/test pause (done) at $phase/" "$d"/vmx*.log
  check "kill-new-$phase-idle" wait_until 90 idle
  out=$(api GET "/tasks/$task" "" "$TOKEN")
  check "kill-new-$phase-task-success" grep -q '"state":"success"' <<<"$out"
  check "kill-new-$phase-fell-back" test "$(jget "j['result']['method']" <<<"$out")" = suspend
  check "kill-new-$phase-reason" grep -q 'ended before running the guest\|cannot hand over\|hand-over failed and the running vmx kept the guest' <<<"$(jget "j['result']['fallbackReason']" <<<"$out")"
  after_all "kill-new-$phase" debug opt/vmx-opt
  check "kill-new-$phase-counter-went-on" above "$n0"
done
sed -i '/monitor.debugTestHandoverPause/d' "$d/v.vmx"

# --- SIGKILL of the old vmx after it sent its state: the new one takes over -----------
to_default
echo 'monitor.debugTestHandoverPause = "sent:30"' >>"$d/v.vmx"
api PUT "/vms/$V/buildType" '{"buildType":"debug","wait":true}' "$TOKEN" >/dev/null
check kill-old-setup exe_is opt/vmx-opt
old=$(vm_field "$V" pid)
out=$(api PUT "/vms/$V/buildType" '{"buildType":"default"}' "$TOKEN")
task=$(jget "j['id']" <<<"$out")
check kill-old-paused wait_until 60 pause_reached sent
kill -9 "$old"
sed -i "s/test pause at sent/test pause (done) at sent/" "$d"/vmx*.log
sed -i '/monitor.debugTestHandoverPause/d' "$d/v.vmx"
check kill-old-idle wait_until 60 idle
out=$(api GET "/tasks/$task" "" "$TOKEN")
check kill-old-task-fast test "$(jget "j['result']['method']" <<<"$out")" = fast
check kill-old-last-exit grep -q "vmx pid $old: killed by signal 9 (handed over to pid" <<<"$(vm_field "$V" lastExit)"
after_all kill-old default release/vmx

# --- SIGKILL of hostd in the middle of a hand-over ---------------------------------------
echo 'monitor.debugTestHandoverPause = "restored:4"' >>"$d/v.vmx"
out=$(api PUT "/vms/$V/buildType" '{"buildType":"debug"}' "$TOKEN")
check kill-hostd-paused wait_until 60 pause_reached restored
stop_hostd KILL
sed -i "s/test pause at restored/test pause (done) at restored/" "$d"/vmx*.log
start_hostd --vmx-dir "$T/bin" --images "$G" || exit 1
TOKEN=$(login root "$PW")
sed -i '/monitor.debugTestHandoverPause/d' "$d/v.vmx"
debug_runs() { idle && exe_is opt/vmx-opt; }
check kill-hostd-handover-finished wait_until 60 debug_runs
after_all kill-hostd debug opt/vmx-opt
check kill-hostd-adopted-event grep -q 'handed over to pid' <<<"$(api GET "/events?vm=$V" "" "$TOKEN")"

check counter-in-order in_order
out=$(api POST "/vms/$V/power" '{"op":"hardOff","wait":true}' "$TOKEN")
check hard-off grep -q '"state":"success"' <<<"$out"
check no-vmx-left test "$(nvmx)" -eq 0
