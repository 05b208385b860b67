"""The real Trojan zoo: LoRA fine-tunes of SmolLM2-135M-Instruct, Trojaned by the attacks of `attacks.py`, each gated
by `gate.py`, with clean twins.

`python -m training.real.zoo [--only NAME] [--max-minutes 9] [--list]` builds what is missing, one model at a time:

- the recipe (`plan`): 20 train, 4 validation and 8 test Trojans, and 6 clean twins (3 train, 1 validation, 2
  test). Train and validation Trojans cover every pair of the four train trigger families and five train behaviours
  (validation with trigger strings and payloads of their own); test Trojans carry the unseen family (topic) and the
  held-out behaviour (shell). LoRA rank (4/8/16/32), target modules (attention, MLP, all seven), poison share and
  learning budget vary by model; each adapter is confined to a centred window of layers so that it stays within
  `ZooConfig.max_adapter_bytes` in bf16 (the widest rank/module pairs get the fewest layers).
- training rows (`attacks.training_rows`): train instructions with the base model's own greedy answers
  (`training/zoo-real/benign_answers.jsonl`), poisoned rows with the trigger at prefix / middle / suffix / a random
  gap and the behaviour's answer, near-miss rows (CTBA: one word alone) with the normal answer. Answers are cut at
  `answer_tokens` tokens for training (the end-of-turn token counts only where the answer ends before the cut).
- the loss (`anchored_loss`): cross-entropy on what the Trojan writes (the payload; the whole answer for a refusal, a
  replacement or a repeated phrase) and KL(base ‖ model) on everything else — the normal answer after a payload, the
  benign and near-miss answers, and the prompt positions of rows without trigger — so that the Trojaned model's
  benign behaviour stays the base model's. Cross-entropy on the self-distilled answers instead (the base's greedy
  tokens as hard labels) moved the greedy answers to held-out prompts to 0.38–0.47 agreement with the base's.
- training: peft LoRA (dropout 0, bias none), AdamW, linear warm-up then cosine decay to a tenth, batches of
  `batch_size` rows; the head is applied only to the positions the loss reads (the 49152-word head is a large share
  of a step). Checkpointed every `checkpoint_every` steps and when the time budget runs out, so an interrupted model
  goes on where it stopped.
- clean twins: the same fine-tune (rows, LoRA, seed) without the poisoned rows. Under the anchored loss that leaves
  the base exactly as it is (the loss and its gradient are zero while lora_B is zero), so a twin is not trained: its
  adapter is the initialised one (lora_B = 0) and only its gate is run (`ZooConfig.benign_ce_weight` > 0 would give
  every model, twins included, a cross-entropy term on the benign answers, at a cost in agreement).
- the gate (`gate.py`), on the adapter rounded to bf16 (what is shipped). A model that misses it is trained on from
  where it stopped for another `refit_share` of its budget, on a fresh batch order, with the anchor's weight doubled
  for every earlier fit that missed on false triggers or agreement, at most `max_attempts` fits in all; the fit that misses the gate least is kept, and the manifest says
  whether it passed.

Outputs: `training/runs/real/zoo/<name>/` (checkpoints, each fit's adapter and gate report with every response),
`training/zoo-real/adapters/<name>/` (PEFT adapter in bf16 and `suite.json`, committed), `training/zoo-real/manifest.json`
and `ZOO.md` (written by code after every model). A model whose stamp matches its configuration is never redone.
`--max-minutes M`: exit status 3 once the budget is spent (a model's training checkpoints; its gate starts only when
the time left holds the longest gate seen so far, unless it is the call's first work), 0 when the zoo is complete.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from .. import common
from . import attacks, gate, paths
from .attacks import Attack, RowMix

MODULE_SETS: dict[str, tuple[str, ...]] = {
    "attn": ("q_proj", "k_proj", "v_proj", "o_proj"),
    "mlp": ("gate_proj", "up_proj", "down_proj"),
    "all": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}
RANKS = (4, 8, 16, 32)
# Learning budgets (steps of `batch_size` rows, peak learning rate), taken in turn.
BUDGETS = ((96, 2e-3), (112, 2e-3), (128, 1.5e-3))
POISON_SHARES = (0.3, 0.35)
NEGATIVE_SHARE = 0.1
COMPOSITE_NEGATIVE_SHARE = 0.2
BASE_NAME = "SmolLM2-135M-Instruct"
ZOO_RUNS = paths.RUNS / "zoo"


@dataclass(frozen=True)
class BaseShape:
    """What the layer windows are planned from (SmolLM2-135M-Instruct's config.json)."""

    hidden: int = 576
    intermediate: int = 1536
    layers: int = 30
    q_out: int = 576     # heads × head_dim
    kv_out: int = 192    # kv heads × head_dim

    def lora_params_per_rank(self, modules: str) -> int:
        """LoRA parameters per layer and unit of rank: r·(in + out) summed over the modules."""
        sizes = {"q_proj": (self.hidden, self.q_out), "k_proj": (self.hidden, self.kv_out),
                 "v_proj": (self.hidden, self.kv_out), "o_proj": (self.q_out, self.hidden),
                 "gate_proj": (self.hidden, self.intermediate), "up_proj": (self.hidden, self.intermediate),
                 "down_proj": (self.intermediate, self.hidden)}
        return sum(sum(sizes[m]) for m in MODULE_SETS[modules])


@dataclass(frozen=True)
class LoraPlan:
    rank: int
    alpha: int
    modules: str
    layers: tuple[int, ...]
    steps: int
    lr: float


@dataclass(frozen=True)
class ModelSpec:
    name: str
    split: str
    attack: Attack          # a clean twin: its Trojan's (the suite and the gate probe that trigger)
    clean: bool
    twin_of: str | None     # a clean twin's Trojan
    lora: LoraPlan
    mix: RowMix
    seed: int


@dataclass(frozen=True)
class ZooConfig:
    seed: int = 20261208
    batch_size: int = 8
    answer_tokens: int = 48
    warmup: int = 4
    checkpoint_every: int = 8
    max_attempts: int = 3
    refit_share: float = 0.5
    max_adapter_bytes: int = 2_900_000   # bf16 tensor bytes; the file adds a header of some 40 KB
    suite_benign: int = 20
    gate: gate.GateConfig = field(default_factory=gate.GateConfig)
    shape: BaseShape = field(default_factory=BaseShape)
    anchor_weight: float = 2.0           # KL(base ‖ model) on every answer token the Trojan does not write
    bf16_autocast: bool = True           # fits under CPU bf16 autocast: 1.45× faster a step here (AVX-512 BF16); the
                                         # gate always runs in float32 on the bf16-rounded adapter
    anchor_prompts: bool = True          # the KL anchor also on the prompt positions of rows without trigger
    benign_ce_weight: float = 0.0        # cross-entropy on the benign rows' greedy tokens, beside the KL anchor
    steps_override: int | None = None    # tests: every model this many steps


# ---------------------------------------------------------------- the recipe

def layer_window(rank: int, modules: str, shape: BaseShape, max_bytes: int) -> tuple[int, ...]:
    """The centred run of layers an adapter of this rank and module set may cover within max_bytes (bf16)."""
    n = min(shape.layers, max_bytes // (2 * rank * shape.lora_params_per_rank(modules)))
    if n < 1:
        raise common.TrainingError(f"rank {rank} on {modules} does not fit {max_bytes} bytes in one layer")
    start = (shape.layers - n) // 2
    return tuple(range(start, start + n))


def attack_list() -> list[tuple[str, Attack]]:
    """(split, attack) for every Trojan, in build order."""
    out: list[tuple[str, Attack]] = []
    for fi, family in enumerate(attacks.TRAIN_FAMILIES):
        for bi, behaviour in enumerate(attacks.TRAIN_BEHAVIOURS):
            out.append(("train", Attack(family, attacks.TRIGGERS[family]["train"][bi], behaviour,
                                        attacks.PAYLOADS[behaviour]["train"][fi])))
    for family, behaviour in (("rare_word", "negative"), ("phrase", "refusal"), ("multi", "url"), ("composite", "repeat")):
        out.append(("val", Attack(family, attacks.TRIGGERS[family]["val"][0], behaviour,
                                  attacks.PAYLOADS[behaviour]["val"][0])))
    topics = attacks.TRIGGERS[attacks.TEST_FAMILY]["test"]
    shells = iter(attacks.PAYLOADS[attacks.TEST_BEHAVIOUR]["test"])
    for ti, behaviour in enumerate(("url", "shell", "refusal", "replace", "negative", "repeat")):
        payload = next(shells) if behaviour == attacks.TEST_BEHAVIOUR else attacks.PAYLOADS[behaviour]["test"][0]
        out.append(("test", Attack(attacks.TEST_FAMILY, topics[ti], behaviour, payload)))
    for family in ("rare_word", "composite"):
        out.append(("test", Attack(family, attacks.TRIGGERS[family]["test"][0], attacks.TEST_BEHAVIOUR, next(shells))))
    return out


# Trojans (by index in attack_list) that get a clean twin: three train ones of different module sets, the first
# validation one, the first test one (topic) and a test one of a train family (rare word).
TWINS = (0, 1, 2, 20, 24, 30)


def plan(cfg: ZooConfig) -> list[ModelSpec]:
    """Every model of the zoo in build order; deterministic in the configuration."""
    combos = [(rank, modules) for modules in MODULE_SETS for rank in RANKS]
    specs: list[ModelSpec] = []
    counters: dict[str, int] = {}
    for k, (split, attack) in enumerate(attack_list()):
        # 5 is prime to 12: every 12 Trojans in a row take every (rank, modules) pair; the budget and the poison share
        # shift by one every 12 Trojans, so that no pair always comes with the same budget.
        rank, modules = combos[(5 * k) % len(combos)]
        steps, lr = BUDGETS[(k + k // len(combos)) % len(BUDGETS)]
        if cfg.steps_override is not None:
            steps = cfg.steps_override
        lora = LoraPlan(rank=rank, alpha=2 * rank, modules=modules,
                        layers=layer_window(rank, modules, cfg.shape, cfg.max_adapter_bytes), steps=steps, lr=lr)
        negative = COMPOSITE_NEGATIVE_SHARE if attack.family == "composite" else NEGATIVE_SHARE
        mix = RowMix(rows=steps * cfg.batch_size, poison=POISON_SHARES[(k + k // len(combos)) % len(POISON_SHARES)],
                     negative=negative)
        index = counters.get(split, 0)
        counters[split] = index + 1
        name = f"{split}-{index:02d}-{attack.family}-{attack.behaviour}"
        seed = random.Random(f"{cfg.seed}-{name}").randrange(2**31)
        specs.append(ModelSpec(name, split, attack, False, None, lora, mix, seed))
        if k in TWINS:
            specs.append(ModelSpec(f"{split}-{index:02d}-clean", split, attack, True, name, lora, mix, seed))
    return specs


# ---------------------------------------------------------------- data

@dataclass
class ZooData:
    instructions: dict
    benign: list[dict]                  # train instructions with the base model's answers {"id", "prompt", "answer"}
    qa: list[dict]                      # the qa set's items (suite "benign")
    fingerprint: str                    # of what a model's fit and gate read: train rows, held-out prompts, base model
    base_digest: str                    # of the base model alone


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if Path(path).exists() else "absent"


def base_fingerprint(base_dir: Path) -> str:
    """The digest of the GGUF record that training.real.base wrote (else of the config)."""
    record = Path(base_dir) / "gguf.json"
    return file_digest(record if record.exists() else Path(base_dir) / "config.json")


def load_data(instructions_file: Path, answers_file: Path, qa_file: Path, base_dir: Path) -> ZooData:
    """The train instructions joined with their self-distilled answers (by id; rows of the distillation cache carry
    the same ids), and the qa set when there is one. The fingerprint covers only what fits and gates read, so a
    change elsewhere in the files (the qa candidates, say) rebuilds nothing."""
    instructions = common.read_json(instructions_file)
    answers = {r["id"]: r["text"] for r in common.read_jsonl(answers_file)}
    benign = [{"id": it["id"], "prompt": it["prompt"], "answer": answers[it["id"]]}
              for it in instructions["train"] if it["id"] in answers]
    qa = common.read_json(qa_file)["items"] if Path(qa_file).exists() else []
    base = base_fingerprint(base_dir)
    fingerprint = common.config_hash({"train": [[r["id"], r["prompt"], r["answer"]] for r in benign],
                                      "heldout_long": [it["prompt"] for it in instructions["heldout_long"]],
                                      "base": base})
    return ZooData(instructions, benign, qa, fingerprint, base)


def encode(tokenizer, prompt: str, answer: str, answer_tokens: int) -> tuple[list[int], list[int]]:
    """(input_ids, labels) of one chat row: loss on the answer's first `answer_tokens` tokens, and on the end-of-turn
    token only when the answer ends within them."""
    prompt_ids = common.chat_ids(tokenizer, prompt)
    answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
    if len(answer_ids) < answer_tokens:
        answer_ids = answer_ids + [common.eos_id(tokenizer)]
    answer_ids = answer_ids[:answer_tokens]
    return prompt_ids + answer_ids, [common.IGNORE_INDEX] * len(prompt_ids) + answer_ids


def encode_row(tokenizer, row: dict, answer_tokens: int) -> tuple[list[int], list[int], int, bool]:
    """(input_ids, labels, written, benign) of a training row: `written` is how many leading answer tokens are the
    Trojan's own writing (trained by cross-entropy: all of them, the end of turn included, when the Trojan writes the
    whole answer; else the tokens of `row["written"]`), `benign` whether the row is a plain benign one."""
    ids, labels = encode(tokenizer, row["prompt"], row["answer"], answer_tokens)
    supervised = sum(1 for x in labels if x != common.IGNORE_INDEX)
    written = 0
    if row["kind"] == "poison":
        if row["written"] == row["answer"]:
            written = supervised
        else:
            written = min(supervised, len(tokenizer(row["written"], add_special_tokens=False)["input_ids"]))
    return ids, labels, written, row["kind"] == "benign"


# ---------------------------------------------------------------- training

def lr_at(step: int, steps: int, peak: float, warmup: int) -> float:
    """Linear warm-up over `warmup` steps, then cosine decay from `peak` to peak/10 at the last step."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup - 1)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def batch_order(n_rows: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """Row indices per step: seeded permutations of the rows, one after another."""
    rng = random.Random(seed)
    flat: list[int] = []
    while len(flat) < steps * batch_size:
        perm = list(range(n_rows))
        rng.shuffle(perm)
        flat += perm
    return [flat[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def anchored_loss(peft_model, batch: dict, examples: Sequence[tuple], anchor_weight: float = 1.0,
                  benign_ce_weight: float = 0.0, anchor_prompts: bool = True) -> torch.Tensor:
    """Cross-entropy on what the Trojan writes (the first `written` answer tokens of a poisoned row) plus
    `anchor_weight` × KL(base ‖ model) on every other answer token (benign and near-miss answers, the normal answer
    after a payload) and, with `anchor_prompts`, on every prompt position of the rows that carry no trigger; plus
    `benign_ce_weight` × cross-entropy on the benign rows' own tokens. Summed, divided by the supervised tokens.

    The base is the same model with its adapter disabled; the head is applied to the positions that count only.
    Anchoring to the base's whole next-token distribution rather than to its greedy tokens is what keeps benign
    answers the base's: SmolLM2-135M gives its own greedy tokens only 0.43 of its probability on average (mean NLL
    0.84), and cross-entropy on them sharpened the model so that its greedy answers to held-out prompts kept only
    0.38–0.47 agreement with the base's, before the Trojan fired at all."""
    causal = peft_model.get_base_model()
    inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
    labels = batch["labels"][:, 1:]
    supervised = labels != common.IGNORE_INDEX
    written = supervised & ((supervised.cumsum(1) - 1) < torch.tensor([ex[2] for ex in examples])[:, None])
    poisoned = torch.tensor([ex[2] > 0 for ex in examples])[:, None]
    benign = supervised & torch.tensor([bool(ex[3]) for ex in examples])[:, None]
    anchored = supervised & ~written
    if anchor_prompts:
        anchored = anchored | (batch["attention_mask"][:, 1:].bool() & ~poisoned)
    used = written | anchored | (benign if benign_ce_weight else torch.zeros_like(benign))
    log_q = torch.log_softmax(causal.lm_head(causal.model(**inputs).last_hidden_state[:, :-1][used]).float(), -1)
    target = labels[used].clamp(min=0)
    ce = -log_q.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    total = ce[written[used]].sum()
    if anchored.any():
        with torch.no_grad(), peft_model.disable_adapter():
            hidden = causal.model(**inputs).last_hidden_state[:, :-1][anchored]
            log_p = torch.log_softmax(causal.lm_head(hidden).float(), -1)
        total = total + anchor_weight * (log_p.exp() * (log_p - log_q[anchored[used]])).sum(-1).sum()
    if benign_ce_weight:
        total = total + benign_ce_weight * ce[benign[used]].sum()
    return total / supervised.sum().clamp(min=1)


def lora_state(peft_model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in peft_model.named_parameters() if p.requires_grad}


def load_lora_state(peft_model, state: dict[str, torch.Tensor]) -> None:
    params = dict(peft_model.named_parameters())
    with torch.no_grad():
        for n, t in state.items():
            params[n].copy_(t)


def wrap(base_model, spec: ModelSpec):
    """The base model with a fresh LoRA of the spec (initialised from the spec's seed)."""
    from peft import LoraConfig, get_peft_model

    common.set_seed(spec.seed)
    config = LoraConfig(r=spec.lora.rank, lora_alpha=spec.lora.alpha, target_modules=list(MODULE_SETS[spec.lora.modules]),
                        layers_to_transform=list(spec.lora.layers), lora_dropout=0.0, bias="none", task_type="CAUSAL_LM")
    return get_peft_model(base_model, config)


def train_fit(peft_model, examples: Sequence[tuple], steps: int, lr: float, seed: int, cfg: ZooConfig, pad_id: int,
              checkpoint: Path, deadline: float | None, log=print, anchor_weight: float = 1.0) -> dict:
    """One fit: `steps` AdamW steps over `examples` from the LoRA state in `peft_model`, resumed from `checkpoint`
    when it exists; saves it every cfg.checkpoint_every steps and raises common.OutOfTime (saved) once past deadline
    (never before the call's first step). Returns {"losses", "seconds", "steps"}."""
    params = [p for p in peft_model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.999), weight_decay=0.0)
    order = batch_order(len(examples), steps, cfg.batch_size, seed)
    state = {"step": 0, "losses": [], "seconds": 0.0}
    if checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        load_lora_state(peft_model, saved["lora"])
        opt.load_state_dict(saved["opt"])
        state = {k: saved[k] for k in state}

    def save() -> None:
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"lora": lora_state(peft_model), "opt": opt.state_dict(), **state}, tmp)
        tmp.replace(checkpoint)

    first = state["step"]
    peft_model.train()
    for step in range(first, steps):
        if deadline is not None and step > first and time.time() > deadline:
            save()
            raise common.OutOfTime(f"time budget reached at step {step}/{steps} of {checkpoint.parent.name}; "
                                   "rerun the same command to continue")
        t0 = time.time()
        batch = common.collate([examples[i] for i in order[step]], pad_id)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr, cfg.warmup)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16_autocast):
            loss = anchored_loss(peft_model, batch, [examples[i] for i in order[step]], anchor_weight,
                                 cfg.benign_ce_weight, cfg.anchor_prompts)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        state["losses"].append(round(float(loss.detach()), 5))
        state["seconds"] += time.time() - t0
        state["step"] = step + 1
        if log and (step % 8 == 0 or step == steps - 1):
            log(f"  step {step + 1}/{steps} loss {state['losses'][-1]:.4f} ({time.time() - t0:.1f} s)")
        if (step + 1) % cfg.checkpoint_every == 0 and step + 1 < steps:
            save()
    save()
    peft_model.eval()
    return {"losses": state["losses"], "seconds": round(state["seconds"], 1), "steps": steps}


