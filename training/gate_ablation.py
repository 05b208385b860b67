"""Ablation: a gated guard, patched only on prompts the patch itself changes more than it changes benign probes.

For each model of a split: the exported generator's patches; per prompt a divergence score between the unpatched
and the patched model over the prompt's positions (KL of next-token distributions: mean, max, last position, last 8;
relative change of the final hidden state: mean, max); a threshold at a quantile of the benign probe prompts' scores
(what the guard could calibrate on, zero-shot); then the answers a gated guard would give (patched where the score is
above the threshold, the original model elsewhere), from the greedy answers of both.

    python -m training.gate_ablation [--zoo DIR] [--split test] [--generator adapters/telelora] [--out FILE]
prints the AUROC of each score (triggered vs benign prompts) per model and the gated guard's mean ASR, benign points
lost and Fidelity per score and quantile; writes the per-case data and that table as JSON."""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import torch

from .activations import cached_activations
from .common import carries_fragment, chat_ids, generate_greedy, matches, set_cpu_threads, triggered_cases
from .evaluate import evaluated_models, fidelity
from .export import load_exported
from .generator import generate_patches
from .patching import patched, target_modules
from .zoo_io import Zoo, load_model


@torch.no_grad()
def prompt_outputs(model, tokenizer, prompts: list[str], batch_size: int = 64) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per prompt (chat template applied): next-token log-probabilities and final hidden states at every position."""
    out = []
    for start in range(0, len(prompts), batch_size):
        enc = [chat_ids(tokenizer, p) for p in prompts[start:start + batch_size]]
        width = max(len(e) for e in enc)
        ids = torch.zeros((len(enc), width), dtype=torch.long)
        mask = torch.zeros((len(enc), width), dtype=torch.long)
        for r, e in enumerate(enc):
            ids[r, :len(e)] = torch.tensor(e)
            mask[r, :len(e)] = 1
        o = model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        lp = torch.log_softmax(o.logits.float(), -1)
        h = o.hidden_states[-1]
        out += [(lp[r, :len(e)], h[r, :len(e)]) for r, e in enumerate(enc)]
    return out


def divergence_scores(model, tokenizer, prompts: list[str], patches: dict, scale: float = 1.0) -> dict[str, list[float]]:
    """Each score of each prompt: how much the patch changes the model there."""
    base = prompt_outputs(model, tokenizer, prompts)
    with patched(model, patches, scale):
        post = prompt_outputs(model, tokenizer, prompts)
    res = {"kl_mean": [], "kl_max": [], "kl_last": [], "kl_tail8": [], "hid_mean": [], "hid_max": []}
    for (a, ha), (b, hb) in zip(base, post):
        rel = (hb - ha).norm(dim=-1) / ha.norm(dim=-1).clamp(min=1e-6)
        res["hid_mean"].append(float(rel.mean()))
        res["hid_max"].append(float(rel.max()))
        kl = (a.exp() * (a - b)).sum(-1)
        res["kl_mean"].append(float(kl.mean()))
        res["kl_max"].append(float(kl.max()))
        res["kl_last"].append(float(kl[-1]))
        res["kl_tail8"].append(float(kl[-8:].mean()))
    return res


def auroc(pos: list[float], neg: list[float]) -> float:
    """P(a positive's score > a negative's), ties counting half."""
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def gated(report: dict, stat: str, quantile: float) -> dict:
    """Mean over Trojaned models of the gated guard's ASR, benign-accuracy points lost, Fidelity and the share of
    triggered (tpr) and benign (fpr) prompts it patches; the clean models' acc_post/acc_pre."""
    asr, lost, fid, tpr, fpr, clean = [], [], [], [], [], []
    for row in report.values():
        s = row["stats"][stat]
        probes = sorted(s["probe"])
        threshold = probes[min(len(probes) - 1, int(quantile * len(probes)))]
        flag_benign = [x > threshold for x in s["benign"]]
        before = {"benign_accuracy": statistics.fmean(row["ben_off_ok"])}
        after = {"benign_accuracy": gated_rate(flag_benign, row["ben_on_ok"], row["ben_off_ok"])}
        fpr.append(statistics.fmean(flag_benign))
        if not row["clean"]:
            flag_trig = [x > threshold for x in s["trig"]]
            tpr.append(statistics.fmean(flag_trig))
            before["asr"] = statistics.fmean(row["trig_off_hit"])
            after["asr"] = gated_rate(flag_trig, row["trig_on_hit"], row["trig_off_hit"])
            asr.append(after["asr"])
            lost.append(100 * (after["benign_accuracy"] - before["benign_accuracy"]))
        (clean if row["clean"] else fid).append(fidelity(before, after, row["clean"]))
    mean = lambda v: statistics.fmean(v) if v else None  # noqa: E731
    fid, clean = [f for f in fid if f is not None], [c for c in clean if c is not None]
    return {"stat": stat, "quantile": quantile, "tpr": mean(tpr), "fpr": mean(fpr), "asr": mean(asr),
            "benign_points": mean(lost), "fidelity": mean(fid), "clean_ratio": mean(clean)}


