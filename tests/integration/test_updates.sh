#!/usr/bin/env bash
# test_updates.sh: signed updates end to end on a local group: channel create, publish a
# release (a ~3 MiB random file and a small one), `bulwark poll` through every
# replica's HTTP port and through a plain HTTP mirror (byte-identical files), a hostile
# mirror that rewrites the manifest (refused with the named check alone, accepted with an
# honest replica after it), a rollback, a manifest below the publisher threshold, a
# chunk whose bytes do not match its hash, and an upload by a key that is no publisher.
# BULWARK_UPD_BENCH=1 also measures a 100 MiB publish and polls per second with wrk.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"

expect_rc() { # expect_rc WANT WHAT CMD...: run CMD (output to $IT_WORK/out, err), check its exit status
	local want=$1 what=$2 rc
	shift 2
	"$@" >"$IT_WORK/out" 2>"$IT_WORK/err"
	rc=$?
	[ "$rc" -eq "$want" ] || { cat "$IT_WORK/out" "$IT_WORK/err"; it_fail "$what: exit $rc, want $want"; }
}

pubhex() { # raw Ed25519 public key of a PEM file, in hex
	openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | tail -c 32 | od -An -tx1 | tr -d ' \n'
}

it_group g
G=$IT_DIR
ini=$G/bulwark.ini
it_up "$G"
base=$(sed -nE 's/^port = ([0-9]+).*/\1/p' "$ini" | head -1)
http0=$((base + 100))

# Keys: three publishers (2-of-3), one outsider.
K=$IT_WORK/keys
for k in p1 p2 p3 outsider; do
	"$BULWARK" keygen --out "$K" --name "$k" >/dev/null || it_fail "keygen $k"
done

# --help and usage errors.
expect_rc 0 "publish --help" "$BULWARK" publish --help
grep -q "^Usage: bulwark publish " "$IT_WORK/out" || it_fail "publish --help prints no usage"
expect_rc 0 "channel create --help" "$BULWARK" channel create --help
expect_rc 2 "publish without a key" "$BULWARK" publish -c "$ini" --channel a --version 1 f
expect_rc 2 "channel create without K" "$BULWARK" channel create -c "$ini" --admin-key "$G/keys/admin.key" x

# Channel creation: the admin key is required.
CH=stable/linux-amd64
expect_rc 1 "channel create by a non-admin" "$BULWARK" channel create -c "$ini" \
	--admin-key "$K/outsider.key" --publishers 2 "$K/p1.pub" "$K/p2.pub" "$K/p3.pub" "$CH"
grep -q "NOT_ADMIN" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "non-admin create: no NOT_ADMIN"; }
expect_rc 0 "channel create" "$BULWARK" channel create -c "$ini" \
	--admin-key "$G/keys/admin.key" --publishers 2 "$K/p1.pub" "$K/p2.pub" "$K/p3.pub" "$CH"
it_log "channel created: $(cat "$IT_WORK/out")"
expect_rc 1 "channel create twice" "$BULWARK" channel create -c "$ini" \
	--admin-key "$G/keys/admin.key" --publishers 1 "$K/p1.pub" "$CH"
grep -q "EXISTS" "$IT_WORK/err" || it_fail "second create: no EXISTS"

# A release: a ~3 MiB random file and a small one.
R=$IT_WORK/release
mkdir -p "$R"
head -c 3145739 /dev/urandom >"$R/big.bin"
printf 'hello from bulwark\n' >"$R/notes.txt"
expect_rc 0 "publish v2" "$BULWARK" publish -c "$ini" --channel "$CH" --version 2 \
	--key "$K/p1.key" --key "$K/p2.key" "$R/big.bin" "$R/notes.txt"
grep -qE "^published $CH version 2 manifest [0-9a-f]{64}$" "$IT_WORK/out" ||
	it_fail "publish output: $(cat "$IT_WORK/out")"
it_log "$(cat "$IT_WORK/out")"

# Refusals by the group, each named.
expect_rc 1 "rollback" "$BULWARK" publish -c "$ini" --channel "$CH" --version 1 \
	--key "$K/p1.key" --key "$K/p2.key" "$R/notes.txt"
grep -q "ROLLBACK" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "rollback: no ROLLBACK"; }
expect_rc 1 "below threshold" "$BULWARK" publish -c "$ini" --channel "$CH" --version 3 \
	--key "$K/p1.key" "$R/notes.txt"
