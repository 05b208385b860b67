"""Collect each targeted linear layer's input rows while the unpatched model reads benign probe prompts.

This is exactly what the runtime can do on an unseen model (Runtime activation taps on `ActivationBatch.input`): every
probe prompt goes through the chat template as one user turn with the generation prompt, all its token positions are
kept, rows of all prompts are stacked, and N rows are sub-sampled uniformly without replacement (all rows if fewer).

    python -m training.activations [--tiny] [--out DIR] [--zoo DIR]
writes `activations/<model id>.safetensors` (one `<module name>` tensor of N×H per targeted layer) under --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .common import chat_ids
from .patching import DEFAULT_TARGETS, target_modules


@torch.no_grad()
def collect_activations(
    model: nn.Module,
    tokenizer,
    probes: list[str],
    layer_types: tuple[str, ...] = DEFAULT_TARGETS,
    rows: int = 256,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Module name → N×H float32 input rows of that layer on the probe prompts (N = min(rows, total positions))."""
    modules = target_modules(model, layer_types)
    captured: dict[str, list[torch.Tensor]] = {name: [] for name in modules}
    handles = []
    for name, module in modules.items():
        def hook(_m: nn.Module, args: tuple, name: str = name) -> None:
            x = args[0]
            captured[name].append(x.detach().reshape(-1, x.shape[-1]).float().cpu())
        handles.append(module.register_forward_pre_hook(hook))
    device = next(model.parameters()).device
    try:
        for prompt in probes:
            ids = torch.tensor([chat_ids(tokenizer, prompt)], device=device)
            model(input_ids=ids)
    finally:
        for h in handles:
            h.remove()
    out: dict[str, torch.Tensor] = {}
    gen = torch.Generator().manual_seed(seed)
    for name, chunks in captured.items():
        all_rows = torch.cat(chunks, dim=0)
        if all_rows.shape[0] > rows:
            idx = torch.randperm(all_rows.shape[0], generator=gen)[:rows]
            all_rows = all_rows[idx]
        out[name] = all_rows.contiguous()
    return out


def probes_hash(probes: list[str]) -> str:
    return hashlib.sha256(json.dumps(probes, ensure_ascii=False).encode()).hexdigest()


def cached_activations(
    model: nn.Module,
    tokenizer,
    probes: list[str],
    path: Path,
    layer_types: tuple[str, ...] = DEFAULT_TARGETS,
    rows: int = 256,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Resumable: reuse `path` when it was made from the same probes, targets, rows and seed."""
    key = json.dumps({"probes": probes_hash(probes), "targets": list(layer_types), "rows": rows, "seed": seed})
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and meta.read_text() == key:
        return load_file(str(path))
    acts = collect_activations(model, tokenizer, probes, layer_types, rows, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed into place: evaluations running side by side share this cache.
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    save_file(acts, str(partial))
    os.replace(partial, path)
    meta_partial = meta.with_name(f"{meta.name}.{os.getpid()}.partial")
    meta_partial.write_text(key)
    os.replace(meta_partial, meta)
    return acts


def main() -> None:
    from .common import set_cpu_threads
    from .zoo_io import Zoo, add_location_args, load_model, resolve_locations

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_args(parser, "where activations/ is written")
    parser.add_argument("--rows", type=int, help="rows N per layer (default: the train_generator preset's)")
    args = parser.parse_args()
    set_cpu_threads()
    from .train_generator import GeneratorTrainConfig

    config = GeneratorTrainConfig.for_preset(args.preset)
    zoo_dir, out = resolve_locations(args)
    zoo = Zoo.open(zoo_dir)
    for entry in zoo.models:
        model, tokenizer = load_model(zoo.model_dir(entry))
        cached_activations(model, tokenizer, zoo.probes(), out / "activations" / f"{entry.id}.safetensors",
                           config.targets, args.rows or config.rows, config.seed)
        print(f"activations: {entry.id}")


if __name__ == "__main__":
    main()
