"""llama.cpp reference for `teleguard bench`: the F32 GGUF of the benchmark model, CPU.

Runs in the llama-cpp-python venv that `setup_llamacpp.sh` builds (llama.cpp compiled
from source with -march=native, no BLAS: ggml's own F32 kernels). Measures the same
things as `transformers_reference.py`, on the same prompt token ids
(`bench_prompt.json` in the Hugging Face model directory):
- load_seconds: creating the model and context (the GGUF is memory-mapped);
- prefill: one `llama_decode` of the whole prompt into an empty KV cache, after one
  warm-up, median of `--prefill-repeats`;
- decode: `--gen-tokens` greedy single-token `llama_decode` calls that reuse the KV cache
  (the first one feeds the argmax of the prefill logits);
- peak_rss_bytes: the process's peak resident set, mapped weights included.
Flash attention is off by default, like the eager attention of the transformers
reference; `--flash-attn` turns it on.

Prints one JSON object with the same keys as `teleguard bench --json`.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from llama_cpp import Llama


def load_prompt(model_dir: Path, prompt_tokens: int) -> list[int]:
    ids = json.loads((model_dir / "bench_prompt.json").read_text())["ids"]
    if len(ids) < prompt_tokens:
        raise SystemExit(f"{model_dir}/bench_prompt.json: ids has {len(ids)} tokens, expected at least {prompt_tokens}")
    return ids[:prompt_tokens]


def prefill(llm: Llama, prompt: list[int]) -> None:
    llm.reset()  # n_tokens = 0, so eval() first clears the whole KV cache
    llm.eval(prompt)


def last_argmax(llm: Llama) -> int:
    # Without logits_all, llama.cpp keeps only the last position's logits.
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))
    return int(logits.argmax())


def time_prefill(llm: Llama, prompt: list[int], repeats: int) -> float:
    prefill(llm, prompt)  # warm-up: pages the mapped weights in, sizes the compute buffers
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        prefill(llm, prompt)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def time_decode(llm: Llama, prompt: list[int], gen_tokens: int) -> tuple[float, list[int]]:
    prefill(llm, prompt)
    next_id = last_argmax(llm)
    generated = []
    start = time.perf_counter()
    for _ in range(gen_tokens):
        llm.eval([next_id])
        next_id = last_argmax(llm)
        generated.append(next_id)
    return time.perf_counter() - start, generated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gguf", type=Path, default=Path("bench-models/llama-100m-f32.gguf"))
    parser.add_argument("--model", type=Path, default=Path("bench-models/llama-100m"),
                        help="Hugging Face model directory holding bench_prompt.json")
    parser.add_argument("--random-prompt", action="store_true",
                        help="draw the prompt's ids uniformly (seeded) from the GGUF's vocabulary instead of bench_prompt.json")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--prefill-repeats", type=int, default=3)
    parser.add_argument("--flash-attn", action="store_true")
    args = parser.parse_args()

    context = args.prompt_tokens + args.gen_tokens

    start = time.perf_counter()
    llm = Llama(
        model_path=str(args.gguf),
        n_ctx=context,
        n_batch=args.prompt_tokens,  # the whole prompt in one llama_decode, as one forward pass
        n_ubatch=args.prompt_tokens,
        n_threads=args.threads,
        n_threads_batch=args.threads,
        flash_attn=args.flash_attn,
        verbose=False,
    )
    load_seconds = time.perf_counter() - start
    if args.random_prompt:
        # The work per token does not depend on which tokens; ids above the first 100 skip the special ones.
        prompt = [int(i) for i in np.random.default_rng(0).integers(100, llm.n_vocab(), args.prompt_tokens)]
    else:
        prompt = load_prompt(args.model, args.prompt_tokens)

    prefill_seconds = time_prefill(llm, prompt, args.prefill_repeats)
    decode_seconds, _ = time_decode(llm, prompt, args.gen_tokens)

    print(json.dumps({
        "model": str(args.gguf),
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
