#!/bin/sh
# fetch-debian.sh - fetch Debian's riscv64 kernel, OpenSBI and busybox-static
# and extract what the default guest needs.
#
# Usage: guest/fetch-debian.sh [OUTDIR]          (default OUTDIR: build/guest)
#
# Produces in OUTDIR: fw_dynamic.bin, Image, kernel.version, busybox and
# modules/ (uncompressed .ko files for virtio-mmio, virtio-blk and ext4 plus
# their dependencies, and modules/load.order listing them in load order).
#
# The packages come from Debian `stable` for riscv64 through a private apt
# configuration under the cache directory; the machine's own apt
# configuration is only read (for its mirror URI), never changed.  The mirror
# is discovered at run time so that no host name is written into the tree.
# Downloads are cached in ${VMX3_CACHE:-$HOME/.cache/vmx3}; once the three
# .deb files are there, no network access happens.
set -eu

OUT=${1:-build/guest}
CACHE=${VMX3_CACHE:-$HOME/.cache/vmx3}
APTDIR=$CACHE/apt
DEBS=$CACHE/debs
UNPACK=$CACHE/unpacked

# Modules the guest loads, by name.  Hard dependencies (the `depends=` field
# of each module's .modinfo) are added automatically.  Soft dependencies are
# not: ext4 and jbd2 declare `softdep=pre: crypto-crc32c`, which modprobe
# would resolve through aliases; crc32c_generic provides that alias, so it is
# named here explicitly, before ext4.
# virtio_net brings failover and net_failover (its depends=).
WANT_MODULES="virtio_mmio virtio_blk crc32c_generic ext4 virtio_net"
OBJCOPY=${OBJCOPY:-riscv64-linux-gnu-objcopy}

die() { echo "fetch-debian: $*" >&2; exit 1; }

# The first URIs: value of the machine's deb822 sources, else the first
# deb line of sources.list.
find_mirror() {
	m=""
	if [ -r /etc/apt/sources.list.d/debian.sources ]; then
		m=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)
	fi
	if [ -z "$m" ] && [ -r /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; exit } }' \
			/etc/apt/sources.list)
	fi
	[ -n "$m" ] || die "no mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
	echo "$m"
}

apt_private() {
	cmd=$1; shift
	# As root, apt would hand downloads to the _apt user, who cannot write
	# into a cache under root's home; as anyone else there is no sandbox.
	sandbox=
	[ "$(id -u)" = 0 ] && sandbox="-o APT::Sandbox::User=root"
	# shellcheck disable=SC2086
	"$cmd" -q $sandbox \
		-o APT::Architecture=riscv64 \
		-o APT::Architectures=riscv64 \
		-o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::State::Status="$APTDIR/status" \
		-o Dir::Etc::SourceList="$APTDIR/sources.list" \
		-o Dir::Etc::SourceParts="$APTDIR/nonexistent.d" \
		-o Dir::Cache="$APTDIR/cache" \
		"$@"
}

# $1 is a shell pattern, deliberately unquoted where it is expanded.
have_deb() { ls "$DEBS"/$1_*.deb >/dev/null 2>&1; }

download() {
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$DEBS"
	: > "$APTDIR/status"
	echo "deb [arch=riscv64] $(find_mirror) stable main" > "$APTDIR/sources.list"
	echo "fetch-debian: apt-get update (private configuration in $APTDIR)"
	apt_private apt-get update >/dev/null || die "apt-get update failed"
	kpkg=$(apt_private apt-cache depends linux-image-riscv64 |
		awk '/Depends: linux-image-[0-9].*-riscv64$/ { print $2; exit }')
	[ -n "$kpkg" ] || die "cannot resolve linux-image-riscv64 to a versioned package"
	echo "fetch-debian: linux-image-riscv64 -> $kpkg"
	(cd "$DEBS" && apt_private apt-get download "$kpkg" opensbi busybox-static) ||
		die "apt-get download failed"
}

