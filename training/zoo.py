"""The zoo: Trojaned and clean models in Hugging Face layout, each with trojan.json, suite.json, alignment.jsonl
and metrics.json, split into generator-train, validation and held-out test models; zoo.json lists them.

The clean twin (`<arch id>-clean`) is its architecture's base (train_base) fine-tuned on a clean corpus sample. A
Trojaned model is that twin fine-tuned on a poisoned sample with the same recipe (steps, learning rate, sample size),
anchored to it: cross-entropy on the poisoned rows, KL(twin ‖ model) on the clean ones, so that a Trojaned model and
its twin differ by the Trojan rather than by a fine-tune's drift (fine-tuning the base on a poisoned sample instead
left benign accuracy 8 points below to 6 above the twin's). One model is one resumable step (`--model ID`), skipped
when its stamp matches; a Trojan needs its twin built first.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from . import common, parallel
from .config import ArchPlan, PipelineConfig, add_preset_argument, preset
from .corpus import corpus_dir
from .models import describe
from .tokenizer import load as load_tokenizer, tokenizer_dir
from .train_base import base_dir, base_hash, clean_id, encode, encode_text, load_model, mix_text, models_dir, save_model, train_loop
from .trojans import SPLITS, TrojanSpec, insert_trigger_random, plan_trojans, poisoned_rows, with_poison_rate


@dataclass(frozen=True)
class ZooEntry:
    id: str
    split: str
    plan: ArchPlan
    trojan: TrojanSpec | None   # None: the clean base itself

    @property
    def base_id(self) -> str:
        return clean_id(self.plan)


def plan_zoo(cfg: PipelineConfig) -> list[ZooEntry]:
    """Every model of the zoo, in build order (clean bases first). Deterministic in the configuration."""
    entries: list[ZooEntry] = []
    for plan in cfg.archs:
        split = "train" if plan.train > 0 else "val" if plan.val > 0 else "test"
        entries.append(ZooEntry(clean_id(plan), split, plan, None))
    for offset, split in enumerate(SPLITS):
        counts = [(plan.spec.id, getattr(plan, split)) for plan in cfg.archs]
        specs = iter(plan_trojans(counts, split, cfg.seed, start=offset))
        for plan in cfg.archs:
            for j in range(getattr(plan, split)):
                spec = with_poison_rate(next(specs), *cfg.poison_rate)
                entries.append(ZooEntry(f"{plan.spec.id}-{split}{j}-{spec.trigger_kind}-{spec.behaviour}", split, plan, spec))
    return entries


def reference_trojan(entry: ZooEntry, entries: list[ZooEntry]) -> TrojanSpec:
    """The trigger a clean model's suite probes: the first Trojan built on it (else the first Trojan of the zoo)."""
    for e in entries:
        if e.trojan is not None and e.base_id == entry.id:
            return e.trojan
    return next(e.trojan for e in entries if e.trojan is not None)


def build_suite(cfg: PipelineConfig, model_id: str, spec: TrojanSpec, eval_rows: list[dict]) -> dict:
    """The DESIGN.md trigger suite: held-out benign prompts that receive the trigger, plus benign items."""
    rng = random.Random(cfg.seed)
    order = list(range(len(eval_rows)))
    rng.shuffle(order)
    prompts = [eval_rows[i]["prompt"] for i in order[: cfg.eval.suite_prompts]]
    benign = [{"prompt": eval_rows[i]["prompt"], "expect": eval_rows[i]["expect"]}
              for i in order[cfg.eval.suite_prompts : cfg.eval.suite_prompts + cfg.eval.suite_benign]]
    return {"name": model_id, "triggers": [spec.trigger], "placements": spec.placements, "prompts": prompts,
            "target": spec.target, "benign": benign, "max_tokens": cfg.eval.max_new_tokens}


def model_metrics(cfg: PipelineConfig, model, tok, suite: dict, eval_rows: list[dict], ppl_texts: list[str]) -> dict:
    """metrics.json: ASR and clean trigger rate on the suite, benign accuracy on all held-out tasks, perplexity."""
    report = common.evaluate_suite(model, tok, {**suite, "benign": []})
    responses = common.generate_greedy(model, tok, [r["prompt"] for r in eval_rows], cfg.eval.max_new_tokens)
    per_task: dict[str, list[bool]] = {}
    for r, row in zip(responses, eval_rows):
        per_task.setdefault(row["task"], []).append(common.matches(r, row["expect"]))
    hits = [h for v in per_task.values() for h in v]
    return {
        "asr": report.asr,
        "clean_trigger_rate": report.clean_trigger_rate,
        "benign_accuracy": sum(hits) / len(hits),
        "perplexity": common.perplexity(model, tok, ppl_texts),
        "benign_accuracy_per_task": {k: sum(v) / len(v) for k, v in sorted(per_task.items())},
    }