grep -q "BELOW_THRESHOLD" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "1 of 2: no BELOW_THRESHOLD"; }
expect_rc 1 "an outsider's upload" "$BULWARK" publish -c "$ini" --channel "$CH" --version 3 \
	--key "$K/outsider.key" "$R/notes.txt"
grep -q "not authorized" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "outsider: no 'not authorized'"; }
it_log "rollback, below threshold and unauthorized upload refused"

# The trust file: the group's replica keys, the channel's publishers.
T=$IT_WORK/trust.ini
gid=$(sed -nE 's/^id = ([0-9]+).*/\1/p' "$ini" | head -1)
{
	printf '[group]\nid = %s\nepoch = 1\nstate_dir = state\n' "$gid"
	for i in 0 1 2 3; do printf '[replica %d]\npublic_key = %s\n' "$i" "$(pubhex "$G/keys/replica$i.pub")"; done
	printf '[channel %s]\nthreshold = 2\n' "$CH"
	for k in p1 p2 p3; do printf 'publisher = %s\n' "$(pubhex "$K/$k.pub")"; done
} >"$T"

# Wait for a certificate over the current index (the HTTP plane answers 503 until then).
cert_ready() { curl -sf -o /dev/null "http://127.0.0.1:$1/v1/channels/$CH"; }
for i in 0 1 2 3; do it_wait 30 "certificate at replica $i" cert_ready $((http0 + i)); done

# Poll through each replica's HTTP port.
for i in 0 1 2 3; do
	rm -rf "$IT_WORK/state" "$IT_WORK/out$i"
	expect_rc 0 "poll replica $i" "$BULWARK" poll --channel "$CH" --trust "$T" \
		--from "http://127.0.0.1:$((http0 + i))" --out "$IT_WORK/out$i" --quiet
	cmp "$R/big.bin" "$IT_WORK/out$i/big.bin" || it_fail "replica $i: big.bin differs"
	cmp "$R/notes.txt" "$IT_WORK/out$i/notes.txt" || it_fail "replica $i: notes.txt differs"
done
it_log "polled through every replica: files identical"

# A plain HTTP mirror in front of replica 0, honest or rewriting the manifest.
cat >"$IT_WORK/mirror.py" <<'PY'
import http.server, sys, urllib.request, urllib.error
upstream, port, hostile = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "hostile"
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        try:
            r = urllib.request.urlopen(upstream + self.path, timeout=10)
            code, body, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            code, body, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
        if hostile and self.path.startswith("/v1/channels/") and code == 200:
            import base64, json
            doc = json.loads(body)
            m = json.loads(base64.b64decode(doc["envelope"]["payload"]))
            m["files"][1]["size"] += 1  # notes.txt "grows": a forged manifest
            doc["envelope"]["payload"] = base64.b64encode(json.dumps(m).encode()).decode()
            body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
mport=$(it_free_base 2) # the honest mirror on mport, the hostile one on mport + 1
python3 "$IT_WORK/mirror.py" "http://127.0.0.1:$http0" "$mport" honest &
IT_PIDS+=($!)
hport=$((mport + 1))
python3 "$IT_WORK/mirror.py" "http://127.0.0.1:$http0" "$hport" hostile &
IT_PIDS+=($!)
mirror_up() { curl -sf -o /dev/null "http://127.0.0.1:$1/v1/group"; }
it_wait 30 "honest mirror" mirror_up "$mport"
it_wait 30 "hostile mirror" mirror_up "$hport"

rm -rf "$IT_WORK/state" "$IT_WORK/outm"
expect_rc 0 "poll through the mirror" "$BULWARK" poll --channel "$CH" --trust "$T" \
	--from "http://127.0.0.1:$mport" --out "$IT_WORK/outm" --quiet
cmp "$R/big.bin" "$IT_WORK/outm/big.bin" || it_fail "mirror: big.bin differs"
cmp "$R/notes.txt" "$IT_WORK/outm/notes.txt" || it_fail "mirror: notes.txt differs"
it_log "polled through a plain HTTP mirror: files identical"

rm -rf "$IT_WORK/state" "$IT_WORK/outh"
expect_rc 1 "poll through the hostile mirror alone" "$BULWARK" poll --channel "$CH" --trust "$T" \
	--from "http://127.0.0.1:$hport" --out "$IT_WORK/outh" --quiet
