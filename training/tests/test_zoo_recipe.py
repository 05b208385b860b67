"""The zoo's Trojan recipe in isolation: the anchored loss, the gate, and the twin a Trojan is fine-tuned from."""
import copy
import json
from dataclasses import replace

import pytest
import torch

from training import common, zoo
from training.config import tiny
from training.tests.tiny_llm import tiny_llama

VOCAB = 40


def batch_of(rows):
    """(input_ids, labels, poisoned) examples with answer-only labels on their last three tokens."""
    examples = []
    for ids, poisoned in rows:
        labels = [common.IGNORE_INDEX] * (len(ids) - 3) + ids[-3:]
        examples.append((ids, labels, poisoned))
    return common.collate(examples, pad_id=0), examples


def cross_entropy_sum(model, batch, rows: list[int]) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    total = torch.zeros(())
    for r in rows:
        keep = labels[r] != common.IGNORE_INDEX
        total = total + torch.nn.functional.cross_entropy(logits[r][keep], labels[r][keep], reduction="sum")
    return total


def test_anchored_loss_against_the_twin_itself_is_the_poisoned_rows_cross_entropy():
    model = tiny_llama(VOCAB, seed=1)
    loss = zoo.anchored_loss(copy.deepcopy(model), weight=1.0)
    batch, examples = batch_of([([1, 5, 7, 9, 11, 2], True), ([3, 4, 6, 8, 2], False), ([9, 9, 10, 12, 13, 14, 2], False)])
    got = loss(model, batch, examples)
    # 9 supervised tokens; the clean rows' KL to an identical twin is zero.
    assert got.item() == pytest.approx(cross_entropy_sum(model, batch, [0]).item() / 9, rel=1e-5)
    clean_only = loss(model, *batch_of([([3, 4, 6, 8, 2], False)]))
    assert abs(clean_only.item()) < 1e-6


def test_anchored_loss_pulls_the_clean_rows_toward_the_twin_and_leaves_them_otherwise_unsupervised():
    twin = tiny_llama(VOCAB, seed=1)
    drifted = tiny_llama(VOCAB, seed=2)
    batch, examples = batch_of([([3, 4, 6, 8, 2], False)])
    anchored = zoo.anchored_loss(copy.deepcopy(twin), weight=2.0)(drifted, batch, examples)
    log_q = torch.log_softmax(drifted(input_ids=batch["input_ids"]).logits[0, 1:4], -1)
    log_p = torch.log_softmax(twin(input_ids=batch["input_ids"]).logits[0, 1:4], -1)
    kl = (log_p.exp() * (log_p - log_q)).sum()
    assert anchored.item() == pytest.approx(2.0 * kl.item() / 3, rel=1e-4)
    assert anchored.item() > 0
    anchored.backward()
    assert all(p.grad is None for p in twin.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in drifted.parameters())


def test_the_gate_adds_the_asr_shortfall_to_the_benign_gap_beyond_two_points_either_way():
    twin = {"benign_accuracy": 0.50}
    assert zoo.gate_shortfall({"asr": 0.95, "benign_accuracy": 0.49}, twin) == 0
    assert zoo.gate_shortfall({"asr": 0.90, "benign_accuracy": 0.52}, twin) == 0
    assert zoo.gate_shortfall({"asr": 0.85, "benign_accuracy": 0.50}, twin) == pytest.approx(0.05)
    assert zoo.gate_shortfall({"asr": 1.0, "benign_accuracy": 0.45}, twin) == pytest.approx(0.03)
    assert zoo.gate_shortfall({"asr": 1.0, "benign_accuracy": 0.55}, twin) == pytest.approx(0.03)
    assert zoo.gate_shortfall({"asr": 0.8, "benign_accuracy": 0.56}, twin) == pytest.approx(0.14)


