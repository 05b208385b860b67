#!/usr/bin/env bash
# Builds TeleGuard (release) and opens a chat; arguments go to `teleguard chat` (e.g. --model DIR). Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product teleguard >&2
exec .build/release/teleguard chat "$@"
