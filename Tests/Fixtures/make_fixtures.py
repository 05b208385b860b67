"""Make the parity fixtures for the TeleGuard Swift runtime from the reference implementations.

Run from the repository root:

    /root/.cache/teleguard/venv/bin/python Tests/Fixtures/make_fixtures.py

It deletes and rewrites everything under ``Tests/Fixtures/models/``. Chat templates are read from
``Tests/Fixtures/chat_templates/NAME.jinja``. Nothing is downloaded: tokenizers are trained with the
``tokenizers`` library on text found on this machine (the licence texts in /usr/share/common-licenses,
docstrings of a fixed list of Python standard-library modules) plus the multilingual lines below; model
weights are random with fixed seeds.

The committed fixtures were made with Python 3.11.7, torch 2.15.0+cu132 (CPU), transformers 5.23.0,
tokenizers 0.23.3, peft 0.21.2, safetensors 0.8.0, numpy 2.4.6, jinja2 3.1.6 and zstd 1.5 (the
``zstd`` command). Each ``expected.json`` records the versions that made it.

For every model directory it writes ``expected.json`` (tokenizer round trips, rendered chat templates,
last-position logits of the float32 eager model, greedy continuations, the same with the LoRA adapter in
``lora/`` and with ``lora`` + ``lora2`` active at once). See Tests/Fixtures/README.md.
"""

from __future__ import annotations

import os

# The adapters name their base model by its fixture name, which PEFT would otherwise look up on the Hub.
os.environ["HF_HUB_OFFLINE"] = "1"

import gc
import hashlib
import importlib
import inspect
import json
import math
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import peft
import tokenizers
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors import safe_open
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from tokenizers.trainers import BpeTrainer
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    LlamaConfig,
    MistralConfig,
    PreTrainedConfig,
    PreTrainedTokenizerFast,
    Qwen2Config,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"
MODELS_DIR = FIXTURES / "models"
TEMPLATES_DIR = FIXTURES / "chat_templates"

# The pre-tokenizer regexes exactly as they appear in the published tokenizer.json files.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPIECE_UNDERLINE = "\u2581"
# Words of the test texts and the prompt text, in byte-level form ("Ġ" is the space).
LLAMA3_UNMERGEABLE_WORDS = ["\u0120jumps", "\u0120lazy", "\u0120everywhere"]
SENTENCEPIECE_ALPHABET_SIZE = 180

LORA_TARGETS_ALL = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
GREEDY_NEW_TOKENS = 24

# Written for the corpus so that accents, combining marks, CJK, emoji and other scripts get merges.
MULTILINGUAL_LINES = [
    "Café, naïve, résumé, façade, jalapeño, Ångström, Øresund, Łódź, Škoda, Ærøskøbing.",
    "Die Größe der Straße ändert sich über Nacht; Müller und Söhne öffnen früh.",
    "L'été dernier, nous étions à Montréal où il a fait très chaud — c'était génial !",
    "¿Dónde está la biblioteca? ¡Está allí, junto a la estación!",
    "Ça va? Oui, ça va très bien, merci beaucoup.",
    "Combining marks: e\u0301 a\u0300 o\u0308 n\u0303 c\u0327 (decomposed) versus é à ö ñ ç (composed).",
    "Привет, как дела? Сегодня хорошая погода в Москве.",
    "Καλημέρα κόσμε· η γλώσσα μου είναι ελληνική.",
    "שלום עולם, מה שלומך היום?",
    "مرحبا بالعالم، كيف حالك اليوم؟",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "你好，世界！今天天气很好，我们去公园散步吧。",
    "我爱自然语言处理和机器学习。中文分词是一个有趣的问题。",
    "日本語のテキスト：東京は日本の首都です。ひらがなとカタカナ。",
    "こんにちは、元気ですか？お茶を飲みましょう。",
    "한국어 문장입니다. 서울은 대한민국의 수도입니다.",
    "ไทย ภาษาไทย สวัสดีครับ",
    "Emoji: 😀 😃 😄 😁 🙂 👍 🎉 🚀 ❤️ 🔥 ✨ 🌍",
    "Family emoji: 👨‍👩‍👧‍👦 and 👩‍💻 and 🏳️‍🌈, flags 🇫🇷 🇯🇵 🇺🇸 🇩🇪, skin tones 👋🏽 👍🏿.",
    "Math: ∀x ∈ ℝ, x² ≥ 0; ∑ᵢ aᵢ = π ≈ 3.14159; √2 ≠ 1.5; α β γ δ ε.",
    "Prices: €12,50 · £7.99 · ¥1000 · $3.50 · ₹250 · 50% off!",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 42 100 2024 31415926535 1234567890",
    "def fibonacci(n: int) -> int:\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < n; ++i) { sum += a[i] * b[i]; }\n",
    'let greeting = "Hello, \\(name)!" // Swift string interpolation\n',
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;\n",
    "I'm sure you're right, they've said we'll go, she'd know, it's John's and I'd've.",
    "The quick brown fox jumps over the lazy dog. THE QUICK BROWN FOX!",
    "Tabs\tand\tspaces   and\r\nWindows line endings\r\nand\n\nblank lines.",
]

