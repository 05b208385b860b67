"""Export the trained generator for the Swift runtime, with its probes, parity fixtures and a demo model.

Writes (paths relative to --repo, the repository root):
- `adapters/telelora/generator.safetensors` — the generator's tensors, named as in `spec.json["architecture"]["tensors"]`;
- `adapters/telelora/spec.json` — {"format": "teleguard-telelora", "version": 1, "architecture", "rank", "targets",
  "probe_set", "training_data_hash", "results"}; "architecture" holds every size, the layer-type order, the
  normalisation and the forward pass op by op (training/generator.py's docstring, the reference);
- `adapters/telelora/probes.json` — the benign probe prompts the runtime feeds an unseen model;
- `adapters/telelora/RESULTS.md`, `training/RESULTS.md` and `training/results.json` — training/evaluate.py's report on
  the held-out models (the run the shipped generator comes from), when it exists;
- `Tests/Fixtures/telelora/parity.json` — X, W (small, a few widths and layer types) → W column stats, U, V from the
  exported generator, for the Swift port's parity test;
- `models/demo/` — one held-out Trojaned model (config, tokenizer, generation config, trojan.json, suite.json), its
  weights zstd-compressed as `model.safetensors.zst` when that is smaller.

    python -m training.export [--tiny] [--out DIR] [--zoo DIR] [--repo .] [--demo MODEL_ID]
                              [--scale S] [--layer-types a,b,c] [--patch-positions all|generated]
                              [--veto-ratio R [--veto-window W --veto-evidence E] | --no-veto]

`--scale` and `--layer-types` ship a deployment of the trained generator, chosen on the validation models: patches for
those layer types only, at that scale. The scale is folded into the exported tensors (V's head and the norm bound both
multiplied by S, which gives exactly S times the bounded patch), so the Swift runtime needs nothing new; spec.json
"deployment" records it with the trained generator's hash, and the results exported are those of `training/evaluate.py
--scale S --layer-types ...`. `--patch-positions generated` (the cpu preset's deployment) is recorded as spec.json
"patch_positions": the runtime then applies the teleported adapters to generated tokens only. The veto rule (the cpu
preset's deployment, training/evaluate.py DEPLOYED_VETO) is recorded as spec.json "veto_ratio", "veto_window" and
"veto_evidence": the runtime then decodes by it (patching.TokenVeto): the original model writes the answer, which ends
before a token the patched model gives under R times the original's probability when the product of min(1, q/p) over
it and the W − 1 tokens after it falls below E.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import torch

from .common import config_hash, write_json
from .evaluate import PatchOptions, add_veto_args, deployment, veto_from_args
from .generator import EPS, W_STAT_NAMES, GeneratorConfig, TeleLoRAGenerator, weight_column_stats
from .generator import __doc__ as GENERATOR_DOC
from .patching import PATCH_POSITIONS, target_pattern
from .train_generator import load_generator, save_generator
from .zoo_io import Zoo, add_location_args, resolve_locations

FORMAT = "teleguard-telelora"
VERSION = 1
PARITY_CASES = ((17, "q_proj", 9, 5), (48, "down_proj", 8, 12), (64, "v_proj", 6, 16), (130, "gate_proj", 5, 9))
DEMO_FILES = ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
              "chat_template.jinja", "trojan.json", "suite.json")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def architecture(config: GeneratorConfig, generator: TeleLoRAGenerator) -> dict:
    if config.weight_set_layers > 0:
        raise ValueError("export: weight_set_layers > 0 is a training-side ablation the Swift generator does not run")
    forward = [line.strip() for line in GENERATOR_DOC.split("Exact forward pass", 1)[1].splitlines()[1:] if line.strip()]
    return {
        "rank": config.rank,
        "channels": config.channels,
        "exchangeable_layers": config.exchangeable_layers,
        "hidden": config.hidden,
        "type_embedding": config.type_embedding,
        "max_norm": config.max_norm,
        "layer_types": list(config.layer_types),
        "w_column_stats": list(W_STAT_NAMES),
        "activation": "silu",
        "normalization": {"activations": "X / sqrt(mean(X^2) + eps), one scalar per layer",
                          "weight": "W / sqrt(mean(W^2) + eps), one scalar per layer", "eps": EPS},
        "pooling_over_n": ["mean", "max"],
        "u_scale": config.u_scale,
        "bound": "V *= max_norm / max(max_norm, ||U||_F * ||V||_F)",
        "matmul_convention": "row vectors: Z (..., c_in) @ T (c_in, c_out)",
        "tensors": {k: list(v.shape) for k, v in generator.state_dict().items()},
        "tensor_roles": {"exchangeable.{l}.t1|t2|t3|t4": "T1..T4 of exchangeable layer l (c_in×c)",
                         "exchangeable.{l}.b": "b of exchangeable layer l", "type_embedding": "E, rows in layer_types order",
                         "a1": "A1", "a1_bias": "a1", "a2": "A2", "a3": "A3", "a2_bias": "a2", "u_head": "Au",
                         "v_head": "Av"},
        "forward": forward,
    }


def write_generator(generator: TeleLoRAGenerator, target_dir: Path, fields: dict) -> dict:
    """generator.safetensors + spec.json (format, version, architecture, rank, then `fields`); returns the spec."""
    target_dir.mkdir(parents=True, exist_ok=True)
    save_generator(generator, target_dir / "generator.safetensors")
    spec = {"format": FORMAT, "version": VERSION, "architecture": architecture(generator.config, generator),
            "rank": generator.config.rank, **fields,
            "generator_sha256": sha256(target_dir / "generator.safetensors")}
    write_json(target_dir / "spec.json", spec)
    return spec


class ExportError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def load_exported(target_dir: Path) -> TeleLoRAGenerator:
    """Rebuild the generator from spec.json + generator.safetensors alone (what the Swift port does)."""
    spec = json.loads((target_dir / "spec.json").read_text())
    if spec.get("format") != FORMAT or spec.get("version") != VERSION:
        raise ExportError(f"{target_dir}/spec.json: format/version: expected {FORMAT!r} {VERSION}, "
                          f"found {spec.get('format')!r} {spec.get('version')}")
    a = spec["architecture"]
    config = GeneratorConfig(rank=a["rank"], channels=a["channels"], exchangeable_layers=a["exchangeable_layers"],
                             hidden=a["hidden"], type_embedding=a["type_embedding"], max_norm=a["max_norm"],
                             layer_types=tuple(a["layer_types"]), u_scale=a["u_scale"])
    generator = load_generator(target_dir / "generator.safetensors", config)
    for name, tensor in generator.state_dict().items():
        if list(tensor.shape) != a["tensors"].get(name):
            raise ExportError(f"{target_dir}/generator.safetensors: {name}: expected shape {a['tensors'].get(name)}, "
                              f"found {list(tensor.shape)}")
    return generator


def compact(t: torch.Tensor) -> list[float]:
    """Row-major values with 9 significant digits: enough to round-trip float32, about half the JSON of repr()."""
    return [float(f"{v:.9g}") for v in t.detach().float().flatten().tolist()]


def float32_rounded(t: torch.Tensor) -> torch.Tensor:
    return torch.tensor(compact(t), dtype=torch.float32).reshape(t.shape)


def parity_cases(generator: TeleLoRAGenerator) -> list[dict]:
    cases = []
    gen = torch.Generator().manual_seed(2024)
    for h, layer_type, n, out_features in PARITY_CASES:
        # Inputs are rounded to what the fixture stores first, so the outputs are exactly those of the stored inputs.
        x = float32_rounded(torch.randn(n, h, generator=gen) * (0.5 + torch.rand(h, generator=gen)))
        w = float32_rounded(torch.randn(out_features, h, generator=gen) * 0.1)
        with torch.no_grad():
            u, v = generator(x, w, layer_type)
        cases.append({
            "layer_type": layer_type, "n": n, "h": h, "out_features": out_features,
            "x": compact(x), "w": compact(w), "w_column_stats": compact(weight_column_stats(w)),
            "u": compact(u), "v": compact(v),
        })
    return cases


def compress_demo(src: Path, dst: Path) -> str:
    """Copy the weights, zstd-compressed when that is smaller; returns the file name written."""
    weights = src / "model.safetensors"
    packed = dst / "model.safetensors.zst"
    subprocess.run(["zstd", "-q", "-19", "-f", str(weights), "-o", str(packed)], check=True)
    if packed.stat().st_size < weights.stat().st_size:
        return packed.name
    packed.unlink()
    shutil.copy2(weights, dst / weights.name)
    return weights.name


def deployed(generator: TeleLoRAGenerator, scale: float) -> TeleLoRAGenerator:
    """The generator whose patches are `scale` times the given one's: V's head and the bound scaled together
    (V' = s·V before the bound, s' = s·max_norm / max(s·max_norm, ‖U‖‖s·V‖) = the same factor as before)."""
    if scale == 1.0:
        return generator
    from dataclasses import replace

    copy = TeleLoRAGenerator(replace(generator.config, max_norm=generator.config.max_norm * scale))
    copy.load_state_dict(generator.state_dict())
    with torch.no_grad():
        copy.v_head.mul_(scale)
    return copy.eval()


def export(zoo: Zoo, out: Path, repo: Path, demo_id: str | None = None, scale: float = 1.0,
           layer_types: tuple[str, ...] | None = None, positions: str | None = None,
           veto: tuple[float, int, float] | None = None) -> dict:
    """`positions`: where the runtime applies the patches ("all" or "generated"; None: as the generator was trained);
    `veto`: the veto rule's (ratio, window, evidence) (generated positions only), None to decode the patched model."""
    record = json.loads((out / "generator" / "train.json").read_text())
    trained_positions = record["config"].get("patch_positions", "all")
    gen_config = GeneratorConfig.from_json(record["config"]["generator"])
    trained_path = out / "generator" / "generator.safetensors"
    if veto is not None and (positions or trained_positions) != "generated":
        raise ExportError(f"export: a veto rule needs patches on generated positions, found "
                          f"{positions or trained_positions!r}")
    generator = deployed(load_generator(trained_path, gen_config), scale)
    target_dir = repo / "adapters" / "telelora"
    target_dir.mkdir(parents=True, exist_ok=True)
    probes = zoo.probes()
    write_json(target_dir / "probes.json", probes)
    eval_dir = out / PatchOptions(scale=scale, layer_types=layer_types, positions=positions, veto=veto).folder("test")
    results_path = eval_dir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else None
    if (scale != 1.0 or layer_types is not None or positions is not None or veto is not None) and results is None:
        raise ExportError(f"export: no evaluation of this deployment in {eval_dir} (run training.evaluate with the same "
                          "--scale/--layer-types/--patch-positions/--veto-* first)")
    targets = tuple(record["config"]["targets"])
    if layer_types is not None:
        unknown = [t for t in layer_types if t not in targets]
        if unknown:
            raise ExportError(f"export: --layer-types {unknown} are not among the generator's targets {list(targets)}")
        targets = tuple(t for t in targets if t in layer_types)
    spec = write_generator(generator, target_dir, {
        "targets": [target_pattern(targets)],
        "target_layer_types": list(targets),
        "activation_rows": record["config"]["rows"],
        "probe_set": {"file": "probes.json", "sha256": sha256(target_dir / "probes.json"), "count": len(probes),
                      "chat_template": "each probe is one user turn with the generation prompt; all positions kept"},
        "patch": "y = W (I + V^T U) x + b; as PEFT LoRA: lora_A = U, lora_B = W V^T, lora_alpha = r",
        # "generated": the runtime applies the patches to generated tokens only (the prompt is read unpatched).
        "patch_positions": positions or trained_positions,
        # The runtime decodes by this veto rule (absent: it decodes the patched model).
        **({"veto_ratio": veto[0], "veto_window": veto[1], "veto_evidence": veto[2]} if veto is not None else {}),
        "training_data_hash": config_hash({"zoo": zoo.config_hash, "train_models": record["train_models"],
                                           "val_models": record["val_models"]}),
        "training": {"config": record["config"], "parameters": record["parameters"], "best_step": record["best_step"],
                     "best_val_loss": record["best_val_loss"], "train_models": record["train_models"],
                     "val_models": record["val_models"]},
        "results": None if results is None else {"split": results["split"], "summary": results["summary"],
                                                 "findings": results["findings"]},
        "deployment": {"scale": scale, "layer_types": list(targets), "patch_positions": positions or trained_positions,
                       "veto_ratio": None if veto is None else veto[0],
                       "veto_window": None if veto is None else veto[1],
                       "veto_evidence": None if veto is None else veto[2],
                       "trained_patch_positions": trained_positions, "trained_generator_sha256": sha256(trained_path),
                       "how": "v_head and max_norm multiplied by scale (exactly scale × the trained generator's "
                              "bounded patch); only the listed layer types are targeted",
                       "chosen_on": "scale and positions: validation models (training/evaluate.py --split val); veto "
                                    "rule: generator-train and validation models (training/README.md)"},
    })
    if (eval_dir / "RESULTS.md").exists():
        # The evaluation ships beside the generator it describes (spec.json "results" holds the same numbers).
        shutil.copy2(eval_dir / "RESULTS.md", target_dir / "RESULTS.md")
        (repo / "training").mkdir(parents=True, exist_ok=True)
        shutil.copy2(eval_dir / "RESULTS.md", repo / "training" / "RESULTS.md")
        shutil.copy2(results_path, repo / "training" / "results.json")
    fixture_dir = repo / "Tests" / "Fixtures" / "telelora"
    write_json(fixture_dir / "parity.json", {
        "made_by": "python -m training.export (training/export.py parity_cases)",
        "generator": "adapters/telelora/generator.safetensors",
        "generator_sha256": spec["generator_sha256"],
        "layout": "x: n×h row-major, w: out_features×h row-major, w_column_stats: h×4, u and v: rank×h row-major",
        "rank": gen_config.rank,
        "cases": parity_cases(generator),
    })
    demo = export_demo(zoo, repo, demo_id, results)
    return {"spec": str(target_dir / "spec.json"), "demo": demo}


