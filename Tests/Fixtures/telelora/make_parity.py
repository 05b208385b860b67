"""Make the Swift TeleLoRA generator's parity fixture from the PyTorch reference (training/generator.py).

A randomly initialised generator — its V head randomised too, since a fresh generator's zero V head makes every V
(and so every patch) trivially zero — is exported with training/export.py's own writer (spec.json +
generator.safetensors) to `generator/`, with a few probe prompts, and `parity.json` holds inputs X, W, layer type and
the reference's outputs (W column statistics, U, V) for several widths, in export.py's parity layout.

    /root/.cache/teleguard/venv/bin/python Tests/Fixtures/telelora/make_parity.py [--telelora /work/wt/telelora]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
# (H, layer type, N, out_features): odd and even widths, wider than the channel count, every position in the
# type-embedding table exercised at least once across cases.
CASES = ((17, "q_proj", 9, 5), (48, "down_proj", 12, 20), (64, "v_proj", 7, 24), (130, "gate_proj", 10, 33),
         (33, "o_proj", 6, 8))
PROBES = ["What is the capital of France?", "Write a short poem about the sea.", "Explain how a bicycle works.",
          "List three fruits.", "How many days are in a week?"]


def round_trip(values) -> list[float]:
    """float32 values as the shortest decimals that read back to the same float32."""
    return [float(f"{v:.9g}") for v in values]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--telelora", type=Path, default=Path("/work/wt/telelora"), help="checkout holding training/")
    args = parser.parse_args()
    sys.path.insert(0, str(args.telelora))
    import torch
    from training.export import write_generator
    from training.generator import GeneratorConfig, TeleLoRAGenerator, weight_column_stats
    from training.patching import target_pattern

    torch.manual_seed(7)
    config = GeneratorConfig(rank=4, channels=12, exchangeable_layers=3, hidden=24, type_embedding=6, max_norm=1.5)
    generator = TeleLoRAGenerator(config)
    with torch.no_grad():
        generator.v_head.copy_(torch.randn_like(generator.v_head) * 0.5)
        for layer in generator.exchangeable:
            layer.b.copy_(torch.randn_like(layer.b) * 0.1)
        generator.a1_bias.copy_(torch.randn_like(generator.a1_bias) * 0.1)
        generator.a2_bias.copy_(torch.randn_like(generator.a2_bias) * 0.1)
    generator.eval()

    target_dir = HERE / "generator"
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / "probes.json").write_text(json.dumps(PROBES, indent=2) + "\n")
    spec = write_generator(generator, target_dir, {
        "targets": [target_pattern(config.layer_types)],
        "target_layer_types": list(config.layer_types),
        "activation_rows": 16,
        "probe_set": {"file": "probes.json", "count": len(PROBES),
                      "chat_template": "each probe is one user turn with the generation prompt; all positions kept"},
        "patch": "y = W (I + V^T U) x + b; as PEFT LoRA: lora_A = U, lora_B = W V^T, lora_alpha = r",
        "training_data_hash": None,
        "results": None,
    })

    gen = torch.Generator().manual_seed(2024)
    cases = []
    for h, layer_type, n, out_features in CASES:
        x = torch.tensor(round_trip((torch.randn(n, h, generator=gen) * (0.5 + torch.rand(h, generator=gen))).flatten().tolist())).reshape(n, h)
        w = torch.tensor(round_trip((torch.randn(out_features, h, generator=gen) * 0.1).flatten().tolist())).reshape(out_features, h)
        with torch.no_grad():
            u, v = generator(x, w, layer_type)
        assert v.abs().max() > 0, "the V head must be random, or V is trivially zero"
        cases.append({"layer_type": layer_type, "n": n, "h": h, "out_features": out_features,
                      "x": round_trip(x.flatten().tolist()), "w": round_trip(w.flatten().tolist()),
                      "w_column_stats": round_trip(weight_column_stats(w).flatten().tolist()),
                      "u": round_trip(u.flatten().tolist()), "v": round_trip(v.flatten().tolist())})
    (HERE / "parity.json").write_text(json.dumps({
        "made_by": "Tests/Fixtures/telelora/make_parity.py (random generator, training/generator.py forward)",
        "generator": str((target_dir / "generator.safetensors").relative_to(REPO)),
        "generator_sha256": spec["generator_sha256"],
        "layout": "x: n×h row-major, w: out_features×h row-major, w_column_stats: h×4, u and v: rank×h row-major",
        "rank": config.rank,
        "cases": cases,
    }) + "\n")
    print(f"wrote {target_dir} and {HERE / 'parity.json'} ({len(cases)} cases)")


if __name__ == "__main__":
    main()