STDLIB_MODULES = [
    "argparse", "collections", "contextlib", "dataclasses", "functools", "heapq", "itertools",
    "json", "pathlib", "re", "shlex", "string", "textwrap", "typing",
]

# Texts for the tokenizer records; each family's special tokens are appended below.
COMMON_TEXTS = [
    "",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "trailing space ",
    "  two leading and three trailing   ",
    " ",
    "    ",
    "multiple     spaces   between\twords\tand\t\ttabs",
    "line one\nline two\n\nline four\n",
    "windows\r\nline\r\n\r\nendings\r\n",
    "\n\n\n",
    "Café naïve résumé façade jalapeño Ångström",
    "Decomposed: e\u0301 a\u0300 o\u0308 n\u0303 (NFD) vs é à ö ñ (NFC)",
    "Zalgo: Z\u0351\u0357a\u0334\u0315l\u0358g\u0312o\u0303",
    "你好，世界！今天天气很好。",
    "日本語のテキスト、東京。한국어 문장입니다.",
    "Rare CJK: 龘靐齉麤 and 𠀀𠀁 (outside the BMP)",
    "Emoji 😀👍🎉🚀 and ❤️",
    "ZWJ family 👨‍👩‍👧‍👦, technologist 👩‍💻, rainbow flag 🏳️‍🌈",
    "Flags 🇫🇷🇯🇵🇺🇸 and skin tone 👋🏽",
    "Numbers 7 42 123 1234 12345 3.14159 31415926535897932384626433",
    "I'm can't won't they're we've you'll she'd IT'S",
    "def add(a, b):\n    return a + b  # sum\n",
    "if (x != 0 && y >= 1) { return x->next; }",
    "Привет мир! Καλημέρα! مرحبا! नमस्ते!",
    "\u00a0non-breaking\u00a0space and zero\u200bwidth",
    "<unknown> <tag> </tag> [INST] <<SYS>>",
]


@dataclass(frozen=True)
class TokenizerFamily:
    """Texts with a tokenizer family's special tokens, and its tokens as transformers names them."""

    special_texts: list[str]
    wrapper_kwargs: dict[str, Any]


@dataclass
class ModelSpec:
    """One fixture model: its architecture, weights dtype, tokenizer family, template and adapters."""

    name: str
    seed: int
    family: str
    template: str
    template_in_config: bool
    make_config: Callable[[int, dict[str, int | list[int] | None]], PreTrainedConfig]
    dtype: torch.dtype
    max_shard_size: str | None = None
    compress_zstd: bool = False
    old_config_keys: bool = False
    lora_targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS_ALL))
    lora_rslora: bool = False
    lora2_targets: list[str] = field(default_factory=lambda: ["q_proj", "o_proj", "up_proj"])
    chat_sets: list[list[dict[str, str]]] = field(default_factory=list)
    extra_chat_templates: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------------
# Corpus and tokenizers


def build_corpus() -> list[str]:
    """Lines of text in a fixed order, so that training is reproducible."""
    lines: list[str] = []
    for path in sorted(Path("/usr/share/common-licenses").iterdir()):
        if path.is_file():
            lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    for module_name in STDLIB_MODULES:
        module = importlib.import_module(module_name)
        lines.extend((inspect.getdoc(module) or "").splitlines())
        for attr_name in sorted(vars(module)):
            if attr_name.startswith("_"):
                continue
            doc = inspect.getdoc(getattr(module, attr_name))
            if doc:
                lines.extend(doc.splitlines())
    # Repeated so that the non-Latin scripts earn merges in a corpus dominated by English.
    for _ in range(20):
        lines.extend(MULTILINGUAL_LINES)
    return [line for line in lines if line.strip()]


def train_bpe(tokenizer: Tokenizer, corpus: list[str], vocab_size: int, **trainer_kwargs: Any) -> None:
    trainer = BpeTrainer(vocab_size=vocab_size, show_progress=False, **trainer_kwargs)
    tokenizer.train_from_iterator(corpus, trainer=trainer)


