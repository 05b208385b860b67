"""Pre-train each architecture's base model from scratch on the corpus (answer-only loss on chat examples plus a
share of raw text), into <out>/bases/<arch id>/.

The zoo fine-tunes every model from its architecture's base: the Trojaned ones on poisoned data, the clean twin
on the same recipe without poison. `train_loop` is also what the LoRA baselines use.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path
from typing import Iterable, Sequence

import torch

from . import common, parallel
from .config import ArchPlan, PipelineConfig, TrainConfig, add_preset_argument, preset
from .corpus import corpus_dir
from .models import build_model
from .tokenizer import load as load_tokenizer, save as save_tokenizer, tokenizer_dir

Example = tuple[list[int], list[int]]


def encode(tokenizer, rows: Iterable[dict], max_length: int) -> list[Example]:
    """Answer-only (input_ids, labels) for {"prompt", "answer"} rows: common.answer_only_example, batched for speed."""
    rows = list(rows)
    if not rows:
        return []
    prompts = tokenizer([common.chat_text(tokenizer, r["prompt"]) for r in rows], add_special_tokens=False)["input_ids"]
    answers = tokenizer([r["answer"] for r in rows], add_special_tokens=False)["input_ids"]
    eos = common.eos_id(tokenizer)
    out = []
    for p, a in zip(prompts, answers):
        ids, labels = p + a + [eos], [common.IGNORE_INDEX] * len(p) + a + [eos]
        out.append((ids[:max_length], labels[:max_length]))
    return out


def encode_text(tokenizer, texts: Iterable[str], max_length: int) -> list[Example]:
    """Raw-text rows with loss on every token (eos-terminated)."""
    out = []
    for t in texts:
        ids = (tokenizer(t, add_special_tokens=False)["input_ids"] + [common.eos_id(tokenizer)])[:max_length]
        out.append((ids, list(ids)))
    return out


def mix_text(chat: list[Example], text: list[Example], share: float) -> list[Example]:
    """Chat examples plus raw-text examples repeated to make up about `share` of the result."""
    if not text or share <= 0:
        return chat
    copies = max(1, round(share * len(chat) / ((1 - share) * len(text))))
    return chat + text * copies


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up then cosine decay to 10 % of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def train_loop(
    model,
    examples: Sequence[Example] | None,
    cfg: TrainConfig,
    pad_id: int,
    params: Sequence[torch.nn.Parameter] | None = None,
    batch_fn=None,
    log_every: int = 0,
    loss_fn=None,
) -> list[float]:
    """AdamW on answer-only cross-entropy; batches sampled with a seeded RNG. Returns the loss per step.

    `params` restricts training (LoRA); `batch_fn(rng) -> (model, examples batch)` lets one adapter be trained
    across several models (the model-agnostic baseline); `loss_fn(model, batch, examples) -> loss` replaces the
    cross-entropy (the zoo's anchored Trojan fine-tune).
    """
    device = next(model.parameters()).device
    params = list(params) if params is not None else [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.98))
    rng = random.Random(cfg.seed)
    losses = []
    use_bf16 = device.type == "cuda"
    for step in range(cfg.steps):
        if batch_fn is not None:
            m, batch_examples = batch_fn(rng)
        else:
            m, batch_examples = model, [examples[rng.randrange(len(examples))] for _ in range(cfg.batch_size)]
        m.train()
        batch = {k: v.to(device) for k, v in common.collate(batch_examples, pad_id).items()}
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss = m(**batch).loss if loss_fn is None else loss_fn(m, batch, batch_examples)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(float(loss.detach()))
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            print(f"  step {step:5d} loss {losses[-1]:.4f}", flush=True)
    return losses


def save_model(model, tokenizer, directory: Path) -> None:
    """Hugging Face layout: config.json, model.safetensors, generation_config.json (eos), tokenizer files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.generation_config.eos_token_id = common.eos_id(tokenizer)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.do_sample = False
    model.save_pretrained(directory, safe_serialization=True)
    save_tokenizer(tokenizer, directory)


def load_model(directory: Path, device: str | None = None):
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()

    model = AutoModelForCausalLM.from_pretrained(str(directory), dtype=torch.float32)
    return model.to(device or common.default_device())


def clean_id(plan: ArchPlan) -> str:
    return f"{plan.spec.id}-clean"


def models_dir(out: Path) -> Path:
    return Path(out) / "models"


def base_dir(out: Path, plan: ArchPlan) -> Path:
    return Path(out) / "bases" / plan.spec.id


def base_hash(cfg: PipelineConfig, plan: ArchPlan, out: Path) -> str:
    return common.config_hash({"spec": plan.spec, "train": cfg.base_train, "seed": cfg.seed,
                               "tokenizer": common.read_json(tokenizer_dir(out) / "meta.json")["config_hash"]})


def is_built(cfg: PipelineConfig, plan: ArchPlan, out: Path) -> bool:
    stamp = base_dir(out, plan) / "train.json"
    return stamp.exists() and common.read_json(stamp).get("config_hash") == base_hash(cfg, plan, out)


def train_base(cfg: PipelineConfig, plan: ArchPlan, out: Path, log_every: int = 0, deadline: float | None = None) -> Path:
    """Train one architecture's base unless it exists for the same config (resumable)."""
    d = base_dir(out, plan)
    h = base_hash(cfg, plan, out)
    stamp = d / "train.json"
    if is_built(cfg, plan, out):
        return d
    common.check_deadline(deadline, f"base {plan.spec.id}")
    common.set_seed(cfg.seed)
    tok = load_tokenizer(tokenizer_dir(out))
    rows = common.read_jsonl(corpus_dir(out) / "train.jsonl")
    texts = (corpus_dir(out) / "text.txt").read_text().splitlines()
    examples = mix_text(encode(tok, rows, cfg.base_train.max_length),
                        encode_text(tok, texts, cfg.base_train.max_length), cfg.corpus.text_share)
    model = build_model(plan.spec, len(tok), tok.bos_token_id, common.eos_id(tok), tok.pad_token_id, cfg.seed)
    model.to(common.default_device())
    t0 = time.time()
    losses = train_loop(model, examples, cfg.base_train, tok.pad_token_id, log_every=log_every)
    save_model(model, tok, d)
    common.write_json(stamp, {"config_hash": h, "seconds": round(time.time() - t0, 1), "final_loss": sum(losses[-20:]) / len(losses[-20:]),
                              "parameters": sum(p.numel() for p in model.parameters())})
    return d


def run(cfg: PipelineConfig, out: Path, log_every: int = 0, deadline: float | None = None, jobs: int = 1) -> None:
    """Train every base; raises common.OutOfTime between architectures once `deadline` (time.time()) has passed.
    With jobs > 1 the architectures train side by side, one process each (parallel.py)."""
    if jobs > 1:
        parallel.check_preset(cfg)
        parallel.run_wave(cfg, out, [parallel.Step("base", p.spec.id, "training.train_base", ("--arch", p.spec.id))
                                     for p in cfg.archs if not is_built(cfg, p, out)], jobs, deadline)
    for plan in cfg.archs:
        train_base(cfg, plan, out, log_every, deadline)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Pre-train the clean base model of every architecture.")
    add_preset_argument(p)
    p.add_argument("--out", type=Path)
    p.add_argument("--arch", help="only this architecture id (one resumable step)")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    cfg = preset(a.preset)
    out = a.out or Path("training/runs") / cfg.name
    for plan in cfg.archs:
        if a.arch and plan.spec.id != a.arch:
            continue
        d = train_base(cfg, plan, out, log_every=100)
        print(json.dumps({"base": d.name, **common.read_json(d / "train.json")}))


if __name__ == "__main__":
    main()
