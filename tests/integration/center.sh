#!/usr/bin/env bash
# center.sh - vmx3-center (docs/CENTER.md) against a real etcd (Debian's
# etcd-server) and two real hostd with the fake vmx (hostd_fakevmx.py):
#  - two centers on one etcd: exactly one leads; the other answers reads and
#    refuses changes with 503 naming the leader;
#  - hosts added through the leader (bad URL, wrong password refused with the
#    field or reason), every host's VMs listed with their host by either center;
#  - vmx-buildtype --server CENTER --host HOST --vmname NAME [--buildType T]
#    and vmx3-cmd list (Host column) through a center; --host against a plain
#    hostd is still refused;
#  - a power-on through the center becomes a center task that ends with the
#    host's task;
#  - kill -9 of the leader: the other center leads within the lease time and
#    finishes the build-type switch the dead leader had started (the task is
#    never lost);
#  - roles: a read-only user may read and not change.
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

if ! make -s B="$B" "$B/host/hostd" "$B/host/vmx3-center" "$B/host/vmx-buildtype" "$B/host/vmx3-cmd" >/dev/null 2>&1; then
  bad center-build; exit 1
fi
command -v etcd >/dev/null || { bad center-etcd "etcd not installed (scripts/deps.sh installs etcd-server)"; exit 1; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  cleanup
}
trap stop_all EXIT

# etcd, alone, on loopback ports of its own.
EP=$(freeport); PP=$(freeport)
ETCD="http://127.0.0.1:$EP"
etcd --name t --data-dir "$T/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "t=http://127.0.0.1:$PP" >"$T/etcd.out" 2>&1 &
PIDS+=($!)
wait_until 20 curl -sf -o /dev/null "$ETCD/health" || { bad center-etcd-start "$(tail -3 "$T/etcd.out")"; exit 1; }

# Two hosts: h1 and h2, each a hostd with its own state, datastore and fake vmx.
make_fake_vmx "$T/vmx"
mkdir -p "$T/shared"
declare -A HPORT HSOCK HPID
for h in h1 h2; do
  HPORT[$h]=$(freeport)
  mkdir -p "$T/$h/ds"
  VMX3_PASSWORD=$PW "$HOST/hostd" --state "$T/$h/state" useradd root admin >/dev/null 2>&1
  "$HOST/hostd" --state "$T/$h/state" --port "${HPORT[$h]}" --datastore "ds1=$T/$h/ds" --datastore "shared=$T/shared" \
    --vmx-dir "$T/vmx" >"$T/$h.out" 2>&1 &
  PIDS+=($!); HPID[$h]=$!
  HSOCK[$h]="$T/$h/state/hostd.sock"
done
for h in h1 h2; do
  wait_until 10 curl -sf -o /dev/null --unix-socket "${HSOCK[$h]}" http://h/api/v1 || { bad "center-$h-start"; exit 1; }
