#!/usr/bin/env bash
# cpuloop.sh - the CPU benchmark's loop as a bare-metal program (no kernel),
# run by each target side by side: QEMU (-M virt -bios none -kernel) and vmx
# (--elf; a target ending in :interp runs with monitor.translate = "FALSE").
#
# Usage: bench/cpuloop.sh [-n RUNS] ELF TARGET...   (TARGET: qemu or a vmx binary)
#
# The program (bench/cpuloop/cpuloop.S) runs 100,000,000 iterations of the
# 24-instruction loop (2.4 G instructions) and powers off with status 0 only
# when its result is the expected one.  Prints per target the median wall
# time and CPU time (user + sys) of the whole process and MIPS from the wall
# time: cpuloop NAME wall_s=W cpu_s=C mips=M runs=N
set -euo pipefail
RUNS=3
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { echo "usage: $0 [-n RUNS] ELF qemu|VMX[:interp]..." >&2; exit 2; }
ELF=$(realpath "$1")
shift
INSNS=2400000000
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

for target in "$@"; do
	case "$target" in
	qemu) name=qemu; cmd=(qemu-system-riscv64 -M virt -bios none -kernel "$ELF" -nographic) ;;
	*:interp)
		name="$(basename "${target%:interp}")-interp"
		printf 'guest.elf = "%s"\nmonitor.translate = "FALSE"\n' "$ELF" >"$tmp/interp.vmx"
		cmd=("${target%:interp}" --quiet "$tmp/interp.vmx") ;;
	*) name=$(basename "$target"); cmd=("$target" --quiet --elf "$ELF") ;;
	esac
	walls=() cpus=()
	for ((i = 0; i < RUNS; i++)); do
		if ! /usr/bin/time -f '%e %U %S' -o "$tmp/time" timeout 600 "${cmd[@]}" \
			</dev/null >"$tmp/out" 2>&1; then
			echo "cpuloop $name FAILED (run $((i + 1))): $(tail -n 3 "$tmp/out")" >&2
			exit 1
		fi
		read -r w u s <"$tmp/time"
		walls+=("$w")
		cpus+=("$(awk -v u="$u" -v s="$s" 'BEGIN { print u + s }')")
	done
	wall=$(printf '%s\n' "${walls[@]}" | median)
	cpu=$(printf '%s\n' "${cpus[@]}" | median)
	echo "cpuloop $name wall_s=$wall cpu_s=$cpu mips=$(awk -v w="$wall" -v n="$INSNS" 'BEGIN { printf "%.0f", n / w / 1e6 }') runs=$RUNS"
done
