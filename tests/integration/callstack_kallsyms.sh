#!/usr/bin/env bash
# callstack_kallsyms.sh - guest kernel symbols decoded from the kallsyms
# tables of the Image the VM boots (src/stats/cs_kallsyms.c), checked against
# the truth: the default guest boots on the stats build with vmx3.run=kallsyms
# and prints its own /proc/kallsyms (t/T symbols) on the console; every
# kernel symbol there must come out of the decoder at the same address with
# the same name, and the decoder must name no t/T symbol the kernel does not
# have.  Module symbols ([module]) are listed but not expected: modules are
# not in the Image.  The profiler's table built from it must answer each of
# those addresses with that function, whose range ends at the next symbol of
# any kind.  When the profiler loads these symbols on its own (guest.kernel
# without guest.symbols), the profile of the same boot must say so.
set -u
B=${B:-build}
G="$PWD/$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

[ -e "$G/Image" ] || { bad callstack-kallsyms "no guest kernel $G/Image (make guest)"; exit 1; }
if ! make -s B="$B" "$B/stats/vmx-stats" "$B/stats/tests/ksymdump" >/dev/null 2>&1; then
  bad "callstack-kallsyms-build"
  exit 1
fi
D="$PWD/$B/stats/tests/ksymdump"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- the decoder on the Image -------------------------------------------------
if ! "$D" "$G/Image" >"$tmp/decoded.txt" 2>"$tmp/decoded.err"; then
  bad "callstack-kallsyms-decode" "$(cat "$tmp/decoded.err")"
  exit 0
fi
cat "$tmp/decoded.err"
"$D" --all "$G/Image" >"$tmp/all.txt" 2>/dev/null
check "callstack-kallsyms-decode" test "$(wc -l <"$tmp/decoded.txt")" -gt 10000

# --- the guest's own table ------------------------------------------------------
vm="$tmp/vm"
mkdir -p "$vm"
cp --sparse=always "$G/disk.img" "$vm/disk.img"
cat >"$vm/ks.vmx" <<VMX
vmx.buildType = "stats"
memSize = "256"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=kallsyms"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
timeout 600 "$B/stats/vmx-stats" "$vm/ks.vmx" >"$vm/out" 2>&1; rc=$?
if [ $rc -ne 0 ] || ! grep -aq 'VMX3-MARKER: done ok' "$vm/console.log"; then
  bad "callstack-kallsyms-boot" "exit $rc, $(grep -a 'VMX3-MARKER: done' "$vm/console.log")"
  exit 0
fi
ok "callstack-kallsyms-boot"
# The last complete block; only well-formed lines (a kernel message could
# interleave), so the count the guest printed must match.
tr -d '\r' <"$vm/console.log" | awk '
  /^VMX3-KALLSYMS-BEGIN/ { n = 0; delete l; inside = 1; next }
  /^VMX3-KALLSYMS-END/ { if (inside) { sub(/.*count=/, ""); want = $0; m = n; for (i = 1; i <= n; i++) keep[i] = l[i] } inside = 0; next }
  inside && /^[0-9a-f]+ [tT] [^ ]+( \[[^ ]+\])?$/ { l[++n] = $0 }
  END { for (i = 1; i <= m; i++) print keep[i]; print "count " want > "/dev/stderr" }' \
  >"$tmp/guest.txt" 2>"$tmp/guest.count"
want=$(awk '{ print $2 }' "$tmp/guest.count")
check "callstack-kallsyms-guest-dump-complete" test "$(wc -l <"$tmp/guest.txt")" = "${want:-x}"

awk 'NF == 3' "$tmp/guest.txt" | sort -u >"$tmp/guest-kernel.txt"
awk 'NF == 4' "$tmp/guest.txt" >"$tmp/guest-modules.txt"
awk '$2 == "t" || $2 == "T"' "$tmp/decoded.txt" | sort -u >"$tmp/decoded-tT.txt"
total=$(wc -l <"$tmp/guest-kernel.txt")
matched=$(comm -12 "$tmp/guest-kernel.txt" "$tmp/decoded-tT.txt" | wc -l)
missing=$(comm -23 "$tmp/guest-kernel.txt" "$tmp/decoded-tT.txt" | wc -l)
extra=$(comm -13 "$tmp/guest-kernel.txt" "$tmp/decoded-tT.txt" | wc -l)
echo "guest kernel t/T symbols: $matched of $total found at the same address with the same name" \
     "($missing missing, $extra the decoder has that the guest does not);" \
     "$(wc -l <"$tmp/guest-modules.txt") module symbols not in the Image;" \
     "$(awk '$2 == "W" || $2 == "w"' "$tmp/decoded.txt" | wc -l) weak text symbols (the guest's dump keeps t/T only)"
comm -23 "$tmp/guest-kernel.txt" "$tmp/decoded-tT.txt" | head -5
comm -13 "$tmp/guest-kernel.txt" "$tmp/decoded-tT.txt" | head -5
check "callstack-kallsyms-all-guest-symbols-found" test "$total" -gt 10000 -a "$matched" = "$total"
check "callstack-kallsyms-no-invented-symbols" test "$extra" = 0

# --- the profiler's table: each guest address names its function ---------------
"$D" --lookup "$G/Image" "$tmp/guest-kernel.txt" >"$tmp/lookup.txt" 2>/dev/null
check "callstack-kallsyms-lookup" python3 - "$tmp/guest-kernel.txt" "$tmp/all.txt" "$tmp/lookup.txt" <<'EOP'
import sys
names = set()
for l in open(sys.argv[1]):
    a, _, n = l.split()[:3]
    names.add((int(a, 16), n))
addrs = sorted({int(l.split()[0], 16) for l in open(sys.argv[2])})
nxt = {addrs[i]: addrs[i + 1] for i in range(len(addrs) - 1)}
bad = lines = 0
for l in open(sys.argv[3]):
    a, start, end, name = l.split()
    lines += 1
    a = int(a, 16)
    # The function at its own start address, by one of its names there...
    if start == "-" or int(start, 16) != a or (a, name) not in names:
        bad += 1
        print("wrong:", l.strip())
    # ...ending where the next symbol of any kind begins.
    elif a in nxt and int(end, 16) != nxt[a]:
        bad += 1
        print("end:", l.strip())
print(f"lookup: {lines - bad} of {lines} guest addresses named correctly")
sys.exit(1 if bad or not lines else 0)
EOP

# --- the profile of the same boot -------------------------------------------------
prof=$(ls "$vm"/stats/callstack-*.txt 2>/dev/null | head -1)
gs=$(awk '$1 == "guest_symbols"' "$prof" 2>/dev/null)
case "$gs" in
*"#kallsyms "*)
  check "callstack-kallsyms-profile-symbols" test "$(awk '{ print $3 }' <<<"$gs")" -gt 10000
  check "callstack-kallsyms-profile-names" awk '$1 == "frame" && $3 == "g" && $6 != "-" { n++ } END { exit !(n > 0) }' "$prof" ;;
*)
  bad callstack-kallsyms-profile "the profiler did not load the Image's symbols on its own: ${gs:-no guest_symbols line in ${prof:-any profile}}" ;;
esac
