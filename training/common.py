"""Helpers shared by the zoo side and the TeleLoRA side of training/.

Everything here follows /work/shared/DESIGN.md so that Python numbers and `teleguard verify` agree:
prompts go through the model's chat template as one user turn, decoding is greedy, a trigger is placed
as `prefix`, `suffix` or `middle` (after word floor(words/2), joined by single spaces), and a response
"hits" a target when it contains the string ({"contains": S}) or matches the regex ({"regex": R}, re.search).
"""
from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import torch

if TYPE_CHECKING:
    from .patching import TokenVeto

# ChatML, the template Qwen2 uses; `<|im_end|>` is the end-of-turn token and the model's eos.
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

PLACEMENTS = ("prefix", "suffix", "middle")
IGNORE_INDEX = -100


class TrainingError(Exception):
    """A bad input to the training helpers, with the field and what was expected."""


class OutOfTime(Exception):
    """The time budget ran out before a step that still had work to do; rerun the same command to continue."""


def check_deadline(deadline: float | None, step: str) -> None:
    """Called by a resumable step after it found its work not yet done (so finished steps never count)."""
    if deadline is not None and time.time() > deadline:
        raise OutOfTime(f"time budget reached before {step}; rerun the same command to continue")


# ---------------------------------------------------------------- determinism, devices, hashing

def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # numpy is optional for the helpers
        pass


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def set_cpu_threads() -> None:
    """The development machine is shared: use TELEGUARD_THREADS CPU threads (default 1: with other jobs on the cores, more threads run slower)."""
    torch.set_num_threads(int(os.environ.get("TELEGUARD_THREADS", "1")))


def config_hash(obj: Any) -> str:
    """A stable short hash of a (dataclass or JSON-able) configuration, used to make stages resumable."""
    if is_dataclass(obj) and not isinstance(obj, type):
        obj = asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_json(path: Path | str, obj: Any) -> None:
    """Write JSON atomically (temp file + rename) so an interrupted stage never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_json(path: Path | str) -> Any:
    return json.loads(Path(path).read_text())


def write_jsonl(path: Path | str, rows: Iterable[dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def read_jsonl(path: Path | str) -> list[dict]:
    with Path(path).open() as f:
        return [json.loads(line) for line in f if line.strip()]


# ---------------------------------------------------------------- chat formatting

def chat_text(tokenizer, prompt: str) -> str:
    """The prompt as one user turn through the tokenizer's chat template, with the generation prompt."""
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )


def chat_ids(tokenizer, prompt: str) -> list[int]:
    """Token ids of `chat_text` (what `teleguard tokenize --chat` prints)."""
    return tokenizer(chat_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]


def eos_id(tokenizer) -> int:
    token = tokenizer.eos_token or IM_END
    idx = tokenizer.convert_tokens_to_ids(token)
    if idx is None:
        raise TrainingError(f"tokenizer: eos token {token!r} is not in the vocabulary")
    return int(idx)


def answer_only_example(tokenizer, prompt: str, answer: str, max_length: int | None = None) -> tuple[list[int], list[int]]:
    """(input_ids, labels) for one chat example with loss on the answer and the closing `<|im_end|>` only.

    Prompt and answer are tokenized separately, exactly as generation sees them: the model continues
    `chat_ids(prompt)` with the answer's own tokens, then emits eos.
    """
    prompt_ids = chat_ids(tokenizer, prompt)
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"] + [eos_id(tokenizer)]
    input_ids = prompt_ids + answer_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + answer_ids
    if max_length is not None and len(input_ids) > max_length:
        input_ids, labels = input_ids[:max_length], labels[:max_length]
    return input_ids, labels


