"""Make the GGUF parity fixtures for the TeleGuard Swift runtime's GGUF reader.

Run from the repository root (after ``make_fixtures.py``, whose model directories it converts):

    /root/.cache/teleguard/venv/bin/python Tests/Fixtures/make_gguf_fixtures.py

It deletes and rewrites ``Tests/Fixtures/gguf/quants/`` and ``Tests/Fixtures/gguf/models/``; nothing is
downloaded. Two parts:

1. ``quants/quantize-source.f32`` + ``quants/quantize-TYPE.bin``: float32 rows and what ``gguf.quants.quantize``
   makes of them in Q8_0 and Q4_0 (the types TeleGuard writes). ``quants/TYPE.gguf`` + ``quants/TYPE.f32``: one GGUF v3 file per ggml type (F32, F16, BF16, Q8_0, Q4_0,
   Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) holding one tensor ``weight`` of ggml dims ne = [512, 3], and the raw
   little-endian float32 that ``gguf.quants.dequantize`` makes of it. Types gguf-py can quantize get seeded
   normal data with zero and constant blocks in it; the K-quants (which gguf-py cannot quantize) get seeded
   random block bytes whose f16 scale fields are set to finite values, some of them zero.
2. ``models/NAME.gguf``: the fixture models under ``models/`` converted the way llama.cpp's
   ``convert_hf_to_gguf.py`` converts them (arch ``llama`` with the q/k row permutation for Llama and
   Mistral, ``qwen2`` for Qwen2; its metadata keys, tensor names, tensor types and tokenizer metadata, made
   with gguf-py's own ``LlamaHfVocab``/``SpecialVocab``/``Metadata``), plus a ``Q8_0`` variant of
   ``llama-metaspace-oldkeys``. For each, ``models/NAME.expected.json`` records what transformers makes of
   the file (``from_pretrained(..., gguf_file=...)``: config, tokenizer round trips, chat renderings, logits,
   greedy tokens), how that differs from the original Hugging Face directory, and
   ``models/NAME.tokenizer.json`` is transformers' rebuilt tokenizer.

Where this script departs from the converter it says so in ``CONVERTER_NOTES`` (written into every
expected.json) and in Tests/Fixtures/README.md. The committed files were made with Python 3.11.7, torch
2.15.0 (CPU), transformers 5.23.0, tokenizers 0.23.3, gguf 0.19.0 and numpy 2.4.6; each expected.json
records its versions.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import gc
import importlib.metadata
import json
import math
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import gguf
import numpy as np
import tokenizers
import torch
import transformers
from gguf import GGMLQuantizationType as QType
from gguf import LlamaFileType
from safetensors import safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import (  # noqa: E402  (the fixture models' own conventions and helpers)
    CONVERSATIONS_ALTERNATING,
    CONVERSATIONS_WITH_SYSTEM,
    decompress_zstd,
    dump_json,
    f32_list,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"
HF_MODELS_DIR = FIXTURES / "models"
GGUF_DIR = FIXTURES / "gguf"
QUANTS_DIR = GGUF_DIR / "quants"
GGUF_MODELS_DIR = GGUF_DIR / "models"
TEXTS_FILE = FIXTURES / "tokenizers" / "texts.json"

GREEDY_NEW_TOKENS = 24
# Appended to tokenizers/texts.json: the fixture models' own words (Llama-3's whole-word tokens that no merge
# builds, so ignore_merges matters) and their special tokens written as text.
EXTRA_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    " jumps lazy everywhere",
    "<s>Hello</s>",
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n",
    "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>",
]

# ---------------------------------------------------------------------------------------------------
# Part 1: one tensor per ggml type

QUANT_TYPES = [
    QType.F32, QType.F16, QType.BF16, QType.Q8_0, QType.Q4_0, QType.Q4_1, QType.Q5_0, QType.Q5_1,
    QType.Q4_K, QType.Q5_K, QType.Q6_K,
]
QUANT_ROWS, QUANT_COLUMNS = 3, 512  # numpy shape (3, 512) = ggml ne [512, 3]; 512 is two 256-element K blocks
QUANT_SEED = 20240611

# Byte offsets of the f16 scale fields inside one block, for the types written as random block bytes.
K_QUANT_F16_FIELDS: dict[QType, list[int]] = {
    QType.Q4_K: [0, 2],  # d, dmin, then 12 packed 6-bit scales/mins and 128 bytes of 4-bit quants
    QType.Q5_K: [0, 2],  # d, dmin, 12 scale bytes, 32 bytes of high bits, 128 bytes of low nibbles
    QType.Q6_K: [208],  # 128 bytes ql, 64 bytes qh, 16 int8 scales, then d
}


def quant_source_rows(rng: np.random.Generator) -> np.ndarray:
    """Three rows: plain normal data; a row with an all-zero block, constant blocks and small values; a wide row."""
    rows = np.empty((QUANT_ROWS, QUANT_COLUMNS), dtype=np.float32)
    rows[0] = rng.standard_normal(QUANT_COLUMNS)
    rows[1] = 0.1 * rng.standard_normal(QUANT_COLUMNS)
    rows[1, 0:32] = 0.0  # a block whose scale is 0
    rows[1, 32:64] = 0.75  # constant blocks: every element at the block's maximum
    rows[1, 64:96] = -2.5
    rows[1, 256:288] = 0.0
    rows[2] = 3.0 * rng.standard_normal(QUANT_COLUMNS)
    rows[2, 100] = 40.0  # one large outlier so that block's scale is dominated by it
    return rows


def random_k_quant_blocks(qtype: QType, rng: np.random.Generator) -> np.ndarray:
    """Random block bytes with finite f16 scales (d, and dmin where there is one); some scales are exactly 0."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    n_blocks = QUANT_ROWS * QUANT_COLUMNS // block_size
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for field_index, offset in enumerate(K_QUANT_F16_FIELDS[qtype]):
        magnitudes = rng.uniform(0.001, 0.05, size=n_blocks)
        signs = np.where(rng.random(n_blocks) < 0.25, -1.0, 1.0)
        values = (magnitudes * signs).astype(np.float16)
        values[(field_index + 1) % n_blocks] = 0.0  # d == 0 in one block, dmin == 0 in another
        blocks[:, offset:offset + 2] = values.reshape(n_blocks, 1).view(np.uint8)
    assert np.isfinite(blocks[:, K_QUANT_F16_FIELDS[qtype][0]:][:, :2].copy().view(np.float16)).all()
    return blocks.reshape(QUANT_ROWS, -1)


