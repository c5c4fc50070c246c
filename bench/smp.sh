#!/usr/bin/env bash
# smp.sh - bench/cpuloop's loop on N harts in parallel (bench/smp/smp.c: each
# hart runs the 100,000,000-iteration loop on its own table, then a barrier;
# status 0 only when every hart's sum is right), N = 1, 2 and 4, on vmx
# (numvcpus = N; a target ending in :interp runs the interpreter) and on
# QEMU (-M virt -smp N -accel tcg,thread=multi).  Runs alternate between the
# targets, so a change in host load hits all of them alike.
#
# Usage: bench/smp.sh [-n RUNS] [-h "1 2 4"] ELF VMX[:interp|:1thread]...
#
# Prints per target and N the median wall time of the whole process:
#   smp NAME harts=N wall_s=W scaling=S runs=R
# where scaling = W(1 hart) * N / W(N harts): N times the work in the same
# time gives N (perfect scaling); a monitor running the harts one after the
# other gives about 1.  Then per vmx target and N: smp NAME/qemu harts=N
# ratio=W(vmx)/W(qemu).  No assertion on the figures.
set -euo pipefail
RUNS=3
HARTS="1 2 4"
while [ $# -gt 0 ]; do
	case "$1" in
	-n) RUNS=$2; shift 2 ;;
	-h) HARTS=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { echo "usage: $0 [-n RUNS] [-h \"1 2 4\"] ELF VMX[:interp|:1thread]..." >&2; exit 2; }
ELF=$(realpath "$1")
shift
targets=(qemu "$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
name_of() {
	case "$1" in
	qemu) echo qemu ;;
	*:interp) echo "$(basename "${1%:interp}")-interp" ;;
	*:1thread) echo "$(basename "${1%:1thread}")-1thread" ;;
	*) basename "$1" ;;
	esac
}

# run TARGET N: one timed run; appends the wall time to $tmp/NAME-N.
run() {
	local target=$1 n=$2 name cmd
	name=$(name_of "$target")
	case "$target" in
	qemu) cmd=(qemu-system-riscv64 -M virt -smp "$n" -accel tcg,thread=multi -bios none \
		-kernel "$ELF" -nographic) ;;
	*)
		local bin=$target translate=TRUE threads=TRUE
		case "$target" in
		*:interp) bin=${target%:interp} translate=FALSE ;;
		*:1thread) bin=${target%:1thread} threads=FALSE ;;
		esac
		mkdir -p "$tmp/vm-$name-$n"
		printf 'guest.elf = "%s"\nnumvcpus = "%s"\nmonitor.translate = "%s"\nmonitor.vcpuThreads = "%s"\n' \
			"$ELF" "$n" "$translate" "$threads" >"$tmp/vm-$name-$n/smp.vmx"
		cmd=("$bin" --quiet "$tmp/vm-$name-$n/smp.vmx") ;;
	esac
	if ! /usr/bin/time -f '%e' -o "$tmp/time" timeout 900 "${cmd[@]}" </dev/null >"$tmp/out" 2>&1; then
		echo "smp $name harts=$n FAILED: $(tail -n 3 "$tmp/out")" >&2
		exit 1
	fi
	cat "$tmp/time" >>"$tmp/$name-$n"
}

for ((i = 0; i < RUNS; i++)); do
	for n in $HARTS; do
		for t in "${targets[@]}"; do run "$t" "$n"; done
	done
done

first=${HARTS%% *}
for t in "${targets[@]}"; do
	name=$(name_of "$t")
	base=$(median <"$tmp/$name-$first")
	for n in $HARTS; do
		w=$(median <"$tmp/$name-$n")
		echo "smp $name harts=$n wall_s=$w scaling=$(awk -v b="$base" -v f="$first" -v n="$n" -v w="$w" \
			'BEGIN { printf "%.2f", b / f * n / w }') runs=$RUNS"
	done
done
for t in "$@"; do
	name=$(name_of "$t")
	for n in $HARTS; do
		echo "smp $name/qemu harts=$n ratio=$(awk -v a="$(median <"$tmp/$name-$n")" \
			-v q="$(median <"$tmp/qemu-$n")" 'BEGIN { printf "%.2f", a / q }')"
	done
done
