"""How much a Trojan shows in what the generator reads: `python -m training.twin_inputs --preset P [--split S]`.

For each Trojaned model of the split and its clean twin (the model it was fine-tuned from): the relative difference of
the probe activations the generator reads (the same probe rows for both), of the weights, and of the patches
ΔW = U Vᵀ the trained generator makes from them — set against the difference between the twin's own patches from two
draws of probe rows, the generator's sampling noise. Writes <out>/twin_inputs-<split>.json and prints a Markdown
table.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from .activations import collect_activations
from .common import set_cpu_threads, write_json
from .evaluate import Generators
from .generator import generate_patches
from .patching import target_modules
from .zoo_io import Zoo, ZooModel, add_location_args, load_model, resolve_locations


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a − b‖ / ‖b‖ (Frobenius)."""
    return float((a - b).norm() / b.norm().clamp_min(1e-12))


def delta_w(patches: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {name: u @ v.T for name, (u, v) in patches.items()}


def compare(zoo: Zoo, entry: ZooModel, twin: ZooModel, gens: Generators) -> dict:
    gen, cfg, _ = gens.get("activations")
    targets, rows, seed = tuple(cfg["targets"]), cfg["rows"], cfg["seed"]
    probes = zoo.probes()
    trojan_model, tokenizer = load_model(zoo.model_dir(entry))
    twin_model, _ = load_model(zoo.model_dir(twin))
    w_t = {n: m.weight.detach() for n, m in target_modules(trojan_model, targets).items()}
    w_c = {n: m.weight.detach() for n, m in target_modules(twin_model, targets).items()}
    with torch.no_grad():
        x_t = collect_activations(trojan_model, tokenizer, probes, targets, rows, seed)
        x_c = collect_activations(twin_model, tokenizer, probes, targets, rows, seed)
        x_c2 = collect_activations(twin_model, tokenizer, probes, targets, rows, seed + 1)
        p_t, p_c, p_c2 = (delta_w(generate_patches(gen, w, x)) for w, x in ((w_t, x_t), (w_c, x_c), (w_c, x_c2)))
    names = sorted(p_t)
    return {
        "twin": twin.id,
        "activations": statistics.fmean(relative(x_t[n], x_c[n]) for n in names),
        "weights": statistics.fmean(relative(w_t[n], w_c[n]) for n in names),
        "patches": statistics.fmean(relative(p_t[n], p_c[n]) for n in names),
        "patches_other_rows": statistics.fmean(relative(p_c2[n], p_c[n]) for n in names),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_args(parser, "holds generator/; twin_inputs.json is written")
    parser.add_argument("--split", default="test")
    args = parser.parse_args()
    set_cpu_threads()
    zoo_dir, out = resolve_locations(args)
    zoo = Zoo.open(zoo_dir)
    gens = Generators(out)
    if gens.get("activations") is None:
        raise SystemExit(f"twin_inputs: no trained generator under {out}/generator")
    by_id = {m.id: m for m in zoo.models}
    results = {e.id: compare(zoo, e, by_id[e.base], gens) for e in zoo.split(args.split) if not e.clean}
    write_json(Path(out) / f"twin_inputs-{args.split}.json", results)
    print("| model | activations | weights | patches | patches, other probe rows |\n|---|---|---|---|---|")
    for model_id, r in results.items():
        print(f"| {model_id} | {r['activations']:.4f} | {r['weights']:.4f} | {r['patches']:.4f} | "
              f"{r['patches_other_rows']:.4f} |")
    mean = {k: statistics.fmean(r[k] for r in results.values()) for k in next(iter(results.values())) if k != "twin"}
    print("| **mean** | " + " | ".join(f"{mean[k]:.4f}" for k in mean) + " |")
    print(json.dumps({"mean": mean}))


if __name__ == "__main__":
    main()
