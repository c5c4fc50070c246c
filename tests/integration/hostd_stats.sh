#!/usr/bin/env bash
# hostd_stats.sh - hostd serves the stats of running VMs (docs/API.md):
#  - real vmx binaries and a bare-metal guest (tests/security/guest/idle.c, no
#    Linux boot): two VMs on vmx-stats, one on the default build;
#  - GET /api/v1/vms/{id}/stats as JSON and as Prometheus text (?format=prom,
#    Accept: text/plain), 409 for a VM without stats or not running, 400 for a
#    bad format, readable by the read-only role, 401 without a session;
#  - the Prometheus text of vmx-getstats --prom (the ustats file), vmx-ctl
#    (the control socket), hostd's per-VM route and hostd's /metrics, parsed by
#    python3-prometheus-client: the same families (HELP, TYPE), the same label
#    names, and each later source holds every series of the earlier ones
#    (counters only grow), apart from the vm label /metrics adds;
#  - /metrics: every running stats VM with its vm label, HELP/TYPE once per
#    family, hostd's VM gauges, task counter and switch-downtime histogram
#    (after a live switch of the default VM to stats);
#  - vmx3-cmd stats by name and id, --prom and --json.
cd "$(dirname "$0")/../.."
. tests/integration/hostd_lib.sh
fails=0
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fails=$((fails + 1)); fi; }

if ! make -s B="$B" "$B/security/idle.elf" "$B/security/spin.elf" "$B/host/vmx-getstats" "$B/host/vmx-ctl" "$B/host/hostd" \
     "$B/host/vmx3-cmd" "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats" >/dev/null 2>&1; then
  bad hostd-stats-build; exit 1
fi
# The Debian package's module: /usr/bin/python3 even when another python3 comes first in PATH.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
if ! "$PY" -c 'import prometheus_client' 2>/dev/null; then
  bad hostd-stats-prom-parser "python3-prometheus-client missing (scripts/deps.sh)"; exit 1
fi

# Binaries and the guest copied where the unprivileged vmx user can read them.
mkdir -p "$T/bin" "$T/img"
for f in "$B/release/vmx" "$B/beta/vmx-debug" "$B/stats/vmx-stats"; do cp "$f" "$T/bin/"; done
cp "$B/security/idle.elf" "$T/img/idle.elf"
# s1 keeps its vCPU busy: kstat samples come from a running vCPU, and
# idle.elf's start is over in milliseconds under the translator.
cp "$B/security/spin.elf" "$T/img/spin.elf"
chmod -R a+rX "$T/bin" "$T/img"

add_users
start_hostd --vmx-dir "$T/bin" --images "$T/img" || exit 1
TOKEN=$(login root "$PW")
RO=$(login ro "$ROPW")

mkvm() { # NAME BUILDTYPE [ELF]
  local d="$T/ds1/$1"; mkdir -p "$d"
  printf 'memSize = "64"\nguest.elf = "%s"\nvmx.buildType = "%s"\nustats.interval = "100000"\n' \
    "$T/img/${3:-idle.elf}" "$2" >"$d/$1.vmx"
  api POST /vms "{\"file\":\"[ds1] $1/$1.vmx\"}" "$TOKEN" | jget "j['id']"
}
S1=$(mkvm s1 stats spin.elf); S2=$(mkvm s2 stats); D1=$(mkvm d1 default); O1=$(mkvm o1 stats)
for v in "$S1" "$S2" "$D1"; do
  out=$(api POST "/vms/$v/power" '{"op":"on","wait":true}' "$TOKEN")
  check "power-on-$(vm_field "$v" name)" test "$(jget "j['state']" <<<"$out")" = success
done

