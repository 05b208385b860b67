#!/usr/bin/env bash
# Teleport time: `teleguard teleport --json` run RUNS times on MODEL, best of each phase (on a shared machine the
# slower runs measure the neighbours), with the load average. With REFERENCE=/path/to/another/teleguard (e.g. a
# build of an older commit) both binaries run interleaved in the same session and the ratios are printed.
#
#   Benchmarks/teleport.sh                                   # bench-models/llama-100m, 5 runs
#   MODEL=models/demo RUNS=3 REFERENCE=/tmp/teleguard-old Benchmarks/teleport.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-bench-models/llama-100m}
RUNS=${RUNS:-5}
THREADS=${THREADS:-2}
BINARY=${BINARY:-.build/release/teleguard}
if [ -z "${SKIP_BUILD:-}" ]; then nice -n 10 swift build -c release >/dev/null; fi
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
binaries=("$BINARY")
if [ -n "${REFERENCE:-}" ]; then binaries+=("$REFERENCE"); fi
echo "load before: $(uptime)"
for run in $(seq "$RUNS"); do
  for index in "${!binaries[@]}"; do
    out="$results/adapter"
    rm -rf "$out"
    /usr/bin/time -f '{"wall": %e, "user": %U, "sys": %S}' -o "$results/time.json" \
      "${binaries[$index]}" teleport --model "$MODEL" --threads "$THREADS" --out "$out" --json > "$results/report.json"
    python3 - "$results" "$index" <<'EOF'
import json, sys
folder, index = sys.argv[1], sys.argv[2]
report = json.load(open(f"{folder}/report.json"))
times = json.load(open(f"{folder}/time.json"))
with open(f"{folder}/runs-{index}.jsonl", "a") as runs:
    runs.write(json.dumps({**report, **times}) + "\n")
EOF
  done
done
echo "load after:  $(uptime)"
python3 - "$results" "${binaries[@]}" <<'EOF'
import json, sys
folder, binaries = sys.argv[1], sys.argv[2:]
keys = [("probe_seconds", "probe s"), ("generator_seconds", "generator s"), ("total_seconds", "teleport s"),
        ("wall", "process wall s"), ("user", "user CPU s")]
best = []
for index, binary in enumerate(binaries):
    runs = [json.loads(line) for line in open(f"{folder}/runs-{index}.jsonl")]
    best.append({key: min(run[key] for run in runs) for key, _ in keys})
    best[-1]["probe_tokens"] = runs[0]["probe_tokens"]
    best[-1]["probe_encoding"] = runs[0].get("probe_encoding", "chat_template")
header = "| binary | probe tokens | " + " | ".join(label for _, label in keys) + " |"
print(header)
print("|" + "---|" * (len(keys) + 2))
for binary, values in zip(binaries, best):
    cells = " | ".join(f"{values[key]:.3f}" for key, _ in keys)
    print(f"| {binary} | {values['probe_tokens']} ({values['probe_encoding']}) | {cells} |")
if len(best) == 2:
    print("\nreference / this (above 1: this binary is faster): "
          + ", ".join(f"{label} {best[1][key] / best[0][key]:.2f}" for key, label in keys))
EOF
