#!/usr/bin/env bash
# check.sh: runs the test layers of `make check` and prints one closing tally.
#   scripts/check.sh [--only unit|sim|fuzz|integration] BUILD_DIR [SIM_SEEDS] [SMOKE_SECONDS]
# Unit tests and the simulator come from BUILD_DIR/san (ASan + UBSan); integration
# tests use the optimised binaries in BUILD_DIR. Each layer adds to the tally.
set -u
only=""
if [ "${1:-}" = "--only" ]; then only=$2; shift 2; fi
O=${1:-build}
SEEDS=${2:-300}
SMOKE=${3:-3}
SAN=$O/san
passed=0
failed=0
failures=()

want() { [ -z "$only" ] || [ "$only" = "$1" ]; }
fail() { failed=$((failed + 1)); failures+=("$1"); }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export CK_DEFAULT_TIMEOUT=${CK_DEFAULT_TIMEOUT:-60}

if want unit; then
	echo "== unit tests (ASan+UBSan)"
	for t in "$SAN"/tests/unit/test_*; do
		[ -x "$t" ] || continue
		out=$("$t" 2>&1); rc=$?
		printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks:|:[EF]:' | sed "s|^|  $(basename "$t"): |"
		line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks:' | tail -n 1)
		if [ -z "$line" ]; then
			printf '%s\n' "$out" | tail -n 20
			fail "$(basename "$t") (crashed, rc=$rc)"
			continue
		fi
		n=$(printf '%s' "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
		f=$(printf '%s' "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
		e=$(printf '%s' "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
		passed=$((passed + n - f - e))
		failed=$((failed + f + e))
		[ $((f + e)) -eq 0 ] && [ $rc -eq 0 ] || failures+=("$(basename "$t")")
	done
fi

if want sim && [ -x "$SAN/bulwark-sim" ]; then
	echo "== simulator: bulwark-sim --scenario all --seeds $SEEDS (ASan+UBSan)"
	out=$("$SAN/bulwark-sim" --scenario all --seeds "$SEEDS" 2>&1); rc=$?
	printf '%s\n' "$out" | tail -n 40 | sed 's/^/  /'
	line=$(printf '%s\n' "$out" | grep -E '^([a-z]+: )?[0-9]+ passed, [0-9]+ failed' | tail -n 1)
	if [ -z "$line" ]; then
		fail "bulwark-sim (no tally, rc=$rc)"
	else
		p=$(printf '%s' "$line" | sed -E 's/^([a-z]+: )?([0-9]+) passed.*/\2/')
		f=$(printf '%s' "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		passed=$((passed + p)); failed=$((failed + f))
		[ "$f" -eq 0 ] && [ $rc -eq 0 ] || failures+=("bulwark-sim")
	fi
fi

# Seeds that once found a bug, replayed every time (scenario:seed): state transfer
# restarted by each new view until it livelocked (the first six); a primary
# retransmitting a batch of a later view as a PRE-PREPARE of its own view (22337); a
# primary whose NEW-VIEW assigned seqs beyond its window proposing them again after a
# restart (crash-split:72957).
REGRESSION_SEEDS="crash-restart:2746 crash-restart:3899 crash-restart:4836 crash-restart:7706 crash-restart:8210 crash-restart:9829 crash-restart:22337 crash-split:72957"
if want sim && [ -x "$SAN/bulwark-sim" ]; then
	echo "== simulator regression seeds: $REGRESSION_SEEDS"
	for rs in $REGRESSION_SEEDS; do
		if "$SAN/bulwark-sim" --scenario "${rs%%:*}" --seed "${rs##*:}" >/dev/null 2>&1; then
			passed=$((passed + 1))
		else
			fail "bulwark-sim --scenario ${rs%%:*} --seed ${rs##*:}"
		fi
	done
fi

if want fuzz && [ -n "$(ls tests/fuzz/fuzz_*.c 2>/dev/null)" ]; then
	echo "== fuzz smoke: each target ${SMOKE}s"
	if ! make --no-print-directory O="$O" fuzz-build >/tmp/bulwark-fuzz-build.$$ 2>&1; then
		cat /tmp/bulwark-fuzz-build.$$; fail "fuzz build"
	else
		for src in tests/fuzz/fuzz_*.c; do
			name=$(basename "$src" .c)
			corpus=tests/fuzz/corpus/$name
			work=$(mktemp -d)
			[ -d "$corpus" ] && cp -r "$corpus"/. "$work"/ 2>/dev/null
			if "$O/fuzz/$name" -max_total_time="$SMOKE" -timeout=10 -rss_limit_mb=2048 \
				-print_final_stats=1 "$work" >"$work.log" 2>&1; then
				echo "  $name: ok ($(grep -Eo "stat::number_of_executed_units: [0-9]+" "$work.log" | grep -Eo "[0-9]+$" | tail -n1) inputs)"
				passed=$((passed + 1))
			else
				tail -n 30 "$work.log"; fail "$name"
			fi
			rm -rf "$work" "$work.log"
		done
	fi
	rm -f /tmp/bulwark-fuzz-build.$$
fi

if want integration && [ -n "$(ls tests/integration/test_*.sh 2>/dev/null)" ]; then
	echo "== integration tests (real processes on 127.0.0.1)"
	for t in tests/integration/test_*.sh; do
		start=$(date +%s)
		if timeout 600 bash "$t" "$O" >"/tmp/bulwark-it.$$" 2>&1; then
			echo "  $(basename "$t"): ok ($(( $(date +%s) - start ))s)"
			passed=$((passed + 1))
		else
			tail -n 40 "/tmp/bulwark-it.$$" | sed 's/^/    /'
			grep -E 'FAIL' "/tmp/bulwark-it.$$" | head -n 5 | sed 's/^/    /'
			echo "  $(basename "$t"): FAILED"
			fail "$(basename "$t")"
		fi
		rm -f "/tmp/bulwark-it.$$"
	done
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failing: ${failures[*]}"
fi
echo "total: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ ${#failures[@]} -eq 0 ]