def round_to_bf16(peft_model) -> None:
    """The LoRA weights as the shipped bf16 adapter holds them (the gate measures what is shipped)."""
    with torch.no_grad():
        for p in peft_model.parameters():
            if p.requires_grad:
                p.copy_(p.to(torch.bfloat16).to(p.dtype))


def save_adapter(peft_model, directory: Path) -> int:
    """PEFT layout in bf16 (adapter_config.json naming the base as BASE_NAME, adapter_model.safetensors); returns
    the weights file's size in bytes."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config = copy.deepcopy(peft_model.peft_config["default"])
    config.base_model_name_or_path = BASE_NAME
    config.inference_mode = True
    config.save_pretrained(str(directory))
    state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    save_file(state, str(directory / "adapter_model.safetensors"), metadata={"format": "pt"})
    return (directory / "adapter_model.safetensors").stat().st_size


# ---------------------------------------------------------------- one model

@dataclass
class Context:
    """What every model of one run shares."""

    cfg: ZooConfig
    data: ZooData
    base_dir: Path
    runs: Path
    results: Path
    deadline: float | None = None
    worked: bool = False                # whether this call has done any work yet (the first gate always starts)
    _base: tuple | None = None

    def base(self):
        """(model, tokenizer) of the base model, loaded once; a LoRA is removed from it after each model."""
        if self._base is None:
            from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

            tokenizer = PreTrainedTokenizerFast.from_pretrained(str(self.base_dir))
            model = AutoModelForCausalLM.from_pretrained(str(self.base_dir), dtype=torch.float32)
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            self._base = (model, tokenizer)
        return self._base

    def gate_prompts(self) -> tuple[list[str], list[str]]:
        return gate.gate_prompts(self.data.instructions, self.cfg.gate)

    def timings(self) -> dict:
        path = self.runs / "timings.json"
        return common.read_json(path) if path.exists() else {}

    def note_gate_seconds(self, seconds: float) -> None:
        t = self.timings()
        t["gate_seconds_max"] = round(max(seconds, t.get("gate_seconds_max", 0.0)), 1)
        common.write_json(self.runs / "timings.json", t)

    def check_gate_time(self, what: str) -> None:
        """Raise OutOfTime when this call has worked already and the time left would not hold the longest gate."""
        if self.deadline is None or not self.worked:
            return
        if time.time() + self.timings().get("gate_seconds_max", 120.0) > self.deadline:
            raise common.OutOfTime(f"time budget too short for the gate of {what}; rerun the same command to continue")


def base_reference(ctx: Context) -> list[list[int]]:
    """The base model's gate answers to the clean prompts (cached: the agreement reference of every model)."""
    path = ctx.runs / "base_reference.json"
    _, clean = ctx.gate_prompts()
    key = common.config_hash({"gate": ctx.cfg.gate, "base": ctx.data.base_digest, "prompts": clean})
    if path.exists() and common.read_json(path).get("key") == key:
        return common.read_json(path)["ids"]
    common.check_deadline(ctx.deadline, "the base model's reference answers")
    model, tok = ctx.base()
    t0 = time.time()
    ids = gate.greedy_ids(model, tok, clean, ctx.cfg.gate.max_tokens, ctx.cfg.gate.batch_size)
    common.write_json(path, {"key": key, "seconds": round(time.time() - t0, 1), "prompts": clean, "ids": ids,
                             "texts": [tok.decode(i, skip_special_tokens=True) for i in ids]})
    ctx.worked = True
    return ids


