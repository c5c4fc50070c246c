#!/usr/bin/env bash
# hostd_listen.sh - the TCP API stays usable under a slow-connection flood:
# per-address connection limit, short idle timeout, enough connections in all;
# request headers that are too large get the documented JSON error; TLS below
# 1.2 is refused; plain HTTP on a non-loopback address needs an explicit
# setting.  Floods come from python3 sockets sending partial headers; the
# "other client" is curl with a one-second deadline.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

PORT=$(( 20000 + RANDOM % 20000 ))
add_users

# flood SRC N HOLD: N connections from SRC sending half a request; prints how
# many the server still holds open after HOLD seconds (closed ones read EOF).
flood() {
  python3 - "$1" "$PORT" "$2" "$3" <<'EOF' &
import socket, sys, time
src, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
socks = []
for _ in range(n):
    s = socket.socket()
    try:
        s.bind((src, 0)); s.connect(("127.0.0.1", port))
        s.sendall(b"GET /api/v1 HTTP/1.1\r\nHost: h\r\nX-Slow: ")
        socks.append(s)
    except OSError:
        s.close()
time.sleep(hold)
held = 0
for s in socks:
    s.setblocking(False)
    try:
        held += 0 if s.recv(1) == b"" else 1
    except BlockingIOError:
        held += 1
    except OSError:
        pass
print(held, flush=True)
time.sleep(30)
EOF
}
answered_within_1s() { # [curl options]: GET /api/v1 answered 200 within a second
  [ "$(curl -s -o /dev/null --max-time 1 "$@" -w '%{http_code}' "http://127.0.0.1:$PORT/api/v1")" = 200 ]
}
start_tcp() { # [hostd options]
  start_hostd --port "$PORT" "$@" || exit 1
  wait_until 5 answered_within_1s
}

# --- a flood from one address is capped; other addresses still get answers ----------
start_tcp --per-ip-limit 8
flood 127.0.0.2 70 1 >"$T/held1"; fp=$!
sleep 0.5
check flood-other-address-answered answered_within_1s
wait_until 5 test -s "$T/held1"
check flood-per-address-capped test "$(cat "$T/held1")" -le 8
kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null
stop_hostd TERM

# --- a flood from the client's own address with a high per-address limit ------------
start_tcp --per-ip-limit 200
flood 127.0.0.1 70 1 >"$T/held2"; fp=$!
sleep 0.5
check flood-same-address-answered answered_within_1s
wait_until 5 test -s "$T/held2"
check flood-70-connections-held test "$(cat "$T/held2")" -ge 70
kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null
stop_hostd TERM

# --- idle connections are dropped after hostd.connectionTimeout -------------------------
mkdir -p "$T/state"
echo 'hostd.connectionTimeout = "2s"' >"$T/state/hostd.conf"
start_tcp
flood 127.0.0.1 5 4 >"$T/held3"; fp=$!
wait_until 8 test -s "$T/held3"
check idle-connections-dropped test "$(cat "$T/held3")" = 0
kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null
rm -f "$T/state/hostd.conf"

# --- too large request headers: JSON 431 -------------------------------------------------
big=$(head -c 60000 /dev/zero | tr '\0' a)
out=$(curl -s --max-time 5 -H "X-Big: $big" -w '\n%{http_code} %{content_type}' "http://127.0.0.1:$PORT/api/v1")
check headers-431-status grep -q '^431 application/json' <<<"${out##*$'\n'}"
check headers-431-json grep -q '"code":"tooLarge"' <<<"$out"
python3 - "$PORT" >"$T/431" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
s.sendall(b"GET /api/v1 HTTP/1.1\r\nHost: h\r\nX-Big: " + b"a" * 400000 + b"\r\n\r\n")
d = b""
try:
    while b"\r\n\r\n" not in d or len(d.split(b"\r\n\r\n", 1)[1]) < 20:
        c = s.recv(65536)
        if not c: break
        d += c
except OSError:
    pass
sys.stdout.write(d.decode("latin1"))
EOF
check headers-400k-431-json grep -q '"code":"tooLarge"' "$T/431"
stop_hostd TERM

# --- plain HTTP on a non-loopback address needs --allow-plain-http ---------------------
"$HOST/hostd" --state "$T/state" --port "$PORT" --listen 0.0.0.0 --datastore "ds1=$T/ds1" >"$T/plain.out" 2>&1 &
pp=$!
for _ in $(seq 50); do kill -0 "$pp" 2>/dev/null || break; sleep 0.1; done
check plain-http-nonloopback-refused test "$(kill -0 "$pp" 2>/dev/null && echo running)" = ""
kill "$pp" 2>/dev/null; wait "$pp" 2>/dev/null
check plain-http-refusal-says grep -q 'allowPlainHttp' "$T/plain.out"
start_hostd --port "$PORT" --listen 0.0.0.0 --allow-plain-http || exit 1
check plain-http-allowed-answers wait_until 5 answered_within_1s
check plain-http-allowed-warns grep -q 'clear text' "$T/state/hostd.log"
stop_hostd TERM

# --- TLS 1.2 or later only ---------------------------------------------------------------
if openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
     -keyout "$T/key.pem" -out "$T/cert.pem" >/dev/null 2>&1; then
  printf 'hostd.tlsCert = "%s"\nhostd.tlsKey = "%s"\n' "$T/cert.pem" "$T/key.pem" >"$T/state/hostd.conf"
  start_hostd --port "$PORT" || exit 1
  up() { curl -sk --max-time 1 -o /dev/null "https://127.0.0.1:$PORT/api/v1"; }
  wait_until 5 up
  tls() { # VERSION-OPTION: 0 when the handshake succeeds
    openssl s_client -connect "127.0.0.1:$PORT" "$1" -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >"$T/tls.out" 2>&1 &&
      grep -q 'Protocol *: TLSv1' "$T/tls.out"
  }
  check tls12-accepted tls -tls1_2
  check tls11-refused eval '! tls -tls1_1'
  check tls10-refused eval '! tls -tls1'
  stop_hostd TERM
  rm -f "$T/state/hostd.conf"
else
  echo "SKIP tls-versions (openssl cannot make a certificate)"
fi
[ "$fails" -eq 0 ]
