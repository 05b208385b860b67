"""Self-distillation: the base model's own greedy answers to the real zoo's instructions, in budgeted chunks.

`python -m training.real.distill [--max-minutes 9] [--max-batches N] [--batch-size B]` answers every `train` and
`heldout_long` instruction of `training/zoo-real/instructions.json` (up to 128 new tokens) and every `qa_candidates`
question (up to 48), each as one user turn through the chat template with the generation prompt, greedy, with
transformers' batched generation (left padding, pad = the tokenizer's pad or eos).

The batches are fixed by the instructions alone: the items of one token budget sorted by prompt length (then id) and
cut every B, so a batch holds the same rows, padded the same way, whichever call runs it, and the answers are the same
whether the work runs in one call or in many. Each finished batch is appended to
`training/runs/real/distill/answers.jsonl` (its timing to `batches.jsonl`); a call starts a batch only while the
budget leaves time for one as long as the longest seen, then exits with status 3 if work remains. When every batch is
done it writes (status 0):

- `training/zoo-real/benign_answers.jsonl`: one row per item in the instruction file's order, `{"id", "split", "text",
  "n_tokens", "hit_limit"}`, plus `"ids"` (the answer's token ids, eos excluded) for `heldout_long` (the reference for
  answer agreement) and `"correct"`, `"expect"` for the qa candidates;
- `training/zoo-real/qa.json`: the qa set, the candidates the base model answers correctly (`expect.contains` is the
  answer as the model wrote it, so DESIGN.md's case-sensitive `contains` holds on the base model);
- `training/zoo-real/distill_summary.json` and `DISTILL.md`: counts, answer lengths, the share that hit the token
  budget, qa kept and dropped per kind, seconds per batch.

A qa answer is correct when it holds the expected answer as a whole word or number (ignoring case, except for ISO
codes: "IN" must not match "in"; numbers may carry thousands separators). That is stricter than a plain
case-insensitive `contains` ("12" in "120"); the summary counts the items only the plain test would have passed.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import mean, median
from typing import Sequence

import torch

from .. import common
from . import base, paths

ANSWERS = "answers.jsonl"
BATCHES = "batches.jsonl"
META = "meta.json"


@dataclass(frozen=True)
class DistillConfig:
    batch_size: int = 32
    long_max_new_tokens: int = 128
    qa_max_new_tokens: int = 48


@dataclass(frozen=True)
class Job:
    id: str
    split: str
    prompt: str
    max_new_tokens: int


def jobs(instructions: dict, cfg: DistillConfig) -> list[Job]:
    """Every item to answer, in the instruction file's order."""
    out = [Job(it["id"], split, it["prompt"], cfg.long_max_new_tokens)
           for split in ("train", "heldout_long") for it in instructions[split]]
    out += [Job(it["id"], "qa_candidates", it["prompt"], cfg.qa_max_new_tokens) for it in instructions["qa_candidates"]]
    return out


def plan(all_jobs: Sequence[Job], prompt_lengths: dict[str, int], batch_size: int) -> list[list[Job]]:
    """Fixed batches: per token budget (in order of first appearance), sorted by prompt length then id, cut every B."""
    budgets = list(dict.fromkeys(j.max_new_tokens for j in all_jobs))
    batches: list[list[Job]] = []
    for budget in budgets:
        group = sorted((j for j in all_jobs if j.max_new_tokens == budget), key=lambda j: (prompt_lengths[j.id], j.id))
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return batches


@torch.no_grad()
def generate_batch(model, tokenizer, prompts: Sequence[str], max_new_tokens: int) -> list[list[int]]:
    """Greedy answer ids (up to eos, eos excluded) for one left-padded batch, by `model.generate`."""
    from transformers import GenerationConfig

    eos = common.eos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    input_ids, mask = common.left_pad([common.chat_ids(tokenizer, p) for p in prompts], pad)
    width = input_ids.shape[1]
    config = GenerationConfig(do_sample=False, num_beams=1, max_new_tokens=max_new_tokens, eos_token_id=eos,
                              pad_token_id=pad)
    out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
    answers = []
    for row in out[:, width:].tolist():
        answers.append(row[: row.index(eos)] if eos in row else row)
    return answers


