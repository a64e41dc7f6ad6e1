#!/bin/sh
# check_output.sh PROGRAM TEXT...: runs PROGRAM, which must exit 0 and print every TEXT (a fixed string) on
# its standard output. Used for the example programs, whose output is what they demonstrate.
program=$1
shift
out=$("$program") || { echo "$program exited with status $?"; printf '%s\n' "$out"; exit 1; }
for want in "$@"; do
  if ! printf '%s\n' "$out" | grep -qF -- "$want"; then
    echo "$program did not print: $want"
    printf '%s\n' "$out"
    exit 1
  fi
done
