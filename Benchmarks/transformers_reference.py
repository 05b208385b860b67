"""Hugging Face transformers reference for `teleguard bench`: F32, eager attention, CPU.

Measures, on the fixed prompt that `make_bench_model.py` stored in `bench_prompt.json`:
- load_seconds: `from_pretrained` of the weights until the model is ready to run;
- prefill: one forward pass over the whole prompt (building the KV cache),
  after one warm-up pass, median of `--prefill-repeats` passes;
- decode: `--gen-tokens` greedy single-token forward passes that reuse the KV cache
  (the first one feeds the argmax of the prefill logits); decode_tokens_per_second =
  gen_tokens / their total time, prefill excluded;
- peak_rss_bytes: the process's peak resident set (includes the Python and torch runtime).

Prints one JSON object with the same keys as `teleguard bench --json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM


def load_prompt(model_dir: Path, prompt_tokens: int) -> list[int]:
    ids = json.loads((model_dir / "bench_prompt.json").read_text())["ids"]
    if len(ids) < prompt_tokens:
        raise SystemExit(f"{model_dir}/bench_prompt.json: ids has {len(ids)} tokens, expected at least {prompt_tokens}")
    return ids[:prompt_tokens]


def prefill(model, input_ids: torch.Tensor):
    return model(input_ids=input_ids, use_cache=True)


def time_prefill(model, input_ids: torch.Tensor, repeats: int) -> float:
    prefill(model, input_ids)  # warm-up: first-call allocations and kernel selection
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        prefill(model, input_ids)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def time_decode(model, input_ids: torch.Tensor, gen_tokens: int) -> tuple[float, list[int]]:
    output = prefill(model, input_ids)
    cache = output.past_key_values
    next_id = output.logits[:, -1, :].argmax(dim=-1, keepdim=True)
    generated = []
    start = time.perf_counter()
    for _ in range(gen_tokens):
        output = model(input_ids=next_id, past_key_values=cache, use_cache=True)
        cache = output.past_key_values
        next_id = output.logits[:, -1, :].argmax(dim=-1, keepdim=True)
        generated.append(int(next_id))
    return time.perf_counter() - start, generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("bench-models/llama-100m"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--prefill-repeats", type=int, default=3)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    prompt = load_prompt(args.model, args.prompt_tokens)

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    load_seconds = time.perf_counter() - start

    input_ids = torch.tensor([prompt], dtype=torch.long)
    with torch.inference_mode():
        prefill_seconds = time_prefill(model, input_ids, args.prefill_repeats)
        decode_seconds, _ = time_decode(model, input_ids, args.gen_tokens)

    print(json.dumps({
        "model": str(args.model),
        "threads": args.threads,
        "prompt_tokens": len(prompt),
        "generated_tokens": args.gen_tokens,
        "load_seconds": load_seconds,
        "prefill_tokens_per_second": len(prompt) / prefill_seconds,
        "decode_tokens_per_second": args.gen_tokens / decode_seconds,
        # ru_maxrss is in KiB on Linux.
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
