#!/usr/bin/env bash
# callstack_walk.sh - the guest stack walk keeps only real callers, and the
# viewer's edges: tests/callstack/guest/stacks.c runs one call chain under
# three entry trampolines that leave a bogus frame record above it (a real
# code address as "return address" under ret_from_fork, instruction bytes,
# an address outside every function); every sample's outermost guest frame
# must be a known entry point, and the profile must count the walks each
# rule stopped.  Also: --tui without a terminal refuses at once, and --insn
# takes a single address (the label of a frame no symbol covers).
set -u
B=${B:-build}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

if ! make -s B="$B" "$B/stats/vmx-stats" "$B/host/vmx-callstack" "$B/isa/cs-stacks.elf" \
     >/dev/null 2>&1; then
  bad "callstack-walk-build"
  
# Frames named by pattern: one match is used, several are listed, a near miss gets suggestions.
"$V" --rootat 'level2$' --min 0 --depth 1 "$tmp/vm" >"$tmp/re.txt" 2>"$tmp/re.err"
check "callstack-rootat-regex" grep -q "guest:cs_level2$" "$tmp/re.txt"
"$V" --rootat cs_level "$tmp/vm" >/dev/null 2>"$tmp/many.err"
check "callstack-rootat-several" grep -q "matches 3 frames: .*guest:cs_level1" "$tmp/many.err"
"$V" --insn cs_levl3 "$tmp/vm" >/dev/null 2>"$tmp/dym.err"
check "callstack-insn-did-you-mean" grep -q "did you mean guest:cs_level3" "$tmp/dym.err"
exit 0
fi
B=$(cd "$B" && pwd)
V="$B/host/vmx-callstack"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkdir -p "$tmp/vm"
cat >"$tmp/vm/stacks.vmx" <<EOV
vmx.buildType = "stats"
memSize = "64"
guest.elf = "$B/isa/cs-stacks.elf"
EOV
if ! "$B/stats/vmx-stats" "$tmp/vm/stacks.vmx" >"$tmp/run.out" 2>&1; then
  bad "callstack-walk-run" "$(tail -3 "$tmp/run.out")"
  
# Frames named by pattern: one match is used, several are listed, a near miss gets suggestions.
"$V" --rootat 'level2$' --min 0 --depth 1 "$tmp/vm" >"$tmp/re.txt" 2>"$tmp/re.err"
check "callstack-rootat-regex" grep -q "guest:cs_level2$" "$tmp/re.txt"
"$V" --rootat cs_level "$tmp/vm" >/dev/null 2>"$tmp/many.err"
check "callstack-rootat-several" grep -q "matches 3 frames: .*guest:cs_level1" "$tmp/many.err"
"$V" --insn cs_levl3 "$tmp/vm" >/dev/null 2>"$tmp/dym.err"
check "callstack-insn-did-you-mean" grep -q "did you mean guest:cs_level3" "$tmp/dym.err"
exit 0
fi
prof=$(ls "$tmp"/vm/stats/callstack-*.txt 2>/dev/null | head -1)
check "callstack-walk-profile" test -s "$prof"

# Outermost guest frame of every sample, with its sample count.
"$V" --folded --guest-only "$tmp/vm" >"$tmp/folded.txt"
awk '{ n = split($1, f, ";"); root[f[1]] += $2; all += $2 }
     END { for (r in root) print r, root[r]; print "ALL", all }' "$tmp/folded.txt" | sort >"$tmp/roots.txt"
echo "roots: $(tr '\n' ' ' <"$tmp/roots.txt")"
# main is called by _start (crt0, not a typed function, so outside every symbol).
check "callstack-walk-known-roots" awk '
  $1 == "ALL" { all = $2; next }
  $1 !~ /^guest:(main|ret_from_fork|cs_entry_junk|cs_entry_wild)$/ { print "bogus root " $1 " (" $2 " samples)"; bad = 1 }
  END { exit bad || !all }' "$tmp/roots.txt"
for r in ret_from_fork cs_entry_junk cs_entry_wild; do
  check "callstack-walk-root-$r" grep -q "^guest:$r " "$tmp/roots.txt"
done
# The chain under each entry is complete: entry, thread function, three levels.
check "callstack-walk-chain" grep -q "^guest:cs_entry_junk;guest:cs_kthread;guest:cs_level1;guest:cs_level2;guest:cs_level3" "$tmp/folded.txt"
stop() { awk -v r="$1" '$1 == "guest_walk_stop" && $2 == r { print $3 }' "$prof"; }
echo "walk stops: marker $(stop marker), noncanonical $(stop noncanonical), unknown-code $(stop unknown-code)"
check "callstack-walk-stop-marker" test "$(stop marker)" -gt 0
check "callstack-walk-stop-noncanonical" test "$(stop noncanonical)" -gt 0
check "callstack-walk-stop-unknown-code" test "$(stop unknown-code)" -gt 0
"$V" --summary "$tmp/vm" >"$tmp/summary.txt"
check "callstack-walk-summary" grep -q "^# guest stack walks: [0-9]*, stopped at .*noncanonical [0-9]" "$tmp/summary.txt"

# --tui with no terminal: a message and a non-zero exit, at once.
start=$(date +%s%N)
timeout 10 "$V" --tui "$tmp/vm" </dev/null >"$tmp/tui.out" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "--tui </dev/null: exit $rc after $ms ms: $(head -1 "$tmp/tui.out")"
check "callstack-tui-no-terminal" test "$rc" -ne 0 -a "$rc" -ne 124 -a "$ms" -lt 3000
check "callstack-tui-no-terminal-message" grep -q "needs a terminal" "$tmp/tui.out"

# --insn on one address: frames with no symbol are labelled by address.
sed 's/^frame \([0-9]*\) g \([01]\) \([0-9a-f]*\) .*/frame \1 g \2 \3 - - -/' "$prof" >"$tmp/anon.txt"
addr=$(awk '$1 == "gcode" { print $2; exit }' "$prof")
want=$(awk -v a="$addr" '$1 == "frame" && $3 == "g" && $5 == a { id[$2] = 1 }
  $1 == "stack" && $7 != "-" { n = split($7, f, ","); if (f[n] in id) s += $2 }
  END { print s + 0 }' "$prof")
"$V" --insn "guest:0x$addr" "$tmp/anon.txt" >"$tmp/insn.txt" 2>&1
echo "--insn guest:0x$addr: $(head -1 "$tmp/insn.txt") (leaf samples there: $want)"
check "callstack-insn-single-address" grep -q "^guest:0x$addr: $want samples" "$tmp/insn.txt"
check "callstack-insn-single-address-word" grep -Eq "^ +$want +[0-9.]+% +$addr:  [0-9a-f]+ " "$tmp/insn.txt"

# Frames named by pattern: one match is used, several are listed, a near miss gets suggestions.
"$V" --rootat 'level2$' --min 0 --depth 1 "$tmp/vm" >"$tmp/re.txt" 2>"$tmp/re.err"
check "callstack-rootat-regex" grep -q "guest:cs_level2$" "$tmp/re.txt"
"$V" --rootat cs_level "$tmp/vm" >/dev/null 2>"$tmp/many.err"
check "callstack-rootat-several" grep -q "matches 3 frames: .*guest:cs_level1" "$tmp/many.err"
"$V" --insn cs_levl3 "$tmp/vm" >/dev/null 2>"$tmp/dym.err"
check "callstack-insn-did-you-mean" grep -q "did you mean guest:cs_level3" "$tmp/dym.err"
exit 0
