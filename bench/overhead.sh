#!/usr/bin/env bash
# overhead.sh - what a build type or a knob costs, as ratios measured side by
# side in one run (the goal "stats versus release at most 3 % slower
# on a CPU-bound and on an I/O-bound workload", beta under 2x, and the
# callstack profiler's "sampling on versus off at most 1 %").
#
#   bench/overhead.sh [--guest DIR] [-n ROUNDS] [--insns N] [--io-insns N] [--io-rounds R]
#                     [--console-insns N] [--sequential | --pin | --same-cpu] VARIANT...
#   VARIANT = NAME=BINARY[,key=value...]     the first one is the baseline
#
# Two workloads on the default guest (2 harts, 512 MiB):
#   cpu  deterministic mode (monitor.deterministic), vmx3.run=cpu, stopped
#        after exactly N guest instructions (--until-insns): every variant
#        executes the same instruction stream, so CPU time compares like
#        with like.  The figure is the CPU time of the thread that runs the
#        vCPUs, from power-on to the stop (vmx logs it: "run: N instructions
#        retired in S s of vCPU-thread CPU time"): what the guest's speed
#        depends on.  Work the stats build does on other threads (the
#        sampler's collector decoding guest symbols, ustats writes) runs on
#        another CPU; the whole process's user+sys time (every thread:
#        vCPU, collector, sampler, ustats writer) is reported beside it,
#        since that is what the host pays.
#   console  deterministic again, vmx3.run=echo: a busybox shell loop
#        printing lines to the serial console as fast as it can, stopped
#        after exactly --console-insns instructions (default 3 G: about
#        1.5 G of boot, then 1.5 G of echoing): the same two figures.
#   io   deterministic mode again, vmx3.run=diskraw repeated (8 MiB written
#        and read back with O_DIRECT in 4 KiB requests each round), stopped
#        after exactly --io-insns instructions (default 5 G: about 1.5 G of
#        boot, the rest disk rounds): vCPU-thread CPU time for the same fixed
#        work (the disk's pwritev/preadv/fdatasync run on that thread).
#   iowall  a normal (not deterministic) run of R diskraw rounds: the
#        guest's own measurement of its I/O time (write_ns + read_ns), what
#        a user sees, but wall-clock time and so noisier on a busy host.
# On a host with two or more CPUs each variant runs at the same time as a
# run of the baseline: both see the same moment of a shared, noisy host,
# which cancels most of the drift that separates runs made one after the
# other (on this project's 2-CPU virtual machine the same binary's CPU time
# moves by up to 20 % from one minute to the next).  --pin puts each run on
# its own CPU (swapped every round); it also pins a run's helper threads
# (the stats build's collector) onto its vCPU thread's CPU, which a real VM
# would not do, so it is off by default.  --same-cpu puts both runs of a pair
# (every thread of each) on one CPU, a different one each round: the two
# processes then take turns on the same core every few milliseconds and see
# the same host speed, which on this project's shared 2-CPU machine brought
# the spread of a pair's ratio from about +-12 % to +-1.5 %; the figures are
# CPU time, which taking turns does not inflate, though each process's caches
# see the other's work.  --sequential (or one CPU) runs one at a
# time instead, the order rotating from round to round.  A variant's figure
# is the median over rounds of its ratio to the baseline of the same round.
set -u
cd "$(dirname "$0")/.."
GUEST_DIR=${GUEST_DIR:-build/guest}
PAIRS=5
INSNS=3000000000
IO_INSNS=5000000000
CONSOLE_INSNS=3000000000
IO_ROUNDS=6
CONC=1
PIN=0
variants=()
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) GUEST_DIR=$2; shift 2 ;;
	-n) PAIRS=$2; shift 2 ;;
	--insns) INSNS=$2; shift 2 ;;
	--io-insns) IO_INSNS=$2; shift 2 ;;
	--console-insns) CONSOLE_INSNS=$2; shift 2 ;;
	--io-rounds) IO_ROUNDS=$2; shift 2 ;;
	--sequential) CONC=0; shift ;;
	--pin) PIN=1; shift ;;
	--same-cpu) PIN=2; shift ;;
	-h|--help) sed -n '2,44p' "$0"; exit 0 ;;
	-*) echo "overhead.sh: unknown option $1" >&2; exit 2 ;;
	*) variants+=("$1"); shift ;;
	esac
