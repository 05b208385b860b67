#!/usr/bin/env bash
# Runs every test: the Swift runtime's unit and parity tests and the CLI tests. Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build 2>&1 | tee .build/test-output.txt
