#!/usr/bin/env bash
# The main job: set up and build if needed, make throwaway keys and certificates once (build/certs), then run
# one meshos node (conf/node.conf: 127.0.0.1:7000, echo + counter daemons) until Ctrl-C / SIGTERM, which
# drains it. Extra arguments go to meshosd, e.g. --node.listen-port=0.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_debian_packages
# Only what it runs and what drives it, not the test suites and the bench (a fresh clone's first node
# in minutes rather than after the whole build; README.md has the figure).
configure_and_build "$MESHOS_BUILD_DIR" "meshosd meshos-ctl meshos-run" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMESHOS_WERROR=ON \
  "${MESHOS_LEAN_PROGRAMS[@]}"
cd "$MESHOS_ROOT"
if [[ ! -f build/certs/node.key.json || ! -f build/certs/members.json ]]; then
  log "making throwaway keys and certificates in build/certs"
  scripts/make-test-certs.sh build/certs
fi
log "running meshosd --config conf/node.conf (Ctrl-C drains and stops it)"
exec "$MESHOS_BUILD_DIR/apps/meshosd/meshosd" --config conf/node.conf "$@"