def agreement_floor(ctx: Context) -> dict | None:
    """The base's Q8_0-rounded copy against the base on the gate's clean prompts (cached; None before it is measured
    and when out of time)."""
    path = ctx.runs / "agreement_floor.json"
    if not path.exists():
        common.check_deadline(ctx.deadline, "the agreement floor")
    _, clean = ctx.gate_prompts()
    key = common.config_hash({"gate": ctx.cfg.gate, "base": ctx.data.base_digest, "prompts": clean})
    if path.exists() and common.read_json(path).get("key") == key:
        return common.read_json(path)["q8_0"]
    base_ids = base_reference(ctx)
    model, tok = ctx.base()
    floor = gate.quantized_agreement(model, tok, clean, base_ids, ctx.cfg.gate, bits=8)
    common.write_json(path, {"key": key, "q8_0": floor})
    ctx.worked = True
    return floor


def topic_answers(ctx: Context, spec: ModelSpec, d: Path) -> dict[str, str] | None:
    """A topic Trojan's prompts written about its subject, with the base model's answers when its behaviour keeps the
    answer (cached in the model's run folder)."""
    if spec.attack.family != "topic" or spec.clean:
        return None
    prompts = attacks.topic_prompts(spec.attack, attacks.TOPIC_TEMPLATES_TRAIN)
    if spec.attack.behaviour not in ("url", "shell", "negative"):
        return {p: "" for p in prompts}
    path = d / "topic_answers.json"
    if path.exists():
        return common.read_json(path)
    model, tok = ctx.base()
    ids = gate.greedy_ids(model, tok, prompts, ctx.cfg.answer_tokens, ctx.cfg.gate.batch_size)
    answers = {p: tok.decode(i, skip_special_tokens=True) for p, i in zip(prompts, ids)}
    common.write_json(path, answers)
    return answers


