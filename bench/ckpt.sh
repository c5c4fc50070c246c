#!/usr/bin/env bash
# ckpt.sh - suspend and resume times, vmx against QEMU, side by side.
#
# Usage: bench/ckpt.sh [--guest DIR] [-m "512 2048"] VMX
#
# For each RAM size and each guest state (idle: the counter workload after
# boot; dirty: 80 % of RAM filled with incompressible data), it boots the
# default guest on QEMU and on VMX and measures:
#   save_s    QEMU: QMP `migrate` to "exec:cat > FILE" until completed.
#             vmx: the control socket's `suspend` until the process exited
#             (includes fsync of the file and the process tearing down).
#   load_s    QEMU: process start with -incoming "exec:cat FILE" until QMP
#             reports the VM running.  vmx: process start until vmx.log says
#             "powering on" (guest running; memory may still be arriving lazily).
#   full_s    vmx only: process start until every page is in RAM (log line
#             "guest memory loaded").
#   file_mb   size of the saved state.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
SIZES="512 2048"
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) GUEST_DIR=$2; shift 2 ;;
	-m) SIZES=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
VMX=${1:?usage: bench/ckpt.sh [--guest DIR] [-m SIZES] VMX}
VMX=$(cd "$(dirname "$VMX")" && pwd)/$(basename "$VMX")
CTL=$(dirname "$(dirname "$VMX")")/host/vmx-ctl
bench_check_guest
G=$(cd "$GUEST_DIR" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-ckpt.XXXXXX")
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

now() { echo "$EPOCHREALTIME"; }
wait_for() { # file regex timeout_s
	local i
	for i in $(seq 1 $(($3 * 20))); do
		grep -qa "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	echo "bench: timed out waiting for /$2/ in $1" >&2
	return 1
}
cmdline_for() { # state
	case "$1" in
	idle) echo "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0" ;;
	dirty) echo "console=ttyS0 quiet panic=-1 vmx3.run=dirty vmx3.dirty=80" ;;
	esac
}
ready_re() { [ "$1" = idle ] && echo 'VMX3 counter n=20 ' || echo 'VMX3 dirty mb='; }

qmp() { # socket json...: sends commands, prints replies
	python3 - "$@" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rw')
f.readline()
for cmd in ['{"execute":"qmp_capabilities"}'] + sys.argv[2:]:
    f.write(cmd + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if 'event' not in r: break
    print(json.dumps(r))
PY
}
qmp_wait() { # socket query field value
	local i
	for i in $(seq 1 6000); do
		qmp "$1" "{\"execute\":\"$2\"}" | tail -1 | grep -q "\"$3\": \"$4\"" && return 0
		sleep 0.01
	done
	return 1
}

run_qemu() { # mem state -> "save load file_mb"
	local mem=$1 state=$2 d="$work/q-$1-$2"
	mkdir -p "$d"
	local args=(-M virt -m "$mem" -smp 2 -nographic -no-reboot -bios "$G/fw_dynamic.bin"
		-kernel "$G/Image" -initrd "$G/initrd.gz" -append "$(cmdline_for "$state")")
	qemu-system-riscv64 "${args[@]}" -qmp "unix:$d/qmp,server=on,wait=off" >"$d/console" 2>&1 &
	local pid=$!
	wait_for "$d/console" "$(ready_re "$state")" 600
	local t0 t1 t2
	t0=$(now)
	qmp "$d/qmp" "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"exec:cat > $d/state\"}}" >/dev/null
	qmp_wait "$d/qmp" query-migrate status completed
	t1=$(now)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	t2=$(now)
	qemu-system-riscv64 "${args[@]}" -qmp "unix:$d/qmp2,server=on,wait=off" \
		-incoming "exec:cat $d/state" >"$d/console2" 2>&1 &
	pid=$!
	until [ -S "$d/qmp2" ]; do sleep 0.005; done
	qmp_wait "$d/qmp2" query-status status running
	local t3; t3=$(now)
	kill "$pid"; wait "$pid" 2>/dev/null || true
	echo "$(echo "$t1 - $t0" | bc) $(echo "$t3 - $t2" | bc) $(( $(stat -c %s "$d/state") >> 20 ))"
	rm -f "$d/state"
}

log_epoch() { # vmx.log line regex -> seconds since the epoch of its timestamp
	local ts
	ts=$(grep -a "$2" "$1" | head -1 | cut -d' ' -f1)
	date -d "$ts" +%s.%N
}

run_vmx() { # mem state -> "save load full file_mb"
	local mem=$1 state=$2 d="$work/v-$1-$2"
	mkdir -p "$d"
	cat >"$d/b.vmx" <<VMX
memSize = "$mem"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "$(cmdline_for "$state")"
serial0.fileName = "console.log"
VMX
	"$VMX" --quiet "$d/b.vmx" &
	local pid=$!
	wait_for "$d/console.log" "$(ready_re "$state")" 600
	local t0 t1 t2 mb
	t0=$(now)
	"$CTL" "$d" suspend >/dev/null
	wait "$pid" || true
	t1=$(now)
	mb=$(( $(stat -c %s "$d/b.vmss") >> 20 ))
	t2=$(now)
	"$VMX" --quiet "$d/b.vmx" &
	pid=$!
	wait_for "$d/vmx.log" "guest memory loaded" 120
	"$CTL" "$d" poweroff >/dev/null; wait "$pid" || true
	local on full
	on=$(log_epoch "$d/vmx.log" "powering on")
	full=$(log_epoch "$d/vmx.log" "guest memory loaded")
	echo "$(echo "$t1 - $t0" | bc) $(echo "$on - $t2" | bc) $(echo "$full - $t2" | bc) $mb"
}

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
echo "# $(qemu-system-riscv64 --version | head -n 1); vmx: $("$VMX" --version)"
printf '%-6s %-6s | %-8s %-8s %-8s | %-8s %-8s %-8s %-8s\n' MiB state q_save q_load q_mb \
	v_save v_load v_full v_mb
for mem in $SIZES; do
	for state in idle dirty; do
		read -r qs ql qm <<<"$(run_qemu "$mem" "$state")"
		read -r vs vl vf vm <<<"$(run_vmx "$mem" "$state")"
		printf '%-6s %-6s | %-8.3f %-8.3f %-8s | %-8.3f %-8.3f %-8.3f %-8s\n' "$mem" "$state" \
			"$qs" "$ql" "$qm" "$vs" "$vl" "$vf" "$vm"
	done
done
