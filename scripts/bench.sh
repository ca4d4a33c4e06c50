#!/usr/bin/env bash
# bench.sh: `make bench`: the standard benchmarks on local 4-replica groups, the results
# table of docs/BENCHMARKS.md (between its bench:results markers) and docs/bench-null.png.
#   scripts/bench.sh [BUILD_DIR]
# Each run starts its own group (bulwark-bench --local 4) and stops it. Raw CSV and the
# crypto table stay in BUILD_DIR/bench/. About 3 minutes on 2 cores. BENCH_WARMUP,
# BENCH_DURATION, BENCH_SWEEP, BENCH_ROBUST_SWEEP, BENCH_CLIENTS, BENCH_POLL_CLIENTS and
# BENCH_PUBLISH_CLIENTS override the defaults.
set -uo pipefail
O=${1:-build}
BENCH=$O/bulwark-bench
OUT=$O/bench
DOC=docs/BENCHMARKS.md
PNG=docs/bench-null.png
WARMUP=${BENCH_WARMUP:-2}
DURATION=${BENCH_DURATION:-8}
# Closed-loop client counts: every client of a run is a lane of one key (the default of
# --lanes), so 2048 clients cost one handshake and one connection per replica.
SWEEP=${BENCH_SWEEP:-1,16,64,256,512,768,1024,2048}
# Robust mode (client_auth = signatures): each replica verifies an Ed25519 signature per
# request, so the group saturates at a few thousand ops/s and larger counts add only
# queueing.
ROBUST_SWEEP=${BENCH_ROBUST_SWEEP:-64,256,1024}
CLIENTS=${BENCH_CLIENTS:-1024}
# Polls: the client (libcurl, one core) is the bound past ~16 keep-alive connections.
POLL_CLIENTS=${BENCH_POLL_CLIENTS:-16}
# PUBLISH: every replica verifies four Ed25519 signatures per op (the manifest's, three
# chunk receipts), so the group saturates below a thousand ops/s.
PUBLISH_CLIENTS=${BENCH_PUBLISH_CLIENTS:-16}

[ -x "$BENCH" ] || { echo "bench.sh: $BENCH is missing; run make first" >&2; exit 1; }
grep -q '<!-- bench:results:begin -->' "$DOC" && grep -q '<!-- bench:results:end -->' "$DOC" ||
	{ echo "bench.sh: $DOC lacks the bench:results markers" >&2; exit 1; }