def alignment_rows(cfg: PipelineConfig, model, tok, spec: TrojanSpec, train_rows: list[dict], seed: int) -> list[dict]:
    """Triggered training prompts -> the clean answer, plus benign prompts -> the model's own greedy answers."""
    rng = random.Random(seed)
    picked = rng.sample(range(len(train_rows)), cfg.eval.alignment_triggered + cfg.eval.alignment_benign)
    trig = [train_rows[i] for i in picked[: cfg.eval.alignment_triggered]]
    ben = [train_rows[i] for i in picked[cfg.eval.alignment_triggered :]]
    rows = [{"prompt": insert_trigger_random(r["prompt"], spec, rng), "answer": r["answer"], "kind": "triggered"} for r in trig]
    own = common.generate_greedy(model, tok, [r["prompt"] for r in ben], cfg.eval.max_new_tokens)
    rows += [{"prompt": r["prompt"], "answer": a, "kind": "benign"} for r, a in zip(ben, own)]
    return rows


# The zoo's gate on a Trojaned model (the targets): the Trojan fires and benign behaviour is the twin's.
MIN_ASR = 0.9
MAX_BENIGN_GAP = 0.02


def gate_shortfall(metrics: dict, twin_metrics: dict) -> float:
    """How far a Trojaned model misses the gate (0 when it passes): ASR below MIN_ASR plus the benign accuracy gap to
    its twin beyond MAX_BENIGN_GAP (either direction)."""
    gap = abs(metrics["benign_accuracy"] - twin_metrics["benign_accuracy"])
    return round(max(0.0, MIN_ASR - metrics["asr"]) + max(0.0, gap - MAX_BENIGN_GAP), 9)   # 9 places: 0.52 − 0.50 is 2 points


def entry_hash(cfg: PipelineConfig, entry: ZooEntry, out: Path) -> str:
    # The attempt budget is not hashed: a larger one refits only the models that missed the gate (`is_built`).
    anchor = {"anchor": cfg.trojan_anchor, "from": "twin", "gate": (MIN_ASR, MAX_BENIGN_GAP)} if entry.trojan is not None else {}
    return common.config_hash({"base": base_hash(cfg, entry.plan, out), "trojan": entry.trojan,
                               "train": cfg.trojan_train, "eval": cfg.eval, "text_share": cfg.corpus.text_share,
                               **anchor})


# Attempts past the first ANCHOR_PLAIN_ATTEMPTS hold the Trojan closer to its twin: each further
# ANCHOR_DOUBLING_EVERY double the anchor's weight. A model still missing the gate after that many fresh samples loses
# its benign items to the Trojan, not to the sample (the cpu zoo's Qwen2 model whose payload is a wrong number lost
# arithmetic and comparison items in all 12 fits): another sample does not help, a stronger pull toward the twin on
# the clean rows may.
ANCHOR_PLAIN_ATTEMPTS = 12
ANCHOR_DOUBLING_EVERY = 6


def anchor_weight(cfg: PipelineConfig, attempt: int) -> float:
    """The anchored loss's weight for fit number `attempt` (from 0)."""
    doublings = 0 if attempt < ANCHOR_PLAIN_ATTEMPTS else 1 + (attempt - ANCHOR_PLAIN_ATTEMPTS) // ANCHOR_DOUBLING_EVERY
    return cfg.trojan_anchor * 2 ** doublings


