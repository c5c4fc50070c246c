#!/usr/bin/env bash
# buildtypes.sh - the five build types: --version names each, install puts the
# shipped three side by side (internal two only when asked), and stats/debug
# code is absent from the release binary (and present where it belongs).
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

declare -A bin=([release]=vmx [beta]=vmx-debug [stats]=vmx-stats [opt]=vmx-opt [obj]=vmx-obj)
for t in release beta stats opt obj; do
  out=$("$B/$t/${bin[$t]}" --version 2>&1)
  check "version-$t" grep -Eq "^vmx3 vmx [0-9.]+ \(build [0-9a-f]+(-dirty)?\) buildType=$t\$" <<<"$out"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make -s B="$B" install PREFIX=/opt/vmx3 DESTDIR="$tmp/d1" >/dev/null 2>&1
check install-shipped test -x "$tmp/d1/opt/vmx3/bin/vmx" -a -x "$tmp/d1/opt/vmx3/bin/vmx-debug" -a -x "$tmp/d1/opt/vmx3/bin/vmx-stats"
check install-no-internal test ! -e "$tmp/d1/opt/vmx3/bin/vmx-opt" -a ! -e "$tmp/d1/opt/vmx3/bin/vmx-obj"
check install-debug-names-beta grep -q 'buildType=beta' <<<"$("$tmp/d1/opt/vmx3/bin/vmx-debug" --version)"
make -s B="$B" install PREFIX="$tmp/p2" INSTALL_INTERNAL=1 >/dev/null 2>&1
check install-internal test -x "$tmp/p2/bin/vmx-opt" -a -x "$tmp/p2/bin/vmx-obj"

# Symbols defined by stats-only and debug-only objects.
# Global symbols only: static locals such as "order.0" may share names by chance.
defs() { nm --defined-only "$@" 2>/dev/null | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u; }
# Objects of sources that exist now: a build directory may keep those of removed files.
objs() { local d=$1 t=$2 f; for f in src/"$d"/*.c; do f=${f##*/}; echo "$B/$t/obj/$d/${f%.c}.o"; done; }
stats_syms=$(defs $(objs stats stats))
debug_syms=$(defs $(objs debug beta))
rel_syms=$(nm "$B/release/vmx" | awk '{print $NF}' | sort -u)
check stats-symbols-exist test -n "$stats_syms"
check debug-symbols-exist test -n "$debug_syms"
check release-has-no-stats test -z "$(comm -12 <(echo "$stats_syms") <(echo "$rel_syms"))"
check release-has-no-debug test -z "$(comm -12 <(echo "$debug_syms") <(echo "$rel_syms"))"
check stats-build-has-stats test -n "$(comm -12 <(echo "$stats_syms") <(nm "$B/stats/vmx-stats" | awk '{print $NF}' | sort -u))"
check beta-build-has-debug test -n "$(comm -12 <(echo "$debug_syms") <(nm "$B/beta/vmx-debug" | awk '{print $NF}' | sort -u))"
check stats-has-no-debug test -z "$(comm -12 <(echo "$debug_syms") <(nm "$B/stats/vmx-stats" | awk '{print $NF}' | sort -u))"
# Frame pointers: release omits them, the others keep them (prologues set up %rbp).
fp() { objdump -d --no-show-raw-insn "$1" | grep -cE 'mov +%rsp,%rbp$'; }
check beta-has-frame-pointers test "$(fp "$B/beta/vmx-debug")" -gt 50
check release-omits-frame-pointers test "$(fp "$B/release/vmx")" -lt "$(( $(fp "$B/beta/vmx-debug") / 4 ))"
