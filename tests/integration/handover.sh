#!/usr/bin/env bash
# handover.sh - the fast switch without hostd: a running guest (a counter
# printing every 100 ms) is handed from one vmx process to another through
# every build type (release -> beta -> stats -> release) with
# `vmx --incoming-handover SOCK` and the control command "handover"; it
# keeps counting without a reboot, each old process exits 5, each new
# log's line 1 names its build type.  Then the failure cases, where the old
# process must keep the guest: a receiver that reads older device sections
# (refused before the pause), a state the receiver refuses after the pause
# (section version 99), and a receiver killed with SIGKILL at each of its
# phases.  Finally the old process killed after sending its state: the
# receiver takes over.  Test knobs need the opt build (VMX_DEVEL).
set -u
B=${B:-build}
G="$PWD/$B/guest"
CTL="$B/host/vmx-ctl"
declare -A bin=([release]=release/vmx [beta]=beta/vmx-debug [stats]=stats/vmx-stats
                [opt]=opt/vmx-opt)

tmp=$(mktemp -d)
cleanup() { kill -9 $(jobs -p) 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

vm="$tmp/ho"
mkdir -p "$vm"
cp "$G/disk.img" "$vm/disk.img"
cat >"$vm/ho.vmx" <<VMX
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
SOCK="$vm/handover.sock"

VMX_FILE="$vm/ho.vmx"
. "$(dirname "$0")/counter_guest_lib.sh"
start_receiver() { # type -> sets rpid
  "$B/${bin[$1]}" --quiet --incoming-handover "$SOCK" "$vm/ho.vmx" >>"$vm/recv.out" 2>&1 &
  rpid=$!
  local i
  for i in $(seq 1 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
  return 1
}
# Hands the VM from the process $pid to a new one of type $1; sets pid to the new one.
switch_to() {
  local t=$1 old=$pid
  start_receiver "$t" || return 1
  "$CTL" "$vm" handover "{\"peer\":\"$SOCK\"}" >"$tmp/ho.reply" 2>&1 || return 1
  local i
  for i in $(seq 1 300); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$old" 2>/dev/null && { echo "old vmx still runs" >&2; return 1; }
  wait "$old"; local rc=$?
  [ $rc -eq 5 ] || { echo "old vmx exited $rc" >&2; return 1; }
  pid=$rpid
  [ "$(ctl_pid)" = "$pid" ]
}

"$B/release/vmx" "$vm/ho.vmx" >"$vm/first.out" 2>&1 &
pid=$!
check ho-counting-release wait_count 5 120
for t in beta stats release; do
  n=$(last_count)
  check "ho-switch-to-$t" switch_to $t
  check "ho-$t-log-line1" grep -q "buildType=$("$B/${bin[$t]}" --version | sed 's/.*buildType=//') " \
    <(head -1 "$vm/vmx.log")
  check "ho-$t-counting-on" wait_count $((n + 5)) 60
  st=$("$CTL" "$vm" handoverStatus)
  check "ho-$t-status-running" grep -q '"state": "running"' <<<"$st"
  check "ho-$t-downtime-reported" grep -q '"downtimeMs": [0-9]' <<<"$st"
done
check ho-old-logged-handover grep -q 'handover: pid [0-9]* (beta build) runs the guest' "$vm"/vmx-*.log
check ho-one-boot test "$(grep -c 'VMX3-MARKER: init' "$vm/console.log")" -eq 1
seq_ok() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$vm/console.log" | awk 'NR != $1 {exit 1}'; }
check ho-counter-no-gap-no-restart seq_ok
mono_ok() { sed -n 's/^VMX3 counter n=[0-9]* mono_ms=\([0-9]*\) .*/\1/p' "$vm/console.log" | awk 'prev > $1 {exit 1} {prev = $1}'; }
check ho-guest-clock-monotonic mono_ok

# A receiver that reads the device sections only as old blobs: refused before the pause.
set_knob monitor.debugTestCorrupt handover-hello
start_receiver opt
"$CTL" "$vm" handover "{\"peer\":\"$SOCK\"}" >"$tmp/ho.reply" 2>&1
check ho-old-sections-refused grep -q 'section \\"[a-z-]*\\": this vmx (release build) writes version 2, the receiving vmx (opt build) reads up to 1' "$tmp/ho.reply"
wait "$rpid"
check ho-refused-receiver-exits test $? -ne 0
check ho-refused-old-is-running test "$(ctl_pid)" = "$pid"
check ho-refused-guest-counts counting_on

# The receiver killed at each of its phases: the old process keeps the guest.
set_knob monitor.debugTestCorrupt ""
for phase in hello restored go; do
  set_knob monitor.debugTestHandoverPause "$phase:20"
  start_receiver opt
  "$CTL" "$vm" handover "{\"peer\":\"$SOCK\"}" >/dev/null 2>&1 &
  cpid=$!
  check "ho-kill-new-at-$phase-reached" wait_log "test pause at $phase" 30
  kill -9 "$rpid"; wait "$rpid" 2>/dev/null
  wait "$cpid"
  check "ho-kill-new-at-$phase-old-runs" test "$(ctl_pid)" = "$pid"
  check "ho-kill-new-at-$phase-guest-counts" counting_on
  sed -i "s/test pause at $phase/test pause (done) at $phase/" "$vm"/vmx*.log
done

# The old process killed after sending its state: the receiver takes over.
set_knob monitor.debugTestHandoverPause "sent:20"
check ho-switch-to-opt switch_to opt
start_receiver release
"$CTL" "$vm" handover "{\"peer\":\"$SOCK\"}" >/dev/null 2>&1
check ho-kill-old-reached wait_log "test pause at sent" 30
kill -9 "$pid"; wait "$pid" 2>/dev/null
pid=$rpid
check ho-kill-old-new-takes-over wait_log 'died after handing over its state' 10
for _ in $(seq 1 50); do [ "$(ctl_pid)" = "$pid" ] && break; sleep 0.1; done
check ho-kill-old-new-answers test "$(ctl_pid)" = "$pid"
check ho-kill-old-guest-counts counting_on
set_knob monitor.debugTestHandoverPause ""

# The old process writes a section version no receiver reads: refused after
# the pause.  (That opt process can never hand over or suspend; it runs to the end.)
set_knob monitor.debugTestCorrupt section-version
check ho-switch-to-opt-v99 switch_to opt
set_knob monitor.debugTestCorrupt ""
start_receiver release
"$CTL" "$vm" handover "{\"peer\":\"$SOCK\"}" >/dev/null 2>&1
for _ in $(seq 1 100); do
  st=$("$CTL" "$vm" handoverStatus 2>/dev/null)
  grep -q '"state": "failed"' <<<"$st" && break
  sleep 0.1
done
check ho-v99-taken-back grep -q '"state": "failed"' <<<"$st"
check ho-v99-reason grep -q 'section \\"clint0\\": version 99 is newer than this vmx reads' <<<"$st"
wait "$rpid"
check ho-v99-receiver-exits test $? -ne 0
check ho-v99-old-is-running test "$(ctl_pid)" = "$pid"
check ho-v99-guest-counts counting_on

check ho-still-one-boot test "$(grep -c 'VMX3-MARKER: init' "$vm/console.log")" -eq 1
check ho-counter-still-in-order seq_ok
"$CTL" "$vm" poweroff >/dev/null
wait "$pid"
check ho-poweroff-exit0 test $? -eq 0