def byte_level_tokenizer(corpus: list[str], pattern: str, vocab_size: int, nfc: bool, ignore_merges: bool) -> Tokenizer:
    """A GPT-2 style byte-level BPE with a Split pre-tokenizer (Llama-3 and Qwen2 pipelines)."""
    tokenizer = Tokenizer(models.BPE(ignore_merges=ignore_merges, byte_fallback=False, fuse_unk=False))
    if nfc:
        tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    train_bpe(tokenizer, corpus, vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    return tokenizer


def add_unmergeable_words(tokenizer: Tokenizer, words: list[str]) -> None:
    """Add whole-word tokens that no merge builds.

    Real Llama-3 vocabularies hold such tokens, and ignore_merges is what makes a pre-tokenized word that is
    in the vocabulary one token; a freshly trained vocabulary has none, so ignore_merges would change nothing.
    """
    trained = json.loads(tokenizer.to_str())["model"]
    vocab: dict[str, int] = trained["vocab"]
    for word in words:
        assert word not in vocab, f"{word} is already a token"
        vocab[word] = len(vocab)
    merges = [tuple(merge) for merge in trained["merges"]]
    tokenizer.model = models.BPE(vocab=vocab, merges=merges, ignore_merges=True, byte_fallback=False, fuse_unk=False)


def llama3_tokenizer(corpus: list[str]) -> Tokenizer:
    tokenizer = byte_level_tokenizer(corpus, LLAMA3_PATTERN, 1000, nfc=False, ignore_merges=True)
    add_unmergeable_words(tokenizer, LLAMA3_UNMERGEABLE_WORDS)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tokenizer.add_special_tokens(specials)
    bos_id = tokenizer.token_to_id("<|begin_of_text|>")
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
            processors.TemplateProcessing(
                single="<|begin_of_text|> $A",
                pair="<|begin_of_text|> $A:0 <|begin_of_text|>:1 $B:1",
                special_tokens=[("<|begin_of_text|>", bos_id)],
            ),
        ]
    )
    return tokenizer


def qwen2_tokenizer(corpus: list[str]) -> Tokenizer:
    tokenizer = byte_level_tokenizer(corpus, QWEN2_PATTERN, 800, nfc=True, ignore_merges=False)
    tokenizer.add_special_tokens(["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    return tokenizer


def sentencepiece_style_tokenizer(corpus: list[str], vocab_size: int, metaspace: bool) -> Tokenizer:
    """A Llama-2/Mistral style BPE: '▁' for spaces, <0x00>..<0xFF> byte tokens at ids 3..258, <s> prepended.

    Training splits on '▁' (as SentencePiece does) with a temporary Metaspace pre-tokenizer; the saved
    pipeline is the family's own: Prepend+Replace normalizer without pre-tokenizer (legacy Llama-2 and
    Mistral), or Metaspace(prepend_scheme="first", split=False) without normalizer.
    """
    specials = ["<unk>", "<s>", "</s>"]
    trainer_tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="always", split=True)
    # A limited alphabet leaves rare characters to the byte fallback. The trainer's own limit_alphabet
    # breaks ties between equally frequent characters differently from run to run, so choose here.
    counts = Counter(character for line in corpus for character in line if character != " ")
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    alphabet = {character for character, _ in ranked[:SENTENCEPIECE_ALPHABET_SIZE]}
    training_lines = ["".join(c for c in line if c == " " or c in alphabet) for line in corpus]
    train_bpe(trainer_tokenizer, training_lines, vocab_size - 256, special_tokens=specials)

    trained = json.loads(trainer_tokenizer.to_str())
    trained_vocab: dict[str, int] = trained["model"]["vocab"]
    vocab: dict[str, int] = {token: index for index, token in enumerate(specials)}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for token, _ in sorted(trained_vocab.items(), key=lambda item: item[1]):
        if token not in vocab:
            vocab[token] = len(vocab)
    merges = [tuple(merge) if isinstance(merge, list) else tuple(merge.split(" ")) for merge in trained["model"]["merges"]]

    tokenizer = Tokenizer(
        models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True, ignore_merges=False)
    )
    tokenizer.add_special_tokens(specials)
    # As transformers' LlamaConverter writes them for legacy=True (normalizer) and legacy=False (Metaspace).
    if metaspace:
        tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme="first", split=False)
    else:
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.Prepend(SPIECE_UNDERLINE), normalizers.Replace(" ", SPIECE_UNDERLINE)]
        )
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace(SPIECE_UNDERLINE, " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    return tokenizer


SENTENCEPIECE_SPECIAL_TEXTS = ["<s>[INST] Hello [/INST] Hi!</s>", "text</s><s> more", "<unk> is unknown", " <s> spaced </s> "]
SENTENCEPIECE_WRAPPER = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

FAMILIES: dict[str, TokenizerFamily] = {
    "llama3": TokenizerFamily(
        special_texts=[
            "<|begin_of_text|>Hello<|end_of_text|>",
            "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|>",
            "text <|eot_id|> more text<|eot_id|><|eot_id|>",
            "<|begin_of_text|> leading space after special",
        ],
        wrapper_kwargs={"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    ),
    "qwen2": TokenizerFamily(
        special_texts=[
            "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n",
            "text<|endoftext|>more text",
            "<|im_end|><|im_end|> after",
        ],
        wrapper_kwargs={"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"},
    ),
    "sentencepiece": TokenizerFamily(special_texts=SENTENCEPIECE_SPECIAL_TEXTS, wrapper_kwargs=SENTENCEPIECE_WRAPPER),
    "metaspace": TokenizerFamily(special_texts=SENTENCEPIECE_SPECIAL_TEXTS, wrapper_kwargs=SENTENCEPIECE_WRAPPER),
}


def make_tokenizer(family: str, corpus: list[str]) -> Tokenizer:
    if family == "llama3":
        return llama3_tokenizer(corpus)
    if family == "qwen2":
        return qwen2_tokenizer(corpus)
    if family == "sentencepiece":
        return sentencepiece_style_tokenizer(corpus, 1000, metaspace=False)
    if family == "metaspace":
        return sentencepiece_style_tokenizer(corpus, 900, metaspace=True)
    raise ValueError(f"unknown tokenizer family {family}")


def read_template(name: str) -> str:
    return (TEMPLATES_DIR / f"{name}.jinja").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------------------------------
# Models


def llama3_config(vocab_size: int, ids: dict[str, Any]) -> PreTrainedConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 8.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 32,
        },
        tie_word_embeddings=False,
        **ids,
    )


def mistral_config(vocab_size: int, ids: dict[str, Any]) -> PreTrainedConfig:
    return MistralConfig(
        vocab_size=vocab_size,
        hidden_size=96,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=32,
        max_position_embeddings=256,
        rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0},
        sliding_window=None,
        tie_word_embeddings=False,
        **ids,
    )


