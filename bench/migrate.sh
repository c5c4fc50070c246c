#!/usr/bin/env bash
# migrate.sh - live migration on loopback, vmx against QEMU's own live
# migration, side by side in one run (docs/BENCHMARKS.md, docs/MIGRATION.md).
#
# Usage: bench/migrate.sh [--guest DIR] [-m "512 2048"] [-s "idle dirty"] [-n N]
#                         [--rate MBPS] [--no-qemu] BUILD_DIR
#
# For each RAM size and guest state, a VM with 1 vCPU runs the gaps
# workload (vmx3-gaps: CLOCK_MONOTONIC in a tight loop, the longest gap each
# second); "dirty" first fills half of RAM with incompressible data and
# then keeps rewriting it at --rate MiB of pages per second (default 64:
# vmx3-dirty's rewrite loop, one word per 4 KiB page).  It is moved N
# times (default 3) from one process to another on this host:
#   vmx   release vmx -> `vmx --incoming-migration 127.0.0.1:PORT` (the
#         control command "migrate"), the same .vmx (a shared directory)
#   qemu  qemu-system-riscv64 -M virt -> the same with -incoming tcp:...,
#         QMP "migrate", same kernel, initramfs, command line and size
# Per size, state and target it prints medians (max) of:
#   total_ms     the request to the end of the migration on the source (vmx:
#                the sender heard "running", from its log; qemu:
#                query-migrate "total-time")
#   down_ms      vmx: the sender's stop to the receiver's first guest
#                instruction (the whole pause, both sides)
#   src_down_ms  the source's stop to its last byte sent: what QEMU's
#                query-migrate "downtime" measures (it leaves out the
#                destination's load and start), so this column compares
#   guest_ms     vmx only: the longest CLOCK_MONOTONIC gap the guest saw in
#                the 4 seconds after the move (max over the moves; QEMU stops
#                the guest's clock while it is paused, so its guest sees no
#                gap to measure)
#   base_ms      the same in the 2 seconds before each move: what the guest
#                sees without one (its own scheduler: in "dirty" the writer
#                and the gaps task share the one vCPU)
#   rounds       vmx: pre-copy rounds; qemu: dirty-sync-count
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST_DIR=${GUEST_DIR:-build/guest}
SIZES="512 2048"
STATES="idle dirty"
N=3
RATE=64
QEMU=1
while [ $# -gt 0 ]; do
	case "$1" in
	--guest) GUEST_DIR=$2; shift 2 ;;
	-m) SIZES=$2; shift 2 ;;
	-s) STATES=$2; shift 2 ;;
	-n) N=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--no-qemu) QEMU=0; shift ;;
	-h|--help) sed -n '2,29p' "$0"; exit 0 ;;
	*) break ;;
	esac
done
BD=$(cd "${1:?usage: bench/migrate.sh [options] BUILD_DIR}" && pwd)
G=$(cd "$GUEST_DIR" && pwd)
[ "$QEMU" = 1 ] && ! command -v qemu-system-riscv64 >/dev/null && {
	echo "migrate.sh: qemu-system-riscv64 is missing (scripts/deps.sh installs qemu-system-misc)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vmx3-migrate.XXXXXX")
trap 'pkill -9 -f -- "$work/" 2>/dev/null; rm -rf "$work"' EXIT

echo "# machine: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores," \
	"$(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), load $(cut -d' ' -f1 /proc/loadavg)"
[ "$QEMU" = 1 ] && echo "# qemu: $(qemu-system-riscv64 --version | head -n 1)"
echo "# date: $(date -u +%Y-%m-%dT%H:%MZ), moves per case=$N, dirty rate=$RATE MiB/s"

BD="$BD" G="$G" WORK="$work" SIZES="$SIZES" STATES="$STATES" N="$N" RATE="$RATE" QEMU="$QEMU" \
python3 - <<'PY'
import json, os, re, socket, statistics, subprocess, sys, time

BD, G, WORK = os.environ["BD"], os.environ["G"], os.environ["WORK"]
N, RATE, QEMU = int(os.environ["N"]), int(os.environ["RATE"]), os.environ["QEMU"] == "1"
TOKEN = "bench-migration-token-0123456789"
CTL = os.path.join(BD, "host", "vmx-ctl")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def cmdline(state):
    extra = "vmx3.run=dirtybg,gaps vmx3.dirty=50 vmx3.dirtyrate=%d" % RATE if state == "dirty" \
        else "vmx3.run=gaps"
    return "console=ttyS0 quiet panic=-1 %s vmx3.gaps=0" % extra

