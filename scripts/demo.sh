#!/usr/bin/env bash
# demo.sh - what `make demo` shows: the build types side by side, then the
# default guest (Debian's OpenSBI and riscv64 kernel, the project's initramfs)
# booting in a fresh VM directory, its console, and line 1 of vmx.log.
set -euo pipefail
B=${B:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
G="$top/$B/guest"
DEMO=${VMX3_DEMO_DIR:-$top/$B/demo}

echo "== The build types, installed side by side"
for b in release/vmx beta/vmx-debug stats/vmx-stats; do
  printf '  %-28s %s\n' "$B/$b" "$("$top/$B/$b" --version)"
done

vm="$DEMO/demo-vm"
rm -rf "$vm"
mkdir -p "$vm"
cp "$G/disk.img" "$vm/disk.img"
cat >"$vm/demo-vm.vmx" <<VMX
# The default guest, made by make demo
memSize = "512"
numvcpus = "2"
vmx.buildType = "default"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=disk,cpu vmx3.cpu_iters=10000000"
disk0.fileName = "disk.img"
serial0.fileName = "console.log"
VMX

for pair in default:release/vmx; do
  bt=${pair%%:*} bin=${pair#*:}
  sed -i "s/^vmx.buildType = .*/vmx.buildType = \"$bt\"/" "$vm/demo-vm.vmx"
  echo
  echo "== Booting $vm/demo-vm.vmx (vmx.buildType = $bt) with $B/$bin (2 vCPUs, 512 MiB)"
  start=$(date +%s.%N)
  : >"$vm/console.log"
  "$top/$B/$bin" "$vm/demo-vm.vmx"
  end=$(date +%s.%N)
  echo "-- console (last lines):"
  tail -n 12 "$vm/console.log" | sed 's/^/   /'
  echo "-- line 1 of vmx.log:"
  echo "   $(head -1 "$vm/vmx.log")"
  printf -- '-- powered off after %.1f s\n' "$(echo "$end - $start" | bc)"
done

echo
echo "== hostd: one VM switched between build types while it runs (vmx-buildtype)"
B="$B" "$top/src/hostd/demo.sh"
