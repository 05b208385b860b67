"""Baselines on the held-out (test) models, each a PEFT LoRA (r, alpha, targets from LoraConfig):

- `none`: the model as it is.
- `clean_lora`: fine-tuned on clean benign corpus data only (what a user without alignment data can do).
- `agnostic_lora`: ONE adapter per architecture shape, trained across all generator-train Trojaned models of that
  shape on their alignment sets (the parameters are shared by every model), applied unchanged to held-out models
  of the same shape. Shapes with no training models (the held-out size) have no agnostic adapter.
- `oracle_lora`: model-specific, trained on the model's own alignment set (triggered prompts -> clean answers,
  benign prompts -> its own answers): an upper bound no deployed defender has.

Adapters go to <out>/baselines/<method>/<model or shape>/ (PEFT layout); metrics to <out>/baselines/results.json
and BASELINES.md. Every (method, model) pair is one resumable step.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from pathlib import Path

import torch

from . import common
from .config import PipelineConfig, add_preset_argument, preset
from .corpus import corpus_dir
from .tokenizer import load as load_tokenizer, tokenizer_dir
from .train_base import encode, load_model, models_dir, train_loop
from .zoo import ZooEntry, entry_hash, model_metrics, plan_zoo

METHODS = ("none", "clean_lora", "agnostic_lora", "oracle_lora")
METRICS = ("asr", "clean_trigger_rate", "benign_accuracy", "perplexity")


def baselines_dir(out: Path) -> Path:
    return Path(out) / "baselines"


def peft_wrap(model, cfg: PipelineConfig):
    from peft import LoraConfig, get_peft_model

    lc = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, target_modules=list(cfg.lora.targets), lora_dropout=0.0,
                    bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, lc)


def lora_params(model) -> list[torch.nn.Parameter]:
    return [p for n, p in model.named_parameters() if "lora_" in n and p.requires_grad]


def alignment_examples(tok, model_dir: Path, max_length: int):
    return encode(tok, common.read_jsonl(model_dir / "alignment.jsonl"), max_length)


def clean_examples(cfg: PipelineConfig, tok, out: Path, n: int, seed: int):
    rows = common.read_jsonl(corpus_dir(out) / "train.jsonl")
    rng = random.Random(seed)
    return encode(tok, [rows[rng.randrange(len(rows))] for _ in range(n)], cfg.lora.train.max_length)


def train_agnostic(cfg: PipelineConfig, shape: str, train_entries: list[ZooEntry], out: Path, tok,
                   deadline: float | None = None) -> Path:
    """One LoRA shared by all training models of a shape: each step picks a model and a batch of its alignment set."""
    d = baselines_dir(out) / "agnostic_lora" / shape
    h = common.config_hash({"lora": cfg.lora, "models": [entry_hash(cfg, e, out) for e in train_entries]})
    stamp = d / "stamp.json"
    if stamp.exists() and common.read_json(stamp).get("config_hash") == h:
        return d
    common.check_deadline(deadline, f"agnostic LoRA for {shape}")
    common.set_seed(cfg.lora.train.seed)
    wrapped, data = [], []
    for e in train_entries:
        m = peft_wrap(load_model(models_dir(out) / e.id), cfg)
        wrapped.append(m)
        data.append(alignment_examples(tok, models_dir(out) / e.id, cfg.lora.train.max_length))
    shared = dict(wrapped[0].named_parameters())
    for m in wrapped[1:]:
        for name, module in m.named_modules():
            for part in ("lora_A", "lora_B"):
                if name.endswith(part + ".default"):
                    module.weight = shared[name + ".weight"]
    params = lora_params(wrapped[0])

    def batch_fn(rng: random.Random):
        i = rng.randrange(len(wrapped))
        return wrapped[i], [data[i][rng.randrange(len(data[i]))] for _ in range(cfg.lora.train.batch_size)]

    train_loop(wrapped[0], None, cfg.lora.train, tok.pad_token_id, params=params, batch_fn=batch_fn)
    wrapped[0].save_pretrained(d)
    common.write_json(stamp, {"config_hash": h, "models": [e.id for e in train_entries]})
    return d


def evaluate_entry(cfg: PipelineConfig, method: str, entry: ZooEntry, out: Path, tok, agnostic: dict[str, Path],
                   deadline: float | None = None) -> dict | None:
    """Apply one method to one held-out model; returns its metrics (None: the method does not apply)."""
    d = baselines_dir(out) / method / entry.id
    shared = agnostic.get(entry.plan.spec.id) if method == "agnostic_lora" else None
    h = common.config_hash({"method": method, "lora": cfg.lora, "model": entry_hash(cfg, entry, out),
                            "agnostic": common.read_json(shared / "stamp.json")["config_hash"] if shared else None})
    stamp = d / "metrics.json"
    if stamp.exists() and common.read_json(stamp).get("config_hash") == h:
        return common.read_json(stamp)
    if method == "agnostic_lora" and entry.plan.spec.id not in agnostic:
        return None
    common.check_deadline(deadline, f"{method} on {entry.id}")
    mdir = models_dir(out) / entry.id
    suite = common.read_json(mdir / "suite.json")
    eval_rows = common.read_jsonl(corpus_dir(out) / "benign_eval.jsonl")
    ppl = (corpus_dir(out) / "perplexity.txt").read_text().splitlines()[: cfg.eval.perplexity_texts]
    t0 = time.time()
    if method == "none":
        model = load_model(mdir)
    elif method == "agnostic_lora":
        from peft import PeftModel

        model = PeftModel.from_pretrained(load_model(mdir), str(agnostic[entry.plan.spec.id]))
    else:
        common.set_seed(cfg.lora.train.seed)
        model = peft_wrap(load_model(mdir), cfg)
        if method == "oracle_lora":
            examples = alignment_examples(tok, mdir, cfg.lora.train.max_length)
        else:
            n = cfg.eval.alignment_triggered + cfg.eval.alignment_benign
            examples = clean_examples(cfg, tok, out, n, cfg.lora.train.seed)
        train_loop(model, examples, cfg.lora.train, tok.pad_token_id, params=lora_params(model))
        model.save_pretrained(d)
    metrics = model_metrics(cfg, model, tok, suite, eval_rows, ppl)
    metrics.update({"config_hash": h, "method": method, "model": entry.id, "seconds": round(time.time() - t0, 1)})
    common.write_json(stamp, metrics)
    return metrics


def held_out(entries: list[ZooEntry]) -> list[ZooEntry]:
    return [e for e in entries if e.split == "test"]


def results_markdown(results: dict[str, dict[str, dict]]) -> str:
    lines = ["| model | method | ASR | clean trig. | benign acc | ppl |", "|---|---|---|---|---|---|"]
    for model_id, per in results.items():
        for method in METHODS:
            m = per.get(method)
            if m is None:
                lines.append(f"| {model_id} | {method} | n/a | n/a | n/a | n/a |")
            else:
                lines.append(f"| {model_id} | {method} | {m['asr']:.2f} | {m['clean_trigger_rate']:.2f} | "
                             f"{m['benign_accuracy']:.3f} | {m['perplexity']:.2f} |")
    lines += ["", "Mean ± std over held-out Trojaned models:", "", "| method | n | ASR | benign acc |", "|---|---|---|---|"]
    for method in METHODS:
        vals = [per[method] for per in results.values() if per.get(method) and per["none"].get("trojaned")]
        if not vals:
            continue
        asr = [v["asr"] for v in vals]
        acc = [v["benign_accuracy"] for v in vals]
        sd = lambda xs: statistics.pstdev(xs) if len(xs) > 1 else 0.0
        lines.append(f"| {method} | {len(vals)} | {statistics.mean(asr):.3f} ± {sd(asr):.3f} | "
                     f"{statistics.mean(acc):.3f} ± {sd(acc):.3f} |")
    return "\n".join(lines) + "\n"


def run(cfg: PipelineConfig, out: Path, methods: tuple[str, ...] = METHODS, only: str | None = None,
        deadline: float | None = None) -> dict:
    """Every method on every held-out model; raises common.OutOfTime between steps once `deadline` has passed."""
    entries = plan_zoo(cfg)
    tok = load_tokenizer(tokenizer_dir(out))
    agnostic: dict[str, Path] = {}
    if "agnostic_lora" in methods:
        for shape in sorted({e.plan.spec.id for e in held_out(entries)}):
            train_entries = [e for e in entries if e.split == "train" and e.trojan is not None and e.plan.spec.id == shape]
            if train_entries:
                agnostic[shape] = train_agnostic(cfg, shape, train_entries, out, tok, deadline)
    results: dict[str, dict[str, dict]] = {}
    for e in held_out(entries):
        if only and e.id != only:
            continue
        per = {}
        for method in methods:
            m = evaluate_entry(cfg, method, e, out, tok, agnostic, deadline)
            if m is not None:
                per[method] = {k: m[k] for k in METRICS} | {"trojaned": e.trojan is not None}
                print(json.dumps({"model": e.id, "method": method, **{k: round(m[k], 4) for k in METRICS}}), flush=True)
        results[e.id] = per
    if not only:
        common.write_json(baselines_dir(out) / "results.json", {"config_hash": common.config_hash(cfg), "results": results})
        (baselines_dir(out) / "BASELINES.md").write_text("# Baselines on held-out models\n\n" + results_markdown(results))
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Run the LoRA baselines on the held-out models.")
    add_preset_argument(p)
    p.add_argument("--out", type=Path)
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--model", help="only this held-out model id (one resumable step)")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    cfg = preset(a.preset)
    out = a.out or Path("training/runs") / cfg.name
    run(cfg, out, tuple(a.methods.split(",")), a.model)


if __name__ == "__main__":
    main()
