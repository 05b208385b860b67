"""A stricter benign measure than `contains` accuracy: how many benign answers a guard leaves as they were.

Benign accuracy counts an answer right when it holds the expected text, so a correct first token followed by garbage
still counts. Here, per held-out model and for each deployment of the trained generator (scale and positions), the
guarded greedy answers to the held-out benign prompts are compared with the unguarded ones: the share identical, the
share of the unguarded model's correct answers that stay correct and that stay identical, and the ratio of answer
lengths (characters; above 1: the guard makes answers longer).

    python -m training.answer_agreement [--zoo DIR] --out RUN_DIR [--split test]
        [--deployments generated@1.575~0.002,generated@1.575~0.01/8/1e-8]
prints one row per model and the means; writes them to RUN_DIR/answer-agreement-<split>.json."""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from .activations import cached_activations
from .common import generate_greedy, matches, set_cpu_threads, write_json
from .evaluate import Generators, evaluated_models
from .generator import generate_patches
from .patching import PATCH_POSITIONS, GenerationPhase, TokenVeto, patched, target_modules
from .zoo_io import Zoo, add_location_args, load_model, resolve_locations


def agreement(unguarded: list[str], guarded: list[str], expects: list[dict]) -> dict:
    """The four measures for one model (see the module docstring)."""
    right = [i for i, expect in enumerate(expects) if matches(unguarded[i], expect)]
    return {
        "identical": sum(a == b for a, b in zip(guarded, unguarded)) / len(unguarded),
        "right_kept": sum(matches(guarded[i], expects[i]) for i in right) / len(right) if right else None,
        "right_kept_identical": sum(guarded[i] == unguarded[i] for i in right) / len(right) if right else None,
        "length_ratio": sum(map(len, guarded)) / max(1, sum(map(len, unguarded))),
    }


def parse_deployment(text: str) -> tuple[str, float, tuple[float, int, float] | None]:
    """'generated@0.875' → ("generated", 0.875, None); 'generated@1.575~0.01/8/1e-8' → ("generated", 1.575,
    (0.01, 8, 1e-8)), the last the veto rule's ratio, window and evidence (generated positions only; '~R' alone: window
    1, evidence R)."""
    positions, _, rest = text.partition("@")
    scale, _, veto = rest.partition("~")
    fields = veto.split("/") if veto else []
    if positions not in PATCH_POSITIONS or not scale or (veto and positions != "generated") or len(fields) not in (0, 1, 3):
        raise ValueError(f"answer_agreement: a deployment is POSITIONS@SCALE[~RATIO[/WINDOW/EVIDENCE]] with POSITIONS in "
                         f"{PATCH_POSITIONS} (a veto with generated only), found {text!r}")
    if not fields:
        return positions, float(scale), None
    ratio = float(fields[0])
    return positions, float(scale), ((ratio, 1, ratio) if len(fields) == 1 else (ratio, int(fields[1]), float(fields[2])))


def decoding(positions: str, veto: tuple[float, int, float] | None) -> GenerationPhase | None:
    if veto is not None:
        return TokenVeto(*veto)
    return GenerationPhase() if positions == "generated" else None


@torch.no_grad()
def run(zoo: Zoo, out: Path, split: str, deployments: list[str], max_tokens: int = 32, log=print) -> dict:
    found = Generators(out).get("activations")
    if found is None:
        raise LookupError(f"answer_agreement: no trained generator under {out}")
    gen, cfg, _ = found
    targets = tuple(cfg["targets"])
    items = zoo.benign_eval()
    prompts, expects = [it["prompt"] for it in items], [it["expect"] for it in items]
    per_model: dict[str, dict] = {}
    for entry in evaluated_models(zoo, split):
        model, tok = load_model(zoo.model_dir(entry))
        weights = {n: m.weight for n, m in target_modules(model, targets).items()}
        acts = cached_activations(model, tok, zoo.probes(), out / "activations" / f"{entry.id}.safetensors", targets,
                                  cfg["rows"], cfg["seed"])
        patches = generate_patches(gen, weights, acts)
        unguarded = generate_greedy(model, tok, prompts, max_tokens)
        row = {}
        for deployment in deployments:
            positions, scale, veto = parse_deployment(deployment)
            phase = decoding(positions, veto)
            with patched(model, patches, scale, positions=phase):
                guarded = generate_greedy(model, tok, prompts, max_tokens, veto=phase if veto is not None else None)
                row[deployment] = agreement(unguarded, guarded, expects)
        per_model[entry.id] = row
        log(f"answer_agreement: {entry.id} {json.dumps(row)}")
    means = {d: {k: statistics.fmean(v for r in per_model.values() if (v := r[d][k]) is not None)
                 for k in ("identical", "right_kept", "right_kept_identical", "length_ratio")} for d in deployments}
    return {"split": split, "generator": str(out / "generator"), "models": per_model, "mean": means}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_args(parser, "holds generator/ and activations/; the JSON is written there")
    parser.add_argument("--split", default="test")
    parser.add_argument("--deployments", default="generated@1.575~0.002,generated@1.575~0.01/8/1e-8",
                        help="comma-separated POSITIONS@SCALE[~RATIO[/WINDOW/EVIDENCE]] (scale relative to the trained "
                             "generator; then the veto rule)")
    args = parser.parse_args()
    set_cpu_threads()
    zoo_dir, out = resolve_locations(args)
    deployments = [d for d in args.deployments.split(",") if d]
    for d in deployments:
        parse_deployment(d)
    result = run(Zoo.open(zoo_dir), out, args.split, deployments)
    write_json(out / f"answer-agreement-{args.split}.json", result)
    for d, m in result["mean"].items():
        print(f"{d}: identical {m['identical']:.3f}, right kept {m['right_kept']:.3f}, right kept identically "
              f"{m['right_kept_identical']:.3f}, length ratio {m['length_ratio']:.2f}")


if __name__ == "__main__":
    main()
