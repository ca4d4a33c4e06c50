#!/usr/bin/env bash
# test_backup_restart.sh: kill -9 a backup while a client writes, keep writing while it
# is down, restart it: it resumes from its LevelDB (its log says what it restored),
# catches up with the group, and its checkpoint digest equals the others'.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"

it_group g checkpoint_interval=16 log_window=64
G=$IT_DIR
it_up "$G"

it_load_start "$G" w
it_wait 30 "first writes acknowledged" it_acked_atleast 20 w
primary=$(it_field "$G" 0 primary)
victim=$(( (primary + 2) % 4 ))
# Executed batches reach the disk at checkpoints (store defer_writes): wait until the
# victim has a stable checkpoint, so that there is executed state on its disk to restore.
victim_stable() { v=$(it_field "$G" "$victim" stable); [ -n "$v" ] && [ "$v" -gt 0 ]; }
it_wait 30 "replica $victim has a stable checkpoint" victim_stable
it_log "kill -9 backup $victim (primary is $primary)"
"$BULWARK" cluster down --dir "$G" --replica "$victim" --kill || it_fail "kill backup"
down_at=$(it_acked w)
it_wait 30 "writes go on without it" it_acked_atleast $((down_at + 20)) w

it_up "$G" --replica "$victim"
it_wait 20 "replica $victim restores its state from disk" grep -q \
	'msg="state restored" records=[0-9]* last_executed=[1-9]' "$G/run/replica$victim.log"
it_wait 30 "more writes with it back" it_acked_atleast $((down_at + 40)) w
it_load_wait w
exec_now=$(it_field "$G" "$primary" executed)
# Writes after the load pass at least one more checkpoint, which every replica signs.
it_puts "$G" tail 17
IT_MIN_EXEC=$((exec_now + 17)) it_wait 60 "all four replicas converge" it_converged "$G" 0 1 2 3
it_check_acked "$G" w
it_log "ok"
