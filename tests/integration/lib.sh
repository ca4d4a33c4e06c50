# lib.sh: shared helpers of the integration tests (sourced, not run): a temporary work
# folder, free ports, local groups started with `bulwark cluster`, bounded polling, the
# replicas' INFO as JSON, and a trap that kills every process a test started.
#
#   . "$(dirname "$0")/lib.sh"; it_setup "$1"   (BUILD_DIR, default build)
#
# Every wait is bounded; nothing sleeps to synchronise where a condition can be polled.

set -uo pipefail

IT_NAME=$(basename "$0" .sh)
IT_DIRS=()   # groups to stop at exit
IT_PIDS=()   # other background processes to kill at exit
IT_FAILED=0

it_log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "$IT_NAME" "$*"; }

# Print the last lines of every replica log of every group, for a failure's context.
it_dump_logs() {
	local d f
	for d in "${IT_DIRS[@]}"; do
		for f in "$d"/run/replica*.log; do
			[ -f "$f" ] || continue
			echo "--- tail of $f"
			tail -n 25 "$f"
		done
	done
}

it_fail() {
	IT_FAILED=1
	it_log "FAIL: $*"
	it_dump_logs
	exit 1
}

# Kill everything this test started, whatever happened: background helpers first, then
# every replica of every group (pids from the pid files, checked to be bulwarkd).
it_cleanup() {
	local rc=$? p d f pid
	trap - EXIT INT TERM
	for p in "${IT_PIDS[@]}"; do
		kill -9 "$p" 2>/dev/null
		{ wait "$p"; } 2>/dev/null
	done
	for d in "${IT_DIRS[@]}"; do
		for f in "$d"/run/replica*.pid; do
			[ -f "$f" ] || continue
			pid=$(cat "$f" 2>/dev/null)
			if [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q bulwarkd; then
				kill -9 "$pid" 2>/dev/null
			fi
		done
	done
	wait 2>/dev/null
	if [ "$rc" -eq 0 ] && [ "$IT_FAILED" -eq 0 ]; then
		rm -rf "$IT_WORK"
	else
		it_log "work folder kept: $IT_WORK"
	fi
	exit "$rc"
}

it_setup() {
	local o=${1:-build}
	O=$(cd "$o" 2>/dev/null && pwd) || { echo "$IT_NAME: no build folder $o" >&2; exit 1; }
	BULWARK=$O/bulwark
	BULWARKD=$O/bulwarkd
	export BULWARKD
	for p in "$BULWARK" "$BULWARKD"; do
		[ -x "$p" ] || { echo "$IT_NAME: $p is missing; run make first" >&2; exit 1; }
	done
	IT_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	IT_WORK=$(mktemp -d "/tmp/bulwark-it-$IT_NAME.XXXXXX")
	trap it_cleanup EXIT
	trap 'exit 130' INT TERM
}

# it_free_base N: a base port P such that P..P+N-1 and P+100..P+100+N-1 (the HTTP ports
# of `cluster init`) can all be bound on 127.0.0.1 now.
it_free_base() {
	python3 - "$1" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    # below the kernel's ephemeral range (32768-60999 by default), so an outgoing
    # connection cannot take a port between this check and the replica's bind
    base = random.randrange(10000, 32000 - 100 - n)
    ports = list(range(base, base + n)) + list(range(base + 100, base + 100 + n))
    ok = True
    for p in ports:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            ok = False
        finally:
            s.close()
        if not ok:
            break
    if ok:
        print(base)
        sys.exit(0)
sys.exit("no free port range found")
EOF
}

# it_group NAME [KEY=VALUE ...]: `cluster init` a 4-replica group in $IT_WORK/NAME on free
# ports, with [group] settings overridden (e.g. checkpoint_interval=8). Sets IT_DIR to
# the folder (not printed: a command substitution would lose the cleanup list).
it_group() {
	local name=$1 dir base kv k v
	shift
	dir=$IT_WORK/$name
	base=$(it_free_base 4) || it_fail "no free ports"
	"$BULWARK" cluster init --dir "$dir" --base-port "$base" --group-id "$((RANDOM + 1))" \
		>"$IT_WORK/$name.init.out" 2>&1 || { cat "$IT_WORK/$name.init.out"; it_fail "cluster init"; }
	for kv in "$@"; do
		k=${kv%%=*}
		v=${kv#*=}
		sed -i -E "s|^$k = [^;]*|$k = $v |" "$dir/bulwark.ini"
		grep -qE "^$k = $v " "$dir/bulwark.ini" || it_fail "cannot set $k in $dir/bulwark.ini"
	done
	IT_DIRS+=("$dir")
	IT_DIR=$dir
}

# it_up DIR [cluster up options]: start replicas and wait for their ports.
it_up() {
	local dir=$1
	shift
	"$BULWARK" cluster up --dir "$dir" --timeout 20 "$@" || it_fail "cluster up $*"
}

# it_json DIR: one JSON line per replica (bulwark cluster status --json); never fails.
it_json() {
	"$BULWARK" cluster status --dir "$1" --json --timeout 2 2>/dev/null || true
}

# it_field DIR ID FIELD: one field of replica ID's INFO ("" when it is down).
it_field() {
	it_json "$1" | python3 -c '
import json, sys
want, field = int(sys.argv[1]), sys.argv[2]
for line in sys.stdin:
    o = json.loads(line)
    if o["id"] == want and o.get("up"):
        print(o.get(field, ""))
' "$2" "$3"
}

# it_converged DIR IDS...: true when the listed replicas answer, agree on view, last
# executed and stable checkpoint, have a stable checkpoint, and report the same
# checkpoint digest. With IT_MIN_EXEC set, executed must also be >= it.
it_converged() {
	local dir=$1
	shift
	it_json "$dir" | python3 -c '
import json, os, sys
ids = [int(x) for x in sys.argv[1:]]
rows = {}
for line in sys.stdin:
    o = json.loads(line)
    rows[o["id"]] = o
need = int(os.environ.get("IT_MIN_EXEC", "0"))
try:
    sel = [rows[i] for i in ids]
except KeyError:
    sys.exit(1)
if not all(r.get("up") for r in sel):
    sys.exit(1)
keys = {(r["view"], r["executed"], r["stable"], r["digest"]) for r in sel}
ok = len(keys) == 1 and sel[0]["stable"] > 0 and sel[0]["executed"] >= need \
     and sel[0]["digest"] != "0" * 64 and all(r["state"] == "normal" for r in sel)
sys.exit(0 if ok else 1)
' "$@"
}

# it_wait SECONDS WHAT CMD...: poll CMD every 0.2 s until it succeeds, or fail.
it_wait() {
	local secs=$1 what=$2 end
	shift 2
	end=$(($(date +%s) + secs))
	until "$@"; do
		if [ "$(date +%s)" -ge "$end" ]; then
			it_json "${IT_DIRS[0]}"
			it_fail "timed out after ${secs}s waiting for: $what"
		fi
		sleep 0.2
	done
}

# it_put DIR KEY VALUE: an ordered PUT through the CLI; prints its output.
it_put() { "$BULWARK" put -c "$1/bulwark.ini" "$2" "$3"; }
it_get() { "$BULWARK" get -c "$1/bulwark.ini" "$2"; }

# it_puts DIR PREFIX N: N PUTs (PREFIX1=v..PREFIXN=v), each must succeed.
it_puts() {
	local dir=$1 prefix=$2 n=$3 i
	# 30 s, not the default 10: right after a replica restarts the group may need a
	# few view changes, each timeout twice the last, and on a loaded 2-core CI machine
	# (seen in CI next to other builds, and in 1 of 23 runs next to a busy simulator) that
	# took more than 10 s.
	for i in $(seq 1 "$n"); do
		"$BULWARK" put -c "$dir/bulwark.ini" --timeout 30000 "$prefix$i" "value-$prefix$i" \
			>/dev/null || it_fail "put $prefix$i"
	done
}

# it_load_start DIR TAG: a background loop of PUTs with unique keys TAG-1, TAG-2, ...;
# each acknowledged key is appended to $IT_WORK/TAG.acked. Stopped by it_load_wait.
it_load_start() {
	local dir=$1 tag=$2
	: >"$IT_WORK/$tag.acked"
	(
		i=0
		while [ ! -e "$IT_WORK/$tag.stop" ]; do
			i=$((i + 1))
			if "$BULWARK" put -c "$dir/bulwark.ini" "$tag-$i" "v-$tag-$i" >/dev/null 2>&1; then
				echo "$tag-$i" >>"$IT_WORK/$tag.acked"
			fi
		done
		touch "$IT_WORK/$tag.done"
	) &
	IT_PIDS+=("$!")
}

it_acked() { wc -l <"$IT_WORK/$1.acked" | tr -d ' '; }

# it_acked_atleast N TAG...: true when the loads TAG... have N acknowledged writes in all.
it_acked_atleast() {
	local want=$1 sum=0 t
	shift
	for t in "$@"; do
		sum=$((sum + $(it_acked "$t")))
	done
	[ "$sum" -ge "$want" ]
}

# it_load_wait TAG...: wait (bounded) until the load loops TAG... have stopped.
it_load_wait() {
	local t end=$(($(date +%s) + 30))
	for t in "$@"; do
		touch "$IT_WORK/$t.stop"
	done
	while :; do
		local busy=0
		for t in "$@"; do
			[ -e "$IT_WORK/$t.done" ] || busy=1
		done
		[ $busy -eq 0 ] && return 0
		[ "$(date +%s)" -ge $end ] && it_fail "load loops $* did not stop"
		sleep 0.1
	done
}

# it_check_acked DIR TAG: every acknowledged key of the load TAG reads back its value.
it_check_acked() {
	local dir=$1 tag=$2 k v n=0
	while read -r k; do
		v=$("$BULWARK" get -c "$dir/bulwark.ini" "$k") || it_fail "acknowledged key $k is missing"
		[ "$v" = "v-$k" ] || it_fail "acknowledged key $k reads '$v'"
		n=$((n + 1))
	done <"$IT_WORK/$tag.acked"
	it_log "all $n acknowledged keys of $tag read back"
}

# it_pid DIR ID: the pid of replica ID from its pid file.
it_pid() { cat "$1/run/replica$2.pid" 2>/dev/null; }

# it_alive PID: true if PID is a running bulwarkd.
it_alive() { tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -q bulwarkd; }
