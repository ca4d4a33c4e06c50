#!/usr/bin/env bash
# test_install.sh: make install into a staging DESTDIR gives the binaries, the public
# headers and a pkg-config file with which an outside program compiles, links and runs.
#   bash tests/integration/test_install.sh BUILD_DIR
set -euo pipefail
O=${1:-build}
stage=$(mktemp -d /tmp/bulwark-install.XXXXXX)
trap 'rm -rf "$stage"' EXIT

make --no-print-directory -s O="$O" install DESTDIR="$stage" PREFIX=/usr/local >/dev/null
for f in bin/bulwarkd bin/bulwark bin/bulwark-bench include/bulwark.h \
	 include/bulwark_update.h include/bulwark_publish.h lib/libbulwark.a lib/pkgconfig/bulwark.pc; do
	[ -e "$stage/usr/local/$f" ] || { echo "install: missing $f"; exit 1; }
done
[ ! -e "$stage/usr/local/bin/bulwark-sim" ] || { echo "install: the simulator was installed"; exit 1; }

cat > "$stage/use.c" <<'C'
#include <bulwark.h>
#include <bulwark_update.h>
#include <bulwark_publish.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
	if (strcmp(bulwark_version(), "") == 0)
		return 1;
	printf("%s\n", bulwark_version());
	return 0;
}
C
export PKG_CONFIG_PATH=$stage/usr/local/lib/pkgconfig
# the .pc names /usr/local; point the compiler at the staging copies
cflags="-I$stage/usr/local/include"
libs=$(pkg-config --libs bulwark | sed "s|-L/usr/local/lib|-L$stage/usr/local/lib|")
cc -std=c99 -Wall -Werror $cflags -o "$stage/use" "$stage/use.c" $libs
version=$("$stage/use")
[ "$version" = "$(pkg-config --modversion bulwark)" ] || { echo "version $version"; exit 1; }
# the installed header compiles as C++ too
if command -v g++ >/dev/null; then
	printf '#include <bulwark.h>\n#include <bulwark_update.h>\n#include <bulwark_publish.h>\nint main(){return bulwark_version()==0;}\n' |
		g++ -x c++ -fsyntax-only $cflags -
fi
echo "installed libbulwark $version links and runs"
