"""Writes reference.safetensors with Hugging Face `safetensors` (PyTorch backend) and reference.json
with the exact float32 bit patterns a reader must produce. Run from any directory:

    /root/.cache/teleguard/venv/bin/python Tests/Fixtures/safetensors/make_safetensors_fixture.py

Each float tensor is made from float32 source values (including values that need rounding when
narrowed, subnormals, infinities and NaN); `source_float32_bits` are those values, and
`float32_bits` are the values after PyTorch narrowed them to the tensor's dtype and widened them
back (`tensor.float()`), i.e. what decoding the file must give.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent


def edge_values(kind: str) -> list[float]:
    """Values that exercise rounding and the special encodings of each format."""
    common = [0.0, -0.0, 1.0, -2.5, math.inf, -math.inf, math.nan]
    if kind == "f16":
        return common + [
            1.0 + 2.0**-11,  # tie: rounds down to even 1.0
            1.0 + 3 * 2.0**-11,  # tie: rounds up to even
            65504.0,  # largest finite half
            65519.0,  # rounds to 65504
            65520.0,  # rounds to infinity
            2.0**-14,  # smallest normal half
            2.0**-24,  # smallest subnormal half
            2.0**-25,  # tie: rounds to zero
            3 * 2.0**-25,  # tie: rounds up to 2^-23
            1e-8,  # below half's range: zero
            6.1e-5,  # subnormal
        ]
    if kind == "bf16":
        return common + [
            1.0 + 2.0**-8,  # tie: rounds down to even 1.0
            1.0 + 3 * 2.0**-8,  # tie: rounds up to even
            3.3895313892515355e38,  # largest finite bfloat16
            3.4e38,  # rounds to infinity
            1e-40,  # float32 subnormal, stays subnormal
            2.0**-133,  # smallest bfloat16 subnormal
        ]
    return common + [2.0**-149, 3.4028234663852886e38, 1e-45]


def bits(tensor: torch.Tensor) -> list[int]:
    return [int(b) for b in tensor.contiguous().view(torch.int32).flatten().tolist()]


def main() -> None:
    generator = torch.Generator().manual_seed(20261123)
    specs = {
        # name: (dtype, shape, kind of edge values)
        "model.layers.0.mlp.up_proj.weight": (torch.float16, (4, 8), "f16"),
        "model.layers.0.self_attn.q_proj.weight": (torch.bfloat16, (3, 8), "bf16"),
        "model.norm.weight": (torch.float32, (2, 7), "f32"),
        "lm_head.scale": (torch.float64, (2, 5), "f64"),
    }
    tensors: dict[str, torch.Tensor] = {}
    reference: dict[str, dict] = {}
    for name, (dtype, shape, kind) in specs.items():
        count = math.prod(shape)
        edges = edge_values(kind)
        random = (torch.randn(count - len(edges), generator=generator) * 3).tolist() if count > len(edges) else []
        source = torch.tensor((edges + random)[:count], dtype=torch.float32).reshape(shape)
        stored = source.to(dtype)
        tensors[name] = stored
        reference[name] = {
            "dtype": {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64"}[dtype],
            "shape": list(shape),
            "source_float32_bits": bits(source),
            "float32_bits": bits(stored.float()),
        }
    tensors["model.token_ids"] = torch.tensor([3, -1, 7], dtype=torch.int64)
    reference["model.token_ids"] = {"dtype": "I64", "shape": [3], "values": [3, -1, 7]}
    scalar = torch.tensor(0.125, dtype=torch.float32)
    tensors["model.scalar"] = scalar
    reference["model.scalar"] = {
        "dtype": "F32", "shape": [], "source_float32_bits": bits(scalar), "float32_bits": bits(scalar)
    }

    metadata = {"format": "pt", "made_by": "make_safetensors_fixture.py"}
    save_file(tensors, str(HERE / "reference.safetensors"), metadata=metadata)
    document = {
        "generator": f"safetensors {safetensors.__version__}, torch {torch.__version__}, numpy {np.__version__}",
        "metadata": metadata,
        "tensors": reference,
    }
    (HERE / "reference.json").write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