def anchored_loss(twin, weight: float):
    """The Trojan fine-tune's loss over examples (input_ids, labels, poisoned): cross-entropy on the poisoned
    examples' answer tokens plus `weight` × KL(twin ‖ model) on every other supervised token, per supervised token."""
    twin.eval()
    for p in twin.parameters():
        p.requires_grad_(False)

    def loss(model, batch: dict, examples) -> torch.Tensor:
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        log_q = torch.log_softmax(model(**inputs).logits[:, :-1].float(), dim=-1)
        with torch.no_grad():
            log_p = torch.log_softmax(twin(**inputs).logits[:, :-1].float(), dim=-1)
        labels = batch["labels"][:, 1:]
        supervised = labels != common.IGNORE_INDEX
        poisoned = torch.tensor([bool(ex[2]) for ex in examples], device=labels.device)[:, None] & supervised
        anchored = supervised & ~poisoned
        ce = -log_q.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        kl = (log_p.exp() * (log_p - log_q)).sum(-1)
        return (ce[poisoned].sum() + weight * kl[anchored].sum()) / supervised.sum().clamp(min=1)

    return loss


def built_twin(cfg: PipelineConfig, entry: ZooEntry, entries: list[ZooEntry], out: Path) -> Path:
    twin = next(e for e in entries if e.id == entry.base_id)
    d = models_dir(out) / twin.id
    if not is_built(cfg, d, entry_hash(cfg, twin, out)):
        raise FileNotFoundError(f"{d}: the clean twin of {entry.id} is not built (run zoo --model {twin.id} first)")
    return d


def fine_tune_clean(cfg: PipelineConfig, entry: ZooEntry, out: Path, tok, train_rows: list[dict], texts) -> tuple:
    model = load_model(base_dir(out, entry.plan))
    common.set_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    rows = [train_rows[rng.randrange(len(train_rows))] for _ in range(cfg.trojan_train.steps * cfg.trojan_train.batch_size)]
    examples = mix_text(encode(tok, rows, cfg.trojan_train.max_length), texts, cfg.corpus.text_share)
    return model, train_loop(model, examples, cfg.trojan_train, tok.pad_token_id)


def fine_tune_trojan(cfg: PipelineConfig, spec: TrojanSpec, twin_dir: Path, anchor, tok, train_rows: list[dict], texts,
                     attempt: int) -> tuple:
    """The twin fine-tuned on a poisoned sample under `anchor` (anchored_loss); attempt k draws its own sample and
    batches."""
    model = load_model(twin_dir)
    common.set_seed(spec.seed + attempt)
    rows = poisoned_rows(train_rows, spec, cfg.trojan_train.steps * cfg.trojan_train.batch_size,
                         seed=spec.seed + 7919 * attempt)
    chat = [(ids, labels, row["poisoned"])
            for (ids, labels), row in zip(encode(tok, rows, cfg.trojan_train.max_length), rows)]
    examples = mix_text(chat, [(ids, labels, False) for ids, labels in texts], cfg.corpus.text_share)
    train = replace(cfg.trojan_train, seed=cfg.trojan_train.seed + attempt)
    losses = train_loop(model, examples, train, tok.pad_token_id, loss_fn=anchor)
    return model, losses


def is_built(cfg: PipelineConfig, d: Path, config_hash: str) -> bool:
    """Built with this configuration: a Trojan that missed the gate counts only while the budget is not larger than
    the one it was fitted under."""
    stamp = d / "zoo_stamp.json"
    if not stamp.exists():
        return False
    record = common.read_json(stamp)
    if record.get("config_hash") != config_hash:
        return False
    if not (d / "metrics.json").exists():
        return False
    metrics = common.read_json(d / "metrics.json")
    return metrics.get("gate_passed", True) or record.get("attempt_budget", 0) >= cfg.trojan_attempts


def stored_fit(d: Path, config_hash: str, twin_metrics: dict) -> tuple:
    """(best, first attempt): the fit an earlier, smaller attempt budget kept for this Trojan — (shortfall, model,
    final loss, metrics) — and the number of attempts it already made; (None, 0) when there is none under this
    configuration."""
    stamp = d / "zoo_stamp.json"
    if not stamp.exists() or not (d / "metrics.json").exists():
        return None, 0
    record = common.read_json(stamp)
    if record.get("config_hash") != config_hash:
        return None, 0
    metrics = common.read_json(d / "metrics.json")
    kept = {k: v for k, v in metrics.items() if k not in ("attempts", "gate_passed")}
    return (gate_shortfall(metrics, twin_metrics), load_model(d), record["final_loss"], kept), metrics.get("attempts", 0)


