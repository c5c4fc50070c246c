#!/usr/bin/env bash
# hostd_confine.sh - an API admin must not become host root through hostd.
# Every .vmx key naming a file may only name a file in a datastore or (read
# only) a --images directory: checked at create, at register and at every
# power on; a symlink out of the datastore creates nothing; and vmx runs as
# the unprivileged vmx3 user (when hostd is root) with its VM directory handed
# to it.  Runs against the fake vmx (tests/integration/hostd_fakevmx.py),
# which reads guest.kernel like vmx does.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

make_fake_vmx "$T/fake"
mkdir -p "$T/images" "$T/outside" "$T/ds1"
echo kernel >"$T/images/Image"
chmod 644 "$T/images/Image"
add_users
start_hostd --vmx-dir "$T/fake" --images "$T/images" || exit 1
TOKEN=$(login root "$PW")
DS=$(realpath "$T/ds1")
IMG=$(realpath "$T/images")
OUT=$(realpath "$T/outside")

create() { # FILE CREATE-JSON
  api POST /vms "{\"file\":\"$1\",\"create\":$2}" "$TOKEN"
}
refused_naming() { # STATUS KEY OUTPUT
  [ "$(st)" = "$1" ] && grep -q "\"field\":\"$2\"" <<<"$3"
}

# --- create: each file key naming a host path is refused, nothing is written --------
for key in serial0.fileName disk0.fileName disk3.fileName guest.firmware guest.kernel \
           guest.initrd guest.elf guest.symbols guest.userSymbols checkpoint.vmState; do
  out=$(create "[ds1] k/k.vmx" "{\"$key\":\"$OUT/x\"}")
  check "create-refuses-$key" refused_naming 400 "$key" "$out"
done
# guest.userSymbols names several files ("PROG:FILE; ..."): every one is checked.
out=$(create "[ds1] k/k.vmx" "{\"guest.userSymbols\":\"p:$OUT/x\"}")
check create-refuses-userSymbols-prog-prefix refused_naming 400 guest.userSymbols "$out"
out=$(create "[ds1] k/k.vmx" "{\"guest.userSymbols\":\"a:$IMG/Image; b:$OUT/x\"}")
check create-refuses-userSymbols-second-entry refused_naming 400 guest.userSymbols "$out"
out=$(create "[ds1] k/k.vmx" '{"guest.userSymbols":"a:prog; b:../../outside/x"}')
check create-refuses-userSymbols-dotdot refused_naming 400 guest.userSymbols "$out"
out=$(create "[ds1] k/k.vmx" '{"serial0.fileName":"/proc/self/root/etc/shadow"}')
check create-refuses-proc-root refused_naming 400 serial0.fileName "$out"
out=$(create "[ds1] k/k.vmx" '{"serial0.fileName":"../../outside/x"}')
check create-refuses-dotdot refused_naming 400 serial0.fileName "$out"
out=$(create "[ds1] k/k.vmx" "{\"serial0.fileName\":\"$DS/../outside/x\"}")
check create-refuses-abs-dotdot refused_naming 400 serial0.fileName "$out"
ln -s "$OUT" "$T/ds1/lnk"
out=$(create "[ds1] k/k.vmx" "{\"serial0.fileName\":\"$DS/lnk/x\"}")
check create-refuses-symlink-out refused_naming 400 serial0.fileName "$out"
out=$(create "[ds1] k/k.vmx" '{"disk0.fileName":"../lnk/x"}')
check create-refuses-relative-symlink-out refused_naming 400 disk0.fileName "$out"
ln -s "$OUT/dangling" "$T/ds1/dangle"
out=$(create "[ds1] k/k.vmx" "{\"serial0.fileName\":\"$DS/dangle\"}")
check create-refuses-dangling-symlink refused_naming 400 serial0.fileName "$out"
check create-refused-wrote-nothing test ! -e "$T/ds1/k" -a -z "$(ls -A "$OUT")"

# --- image directories: readable inputs only ------------------------------------------
out=$(create "[ds1] img/img.vmx" "{\"guest.kernel\":\"$IMG/Image\"}")
check create-image-kernel-ok test "$(st)" = 201
out=$(create "[ds1] us/us.vmx" "{\"guest.userSymbols\":\"a:$IMG/Image; prog\"}")
check create-userSymbols-list-ok test "$(st)" = 201
out=$(create "[ds1] k/k.vmx" "{\"serial0.fileName\":\"$IMG/console\"}")
check create-refuses-write-in-images refused_naming 400 serial0.fileName "$out"
out=$(create "[ds1] k/k.vmx" "{\"disk0.fileName\":\"$IMG/Image\"}")
check create-refuses-writable-disk-in-images refused_naming 400 disk0.fileName "$out"
out=$(create "[ds1] rodisk/rodisk.vmx" "{\"disk0.fileName\":\"$IMG/Image\",\"disk0.readOnly\":\"TRUE\"}")
check create-readonly-disk-in-images-ok test "$(st)" = 201
out=$(create "[ds1] inds/inds.vmx" '{"serial0.fileName":"inds.serial","disk0.fileName":"disk.img"}')
check create-datastore-relative-ok test "$(st)" = 201

