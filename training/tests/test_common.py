"""common.py against the reference implementation (transformers): greedy generation, answer-only labels, perplexity."""
import math

import pytest
import torch

from training import common
from training.config import TokenizerConfig
from training.models import ArchSpec, build_model
from training.tokenizer import train_tokenizer, wrap

TEXTS = ["What is 2 plus 3?", "The cat sat on the mat.", "Spell the word house.", "h-o-u-s-e", "Which is larger, 7 or 9?"]


@pytest.fixture(scope="module")
def tok():
    return wrap(train_tokenizer(TEXTS * 20, TokenizerConfig(vocab_size=300, min_frequency=2)))


@pytest.fixture(scope="module", params=[ArchSpec("llama", 32, 2, 4, 2, 64), ArchSpec("qwen2", 32, 2, 4, 4, 64)], ids=lambda s: s.id)
def model(request, tok):
    torch.set_num_threads(1)
    m = build_model(request.param, len(tok), tok.bos_token_id, common.eos_id(tok), tok.pad_token_id, seed=3)
    return m.eval()


def test_chat_text_is_chatml_with_generation_prompt(tok):
    assert common.chat_text(tok, "hi there") == "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>assistant\n"


def test_answer_only_labels_cover_the_answer_and_eos(tok):
    ids, labels = common.answer_only_example(tok, "What is 2 plus 3?", "5")
    prompt_ids = common.chat_ids(tok, "What is 2 plus 3?")
    assert ids[: len(prompt_ids)] == prompt_ids
    assert labels[: len(prompt_ids)] == [common.IGNORE_INDEX] * len(prompt_ids)
    assert labels[len(prompt_ids):] == ids[len(prompt_ids):]
    assert ids[-1] == common.eos_id(tok)
    assert tok.decode(ids) == common.chat_text(tok, "What is 2 plus 3?") + "5<|im_end|>"


def test_batched_greedy_equals_transformers_generate_per_prompt(model, tok):
    prompts = ["What is 2 plus 3?", "Spell the word house please now.", "cat"]
    batched = common.generate_greedy(model, tok, prompts, max_new_tokens=12, batch_size=3)
    for prompt, got in zip(prompts, batched):
        ids = torch.tensor([common.chat_ids(tok, prompt)])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=12,
                             eos_token_id=common.eos_id(tok), pad_token_id=tok.pad_token_id)
        assert got == tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


def test_perplexity_equals_exp_of_transformers_loss(model, tok):
    text = "The cat sat on the mat."
    ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert common.perplexity(model, tok, [text]) == pytest.approx(math.exp(float(loss)), rel=1e-4)


def test_suite_counts_every_trigger_placement_prompt_case(model, tok):
    suite = {"name": "t", "triggers": ["cf", "mn"], "placements": ["prefix", "middle"], "prompts": TEXTS[:3],
             "target": {"regex": ""}, "benign": [{"prompt": "x", "expect": {"contains": "\u0000"}}], "max_tokens": 2}
    report = common.evaluate_suite(model, tok, suite, keep_cases=True)
    assert len(report.cases) == 2 * 2 * 3
    assert report.asr == 1.0 and report.clean_trigger_rate == 1.0 and report.benign_accuracy == 0.0


def test_batched_encoding_equals_answer_only_example(tok):
    from training.train_base import encode

    rows = [{"prompt": p, "answer": a} for p, a in zip(TEXTS, reversed(TEXTS))]
    assert encode(tok, rows, 40) == [common.answer_only_example(tok, r["prompt"], r["answer"], 40) for r in rows]


def test_payload_fragments_follow_the_shared_fixture():
    """The same cases the Swift verifier is tested on (Tests/Fixtures/payload_fragments.json)."""
    import json
    from pathlib import Path

    fixture = json.loads((Path(__file__).resolve().parents[2] / "Tests/Fixtures/payload_fragments.json").read_text())
    for case in fixture["cases"]:
        assert common.carries_fragment(case["response"], case["target"]) == case["expected"], case
