#!/bin/sh
# meshos beside the peers, in one run: meshos-bench (with its plain-CAF baselines), the tokio peer and the
# Erlang peer (../shared/peers), back to back on this machine, then one table of the control workloads with
# the ratios. A peer whose toolchain is missing is skipped with a note; nothing here asserts a speed.
#
# Usage: apps/bench/compare.sh [--quick] [BUILD_DIR]   (BUILD_DIR: where meshos-bench was built; default build)
# Needs python3. The peers need Debian's toolchains:
#   tokio:  apt-get install cargo rustc librust-tokio-dev librust-parking-lot-dev
#   Erlang: apt-get install erlang-base
# MESHOS_PEERS names the peers' folder (default: ../shared/peers beside the source tree). The peers are built
# in a temporary copy (their folder may be read-only), removed at the end. --quick runs meshos-bench --quick
# (the peers have no quick mode: their figures are full runs).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
quick=""
if [ "${1:-}" = "--quick" ]; then
  quick="--quick"
  shift
fi
build=${1:-$root/build}
peers=${MESHOS_PEERS:-$root/../shared/peers}
bench="$build/apps/meshos-bench"
[ -x "$bench" ] || { echo "compare.sh: no meshos-bench in $build/apps (cmake --build $build --target meshos-bench)" >&2; exit 2; }
command -v python3 > /dev/null || { echo "compare.sh: python3 is needed for the table" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

echo "# $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load before: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "# meshos-bench $quick (route, broadcast, deliver, process)"
"$bench" $quick --only route --only broadcast --only deliver --only process > "$work/meshos.txt"

: > "$work/tokio.txt"
if [ -x /usr/bin/cargo ] && [ -x /usr/bin/rustc ] && ls -d /usr/share/cargo/registry/tokio-1.* > /dev/null 2>&1 &&
   [ -d "$peers/rust-tokio" ]; then
  echo "# tokio peer: building a copy with Debian's cargo (offline, packaged crates), then running it"
  cp -R "$peers/rust-tokio" "$work/rust-tokio"
  rm -rf "$work/rust-tokio/target"
  (cd "$work/rust-tokio" && RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --quiet)
  "$work/rust-tokio/target/release/meshos-peer-tokio" > "$work/tokio.txt"
else
  echo "# tokio peer skipped: needs $peers/rust-tokio, /usr/bin/cargo, /usr/bin/rustc and librust-tokio-dev"
fi

: > "$work/erlang.txt"
if command -v erlc > /dev/null && command -v erl > /dev/null && [ -d "$peers/erlang" ]; then
  echo "# Erlang peer: compiling a copy, then running it on 2 schedulers"
  mkdir -p "$work/erlang/ebin"
  erlc -o "$work/erlang/ebin" "$peers/erlang/meshos_peer.erl"
  erl -noshell +S 2 -pa "$work/erlang/ebin" -run meshos_peer main > "$work/erlang.txt"
else
  echo "# Erlang peer skipped: needs $peers/erlang and erlang-base (erl, erlc)"
fi

echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$here/compare_table.py" "$work/meshos.txt" "$work/tokio.txt" "$work/erlang.txt"
