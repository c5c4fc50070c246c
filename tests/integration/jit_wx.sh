#!/usr/bin/env bash
# jit_wx.sh - the translator's code cache is W^X: a release vmx running the
# default guest (2 vCPUs, the counter workload) has no mapping that is both
# writable and executable, while its code cache (memfd "vmx-jit") is mapped
# once executable and once writable; with monitor.translate = "FALSE" there
# is no code cache at all (and still no writable and executable mapping).
# /proc/PID/maps is read while the guest runs: once at its init, once after
# it has printed counter lines (kernel and user code translated by then).
set -u
B=${B:-build}
B=$(cd "$B" && pwd)
G="$B/guest"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

mkvm() { # dir translate
  mkdir -p "$1"
  cp "$G/disk.img" "$1/disk.img"
  cat >"$1/wx.vmx" <<VMX
memSize = "256"
numvcpus = "2"
monitor.translate = "$2"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX
}

wait_console() { # dir pattern seconds: 0 once the console has a matching line
  local _
  for _ in $(seq 1 $(($3 * 10))); do
    grep -q "$2" "$1/console.log" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# Mappings that are writable and executable at once ("rwxp", "-wxs", ...).
wx_lines() { awk '$2 ~ /w/ && $2 ~ /x/' "$1"; }
# Code cache mappings with permission letter $2 (w or x).
jit_lines() { awk -v p="$2" '$2 ~ p && /memfd:vmx-jit/' "$1"; }

for tr in TRUE FALSE; do
  [ $tr = TRUE ] && name=translator || name=interpreter
  vm="$tmp/$name"
  mkvm "$vm" $tr
  "$B/release/vmx" "$vm/wx.vmx" >"$vm/out" 2>&1 </dev/null &
  pid=$!
  pids+=("$pid")
  # At init, then once user code (the counter) has been running for a while.
  for at in init counter; do
    case $at in
    init) pat='VMX3-MARKER: init' ;;
    counter) pat='VMX3 counter n=3 ' ;;
    esac
    if ! wait_console "$vm" "$pat" 120 || ! kill -0 "$pid" 2>/dev/null; then
      bad "jit-wx-$name-guest-$at" "no '$pat' on the console of a running vmx"
      tail -n 5 "$vm/out" "$vm/console.log" 2>/dev/null
      break
    fi
    cp "/proc/$pid/maps" "$vm/maps-$at" 2>/dev/null
    check "jit-wx-$name-maps-read-$at" test -s "$vm/maps-$at"
    check "jit-wx-$name-no-writable-executable-$at" test -z "$(wx_lines "$vm/maps-$at")"
    [ -n "$(wx_lines "$vm/maps-$at")" ] && wx_lines "$vm/maps-$at" | sed 's/^/  /'
    if [ $tr = TRUE ]; then
      check "jit-wx-code-cache-executable-$at" test -n "$(jit_lines "$vm/maps-$at" x)"
      check "jit-wx-code-cache-writable-$at" test -n "$(jit_lines "$vm/maps-$at" w)"
    else
      check "jit-wx-interpreter-no-code-cache-$at" test -z "$(grep 'vmx-jit' "$vm/maps-$at")"
    fi
  done
  "$B/host/vmx-ctl" "$vm" poweroff >/dev/null 2>&1
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
done
if [ -e "$tmp/translator/maps-counter" ]; then
  echo "code cache mappings (translator):"
  grep 'vmx-jit' "$tmp/translator/maps-counter" | sed 's/^/  /'
fi
exit 0
