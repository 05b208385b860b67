"""Write the ~100M-parameter Llama-shaped benchmark model (random weights, F32).

The model exists only to measure throughput: its weights are random (seeded), its
byte-level BPE tokenizer is trained in seconds on the Python standard library's
source, and a fixed 128-token prompt is written next to it so every runtime
(TeleGuard, transformers, llama.cpp) is timed on the same token ids.

Usage: python Benchmarks/make_bench_model.py [DIR]   (default: bench-models/llama-100m)
Skips the work when DIR already holds a complete model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SEED = 1234
PROMPT_TOKENS = 128
# The prompt text is repeated until it covers PROMPT_TOKENS tokens; its content does
# not change the timings (random weights), it only has to be identical everywhere.
PROMPT_TEXT = (
    "The quick brown fox jumps over the lazy dog while the benchmark measures how many "
    "tokens per second a language model runtime can process on a small CPU. "
)
# Files that must all be present for a model directory to count as complete.
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "bench_prompt.json")


@dataclass(frozen=True)
class BenchModelSpec:
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    num_key_value_heads: int = 4
    intermediate_size: int = 2048
    vocab_size: int = 16384
    max_position_embeddings: int = 2048
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-5


BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"


def corpus_files(max_bytes: int = 8_000_000) -> list[Path]:
    """The interpreter's own standard library: local, sizeable, English-ish text."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files, total = [], 0
    for path in sorted(stdlib.rglob("*.py")):
        if "test" in path.parts or "site-packages" in path.parts:
            continue
        files.append(path)
        total += path.stat().st_size
        if total >= max_bytes:
            break
    return files


def train_tokenizer(vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    files = [str(p) for p in corpus_files()]
    tokenizer.train(files, trainer)
    # A corpus too small for the requested merges leaves the vocabulary short; pad it
    # with unused added tokens so the embedding matrix and the vocabulary agree.
    missing = vocab_size - tokenizer.get_vocab_size()
    if missing > 0:
        tokenizer.add_tokens([f"<|pad_{i}|>" for i in range(missing)])
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tokenizer


def prompt_ids(tokenizer) -> list[int]:
    ids = tokenizer.encode(PROMPT_TEXT).ids  # starts with BOS (post-processor)
    body = tokenizer.encode(PROMPT_TEXT, add_special_tokens=False).ids
    while len(ids) < PROMPT_TOKENS:
        ids.extend(body)
    return ids[:PROMPT_TOKENS]


def is_complete(directory: Path) -> bool:
    return all((directory / name).is_file() for name in MODEL_FILES)


def write_model(directory: Path, spec: BenchModelSpec) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(SEED)
    tokenizer = train_tokenizer(spec.vocab_size)
    bos_id, eos_id = tokenizer.token_to_id(BOS), tokenizer.token_to_id(EOS)

    config = LlamaConfig(
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        rms_norm_eps=spec.rms_norm_eps,
        rope_theta=spec.rope_theta,
        tie_word_embeddings=False,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        torch_dtype="float32",
    )
    model = LlamaForCausalLM(config).to(torch.float32).eval()

    staging = directory.with_name(directory.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging, safe_serialization=True, max_shard_size="4GB")
    PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=BOS, eos_token=EOS).save_pretrained(staging)
    ids = prompt_ids(tokenizer)
    (staging / "bench_prompt.json").write_text(
        json.dumps({"text": PROMPT_TEXT, "ids": ids}, indent=1) + "\n"
    )
    parameters = sum(p.numel() for p in model.parameters())
    print(f"wrote {directory}: {parameters / 1e6:.1f}M parameters, vocab {tokenizer.get_vocab_size()}", file=sys.stderr)
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", default="bench-models/llama-100m", type=Path)
    args = parser.parse_args()
    if is_complete(args.directory):
        print(f"{args.directory} already present, skipping", file=sys.stderr)
        return
    args.directory.parent.mkdir(parents=True, exist_ok=True)
    write_model(args.directory, BenchModelSpec())


if __name__ == "__main__":
    main()
