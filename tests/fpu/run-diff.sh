#!/usr/bin/env bash
# run-diff.sh - differential test of src/cpu/fpu.c against qemu-riscv64.
#
#   tests/fpu/run-diff.sh [cases-per-op] [seed]
#
# Builds the riscv64 oracle (static, riscv64-linux-gnu-gcc) and the host
# driver (fpu_diff.c + src/cpu/fpu.c) into $B/fpu-diff (B defaults to build),
# runs every F/D operation on random and edge-biased operands in all five
# rounding modes, and compares results and fflags bit for bit.  Prints one
# PASS/FAIL/SKIP line for tests/run.sh; SKIP when qemu-riscv64 (Debian package
# qemu-user) or the cross compiler is missing.  Default 3000 cases per op
# (about a second); use 300000 or more for a thorough run.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
n=${1:-3000}
seed=${2:-$(date +%s)}
out=${B:-build}/fpu-diff
mkdir -p "$out"

for tool in qemu-riscv64 riscv64-linux-gnu-gcc gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP fpu-diff ($tool not installed; Debian: qemu-user, gcc-riscv64-linux-gnu)"
    exit 0
  fi
done

riscv64-linux-gnu-gcc -std=c17 -O1 -static -march=rv64gc -mabi=lp64d -Wall -Wextra -Werror \
  -o "$out/oracle" tests/fpu/oracle.c || { echo "FAIL fpu-diff (oracle build)"; exit 1; }
gcc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -Itests/fpu \
  -o "$out/fpu_diff" tests/fpu/fpu_diff.c src/cpu/fpu.c -lm \
  || { echo "FAIL fpu-diff (driver build)"; exit 1; }

"$out/fpu_diff" -n "$n" -s "$seed" "$out/oracle" qemu-riscv64 > "$out/report.txt"
rc=$?
cat "$out/report.txt"
case $rc in
  0) echo "PASS fpu-diff ($n cases per op, seed $seed)" ;;
  1) echo "FAIL fpu-diff (mismatches, seed $seed; see $out/report.txt)"; exit 1 ;;
  *) echo "FAIL fpu-diff (driver error $rc)"; exit 1 ;;
esac