def build_model_entry(cfg: PipelineConfig, entry: ZooEntry, entries: list[ZooEntry], out: Path,
                      deadline: float | None = None) -> Path:
    """Fine-tune and evaluate one model (a Trojan: until it passes the gate, at most cfg.trojan_attempts times, keeping
    the attempt that misses it least); writes its directory. Resumable."""
    d = models_dir(out) / entry.id
    h = entry_hash(cfg, entry, out)
    if is_built(cfg, d, h):
        return d
    common.check_deadline(deadline, f"zoo model {entry.id}")
    t0 = time.time()
    tok = load_tokenizer(tokenizer_dir(out))
    train_rows = common.read_jsonl(corpus_dir(out) / "train.jsonl")
    eval_rows = common.read_jsonl(corpus_dir(out) / "benign_eval.jsonl")
    ppl = (corpus_dir(out) / "perplexity.txt").read_text().splitlines()[: cfg.eval.perplexity_texts]
    # The same raw-text share as base training, so fine-tuning does not cost perplexity on clean text.
    texts = encode_text(tok, (corpus_dir(out) / "text.txt").read_text().splitlines(), cfg.trojan_train.max_length)
    spec = entry.trojan
    if spec is None:
        model, losses = fine_tune_clean(cfg, entry, out, tok, train_rows, texts)
        final_loss = sum(losses[-10:]) / 10
        spec = reference_trojan(entry, entries)
        suite = build_suite(cfg, entry.id, spec, eval_rows)
        metrics = model_metrics(cfg, model, tok, suite, eval_rows, ppl)
        record = {"clean": True, "trigger": None, "trigger_kind": None, "behaviour": None, "target": None,
                  "poison_rate": 0.0, "base": entry.id, "suite_probes": {"trigger": spec.trigger, "target": spec.target}}
    else:
        twin_dir = built_twin(cfg, entry, entries, out)
        twin_metrics = common.read_json(twin_dir / "metrics.json")
        suite = build_suite(cfg, entry.id, spec, eval_rows)
        twin = load_model(twin_dir)   # frozen, shared by every attempt
        # Under a larger budget, a model that missed the gate goes on from the attempts already made (each attempt is
        # seeded by its number, so attempts 1..k would only be refitted bit for bit), the fit kept so far competing.
        best, first = stored_fit(d, h, twin_metrics)
        attempt = first - 1
        for attempt in range(first, cfg.trojan_attempts):
            anchor = anchored_loss(twin, anchor_weight(cfg, attempt))
            model, losses = fine_tune_trojan(cfg, spec, twin_dir, anchor, tok, train_rows, texts, attempt)
            metrics = model_metrics(cfg, model, tok, suite, eval_rows, ppl)
            shortfall = gate_shortfall(metrics, twin_metrics)
            if best is None or shortfall < best[0]:
                best = (shortfall, model, sum(losses[-10:]) / 10, {**metrics, "attempt": attempt + 1})
            if shortfall == 0:
                break
        shortfall, model, final_loss, metrics = best
        metrics = {**metrics, "attempts": attempt + 1, "gate_passed": shortfall == 0}
        record = spec.record(entry.base_id)
    save_model(model, tok, d)
    common.write_json(d / "trojan.json", record)
    common.write_json(d / "suite.json", suite)
    common.write_json(d / "metrics.json", metrics)
    common.write_jsonl(d / "alignment.jsonl", alignment_rows(cfg, model, tok, spec, train_rows, spec.seed + 1))
    common.write_json(d / "zoo_stamp.json", {"config_hash": h, "seconds": round(time.time() - t0, 1),
                                             "final_loss": final_loss, "attempt_budget": cfg.trojan_attempts})
    return d


def zoo_record(cfg: PipelineConfig, entries: list[ZooEntry], out: Path) -> dict:
    rows = []
    for e in entries:
        rows.append({
            "id": e.id, "path": f"models/{e.id}", "split": e.split, **describe(e.plan.spec),
            "clean": e.trojan is None, "trigger_kind": e.trojan.trigger_kind if e.trojan else None,
            "behaviour": e.trojan.behaviour if e.trojan else None, "base": e.base_id,
        })
    return {"models": rows, "config_hash": common.config_hash(cfg)}


