#!/usr/bin/env bash
# mips.sh - guest instruction throughput on the CPU-bound workload.
#
# Usage: bench/mips.sh [-n RUNS] [-i ITERS] TARGET...   (TARGET: qemu or a vmx binary)
#
# Boots the default guest with vmx3.run=settle,cpu vmx3.cpu_iters=ITERS (default
# 100000000).  The workload (guest/src/vmx3-cpu.c) is a hand-written loop of
# exactly 24 instructions per iteration, so it retires ITERS * 24
# instructions between its "start" line and its result line, whatever the
# compiler.  Two figures per target:
#   host_mips  = instructions / host wall time between the two console lines
#                (independent of the guest's notion of time: the main figure)
#   guest_mips = what the guest measured with clock_gettime (cross-check)
# Prints: mips NAME host_mips=MEDIAN guest_mips=MEDIAN insns=N sum=S runs=N
# sum= is the loop's result, a function of ITERS only (100000000 gives
# b78ff2a602532acb): a target printing another value computes wrongly.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

RUNS=3
ITERS=100000000
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-i) ITERS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: $0 [-n RUNS] [-i ITERS] qemu|VMX..." >&2; exit 2; }
bench_check_guest
CMDLINE="console=ttyS0 quiet panic=-1 vmx3.run=settle,cpu vmx3.cpu_iters=$ITERS"

for target in "$@"; do
	name=$(bench_name "$target")
	hosts=() guests=() ok=1 insns=0 sum=none
	for ((i = 0; i < RUNS; i++)); do
		out=$(bench_timed "$target" "$CMDLINE")
		t_start=$(awk '/VMX3 bench cpu start/ { print $1; exit }' <<<"$out")
		res=$(awk '/VMX3 bench cpu iters=/ { print; exit }' <<<"$out")
		if [ -z "$t_start" ] || [ -z "$res" ]; then
			echo "mips $name FAILED (run $((i + 1))): no benchmark output; last lines:" >&2
			tail -n 5 <<<"$out" >&2
			ok=0
			break
		fi
		t_end=${res%% *}
		insns=$(sed -n 's/.* insns=\([0-9]*\).*/\1/p' <<<"$res")
		gns=$(sed -n 's/.* ns=\([0-9]*\).*/\1/p' <<<"$res")
		sum=$(sed -n 's/.* sum=\([0-9a-f]*\).*/\1/p' <<<"$res")
		hosts+=("$(awk -v n="$insns" -v a="$t_start" -v b="$t_end" 'BEGIN { printf "%.1f", n / (b - a) / 1e6 }')")
		guests+=("$(awk -v n="$insns" -v t="$gns" 'BEGIN { printf "%.1f", n * 1e3 / t }')")
	done
	[ $ok = 1 ] || { echo "mips $name host_mips=nan guest_mips=nan insns=0 sum=none runs=0"; continue; }
	printf 'mips %s host_mips=%.1f guest_mips=%.1f insns=%s sum=%s runs=%d\n' "$name" \
		"$(printf '%s\n' "${hosts[@]}" | bench_median)" \
		"$(printf '%s\n' "${guests[@]}" | bench_median)" "$insns" "$sum" "$RUNS"
done