def wait_for(fn, secs, what):
    end = time.time() + secs
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)

def console_ready(path, state):
    def f():
        try:
            t = open(path, errors="replace").read()
        except OSError:
            return False
        return "VMX3 gaps t_s=2 " in t and (state != "dirty" or "VMX3 dirty mb=" in t)
    return f

def gap_values(path):
    lines = open(path, errors="replace").read().splitlines()
    return [int(m.group(1)) if m else None for m in (re.search(r"last_max_us=(\d+)", l) for l in lines)]

def gaps_after(path, since_line):
    """Longest per-second gap (ms) the guest reported in the 4 reports after line since_line."""
    vals = [v for v in gap_values(path)[since_line:] if v is not None]
    return max(vals[:4]) / 1000.0 if vals else float("nan")

def gaps_before(path, before_line):
    """The same over the 2 reports before the move: what the guest sees without one."""
    vals = [v for v in gap_values(path)[:before_line] if v is not None]
    return max(vals[-2:]) / 1000.0 if vals else float("nan")

def ctl(vmdir, cmd, arg=None):
    args = [CTL, vmdir, cmd] + ([json.dumps(arg)] if arg is not None else [])
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    return json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}

def vmx_case(mem, state):
    d = os.path.join(WORK, "vmx-%d-%s" % (mem, state))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "m.vmx"), "w") as f:
        f.write('memSize = "%d"\nnumvcpus = "1"\nguest.firmware = "%s/fw_dynamic.bin"\n'
                'guest.kernel = "%s/Image"\nguest.initrd = "%s/initrd.gz"\n'
                'guest.cmdline = "%s"\nserial0.fileName = "console.log"\n'
                % (mem, G, G, G, cmdline(state)))
    env = dict(os.environ, VMX_MIGRATION_TOKEN=TOKEN)
    vmx = os.path.join(BD, "release", "vmx")
    con = os.path.join(d, "console.log")
    proc = subprocess.Popen([vmx, "--quiet", os.path.join(d, "m.vmx")], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(console_ready(con, state), 600, "the guest's workload")
    res = []
    for _ in range(N):
        time.sleep(2)
        port = free_port()
        new = subprocess.Popen([vmx, "--quiet", "--incoming-migration", "127.0.0.1:%d" % port,
                                os.path.join(d, "m.vmx")], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: "waiting for the running vmx on 127.0.0.1:%d" % port in
                 open(os.path.join(d, "vmx.log")).read(), 60, "the receiver")
        nlines = len(open(con, errors="replace").read().splitlines())
        t0 = time.time()
        r = ctl(d, "migrate", {"peer": "127.0.0.1:%d" % port, "token": TOKEN})
        if not r.get("ok"):
            raise RuntimeError("migrate refused: %s" % r)
        proc.wait(timeout=600)
        total = (time.time() - t0) * 1000
        if proc.returncode != 5:
            raise RuntimeError("old vmx exited %d" % proc.returncode)
        st = wait_for(lambda: (lambda s: s if s.get("downtimeMs") else None)(
            ctl(d, "migrateStatus")), 30, "the new vmx's status")
        # The sender's own account: when the receiver ran, when its last byte left.
        done_ms = sent_ms = float("nan")
        for name in os.listdir(d):
            if not re.match(r"vmx(-\d+)?\.log$", name):
                continue
            for l in open(os.path.join(d, name), errors="replace"):
                m = re.search(r"^(\S+)Z .*runs the guest \(paused [\d.]+ ms here, the last data "
                              r"sent ([\d.]+) ms after the stop", l)
                if m:
                    t = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")) - \
                        time.timezone + float("0" + m.group(1)[19:])
                    if t >= t0 - 1:
                        done_ms, sent_ms = (t - t0) * 1000, float(m.group(2))
        time.sleep(4)
        res.append((done_ms, st["downtimeMs"], sent_ms, gaps_after(con, nlines), st["rounds"],
                    total, gaps_before(con, nlines)))
        proc = new
    ctl(d, "poweroff")
    proc.wait(timeout=60)
    return res

def qmp(path):
    # The socket file appears at bind(), a moment before QEMU listens on it.
    for _ in range(200):
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(path)
            break
        except (ConnectionRefusedError, FileNotFoundError):
            s.close()
            time.sleep(0.05)
    else:
        raise RuntimeError("qemu's QMP socket %s does not answer" % path)
    f = s.makefile("rw")
    f.readline()
    def call(cmd, args=None):
        f.write(json.dumps({"execute": cmd, **({"arguments": args} if args else {})}) + "\n")
        f.flush()
        while True:
            m = json.loads(f.readline())
            if "return" in m or "error" in m:
                return m
    call("qmp_capabilities")
    return call, s

def qemu_start(d, mem, state, incoming=None, tag="a"):
    args = ["qemu-system-riscv64", "-M", "virt", "-m", str(mem), "-smp", "1", "-nographic",
            "-monitor", "none", "-serial", "file:" + os.path.join(d, "console-%s.log" % tag),
            "-bios", G + "/fw_dynamic.bin", "-kernel", G + "/Image", "-initrd", G + "/initrd.gz",
            "-append", cmdline(state), "-qmp", "unix:%s,server=on,wait=off" % os.path.join(d, tag + ".qmp")]
    if incoming:
        args += ["-incoming", incoming]
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    wait_for(lambda: os.path.exists(os.path.join(d, tag + ".qmp")), 30, "qemu's QMP socket")
    return p

def qemu_case(mem, state):
    d = os.path.join(WORK, "qemu-%d-%s" % (mem, state))
    os.makedirs(d, exist_ok=True)
    tags = ["a", "b"]
    src = qemu_start(d, mem, state, tag="a")
    wait_for(console_ready(os.path.join(d, "console-a.log"), state), 900, "qemu's guest")
    res = []
    for i in range(N):
        time.sleep(2)
        port = free_port()
        ntag = tags[(i + 1) % 2]
        try:
            os.unlink(os.path.join(d, ntag + ".qmp"))
        except OSError:
            pass
        dst = qemu_start(d, mem, state, incoming="tcp:127.0.0.1:%d" % port, tag=ntag)
        # The destination listens once it answers QMP in state "inmigrate".
        dcall, ds = qmp(os.path.join(d, ntag + ".qmp"))
        wait_for(lambda: dcall("query-status")["return"]["status"] == "inmigrate", 30,
                 "qemu's incoming side")
        ds.close()
        call, s = qmp(os.path.join(d, tags[i % 2] + ".qmp"))
        t0 = time.time()
        r = call("migrate", {"uri": "tcp:127.0.0.1:%d" % port})
        if "error" in r:
            raise RuntimeError("qemu migrate: %s" % r)
        while True:
            q = call("query-migrate")["return"]
            if q.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.02)
        if q["status"] != "completed":
            raise RuntimeError("qemu migration %s: %s" % (q["status"], q.get("error-desc", "")))
        s.close()
        res.append((q.get("total-time", (time.time() - t0) * 1000), float("nan"),
                    q.get("downtime", float("nan")), float("nan"),
                    q.get("ram", {}).get("dirty-sync-count", 0), (time.time() - t0) * 1000,
                    float("nan")))
        src.kill(); src.wait()
        src = dst
    src.kill(); src.wait()
    return res

def show(mem, state, name, res):
    def med(i):
        v = [r[i] for r in res]
        return statistics.median(v), max(v)
    t, dn, sd, g, rd, b = med(0), med(1), med(2), med(3), med(4), med(6)
    print("%5d %-6s %-5s total_ms=%8.1f (max %8.1f) down_ms=%7.2f (max %7.2f) "
          "src_down_ms=%7.2f (max %7.2f) guest_ms=%7.2f base_ms=%7.2f rounds=%d"
          % (mem, state, name, t[0], t[1], dn[0], dn[1], sd[0], sd[1], g[1], b[1], rd[0]),
          flush=True)

for mem in [int(x) for x in os.environ["SIZES"].split()]:
    for state in os.environ["STATES"].split():
        show(mem, state, "vmx", vmx_case(mem, state))
        if QEMU:
            show(mem, state, "qemu", qemu_case(mem, state))
PY
