#!/usr/bin/env bash
# vmx3.sh - the seed's test (test-esx vmx-stats/vmx3.sh): creates several VMs
# through hostd, changes their build types while powered off, suspended and
# powered on, and checks each time that
#   - the output of vmx-buildtype is the seed's,
#   - a new vmx process of the right binary runs (new pid, /proc/PID/exe),
#   - line 1 of vmx.log names the build type and the old log was rotated,
#   - a stats build has a stats/ directory in the VM directory,
#   - the guest workload carried on across every runtime switch,
# and changes every VM back to default at the end.
#
# It runs the real vmx binaries ($B/release/vmx, $B/beta/vmx-debug,
# $B/stats/vmx-stats) booting Debian's kernel from the default guest
# ($GUEST_DIR, default $B/guest) with the counter workload; a missing binary
# or guest file is a failure.  VMX3_TEST_FAKE=1 runs the same checks against
# tests/integration/hostd_fakevmx.py instead, and says so with a SKIP line
# that the summary counts.
# Prints PASS/FAIL/SKIP lines; exit status 0 when nothing failed.
set -u
cd "$(dirname "$0")/.."
. tests/integration/hostd_lib.sh
GUEST_DIR=${GUEST_DIR:-$B/guest}
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

real=1
if [ "${VMX3_TEST_FAKE:-0}" = 1 ]; then
  real=0
else
  for f in "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats" \
           "$GUEST_DIR/fw_dynamic.bin" "$GUEST_DIR/Image" "$GUEST_DIR/initrd.gz"; do
    [ -e "$f" ] || { bad vmx3-prerequisites "$f missing (make all guest, or VMX3_TEST_FAKE=1 for the fake vmx)"; exit 1; }
  done
fi

if [ $real = 1 ]; then
  mkdir -p "$T/bin"
  for f in "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats"; do
    ln -s "$(realpath "$f")" "$T/bin/$(basename "$f")"
  done
  declare -A EXE=([vmx]=$(realpath "$B/release/vmx") [vmx-debug]=$(realpath "$B/beta/vmx-debug")
                  [vmx-stats]=$(realpath "$B/stats/vmx-stats"))
  echo "# real vmx binaries and the default guest"
  NVMS_ON=2
  BOOT_S=180
else
  make_fake_vmx "$T/bin"
  echo "SKIP vmx3-real-guest (VMX3_TEST_FAKE=1: the checks below ran against the fake vmx)"
  NVMS_ON=3
  BOOT_S=10
fi
declare -A COMPILED=([default]=release [debug]=beta [stats]=stats)
declare -A BIN=([default]=vmx [debug]=vmx-debug [stats]=vmx-stats)

# The default guest's files are read-only images: hostd lets VMs name them.
IMAGES=()
[ -d "$GUEST_DIR" ] && IMAGES=(--images "$GUEST_DIR")
add_users
start_hostd --vmx-dir "$T/bin" "${IMAGES[@]}" || exit 1
TOKEN=$(login root "$PW")

make_vm() { # NAME
  local d="$T/ds1/$1"; mkdir -p "$d"
  if [ $real = 1 ]; then
    cat >"$d/$1.vmx" <<VMX
memSize = "256"
numvcpus = "1"
guest.firmware = "$(realpath "$GUEST_DIR/fw_dynamic.bin")"
guest.kernel = "$(realpath "$GUEST_DIR/Image")"
guest.initrd = "$(realpath "$GUEST_DIR/initrd.gz")"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
serial0.fileName = "$1.serial"
VMX
  else
    printf 'memSize = "256"\nnumvcpus = "1"\nserial0.fileName = "%s.serial"\nfake.suspendMs = "600"\n' "$1" >"$d/$1.vmx"
  fi
  "$HOST/vmx3-cmd" register "[ds1] $1/$1.vmx" >/dev/null
}

