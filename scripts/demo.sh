#!/usr/bin/env bash
# demo.sh: what bulwark does so far: make a local 4-replica group and check its config.
#   scripts/demo.sh BUILD_DIR        (run by `make demo`)
set -euo pipefail
O=${1:-build}
O=$(cd "$O" && pwd)
BULWARK=$O/bulwark
BULWARKD=$O/bulwarkd
for p in "$BULWARK" "$BULWARKD"; do
	[ -x "$p" ] || { echo "demo: $p is missing; run make first" >&2; exit 1; }
done

exec 2>&1 # one stream, so errors appear where they happen
work=$(mktemp -d /tmp/bulwark-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
heading() { printf '\n== %s\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

heading "1. a group of 4 replicas (f = 1) on 127.0.0.1, keys and config in one command"
run "$BULWARK" cluster init --replicas 4 --dir "$work/group"

heading "2. what it wrote"
(cd "$work/group" && ls -l bulwark.ini keys/* | sed 's/^/  /')
echo "  [replica 0] of bulwark.ini:"
sed -n '/^\[replica 0\]/,/^private_key/p' "$work/group/bulwark.ini" | sed 's/^/    /'

heading "3. every replica checks the config and its own private key"
for i in 0 1 2 3; do
	printf 'replica %s: ' "$i"
	"$BULWARKD" -c "$work/group/bulwark.ini" -i "$i" --check-config
done

heading "4. a broken config is refused with file:line errors"
sed -e 's/^f = 1 .*/f = 2/' -e 's/^port = 7001$/port = 7000/' \
    -e 's/^log_window = 256 .*/log_window = 200/' \
	"$work/group/bulwark.ini" > "$work/group/broken.ini"
chmod 0644 "$work/group/keys/replica1.key"
echo "  (f = 2, replica 1 on replica 0's port, log_window 200, replica 1's key mode 0644)"
printf '$ bulwarkd -c broken.ini -i 1 --check-config\n'
if (cd "$work/group" && "$BULWARKD" -c broken.ini -i 1 --check-config); then
	echo "demo: the broken config was accepted" >&2
	exit 1
else
	echo "  -> exit status $?"
fi
printf '$ bulwarkd -c bulwark.ini -i 1 --check-config\n'
if (cd "$work/group" && "$BULWARKD" -c bulwark.ini -i 1 --check-config); then
	echo "demo: a world-readable private key was accepted" >&2
	exit 1
else
	echo "  -> exit status $?"
fi
chmod 0600 "$work/group/keys/replica1.key"

if [ -x "$O/bulwark-bench" ]; then
	heading "5. crypto speed on this machine"
	"$O/bulwark-bench" crypto --seconds 0.2 || echo "  (bulwark-bench crypto failed)"
fi
heading "done (temporary files removed)"
