#!/usr/bin/env bash
# test_client_cli.sh: the `bulwark` CLI's put/get/del/cas/status against real bulwarkd
# groups: --help and usage errors (exit 2), client key files, binary values through
# stdin/stdout, size limits, `status` as a table and as JSON, operations after the
# primary is killed (the view changes), a clean timeout (exit 1) when the group is
# down, and a group in signatures mode made by `cluster init --client-auth signatures`.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"

expect_rc() { # expect_rc WANT WHAT CMD...: run CMD (output to $IT_WORK/out), check its exit status
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$IT_WORK/out" 2>"$IT_WORK/err"
	rc=$?
	[ "$rc" -eq "$want" ] || { cat "$IT_WORK/out" "$IT_WORK/err"; it_fail "$what: exit $rc, want $want"; }
}

# --help on every subcommand, usage errors, all without a group.
for cmd in put get del cas status; do
	expect_rc 0 "$cmd --help" "$BULWARK" "$cmd" --help
	grep -q "^Usage: bulwark $cmd " "$IT_WORK/out" || it_fail "$cmd --help prints no usage"
done
expect_rc 2 "put without -c" "$BULWARK" put k v
grep -q "CONFIG is required" "$IT_WORK/err" || it_fail "no message for a missing -c"
expect_rc 2 "put with one argument" "$BULWARK" put -c x.ini k
expect_rc 2 "get with two arguments" "$BULWARK" get -c x.ini k extra
expect_rc 2 "cas with a bad version" "$BULWARK" cas -c x.ini k v1 v
expect_rc 2 "unknown option" "$BULWARK" del -c x.ini --bogus k
expect_rc 2 "bad timeout" "$BULWARK" get -c x.ini --timeout 0 k
expect_rc 1 "missing config" "$BULWARK" get -c "$IT_WORK/none.ini" k
grep -q "none.ini" "$IT_WORK/err" || it_fail "the missing config is not named"
expect_rc 0 "cluster init --help" "$BULWARK" cluster init --help
grep -q -- "--client-auth" "$IT_WORK/out" || it_fail "cluster init --help lacks --client-auth"
expect_rc 2 "cluster init with a bad --client-auth" "$BULWARK" cluster init \
	--dir "$IT_WORK/badauth" --client-auth mac
grep -q "client-auth 'mac' is neither 'macs' nor 'signatures'" "$IT_WORK/err" ||
	it_fail "bad --client-auth message: $(cat "$IT_WORK/err")"
[ ! -e "$IT_WORK/badauth" ] || it_fail "cluster init wrote files despite a bad --client-auth"
it_log "help and usage errors ok"

# 2 MiB batches for 1 MiB values; a short log window keeps a worst-case NEW-VIEW (2f+1
# VIEW-CHANGEs of log_window full batches) within the 128 MiB message limit.
it_group g batch_max_bytes=2097152 checkpoint_interval=8 log_window=16
G=$IT_DIR
ini=$G/bulwark.ini
it_up "$G"

# A client key file: usable, and refused when readable by others.
"$BULWARK" keygen --out "$IT_WORK/ck" --name me >/dev/null || it_fail "keygen"
expect_rc 0 "put with --key" "$BULWARK" put -c "$ini" --key "$IT_WORK/ck/me.key" kk one
expect_rc 0 "second put with --key" "$BULWARK" put -c "$ini" --key "$IT_WORK/ck/me.key" kk two
[ "$(cat "$IT_WORK/out")" = "ok version=2" ] || it_fail "second keyed put: $(cat "$IT_WORK/out")"
chmod 0644 "$IT_WORK/ck/me.key"
expect_rc 1 "a world-readable key" "$BULWARK" put -c "$ini" --key "$IT_WORK/ck/me.key" kk three
grep -q "me.key" "$IT_WORK/err" || it_fail "the bad key file is not named"

# Binary values round-trip exactly; --show-version; the size limit.
head -c 300000 /dev/urandom >"$IT_WORK/blob"
"$BULWARK" put -c "$ini" blob - <"$IT_WORK/blob" >/dev/null || it_fail "put blob"
"$BULWARK" get -c "$ini" --show-version blob >"$IT_WORK/blob.back" 2>"$IT_WORK/err" || it_fail "get blob"
cmp -s "$IT_WORK/blob" "$IT_WORK/blob.back" || it_fail "the blob came back different"
grep -qx "version=1" "$IT_WORK/err" || it_fail "--show-version: $(cat "$IT_WORK/err")"
head -c 1048577 /dev/zero >"$IT_WORK/toobig"
expect_rc 1 "a value above 1 MiB" "$BULWARK" put -c "$ini" big - <"$IT_WORK/toobig"
grep -q "limit" "$IT_WORK/err" || it_fail "no message for a too-big value"
head -c 1048576 /dev/zero >"$IT_WORK/max"
expect_rc 0 "a 1 MiB value" "$BULWARK" put -c "$ini" max - <"$IT_WORK/max"
"$BULWARK" get -c "$ini" max | cmp -s - "$IT_WORK/max" || it_fail "the 1 MiB value came back different"
expect_rc 3 "get of an absent key" "$BULWARK" get -c "$ini" nothing
grep -q "nothing: not found" "$IT_WORK/err" || it_fail "not-found message: $(cat "$IT_WORK/err")"
expect_rc 4 "cas 0 on an existing key" "$BULWARK" cas -c "$ini" kk 0 x
grep -q "current version is 2" "$IT_WORK/err" || it_fail "mismatch message: $(cat "$IT_WORK/err")"
it_log "keys, binary values and limits ok"