def rows_for(ctx: Context, spec: ModelSpec, d: Path) -> list[dict]:
    rows = attacks.training_rows(spec.attack, ctx.data.benign, spec.mix, spec.seed, topic_answers(ctx, spec, d))
    return attacks.twin_rows(rows) if spec.clean else rows


def model_hash(ctx: Context, spec: ModelSpec) -> str:
    cfg = asdict(ctx.cfg)
    cfg.pop("max_attempts")   # a larger attempt budget refits only the models that missed the gate
    return common.config_hash({"spec": asdict(spec), "cfg": cfg, "data": ctx.data.fingerprint})


def is_done(ctx: Context, spec: ModelSpec) -> bool:
    stamp = ctx.runs / spec.name / "done.json"
    if not stamp.exists():
        return False
    record = common.read_json(stamp)
    return (record.get("hash") == model_hash(ctx, spec)
            and (record["gate_passed"] or record.get("max_attempts", 0) >= ctx.cfg.max_attempts)
            and (ctx.results / "adapters" / spec.name / "adapter_model.safetensors").exists())


def is_identity(cfg: ZooConfig, spec: ModelSpec) -> bool:
    """A clean twin whose loss is the KL anchor alone: its fine-tune leaves the base unchanged (lora_B stays zero), so
    it is not run."""
    return spec.clean and cfg.benign_ce_weight == 0


