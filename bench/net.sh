#!/usr/bin/env bash
# net.sh - the network benchmarks: the same guest on QEMU and on each given
# vmx, both with passt as the user-mode backend (QEMU: -netdev stream to a
# passt socket, -device virtio-net-device), side by side:
#   tput   guest -> host TCP throughput: the guest sends MB MiB of zeros to a
#          sink on the host (vmx3.run=netsend), timed by the sink from the
#          first byte to the last;
#   rps    requests per second of busybox httpd through the port forward,
#          ab -c CONC for SECONDS, with the latency percentiles;
# then the long version of the load test of make check: HTTP load through
# the forward while hostd fast-switches the VM default -> stats -> debug ->
# default (tests/integration/net_fastswitch.sh with a longer load).
#
# Usage: bench/net.sh [--guest DIR] [-m MB] [-s SECONDS] [-c CONC] [--no-switch] [VMX...]
# (default VMX: build/release/vmx; B= names the build directory for the
# switch test).  Figures go to stdout, ready for docs/BENCHMARKS.md.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST_DIR=${GUEST_DIR:-build/guest}
MB=64
SECS=20
CONC=4
SWITCH=1
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) GUEST_DIR=$2; shift 2 ;;
	-m) MB=$2; shift 2 ;;
	-s) SECS=$2; shift 2 ;;
	-c) CONC=$2; shift 2 ;;
	--no-switch) SWITCH=0; shift ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
targets=(qemu "$@")
[ $# -gt 0 ] || targets+=(build/release/vmx)
G=$(cd "$GUEST_DIR" && pwd)
for p in passt ab qemu-system-riscv64; do
	command -v $p >/dev/null || { echo "bench/net.sh: $p is missing (scripts/deps.sh)" >&2; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-netbench.XXXXXX")
chmod 0755 "$tmp"
kids=()
cleanup() { for p in "${kids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A sink that takes one connection, reads MB MiB and prints "bytes seconds".
sink() { # PORT MB OUT
	python3 - "$1" "$2" >"$3" <<'PY' &
import socket, sys, time
port, mb = int(sys.argv[1]), int(sys.argv[2])
want = mb << 20
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(1); s.settimeout(600)
c, _ = s.accept()
got, t0 = 0, None
while got < want:
    b = c.recv(1 << 20)
    if not b:
        break
    if t0 is None:
        t0 = time.monotonic()
    got += len(b)
t1 = time.monotonic()
print(got, t1 - (t0 or t1))
PY
	kids+=($!)
}

# boot TARGET DIR HTTPPORT SINKPORT: the guest sends to the sink, then serves HTTP.
boot() {
	local target=$1 dir=$2 hp=$3 sp=$4
	local cmdline="console=ttyS0 quiet panic=-1 vmx3.run=netsend,httpd vmx3.netsend=$sp:$MB"
	mkdir -p "$dir"
	if [ "$target" = qemu ]; then
		# passt 0.0~git20230309 started as root with -s exits at once (it means to
		# drop to nobody): run it as the unprivileged user, as the vmx does under hostd.
		local asuser=()
		if [ "$(id -u)" = 0 ]; then
			local u; u=$(id -u vmx3 >/dev/null 2>&1 && echo vmx3 || echo nobody)
			chmod 0777 "$dir"
			asuser=(setpriv --reuid="$u" --regid="$(id -g "$u")" --clear-groups)
		fi
		"${asuser[@]}" passt -f -q -1 -s "$dir/passt.sock" -t "$hp:80" >"$dir/passt.out" 2>&1 &
		kids+=($!)
		for _ in $(seq 50); do [ -S "$dir/passt.sock" ] && break; sleep 0.1; done
		qemu-system-riscv64 -M virt -m 256 -smp 1 -display none -no-reboot \
			-bios "$G/fw_dynamic.bin" -kernel "$G/Image" -initrd "$G/initrd.gz" \
			-append "$cmdline" -serial "file:$dir/console.txt" \
			-netdev "stream,id=n0,server=off,addr.type=unix,addr.path=$dir/passt.sock" \
			-device virtio-net-device,netdev=n0 >"$dir/qemu.out" 2>&1 &
		kids+=($!)
	else
		cat >"$dir/n.vmx" <<VMX
memSize = "256"
numvcpus = "1"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "$cmdline"
serial0.fileName = "console.txt"
ethernet0.present = "TRUE"
ethernet0.portForward = "tcp:$hp:80"
VMX
		"$target" "$dir/n.vmx" >"$dir/vmx.out" 2>&1 &
		kids+=($!)
	fi
	echo $!
}

wait_line() { # FILE PATTERN SECONDS
	for _ in $(seq $(($3 * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
	return 1
}

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
echo "# qemu: $(qemu-system-riscv64 --version | head -n 1); passt $(dpkg-query -W -f '${Version}' passt 2>/dev/null)"
echo "# guest: 1 vCPU, 256 MiB, MTU from passt's DHCP; tput: $MB MiB guest->host; rps: ab -c $CONC for $SECS s"
printf '%-14s %12s %10s %8s %8s %8s %8s\n' target tput_MiB/s rps p50_ms p90_ms p99_ms failed
for t in "${targets[@]}"; do
	name=$([ "$t" = qemu ] && echo qemu || basename "$t")
	dir="$tmp/$name"; mkdir -p "$dir"
	hp=$(freeport); sp=$(freeport)
	sink "$sp" "$MB" "$dir/sink.out"
	pid=$(boot "$t" "$dir" "$hp" "$sp")
	if ! wait_line "$dir/console.txt" 'VMX3 httpd ready' 600; then
		echo "bench/net.sh: $name did not come up" >&2; tail -5 "$dir/console.txt" >&2; exit 1
	fi
	read -r bytes secs <"$dir/sink.out"
	tput=$(python3 -c "print('%.1f' % ($bytes / 1048576 / $secs))")
	ab -q -r -c "$CONC" -t "$SECS" -n 1000000 "http://127.0.0.1:$hp/" >"$dir/ab.out" 2>&1 || true
	rps=$(sed -n 's/^Requests per second: *\([0-9.]*\).*/\1/p' "$dir/ab.out")
	failed=$(sed -n 's/^Failed requests: *\([0-9]*\)/\1/p' "$dir/ab.out")
	pc() { sed -n "s/^ *$1% *\([0-9]*\)$/\1/p" "$dir/ab.out"; }
	printf '%-14s %12s %10s %8s %8s %8s %8s\n' "$name" "$tput" "$rps" "$(pc 50)" "$(pc 90)" "$(pc 99)" "$failed"
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
done

if [ "$SWITCH" = 1 ]; then
	echo
	echo "# HTTP load through the forward while hostd fast-switches default -> stats -> debug -> default"
	NET_LOAD_SECONDS=${NET_SWITCH_SECONDS:-120} bash "$HERE/../tests/integration/net_fastswitch.sh" |
		grep -vE '^PASS net-(registered|power-on|page|cgi|mac|guest|passt|httpd)'
fi
