#!/usr/bin/env bash
# test_normal.sh: a 4-replica group in normal operation: PUT/GET/DEL/CAS round trips
# with the CLI's exit codes, enough writes to pass several checkpoints, all replicas
# converging on the same last executed seq and checkpoint digest; then the daemon's
# operational edges: a second bulwarkd on a busy port exits 1 with a clear message,
# SIGHUP reopens the log, `cluster down` stops every replica cleanly (exit 0 logged),
# and a restarted group still holds the data. Last, a group in the robust mode
# (client_auth = signatures) orders and converges too.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"

it_group g checkpoint_interval=8 log_window=16
G=$IT_DIR
it_up "$G"
ini=$G/bulwark.ini

# Round trips.
out=$(it_put "$G" alpha one) || it_fail "put alpha"
[ "$out" = "ok version=1" ] || it_fail "put alpha printed '$out'"
[ "$(it_get "$G" alpha)" = one ] || it_fail "get alpha"
out=$(it_put "$G" alpha two) && [ "$out" = "ok version=2" ] || it_fail "second put printed '$out'"
out=$("$BULWARK" cas -c "$ini" alpha 2 three) && [ "$out" = "ok version=3" ] || it_fail "cas 2 printed '$out'"
"$BULWARK" cas -c "$ini" alpha 2 four >/dev/null 2>&1
rc=$?
[ $rc -eq 4 ] || it_fail "cas with a stale version exited $rc, want 4"
[ "$(it_get "$G" alpha)" = three ] || it_fail "a failed cas changed the value"
printf 'from stdin\n' | "$BULWARK" put -c "$ini" beta - >/dev/null || it_fail "put from stdin"
[ "$(it_get "$G" beta)" = "from stdin" ] || it_fail "get beta"
"$BULWARK" del -c "$ini" alpha >/dev/null || it_fail "del alpha"
"$BULWARK" get -c "$ini" alpha >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ] || it_fail "get of a deleted key exited $rc, want 3"
"$BULWARK" del -c "$ini" alpha >/dev/null 2>&1
rc=$?
[ $rc -eq 3 ] || it_fail "del of an absent key exited $rc, want 3"
out=$("$BULWARK" cas -c "$ini" gamma 0 created) && [ "$out" = "ok version=1" ] ||
	it_fail "cas 0 (create) printed '$out'"
it_log "round trips ok"

# Past a few checkpoints (interval 8), then every replica agrees.
it_puts "$G" k 30
IT_MIN_EXEC=36 it_wait 20 "all replicas converge" it_converged "$G" 0 1 2 3
"$BULWARK" status -c "$ini" >"$IT_WORK/status.out" || it_fail "bulwark status"
[ "$(grep -c ' up ' "$IT_WORK/status.out")" -eq 4 ] || { cat "$IT_WORK/status.out"; it_fail "status rows"; }
"$BULWARK" cluster status --dir "$G" || it_fail "cluster status"

# A second replica 0 cannot take the port.
"$BULWARKD" -c "$ini" -i 0 >"$IT_WORK/dup.out" 2>&1
rc=$?
[ $rc -eq 1 ] || it_fail "a second replica 0 exited $rc, want 1"
grep -q "cannot listen on 127.0.0.1:[0-9]*: Address already in use" "$IT_WORK/dup.out" ||
	{ cat "$IT_WORK/dup.out"; it_fail "no clear message for a busy port"; }
# A bad config is refused with file:line.
sed 's/^f = 1 .*/f = 2/' "$ini" >"$G/broken.ini"
"$BULWARKD" -c "$G/broken.ini" -i 0 >"$IT_WORK/broken.out" 2>&1 && it_fail "a broken config was accepted"
grep -q "broken.ini:[0-9]*:" "$IT_WORK/broken.out" || { cat "$IT_WORK/broken.out"; it_fail "no file:line error"; }

# SIGHUP reopens the log (after a rotation the new file gets the lines).
mv "$G/run/replica2.log" "$G/run/replica2.log.1"
kill -HUP "$(it_pid "$G" 2)"
it_wait 10 "replica 2 reopens its log" grep -q "log file reopened" "$G/run/replica2.log"

# Clean stop: every replica logs it and the pid files are gone.
"$BULWARK" cluster down --dir "$G" || it_fail "cluster down"
for i in 0 1 2 3; do
	grep -q 'msg="stopped cleanly"' "$G/run/replica$i.log" || it_fail "replica $i did not stop cleanly"
	[ ! -e "$G/run/replica$i.pid" ] || it_fail "pid file of replica $i left behind"
done

# Restarted, the group serves what it stored.
it_up "$G"
[ "$(it_get "$G" k30)" = value-k30 ] || it_fail "k30 lost across a restart"
[ "$(it_get "$G" gamma)" = created ] || it_fail "gamma lost across a restart"
"$BULWARK" cluster down --dir "$G" >/dev/null || it_fail "cluster down"

# The robust mode: every request signed by its client.
it_group robust checkpoint_interval=8 log_window=16 client_auth=signatures
R=$IT_DIR
it_up "$R"
it_puts "$R" s 12
[ "$(it_get "$R" s12)" = value-s12 ] || it_fail "get s12 in signature mode"
IT_MIN_EXEC=12 it_wait 20 "the signature-mode group converges" it_converged "$R" 0 1 2 3
it_log "ok"
