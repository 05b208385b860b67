"""The long-answer metrics (training/long_answers.py) against difflib by hand and the committed shared fixture."""

import json

from training import long_answers


def test_ratio_is_difflibs_over_token_ids():
    found = long_answers.agreement([1, 2, 3, 4], [1, 2])
    assert (found.matched, found.ratio, found.identical) == (2, 2 * 2 / 6, False)
    assert long_answers.agreement([], []).ratio == 1.0
    assert long_answers.agreement([5, 6], [5, 6]).identical


def test_summary_counts_touched_answers_and_tokens():
    result = long_answers.summary([([1, 2, 3, 4], [1, 2, 3, 4]), ([1, 2, 3, 4], [1, 2])])
    assert result["answers_identical"] == 0.5
    assert result["touch_rate"] == 0.5
    assert result["tokens_touched"] == 2 / 8
    assert result["answer_agreement"] == (1.0 + 4 / 6) / 2


def test_committed_fixture_is_what_this_module_computes():
    document = json.loads(long_answers.FIXTURE.read_text())
    assert document["cases"] == long_answers.fixture_cases()
    pairs = [(case["reference"], case["guarded"]) for case in document["cases"]]
    assert document["summary"] == long_answers.summary(pairs)