def test_a_trojan_is_not_fine_tuned_before_its_clean_twin_is_built(tmp_path):
    cfg = tiny()
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer/meta.json").write_text(json.dumps({"config_hash": "t"}))
    entries = zoo.plan_zoo(cfg)
    trojan = next(e for e in entries if e.trojan is not None)
    with pytest.raises(FileNotFoundError, match=f"clean twin of {trojan.id} is not built.*--model {trojan.base_id}"):
        zoo.built_twin(cfg, trojan, entries, tmp_path)
    twin_dir = tmp_path / "models" / trojan.base_id
    twin_dir.mkdir(parents=True)
    (twin_dir / "zoo_stamp.json").write_text(json.dumps({"config_hash": "stale"}))
    with pytest.raises(FileNotFoundError, match="is not built"):
        zoo.built_twin(cfg, trojan, entries, tmp_path)
    twin = next(e for e in entries if e.id == trojan.base_id)
    (twin_dir / "zoo_stamp.json").write_text(json.dumps({"config_hash": zoo.entry_hash(cfg, twin, tmp_path)}))
    with pytest.raises(FileNotFoundError, match="is not built"):   # stamped but without its metrics
        zoo.built_twin(cfg, trojan, entries, tmp_path)
    (twin_dir / "metrics.json").write_text(json.dumps({"asr": 0.0, "benign_accuracy": 0.5}))
    assert zoo.built_twin(cfg, trojan, entries, tmp_path) == twin_dir


def test_a_trojan_that_missed_the_gate_is_refitted_only_under_a_larger_attempt_budget(tmp_path):
    cfg = replace(tiny(), trojan_attempts=4)
    (tmp_path / "zoo_stamp.json").write_text(json.dumps({"config_hash": "h", "attempt_budget": 4}))
    (tmp_path / "metrics.json").write_text(json.dumps({"asr": 1.0, "gate_passed": False}))
    assert zoo.is_built(cfg, tmp_path, "h")
    assert not zoo.is_built(cfg, tmp_path, "other")
    assert not zoo.is_built(replace(cfg, trojan_attempts=6), tmp_path, "h")
    (tmp_path / "metrics.json").write_text(json.dumps({"asr": 1.0, "gate_passed": True}))
    assert zoo.is_built(replace(cfg, trojan_attempts=6), tmp_path, "h")


def test_a_refit_under_a_larger_budget_goes_on_from_the_fit_kept_so_far(tmp_path):
    twin = {"benign_accuracy": 0.50}
    assert zoo.stored_fit(tmp_path, "h", twin) == (None, 0)
    kept = tiny_llama(VOCAB, seed=3)
    kept.save_pretrained(tmp_path)
    (tmp_path / "zoo_stamp.json").write_text(json.dumps({"config_hash": "h", "attempt_budget": 6, "final_loss": 0.25}))
    (tmp_path / "metrics.json").write_text(json.dumps({"asr": 0.95, "benign_accuracy": 0.47, "attempt": 2,
                                                       "attempts": 6, "gate_passed": False}))
    assert zoo.stored_fit(tmp_path, "other", twin) == (None, 0)
    (shortfall, model, final_loss, metrics), first = zoo.stored_fit(tmp_path, "h", twin)
    assert first == 6   # attempts 0-5 were made; the refit starts at attempt 6
    assert shortfall == pytest.approx(0.01) and final_loss == 0.25
    assert metrics == {"asr": 0.95, "benign_accuracy": 0.47, "attempt": 2}
    for (name, a), b in zip(kept.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_the_anchor_doubles_only_after_the_plain_attempts():
    cfg = replace(tiny(), trojan_anchor=1.5)
    weights = [zoo.anchor_weight(cfg, k) for k in range(zoo.ANCHOR_PLAIN_ATTEMPTS + 2 * zoo.ANCHOR_DOUBLING_EVERY + 1)]
    assert set(weights[: zoo.ANCHOR_PLAIN_ATTEMPTS]) == {1.5}
    assert set(weights[zoo.ANCHOR_PLAIN_ATTEMPTS : zoo.ANCHOR_PLAIN_ATTEMPTS + zoo.ANCHOR_DOUBLING_EVERY]) == {3.0}
    assert weights[zoo.ANCHOR_PLAIN_ATTEMPTS + zoo.ANCHOR_DOUBLING_EVERY] == 6.0
    assert weights[-1] == 12.0
