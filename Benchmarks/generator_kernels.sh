#!/usr/bin/env bash
# The generator's fused row kernels, nanoseconds per element on every vector path this CPU has (see
# generator_kernels.c), with the ratios to the scalar path measured in the same run. With REFERENCE=<git revision> the
# kernels of that revision run interleaved in the same session and their ratios are printed too.
#
#   Benchmarks/generator_kernels.sh
#   REFERENCE=dfc1f78 Benchmarks/generator_kernels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
CC=${CC:-clang}
build() { "$CC" -O3 -ISources/CKernels/include Benchmarks/generator_kernels.c "$1" -lm -o "$2"; }
build Sources/CKernels/kernels.c "$work/this"
binaries=(this)
if [ -n "${REFERENCE:-}" ]; then
  git show "$REFERENCE:Sources/CKernels/kernels.c" > "$work/reference.c"
  git show "$REFERENCE:Sources/CKernels/include/CKernels.h" > "$work/CKernels.h"
  "$CC" -O3 -I"$work" Benchmarks/generator_kernels.c "$work/reference.c" -lm -o "$work/reference"
  binaries+=(reference)
fi
for run in 1 2 3; do
  for b in "${binaries[@]}"; do "$work/$b" | sed "s/^{/{\"binary\": \"$b\", /" >> "$work/runs.jsonl"; done
done
python3 - "$work/runs.jsonl" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
best = {}
for r in rows:
    key = (r["binary"], r["path"])
    b = best.setdefault(key, dict(r))
    for k in ("first_ns_per_element", "pair_ns_per_element"):
        b[k] = min(b[k], r[k])
scalar = best[("this", "scalar")]
print("| kernels | path | first layer ns/element | pair ns/element | scalar / this (pair) | outputs (FNV-1a) |")
print("|---|---|---:|---:|---:|---|")
for (binary, path), r in best.items():
    print(f"| {binary} | {path} | {r['first_ns_per_element']:.1f} | {r['pair_ns_per_element']:.1f} | "
          f"{scalar['pair_ns_per_element'] / r['pair_ns_per_element']:.2f} | {r['outputs_fnv1a']} |")
PY