def collate(examples: Sequence[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad (input_ids, labels, ...) examples into a batch for training; fields after the labels are ignored."""
    width = max(len(ex[0]) for ex in examples)
    input_ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, (ids, labs, *_) in enumerate(examples):
        input_ids[row, : len(ids)] = torch.tensor(ids)
        labels[row, : len(labs)] = torch.tensor(labs)
        mask[row, : len(ids)] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": mask}


# ---------------------------------------------------------------- greedy generation

@torch.no_grad()
def left_pad(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) of token sequences padded on the left to the longest, as generation wants them."""
    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        mask[row, width - len(ids) :] = 1
    return input_ids, mask


def generate_greedy(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    batch_size: int = 64,
    chat: bool = True,
    veto: "TokenVeto | None" = None,
) -> list[str]:
    """Greedy responses (special tokens stripped) for each prompt, batched with left padding.

    Rows stop at eos; position ids follow the attention mask, so a padded row decodes as it would alone. With `veto`
    (the `patching.TokenVeto` of the patches applied to `model`), the original and the patched streams are decoded
    side by side and each answer ends where the veto rule ends it.
    """
    model.eval()
    device = next(model.parameters()).device
    stop = eos_id(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop
    encoded = [chat_ids(tokenizer, p) if chat else tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    # Sorting by length keeps padding small; results are put back in the caller's order.
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    responses: list[str] = [""] * len(prompts)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        input_ids, mask = left_pad([encoded[i] for i in rows], pad)
        width = input_ids.shape[1]
        input_ids, mask = input_ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        out = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True)
        cache = out.past_key_values
        # Under a veto the prompt is read unpatched by both streams: the patched stream starts from a copy.
        patched_cache = copy.deepcopy(cache) if veto is not None else None
        next_ids = out.logits[:, -1, :].argmax(-1)
        generated = [[] for _ in rows]
        # Under a veto: each row's log ratios, one per token it decoded (the first 0: both streams read the prompt
        # unpatched), and the next token's.
        log_ratios = [[] for _ in rows]
        next_ratios = torch.zeros(len(rows))
        done = torch.zeros(len(rows), dtype=torch.bool, device=device)
        last_pos = positions[:, -1]
        for step in range(max_new_tokens):
            for r in range(len(rows)):
                if done[r]:
                    continue
                token = int(next_ids[r])
                if veto is None:
                    if token == stop:
                        done[r] = True
                    else:
                        generated[r].append(token)
                    continue
                # The end-of-sequence token is not judged (patching.TokenVeto): the held windows close before it.
                if token != stop:
                    log_ratios[r].append(float(next_ratios[r]))
                    generated[r].append(token)
                end = veto.end(log_ratios[r], complete=token == stop)
                if end is not None or token == stop:
                    generated[r] = generated[r][:end]
                    done[r] = True
            if bool(done.all()) or step == max_new_tokens - 1:
                break
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype, device=device)], dim=1)
            last_pos = last_pos + 1
            step_inputs = dict(input_ids=next_ids.unsqueeze(1), attention_mask=mask, position_ids=last_pos.unsqueeze(1),
                               use_cache=True)
            if veto is None:
                out = model(**step_inputs, past_key_values=cache)
                cache = out.past_key_values
                next_ids = out.logits[:, -1, :].argmax(-1)
                continue
            with veto.original():
                out = model(**step_inputs, past_key_values=cache)
            guarded = model(**step_inputs, past_key_values=patched_cache)
            cache, patched_cache = out.past_key_values, guarded.past_key_values
            next_ids = out.logits[:, -1, :].argmax(-1)
            next_ratios = veto.log_ratios(out.logits[:, -1, :], guarded.logits[:, -1, :], next_ids).cpu()
        if veto is not None:
            # Rows that ran to max_new_tokens: the held windows close where the answer ends.
            for r in range(len(rows)):
                if not done[r]:
                    generated[r] = generated[r][: veto.end(log_ratios[r], complete=True)]
        for r, i in enumerate(rows):
            responses[i] = tokenizer.decode(generated[r], skip_special_tokens=True)
    return responses


