#!/usr/bin/env bash
# bench.sh - overhead of the callstack profiler: the default guest's CPU
# workload (vmx3-cpu) on the stats build with monitor.callstack TRUE and
# FALSE, alternating, RUNS times each; prints the guest-measured MIPS of
# every run, the medians and the slowdown.  Usage: bench.sh [B] [RUNS] [ITERS]
set -eu
B=${1:-build}
RUNS=${2:-5}
ITERS=${3:-40000000}
G=$(cd "$B/guest" && pwd)
VMX=$(cd "$B/stats" && pwd)/vmx-stats
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

run() { # $1 = TRUE|FALSE; prints the guest's mips figure
  local d="$tmp/$1-$2"
  mkdir -p "$d"
  cp "$G/disk.img" "$d/disk.img"
  cat >"$d/b.vmx" <<EOV
vmx.buildType = "stats"
memSize = "512"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=cpu vmx3.cpu_iters=$ITERS"
disk0.fileName = "disk.img"
serial0.fileName = "console.txt"
monitor.callstack = "$1"
EOV
  timeout 600 "$VMX" "$d/b.vmx" >/dev/null 2>&1 || true
  sed -n 's/.*VMX3 bench cpu iters=.* mips=\([0-9.]*\).*/\1/p' "$d/console.txt" | tail -1
}

on=() off=()
for i in $(seq "$RUNS"); do
  a=$(run TRUE "$i"); b=$(run FALSE "$i")
  echo "run $i: callstack on ${a:-?} MIPS, off ${b:-?} MIPS"
  on+=("${a:-0}") off+=("${b:-0}")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
echo "median: on $mon MIPS, off $moff MIPS, slowdown $(awk -v a="$mon" -v b="$moff" 'BEGIN { printf "%.2f", b ? 100 * (b - a) / b : 0 }')%"