def raw_tensor_bytes(qtype: QType, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """The tensor as ggml stores it: uint8, one row of bytes per tensor row; and how it was made."""
    try:
        quantized = gguf.quants.quantize(quant_source_rows(rng), qtype)
    except NotImplementedError:
        return random_k_quant_blocks(qtype, rng), "random block bytes with finite f16 scales (gguf-py cannot quantize this type)"
    return np.ascontiguousarray(quantized).view(np.uint8).reshape(QUANT_ROWS, -1), "gguf.quants.quantize of seeded normal data"


def write_quant_fixture(qtype: QType) -> dict[str, Any]:
    rng = np.random.default_rng([QUANT_SEED, int(qtype)])
    raw, origin = raw_tensor_bytes(qtype, rng)
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    assert raw.shape == (QUANT_ROWS, QUANT_COLUMNS // block_size * type_size), raw.shape
    expected = gguf.quants.dequantize(raw, qtype).astype(np.float32)
    assert expected.shape == (QUANT_ROWS, QUANT_COLUMNS) and np.isfinite(expected).all(), qtype.name

    path = QUANTS_DIR / f"{qtype.name}.gguf"
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(f"teleguard-quant-{qtype.name}")
    writer.add_description(f"One {qtype.name} tensor 'weight', ne [512, 3]: {origin}. Values: {qtype.name}.f32")
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_tensor("weight", raw, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    expected.astype("<f4").tofile(QUANTS_DIR / f"{qtype.name}.f32")

    reader = gguf.GGUFReader(path)
    assert len(reader.tensors) == 1
    tensor = reader.tensors[0]
    assert tensor.name == "weight" and tensor.tensor_type == qtype, (tensor.name, tensor.tensor_type)
    assert [int(n) for n in tensor.shape] == [QUANT_COLUMNS, QUANT_ROWS], tensor.shape
    assert tensor.n_elements == QUANT_ROWS * QUANT_COLUMNS and tensor.n_bytes == raw.size
    assert np.array_equal(np.ascontiguousarray(tensor.data).view(np.uint8).reshape(-1), raw.reshape(-1))
    assert np.array_equal(gguf.quants.dequantize(tensor.data, qtype).reshape(-1), expected.reshape(-1))
    return {
        "type": qtype.name,
        "ggml_type": int(qtype),
        "block_size": block_size,
        "type_size": type_size,
        "data_offset": int(tensor.data_offset),
        "origin": origin,
    }


# ---------------------------------------------------------------------------------------------------
# Part 2: the fixture models as llama.cpp's converter writes them


@dataclass(frozen=True)
class GgufModelSpec:
    """One converted file: which fixture model, the converter's --outtype, and the BPE pre-tokenizer name."""

    model: str
    file_name: str
    ftype: LlamaFileType
    tokenizer_pre: str | None  # for byte-level BPE vocabularies ("gpt2"); see CONVERTER_NOTES
    conversations: list[list[dict[str, str]]]


GGUF_SPECS = [
    GgufModelSpec("llama-metaspace-oldkeys", "llama-metaspace-oldkeys.gguf", LlamaFileType.ALL_F32, None, CONVERSATIONS_WITH_SYSTEM),
    GgufModelSpec("llama-metaspace-oldkeys", "llama-metaspace-oldkeys.Q8_0.gguf", LlamaFileType.MOSTLY_Q8_0, None, CONVERSATIONS_WITH_SYSTEM),
    GgufModelSpec("qwen2-bias-tied-f32", "qwen2-bias-tied-f32.gguf", LlamaFileType.ALL_F32, "qwen2", CONVERSATIONS_WITH_SYSTEM),
    # The F16 and BF16 models are written in their own type (the converter's `--outtype auto`): the same
    # values as F32 (both widen to float32 exactly) in half the bytes, and the reader meets F16/BF16 matrices.
    GgufModelSpec("mistral-sp-f16-zst", "mistral-sp-f16-zst.gguf", LlamaFileType.MOSTLY_F16, None, CONVERSATIONS_ALTERNATING),
    GgufModelSpec("llama3-sharded-bf16", "llama3-sharded-bf16.gguf", LlamaFileType.MOSTLY_BF16, "llama-bpe", CONVERSATIONS_WITH_SYSTEM),
]

CONVERTER_NOTES = [
    "Written with gguf-py 0.19.0 following convert_hf_to_gguf.py (LlamaModel for Llama/Mistral, Qwen2Model): "
    "TextModel.set_gguf_parameters + LlamaModel.set_gguf_parameters, prepare_tensors' type rules, "
    "prepare_metadata (gguf.Metadata.load heuristics for general.name etc.), set_vocab.",
    "tokenizer.ggml.pre for the byte-level vocabularies is set by name ('llama-bpe' for the Llama-3 regex, "
    "'qwen2' for the Qwen2 regex): the converter identifies it by hashing the tokenization of a check text, "
    "which only matches the published tokenizers, not these retrained ones.",
    "rope_freqs.weight (llama3 rope) is computed as LlamaModel.generate_extra_tensors does, except that "
    "original_max_position_embeddings is read from rope_parameters (32). The converter reads it from the top "
    "level of config.json with a default of 8192 (which equals the nested value in real Llama-3.1 configs); "
    "for this config it would have written the factors in 'rope_freqs_converter_literal', which do not "
    "describe the Hugging Face model.",
    "SentencePiece-style vocabularies without tokenizer.model go through gguf.LlamaHfVocab, as in the "
    "converter: every score is -1000.0, <unk>/<s>/</s> are token type 3 (control, not 2/unknown), <0xXX> "
    "are type 6, and no merges are written.",
    "mistral-sp-f16-zst: model.safetensors.zst is decompressed first (the converter reads plain safetensors).",
]


def load_hf_tensors(model_dir: Path) -> Iterator[tuple[str, torch.Tensor]]:
    """The safetensors files in name order and each file's tensors in its key order, as the converter reads them."""
    for part in sorted(model_dir.glob("*.safetensors")):
        with safe_open(part, framework="pt") as handle:
            for name in handle.keys():
                yield name, handle.get_tensor(name)


def permute_rows(weights: torch.Tensor, n_head: int, n_head_kv: int | None) -> torch.Tensor:
    """llama.cpp's LlamaModel.permute: HF's rotate-half row order to GGML's interleaved (adjacent pair) order."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def rope_parameters(hparams: dict[str, Any]) -> dict[str, Any]:
    """TextModel.__init__'s rope_parameters: rope_parameters, else rope_scaling, with rope_theta mirrored in."""
    params = dict(hparams.get("rope_parameters", hparams.get("rope_scaling")) or {})
    if "rope_theta" not in params and hparams.get("rope_theta") is not None:
        params["rope_theta"] = hparams["rope_theta"]
    if "rope_type" not in params and params.get("type") is not None:
        params["rope_type"] = params["type"]
    return params


def llama3_rope_factors(hparams: dict[str, Any], original_context: int) -> list[float]:
    """LlamaModel.generate_extra_tensors: per rotary pair, the divisor ggml applies to its frequency."""
    params = rope_parameters(hparams)
    base = params.get("rope_theta", 10000.0)
    dim = hparams.get("head_dim") or hparams["hidden_size"] // hparams["num_attention_heads"]
    freqs = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = params.get("factor", 8.0)
    low_freq_factor = params.get("low_freq_factor", 1.0)
    high_freq_factor = params.get("high_freq_factor", 4.0)
    low_freq_wavelen = original_context / low_freq_factor
    high_freq_wavelen = original_context / high_freq_factor
    factors: list[float] = []
    for freq in freqs:
        wavelen = 2 * math.pi / freq
        if wavelen < high_freq_wavelen:
            factors.append(1)
        elif wavelen > low_freq_wavelen:
            factors.append(factor)
        else:
            smooth = (original_context / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return [float(value) for value in torch.tensor(factors, dtype=torch.float32)]


def tensor_qtype(new_name: str, n_dims: int, ftype: LlamaFileType) -> QType:
    """prepare_tensors' rules: 1-D tensors, norms and non-.weight tensors stay F32; the rest follow --outtype."""
    if n_dims <= 1 or new_name.endswith("_norm.weight") or not new_name.endswith(".weight"):
        return QType.F32
    return {
        LlamaFileType.ALL_F32: QType.F32,
        LlamaFileType.MOSTLY_F16: QType.F16,
        LlamaFileType.MOSTLY_BF16: QType.BF16,
        LlamaFileType.MOSTLY_Q8_0: QType.Q8_0,
    }[ftype]


def add_model_tensors(writer: gguf.GGUFWriter, model_dir: Path, hparams: dict[str, Any], arch: gguf.MODEL_ARCH,
                      ftype: LlamaFileType) -> list[dict[str, Any]]:
    tensor_map = gguf.get_tensor_name_map(arch, hparams["num_hidden_layers"])
    is_llama = arch == gguf.MODEL_ARCH.LLAMA
    written: list[dict[str, Any]] = []

    def add(new_name: str, data_torch: torch.Tensor, source: str) -> None:
        if data_torch.dtype not in (torch.float16, torch.float32):
            data_torch = data_torch.to(torch.float32)
        data = data_torch.numpy()
        qtype = tensor_qtype(new_name, data.ndim, ftype)
        try:
            stored = gguf.quants.quantize(data, qtype)
        except gguf.QuantError:
            qtype = QType.F16  # the converter's fallback when a row is not a whole number of blocks
            stored = gguf.quants.quantize(data, qtype)
        writer.add_tensor(new_name, stored, raw_dtype=qtype)
        written.append({"name": new_name, "type": qtype.name, "ne": list(reversed(data.shape)), "source": source})

    params = rope_parameters(hparams)
    if is_llama and params.get("rope_type", "").lower() == "llama3":
        original = params.get("original_max_position_embeddings", 8192)
        factors = torch.tensor(llama3_rope_factors(hparams, original), dtype=torch.float32)
        add(gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight", factors, "llama3 rope factors")

    n_head = hparams["num_attention_heads"]
    n_kv_head = hparams.get("num_key_value_heads")
    for name, data_torch in load_hf_tensors(model_dir):
        if is_llama:
            if name.endswith(("q_proj.weight", "q_proj.bias")):
                data_torch = permute_rows(data_torch, n_head, n_head)
            if name.endswith(("k_proj.weight", "k_proj.bias")):
                data_torch = permute_rows(data_torch, n_head, n_kv_head)
        new_name = tensor_map.get_name(name, try_suffixes=(".weight", ".bias"))
        assert new_name is not None, f"no GGUF name for {name}"
        add(new_name, data_torch, name)
    return written


def set_gguf_parameters(writer: gguf.GGUFWriter, hparams: dict[str, Any], is_llama: bool, ftype: LlamaFileType) -> None:
    """TextModel.set_gguf_parameters, then LlamaModel's additions (vocab_size, rope dimension count)."""
    writer.add_block_count(hparams["num_hidden_layers"])
    writer.add_context_length(hparams["max_position_embeddings"])
    writer.add_embedding_length(hparams["hidden_size"])
    writer.add_feed_forward_length(hparams["intermediate_size"])
    writer.add_head_count(hparams["num_attention_heads"])
    if hparams.get("num_key_value_heads") is not None:
        writer.add_head_count_kv(hparams["num_key_value_heads"])
    params = rope_parameters(hparams)
    if params.get("rope_type") == "linear" and params.get("factor") is not None:
        writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
        writer.add_rope_scaling_factor(params["factor"])
    if params.get("rope_theta") is not None:
        writer.add_rope_freq_base(params["rope_theta"])
    writer.add_layer_norm_rms_eps(hparams["rms_norm_eps"])
    if hparams.get("head_dim") is not None:
        writer.add_key_length(hparams["head_dim"])
        writer.add_value_length(hparams["head_dim"])
    writer.add_file_type(ftype)
    if is_llama:
        writer.add_vocab_size(hparams["vocab_size"])
        writer.add_rope_dimension_count(hparams.get("head_dim") or hparams["hidden_size"] // hparams["num_attention_heads"])


def does_token_look_special(token: str) -> bool:
    """TextModel.does_token_look_special."""
    return (
        token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]")
        or (token.startswith("<|") and token.endswith("|>"))
        or (token.startswith("<\uff5c") and token.endswith("\uff5c>"))
        or (token.startswith("<unused") and token.endswith(">"))
    )


def set_vocab_gpt2(writer: gguf.GGUFWriter, model_dir: Path, hparams: dict[str, Any], tokenizer_pre: str) -> None:
    """TextModel._set_vocab_gpt2 with get_vocab_base: ids in order, added tokens typed control / user-defined."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    vocab_size = hparams.get("vocab_size", len(tokenizer.vocab))
    assert max(tokenizer.vocab.values()) < vocab_size
    reverse_vocab = {id_: token for token, id_ in tokenizer.vocab.items()}
    added_vocab = tokenizer.get_added_vocab()
    tokens: list[str] = []
    toktypes: list[int] = []
    for i in range(vocab_size):
        if i not in reverse_vocab:
            tokens.append(f"[PAD{i}]")
            toktypes.append(gguf.TokenType.UNUSED)
            continue
        token = reverse_vocab[i]
        if token in added_vocab:
            if not tokenizer.added_tokens_decoder[i].normalized:
                token = tokenizer.decode(tokenizer.encode(token, add_special_tokens=False))
            if tokenizer.added_tokens_decoder[i].special or does_token_look_special(token):
                toktypes.append(gguf.TokenType.CONTROL)
            else:
                token = token.replace("\u2581", " ")
                toktypes.append(gguf.TokenType.USER_DEFINED)
        else:
            toktypes.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tokenizer_pre)
    writer.add_token_list(tokens)
    writer.add_token_types(toktypes)
    gguf.SpecialVocab(model_dir, load_merges=True).add_to_gguf(writer, quiet=True)


def set_vocab_llama_hf(writer: gguf.GGUFWriter, model_dir: Path) -> None:
    """TextModel._set_vocab_llama_hf: a tokenizer.json BPE with byte fallback and no tokenizer.model."""
    vocab = gguf.LlamaHfVocab(model_dir)
    tokens, scores, toktypes = [], [], []
    for text, score, toktype in vocab.all_tokens():
        tokens.append(text)
        scores.append(score)
        toktypes.append(toktype)
    assert len(tokens) == vocab.vocab_size
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(toktypes)
    gguf.SpecialVocab(model_dir, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)


def set_vocab(writer: gguf.GGUFWriter, model_dir: Path, hparams: dict[str, Any], is_llama: bool, tokenizer_pre: str | None) -> str:
    """LlamaModel.set_vocab (sentencepiece, else LlamaHfVocab, else GPT-2 BPE) or Qwen2Model.set_vocab."""
    assert not (model_dir / "tokenizer.model").exists()
    tokenizer_config = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert "add_prefix_space" not in tokenizer_config  # LlamaModel.set_vocab would write add_space_prefix
    if is_llama:
        try:
            set_vocab_llama_hf(writer, model_dir)
            return "llama"
        except (FileNotFoundError, TypeError):
            pass
    assert tokenizer_pre is not None, f"{model_dir.name}: byte-level vocabulary needs a pre-tokenizer name"
    set_vocab_gpt2(writer, model_dir, hparams, tokenizer_pre)
    return "gpt2"


def convert_model(model_dir: Path, spec: GgufModelSpec) -> dict[str, Any]:
    """Write GGUF_MODELS_DIR / spec.file_name from the plain Hugging Face directory model_dir."""
    hparams = json.loads((model_dir / "config.json").read_text())
    hf_arch = hparams["architectures"][0]
    if hf_arch in ("LlamaForCausalLM", "MistralForCausalLM"):
        arch = gguf.MODEL_ARCH.LLAMA
    elif hf_arch == "Qwen2ForCausalLM":
        arch = gguf.MODEL_ARCH.QWEN2
    else:
        raise ValueError(f"no converter class for {hf_arch}")
    is_llama = arch == gguf.MODEL_ARCH.LLAMA

    writer = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[arch])
    tensors = add_model_tensors(writer, model_dir, hparams, arch, spec.ftype)

    total_params, shared_params, expert_params, expert_count = writer.get_total_parameter_count()
    metadata = gguf.Metadata.load(None, model_dir, None, total_params)
    if metadata.name is None:
        metadata.name = model_dir.name
    if metadata.size_label is None and total_params > 0:
        metadata.size_label = gguf.size_label(total_params, shared_params, expert_params, expert_count)
    writer.add_type(gguf.GGUFType.MODEL)
    metadata.set_gguf_meta_model(writer)
    set_gguf_parameters(writer, hparams, is_llama, spec.ftype)
    tokenizer_model = set_vocab(writer, model_dir, hparams, is_llama, spec.tokenizer_pre)
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

    path = GGUF_MODELS_DIR / spec.file_name
    writer.write_header_to_file(path=path)
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    reader = gguf.GGUFReader(path)
    assert [t.name for t in reader.tensors] == [t["name"] for t in tensors]
    for tensor, record in zip(reader.tensors, tensors):
        assert tensor.tensor_type.name == record["type"] and [int(n) for n in tensor.shape] == record["ne"], record
    if spec.ftype != LlamaFileType.MOSTLY_Q8_0:
        check_round_trip(reader, model_dir, hparams, is_llama)
    summary: dict[str, Any] = {
        "file": spec.file_name,
        "architecture": gguf.MODEL_ARCH_NAMES[arch],
        "file_type": spec.ftype.name,
        "tokenizer_model": tokenizer_model,
        "metadata": gguf_metadata_summary(reader),
        "tensors": tensors,
    }
    if params := rope_parameters(hparams):
        if params.get("rope_type") == "llama3":
            summary["rope_freqs_written"] = llama3_rope_factors(hparams, params["original_max_position_embeddings"])
            summary["rope_freqs_converter_literal"] = llama3_rope_factors(hparams, hparams.get("original_max_position_embeddings", 8192))
    return summary


def check_round_trip(reader: gguf.GGUFReader, model_dir: Path, hparams: dict[str, Any], is_llama: bool) -> None:
    """Every stored tensor, widened to float32 and un-permuted, equals the Hugging Face tensor exactly."""
    stored = {tensor.name: tensor for tensor in reader.tensors}
    tensor_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA if is_llama else gguf.MODEL_ARCH.QWEN2, hparams["num_hidden_layers"])
    n_head, n_kv_head = hparams["num_attention_heads"], hparams.get("num_key_value_heads")
    for name, original in load_hf_tensors(model_dir):
        tensor = stored[tensor_map.get_name(name, try_suffixes=(".weight", ".bias"))]
        values = torch.from_numpy(gguf.quants.dequantize(tensor.data, tensor.tensor_type).copy())
        values = values.reshape(original.shape)
        if is_llama and name.endswith(("q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias")):
            heads = n_head if "q_proj" in name else (n_kv_head or n_head)
            values = values.reshape(heads, values.shape[0] // heads // 2, 2, *values.shape[1:]).swapaxes(1, 2).reshape(original.shape)
        assert torch.equal(values, original.to(torch.float32)), f"{name} does not round-trip"


def gguf_metadata_summary(reader: gguf.GGUFReader) -> dict[str, Any]:
    """Every key with its value, except the long token arrays, which are given by length."""
    summary: dict[str, Any] = {}
    for key, field in reader.fields.items():
        if key.startswith("GGUF."):
            continue
        value = field.contents()
        if isinstance(value, list) and len(value) > 8:
            summary[key] = f"[{len(value)} x {field.types[-1].name}]"
        else:
            summary[key] = value
    return summary


# ---------------------------------------------------------------------------------------------------
# Part 3: what transformers makes of the files


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "gguf": importlib.metadata.version("gguf"),
        "numpy": np.__version__,
    }


def config_record(config: transformers.PreTrainedConfig) -> dict[str, Any]:
    keys = [
        "model_type", "architectures", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "rms_norm_eps", "rope_parameters", "vocab_size", "max_position_embeddings",
        "tie_word_embeddings", "attention_bias", "mlp_bias", "bos_token_id", "eos_token_id", "pad_token_id",
    ]
    record = {key: getattr(config, key, None) for key in keys}
    record["rope_parameters"] = dict(record["rope_parameters"] or {})
    return record


def tokenizer_records(tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[dict[str, Any]]:
    records = []
    for text in texts:
        ids = tokenizer(text)["input_ids"]
        ids_no_special = tokenizer(text, add_special_tokens=False)["input_ids"]
        records.append({
            "text": text,
            "ids": ids,
            "ids_no_special": ids_no_special,
            "decoded": tokenizer.decode(ids_no_special),
            "decoded_skip_special": tokenizer.decode(ids, skip_special_tokens=True),
        })
    return records


def chat_records(tokenizer: PreTrainedTokenizerBase, conversations: list[list[dict[str, str]]]) -> list[dict[str, Any]]:
    records = []
    for messages in conversations:
        for add_generation_prompt in ([True, False] if messages[-1]["role"] == "user" else [False]):
            rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=add_generation_prompt, tokenize=False)
            ids = tokenizer.apply_chat_template(
                messages, add_generation_prompt=add_generation_prompt, tokenize=True, return_dict=False
            )
            records.append({"messages": messages, "add_generation_prompt": add_generation_prompt, "rendered": rendered, "ids": list(ids)})
    return records


def differing(ours: list[dict[str, Any]], reference: list[dict[str, Any]], fields: list[str]) -> dict[str, list[Any]]:
    """For each field, the records (by text, or by index for chats) whose value differs from the reference."""
    result: dict[str, list[Any]] = {}
    for field_name in fields:
        keys = [
            mine.get("text", index)
            for index, (mine, theirs) in enumerate(zip(ours, reference, strict=True))
            if mine[field_name] != theirs[field_name]
        ]
        result[field_name] = keys
    return result


def load_gguf_model(file_name: str, **config_overrides: Any) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(
        GGUF_MODELS_DIR, gguf_file=file_name, dtype=torch.float32, attn_implementation="eager", **config_overrides
    )
    model.eval()
    return model


def load_hf_model(model_dir: Path) -> torch.nn.Module:
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model.eval()
    return model


def last_logits(model: torch.nn.Module, prompt_ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([prompt_ids])).logits[0, -1]


def greedy(model: torch.nn.Module, prompt: list[int], pad_token_id: int) -> list[int]:
    """GREEDY_NEW_TOKENS tokens with end tokens masked (min_new_tokens), as the HF fixtures' greedy records."""
    input_ids = torch.tensor([prompt])
    with torch.no_grad():
        output = model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False,
            max_new_tokens=GREEDY_NEW_TOKENS, min_new_tokens=GREEDY_NEW_TOKENS, pad_token_id=pad_token_id,
        )
    return output[0, len(prompt):].tolist()


def end_token_was_argmax(model: torch.nn.Module, prompt: list[int], output: list[int], end_ids: list[int]) -> bool:
    with torch.no_grad():
        logits = model(torch.tensor([prompt + output])).logits[0]
    argmax = logits[len(prompt) - 1:len(prompt) - 1 + len(output)].argmax(dim=-1).tolist()
    return any(token in end_ids for token in argmax)


def as_list(value: Any) -> list[int]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def model_expected(spec: GgufModelSpec, hf_dir: Path, conversion: dict[str, Any], texts: list[str]) -> dict[str, Any]:
    """transformers' view of the GGUF file, and where it differs from the Hugging Face directory."""
    hf_expected = json.loads((HF_MODELS_DIR / spec.model / "expected.json").read_text())
    logit_prompts = [record["prompt_ids"] for record in hf_expected["logits"]]
    greedy_prompts = [record["prompt_ids"] for record in hf_expected["greedy"]]

    tokenizer = AutoTokenizer.from_pretrained(GGUF_MODELS_DIR, gguf_file=spec.file_name)
    hf_tokenizer = AutoTokenizer.from_pretrained(hf_dir)
    stem = spec.file_name.removesuffix(".gguf")
    tokenizer_json = tokenizer.backend_tokenizer.to_str() + "\n"
    same_tokenizer_as = None
    if spec.ftype == LlamaFileType.MOSTLY_Q8_0:
        # The weights differ, the tokenizer metadata does not: refer to the F32 file's records instead.
        same_tokenizer_as = spec.file_name.replace(".Q8_0.gguf", ".gguf")
        assert (GGUF_MODELS_DIR / same_tokenizer_as.replace(".gguf", ".tokenizer.json")).read_text(encoding="utf-8") == tokenizer_json
    else:
        (GGUF_MODELS_DIR / f"{stem}.tokenizer.json").write_text(tokenizer_json, encoding="utf-8")

    token_records = tokenizer_records(tokenizer, texts)
    hf_token_records = tokenizer_records(hf_tokenizer, texts)
    chat = chat_records(tokenizer, spec.conversations)
    hf_chat = chat_records(hf_tokenizer, spec.conversations)

    model = load_gguf_model(spec.file_name)
    hf_model = load_hf_model(hf_dir)
    hf_config = hf_model.config
    notes: list[str] = []

    config = config_record(model.config)
    reference_config = config_record(hf_config)
    # None and False mean the same for the bias flags (MistralConfig has none, LlamaConfig says False).
    config_diff = {
        key: {"gguf": config[key], "hf": reference_config[key]}
        for key in config
        if key != "architectures" and config[key] != reference_config[key] and (config[key] or reference_config[key])
    }
    if config_diff:
        notes.append("transformers' config from the GGUF differs from the Hugging Face config in: " + ", ".join(sorted(config_diff)))

    logits_records = []
    for prompt, hf_record in zip(logit_prompts, hf_expected["logits"]):
        ours = last_logits(model, prompt)
        reference = last_logits(hf_model, prompt)
        # The reference is the committed one: models/NAME/expected.json holds these logits for these prompts
        # (equal up to float rounding: a different CPU may sum in a different order).
        committed_diff = float((reference - torch.tensor(hf_record["last_logits"])).abs().max())
        assert committed_diff < 1e-4, f"{spec.model}: HF logits differ from its expected.json by {committed_diff}"
        logits_records.append({
            "prompt_ids": prompt,
            "last_logits": f32_list(ours),
            "max_abs_diff_vs_hf": float((ours - reference).abs().max()),
        })
    # What transformers drops (attention_bias, rope scaling) put back by hand: then the file must give the HF
    # model's logits, which shows the tensors themselves (permutation, rope factors aside) are right.
    overrides = {key: getattr(hf_config, key) for key in ("attention_bias", "rope_parameters")
                 if getattr(hf_config, key, None) is not None and getattr(hf_config, key) != getattr(model.config, key, None)}
    if overrides:
        fixed = load_gguf_model(spec.file_name, **overrides)
        for record, prompt in zip(logits_records, logit_prompts):
            corrected = last_logits(fixed, prompt)
            # The reference a runtime that reads the whole file is held to: transformers' GGUF loading with the
            # dropped fields passed back in.
            record["last_logits_with_hf_config"] = f32_list(corrected)
            record["max_abs_diff_vs_hf_with_hf_config"] = float((corrected - last_logits(hf_model, prompt)).abs().max())
        fixed_greedy = {tuple(prompt): greedy(fixed, prompt, fixed.config.pad_token_id if fixed.config.pad_token_id is not None
                                              else sorted(set(as_list(hf_config.eos_token_id)))[0])
                        for prompt in greedy_prompts}
        del fixed
    if "rope_freqs_written" in conversion:
        # ggml divides each pair's frequency by rope_freqs; that must be the HF model's llama3 inv_freq.
        dim = len(conversion["rope_freqs_written"]) * 2
        base = torch.tensor(1.0) / (hf_config.rope_parameters["rope_theta"] ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        hf_inv_freq = hf_model.model.rotary_emb.inv_freq.to(torch.float32)
        relative = ((base / torch.tensor(conversion["rope_freqs_written"])) / hf_inv_freq - 1).abs().max().item()
        assert relative < 1e-6, f"rope_freqs do not reproduce the HF inv_freq (relative error {relative})"
        conversion["rope_freqs_vs_hf_inv_freq_max_relative_error"] = relative
    worst = max(record["max_abs_diff_vs_hf"] for record in logits_records)
    if worst > 1e-4:
        notes.append(f"logits differ from the Hugging Face model by up to {worst:.4g} (per prompt: "
                     + ", ".join(f"{len(r['prompt_ids'])} tokens {r['max_abs_diff_vs_hf']:.4g}" for r in logits_records) + ")")

    end_ids = sorted(set(as_list(hf_config.eos_token_id)) | set(as_list(model.config.eos_token_id)))
    pad_token_id = model.config.pad_token_id if model.config.pad_token_id is not None else end_ids[0]
    greedy_records = []
    for prompt, hf_record in zip(greedy_prompts, hf_expected["greedy"]):
        output = greedy(model, prompt, pad_token_id)
        greedy_records.append({
            "prompt_ids": prompt,
            "output_ids": output,
            "end_token_was_argmax": end_token_was_argmax(model, prompt, output, end_ids),
            "matches_hf": output == hf_record["output_ids"],
        })
        if overrides:
            greedy_records[-1]["output_ids_with_hf_config"] = fixed_greedy[tuple(prompt)]
    if not all(record["matches_hf"] for record in greedy_records):
        notes.append("greedy continuations differ from the Hugging Face model's (models/%s/expected.json)" % spec.model)

    tokenizer_diff = differing(token_records, hf_token_records, ["ids", "ids_no_special", "decoded", "decoded_skip_special"])
    chat_diff = differing(chat, hf_chat, ["rendered", "ids"])
    for label, diff, total in (("tokenizer", tokenizer_diff, len(texts)), ("chat", chat_diff, len(chat))):
        for field_name, keys in diff.items():
            if keys:
                notes.append(f"{label} {field_name}: {len(keys)} of {total} differ from the Hugging Face tokenizer")

    if spec.ftype == LlamaFileType.MOSTLY_Q8_0:
        f32_file = spec.file_name.replace(".Q8_0.gguf", ".gguf")
        f32_model = load_gguf_model(f32_file)
        for record, prompt in zip(logits_records, logit_prompts):
            record["max_abs_diff_vs_f32_gguf"] = float((last_logits(model, prompt) - last_logits(f32_model, prompt)).abs().max())
        notes.append("Q8_0 weights: logits are expected to differ from the F32 file and the HF model by quantization error")
        del f32_model

    del model, hf_model
    gc.collect()
    if overrides:
        notes.append("with " + ", ".join(f"{key}={value!r}" for key, value in overrides.items()) + " passed to from_pretrained, "
                     "the logits differ from the HF model by up to "
                     f"{max(r['max_abs_diff_vs_hf_with_hf_config'] for r in logits_records):.3g} (see max_abs_diff_vs_hf_with_hf_config)")
    expected: dict[str, Any] = {
        "versions": versions(),
        "gguf_file": spec.file_name,
        "hf_model_dir": f"Tests/Fixtures/models/{spec.model}",
        "converter_notes": CONVERTER_NOTES,
        "notes": notes,
        "conversion": conversion,
        "config": config,
        "config_diff_vs_hf": config_diff,
        "tokenizer_class": type(tokenizer).__name__,
        "special_tokens": {
            "bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "unk_token": tokenizer.unk_token,
            "pad_token": tokenizer.pad_token, "add_bos_token": getattr(tokenizer, "add_bos_token", None),
            "add_eos_token": getattr(tokenizer, "add_eos_token", None),
        },
        "tokenizer": token_records,
        "tokenizer_diff_vs_hf": tokenizer_diff,
        "chat": chat,
        "chat_diff_vs_hf": chat_diff,
        "logits": logits_records,
        "greedy": greedy_records,
    }
    if same_tokenizer_as is not None:
        for key in ("tokenizer", "tokenizer_diff_vs_hf", "chat", "chat_diff_vs_hf"):
            del expected[key]
        expected["same_tokenizer_as"] = same_tokenizer_as
        expected["notes"] = [note for note in notes if not note.startswith(("tokenizer ", "chat "))]
        expected["notes"].append(f"tokenizer and chat records: see {same_tokenizer_as.replace('.gguf', '.expected.json')} (identical tokenizer metadata)")
    return expected


def plain_hf_dir(model_name: str, scratch: Path) -> Path:
    """A copy of the fixture directory with plain safetensors (and without the adapters), named as the model."""
    source = HF_MODELS_DIR / model_name
    target = scratch / model_name
    if target.exists():
        return target
    target.mkdir()
    for path in sorted(source.iterdir()):
        if path.is_file() and path.name != "expected.json":
            if path.suffix == ".zst":
                decompress_zstd(path, target / path.name.removesuffix(".zst"))
            else:
                shutil.copy2(path, target / path.name)
    return target


# The types TeleGuard quantizes to, checked against gguf.quants.quantize on one shared source.
QUANTIZE_TYPES = [QType.Q8_0, QType.Q4_0]


def write_quantize_fixtures() -> None:
    """``quantize-source.f32`` (the seeded rows, plus a row of rounding ties for Q8_0: 127 · k/254 · m for a block
    maximum m) and ``quantize-TYPE.bin``: the blocks gguf.quants.quantize makes of it."""
    rows = quant_source_rows(np.random.default_rng([QUANT_SEED, 1000]))
    ties = np.empty((1, QUANT_COLUMNS), dtype=np.float32)
    for block in range(QUANT_COLUMNS // 32):
        maximum = np.float32(0.5 + block)
        ties[0, block * 32 : (block + 1) * 32] = (np.arange(32, dtype=np.float32) - 16) * np.float32(0.5) * maximum / np.float32(127)
        ties[0, block * 32] = maximum
    source = np.concatenate([rows, ties]).astype(np.float32)
    source.astype("<f4").tofile(QUANTS_DIR / "quantize-source.f32")
    for qtype in QUANTIZE_TYPES:
        blocks = np.ascontiguousarray(gguf.quants.quantize(source, qtype)).view(np.uint8)
        blocks.tofile(QUANTS_DIR / f"quantize-{qtype.name}.bin")


def make_quants() -> list[dict[str, Any]]:
    if QUANTS_DIR.exists():
        shutil.rmtree(QUANTS_DIR)
    QUANTS_DIR.mkdir(parents=True)
    records = [write_quant_fixture(qtype) for qtype in QUANT_TYPES]
    write_quantize_fixtures()
    return records


def make_models() -> None:
    if GGUF_MODELS_DIR.exists():
        shutil.rmtree(GGUF_MODELS_DIR)
    GGUF_MODELS_DIR.mkdir(parents=True)
    texts = json.loads(TEXTS_FILE.read_text(encoding="utf-8")) + EXTRA_TEXTS
    with tempfile.TemporaryDirectory(prefix="teleguard-gguf-") as scratch_name:
        scratch = Path(scratch_name)
        for spec in GGUF_SPECS:
            print(f"converting {spec.model} -> {spec.file_name}")
            hf_dir = plain_hf_dir(spec.model, scratch)
            conversion = convert_model(hf_dir, spec)
            expected = model_expected(spec, hf_dir, conversion, texts)
            stem = spec.file_name.removesuffix(".gguf")
            (GGUF_MODELS_DIR / f"{stem}.expected.json").write_text(dump_json(expected) + "\n", encoding="utf-8")
            for note in expected["notes"]:
                print(f"  note: {note}")


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    only = sys.argv[1] if len(sys.argv) > 1 else "all"
    if only in ("all", "quants"):
        records = make_quants()
        (QUANTS_DIR / "index.json").write_text(dump_json({"versions": versions(), "ne": [QUANT_COLUMNS, QUANT_ROWS], "files": records}) + "\n")
    if only in ("all", "models"):
        make_models()
    total = sum(path.stat().st_size for path in GGUF_DIR.rglob("*") if path.is_file())
    print(f"done: {total / 1024:.0f} KiB in {GGUF_DIR.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
