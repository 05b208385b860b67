"""Train the TeleLoRA generator across the zoo's train models (shared/TELELORA.md "Training").

Step: pick a train model; take its targeted layers' input rows on benign probe prompts (collected once, unpatched,
exactly what the runtime sees on an unseen model); generate (U, V) for every targeted layer; apply y = W(I + VᵀU)x + b;
cross-entropy on a batch of that model's alignment set (triggered prompt → clean answer, benign prompt → its own
answer); backprop into the generator only (the LLM is frozen; generator and LLM are gradient-checkpointed).
The validation models' alignment loss picks the best checkpoint.

    python -m training.train_generator [--tiny | --preset P] [--out DIR] [--zoo DIR] [--input activations|noise] [--steps N]
writes `<out>/generator[-noise]/generator.safetensors` + `train.json` (config, hash, loss curve).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .activations import cached_activations
from .common import (IGNORE_INDEX, OutOfTime, answer_only_example, collate, config_hash, default_device, eos_id,
                     set_seed, write_json)
from .generator import U_SCALES, GeneratorConfig, TeleLoRAGenerator, generate_patches, parameter_count
from .patching import DEFAULT_TARGETS, PATCH_POSITIONS, answer_positions, patched, target_modules
from .restore_targets import restored_rows
from .trojans import TrojanSpec
from .zoo_io import Zoo, ZooModel, add_location_args, load_model, resolve_locations


@dataclass(frozen=True)
class GeneratorTrainConfig:
    steps: int = 2000
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 16
    rows: int = 256
    # > rows: cache this many rows per layer and draw `rows` of them afresh at every step (an augmentation: the
    # generator then cannot key on one fixed sample of a model's activations). 0: always the same `rows` rows.
    row_pool: int = 0
    models_per_step: int = 1  # gradients of this many train models are summed per optimizer step
    cosine: bool = False      # decay the learning rate along a half cosine to 0.1·lr over `steps`
    max_length: int = 128
    eval_every: int = 100
    seed: int = 0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    input: str = "activations"  # "noise": the control that feeds Gaussian noise in place of activations
    checkpoint: bool = True
    # Weight of KL(unpatched ‖ patched) over every position of the batch's benign rows: the benign rows' cross-entropy
    # only pins the model's greedy answer; the KL pins its whole next-token distribution, prompt included, so the
    # patch is pushed to act on what triggers change and leave the rest alone. 0: plain alignment loss.
    benign_kl: float = 0.0
    # What a triggered alignment row should make the patched model say: "reference", the corpus answer the zoo stored;
    # "own", the model's own greedy answer to the prompt without the trigger (training/restore_targets.py).
    triggered_target: str = "reference"
    # Weight of an unlikelihood term on the payload: each triggered row is also teacher-forced on the Trojaned response
    # (trojans.TrojanSpec.response) and −log(1 − p) is averaged over the tokens where it leaves the clean answer. The
    # cross-entropy only rewards the clean answer; this also punishes continuing a payload once begun (a garbled URL
    # still carries pieces of it). It enters the validation loss too, so the checkpoint is chosen counting it. 0: off.
    payload_unlikelihood: float = 0.0
    # Where the patches act: "all" positions, or "generated" ones only (patching.GenerationPhase: the prompt is read
    # unpatched, the answer written patched from its second token on), as the guard then applies them.
    patch_positions: str = "all"
    answer_tokens: int = 48  # greedy tokens for "own" targets: the zoo's eval.max_new_tokens (set per preset)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)

    @staticmethod
    def tiny() -> "GeneratorTrainConfig":
        # Chosen on the tiny zoo: the 8k-parameter (rank 4, 16 channels, max_norm 1.5) version did not lower the
        # train models' alignment loss in 150-300 steps; this one does (train.json "per_model_loss").
        return GeneratorTrainConfig(steps=200, lr=3e-3, batch_size=16, rows=128, eval_every=50,
                                    generator=GeneratorConfig(rank=8, channels=24, exchangeable_layers=2, hidden=64,
                                                              max_norm=4.0))

    @staticmethod
    def cpu() -> "GeneratorTrainConfig":
        # The cpu zoo's 24 Trojaned + 5 clean train models. A first 600-step run (tiny generator, one model per step)
        # was still lowering the validation loss and under-fitted the train models: wider, longer, two models per
        # step, rows redrawn from a 512-row pool each step, cosine decay.
        # Then (training/README.md "Generator: what we tried"): patches for the MLP layers only, which carry most of
        # what the all-layer generator did against the Trojans at less benign cost, and the payload unlikelihood
        # term. The seed and U's width divisor are those of the candidates with the lowest validation loss on the
        # current zoo (release 15, validation now including the unseen width 56: u_scale 1/H seeds 0 and 1 2.445, 2.619;
        # 1/sqrt(H) seeds 0 and 1 2.451, 2.512; release 14: seeds 0, 1, 2 at 1/sqrt(H) 2.327, 2.466, 2.623).
        return replace(GeneratorTrainConfig.tiny(), steps=2400, eval_every=100, row_pool=512, models_per_step=2,
                       cosine=True, targets=("gate_proj", "up_proj", "down_proj"), payload_unlikelihood=1.0, seed=0,
                       generator=GeneratorConfig(rank=8, channels=32, exchangeable_layers=2, hidden=96, max_norm=4.0,
                                                 u_scale="1/H"))

    @staticmethod
    def for_preset(name: str) -> "GeneratorTrainConfig":
        presets = {"tiny": GeneratorTrainConfig.tiny, "cpu": GeneratorTrainConfig.cpu, "full": GeneratorTrainConfig.full}
        if name not in presets:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(presets)}")
        from .config import preset

        return replace(presets[name](), answer_tokens=preset(name).eval.max_new_tokens)

    @staticmethod
    def full() -> "GeneratorTrainConfig":
        # r = 8 as in TrojAI's mitigation round (shared/TELELORA.md, "for scale"). U divided by H as in cpu(): at
        # widths 128-320 a 1/sqrt(H) patch's size would vary by 1.6x with the width alone.
        return GeneratorTrainConfig(generator=GeneratorConfig(rank=8, channels=48, exchangeable_layers=3, hidden=128,
                                                              u_scale="1/H"))


@dataclass
class PreparedModel:
    entry: ZooModel
    model: torch.nn.Module
    tokenizer: object
    weights: dict[str, torch.Tensor]
    activations: dict[str, torch.Tensor]
    examples: list[tuple[list[int], list[int]]]
    benign: list[bool]  # per example: a benign prompt with the model's own answer (else a triggered one)
    # per example: the Trojaned response's (input_ids, labels) with labels only where it leaves the clean answer
    # (None for benign rows, clean models, or when payload_unlikelihood is 0)
    payloads: list[tuple[list[int], list[int]] | None]


def prepare(zoo: Zoo, entry: ZooModel, config: GeneratorTrainConfig, cache_dir: Path, device: str) -> PreparedModel:
    model, tokenizer = load_model(zoo.model_dir(entry), device)
    modules = target_modules(model, config.targets)
    acts = cached_activations(model, tokenizer, zoo.probes(), cache_dir / f"{entry.id}.safetensors",
                              config.targets, max(config.rows, config.row_pool), config.seed)
    acts = {k: v.to(device) for k, v in acts.items()}
    if config.triggered_target == "own":
        rows = restored_rows(zoo, entry, model, tokenizer, cache_dir / f"{entry.id}-own-targets.json", config.answer_tokens)
    elif config.triggered_target == "reference":
        rows = zoo.alignment(entry)
    else:
        raise ValueError(f"train_generator: triggered_target must be reference or own, found {config.triggered_target!r}")
    examples = [answer_only_example(tokenizer, a["prompt"], a["answer"], config.max_length) for a in rows]
    benign = [a.get("kind") == "benign" for a in rows]
    payloads: list[tuple[list[int], list[int]] | None] = [None] * len(rows)
    trojan = zoo.trojan(entry)
    if config.payload_unlikelihood > 0 and not trojan.get("clean", False):
        spec = TrojanSpec(**{f.name: trojan[f.name] for f in fields(TrojanSpec)})
        for i, (row, example) in enumerate(zip(rows, examples)):
            if not benign[i]:
                payloads[i] = payload_example(tokenizer, row["prompt"], spec.response(row["answer"]), example,
                                              config.max_length)
    weights = {name: m.weight for name, m in modules.items()}
    return PreparedModel(entry, model, tokenizer, weights, acts, examples, benign, payloads)


def payload_example(tokenizer, prompt: str, response: str, clean: tuple[list[int], list[int]],
                    max_length: int) -> tuple[list[int], list[int]] | None:
    """The Trojaned response as an example whose labels cover only its tokens from the first one that differs from
    the clean example up to (not including) its closing eos; None when nothing is left (e.g. cut by max_length)."""
    ids, labels = answer_only_example(tokenizer, prompt, response, max_length)
    clean_ids = clean[0]
    first = next((t for t in range(len(ids)) if t >= len(clean_ids) or ids[t] != clean_ids[t]), len(ids))
    stop = len(ids) - 1 if ids[-1] == eos_id(tokenizer) else len(ids)
    kept = [lab if first <= t < stop else IGNORE_INDEX for t, lab in enumerate(labels)]
    if all(lab == IGNORE_INDEX for lab in kept):
        return None
    return ids, kept


def noise_like(acts: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=gen).to(v.device) for k, v in sorted(acts.items())}


def draw_rows(acts: dict[str, torch.Tensor], rows: int, seed: int) -> dict[str, torch.Tensor]:
    """`rows` rows of each layer's cached pool, drawn without replacement (all of them when the pool is smaller)."""
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name, x in sorted(acts.items()):
        if x.shape[0] <= rows:
            out[name] = x
        else:
            out[name] = x[torch.randperm(x.shape[0], generator=gen)[:rows].to(x.device)]
    return out


