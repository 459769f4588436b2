#!/bin/sh
# replay.t - every fuzz target over its committed corpus (TAP), so a
# crash the fuzzer found once stays fixed.  t/run runs it with the unit
# tests; the targets are t/fuzz/replay_NAME (the target's
# LLVMFuzzerTestOneInput with driver.c's main, built by make check in
# any build: no clang needed).  Leaks count as failures where
# LeakSanitizer can run.
# Environment: BUILDDIR (default: the source tree), SRCDIR.
set -u
SRCDIR=${SRCDIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILDDIR=${BUILDDIR:-$SRCDIR}
corpus=$SRCDIR/t/fuzz/corpus
out=$(mktemp)
trap 'rm -f "$out"' EXIT

names=$(cd "$corpus" && ls)
n=0
for name in $names; do n=$((n + 1)); done
echo "1..$n"
i=0
for name in $names; do
	i=$((i + 1))
	bin=$BUILDDIR/t/fuzz/replay_$name
	if [ ! -x "$bin" ]; then
		echo "not ok $i - fuzz corpus $name: $bin not built"
		continue
	fi
	ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0} \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    "$bin" "$corpus/$name" >"$out" 2>&1
	rc=$?
	if grep -q 'LeakSanitizer has encountered a fatal error' "$out"; then
		# no ptrace here (a sandbox): everything but leaks
		ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
		UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		    "$bin" "$corpus/$name" >"$out" 2>&1
		rc=$?
	fi
	if [ $rc = 0 ]; then
		echo "ok $i - fuzz corpus $name: $(tail -n 1 "$out")"
	else
		echo "not ok $i - fuzz corpus $name (exit $rc)"
		# the input that crashed is the last one named
		grep -v '^# /' "$out" | sed 's/^/# /' | tail -n 40
		grep '^# /' "$out" | tail -n 1
	fi
done