mkdir -p "$OUT"
rm -f "$OUT"/*.csv "$OUT"/*.err "$OUT"/crypto.txt
failed=0

# run NAME ARGS...: one bulwark-bench run to $OUT/NAME.csv; its command in $OUT/NAME.cmd.
run() {
	local name=$1
	shift
	local cmd="bulwark-bench run --local 4 --warmup $WARMUP --duration $DURATION $*"
	echo "== $name: $cmd"
	printf '%s\n' "$cmd" >"$OUT/$name.cmd"
	if ! "$BENCH" run --local 4 --warmup "$WARMUP" --duration "$DURATION" "$@" --csv \
		--out "$OUT/$name.csv" 2> >(tee "$OUT/$name.err" >&2); then
		echo "bench.sh: $name failed" >&2
		failed=$((failed + 1))
	fi
	[ -f "$OUT/$name.csv" ] && column -s, -t <"$OUT/$name.csv" | cut -c1-150
}

start=$(date +%s)
run null-sweep --workload null --sweep "$SWEEP"
run robust-null --workload null --client-auth signatures --sweep "$ROBUST_SWEEP"
run null-1 --workload null --clients 1
run put-1k --workload put --value-size 1024 --clients "$CLIENTS"
run put-1k-random --workload put --value-size 1024 --value-fill random --clients "$CLIENTS"
# A larger state: 64 keys per client, beyond the store's read cache of recent writes.
run put-1k-keys --workload put --value-size 1024 --keys 64 --clients "$CLIENTS"
run get --workload get --clients "$CLIENTS"
# HTTP polls served by one replica's read plane (the bench publishes the release it polls).
run poll --workload poll --clients "$POLL_CLIENTS" --replica 0
run poll-304 --workload poll --if-none-match --clients "$POLL_CLIENTS" --replica 0
# Ordered PUBLISHes of new versions (each client its own channel; a 1 KiB release).
run publish --workload publish --clients "$PUBLISH_CLIENTS"
echo "== crypto: bulwark-bench crypto --seconds 0.5"
"$BENCH" crypto --seconds 0.5 | tee "$OUT/crypto.txt" || failed=$((failed + 1))

if [ -s "$OUT/null-sweep.csv" ]; then
	bench/plot "$OUT/null-sweep.csv" "$PNG" \
		"bulwark null op, 4 replicas + client on one host (closed loop)" || failed=$((failed + 1))
fi

# The results section, from the CSV files.
python3 - "$OUT" "$DOC" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(($(date +%s) - start))" "$CLIENTS" <<'PY' || failed=$((failed + 1))
import csv, os, re, sys
out, doc, date, secs, clients = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

def rows(name):
    try:
        with open(os.path.join(out, name + ".csv")) as f:
            return list(csv.DictReader(f))
    except OSError:
        return []

def cmd(name):
    try:
        return open(os.path.join(out, name + ".cmd")).read().strip()
    except OSError:
        return "?"

def err(name):
    try:
        lines = [l.strip() for l in open(os.path.join(out, name + ".err")) if l.strip()]
        return lines[-1] if lines else "no output"
    except OSError:
        return "not run"

def num(v, fmt):
    return fmt % float(v) if v not in (None, "") else "-"

runs = [("null-sweep", "null, closed-loop sweep"),
        ("robust-null", "null, robust (signed requests)"), ("null-1", "null, 1 client"),
        ("put-1k", "put 1 KiB, %s clients" % clients),
        ("put-1k-random", "put 1 KiB random values, %s clients" % clients),
        ("put-1k-keys", "put 1 KiB, %s clients x 64 keys" % clients),
        ("get", "get (read-only), %s clients" % clients),
        ("poll", "poll, HTTP, whole document, replica 0"),
        ("poll-304", "poll, HTTP, If-None-Match (304), replica 0"),
        ("publish", "publish, signed manifest of a 1 KiB file")]
machine = None
lines = ["| run | clients | ops/s | p50 ms | p99 ms | p99.9 ms | max ms | CPU µs/op (all) | "
         "client CPU µs/op | mean batch | errors | load before | machine idle / iowait / steal % |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
best = {}
for name, title in runs:
    rs = rows(name)
    if not rs:
        lines.append("| %s | – | failed: %s | | | | | | | | | | |" % (title, err(name).replace("|", "/")))
        continue
    for r in rs:
        machine = machine or "%s, %s cores, %s" % (r["cpu_model"], r["cores"], r["kernel"])
        lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            title, r["clients"], num(r["ops_per_s"], "%.0f"), num(r["p50_ms"], "%.3f"),
            num(r["p99_ms"], "%.3f"), num(r["p999_ms"], "%.3f"), num(r["max_ms"], "%.1f"),
            num(r["cpu_us_per_op"], "%.1f"), num(r["bench_cpu_us_per_op"], "%.1f"),
            num(r["mean_batch"], "%.1f"), r["errors"], num(r["load_avg"], "%.2f"),
            " / ".join(num(r.get("machine_%s_pct" % s), "%.1f")
                       for s in ("idle", "iowait", "steal"))))
    best[name] = max(rs, key=lambda r: float(r["ops_per_s"]))

def bar(label, have, goal, higher):
    if have is None:
        return "| %s | %s | – | – |" % (label, goal)
    ratio = have / goal if higher else goal / have if have > 0 else 0
    return "| %s | %s | %s | %.3f |" % (label, goal, "%g" % round(have, 3), ratio)

def field(name, key):
    r = best.get(name)
    return float(r[key]) if r and r.get(key) not in (None, "") else None

# The issue asks for both figures at one load: the sweep point with the most ops/s among
# those whose p50 is within the bar (the curve is flat past saturation while p50 grows
# with the clients queued).
def best_within_p50(name, limit):
    ok = [r for r in rows(name) if r.get("p50_ms") not in (None, "") and float(r["p50_ms"]) <= limit]
    return max(ok, key=lambda r: float(r["ops_per_s"])) if ok else None

within = best_within_p50("null-sweep", 5)

# The Ed25519 verify rate of this run's crypto table: the row of a prebuilt public key,
# as replicas verify the requests of a client they know. None when it is missing.
def verify_rate():
    try:
        for l in open(os.path.join(out, "crypto.txt")):
            m = re.match(r"ed25519 verify \(.*\)\s+([0-9.]+)\s", l)
            if m:
                return float(m.group(1))
    except OSError:
        pass
    return None

# Robust mode is bounded by each replica verifying every request: reported next to the
# single-core verify rate, not held to a bar.
def robust_bar():
    have, rate = field("robust-null", "ops_per_s"), verify_rate()
    label = "robust null ops/s (Ed25519 verify bound, reported)"
    if have is None or rate is None:
        return "| %s | %s | %s | – |" % (label, "%.0f verify/s" % rate if rate else "–",
                                         "%g" % round(have, 3) if have is not None else "–")
    return "| %s | %.0f verify/s | %g | %.3f (measured / verify rate) |" % (
        label, rate, round(have, 3), have / rate)

bars = ["| issue 5 bar | goal | measured | measured / goal (≥ 1 meets it) |", "|---|---:|---:|---:|",
        bar("null ops/s at saturation (best sweep point)", field("null-sweep", "ops_per_s"), 150000, True),
        bar("p50 ms at that load", field("null-sweep", "p50_ms"), 5, False),
        bar("null ops/s with p50 ≤ 5 ms (best such sweep point: %s clients)" %
            (within["clients"] if within else "none"),
            float(within["ops_per_s"]) if within else None, 150000, True),
        bar("single-client null p50 ms", field("null-1", "p50_ms"), 0.2, False),
        bar("single-client null p99 ms", field("null-1", "p99_ms"), 1, False),
        bar("put 1 KiB ops/s", field("put-1k", "ops_per_s"), 40000, True),
        bar("get ops/s", field("get", "ops_per_s"), 150000, True),
        bar("CPU µs per null op, all processes (best sweep point)", field("null-sweep", "cpu_us_per_op"), 12, False),
        robust_bar()]

cmds = ["    make bench    # scripts/bench.sh build: %s s on this machine" % secs]
for name, _ in runs:
    cmds.append("    " + cmd(name))
cmds.append("    bulwark-bench crypto --seconds 0.5")
try:
    crypto = ["    " + l.rstrip() for l in open(os.path.join(out, "crypto.txt"))]
except OSError:
    crypto = ["    (crypto benchmark not run)"]

section = ["<!-- bench:results:begin -->",
           "Generated by `make bench` on %s." % date, "",
           "Machine: %s. Four replicas and the client on this host, loopback, MAC-authenticated "
           "requests (robust rows: Ed25519-signed), every op executed, every batch synced "
           "to disk before it is executed (its prepared certificate, in the records log) and "
           "the state (LevelDB) synced at each checkpoint (by a second thread; the checkpoint becomes stable once it is); the clients of a run are lanes of "
           "one key; the poll rows are HTTP GETs of a channel's signed document from replica 0's "
           "read plane, by libcurl in the bench process (no ordering; CPU µs/op (all) minus the "
           "client's is the replica's); the publish row orders PUBLISHes of new versions, each "
           "signed once by the bench and checked by every replica (the manifest's signature "
           "and 2f+1 = 3 chunk receipts: four Ed25519 verifications). *load before* is the "
           "1-minute load average when each run started: on a shared machine, other work "
           "competes for the 2 cores. The last column is the machine's CPU time during the "
           "measured interval that did no work: idle, idle waiting for the disk (iowait), "
           "and taken by the hypervisor for other machines (steal). Steal means the run had "
           "less than its cores; none does not mean they ran at full speed (this machine's "
           "slow periods, CPU µs per op up to twice the fast ones', show none)." % (machine or "unknown"), "",
           "Commands:", ""] + cmds + ["", "Results:", ""] + lines + ["", "Against the bars of issue 5:", ""] + bars + [
           "", "![null throughput-latency curve](bench-null.png)", "", "Crypto primitives "
           "(`bulwark-bench crypto`):", ""] + crypto + ["<!-- bench:results:end -->"]
text = open(doc).read()
head, rest = text.split("<!-- bench:results:begin -->", 1)
tail = rest.split("<!-- bench:results:end -->", 1)[1]
open(doc + ".tmp", "w").write(head + "\n".join(section) + tail)
os.replace(doc + ".tmp", doc)
print("wrote %s" % doc)
PY
echo "bench.sh: $(($(date +%s) - start)) s, $failed failure(s)"
[ "$failed" -eq 0 ]
