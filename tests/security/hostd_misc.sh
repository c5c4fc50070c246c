#!/usr/bin/env bash
# hostd_misc.sh - smaller hardening properties of hostd: a replaced password
# ends the user's sessions; revertAfter is bounded; VM names without control
# characters or silent truncation, and CLIs that escape what they print;
# create values are decimal and in range; hostd.db and hostd.log are private
# whatever the umask; a killed vmx leaves nothing stale behind; an adopted
# vmx that dies is a vmCrashed event, also in the middle of a task.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

make_fake_vmx "$T/fake"
add_users
# A permissive umask must not leak the password hashes.
( umask 000; start_hostd --vmx-dir "$T/fake" ) || exit 1
HOSTD_PID=$(cat "$T/state/hostd.lock")
TOKEN=$(login root "$PW")
check hostd-db-private test "$(stat -c %a "$T/state/hostd.db")" = 600
check hostd-log-private test "$(stat -c %a "$T/state/hostd.log")" = 600

# --- a replaced password ends the sessions of the old one ------------------------------------
api POST /users '{"name":"eve","password":"first-pw","role":"read-only"}' "$TOKEN" >/dev/null
EVE=$(login eve first-pw)
api GET /vms "" "$EVE" >/dev/null; check eve-session-works test "$(st)" = 200
api POST /users '{"name":"eve","password":"second-pw","role":"read-only"}' "$TOKEN" >/dev/null
api GET /vms "" "$EVE" >/dev/null; check replaced-password-ends-sessions test "$(st)" = 401

# --- revertAfter is bounded -------------------------------------------------------------------
new_vm a
A=$(api POST /vms '{"file":"[ds1] a/a.vmx"}' "$TOKEN" | jget "j['id']")
out=$(api PUT "/vms/$A/buildType" '{"buildType":"debug","revertAfter":"9223372036854775807"}' "$TOKEN")
check revertafter-huge-400 test "$(st)" = 400
check revertafter-huge-field grep -q '"field":"revertAfter"' <<<"$out"
api PUT "/vms/$A/buildType" '{"buildType":"debug","revertAfter":"31d"}' "$TOKEN" >/dev/null
check revertafter-31d-400 test "$(st)" = 400
check revertafter-refused-untouched grep -qx 'vmx.buildType = "default"' "$T/ds1/a/a.vmx"