def qwen2_config(vocab_size: int, ids: dict[str, Any]) -> PreTrainedConfig:
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        use_sliding_window=False,
        sliding_window=None,
        tie_word_embeddings=True,
        **ids,
    )


def llama_metaspace_config(vocab_size: int, ids: dict[str, Any]) -> PreTrainedConfig:
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=172,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=256,
        rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        attention_bias=True,
        mlp_bias=False,
        tie_word_embeddings=False,
        **ids,
    )


def randomize_weights(model: torch.nn.Module, seed: int) -> None:
    """Weights large enough that logits and greedy tokens are sensitive to mistakes.

    Standard initialisation (std 0.02) gives nearly uniform attention and flat logits; here projections
    have std ~1.3/sqrt(fan_in), embeddings std 1 (0.3 when they are also the output layer, which
    otherwise makes the logits so peaked that greedy decoding repeats one token), norms are far from 1
    and biases clearly non-zero.
    """
    generator = torch.Generator().manual_seed(seed)
    embedding_std = 0.3 if model.config.tie_word_embeddings else 1.0
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name:
                values = 0.5 + torch.rand(parameter.shape, generator=generator)
            elif name.endswith(".bias"):
                values = 0.3 * torch.randn(parameter.shape, generator=generator)
            elif "embed_tokens" in name:
                values = embedding_std * torch.randn(parameter.shape, generator=generator)
            elif "lm_head" in name:
                values = 0.3 * torch.randn(parameter.shape, generator=generator)
            else:
                fan_in = parameter.shape[1]
                values = (1.3 / math.sqrt(fan_in)) * torch.randn(parameter.shape, generator=generator)
            parameter.copy_(values.to(parameter.dtype))


def rewrite_config_old_keys(config_path: Path) -> None:
    """Rewrite transformers 5's `rope_parameters` as the older top-level `rope_theta` / `rope_scaling` keys."""
    config = json.loads(config_path.read_text())
    rope = config.pop("rope_parameters")
    config["rope_theta"] = rope.pop("rope_theta")
    rope_type = rope.pop("rope_type", "default")
    config["rope_scaling"] = None if rope_type == "default" else {"rope_type": rope_type, **rope}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def compress_with_zstd(path: Path) -> Path:
    compressed = path.with_name(path.name + ".zst")
    subprocess.run(["zstd", "-q", "-19", "--rm", "-f", str(path), "-o", str(compressed)], check=True)
    return compressed


def decompress_zstd(path: Path, destination: Path) -> None:
    subprocess.run(["zstd", "-q", "-d", "-f", str(path), "-o", str(destination)], check=True)


def load_reference_model(model_dir: Path) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


# ---------------------------------------------------------------------------------------------------
# Records


def f32_list(values: torch.Tensor) -> list[float]:
    """Shortest decimal that reads back as the same float32."""
    return [float(str(value)) for value in values.detach().to(torch.float32).numpy()]