def export_demo(zoo: Zoo, repo: Path, demo_id: str | None, results: dict | None = None) -> str | None:
    """Copies `demo_id`, else the held-out Trojaned model on which the exported generator has the highest Fidelity
    (ties: the Trojan that fires most often without mitigation), so that the demo shows what the guard can do; the
    held-out means in RESULTS.md say what to expect elsewhere. demo.json records the rule."""
    candidates = [m for m in zoo.split("test") if not m.clean]
    chosen_by = "first held-out Trojaned model (no evaluation results)"
    if results is not None:
        def rank(m) -> tuple[float, float]:
            methods = results["models"].get(m.id, {}).get("methods", {})
            return (methods.get("telelora", {}).get("fidelity") or 0.0, methods.get("none", {}).get("asr", 0.0))
        candidates.sort(key=rank, reverse=True)
        chosen_by = "highest TeleLoRA Fidelity among the held-out Trojaned models (training/evaluate.py)"
    if demo_id is not None:
        chosen_by = "named with --demo"
    if demo_id is not None:
        candidates = [m for m in zoo.models if m.id == demo_id]
    if not candidates:
        return None
    entry = candidates[0]
    src = zoo.model_dir(entry)
    dst = repo / "models" / "demo"
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    copied = [name for name in DEMO_FILES if (src / name).exists() and shutil.copy2(src / name, dst / name)]
    copied.append(compress_demo(src, dst))
    evaluation = None
    if results is not None and entry.id in results["models"]:
        # What training/evaluate.py measured on this model: the Swift verify test compares against these numbers.
        methods = results["models"][entry.id]["methods"]
        evaluation = {m: {k: methods[m].get(k) for k in ("asr", "clean_trigger_rate", "benign_accuracy",
                                                          "suite_benign_accuracy")}
                      for m in ("none", "telelora") if m in methods and "missing" not in methods[m]}
    write_json(dst / "demo.json", {"source_model": entry.id, "split": entry.split, "chosen_by": chosen_by, "files": copied,
                                   "zoo_config_hash": zoo.config_hash, "evaluation": evaluation})
    return entry.id