# --- VM names -----------------------------------------------------------------------------------
new_vm n
out=$(api POST /vms '{"file":"[ds1] n/n.vmx","name":"evil\nname"}' "$TOKEN")
check name-newline-400 test "$(st)" = 400 -a "$(jget "j['error']['field']" <<<"$out")" = name
out=$(api POST /vms '{"file":"[ds1] n/n.vmx","name":"a\u001b[31mred"}' "$TOKEN")
check name-escape-400 test "$(st)" = 400
long=$(head -c 200 /dev/zero | tr '\0' v)
out=$(api POST /vms "{\"file\":\"[ds1] n/n.vmx\",\"name\":\"$long\"}" "$TOKEN")
check name-too-long-400 test "$(st)" = 400
check name-too-long-says grep -q 'at most 127' <<<"$out"
out=$(api POST /vms '{"file":"[ds1] c/c.vmx","create":{"displayName":"x\u001by"}}' "$TOKEN")
check create-displayname-control-400 test "$(st)" = 400 -a "$(jget "j['error']['field']" <<<"$out")" = displayName
check create-refused-nothing-made test ! -e "$T/ds1/c"
# A name stored by an older hostd still reaches the CLI escaped.
# (python3's sqlite3 module: the sqlite3 CLI is not among the dependencies.)
sql() { /usr/bin/python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()' "$T/state/hostd.db" "$1"; }
sql "UPDATE vms SET name='bad'||char(10)||'line'||char(27)||'[31m' WHERE id=$A"
stop_hostd TERM; start_hostd --vmx-dir "$T/fake" || exit 1
"$HOST/vmx3-cmd" list >"$T/list"
check cli-escapes-names test "$(grep -c $'\e' "$T/list")" = 0 -a "$(grep -c 'bad\\x0aline\\x1b' "$T/list")" = 1
sql "UPDATE vms SET name='a' WHERE id=$A"
stop_hostd TERM; start_hostd --vmx-dir "$T/fake" || exit 1
TOKEN=$(login root "$PW")

# --- create values are decimal numbers in range ---------------------------------------------------
for v in '"64\u0001"' '-5' '"-5"' '"010"' '"0x40"' '"64 "' '1048576' '"1e3"'; do
  out=$(api POST /vms "{\"file\":\"[ds1] m/m.vmx\",\"create\":{\"memSize\":$v}}" "$TOKEN")
  check "create-memsize-$v-400" test "$(st)" = 400 -a "$(jget "j['error']['field']" <<<"$out")" = memSize
done
out=$(api POST /vms '{"file":"[ds1] m/m.vmx","create":{"numvcpus":"9"}}' "$TOKEN")
check create-numvcpus-9-400 test "$(st)" = 400 -a "$(jget "j['error']['field']" <<<"$out")" = numvcpus
out=$(api POST /vms '{"file":"[ds1] m/m.vmx","create":{"monitor.deterministic":"maybe"}}' "$TOKEN")
check create-bool-400 test "$(st)" = 400
check create-bad-values-nothing-made test ! -e "$T/ds1/m"
out=$(api POST /vms '{"file":"[ds1] m/m.vmx","create":{"memSize":"64","numvcpus":2,"disk0.readOnly":true}}' "$TOKEN")
check create-good-values-201 test "$(st)" = 201
check create-good-values-written grep -qx 'memSize = "64"' "$T/ds1/m/m.vmx"

# --- stale files of a killed vmx are removed at the next start ----------------------------------
sed -i 's/^fake.suspendMs.*/fake.suspendMs = "3000"/' "$T/ds1/a/a.vmx"
api POST "/vms/$A/power" '{"op":"on","wait":true}' "$TOKEN" >/dev/null
pa=$(vm_field "$A" pid)
: >"$T/ds1/a/a.vmss.tmpAbC123"    # what vmx's checkpoint writer leaves mid-save
check stale-ctl-socket-present test -S "$T/ds1/a/vmx.ctl"
kill -9 "$pa"
gone() { [ "$(vm_field "$A" powerState)" != poweredOn ]; }
wait_until 10 gone
check killed-vmx-crash-event grep -q '"vmCrashed"' <<<"$(api GET "/events?vm=$A&limit=5" "" "$TOKEN")"
stop_hostd TERM
start_hostd --vmx-dir "$T/fake" || exit 1
TOKEN=$(login root "$PW")
check stale-vmss-tmp-removed-at-startup test ! -e "$T/ds1/a/a.vmss.tmpAbC123"
check stale-ctl-removed-at-startup test ! -e "$T/ds1/a/vmx.ctl"
: >"$T/ds1/a/a.vmss.tmpXyZ789"
api POST "/vms/$A/power" '{"op":"on","wait":true}' "$TOKEN" >/dev/null
check stale-vmss-tmp-removed-at-poweron test ! -e "$T/ds1/a/a.vmss.tmpXyZ789"

# --- an adopted vmx that dies, also during a task, is a vmCrashed event --------------------------
stop_hostd TERM
start_hostd --vmx-dir "$T/fake" || exit 1
TOKEN=$(login root "$PW")
pa=$(vm_field "$A" pid)
check adopted test -n "$pa" -a "$(vm_field "$A" powerState)" = poweredOn
api PUT "/vms/$A/buildType" '{"buildType":"debug"}' "$TOKEN" >/dev/null
sleep 0.5
kill -9 "$pa"
idle() { [ "$(vm_field "$A" busyTask)" = None ]; }
wait_until 30 idle
ev=$(api GET "/events?vm=$A&limit=10" "" "$TOKEN")
check adopted-killed-in-task-crash-event test "$(jget "sum(1 for e in j['events'] if e['type']=='vmCrashed' and 'pid $pa' in e['message'])" <<<"$ev")" = 1
api POST "/vms/$A/power" '{"op":"on","wait":true}' "$TOKEN" >/dev/null
stop_hostd TERM
start_hostd --vmx-dir "$T/fake" || exit 1
TOKEN=$(login root "$PW")
pa=$(vm_field "$A" pid)
kill -9 "$pa"
wait_until 10 gone
ev=$(api GET "/events?vm=$A&limit=10" "" "$TOKEN")
check adopted-killed-crash-event test "$(jget "sum(1 for e in j['events'] if e['type']=='vmCrashed' and 'pid $pa' in e['message'])" <<<"$ev")" = 1
[ "$fails" -eq 0 ]