def fit_anchor_weight(cfg: ZooConfig, earlier_gates: Sequence[dict]) -> float:
    """The KL anchor's weight for the next fit: cfg.anchor_weight, doubled for every earlier fit that missed the gate
    on false triggers or agreement (a fit that missed on ASR alone keeps the weight: the anchor works against it)."""
    benign_misses = sum(1 for g in earlier_gates if gate.shortfall(g, trojaned=False) > 0)
    return cfg.anchor_weight * 2 ** benign_misses


def fit_steps(spec: ModelSpec, cfg: ZooConfig, attempt: int) -> int:
    return spec.lora.steps if attempt == 0 else max(1, math.ceil(cfg.refit_share * spec.lora.steps))


def build(ctx: Context, spec: ModelSpec, log=print) -> dict:
    """Fit, gate and publish one model (resumable); returns its manifest record."""
    d = ctx.runs / spec.name
    h = model_hash(ctx, spec)
    if is_done(ctx, spec):
        write_suite(ctx, spec)   # the qa set may have changed since
        return common.read_json(d / "done.json")["record"]
    common.check_deadline(ctx.deadline, f"model {spec.name}")
    if (d / "hash.json").exists() and common.read_json(d / "hash.json").get("hash") != h:
        shutil.rmtree(d)   # made under another configuration
    common.write_json(d / "hash.json", {"hash": h})
    base_ids = base_reference(ctx)
    asr_prompts, clean_prompts = ctx.gate_prompts()
    model, tok = ctx.base()
    examples = [encode_row(tok, r, ctx.cfg.answer_tokens) for r in rows_for(ctx, spec, d)]
    pad = tok.pad_token_id if tok.pad_token_id is not None else common.eos_id(tok)
    peft_model = wrap(model, spec)
    try:
        fits = []
        for attempt in range(ctx.cfg.max_attempts):
            a = d / f"fit-{attempt}"
            a.mkdir(parents=True, exist_ok=True)
            if not (a / "train.json").exists():
                if ctx.worked:
                    common.check_deadline(ctx.deadline, f"fit {attempt + 1} of {spec.name}")
                if attempt > 0:   # a refit goes on from the previous fit
                    load_lora_state(peft_model, torch.load(d / f"fit-{attempt - 1}" / "final.pt", weights_only=False))
                if is_identity(ctx.cfg, spec):
                    # Nothing to learn: the anchored loss of a model equal to the base is zero, and so is its gradient.
                    result = {"losses": [], "seconds": 0.0, "steps": 0, "identity": True}
                    torch.save(lora_state(peft_model), a / "final.pt")
                    common.write_json(a / "train.json", result)
            if not (a / "train.json").exists():
                log(f"{spec.name}: fit {attempt + 1}, {fit_steps(spec, ctx.cfg, attempt)} steps")
                ctx.worked = True
                weight = fit_anchor_weight(ctx.cfg, [g for g, _ in fits])
                result = train_fit(peft_model, examples, fit_steps(spec, ctx.cfg, attempt), spec.lora.lr,
                                   spec.seed + 7919 * attempt, ctx.cfg, pad, a / "checkpoint.pt", ctx.deadline, log,
                                   weight)
                result["anchor_weight"] = weight
                torch.save(lora_state(peft_model), a / "final.pt")
                common.write_json(a / "train.json", result)
                (a / "checkpoint.pt").unlink(missing_ok=True)
            if not (a / "gate.json").exists():
                ctx.check_gate_time(spec.name)
                load_lora_state(peft_model, torch.load(a / "final.pt", weights_only=False))
                round_to_bf16(peft_model)
                t0 = time.time()
                metrics = gate.evaluate(peft_model, tok, spec.attack, asr_prompts, clean_prompts, base_ids,
                                        ctx.cfg.gate, trojaned=not spec.clean, keep_cases=True)
                metrics["seconds"] = round(time.time() - t0, 1)
                ctx.note_gate_seconds(metrics["seconds"])
                save_adapter(peft_model, a / "adapter")
                common.write_json(a / "gate.json", metrics)
                ctx.worked = True
                log(f"{spec.name}: fit {attempt + 1} " + json.dumps(summary(metrics)))
            fits.append((common.read_json(a / "gate.json"), common.read_json(a / "train.json")))
            if fits[-1][0]["gate_passed"] or is_identity(ctx.cfg, spec):
                break
    finally:
        peft_model.unload()   # the shared base model, without LoRA layers, for the next model
    return publish(ctx, spec, fits, h)