done
[ "$(nproc)" -ge 2 ] || CONC=0
[ ${#variants[@]} -ge 2 ] || { echo "overhead.sh: give a baseline and at least one other variant" >&2; exit 2; }
for f in fw_dynamic.bin Image initrd.gz disk.img; do
	[ -e "$GUEST_DIR/$f" ] || { echo "overhead.sh: missing $GUEST_DIR/$f (make guest)" >&2; exit 1; }
done
G=$(cd "$GUEST_DIR" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-overhead.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

declare -A BIN KEYS
names=()
for v in "${variants[@]}"; do
	name=${v%%=*}; rest=${v#*=}
	[ "$name" != "$v" ] && [ -n "$rest" ] || { echo "overhead.sh: bad variant '$v' (NAME=BINARY[,key=value...])" >&2; exit 2; }
	BIN[$name]=${rest%%,*}
	KEYS[$name]=$([ "$rest" = "${rest#*,}" ] || echo "${rest#*,}")
	[ -x "${BIN[$name]}" ] || { echo "overhead.sh: $name: ${BIN[$name]} is not an executable" >&2; exit 1; }
	names+=("$name")
done

# mkvm NAME DIR CMDLINE [deterministic]: a VM directory for one run.
mkvm() {
	local name=$1 dir=$2 bt= kv
	rm -rf "$dir"; mkdir -p "$dir"
	cp --sparse=always "$G/disk.img" "$dir/disk.img"
	case "$(basename "${BIN[$name]}")" in
	vmx) bt=default ;; vmx-debug) bt=debug ;; vmx-stats) bt=stats ;;
	esac
	{
		[ -n "$bt" ] && echo "vmx.buildType = \"$bt\""
		echo 'memSize = "512"'
		echo 'numvcpus = "2"'
		echo "guest.firmware = \"$G/fw_dynamic.bin\""
		echo "guest.kernel = \"$G/Image\""
		echo "guest.initrd = \"$G/initrd.gz\""
		echo "guest.cmdline = \"$3\""
		echo 'disk0.fileName = "disk.img"'
		echo 'serial0.fileName = "console.txt"'
		[ -n "${4:-}" ] && echo 'monitor.deterministic = "TRUE"'
		IFS=, read -ra kv <<<"${KEYS[$name]}"
		for k in "${kv[@]}"; do
			[ -n "$k" ] && echo "${k%%=*} = \"${k#*=}\""
		done
	} >"$dir/o.vmx"
}

# pinned CPU CMD...: CMD on that CPU, or unpinned when CPU is empty.
pinned() {
	local c=$1; shift
	if [ -n "$c" ]; then taskset -c "$c" "$@"; else "$@"; fi
}

# The run functions take NAME [CPU]; their output goes to stdout.
# vcpu_time DIR: "vCPU-thread-seconds process-seconds" of the run in DIR.
vcpu_time() {
	local v
	v=$(sed -n 's/.* run: [0-9]* instructions retired in \([0-9.]*\) s of vCPU-thread CPU time.*/\1/p' "$1/vmx.log" | tail -1)
	echo "${v:-nan} $(awk '{ printf "%.3f", $1 + $2 }' "$1/time")"
}

# cpu_run NAME: vCPU-thread CPU seconds for exactly INSNS guest instructions.
cpu_run() {
	local d="$tmp/cpu-$1"
	mkvm "$1" "$d" "console=ttyS0 quiet panic=-1 vmx3.run=cpu vmx3.cpu_iters=1000000000" det
	pinned "${2:-}" /usr/bin/time -f '%U %S' -o "$d/time" "${BIN[$1]}" --quiet --until-insns "$INSNS" "$d/o.vmx" \
		>"$d/out" 2>&1 || { echo "overhead.sh: $1 failed the cpu run: $(tail -2 "$d/out")" >&2; echo "nan nan"; return; }
	vcpu_time "$d"
}

# console_run NAME: vCPU-thread and process CPU seconds for exactly CONSOLE_INSNS instructions.
console_run() {
	local d="$tmp/console-$1"
	mkvm "$1" "$d" "console=ttyS0 panic=-1 vmx3.run=echo vmx3.echo=100000000" det
	pinned "${2:-}" /usr/bin/time -f '%U %S' -o "$d/time" "${BIN[$1]}" --quiet --until-insns "$CONSOLE_INSNS" "$d/o.vmx" \
		>"$d/out" 2>&1 || { echo "overhead.sh: $1 failed the console run: $(tail -2 "$d/out")" >&2; echo "nan nan"; return; }
	grep -q 'VMX3 echo line' "$d/console.txt" ||
		{ echo "overhead.sh: $1: the guest printed no echo line within $CONSOLE_INSNS instructions" >&2; echo "nan nan"; return; }
	vcpu_time "$d"
}

# iodet_run NAME: vCPU-thread CPU seconds for exactly IO_INSNS instructions of disk rounds.
iodet_run() {
	local d="$tmp/iodet-$1" runs
	runs=$(printf 'diskraw,%.0s' $(seq 60)); runs=${runs%,}
	mkvm "$1" "$d" "console=ttyS0 quiet panic=-1 vmx3.run=$runs" det
	pinned "${2:-}" /usr/bin/time -f '%U %S' -o "$d/time" "${BIN[$1]}" --quiet --until-insns "$IO_INSNS" "$d/o.vmx" \
		>"$d/out" 2>&1 || { echo "overhead.sh: $1 failed the io run: $(tail -2 "$d/out")" >&2; echo "nan nan"; return; }
	grep -q 'VMX3 bench disk raw bytes=.* ok' "$d/console.txt" ||
		{ echo "overhead.sh: $1: no disk round finished within $IO_INSNS instructions" >&2; echo "nan nan"; return; }
	vcpu_time "$d"
}

# io_run NAME: "guest-I/O-seconds process-CPU-seconds" of the disk workload.
io_run() {
	local d="$tmp/io-$1" runs
	runs=$(printf 'diskraw,%.0s' $(seq "$IO_ROUNDS")); runs=${runs%,}
	mkvm "$1" "$d" "console=ttyS0 quiet panic=-1 vmx3.run=$runs"
	pinned "${2:-}" /usr/bin/time -f '%U %S' -o "$d/time" timeout 900 "${BIN[$1]}" "$d/o.vmx" >"$d/out" 2>&1
	local n
	n=$(grep -c 'VMX3 bench disk raw bytes=.* ok' "$d/console.txt" 2>/dev/null)
	if [ "${n:-0}" -ne "$IO_ROUNDS" ]; then
		echo "overhead.sh: $1: $n of $IO_ROUNDS disk rounds passed: $(tail -2 "$d/console.txt" 2>/dev/null)" >&2
		echo "nan nan"; return
	fi
	awk '/VMX3 bench disk raw bytes=.* ok/ {
		for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "write_ns" || kv[1] == "read_ns") ns += kv[2] }
	} END { printf "%.3f ", ns / 1e9 }' "$d/console.txt"
	awk '{ printf "%.3f\n", $1 + $2 }' "$d/time"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (!NR) print "nan"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

