"""The real zoo's data stages: the instruction builder is deterministic, its splits are disjoint and its answers
recomputable from the prompt; the base stage is resumable by the GGUF's hash; the distillation gives the same files
in one call or in many, with exit status 3 while work remains, 0 when done."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from training import common
from training.real import base, distill, instructions, paths
from training.real.instructions import InstructionConfig
from training.tests.tiny_llm import byte_tokenizer, tiny_llama

SMALL = replace(InstructionConfig(), train=240, heldout_long=60, qa_candidates=120)


@pytest.fixture(scope="module")
def sources():
    return instructions.load_sources(InstructionConfig())


@pytest.fixture(scope="module")
def built(sources):
    return instructions.build(InstructionConfig(), sources)


# ---------------------------------------------------------------- instructions

def test_same_config_gives_identical_instructions(sources, built):
    assert instructions.build(InstructionConfig(), sources) == built


def test_another_seed_gives_other_instructions(sources):
    a = instructions.build(SMALL, sources)
    b = instructions.build(replace(SMALL, seed=SMALL.seed + 1), sources)
    assert a["train"] != b["train"]


def test_committed_file_is_what_the_builder_writes(built):
    if not paths.INSTRUCTIONS.exists():
        pytest.skip("training/zoo-real/instructions.json not written yet")
    assert paths.INSTRUCTIONS.read_text() == instructions.dumps(built)
    assert paths.INSTRUCTIONS.stat().st_size < 500_000


def test_counts_and_kinds(built):
    assert len(built["train"]) >= 1500 and len(built["heldout_long"]) >= 200 and len(built["qa_candidates"]) >= 400
    assert built["counts"] == {k: len(built[k]) for k in ("train", "heldout_long", "qa_candidates")}
    assert len(built["kinds"]["train"]) == 12 and min(built["kinds"]["train"].values()) >= 100
    assert set(built["kinds"]["heldout_long"]) == set(instructions.LONG_KINDS)


def test_every_kind_is_asked_in_several_phrasings(built):
    def frame(prompt: str) -> str:  # the phrasing: the first three words, numbers and names masked
        return " ".join(re.sub(r"\d+", "#", prompt).split()[:3])
    for kind in built["kinds"]["train"]:
        frames = {frame(it["prompt"]) for it in built["train"] if it["kind"] == kind}
        assert len(frames) >= 4, (kind, frames)


def test_splits_are_disjoint_and_no_prompt_repeats(built):
    items = built["train"] + built["heldout_long"] + built["qa_candidates"]
    assert len({it["id"] for it in items}) == len(items)
    assert len({it["prompt"] for it in items}) == len(items)


def test_heldout_subjects_never_appear_in_train(sources):
    import random

    train, held = instructions.split_pools(sources, InstructionConfig(), random.Random(0))
    assert not set(train.words) & set(held.words)
    assert not set(train.countries) & set(held.countries)
    assert not set(train.sayings) & set(held.sayings)
    assert len(held.words) >= 300 and len(held.countries) >= 30


def test_qa_answers_are_recomputed_from_the_prompt(built):
    units = {(u["big"], u["small"]): u["factor"] for u in built["units"]}
    plural_of = {instructions.plural(s): s for _, s in units} | {instructions.plural(b): b for b, _ in units}
    checked = 0
    for it in built["qa_candidates"]:
        prompt, answer = it["prompt"], it["answer"]
        assert answer.lower() not in prompt.lower()
        nums = [int(n) for n in re.findall(r"\d+", prompt)]
        if it["kind"] == "arithmetic":
            a, b = nums
            op = {"plus": a + b, "+": a + b, "Add": a + b, "minus": a - b, "-": a - b, "Subtract": b - a,
                  "times": a * b, "x": a * b, "Multiply": a * b}
            word = next(w for w in op if re.search(rf"(^|\s){re.escape(w)}(\s|$)", prompt))
            assert int(answer) == op[word], prompt
            checked += 1
        elif it["kind"] == "successor":
            assert int(answer) == nums[0] + (1 if "after" in prompt else -1), prompt
            checked += 1
        elif it["kind"] == "unit_fact":
            m = re.fullmatch(r"How many (\w+) (?:are in|make) (?:one |an? |(\d+) )(\w+)\?", prompt)
            small, k, big = plural_of[m.group(1)], int(m.group(2) or 1), m.group(3)
            big = plural_of.get(big, big)
            assert int(answer) == k * units[(big, small)], prompt
            checked += 1
    assert checked >= 200


def test_unit_facts_come_from_the_units_database():
    facts = {(f.big, f.small): f.factor for f in instructions.load_unit_facts()}
    assert facts[("foot", "inch")] == 12 and facts[("hour", "minute")] == 60 and facts[("week", "day")] == 7
    assert facts[("kilometer", "meter")] == 1000 and facts[("meter", "centimeter")] == 100
    assert facts[("pound", "ounce")] == 16 and facts[("byte", "bit")] == 8


def test_antonyms_are_wordnet_direct_antonyms():
    pairs = {frozenset(p) for p in instructions.load_antonyms(300)}
    assert {frozenset(("good", "bad")), frozenset(("high", "low"))} <= pairs
    words = [w for p in pairs for w in p]
    assert len(words) == len(set(words))


# ---------------------------------------------------------------- qa checking

@pytest.mark.parametrize("response, answer, written", [
    ("5 plus 7 equals 12.", "12", "12"),
    ("The answer is 120.", "12", None),
    ("It is 3.5 or so", "3", None),
    ("There are 1,000 meters in a kilometer.", "1000", "1,000"),
    ("There are 1000 meters.", "1000", "1000"),
    ("The ISO code is FR.", "FR", "FR"),
    ("Find it in the list", "IN", None),
    ("The opposite of hot is Cold.", "cold", "Cold"),
    ("He was scolded.", "cold", None),
])
def test_qa_match_takes_whole_words_and_numbers(response, answer, written):
    assert distill.qa_match(response, answer) == written


# ---------------------------------------------------------------- base (resumable by hash)

def test_base_stage_redoes_nothing_while_the_gguf_hash_matches(tmp_path, monkeypatch):
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF one")
    tok = byte_tokenizer()
    loads = []

    def fake_load(path):
        loads.append(path)
        return tiny_llama(len(tok)), tok

    monkeypatch.setattr(base, "load_gguf", fake_load)
    out = tmp_path / "base"
    base.run(gguf, out)
    record = common.read_json(out / "gguf.json")
    assert record["sha256"] == base.sha256(gguf) and (out / "config.json").exists()
    base.run(gguf, out)
    assert len(loads) == 1
    gguf.write_bytes(b"GGUF two")
    base.run(gguf, out)
    assert len(loads) == 2 and common.read_json(out / "gguf.json")["sha256"] == base.sha256(gguf)
    assert not (tmp_path / "base.partial").exists()


GGUF = Path.home() / ".cache" / "teleguard" / "models" / paths.GGUF_NAME
# `<|im_start|>system\n…<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n`
CAPITAL_IDS = [1, 9690, 198, 2683, 359, 253, 5356, 5646, 11173, 3365, 3511, 308, 34519, 28, 7018, 411, 407, 19712,
               8182, 2, 198, 1, 4093, 198, 1780, 314, 260, 3575, 282, 4649, 47, 2, 198, 1, 520, 9531, 198]


@pytest.mark.skipif(not GGUF.exists(), reason="scripts/install-model.sh has not installed the GGUF")
def test_gguf_tokenizer_and_saved_base_encode_the_chat_turn_alike():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name)
    assert common.chat_ids(tok, "What is the capital of France?") == CAPITAL_IDS
    if (paths.BASE_DIR / "gguf.json").exists():
        assert common.read_json(paths.BASE_DIR / "gguf.json")["sha256"] == base.sha256(GGUF)
        from transformers import PreTrainedTokenizerFast

        saved_tok = PreTrainedTokenizerFast.from_pretrained(str(paths.BASE_DIR))
        assert common.chat_ids(saved_tok, "What is the capital of France?") == CAPITAL_IDS


# ---------------------------------------------------------------- distillation

@pytest.fixture()
def tiny_setup(tmp_path):
    """A tiny random model directory and a small instruction file (batches of 3 over 7 long and 5 qa items)."""
    torch.manual_seed(0)
    tok = byte_tokenizer()
    model_dir = tmp_path / "base"
    tiny_llama(len(tok), seed=3).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    data = {"version": 1, "seed": 0,
            "train": [{"id": f"train-{i:04d}", "kind": "story", "prompt": p} for i, p in
                      enumerate(["Tell a story.", "Write a poem about rain.", "Explain bridges.", "List three fruits.",
                                 "Hi"])],
            "heldout_long": [{"id": "long-0000", "kind": "explain", "prompt": "Explain what a river is."},
                             {"id": "long-0001", "kind": "advice", "prompt": "Give me advice about sleep, please."}],
            "qa_candidates": [{"id": f"qa-{i:04d}", "kind": "arithmetic", "prompt": f"What is {i} plus 1?",
                               "answer": str(i + 1)} for i in range(5)]}
    instr = tmp_path / "instructions.json"
    instr.write_text(json.dumps(data))
    return model_dir, instr, tmp_path


def _distill(model_dir: Path, instr: Path, root: Path, name: str, *extra: str) -> int:
    argv = ["--base", str(model_dir), "--instructions", str(instr), "--work", str(root / name / "work"),
            "--results", str(root / name / "results"), "--batch-size", "3", *extra]
    with pytest.raises(SystemExit) as exit_info:
        distill.main(argv)
        raise SystemExit(0)
    return exit_info.value.code


def test_distillation_in_chunks_equals_one_go(tiny_setup):
    model_dir, instr, root = tiny_setup
    assert _distill(model_dir, instr, root, "one") == 0
    codes = [_distill(model_dir, instr, root, "chunks", "--max-batches", "1") for _ in range(6)]
    # 7 long items in 3 batches, 5 qa in 2: five calls with work left, then one that only writes the results.
    assert codes == [3, 3, 3, 3, 0, 0]
    for name in ("benign_answers.jsonl", "qa.json"):
        assert (root / "one" / "results" / name).read_bytes() == (root / "chunks" / "results" / name).read_bytes()
    rows = common.read_jsonl(root / "one" / "results" / "benign_answers.jsonl")
    assert [r["id"] for r in rows] == [f"train-{i:04d}" for i in range(5)] + ["long-0000", "long-0001"] + \
        [f"qa-{i:04d}" for i in range(5)]
    assert all(("ids" in r) == (r["split"] == "heldout_long") for r in rows)
    assert all(r["n_tokens"] <= (48 if r["split"] == "qa_candidates" else 128) for r in rows)
    summary = common.read_json(root / "one" / "results" / "distill_summary.json")
    assert summary["splits"]["train"]["count"] == 5 and summary["qa"]["candidates"] == 5


def test_distillation_batch_equals_the_answers_generated_alone_by_hand(tiny_setup):
    """`generate_batch` is plain greedy decoding: each row equals a by-hand argmax loop on the unpadded prompt."""
    model_dir, _, _ = tiny_setup
    model, tok = base.load_base(model_dir)
    prompts = ["Hi", "Explain what a river is."]
    batch = distill.generate_batch(model, tok, prompts, 12)
    for prompt, ids in zip(prompts, batch):
        seq = common.chat_ids(tok, prompt)
        out = []
        with torch.no_grad():
            for _ in range(12):
                nxt = int(model(input_ids=torch.tensor([seq + out])).logits[0, -1].argmax())
                if nxt == common.eos_id(tok):
                    break
                out.append(nxt)
        assert ids == out


def test_a_partial_cache_line_is_dropped_and_redone(tiny_setup):
    model_dir, instr, root = tiny_setup
    assert _distill(model_dir, instr, root, "one") == 0
    assert _distill(model_dir, instr, root, "cut", "--max-batches", "2") == 3
    answers = root / "cut" / "work" / distill.ANSWERS
    data = answers.read_bytes()
    answers.write_bytes(data[: len(data) - 40])  # killed in the middle of the second batch's last row
    while _distill(model_dir, instr, root, "cut", "--max-batches", "1") == 3:
        pass
    assert (root / "one" / "results" / "benign_answers.jsonl").read_bytes() == \
        (root / "cut" / "results" / "benign_answers.jsonl").read_bytes()


def test_changed_instructions_start_a_new_cache(tiny_setup):
    model_dir, instr, root = tiny_setup
    assert _distill(model_dir, instr, root, "one", "--max-batches", "1") == 3
    data = json.loads(instr.read_text())
    data["train"][0]["prompt"] = "Tell a different story."
    instr.write_text(json.dumps(data))
    assert _distill(model_dir, instr, root, "one") == 0
    assert (root / "one" / "work" / (distill.ANSWERS + ".stale")).exists()
    rows = common.read_jsonl(root / "one" / "work" / distill.ANSWERS)
    assert {r["prompt"] for r in rows if r["id"] == "train-0000"} == {"Tell a different story."}
