#!/usr/bin/env bash
# test_state_transfer.sh: a backup stopped while the group moves more than a log window
# ahead (checkpoint_interval 8, log_window 16) cannot catch up from the log: after its
# restart it fetches the state at a stable checkpoint from its peers (its log says so
# and that the root digest matched), serves again, and its digest equals the others'.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"

it_group g checkpoint_interval=8 log_window=16
G=$IT_DIR
it_up "$G"
it_puts "$G" early 10
primary=$(it_field "$G" 0 primary)
victim=$(( (primary + 3) % 4 ))
"$BULWARK" cluster down --dir "$G" --replica "$victim" || it_fail "stop backup"
behind=$(grep -c 'msg="stopped cleanly"' "$G/run/replica$victim.log")
[ "$behind" -ge 1 ] || it_fail "replica $victim did not stop cleanly"

# Three windows ahead, with some keys overwritten and deleted on the way.
it_puts "$G" late 40
it_puts "$G" early 5
for i in 6 7; do "$BULWARK" del -c "$G/bulwark.ini" "early$i" >/dev/null || it_fail "del early$i"; done
it_up "$G" --replica "$victim"
it_wait 30 "replica $victim transfers state" grep -q 'state transfer .*root digest matches' \
	"$G/run/replica$victim.log"
exec_now=$(it_field "$G" "$primary" executed)
it_puts "$G" tail 9
IT_MIN_EXEC=$((exec_now + 9)) it_wait 60 "all four replicas converge" it_converged "$G" 0 1 2 3
grep 'state transfer' "$G/run/replica$victim.log" | head -n 3

# The transferred replica serves the data (a read needs 2f+1 = 3 matching replies:
# stop another backup so that the transferred one must be among them).
other=$(( (victim + 1) % 4 ))
[ "$other" -eq "$primary" ] && other=$(( (victim + 2) % 4 ))
"$BULWARK" cluster down --dir "$G" --replica "$other" || it_fail "stop replica $other"
[ "$(it_get "$G" late40)" = value-late40 ] || it_fail "late40 after the transfer"
"$BULWARK" get -c "$G/bulwark.ini" early6 >/dev/null 2>&1
[ $? -eq 3 ] || it_fail "early6 was deleted before the transfer but reads back"
it_log "ok"