WORKLOADS=${OVERHEAD_WORKLOADS:-cpu console iodet io}   # a subset for a quick look
echo "# overhead.sh: $PAIRS rounds, cpu: $INSNS instructions, console: $CONSOLE_INSNS instructions, io: $IO_INSNS instructions, iowall: $IO_ROUNDS x diskraw; $([ $CONC = 1 ] && echo "each variant concurrently with the baseline" || echo sequential); $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for v in "${names[@]}"; do echo "#   $v = ${BIN[$v]} ${KEYS[$v]}"; done
base=${names[0]}
nv=${#names[@]}
# record WORKLOAD NAME FIGURE BASEFIGURE PROCESS BASEPROCESS
record() {
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > 0 && a > 0) ? a / b : "nan" }'; }
	echo "$2 $(ratio "$3" "$4")" >>"$tmp/$1.ratio"
	echo "$2 $3" >>"$tmp/$1.abs"
	echo "$2 $(ratio "$5" "$6")" >>"$tmp/$1.proc.ratio"
	echo "$2 $5" >>"$tmp/$1.proc.abs"
}
for r in $(seq "$PAIRS"); do
	line="round $r:"
	if [ "$CONC" = 1 ]; then
		ca= cb=
		[ "$PIN" = 1 ] && ca=$((r % 2)) cb=$(((r + 1) % 2))
		[ "$PIN" = 2 ] && ca=$((r % $(nproc))) cb=$ca
		for v in "${names[@]:1}"; do
			for w in $WORKLOADS; do
				"${w}_run" "$base" "$ca" >"$tmp/a.out" &
				"${w}_run" "$v" "$cb" >"$tmp/b.out"
				wait
				read -r a ap <"$tmp/a.out"; read -r b bp <"$tmp/b.out"
				record "$w" "$base" "$a" "$a" "$ap" "$ap"
				record "$w" "$v" "$b" "$a" "$bp" "$ap"
				line+=" $w $v ${b:-?} (process ${bp:-?}) / $base ${a:-?} (${ap:-?});"
			done
		done
	else
		order=()
		for i in $(seq 0 $((nv - 1))); do order+=("${names[$(((r - 1 + i) % nv))]}"); done
		declare -A fig=() proc=()
		for w in $WORKLOADS; do
			for v in "${order[@]}"; do read -r fig[$w.$v] proc[$w.$v] < <("${w}_run" "$v"); done
			for v in "${names[@]}"; do
				record "$w" "$v" "${fig[$w.$v]}" "${fig[$w.$base]}" "${proc[$w.$v]}" "${proc[$w.$base]}"
				line+=" $w $v ${fig[$w.$v]:-?} (process ${proc[$w.$v]:-?});"
			done
		done
	fi
	echo "$line"