# --- the per-VM route ---------------------------------------------------------------
out=$(api GET "/vms/$S1/stats" "" "$TOKEN")
check vm-stats-json-200 test "$(st)" = 200
check vm-stats-json-counters test "$(jget "len(j['counters']) > 0 and j['name'] == 's1' and j['buildType'] == 'stats'" <<<"$out")" = True
check vm-stats-json-kstats test "$(jget "any(k['name'] == 'GUEST' and k['invocations'] > 0 for k in j['kstats']) and j['hz'] > 0" <<<"$out")" = True
# Lock statistics: locks with acquisitions, the collector's condition variable
# among the waitables (a wait for a signal, never contention), not among the locks.
check vm-stats-json-locks test "$(jget "len(j['locks']) > 0 and all('contended' in l and 'holdTotalNs' in l for l in j['locks']) and sum(l['acquisitions'] for l in j['locks']) > 0" <<<"$out")" = True
check vm-stats-json-cond-is-waitable test "$(jget "any(w['name'] == 'callstackCollectorWake' and w['kind'] == 'cond' for w in j['waitables']) and not any(l['name'] == 'callstackCollectorWake' for l in j['locks'])" <<<"$out")" = True
check vm-stats-json-no-envelope test "$(jget "'ok' in j or 'v' in j" <<<"$out")" = False

sock=$T/state/hostd.sock
hdr=$(curl -s --max-time 30 --unix-socket "$sock" -H "Authorization: Bearer $TOKEN" -D - -o "$T/vm.prom" \
      "http://h/api/v1/vms/$S1/stats?format=prom")
check vm-stats-prom-200 grep -q '^HTTP/1.1 200' <<<"$hdr"
check vm-stats-prom-ctype grep -qi '^Content-Type: text/plain; version=0.0.4' <<<"$hdr"
check vm-stats-prom-body grep -q '^vmx_kstat_invocations_total{kstat="GUEST",vcpu="0"} [1-9]' "$T/vm.prom"
curl -s --max-time 30 --unix-socket "$sock" -H "Authorization: Bearer $TOKEN" -H 'Accept: text/plain' \
  -o "$T/vm-accept.prom" "http://h/api/v1/vms/$S1/stats"
check vm-stats-accept-text-plain grep -q '^# TYPE vmx_counter_total counter' "$T/vm-accept.prom"
out=$(curl -s --max-time 30 --unix-socket "$sock" -H "Authorization: Bearer $TOKEN" \
      -H 'Accept: application/json, text/plain' "http://h/api/v1/vms/$S1/stats")
check vm-stats-accept-json-first test "$(jget "j['name']" <<<"$out")" = s1
check index-lists-metrics test "$(api GET "" | jget "any(r['path'] == '/metrics' and r['role'] == 'read-only' for r in j['routes'])")" = True

out=$(api GET "/vms/$D1/stats" "" "$TOKEN")
check vm-stats-default-build-409 test "$(st)" = 409
check vm-stats-default-build-msg test "$(jget "j['error']['code'] == 'conflict' and 'default build' in j['error']['message'] and j['error']['field'] == 'vm'" <<<"$out")" = True
out=$(api GET "/vms/$O1/stats" "" "$TOKEN")
check vm-stats-off-409 test "$(st)" = 409
check vm-stats-off-msg grep -q 'poweredOff' <<<"$out"
out=$(api GET "/vms/$S1/stats?format=xml" "" "$TOKEN")
check vm-stats-bad-format-400 test "$(st)" = 400
check vm-stats-bad-format-field test "$(jget "j['error']['field']" <<<"$out")" = format
api GET "/vms/999/stats" "" "$TOKEN" >/dev/null
check vm-stats-unknown-404 test "$(st)" = 404
api GET "/vms/$S1/stats" "" "$RO" >/dev/null
check vm-stats-readonly-200 test "$(st)" = 200
api GET "/vms/$S1/stats" >/dev/null
check vm-stats-unauthenticated-401 test "$(st)" = 401

metrics() { # [TOKEN] -> body; status in $T/.mstatus
  curl -s --max-time 60 --unix-socket "$sock" ${1:+-H "Authorization: Bearer $1"} \
    -w '\n%{http_code}' http://h/metrics >"$T/.m"
  tail -1 "$T/.m" >"$T/.mstatus"; sed '$d' "$T/.m"
}
metrics >/dev/null
check metrics-unauthenticated-401 test "$(cat "$T/.mstatus")" = 401
metrics "$RO" >/dev/null
check metrics-readonly-200 test "$(cat "$T/.mstatus")" = 200

