#!/usr/bin/env bash
# Installs a built meshos tree into a scratch prefix, then builds test/capi/capi_check.c against the
# INSTALLED net_meshos.h and libnet_meshos twice, the two ways a C user would: a plain `cc ... -lnet_meshos`
# (the Rust crate's drop-in recipe), and a CMake project using find_package(meshos) and meshos::meshos_c.
# Runs both and compares what they print.
# Usage: run_capi_test.sh <meshos build dir> <scratch dir> <test/capi source dir> <cmake> <c compiler> [sanitizers]
# [sanitizers]: the build's MESHOS_SANITIZE (e.g. address,undefined); the C programs are built with them too.
set -euo pipefail

build_dir=$1
scratch=$2
source_dir=$3
cmake=$4
cc=$5
sanitize=${6:-}
sanitizer_flags=()
sanitizer_link_flags=()
if [[ -n "$sanitize" ]]; then
  sanitizer_flags=(-fsanitize="$sanitize" -fno-sanitize-recover=all -fno-omit-frame-pointer)
  sanitizer_link_flags=("${sanitizer_flags[@]}")
  # The library is C++ underneath: clang links a C program with the sanitizers' C runtime only, without the
  # C++ handlers (UBSan's vptr and function checks) the library's code calls, unless asked to; those
  # handlers need libstdc++ on the link line themselves. (A sanitized library only; the plain one needs
  # nothing but -lnet_meshos, as the other runs of this test show.)
  if "$cc" --version | grep -q clang; then
    sanitizer_link_flags+=(-fsanitize-link-c++-runtime -lstdc++)
  fi
fi

rm -rf "$scratch"
mkdir -p "$scratch"
prefix="$scratch/prefix"
"$cmake" --install "$build_dir" --prefix "$prefix" >"$scratch/install.log"

header="$prefix/include/net_meshos.h"
[[ -f "$header" ]] || { echo "capi test: $header was not installed" >&2; exit 1; }
library=$(find "$prefix" -name 'libnet_meshos.so' -print -quit)
[[ -n "$library" ]] || { echo "capi test: libnet_meshos.so was not installed under $prefix" >&2; exit 1; }
libdir=$(dirname "$library")

expected="abi ok=0 null=-1 call_failed=-2 invalid_arg=-3 already_shutdown=-4
control none=0 shutdown=1 drain_start=2 drain_finish=3 bp_on=4 bp_off=5 unknown=99
layout size=24 grace_at=8 level_at=16
started
daemon id=782a3238801976bf name=c-echo
duplicate kind=register_failed
metadata name=yes daemon_id=yes maintenance=yes
published
try_next_control kind=0
next_control(20ms) kind=0
on_control kind=1 grace_in_range=yes
stopped
all checks passed"

run_and_compare() {
  local what=$1 program=$2 output
  if ! output=$("$program"); then
    printf '%s\n' "$output"
    echo "capi test ($what): the program failed" >&2
    exit 1
  fi
  printf '%s\n' "$output"
  if [[ "$output" != "$expected" ]]; then
    echo "capi test ($what): unexpected output; expected:" >&2
    printf '%s\n' "$expected" >&2
    exit 1
  fi
}

# 1. As the Rust crate's header documents it: the header's directory and one library, nothing else.
"$cc" -std=c99 -Wall -Wextra -Wpedantic -Werror -pthread "${sanitizer_link_flags[@]}" \
  -I"$prefix/include" "$source_dir/capi_check.c" \
  -L"$libdir" -lnet_meshos -Wl,-rpath,"$libdir" \
  -o "$scratch/capi_check_cc"
run_and_compare "cc -lnet_meshos" "$scratch/capi_check_cc"

# 2. Through the installed CMake package. Only the scratch prefix may provide meshos.
"$cmake" -S "$source_dir/consumer" -B "$scratch/build" \
  -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="${sanitizer_flags[*]}" \
  -DCMAKE_EXE_LINKER_FLAGS="${sanitizer_link_flags[*]}" \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DMESHOS_CAPI_CHECK_SOURCE="$source_dir/capi_check.c" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
  -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF >"$scratch/configure.log"
"$cmake" --build "$scratch/build" >"$scratch/build.log"
run_and_compare "find_package meshos::meshos_c" "$scratch/build/capi_check"

echo "capi test: C programs built against the installed net_meshos.h / libnet_meshos and ran correctly"