done
hapi() { # HOST METHOD PATH [JSON]
  local tok; tok=$(curl -s --unix-socket "${HSOCK[$1]}" http://h/api/v1/session -d "{\"username\":\"root\",\"password\":\"$PW\"}" | jget "j['token']")
  curl -s --unix-socket "${HSOCK[$1]}" -X "$2" -H "Authorization: Bearer $tok" ${4:+-H 'Content-Type: application/json' -d "$4"} "http://h/api/v1$3"
}
mkdir -p "$T/h1/ds/web" "$T/h2/ds/db"
printf 'memSize = "64"\nvmx.buildType = "default"\nfake.suspendMs = "2500"\n' >"$T/h1/ds/web/web.vmx"
printf 'memSize = "64"\nvmx.buildType = "default"\nfake.suspendMs = "3000"\n' >"$T/h2/ds/db/db.vmx"
WEB=$(hapi h1 POST /vms '{"file":"[ds1] web/web.vmx"}' | jget "j['id']")
DB=$(hapi h2 POST /vms '{"file":"[ds1] db/db.vmx"}' | jget "j['id']")
check center-vms-registered test -n "$WEB" -a -n "$DB"

# Users of the cluster, then two centers.
CPW=center-admin-pw
VMX3_NEW_PASSWORD=$CPW "$HOST/vmx3-center" --etcd "$ETCD" useradd admin admin
check center-useradd test $? = 0
VMX3_NEW_PASSWORD=center-ro-pw "$HOST/vmx3-center" --etcd "$ETCD" useradd viewer read-only
out=$(VMX3_NEW_PASSWORD=x "$HOST/vmx3-center" --etcd "$ETCD" useradd 'bad name' admin 2>&1)
check center-useradd-bad-name grep -q 'name: ' <<<"$out"
declare -A CPORT CPID
for c in c1 c2; do
  CPORT[$c]=$(freeport)
  "$HOST/vmx3-center" --name "$c" --etcd "$ETCD" --port "${CPORT[$c]}" --lease-ttl 3 >"$T/$c.out" 2>&1 &
  CPID[$c]=$!; PIDS+=($!)
done
capi() { # CENTER METHOD PATH [JSON] [TOKEN]: body; status in $T/.cst
  local out
  out=$(curl -s --max-time 60 -X "$2" ${5:+-H "Authorization: Bearer $5"} ${4:+-H 'Content-Type: application/json' -d "$4"} \
        -w '\n%{http_code}' "http://127.0.0.1:${CPORT[$1]}/api/v1$3")
  printf '%s\n' "${out##*$'\n'}" >"$T/.cst"
  printf '%s\n' "${out%$'\n'*}"
}
cst() { cat "$T/.cst"; }
for c in c1 c2; do wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:${CPORT[$c]}/api/v1" || { bad "center-$c-start" "$(cat "$T/$c.out")"; exit 1; }; done
TOK=$(capi c1 POST /session "{\"username\":\"admin\",\"password\":\"$CPW\"}" | jget "j['token']")
RO=$(capi c2 POST /session '{"username":"viewer","password":"center-ro-pw"}' | jget "j['token']")
check center-login test -n "$TOK" -a -n "$RO"
out=$(capi c2 POST /session '{"username":"admin","password":"wrong"}')
check center-login-wrong test "$(cst) $(jget "j['error']['code']" <<<"$out")" = "401 badCredentials"

leader_of() { # CENTER -> true/false
  capi "$1" GET /host "" "$TOK" | jget "j['leader']"
}
wait_leader() { # -> name of the leading center
  local c
  for _ in $(seq 100); do
    for c in c1 c2; do [ "$(leader_of "$c")" = True ] && { echo "$c"; return 0; }; done
    sleep 0.1
  done
  return 1
}
L=$(wait_leader); F=$([ "$L" = c1 ] && echo c2 || echo c1)
check center-one-leader test -n "$L" -a "$(leader_of "$F")" = False
out=$(capi "$F" GET /host "" "$TOK")
check center-host-kind test "$(jget "j['kind'] + ' ' + j['leadership']['name']" <<<"$out")" = "manager $L"

# Hosts: only the leader adds them.
hostbody() { echo "{\"name\":\"$1\",\"url\":\"http://127.0.0.1:${HPORT[$1]}\",\"user\":\"root\",\"password\":\"${2:-$PW}\"}"; }
out=$(capi "$F" POST /hosts "$(hostbody h1)" "$TOK")
check center-follower-refuses test "$(cst) $(jget "j['error']['code'] + ' ' + j['error']['leader']['name']" <<<"$out")" = "503 notLeader $L"
out=$(capi "$L" POST /hosts "$(hostbody h1 wrong)" "$TOK")
check center-host-bad-password test "$(cst)" = 409
check center-host-bad-password-says grep -q 'refused the center' <<<"$out"
out=$(capi "$L" POST /hosts '{"name":"hx","url":"ftp://x","user":"root","password":"p"}' "$TOK")
check center-host-bad-url test "$(cst) $(jget "j['error']['field']" <<<"$out")" = "400 url"
out=$(capi "$L" POST /hosts "$(hostbody h1)" "$RO")
check center-readonly-no-change test "$(cst)" = 403
for h in h1 h2; do
  out=$(capi "$L" POST /hosts "$(hostbody $h)" "$TOK")
  check "center-host-add-$h" test "$(cst) $(jget "j['state']" <<<"$out")" = "201 connected"
done
out=$(capi "$F" GET /hosts "" "$RO")
check center-hosts-listed test "$(jget "sorted(h['name'] + ':' + h['state'] for h in j['hosts'])" <<<"$out")" = '["h1:connected", "h2:connected"]'
check center-hosts-no-password test -z "$(grep -o password <<<"$out")"
out=$(capi "$F" GET /vms "" "$RO")
check center-vms-across-hosts test "$(jget "sorted(v['host'] + '/' + v['name'] for v in j['vms'])" <<<"$out")" = '["h1/web", "h2/db"]'

# The CLIs through a center.
export VMX3_USER=admin VMX3_PASSWORD=$CPW
out=$("$HOST/vmx-buildtype" --server "127.0.0.1:${CPORT[$F]}" --host h2 --vmname db 2>&1)
check center-cli-get grep -q 'VM \[ds1\] db/db.vmx uses vmx build type: default' <<<"$out"
out=$(timeout 60 "$HOST/vmx-buildtype" --server "127.0.0.1:${CPORT[$L]}" --host h2 --vmname db --buildType stats 2>&1)
check center-cli-set grep -q 'done\.' <<<"$out"
check center-cli-set-on-host test "$(hapi h2 GET "/vms/$DB" | jget "j['buildType']")" = stats
out=$("$HOST/vmx-buildtype" --server "127.0.0.1:${CPORT[$L]}" --host h9 --vmname db 2>&1)
check center-cli-unknown-host grep -q "no host named 'h9'" <<<"$out"
out=$(VMX3_USER=root VMX3_PASSWORD=$PW "$HOST/vmx-buildtype" --server "unix:${HSOCK[h1]}" --host h1 --vmname web 2>&1)
check center-cli-host-on-hostd grep -q 'only meaningful with a management server' <<<"$out"
out=$("$HOST/vmx3-cmd" --server "127.0.0.1:${CPORT[$F]}" list 2>&1)
check center-cmd-list-host-column grep -qE '^Host +Vmid' <<<"$out"
check center-cmd-list-rows test "$(grep -cE '^h[12] ' <<<"$out")" = 2

# Power on through the center: a center task that ends with the host's.
out=$(capi "$L" POST "/hosts/h1/vms/$WEB/power" '{"op":"on"}' "$TOK")
tid=$(jget "j['id']" <<<"$out")
check center-power-task test "$(cst) $(jget "j['host'] + ' ' + str(j['hostTask'] > 0)" <<<"$out")" = "202 h1 True"
task_state() { capi "$1" GET "/tasks/$2" "" "$TOK" | jget "j['state']"; }
task_is() { [ "$(task_state "$1" "$2")" = "$3" ]; }
is_leader() { [ "$(leader_of "$1")" = True ]; }
wait_until 30 task_is "$F" "$tid" success
check center-power-task-done test "$(task_state "$F" "$tid")" = success
check center-power-on-host test "$(hapi h1 GET "/vms/$WEB" | jget "j['powerState']")" = poweredOn

# kill -9 of the leader in the middle of a switch (the fake vmx takes 2.5 s to save).
out=$(capi "$L" PUT "/hosts/h1/vms/$WEB/buildType" '{"buildType":"debug","method":"suspend"}' "$TOK")
tid=$(jget "j['id']" <<<"$out")
check center-switch-started test "$(cst)" = 202
kill -9 "${CPID[$L]}"; wait "${CPID[$L]}" 2>/dev/null
t0=$(date +%s.%N)
wait_until 15 is_leader "$F"
t1=$(date +%s.%N)
check center-failover test "$(leader_of "$F")" = True
echo "# failover: $F leads $(echo "$t1 - $t0" | bc) s after kill -9 of $L (lease 3 s)"
wait_until 40 task_is "$F" "$tid" success
out=$(capi "$F" GET "/tasks/$tid" "" "$TOK")
check center-task-finished-by-new-leader test "$(jget "j['state'] + ' ' + j['result']['to']" <<<"$out")" = "success debug"
check center-switch-on-host test "$(hapi h1 GET "/vms/$WEB" | jget "j['runningBuildType']")" = debug
out=$(capi "$F" GET "/events?limit=50" "" "$TOK")
check center-events test "$(jget "sum(e['type'] == 'leaderElected' for e in j['events']) >= 2 and any(e['type'] == 'taskDone' for e in j['events'])" <<<"$out")" = True

hapi h1 POST "/vms/$WEB/power" '{"op":"hardOff","wait":true}' >/dev/null

# --- cold migration (a datastore both hosts see: "shared") -------------------------------
L=$F
"$HOST/vmx3-center" --name c1 --etcd "$ETCD" --port "${CPORT[c1]}" --lease-ttl 3 >"$T/c1b.out" 2>&1 &
CPID[c1]=$!; PIDS+=($!)
F=c1
wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:${CPORT[c1]}/api/v1"
mkdir -p "$T/shared/mig"
printf 'memSize = "64"
vmx.buildType = "stats"
fake.suspendMs = "100"
' >"$T/shared/mig/mig.vmx"
MIG=$(hapi h1 POST /vms '{"file":"[shared] mig/mig.vmx"}' | jget "j['id']")
hapi h1 POST "/vms/$MIG/power" '{"op":"on","wait":true}' >/dev/null
# A running VM moves live (center_live.sh): the fake vmx cannot, so the
# attempt fails, the VM runs on at h1, and h2 forgets it again.
out=$(capi "$L" POST "/hosts/h1/vms/$MIG/migrate" '{"to":"h2"}' "$TOK")
tid=$(jget "j['id']" <<<"$out")
check center-migrate-live-attempt test "$(cst)" = 202
wait_until 30 task_is "$L" "$tid" error
out=$(capi "$L" GET "/tasks/$tid" "" "$TOK")
check center-migrate-live-undone test "$(jget "j['step']" <<<"$out")" = undone
check center-migrate-live-says grep -q 'incoming-migration is not supported\|cannot take the VM\|cannot migrate' <<<"$out"
check center-migrate-live-still-h1 test "$(hapi h1 GET "/vms/$MIG" | jget "j['powerState']")" = poweredOn
check center-migrate-live-h2-forgot wait_until 10 test "$(hapi h2 GET /vms | jget "len([v for v in j['vms'] if 'mig' in v['file']])")" = 0
out=$(capi "$F" POST "/hosts/h1/vms/$MIG/migrate" '{"to":"h2"}' "$TOK")
check center-migrate-follower-refuses test "$(cst)" = 503
out=$(capi "$L" POST "/hosts/h1/vms/$MIG/migrate" '{"to":"h9"}' "$TOK")
check center-migrate-unknown-host test "$(cst)" = 404
hapi h1 POST "/vms/$MIG/power" '{"op":"suspend","wait":true}' >/dev/null
n0=$(sed -n 's/^tick \([0-9]*\) .*/\1/p' "$T/shared/mig/mig.serial" 2>/dev/null | tail -1)
out=$(capi "$L" POST "/hosts/h1/vms/$MIG/migrate" '{"to":"h2"}' "$TOK")
tid=$(jget "j['id']" <<<"$out")
wait_until 20 task_is "$L" "$tid" success
out=$(capi "$L" GET "/tasks/$tid" "" "$TOK")
NEW=$(jget "j['result']['newId']" <<<"$out")
check center-migrate-suspended test "$(jget "j['state'] + ' ' + j['result']['to'] + ' ' + j['result']['powerState']" <<<"$out")" = "success h2 suspended"
check center-migrate-gone-from-source test "$(hapi h1 GET "/vms?file=%5Bshared%5D%20mig%2Fmig.vmx" | jget "len(j['vms'])")" = 0
check center-migrate-on-destination test "$(hapi h2 GET "/vms/$NEW" | jget "j['powerState'] + ' ' + j['buildType']")" = "suspended stats"
hapi h2 POST "/vms/$NEW/power" '{"op":"resume","wait":true}' >/dev/null
check center-migrate-resumes-there test "$(hapi h2 GET "/vms/$NEW" | jget "j['powerState'] + ' ' + j['runningBuildType']")" = "poweredOn stats"
counter_past() { local n; n=$(sed -n 's/^tick \([0-9]*\) .*/\1/p' "$T/shared/mig/mig.serial" 2>/dev/null | tail -1); [ "${n:-0}" -gt "${1:-0}" ]; }
wait_until 10 counter_past "$n0"
check center-migrate-guest-carries-on counter_past "$n0"
hapi h2 POST "/vms/$NEW/power" '{"op":"hardOff","wait":true}' >/dev/null

# A destination that cannot open the file (its "ds1" is another directory): the VM goes back.
out=$(capi "$L" POST "/hosts/h1/vms/$WEB/migrate" '{"to":"h2"}' "$TOK")
tid=$(jget "j['id']" <<<"$out")
wait_until 20 task_is "$L" "$tid" error
out=$(capi "$L" GET "/tasks/$tid" "" "$TOK")
check center-migrate-undone test "$(jget "j['step']" <<<"$out")" = undone
check center-migrate-undone-says grep -q 'registered on h1 again' <<<"$out"
check center-migrate-undone-on-source test "$(hapi h1 GET /vms | jget "sum(v['file'] == '[ds1] web/web.vmx' for v in j['vms'])")" = 1

# A leader that dies between the two steps: the next one finishes the move.
# The half-done state is written as the dead leader would have left it.
MID=$(hapi h2 GET /vms | jget "[v['id'] for v in j['vms'] if v['file'] == '[shared] mig/mig.vmx'][0]")
hapi h2 DELETE "/vms/$MID" >/dev/null
"$PY" - "$ETCD" "$MID" <<'PYEOF'
import base64, json, sys, urllib.request
etcd, vm = sys.argv[1], int(sys.argv[2])
def call(path, body):
    req = urllib.request.Request(etcd + path, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
b = lambda s: base64.b64encode(s.encode()).decode()
rev = int(call("/v3/kv/put", {"key": b("/vmx3/seq"), "value": ""})["header"]["revision"])
task = {"id": rev, "op": "migrate", "host": "h2", "vm": vm, "user": "admin", "state": "running",
        "progress": 50, "params": {"to": "h1"}, "center": "dead", "step": "unregistered",
        "file": "[shared] mig/mig.vmx", "name": "mig", "powerState": "poweredOff",
        "started": "2026-01-01T00:00:00.000Z"}
call("/v3/kv/put", {"key": b("/vmx3/tasks/%012d" % rev), "value": b(json.dumps(task))})
PYEOF
kill -9 "${CPID[$L]}"; wait "${CPID[$L]}" 2>/dev/null
wait_until 15 is_leader "$F"
check center-failover-again is_leader "$F"
half=$(capi "$F" GET "/tasks?limit=1" "" "$TOK" | jget "j['tasks'][0]['id']")
wait_until 20 task_is "$F" "$half" success
check center-migrate-finished-by-next-leader task_is "$F" "$half" success
check center-migrate-registered-once test "$(( $(hapi h1 GET /vms | jget "sum(v['file'] == '[shared] mig/mig.vmx' for v in j['vms'])") + $(hapi h2 GET /vms | jget "sum(v['file'] == '[shared] mig/mig.vmx' for v in j['vms'])") ))" = 1

# An "old" host: only the release binary, little memory (h3).
make_fake_vmx "$T/vmx-old" vmx
HPORT[h3]=$(freeport); mkdir -p "$T/h3/ds"
VMX3_PASSWORD=$PW "$HOST/hostd" --state "$T/h3/state" useradd root admin >/dev/null 2>&1
"$HOST/hostd" --state "$T/h3/state" --port "${HPORT[h3]}" --datastore "ds1=$T/h3/ds" --datastore "shared=$T/shared" \
  --vmx-dir "$T/vmx-old" --mem-capacity 100 >"$T/h3.out" 2>&1 &
PIDS+=($!); HSOCK[h3]="$T/h3/state/hostd.sock"
wait_until 10 curl -sf -o /dev/null --unix-socket "${HSOCK[h3]}" http://h/api/v1
out=$(capi "$F" POST /hosts "$(hostbody h3)" "$TOK")
check center-host-add-h3 test "$(cst)" = 201
migrate() { # SRC ID DST -> task JSON when it ended
  local o tid; o=$(capi "$F" POST "/hosts/$1/vms/$2/migrate" "{\"to\":\"$3\"}" "$TOK")
  tid=$(jget "j['id']" <<<"$o")
  [ -n "$tid" ] || { echo "$o"; return; }
  wait_until 20 task_is "$F" "$tid" success
  capi "$F" GET "/tasks/$tid" "" "$TOK"
}
MID=$(hapi h1 GET /vms | jget "[v['id'] for v in j['vms'] if v['file'] == '[shared] mig/mig.vmx'][0]")
out=$(migrate h1 "$MID" h3)
check center-bt-dropped-on-old-host test "$(jget "j['state'] + ' ' + j['result']['buildType'] + ' ' + j['result']['requestedBuildType']" <<<"$out")" = "success default stats"
M3=$(jget "j['result']['newId']" <<<"$out")
check center-bt-default-on-old-host test "$(hapi h3 GET "/vms/$M3" | jget "j['buildType']")" = default
out=$(migrate h3 "$M3" h2)
check center-bt-reapplied test "$(jget "j['state'] + ' ' + j['result']['buildType']" <<<"$out")" = "success stats"
M2=$(jget "j['result']['newId']" <<<"$out")
check center-bt-stats-again test "$(hapi h2 GET "/vms/$M2" | jget "j['buildType']")" = stats
out=$(capi "$F" GET "/events?limit=100" "" "$TOK")
check center-bt-events test "$(jget "[e['type'] for e in j['events'] if e['type'].startswith('buildType')][:2]" <<<"$out")" = '["buildTypeReapplied", "buildTypeDropped"]'
# Admission: a suspended stats VM does not fit in h3's 100 MiB, not even as
# the default it would run there (h3 has no stats binary): 64 MiB + 64 MiB.
hapi h2 POST "/vms/$M2/power" '{"op":"on","wait":true}' >/dev/null
hapi h2 POST "/vms/$M2/power" '{"op":"suspend","wait":true}' >/dev/null
out=$(capi "$F" POST "/hosts/h2/vms/$M2/migrate" '{"to":"h3"}' "$TOK")
check center-admission-refused test "$(cst)" = 409
check center-admission-numbers grep -q 'memory capacity 100 MiB, 0 MiB reserved by running VMs, 100 MiB free; it needs 128 MiB (64 guest + 64 default overhead)' <<<"$out"
# And a running VM's build-type change that h3 cannot hold (16 MiB guest:
# 80 MiB as default, 112 MiB as stats): refused by the center with the numbers.
mkdir -p "$T/h3/ds/tiny"
printf 'memSize = "16"\nvmx.buildType = "default"\n' >"$T/h3/ds/tiny/tiny.vmx"
TINY=$(hapi h3 POST /vms '{"file":"[ds1] tiny/tiny.vmx"}' | jget "j['id']")
hapi h3 POST "/vms/$TINY/power" '{"op":"on","wait":true}' >/dev/null
out=$(capi "$F" PUT "/hosts/h3/vms/$TINY/buildType" '{"buildType":"stats"}' "$TOK")
check center-bt-admission-refused test "$(cst) $(jget "j['error']['code']" <<<"$out")" = "409 admissionRefused"
check center-bt-admission-numbers grep -q 'memory capacity 100 MiB, 0 MiB reserved by its other VMs, 100 MiB free; the VM needs 112 MiB as stats (16 guest + 96 stats overhead)' <<<"$out"
hapi h3 POST "/vms/$TINY/power" '{"op":"hardOff","wait":true}' >/dev/null

# vmx3-cmd through the center: hosts, one host's VMs, a migration.
C="127.0.0.1:${CPORT[$F]}"
out=$("$HOST/vmx3-cmd" --server "$C" hosts 2>&1)
check center-cmd-hosts test "$(grep -cE '^h[123] +connected' <<<"$out")" = 3
out=$("$HOST/vmx3-cmd" --server "$C" --host h2 list 2>&1)
check center-cmd-host-list test "$(grep -cE '^h2 ' <<<"$out") $(grep -cE '^h[13] ' <<<"$out")" = "2 0"
out=$("$HOST/vmx3-cmd" --server "$C" --host h2 migrate "$M2" h1 2>&1)
check center-cmd-migrate test $? = 0
check center-cmd-migrated test "$(hapi h1 GET /vms | jget "[v['powerState'] for v in j['vms'] if v['file'] == '[shared] mig/mig.vmx']")" = '["suspended"]'
out=$("$HOST/vmx3-cmd" --server "$C" --host h2 users 2>&1)
check center-cmd-host-not-for-users grep -q 'does not take --host' <<<"$out"
out=$(VMX3_USER=root VMX3_PASSWORD=$PW "$HOST/vmx3-cmd" --server "unix:${HSOCK[h1]}" --host h1 list 2>&1)
check center-cmd-host-on-hostd grep -q 'only meaningful with a management server' <<<"$out"
# kill -9 of a host's hostd in the middle of a switch the center follows: the
# center's task waits for the host, then ends as the restarted hostd says.
out=$(capi "$F" POST "/hosts/h2/vms/$DB/power" '{"op":"on"}' "$TOK")
wait_until 20 task_is "$F" "$(jget "j['id']" <<<"$out")" success
out=$(capi "$F" PUT "/hosts/h2/vms/$DB/buildType" '{"buildType":"default","method":"suspend"}' "$TOK")
tid=$(jget "j['id']" <<<"$out")
sleep 0.5
kill -9 "${HPID[h2]}"; wait "${HPID[h2]}" 2>/dev/null
sleep 1
check center-task-waits-for-host task_is "$F" "$tid" running
"$HOST/hostd" --state "$T/h2/state" --port "${HPORT[h2]}" --datastore "ds1=$T/h2/ds" --datastore "shared=$T/shared" \
  --vmx-dir "$T/vmx" >>"$T/h2.out" 2>&1 &
PIDS+=($!)
ended() { ! task_is "$F" "$tid" running; }
wait_until 40 ended
out=$(capi "$F" GET "/tasks/$tid" "" "$TOK")
echo "# after the host's restart: $(jget "j['state'] + ': ' + (j.get('error') or 'done')" <<<"$out")"
check center-task-ends-after-host-restart ended
check center-task-end-says-why test "$(jget "j['state'] == 'success' or len(j.get('error', '')) > 10" <<<"$out")" = True
check center-vm-state-after-host-restart test "$(hapi h2 GET "/vms/$DB" | jget "j['powerState'] in ('poweredOn', 'suspended')")" = True
exit $((fails > 0))
