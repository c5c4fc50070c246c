#!/bin/sh
# build-initramfs.sh - assemble the default guest's initramfs (initrd.gz).
#
# Usage: guest/build-initramfs.sh GUESTDIR
#
# Takes from GUESTDIR what fetch-debian.sh and the guest program build left
# there (busybox, modules/*.ko + modules/load.order, bin/vmx3-*) plus
# guest/init, and writes GUESTDIR/initrd.gz: a gzip'd newc cpio with
# /init, /bin/busybox and its applet links, the vmx3 programs in /bin and the
# modules in /lib/modules.  Entries are sorted, owned by root and carry a
# fixed time, so the same inputs give the same archive.
# No device nodes are included (creating them needs root): /init mounts
# devtmpfs before it first writes to the console.
set -eu

G=${1:?usage: build-initramfs.sh GUESTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
# Applets /init itself uses; the fallback when busybox cannot be asked.
APPLETS_MIN="sh mount umount cat echo tr insmod rmmod awk usleep sync poweroff setsid cttyhack mkdir ls dmesg ip ifconfig udhcpc httpd chmod cut sleep grep dd nc"

for f in busybox modules/load.order; do
	[ -e "$G/$f" ] || { echo "build-initramfs: missing $G/$f (run fetch-debian.sh)" >&2; exit 1; }
done

ROOT=$G/initramfs.root
rm -rf "$ROOT"
mkdir -p "$ROOT/bin" "$ROOT/sbin" "$ROOT/dev" "$ROOT/proc" "$ROOT/sys" "$ROOT/mnt" "$ROOT/tmp" \
	"$ROOT/lib/modules" "$ROOT/root"
cp "$HERE/init" "$ROOT/init"
chmod 0755 "$ROOT/init"
cp "$G/busybox" "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"
cp "$G/modules/"*.ko "$G/modules/load.order" "$ROOT/lib/modules/"
for p in "$G"/bin/vmx3-*; do
	[ -e "$p" ] && cp "$p" "$ROOT/bin/"
done

# The full applet list comes from busybox itself when the host can run a
# riscv64 program (qemu-user); otherwise only what /init needs is linked.
if command -v qemu-riscv64 >/dev/null 2>&1 &&
	applets=$(qemu-riscv64 "$G/busybox" --list 2>/dev/null) && [ -n "$applets" ]; then
	:
else
	applets=$APPLETS_MIN
fi
for a in $applets; do
	case "$a" in busybox|'['|'[[') continue ;; esac
	[ -e "$ROOT/bin/$a" ] || ln -s busybox "$ROOT/bin/$a"
done
ln -s ../bin/busybox "$ROOT/sbin/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc --owner=0:0 --reproducible) | gzip -n -9 > "$G/initrd.gz.tmp"
mv "$G/initrd.gz.tmp" "$G/initrd.gz"
echo "build-initramfs: $G/initrd.gz ($(wc -c < "$G/initrd.gz") bytes)"