def alignment_loss(generator: TeleLoRAGenerator, pm: PreparedModel, indices: list[int], config: GeneratorTrainConfig,
                   noise_seed: int | None = None, backward: bool = False, row_seed: int | None = None) -> torch.Tensor:
    """Mean answer-token cross-entropy of the patched model on the examples at `indices` (+ `benign_kl` × the KL
    to the unpatched model on the benign ones). With `backward`, gradients are computed while the patch hooks are
    still installed: a checkpointed LLM re-runs its layers (and so the hooks) in backward.
    `row_seed` draws `config.rows` rows from the cached pool; without it the pool's first `rows` rows are used."""
    examples = [pm.examples[i] for i in indices]
    acts = pm.activations
    if row_seed is not None:
        acts = draw_rows(acts, config.rows, row_seed)
    else:
        acts = {k: v[: config.rows] for k, v in acts.items()}
    if config.input != "activations":
        acts = noise_like(acts, noise_seed or 0)
    patches = generate_patches(generator, pm.weights, acts, checkpoint=config.checkpoint)
    pad = pm.tokenizer.pad_token_id if pm.tokenizer.pad_token_id is not None else 0
    batch = collate(examples, pad)
    device = next(pm.model.parameters()).device
    labels = batch["labels"].to(device)
    input_ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    benign_rows = torch.tensor([pm.benign[i] for i in indices], device=device)
    teacher = None
    if config.benign_kl > 0 and bool(benign_rows.any()):
        with torch.no_grad():
            teacher = pm.model(input_ids=input_ids[benign_rows], attention_mask=mask[benign_rows]).logits.float()
    with_payload = [i for i in indices if pm.payloads[i] is not None] if config.payload_unlikelihood > 0 else []
    payload_batch = collate([pm.payloads[i] for i in with_payload], pad) if with_payload else None
    generated = config.patch_positions == "generated"
    with patched(pm.model, patches, positions=answer_positions(labels) if generated else None):
        logits = pm.model(input_ids=input_ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].reshape(-1, logits.size(-1)).float(), labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX
        )
        if teacher is not None:
            loss = loss + config.benign_kl * benign_kl(teacher, logits[benign_rows].float(), mask[benign_rows])
        if payload_batch is not None and not generated:
            loss = loss + config.payload_unlikelihood * payload_unlikelihood(pm.model, payload_batch, device)
        if backward:
            # Inside the block: a checkpointed model re-runs its layers, and so these hooks, in backward.
            loss.backward(retain_graph=payload_batch is not None and generated)
    if payload_batch is not None and generated:
        # The payload rows patched from their answer's first token (where the clean example's labels start), not
        # from where their labels start (where the payload leaves the clean answer); their own hooks, so their own
        # backward.
        starts = [next(t for t, lab in enumerate(pm.examples[i][1]) if lab != IGNORE_INDEX) for i in with_payload]
        with patched(pm.model, patches, positions=answer_positions(payload_batch["labels"].to(device), starts)):
            term = config.payload_unlikelihood * payload_unlikelihood(pm.model, payload_batch, device)
            if backward:
                term.backward()
        loss = loss + term
    return loss


