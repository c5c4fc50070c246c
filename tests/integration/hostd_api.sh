#!/usr/bin/env bash
# hostd_api.sh - hostd's API and supervision against fake vmx processes
# (tests/integration/hostd_fakevmx.py): authentication and roles, bad input
# (unknown VM, invalid build type, path traversal, bad JSON), conflicts,
# admission control, revertAfter, crash and exit supervision, a missing
# binary, adoption across a hostd restart, SIGKILL in the middle of a runtime
# switch, --host with a plain hostd, and TLS on a loopback port.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh

make_fake_vmx "$T/fake"
make_fake_vmx "$T/fake2" vmx vmx-debug          # no vmx-stats
add_users
start_hostd --vmx-dir "$T/fake" --mem-capacity 1000 || exit 1
TOKEN=$(login root "$PW")
RO=$(login ro "$ROPW")
check login-admin test ${#TOKEN} -eq 64
check login-readonly test ${#RO} -eq 64

# --- authentication and roles -------------------------------------------------
out=$(api POST /session '{"username":"root","password":"wrong"}')
check wrong-password-401 test "$(st)" = 401
check wrong-password-code grep -q '"badCredentials"' <<<"$out"
api GET /vms >/dev/null; check no-token-401 test "$(st)" = 401
api GET /vms "" 0000000000000000000000000000000000000000000000000000000000000000 >/dev/null
check bad-token-401 test "$(st)" = 401
new_vm a
out=$(api POST /vms '{"file":"[ds1] a/a.vmx"}' "$RO")
check readonly-register-403 test "$(st)" = 403
out=$(api POST /vms '{"file":"[ds1] a/a.vmx"}' "$TOKEN")
check register-201 test "$(st)" = 201
A=$(jget "j['id']" <<<"$out")
out=$(api PUT "/vms/$A/buildType" '{"buildType":"debug"}' "$RO")
check readonly-change-403 test "$(st)" = 403
check readonly-change-says-admin grep -q 'admin role' <<<"$out"
api GET "/vms/$A/buildType" "" "$RO" >/dev/null; check readonly-may-read test "$(st)" = 200
VMX3_PASSWORD=nope "$HOST/vmx-buildtype" --vmname a >"$T/o" 2>"$T/e"; rc=$?
check cli-wrong-password-exit test $rc -ne 0
check cli-wrong-password-one-line test "$(wc -l <"$T/e")" -eq 1

# --- bad input ---------------------------------------------------------------------
out=$(api GET /vms/999 "" "$TOKEN"); check unknown-vm-404 test "$(st)" = 404
check unknown-vm-field grep -q '"field":"vm"' <<<"$out"
"$HOST/vmx-buildtype" --vmname nosuchvm >"$T/o" 2>"$T/e"; rc=$?
check cli-unknown-vm test $rc -ne 0 -a "$(cat "$T/e")" = 'vmx-buildtype: no VM named "nosuchvm" is registered'
out=$(api PUT "/vms/$A/buildType" '{"buildType":"fast"}' "$TOKEN")
check invalid-buildtype-400 test "$(st)" = 400
check invalid-buildtype-field grep -q '"field":"buildType"' <<<"$out"
"$HOST/vmx-buildtype" --vmname a --buildType fast >"$T/o" 2>"$T/e"; rc=$?
check cli-invalid-buildtype test $rc -ne 0 -a "$(wc -l <"$T/e")" -eq 1
check cli-invalid-buildtype-msg grep -q 'buildType' "$T/e"
# One line per file name, so a refusal that stops working names the name.
i=0
for f in '[ds1] ../../etc/passwd' '[ds1] /etc/passwd.vmx' '[ds1] a/../../x.vmx' '[nods] a/a.vmx' 'a/a.vmx'; do
  i=$((i + 1))
  out=$(api POST /vms "{\"file\":\"$f\"}" "$TOKEN")
  if [ "$(st)" -ge 400 ] && [ "$(st)" -lt 500 ] && grep -q '"field":"file"' <<<"$out"; then
    ok "path-traversal-refused-$i"; else bad "path-traversal-refused-$i" "$f: $(st) $out"; fi
done
ln -s /etc "$T/ds1/escape"
out=$(api POST /vms '{"file":"[ds1] escape/x.vmx"}' "$TOKEN")
check symlink-escape-refused grep -q 'outside datastore' <<<"$out"
"$HOST/vmx-buildtype" --vmfile '[ds1] ../../etc/passwd' >"$T/o" 2>"$T/e"; rc=$?
check cli-vmfile-traversal test $rc -ne 0
check cli-vmfile-traversal-msg grep -q '^vmx-buildtype: file: ' "$T/e"
out=$(api POST /vms '{"file": ' "$TOKEN"); check bad-json-400 test "$(st)" = 400
check bad-json-code grep -q '"badJson"' <<<"$out"
out=$(api PUT "/vms/$A/buildType" '{"buildType":"stats","revertAfter":"soon"}' "$TOKEN")
check bad-revertafter-field grep -q '"field":"revertAfter"' <<<"$out"
"$HOST/vmx-buildtype" --host esx1 --vmname a >"$T/o" 2>"$T/e"; rc=$?
check cli-host-with-plain-hostd test $rc -ne 0
check cli-host-msg grep -q 'only meaningful with a management server' "$T/e"

# --- powered-off change, query, revertAfter ------------------------------------------
out=$("$HOST/vmx-buildtype" --vmfile '[ds1] a/a.vmx')
check query-output test "$out" = 'VM [ds1] a/a.vmx uses vmx build type: default'
out=$("$HOST/vmx-buildtype" --vmname a --buildType stats --revertAfter 2s)
check off-change-output test "$out" = 'Reconfiguring VM "[ds1] a/a.vmx" for vmx build type stats... done.'
check off-change-file grep -qx 'vmx.buildType = "stats"' "$T/ds1/a/a.vmx"
check off-change-keeps-rest grep -qx 'fake.suspendMs = "150"' "$T/ds1/a/a.vmx"
out=$(api GET "/vms/$A/buildType" "" "$TOKEN")
check pending-revert-shown grep -q '"pendingRevert"' <<<"$out"
check cli-shows-pending-revert grep -q 'Pending revert to default' <<<"$("$HOST/vmx-buildtype" --vmname a)"
reverted() { grep -qx 'vmx.buildType = "default"' "$T/ds1/a/a.vmx"; }
check revertafter-expiry wait_until 8 reverted
out=$(api GET "/events?vm=$A" "" "$TOKEN")
check revert-event-user grep -q 'hostd (revertAfter)' <<<"$out"
check change-event-user test "$(jget "any(e['type']=='buildTypeChanged' and e['user']=='root' for e in j['events'])" <<<"$out")" = True

# --- power on, runtime switch, conflict ------------------------------------------
out=$(api POST "/vms/$A/power" '{"op":"on","wait":true}' "$TOKEN")
check power-on grep -q '"state":"success"' <<<"$out"
p1=$(vm_field "$A" pid)
out=$("$HOST/vmx-buildtype" --vmname a --buildType debug)
check on-change-output test "$out" = $'Suspending VM...\nReconfiguring VM "[ds1] a/a.vmx" for vmx build type debug...\nResuming VM... done.'
p2=$(vm_field "$A" pid)
check on-change-new-pid test -n "$p2" -a "$p1" != "$p2"
# The fake vmx runs as /dev/fd/N (hostd executes the binary it opened).
check on-change-binary grep -q '/vmx-debug$' <(readlink "/proc/$p2/fd/"*)
check on-change-log-line1 grep -q 'buildType=beta' <(head -1 "$T/ds1/a/vmx.log")
check on-change-log-rotated grep -q "pid=$p1 " <(head -1 "$T/ds1/a/vmx-0.log")
check vm-log-names-user grep -q 'changed from default to debug by user root' "$T/ds1/a/vmx.log"
out=$(api GET /tasks?limit=1 "" "$TOKEN")
for ph in stop save launch load resume; do
  check "task-phase-$ph" test "$(jget "any(p['name'] == '$ph' and isinstance(p['ms'], int) for p in j['tasks'][0]['phases'])" <<<"$out")" = True
done
sed -i 's/^fake.suspendMs.*/fake.suspendMs = "1500"/' "$T/ds1/a/a.vmx"
api PUT "/vms/$A/buildType" '{"buildType":"stats"}' "$TOKEN" >"$T/c1" & c1=$!
sleep 0.1
out=$(api PUT "/vms/$A/buildType" '{"buildType":"default"}' "$TOKEN")
check concurrent-change-409 test "$(st)" = 409
check concurrent-change-msg grep -q 'busy with task' <<<"$out"
wait $c1
idle() { [ "$(vm_field "$A" busyTask)" = None ]; }
check concurrent-first-proceeds wait_until 15 idle
check concurrent-first-result test "$(vm_field "$A" runningBuildType)" = stats
check stats-dir test -d "$T/ds1/a/stats"
sed -i 's/^fake.suspendMs.*/fake.suspendMs = "150"/' "$T/ds1/a/a.vmx"
api DELETE "/vms/$A" "" "$TOKEN" >/dev/null
check unregister-running-409 test "$(st)" = 409

# --- revertAfter on a running VM: a runtime switch back to default --------------
pr=$(vm_field "$A" pid)
out=$(api PUT "/vms/$A/buildType" '{"buildType":"debug","revertAfter":"2s","wait":true}' "$TOKEN")
check running-revert-set grep -q '"revertAt"' <<<"$out"
check running-revert-pending test "$(api GET "/vms/$A/buildType" "" "$TOKEN" | jget "j['pendingRevert']['buildType']")" = default
back_default() { [ "$(vm_field "$A" runningBuildType)" = default ] && [ "$(vm_field "$A" busyTask)" = None ]; }
check running-revert-expiry wait_until 12 back_default
check running-revert-new-process test "$(vm_field "$A" pid)" != "$pr"
check running-revert-cleared test "$(vm_field "$A" pendingRevert)" = None

# --- suspend failure keeps the VM running -------------------------------------------
echo 'fake.failSuspend = "TRUE"' >>"$T/ds1/a/a.vmx"
api POST "/vms/$A/power" '{"op":"reset","wait":true}' "$TOKEN" >/dev/null
p3=$(vm_field "$A" pid)
"$HOST/vmx-buildtype" --vmname a --buildType default >"$T/o" 2>"$T/e"; rc=$?
check failed-suspend-exit test $rc -ne 0
check failed-suspend-msg grep -q 'keeps running' "$T/e"
check failed-suspend-same-pid test "$(vm_field "$A" pid)" = "$p3" -a "$(vm_field "$A" powerState)" = poweredOn
sed -i '/fake.failSuspend/d' "$T/ds1/a/a.vmx"
api POST "/vms/$A/power" '{"op":"reset","wait":true}' "$TOKEN" >/dev/null

# --- admission control ------------------------------------------------------------
new_vm b
sed -i 's/^memSize = .*/memSize = "640"/' "$T/ds1/b/b.vmx"
out=$(api POST /vms '{"file":"[ds1] b/b.vmx"}' "$TOKEN"); Bv=$(jget "j['id']" <<<"$out")
out=$(api POST "/vms/$Bv/power" '{"op":"on"}' "$TOKEN")
check admission-refused-409 test "$(st)" = 409
check admission-numbers grep -q 'capacity 1000 MiB' <<<"$out"
check admission-untouched test "$(vm_field "$Bv" powerState)" = poweredOff
sed -i 's/^memSize = .*/memSize = "560"/' "$T/ds1/b/b.vmx"
out=$(api POST "/vms/$Bv/power" '{"op":"on","wait":true}' "$TOKEN")
check admission-fits grep -q '"state":"success"' <<<"$out"
pb=$(vm_field "$Bv" pid)
out=$(api PUT "/vms/$Bv/buildType" '{"buildType":"debug"}' "$TOKEN")
check admission-change-refused test "$(st)" = 409
check admission-change-untouched test "$(vm_field "$Bv" pid)" = "$pb"
out=$(api POST "/vms/$Bv/power" '{"op":"off","wait":true}' "$TOKEN")
check graceful-off grep -q '"graceful":true' <<<"$out"

# --- supervision: crash, missing binary ------------------------------------------
new_vm c 'fake.panicAfterMs = "300"
'
out=$(api POST /vms '{"file":"[ds1] c/c.vmx"}' "$TOKEN"); C=$(jget "j['id']" <<<"$out")
api POST "/vms/$C/power" '{"op":"on","wait":true}' "$TOKEN" >/dev/null
crashed() { [ "$(vm_field "$C" powerState)" = poweredOff ]; }
check crash-noticed wait_until 10 crashed
check crash-reason grep -q 'exit status 70' <<<"$(vm_field "$C" lastExit)"
check crash-report-kept test -s "$(ls "$T"/state/crash/vm"$C"-vmx-crash-*.txt)"
check crash-event grep -q vmCrashed <<<"$(api GET "/events?vm=$C" "" "$TOKEN")"

# --- restart: adoption; SIGKILL in the middle of a switch -------------------------
pa=$(vm_field "$A" pid)
stop_hostd TERM
check vm-survives-hostd kill -0 "$pa"
start_hostd --vmx-dir "$T/fake2" --mem-capacity 1000 || exit 1
TOKEN=$(login root "$PW")
check adopted-after-restart test "$(vm_field "$A" pid)" = "$pa" -a "$(vm_field "$A" powerState)" = poweredOn
sed -i 's/^vmx.buildType = .*/vmx.buildType = "stats"/' "$T/ds1/c/c.vmx"
sed -i '/fake.panicAfterMs/d' "$T/ds1/c/c.vmx"
out=$(api POST "/vms/$C/power" '{"op":"on"}' "$TOKEN")
check missing-binary-refused test "$(st)" = 409
check missing-binary-msg grep -q 'no vmx binary for build type stats' <<<"$out"
pa=$(vm_field "$A" pid)
stop_hostd TERM
# As if hostd had died right after spawning: the database does not know the pid.
python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute("UPDATE vms SET pid=0, pid_start=0"); c.commit()' \
  "$T/state/hostd.db" || bad forget-pid "cannot edit $T/state/hostd.db"
start_hostd --vmx-dir "$T/fake" --mem-capacity 1000 || exit 1
TOKEN=$(login root "$PW")
check adopted-through-control-socket test "$(vm_field "$A" pid)" = "$pa" -a "$(vm_field "$A" powerState)" = poweredOn
# Long enough that the switch is still saving when hostd is killed, even on a loaded machine.
sed -i 's/^fake.suspendMs.*/fake.suspendMs = "5000"/' "$T/ds1/a/a.vmx"
api POST "/vms/$A/power" '{"op":"reset","wait":true}' "$TOKEN" >/dev/null
check adopted-reset test "$(vm_field "$A" powerState)" = poweredOn
lines0=$(wc -l <"$T/ds1/a/a.serial")
out=$(api PUT "/vms/$A/buildType" '{"buildType":"debug"}' "$TOKEN")
task=$(jget "j['id']" <<<"$out")
sleep 0.7
stop_hostd KILL
start_hostd --vmx-dir "$T/fake" --mem-capacity 1000 || exit 1
TOKEN=$(login root "$PW")
running_again() { [ "$(vm_field "$A" powerState)" = poweredOn ] && [ "$(vm_field "$A" busyTask)" = None ]; }
check killed-switch-vm-running wait_until 30 running_again
running_again || { echo "# state after the killed switch:"; api GET "/vms/$A" "" "$TOKEN" | head -c 2000; echo
  echo "# events:"; api GET "/events?vm=$A" "" "$TOKEN" | head -c 6000; echo
  echo "# a/vmx.log and the one before:"; tail -n 20 "$T/ds1/a/vmx.log" "$T/ds1/a/vmx-0.log"; }
out=$(api GET "/tasks/$task" "" "$TOKEN")
check killed-switch-task-says grep -q 'interrupted by a restart of hostd' <<<"$out"
grep -q 'interrupted by a restart of hostd' <<<"$out" || echo "# task '$task' after the restart: ${out:0:2000}"
# The resumed vmx removes its checkpoint once loaded and the counter goes on;
# both take a moment on a loaded machine, so wait for them (bounded).
no_stale_ckpt() { test ! -e "$T/ds1/a/a.vmss"; }
check killed-switch-no-stale-checkpoint wait_until 30 no_stale_ckpt
counting_on() { python3 -c '
import sys
n=[int(l.split()[1]) for l in open(sys.argv[1])][int(sys.argv[2]):]
sys.exit(0 if len(n) > 10 and all(b==a+1 for a,b in zip(n,n[1:])) else 1)' "$T/ds1/a/a.serial" "$lines0"; }
check killed-switch-workload-continues wait_until 30 counting_on
out=$(api POST "/vms/$A/power" '{"op":"off","wait":true}' "$TOKEN")
check adopted-power-off test "$(vm_field "$A" powerState)" = poweredOff
check vmx3-cmd-list grep -Eq '^[0-9]+ +a +\[ds1\] a/a.vmx +poweredOff +(default|debug|stats)' <<<"$("$HOST/vmx3-cmd" list)"

# --- vmx3-cmd: create, users, host, tasks, events, unregister ----------------------
out=$("$HOST/vmx3-cmd" create "[ds1] made/made.vmx" memSize=128 vmx.buildType=debug)
check cmd-create grep -q 'Registered VM [0-9]* : *made\|Registered VM [0-9]*: made' <<<"$out"
check cmd-create-file grep -qx 'vmx.buildType = "debug"' "$T/ds1/made/made.vmx"
check cmd-create-exists-refused test "$("$HOST/vmx3-cmd" create "[ds1] made/made.vmx" 2>&1 >/dev/null | wc -l)" = 1
check cmd-create-bad-key-refused grep -q 'config.a b' <<<"$("$HOST/vmx3-cmd" create "[ds1] m2/m2.vmx" 'a b=1' 2>&1)"
M=$(vmid_of made)
check cmd-get grep -q '"memSizeMB": 128' <<<"$("$HOST/vmx3-cmd" get "$M")"
check cmd-host grep -q '"kind": "hostd"' <<<"$("$HOST/vmx3-cmd" host)"
check cmd-tasks grep -q '^Task [0-9]* ' <<<"$("$HOST/vmx3-cmd" tasks)"
check cmd-events grep -q 'vmCreated' <<<"$("$HOST/vmx3-cmd" events)"
VMX3_NEW_PASSWORD=new-user-pw "$HOST/vmx3-cmd" useradd eve read-only >/dev/null
check cmd-useradd grep -q '^eve *read-only' <<<"$("$HOST/vmx3-cmd" users)"
check cmd-new-user-login test ${#TOKEN} -eq 64 -a "$(VMX3_USER=eve VMX3_PASSWORD=new-user-pw "$HOST/vmx3-cmd" list >/dev/null 2>&1; echo $?)" = 0
check cmd-readonly-useradd-refused test "$(VMX3_USER=eve VMX3_PASSWORD=new-user-pw VMX3_NEW_PASSWORD=xxxxx "$HOST/vmx3-cmd" useradd mallory admin >/dev/null 2>&1; echo $?)" = 1
"$HOST/vmx3-cmd" userdel eve >/dev/null
check cmd-userdel test "$(VMX3_USER=eve VMX3_PASSWORD=new-user-pw "$HOST/vmx3-cmd" list >/dev/null 2>&1; echo $?)" = 1
check cmd-unregister grep -qx ok <<<"$("$HOST/vmx3-cmd" unregister "$M")"
check cmd-unregister-gone test "$(api GET "/vms/$M" "" "$TOKEN" >/dev/null; st)" = 404
check cmd-unknown-command test "$("$HOST/vmx3-cmd" frobnicate >/dev/null 2>&1; echo $?)" = 2
stop_hostd TERM

# --- TLS on a loopback port ---------------------------------------------------------
if openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
     -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1; then
  port=$(( 20000 + RANDOM % 20000 ))
  printf 'hostd.tlsCert = "%s"\nhostd.tlsKey = "%s"\nhostd.port = "%s"\nhostd.socket = ""\n' \
    "$T/cert.pem" "$T/key.pem" "$port" >"$T/tls.conf"
  "$HOST/hostd" --state "$T/state" --config "$T/tls.conf" --datastore "ds1=$T/ds1" >>"$T/hostd.out" 2>&1 &
  HOSTD_PID=$!
  up() { curl -sk --max-time 1 "https://127.0.0.1:$port/api/v1" >/dev/null; }
  wait_until 5 up
  out=$(curl -sk --max-time 5 -d "{\"username\":\"root\",\"password\":\"$PW\"}" "https://127.0.0.1:$port/api/v1/session")
  check tls-login grep -q '"token"' <<<"$out"
  check tls-cli grep -q 'uses vmx build type' <<<"$(VMX3_CA_CERT="$T/cert.pem" "$HOST/vmx-buildtype" --server "https://localhost:$port" --vmname a)"
  check plain-http-refused-on-tls test "$(curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/api/v1")" != 200
  stop_hostd TERM
else
  bad tls "openssl cannot make a certificate (scripts/deps.sh installs openssl)"
fi

# --- slowing of repeated failed logins (last: it takes ~8 s) ---------------------
start_hostd --vmx-dir "$T/fake" || exit 1
t0=$(date +%s%N)
for i in 1 2 3 4 5; do api POST /session '{"username":"ro","password":"bad"}' >/dev/null; done
t1=$(date +%s%N)
check failed-logins-slowed test $(( (t1 - t0) / 1000000 )) -ge 7000
out=$(api POST /session "{\"username\":\"ro\",\"password\":\"$ROPW\"}")
check failed-logins-locked test "$(st)" = 429
check locked-says-retry grep -q 'try again in' <<<"$out"
