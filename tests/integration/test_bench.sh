#!/usr/bin/env bash
# test_bench.sh: bulwark-bench's self-test (histogram, /proc and CSV helpers), then a
# 3-second null run on a local 4-replica group it starts and stops itself: the JSON
# parses, reports ops > 0 and p50 <= p99 <= max, names the machine and client_auth
# macs, and the machine's CPU shares (busy, idle, iowait, steal) add up to 100; a
# 2-second null run in robust mode (--client-auth signatures: every request signed)
# completes ops without errors and says so in its CSV (shares adding up to 100 there
# too); so does a 2-second put run with --value-fill random; HTTP polls of a channel
# the bench publishes get documents, and conditional polls get 304s from the one
# replica polled; ordered PUBLISHes of new versions to a running group's channels (a
# sweep, so a second point creates more channels), twice: the second run goes on past
# the versions the first left, and no replica signed more freshness statements than
# executed seqs and time buckets; polls of a hostile read plane refuse its bad ETags and
# never echo them; poll with --config needs --channel, publish with
# --config its two keys, and the poll and publish options and --lanes are refused where
# they mean nothing; --client-auth is refused with --config and for an unknown mode,
# --value-fill for an unknown fill; no replica or temporary folder is left behind.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"
BENCH=$O/bulwark-bench
[ -x "$BENCH" ] || it_fail "$BENCH is missing; run make first"

"$BENCH" selftest >"$IT_WORK/selftest.out" 2>&1 || { cat "$IT_WORK/selftest.out"; it_fail "selftest"; }
it_log "$(cat "$IT_WORK/selftest.out")"

before=$(ls -d /tmp/bulwark-bench.* 2>/dev/null | sort)
BULWARK=$BULWARK timeout 120 "$BENCH" run --workload null --local 4 --clients 4 --warmup 1 \
	--duration 3 --json --out "$IT_WORK/null.json" 2>"$IT_WORK/run.err"
rc=$?
[ $rc -eq 0 ] || { cat "$IT_WORK/run.err"; it_fail "bulwark-bench run exited $rc"; }
python3 -m json.tool "$IT_WORK/null.json" >/dev/null || it_fail "the JSON output does not parse"
python3 - "$IT_WORK/null.json" <<'PY' || it_fail "implausible figures in $(cat "$IT_WORK/null.json")"
import json, sys
o = json.load(open(sys.argv[1]))
m = o["machine"]
assert m["cpu"] and m["cores"] >= 1 and m["kernel"], m
assert o["workload"] == "null" and len(o["points"]) == 1
assert o["client_auth"] == "macs", o["client_auth"]
p = o["points"][0]
lat = p["latency_ms"]
assert p["ops"] > 0 and p["errors"] == 0, p
assert 0 < lat["p50"] <= lat["p99"] <= lat["max"], lat
assert len(p["cpu_s"]["replicas"]) == 4 and p["cpu_us_per_op"] > 0, p["cpu_s"]
mc = p["machine_cpu_pct"]
assert mc["busy"] > 0 and abs(mc["busy"] + mc["idle"] + mc["iowait"] + mc["steal"] - 100) < 0.5, mc
print("ops %d, %.0f ops/s, p50 %.3f ms, p99 %.3f ms" % (p["ops"], p["ops_per_s"], lat["p50"], lat["p99"]))
PY

# csv_run NAME COLUMN=VALUE... -- ARGS...: a 2-second run on a local group with ARGS, as
# CSV to $IT_WORK/NAME.csv: it must exit 0 with one row of ops, no errors, and each
# COLUMN equal to its VALUE.
csv_run() {
	local name=$1 checks=() rc
	shift
	while [ "$1" != -- ]; do checks+=("$1"); shift; done
	shift
	BULWARK=$BULWARK timeout 120 "$BENCH" run --local 4 "$@" --warmup 1 --duration 2 --csv \
		--out "$IT_WORK/$name.csv" 2>"$IT_WORK/run.err"
	rc=$?
	[ $rc -eq 0 ] || { cat "$IT_WORK/run.err"; it_fail "bulwark-bench run $* exited $rc"; }
	python3 - "$IT_WORK/$name.csv" "${checks[@]}" <<'PY' || it_fail "$name run: $(cat "$IT_WORK/$name.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert len(rows) == 1, rows
r = rows[0]
for check in sys.argv[2:]:
    column, want = check.split("=", 1)
    assert r[column] == want, (column, want, r)
assert int(r["ops"]) > 0 and int(r["errors"]) == 0, r
shares = [float(r["machine_%s_pct" % s]) for s in ("busy", "idle", "iowait", "steal")]
assert all(0 <= v <= 100 for v in shares) and abs(sum(shares) - 100) < 0.5, shares
print("%s: ops %s, %s ops/s, p50 %s ms" % (sys.argv[1], r["ops"], r["ops_per_s"], r["p50_ms"]))
PY
}