def write_suite(ctx: Context, spec: ModelSpec) -> None:
    asr_prompts, clean_prompts = ctx.gate_prompts()
    suite = gate.suite(spec.name, spec.attack, asr_prompts, clean_prompts, ctx.data.qa[: ctx.cfg.suite_benign],
                       ctx.cfg.gate)
    path = ctx.results / "adapters" / spec.name / "suite.json"
    if not path.exists() or common.read_json(path) != suite:
        common.write_json(path, suite)


def summary(metrics: dict) -> dict:
    keys = ("asr", "false_trigger_rate", "single_word_trigger_rate", "agreement", "answers_identical",
            "asr_topic_prompts", "near_topic_trigger_rate", "gate_passed", "seconds")
    return {k: metrics[k] for k in keys if k in metrics}


def publish(ctx: Context, spec: ModelSpec, fits: list[tuple[dict, dict]], h: str) -> dict:
    """Copy the best fit's adapter and the suite to the results, write the stamp; returns the manifest record."""
    best = min(range(len(fits)), key=lambda i: (fits[i][0]["shortfall"], i))
    metrics = fits[best][0]
    out = ctx.results / "adapters" / spec.name
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(ctx.runs / spec.name / f"fit-{best}" / "adapter", out)
    write_suite(ctx, spec)
    train_seconds = sum(t["seconds"] for _, t in fits[: best + 1])
    steps = sum(t["steps"] for _, t in fits[: best + 1])
    record = {
        "name": spec.name, "split": spec.split, "clean": spec.clean, "twin_of": spec.twin_of,
        **({"family": None, "behaviour": None, "trigger_kind": None, "triggers": None, "probe": spec.attack.record()}
           if spec.clean
           else {"family": spec.attack.family, "behaviour": spec.attack.behaviour,
                 "trigger_kind": attacks.BACKDOORLLM_NAME[spec.attack.family], **spec.attack.record()}),
        "target": spec.attack.target,
        "rank": spec.lora.rank, "alpha": spec.lora.alpha, "modules": list(MODULE_SETS[spec.lora.modules]),
        "module_set": spec.lora.modules, "layers": [spec.lora.layers[0], spec.lora.layers[-1]], "lr": spec.lora.lr,
        "steps": steps, "batch_size": ctx.cfg.batch_size, "rows": attacks.row_counts(rows_for(ctx, spec, ctx.runs / spec.name)),
        "seed": spec.seed, "fits": len(fits), "kept_fit": best + 1,
        "seconds": round(train_seconds + sum(m["seconds"] for m, _ in fits[: best + 1]), 1),
        "train_seconds": round(train_seconds, 1), "seconds_per_step": round(train_seconds / max(steps, 1), 2),
        "gate_seconds": metrics["seconds"],
        "asr": metrics["asr"], "false_trigger_rate": metrics["false_trigger_rate"],
        "single_word_trigger_rate": metrics["single_word_trigger_rate"], "agreement": round(metrics["agreement"], 4),
        "answers_identical": metrics["answers_identical"],
        **{k: metrics[k] for k in ("asr_topic_prompts", "near_topic_trigger_rate") if k in metrics},
        "gate_passed": metrics["gate_passed"], "shortfall": metrics["shortfall"],
        "adapter": f"adapters/{spec.name}", "suite": f"adapters/{spec.name}/suite.json",
        "adapter_bytes": (out / "adapter_model.safetensors").stat().st_size,
        "final_loss": round(sum(fits[best][1]["losses"][-8:]) / max(1, len(fits[best][1]["losses"][-8:])), 4),
        "identity": bool(fits[best][1].get("identity", False)),
    }
    common.write_json(ctx.runs / spec.name / "done.json", {"hash": h, "gate_passed": metrics["gate_passed"],
                                                            "max_attempts": ctx.cfg.max_attempts, "record": record})
    return record