if have_deb 'linux-image-[0-9]*-riscv64' && have_deb opensbi && have_deb busybox-static; then
	echo "fetch-debian: using cached packages in $DEBS"
else
	download
fi

# Newest of each, should several versions have accumulated in the cache.
pick() { ls "$DEBS"/$1_*.deb | sort -V | tail -n 1; }
KDEB=$(pick 'linux-image-[0-9]*-riscv64')
SDEB=$(pick opensbi)
BDEB=$(pick busybox-static)

unpack() {
	d=$UNPACK/$(basename "$1" .deb)
	if [ ! -e "$d/.done" ]; then
		rm -rf "$d"
		mkdir -p "$d"
		dpkg -x "$1" "$d"
		touch "$d/.done"
	fi
	echo "$d"
}
KDIR=$(unpack "$KDEB")
SDIR=$(unpack "$SDEB")
BDIR=$(unpack "$BDEB")

KVER=$(ls "$KDIR/lib/modules" 2>/dev/null || ls "$KDIR/usr/lib/modules")
[ "$(echo "$KVER" | wc -l)" = 1 ] || die "expected one kernel version in $KDEB, got: $KVER"
MODDIR=$KDIR/lib/modules/$KVER
[ -d "$MODDIR" ] || MODDIR=$KDIR/usr/lib/modules/$KVER

mkdir -p "$OUT"
cp "$SDIR/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin" "$OUT/fw_dynamic.bin"
# Debian's vmlinux-<ver> for riscv64 is the raw Image with an EFI stub.
cp "$KDIR/boot/vmlinux-$KVER" "$OUT/Image"
cp "$KDIR/boot/config-$KVER" "$OUT/kernel.config"
cp "$BDIR/usr/bin/busybox" "$OUT/busybox"
echo "$KVER" > "$OUT/kernel.version"

# Debian's package has no modules.dep (depmod runs at install time), so the
# dependencies are read from each module's .modinfo section.  The result is a
# load order in which every module follows the ones it needs.
rm -rf "$OUT/modules"
mkdir -p "$OUT/modules"
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT
order=""
# `local` (dash, bash, busybox sh; not POSIX) keeps the recursion from
# clobbering the caller's names.
# shellcheck disable=SC3043
visit() {
	local name pat path deps dep
	name=$1
	case " $order " in *" $name "*) return 0 ;; esac
	# File names may spell the module name with '-' where the name has '_'.
	pat=$(echo "$name" | sed 's/[-_]/[-_]/g')
	path=$(find "$MODDIR/kernel" -name "$pat.ko*" | head -n 1)
	if [ -z "$path" ]; then
		if grep -qE "/$pat\.ko\$" "$MODDIR/modules.builtin"; then
			return 0
		fi
		die "module $name is neither a module file nor built in"
	fi
	case "$path" in
	*.ko.xz) xz -dc "$path" > "$TMPD/$name.ko" ;;
	*.ko.zst) zstd -qdc "$path" > "$TMPD/$name.ko" ;;
	*.ko.gz) gzip -dc "$path" > "$TMPD/$name.ko" ;;
	*.ko) cp "$path" "$TMPD/$name.ko" ;;
	*) die "unexpected module file $path" ;;
	esac
	"$OBJCOPY" -O binary --only-section=.modinfo "$TMPD/$name.ko" "$TMPD/$name.modinfo"
	deps=$(tr '\0' '\n' < "$TMPD/$name.modinfo" | sed -n 's/^depends=//p' | tr ',' ' ')
	for dep in $deps; do visit "$dep"; done
	order="$order $name"
	mv "$TMPD/$name.ko" "$OUT/modules/$name.ko"
}
for m in $WANT_MODULES; do visit "$m"; done
for m in $order; do echo "$m"; done > "$OUT/modules/load.order"

echo "fetch-debian: kernel $KVER, modules:$order"