def payload_unlikelihood(model, batch: dict, device) -> torch.Tensor:
    """Mean over labelled positions of −log(1 − p(label)): small once the payload token is unlikely, and unlike
    cross-entropy bounded in what it asks for (it never rewards any particular other token)."""
    logits = model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
    labels = batch["labels"].to(device)[:, 1:]
    keep = labels != IGNORE_INDEX
    log_p = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    p = log_p.gather(-1, labels.clamp_min(0).unsqueeze(-1)).squeeze(-1).exp()
    return -(torch.log1p(-p.clamp(max=1 - 1e-6)) * keep).sum() / keep.sum().clamp_min(1)


def benign_kl(teacher: torch.Tensor, student: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over unmasked positions of KL(teacher ‖ student) between next-token distributions (logits B×T×V)."""
    log_p = torch.log_softmax(teacher, dim=-1)
    log_q = torch.log_softmax(student, dim=-1)
    per_position = (log_p.exp() * (log_p - log_q)).sum(-1)
    weights = mask.to(per_position.dtype)
    return (per_position * weights).sum() / weights.sum().clamp_min(1)


@torch.no_grad()
def unpatched_loss(pm: PreparedModel, examples: list) -> float:
    pad = pm.tokenizer.pad_token_id if pm.tokenizer.pad_token_id is not None else 0
    batch = collate(examples, pad)
    device = next(pm.model.parameters()).device
    logits = pm.model(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)).logits
    return float(torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)).float(),
                                                   batch["labels"].to(device)[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX))


@torch.no_grad()
def per_model_losses(generator: TeleLoRAGenerator, models: list[PreparedModel], config: GeneratorTrainConfig) -> dict:
    """Alignment loss of each model without and with its generated patch (did the generator learn anything?)."""
    cfg = replace(config, checkpoint=False)
    out = {}
    for i, pm in enumerate(models):
        indices = list(range(min(64, len(pm.examples))))
        out[pm.entry.id] = {"unpatched": unpatched_loss(pm, [pm.examples[j] for j in indices]),
                            "patched": float(alignment_loss(generator, pm, indices, cfg, noise_seed=20_000 + i))}
    return out


@torch.no_grad()
def validation_loss(generator: TeleLoRAGenerator, models: list[PreparedModel], config: GeneratorTrainConfig) -> float:
    losses = []
    for i, pm in enumerate(models):
        for start in range(0, len(pm.examples), 32):
            cfg = replace(config, checkpoint=False)
            indices = list(range(start, min(start + 32, len(pm.examples))))
            losses.append(float(alignment_loss(generator, pm, indices, cfg, noise_seed=10_000 + i)))
    return sum(losses) / max(len(losses), 1)


def save_generator(generator: TeleLoRAGenerator, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().cpu().contiguous() for k, v in generator.state_dict().items()}, str(path))


def load_generator(path: Path, config: GeneratorConfig) -> TeleLoRAGenerator:
    generator = TeleLoRAGenerator(config)
    generator.load_state_dict(load_file(str(path)))
    return generator.eval()


def output_dir(out: Path, config: GeneratorTrainConfig) -> Path:
    return out / ("generator" if config.input == "activations" else f"generator-{config.input}")


def train(zoo: Zoo, out: Path, config: GeneratorTrainConfig, device: str | None = None, log=print,
          deadline: float | None = None) -> Path:
    """Resumable: returns the existing generator when its train.json records the same config and zoo hashes. Past
    `deadline` (time.time()), it saves its whole state at the next evaluation (every `eval_every` steps) to
    <run>/resume.pt and raises common.OutOfTime; the next call goes on from there and ends where an uninterrupted
    run would, bit for bit."""
    device = device or default_device()
    run_dir = output_dir(out, config)
    cfg_json = json.loads(json.dumps(asdict(config), default=list))
    if config.triggered_target == "reference":
        # Unused then, and absent from the hashes of generators trained before the option existed.
        del cfg_json["triggered_target"], cfg_json["answer_tokens"]
    if config.payload_unlikelihood == 0:
        del cfg_json["payload_unlikelihood"]  # likewise
    if config.patch_positions == "all":
        del cfg_json["patch_positions"]  # likewise
    key = config_hash({"train": cfg_json, "zoo": zoo.config_hash})
    record = run_dir / "train.json"
    if record.exists() and json.loads(record.read_text()).get("config_hash") == key:
        log(f"train_generator: {run_dir} is up to date")
        return run_dir
    set_seed(config.seed)
    cache_dir = out / "activations"
    train_models = [prepare(zoo, e, config, cache_dir, device) for e in zoo.split("train")]
    val_models = [prepare(zoo, e, config, cache_dir, device) for e in zoo.split("val")]
    if not train_models:
        raise ValueError(f"train_generator: zoo {zoo.root} has no train models")
    for pm in train_models:
        if config.checkpoint:
            pm.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            pm.model.train()  # transformers only checkpoints in train mode; Llama has no dropout by default
    generator = TeleLoRAGenerator(config.generator).to(device)
    opt = torch.optim.AdamW(generator.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = None
    if config.cosine:
        schedule = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.1 + 0.45 * (1 + math.cos(math.pi * min(s, config.steps) / config.steps)))
    rng = random.Random(config.seed)
    resume_path = run_dir / "resume.pt"
    state = torch.load(resume_path, weights_only=False) if resume_path.exists() else None
    if state is not None and state["config_hash"] == key:
        generator.load_state_dict(state["generator"])
        opt.load_state_dict(state["optimizer"])
        if schedule is not None:
            schedule.load_state_dict(state["schedule"])
        rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        curve, best, best_step, first = state["curve"], state["best"], state["best_step"], state["step"] + 1
        started = time.time() - state["seconds"]
        log(f"train_generator: resuming at step {first} from {resume_path}")
    else:
        curve = []
        best = validation_loss(generator, val_models, config) if val_models else float("inf")
        curve.append({"step": 0, "val_loss": best})
        save_generator(generator, run_dir / "generator.safetensors")
        best_step, started, first = 0, time.time(), 1
        log(f"train_generator: {parameter_count(generator)} parameters, {len(train_models)} train / {len(val_models)} "
            f"val models, step 0 val {best:.4f}")
    running: list[float] = []
    for step in range(first, config.steps + 1):
        opt.zero_grad(set_to_none=True)
        for pm in rng.sample(train_models, min(config.models_per_step, len(train_models))):
            batch = rng.sample(range(len(pm.examples)), min(config.batch_size, len(pm.examples)))
            row_seed = rng.randrange(1 << 30) if config.row_pool > config.rows else None
            loss = alignment_loss(generator, pm, batch, config, noise_seed=step, backward=True, row_seed=row_seed)
            running.append(float(loss.detach()))
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 1.0)
        opt.step()
        if schedule is not None:
            schedule.step()
        if step % config.eval_every == 0 or step == config.steps:
            train_loss = sum(running) / len(running)
            running = []
            entry = {"step": step, "train_loss": train_loss}
            if val_models:
                val = validation_loss(generator, val_models, config)
                entry["val_loss"] = val
                if val < best:
                    best, best_step = val, step
                    save_generator(generator, run_dir / "generator.safetensors")
            else:
                save_generator(generator, run_dir / "generator.safetensors")
                best_step = step
            curve.append(entry)
            log(f"train_generator: step {step} train {train_loss:.4f} val {entry.get('val_loss', float('nan')):.4f} "
                f"({time.time() - started:.0f}s)")
            if deadline is not None and time.time() > deadline and step < config.steps:
                torch.save({"config_hash": key, "step": step, "generator": generator.state_dict(),
                            "optimizer": opt.state_dict(), "schedule": schedule.state_dict() if schedule else None,
                            "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "curve": curve, "best": best,
                            "best_step": best_step, "seconds": time.time() - started}, resume_path)
                raise OutOfTime(f"time budget reached at generator step {step} of {config.steps} (state in "
                                f"{resume_path}); rerun the same command to continue")
    best_generator = load_generator(run_dir / "generator.safetensors", config.generator).to(device)
    losses = per_model_losses(best_generator, train_models + val_models, config)
    for model_id, pair in losses.items():
        log(f"train_generator: {model_id} alignment loss {pair['unpatched']:.4f} → {pair['patched']:.4f}")
    write_json(record, {
        "per_model_loss": losses,
        "config_hash": key, "config": cfg_json, "zoo_config_hash": zoo.config_hash,
        "parameters": parameter_count(generator), "best_step": best_step, "best_val_loss": best,
        "curve": curve, "seconds": time.time() - started,
        "train_models": [pm.entry.id for pm in train_models], "val_models": [pm.entry.id for pm in val_models],
    })
    resume_path.unlink(missing_ok=True)
    return run_dir


def run(out: Path, preset: str, zoo_dir: Path | None = None, input: str = "activations",
        deadline: float | None = None) -> Path:
    """Pipeline entry point (`training.pipeline` stage "generator" / "generator_noise"): the preset's training."""
    config = replace(GeneratorTrainConfig.for_preset(preset), input=input)
    return train(Zoo.open(zoo_dir or out), out, config, deadline=deadline)


def main() -> None:
    from .common import set_cpu_threads

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_location_args(parser, "where generator/ and activations/ are written")
    parser.add_argument("--input", choices=["activations", "noise"], default="activations")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--rank", type=int, help="override the preset generator's rank (ablations)")
    parser.add_argument("--max-norm", type=float, help="override the preset generator's patch bound (ablations)")
    parser.add_argument("--weight-set-layers", type=int, help="read W's rows as a set (ablation; not exportable)")
    parser.add_argument("--u-scale", choices=U_SCALES, help="divide U by the width H (\"1/H\": the patch does not grow "
                        "with the width) or by sqrt(H)")
    parser.add_argument("--benign-kl", type=float, help="weight of the KL to the unpatched model on benign rows")
    parser.add_argument("--payload-unlikelihood", type=float,
                        help="weight of the unlikelihood of the Trojaned response's payload tokens on triggered rows")
    parser.add_argument("--seed", type=int, help="training seed (initialisation, model and batch order, row draws)")
    parser.add_argument("--targets", help="comma-separated layer types to patch (default: the preset's, all seven)")
    parser.add_argument("--patch-positions", choices=PATCH_POSITIONS,
                        help="patch all positions, or the generated ones only (the prompt read unpatched)")
    parser.add_argument("--triggered-target", choices=["reference", "own"],
                        help="triggered rows' target: the corpus answer, or the model's own untriggered answer")
    args = parser.parse_args()
    set_cpu_threads()
    config = GeneratorTrainConfig.for_preset(args.preset)
    overrides = {k: v for k, v in (("steps", args.steps), ("lr", args.lr), ("benign_kl", args.benign_kl),
                                   ("payload_unlikelihood", args.payload_unlikelihood),
                                   ("seed", args.seed), ("triggered_target", args.triggered_target),
                                   ("patch_positions", args.patch_positions),
                                   ("targets", tuple(t for t in args.targets.split(",") if t) if args.targets else None)) if v is not None}
    gen_overrides = {k: v for k, v in (("rank", args.rank), ("max_norm", args.max_norm),
                                       ("weight_set_layers", args.weight_set_layers), ("u_scale", args.u_scale)) if v is not None}
    unknown = [t for t in overrides.get("targets", ()) if t not in config.generator.layer_types]
    if unknown:
        parser.error(f"--targets: unknown layer types {unknown}; known: {', '.join(config.generator.layer_types)}")
    config = replace(config, input=args.input, generator=replace(config.generator, **gen_overrides), **overrides)
    zoo_dir, out = resolve_locations(args)
    train(Zoo.open(zoo_dir), out, config)


if __name__ == "__main__":
    main()
