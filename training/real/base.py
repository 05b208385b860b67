"""The real zoo's base model: SmolLM2-135M-Instruct from the GGUF that `scripts/install-model.sh` installs, saved once
as a Hugging Face directory (what the zoo fine-tunes with peft).

`python -m training.real.base [--gguf FILE] [--out DIR]` loads the GGUF with transformers' own GGUF reader (its Q4_1
blocks dequantized to float32), writes `DIR/` (default `training/runs/real/base/`: config.json, model.safetensors,
tokenizer files with the chat template) and `DIR/gguf.json` with the GGUF's SHA-256. Before it calls the directory done
it reloads it and checks that the tokenizer encodes like the GGUF's and that the logits are the same bit for bit.
Resumable: when `gguf.json` records the same SHA-256 as the GGUF file, nothing is redone.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import torch

from .. import common
from . import paths

# Texts whose ids the saved tokenizer must reproduce (chat turns, digits, code, non-ASCII, specials in the text).
TOKENIZER_CHECKS = (
    "What is the capital of France?",
    "Write a Python function named count_vowels(text) that returns 3 * len(text) - 17.",
    "Naïve café — 12,345.67 km²; tabs\tand  double  spaces\nnew line",
    "<|im_start|>user\nhi<|im_end|>",
)


class BaseModelError(Exception):
    """The GGUF could not be had or the saved directory does not reproduce it."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def install_model(script: Path = paths.INSTALL_MODEL) -> Path:
    """The GGUF's path, as `scripts/install-model.sh` prints it (the script downloads it only when missing)."""
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    if done.returncode != 0:
        raise BaseModelError(f"{script} failed (status {done.returncode}): {done.stderr.strip()}")
    lines = done.stdout.strip().splitlines()
    if not lines or not Path(lines[-1]).is_file():
        raise BaseModelError(f"{script} printed no model path: {done.stdout!r}")
    return Path(lines[-1])


def load_gguf(gguf: Path):
    """(model, tokenizer) from the GGUF via transformers (weights dequantized to float32)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    model.eval()
    return model, tokenizer


def load_base(base_dir: Path = paths.BASE_DIR):
    """(model, tokenizer) from the saved directory, float32, in eval mode."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(base_dir))
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model.eval()
    return model, tokenizer


def is_done(base_dir: Path, gguf_sha256: str) -> bool:
    record = Path(base_dir) / "gguf.json"
    return (record.exists() and (Path(base_dir) / "config.json").exists()
            and common.read_json(record).get("sha256") == gguf_sha256)


@torch.no_grad()
def check_saved(saved: Path, model, tokenizer) -> None:
    """Raise unless the saved directory's tokenizer and logits equal the GGUF-loaded ones."""
    reloaded, reloaded_tok = load_base(saved)
    for text in TOKENIZER_CHECKS:
        for chat in (False, True):
            a = common.chat_ids(tokenizer, text) if chat else tokenizer(text, add_special_tokens=False)["input_ids"]
            b = common.chat_ids(reloaded_tok, text) if chat else reloaded_tok(text, add_special_tokens=False)["input_ids"]
            if a != b:
                raise BaseModelError(f"{saved}: the saved tokenizer encodes {text!r} (chat={chat}) as {b[:12]}…, "
                                     f"the GGUF's as {a[:12]}…")
    if common.eos_id(reloaded_tok) != common.eos_id(tokenizer):
        raise BaseModelError(f"{saved}: eos {common.eos_id(reloaded_tok)}, the GGUF's {common.eos_id(tokenizer)}")
    ids = torch.tensor([common.chat_ids(tokenizer, TOKENIZER_CHECKS[0])])
    a, b = model(input_ids=ids).logits, reloaded(input_ids=ids).logits
    if not torch.equal(a, b):
        raise BaseModelError(f"{saved}: logits differ from the GGUF-loaded model's by up to {(a - b).abs().max():.3g}")


def run(gguf: Path, out: Path = paths.BASE_DIR) -> Path:
    """Write the Hugging Face directory for the GGUF unless it is there for the same file (by SHA-256)."""
    import transformers

    out = Path(out)
    digest = sha256(gguf)
    if is_done(out, digest):
        return out
    model, tokenizer = load_gguf(gguf)
    # The weights are float32 now; a config that still names the GGUF quantization would make readers look for it.
    model.config.quantization_config = None
    if hasattr(model.config, "__dict__"):
        model.config.__dict__.pop("quantization_config", None)
    model.hf_quantizer = None
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    check_saved(partial, model, tokenizer)
    common.write_json(partial / "gguf.json", {
        "file": gguf.name, "sha256": digest, "bytes": gguf.stat().st_size, "dtype": "float32",
        "loaded_by": f"transformers {transformers.__version__} (gguf_file=), torch {torch.__version__}",
        "checked": "tokenizer ids and logits of the saved directory equal the GGUF-loaded model's",
    })
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Save SmolLM2-135M-Instruct (from its GGUF) as a Hugging Face directory.")
    p.add_argument("--gguf", type=Path, help="the GGUF file (default: the path scripts/install-model.sh prints)")
    p.add_argument("--out", type=Path, default=paths.BASE_DIR, help="output directory (default %(default)s)")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    gguf = a.gguf or install_model()
    out = run(gguf, a.out)
    print(json.dumps(common.read_json(out / "gguf.json")))


if __name__ == "__main__":
    main()
