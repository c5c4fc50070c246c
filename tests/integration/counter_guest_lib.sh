# counter_guest_lib.sh - helpers for the tests that move a running Linux
# counter guest (vmx3.run=counter: a "VMX3 counter n=N ..." line every
# 100 ms on the serial console) between vmx processes without hostd:
# handover.sh and migrate.sh source it.  The caller sets vm (the VM
# directory: console.log and the vmx*.log files), VMX_FILE (its .vmx) and
# CTL (vmx-ctl).

ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# The guest's last counter value, or nothing before the first line.
last_count() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$vm/console.log" | tail -1; }
wait_count() { # n timeout_s
  local i
  for i in $(seq 1 $(($2 * 10))); do
    [ "$(last_count)" -ge "$1" ] 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
# The guest still counts: five more lines within a minute.
counting_on() { local n; n=$(last_count); wait_count $((n + 5)) 60; }
# The pid of the vmx that answers on the VM's control socket.
ctl_pid() { "$CTL" "$vm" hello 2>/dev/null | sed -n 's/.*"pid": \([0-9]*\).*/\1/p'; }
set_knob() { # key value ("" removes)
  sed -i "/^$1 = /d" "$VMX_FILE"
  [ -n "$2" ] && echo "$1 = \"$2\"" >>"$VMX_FILE"
  return 0
}
wait_log() { # pattern timeout_s
  local i
  for i in $(seq 1 $(($2 * 10))); do
    grep -q "$1" "$vm"/vmx*.log 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