# status: four rows up in view 0; JSON lines parse.
expect_rc 0 "status" "$BULWARK" status -c "$ini"
[ "$(grep -c ' up ' "$IT_WORK/out")" -eq 4 ] || { cat "$IT_WORK/out"; it_fail "status rows"; }
expect_rc 0 "status --json" "$BULWARK" status -c "$ini" --json
python3 - "$IT_WORK/out" <<'PY' || it_fail "status --json"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["id"] for r in rows] == [0, 1, 2, 3], rows
assert all(r["up"] and r["view"] == 0 and r["primary"] == 0 for r in rows), rows
assert all(len(r["checkpoint_digest"]) == 64 for r in rows), rows
PY

# Kill the primary: operations still complete (view change), status shows it.
kill -9 "$(it_pid "$G" 0)"
out=$("$BULWARK" put -c "$ini" after primary) || it_fail "put after the primary died"
[ "$out" = "ok version=1" ] || it_fail "put after the primary died printed '$out'"
[ "$("$BULWARK" get -c "$ini" after)" = primary ] || it_fail "get after the primary died"
[ "$("$BULWARK" get -c "$ini" kk)" = two ] || it_fail "an acknowledged write is missing"
expect_rc 0 "status with one down" "$BULWARK" status -c "$ini" --json --timeout 1000
python3 - "$IT_WORK/out" <<'PY' || { cat "$IT_WORK/out"; it_fail "status after the view change"; }
import json, sys
rows = {r["id"]: r for r in map(json.loads, open(sys.argv[1]))}
assert not rows[0]["up"], rows[0]
for i in (1, 2, 3):
    assert rows[i]["up"] and rows[i]["view"] >= 1 and rows[i]["primary"] != 0, rows[i]
PY
it_log "primary killed: operations and status ok"

# The whole group down: a bounded timeout, exit 1, a clear message; status exits 1.
"$BULWARK" cluster down --dir "$G" --kill >/dev/null 2>&1 || it_fail "cluster down"
start=$(date +%s%N)
expect_rc 1 "put to a stopped group" "$BULWARK" put -c "$ini" --timeout 800 x y
ms=$(( ($(date +%s%N) - start) / 1000000 ))
grep -q "timed out" "$IT_WORK/err" || it_fail "timeout message: $(cat "$IT_WORK/err")"
[ "$ms" -lt 5000 ] || it_fail "the timeout took ${ms} ms"
expect_rc 1 "status of a stopped group" "$BULWARK" status -c "$ini" --timeout 300
it_log "group down: timeouts ok"

# A group in signatures mode, as `cluster init --client-auth signatures` writes it.
S=$IT_WORK/s
base=$(it_free_base 4) || it_fail "no free ports"
"$BULWARK" cluster init --dir "$S" --base-port "$base" --group-id "$((RANDOM + 1))" \
	--client-auth signatures >"$IT_WORK/out" 2>"$IT_WORK/err" ||
	{ cat "$IT_WORK/out" "$IT_WORK/err"; it_fail "cluster init --client-auth signatures"; }
IT_DIRS+=("$S")
grep -q "client_auth = signatures" "$IT_WORK/out" || it_fail "init output: $(cat "$IT_WORK/out")"
grep -qE '^client_auth = signatures +;' "$S/bulwark.ini" ||
	it_fail "the ini says: $(grep client_auth "$S/bulwark.ini")"
it_up "$S"
it_wait 10 "replica 0 to log client_auth=signatures" grep -q "client_auth=signatures" "$S/run/replica0.log"
out=$("$BULWARK" put -c "$S/bulwark.ini" signed yes) && [ "$out" = "ok version=1" ] ||
	it_fail "put in signatures mode: '$out'"
[ "$("$BULWARK" get -c "$S/bulwark.ini" signed)" = yes ] || it_fail "get in signatures mode"
# Its default batch_max_bytes (256 KiB) bounds the request: refused by the client.
expect_rc 1 "a value above batch_max_bytes" "$BULWARK" put -c "$S/bulwark.ini" blob - <"$IT_WORK/blob"
grep -q "batch_max_bytes" "$IT_WORK/err" || it_fail "too-big message: $(cat "$IT_WORK/err")"
it_log "signatures mode ok"