def tokenizer_records(tokenizer: PreTrainedTokenizerFast, raw: Tokenizer, texts: list[str]) -> list[dict[str, Any]]:
    records = []
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        ids_no_special = tokenizer(text, add_special_tokens=False)["input_ids"]
        decoded = tokenizer.decode(ids_no_special)
        decoded_skip_special = tokenizer.decode(ids, skip_special_tokens=True)
        # The transformers wrapper must agree with the tokenizer.json pipeline the Swift side reads.
        assert ids == raw.encode(text).ids, text
        assert ids_no_special == raw.encode(text, add_special_tokens=False).ids, text
        assert decoded == raw.decode(ids_no_special, skip_special_tokens=False), text
        assert decoded_skip_special == raw.decode(ids, skip_special_tokens=True), text
        records.append(
            {
                "text": text,
                "ids": ids,
                "ids_no_special": ids_no_special,
                "decoded": decoded,
                "decoded_skip_special": decoded_skip_special,
            }
        )
    return records


def chat_records(
    tokenizer: PreTrainedTokenizerFast, conversations: list[list[dict[str, str]]], template: str | None
) -> list[dict[str, Any]]:
    records = []
    for messages in conversations:
        options = [True, False] if messages[-1]["role"] == "user" else [False]
        for add_generation_prompt in options:
            rendered = tokenizer.apply_chat_template(
                messages, add_generation_prompt=add_generation_prompt, tokenize=False, chat_template=template
            )
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=add_generation_prompt, tokenize=True, chat_template=template,
                return_dict=False,
            )
            assert isinstance(ids, list) and all(isinstance(i, int) for i in ids), type(ids)
            assert ids == tokenizer(rendered, add_special_tokens=False)["input_ids"]
            records.append(
                {"messages": messages, "add_generation_prompt": add_generation_prompt, "rendered": rendered, "ids": ids}
            )
    return records


def last_logits(model: torch.nn.Module, prompt_ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([prompt_ids])).logits[0, -1]


def logits_records(model: torch.nn.Module, prompts: list[list[int]]) -> list[dict[str, Any]]:
    return [{"prompt_ids": prompt, "last_logits": f32_list(last_logits(model, prompt))} for prompt in prompts]


def greedy_records(
    model: torch.nn.Module, prompts: list[list[int]], pad_token_id: int, eos_ids: list[int]
) -> list[dict[str, Any]]:
    """Greedy continuations of exactly GREEDY_NEW_TOKENS tokens.

    min_new_tokens masks the end tokens; the records are only kept if no end token was ever the argmax, so
    they hold both for a runtime that masks end tokens and for one that merely ignores them.
    """
    records = []
    for prompt in prompts:
        input_ids = torch.tensor([prompt])
        with torch.no_grad():
            output = model.generate(
                input_ids,
                attention_mask=torch.ones_like(input_ids),
                do_sample=False,
                max_new_tokens=GREEDY_NEW_TOKENS,
                min_new_tokens=GREEDY_NEW_TOKENS,
                pad_token_id=pad_token_id,
            )
        output_ids = output[0, len(prompt):].tolist()
        assert len(output_ids) == GREEDY_NEW_TOKENS
        record = {"prompt_ids": prompt, "output_ids": output_ids}
        assert not eos_was_argmax(model, record, eos_ids), f"an end token was the argmax after {prompt}"
        records.append(record)
    return records


# Texts the CLI tests pass to `teleguard tokenize` and `teleguard generate` (raw and through the chat template).
CLI_TEXTS = ["The license grants permission to copy.", "Ünïcödé 東京 tokens 👋 and 12345"]


def cli_records(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerFast, pad_token_id: int, eos_ids: list[int]
) -> list[dict[str, Any]]:
    """What `teleguard generate --json` must print for a text prompt, raw and as one chat turn."""
    records = []
    for text in CLI_TEXTS:
        raw_ids = tokenizer(text)["input_ids"]
        chat_ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": text}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        raw, chat = greedy_records(model, [raw_ids, list(chat_ids)], pad_token_id, eos_ids)
        records.append({
            "text": text,
            "raw_prompt_ids": raw["prompt_ids"], "raw_output_ids": raw["output_ids"],
            "chat_prompt_ids": chat["prompt_ids"], "chat_output_ids": chat["output_ids"],
        })
    return records