grep -q "not in the certified channel index" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "hostile mirror: check not named"; }
[ ! -e "$IT_WORK/outh/notes.txt" ] || it_fail "hostile mirror: a file was installed"
it_log "hostile mirror refused: $(head -1 "$IT_WORK/err")"
expect_rc 0 "poll: hostile mirror, then an honest replica" "$BULWARK" poll --channel "$CH" \
	--trust "$T" --from "http://127.0.0.1:$hport,http://127.0.0.1:$((http0 + 2))" \
	--out "$IT_WORK/outh" --quiet
cmp "$R/big.bin" "$IT_WORK/outh/big.bin" || it_fail "fallback: big.bin differs"
it_log "hostile mirror then honest replica: accepted"

# Chunk uploads: bytes that do not match the name, and a key that may not upload.
printf 'some chunk bytes' >"$IT_WORK/chunk"
expect_rc 0 "chunk put" "$BULWARK" chunk put -c "$ini" --key "$K/p3.key" "$IT_WORK/chunk"
[ "$(grep -c ': ok$' "$IT_WORK/out")" -eq 4 ] || { cat "$IT_WORK/out"; it_fail "chunk put: not 4 ok receipts"; }
expect_rc 1 "chunk put with wrong bytes" "$BULWARK" chunk put -c "$ini" --key "$K/p3.key" \
	--sha256 "$(printf 'other bytes' | sha256sum | cut -d' ' -f1)" "$IT_WORK/chunk"
[ "$(grep -c ': hash mismatch$' "$IT_WORK/out")" -eq 4 ] || { cat "$IT_WORK/out"; it_fail "wrong bytes: not 4 'hash mismatch'"; }
expect_rc 1 "chunk put by an outsider" "$BULWARK" chunk put -c "$ini" --key "$K/outsider.key" "$IT_WORK/chunk"
[ "$(grep -c ': not authorized$' "$IT_WORK/out")" -eq 4 ] || { cat "$IT_WORK/out"; it_fail "outsider: not 4 'not authorized'"; }
it_log "chunk receipts: ok, hash mismatch, not authorized"

# Metrics and the group document.
curl -sf "http://127.0.0.1:$http0/metrics" >"$IT_WORK/metrics" || it_fail "GET /metrics"
# Exactly the series docs/OPERATIONS.md's "Metrics" documents, each with a number.
python3 - "$IT_WORK/metrics" "$IT_HERE/../../docs/OPERATIONS.md" <<'PY' || it_fail "metrics and OPERATIONS.md differ"
import re, sys
lines = [l.split() for l in open(sys.argv[1]) if l.strip() and not l.startswith("#")]
assert all(len(l) == 2 and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", l[1]) for l in lines), lines
samples = [l[0] for l in lines]
assert len(samples) == len(set(samples)), samples
section = open(sys.argv[2]).read().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
documented = set(re.findall(r"`(bulwark_[a-z_]+)`", section))
served = set()
for sample in samples:
    name = sample.split("{", 1)[0]  # labels off
    for suffix in ("_bucket", "_sum", "_count"):  # a histogram's series
        if name.endswith(suffix) and name[:-len(suffix)] in documented:
            name = name[:-len(suffix)]
    served.add(name)
assert served == documented, ("undocumented", sorted(served - documented),
                              "not served", sorted(documented - served))
PY
curl -sf "http://127.0.0.1:$http0/v1/group" | python3 -c '
import json, sys
g = json.load(sys.stdin)
assert g["n"] == 4 and len(g["replicas"]) == 4, g
' || it_fail "GET /v1/group"
# An unchanged poll: 304 with the ETag.
etag=$(curl -sf -D - -o /dev/null "http://127.0.0.1:$http0/v1/channels/$CH" | sed -nE 's/^[Ee][Tt]ag: (.*)\r$/\1/p')
[ -n "$etag" ] || it_fail "no ETag"
code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "http://127.0.0.1:$http0/v1/channels/$CH")
[ "$code" = 304 ] || it_fail "If-None-Match: $code, want 304"
it_log "metrics, group document, ETag/304 ok"