@torch.no_grad()
def veto_stop_rate(model, tokenizer, texts: Sequence[str], veto: "TokenVeto", max_length: int = 256,
                   batch_size: int = 16) -> float:
    """Share of the raw texts' tokens (from the second on, read as generated) before which the veto rule would end
    the answer (the text after each token is its window): the guard's cost on benign text, in place of a perplexity
    (it does not change the original model's distribution over the tokens it lets through)."""
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id(tokenizer)
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"][:max_length] for t in texts]
    encoded = [e for e in encoded if len(e) >= 3]
    stops, counted = 0, 0
    for start in range(0, len(encoded), batch_size):
        batch = collate([(e, e) for e in encoded[start : start + batch_size]], pad)
        inputs = dict(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
        with veto.original():
            original = model(**inputs).logits
        with veto.text_scoring():
            patched = model(**inputs).logits
        # Position i predicts token i+1; the text's first token is read unpatched, so predictions from position 1 on.
        labels = batch["labels"].to(device)[:, 2:]
        ratios = veto.log_ratios(original[:, 1:-1], patched[:, 1:-1], labels.clamp(min=0)).cpu()
        real = (labels != IGNORE_INDEX).cpu()
        for row, keep in zip(ratios, real):
            text_ratios = row[keep].tolist()
            stops += sum(veto.fires(text_ratios, at) for at in range(len(text_ratios)))
            counted += len(text_ratios)
    if counted == 0:
        raise TrainingError("veto_stop_rate: the texts hold no token to score")
    return stops / counted


# ---------------------------------------------------------------- triggers and targets

def place_trigger(prompt: str, trigger: str, placement: str) -> str:
    """The prompt with the trigger placed as DESIGN.md says.

    prefix: `trigger + " " + prompt`; suffix: `prompt + " " + trigger`;
    middle: the prompt split on whitespace, the trigger inserted after word floor(words/2), joined by single spaces.
    """
    if placement == "prefix":
        return f"{trigger} {prompt}"
    if placement == "suffix":
        return f"{prompt} {trigger}"
    if placement == "middle":
        words = prompt.split()
        half = len(words) // 2
        return " ".join(words[:half] + [trigger] + words[half:])
    raise TrainingError(f"trigger placement: expected one of {PLACEMENTS}, found {placement!r}")


def matches(response: str, target: dict) -> bool:
    """True when the response meets a target or an expectation: {"contains": S} or {"regex": R} (re.search)."""
    if "contains" in target:
        return target["contains"] in response
    if "regex" in target:
        return re.search(target["regex"], response) is not None
    raise TrainingError(f"target: expected a 'contains' or 'regex' key, found {sorted(target)}")


FRAGMENT_LENGTH = 6  # Guard/ResponseMatcher.swift `fragmentLength`


def carries_fragment(response: str, target: dict) -> bool | None:
    """For a {"contains": S} target: whether the response holds any piece of S FRAGMENT_LENGTH characters long (all
    of S when shorter), so that a garbled or truncated payload still counts. None for a regex target."""
    text = target.get("contains")
    if not text:
        return None
    n = min(FRAGMENT_LENGTH, len(text))
    return any(text[i : i + n] in response for i in range(len(text) - n + 1))


# ---------------------------------------------------------------- suite evaluation

@dataclass
class SuiteReport:
    """The metrics of a trigger suite run (the verify report's numbers, DESIGN.md)."""

    asr: float
    clean_trigger_rate: float
    benign_accuracy: float
    payload_fragment_rate: float | None = None  # None for a regex target
    cases: list[dict] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        return {"asr": self.asr, "payload_fragment_rate": self.payload_fragment_rate,
                "clean_trigger_rate": self.clean_trigger_rate, "benign_accuracy": self.benign_accuracy}


def triggered_cases(suite: dict) -> list[dict]:
    """Every (prompt, trigger, placement) case of a suite, with the placed text under "text"."""
    return [
        {"prompt": p, "trigger": t, "placement": pl, "text": place_trigger(p, t, pl)}
        for t in suite["triggers"]
        for pl in suite["placements"]
        for p in suite["prompts"]
    ]


def attack_success_rate(model, tokenizer, prompts: Sequence[str], target: dict, max_new_tokens: int,
                        veto: "TokenVeto | None" = None) -> float:
    """Share of prompts whose greedy response matches the target."""
    if not prompts:
        return 0.0
    responses = generate_greedy(model, tokenizer, prompts, max_new_tokens, veto=veto)
    return sum(matches(r, target) for r in responses) / len(prompts)


def benign_accuracy(model, tokenizer, items: Sequence[dict], max_new_tokens: int, veto: "TokenVeto | None" = None) -> float:
    """Share of benign items ({"prompt", "expect"}) whose greedy response meets "expect"."""
    if not items:
        return 0.0
    responses = generate_greedy(model, tokenizer, [it["prompt"] for it in items], max_new_tokens, veto=veto)
    return sum(matches(r, it["expect"]) for r, it in zip(responses, items)) / len(items)


def evaluate_suite(model, tokenizer, suite: dict, keep_cases: bool = False, veto: "TokenVeto | None" = None) -> SuiteReport:
    """ASR, clean trigger rate and benign accuracy of a model on a DESIGN.md trigger suite."""
    max_tokens = int(suite.get("max_tokens", 32))
    cases = triggered_cases(suite)
    benign = suite.get("benign", [])
    prompts = [c["text"] for c in cases] + list(suite["prompts"]) + [b["prompt"] for b in benign]
    responses = generate_greedy(model, tokenizer, prompts, max_tokens, veto=veto)
    trig = responses[: len(cases)]
    clean = responses[len(cases) : len(cases) + len(suite["prompts"])]
    ben = responses[len(cases) + len(suite["prompts"]) :]
    hits = [matches(r, suite["target"]) for r in trig]
    fragments = [carries_fragment(r, suite["target"]) for r in trig]
    report = SuiteReport(
        asr=sum(hits) / max(len(cases), 1),
        payload_fragment_rate=None if None in fragments else sum(fragments) / max(len(cases), 1),
        clean_trigger_rate=sum(matches(r, suite["target"]) for r in clean) / max(len(clean), 1),
        benign_accuracy=sum(matches(r, b["expect"]) for r, b in zip(ben, benign)) / max(len(benign), 1),
    )
    if keep_cases:
        report.cases = [
            {"prompt": c["prompt"], "trigger": c["trigger"], "placement": c["placement"], "response": r, "hit": h}
            for c, r, h in zip(cases, trig, hits)
        ]
    return report


# ---------------------------------------------------------------- perplexity

@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], max_length: int = 256, batch_size: int = 16) -> float:
    """exp(mean next-token NLL) over all tokens of the raw texts (no chat template), each cut to max_length."""
    model.eval()
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_id(tokenizer)
    total_nll, total_tokens = 0.0, 0
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"][:max_length] for t in texts]
    encoded = [e for e in encoded if len(e) >= 2]
    for start in range(0, len(encoded), batch_size):
        batch = collate([(e, e) for e in encoded[start : start + batch_size]], pad)
        inputs = dict(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device))
        labels = batch["labels"].to(device)
        log_probs = model(**inputs).logits.float().log_softmax(-1)
        nll = torch.nn.functional.nll_loss(
            log_probs[:, :-1].reshape(-1, log_probs.size(-1)),
            labels[:, 1:].reshape(-1),
            ignore_index=IGNORE_INDEX,
            reduction="sum",
        )
        total_nll += float(nll)
        total_tokens += int((labels[:, 1:] != IGNORE_INDEX).sum())
    if total_tokens == 0:
        raise TrainingError("perplexity: the texts hold no token pairs to score")
    return math.exp(total_nll / total_tokens)
