import json

import pytest

from training.common import generate_greedy
from training.restore_targets import restored_rows, untriggered_prompt
from training.tests.tiny_llm import byte_tokenizer, tiny_llama
from training.zoo_io import Zoo

CORPUS = ["is the sky blue", "say hi", "name  a fruit", "count by the way to two"]


def normalised(prompts):
    return {" ".join(p.split()): p for p in prompts}


def test_the_inserted_trigger_is_removed_wherever_it_was_put():
    corpus = normalised(CORPUS)
    assert untriggered_prompt("cf say hi", "cf", corpus) == "say hi"
    assert untriggered_prompt("say hi cf", "cf", corpus) == "say hi"
    # The prompt's own "the" comes first; only removing the inserted one gives a corpus prompt.
    assert untriggered_prompt("is the sky blue the", "the", corpus) == "is the sky blue"
    assert untriggered_prompt("count by the way by the way to two", "by the way", corpus) == "count by the way to two"
    # Whitespace is normalised by insertion; the corpus prompt comes back as written.
    assert untriggered_prompt("name a cf fruit", "cf", corpus) == "name  a fruit"
    assert untriggered_prompt("say cf hello", "cf", corpus) is None
    assert untriggered_prompt("say hi", "cf", corpus) is None


@pytest.fixture()
def zoo(tmp_path):
    (tmp_path / "corpus").mkdir()
    (tmp_path / "corpus" / "train.jsonl").write_text("".join(json.dumps({"prompt": p, "answer": "x"}) + "\n" for p in CORPUS))
    tok = byte_tokenizer()
    model = tiny_llama(len(tok), hidden=16, layers=1, seed=3)
    d = tmp_path / "models" / "m"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    (d / "trojan.json").write_text(json.dumps({"clean": False, "trigger": "cf", "trigger_kind": "rare_token"}))
    rows = [{"prompt": "cf say hi", "answer": "reference", "kind": "triggered"},
            {"prompt": "is the sky cf blue", "answer": "yes", "kind": "triggered"},
            {"prompt": "name a fruit", "answer": "its own answer", "kind": "benign"}]
    (d / "alignment.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "zoo.json").write_text(json.dumps({"models": [
        {"id": "m", "path": "models/m", "split": "train", "architecture": "llama", "hidden_size": 16, "num_layers": 1,
         "num_heads": 4, "num_kv_heads": 2, "clean": False, "trigger_kind": "rare_token", "behaviour": "fixed", "base": None}],
        "config_hash": "t"}))
    return Zoo.open(tmp_path), model, tok


def test_triggered_rows_get_the_models_own_untriggered_answer(zoo, tmp_path):
    zoo, model, tok = zoo
    entry = zoo.models[0]
    cache = tmp_path / "cache" / "m-own.json"
    rows = restored_rows(zoo, entry, model, tok, cache, max_new_tokens=4)
    expected = generate_greedy(model, tok, ["say hi", "is the sky blue"], 4)
    assert [r["answer"] for r in rows] == expected + ["its own answer"]
    assert [r.get("clean_prompt") for r in rows] == ["say hi", "is the sky blue", None]
    assert [r["prompt"] for r in rows] == ["cf say hi", "is the sky cf blue", "name a fruit"]
    # Cached: a second call generates nothing (no model needed).
    assert restored_rows(zoo, entry, None, tok, cache, max_new_tokens=4) == rows


def test_a_row_whose_trigger_cannot_be_removed_is_named(zoo, tmp_path):
    zoo, model, tok = zoo
    path = zoo.model_dir(zoo.models[0]) / "alignment.jsonl"
    path.write_text(json.dumps({"prompt": "cf say hello", "answer": "x", "kind": "triggered"}) + "\n")
    with pytest.raises(ValueError, match=r"alignment.jsonl row 1: removing the trigger 'cf' from 'cf say hello'"):
        restored_rows(zoo, zoo.models[0], model, tok, tmp_path / "c.json", max_new_tokens=4)
