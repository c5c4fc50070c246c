#!/usr/bin/env bash
# boot.sh - boot the default guest once and check its result.
#
# Usage: guest/boot.sh [--guest DIR] [--timeout S] [--disk FILE] TARGET WORKLOADS [PARAM...]
#   TARGET     `qemu` or the path of a vmx binary
#   WORKLOADS  the value of vmx3.run (e.g. boot, disk,cpu, counter)
#   PARAM      extra kernel parameters (e.g. vmx3.cpu_iters=1000000)
# The console goes to stdout.  The disk is a scratch copy of DIR/disk.img
# unless --disk names one (which is then written to).  Exit status 0 when
# the guest printed "VMX3-MARKER: done ok" and the target exited with 0;
# 1 when the guest reported a failure or the markers are missing; 2 on a
# usage error.  For integration tests of vmx and for trying the guest by hand.
set -uo pipefail

GUEST_DIR=build/guest
TIMEOUT=600
DISK=
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) GUEST_DIR=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--disk) DISK=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -ge 2 ] || { sed -n '4,13p' "$0" >&2; exit 2; }
TARGET=$1 RUN=$2
shift 2
G=$(cd "$GUEST_DIR" && pwd) || exit 2
for f in fw_dynamic.bin Image initrd.gz disk.img; do
	[ -e "$G/$f" ] || { echo "boot.sh: missing $G/$f (make guest)" >&2; exit 2; }
done
CMDLINE="console=ttyS0 quiet panic=-1 vmx3.run=$RUN${*:+ $*}"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-boot.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
if [ -z "$DISK" ]; then
	DISK=$TMP/disk.img
	cp --sparse=always "$G/disk.img" "$DISK"
fi
DISK=$(cd "$(dirname "$DISK")" && pwd)/$(basename "$DISK")

if [ "$TARGET" = qemu ]; then
	timeout "$TIMEOUT" qemu-system-riscv64 -M virt -m 512 -smp 2 -nographic -no-reboot \
		-bios "$G/fw_dynamic.bin" -kernel "$G/Image" -initrd "$G/initrd.gz" \
		-append "$CMDLINE" -drive "file=$DISK,format=raw,if=none,id=d0" \
		-device virtio-blk-device,drive=d0 </dev/null 2>&1 | tee "$TMP/console"
else
	cat > "$TMP/guest.vmx" <<VMX
memSize = "512"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "$CMDLINE"
disk0.fileName = "$DISK"
VMX
	timeout "$TIMEOUT" "$TARGET" "$TMP/guest.vmx" </dev/null 2>&1 | tee "$TMP/console"
fi
rc=${PIPESTATUS[0]}
if ! grep -aq 'VMX3-MARKER: init' "$TMP/console"; then
	echo "boot.sh: no VMX3-MARKER: init (target exit $rc)" >&2
	exit 1
fi
if ! grep -aq 'VMX3-MARKER: done ok' "$TMP/console"; then
	echo "boot.sh: guest did not finish ok: $(grep -a 'VMX3-MARKER: done' "$TMP/console" || echo 'no done marker') (target exit $rc)" >&2
	exit 1
fi
[ "$rc" -eq 0 ] || { echo "boot.sh: target exited with $rc" >&2; exit 1; }
exit 0
