#!/usr/bin/env bash
# Runs BTFKit's whole test suite: installs the apt packages it needs, builds, runs `swift test`.
# Tests that need ../shared/btfhub-archive or root say so when they skip; under CI=true they fail.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build --build-tests
swift test --skip-build "$@"
