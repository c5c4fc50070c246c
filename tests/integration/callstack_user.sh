#!/usr/bin/env bash
# callstack_user.sh - two real user programs with their own symbol tables in
# one Linux guest (guest.userSymbols with two entries): the default guest
# runs vmx3-dirty (filling memory, in the background) and vmx3-cpu on the
# stats build.  Both are static programs linked at the same addresses, so a
# table applied to the wrong process would name its code wrongly.  Checked
# in the profile:
#   - each program is recognised in an address space of its own;
#   - user frames of an address space carry that program's names only, and
#     both programs' hot functions are named;
#   - the kernel's symbols stay (kernel frames are named from the Image).
set -u
B=${B:-build}
G="$PWD/$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

for f in Image bin/vmx3-cpu bin/vmx3-dirty; do
  [ -e "$G/$f" ] || { bad callstack-user "no $G/$f (make guest)"; exit 1; }
done
if ! make -s B="$B" "$B/stats/vmx-stats" >/dev/null 2>&1; then
  bad callstack-user-build
  exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vm="$tmp/vm"
mkdir -p "$vm"
cp --sparse=always "$G/disk.img" "$vm/disk.img"
cat >"$vm/u.vmx" <<VMX
memSize = "512"
numvcpus = "2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=dirtybg,cpu vmx3.dirty=40 vmx3.cpu_iters=20000000"
guest.userSymbols = "vmx3-dirty:$G/bin/vmx3-dirty; vmx3-cpu:$G/bin/vmx3-cpu"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
timeout 900 "$B/stats/vmx-stats" "$vm/u.vmx" >"$vm/out" 2>&1; rc=$?
if [ $rc -ne 0 ] || ! grep -aq 'VMX3-MARKER: done ok' "$vm/console.log"; then
  bad callstack-user-run "exit $rc, $(grep -a 'VMX3-MARKER: done' "$vm/console.log"; tail -2 "$vm/out")"
  exit 0
fi
ok callstack-user-run
prof=$(ls "$vm"/stats/callstack-*.txt 2>/dev/null | head -1)
check callstack-user-profile test -n "$prof"
[ -n "$prof" ] || exit 0

# One line per finding; the checks below read them.
/usr/bin/python3 - "$prof" >"$tmp/facts" <<'PY'
import collections, sys
frames, progs, as_prog, stacks = {}, [], {}, []
for line in open(sys.argv[1]):
    w = line.split()
    if not w:
        continue
    if w[0] == "guest_user_symbols":
        progs.append(w[1])
    elif w[0] == "guest_user_as" and w[2] != "-":
        as_prog.setdefault(w[1], set()).add(w[2])
    elif w[0] == "frame":
        frames[w[1]] = (w[2], int(w[4], 16), w[5])
    elif w[0] == "stack":
        ids = [] if w[6] == "-" else w[6].split(",")
        stacks.append((int(w[1]), int(w[3]), w[8] if len(w) > 8 else None, ids))
print("programs", " ".join(sorted(progs)))
for a, p in sorted(as_prog.items()):
    print("as", a, ",".join(sorted(p)))
named = collections.Counter()
wrong = 0
kernel_named = 0
for count, priv, asid, ids in stacks:
    for i in ids:
        dom, addr, name = frames[i]
        if addr >> 63:
            if not name.startswith("0x") and not name.startswith("guest:0x"):
                kernel_named += count
            continue
        if ":" not in name:
            continue
        prog = name.split(":", 1)[0]
        named[name] += count
        # A program's name on a frame of an address space not recognised as it.
        if asid is None or prog not in as_prog.get(asid, set()):
            wrong += count
print("wrong", wrong)
print("kernel_named", kernel_named)
for n, c in named.most_common():
    print("named", n, c)
PY
grep -q '^programs vmx3-cpu vmx3-dirty$' "$tmp/facts"
check callstack-user-two-tables test $? -eq 0
cpu_as=$(awk '$1 == "as" && $3 == "vmx3-cpu" { print $2 }' "$tmp/facts")
dirty_as=$(awk '$1 == "as" && $3 == "vmx3-dirty" { print $2 }' "$tmp/facts")
check callstack-user-each-recognised test -n "$cpu_as" -a -n "$dirty_as"
check callstack-user-own-address-spaces test -z "$(comm -12 <(sort <<<"$cpu_as") <(sort <<<"$dirty_as"))"
check callstack-user-no-program-twice test -z "$(awk '$1 == "as" && $3 ~ /,/' "$tmp/facts")"
check callstack-user-no-wrong-names grep -q '^wrong 0$' "$tmp/facts"
check callstack-user-cpu-named grep -q '^named vmx3-cpu:main ' "$tmp/facts"
check callstack-user-dirty-named grep -q '^named vmx3-dirty:main ' "$tmp/facts"
check callstack-user-kernel-kept test "$(awk '$1 == "kernel_named" { print $2 }' "$tmp/facts")" -gt 0
grep -q '^wrong 0$' "$tmp/facts" && grep -q '^named vmx3-cpu:main ' "$tmp/facts" ||
  { echo "--- profile facts"; head -30 "$tmp/facts"; }