# --- symlink escape of the .vmx path itself: nothing created, no event ---------------
ln -s "$OUT" "$T/ds1/escape"
out=$(create "[ds1] escape/new/x.vmx" '{}')
check create-symlink-escape-400 test "$(st)" = 400
check create-symlink-escape-msg grep -q 'leads outside datastore' <<<"$out"
check create-symlink-escape-nothing-made test ! -e "$OUT/new"
out=$(create "[ds1] dangle/x.vmx" '{}')
check create-dangling-escape-400 test "$(st)" = 400
check create-dangling-escape-nothing-made test ! -e "$OUT/dangling"
check create-symlink-escape-no-event test "$(api GET /events "" "$TOKEN" | grep -c 'escape\|dangle')" = 0

# --- register: an on-disk .vmx naming a host file ------------------------------------
new_vm bad 'guest.kernel = "/etc/shadow"
'
out=$(api POST /vms '{"file":"[ds1] bad/bad.vmx"}' "$TOKEN")
check register-refuses-host-file refused_naming 400 guest.kernel "$out"

# --- power on: the .vmx edited on disk after registering is checked again ------------
new_vm p "guest.kernel = \"$IMG/Image\"
"
out=$(api POST /vms '{"file":"[ds1] p/p.vmx"}' "$TOKEN"); P=$(jget "j['id']" <<<"$out")
echo "serial0.fileName = \"$OUT/console\"" >>"$T/ds1/p/p.vmx"
out=$(api POST "/vms/$P/power" '{"op":"on","wait":true}' "$TOKEN")
check poweron-rechecks-vmx refused_naming 409 serial0.fileName "$out"
check poweron-refused-nothing-made test ! -e "$OUT/console" -a "$(vm_field "$P" powerState)" = poweredOff
sed -i '/^serial0.fileName/d' "$T/ds1/p/p.vmx"

# --- vmx runs as vmx3, with its VM directory; hostd still drives it ---------------------
uid_of() { awk '/^Uid:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
out=$(api POST "/vms/$P/power" '{"op":"on","wait":true}' "$TOKEN")
check privdrop-poweron grep -q '"state":"success"' <<<"$out"
pid=$(vm_field "$P" pid)
check privdrop-vmx-uid test -n "$pid" -a "$(uid_of "$pid")" = "$(id -u vmx3)"
check privdrop-vmdir-owner test "$(stat -c %U "$T/ds1/p")" = vmx3
check privdrop-vmx-log-written grep -q "pid=$pid " <(head -1 "$T/ds1/p/vmx.log")
check privdrop-stdio-log-private test $(( 0$(stat -c %a "$T/ds1/p/vmx-stdio.log") & 7 )) = 0
out=$(api POST "/vms/$P/power" '{"op":"off","wait":true}' "$TOKEN")
check privdrop-control-socket grep -q '"graceful":true' <<<"$out"
# A file only root may read is out of vmx's reach even when it sits in an image directory.
cp "$T/images/Image" "$T/images/Secret"; chmod 600 "$T/images/Secret"
sed -i "s#^guest.kernel = .*#guest.kernel = \"$IMG/Secret\"#" "$T/ds1/p/p.vmx"
out=$(api POST "/vms/$P/power" '{"op":"on","wait":true}' "$TOKEN")
check privdrop-root-only-file-unreadable test "$(st)" = 500
check privdrop-root-only-file-says grep -q 'Permission denied' <<<"$out"
sed -i "s#^guest.kernel = .*#guest.kernel = \"$IMG/Image\"#" "$T/ds1/p/p.vmx"
# A symlink planted in the VM directory does not make hostd write elsewhere.
rm -f "$T/ds1/p/vmx-stdio.log"; ln -s "$OUT/planted" "$T/ds1/p/vmx-stdio.log"
api POST "/vms/$P/power" '{"op":"on","wait":true}' "$TOKEN" >/dev/null
check privdrop-no-follow-stdio-log test ! -e "$OUT/planted"
rm -f "$T/ds1/p/vmx-stdio.log"
stop_hostd TERM

# --- --vmx-user root opts out explicitly -----------------------------------------------
start_hostd --vmx-dir "$T/fake" --images "$T/images" --vmx-user root || exit 1
TOKEN=$(login root "$PW")
out=$(api POST "/vms/$P/power" '{"op":"on","wait":true}' "$TOKEN")
pid=$(vm_field "$P" pid)
check vmx-user-root-opt-out test -n "$pid" -a "$(uid_of "$pid")" = 0
check vmx-user-root-warned grep -q 'every vmx runs as root' "$T/state/hostd.log"
api POST "/vms/$P/power" '{"op":"hardOff","wait":true}' "$TOKEN" >/dev/null
[ "$fails" -eq 0 ]