# --- one schema: file, control socket, per-VM route, /metrics ------------------------
# The ustats file must hold a record with kstat samples (written every 100 ms).
has_samples() { "$HOST/vmx-getstats" --prom "$T/ds1/s1/stats" 2>/dev/null | grep -q '^vmx_kstat_samples_total{'; }
check file-has-samples wait_until 20 has_samples
# In this order, so that each later snapshot is at least as new as the one before.
"$HOST/vmx-getstats" --prom "$T/ds1/s1/stats" >"$T/p-file.prom" 2>"$T/p-file.err"
"$HOST/vmx-ctl" "$T/ds1/s1" stats '{"format":"prometheus"}' | jget "j['text']" >"$T/p-ctl.prom"
api GET "/vms/$S1/stats?format=prom" "" "$TOKEN" >"$T/p-vm.prom"
metrics "$TOKEN" >"$T/p-metrics.prom"
check metrics-200 test "$(cat "$T/.mstatus")" = 200

"$PY" - "$T" <<'PY'
import sys
from prometheus_client.parser import text_string_to_metric_families as parse
T = sys.argv[1]
fails = 0
def result(name, ok, why=""):
    global fails
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not why else " (" + why + ")"))
    fails += 0 if ok else 1

def load(name, vm=None):
    """families {name: (type, help)}, series {(sample, labels)}, label names {sample: set}."""
    fams, series, lnames = {}, set(), {}
    for f in parse(open(f"{T}/{name}").read()):
        keep = []
        for s in f.samples:
            labels = dict(s.labels)
            if vm is not None:
                if labels.get("vm") != vm:
                    continue
                del labels["vm"]
            keep.append((s.name, tuple(sorted(labels.items()))))
        if vm is not None and not f.name.startswith("vmx_"):
            continue
        fams[f.name] = (f.type, f.documentation)
        for k in keep:
            series.add(k)
            lnames.setdefault(k[0], set()).add(tuple(sorted(l for l, _ in k[1])))
    return fams, series, lnames

try:
    src = [("file", load("p-file.prom")), ("ctl", load("p-ctl.prom")),
           ("vm-route", load("p-vm.prom")), ("metrics", load("p-metrics.prom", vm="s1"))]
    result("prom-all-sources-parse", True)
except Exception as e:
    result("prom-all-sources-parse", False, repr(e))
    sys.exit(1)

want = {"vmx_counter", "vmx_kstat_invocations", "vmx_kstat_samples", "vmx_lock_acquisitions"}
for n, (fams, series, _) in src:
    result(f"prom-{n}-families", set(fams) == want, f"{sorted(fams)}")
    result(f"prom-{n}-has-series", len(series) >= 5 and
           any(s[0] == "vmx_lock_acquisitions_total" for s in series), f"{len(series)} series")
base_n, (base_f, base_s, base_l) = src[0]
prev_n, prev_s = base_n, base_s
for n, (fams, series, lnames) in src[1:]:
    result(f"prom-{n}-help-type-as-file", fams == base_f,
           f"{ {k: v for k, v in fams.items() if base_f.get(k) != v} }")
    result(f"prom-{n}-label-names-as-file", lnames == base_l, f"{lnames} vs {base_l}")
    missing = prev_s - series
    result(f"prom-{n}-holds-{prev_n}-series", not missing, f"missing {sorted(missing)[:5]}")
    prev_n, prev_s = n, series

# /metrics as a whole: both stats VMs, not the default one, each family's HELP/TYPE once.
text = open(f"{T}/p-metrics.prom").read()
fams = list(parse(text))
vms = {s.labels.get("vm") for f in fams if f.name.startswith("vmx_") for s in f.samples}
result("metrics-both-stats-vms", vms == {"s1", "s2"}, f"{vms}")
result("metrics-every-vmx-series-has-vm", all("vm" in s.labels for f in fams
       if f.name.startswith("vmx_") for s in f.samples))