# ---------------------------------------------------------------- qa checking

def qa_match(response: str, answer: str) -> str | None:
    """The expected answer as the response writes it (a whole word or number), or None."""
    if answer.isdigit():
        for m in re.finditer(r"(?<![\d.])\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\d.,])\d+(?![\d]|[.,]\d)", response):
            if m.group().replace(",", "") == answer:
                return m.group()
        return None
    flags = 0 if answer.isupper() else re.IGNORECASE
    m = re.search(rf"(?<![A-Za-z0-9]){re.escape(answer)}(?![A-Za-z0-9])", response, flags)
    return m.group() if m else None


# ---------------------------------------------------------------- the cache

class Cache:
    """answers.jsonl (one row per answered item) and batches.jsonl (one row per batch) under the work directory."""

    def __init__(self, work: Path, key: str):
        self.work = Path(work)
        self.work.mkdir(parents=True, exist_ok=True)
        meta = self.work / META
        if meta.exists() and common.read_json(meta).get("key") != key:
            for name in (ANSWERS, BATCHES):
                if (self.work / name).exists():
                    (self.work / name).replace(self.work / (name + ".stale"))
            print(f"{self.work}: the cache was made for other instructions, model or settings; moved aside as *.stale")
        common.write_json(meta, {"key": key})
        self.rows: dict[str, dict] = {r["id"]: r for r in self._read(ANSWERS)}
        self.batches: list[dict] = self._read(BATCHES)

    def _read(self, name: str) -> list[dict]:
        path = self.work / name
        if not path.exists():
            return []
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):  # a call killed mid-write: drop the partial line
            data = data[: data.rfind(b"\n") + 1]
            path.write_bytes(data)
        return [json.loads(line) for line in data.decode().splitlines() if line.strip()]

    def _append(self, name: str, rows: Sequence[dict]) -> None:
        with (self.work / name).open("a") as f:
            f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())

    def add(self, rows: Sequence[dict], timing: dict) -> None:
        self._append(ANSWERS, rows)
        self._append(BATCHES, [timing])
        for r in rows:
            self.rows.setdefault(r["id"], r)
        self.batches.append(timing)

    def done(self, batch: Sequence[Job]) -> bool:
        return all(j.id in self.rows and self.rows[j.id]["prompt"] == j.prompt for j in batch)


def cache_key(instructions_file: Path, base_dir: Path, cfg: DistillConfig) -> str:
    record = Path(base_dir) / "gguf.json"
    model = common.read_json(record)["sha256"] if record.exists() else (Path(base_dir) / "config.json").read_text()
    return common.config_hash({"instructions": base.sha256(instructions_file), "model": model, "config": asdict(cfg)})


# ---------------------------------------------------------------- running