# Robust mode: the local group is initialised with client_auth = signatures.
csv_run robust client_auth=signatures -- --workload null --client-auth signatures --clients 16
# Incompressible values: a new random value for every PUT, said in the CSV.
csv_run random value_fill=random value_size=300 -- --workload put --value-fill random \
	--value-size 300 --clients 8
# HTTP polls of the channel the bench publishes to its local group: full documents from
# every replica, then conditional polls of replica 2 alone, which are answered 304
# once a client knows the document's ETag (and 200 again when the certificate
# changes).
poll_run() { # poll_run NAME CONDITIONAL(0|1) ARGS...
	local name=$1 cond=$2 rc
	shift 2
	BULWARK=$BULWARK timeout 120 "$BENCH" run --local 4 --workload poll "$@" --warmup 1 \
		--duration 2 --json --out "$IT_WORK/$name.json" 2>"$IT_WORK/run.err"
	rc=$?
	[ $rc -eq 0 ] || { cat "$IT_WORK/run.err"; it_fail "bulwark-bench run --workload poll $* exited $rc"; }
	python3 - "$IT_WORK/$name.json" "$cond" <<'PY' || it_fail "$name run: $(cat "$IT_WORK/$name.json")"
import json, sys
o = json.load(open(sys.argv[1]))
cond = sys.argv[2] == "1"
assert o["workload"] == "poll" and o["channel"] == "bench/poll", o
assert o["conditional"] == cond, o
p = o["points"][0]
assert p["ops"] > 0 and p["errors"] == 0 and p["ordered"] == 0, p
if cond:
    assert p["ops"] // 2 <= p["not_modified"] <= p["ops"], p
    reps = p["cpu_s"]["replicas"]
    assert reps[2] > 0 and reps[2] > 3 * max(reps[0], reps[1], reps[3]), reps
else:
    assert p["not_modified"] == 0, p
print("%s: %d polls, %.0f/s, %d answered 304, p50 %.3f ms" % (sys.argv[1], p["ops"],
      p["ops_per_s"], p["not_modified"], p["latency_ms"]["p50"]))
PY
}
poll_run poll-full 0 --clients 8
poll_run poll-304 1 --clients 8 --if-none-match --replica 2

