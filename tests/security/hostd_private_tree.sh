#!/usr/bin/env bash
# hostd_private_tree.sh - hostd (root) runs each vmx as the unprivileged vmx3
# user even when the binaries, the guest images and the datastore all sit
# under a directory vmx3 cannot search (a clone under /root, mode 0700):
# hostd opens the binary, the VM directory and the image files and vmx
# inherits them.  Power on, a fast switch to another build, suspend, resume
# and power off all work with the real vmx and a Linux guest, which counts on
# without a reboot, and vmx never runs as root.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

if [ "$(id -u)" != 0 ]; then
  bad private-tree-needs-root "hostd runs vmx as another user only when it is root"; exit 1
fi
if ! make -s B="$B" "$B/host/hostd" "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats" \
     >/dev/null 2>&1; then
  bad private-tree-build; exit 1
fi
G="$B/guest"
for f in fw_dynamic.bin Image initrd.gz disk.img; do
  [ -s "$G/$f" ] || { bad private-tree-guest "$G/$f missing (make guest)"; exit 1; }
done

# Everything under one private directory, as in /root.
P="$T/private"
mkdir -p "$P/bin" "$P/img" "$P/ds/pt"
for f in "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats"; do cp "$f" "$P/bin/"; done
cp "$G/fw_dynamic.bin" "$G/Image" "$G/initrd.gz" "$P/img/"
cp --sparse=always "$G/disk.img" "$P/ds/pt/disk.img"
chmod -R a+rX "$P"
chmod 700 "$P"
P=$(realpath "$P")
cat >"$P/ds/pt/pt.vmx" <<VMX
memSize = "256"
guest.firmware = "$P/img/fw_dynamic.bin"
guest.kernel = "$P/img/Image"
guest.initrd = "$P/img/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "disk.img"
serial0.fileName = "pt.serial"
VMX

add_users
start_hostd --vmx-dir "$P/bin" --images "$P/img" --datastore "priv=$P/ds" || exit 1
TOKEN=$(login root "$PW")

# The premise: the vmx user itself cannot reach any of it by name.
as_vmx3() { setpriv --reuid vmx3 --regid vmx3 --clear-groups "$@" 2>/dev/null; }
check premise-vmx3-exists id -u vmx3 >/dev/null
check premise-binary-unreachable-by-name bash -c "! { $(declare -f as_vmx3); as_vmx3 test -x '$P/bin/vmx'; }"
check premise-image-unreachable-by-name bash -c "! { $(declare -f as_vmx3); as_vmx3 cat '$P/img/Image' >/dev/null; }"

counter() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$P/ds/pt/pt.serial" 2>/dev/null | tail -1; }
above() { [ "$(counter)" -ge "$1" ] 2>/dev/null; }
counting_on() { local n; n=$(counter); wait_until 60 above $((${n:-0} + 3)); }
one_boot() { [ "$(grep -c 'VMX3-MARKER: init' "$P/ds/pt/pt.serial")" -eq 1 ]; }
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
V=$(api POST /vms '{"file":"[priv] pt/pt.vmx"}' "$TOKEN" | jget "j['id']")
check registered test -n "$V"
[ -n "$V" ] || exit 1

out=$(api POST "/vms/$V/power" '{"op":"on","wait":true}' "$TOKEN")
check power-on test "$(jget "j['state']" <<<"$out")" = success
p1=$(vm_field "$V" pid)
check power-on-runs-as-vmx3 test -n "$p1" -a "$(uid_of "$p1")" = "$(id -u vmx3)"
check power-on-binary test "$(readlink "/proc/$p1/exe")" = "$P/bin/vmx"
# The log names the .vmx as the operator knows it, not the descriptor vmx reached it by.
check log-names-real-path grep -q "config $P/ds/pt/pt.vmx" "$P/ds/pt/vmx.log"
check log-in-vm-dir test "$(stat -c %U "$P/ds/pt/vmx.log")" = vmx3
check ctl-socket-in-vm-dir test -S "$P/ds/pt/vmx.ctl"
check guest-counts wait_until 120 above 3

out=$(api PUT "/vms/$V/buildType" '{"buildType":"stats","wait":true}' "$TOKEN")
check switch-fast test "$(jget "j['state']" <<<"$out")/$(jget "j['result']['method']" <<<"$out")" = success/fast
[ "$(jget "j['result']['method']" <<<"$out")" = fast ] || echo "$out"
p2=$(vm_field "$V" pid)
check switch-new-pid test -n "$p2" -a "$p2" != "$p1"
check switch-runs-as-vmx3 test -n "$p2" -a "$(uid_of "$p2")" = "$(id -u vmx3)"
check switch-binary test "$(readlink "/proc/$p2/exe")" = "$P/bin/vmx-stats"
check switch-stats-dir test -d "$P/ds/pt/stats"
check switch-guest-counts-on counting_on

out=$(api POST "/vms/$V/power" '{"op":"suspend","wait":true}' "$TOKEN")
check suspend test "$(jget "j['state']" <<<"$out")" = success
check suspend-wrote-vmss test -s "$P/ds/pt/pt.vmss"
check suspend-key grep -q '^checkpoint.vmState = "pt.vmss"' "$P/ds/pt/pt.vmx"

out=$(api POST "/vms/$V/power" '{"op":"on","wait":true}' "$TOKEN")
check resume test "$(jget "j['state']" <<<"$out")" = success
check resume-logged grep -q 'resume: guest memory loaded' "$P/ds/pt/vmx.log"
# Lazily, as when vmx runs as root: hostd passes /dev/userfaultfd to the vmx user.
check resume-lazy-as-vmx3 bash -c "! grep -q 'lazy resume unavailable' '$P/ds/pt/vmx.log'"
p3=$(vm_field "$V" pid)
check resume-runs-as-vmx3 test -n "$p3" -a "$(uid_of "$p3")" = "$(id -u vmx3)"
check resume-guest-counts-on counting_on
check guest-booted-once one_boot

out=$(api POST "/vms/$V/power" '{"op":"hardOff","wait":true}' "$TOKEN")
check power-off test "$(jget "j['state']" <<<"$out")" = success
check power-off-state test "$(vm_field "$V" powerState)" = poweredOff
no_vmx() { ! pgrep -f -- "$P/ds/pt/pt.vmx" >/dev/null; }
check no-vmx-left no_vmx

exit $((fails > 0))