# Last workload counter value printed by the guest (0 when none yet).
counter() {
  local f="$T/ds1/$1/$1.serial"
  [ -e "$f" ] || { echo 0; return; }
  if [ $real = 1 ]; then
    sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$f" | tail -1 | grep . || echo 0
  else
    sed -n 's/^tick \([0-9]*\) .*/\1/p' "$f" | tail -1 | grep . || echo 0
  fi
}
# First counter value after line L of the serial file.
counter_after() {
  local f="$T/ds1/$1/$1.serial"
  if [ $real = 1 ]; then
    tail -n +"$(( $2 + 1 ))" "$f" | sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' | head -1
  else
    tail -n +"$(( $2 + 1 ))" "$f" | sed -n 's/^tick \([0-9]*\) .*/\1/p' | head -1
  fi
}
vmid() { "$HOST/vmx3-cmd" --json list | jget "[v['id'] for v in j['vms'] if v['name']=='$1'][0]"; }
pid_of() { vm_field "$(vmid "$1")" pid; }
running_binary_ok() { # PID BINARY: /proc/PID/exe (real) or the script name (fake)
  if [ $real = 1 ]; then [ "$(readlink "/proc/$1/exe")" = "${EXE[$2]}" ]
  else tr '\0' ' ' <"/proc/$1/cmdline" | grep -q "/$2 "; fi
}
workload_running() { [ "$(counter "$1")" -gt "$2" ]; }

VMS="vm1 vm2 vm3"
for v in $VMS; do make_vm "$v"; done
check several-vms-registered test "$("$HOST/vmx3-cmd" --json list | jget "len(j['vms'])")" = 3

# --- powered off ---------------------------------------------------------------------
out=$("$HOST/vmx-buildtype" --vmname vm1)
check query-default test "$out" = "VM [ds1] vm1/vm1.vmx uses vmx build type: default"
out=$("$HOST/vmx-buildtype" --vmfile "[ds1] vm1/vm1.vmx" --buildType stats)
check off-to-stats-output test "$out" = 'Reconfiguring VM "[ds1] vm1/vm1.vmx" for vmx build type stats... done.'
check off-to-stats-file grep -qx 'vmx.buildType = "stats"' "$T/ds1/vm1/vm1.vmx"
check off-to-stats-query test "$("$HOST/vmx-buildtype" --vmname vm1)" = "VM [ds1] vm1/vm1.vmx uses vmx build type: stats"
out=$("$HOST/vmx-buildtype" --vmname vm2 --buildType debug)
check off-to-debug-output test "$out" = 'Reconfiguring VM "[ds1] vm2/vm2.vmx" for vmx build type debug... done.'

# --- power on: each VM runs the binary of its build type ---------------------------------
declare -A TYPE=([vm1]=stats [vm2]=debug [vm3]=default)
ON=$(echo $VMS | cut -d' ' -f1-$NVMS_ON)
[ $real = 1 ] && ON="vm1 vm3"
for v in $ON; do
  "$HOST/vmx3-cmd" power "$(vmid $v)" on >/dev/null || bad "power-on-$v"
done
for v in $ON; do
  p=$(pid_of $v); t=${TYPE[$v]}
  check "poweron-$v-binary-${BIN[$t]}" running_binary_ok "$p" "${BIN[$t]}"
  check "poweron-$v-log-line1" grep -q "^Log for vmx3 pid=$p .*buildType=${COMPILED[$t]} " "$T/ds1/$v/vmx.log"
  check "poweron-$v-workload" wait_until $BOOT_S workload_running $v 2
done
check stats-build-has-stats-dir test -d "$T/ds1/vm1/stats"

# switch VM NEWTYPE: a runtime change with every check of the seed's test.
switch() {
  local v=$1 t=$2 old new lines before first out
  old=$(pid_of "$v")
  before=$(counter "$v")
  lines=$(wc -l <"$T/ds1/$v/$v.serial")
  out=$("$HOST/vmx-buildtype" --vmname "$v" --buildType "$t")
  check "runtime-$v-$t-output" test "$out" = "Suspending VM...
Reconfiguring VM \"[ds1] $v/$v.vmx\" for vmx build type $t...
Resuming VM... done."
  new=$(pid_of "$v")
  check "runtime-$v-$t-new-pid" test -n "$new" -a "$new" != "$old" -a "$new" != None
  check "runtime-$v-$t-binary-${BIN[$t]}" running_binary_ok "$new" "${BIN[$t]}"
  check "runtime-$v-$t-log-line1" grep -q "^Log for vmx3 pid=$new .*buildType=${COMPILED[$t]} " "$T/ds1/$v/vmx.log"
  check "runtime-$v-$t-log-rotated" grep -q "^Log for vmx3 pid=$old " "$T/ds1/$v/vmx-0.log"
  check "runtime-$v-$t-old-pid-gone" test ! -d "/proc/$old"
  [ "$t" = stats ] && check "runtime-$v-stats-dir" test -d "$T/ds1/$v/stats"
  check "runtime-$v-$t-workload-carries-on" wait_until $BOOT_S workload_running "$v" "$before"
  first=$(counter_after "$v" "$lines")
  check "runtime-$v-$t-workload-not-restarted" test -n "$first" -a "${first:-0}" -ge "$before"
  echo "# $v -> $t: $(api GET "/tasks?limit=1" "" "$TOKEN" | jget "' '.join('%s=%dms' % (p['name'], p['ms']) for p in j['tasks'][0]['phases'])")"
}