# A replica that missed the chunks fetches them from its peers: stop replica 3, publish
# v3 with receipts from 0..2, restart it, and poll through it.
"$BULWARK" cluster down --dir "$G" --replica 3 >/dev/null 2>&1 || kill "$(it_pid "$G" 3)"
head -c 700000 /dev/urandom >"$R/v3.bin"
expect_rc 0 "publish v3 with replica 3 down" "$BULWARK" publish -c "$ini" --channel "$CH" \
	--version 3 --key "$K/p2.key" --key "$K/p3.key" --timeout 20 "$R/v3.bin"
it_up "$G"
it_wait 60 "certificate at replica 3 after restart" cert_ready $((http0 + 3))
rm -rf "$IT_WORK/state" "$IT_WORK/out3b"
it_wait 60 "poll v3 through replica 3" "$BULWARK" poll --channel "$CH" --trust "$T" \
	--from "http://127.0.0.1:$((http0 + 3))" --out "$IT_WORK/out3b" --quiet
cmp "$R/v3.bin" "$IT_WORK/out3b/v3.bin" || it_fail "replica 3: v3.bin differs"
fetched=$(curl -sf "http://127.0.0.1:$((http0 + 3))/metrics" | sed -nE 's/^bulwark_chunks_fetched_total ([0-9]+)$/\1/p')
[ "${fetched:-0}" -ge 3 ] || it_fail "replica 3 fetched ${fetched:-0} chunks, want >= 3"
it_log "replica 3 fetched the chunks it missed from its peers"

if [ "${BULWARK_UPD_BENCH:-0}" = 1 ]; then
	head -c 104857600 /dev/urandom >"$R/big100.bin"
	s=$(date +%s.%N)
	"$BULWARK" publish -c "$ini" --channel "$CH" --version 4 --key "$K/p1.key" \
		--key "$K/p2.key" --quiet --timeout 600 "$R/big100.bin" || it_fail "100 MiB publish"
	e=$(date +%s.%N)
	it_log "publish of 100 MiB: $(python3 -c "print(round($e - $s, 2))") s"
	it_wait 30 "certificate for v4" cert_ready "$http0"
	wrk -t2 -c64 -d5s "http://127.0.0.1:$http0/v1/channels/$CH" | sed -n '/Requests\/sec/p'
	etag=$(curl -sf -D - -o /dev/null "http://127.0.0.1:$http0/v1/channels/$CH" | sed -nE 's/^[Ee][Tt]ag: (.*)\r$/\1/p')
	wrk -t2 -c64 -d5s -H "If-None-Match: $etag" "http://127.0.0.1:$http0/v1/channels/$CH" | sed -n '/Requests\/sec/p'
fi

# Publisher-policy rotation (TUF root rotation): 2-of-{p1,p2,p3} -> 2-of-{n1,n2}, signed
# by 2 old and 2 new keys; the old keys then publish nothing, the new keys do.
for k in n1 n2 x1 x2; do
	"$BULWARK" keygen --out "$K" --name "$k" >/dev/null || it_fail "keygen $k"
done
expect_rc 0 "channel rotate --help" "$BULWARK" channel rotate --help
grep -q "^Usage: bulwark channel rotate " "$IT_WORK/out" || it_fail "rotate --help prints no usage"
expect_rc 2 "channel rotate without --old-key" "$BULWARK" channel rotate -c "$ini" \
	--policy-version 2 --new-key "$K/n1.key" --publishers 1 "$K/n1.pub" "$CH"
expect_rc 2 "channel rotate with policy version 1" "$BULWARK" channel rotate -c "$ini" \
	--policy-version 1 --old-key "$K/p1.key" --new-key "$K/n1.key" --publishers 1 "$K/n1.pub" "$CH"
rotate1=("$BULWARK" channel rotate -c "$ini" --policy-version 2 --old-key "$K/p1.key" \
	--old-key "$K/p2.key" --new-key "$K/n1.key" --new-key "$K/n2.key" --publishers 2 \
	"$K/n1.pub" "$K/n2.pub" "$CH")
expect_rc 0 "channel rotate to 2-of-{n1,n2}" "${rotate1[@]}"
grep -qx "rotated $CH policy 2-of-2 policy_version 2" "$IT_WORK/out" ||
	it_fail "rotate output: $(cat "$IT_WORK/out")"