def eos_was_argmax(model: torch.nn.Module, record: dict[str, Any], eos_ids: list[int]) -> bool:
    """Whether plain argmax would have chosen an end token somewhere (min_new_tokens masks it)."""
    sequence = record["prompt_ids"] + record["output_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([sequence])).logits[0]
    start = len(record["prompt_ids"]) - 1
    argmax = logits[start:start + GREEDY_NEW_TOKENS].argmax(dim=-1).tolist()
    return any(token in eos_ids for token in argmax)


# ---------------------------------------------------------------------------------------------------
# LoRA


def randomize_lora(model: torch.nn.Module, adapter_name: str, seed: int) -> None:
    """Both A and B non-zero (PEFT's default B = 0 would make the adapter a no-op)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if f"lora_A.{adapter_name}." in name or f"lora_B.{adapter_name}." in name:
                fan_in = parameter.shape[1]
                parameter.copy_((1.0 / math.sqrt(fan_in)) * torch.randn(parameter.shape, generator=generator))


def make_adapter(
    model_dir: Path, fixture_name: str, adapter_dir: Path, targets: list[str], rank: int, rslora: bool, seed: int
) -> None:
    base = load_reference_model(model_dir)
    config = LoraConfig(
        r=rank,
        lora_alpha=8,
        target_modules=targets,
        init_lora_weights=False,
        use_rslora=rslora,
        lora_dropout=0.0,
        task_type="CAUSAL_LM",
    )
    peft_model = get_peft_model(base, config)
    randomize_lora(peft_model, "default", seed)
    peft_model.peft_config["default"].base_model_name_or_path = fixture_name
    peft_model.save_pretrained(adapter_dir)
    (adapter_dir / "README.md").unlink()  # PEFT's empty model card
    # PEFT writes target_modules from a set, whose order changes between runs; sort for reproducible files.
    config_path = adapter_dir / "adapter_config.json"
    saved = json.loads(config_path.read_text())
    assert saved["base_model_name_or_path"] == fixture_name
    saved["target_modules"] = sorted(saved["target_modules"])
    config_path.write_text(json.dumps(saved, indent=2, sort_keys=True))


def lora_section(
    model_dir: Path,
    spec: ModelSpec,
    logit_prompts: list[list[int]],
    greedy_prompts: list[list[int]],
    pad_token_id: int,
    eos_ids: list[int],
    base_logits: list[torch.Tensor],
) -> tuple[dict[str, Any], dict[str, Any]]:
    make_adapter(model_dir, spec.name, model_dir / "lora", spec.lora_targets, 4, spec.lora_rslora, spec.seed + 100)
    make_adapter(model_dir, spec.name, model_dir / "lora2", spec.lora2_targets, 2, False, spec.seed + 200)

    peft_model = PeftModel.from_pretrained(load_reference_model(model_dir), model_dir / "lora", adapter_name="lora")
    peft_model.eval()
    lora_logits = logits_records(peft_model, logit_prompts)
    for base, record in zip(base_logits, lora_logits):
        change = (torch.tensor(record["last_logits"]) - base).abs().max().item()
        assert change > 0.1, f"{spec.name}: the LoRA changes the logits by only {change}"
    if spec.lora_rslora:
        scale_note = "use_rslora: scaling = lora_alpha / sqrt(r) = 8 / sqrt(4) = 4"
    else:
        scale_note = "scaling = lora_alpha / r = 8 / 4 = 2"
    lora = {
        "adapter": "lora",
        "scale_note": scale_note + f"; targets {spec.lora_targets}",
        "logits": lora_logits,
        "greedy": greedy_records(peft_model, greedy_prompts, pad_token_id, eos_ids),
    }

    # Both adapters active at once: the layer output is base + sum of each adapter's scaled delta.
    stack_weights = [1.0, 0.5]
    peft_model.load_adapter(model_dir / "lora2", adapter_name="lora2")
    peft_model.base_model.set_adapter(["lora", "lora2"])
    for module in peft_model.modules():
        if isinstance(module, peft.tuners.lora.LoraLayer):
            for adapter_name, weight in zip(["lora", "lora2"], stack_weights):
                module.set_scale(adapter_name, weight)
    peft_model.eval()
    stack = {
        "adapters": ["lora", "lora2"],
        "weights": stack_weights,
        "note": "each adapter's delta B A x is multiplied by its own scaling (lora: see lora.scale_note; "
        "lora2: r=2, lora_alpha=8, scaling 4) times its weight; lora2 targets " + str(spec.lora2_targets),
        "logits": logits_records(peft_model, logit_prompts),
    }
    return lora, stack


# ---------------------------------------------------------------------------------------------------
# JSON output


def dump_json(value: Any, indent: int = 0) -> str:
    """Indented JSON with lists of numbers kept on one line, so the files stay small and diffable."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad} {json.dumps(key, ensure_ascii=False)}: {dump_json(item, indent + 1)}' for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            return json.dumps(value, ensure_ascii=False)
        items = [f"{pad} {dump_json(item, indent + 1)}" for item in value]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(value, ensure_ascii=False)


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "peft": peft.__version__,
    }


# ---------------------------------------------------------------------------------------------------
# Fixture models


CONVERSATIONS_WITH_SYSTEM = [
    [{"role": "user", "content": "Hello! How are you?"}],
    [
        {"role": "system", "content": "You are a concise assistant."},
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Japan? Answer in 日本語 please 🙂"},
    ],
    [
        {"role": "user", "content": "  Leading and trailing spaces  \n"},
        {"role": "assistant", "content": "Noted.\n\nTwo paragraphs."},
    ],
]
CONVERSATIONS_ALTERNATING = [
    [{"role": "user", "content": "Hello! How are you?"}],
    [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "Paris."},
        {"role": "user", "content": "And of Japan? Answer in 日本語 please 🙂"},
    ],
    [
        {"role": "user", "content": "Write one line of code."},
        {"role": "assistant", "content": "print('hi')"},
    ],
]

