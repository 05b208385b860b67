"""Architecture specs of the zoo and how each becomes a Hugging Face model.

Two families, both read by TeleGuard's runtime: `LlamaForCausalLM` (no biases, untied embeddings, MHA or GQA)
and `Qwen2ForCausalLM` (q/k/v biases, tied embeddings). The spec is the single place a size is defined.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

FAMILIES = ("llama", "qwen2")


@dataclass(frozen=True)
class ArchSpec:
    family: str
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    max_position_embeddings: int = 256
    rope_theta: float = 10000.0

    @property
    def id(self) -> str:
        kind = "mha" if self.num_kv_heads == self.num_heads else f"gqa{self.num_kv_heads}"
        return f"{self.family}-h{self.hidden_size}-l{self.num_layers}-{kind}"

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_heads

    def validate(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"ArchSpec.family: expected one of {FAMILIES}, found {self.family!r}")
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(f"ArchSpec {self.id}: hidden_size {self.hidden_size} not divisible by num_heads {self.num_heads}")
        if self.num_heads % self.num_kv_heads != 0:
            raise ValueError(f"ArchSpec {self.id}: num_heads {self.num_heads} not divisible by num_kv_heads {self.num_kv_heads}")


def hf_config(spec: ArchSpec, vocab_size: int, bos_id: int, eos_id: int, pad_id: int):
    """The transformers config for a spec (Qwen2: q/k/v biases and tied embeddings; Llama: neither)."""
    spec.validate()
    common = dict(
        vocab_size=vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
        num_key_value_heads=spec.num_kv_heads,
        max_position_embeddings=spec.max_position_embeddings,
        rms_norm_eps=1e-6,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        hidden_act="silu",
    )
    if spec.family == "qwen2":
        from transformers import Qwen2Config

        return Qwen2Config(tie_word_embeddings=True, rope_theta=spec.rope_theta, use_sliding_window=False, **common)
    from transformers import LlamaConfig

    return LlamaConfig(tie_word_embeddings=False, attention_bias=False, mlp_bias=False, rope_theta=spec.rope_theta, head_dim=spec.head_dim, **common)


def build_model(spec: ArchSpec, vocab_size: int, bos_id: int, eos_id: int, pad_id: int, seed: int):
    """A freshly initialized model for the spec (deterministic in seed)."""
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = hf_config(spec, vocab_size, bos_id, eos_id, pad_id)
    return AutoModelForCausalLM.from_config(config)


def describe(spec: ArchSpec) -> dict:
    """The zoo.json fields of an architecture."""
    return {
        "architecture": "Qwen2ForCausalLM" if spec.family == "qwen2" else "LlamaForCausalLM",
        "hidden_size": spec.hidden_size,
        "num_layers": spec.num_layers,
        "num_heads": spec.num_heads,
        "num_kv_heads": spec.num_kv_heads,
    }
