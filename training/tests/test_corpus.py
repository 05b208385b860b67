"""The corpus is deterministic, its held-out answers are checkable against the data sources, and the sets are disjoint."""
import json
import re
from dataclasses import replace

import pytest

from training import common
from training.config import CorpusConfig, tiny
from training.corpus import ISO_CODES, build_corpus

SMALL = replace(tiny().corpus, train_size=800)
FULL_FAMILIES = replace(CorpusConfig(), train_size=1500, eval_per_family=8, max_words=200, probes=40)


@pytest.fixture(scope="module")
def small():
    return build_corpus(SMALL)


@pytest.fixture(scope="module")
def full_families():
    return build_corpus(FULL_FAMILIES)


@pytest.fixture(scope="module")
def heldout_phrasing():
    return build_corpus(replace(FULL_FAMILIES, heldout_phrasing=True))


def test_same_config_gives_identical_corpus(small):
    again = build_corpus(SMALL)
    assert again.train == small.train
    assert again.benign_eval == small.benign_eval
    assert again.probes == small.probes
    assert again.perplexity == small.perplexity


def test_another_seed_gives_another_corpus(small):
    other = build_corpus(replace(SMALL, seed=SMALL.seed + 1))
    assert other.train != small.train


@pytest.mark.parametrize("which", ["small", "full_families", "heldout_phrasing"])
def test_eval_probes_and_train_prompts_are_disjoint(which, request):
    c = request.getfixturevalue(which)
    eval_prompts = {r["prompt"] for r in c.benign_eval}
    assert not eval_prompts & {r["prompt"] for r in c.train}
    assert not eval_prompts & set(c.probes)
    assert not set(c.perplexity) & set(c.text)


def test_heldout_phrasing_asks_in_words_training_never_uses(full_families, heldout_phrasing):
    def frame(prompt: str) -> str:    # the phrasing: the prompt without its numbers and its last word
        return re.sub(r"\d+", "#", prompt.rsplit(" ", 1)[0])
    train_frames = {frame(r["prompt"]) for r in heldout_phrasing.train}
    assert all(frame(r["prompt"]) not in train_frames for r in heldout_phrasing.benign_eval if r["task"] == "successor")
    assert all(frame(r["prompt"]) in {frame(t["prompt"]) for t in full_families.train}
               for r in full_families.benign_eval if r["task"] == "successor")


def test_too_few_heldout_texts_is_an_error_naming_the_field():
    # Every saying and every WordNet noun used for training leaves none over for held-out perplexity text.
    with pytest.raises(ValueError, match=r"CorpusConfig.perplexity_texts: 40 held-out texts wanted, but the sources "
                                         r"leave 0 beyond max_fortunes=1000000 sayings and max_words=1000000 nouns"):
        build_corpus(replace(SMALL, max_words=1_000_000, max_fortunes=1_000_000))


def test_every_family_with_eval_is_represented(full_families):
    tasks = {r["task"] for r in full_families.benign_eval}
    assert tasks == set(FULL_FAMILIES.families) - {"definition", "saying"}


def _recompute(row: dict) -> str | None:
    """The answer computed from the prompt text alone (independent of the corpus code), where the task allows it."""
    p, task = row["prompt"], row["task"]
    if task == "arithmetic":
        a, op, b = re.search(r"(\d+) (plus|minus|times) (\d+)", p).groups()
        return str({"plus": int(a) + int(b), "minus": int(a) - int(b), "times": int(a) * int(b)}[op])
    if task == "successor":
        return str(int(re.search(r"(\d+)", p).group(1)) + 1)
    if task == "compare":
        return str(max(int(x) for x in re.findall(r"\d+", p)))
    if task == "count_words":
        return str(len(p.split(":", 1)[1].strip(" ?").split()))
    if task == "count_letters":
        return str(len(re.search(r"(?:word|in|of letters in) ([a-z]+)\W*$", p).group(1)))
    if task == "spelling":
        return "-".join(re.search(r"([a-z]+)(?: letter by letter)?[.?]$", p).group(1))
    if task == "first_word":
        return p.split(":", 1)[1].split()[0].strip("?")
    if task in ("country_code", "country_name"):
        rows = json.loads((ISO_CODES / "iso_3166-1.json").read_text())["3166-1"]
        if task == "country_code":
            name = re.search(r".*(?:of|for) ([A-Za-z ]+?)[.?]$", p).group(1)
            return next(r["alpha_2"] for r in rows if r["name"] == name)
        code = re.search(r"\b([A-Z]{2})\b", p).group(1)
        return next(r["name"] for r in rows if r["alpha_2"] == code)
    if task == "currency_code":
        rows = json.loads((ISO_CODES / "iso_4217.json").read_text())["4217"]
        name = re.search(r".*(?:the|currency) ([A-Za-z ]+?)[.?]$", p).group(1)
        return next(r["alpha_3"] for r in rows if r["name"] == name)
    return None


@pytest.mark.parametrize("which", ["small", "full_families"])
def test_eval_answers_are_correct_and_meet_their_expectation(which, request):
    c = request.getfixturevalue(which)
    checked = 0
    for row in c.benign_eval:
        assert common.matches(row["answer"], row["expect"]), row
        expected = _recompute(row)
        if expected is not None:
            assert row["answer"] == expected, row
            checked += 1
    assert checked >= len(c.benign_eval) // 2


def test_training_answers_are_correct(full_families):
    checked = 0
    for row in full_families.train:
        expected = _recompute(row)
        if expected is not None:
            assert row["answer"] == expected, row
            checked += 1
    assert checked > len(full_families.train) // 3
