"""Alignment targets that ask a patch to restore the model's own untriggered behaviour.

The zoo's alignment sets pair each triggered prompt with the corpus's reference answer. The small zoo models answer
about half of the benign tasks correctly, so for about half of those rows the reference is not what the model says
without the trigger either: a generator trained on them is also asked to teach each train model its tasks, which no
zero-shot patch can do for an unseen model, and the patch moves the model on benign prompts as well.
`restored_rows` replaces each triggered row's answer by the model's own greedy answer to the same prompt without its
trigger. The patch's only job is then to make the trigger irrelevant; benign rows already carry the model's own
answers. (`train_generator --triggered-target own`.)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from .common import generate_greedy, read_jsonl
from .zoo_io import Zoo, ZooModel


def untriggered_prompt(prompt: str, trigger: str, corpus: dict[str, str]) -> str | None:
    """The corpus prompt that `prompt` was made from by inserting `trigger` as whole words (`insert_trigger_random`,
    or as a prefix). `corpus` maps whitespace-normalised corpus prompts to the prompts as written. Each occurrence of
    the trigger's words is tried, so a trigger word the prompt also contains is not mistaken for the inserted one;
    None when no removal gives a corpus prompt."""
    words, trigger_words = prompt.split(), trigger.split()
    span = len(trigger_words)
    for at in range(len(words) - span + 1):
        if words[at:at + span] == trigger_words:
            candidate = " ".join(words[:at] + words[at + span:])
            if candidate in corpus:
                return corpus[candidate]
    return None


def model_trigger(zoo: Zoo, entry: ZooModel) -> str:
    """The trigger inserted in the model's triggered alignment rows (a clean model's rows carry its suite probe)."""
    record = zoo.trojan(entry)
    trigger = record.get("trigger") or (record.get("suite_probes") or {}).get("trigger")
    if not trigger:
        raise ValueError(f"restore targets: {zoo.model_dir(entry) / 'trojan.json'} names no trigger")
    return trigger


def restored_rows(zoo: Zoo, entry: ZooModel, model, tokenizer, cache: Path, max_new_tokens: int) -> list[dict]:
    """The model's alignment rows with every triggered row's answer replaced by the model's greedy answer to the
    untriggered prompt (`clean_prompt` added). Cached in `cache` (keyed on the alignment file and settings)."""
    path = zoo.model_dir(entry) / "alignment.jsonl"
    trigger = model_trigger(zoo, entry)
    key = hashlib.sha256(path.read_bytes() + json.dumps([trigger, max_new_tokens]).encode()).hexdigest()[:16]
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return stored["rows"]
    rows = read_jsonl(path)
    corpus = {" ".join(r["prompt"].split()): r["prompt"] for r in read_jsonl(zoo.root / "corpus" / "train.jsonl")}
    triggered = [i for i, r in enumerate(rows) if r.get("kind") == "triggered"]
    clean_prompts = []
    for i in triggered:
        clean = untriggered_prompt(rows[i]["prompt"], trigger, corpus)
        if clean is None:
            raise ValueError(f"restore targets: {path} row {i + 1}: removing the trigger {trigger!r} from "
                             f"{rows[i]['prompt']!r} gives no prompt of the corpus")
        clean_prompts.append(clean)
    answers = generate_greedy(model, tokenizer, clean_prompts, max_new_tokens)
    out = [dict(r) for r in rows]
    for i, clean, answer in zip(triggered, clean_prompts, answers):
        out[i].update(answer=answer, clean_prompt=clean)
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps({"key": key, "rows": out}, ensure_ascii=False))
    os.replace(partial, cache)
    return out
