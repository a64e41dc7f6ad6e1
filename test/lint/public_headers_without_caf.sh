#!/bin/sh
# Every public header but meshos/caf.hpp compiles without pulling in a CAF header: CAF stays behind meshos'
# surface, and an application that does not include meshos/caf.hpp needs none of CAF (issue 11, point 4).
# Usage: public_headers_without_caf.sh <c++ compiler> <source dir> [header to leave out, default caf.hpp]
set -eu
cxx=$1
src=$(cd "$2" && pwd)
left_out=${3:-caf.hpp}
headers=$(mktemp)
trace=$(mktemp)
trap 'rm -f "$headers" "$trace"' EXIT
for h in "$src"/libmeshos/include/meshos/*.hpp "$src"/actors/include/meshos/*.hpp; do
  [ "$(basename "$h")" = "$left_out" ] && continue
  echo "#include \"$h\""
done >"$headers"
# -H lists every header the preprocessor opens, one per line, on stderr.
"$cxx" -std=c++17 -fsyntax-only -H -I"$src/libmeshos/include" -I"$src/actors/include" -x c++ "$headers" 2>"$trace" || {
  cat "$trace" >&2
  exit 1
}
if grep -E '/caf/[^ ]+\.hpp$' "$trace" >&2; then
  echo "public headers include CAF (above); only meshos/caf.hpp may" >&2
  exit 1
fi
echo "$(wc -l <"$headers") public headers, no CAF header among what they include"
