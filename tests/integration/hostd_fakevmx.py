#!/usr/bin/env python3
# hostd_fakevmx.py - a stand-in for vmx in hostd's tests, speaking the control
# protocol of docs/CONTROL.md including the checkpoint contract (suspend,
# suspendStatus, suspendCancel, shutdown) so hostd's supervision and runtime
# build-type switches can be tested before and independently of the machine.
# Installed under the names vmx, vmx-debug and vmx-stats; the name gives the
# build type.  Its "guest" is a counter written to NAME.serial every 20 ms,
# saved in the checkpoint and continued on resume.  Test knobs in the .vmx:
#   fake.suspendMs    how long saving takes (default 200)
#   fake.failSuspend  "TRUE": suspend fails, the VM keeps running
#   fake.panicAfterMs exit 70 with a crash report after that many ms
#   fake.ignorePoweroff "TRUE": ignore poweroff/shutdown (tests SIGKILL)
import json, os, re, socket, sys, threading, time, select

NAMES = {"vmx": "release", "vmx-debug": "beta", "vmx-stats": "stats"}
if "--incoming-handover" in sys.argv:
    # No hand-over here: hostd must fall back to suspend/resume.
    sys.stderr.write("fake vmx: --incoming-handover is not supported\n")
    sys.exit(2)
if any(a.startswith("--incoming-migration") for a in sys.argv):
    # No live migration either: the destination's hostd forgets the VM again.
    sys.stderr.write("fake vmx: --incoming-migration is not supported\n")
    sys.exit(2)
# hostd executes the binary it opened (fexecve): a script then runs as
# /dev/fd/N, a link to its real name.
me = os.readlink(sys.argv[0]) if sys.argv[0].startswith("/dev/fd/") else sys.argv[0]
bt = NAMES.get(os.path.basename(me), "release")
# As vmx does: with --vm-dir-fd the VM directory (and with --pass-fd N:PATH
# each absolute file) is reached through the descriptor hostd opened, since
# the unprivileged user may be unable to search the directories above.
passed = {}
vmdir_fd = None
for i, a in enumerate(sys.argv[:-1]):
    if a == "--vm-dir-fd":
        vmdir_fd = int(sys.argv[i + 1])
    elif a == "--pass-fd":
        n, _, path = sys.argv[i + 1].partition(":")
        passed[path] = "/proc/self/fd/%d" % int(n)
if vmdir_fd is not None:
    vmdir = "/proc/self/fd/%d" % vmdir_fd
    vmx = os.path.join(vmdir, os.path.basename(sys.argv[-1]))
else:
    vmx = os.path.abspath(sys.argv[-1])
    vmdir = os.path.dirname(vmx)
name = os.path.basename(vmx)[:-4]


def read_cfg():
    d = {}
    for line in open(vmx):
        m = re.match(r'\s*([A-Za-z0-9._-]+)\s*=\s*"(.*)"', line)
        if m:
            d[m.group(1).lower()] = m.group(2)
    return d


def set_key(key, value):
    lines = open(vmx).read().splitlines(keepends=True)
    out, done = [], False
    for line in lines:
        m = re.match(r'\s*([A-Za-z0-9._-]+)\s*=', line)
        if m and m.group(1).lower() == key.lower():
            if value is not None:
                out.append('%s = "%s"\n' % (key, value))
            done = True
        else:
            out.append(line)
    if not done and value is not None:
        out.append('%s = "%s"\n' % (key, value))
    tmp = vmx + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write("".join(out))
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, vmx)


cfg = read_cfg()
# Like vmx, read the guest files the .vmx names, as the user hostd runs it as.
for k in ("guest.firmware", "guest.kernel", "guest.initrd"):
    if cfg.get(k):
        path = cfg[k] if cfg[k].startswith("/") else os.path.join(vmdir, cfg[k])
        with open(passed.get(path, path), "rb") as f:
            f.read(1)
# Log rotation and line 1, as vmx does.
log = os.path.join(vmdir, "vmx.log")
for i in range(5, -1, -1):
    src = os.path.join(vmdir, "vmx-%d.log" % i)
    if os.path.exists(src):
        os.rename(src, os.path.join(vmdir, "vmx-%d.log" % (i + 1)))
if os.path.exists(log):
    os.rename(log, os.path.join(vmdir, "vmx-0.log"))
# Appending, as vmx does: hostd adds its own notes to the same file.
logf = os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o640), "w", buffering=1)
logf.write("Log for vmx3 pid=%d version=0.fake build=fake buildType=%s hostKernel=%s\n"
           % (os.getpid(), bt, os.uname().release))
if bt == "stats":
    os.makedirs(os.path.join(vmdir, "stats"), exist_ok=True)

