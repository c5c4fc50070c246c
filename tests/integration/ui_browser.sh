#!/usr/bin/env bash
# ui_browser.sh - the web interface (docs/UI.md) against a real hostd with
# real vmx binaries:
#  - what hostd serves: /ui/ files with a Content-Security-Policy that allows
#    no inline script or style and no framing, / redirecting to /ui/, 304 for
#    a repeated GET with the ETag, the routes the interface adds (session,
#    log, profile, series) with their errors;
#  - headless Chromium driven by Selenium (tests/integration/ui_browser.py):
#    log in, power on, switch the running VM to stats and watch the task's
#    phases reach done, the stats page (kstats chart and table, locks), rates
#    over time, the flame graph (the guest's known 3/4-1/4 split, root-at,
#    bottom-up, search), a hostile VM name rendered as text, log out, and a
#    read-only user who sees no buttons; any JavaScript console error fails.
#  - no session token in any URL or log.
# Screenshots of each page: $B/ui-screenshots/*.png.
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

if ! make -s B="$B" "$B/security/idle.elf" "$B/callstack/cs-shares-long.elf" "$B/host/hostd" \
     "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats" >/dev/null 2>&1; then
  bad ui-build; exit 1
fi
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
for need in chromium chromedriver; do
  command -v "$need" >/dev/null || { bad "ui-$need" "$need not installed (scripts/deps.sh installs it)"; exit 1; }
done
"$PY" -c 'import selenium' 2>/dev/null || { bad ui-selenium "python3-selenium not installed (scripts/deps.sh)"; exit 1; }

mkdir -p "$T/bin" "$T/img"
for f in "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats"; do cp "$f" "$T/bin/"; done
cp "$B/security/idle.elf" "$T/img/idle.elf"
cp "$B/callstack/cs-shares-long.elf" "$T/img/shares.elf"
chmod -R a+rX "$T/bin" "$T/img"

PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
add_users
start_hostd --vmx-dir "$T/bin" --images "$T/img" --port "$PORT" || exit 1
URL="http://127.0.0.1:$PORT"
TOKEN=$(login root "$PW")
RO=$(login ro "$ROPW")

mkvm() { # NAME ELF [display name]
  local d="$T/ds1/$1"; mkdir -p "$d"
  printf 'memSize = "64"\nguest.elf = "%s"\nvmx.buildType = "default"\nustats.interval = "500000"\n' \
    "$T/img/$2" >"$d/$1.vmx"
  api POST /vms "{\"file\":\"[ds1] $1/$1.vmx\"${3:+,\"name\":$3}}" "$TOKEN" | jget "j['id']"
}
WEB=$(mkvm web shares.elf)
HOSTILE='<img src=x onerror=alert(1)>'
EVIL=$(mkvm evil idle.elf "$("$PY" -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$HOSTILE")")
check ui-vms-registered test -n "$WEB" -a -n "$EVIL"

# --- what hostd serves --------------------------------------------------------------
hdr=$(curl -s -D - -o "$T/index.html" "$URL/ui/")
check ui-index-200 grep -q '^HTTP/1.1 200' <<<"$hdr"
check ui-index-html grep -qi '^Content-Type: text/html' <<<"$hdr"
csp=$(sed -n 's/^Content-Security-Policy: //Ip' <<<"$hdr" | tr -d '\r')
check ui-csp-script-self grep -q "script-src 'self'" <<<"$csp"
check ui-csp-frame-ancestors grep -q "frame-ancestors 'none'" <<<"$csp"
check ui-csp-no-unsafe test -z "$(grep -o "unsafe-[a-z]*" <<<"$csp")"
check ui-no-inline-script test -z "$(grep -io '<script[^>]*>' "$T/index.html" | grep -v 'src=')"
check ui-nosniff grep -qi '^X-Content-Type-Options: nosniff' <<<"$hdr"
check ui-root-redirects grep -q '^Location: /ui/' <<<"$(curl -s -D - -o /dev/null "$URL/")"
check ui-js-type grep -qi '^Content-Type: text/javascript' <<<"$(curl -s -D - -o /dev/null "$URL/ui/app.js")"
check ui-missing-404 test "$(curl -s -o /dev/null -w '%{http_code}' "$URL/ui/nope.js")" = 404
check ui-post-405 test "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/ui/app.js")" = 405
etag=$(curl -s -D - -o /dev/null "$URL/ui/app.js" | sed -n 's/^ETag: //Ip' | tr -d '\r')
check ui-asset-304 test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/ui/app.js")" = 304

