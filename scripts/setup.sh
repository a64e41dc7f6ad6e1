#!/usr/bin/env bash
# Fresh Debian 12 machine -> built tree: installs the missing packages, configures and builds build/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_debian_packages
build_main
