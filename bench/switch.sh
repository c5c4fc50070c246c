#!/usr/bin/env bash
# switch.sh - runtime build-type switch downtime, fast (hand-over) against
# suspend (suspend/resume), side by side in one run, through hostd.
#
# Usage: bench/switch.sh [--guest DIR] [-m "512 2048"] [-s "idle dirty"] [-n N] BUILD_DIR
# (SWITCH_METHODS=fast in the environment runs one method only)
#
# For each RAM size and guest state it creates a VM with 2 vCPUs running the
# gaps workload (guest/src/vmx3-gaps.c: CLOCK_MONOTONIC in a tight loop,
# longest gap and gaps over 5 ms); "dirty" first fills 80 % of RAM with
# incompressible data (vmx3-dirty, kept).  It powers the VM on through hostd
# and switches it N times with each method, cycling default -> debug ->
# stats -> default.  Per size, state and method it prints:
#   task_ms   downtimeMs from the task (fast: from the old vmx stopping its
#             vCPUs to the new one's first guest instruction; suspend: hostd's
#             stop + save + reconfigure + launch + load + resume), median and max
#   guest_ms  longest CLOCK_MONOTONIC gap the guest saw within each switch
#             (max over the switches).  The fast path keeps the guest's clock
#             running, so it sees the pause; a resume hides the suspended
#             interval from the guest's clock, so for suspend this is not the
#             pause (the guest's clock falls behind instead).
#   base_ms   the same longest gap in the two seconds before each switch (max):
#             what the guest sees without a switch on this host (scheduling)
#   vcpu_ms   guest_ms less the time the gaps task waited on the guest's own
#             run queue (the guest kernel running something else there): the
#             part of the gap when the vCPU itself did not run
#   vbase_ms  the same for base_ms
#   over5     gaps over 5 ms the guest counted during the switches
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST_DIR=${GUEST_DIR:-build/guest}
SIZES="512 2048"
STATES="idle dirty"
METHODS=${SWITCH_METHODS:-fast suspend}
N=3
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) GUEST_DIR=$2; shift 2 ;;
	-m) SIZES=$2; shift 2 ;;
	-s) STATES=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	-h|--help) sed -n '2,24p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
