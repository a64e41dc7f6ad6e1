# shellcheck shell=bash
# Shared by scripts/*.sh (sourced, not run): Debian packages, configure, build.
# Everything here is idempotent: a second run installs nothing and rebuilds only what changed.

MESHOS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MESHOS_BUILD_DIR=${MESHOS_BUILD_DIR:-$MESHOS_ROOT/build}
MESHOS_ASAN_BUILD_DIR=${MESHOS_ASAN_BUILD_DIR:-$MESHOS_ROOT/build-asan}
MESHOS_TSAN_BUILD_DIR=${MESHOS_TSAN_BUILD_DIR:-$MESHOS_ROOT/build-tsan}
# The CI machine has two cores; more parallel jobs than that only thrash.
MESHOS_JOBS=${MESHOS_JOBS:-2}

# (meshos-bench measures against baselines of its own in the same run, so Google Benchmark is not needed.)
MESHOS_DEBIAN_PACKAGES=(build-essential cmake g++ libcaf-dev nlohmann-json3-dev doctest-dev libssl-dev
                        libsystemd-dev python3 openssl pkg-config lld)

# LLVM's linker for the test builds: a test executable links statically against CAF-heavy libraries, and
# ld.lld links one in about a third of the time GNU ld takes (2.1 s against 7.0 s for an ASan suite, measured
# here); with some 50 executables per build, minutes of CI. Works with g++ and its sanitizers alike. Used by
# the scripts that source this file.
# shellcheck disable=SC2034
MESHOS_FAST_LINK=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld -DCMAKE_SHARED_LINKER_FLAGS=-fuse-ld=lld
                  -DCMAKE_MODULE_LINKER_FLAGS=-fuse-ld=lld)

# The programs without the test suites, with line tables only (-g1): backtraces still name every function
# with file and line, and the CAF-heavy files compile in half the time of -g. run.sh's build and CI's release
# build, which share build/.
# shellcheck disable=SC2034
MESHOS_LEAN_PROGRAMS=(-DMESHOS_BUILD_TESTS=OFF "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
                      "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG" "${MESHOS_FAST_LINK[@]}")

# Each line says how long the script has run, so a CI log shows where its 30 minutes go.
log() { printf '==> [%4ds] %s\n' "$SECONDS" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Installs whichever of the packages above are missing (apt-get only runs when something is).
ensure_debian_packages() {
  local missing=() pkg
  for pkg in "${MESHOS_DEBIAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [[ ${#missing[@]} -eq 0 ]]; then
    return 0
  fi
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}) and no sudo to install them"
    sudo=(sudo)
  fi
  log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}

# configure_and_build <build dir> <target or "all"> [cmake -D options...]
configure_and_build() {
  local dir=$1 target=$2
  shift 2
  log "configuring $dir"
  cmake -S "$MESHOS_ROOT" -B "$dir" "$@"
  log "building $target in $dir"
  if [[ $target == all ]]; then
    cmake --build "$dir" --parallel "$MESHOS_JOBS"
  else
    # One target at a time: given several, CMake's Makefiles run a make for each in parallel, and each
    # compiled the libraries they share (meshos, meshos_core) again, at the same time, into the same files.
    local one
    for one in $target; do
      cmake --build "$dir" --parallel "$MESHOS_JOBS" --target "$one"
    done
  fi
}

# The main build: everything (library, apps, all test suites), warnings are errors. [cmake -D options...]
build_main() {
  configure_and_build "$MESHOS_BUILD_DIR" all -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESHOS_WERROR=ON "$@"
}
