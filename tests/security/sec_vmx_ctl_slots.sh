#!/usr/bin/env bash
# sec_vmx_ctl_slots.sh - idle control-socket clients cannot lock the owner out:
#  - with every shared slot held by idle clients, a request from the process
#    that launched vmx (hostd's position) is answered at once (reserved slot);
#  - another client is told "too many clients" instead of hanging;
#  - idle clients, and one trickling a request a byte a second, are closed
#    after the idle timeout (5 s), and then anyone gets an answer again.
set -u
B=${B:-build}
if ! make -s B="$B" "$B/security/idle.elf" "$B/host/vmx-ctl" >/dev/null 2>&1; then
  echo "FAIL sec-ctl-build"; exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/vm"
printf 'memSize = "64"\nguest.elf = "%s"\n' "$PWD/$B/security/idle.elf" >"$tmp/vm/idle.vmx"

timeout 120 python3 - "$B/release/vmx" "$tmp/vm/idle.vmx" "$tmp/vm" "$B/host/vmx-ctl" <<'PY'
import json, os, socket, subprocess, sys, time
vmx, vmxfile, vmdir, ctl = sys.argv[1:5]
sock = os.path.join(vmdir, "vmx.ctl")
fails = 0
def result(name, ok, why=""):
    global fails
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not why else " (" + why + ")"))
    fails += 0 if ok else 1

def request(cmd, timeout=2.0):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(sock)
        s.sendall(json.dumps({"v": 1, "cmd": cmd}).encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            d = s.recv(65536)
            if not d:
                break
            buf += d
        return json.loads(buf) if buf else None
    finally:
        s.close()

# This process launches vmx, so it is the one the reserved slot is kept for.
vm = subprocess.Popen([vmx, vmxfile], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
up = False
for _ in range(200):
    try:
        up = (request("hello") or {}).get("ok") is True
        if up:
            break
    except OSError:
        pass
    time.sleep(0.05)
result("sec-ctl-vmx-up", up)
if not up:
    vm.kill(); sys.exit(1)

# A child process (not the launcher) holds 8 idle connections and 1 trickling
# one, then reports how long each took to be closed by vmx.
HOLDER = r'''
import socket, sys, time, select
path, n = sys.argv[1], int(sys.argv[2])
conns = []
for i in range(n):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(path); conns.append(s)
t0 = time.monotonic()
print("ready", flush=True)
closed = {}
trickle = conns[0]
last = 0
while len(closed) < n and time.monotonic() - t0 < 20:
    if time.monotonic() - last >= 1 and trickle not in closed:
        try: trickle.send(b"{"); last = time.monotonic()
        except OSError: closed[trickle] = time.monotonic() - t0
    r, _, _ = select.select([c for c in conns if c not in closed], [], [], 0.2)
    for c in r:
        try: d = c.recv(4096)
        except OSError: d = b""
        if not d: closed[c] = time.monotonic() - t0
print("closed %d of %d, last after %.1f s" % (len(closed), n,
      max(closed.values()) if closed else -1), flush=True)
'''
h = subprocess.Popen([sys.executable, "-c", HOLDER, sock, "8"], stdout=subprocess.PIPE, text=True)
ready = h.stdout.readline().strip() == "ready"
result("sec-ctl-holder-connected", ready)
time.sleep(0.3)
t = time.monotonic()
try:
    r = request("status", timeout=3)
except OSError as ex:
    r = {"error": str(ex)}
dt = time.monotonic() - t
result("sec-ctl-launcher-answered-while-full", bool(r and r.get("ok")) and dt < 1.0,
       "reply %r after %.2f s" % (r, dt))

p = subprocess.run([ctl, vmdir, "status"], capture_output=True, text=True, timeout=10)
result("sec-ctl-other-refused-clearly", p.returncode != 0 and "too many clients" in (p.stdout + p.stderr),
       "rc %d: %s" % (p.returncode, (p.stdout + p.stderr).strip()))

line = h.stdout.readline().strip()
h.wait()
import re
m = re.match(r"closed (\d+) of (\d+), last after ([\d.]+) s", line)
ok = bool(m) and m.group(1) == m.group(2) and float(m.group(3)) < 8.0
result("sec-ctl-idle-clients-closed", ok, line)

p = subprocess.run([ctl, vmdir, "status"], capture_output=True, text=True, timeout=10)
result("sec-ctl-answers-after-idle-closed", p.returncode == 0 and '"ok": true' in p.stdout,
       p.stdout + p.stderr)

try:
    request("poweroff")
except OSError:
    pass
try:
    rc = vm.wait(timeout=10)
except subprocess.TimeoutExpired:
    vm.kill(); rc = -1
result("sec-ctl-poweroff-exit0", rc == 0, "exit %s" % rc)
result("sec-ctl-socket-removed", not os.path.exists(sock))
sys.exit(1 if fails else 0)
PY
