#!/usr/bin/env bash
# test_primary_crash.sh: kill -9 the primary while two clients write steadily. The
# survivors elect a new primary (view > 0), writes are acknowledged again, and every
# write acknowledged before, during or after the crash reads back. The old primary,
# restarted, catches up and ends with the same state digest as the others.
. "$(dirname "$0")/lib.sh"
it_setup "${1:-build}"

it_group g checkpoint_interval=16 log_window=32
G=$IT_DIR
it_up "$G"

it_load_start "$G" a
it_load_start "$G" b
it_wait 30 "first writes acknowledged" it_acked_atleast 20 a b

primary=$(it_field "$G" 0 primary)
[ -n "$primary" ] || it_fail "no primary reported"
before=$(( $(it_acked a) + $(it_acked b) ))
it_log "kill -9 primary $primary after $before acknowledged writes"
"$BULWARK" cluster down --dir "$G" --replica "$primary" --kill || it_fail "kill primary"

backup=$(( (primary + 1) % 4 ))
new_view() { v=$(it_field "$G" "$backup" view); [ -n "$v" ] && [ "$v" -gt 0 ]; }
it_wait 30 "a new view" new_view
it_wait 60 "40 more acknowledged writes in the new view" it_acked_atleast $((before + 40)) a b
it_load_wait a b
it_log "view $(it_field "$G" "$backup" view), primary $(it_field "$G" "$backup" primary), $(( $(it_acked a) + $(it_acked b) )) writes acknowledged"

it_check_acked "$G" a
it_check_acked "$G" b

# The old primary comes back and catches up; a few more writes pass a checkpoint.
it_up "$G" --replica "$primary" --log-level "${IT_RESTART_LEVEL:-info}"
it_puts "$G" after 20
exec_now=$(it_field "$G" "$backup" executed)
IT_MIN_EXEC=$exec_now it_wait 60 "all four replicas converge" it_converged "$G" 0 1 2 3
it_log "ok"