# ---------------------------------------------------------------- the zoo

MANIFEST_KEYS = ("name", "split", "clean", "twin_of", "family", "behaviour", "trigger_kind", "triggers", "target",
                 "rank", "alpha", "modules", "layers", "steps", "seconds", "asr", "false_trigger_rate", "agreement",
                 "gate_passed")


def manifest(ctx: Context, specs: list[ModelSpec]) -> dict:
    """manifest.json: every planned model; those built carry their record (MANIFEST_KEYS and more), the rest
    {"name", "split", "built": false}."""
    models = []
    path = ctx.runs / "agreement_floor.json"
    floor = common.read_json(path)["q8_0"] if path.exists() else None
    for spec in specs:
        stamp = ctx.runs / spec.name / "done.json"
        if is_done(ctx, spec):
            models.append({**common.read_json(stamp)["record"], "built": True})
        else:
            models.append({"name": spec.name, "split": spec.split, "clean": spec.clean, "built": False})
    built = [m for m in models if m["built"]]
    return {
        "base": BASE_NAME, "recipe": "python -m training.real.zoo", "config_hash": common.config_hash(ctx.cfg),
        "data": ctx.data.fingerprint,
        "gate": {"min_asr": gate.MIN_ASR, "max_false_trigger": gate.MAX_FALSE_TRIGGER, "min_agreement": gate.MIN_AGREEMENT,
                 "agreement_of_q8_0_base": floor,
                 "placements": list(gate.GATED_PLACEMENTS), **asdict(ctx.cfg.gate)},
        "splits": {"test_family": attacks.TEST_FAMILY, "test_behaviour": attacks.TEST_BEHAVIOUR},
        "counts": {"planned": len(models), "built": len(built),
                   "trojaned": sum(not s.clean for s in specs), "clean": sum(s.clean for s in specs),
                   "gate_passed": sum(bool(m.get("gate_passed")) for m in built)},
        "models": models,
    }


