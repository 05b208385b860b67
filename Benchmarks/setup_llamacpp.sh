#!/usr/bin/env bash
# Build the llama.cpp reference: llama-cpp-python compiled from its sdist (which vendors
# llama.cpp and its convert_hf_to_gguf.py) into a venv of its own. Debian 12 has no
# llama.cpp package, and only PyPI and Debian are reachable, so the sdist is the source.
# Idempotent: does nothing when the venv already imports llama_cpp.
#
# Environment (defaults in brackets):
#   LLAMACPP_VENV     [/root/.cache/teleguard/venv-llamacpp]
#   LLAMACPP_SRC      [/root/.cache/teleguard/llamacpp-sdist]  where the sdist is unpacked
#   LLAMACPP_VERSION  [0.3.36]
#   CMAKE_BUILD_PARALLEL_LEVEL [2]  compile jobs (the build takes ~15-30 min on 2 busy cores)
set -euo pipefail

VENV="${LLAMACPP_VENV:-/root/.cache/teleguard/venv-llamacpp}"
SRC="${LLAMACPP_SRC:-/root/.cache/teleguard/llamacpp-sdist}"
VERSION="${LLAMACPP_VERSION:-0.3.36}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import llama_cpp" 2>/dev/null; then
    echo "llama-cpp-python already installed in $VENV" >&2
else
    if ! command -v cmake >/dev/null || ! command -v g++ >/dev/null; then
        apt-get install -y cmake build-essential >&2
    fi
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV" >&2
    mkdir -p "$SRC"
    SDIST="$SRC/llama_cpp_python-$VERSION.tar.gz"
    [ -f "$SDIST" ] || "$VENV/bin/pip" download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$SRC" >&2
    # Only the library: no tools, examples, tests or multimodal projector; ggml's own
    # CPU kernels for the host (-march=native), no BLAS.
    export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-2}"
    export CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON -DGGML_BLAS=OFF"
    "$VENV/bin/pip" install "$SDIST" >&2
fi

# The converter (convert_hf_to_gguf.py) comes from the same llama.cpp sources.
if [ ! -f "$SRC/llama_cpp_python-$VERSION/vendor/llama.cpp/convert_hf_to_gguf.py" ]; then
    tar -xzf "$SRC/llama_cpp_python-$VERSION.tar.gz" -C "$SRC"
fi
echo "$SRC/llama_cpp_python-$VERSION/vendor/llama.cpp"
