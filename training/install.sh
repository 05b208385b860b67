#!/usr/bin/env bash
# Idempotent setup for training/: the Debian data packages the corpus is built from, and a Python venv.
#   wordnet-base  -> /usr/share/wordnet            (lemmas, glosses, synonyms)
#   fortunes-min  -> /usr/share/games/fortunes     (sayings)
#   iso-codes     -> /usr/share/iso-codes/json     (countries, currencies)
#   units         -> /usr/share/units              (exact unit definitions)
# The venv lives at ${TELEGUARD_VENV:-$HOME/.cache/teleguard/venv}; pip runs only when an import fails.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need=()
[ -f /usr/share/wordnet/data.noun ] || need+=(wordnet-base)
[ -f /usr/share/games/fortunes/fortunes ] || need+=(fortunes-min)
[ -f /usr/share/iso-codes/json/iso_3166-1.json ] || need+=(iso-codes)
[ -f /usr/share/units/definitions.units ] || need+=(units)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${need[@]}"
fi

venv="${TELEGUARD_VENV:-$HOME/.cache/teleguard/venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import torch, transformers, tokenizers, peft, safetensors, numpy, jinja2, pytest, openai, gguf" 2>/dev/null; then
  "$venv/bin/pip" install -r "$here/requirements.txt"
fi
echo "$venv/bin/python"
