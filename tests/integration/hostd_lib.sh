#!/usr/bin/env bash
# hostd_lib.sh - helpers shared by hostd's test scripts (sourced; running it
# alone does nothing).  Everything stays on a Unix socket or loopback, every
# wait is bounded, and cleanup ends only the processes the test started
# (hostd by its pid, each vmx by the pid in line 1 of its log).
[[ "${BASH_SOURCE[0]}" == "$0" ]] && exit 0

B=${B:-build}
HOST="$B/host"
ok() { echo "PASS $1"; }
bad() { echo "FAIL $1${2:+ ($2)}"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }
PW=secret-admin
ROPW=secret-ro
export VMX3_PASSWORD=$PW VMX3_USER=root

# Private (0700), as a clone under /root is: hostd opens what the unprivileged
# vmx user needs (tests/security/hostd_private_tree.sh).
T=$(mktemp -d /tmp/vmx3-hostd.XXXXXX)
HOSTD_PID=

# Fake vmx binaries (tests/integration/hostd_fakevmx.py under the three names).
make_fake_vmx() { # DIR [names...]
  local dir=$1; shift
  local py; py=$(command -v /usr/bin/python3 || command -v python3)
  mkdir -p "$dir"
  local names="${*:-vmx vmx-debug vmx-stats}" m
  for m in $names; do
    { echo "#!$py"; tail -n +2 tests/integration/hostd_fakevmx.py; } >"$dir/$m"
    chmod +x "$dir/$m"
  done
}

# start_hostd [hostd options...]: state in $T/state, datastore ds1 = $T/ds1.
start_hostd() {
  mkdir -p "$T/ds1"
  "$HOST/hostd" --state "$T/state" --port 0 --datastore "ds1=$T/ds1" "$@" >>"$T/hostd.out" 2>&1 &
  HOSTD_PID=$!
  export VMX3_SERVER="unix:$T/state/hostd.sock"
  for _ in $(seq 100); do
    curl -s --max-time 1 --unix-socket "$T/state/hostd.sock" http://h/api/v1 >/dev/null 2>&1 && return 0
    kill -0 "$HOSTD_PID" 2>/dev/null || break
    sleep 0.05
  done
  echo "hostd did not start:"; cat "$T/hostd.out"; return 1
}

stop_hostd() { # [signal]
  [ -n "$HOSTD_PID" ] || return 0
  # Disowned so that bash does not announce the SIGKILL; bash still reaps it.
  [ "${1:-TERM}" = KILL ] && disown "$HOSTD_PID" 2>/dev/null
  kill "-${1:-TERM}" "$HOSTD_PID" 2>/dev/null
  for _ in $(seq 100); do kill -0 "$HOSTD_PID" 2>/dev/null || break; sleep 0.05; done
  { wait "$HOSTD_PID"; } 2>/dev/null
  HOSTD_PID=
}

add_users() {
  VMX3_PASSWORD=$PW "$HOST/hostd" --state "$T/state" useradd root admin >/dev/null 2>&1
  VMX3_PASSWORD=$ROPW "$HOST/hostd" --state "$T/state" useradd ro read-only >/dev/null 2>&1
}

# api METHOD PATH [JSON] [TOKEN]: body on stdout; `st` prints the HTTP status
# (kept in a file: callers run api in command substitutions).
api() {
  local out
  out=$(curl -s --max-time 60 --unix-socket "$T/state/hostd.sock" -X "$1" \
        ${4:+-H "Authorization: Bearer $4"} ${3:+-H 'Content-Type: application/json' -d "$3"} \
        -w '\n%{http_code}' "http://h/api/v1$2")
  printf '%s\n' "${out##*$'\n'}" >"$T/.status"
  printf '%s\n' "${out%$'\n'*}"
}
st() { cat "$T/.status"; }

login() { # USER PASSWORD -> token
  api POST /session "{\"username\":\"$1\",\"password\":\"$2\"}" | jget "j.get('token','')"
}

jget() { # EXPR: reads JSON on stdin, prints python expression over j
  python3 -c "import json,sys; j=json.load(sys.stdin); v=$1; print(v if not isinstance(v,(dict,list)) else json.dumps(v))" 2>/dev/null
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s.
wait_until() {
  local n=$(( $1 * 10 )); shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}

vmid_of() { # NAME -> id
  api GET "/vms?name=$1" "" "$TOKEN" | jget "j['vms'][0]['id']"
}

vm_field() { # VMID FIELD
  api GET "/vms/$1" "" "$TOKEN" | jget "j.get('$2')"
}

new_vm() { # NAME [extra .vmx lines]: creates $T/ds1/NAME/NAME.vmx
  local d="$T/ds1/$1"; mkdir -p "$d"
  printf 'memSize = "256"\nnumvcpus = "1"\nvmx.buildType = "default"\nfake.suspendMs = "150"\n%s' "${2:-}" >"$d/$1.vmx"
}

pid_of_log() { sed -n '1s/.*pid=\([0-9]*\).*/\1/p' "$1" 2>/dev/null; }

cleanup() {
  stop_hostd TERM
  # A sanitizer build of hostd (CC="gcc -fsanitize=...") reports here.
  if grep -q 'ERROR: AddressSanitizer\|runtime error:' "$T/hostd.out" 2>/dev/null; then
    echo "FAIL hostd-sanitizer"; grep -A20 'ERROR: AddressSanitizer\|runtime error:' "$T/hostd.out" | head -40
  fi
  local f p
  for f in "$T"/ds1/*/vmx*.log; do
    [ -e "$f" ] || continue
    p=$(pid_of_log "$f")
    [ -n "$p" ] && grep -qs "$T" "/proc/$p/cmdline" && kill -9 "$p" 2>/dev/null
  done
  [ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
