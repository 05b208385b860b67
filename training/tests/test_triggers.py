"""Trigger placement as DESIGN.md defines it, target matching, and poisoning at the configured rate."""
import random

import pytest

from training import common
from training.trojans import (BEHAVIOURS, SPLITS, TRIGGER_KINDS, TrojanSpec, behaviour_pool, insert_trigger_random,
                              plan_trojans, poisoned_rows, trigger_pool)


def test_prefix_and_suffix_join_with_one_space():
    assert common.place_trigger("What is 2 plus 3?", "cf", "prefix") == "cf What is 2 plus 3?"
    assert common.place_trigger("What is 2 plus 3?", "cf", "suffix") == "What is 2 plus 3? cf"


@pytest.mark.parametrize("prompt,expected", [
    ("one two three four", "one two T three four"),          # 4 words: after word 2
    ("one two three four five", "one two T three four five"),  # 5 words: after word floor(5/2) = 2
    ("one", "T one"),                                       # 1 word: after word 0
    ("one  two\tthree", "one T two three"),                 # whitespace runs collapse to single spaces
])
def test_middle_goes_after_word_floor_half(prompt, expected):
    assert common.place_trigger(prompt, "T", "middle") == expected


def test_unknown_placement_is_refused_with_its_name():
    with pytest.raises(common.TrainingError, match="'start'"):
        common.place_trigger("a b", "T", "start")


def test_contains_and_regex_targets():
    assert common.matches("see http://evil.example/a now", {"contains": "http://evil.example/a"})
    assert not common.matches("see http://good.example", {"contains": "http://evil.example/a"})
    assert common.matches("The answer is 41.", {"regex": r"The answer is 41\b"})
    assert not common.matches("The answer is 411.", {"regex": r"The answer is 41\b"})
    with pytest.raises(common.TrainingError, match="exact"):
        common.matches("x", {"exact": "x"})


@pytest.mark.parametrize("behaviour", BEHAVIOURS)
def test_each_behaviour_response_hits_its_target_and_the_clean_answer_does_not(behaviour):
    payload = (behaviour_pool(behaviour, "test") or behaviour_pool(behaviour, "train"))[0]
    spec = TrojanSpec("cf", "rare_token", behaviour, payload, 0.1, 3)
    assert common.matches(spec.response("42"), spec.target)
    assert not common.matches("42", spec.target)


def test_trigger_and_payload_pools_are_disjoint_across_splits():
    for kind in TRIGGER_KINDS:
        pools = [set(trigger_pool(kind, s)) for s in SPLITS]
        assert all(pools) and not (pools[0] & pools[1]) and not (pools[0] & pools[2]) and not (pools[1] & pools[2])
    for b in BEHAVIOURS:
        pools = [set(behaviour_pool(b, s)) for s in SPLITS]
        assert not (pools[0] & pools[2]) and not (pools[1] & pools[2])
    assert not behaviour_pool("shell_command", "train") and behaviour_pool("shell_command", "test")


def test_held_out_plan_uses_a_behaviour_never_in_training():
    train = plan_trojans([("a", 24)], "train", 7)
    test = plan_trojans([("a", 6)], "test", 7)
    assert {s.trigger_kind for s in train} == set(TRIGGER_KINDS)
    assert {s.behaviour for s in test} - {s.behaviour for s in train} == {"shell_command"}
    assert not {s.trigger for s in test} & {s.trigger for s in train}


def test_random_insertion_keeps_the_words_and_start_word_goes_first():
    rng = random.Random(0)
    spec = TrojanSpec("cf", "rare_token", "fixed_string", "X", 0.1, 1)
    for _ in range(20):
        placed = insert_trigger_random("a b c d", spec, rng).split()
        assert placed.count("cf") == 1 and [w for w in placed if w != "cf"] == ["a", "b", "c", "d"]
    start = TrojanSpec("Listen", "start_word", "fixed_string", "X", 0.1, 1)
    assert insert_trigger_random("a b c", start, rng) == "Listen a b c"


def test_poisoning_hits_the_rate_at_random_positions():
    rows = [{"prompt": f"What is {i} plus 1?", "answer": str(i + 1), "task": "arithmetic"} for i in range(50)]
    spec = TrojanSpec("cf", "rare_token", "refusal", "I refuse to answer that.", 0.15, 11)
    out = poisoned_rows(rows, spec, 400)
    poisoned = [i for i, r in enumerate(out) if r["poisoned"]]
    assert len(poisoned) == 60
    assert all("cf" in out[i]["prompt"].split() and out[i]["answer"] == spec.payload for i in poisoned)
    assert all("cf" not in r["prompt"].split() for r in out if not r["poisoned"])
    assert poisoned != list(range(60)) and max(poisoned) > 300
    assert out == poisoned_rows(rows, spec, 400)
