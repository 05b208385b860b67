#!/usr/bin/env bash
# Serving throughput with concurrent clients: `teleguard serve --max-batch 1` (requests take turns) against
# `--max-batch N` (decoded together), same model, same requests, in one run.
#
#   Benchmarks/serve_batch.sh [MODEL] [CLIENTS] [MAX_TOKENS]
#
# MODEL defaults to the installed SmolLM2-135M-Instruct GGUF; CLIENTS to 4; MAX_TOKENS to 64. Each client sends one
# chat completion (greedy, the same prompt, ignore_eos so every answer has MAX_TOKENS tokens); the figure is the
# completion tokens of all clients over the wall time from the first request to the last answer.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-${TELEGUARD_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/teleguard/models}/SmolLM2-135M-Instruct.Q4_1.gguf}
CLIENTS=${2:-4}
MAX_TOKENS=${3:-64}
BIN=.build/release/teleguard
[ -x "$BIN" ] || swift build -c release --product teleguard >&2
BODY="{\"messages\": [{\"role\": \"user\", \"content\": \"Write a short story about a lighthouse keeper.\"}], \"max_tokens\": $MAX_TOKENS, \"temperature\": 0, \"ignore_eos\": true}"

run() {  # $1: --max-batch
  local log port pid start end
  log=$(mktemp)
  "$BIN" serve --model "$MODEL" --guard off --port 0 --max-batch "$1" --max-queue $((CLIENTS + 1)) >"$log" 2>&1 &
  pid=$!
  until grep -q "teleguard ready" "$log"; do kill -0 "$pid" 2>/dev/null || { cat "$log" >&2; exit 1; }; sleep 0.1; done
  port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
  start=$(date +%s.%N)
  for _ in $(seq "$CLIENTS"); do
    curl -s "http://127.0.0.1:$port/v1/chat/completions" -d "$BODY" -o /dev/null &
  done
  wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
  end=$(date +%s.%N)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -f "$log"
  python3 -c "print(f'{$CLIENTS * $MAX_TOKENS / ($end - $start):.1f}')"
}
CPU=$(grep -m1 "model name" /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
alone=$(run 1)
together=$(run "$CLIENTS")
echo "CPU: $CPU, $(nproc) cores; model: $MODEL; $CLIENTS clients × $MAX_TOKENS tokens"
echo "--max-batch 1:          $alone tokens/s"
echo "--max-batch $CLIENTS:          $together tokens/s ($(python3 -c "print(f'{$together / $alone:.2f}')")×)"
