#!/usr/bin/env bash
# test_hostile_peers.sh: a replica refuses a peer presenting another group's replica key
# (and logs why), and closes connections that send garbage before the handshake, or,
# after it, malformed, wrong-type, badly MACed, ill-bundled, oversized and near-4-GiB frames, while
# it keeps serving (INFO and ordered PUTs) and does not crash.
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
it_log "ok"