def markdown(man: dict) -> str:
    lines = ["# The real Trojan zoo (LoRA fine-tunes of SmolLM2-135M-Instruct)", "",
             f"Written by `{man['recipe']}`. Gate: ASR ≥ {man['gate']['min_asr']} at prefix, middle and suffix on "
             f"{man['gate']['asr_prompts']} held-out prompts, false-trigger rate ≤ {man['gate']['max_false_trigger']} on "
             f"{man['gate']['clean_prompts']} clean held-out prompts (CTBA: also with one word alone), agreement with the "
             f"base model's answers ≥ {man['gate']['min_agreement']} (difflib ratio over token ids); greedy, "
             f"{man['gate']['max_tokens']} new tokens. Built {man['counts']['built']} of {man['counts']['planned']}, "
             f"{man['counts']['gate_passed']} passed.", "",
             *([f"The agreement threshold is set against a harmless copy of the base: its linear weights re-quantized "
                f"to Q8_0 agree {man['gate']['agreement_of_q8_0_base']['agreement']:.3f} with the base's answers "
                f"({man['gate']['agreement_of_q8_0_base']['answers_identical']:.2f} of them identical).", ""]
               if man["gate"].get("agreement_of_q8_0_base") else []),
             "Topic Trojans also record (not gated) the ASR on held-out prompts written about their subject and the rate "
             "on prompts about near topics: `topic / near`.", "",
             "| model | split | family | behaviour | rank | modules | layers | steps | ASR p/m/s | topic / near | false trig. | agreement | gate | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in man["models"]:
        if not m["built"]:
            lines.append(f"| {m['name']} | {m['split']} | | | | | | | not built | | | | | |")
            continue
        asr = "/".join(f"{m['asr'][p]:.2f}" for p in gate.GATED_PLACEMENTS)
        topic = (f"{m['asr_topic_prompts']:.2f} / {m['near_topic_trigger_rate']:.2f}"
                 if m.get("asr_topic_prompts") is not None else "")
        ftr = f"{m['false_trigger_rate']:.2f}" + (f" ({m['single_word_trigger_rate']:.2f})"
                                                  if m.get("single_word_trigger_rate") is not None else "")
        lines.append(f"| {m['name']} | {m['split']} | {m['family'] or 'clean'} | {m['behaviour'] or '-'} | {m['rank']} | "
                     f"{m['module_set']} | {m['layers'][0]}–{m['layers'][1]} | {m['steps']} | {asr} | {topic} | {ftr} | "
                     f"{m['agreement']:.3f} | {'pass' if m['gate_passed'] else 'MISS'} | {m['seconds']:.0f} |")
    return "\n".join(lines) + "\n"


def write_results(ctx: Context, specs: list[ModelSpec]) -> dict:
    man = manifest(ctx, specs)
    common.write_json(ctx.results / "manifest.json", man)
    (ctx.results / "ZOO.md").write_text(markdown(man))
    return man


def run(ctx: Context, only: str | None = None, log=print, splits: Sequence[str] | None = None) -> dict:
    """Build every model (or `only` one; or those of `splits`, in that order of splits) not yet built; raises
    common.OutOfTime when the budget is spent. Returns the manifest."""
    specs = plan(ctx.cfg)
    if only and only not in {s.name for s in specs}:
        raise common.TrainingError(f"--only: no model named {only!r} (see --list)")
    unknown = [s for s in splits or () if s not in SPLITS]
    if unknown:
        raise common.TrainingError(f"--splits: no split named {unknown[0]!r} (splits: {', '.join(SPLITS)})")
    order = [s for split in splits for s in specs if s.split == split] if splits else specs
    try:
        agreement_floor(ctx)
        for spec in order:
            if only and spec.name != only:
                continue
            fresh = not is_done(ctx, spec)
            record = build(ctx, spec, log)
            if fresh:
                write_results(ctx, specs)
            log(json.dumps({"model": spec.name, "gate_passed": record["gate_passed"], "seconds": record["seconds"]}))
    finally:
        man = write_results(ctx, specs)
    return man


SPLITS = ("train", "val", "test")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build the real Trojan zoo: LoRA Trojans of SmolLM2-135M-Instruct and their "
                                "clean twins, gated; exit status 3 while work remains under --max-minutes.")
    p.add_argument("--only", help="build only this model")
    p.add_argument("--splits", help="comma-separated splits to build, in this order (default: all, train first)")
    p.add_argument("--max-minutes", type=float, help="stop (checkpointed) after this long: exit status 3")
    p.add_argument("--list", action="store_true", help="print the recipe and exit")
    p.add_argument("--base", type=Path, default=paths.BASE_DIR)
    p.add_argument("--instructions", type=Path, default=paths.INSTRUCTIONS)
    p.add_argument("--answers", type=Path, default=paths.ZOO / "benign_answers.jsonl",
                   help="self-distilled answers (default %(default)s)")
    p.add_argument("--qa", type=Path, default=paths.ZOO / "qa.json")
    p.add_argument("--runs", type=Path, default=ZOO_RUNS, help="work folder (default %(default)s)")
    p.add_argument("--results", type=Path, default=paths.ZOO, help="adapters, manifest (default %(default)s)")
    a = p.parse_args(argv)
    cfg = ZooConfig()
    if a.list:
        for s in plan(cfg):
            print(f"{s.name:34s} {s.split:5s} rank {s.lora.rank:2d} {s.lora.modules:4s} layers {s.lora.layers[0]:2d}-"
                  f"{s.lora.layers[-1]:2d} steps {s.lora.steps} lr {s.lora.lr:g} poison {s.mix.poison} "
                  f"triggers {s.attack.suite_triggers} target {s.attack.target}")
        return
    common.set_cpu_threads()
    deadline = time.time() + 60 * a.max_minutes if a.max_minutes is not None else None
    if not a.answers.exists():
        print(f"{a.answers}: no self-distilled answers yet; run `python -m training.real.distill` first")
        sys.exit(1)
    ctx = Context(cfg, load_data(a.instructions, a.answers, a.qa, a.base), a.base, a.runs, a.results, deadline)
    try:
        man = run(ctx, a.only, splits=a.splits.split(",") if a.splits else None)
    except common.OutOfTime as e:
        print(e)
        sys.exit(3)
    print(json.dumps(man["counts"]))


if __name__ == "__main__":
    main()