lines = text.splitlines()
for kind in ("# HELP ", "# TYPE "):
    names = [l.split()[2] for l in lines if l.startswith(kind)]
    result(f"metrics-{kind[2:6].lower()}-once-per-family", len(names) == len(set(names)),
           f"{[n for n in names if names.count(n) > 1][:3]}")
def val(sample, **labels):
    return [s.value for f in fams for s in f.samples if s.name == sample and
            all(s.labels.get(k) == v for k, v in labels.items())]
result("metrics-vms-powered-on", val("hostd_vms", power_state="poweredOn") == [3.0],
       f"{val('hostd_vms', power_state='poweredOn')}")
result("metrics-vms-powered-off", val("hostd_vms", power_state="poweredOff") == [1.0])
result("metrics-vms-by-build-type", val("hostd_vms_by_build_type", build_type="stats") == [3.0] and
       val("hostd_vms_by_build_type", build_type="default") == [1.0])
result("metrics-tasks-by-state", val("hostd_tasks_total", state="success") == [3.0] and
       val("hostd_tasks_total", state="error") == [0.0] and
       val("hostd_tasks_total", state="running") == [0.0], f"{val('hostd_tasks_total')}")
result("metrics-vm-stats-up", val("hostd_vm_stats_up", vm="s1") == [1.0] and
       val("hostd_vm_stats_up", vm="s2") == [1.0])
types = {f.name: f.type for f in fams}
result("metrics-downtime-histogram", types.get("hostd_switch_downtime_seconds") == "histogram")
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] || fails=$((fails + 1))

# --- a live switch to stats: the downtime histogram and the new stats VM -------------
out=$(api PUT "/vms/$D1/buildType" '{"buildType":"stats","wait":true}' "$TOKEN")
check switch-to-stats test "$(jget "j['state']" <<<"$out")" = success
dt=$(jget "j['result']['downtimeMs']" <<<"$out")
metrics "$TOKEN" >"$T/p-metrics2.prom"
check metrics-downtime-count grep -q '^hostd_switch_downtime_seconds_count 1$' "$T/p-metrics2.prom"
check metrics-downtime-sum test "$(awk '$1 == "hostd_switch_downtime_seconds_sum" {print $2}' "$T/p-metrics2.prom")" = \
  "$(awk -v d="$dt" 'BEGIN {printf "%.3f", d / 1000}')"
check metrics-switched-vm-labelled grep -q '^vmx_kstat_invocations_total{vm="d1",' "$T/p-metrics2.prom"
api GET "/vms/$D1/stats" "" "$TOKEN" >/dev/null
check vm-stats-after-switch-200 test "$(st)" = 200

# --- vmx3-cmd stats ---------------------------------------------------------------
out=$("$HOST/vmx3-cmd" stats s1 2>&1); rc=$?
check cmd-stats-name test "$rc" = 0
check cmd-stats-readable-counters grep -q "^Counter" <<<"$out"
check cmd-stats-readable-kstats grep -q "^GUEST " <<<"$out"
out=$("$HOST/vmx3-cmd" stats "$S2" --prom 2>&1); rc=$?
check cmd-stats-prom test "$rc" = 0
check cmd-stats-prom-text grep -q '^# TYPE vmx_kstat_samples_total counter' <<<"$out"
out=$("$HOST/vmx3-cmd" stats s2 --json 2>&1); rc=$?
check cmd-stats-json test "$(jget "j['name'] == 's2' and len(j['counters']) > 0" <<<"$out")" = True
out=$("$HOST/vmx3-cmd" stats o1 2>&1); rc=$?
check cmd-stats-off-fails test "$rc" = 1
check cmd-stats-off-msg grep -q "poweredOff" <<<"$out"
out=$("$HOST/vmx3-cmd" stats nosuch 2>&1); rc=$?
check cmd-stats-unknown-name test "$rc" = 1
check cmd-stats-unknown-name-msg grep -q 'no VM named' <<<"$out"

for v in "$S1" "$S2" "$D1"; do api POST "/vms/$v/power" '{"op":"hardOff","wait":true}' "$TOKEN" >/dev/null; done
[ $fails = 0 ]
