"""Apply generated (U, V) to a Hugging Face model without touching its weights: `y = W (I + Vᵀ U) x + b`.

A forward pre-hook replaces a linear layer's input x (rows) by x + (x Uᵀ) V, which is W(I + VᵀU)x once W is applied;
gradients flow into U and V (and so into the generator) while the model's own parameters stay frozen.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

DEFAULT_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def target_pattern(layer_types: tuple[str, ...]) -> str:
    """Module-name regex for the targeted linear layers of a Llama-family decoder (recorded in the exported spec)."""
    return r"^model\.layers\.\d+\.(self_attn|mlp)\.(" + "|".join(re.escape(t) for t in layer_types) + r")$"


def target_modules(model: nn.Module, layer_types: tuple[str, ...]) -> dict[str, nn.Linear]:
    pattern = re.compile(target_pattern(layer_types))
    found = {name: m for name, m in model.named_modules() if pattern.match(name) and isinstance(m, nn.Linear)}
    if not found:
        raise ValueError(f"patching: no linear layer matches {pattern.pattern}")
    return found


@contextmanager
def patched(model: nn.Module, patches: Mapping[str, tuple[torch.Tensor, torch.Tensor]], scale: float = 1.0) -> Iterator[None]:
    """Within the block, each named linear layer computes W(I + scale·VᵀU)x + b."""
    modules = dict(model.named_modules())
    handles = []
    try:
        for name, (u, v) in patches.items():
            module = modules.get(name)
            if module is None:
                raise ValueError(f"patching: model has no module {name!r}")

            def hook(_m: nn.Module, args: tuple, u: torch.Tensor = u, v: torch.Tensor = v) -> tuple:
                x = args[0]
                delta = (x @ u.t().to(x.dtype)) @ v.to(x.dtype)
                return (x + scale * delta,) + tuple(args[1:])

            handles.append(module.register_forward_pre_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


def to_lora(weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PEFT tensors for the same patch: lora_A = U (r×in), lora_B = W·Vᵀ (out×r), with lora_alpha = r (scale 1)."""
    return u.detach().clone(), (weight.detach().float() @ v.detach().float().t())
