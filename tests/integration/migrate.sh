#!/usr/bin/env bash
# migrate.sh - live migration without hostd: a running Linux guest (a counter
# printing every 100 ms, its disk on a "datastore" both sides see) is moved
# over TCP on loopback from one vmx to another `vmx --incoming-migration`
# through every build type (release -> beta -> stats -> release) while it
# counts: each old process exits 5, the guest never reboots, the counter has
# no gap and its clock never goes back.  Then a guest that writes memory as
# fast as it can (vmx3-dirty) is moved: pre-copy rounds, then the last one.
# Then the failures, after which the guest must run in exactly one process:
# a wrong token and a VM of another size (refused before anything is
# copied), the connection dropped mid-copy and after the state went over,
# the receiver killed while the pages flow and after it restored
# the state (the sender takes the guest and its disk back), and the receiver
# killed after "go" (the sender stays paused "inDoubt" until migrateResolve).
# Test knobs need the opt build (VMX_DEVEL).
set -u
B=${B:-build}
G="$PWD/$B/guest"
CTL="$B/host/vmx-ctl"
declare -A bin=([release]=release/vmx [beta]=beta/vmx-debug [stats]=stats/vmx-stats
                [opt]=opt/vmx-opt)

tmp=$(mktemp -d)
cleanup() { kill -9 $(jobs -p) 2>/dev/null; [ -n "${KEEP_TMP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"; }
trap cleanup EXIT

vm="$tmp/mig"
mkdir -p "$vm"
cp "$G/disk.img" "$vm/disk.img"
cat >"$vm/mig.vmx" <<VMX
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
export VMX_MIGRATION_TOKEN=migrate-test-token-0123456789
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

VMX_FILE="$vm/mig.vmx"
. "$(dirname "$0")/counter_guest_lib.sh"
start_receiver() { # type [vmx] -> sets rpid, port
  port=$(free_port)
  "$B/${bin[$1]}" --quiet --incoming-migration "127.0.0.1:$port" "${2:-$vm/mig.vmx}" \
    >>"$vm/recv.out" 2>&1 &
  rpid=$!
  local i
  for i in $(seq 1 200); do
    grep -qs "waiting for the running vmx on 127.0.0.1:$port" "$vm/vmx.log" && return 0
    sleep 0.05
  done
  return 1
}
migrate_req() { # [token]
  "$CTL" "$vm" migrate "{\"peer\":\"127.0.0.1:$port\",\"token\":\"${1:-$VMX_MIGRATION_TOKEN}\"}"
}
# Moves the VM from the process $pid to a new one of type $1; sets pid to the new one.
move_to() {
  local t=$1 old=$pid
  start_receiver "$t" || return 1
  migrate_req >"$tmp/mig.reply" 2>&1 || { cat "$tmp/mig.reply" >&2; return 1; }
  local i
  for i in $(seq 1 600); do kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$old" 2>/dev/null && { echo "old vmx still runs" >&2; return 1; }
  wait "$old"; local rc=$?
  [ $rc -eq 5 ] || { echo "old vmx exited $rc" >&2; return 1; }
  pid=$rpid
  for i in $(seq 1 50); do [ "$(ctl_pid)" = "$pid" ] && return 0; sleep 0.1; done
  return 1
}
status_is() { "$CTL" "$vm" migrateStatus 2>/dev/null | grep -q "\"state\": \"$1\""; }
wait_status() { # state timeout_s
  local i
  for i in $(seq 1 $(($2 * 10))); do status_is "$1" && return 0; sleep 0.1; done
  return 1
}

"$B/release/vmx" "$vm/mig.vmx" >"$vm/first.out" 2>&1 &
pid=$!
check mig-counting-release wait_count 5 120
for t in beta stats release; do
  n=$(last_count)
  check "mig-move-to-$t" move_to $t
  check "mig-$t-log-line1" grep -q "buildType=$("$B/${bin[$t]}" --version | sed 's/.*buildType=//') " \
    <(head -1 "$vm/vmx.log")
  check "mig-$t-counting-on" wait_count $((n + 5)) 60
  st=$("$CTL" "$vm" migrateStatus)
  check "mig-$t-status-running" grep -q '"state": "running"' <<<"$st"
  check "mig-$t-downtime-reported" grep -q '"downtimeMs": [0-9]' <<<"$st"
done
check mig-old-logged grep -q 'migration: the vmx at 127.0.0.1:[0-9]* (beta build) runs the guest' "$vm"/vmx-*.log
check mig-rounds-logged grep -q 'migration: round 0: [0-9]* pages' "$vm"/vmx-*.log
check mig-one-boot test "$(grep -c 'VMX3-MARKER: init' "$vm/console.log")" -eq 1
seq_ok() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$vm/console.log" | awk 'NR != $1 {exit 1}'; }
check mig-counter-no-gap-no-restart seq_ok
mono_ok() { sed -n 's/^VMX3 counter n=[0-9]* mono_ms=\([0-9]*\) .*/\1/p' "$vm/console.log" | awk 'prev > $1 {exit 1} {prev = $1}'; }
check mig-guest-clock-monotonic mono_ok

# Refused before anything is copied: a wrong token, a VM of another size.
start_receiver release
migrate_req wrong-token-0123456789abcdef >"$tmp/mig.reply" 2>&1
check mig-wrong-token-refused grep -q 'wrong migration token' "$tmp/mig.reply"
check mig-wrong-token-old-runs test "$(ctl_pid)" = "$pid"
kill -9 "$rpid"; wait "$rpid" 2>/dev/null
sed 's/^memSize = .*/memSize = "128"/' "$vm/mig.vmx" >"$vm/small.vmx"
start_receiver release "$vm/small.vmx"
migrate_req >"$tmp/mig.reply" 2>&1
check mig-size-refused grep -q 'the sending VM has 256 MiB and 2 vCPUs, .*small.vmx says memSize 128' "$tmp/mig.reply"
wait "$rpid"
check mig-size-receiver-exits test $? -ne 0
check mig-size-guest-counts counting_on

# A dropped TCP connection (tcpcut.py between the two, closing both sides
# with a reset): in the middle of the pages, and once the state went over
# (before "ready" can come back).  The sender takes the guest back (and its
# disk, which the receiver had opened the second time), the receiver runs
# nothing.
for when in pages state; do
  start_receiver release
  cport=$(free_port)
  python3 tests/integration/tcpcut.py "$cport" "$port" "$when" >"$tmp/cut.out" 2>&1 &
  cutpid=$!
  for _ in $(seq 100); do grep -q listening "$tmp/cut.out" && break; sleep 0.05; done
  "$CTL" "$vm" migrate "{\"peer\":\"127.0.0.1:$cport\",\"token\":\"$VMX_MIGRATION_TOKEN\"}" >/dev/null 2>&1
  check "mig-cut-$when-failed" wait_status failed 40
  wait "$cutpid"
  check "mig-cut-$when-did-cut" grep -q '^cut' "$tmp/cut.out"
  wait "$rpid"
  check "mig-cut-$when-receiver-exits" test $? -ne 0
  check "mig-cut-$when-old-runs" test "$(ctl_pid)" = "$pid"
  check "mig-cut-$when-guest-counts" counting_on
done

# The receiver killed while pages flow, and after it restored the state (the
# sender had let go of its disk): the sender takes the guest back.
for phase in hello restored; do
  set_knob monitor.debugTestMigrationPause "$phase:20"
  start_receiver opt
  migrate_req >/dev/null 2>&1
  check "mig-kill-new-at-$phase-reached" wait_log "test pause at $phase" 30
  if [ "$phase" = hello ]; then
    # One move at a time: a suspend or a hand-over asked for now is refused.
    check mig-busy-suspend-refused grep -q 'a migration is in progress' \
      <<<"$("$CTL" "$vm" suspend 2>&1)"
    check mig-busy-handover-refused grep -q 'a migration is in progress' \
      <<<"$("$CTL" "$vm" handover '{"peer":"/nonexistent.sock"}' 2>&1)"
    check mig-busy-second-migrate-refused grep -q 'a migration is in progress' \
      <<<"$("$CTL" "$vm" migrate "{\"peer\":\"127.0.0.1:$port\",\"token\":\"0123456789abcdef0123\"}" 2>&1)"
  fi
  kill -9 "$rpid"; wait "$rpid" 2>/dev/null
  check "mig-kill-new-at-$phase-failed" wait_status failed 30
  check "mig-kill-new-at-$phase-old-runs" test "$(ctl_pid)" = "$pid"
  check "mig-kill-new-at-$phase-guest-counts" counting_on
  sed -i "s/test pause at $phase/test pause (done) at $phase/" "$vm"/vmx*.log
done
# The disk is the sender's again: a guest write reaches it (the counter guest syncs).
check mig-disk-back-in-use python3 - "$vm/disk.img" <<'PY'
import fcntl, sys
f = open(sys.argv[1], "rb")
try:
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(0)   # held: the running vmx has it open and locked
sys.exit(1)
PY

# The receiver killed after "go": the sender cannot know whether it ran the
# guest and stays paused until told; told "it does not", it runs on.
set_knob monitor.debugTestMigrationPause "go:20"
start_receiver opt
migrate_req >/dev/null 2>&1
check mig-kill-after-go-reached wait_log "test pause at go" 30
kill -9 "$rpid"; wait "$rpid" 2>/dev/null
check mig-in-doubt wait_status inDoubt 30
n=$(last_count); sleep 1
check mig-in-doubt-paused test "$(last_count)" = "$n"
"$CTL" "$vm" migrateResolve '{"runHere":true}' >/dev/null
check mig-resolved-runs-here wait_status failed 30
check mig-resolved-guest-counts counting_on
set_knob monitor.debugTestMigrationPause ""

check mig-still-one-boot test "$(grep -c 'VMX3-MARKER: init' "$vm/console.log")" -eq 1
check mig-counter-still-in-order seq_ok
"$CTL" "$vm" poweroff >/dev/null
wait "$pid"
check mig-poweroff-exit0 test $? -eq 0
