#!/usr/bin/env bash
# demo.sh: bulwark end to end on loopback: a 4-replica group, writes and reads, a crashed
# primary replaced by a view change, the crashed replica restarted and caught up, and a
# signed release published and polled by a light client over HTTP.
#   scripts/demo.sh BUILD_DIR        (run by `make demo`)
set -euo pipefail
O=${1:-build}
O=$(cd "$O" && pwd)
BULWARK=$O/bulwark
BULWARKD=$O/bulwarkd
for p in "$BULWARK" "$BULWARKD"; do
	[ -x "$p" ] || { echo "demo: $p is missing; run make first" >&2; exit 1; }
done
export BULWARKD

exec 2>&1 # one stream, so errors appear where they happen
work=$(mktemp -d /tmp/bulwark-demo.XXXXXX)
G=$work/group
cleanup() {
	[ -f "$G/bulwark.ini" ] && "$BULWARK" cluster down --dir "$G" --kill >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
heading() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
die() { echo "demo: $*" >&2; exit 1; }

# A base port with P..P+3 and P+100..P+103 free on 127.0.0.1.
free_base() {
	python3 - <<'EOF'
import random, socket
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return True
    except OSError:
        return False
    finally:
        s.close()
for _ in range(200):
    b = random.randrange(10000, 32000 - 110)  # below the ephemeral port range
    if all(free(b + i) and free(b + 100 + i) for i in range(4)):
        print(b); break
EOF
}

# field NAME from `bulwark status --json` for replica I ("" if down)
status_field() {
	"$BULWARK" status -c "$G/bulwark.ini" --json --timeout 1000 2>/dev/null |
		python3 -c "import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o.get('replica', o.get('id')) == $1: print(o.get('$2', ''))"
}

# wait (up to $2 seconds) until replica $1's last executed equals the group's maximum
wait_caught_up() {
	local i=$1 deadline=$((SECONDS + $2)) mine max
	while [ $SECONDS -lt $deadline ]; do
		mine=$(status_field "$i" last_executed)
		max=$(for r in 0 1 2 3; do status_field "$r" last_executed; done | sort -n | tail -n1)
		if [ -n "$mine" ] && [ "$mine" = "$max" ]; then
			return 0
		fi
		sleep 0.3
	done
	return 1
}

heading "1. a group of 4 replicas (f = 1) on 127.0.0.1: keys and config in one command"
base=$(free_base)
[ -n "$base" ] || die "no free ports found"
run "$BULWARK" cluster init --replicas 4 --dir "$G" --base-port "$base"

heading "2. a broken config is refused with file:line errors"
sed -e 's/^f = 1\b.*/f = 2/' "$G/bulwark.ini" > "$G/broken.ini"
printf '$ bulwarkd -c broken.ini -i 1 --check-config\n'
if "$BULWARKD" -c "$G/broken.ini" -i 1 --check-config; then
	die "the broken config was accepted"
fi
run "$BULWARKD" -c "$G/bulwark.ini" -i 1 --check-config

heading "3. start the replicas"
run "$BULWARK" cluster up --dir "$G"
run "$BULWARK" status -c "$G/bulwark.ini"

heading "4. ordered writes and reads (f+1 matching replies; reads need 2f+1)"
run "$BULWARK" put -c "$G/bulwark.ini" greeting "hello, bulwark"
run "$BULWARK" put -c "$G/bulwark.ini" release/stable "1.0.0"
printf '$ bulwark get -c bulwark.ini greeting\n'
v=$("$BULWARK" get -c "$G/bulwark.ini" greeting); echo "$v"
[ "$v" = "hello, bulwark" ] || die "read back '$v'"
run "$BULWARK" cas -c "$G/bulwark.ini" release/stable 1 "1.0.1"
printf '$ bulwark cas -c bulwark.ini release/stable 1 1.0.2   (stale version: refused)\n'
set +e; "$BULWARK" cas -c "$G/bulwark.ini" release/stable 1 "1.0.2"; rc=$?; set -e
[ $rc -eq 4 ] || die "stale CAS exited $rc, expected 4"
echo "  -> exit status 4 (version mismatch)"

heading "5. kill -9 the primary"
primary=$(status_field 0 primary)
[ -n "$primary" ] || die "could not read the primary"
echo "the primary is replica $primary (view $(status_field 0 view))"
run "$BULWARK" cluster down --dir "$G" --replica "$primary" --kill

heading "6. the group elects a new primary and serves on"
for i in 1 2 3 4 5; do
	run "$BULWARK" put -c "$G/bulwark.ini" "after-crash/$i" "value $i"
done
printf '$ bulwark get -c bulwark.ini after-crash/5\n'
"$BULWARK" get -c "$G/bulwark.ini" after-crash/5; echo
other=$(( (primary + 1) % 4 ))
newview=$(status_field "$other" view)
newprimary=$(status_field "$other" primary)
echo "now in view $newview with primary $newprimary"
[ "$newprimary" != "$primary" ] || die "the crashed replica is still the primary"
run "$BULWARK" status -c "$G/bulwark.ini"

heading "7. restart the killed replica: it recovers from its disk (records log, LevelDB state) and catches up"
run "$BULWARK" cluster up --dir "$G" --replica "$primary"
run "$BULWARK" put -c "$G/bulwark.ini" after-restart "still here"
if wait_caught_up "$primary" 30; then
	echo "replica $primary has executed as far as the others"
else
	die "replica $primary did not catch up within 30 s"
fi
run "$BULWARK" status -c "$G/bulwark.ini"

heading "8. signed updates: a channel, a release, a light client over HTTP"
K=$work/keys
run "$BULWARK" keygen --out "$K" --name publisher1 >/dev/null
run "$BULWARK" keygen --out "$K" --name publisher2 >/dev/null
run "$BULWARK" keygen --out "$K" --name stranger >/dev/null
run "$BULWARK" channel create -c "$G/bulwark.ini" --admin-key "$G/keys/admin.key" \
	--publishers 2 "$K/publisher1.pub" "$K/publisher2.pub" demo/stable
mkdir -p "$work/release"
head -c 600000 /dev/urandom >"$work/release/app.bin"
printf 'bulwark demo release 1\n' >"$work/release/NOTES"
run "$BULWARK" publish -c "$G/bulwark.ini" --channel demo/stable --version 1 \
	--key "$K/publisher1.key" --key "$K/publisher2.key" "$work/release/app.bin" "$work/release/NOTES"
# The light client trusts the group's replica keys and the channel's publisher keys.
pubhex() { openssl pkey -pubin -in "$1" -outform DER 2>/dev/null | tail -c 32 | od -An -tx1 | tr -d ' \n'; }
trust() { # trust FILE PUBLISHER...
	local f=$1 i k
	shift
	{
		printf '[group]\nid = %s\nepoch = 1\nstate_dir = state-%s\n' \
			"$(sed -nE 's/^id = ([0-9]+).*/\1/p' "$G/bulwark.ini" | head -1)" "$(basename "$f" .ini)"
		for i in 0 1 2 3; do printf '[replica %d]\npublic_key = %s\n' "$i" "$(pubhex "$G/keys/replica$i.pub")"; done
		printf '[channel demo/stable]\nthreshold = 2\n'
		for k in "$@"; do printf 'publisher = %s\n' "$(pubhex "$k")"; done
	} >"$f"
}
trust "$work/trust.ini" "$K/publisher1.pub" "$K/publisher2.pub"
http=$(( $(sed -nE 's/^port = ([0-9]+).*/\1/p' "$G/bulwark.ini" | head -1) + 100 ))
ready=0
for _ in $(seq 1 100); do # the group certifies the new state within a second or two
	if curl -sf -o /dev/null "http://127.0.0.1:$http/v1/channels/demo/stable"; then ready=1; break; fi
	sleep 0.2
done
[ "$ready" = 1 ] || die "no certified channel document at replica 0's HTTP port"
run "$BULWARK" poll --channel demo/stable --trust "$work/trust.ini" \
	--from "http://127.0.0.1:$http" --out "$work/installed"
run cmp "$work/release/app.bin" "$work/installed/app.bin"
run cmp "$work/release/NOTES" "$work/installed/NOTES"
echo "the light client installed byte-identical files"
echo "an attack: a client whose trust file pins other publisher keys refuses the release"
trust "$work/trust-other.ini" "$K/stranger.pub" "$K/publisher1.pub"
printf '$ bulwark poll --trust trust-other.ini ...\n'
if "$BULWARK" poll --channel demo/stable --trust "$work/trust-other.ini" \
	--from "http://127.0.0.1:$http" --out "$work/installed-other"; then
	die "a release not signed by the pinned publishers was accepted"
fi
echo "refused, as it must be"

heading "9. stop everything"
run "$BULWARK" cluster down --dir "$G"

if [ -x "$O/bulwark-bench" ]; then
	heading "10. crypto speed on this machine"
	"$O/bulwark-bench" crypto --seconds 0.2 || echo "  (bulwark-bench crypto failed)"
fi
heading "done (all processes stopped, temporary files removed)"
