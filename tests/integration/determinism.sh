#!/usr/bin/env bash
# determinism.sh - the build type is invisible to the guest, proven by state
# hashes in deterministic mode.  A Linux guest with 2 vCPUs that writes and
# reads its virtio disk:
#  - runs to N in release, beta and stats; the hashes at every step agree;
#  - is suspended at K by each build type A and resumed to N by each build
#    type B (all nine pairs); every final hash equals the uninterrupted run's;
#  - is handed over at K by a running A to a B started with
#    --incoming-handover (the fast switch: memfd and fds passed, no file),
#    all nine pairs; B's hash at N equals the uninterrupted run's;
#  - a checkpoint whose device sections are version-1 blobs (an older vmx's)
#    resumes in release to the same hash.
# The translator is invisible too: release with monitor.translate = "FALSE"
# (the interpreter only) prints the same hashes at every step as with "TRUE"
# (every other run here), a VM suspended at K by the interpreter resumes under
# the translator, and one suspended by the translator resumes under the
# interpreter, both to the uninterrupted run's hash at N; and --until-insns
# stops at exactly N with either (one vCPU, not deterministic).
set -u
B=${B:-build}
G="$PWD/$B/guest"
N=${DET_N:-2600000000}
K=${DET_K:-2000000000}
STEP=${DET_STEP:-650000000}
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
declare -A bin=([release]=release/vmx [beta]=beta/vmx-debug [stats]=stats/vmx-stats)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mkvm() { # dir [translate: TRUE (default) or FALSE]
  rm -rf "$1"; mkdir -p "$1"
  cp "$G/disk.img" "$1/disk.img"
  cat >"$1/det.vmx" <<VMX
memSize = "256"
numvcpus = "2"
monitor.deterministic = "TRUE"
monitor.translate = "${2:-TRUE}"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=diskraw,counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
}

# Uninterrupted runs, hashes every STEP instructions.
for t in release beta stats; do
  mkvm "$tmp/ref-$t"
  "$B/${bin[$t]}" --quiet --until-insns "$N" --hash-every "$STEP" "$tmp/ref-$t/det.vmx" \
    >"$tmp/ref-$t.hashes" 2>"$tmp/ref-$t.err"
  check "det-$t-ran" test -s "$tmp/ref-$t.hashes"
done
check det-hashes-equal-across-builds cmp -s "$tmp/ref-release.hashes" "$tmp/ref-beta.hashes"
check det-hashes-equal-release-stats cmp -s "$tmp/ref-release.hashes" "$tmp/ref-stats.hashes"
check det-several-points test "$(sort -u "$tmp/ref-release.hashes" | wc -l)" -ge 4
check det-disk-io-before-N grep -q 'VMX3 bench disk raw .* ok' "$tmp/ref-release/console.log"
ref=$(tail -1 "$tmp/ref-release.hashes" | sed 's/.*sha256=//')

# The same uninterrupted run with the interpreter only: the same hash lines.
mkvm "$tmp/ref-interp" FALSE
"$B/release/vmx" --quiet --until-insns "$N" --hash-every "$STEP" "$tmp/ref-interp/det.vmx" \
  >"$tmp/ref-interp.hashes" 2>"$tmp/ref-interp.err"
check det-interp-ran test -s "$tmp/ref-interp.hashes"
check det-hashes-equal-translator-interpreter cmp -s "$tmp/ref-release.hashes" "$tmp/ref-interp.hashes"
if ! cmp -s "$tmp/ref-release.hashes" "$tmp/ref-interp.hashes"; then
  echo "  translator (release):"; sed 's/^/    /' "$tmp/ref-release.hashes"
  echo "  interpreter (release, monitor.translate = FALSE):"; sed 's/^/    /' "$tmp/ref-interp.hashes"
fi
check det-console-equal-translator-interpreter cmp -s "$tmp/ref-release/console.log" "$tmp/ref-interp/console.log"

# --until-insns is exact with either engine: one vCPU, not deterministic,
# stopped at an odd count (inside a block); the hash line names the count.
for tr in TRUE FALSE; do
  mkvm "$tmp/until-$tr" $tr
  sed -i 's/^numvcpus = .*/numvcpus = "1"/; /^monitor.deterministic/d' "$tmp/until-$tr/det.vmx"
  n=$("$B/release/vmx" --quiet --until-insns 300000007 --hash "$tmp/until-$tr/det.vmx" 2>/dev/null |
      tail -1 | sed -n 's/^state-hash instret=\([0-9]*\) .*/\1/p')
  [ $tr = TRUE ] && e=translator || e=interpreter
  check "det-until-insns-exact-$e" test "${n:-0}" = 300000007