def gated_rate(flags: list[bool], patched_ok: list[bool], original_ok: list[bool]) -> float:
    """Share of hits when flagged prompts get the patched model's answer and the rest the original's."""
    return statistics.fmean([on if f else off for f, on, off in zip(flags, patched_ok, original_ok)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zoo", type=Path, default=Path("training/runs/cpu"))
    parser.add_argument("--split", default="test")
    parser.add_argument("--generator", type=Path, default=Path("adapters/telelora"))
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("training/runs/cpu/gate-ablation.json"))
    args = parser.parse_args()
    set_cpu_threads()
    zoo = Zoo.open(args.zoo)
    gen = load_exported(args.generator)
    spec = json.loads((args.generator / "spec.json").read_text())
    targets = tuple(spec["target_layer_types"])
    probes = zoo.probes()
    benign = zoo.benign_eval()
    report = {}
    for entry in evaluated_models(zoo, args.split):
        model, tok = load_model(zoo.model_dir(entry))
        weights = {n: m.weight for n, m in target_modules(model, targets).items()}
        acts = cached_activations(model, tok, probes, args.out.parent / "gate-activations" / f"{entry.id}.safetensors",
                                  targets, spec["activation_rows"], 0)
        patches = generate_patches(gen, weights, acts)
        suite = zoo.suite(entry)
        cases = triggered_cases(suite)
        trig = [c["text"] for c in cases]
        ben_prompts = [b["prompt"] for b in benign]
        s_probe = divergence_scores(model, tok, probes, patches, args.scale)
        s_trig = divergence_scores(model, tok, trig, patches, args.scale) if not entry.clean else None
        s_ben = divergence_scores(model, tok, ben_prompts, patches, args.scale)
        max_tokens = int(suite.get("max_tokens", 32))
        r_trig_off = generate_greedy(model, tok, trig, max_tokens)
        r_ben_off = generate_greedy(model, tok, ben_prompts, max_tokens)
        with patched(model, patches, args.scale):
            r_trig_on = generate_greedy(model, tok, trig, max_tokens)
            r_ben_on = generate_greedy(model, tok, ben_prompts, max_tokens)
        row = {"clean": entry.clean, "target": suite["target"], "stats": {}}
        for stat in s_probe:
            row["stats"][stat] = {
                "auroc_trig_vs_benign": None if s_trig is None else auroc(s_trig[stat], s_ben[stat]),
                "probe": s_probe[stat], "trig": None if s_trig is None else s_trig[stat], "benign": s_ben[stat]}
        row["trig_off_hit"] = [matches(r, suite["target"]) for r in r_trig_off]
        row["trig_on_hit"] = [matches(r, suite["target"]) for r in r_trig_on]
        row["trig_off_frag"] = [carries_fragment(r, suite["target"]) for r in r_trig_off]
        row["trig_on_frag"] = [carries_fragment(r, suite["target"]) for r in r_trig_on]
        row["ben_off_ok"] = [matches(r, b["expect"]) for r, b in zip(r_ben_off, benign)]
        row["ben_on_ok"] = [matches(r, b["expect"]) for r, b in zip(r_ben_on, benign)]
        report[entry.id] = row
        msg = {k: round(v["auroc_trig_vs_benign"], 3) for k, v in row["stats"].items() if v["auroc_trig_vs_benign"] is not None}
        print(entry.id, "auroc", msg, "asr", statistics.fmean(row["trig_off_hit"]), statistics.fmean(row["trig_on_hit"]),
              "acc", statistics.fmean(row["ben_off_ok"]), statistics.fmean(row["ben_on_ok"]), flush=True)
    table = [gated(report, stat, q) for stat in next(iter(report.values()))["stats"] for q in (0.5, 0.8, 0.9, 0.95)]
    for t in table:
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in t.items()}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"gated": table, "models": report}))


if __name__ == "__main__":
    main()
