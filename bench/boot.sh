#!/usr/bin/env bash
# boot.sh - boot-time benchmark.
#
# Usage: bench/boot.sh [-n RUNS] TARGET...      (TARGET: qemu or a vmx binary)
#
# For each target, boots the default guest with vmx3.run=boot RUNS times
# (default 3) and prints one line per target:
#   boot NAME init_s=MEDIAN (min MIN) exit_s=MEDIAN runs=N
# init_s is the wall time from just before the process starts to the
# "VMX3-MARKER: init" console line (firmware + kernel boot + start of
# /init); exit_s is until the process has exited after the guest powered off.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

RUNS=3
[ "${1:-}" = -n ] && { RUNS=$2; shift 2; }
[ $# -ge 1 ] || { echo "usage: $0 [-n RUNS] qemu|VMX..." >&2; exit 2; }
bench_check_guest
CMDLINE="console=ttyS0 quiet panic=-1 vmx3.run=boot"

for target in "$@"; do
	name=$(bench_name "$target")
	inits=() exits=() ok=1
	for ((i = 0; i < RUNS; i++)); do
		out=$(bench_timed "$target" "$CMDLINE")
		init=$(awk '/VMX3-MARKER: init/ { print $1; exit }' <<<"$out")
		done_=$(awk '/VMX3-MARKER: done ok/ { print $1; exit }' <<<"$out")
		exit_=$(awk '/VMX3-BENCH-EXIT/ { print $1; exit }' <<<"$out")
		if [ -z "$init" ] || [ -z "$done_" ]; then
			echo "boot $name FAILED (run $((i + 1))): no init/done marker; last lines:" >&2
			tail -n 5 <<<"$out" >&2
			ok=0
			break
		fi
		inits+=("$init")
		exits+=("$exit_")
	done
	[ $ok = 1 ] || { echo "boot $name init_s=nan exit_s=nan runs=0"; continue; }
	med=$(printf '%s\n' "${inits[@]}" | bench_median)
	min=$(printf '%s\n' "${inits[@]}" | sort -g | head -n 1)
	emed=$(printf '%s\n' "${exits[@]}" | bench_median)
	printf 'boot %s init_s=%.3f (min %.3f) exit_s=%.3f runs=%d\n' "$name" "$med" "$min" "$emed" "$RUNS"
done
