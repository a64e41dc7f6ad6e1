#!/usr/bin/env bash
# Fuzzes every decoder of outside input (test/fuzz/*_fuzz.cpp) with libFuzzer under ASan+UBSan: builds the
# targets with clang into build-fuzz/ (libmeshos and the targets only), runs each on the inputs that used
# to crash nodes (130,000 nested brackets, made here rather than committed), then fuzzes each for
# MESHOS_FUZZ_SECONDS (default 20) from its seed corpus. Any crash, sanitizer report, leak or hang fails.
#   MESHOS_FUZZ_SECONDS=300 scripts/ci-fuzz.sh     # longer runs
#   MESHOS_FUZZ_TARGETS="snapshot config" ...       # some targets only
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

MESHOS_FUZZ_BUILD_DIR=${MESHOS_FUZZ_BUILD_DIR:-$MESHOS_ROOT/build-fuzz}
MESHOS_FUZZ_SECONDS=${MESHOS_FUZZ_SECONDS:-20}
[[ $MESHOS_FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]] || die "MESHOS_FUZZ_SECONDS must be a whole number of seconds, got '$MESHOS_FUZZ_SECONDS'"

# libFuzzer's runtime is libclang-rt-dev, only recommended by clang (and recommendations are not installed).
MESHOS_DEBIAN_PACKAGES+=(clang libclang-rt-dev)
ensure_debian_packages

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:abort_on_error=0:detect_leaks=1:print_stacktrace=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

# -O1 with line tables: libFuzzer's advice, and a third less compile time than -O2 -g (the build compiles the
# runtime too, for the C SDK's target); reports still name file and line.
configure_and_build "$MESHOS_FUZZ_BUILD_DIR" meshos_fuzz \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" \
  -DMESHOS_FUZZ=ON -DMESHOS_WERROR=ON -DMESHOS_BUILD_TESTS=OFF -DMESHOS_BUILD_BENCHES=OFF "${MESHOS_FAST_LINK[@]}"

seeds=$MESHOS_ROOT/test/fuzz/corpus
work=$MESHOS_FUZZ_BUILD_DIR/fuzz
if [[ -n ${MESHOS_FUZZ_TARGETS:-} ]]; then
  read -r -a targets <<<"$MESHOS_FUZZ_TARGETS"
else
  targets=()
  for source in "$MESHOS_ROOT"/test/fuzz/*_fuzz.cpp; do
    name=$(basename "$source" _fuzz.cpp)
    targets+=("$name")
  done
fi
[[ ${#targets[@]} -gt 0 ]] || die "no fuzz targets in test/fuzz"

# The inputs that killed nodes: 130,000 levels of arrays, of objects, and unterminated (260 KB and more).
big=$work/big-inputs
mkdir -p "$big"
python3 - "$big" <<'EOF'
import sys
out = sys.argv[1]
depth = 130000
inputs = {
    "arrays.json": "[" * depth + "]" * depth,
    "objects.json": '{"a":' * depth + "1" + "}" * depth,
    "open_arrays.json": "[" * depth,
    "arrays_in_field.json": '{"tags": ' + "[" * depth + "]" * depth + "}",
    "long_string.json": '["' + "a" * 300000 + '"]',
    "config_list.conf": "[daemons]\nbuiltin = " + "[" * depth + "]" * depth + "\n",
}
for name, text in inputs.items():
    with open(f"{out}/{name}", "w") as f:
        f.write(text)
EOF

failed=()
for name in "${targets[@]}"; do
  binary=$MESHOS_FUZZ_BUILD_DIR/test/fuzz/meshos_fuzz_$name
  [[ -x $binary ]] || die "fuzz target $name was not built ($binary)"
  [[ -d $seeds/$name ]] || die "fuzz target $name has no seed corpus ($seeds/$name)"
  artifacts=$work/artifacts/$name
  mkdir -p "$work/corpus/$name" "$artifacts"
  started=$SECONDS
  log "fuzz $name: the 130,000-level inputs"
  if ! "$binary" -artifact_prefix="$artifacts/" "$big"/* >"$work/$name.big.log" 2>&1; then
    tail -n 40 "$work/$name.big.log" >&2
    failed+=("$name (big inputs)")
    continue
  fi
  log "fuzz $name: ${MESHOS_FUZZ_SECONDS}s from $seeds/$name"
  # New inputs go to the first folder (build-fuzz/), never into the committed seed corpus.
  if ! "$binary" -max_total_time="$MESHOS_FUZZ_SECONDS" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$work/corpus/$name" "$seeds/$name" >"$work/$name.log" 2>&1; then
    tail -n 60 "$work/$name.log" >&2
    failed+=("$name")
    continue
  fi
  log "fuzz $name: $(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$work/$name.log" | grep -Eo '[0-9]+$' || echo '?') runs, no finding ($((SECONDS - started))s)"
done

if [[ ${#failed[@]} -gt 0 ]]; then
  die "fuzzing found crashes in: ${failed[*]} (inputs in $work/artifacts/, logs in $work/)"
fi
log "fuzzing passed: ${targets[*]}"