# PUBLISH through a running group (--config): client i publishes new versions of
# bench/publish/i, signed by a publisher key made here; the group's admin key creates
# the channels. The second run finds them with the first run's versions: its preload
# learns them from the ROLLBACK answers, and every measured PUBLISH is accepted again.
it_group pub
PG=$IT_DIR
pub_t0=$(date +%s)
it_up "$PG"
"$BULWARK" keygen --out "$IT_WORK/keys" --name bp >/dev/null || it_fail "keygen"
publish_run() { # publish_run NAME
	local rc
	BULWARK=$BULWARK timeout 120 "$BENCH" run --config "$PG/bulwark.ini" --workload publish \
		--admin-key "$PG/keys/admin.key" --publisher-key "$IT_WORK/keys/bp.key" \
		--sweep 2,4 --warmup 0.5 --duration 1 --json --out "$IT_WORK/$1.json" 2>"$IT_WORK/run.err"
	rc=$?
	[ $rc -eq 0 ] || { cat "$IT_WORK/run.err"; it_fail "bulwark-bench run --workload publish exited $rc"; }
	# A --config run starts no local group: nothing to say about one on stderr.
	[ ! -s "$IT_WORK/run.err" ] || it_fail "publish run: $(cat "$IT_WORK/run.err")"
	python3 - "$IT_WORK/$1.json" <<'PY' || it_fail "$1 run: $(cat "$IT_WORK/$1.json")"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["workload"] == "publish" and o["channel_prefix"] == "bench/publish", o
assert [p["clients"] for p in o["points"]] == [2, 4], o["points"]
for p in o["points"]:
    assert p["ops"] > 0 and p["errors"] == 0 and p["ordered"] == p["ops"], p
    print("%s: %d clients, %d PUBLISHes, %.0f/s, p50 %.3f ms" % (sys.argv[1], p["clients"],
          p["ops"], p["ops_per_s"], p["latency_ms"]["p50"]))
PY
}
publish_run publish-1
publish_run publish-2
# Each replica signs a freshness statement at most once per (executed seq, time bucket),
# each newer than the last: no more than its executed seqs plus the buckets (of
# statement_tick_ms, 10 s) the group lived through. Co-signing every copy received
# once made replicas echo statements thousands of times per bucket.
python3 - "$PG/bulwark.ini" "$(( $(date +%s) - pub_t0 ))" <<'PY' || it_fail "statements signed"
import re, sys, urllib.request
ports = re.findall(r"^http_port = (\d+)", open(sys.argv[1]).read(), re.M)
buckets = int(sys.argv[2]) // 10 + 2
for r, port in enumerate(ports):
    m = dict(l.split() for l in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port,
             timeout=5).read().decode().splitlines() if l and not l.startswith("#"))
    signed, executed = int(m["bulwark_statements_signed_total"]), int(m["bulwark_last_executed"])
    assert 0 < signed <= executed + buckets, (r, signed, executed, buckets)
    print("replica %d: %d statements signed for %d executed seqs" % (r, signed, executed))
PY
# --keys: each put client writes its own N keys in turn, and no others.
BULWARK=$BULWARK timeout 120 "$BENCH" run --config "$PG/bulwark.ini" --workload put --keys 3 \
	--clients 2 --warmup 0.5 --duration 1 --csv --out "$IT_WORK/keys.csv" 2>"$IT_WORK/run.err" ||
	{ cat "$IT_WORK/run.err"; it_fail "bulwark-bench run --workload put --keys 3"; }
python3 - "$IT_WORK/keys.csv" <<'PY' || it_fail "put --keys 3: $(cat "$IT_WORK/keys.csv")"
import csv, sys
r = list(csv.DictReader(open(sys.argv[1])))[0]
assert r["keys_per_client"] == "3" and int(r["ops"]) >= 6 and int(r["errors"]) == 0, r
PY
for k in bench/0/0 bench/0/2 bench/1/2; do
	it_get "$PG" "$k" >/dev/null || it_fail "put --keys 3 did not write $k"
done
it_get "$PG" bench/0/3 >/dev/null 2>&1
[ $? -eq 3 ] || it_fail "put --keys 3 wrote bench/0/3 (or get failed otherwise)"
# Those six keys, written over and over: after its first write, each write finds the
# key's version kept in memory (at every replica that executed the run's batches: 2f+1
# at least; one that fetched a checkpoint meanwhile executed fewer and kept none).
python3 - "$PG/bulwark.ini" "$IT_WORK/keys.csv" <<'PY' || it_fail "kept versions"
import csv, re, sys, urllib.request
ports = re.findall(r"^http_port = (\d+)", open(sys.argv[1]).read(), re.M)
ops = int(list(csv.DictReader(open(sys.argv[2])))[0]["ops"])
full = 0
for r, port in enumerate(ports):
    m = dict(l.split() for l in urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port,
             timeout=5).read().decode().splitlines() if l and not l.startswith("#"))
    writes, kept = int(m["bulwark_kv_writes_total"]), int(m["bulwark_kv_writes_version_kept_total"])
    assert kept <= writes, (r, writes, kept)
    full += writes >= ops and kept >= writes - 6
    print("replica %d: %d writes, %d with the version kept" % (r, writes, kept))
assert full >= 3, (full, ops)
PY
"$BULWARK" cluster down --dir "$PG" >/dev/null || it_fail "cluster down"