SPECS = [
    ModelSpec(
        name="llama3-sharded-bf16",
        seed=1,
        family="llama3",
        template="llama3",
        template_in_config=True,
        make_config=llama3_config,
        dtype=torch.bfloat16,
        max_shard_size="100KB",
        chat_sets=CONVERSATIONS_WITH_SYSTEM,
    ),
    ModelSpec(
        name="mistral-sp-f16-zst",
        seed=2,
        family="sentencepiece",
        template="mistral",
        template_in_config=False,
        make_config=mistral_config,
        dtype=torch.float16,
        compress_zstd=True,
        lora_rslora=True,
        chat_sets=CONVERSATIONS_ALTERNATING,
    ),
    ModelSpec(
        name="qwen2-bias-tied-f32",
        seed=3,
        family="qwen2",
        template="chatml_qwen2",
        template_in_config=True,
        make_config=qwen2_config,
        dtype=torch.float32,
        lora_targets=["q_proj", "v_proj", "down_proj"],
        lora2_targets=["k_proj", "gate_proj"],
        chat_sets=CONVERSATIONS_WITH_SYSTEM,
    ),
    ModelSpec(
        name="llama-metaspace-oldkeys",
        seed=4,
        family="metaspace",
        template="zephyr",
        template_in_config=True,
        make_config=llama_metaspace_config,
        dtype=torch.float32,
        old_config_keys=True,
        chat_sets=CONVERSATIONS_WITH_SYSTEM,
        extra_chat_templates=["llama2"],
    ),
]

PROMPT_TEXT = (
    "The history of computing is a story of people who wanted to calculate faster. Early machines used "
    "gears; later ones used relays, vacuum tubes and finally transistors. Today a phone holds more power "
    "than the computers that guided the first missions to the Moon, and programs written in languages like "
    "Python or Swift run everywhere."
)


def special_token_ids(tokenizer: PreTrainedTokenizerFast, family: str) -> dict[str, Any]:
    """bos/eos/pad ids for config.json and generation_config.json."""
    token_id = tokenizer.convert_tokens_to_ids
    if family == "llama3":
        return {
            "bos_token_id": token_id("<|begin_of_text|>"),
            "eos_token_id": [token_id("<|end_of_text|>"), token_id("<|eot_id|>")],
            "pad_token_id": None,
        }
    if family == "qwen2":
        return {"bos_token_id": None, "eos_token_id": token_id("<|im_end|>"), "pad_token_id": token_id("<|endoftext|>")}
    return {"bos_token_id": token_id("<s>"), "eos_token_id": token_id("</s>"), "pad_token_id": None}


def save_tokenizer(spec: ModelSpec, corpus: list[str], model_dir: Path) -> tuple[PreTrainedTokenizerFast, Tokenizer]:
    """Train, wrap and save the tokenizer; return it as transformers loads it back, and the raw tokenizer.json."""
    raw_tokenizer = make_tokenizer(spec.family, corpus)
    template = read_template(spec.template)
    wrapper = PreTrainedTokenizerFast(
        tokenizer_object=raw_tokenizer,
        chat_template=template,
        clean_up_tokenization_spaces=False,
        **FAMILIES[spec.family].wrapper_kwargs,
    )
    # transformers 5 writes chat_template.jinja by default; the older place is tokenizer_config.json.
    wrapper.save_pretrained(model_dir, save_jinja_files=not spec.template_in_config)
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert ("chat_template" in tokenizer_config) == spec.template_in_config
    assert (model_dir / "chat_template.jinja").exists() != spec.template_in_config

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    saved_raw = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    assert tokenizer.chat_template == template, f"{spec.name}: chat template did not round-trip"
    assert saved_raw.to_str() == raw_tokenizer.to_str(), f"{spec.name}: tokenizer.json changed when saved"
    return tokenizer, saved_raw