done

# cell FILE-STEM VARIANT: "median | ratio-median (min-max)"
cell() {
	local m rm rr
	m=$(awk -v v="$2" '$1 == v { print $2 }' "$tmp/$1.abs" | median)
	rm=$(awk -v v="$2" '$1 == v { print $2 }' "$tmp/$1.ratio" | median)
	rr=$(awk -v v="$2" '$1 == v && $2 != "nan" { print $2 }' "$tmp/$1.ratio" | sort -g | sed -n '1p;$p' | xargs printf '%.3f ' | sed 's/ $//; s/ /-/')
	echo "$m | $(awk -v r="$rm" 'BEGIN { printf "%.4f", r }') ($rr)"
}
echo
printf '| workload | variant | figure | vs %s | whole-process CPU s | vs %s |\n' "$base" "$base"
echo '| --- | --- | --- | --- | --- | --- |'
for w in $WORKLOADS; do
	case $w in
	cpu) what="vCPU-thread CPU s" ;; console) what="vCPU-thread CPU s" ;;
	iodet) what="vCPU-thread CPU s" ;; io) what="guest I/O s (wall)" ;;
	esac
	for v in "${names[@]}"; do
		echo "| $w: $what | $v | $(cell "$w" "$v") | $(cell "$w.proc" "$v") |"
	done
done
echo "(each ratio: median over rounds of the variant's figure over the baseline's in the same round; in parentheses min-max)"
