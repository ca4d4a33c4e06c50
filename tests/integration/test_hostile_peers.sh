#!/usr/bin/env bash
# test_hostile_peers.sh: a replica refuses a peer presenting another group's replica key
# (and logs why), and closes connections that send garbage before the handshake, or,
# after it, malformed, wrong-type, badly MACed, ill-bundled, oversized and near-4-GiB frames, while
# it keeps serving (INFO and ordered PUTs) and does not crash; and it does not sign an
# old freshness statement sent back to it by a peer.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"
python3 -c 'import cryptography' 2>/dev/null ||
	it_fail "python3 with the cryptography package is needed (Debian: python3-cryptography)"

it_group main
G=$IT_DIR
it_group other # only its keys are used: a replica identity group $G does not know
OTHER=$IT_DIR
it_up "$G"

gid=$(sed -n 's/^id = \([0-9]*\).*/\1/p' "$G/bulwark.ini")
port=$(sed -n '/^\[replica 1\]/,/^port/s/^port = \([0-9]*\).*/\1/p' "$G/bulwark.ini")
pid1=$(it_pid "$G" 1)
peer() { python3 "$IT_HERE/netpeer.py" "$@"; }
drops_before=$(it_field "$G" 1 dropped)

it_log "replica 1 on port $port (pid $pid1)"
peer info 127.0.0.1 "$port" "$gid" 1 || it_fail "a well-behaved client gets no INFO"

# Another group's replica 2 key, claiming to be replica 2 of this group.
peer impostor 127.0.0.1 "$port" "$gid" 1 2 "$OTHER/keys/replica2.key" ||
	it_fail "a connection with an unknown replica key was accepted"
it_wait 10 "the refusal in replica 1's log" \
	grep -q 'handshake_failed.*unknown replica key' "$G/run/replica1.log"
# And a right key for the wrong group id is refused too.
peer impostor 127.0.0.1 "$port" "$((gid + 1))" 1 2 "$G/keys/replica2.key" ||
	it_fail "a connection for another group id was accepted"

peer garbage 127.0.0.1 "$port" || it_fail "garbage before the handshake was not refused"
for kind in malformed wrongtype badmac badbundle oversize huge; do
	peer frame 127.0.0.1 "$port" "$gid" 1 "$kind" || it_fail "$kind frame did not close the connection"
	it_alive "$pid1" || it_fail "replica 1 died after a $kind frame"
	peer info 127.0.0.1 "$port" "$gid" 1 >/dev/null || it_fail "replica 1 stopped serving after a $kind frame"
done
grep -q 'frame too large' "$G/run/replica1.log" || it_fail "oversized frames are not logged"
grep -q 'bad frame MAC' "$G/run/replica1.log" || it_fail "bad MACs are not logged"
grep -q 'malformed frame' "$G/run/replica1.log" || it_fail "malformed frames are not logged"

drops_after=$(it_field "$G" 1 dropped)
[ "${drops_after:-0}" -ge $((drops_before + 2)) ] ||
	it_fail "replica 1 counted $drops_before -> $drops_after dropped messages, expected +2 (malformed, wrongtype)"

# The group still orders writes after all that.
out=$(it_put "$G" after-attack ok) || it_fail "put after the attacks: $out"
[ "$(it_get "$G" after-attack)" = ok ] || it_fail "get after the attacks"
it_alive "$pid1" || it_fail "replica 1 is gone"
grep -q 'level=error\| error ' "$G/run/replica1.log" && it_fail "replica 1 logged an error"

# Freshness statements are not echoed: with replica 3 down, netpeer.py takes its place
# (its real key) at replica 1, collects the statements replica 1 signs while PUBLISHes
# run, then signs one 30-50 seqs old as replica 3 and sends it five times. Replica 1
# still has that state in its history but no slot for the statement, and must not sign
# it again (it did once per copy, and its peers echoed it). One hour time buckets keep
# the statements in one bucket; a check that could not be set up (3) runs once more.
echo_check() {
	local E gidE portE keys=$IT_WORK/echo-keys rc
	it_group "echo$1"
	E=$IT_DIR
	sed -i '/^admin_key = /a statement_tick_ms = 3600000\nstatement_validity_ms = 7200000' \
		"$E/bulwark.ini"
	for r in 0 1 2; do it_up "$E" --replica "$r" >/dev/null; done
	gidE=$(sed -n 's/^id = \([0-9]*\).*/\1/p' "$E/bulwark.ini")
	portE=$(sed -n '/^\[replica 1\]/,/^port/s/^port = \([0-9]*\).*/\1/p' "$E/bulwark.ini")
	[ -f "$keys/bp.key" ] || "$BULWARK" keygen --out "$keys" --name bp >/dev/null || it_fail "keygen"
	peer echo 127.0.0.1 "$portE" "$gidE" 1 3 "$E/keys/replica3.key" >"$IT_WORK/echo.out" 2>&1 &
	local npid=$!
	IT_PIDS+=("$npid")
	timeout 60 "$O/bulwark-bench" run --config "$E/bulwark.ini" --workload publish --clients 1 \
		--admin-key "$E/keys/admin.key" --publisher-key "$keys/bp.key" --warmup 0 \
		--duration 0.5 --no-progress >"$IT_WORK/echo-bench.out" 2>&1 ||
		{ cat "$IT_WORK/echo-bench.out"; it_fail "the PUBLISH load for the echo check"; }
	wait "$npid"
	rc=$?
	cat "$IT_WORK/echo.out"
	"$BULWARK" cluster down --dir "$E" >/dev/null 2>&1
	return $rc
}
echo_check 1
rc=$?
if [ $rc -eq 3 ]; then
	echo_check 2
	rc=$?
fi
[ $rc -eq 0 ] || it_fail "replica 1 signed an old statement again (netpeer.py echo: $rc)"
it_log "ok"
