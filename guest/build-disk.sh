#!/bin/sh
# build-disk.sh - create the default guest's raw disk image.
#
# Usage: guest/build-disk.sh OUTFILE [SIZE_MIB]     (default 64 MiB)
#
# Layout (vmx3-disk relies on it): an ext4 file system in the first 32 MiB,
# label "vmx3", holding a README; the rest of the image is a raw area that
# the raw disk test overwrites (offset 48 MiB, 8 MiB long).  The file is
# sparse.  mkfs.ext4 works on a plain file, so no root is needed.
set -eu

OUT=${1:?usage: build-disk.sh OUTFILE [SIZE_MIB]}
SIZE=${2:-64}
FS_MIB=32

[ "$SIZE" -ge 56 ] || { echo "build-disk: size must be at least 56 MiB" >&2; exit 1; }
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"' EXIT
mkdir "$TMPD/root"
printf 'vmx3 default guest disk.\nThe raw test area starts at 48 MiB.\n' > "$TMPD/root/README"

rm -f "$OUT.tmp"
truncate -s "${SIZE}M" "$OUT.tmp"
# -E root_owner: files belong to root whoever builds; fixed UUID and hash seed
# keep images from one build to the next comparable.
mkfs.ext4 -q -F -L vmx3 -b 4096 -m 0 -U 5d4a8a2e-7c1b-4b7e-9a55-766d78330001 \
	-E root_owner=0:0,hash_seed=5d4a8a2e-7c1b-4b7e-9a55-766d78330002 \
	-d "$TMPD/root" "$OUT.tmp" "${FS_MIB}M"
mv "$OUT.tmp" "$OUT"
echo "build-disk: $OUT (${SIZE} MiB, ext4 in the first ${FS_MIB} MiB)"
