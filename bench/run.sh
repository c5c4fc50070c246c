#!/usr/bin/env bash
# run.sh - boot and MIPS benchmarks for QEMU and each given vmx, side by side.
#
# Usage: bench/run.sh [--guest DIR] [-n RUNS] [-i ITERS] [VMX...]
#
# QEMU is always measured first as the reference; every vmx binary given
# (one per build type, e.g. build/release/vmx build/beta/vmx-debug) is then
# measured the same way, and a table with ratios against QEMU is printed:
# boot ratio = vmx time / QEMU time (lower is better), MIPS ratio = vmx MIPS
# / QEMU MIPS (higher is better).  The machine is described first so the
# figures can be pasted into docs/BENCHMARKS.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

RUNS=3
ITERS=100000000
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) export GUEST_DIR=$2; shift 2 ;;
	-n) RUNS=$2; shift 2 ;;
	-i) ITERS=$2; shift 2 ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
targets=(qemu "$@")

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
echo "# qemu: $(qemu-system-riscv64 --version | head -n 1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), runs=$RUNS, cpu iters=$ITERS"

boot=$("$HERE/boot.sh" -n "$RUNS" "${targets[@]}")
mips=$("$HERE/mips.sh" -n "$RUNS" -i "$ITERS" "${targets[@]}")
echo "$boot"
echo "$mips"

# The table: ratios against the qemu lines.
{ echo "$boot"; echo "$mips"; } | awk '
	function val(s, key,   r) { r = s; if (!match(r, key "=[0-9.nan]+")) return "nan";
		r = substr(r, RSTART + length(key) + 1, RLENGTH - length(key) - 1); return r }
	$1 == "boot" { order[++n] = $2; boot[$2] = val($0, "init_s") }
	$1 == "mips" { mips[$2] = val($0, "host_mips"); s = $0; sub(/.* sum=/, "", s); sub(/ .*/, "", s); sum[$2] = s }
	END {
		printf "\n%-16s %10s %10s %10s %10s\n", "target", "init_s", "vs qemu", "MIPS", "vs qemu"
		for (i = 1; i <= n; i++) {
			t = order[i]
			br = (boot["qemu"] + 0 > 0 && boot[t] != "nan") ? sprintf("%.2fx", boot[t] / boot["qemu"]) : "-"
			mr = (mips["qemu"] + 0 > 0 && mips[t] != "nan") ? sprintf("%.3fx", mips[t] / mips["qemu"]) : "-"
			bad = (t != "qemu" && sum[t] != "none" && sum[t] != sum["qemu"]) ? "  WRONG RESULT (sum)" : ""
			printf "%-16s %10s %10s %10s %10s%s\n", t, boot[t], br, mips[t], mr, bad
		}
	}'