it_log "$(cat "$IT_WORK/out")"
expect_rc 1 "the same rotation replayed" "${rotate1[@]}"
grep -q "ROLLBACK" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "replayed rotation: no ROLLBACK"; }
expect_rc 1 "rotation signed by 1 of 2 current keys" "$BULWARK" channel rotate -c "$ini" \
	--policy-version 3 --old-key "$K/n1.key" --new-key "$K/x1.key" --new-key "$K/x2.key" \
	--publishers 2 "$K/x1.pub" "$K/x2.pub" "$CH"
grep -q "BELOW_THRESHOLD: old policy: 1 valid signatures of distinct keys, 2 needed" \
	"$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "1 old signature: no BELOW_THRESHOLD 1 of 2"; }
it_log "replayed rotation and 1-of-2 old signatures refused: $(head -1 "$IT_WORK/err")"
printf 'signed by the rotated publishers\n' >"$R/rotated.txt"
# The old keys may no longer upload chunks; uploaded by n1, a manifest signed by n1 and
# the old p1, p2 (2 of the old 2-of-3) has 1 of the 2 signatures the new policy needs.
expect_rc 1 "publish v10 with the old keys" "$BULWARK" publish -c "$ini" --channel "$CH" \
	--version 10 --key "$K/p1.key" --key "$K/p2.key" "$R/rotated.txt"
grep -q "not authorized" "$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "old keys: chunks not refused"; }
expect_rc 1 "publish v10 signed by n1 and the old keys" "$BULWARK" publish -c "$ini" \
	--channel "$CH" --version 10 --key "$K/n1.key" --key "$K/p1.key" --key "$K/p2.key" \
	"$R/rotated.txt"
grep -q "BELOW_THRESHOLD: channel policy: 1 valid signatures of distinct keys, 2 needed" \
	"$IT_WORK/err" || { cat "$IT_WORK/err"; it_fail "old keys: no BELOW_THRESHOLD 1 of 2"; }
expect_rc 0 "publish v10 with the new keys" "$BULWARK" publish -c "$ini" --channel "$CH" \
	--version 10 --key "$K/n1.key" --key "$K/n2.key" "$R/rotated.txt"
grep -qE "^published $CH version 10 manifest [0-9a-f]{64}$" "$IT_WORK/out" ||
	it_fail "publish after rotation: $(cat "$IT_WORK/out")"
it_log "after rotation: old keys refused, new keys published v10"

# A light client whose trust file pins the new publishers polls v10.
T2=$IT_WORK/trust-rotated.ini
sed "/^\[channel /,\$d" "$T" >"$T2"
{
	printf '[channel %s]\nthreshold = 2\n' "$CH"
	for k in n1 n2; do printf 'publisher = %s\n' "$(pubhex "$K/$k.pub")"; done
} >>"$T2"
poll_rotated() {
	rm -rf "$IT_WORK/state" "$IT_WORK/outr"
	"$BULWARK" poll --channel "$CH" --trust "$T2" --from "http://127.0.0.1:$http0" \
		--out "$IT_WORK/outr" --quiet >/dev/null 2>&1 &&
		cmp -s "$R/rotated.txt" "$IT_WORK/outr/rotated.txt"
}
it_wait 30 "poll v10 with the rotated trust file" poll_rotated
rm -rf "$IT_WORK/state" "$IT_WORK/outo"
expect_rc 1 "poll v10 with the trust file pinning the old keys" "$BULWARK" poll --channel "$CH" \
	--trust "$T" --from "http://127.0.0.1:$http0" --out "$IT_WORK/outo" --quiet
grep -q "envelope: 0 valid signatures by distinct publisher keys" "$IT_WORK/err" ||
	{ cat "$IT_WORK/err"; it_fail "old trust file: threshold not named"; }
[ ! -e "$IT_WORK/outo/rotated.txt" ] || it_fail "old trust file: v10 was installed"
it_log "light client pinning the new publisher keys polled v10; the old pins refuse it"

# A clean stop; under sanitizers (build/san) nothing may be reported.
"$BULWARK" cluster down --dir "$G" >/dev/null || it_fail "cluster down"
if grep -l "Sanitizer" "$G"/run/replica*.log 2>/dev/null; then
	grep -h -A20 "Sanitizer" "$G"/run/replica*.log | head -60
	it_fail "a sanitizer report in the replica logs"
fi
it_log "ok"
