#!/usr/bin/env bash
# The main job: set up and build if needed, then run the demo (the pure core through a few simulated ticks).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_debian_packages
build_main
log "running meshos-demo"
exec "$MESHOS_BUILD_DIR/apps/meshos-demo" "$@"
