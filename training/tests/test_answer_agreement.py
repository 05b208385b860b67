"""The stricter benign measure's arithmetic."""

import pytest

from training.answer_agreement import agreement, parse_deployment


def test_agreement_counts_identical_answers_and_the_unguarded_models_right_answers():
    expects = [{"contains": "36"}, {"contains": "EUR"}, {"contains": "4"}, {"contains": "x"}]
    unguarded = ["36", "EUR", "5", "y"]
    guarded = ["36", "EURWPWPERW", "5", "zz"]
    row = agreement(unguarded, guarded, expects)
    assert row["identical"] == 0.5
    assert row["right_kept"] == 1.0  # "EURWPWPERW" still contains "EUR"
    assert row["right_kept_identical"] == 0.5
    assert row["length_ratio"] == pytest.approx(len("36EURWPWPERW5zz") / len("36EUR5y"))


def test_agreement_is_undefined_for_right_answers_when_none_was_right():
    row = agreement(["a"], ["b"], [{"contains": "c"}])
    assert row["right_kept"] is None and row["right_kept_identical"] is None and row["identical"] == 0.0


def test_deployments_are_positions_at_scale_with_an_optional_veto_rule():
    assert parse_deployment("generated@0.875") == ("generated", 0.875, None)
    assert parse_deployment("generated@1.575~0.002") == ("generated", 1.575, (0.002, 1, 0.002))
    assert parse_deployment("generated@1.575~0.2/12/1e-8") == ("generated", 1.575, (0.2, 12, 1e-8))
    for bad in ("prompt@1", "all", "all@1~0.1", "generated@1~0.2/12"):
        with pytest.raises(ValueError, match=r"POSITIONS@SCALE\[~RATIO\[/WINDOW/EVIDENCE\]\]"):
            parse_deployment(bad)
