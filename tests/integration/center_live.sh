#!/usr/bin/env bash
# center_live.sh - live migration through vmx3-center (docs/MIGRATION.md)
# with the real vmx binaries: etcd, three hostd sharing a datastore ("old"
# has only the release binary; "h2" runs the opt build as default, so the
# test knobs work there) and two centers.  A Linux guest counting on its
# console, with a disk, is powered on through the center and moved live,
# in each build type, while it counts:
#  - h1 (debug) -> h2: beta there too;
#  - switched to stats on h2, then h2 -> old: stats dropped (release), kept;
#  - old -> h1: stats put back (a fast switch there);
# the counter never restarts or skips, the disk follows, and each source
# forgets the VM.  Then the failures:
#  - the destination's vmx killed while it waits for pages: the task fails,
#    the VM runs on at the source, the destination forgets it;
#  - the destination's vmx killed after it was given the guest (the source
#    is in doubt): the center asks the destination and ends the source; the
#    VM is powered off on the destination (crashed there), never running twice;
#  - kill -9 of the leading center in the middle of a migration: the other
#    one follows it to the end;
#  - kill -9 of the sending vmx after it handed over the whole VM: the
#    receiver waits, orphaned, until the center, seeing the source gone,
#    lets it run the only copy;
#  - kill -9 of the source's hostd, and of the destination's, in the
#    middle of a migration, each started again: the restarted source sees its
#    vmx went to the other host; the restarted destination adopts the
#    receiving vmx once it runs the guest.
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }
command -v etcd >/dev/null || { bad live-etcd "etcd not installed (scripts/deps.sh installs etcd-server)"; exit 1; }
G=$(cd "$B/guest" && pwd)
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
freeport() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

PIDS=()
stop_all() {
  [ -n "${VMID:-}" ] && [ -n "${ON:-}" ] && hapi "$ON" POST "/vms/$VMID/power" '{"op":"hardOff","wait":true}' >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  cleanup
}
trap stop_all EXIT

EP=$(freeport); PP=$(freeport)
ETCD="http://127.0.0.1:$EP"
etcd --name t --data-dir "$T/etcd" --listen-client-urls "$ETCD" --advertise-client-urls "$ETCD" \
  --listen-peer-urls "http://127.0.0.1:$PP" --initial-advertise-peer-urls "http://127.0.0.1:$PP" \
  --initial-cluster "t=http://127.0.0.1:$PP" >"$T/etcd.out" 2>&1 &
PIDS+=($!)
wait_until 20 curl -sf -o /dev/null "$ETCD/health" || { bad live-etcd-start; exit 1; }

BD=$(cd "$B" && pwd)
mkdir -p "$T/shared/ctr" "$T/bin-old" "$T/bin-h2"
ln -s "$BD/release/vmx" "$T/bin-old/vmx"
ln -s "$BD/opt/vmx-opt" "$T/bin-h2/vmx"
ln -s "$BD/beta/vmx-debug" "$T/bin-h2/vmx-debug"
ln -s "$BD/stats/vmx-stats" "$T/bin-h2/vmx-stats"
declare -A HPORT HSOCK HPID
start_host() { # NAME
  local h=$1 extra=()
  [ "$h" = old ] && extra=(--vmx-dir "$T/bin-old")
  [ "$h" = h2 ] || [ "$h" = h3 ] && extra=(--vmx-dir "$T/bin-h2")
  "$HOST/hostd" --state "$T/$h" --port "${HPORT[$h]}" --datastore "shared=$T/shared" \
    --images "$G" "${extra[@]}" >>"$T/$h.out" 2>&1 &
  PIDS+=($!); HPID[$h]=$!
  HSOCK[$h]="$T/$h/hostd.sock"
}
HOSTS="h1 h2 old${LIVE_MATRIX:+ h3}"
for h in $HOSTS; do
  HPORT[$h]=$(freeport)
  VMX3_PASSWORD=$PW "$HOST/hostd" --state "$T/$h" useradd root admin >/dev/null 2>&1
  start_host "$h"
done
for h in $HOSTS; do
  wait_until 10 curl -sf -o /dev/null --unix-socket "${HSOCK[$h]}" http://h/api/v1 || { bad "live-$h-start"; exit 1; }