# Conditional GETs of the API: the same body gives 304, a change gives 200.
etag=$(curl -s -D - -o /dev/null -H "Authorization: Bearer $TOKEN" "$URL/api/v1/vms/$EVIL" | sed -n 's/^ETag: //Ip' | tr -d '\r')
check api-etag test -n "$etag"
check api-304 test "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" -H "If-None-Match: $etag" "$URL/api/v1/vms/$EVIL")" = 304
check api-304-needs-session test "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/api/v1/vms/$EVIL")" = 401
out=$(api GET /session "" "$RO")
check api-session-role test "$(jget "j['user'] + '/' + j['role']" <<<"$out")" = ro/read-only
out=$(api GET "/vms/$EVIL/log" "" "$TOKEN")
check api-log-before-power-on test "$(st) $(jget "len(j['lines'])" <<<"$out")" = "200 0"
out=$(api GET "/vms/$EVIL/log?lines=0" "" "$TOKEN")
check api-log-bad-lines test "$(st) $(jget "j['error']['field']" <<<"$out")" = "400 lines"
out=$(api GET "/vms/$EVIL/profile" "" "$TOKEN")
check api-profile-none-empty test "$(st) $(jget "len(j['stacks'])" <<<"$out")" = "200 0"
check api-profile-none-says-why grep -q 'no callstack profile yet' <<<"$out"
out=$(api GET "/vms/$EVIL/series" "" "$TOKEN")
check api-series-none-empty test "$(st) $(jget "len(j['t'])" <<<"$out") $(jget "'ustats' in j['pending']" <<<"$out")" = "200 0 True"
out=$(api GET "/vms/$EVIL/profile?vcpu=x" "" "$TOKEN")
check api-profile-bad-vcpu test "$(st) $(jget "j['error']['field']" <<<"$out")" = "400 vcpu"
out=$(api GET "/vms/$EVIL/series?last=soon" "" "$TOKEN")
check api-series-bad-last test "$(st) $(jget "j['error']['field']" <<<"$out")" = "400 last"
out=$(api GET "/vms/999/log" "" "$TOKEN")
check api-log-no-vm test "$(st)" = 404

# --- the browser --------------------------------------------------------------------
SHOTS="$B/ui-screenshots"
rm -rf "$SHOTS"; mkdir -p "$SHOTS"
"$PY" tests/integration/ui_browser.py --url "$URL" --admin "root:$PW" --ro "ro:$ROPW" \
  --vm web --hostile "$HOSTILE" --shots "$SHOTS" --tokens "$T/tokens" >"$T/browser.out" 2>&1
rc=$?
cat "$T/browser.out"
grep -q '^FAIL' "$T/browser.out" && fails=$((fails + 1))
[ $rc -ne 0 ] && ! grep -q '^FAIL' "$T/browser.out" && { bad ui-browser "exit $rc"; fails=$((fails + 1)); }
# The profile route's stacks: guest stacks leave out the monitor's constant
# tail (main > vm_run > vm_loop > hart_run) unless monitorTail=1 asks for it.
tail_of() { # QUERY -> "guest-stacks stacks-with-hart_run-above-guest"
  api GET "/vms/$WEB/profile$1" "" "$TOKEN" | jget "(lambda L: '%d %d' % (sum(1 for c,v,f in j['stacks'] if any(L[x].startswith('guest:') for x in f)), sum(1 for c,v,f in j['stacks'] if any(L[x].startswith('guest:') for x in f) and any(L[x] == 'mon:hart_run' for x in f))))(j['labels'])"
}
read -r g0 m0 <<<"$(tail_of "")"
read -r g1 m1 <<<"$(tail_of "?monitorTail=1")"
check api-profile-tail-collapsed test "${g0:-0}" -gt 0 -a "${m0:-1}" = 0
check api-profile-tail-shown test "${g1:-0}" -gt 0 -a "${m1:-0}" -gt 0
out=$(api GET "/vms/$WEB/series?last=5s" "" "$TOKEN")
check api-series-window test "$(jget "len(j['t']) > 0 and j['t'][0] >= j['fromSeconds'] - 0.6 and all(len(k['samples']) == len(j['t']) for k in j['kstats'])" <<<"$out")" = True
out=$(api GET "/vms/$WEB/log?lines=3" "" "$TOKEN")
check api-log-tail test "$(jget "len(j['lines'])" <<<"$out")" = 3

for p in login vms switch stats time profile overview readonly; do
  check "ui-screenshot-$p" test -s "$SHOTS/$p.png"
done

# No session token in hostd's output or in any vmx.log (the interface sends it
# only in the Authorization header).
leaked=0
if [ -s "$T/tokens" ]; then
  while read -r tok; do
    [ -n "$tok" ] || continue
    grep -rqsF "$tok" "$T/hostd.out" "$T"/ds1/*/vmx*.log && leaked=1
  done <"$T/tokens"
  check ui-token-not-logged test $leaked = 0
else
  bad ui-token-not-logged "the browser test recorded no token"; fails=$((fails + 1))
fi
api POST "/vms/$WEB/power" '{"op":"hardOff","wait":true}' "$TOKEN" >/dev/null
exit $((fails > 0))
