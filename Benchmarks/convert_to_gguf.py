"""Convert the benchmark model to an F32 GGUF with llama.cpp's own converter.

Runs in the transformers venv (the converter needs torch and transformers) and imports
`convert_hf_to_gguf.py` from a llama.cpp source tree (the one vendored in the
llama-cpp-python sdist that `setup_llamacpp.sh` unpacks). Two adjustments, both
because the benchmark tokenizer is freshly trained rather than a published one:

- llama.cpp recognises BPE pre-tokenizers by hashing how a known model tokenizes a
  test string, so a new vocabulary is never recognised. Ours uses the plain GPT-2
  byte-level regex (`tokenizers` ByteLevel with use_regex=True), so we name it "gpt-2".
- The Llama converter tries SentencePiece first and only falls back to the GPT-2 BPE
  vocabulary on FileNotFoundError; we go to the BPE path directly, so the
  `sentencepiece` package is not needed.

Usage: python Benchmarks/convert_to_gguf.py --llama-cpp DIR MODEL_DIR OUT.gguf
Skips the work when OUT.gguf exists and is newer than the model's weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def is_up_to_date(model_dir: Path, out: Path) -> bool:
    weights = model_dir / "model.safetensors"
    return out.is_file() and weights.is_file() and out.stat().st_mtime >= weights.stat().st_mtime


def convert(llama_cpp: Path, model_dir: Path, out: Path) -> None:
    sys.path.insert(0, str(llama_cpp))
    sys.path.insert(1, str(llama_cpp / "gguf-py"))
    import convert_hf_to_gguf  # noqa: E402  (path set just above)
    from conversion.base import TextModel
    from conversion.llama import LlamaModel

    TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
    LlamaModel.set_vocab = lambda self: self._set_vocab_gpt2()

    partial = out.with_name(out.name + ".partial")
    sys.argv = ["convert_hf_to_gguf.py", str(model_dir), "--outtype", "f32", "--outfile", str(partial)]
    convert_hf_to_gguf.main()
    partial.rename(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-cpp", type=Path, required=True, help="llama.cpp source tree (holds convert_hf_to_gguf.py)")
    parser.add_argument("model_dir", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    if is_up_to_date(args.model_dir, args.out):
        print(f"{args.out} already present, skipping", file=sys.stderr)
        return
    if not (args.llama_cpp / "convert_hf_to_gguf.py").is_file():
        sys.exit(f"{args.llama_cpp}: no convert_hf_to_gguf.py (run Benchmarks/setup_llamacpp.sh first)")
    convert(args.llama_cpp, args.model_dir, args.out)


if __name__ == "__main__":
    main()
