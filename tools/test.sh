#!/usr/bin/env bash
# Runs the whole test suite from a clean checkout: installs what is missing (tools/setup.sh),
# checks the C style (clang-format), builds warnings-as-errors, runs unit, fuzz-corpus,
# integration and end-to-end tests, then
# builds again with AddressSanitizer + UndefinedBehaviorSanitizer and runs them all again.
# Ends with one line: "N passed, N failed".
#
#   tools/test.sh              everything
#   tools/test.sh --quick      one build (no sanitizer pass)
#   NXC_TEST_LABELS=unit tools/test.sh --quick   only some labels (unit|fuzz|integration|e2e)
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
quick=0
[ "${1:-}" = --quick ] && quick=1
labels=${NXC_TEST_LABELS:-}

"$here/setup.sh" || { echo "0 passed, 1 failed"; exit 1; }

# The real Nexus datamodels the tests use as input: shared/ beside the checkout.
shared=${NXC_SHARED_DIR:-$root/../shared}
if [ ! -d "$shared/datamodels/example" ]; then
    echo "test: no datamodels at $shared/datamodels (the tests' input): keep the checkout" \
        "beside shared/, or set NXC_SHARED_DIR to the directory that holds datamodels/"
    echo "0 passed, 1 failed"
    exit 1
fi
shared=$(cd "$shared" && pwd)
export PATH="$HOME/.cache/nexus-connector/bin:$PATH"

passed=0
failed=0

# run_pass NAME BUILD_DIR CMAKE_ARGS...: build and run every test; adds Criterion's counts.
run_pass() {
    local name=$1 dir=$2
    shift 2
    local log="$dir/test-output.log"
    echo "== $name: configure and build ($dir)"
    if ! cmake -S "$root" -B "$dir" -DNXC_WERROR=ON -DNXC_SHARED_DIR="$shared" "$@" >/dev/null ||
        ! cmake --build "$dir" -j"$(nproc)" >"$dir/build.log" 2>&1; then
        tail -40 "$dir/build.log" 2>/dev/null
        echo "== $name: build FAILED"
        failed=$((failed + 1))
        return
    fi
    echo "== $name: running tests"
    local args=(--test-dir "$dir" -V --timeout 1800)
    [ -n "$labels" ] && args+=(-L "$labels")
    ctest "${args[@]}" >"$log" 2>&1
    local rc=$?
    # Criterion prints one synthesis line per binary; the fuzz replays print "ran N inputs"
    local p f
    p=$(grep -ho 'Passing: [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    f=$(grep -ho 'Failing: [0-9]*' "$log" | awk '{s += $2} END {print s + 0}')
    local fz
    fz=$(grep -hcE '^[0-9]+: ran [0-9]+ inputs' "$log" || true)
    p=$((p + fz))
    grep -E '^\[(FAIL|----)\]|Synthesis|tests passed|tests failed|ran [0-9]+ inputs|Test +#' "$log" |
        grep -v '^\[----\] Criterion' | sed 's/^/   /' | tail -60
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1 # a binary failed outside Criterion's count (crash, time-out, sanitizer)
    fi
    echo "== $name: $p passed, $f failed"
    passed=$((passed + p))
    failed=$((failed + f))
}

# Style: every C file as clang-format (.clang-format) writes it. Counts as one test.
echo "== style: clang-format"
unformatted=$(cd "$root" && for f in $(git ls-files '*.c' '*.h'); do
    clang-format --dry-run "$f" 2>&1 | grep -q 'warning:' && echo "$f"
done)
if [ -n "$unformatted" ]; then
    echo "   not formatted (run: clang-format -i <file>):"
    echo "$unformatted" | sed 's/^/     /'
    failed=$((failed + 1))
else
    passed=$((passed + 1))
fi

run_pass "release build" "$root/build"
if [ $quick -eq 0 ]; then
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        run_pass "sanitizer build (ASan+UBSan)" "$root/build-asan" -DNXC_SANITIZE=ON \
        -DCMAKE_BUILD_TYPE=Debug
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