done

# Suspend at K in A, resume to N in B.
for a in release beta stats; do
  mkvm "$tmp/susp-$a"
  "$B/${bin[$a]}" --quiet --until-insns "$K" --suspend "$tmp/susp-$a/det.vmx" >/dev/null 2>&1
  check "det-suspend-$a-at-K" test -s "$tmp/susp-$a/det.vmss"
  [ $a = release ] && check det-K-during-disk-workload grep -q 'VMX3-MARKER: run diskraw' "$tmp/susp-$a/console.log"
  for b in release beta stats; do
    rm -rf "$tmp/res"; cp -a "$tmp/susp-$a" "$tmp/res"
    h=$("$B/${bin[$b]}" --quiet --until-insns "$N" --hash "$tmp/res/det.vmx" 2>/dev/null |
        tail -1 | sed 's/.*sha256=//')
    check "det-pair-$a-to-$b" test -n "$h" -a "$h" = "$ref"
  done
done

# Suspended at K by the interpreter, resumed to N by the translator; and
# suspended by the translator (susp-release above), resumed by the interpreter.
mkvm "$tmp/susp-interp" FALSE
"$B/release/vmx" --quiet --until-insns "$K" --suspend "$tmp/susp-interp/det.vmx" >/dev/null 2>&1
check det-suspend-interp-at-K test -s "$tmp/susp-interp/det.vmss"
for p in interp:TRUE release:FALSE; do
  a=${p%%:*} tr=${p#*:}
  rm -rf "$tmp/res"; cp -a "$tmp/susp-$a" "$tmp/res"
  sed -i "s/^monitor.translate = .*/monitor.translate = \"$tr\"/" "$tmp/res/det.vmx"
  h=$("$B/release/vmx" --quiet --until-insns "$N" --hash "$tmp/res/det.vmx" 2>/dev/null |
      tail -1 | sed 's/.*sha256=//')
  [ $tr = TRUE ] && to=translator || to=interpreter
  [ $a = interp ] && from=interpreter || from=translator
  check "det-pair-$from-to-$to" test -n "$h" -a "$h" = "$ref"
done

# A checkpoint with the device sections of an older vmx (version-1 blobs,
# written by the opt build's test knob) resumes in release just the same.
mkvm "$tmp/v1"
echo 'monitor.debugTestCorrupt = "device-blobs"' >>"$tmp/v1/det.vmx"
"$B/opt/vmx-opt" --quiet --until-insns "$K" --suspend "$tmp/v1/det.vmx" >/dev/null 2>&1
check det-v1-suspended test -s "$tmp/v1/det.vmss"
sed -i '/^monitor.debugTestCorrupt/d' "$tmp/v1/det.vmx"
h=$("$B/release/vmx" --quiet --until-insns "$N" --hash "$tmp/v1/det.vmx" 2>/dev/null | tail -1 | sed 's/.*sha256=//')
check det-v1-blobs-read grep -q 'device section uart0: a version-1 blob' "$tmp/v1/vmx.log"
check det-v1-resumed-to-same-hash test -n "$h" -a "$h" = "$ref"

# Hand-over at K from a running A to B, which runs on to N.
for a in release beta stats; do
  for b in release beta stats; do
    d="$tmp/ho-$a-$b"
    mkvm "$d"
    "$B/${bin[$b]}" --quiet --incoming-handover "$d/ho.sock" --until-insns "$N" --hash \
      "$d/det.vmx" >"$d/b.out" 2>"$d/b.err" &
    bpid=$!
    for _ in $(seq 1 100); do [ -S "$d/ho.sock" ] && break; sleep 0.05; done
    "$B/${bin[$a]}" --quiet --until-insns "$K" --handover "$d/ho.sock" "$d/det.vmx" \
      >/dev/null 2>"$d/a.err"
    arc=$?
    wait $bpid
    brc=$?
    h=$(tail -1 "$d/b.out" | sed 's/.*sha256=//')
    check "det-handover-$a-to-$b-exit5" test $arc -eq 5
    check "det-handover-$a-to-$b" test $brc -eq 0 -a -n "$h" -a "$h" = "$ref"
  done
done
check det-handover-no-vmss test -z "$(ls "$tmp"/ho-*/det.vmss 2>/dev/null)"
