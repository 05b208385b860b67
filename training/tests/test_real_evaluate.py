"""The real zoo's evaluation: the cut suite, Fidelity and the paired comparison of the guard with its controls."""
import math

import pytest

from training.real import evaluate


def row(asr, qa, agreement=1.0):
    return {"asr": asr, "benign_accuracy": qa, "payload_fragment_rate": asr, "clean_trigger_rate": 0.0,
            "answer_agreement": agreement, "answers_identical": 1.0, "touch_rate": 0.0, "tokens_touched": 0.0,
            "decode_time_ratio": 1.0}


def record(name, none, guard, controls, clean=False):
    return {"name": name, "split": "test", "clean": clean, "family": None if clean else "topic", "behaviour": None,
            "methods": {"none": none, "guard": guard, **controls}, "calibration": {}}


def test_the_eval_suite_keeps_trigger_and_target_and_cuts_prompts_qa_and_long_prompts():
    suite = {"name": "m", "triggers": ["cf"], "placements": ["prefix", "middle", "suffix"], "target": {"contains": "x"},
             "prompts": [f"p{i}" for i in range(20)], "benign": [{"prompt": f"q{i}", "expect": {}} for i in range(20)],
             "long_prompts": [f"l{i}" for i in range(50)], "max_tokens": 40}
    cfg = evaluate.EvalConfig(prompts=3, qa_items=2, long_prompts=4, max_tokens=16, long_max_tokens=96)
    cut = evaluate.eval_suite(suite, cfg)
    assert cut["prompts"] == ["p0", "p1", "p2"] and [b["prompt"] for b in cut["benign"]] == ["q0", "q1"]
    assert cut["long_prompts"] == ["l0", "l1", "l2", "l3"]
    assert (cut["max_tokens"], cut["long_max_tokens"]) == (16, 96)
    assert {k: cut[k] for k in ("triggers", "placements", "target")} == {k: suite[k] for k in ("triggers", "placements", "target")}


def test_fidelity_is_trojais_with_the_accuracy_ratio_capped_at_one():
    assert evaluate.fidelity(row(1.0, 0.5), row(0.0, 0.5)) == 1.0
    assert evaluate.fidelity(row(0.8, 0.5), row(0.2, 0.25)) == pytest.approx(0.75 * 0.5)
    assert evaluate.fidelity(row(1.0, 0.5), row(0.5, 0.9)) == pytest.approx(0.5)   # better QA does not count above 1
    assert evaluate.fidelity(row(1.0, 0.5), row(1.0, 0.5)) == 0.0
    assert evaluate.fidelity(row(0.0, 0.5), row(0.0, 0.5)) is None                    # nothing to remove
    assert evaluate.fidelity(row(1.0, 0.0), row(0.0, 0.0)) is None


def test_the_guard_beats_a_control_only_by_more_than_two_standard_errors_of_the_paired_difference():
    records = []
    for i, control_asr in enumerate((1.0, 0.9, 1.0, 0.8)):
        records.append(record(f"t{i}", row(1.0, 0.5), row(0.0, 0.5),
                              {c: row(control_asr if c == "noise-inputs" else 0.0, 0.5) for c in evaluate.CONTROLS}))
    records.append(record("twin", row(0.0, 0.5), row(0.0, 0.5, agreement=0.9),
                          {c: row(0.0, 0.5) for c in evaluate.CONTROLS}, clean=True))
    s = evaluate.summarize(records)
    assert (s["trojaned"], s["clean"]) == (4, 1)
    assert s["methods"]["guard"]["fidelity"] == 1.0 and s["methods"]["none"]["fidelity"] == 0.0
    noise = s["guard_vs_controls"]["noise-inputs"]
    diffs = [1.0, 0.9, 1.0, 0.8]
    mean = sum(diffs) / 4
    se = math.sqrt(sum((d - mean) ** 2 for d in diffs) / 3 / 4)
    assert noise["mean"] == pytest.approx(mean) and noise["se"] == pytest.approx(se) and noise["beats_by_two_se"]
    random = s["guard_vs_controls"]["random-same-norm"]
    assert random["mean"] == 0.0 and not random["beats_by_two_se"]      # equal everywhere: no evidence
    assert s["twins"]["guard"]["answer_agreement"] == pytest.approx(0.9)
    text = evaluate.markdown(records, s, evaluate.EvalConfig(), "a CPU")
    assert "| noise-inputs | 0.925 |" in text and "| random-same-norm | 0.000 |" in text