def run(out: Path, repo: Path = Path("."), zoo_dir: Path | None = None) -> dict:
    """Pipeline entry point (`training.pipeline` stage "export")."""
    return export(Zoo.open(zoo_dir or out), out, repo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_args(parser, "holds generator/ and eval/")
    parser.add_argument("--repo", type=Path, default=Path("."))
    parser.add_argument("--demo", help="model id for models/demo (default: the held-out Trojaned model with the "
                        "highest TeleLoRA Fidelity)")
    parser.add_argument("--scale", type=float, help="deploy the patches at this scale (folded into V; default: the "
                                                     "preset's deployment, training/evaluate.py DEPLOYED_SCALE)")
    parser.add_argument("--layer-types", help="deploy patches for these layer types only (comma-separated)")
    parser.add_argument("--patch-positions", choices=PATCH_POSITIONS,
                        help="where the runtime applies the patches (default: the preset's deployment, else as trained)")
    add_veto_args(parser, "the runtime decodes by")
    args = parser.parse_args()
    zoo_dir, out = resolve_locations(args)
    layer_types = tuple(t for t in args.layer_types.split(",") if t) if args.layer_types else None
    scale = deployment(args.preset).scale if args.scale is None else args.scale
    positions = deployment(args.preset).positions if args.patch_positions is None else args.patch_positions
    veto = veto_from_args(parser, args)
    print(json.dumps(export(Zoo.open(zoo_dir), out, args.repo, args.demo, scale, layer_types, positions, veto),
                     indent=2))


if __name__ == "__main__":
    main()
