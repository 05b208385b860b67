#!/usr/bin/env bash
# TeleGuard CPU throughput against transformers and llama.cpp, same model, prompt,
# precision (F32) and thread count. Run from anywhere; works in the repository root.
# Prints a Markdown table; the raw runs and a JSON summary go to $RESULTS.
#
# Environment (defaults in brackets):
#   THREADS [2]  PROMPT_TOKENS [128]  GEN_TOKENS [64]  RUNS [3]  runs per runtime, best kept
#   MODEL   [bench-models/llama-100m]  made by make_bench_model.py when missing
#   RESULTS [bench-models/results]
#   PYTHON  [/root/.cache/teleguard/venv/bin/python]  torch + transformers venv
#   LLAMACPP_VENV [/root/.cache/teleguard/venv-llamacpp]  built by setup_llamacpp.sh
#   SKIP_TELEGUARD [0] set to 1 to measure only the references (no swift build)
#   SKIP_LLAMACPP [0]  set to 1 to leave llama.cpp out (its first build takes long)
set -uo pipefail

cd "$(dirname "$0")/.."
THREADS="${THREADS:-2}"
PROMPT_TOKENS="${PROMPT_TOKENS:-128}"
GEN_TOKENS="${GEN_TOKENS:-64}"
RUNS="${RUNS:-3}"
MODEL="${MODEL:-bench-models/llama-100m}"
RESULTS="${RESULTS:-bench-models/results}"
PYTHON="${PYTHON:-/root/.cache/teleguard/venv/bin/python}"
export LLAMACPP_VENV="${LLAMACPP_VENV:-/root/.cache/teleguard/venv-llamacpp}"
SKIP_TELEGUARD="${SKIP_TELEGUARD:-0}"
SKIP_LLAMACPP="${SKIP_LLAMACPP:-0}"
GGUF="${MODEL%/}-f32.gguf"

mkdir -p "$RESULTS"
rm -f "$RESULTS"/teleguard.jsonl "$RESULTS"/transformers.jsonl "$RESULTS"/llamacpp.jsonl "$RESULTS"/load.txt

log() { echo "== $*" >&2; }
# The 1-minute load average before each run (the CPU is shared): "runtime run N: L".
note_load() { echo "$1: $(uptime | sed 's/.*load average: \([^,]*\).*/\1/')" >> "$RESULTS/load.txt"; }

"$PYTHON" Benchmarks/make_bench_model.py "$MODEL" || exit 1

if [ "$SKIP_TELEGUARD" = 1 ]; then
    log "TeleGuard skipped"
elif log "TeleGuard" && swift build -c release >&2; then
    for run in $(seq "$RUNS"); do
        note_load "TeleGuard run $run"
        .build/release/teleguard bench --model "$MODEL" --threads "$THREADS" \
            --prompt-tokens "$PROMPT_TOKENS" --gen-tokens "$GEN_TOKENS" --json >> "$RESULTS/teleguard.jsonl" \
            || { log "teleguard bench failed (run $run)"; break; }
    done
else
    log "swift build failed; TeleGuard left out"
fi

log "transformers"
for run in $(seq "$RUNS"); do
    note_load "transformers run $run"
    "$PYTHON" Benchmarks/transformers_reference.py --model "$MODEL" --threads "$THREADS" \
        --prompt-tokens "$PROMPT_TOKENS" --gen-tokens "$GEN_TOKENS" >> "$RESULTS/transformers.jsonl" \
        || log "transformers reference failed (run $run)"
done

if [ "$SKIP_LLAMACPP" != 1 ]; then
    log "llama.cpp"
    if LLAMA_CPP_SRC="$(Benchmarks/setup_llamacpp.sh | tail -n 1)" \
        && "$PYTHON" Benchmarks/convert_to_gguf.py --llama-cpp "$LLAMA_CPP_SRC" "$MODEL" "$GGUF" >&2; then
        for run in $(seq "$RUNS"); do
            note_load "llama.cpp run $run"
            "$LLAMACPP_VENV/bin/python" Benchmarks/llamacpp_reference.py --gguf "$GGUF" --model "$MODEL" \
                --threads "$THREADS" --prompt-tokens "$PROMPT_TOKENS" --gen-tokens "$GEN_TOKENS" \
                >> "$RESULTS/llamacpp.jsonl" || log "llama.cpp reference failed (run $run)"
        done
    else
        log "llama.cpp setup or GGUF conversion failed; llama.cpp left out"
    fi
fi

python3 Benchmarks/report.py --teleguard "$RESULTS/teleguard.jsonl" \
    --reference "transformers=$RESULTS/transformers.jsonl" \
    --reference "llama.cpp=$RESULTS/llamacpp.jsonl" \
    --load "$(paste -sd ';' "$RESULTS/load.txt" | sed 's/;/; /g')" --json "$RESULTS/summary.json" | tee "$RESULTS/summary.md"