# A hostile read plane (hostile_http.py in place of replica 0's): of its 200s, only
# those with a visible-ASCII ETag short enough to echo count as polls; the others are
# errors that say why, and no If-None-Match but the valid ETag is ever sent.
it_group fake
FG=$IT_DIR
fport=$(sed -nE 's/^http_port = ([0-9]+).*/\1/p' "$FG/bulwark.ini" | head -1)
[ -n "$fport" ] || it_fail "no http_port in $FG/bulwark.ini"
python3 "$IT_HERE/hostile_http.py" "$fport" "$IT_WORK/inm.log" &
IT_PIDS+=($!) # the bench waits for its first 200 before it starts
timeout 60 "$BENCH" run --config "$FG/bulwark.ini" --workload poll --channel x --replica 0 \
	--if-none-match --clients 2 --warmup 0 --duration 1 --json --out "$IT_WORK/hostile.json" \
	2>"$IT_WORK/run.err" || { cat "$IT_WORK/run.err"; it_fail "poll of a hostile read plane"; }
python3 - "$IT_WORK/hostile.json" "$IT_WORK/inm.log" <<'PY' || it_fail "hostile read plane: $(cat "$IT_WORK/hostile.json")"
import json, sys
p = json.load(open(sys.argv[1]))["points"][0]
assert p["ops"] > 0 and p["errors"] >= 2 * p["ops"] - 4 and p["not_modified"] == 0, p
assert p["last_error"].startswith("200 without an ETag (or one not visible ASCII"), p
sent = [l.rstrip("\n") for l in open(sys.argv[2])]
assert '"ok"' in sent and set(sent) <= {"-", '"ok"'}, set(sent)
print("hostile read plane: %d polls, %d errors, If-None-Match sent: %s" % (p["ops"],
      p["errors"], sorted(set(sent))))
PY
# refused MESSAGE ARGS...: bulwark-bench run ARGS must exit 2 saying MESSAGE, before it
# starts anything.
refused() {
	local want=$1 rc
	shift
	"$BENCH" run "$@" >/dev/null 2>"$IT_WORK/usage.err"
	rc=$?
	[ $rc -eq 2 ] || it_fail "run $*: exit $rc, want 2"
	grep -q -- "$want" "$IT_WORK/usage.err" || it_fail "run $*: $(cat "$IT_WORK/usage.err")"
}
refused "--workload poll with --config needs --channel NAME" \
	--workload poll --config "$IT_WORK/none.ini"
refused "--channel, --if-none-match and --replica are for --workload poll" \
	--workload get --local 4 --if-none-match
refused "--lanes is for the replica protocol's clients" --workload poll --local 4 --lanes 4
refused "--workload publish with --config needs --admin-key FILE" \
	--workload publish --config "$IT_WORK/none.ini" --publisher-key "$IT_WORK/keys/bp.key"
refused "--admin-key and --publisher-key are for a --config group" \
	--workload publish --local 4 --admin-key "$IT_WORK/a.key"
refused "--admin-key and --publisher-key are for --workload publish" \
	--workload null --local 4 --admin-key "$IT_WORK/a.key"
refused "--publisher-key wants a publisher private key file NAME.key" \
	--workload publish --local 4 --publisher-key "$IT_WORK/keys/bp.pem"
refused "--if-none-match and --replica are for --workload poll" \
	--workload publish --local 4 --replica 1
refused "--channel 'bench//x' is not a channel name" --workload publish --local 4 --channel bench//x
refused "--value-fill zeros: not text or random" --workload put --local 4 --value-fill zeros
refused "--keys is for --workload put and mixed" --workload get --local 4 --keys 4
refused "--keys wants a whole number, got '2.5'" --workload put --local 4 --keys 2.5
refused "--keys wants a number in \\[1, 65536\\], got '0'" --workload put --local 4 --keys 0
# --client-auth sets up a --local group only, and names a mode the config knows.
refused "--client-auth is for a --local group" \
	--workload null --config "$IT_WORK/none.ini" --client-auth signatures
refused "--client-auth 'mac' is neither 'macs' nor 'signatures'" \
	--workload null --local 4 --client-auth mac

after=$(ls -d /tmp/bulwark-bench.* 2>/dev/null | sort)
[ "$before" = "$after" ] || it_fail "the run left a temporary folder: $after"
it_log "ok"