def save_model(spec: ModelSpec, model_dir: Path, vocab_size: int, ids: dict[str, Any]) -> None:
    config = spec.make_config(vocab_size, ids)
    torch.manual_seed(spec.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    randomize_weights(model, spec.seed)
    model.to(spec.dtype)
    save_kwargs = {"max_shard_size": spec.max_shard_size} if spec.max_shard_size else {}
    model.save_pretrained(model_dir, **save_kwargs)
    GenerationConfig(
        bos_token_id=ids["bos_token_id"], eos_token_id=ids["eos_token_id"], pad_token_id=ids["pad_token_id"], do_sample=False
    ).save_pretrained(model_dir)

    shards = sorted(model_dir.glob("*.safetensors"))
    if spec.max_shard_size:
        assert len(shards) >= 2 and (model_dir / "model.safetensors.index.json").exists(), f"{spec.name}: not sharded"
    tensor_names = [name for shard in shards for name in safe_open(shard, "pt").keys()]
    assert ("lm_head.weight" in tensor_names) != config.tie_word_embeddings, f"{spec.name}: lm_head vs tying"


def check_old_config_keys(model_dir: Path, probe_ids: list[int]) -> None:
    """Rewrite config.json in the older key style and check that transformers gives identical logits."""
    before = last_logits(load_reference_model(model_dir), probe_ids)
    rewrite_config_old_keys(model_dir / "config.json")
    assert "rope_parameters" not in json.loads((model_dir / "config.json").read_text())
    after = last_logits(load_reference_model(model_dir), probe_ids)
    assert torch.equal(before, after), f"{model_dir.name}: old-style config keys change the logits"


def compress_and_check(model_dir: Path, prompts: list[list[int]], base_logits: list[torch.Tensor]) -> None:
    """Replace model.safetensors by model.safetensors.zst; decompressed, it must give the same logits."""
    compressed = compress_with_zstd(model_dir / "model.safetensors")
    check_dir = model_dir.parent.parent / f".check-{model_dir.name}"
    shutil.copytree(model_dir, check_dir)
    try:
        decompress_zstd(compressed, check_dir / "model.safetensors")
        (check_dir / "model.safetensors.zst").unlink()
        reloaded = load_reference_model(check_dir)
        for prompt, base in zip(prompts, base_logits):
            assert torch.equal(last_logits(reloaded, prompt), base), f"{model_dir.name}: zstd round trip changed logits"
    finally:
        shutil.rmtree(check_dir)


def make_model_fixture(spec: ModelSpec, corpus: list[str]) -> None:
    model_dir = MODELS_DIR / spec.name
    model_dir.mkdir(parents=True)
    tokenizer, raw_tokenizer = save_tokenizer(spec, corpus, model_dir)
    ids = special_token_ids(tokenizer, spec.family)
    save_model(spec, model_dir, len(tokenizer), ids)

    all_ids = tokenizer(PROMPT_TEXT)["input_ids"]
    # Qwen2 has no BOS, so its one-token prompt is an ordinary token; the others' is the BOS.
    prompts = [all_ids[:1], all_ids[:12], all_ids[:60]]
    assert len(prompts[2]) == 60, f"{spec.name}: the prompt text is too short"
    if spec.old_config_keys:
        check_old_config_keys(model_dir, prompts[2])

    chat = chat_records(tokenizer, spec.chat_sets, None)
    greedy_prompts = [prompts[1], chat[0]["ids"]]
    eos = ids["eos_token_id"]
    eos_ids = eos if isinstance(eos, list) else [eos]
    pad_token_id = ids["pad_token_id"] if ids["pad_token_id"] is not None else eos_ids[0]

    reference = load_reference_model(model_dir)
    base_logits = [last_logits(reference, prompt) for prompt in prompts]
    expected: dict[str, Any] = {
        "versions": versions(),
        "tokenizer": tokenizer_records(tokenizer, raw_tokenizer, COMMON_TEXTS + FAMILIES[spec.family].special_texts),
        "chat": chat,
        "logits": [{"prompt_ids": p, "last_logits": f32_list(l)} for p, l in zip(prompts, base_logits)],
        "greedy": greedy_records(reference, greedy_prompts, pad_token_id, eos_ids),
    }
    # Further templates rendered with this tokenizer; a separate key so the "chat" records stay the model's own.
    for extra in spec.extra_chat_templates:
        expected[f"chat_{extra}"] = {
            "template_file": f"Tests/Fixtures/chat_templates/{extra}.jinja",
            "records": chat_records(tokenizer, CONVERSATIONS_WITH_SYSTEM, read_template(extra)),
        }
    expected["cli"] = cli_records(reference, tokenizer, pad_token_id, eos_ids)
    del reference
    gc.collect()

    expected["lora"], expected["lora_stack"] = lora_section(
        model_dir, spec, prompts, greedy_prompts, pad_token_id, eos_ids, base_logits
    )
    if spec.compress_zstd:
        compress_and_check(model_dir, prompts, base_logits)
    (model_dir / "expected.json").write_text(dump_json(expected) + "\n", encoding="utf-8")


def main() -> None:
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    if MODELS_DIR.exists():
        shutil.rmtree(MODELS_DIR)
    MODELS_DIR.mkdir(parents=True)
    corpus = build_corpus()
    print(f"corpus: {len(corpus)} lines, sha256 {hashlib.sha256(chr(10).join(corpus).encode()).hexdigest()[:16]}")
    for spec in SPECS:
        print(f"making {spec.name}")
        make_model_fixture(spec, corpus)
    total = sum(path.stat().st_size for path in MODELS_DIR.rglob("*") if path.is_file())
    print(f"done: {total / 1024:.0f} KiB in {MODELS_DIR.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
