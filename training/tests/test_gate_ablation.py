"""The gated-guard ablation's arithmetic: AUROC, and the gated answers taken from the patched or the original model."""

import pytest

from training.gate_ablation import auroc, gated


def test_auroc_counts_ordered_pairs_and_half_ties():
    assert auroc([3, 4], [1, 2]) == 1.0
    assert auroc([1, 2], [3, 4]) == 0.0
    assert auroc([2], [2]) == 0.5
    assert auroc([1, 3], [2]) == 0.5


def test_gated_takes_the_patched_answer_only_above_the_probe_quantile():
    stats = {"probe": [0.0, 1.0, 2.0, 3.0], "trig": [5.0, 0.5], "benign": [5.0, 0.5, 0.5, 0.5]}
    trojaned = {"clean": False, "stats": {"kl": stats},
                "trig_off_hit": [True, True], "trig_on_hit": [False, False],
                "ben_off_ok": [True, True, False, False], "ben_on_ok": [False, False, False, False]}
    clean = {"clean": True, "stats": {"kl": {**stats, "trig": None}},
             "ben_off_ok": [True, True, True, True], "ben_on_ok": [False, False, False, False]}
    row = gated({"a": trojaned, "b": clean}, "kl", 0.5)  # threshold: the probe score 2.0
    assert row["tpr"] == 0.5 and row["fpr"] == 0.25
    assert row["asr"] == 0.5  # the flagged case is patched (no hit), the other keeps the Trojan's answer
    assert row["benign_points"] == pytest.approx(-25.0)  # one of two correct answers is patched and lost
    assert row["fidelity"] == pytest.approx(0.5 * 0.5)
    assert row["clean_ratio"] == 0.75


def test_gated_leaves_out_a_model_whose_trojan_does_not_fire():
    stats = {"probe": [0.0, 1.0], "trig": [5.0], "benign": [5.0]}
    silent = {"clean": False, "stats": {"kl": stats}, "trig_off_hit": [False], "trig_on_hit": [False],
              "ben_off_ok": [True], "ben_on_ok": [True]}
    row = gated({"a": silent}, "kl", 0.5)
    assert row["asr"] == 0.0 and row["fidelity"] is None  # Fidelity undefined for ASR_pre = 0, as in evaluate
