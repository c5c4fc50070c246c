#!/usr/bin/env bash
# hostd_login.sh - login lockout and the event log cannot be abused without a
# password: parallel guesses get no more verifications than the lock allows,
# junk names cannot evict a user's failure count, over-long names are refused
# first, argon2id runs a bounded number of times at once (hostd's peak RSS
# stays low), refused logins are coalesced into few events with a count and
# truncated names, events are pruned and paged.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

add_users
start_hostd || exit 1
SOCK="$T/state/hostd.sock"

# logins USER PASSWORD N: N logins at once (python threads); prints the statuses, sorted.
logins() {
  python3 - "$SOCK" "$1" "$2" "$3" <<'EOF'
import http.client, json, socket, sys, threading
path, user, pw, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(path)
out, go = [], threading.Event()
def one(i):
    u = user.replace("%d", str(i))
    c = C("h", timeout=120); go.wait()
    c.request("POST", "/api/v1/session", json.dumps({"username": u, "password": pw}))
    out.append(c.getresponse().status)
ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
for t in ts: t.start()
go.set()
for t in ts: t.join()
print(" ".join(str(s) for s in sorted(out)))
EOF
}
count() { tr ' ' '\n' <<<"$2" | grep -c "^$1\$"; }

# --- 30 parallel guesses: 5 verified (401), the rest refused (429) -----------------------
st30=$(logins ro wrong 30)
check parallel-guesses-5-verified test "$(count 401 "$st30")" = 5
check parallel-guesses-rest-locked test "$(count 429 "$st30")" = 25
stop_hostd TERM

# --- junk names do not evict a user's count -----------------------------------------------
start_hostd || exit 1
for i in 1 2 3 4; do api POST /session '{"username":"ro","password":"bad"}' >/dev/null; done
stj=$(logins 'junk%d' bad 80)
check junk-names-share-one-lock test "$(count 401 "$stj")" -le 5
api POST /session '{"username":"ro","password":"bad"}' >/dev/null
api POST /session "{\"username\":\"ro\",\"password\":\"$ROPW\"}" >/dev/null
check junk-names-did-not-evict test "$(st)" = 429

# --- over-long names are refused before anything else -------------------------------------
long=$(head -c 100000 /dev/zero | tr '\0' x)
out=$(api POST /session "{\"username\":\"$long\",\"password\":\"x\"}")
check long-name-400 test "$(st)" = 400
check long-name-field grep -q '"field":"username"' <<<"$out"
TOKEN=$(login root "$PW")
check long-name-no-event test "$(api GET '/events?limit=1000' "" "$TOKEN" | grep -c xxxxxxxxxxxxxxxxxxxxxxxx)" = 0
stop_hostd TERM

# --- argon2id runs a bounded number of times at once ------------------------------------------
start_hostd || exit 1
TOKEN=$(login root "$PW")
# 16 users, since one name gets at most 5 attempts in flight.
for i in $(seq 0 15); do
  api POST /users "{\"name\":\"u$i\",\"password\":\"same-pw\",\"role\":\"read-only\"}" "$TOKEN" >/dev/null
done
stp=$(logins 'u%d' same-pw 16)
check parallel-logins-all-answered test "$(count 200 "$stp")" -ge 1 -a \
  "$(( $(count 200 "$stp") + $(count 503 "$stp") ))" = 16
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$HOSTD_PID/status")
echo "# hostd peak RSS after 16 parallel logins: $((hwm / 1024)) MiB"
check parallel-logins-rss-bounded test "$hwm" -lt $((300 * 1024))

# --- refused logins: few events, with a count, names truncated ----------------------------
TOKEN=$(login root "$PW")
n0=$(api GET '/events?limit=1000' "" "$TOKEN" | jget "len(j['events'])")
name64=$(head -c 63 /dev/zero | tr '\0' n)
logins "$name64" bad 60 >/dev/null
logins "$name64" bad 60 >/dev/null
ev=$(api GET '/events?limit=1000' "" "$TOKEN")
n1=$(jget "len(j['events'])" <<<"$ev")
check refused-logins-coalesced test $((n1 - n0)) -le 2
check refused-logins-counted grep -q 'times since' <<<"$(jget "[e['message'] for e in j['events'] if e['type']=='loginRefused']" <<<"$ev")"
stop_hostd TERM

# --- events are paged ---------------------------------------------------------------------------
start_hostd || exit 1
TOKEN=$(login root "$PW")
RO=$(login ro "$ROPW")
for i in $(seq 30); do api POST /vms '{"file":"[ds1] a/a.vmx"}' "$RO" >/dev/null; done
p1=$(api GET '/events?limit=10' "" "$TOKEN")
next=$(jget "j['next']" <<<"$p1")
p2=$(api GET "/events?limit=10&before=$next" "" "$TOKEN")
check events-page-size test "$(jget "len(j['events'])" <<<"$p1")" = 10
check events-next-page test "$(jget "max(e['id'] for e in j['events'])" <<<"$p2")" -lt \
  "$(jget "min(e['id'] for e in j['events'])" <<<"$p1")"
api GET '/events?limit=abc' "" "$TOKEN" >/dev/null
check events-bad-limit-400 test "$(st)" = 400
stop_hostd TERM

# --- events are pruned by count and by age ---------------------------------------------------
echo 'hostd.eventsMaxCount = "100"' >"$T/state/hostd.conf"
start_hostd || exit 1
RO=$(login ro "$ROPW")
for i in $(seq 150); do api POST /vms '{"file":"[ds1] a/a.vmx"}' "$RO" >/dev/null; done
stop_hostd TERM
start_hostd || exit 1
TOKEN=$(login root "$PW")
check events-pruned-by-count test "$(api GET '/events?limit=1000' "" "$TOKEN" | jget "len(j['events'])")" -le 105
stop_hostd TERM
echo 'hostd.eventsMaxAge = "2s"' >"$T/state/hostd.conf"
sleep 3
start_hostd || exit 1
TOKEN=$(login root "$PW")
check events-pruned-by-age test "$(api GET '/events?limit=1000' "" "$TOKEN" | jget "len(j['events'])")" -le 3
stop_hostd TERM
rm -f "$T/state/hostd.conf"
[ "$fails" -eq 0 ]