state = {"power": "starting", "counter": 0, "susp": None, "written": 0, "err": ""}
lock = threading.Lock()
cp = cfg.get("checkpoint.vmstate")
if cp:
    cpath = os.path.join(vmdir, cp)
    try:
        state["counter"] = json.load(open(cpath))["counter"]
    except Exception as e:
        logf.write("resume failed: %s\n" % e)
        sys.exit(1)
    time.sleep(0.05)  # "loading"
state["power"] = "poweredOn"
start = time.time()
serial = open(os.path.join(vmdir, name + ".serial"), "a", buffering=1)
exit_code = [None]


def guest():
    first = True
    while exit_code[0] is None:
        with lock:
            if state["susp"] in (None, "failed", "cancelled"):
                state["counter"] += 1
                serial.write("tick %d %s\n" % (state["counter"], bt))
        if first and cp:
            set_key("checkpoint.vmState", None)
            try:
                os.unlink(os.path.join(vmdir, cp))
            except FileNotFoundError:
                pass
            first = False
        pa = cfg.get("fake.panicafterms")
        if pa and (time.time() - start) * 1000 > int(pa):
            open(os.path.join(vmdir, "vmx-crash-%d.txt" % os.getpid()), "w").write("fake panic\n")
            exit_code[0] = 70
        time.sleep(0.02)


def suspender():
    total = 1 << 20
    ms = int(cfg.get("fake.suspendms", "200"))
    steps = 10
    for i in range(steps):
        time.sleep(ms / 1000.0 / steps)
        with lock:
            if state["susp"] == "cancelled":
                return
            state["written"] = total * (i + 1) // steps
    if cfg.get("fake.failsuspend", "").upper() == "TRUE":
        with lock:
            state["susp"] = "failed"
            state["err"] = "disk full (fake)"
        return
    out = os.path.join(vmdir, name + ".vmss")
    with open(out + ".tmp", "w") as f:
        json.dump({"counter": state["counter"]}, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(out + ".tmp", out)
    set_key("checkpoint.vmState", name + ".vmss")
    with lock:
        state["susp"] = "done"
    time.sleep(0.1)
    exit_code[0] = 3


def handle(req):
    cmd = req.get("cmd")
    if req.get("v") != 1:
        return {"ok": False, "error": "unsupported protocol version"}
    if cmd == "hello":
        return {"ok": True, "product": "vmx3", "version": "0.fake", "build": "fake",
                "buildType": bt, "pid": os.getpid()}
    if cmd == "status":
        return {"ok": True, "powerState": state["power"], "pid": os.getpid(), "buildType": bt,
                "counter": state["counter"]}
    if cmd in ("poweroff", "shutdown"):
        if cfg.get("fake.ignorepoweroff", "").upper() == "TRUE":
            return {"ok": True}
        exit_code[0] = 0
        return {"ok": True}
    if cmd == "suspend":
        with lock:
            if state["susp"] == "running":
                return {"ok": False, "error": "suspend already running"}
            state["susp"] = "running"
            state["written"] = 0
        threading.Thread(target=suspender, daemon=True).start()
        return {"ok": True}
    if cmd == "suspendStatus":
        with lock:
            return {"ok": True, "state": state["susp"] or "none", "bytesWritten": state["written"],
                    "bytesTotal": 1 << 20, "error": state["err"]}
    if cmd == "suspendCancel":
        with lock:
            state["susp"] = "cancelled"
        return {"ok": True}
    return {"ok": False, "error": "unknown command '%s'" % cmd}


sockpath = os.path.join(vmdir, "vmx.ctl")
try:
    os.unlink(sockpath)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sockpath)
srv.listen(8)
threading.Thread(target=guest, daemon=True).start()
clients = {}
while exit_code[0] is None:
    r, _, _ = select.select([srv] + list(clients), [], [], 0.02)
    for s in r:
        if s is srv:
            c, _ = srv.accept()
            clients[c] = b""
            continue
        # A client that dies mid-request (hostd killed) must not end the VM,
        # just as the real vmx sends with MSG_NOSIGNAL and drops the client.
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            s.close()
            del clients[s]
            continue
        clients[s] += data
        while b"\n" in clients[s]:
            line, clients[s] = clients[s].split(b"\n", 1)
            try:
                rep = handle(json.loads(line))
            except Exception as e:
                rep = {"ok": False, "error": str(e)}
            rep["v"] = 1
            try:
                s.sendall((json.dumps(rep) + "\n").encode())
            except OSError:
                break
os.unlink(sockpath)
logf.write("vm stopped: result 0, exit status %d\n" % exit_code[0])
sys.exit(exit_code[0])