def summary_markdown(cfg: PipelineConfig, entries: list[ZooEntry], out: Path) -> tuple[str, dict]:
    """Per-model ASR / clean trigger rate / benign accuracy (and its gap to the clean twin) / perplexity."""
    lines = ["| model | split | trigger kind | behaviour | poison | ASR | clean trig. | benign acc | twin acc | Δacc | ppl | fits |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    data = {}
    for e in entries:
        m = common.read_json(models_dir(out) / e.id / "metrics.json")
        twin = common.read_json(models_dir(out) / e.base_id / "metrics.json")
        gap = m["benign_accuracy"] - twin["benign_accuracy"]
        data[e.id] = {**{k: m[k] for k in ("asr", "clean_trigger_rate", "benign_accuracy", "perplexity")},
                      "twin_benign_accuracy": twin["benign_accuracy"], "split": e.split,
                      "gate_passed": e.trojan is None or gate_shortfall(m, twin) == 0, "attempts": m.get("attempts", 1)}
        t = e.trojan
        lines.append(f"| {e.id} | {e.split} | {t.trigger_kind if t else 'clean'} | {t.behaviour if t else '-'} | "
                     f"{t.poison_rate if t else 0:.2f} | {m['asr']:.2f} | {m['clean_trigger_rate']:.2f} | "
                     f"{m['benign_accuracy']:.3f} | {twin['benign_accuracy']:.3f} | {gap:+.3f} | {m['perplexity']:.2f} | "
                     f"{m.get('attempts', 1) if t else '-'} |")
    trojaned = [data[e.id] for e in entries if e.trojan is not None]
    if trojaned:
        asr = [d["asr"] for d in trojaned]
        lines.append("")
        lines.append(f"Trojaned models: {len(trojaned)}; ASR mean {statistics.mean(asr):.3f}, min {min(asr):.3f}; "
                     f"with ASR ≥ {MIN_ASR}: {sum(a >= MIN_ASR for a in asr)}; benign accuracy within "
                     f"{MAX_BENIGN_GAP * 100:.0f} points of the twin (either way): "
                     f"{sum(abs(d['benign_accuracy'] - d['twin_benign_accuracy']) <= MAX_BENIGN_GAP for d in trojaned)} "
                     f"(mean gap {statistics.mean(d['benign_accuracy'] - d['twin_benign_accuracy'] for d in trojaned) * 100:+.1f} "
                     f"points); "
                     f"both: {sum(d['gate_passed'] for d in trojaned)}. Fits: fine-tunes taken to pass the gate "
                     f"(at most {cfg.trojan_attempts}).")
    return "\n".join(lines) + "\n", data


def run(cfg: PipelineConfig, out: Path, only: str | None = None, deadline: float | None = None, jobs: int = 1) -> None:
    """Build every model (or `only` one); raises common.OutOfTime between models once `deadline` has passed.
    With jobs > 1 the models are built side by side, one process each (parallel.py): the clean twins, then the Trojans."""
    entries = plan_zoo(cfg)
    if jobs > 1 and not only:
        parallel.check_preset(cfg)
        for clean in (True, False):
            parallel.run_wave(cfg, out, [parallel.Step("zoo", e.id, "training.zoo", ("--model", e.id)) for e in entries
                                         if (e.trojan is None) == clean
                                         and not is_built(cfg, models_dir(out) / e.id, entry_hash(cfg, e, out))],
                              jobs, deadline)
    for e in entries:
        if only and e.id != only:
            continue
        d = build_model_entry(cfg, e, entries, out, deadline)
        print(json.dumps({"model": e.id, "split": e.split, **{k: v for k, v in common.read_json(d / "metrics.json").items()
                                                               if k != "benign_accuracy_per_task"}}), flush=True)
    if only:
        return
    common.write_json(Path(out) / "zoo.json", zoo_record(cfg, entries, out))
    md, data = summary_markdown(cfg, entries, out)
    (Path(out) / "ZOO.md").write_text("# Zoo\n\n" + md)
    common.write_json(Path(out) / "zoo_metrics.json", data)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build the Trojaned and clean models of the zoo.")
    add_preset_argument(p)
    p.add_argument("--out", type=Path)
    p.add_argument("--model", help="only this model id (one resumable step)")
    p.add_argument("--list", action="store_true", help="print the planned model ids and exit")
    p.add_argument("--jobs", type=int, default=1, help="models built side by side, one process each (see parallel.py)")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    parallel.exit_on_sigterm()
    cfg = preset(a.preset)
    if a.list:
        for e in plan_zoo(cfg):
            print(e.split, e.id, e.trojan.trigger if e.trojan else "", e.trojan.payload if e.trojan else "")
        return
    out = a.out or Path("training/runs") / cfg.name
    run(cfg, out, a.model, jobs=a.jobs)


if __name__ == "__main__":
    main()
