#!/bin/sh
# deps.sh: install the Debian packages bulwark builds and tests with.
#   scripts/deps.sh              install whatever is missing (root), else print the apt-get line
#   scripts/deps.sh --if-missing same, silent when everything is present
set -eu

PKGS="build-essential pkg-config clang libssl-dev libsodium-dev libev-dev libleveldb-dev check \
libsubunit-dev libinih-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev \
libzstd-dev libisal-dev gnuplot-nox curl openssl python3 python3-cryptography wrk"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

if [ -z "$missing" ]; then
	[ "${1:-}" = "--if-missing" ] || echo "deps: all packages present"
	exit 0
fi

line="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run as root:  apt-get update && $line" >&2
	exit 1
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
