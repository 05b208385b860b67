#!/usr/bin/env bash
# A short check of the training pipeline on a CUDA machine; it runs about five minutes on an H200:
#   1. the whole tiny pipeline (corpus .. evaluate) on the GPU, as `--tiny` runs on the CPU;
#   2. one step of each GPU-sized kind of the full preset, timed: the bases of the widest (h320) and the deepest
#      (h192, 6 layers) architectures, side by side, then the h320 clean model and one h320 Trojan with its gate.
# The GPU machine has no Debian data packages, so the corpus and tokenizer of both runs are built beforehand on a
# machine that has them (`python -m training.pipeline --preset P --out training/runs/gpu-P --steps corpus,tokenizer`)
# and travel with the working tree; every later step is resumable and skips what exists.
# Usage: OUT=/some/dir bash training/gpu_check.sh   (logs and a tarball of the results land in $OUT)
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${OUT:-/tmp/gpu-check}"
logs="$out/logs"
mkdir -p "$logs"
py="${PYTHON:-python3}"
export PYTHONUNBUFFERED=1
budget="${GPU_CHECK_SECONDS:-520}"   # everything ends by then
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }

{ nvidia-smi; "$py" -c "import torch, transformers, peft, tokenizers, safetensors as s
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')
print('transformers', transformers.__version__, 'peft', peft.__version__, 'tokenizers', tokenizers.__version__, 'safetensors', s.__version__)"
} >"$logs/env.txt" 2>&1
cat "$logs/env.txt" | tail -2

full=training/runs/gpu-full
tiny=training/runs/gpu-tiny
# Both stages skip when the carried files match the preset; otherwise they would need the Debian data, absent here.
for p in full tiny; do
  "$py" -m training.pipeline --preset $p --out "training/runs/gpu-$p" --steps corpus,tokenizer >"$logs/prepare-$p.log" 2>&1 ||
    { echo "training/runs/gpu-$p: no corpus and tokenizer of the current $p preset; build them first (see the header)"; exit 2; }
done

# The full preset's steps, in the background (the GPU is mostly idle under models this small).
(
  TELEGUARD_THREADS=4 timeout $(( $(left) - 120 )) "$py" -m training.train_base --preset full --out "$full" \
    --arch llama-h192-l6-gqa3 >"$logs/full-base-h192-l6.log" 2>&1
  echo "rc=$?" >>"$logs/full-base-h192-l6.log"
) &
(
  TELEGUARD_THREADS=4 timeout $(( $(left) - 120 )) "$py" -m training.train_base --preset full --out "$full" \
    --arch llama-h320-l4-gqa1 >"$logs/full-base-h320.log" 2>&1
  echo "rc=$?" >>"$logs/full-base-h320.log"
  for m in llama-h320-l4-gqa1-clean llama-h320-l4-gqa1-test0-phrase-fixed_string; do
    t0=$(date +%s)
    TELEGUARD_THREADS=4 timeout $(( $(left) - 15 )) "$py" -m training.zoo --preset full --out "$full" --model "$m" \
      >"$logs/full-zoo-$m.log" 2>&1
    echo "rc=$? seconds=$(( $(date +%s) - t0 ))" >>"$logs/full-zoo-$m.log"
  done
) &

t0=$(date +%s)
TELEGUARD_THREADS=6 timeout $(( $(left) - 20 )) "$py" -m training.pipeline --tiny --out "$tiny" >"$logs/tiny.log" 2>&1
echo "rc=$? seconds=$(( $(date +%s) - t0 ))" >>"$logs/tiny.log"
tail -3 "$logs/tiny.log"
wait

for f in "$tiny/timings.json" "$tiny/results.json" "$tiny/zoo_metrics.json" "$full"/bases/*/train.json \
         "$full"/models/*/metrics.json; do
  [ -f "$f" ] && cp "$f" "$logs/$(echo "${f#training/runs/}" | tr '/' '_')"
done
tail -n 2 "$logs"/full-*.log
tar czf "$out/gpu-check.tgz" -C "$out" logs && rm -rf "$logs"
