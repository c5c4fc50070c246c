#!/usr/bin/env bash
# bench.sh - overhead of the callstack profiler: the default guest's CPU
# workload (vmx3-cpu) on the stats build with monitor.callstack TRUE and
# FALSE, alternating, RUNS times each; prints the guest-measured MIPS of
# every run, the medians and the slowdown, and the share of the vCPU
# thread's time the sampling handler took (handler_ns / elapsed_ns of the
# profiles).  Then the same A/B on the fixed-work bare-metal guest
# (cs-shares.elf) by CPU seconds (user+sys), which a loaded host disturbs
# less than wall-clock MIPS.  Usage: bench.sh [B] [RUNS] [ITERS]
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
  cat "$d"/stats/callstack-*.txt 2>/dev/null | awk '$1 == "handler_ns" { h = $2 } $1 == "elapsed_ns" { e = $2 }
    $1 == "collector_cpu_ns" { c = $2 }
    END { if (e) { printf "%.4f\n", 100 * h / e; printf "%.4f\n", 100 * c / e >"/dev/stderr" } }' \
    >>"$tmp/handler" 2>>"$tmp/collector"
  sed -n 's/.*VMX3 bench cpu iters=.* mips=\([0-9.]*\).*/\1/p' "$d/console.txt" | tail -1
}

on=() off=()
: >"$tmp/handler"; : >"$tmp/collector"
for i in $(seq "$RUNS"); do
  a=$(run TRUE "$i"); b=$(run FALSE "$i")
  echo "run $i: callstack on ${a:-?} MIPS, off ${b:-?} MIPS"
  on+=("${a:-0}") off+=("${b:-0}")
done
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mon=$(median "${on[@]}"); moff=$(median "${off[@]}")
echo "median: on $mon MIPS, off $moff MIPS, slowdown $(awk -v a="$mon" -v b="$moff" 'BEGIN { printf "%.2f", b ? 100 * (b - a) / b : 0 }')%"
[ -s "$tmp/handler" ] && echo "sampling handler: $(median $(cat "$tmp/handler"))% of the vCPU thread's time, collector thread: $(median $(cat "$tmp/collector"))% of one CPU (medians of the 'on' runs)"

# Fixed-work bare-metal guest: CPU seconds, on versus off.
ELF=$(cd "$B/isa" && pwd)/cs-shares.elf
cpu_run() {
  local d="$tmp/bm-$1-$2"
  mkdir -p "$d"
  printf 'vmx.buildType = "stats"\nmemSize = "64"\nguest.elf = "%s"\nserial0.fileName = "c.txt"\nmonitor.callstack = "%s"\n' \
    "$ELF" "$1" >"$d/b.vmx"
  /usr/bin/time -f '%U %S' -o "$d/t" "$VMX" "$d/b.vmx" >/dev/null 2>&1 || true
  awk '{ printf "%.2f\n", $1 + $2 }' "$d/t"
}
con=() coff=()
for i in $(seq "$RUNS"); do
  a=$(cpu_run TRUE "$i"); b=$(cpu_run FALSE "$i")
  echo "bare-metal run $i: callstack on ${a:-?} CPU s, off ${b:-?} CPU s"
  con+=("${a:-0}") coff+=("${b:-0}")
done
mon=$(median "${con[@]}"); moff=$(median "${coff[@]}")
echo "bare-metal median: on $mon CPU s, off $moff CPU s, difference $(awk -v a="$mon" -v b="$moff" 'BEGIN { printf "%.2f", b ? 100 * (a - b) / b : 0 }')%"