switch vm3 debug
switch vm3 stats
switch vm3 default
switch vm1 default

# --- suspended: change while suspended, resume with the new binary ---------------------
v=vm3
before=$(counter $v)
"$HOST/vmx3-cmd" power "$(vmid $v)" suspend >/dev/null
check suspended-state test "$(vm_field "$(vmid $v)" powerState)" = suspended
out=$("$HOST/vmx-buildtype" --vmname $v --buildType stats)
check suspended-change-output test "$out" = "Reconfiguring VM \"[ds1] $v/$v.vmx\" for vmx build type stats... done."
"$HOST/vmx3-cmd" power "$(vmid $v)" resume >/dev/null
p=$(pid_of $v)
check suspended-resume-binary running_binary_ok "$p" vmx-stats
check suspended-resume-workload wait_until $BOOT_S workload_running $v "$before"
switch vm3 default

# --- hostd killed (SIGKILL) in the middle of a runtime switch ------------------------------------
v=vm3; id=$(vmid $v)
before=$(counter $v)
# The suspend method: a fast switch ends within milliseconds, before a kill can land in it.
"$HOST/vmx-buildtype" --vmname $v --buildType debug --method suspend >/dev/null 2>&1 &
cli=$!
task=None
for _ in $(seq 1000); do   # plain curl and sed: quick enough to land inside the switch
  t=$(api GET "/vms/$id" "" "$TOKEN" | sed -n 's/.*"busyTask":\([0-9]*\).*/\1/p')
  [ -n "$t" ] && { task=$t; break; }
done
stop_hostd KILL
wait $cli 2>/dev/null
start_hostd --vmx-dir "$T/bin" "${IMAGES[@]}" || exit 1
TOKEN=$(login root "$PW")
settled() { [ "$(vm_field "$id" powerState)" = poweredOn ] && [ "$(vm_field "$id" busyTask)" = None ]; }
check killed-hostd-during-a-task test "$task" != None
check killed-hostd-vm-running wait_until 60 settled
st_task=$(api GET "/tasks/$task" "" "$TOKEN" | jget "j['state'] + ': ' + j.get('error', '')")
echo "# task $task after the restart: $st_task"
check killed-hostd-task-says test "${st_task%%:*}" = success -o -n "$(grep 'interrupted by a restart of hostd' <<<"$st_task")"
check killed-hostd-workload-carries-on wait_until $BOOT_S workload_running $v "$before"
check killed-hostd-no-stale-checkpoint test ! -e "$T/ds1/$v/$v.vmss"

# --- back to default, power off -------------------------------------------------------------
for v in $VMS; do
  "$HOST/vmx-buildtype" --vmname $v --buildType default >/dev/null 2>&1 || bad "back-to-default-$v"
done
for v in $VMS; do
  check "final-$v-default" test "$("$HOST/vmx-buildtype" --vmname $v)" = "VM [ds1] $v/$v.vmx uses vmx build type: default"
done
for v in $ON; do "$HOST/vmx3-cmd" power "$(vmid $v)" off >/dev/null || bad "graceful-off-$v"; done
# hostd's note is appended to the log of the vmx it just started; that vmx
# writes more lines after it (its own suspend at the next switch, or its
# power-off), and the note must still be there under them.
note_kept() { # VM FROM TO
  local f at
  for f in "$T/ds1/$1"/vmx.log "$T/ds1/$1"/vmx-[0-9]*.log; do
    at=$(grep -n "hostd I vmx.buildType changed from $2 to $3 by user root" "$f" | tail -1 | cut -d: -f1)
    [ -n "$at" ] && tail -n +"$((at + 1))" "$f" | grep -qv ' hostd I ' && return 0
  done
  return 1
}
if note_kept vm1 stats default; then ok hostd-note-survives-vmx-writes; else
  bad hostd-note-survives-vmx-writes; fails=$((fails + 1)); tail -n 3 "$T/ds1/vm1"/vmx*.log; fi
check all-powered-off test "$("$HOST/vmx3-cmd" --json list | jget "sorted(set(v['powerState'] for v in j['vms']))")" = '["poweredOff"]'
[ $fails -eq 0 ]
