#!/usr/bin/env bash
# smp_linux.sh - the Linux guest's SMP primitives on every vCPU count: the
# default guest runs the `smp` workload (guest/src/vmx3-smp.c: one pinned
# thread per CPU through AMOs, LR/SC, CAS, a mutex and a spinlock, message
# passing and cross-modifying code, every result checked exactly) with
# numvcpus 1, 2, 4 and 8 in release, 2 in release with the interpreter alone,
# and 4 in beta and stats.  Each run must
# see its CPU count three ways (the kernel's bring-up line, /proc/cpuinfo and
# the program's online CPUs and pinned threads), end with the program's `ok`
# line and `done ok`, print no oops or stall, and exit 0.  A 2-vCPU run is
# suspended in the middle of the workload and resumed by the stats build.
# One more run
# expects a wrong value on purpose (vmx3.smp_mutate=xmod) and must fail, so
# the checks are known to bite.
#
# Environment: SMP_ITERS (per-thread iterations, default 40000),
# SMP_ROUNDS (boots of each configuration, default 1; the soak target raises
# both), SMP_CONFIGS (space-separated BUILD:VCPUS, default as above).
set -u
B=${B:-build}
B=$(cd "$B" && pwd)
G="$B/guest"
ITERS=${SMP_ITERS:-40000}
ROUNDS=${SMP_ROUNDS:-1}
CONFIGS=${SMP_CONFIGS:-"release:1 release:2 release:4 release:8 release-interp:2 beta:4 stats:4"}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

# BUILD names: the binary, and monitor.translate (release-interp: the
# interpreter alone, whose decode cache must also drop rewritten code).
declare -A BIN=([release]=release/vmx [release-interp]=release/vmx [beta]=beta/vmx-debug
                [stats]=stats/vmx-stats)
declare -A TRANSLATE=([release]=TRUE [release-interp]=FALSE [beta]=TRUE [stats]=TRUE)

tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT

mkvm() { # dir vcpus cmdline [translate]
  mkdir -p "$1"
  cp --sparse=always "$G/disk.img" "$1/disk.img"
  cat >"$1/vm.vmx" <<VMX
memSize = "256"
numvcpus = "$2"
monitor.translate = "${4:-TRUE}"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 panic=-1 vmx3.run=smp vmx3.smp_iters=$ITERS $3"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
}

# The kernel says "1 CPU" but "2 CPUs".
cpus_word() { if [ "$1" = 1 ]; then echo "1 CPU"; else echo "$1 CPUs"; fi; }

for round in $(seq 1 "$ROUNDS"); do
  for cfg in $CONFIGS; do
    build=${cfg%%:*} n=${cfg#*:}
    name="smp-linux-$build-$n"
    [ "$ROUNDS" -gt 1 ] && name="$name-r$round"
    vm="$tmp/$name"
    mkvm "$vm" "$n" "" "${TRANSLATE[$build]}"
    start=$SECONDS
    timeout 600 "$B/${BIN[$build]}" "$vm/vm.vmx" >"$vm/out" 2>&1 </dev/null; rc=$?
    # The serial console ends lines with CR LF: strip the CR so `$` anchors.
    c="$vm/console.txt"
    tr -d '\r' <"$vm/console.log" >"$c" 2>/dev/null
    check "$name-exit0" test $rc -eq 0
    if grep -aq 'VMX3 init: unknown workload smp' "$c"; then
      bad "$name-workload" "the initramfs predates the smp workload: make guest"
    fi
    check "$name-kernel-cpus" grep -aq "smp: Brought up 1 node, $(cpus_word "$n")\$" "$c"
    check "$name-cpuinfo" grep -aq "^VMX3 smp cpuinfo=$n " "$c"
    check "$name-threads" grep -aq "^VMX3 smp start threads=$n cpus=$n affinity=$n " "$c"
    check "$name-ok" grep -aEq "^VMX3 smp threads=$n cpus=$n iters=$ITERS ms=[0-9]+ ok" "$c"
    check "$name-no-oops" test -z "$(grep -aE 'Oops|BUG:|Unable to handle|Kernel panic|rcu.*stall|soft lockup|hung_task' "$c")"
    check "$name-done" grep -aq 'VMX3-MARKER: done ok' "$c"
    # What the program measured (phase times, contention), for the log.
    grep -a '^VMX3 smp' "$c" | sed "s/^/  $name: /"
    echo "  $name: wall=$((SECONDS - start))s"
    if [ $rc -ne 0 ] || ! grep -aq 'VMX3-MARKER: done ok' "$c"; then
      tail -n 30 "$c" "$vm/vmx.log" "$vm/out"
    fi
    rm -f "$vm/disk.img"
  done
done

# Stopped in the middle: two vCPU threads busy in the workload are parked
# by a suspend (release), and the checkpoint resumes in the stats build on
# two new threads; the workload must still end ok, in one boot.
name=smp-linux-suspend-mid-run
vm="$tmp/$name"
mkvm "$vm" 2 ""
sed -i "s/vmx3.smp_iters=$ITERS/vmx3.smp_iters=$((ITERS * 16))/" "$vm/vm.vmx"
"$B/release/vmx" "$vm/vm.vmx" >"$vm/out1" 2>&1 </dev/null &
pid=$!
started=1
for _ in $(seq 1 600); do
  grep -aq '^VMX3 smp start' "$vm/console.log" 2>/dev/null && break
  kill -0 $pid 2>/dev/null || { started=0; break; }
  sleep 0.1
done
check "$name-running" test $started -eq 1
"$B/host/vmx-ctl" "$vm" suspend >/dev/null
wait $pid; rc=$?
check "$name-suspended-exit3" test $rc -eq 3
check "$name-not-finished" test -z "$(grep -a '^VMX3 smp threads=' "$vm/console.log")"
timeout 600 "$B/stats/vmx-stats" "$vm/vm.vmx" >"$vm/out2" 2>&1 </dev/null; rc=$?
c="$vm/console.txt"
tr -d '\r' <"$vm/console.log" >"$c" 2>/dev/null
check "$name-resumed-exit0" test $rc -eq 0
check "$name-ok" grep -aEq "^VMX3 smp threads=2 cpus=2 iters=$((ITERS * 16)) ms=[0-9]+ ok" "$c"
check "$name-one-boot" test "$(grep -ac 'VMX3-MARKER: init' "$c")" -eq 1
check "$name-done" grep -aq 'VMX3-MARKER: done ok' "$c"
[ $rc -eq 0 ] || tail -n 20 "$c" "$vm/vmx.log"

# The checks can fail: the program told to expect a wrong value in the
# cross-modifying-code phase prints FAIL, exits non-zero, and the workload
# fails.  Few iterations: only the verdict matters.
name=smp-linux-mutated
vm="$tmp/$name"
ITERS=2000
mkvm "$vm" 2 "vmx3.smp_mutate=xmod"
timeout 600 "$B/release/vmx" "$vm/vm.vmx" >"$vm/out" 2>&1 </dev/null; rc=$?
c="$vm/console.txt"
tr -d '\r' <"$vm/console.log" >"$c" 2>/dev/null
check "$name-exit0" test $rc -eq 0
check "$name-fail-line" grep -aEq '^VMX3 smp threads=2 cpus=2 iters=2000 FAIL xmod: thread [01] round [0-9]+ call 0 ' "$c"
check "$name-no-ok-line" test -z "$(grep -a '^VMX3 smp threads=.* ok$' "$c")"
check "$name-done-fail" grep -aq 'VMX3-MARKER: done fail:smp$' "$c"
exit 0