done
hapi() { # HOST METHOD PATH [JSON]
  local tok; tok=$(curl -s --unix-socket "${HSOCK[$1]}" http://h/api/v1/session -d "{\"username\":\"root\",\"password\":\"$PW\"}" | jget "j['token']")
  curl -s --max-time 120 --unix-socket "${HSOCK[$1]}" -X "$2" -H "Authorization: Bearer $tok" ${4:+-H 'Content-Type: application/json' -d "$4"} "http://h/api/v1$3"
}

CPW=center-admin-pw
VMX3_NEW_PASSWORD=$CPW "$HOST/vmx3-center" --etcd "$ETCD" useradd admin admin
declare -A CPORT CPID
for c in c1 c2; do
  CPORT[$c]=$(freeport)
  "$HOST/vmx3-center" --name "$c" --etcd "$ETCD" --port "${CPORT[$c]}" --lease-ttl 3 >"$T/$c.out" 2>&1 &
  CPID[$c]=$!; PIDS+=($!)
done
for c in c1 c2; do wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:${CPORT[$c]}/api/v1" || { bad "live-$c-start"; exit 1; }; done
capi() { # CENTER METHOD PATH [JSON]
  curl -s --max-time 120 -X "$2" -H "Authorization: Bearer $(ctoken "$1")" ${4:+-H 'Content-Type: application/json' -d "$4"} \
    "http://127.0.0.1:${CPORT[$1]}/api/v1$3"
}
ctoken() { curl -s "http://127.0.0.1:${CPORT[$1]}/api/v1/session" -d "{\"username\":\"admin\",\"password\":\"$CPW\"}" | jget "j['token']"; }
leader() {
  local c
  for _ in $(seq 100); do
    for c in "${!CPID[@]}"; do
      [ "$(capi "$c" GET /host | jget "j['leader']")" = True ] && { echo "$c"; return 0; }
    done
    sleep 0.1
  done
  return 1
}
L=$(leader)
check live-leader test -n "$L"
for h in $HOSTS; do
  capi "$L" POST /hosts "{\"name\":\"$h\",\"url\":\"http://127.0.0.1:${HPORT[$h]}\",\"user\":\"root\",\"password\":\"$PW\"}" >/dev/null
done

V="$T/shared/ctr"
truncate -s 8M "$V/data.img"
cat >"$V/ctr.vmx" <<VMX
displayName = "ctr"
memSize = "256"
numvcpus = "2"
vmx.buildType = "debug"
guest.firmware = "$G/fw_dynamic.bin"
guest.kernel = "$G/Image"
guest.initrd = "$G/initrd.gz"
guest.cmdline = "console=ttyS0 quiet panic=-1 vmx3.run=counter vmx3.counter=0"
disk0.fileName = "data.img"
serial0.fileName = "console.log"
VMX
VMID=$(hapi h1 POST /vms '{"file":"[shared] ctr/ctr.vmx"}' | jget "j['id']")
ON=h1
check live-registered test -n "$VMID"
task_of() { jget "j['result']['newId'] if j.get('state') == 'success' else 'ERR: ' + str(j.get('error'))"; }
# A center task to its end: prints the task JSON.
center_wait() { # TASKID
  local out
  for _ in $(seq 1200); do
    out=$(capi "$(leader)" GET "/tasks/$1")
    [ "$(jget "j['state']" <<<"$out")" != running ] && { echo "$out"; return 0; }
    sleep 0.1
  done
  echo "$out"
}
migrate() { # TO: starts the move of VMID from ON; prints the center task id
  capi "$L" POST "/hosts/$ON/vms/$VMID/migrate" "{\"to\":\"$1\"}" | jget "j['id']"
}
last_count() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$V/console.log" 2>/dev/null | tail -1; }
counting_on() {
  local n; n=$(last_count); n=${n:-0}
  for _ in $(seq 600); do [ "$(last_count)" -ge $((n + 5)) ] 2>/dev/null && return 0; sleep 0.1; done
  return 1
}
line1_bt() { head -1 "$V/vmx.log" | sed -n 's/.*buildType=\([a-z]*\).*/\1/p'; }
vms_on() { hapi "$1" GET "/vms" | jget "len(j['vms'])"; }

out=$(capi "$L" POST "/hosts/h1/vms/$VMID/power" '{"op":"on"}')
t=$(jget "j['id']" <<<"$out")
check live-power-on test "$(center_wait "$t" | jget "j['state']")" = success
check live-counting counting_on
check live-runs-beta test "$(line1_bt)" = beta

# h1 -> h2 in beta.
t=$(migrate h2); out=$(center_wait "$t")
check live-h1-h2-done test "$(jget "j['state'] + ' ' + j['result']['method'] + ' ' + j['result']['buildType']" <<<"$out")" = "success live debug"
check live-h1-h2-downtime "$PY" -c "import json,sys; r=json.load(sys.stdin)['result']; sys.exit(not (0 < r['downtimeMs'] < 1000 and r['rounds'] >= 1 and r['pagesSent'] > 0))" <<<"$out"
VMID=$(task_of <<<"$out"); ON=h2
check live-h2-beta test "$(line1_bt)" = beta
check live-h1-forgot test "$(vms_on h1)" = 0
check live-h2-counting counting_on
check live-h2-poweredon test "$(hapi h2 GET "/vms/$VMID" | jget "j['powerState']")" = poweredOn

# Stats on h2, then to old: stats dropped there.
out=$(capi "$L" PUT "/hosts/h2/vms/$VMID/buildType" '{"buildType":"stats"}')
check live-stats-on-h2 test "$(center_wait "$(jget "j['id']" <<<"$out")" | jget "j['state']")" = success
check live-h2-stats test "$(line1_bt)" = stats
t=$(migrate old); out=$(center_wait "$t")
check live-h2-old-done test "$(jget "j['state'] + ' ' + j['result']['buildType'] + ' ' + j['result']['requestedBuildType']" <<<"$out")" = "success default stats"
VMID=$(task_of <<<"$out"); ON=old
check live-old-release test "$(line1_bt)" = release
check live-old-vmx-default grep -q '^vmx.buildType = "default"' "$V/ctr.vmx"
check live-old-counting counting_on
# And on to h1, which has the stats binary: put back.
t=$(migrate h1); out=$(center_wait "$t")
check live-old-h1-done test "$(jget "j['state'] + ' ' + j['result']['buildType']" <<<"$out")" = "success stats"
VMID=$(task_of <<<"$out"); ON=h1
check live-h1-stats-again test "$(line1_bt)" = stats
check live-h1-counting counting_on
ev=$(capi "$L" GET "/events?limit=50")
check live-events-dropped grep -q buildTypeDropped <<<"$ev"
check live-events-reapplied grep -q buildTypeReapplied <<<"$ev"
check live-one-boot test "$(grep -c 'VMX3-MARKER: init' "$V/console.log")" -eq 1
seq_ok() { sed -n 's/^VMX3 counter n=\([0-9]*\) .*/\1/p' "$V/console.log" | awk 'NR != $1 {exit 1}'; }
check live-counter-in-order seq_ok

# The failures need the test knobs: the VM runs default, which is the opt
# build on h2 (release on h1: the knobs are read by the opt vmx only).
out=$(capi "$L" PUT "/hosts/h1/vms/$VMID/buildType" '{"buildType":"default"}')
check live-default-on-h1 test "$(center_wait "$(jget "j['id']" <<<"$out")" | jget "j['state']")" = success

# The destination's vmx (opt on h2) killed while it waits for the pages.
set_knob() { sed -i "/^$1 = /d" "$V/ctr.vmx"; [ -n "$2" ] && echo "$1 = \"$2\"" >>"$V/ctr.vmx"; return 0; }
dst_pid() { # the newest vmx.log's pid (the receiver's)
  head -1 "$V/vmx.log" | sed -n 's/.*pid=\([0-9]*\).*/\1/p'
}
# Whether a vmx logged its pause at PHASE; with PID, that vmx (the log whose
# first line names it: logs rotate, and are never edited under a running vmx).
paused_at() {
  local f
  for f in "$V"/vmx*.log; do
    [ -z "${2:-}" ] || head -1 "$f" | grep -q "pid=$2 " || continue
    grep -qs "test pause at $1" "$f" && return 0
  done
  return 1
}
vm_pid() { hapi "$1" GET "/vms/$VMID" | jget "j['pid']"; }
set_knob monitor.debugTestMigrationPause "hello:20"
t=$(migrate h2)
check live-kill-dst-reached wait_until 30 paused_at hello
kill -9 "$(dst_pid)"
out=$(center_wait "$t")
check live-kill-dst-failed test "$(jget "j['state'] + ' ' + j['step']" <<<"$out")" = "error undone"
check live-kill-dst-runs-on-h1 test "$(hapi h1 GET "/vms/$VMID" | jget "j['powerState']")" = poweredOn
check live-kill-dst-h2-forgot wait_until 10 test "$(vms_on h2)" = 0
check live-kill-dst-counting counting_on

# Killed after it was given the guest: the source is in doubt; the center
# asks h2 (whose vmx said "go"), ends the source, and the VM is off on h2
# (its vmx died running it): it never runs twice.
set_knob monitor.debugTestMigrationPause "go:20"
t=$(migrate h2)
check live-doubt-reached wait_until 30 paused_at go
kill -9 "$(dst_pid)"
out=$(center_wait "$t")
# The destination's hostd saw "go" before the kill: the hand-over is done, then the VM crashed there.
check live-doubt-task-done test "$(jget "j['state'] + ' ' + j['step']" <<<"$out")" = "success done"
check live-doubt-no-token-in-task test -z "$(grep -o '"token"' <<<"$out")"
check live-doubt-h1-forgot wait_until 10 test "$(vms_on h1)" = 0
check live-doubt-h2-off test "$(hapi h2 GET "/vms" | jget "j['vms'][0]['powerState']")" = poweredOff
check live-doubt-event grep -q migrationResolved <<<"$(capi "$L" GET "/events?limit=20")"
n=$(last_count); sleep 1
check live-doubt-runs-nowhere test "$(last_count)" = "$n"
VMID=$(hapi h2 GET "/vms" | jget "j['vms'][0]['id']"); ON=h2

# The leading center killed in the middle of a migration: the other finishes
# it.  The sender (opt on h2) waits 4 s after the receiver is ready.
set_knob monitor.debugTestMigrationPause "ready:4"
out=$(capi "$L" POST "/hosts/h2/vms/$VMID/power" '{"op":"on"}')
check live-on-again test "$(center_wait "$(jget "j['id']" <<<"$out")" | jget "j['state']")" = success
check live-on-again-counting counting_on
t=$(migrate h1)
check live-leader-kill-reached wait_until 30 paused_at ready
kill -9 "${CPID[$L]}"; wait "${CPID[$L]}" 2>/dev/null; unset "CPID[$L]"
L=$(leader)
out=$(center_wait "$t")
check live-leader-kill-finished test "$(jget "j['state'] + ' ' + j['step']" <<<"$out")" = "success done"
VMID=$(task_of <<<"$out"); ON=h1
check live-leader-kill-h2-forgot test "$(vms_on h2)" = 0
check live-leader-kill-counting counting_on

# kill -9 of the sending vmx after it handed over the whole VM (before
# "go"): the receiver cannot tell that from a lost connection and waits
# ("orphaned"); the center sees the source's vmx gone, and the receiver runs
# the only copy.  The sender must be the opt build: the VM goes to h2 first.
set_knob monitor.debugTestMigrationPause "sent:20"
t=$(migrate h2); out=$(center_wait "$t")
check live-to-h2-again test "$(jget "j['state']" <<<"$out")" = success
VMID=$(task_of <<<"$out"); ON=h2
t=$(migrate h1)
check live-kill-src-reached wait_until 30 paused_at sent
src_pid=$(head -1 "$(grep -ls 'test pause at sent' "$V"/vmx*.log | head -1)" | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
kill -9 "$src_pid"
out=$(center_wait "$t")
check live-kill-src-done test "$(jget "j['state'] + ' ' + j['step']" <<<"$out")" = "success done"
VMID=$(task_of <<<"$out"); ON=h1
check live-kill-src-h1-runs test "$(hapi h1 GET "/vms/$VMID" | jget "j['powerState']")" = poweredOn
check live-kill-src-h2-forgot wait_until 10 test "$(vms_on h2)" = 0
check live-kill-src-counting counting_on
check live-kill-src-event grep -q 'destination runs the only copy' <<<"$(capi "$(leader)" GET "/events?limit=20")"
# Since the power-on after the crash on h2: one boot, no gap, through the leader's and the source's deaths.
check live-one-boot-since-power-on test "$(grep -c 'VMX3-MARKER: init' "$V/console.log")" -eq 2
since_on_ok() { awk '/VMX3-MARKER: init/ {n++; i = 0} n == 2 && /^VMX3 counter n=/ {i++; split($3, a, "="); if (a[2] != i) exit 1}' "$V/console.log"; }
check live-counter-in-order-since-power-on since_on_ok

# kill -9 of the source's hostd in the middle of a migration (the opt sender
# waits 5 s after the receiver is ready), started again: the two vmx finish
# without it, the restarted hostd sees its vmx left for the other host, and
# the center forgets the VM there.
set_knob monitor.debugTestMigrationPause "ready:5"
t=$(migrate h2); out=$(center_wait "$t")
check live-to-h2-third test "$(jget "j['state']" <<<"$out")" = success
VMID=$(task_of <<<"$out"); ON=h2
sp=$(vm_pid h2)
t=$(migrate h1)
check live-kill-hostd-reached wait_until 30 paused_at ready "$sp"
kill -9 "${HPID[h2]}"; wait "${HPID[h2]}" 2>/dev/null
start_host h2
wait_until 10 curl -sf -o /dev/null --unix-socket "${HSOCK[h2]}" http://h/api/v1
out=$(center_wait "$t")
check live-kill-hostd-done test "$(jget "j['state'] + ' ' + j['step']" <<<"$out")" = "success done"
VMID=$(task_of <<<"$out"); ON=h1
check live-kill-hostd-h1-runs test "$(hapi h1 GET "/vms/$VMID" | jget "j['powerState']")" = poweredOn
check live-kill-hostd-h2-forgot wait_until 10 test "$(vms_on h2)" = 0
check live-kill-hostd-counting counting_on

# And the destination's hostd (h2) killed while its receiving vmx waits for
# "go", started again: it watches the vmx its predecessor started and adopts
# it once it runs the guest.  The sender (opt on h2 again) waits 5 s.
t=$(migrate h2); out=$(center_wait "$t")
check live-to-h2-fourth test "$(jget "j['state']" <<<"$out")" = success
VMID=$(task_of <<<"$out"); ON=h2
sp=$(vm_pid h2)
t=$(migrate h1)
check live-kill-dst-hostd-reached wait_until 30 paused_at ready "$sp"
kill -9 "${HPID[h1]}"; wait "${HPID[h1]}" 2>/dev/null
start_host h1
wait_until 10 curl -sf -o /dev/null --unix-socket "${HSOCK[h1]}" http://h/api/v1
out=$(center_wait "$t")
check live-kill-dst-hostd-done test "$(jget "j['state'] + ' ' + j['step']" <<<"$out")" = "success done"
VMID=$(task_of <<<"$out"); ON=h1
check live-kill-dst-hostd-adopted wait_until 20 test "$(hapi h1 GET "/vms/$VMID" | jget "j['powerState']")" = poweredOn
check live-kill-dst-hostd-h2-forgot wait_until 10 test "$(vms_on h2)" = 0
check live-kill-dst-hostd-counting counting_on
set_knob monitor.debugTestMigrationPause ""

# The long kill matrix (make kill-matrix-migrate; LIVE_MATRIX=1): between h2
# and h3, which both run the opt build as default, every party is killed at
# every phase where a vmx can be held (sender: stopped, sent, ready;
# receiver: hello, restored, go), and afterwards the VM must be registered
# on exactly one host and run in at most one vmx, and in exactly one unless
# the party killed was a vmx that held the only running copy.
[ -n "${LIVE_MATRIX:-}" ] || exit $((fails > 0))
vmx_procs() { pgrep -f -- "$V/ctr.vmx" | wc -l; }
newest_pid() { head -1 "$V/vmx.log" | sed -n 's/.*pid=\([0-9]*\).*/\1/p'; }
held() { # PHASE SENDER_PID: the vmx that holds PHASE logged its pause
  case $1 in
    stopped|sent|ready) paused_at "$1" "$2" ;;
    *) local r; r=$(newest_pid); [ "$r" != "$2" ] && paused_at "$1" "$r" ;;
  esac
}
cn=0
where() { local h; for h in h2 h3; do [ "$(hapi "$h" GET /vms | jget "len(j['vms'])")" = 1 ] && echo "$h"; done; }
ensure_on() { # the VM running on h2 or h3 again, whatever the last case left
  local h id st
  h=$(where | head -1)
  [ -n "$h" ] || { hapi h1 GET /vms | grep -q ctr && h=h1; }
  id=$(hapi "$h" GET /vms | jget "j['vms'][0]['id']")
  st=$(hapi "$h" GET "/vms/$id" | jget "j['powerState']")
  [ "$st" = poweredOn ] || hapi "$h" POST "/vms/$id/power" '{"op":"on","wait":true}' >/dev/null
  if [ "$h" != h2 ] && [ "$h" != h3 ]; then
    ON=$h VMID=$id; out=$(center_wait "$(migrate h2)"); h=h2; id=$(task_of <<<"$out")
  fi
  ON=$h; VMID=$id
  counting_on
}
set_knob monitor.debugTestMigrationPause ""
ensure_on
for phase in stopped sent ready hello restored go; do
  for party in src-vmx dst-vmx src-hostd dst-hostd leader; do
    set_knob monitor.debugTestMigrationPause "$phase:8"
    # The knob is read at start: the VM goes round once so that both ends have it.
    to=$([ "$ON" = h2 ] && echo h3 || echo h2)
    out=$(center_wait "$(migrate "$to")"); VMID=$(task_of <<<"$out"); ON=$to
    to=$([ "$ON" = h2 ] && echo h3 || echo h2)
    case $phase in stopped|sent|ready) holder=$ON ;; *) holder=$to ;; esac
    hp=$(hapi "$ON" GET "/vms/$VMID" | jget "j['pid']")
    t=$(migrate "$to")
    wait_until 40 held "$phase" "$hp" || { bad "matrix-$phase-$party-reached"; fails=$((fails + 1)); }
    case $party in
      src-vmx) kill -9 "$hp" ;;
      dst-vmx) kill -9 "$(newest_pid)" ;;
      src-hostd|dst-hostd)
        h=$([ "$party" = src-hostd ] && echo "$ON" || echo "$to")
        kill -9 "${HPID[$h]}"; wait "${HPID[$h]}" 2>/dev/null; start_host "$h"
        wait_until 10 curl -sf -o /dev/null --unix-socket "${HSOCK[$h]}" http://h/api/v1 ;;
      leader)
        kill -9 "${CPID[$L]}"; wait "${CPID[$L]}" 2>/dev/null; unset "CPID[$L]"
        cn=$((cn + 1)); c=cx$cn
        CPORT[$c]=$(freeport)
        "$HOST/vmx3-center" --name "$c" --etcd "$ETCD" --port "${CPORT[$c]}" --lease-ttl 3 >"$T/$c.out" 2>&1 &
        CPID[$c]=$!; PIDS+=($!)
        wait_until 10 curl -sf -o /dev/null "http://127.0.0.1:${CPORT[$c]}/api/v1"
        L=$(leader) ;;
    esac
    out=$(center_wait "$t")
    sleep 2
    n=$(where | wc -l); np=$(vmx_procs)
    check "matrix-$phase-$party-registered-once" test "$n" = 1
    check "matrix-$phase-$party-at-most-one-vmx" test "$np" -le 1
    # Only the death of the vmx holding the only copy of the running guest
    # may leave none: the sender before its state went over (the receiver at
    # hello, the sender stopped), or the receiver once it was given the guest.
    if [ "$np" = 0 ]; then
      lost_ok=no
      [ "$party" = src-vmx ] && { [ "$phase" = stopped ] || [ "$phase" = hello ]; } && lost_ok=yes
      [ "$party" = dst-vmx ] && [ "$phase" = go ] && lost_ok=yes
      check "matrix-$phase-$party-none-only-when-expected" test $lost_ok = yes
    else
      check "matrix-$phase-$party-one-runs" counting_on
    fi
    set_knob monitor.debugTestMigrationPause ""
    ensure_on
  done
done
exit $((fails > 0))
