#!/usr/bin/env bash
# stats_vm.sh - counters and kstats of a real vmx-stats run.
#  - A crafted bare-metal guest (tests/stats/guest/mmio_writes.c) makes exactly
#    37 writes and 5 reads of UART registers: the UART's kstat has exactly 42
#    invocations and its per-register counters say 37 and 5.  Release runs the
#    same guest and writes no stats directory.
#  - The Debian kernel with 2 vCPUs on vmx-stats: counters and kstats are
#    readable live through the control socket (JSON and Prometheus), the
#    ustats file after power-off covers both vCPUs' elapsed time, and at the
#    default 10 s interval one steady-state record times 360 plus everything
#    written before it stays under 0.5 MB per hour.
set -u
B=${B:-build}
G="$PWD/$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

if ! make -s B="$B" "$B/isa/stats-mmio_writes.elf" "$B/host/vmx-getstats" "$B/host/vmx-kstats" \
     >/dev/null 2>&1; then
  bad stats-vm-build
  exit 0
fi
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
elf="$PWD/$B/isa/stats-mmio_writes.elf"

for t in stats:vmx-stats release:vmx; do
  type=${t%%:*} bin=${t#*:}
  vm="$tmp/mmio-$type"
  mkdir -p "$vm"
  printf 'memSize = "64"\nguest.elf = "%s"\nustats.interval = "1000000"\n' "$elf" >"$vm/mmio.vmx"
  timeout 60 "$B/$type/$bin" "$vm/mmio.vmx" >"$vm/out" 2>&1; rc=$?
  check "mmio-$type-passes" test "$rc" -eq 0
done
check mmio-release-no-stats-dir test ! -e "$tmp/mmio-release/stats"
ks=$("$B/host/vmx-kstats" "$tmp/mmio-stats" 2>&1)
gs=$("$B/host/vmx-getstats" "$tmp/mmio-stats" 2>&1)
check mmio-kstat-42-invocations test "$(awk '$1 == "MMIO.uart0" {print $2}' <<<"$ks")" = 42
# Per-register MMIO rows are grouped under their device: "MMIO.uart0 (registers)", then "  w 0x0".
reg() { awk -v dev="$1" -v k="$2" -v off="$3" '$1 == dev && $2 == "(registers)" { d = 1; next }
  /^[^ ]/ { d = 0 } d && $1 == k && $2 == off { print $3 }' <<<"$gs"; }
check mmio-counter-37-writes test "$(reg MMIO.uart0 w 0x0)" = 37
check mmio-counter-5-reads test "$(reg MMIO.uart0 r 0x0)" = 5
check mmio-counter-no-flat-register-rows sh -c "! grep -q '^MMIO\.uart0\.[rw]\.' <<'X'
$gs
X"
check mmio-clean-end grep -q 'clean end' <<<"$gs"

[ -e "$G/Image" ] || { bad stats-vm-linux "no guest kernel $G/Image (make guest)"; exit 1; }
vm="$tmp/linux"
mkdir -p "$vm"
cp "$G/disk.img" "$vm/disk.img"
cat >"$vm/linux.vmx" <<VMX
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
t0=$(date +%s)
"$B/stats/vmx-stats" "$vm/linux.vmx" >"$vm/out" 2>&1 &
pid=$!
for _ in $(seq 1 900); do grep -q 'VMX3-MARKER: init' "$vm/console.log" 2>/dev/null && break; sleep 0.2; done
check linux-reached-init grep -q 'VMX3-MARKER: init' "$vm/console.log"
sleep 2
st=$("$B/host/vmx-ctl" "$vm" stats 2>&1)
check ctl-stats-mmio-write grep -q '"name": "MMIO_WRITE"' <<<"$st"
pr=$("$B/host/vmx-ctl" "$vm" stats '{"format":"prometheus"}' 2>&1)
check ctl-stats-prometheus grep -q 'vmx_counter_total{name=\\"MMIO_WRITE\\",vcpu=\\"[01]\\"}' <<<"$pr"
ks=$("$B/host/vmx-ctl" "$vm" kstats 2>&1)
check ctl-kstats-guest grep -q '"name": "GUEST"' <<<"$ks"
# Size: the first record lands 10 s after start; measure the next one whole.
while [ $(( $(date +%s) - t0 )) -lt 12 ]; do sleep 0.5; done
s1=$(stat -c %s "$vm"/stats/ustats-*.bin)
sleep 10
s2=$(stat -c %s "$vm"/stats/ustats-*.bin)
# A VM that is still running has no end record yet: that is not a crash.
live=$("$B/host/vmx-kstats" "$vm" 2>&1 | head -1)
echo "while running: $live"
check linux-running-not-unclean grep -q "still being written by running process $pid" <<<"$live"
# A control request the stopped VM serves (the state hash): CTL time on both vCPUs.
check ctl-hash-served grep -q '"sha256"' <<<"$("$B/host/vmx-ctl" "$vm" hash 2>&1)"
"$B/host/vmx-ctl" "$vm" poweroff >/dev/null 2>&1
wait "$pid"; rc=$?
t1=$(date +%s)
check linux-stats-exit0 test "$rc" -eq 0
ks=$("$B/host/vmx-kstats" "$vm" 2>&1)
gs=$("$B/host/vmx-getstats" --locks "$vm" 2>&1)
check linux-clean-end grep -q 'clean end' <<<"$gs"
# One Prometheus schema: the file's exposition has the live one's HELP lines and labels.
fp=$("$B/host/vmx-getstats" --prom "$vm" 2>&1)
live_help=$(printf '%b' "$pr" | grep -o '# HELP vmx_[a-z_]* [^\\"]*' | sort -u)
check linux-prom-same-help test -n "$live_help" -a "$(grep -c . <<<"$live_help")" = "$(grep -cxFf <(echo "$live_help") <<<"$fp")"
check linux-prom-vcpu-label grep -q 'vmx_counter_total{name="MMIO_WRITE",vcpu="[01]"}' <<<"$fp"
# Causes are decoded and every counter carries its description.
check linux-trap-cause-decoded grep -Eq '^TRAP_EXC\.ecall-U +[0-9]+ .*synchronous exceptions' <<<"$gs"
check linux-guest-samples-2-vcpus grep -Eq '^GUEST +[0-9]+ +[0-9]+ .* +[0-9]+ +[0-9.]+% +[0-9]+ +[0-9.]+%' <<<"$ks"
total=$(awk '$1 == "TOTAL" {print $2}' <<<"$ks")
secs=$(( t1 - t0 ))
# Two vCPUs sampled at 97 Hz over the run: about 2 * 97 samples per second.
check linux-samples-cover-elapsed test "${total:-0}" -ge $(( secs * 97 * 2 * 6 / 10 ))
# Trap deliveries, interrupts and TLB flushes are services of their own, not GUEST.
# So are disk completions (the kernel reads the disk at boot) and control requests.
for k in TRAP_ECALL TRAP_PAGEFAULT IRQ SFENCE IO_COMPLETE CTL; do
  check "linux-kstat-pushed-$k" awk -v k="$k" '$1 == k && $2 > 0 { f = 1 } END { exit !f }' <<<"$ks"
done
per_hour=$(( s1 + (s2 - s1) * 360 ))
echo "ustats: ${s1} bytes in the first record (boot, descriptors), $(( s2 - s1 )) in a steady 10 s record: about $per_hour bytes/hour"
check linux-steady-record-written test "$s2" -gt "$s1"
check linux-under-half-mb-per-hour test "$per_hour" -lt 500000
echo "$ks" | head -25
