#!/usr/bin/env bash
# sec_ckpt_resume.sh - what a resume does with the checkpoint file, and what
# a damaged or hostile one does to vmx:
#  - once every page is in, the resumed vmx no longer holds the (removed)
#    .vmss open, so its space is free while the VM runs;
#  - vmx --verify-checkpoint checks every page and section and names the bad
#    one; a good file passes;
#  - a flipped byte in a memory page found during a lazy resume ends vmx with
#    status 70 and a crash report in every build type (release included:
#    reason, build type, version, hart registers, log tail), the control
#    socket removed and the checkpoint left in place;
#  - checkpoint.vmState, disk0.fileName or serial0.fileName naming a FIFO is
#    refused at once with the key named, instead of blocking in open().
set -u
B=${B:-build}
CTL="$B/host/vmx-ctl"
if ! make -s B="$B" "$B/security/idle.elf" "$CTL" >/dev/null 2>&1; then
  echo "FAIL sec-ckpt-build"; exit 1
fi
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1"; fails=$((fails + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
quiet() { "$@" >/dev/null 2>&1; }
fails=0
tmp=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$tmp"' EXIT
ELF="$PWD/$B/security/idle.elf"

mkvm() { mkdir -p "$1"; printf 'memSize = "64"\nguest.elf = "%s"\n' "$ELF" >"$1/$2.vmx"; }
wait_sock() { local i; for i in $(seq 1 200); do "$CTL" "$1" hello >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
wait_log() { local i; for i in $(seq 1 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
# wait for a vmx, at most 60 s: a hung vmx fails the test instead of stopping the run.
bounded_wait() { # pid -> its exit status, or 98 after killing it
  local i
  for i in $(seq 1 600); do kill -0 "$1" 2>/dev/null || { wait "$1"; return; }; sleep 0.1; done
  echo "FAIL sec-ckpt-vmx-exits (pid $1 still running after 60 s; killed)"
  kill -9 "$1" 2>/dev/null; wait "$1" 2>/dev/null
  return 98
}
suspend_vm() { # dir pid -> exit status
  "$CTL" "$1" suspend >/dev/null || return 99
  bounded_wait "$2"
}

# --- a resumed vmx lets go of the removed checkpoint ----------------------------
vm="$tmp/rel"
mkvm "$vm" rel
"$B/release/vmx" "$vm/rel.vmx" >/dev/null 2>&1 &
pid=$!
wait_sock "$vm"
suspend_vm "$vm" $pid; rc=$?
check sec-ckpt-suspended test $rc -eq 3 -a -s "$vm/rel.vmss"
cp "$vm/rel.vmss" "$tmp/good.vmss"
"$B/release/vmx" "$vm/rel.vmx" >/dev/null 2>&1 &
pid=$!
wait_sock "$vm"
check sec-ckpt-resume-removed-file wait_log "$vm/vmx.log" 'resume: guest memory loaded; removed'
released() { # pid: alive, and no descriptor names the .vmss (removed or not)
  local i
  for i in $(seq 1 40); do
    [ -d /proc/"$1"/fd ] || return 1
    ls -l /proc/"$1"/fd 2>/dev/null | grep -q '\.vmss' || return 0
    sleep 0.05
  done
  return 1
}
check sec-ckpt-resume-fd-released released $pid
check sec-ckpt-resumed-vm-answers quiet "$CTL" "$vm" status
"$CTL" "$vm" poweroff >/dev/null 2>&1; bounded_wait $pid

# --- --verify-checkpoint ----------------------------------------------------------
out=$("$B/release/vmx" --verify-checkpoint "$tmp/good.vmss" 2>&1); rc=$?
check sec-ckpt-verify-good test $rc -eq 0 -a -n "$(grep -E 'ok: [0-9]+ sections, 64 MiB of RAM, [0-9]+ stored pages verified' <<<"$out")"
size=$(stat -c %s "$tmp/good.vmss")
cp "$tmp/good.vmss" "$tmp/page.vmss"
# The middle of the file is in the stored pages (8 MiB of pattern; the index is small and last).
printf '\x5a' | dd of="$tmp/page.vmss" bs=1 seek=$((size / 2 + 123)) conv=notrunc 2>/dev/null
out=$("$B/release/vmx" --verify-checkpoint "$tmp/page.vmss" 2>&1); rc=$?
check sec-ckpt-verify-page-refused test $rc -ne 0
check sec-ckpt-verify-names-page grep -Eq 'section "memory": page [0-9]+ \(RAM offset 0x[0-9a-f]+, file offset 0x[0-9a-f]+\): checksum mismatch' <<<"$out"
cp "$tmp/good.vmss" "$tmp/sect.vmss"
printf '\xff' | dd of="$tmp/sect.vmss" bs=1 seek=200 conv=notrunc 2>/dev/null
out=$("$B/beta/vmx-debug" --verify-checkpoint "$tmp/sect.vmss" 2>&1); rc=$?
check sec-ckpt-verify-names-section test $rc -ne 0 -a -n "$(grep -E 'section "[a-z0-9.-]+": checksum mismatch' <<<"$out")"
mkfifo "$tmp/fifo.vmss"
out=$(timeout 10 "$B/release/vmx" --verify-checkpoint "$tmp/fifo.vmss" 2>&1); rc=$?
check sec-ckpt-verify-fifo-refused test $rc -ne 0 -a $rc -ne 124 -a -n "$(grep -F 'not a regular file (it is a FIFO)' <<<"$out")"

# --- a bad page met during a lazy resume: exit 70, report, no socket left ------------
for t in release:vmx stats:vmx-stats beta:vmx-debug; do
  type=${t%%:*} bin=${t#*:}
  vm="$tmp/bad-$type"
  mkvm "$vm" bad
  cp "$tmp/page.vmss" "$vm/bad.vmss"
  echo 'checkpoint.vmState = "bad.vmss"' >>"$vm/bad.vmx"
  timeout 60 "$B/$type/$bin" "$vm/bad.vmx" >"$vm/out" 2>&1; rc=$?
  check "sec-ckpt-badpage-$type-exit-70" test $rc -eq 70
  check "sec-ckpt-badpage-$type-panic-names-page" grep -Eq 'PANIC .*page [0-9]+ .*checksum mismatch' "$vm/out"
  rep=$(ls "$vm"/vmx-crash-*.txt 2>/dev/null | head -1)
  check "sec-ckpt-badpage-$type-report" test -n "$rep"
  rep=${rep:-/dev/null}
  check "sec-ckpt-badpage-$type-report-reason" grep -Eq '^message: .*page [0-9]+ .*checksum mismatch' "$rep"
  check "sec-ckpt-badpage-$type-report-build" grep -Eq "^version [^ ]+ build [^ ]+ buildType=$type " "$rep"
  check "sec-ckpt-badpage-$type-report-harts" grep -Eq '^hart 0: pc [0-9a-f]{16} ' "$rep"
  check "sec-ckpt-badpage-$type-report-backtrace" grep -Eq '^  #[0-9]+ +0x[0-9a-f]+ ' "$rep"
  check "sec-ckpt-badpage-$type-report-log-tail" grep -q 'resume: .*bad.vmss written by vmx' "$rep"
  check "sec-ckpt-badpage-$type-no-socket" test ! -e "$vm/vmx.ctl"
  check "sec-ckpt-badpage-$type-checkpoint-kept" test -s "$vm/bad.vmss" -a -n "$(grep checkpoint.vmState "$vm/bad.vmx")"
done

# --- files named by keys that are FIFOs: refused at once, key named -------------------
vm="$tmp/fifo"
mkvm "$vm" f
mkfifo "$vm/f.vmss"
echo 'checkpoint.vmState = "f.vmss"' >>"$vm/f.vmx"
timeout 10 "$B/release/vmx" "$vm/f.vmx" >"$tmp/o" 2>&1; rc=$?
check sec-ckpt-vmstate-fifo-refused test $rc -eq 1
check sec-ckpt-vmstate-fifo-names-key grep -q 'checkpoint.vmState: .*f.vmss: not a regular file (it is a FIFO)' "$tmp/o"
mkvm "$vm" f
mkfifo "$vm/disk.img"
echo 'disk0.fileName = "disk.img"' >>"$vm/f.vmx"
echo 'disk0.readOnly = "TRUE"' >>"$vm/f.vmx"
timeout 10 "$B/release/vmx" "$vm/f.vmx" >"$tmp/o" 2>&1; rc=$?
check sec-disk-fifo-refused test $rc -eq 1
check sec-disk-fifo-names-key grep -q 'disk0.fileName: .*disk.img: not a regular file or block device (it is a FIFO)' "$tmp/o"
mkvm "$vm" f
mkfifo "$vm/console.log"
echo 'serial0.fileName = "console.log"' >>"$vm/f.vmx"
timeout 10 "$B/release/vmx" "$vm/f.vmx" >"$tmp/o" 2>&1; rc=$?
check sec-serial-fifo-refused test $rc -eq 1
check sec-serial-fifo-names-key grep -q 'serial0.fileName: .*console.log: not a regular file or character device (it is a FIFO)' "$tmp/o"
[ $fails -eq 0 ]
