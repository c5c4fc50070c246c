#!/usr/bin/env bash
# fresh-check.sh - `make fresh-check`: the README's two commands, `make demo`
# and `make check`, on a fresh Debian 12 machine, so that a package this
# machine happens to have cannot hide a missing entry in scripts/deps.sh.
#
# The fresh machine is a minimal Debian 12 root (mmdebstrap --variant=minbase)
# built from this machine's own apt sources (copied, never written into the
# tree), plus `make`, which a user needs to type the commands at all.  A
# clean `git clone` of the tree (HEAD, or FRESH_REF) is copied into it, and
# the two commands run as root in the fresh root (pivot_root) in a private
# mount namespace
# (/proc, /sys, /dev and /dev/shm mounted), so deps.sh installs what is
# missing exactly as it would for a new user.
#
# The base root is cached as a tarball in $VMX3_CACHE/fresh (default
# ~/.cache/vmx3/fresh) and refreshed after FRESH_MAX_AGE_DAYS (default 7);
# each run unpacks it into a new directory, removed afterwards unless
# FRESH_KEEP=1.  Full output goes to $VMX3_CACHE/fresh/{demo,check}.log; this
# prints the demo's last lines and check's summary line, and exits non-zero
# when either command failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${VMX3_CACHE:-$HOME/.cache/vmx3}
F=$CACHE/fresh
BASE=$F/bookworm-minbase.tar
REF=${FRESH_REF:-HEAD}
MAX_AGE=${FRESH_MAX_AGE_DAYS:-7}

die() { echo "fresh-check: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (chroot, mounts, apt-get inside the fresh root)"
command -v unshare >/dev/null || die "unshare (util-linux) not found"

# The machine's apt sources: deb822 files first, then sources.list.
sources=
for s in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list; do
  [ -r "$s" ] && grep -qE '^(URIs:|deb )' "$s" && { sources=$s; break; }
done
[ -n "$sources" ] || die "no apt sources found in /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list"

mkdir -p "$F"
if [ -e "$BASE" ] && [ -z "$(find "$BASE" -mtime +"$MAX_AGE")" ]; then
  echo "fresh-check: base root $BASE (cached)"
else
  if ! command -v mmdebstrap >/dev/null; then
    echo "fresh-check: installing mmdebstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; }
  fi
  echo "fresh-check: building a minimal Debian 12 root from $sources (about a minute)"
  # mmdebstrap picks the output format from the name: keep the .tar ending.
  rm -rf "$F/new.tar" "$BASE"
  mmdebstrap --quiet --variant=minbase --include=make bookworm "$F/new.tar" "$sources"
  mv "$F/new.tar" "$BASE"
fi

R=$(mktemp -d "$F/root.XXXXXX")
cleanup() {
  local rc=$? p
  # Whatever still runs inside the root (a hostd or vmx a failed test left) goes first.
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$R" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  if [ "${FRESH_KEEP:-0}" = 1 ]; then echo "fresh-check: root kept in $R"; else rm -rf "$R"; fi
  exit $rc
}
trap cleanup EXIT
tar -C "$R" -xf "$BASE"
# What a real machine has: its own apt sources (the tarball has mmdebstrap's)
# and name resolution, including the /etc/hosts Debian's installer writes
# (mmdebstrap's root has none, and "localhost" then resolves nowhere).
rm -f "$R"/etc/apt/sources.list "$R"/etc/apt/sources.list.d/*
cp "$sources" "$R/etc/apt/sources.list.d/$(basename "$sources")"
cp -L /etc/resolv.conf "$R/etc/resolv.conf"
[ -e "$R/etc/hosts" ] ||
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"

rev=$(git -C "$top" rev-parse --short=12 "$REF")
git clone -q "$top" "$R/root/vmx3"
git -C "$R/root/vmx3" checkout -q "$rev"
echo "fresh-check: tree at $rev ($REF) in a fresh root $R"

inside() { # LOGFILE COMMAND: runs COMMAND in the tree inside the fresh root
  local log=$1 cmd=$2
  # The fresh root becomes the namespace's own root (pivot_root, not chroot):
  # the kernel refuses user namespaces to a chrooted process, and passt (the
  # guest network's backend) sandboxes itself with one, as on a real machine.
  unshare --mount --fork -- bash -c '
    set -e
    R=$1 cmd=$2
    mount --make-rprivate /
    mount --bind "$R" "$R"
    mount -t proc proc "$R/proc"
    mount --rbind /sys "$R/sys"
    mount --rbind /dev "$R/dev"
    mountpoint -q "$R/dev/shm" || mount -t tmpfs -o mode=1777 shm "$R/dev/shm"
    mount -t tmpfs -o mode=1777 tmp "$R/tmp"
    mkdir -p "$R/.oldroot"
    cd "$R"
    pivot_root . .oldroot
    umount -l /.oldroot
    exec /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      TERM=dumb LANG=C.UTF-8 /bin/bash -c "cd /root/vmx3 && $cmd"
  ' inside "$R" "$cmd" >"$log" 2>&1
}

status=0
t0=$(date +%s)
if inside "$F/demo.log" "make demo"; then demo=ok; else demo="FAILED"; status=1; fi
t1=$(date +%s)
if inside "$F/check.log" "make check"; then check=ok; else check="FAILED"; status=1; fi
t2=$(date +%s)

echo
echo "== make demo: $demo ($((t1 - t0)) s; $F/demo.log), last lines:"
tail -n 15 "$F/demo.log" | sed 's/^/   /'
if [ "$demo" != ok ]; then
  echo "-- first error:"
  grep -m3 -E 'error|Error|missing|No such file' "$F/demo.log" | sed 's/^/   /' || true
fi
echo
echo "== make check: $check ($((t2 - t1)) s; $F/check.log)"
grep -E '^(tiers run:|failed:)' "$F/check.log" | sed 's/^/   /' || true
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$F/check.log" | tail -1 || true)
if [ "$check" != ok ] && [ -z "$summary" ]; then
  echo "-- first error:"
  grep -m3 -E 'error|Error|missing|No such file' "$F/check.log" | sed 's/^/   /' || true
fi
echo
echo "fresh-check (tree $rev): make demo $demo, make check $check"
echo "${summary:-no summary line from make check}"
exit $status
