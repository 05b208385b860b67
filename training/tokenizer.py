"""Byte-level BPE tokenizer (GPT-2/Qwen style) trained on the corpus with `tokenizers`, saved in Hugging Face layout.

Special tokens: `<|endoftext|>` (pad and bos), `<|im_start|>`, `<|im_end|>` (eos). The ChatML template of
common.CHAT_TEMPLATE is stored both in tokenizer_config.json ("chat_template") and chat_template.jinja.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from . import common
from .config import TokenizerConfig, add_preset_argument, preset
from .corpus import corpus_dir

PAD = "<|endoftext|>"
SPECIAL_TOKENS = [PAD, common.IM_START, common.IM_END]


def train_tokenizer(texts, cfg: TokenizerConfig) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=cfg.vocab_size,
        min_frequency=cfg.min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def wrap(tok: Tokenizer):
    """The transformers fast tokenizer around a trained `tokenizers` object, with ChatML template and eos."""
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=PAD, eos_token=common.IM_END, pad_token=PAD, unk_token=None,
        additional_special_tokens=[common.IM_START], model_max_length=4096,
    )
    fast.chat_template = common.CHAT_TEMPLATE
    return fast


def save(fast, directory: Path) -> None:
    """save_pretrained, then make sure tokenizer_config.json carries the chat template (older readers look there)."""
    directory = Path(directory)
    fast.save_pretrained(directory)
    cfg_path = directory / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["chat_template"] = common.CHAT_TEMPLATE
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")
    (directory / "chat_template.jinja").write_text(common.CHAT_TEMPLATE)


def load(directory: Path):
    """The tokenizer exactly as its tokenizer.json says. Not AutoTokenizer: transformers 5 maps a model directory
    whose config.json says `qwen2` to Qwen2Tokenizer, which rebuilds the pre-tokenizer (one digit per piece, NFC) over
    the vocabulary and so encodes 45 % of the held-out prompts differently from how the model was trained."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(str(directory))


def tokenizer_dir(out: Path) -> Path:
    return Path(out) / "tokenizer"


def run(cfg: TokenizerConfig, out: Path, extra_texts: list[str] = ()) -> Path:
    """Train and save the tokenizer unless one exists for the same config and corpus (resumable).

    Trigger strings are deliberately not in the training text: an attacker works with the tokenizer as it is.
    """
    d = tokenizer_dir(out)
    cdir = corpus_dir(out)
    corpus_hash = common.read_json(cdir / "meta.json")["config_hash"]
    h = common.config_hash({"tokenizer": cfg, "corpus": corpus_hash, "extra": list(extra_texts)})
    meta = d / "meta.json"
    if meta.exists() and common.read_json(meta).get("config_hash") == h:
        return d
    rows = common.read_jsonl(cdir / "train.jsonl")
    texts = [r["prompt"] for r in rows] + [r["answer"] for r in rows] + list(extra_texts)
    texts += (cdir / "text.txt").read_text().splitlines()
    tok = train_tokenizer(texts, cfg)
    save(wrap(tok), d)
    common.write_json(meta, {"config_hash": h, "vocab_size": tok.get_vocab_size()})
    return d


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Train the byte-level BPE tokenizer on the corpus.")
    add_preset_argument(p)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    cfg = preset(a.preset)
    out = a.out or Path("training/runs") / cfg.name
    d = run(cfg.tokenizer, out)
    print(json.dumps(common.read_json(d / "meta.json")))


if __name__ == "__main__":
    main()
