#!/usr/bin/env bash
# Runs every test: the Swift runtime, guard and CLI tests, then the Python tests (PEFT interop of exported adapters and
# the training pipeline, whose --tiny run trains for real on the CPU). Installs what it needs (system packages, the
# default model, the Python venv); safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The real default model (SmolLM2-135M-Instruct, Q4_1 GGUF, 98 MB) for the GGUF parity tests: downloaded once.
bash scripts/install-model.sh >/dev/null
swift build --build-tests
mkdir -p .build
swift test --skip-build 2>&1 | tee .build/swift-test-output.txt
python="$(bash training/install.sh | tail -n 1)"
"$python" -m pytest -q -p no:cacheprovider Tests/Python training/tests