BD=$(cd "${1:?usage: bench/switch.sh [options] BUILD_DIR}" && pwd)
G=$(cd "$GUEST_DIR" && pwd)
HOST="$BD/host"
work=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-switch.XXXXXX")
HPID=
cleanup() {
	[ -n "$HPID" ] && kill "$HPID" 2>/dev/null
	for p in $(pgrep -f -- "$work/ds/" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bin" "$work/ds"
ln -s "$BD/release/vmx" "$work/bin/vmx"
ln -s "$BD/beta/vmx-debug" "$work/bin/vmx-debug"
ln -s "$BD/stats/vmx-stats" "$work/bin/vmx-stats"
export VMX3_PASSWORD=bench VMX3_USER=root VMX3_SERVER="unix:$work/state/hostd.sock"
"$HOST/hostd" --state "$work/state" useradd root admin >/dev/null 2>&1 </dev/null
"$HOST/hostd" --state "$work/state" --port 0 --datastore "ds=$work/ds" --vmx-dir "$work/bin" --images "$G" \
	>"$work/hostd.out" 2>&1 &
HPID=$!
for _ in $(seq 100); do [ -S "$work/state/hostd.sock" ] && break; sleep 0.1; done
api() { # METHOD PATH [JSON]
	curl -s --max-time 900 --unix-socket "$work/state/hostd.sock" -X "$1" \
		-H "Authorization: Bearer $TOKEN" ${3:+-H 'Content-Type: application/json' -d "$3"} \
		"http://h/api/v1$2"
}
TOKEN=$(curl -s --unix-socket "$work/state/hostd.sock" -d '{"username":"root","password":"bench"}' \
	http://h/api/v1/session | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
jq1() { python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
wait_for() { # file regex timeout_s
	local i
	for i in $(seq 1 $(($3 * 10))); do
		grep -qa "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench: timed out waiting for /$2/ in $1" >&2
	return 1
}

echo "# bench/switch.sh: $(nproc) CPUs, $(sed -n 's/model name[^:]*: //p' /proc/cpuinfo | head -1), $(uname -r)"
printf '%-6s %-6s %-8s %4s %12s %12s %12s %9s %9s %9s %6s\n' memMB state method n task_med_ms task_max_ms \
	guest_max_ms base_ms vcpu_ms vbase_ms over5
vm=0
for mb in $SIZES; do
	for st in $STATES; do
		vm=$((vm + 1))
		d="$work/ds/vm$vm"
		mkdir -p "$d"
		cp --sparse=always "$G/disk.img" "$d/disk.img"
		run=gaps; [ "$st" = dirty ] && run=dirtybg,gaps
		cat >"$d/vm$vm.vmx" <<VMX
memSize = "$mb"
numvcpus = "2"
vmx.buildType = "default"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=$run vmx3.dirty=80 vmx3.gaps=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
		id=$(api POST /vms "{\"file\":\"[ds] vm$vm/vm$vm.vmx\"}" | jq1 "j['id']")
		api POST "/vms/$id/power" '{"op":"on","wait":true}' >/dev/null
		wait_for "$d/console.log" 'VMX3 gaps t_s=3 ' 900
		cur=default
		for method in $METHODS; do
			downs=() gmax=0 over=0 bmax=0 vmax=0 vbmax=0
			for i in $(seq 1 "$N"); do
				case $cur in default) nxt=debug ;; debug) nxt=stats ;; *) nxt=default ;; esac
				# Two full seconds of reports without a switch first.
				lb=$(wc -l <"$d/console.log")
				for _ in $(seq 1 50); do
					[ "$(tail -n +$((lb + 1)) "$d/console.log" | grep -ac 'VMX3 gaps t_s=')" -ge 3 ] && break
					sleep 0.1
				done
				b=$(tail -n +$((lb + 1)) "$d/console.log" | grep -a 'VMX3 gaps t_s=' | tail -2 |
					sed -n 's/.*last_max_us=\([0-9]*\).*/\1/p' | sort -n | tail -1)
				[ "${b:-0}" -gt "$bmax" ] && bmax=$b
				b=$(tail -n +$((lb + 1)) "$d/console.log" | grep -a 'VMX3 gaps t_s=' | tail -2 |
					sed -n 's/.*last_vcpu_max_us=\([0-9]*\).*/\1/p' | sort -n | tail -1)
				[ "${b:-0}" -gt "$vbmax" ] && vbmax=$b
				l0=$(wc -l <"$d/console.log")
				out=$(api PUT "/vms/$id/buildType" "{\"buildType\":\"$nxt\",\"method\":\"$method\",\"wait\":true}")
				used=$(jq1 "j['result'].get('method','?')" <<<"$out")
				[ "$used" = "$method" ] || { echo "bench: $method switch used $used: $(jq1 "j['result'].get('fallbackReason', j.get('error'))" <<<"$out")" >&2; }
				dt=$(jq1 "j.get('result', {}).get('downtimeMs', '')" <<<"$out" 2>/dev/null)
				if [ -z "$dt" ]; then
					keep=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-switch-failed.XXXXXX")
					cp "$work/hostd.out" "$d"/vmx*.log "$d"/vmx-stdio.log "$keep/" 2>/dev/null
					echo "bench: $mb MiB $st: the $method switch to $nxt failed: $(jq1 "j.get('error', j)" <<<"$out" 2>/dev/null || echo "${out:-no reply}")" >&2
					echo "bench: hostd's and the VM's logs are in $keep" >&2
					exit 1
				fi
				downs+=("$dt")
				cur=$nxt
				# Two more reports cover the second in which the switch happened.
				l1=$(wc -l <"$d/console.log")
				for _ in $(seq 1 50); do
					[ "$(tail -n +$((l1 + 1)) "$d/console.log" | grep -ac 'VMX3 gaps t_s=')" -ge 2 ] && break
					sleep 0.1
				done
				read -r g o gv < <(tail -n +$((l0 + 1)) "$d/console.log" | python3 -c '
import re, sys
rep = [l for l in sys.stdin if l.startswith("VMX3 gaps t_s=")]
g = max([int(re.search(r" last_max_us=(\d+)", l).group(1)) for l in rep] or [0])
v = max([int(re.search(r" last_vcpu_max_us=(\d+)", l).group(1)) for l in rep] or [0])
o = [int(re.search(r"over5ms=(\d+)", l).group(1)) for l in rep]
print(g, (o[-1] - o[0]) if len(o) > 1 else 0, v)')
				[ "$g" -gt "$gmax" ] && gmax=$g
				[ "$gv" -gt "$vmax" ] && vmax=$gv
				over=$((over + o))
			done
			python3 - "$mb" "$st" "$method" "$gmax" "$bmax" "$vmax" "$vbmax" "$over" "${downs[@]}" <<'PY'
import statistics, sys
mb, st, method, gmax, bmax, vmax, vbmax, over = sys.argv[1:9]
d = [float(x) for x in sys.argv[9:]]
print("%-6s %-6s %-8s %4d %12.3f %12.3f %12.3f %9.3f %9.3f %9.3f %6s" % (mb, st, method, len(d),
      statistics.median(d), max(d), int(gmax) / 1000, int(bmax) / 1000, int(vmax) / 1000,
      int(vbmax) / 1000, over))
PY
		done
		api POST "/vms/$id/power" '{"op":"hardOff","wait":true}' >/dev/null
	done
done