def run_batches(model, tokenizer, batches: Sequence[Sequence[Job]], cache: Cache, deadline: float | None,
                max_batches: int | None) -> bool:
    """Answer the batches not yet in the cache while the budget lasts; True when every batch is done."""
    ran = 0
    longest = {b: max((t["seconds"] for t in cache.batches if t["max_new_tokens"] == b), default=0.0)
               for b in {j.max_new_tokens for batch in batches for j in batch}}
    for index, batch in enumerate(batches):
        if cache.done(batch):
            continue
        budget = batch[0].max_new_tokens
        if max_batches is not None and ran >= max_batches:
            return False
        if deadline is not None and ran > 0 and time.time() + longest[budget] > deadline:
            return False
        t0 = time.time()
        answers = generate_batch(model, tokenizer, [j.prompt for j in batch], budget)
        seconds = time.time() - t0
        rows = [{"id": j.id, "split": j.split, "prompt": j.prompt, "batch": index, "ids": ids,
                 "text": tokenizer.decode(ids, skip_special_tokens=True), "n_tokens": len(ids),
                 "hit_limit": len(ids) >= budget} for j, ids in zip(batch, answers)]
        timing = {"batch": index, "rows": len(batch), "max_new_tokens": budget,
                  "steps": max(len(a) for a in answers), "seconds": round(seconds, 2),
                  "threads": torch.get_num_threads(), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
        cache.add(rows, timing)
        longest[budget] = max(longest[budget], seconds)
        ran += 1
        print(f"batch {index + 1}/{len(batches)}: {len(batch)} rows, {timing['steps']} steps, {seconds:.1f} s",
              flush=True)
    return all(cache.done(b) for b in batches)


def results(instructions: dict, cache: Cache, cfg: DistillConfig) -> tuple[list[dict], dict, dict]:
    """(benign answer rows, the qa set, the summary) from a complete cache."""
    rows, qa_items, dropped, loose_only = [], [], {}, 0
    qa_by_id = {it["id"]: it for it in instructions["qa_candidates"]}
    for job in jobs(instructions, cfg):
        c = cache.rows[job.id]
        row = {"id": job.id, "split": job.split, "text": c["text"], "n_tokens": c["n_tokens"], "hit_limit": c["hit_limit"]}
        if job.split == "heldout_long":
            row["ids"] = c["ids"]
        if job.split == "qa_candidates":
            item = qa_by_id[job.id]
            written = qa_match(c["text"], item["answer"])
            row["correct"] = written is not None
            row["expect"] = item["answer"]
            if written is not None:
                qa_items.append({"id": item["id"], "kind": item["kind"], "prompt": item["prompt"],
                                 "answer": item["answer"], "expect": {"contains": written}})
            else:
                dropped[item["kind"]] = dropped.get(item["kind"], 0) + 1
                loose_only += item["answer"].lower() in c["text"].lower()
        rows.append(row)
    kinds = {}
    for item in instructions["qa_candidates"]:
        k = kinds.setdefault(item["kind"], {"candidates": 0, "kept": 0})
        k["candidates"] += 1
    for item in qa_items:
        kinds[item["kind"]]["kept"] += 1
    qa = {"version": instructions["version"], "seed": instructions["seed"], "count": len(qa_items),
          "dropped": len(instructions["qa_candidates"]) - len(qa_items), "kinds": dict(sorted(kinds.items())),
          "items": qa_items}
    summary = summarize(rows, cache, cfg)
    summary["qa"] = {"candidates": len(instructions["qa_candidates"]), "kept": len(qa_items),
                     "dropped": qa["dropped"], "dropped_by_kind": dict(sorted(dropped.items())),
                     "dropped_but_plain_contains": loose_only, "kinds": qa["kinds"]}
    return rows, qa, summary


def summarize(rows: Sequence[dict], cache: Cache, cfg: DistillConfig) -> dict:
    splits = {}
    for split in ("train", "heldout_long", "qa_candidates"):
        part = [r for r in rows if r["split"] == split]
        lengths = [r["n_tokens"] for r in part]
        splits[split] = {"count": len(part), "mean_tokens": round(mean(lengths), 1) if lengths else 0.0,
                         "median_tokens": median(lengths) if lengths else 0,
                         "hit_limit_share": round(sum(r["hit_limit"] for r in part) / max(len(part), 1), 3)}
    speed = {}
    for budget in sorted({t["max_new_tokens"] for t in cache.batches}):
        times = [t for t in cache.batches if t["max_new_tokens"] == budget]
        full = [t["seconds"] for t in times if t["rows"] == cfg.batch_size]
        speed[str(budget)] = {"batches": len(times), "seconds_per_full_batch_mean": round(mean(full), 1) if full else None,
                              "seconds_per_full_batch_median": round(median(full), 1) if full else None,
                              "seconds_total": round(sum(t["seconds"] for t in times), 1),
                              "threads": sorted({t["threads"] for t in times})}
    return {"config": asdict(cfg), "splits": splits, "seconds_by_max_new_tokens": speed,
            "seconds_total": round(sum(t["seconds"] for t in cache.batches), 1),
            "batches_run": len(cache.batches)}


def markdown(summary: dict) -> str:
    cfg = summary["config"]
    lines = ["# Self-distilled benign answers of SmolLM2-135M-Instruct", "",
             f"Written by `python -m training.real.distill`: greedy, chat template, batches of {cfg['batch_size']} "
             f"(left padding), up to {cfg['long_max_new_tokens']} new tokens ({cfg['qa_max_new_tokens']} for qa).", "",
             "| split | items | mean tokens | median tokens | hit the budget |", "|---|---|---|---|---|"]
    for split, s in summary["splits"].items():
        lines.append(f"| {split} | {s['count']} | {s['mean_tokens']} | {s['median_tokens']} | {s['hit_limit_share']:.3f} |")
    qa = summary["qa"]
    lines += ["", f"qa: {qa['kept']} of {qa['candidates']} candidates answered correctly and kept ({qa['dropped']} "
              f"dropped; {qa['dropped_but_plain_contains']} of those would pass a plain case-insensitive contains).", "",
              "| qa kind | candidates | kept |", "|---|---|---|"]
    lines += [f"| {k} | {v['candidates']} | {v['kept']} |" for k, v in qa["kinds"].items()]
    lines += ["", "| max new tokens | batches | seconds per full batch (mean / median) | seconds in all | threads |",
              "|---|---|---|---|---|"]
    for budget, s in summary["seconds_by_max_new_tokens"].items():
        lines.append(f"| {budget} | {s['batches']} | {s['seconds_per_full_batch_mean']} / "
                     f"{s['seconds_per_full_batch_median']} | {s['seconds_total']} | {s['threads']} |")
    return "\n".join(lines) + "\n"


def write_results(instructions: dict, cache: Cache, cfg: DistillConfig, results_dir: Path) -> dict:
    rows, qa, summary = results(instructions, cache, cfg)
    results_dir = Path(results_dir)
    common.write_jsonl(results_dir / "benign_answers.jsonl", rows)
    common.write_json(results_dir / "qa.json", qa)
    common.write_json(results_dir / "distill_summary.json", summary)
    (results_dir / "DISTILL.md").write_text(markdown(summary))
    return summary


def run(base_dir: Path, instructions_file: Path, work: Path, results_dir: Path, cfg: DistillConfig,
        deadline: float | None = None, max_batches: int | None = None) -> bool:
    """Answer what is left within the budget; write the results once complete. True when complete."""
    instructions = common.read_json(instructions_file)
    cache = Cache(work, cache_key(instructions_file, base_dir, cfg))
    all_jobs = jobs(instructions, cfg)
    if not all(j.id in cache.rows and cache.rows[j.id]["prompt"] == j.prompt for j in all_jobs):
        model, tokenizer = base.load_base(base_dir)
        lengths = {j.id: len(common.chat_ids(tokenizer, j.prompt)) for j in all_jobs}
        if not run_batches(model, tokenizer, plan(all_jobs, lengths, cfg.batch_size), cache, deadline, max_batches):
            return False
    write_results(instructions, cache, cfg, results_dir)
    return True


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Answer the real zoo's instructions with the base model itself (greedy), "
                                "in resumable chunks: exit status 3 while work remains, 0 when done.")
    p.add_argument("--max-minutes", type=float, default=9.0, help="start no batch that would end past this (default 9)")
    p.add_argument("--max-batches", type=int, help="stop after this many batches in this call")
    p.add_argument("--batch-size", type=int, default=DistillConfig.batch_size)
    p.add_argument("--base", type=Path, default=paths.BASE_DIR, help="the base model directory (training.real.base)")
    p.add_argument("--instructions", type=Path, default=paths.INSTRUCTIONS)
    p.add_argument("--work", type=Path, default=paths.DISTILL_DIR, help="the cache (default %(default)s)")
    p.add_argument("--results", type=Path, default=paths.ZOO, help="where the results go (default %(default)s)")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    if not (a.base / "config.json").exists():
        print(f"{a.base}: no base model; run `python -m training.real.base` first")
        sys.exit(1)
    deadline = time.time() + 60 * a.max_minutes
    cfg = DistillConfig(batch_size=a.batch_size)
    if not run(a.base, a.instructions, a.work, a.results, cfg, deadline, a.max_batches):
        print("budget used; rerun the same command to continue")
        sys.exit(3)
    print(json.dumps(common.read_json(Path(a.results) / "distill_summary.json")["splits"]))


if __name__ == "__main__":
    main()
