#!/usr/bin/env bash
# The whole test suite: set up and build if needed, run every CTest test, then build the unit tests again
# with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and run them there too.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# A sanitizer finding stops the program with a stack trace, so it fails its test instead of scrolling by.
export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-print_suppressions=0}

run_ctest() {
  local dir=$1
  shift
  ctest --test-dir "$dir" --output-on-failure --parallel "$MESHOS_JOBS" --timeout 300 --no-tests=error "$@"
}

ensure_debian_packages

build_main
log "running all tests (build: $MESHOS_BUILD_DIR)"
run_ctest "$MESHOS_BUILD_DIR"

# The actor suite must hold up when run again and again: timing-dependent flakiness shows here first.
log "running the actor suite 20 times in a row"
run_ctest "$MESHOS_BUILD_DIR" -L '^actor$' --repeat until-fail:20

# The unit and actor suites, and the network layer's own suites (the guard under hostile traffic, peers,
# operators), again with sanitizers. The apps' end-to-end suites are left to the main build, to keep CI time
# in bounds.
configure_and_build "$MESHOS_ASAN_BUILD_DIR" \
  "meshos_unit_tests meshos_actor_tests meshos_integration_net meshos_integration_hostile_traffic" \
  -DCMAKE_BUILD_TYPE=Debug -DMESHOS_SANITIZE=address,undefined -DMESHOS_BUILD_BENCHES=OFF
log "running unit, actor and network tests under ASan+UBSan (build: $MESHOS_ASAN_BUILD_DIR)"
run_ctest "$MESHOS_ASAN_BUILD_DIR" -L '^(unit|actor)$'
# CAF 0.17 leaks by design where actors talk to remote nodes (test/sanitizers/lsan-caf.supp says which and why).
# One at a time: each runs a cluster of nodes in one process, several times slower under ASan.
LSAN_OPTIONS="$LSAN_OPTIONS:suppressions=$MESHOS_ROOT/test/sanitizers/lsan-caf.supp" \
  run_ctest "$MESHOS_ASAN_BUILD_DIR" -R '^integration/(net|hostile_traffic)/' --parallel 1

# Every decoder of outside input under libFuzzer (ASan+UBSan), from its seeds and the inputs that once
# crashed nodes, for a bounded time each.
MESHOS_FUZZ_SECONDS=${MESHOS_FUZZ_SECONDS:-20} "$MESHOS_ROOT/scripts/ci-fuzz.sh"

log "all tests passed"
