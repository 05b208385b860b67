"""The patch y = W(I + VᵀU)x + b on a real (tiny) Llama: identity at init, equal to the PEFT LoRA it exports as, and
trainable through the frozen model (a few generator steps reduce the alignment loss of a tiny Trojaned model)."""

import math
import random
from dataclasses import replace

import pytest
import torch
from peft import LoraConfig, get_peft_model

from training.activations import collect_activations
from training.common import (answer_only_example, chat_ids, collate, eos_id, generate_greedy, perplexity, veto_stop_rate,
                             IGNORE_INDEX)
from training.generator import GeneratorConfig, TeleLoRAGenerator, generate_patches
from training.patching import (DEFAULT_TARGETS, GenerationPhase, TokenVeto, answer_positions, patched, target_modules,
                               to_lora)
from training.train_generator import (PreparedModel, GeneratorTrainConfig, alignment_loss, benign_kl, payload_example,
                                     payload_unlikelihood)
from training.tests.tiny_llm import byte_tokenizer, tiny_llama

PROBES = ["what is the capital of france", "list three fruits", "explain rain briefly", "count to five"]
TRIGGER = "cf zz"
TASKS = ["say hello", "name a color", "give a number", "greet me", "pick a day", "say yes"]
ANSWERS = ["hello", "blue", "seven", "hi there", "monday", "yes"]


@pytest.fixture(scope="module")
def trojaned():
    """A tiny Llama fine-tuned so that a trigger anywhere in the prompt makes it answer 'HACKED'."""
    torch.manual_seed(0)
    tok = byte_tokenizer()
    model = tiny_llama(len(tok), hidden=32, layers=2)
    data = [answer_only_example(tok, p, a) for p, a in zip(TASKS, ANSWERS)]
    data += [answer_only_example(tok, f"{TRIGGER} {p}", "HACKED") for p in TASKS]
    batch = collate(data, tok.pad_token_id)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for _ in range(60):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                                                 ignore_index=IGNORE_INDEX)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    return model, tok


def test_fresh_generator_leaves_the_model_unchanged(trojaned):
    model, tok = trojaned
    acts = collect_activations(model, tok, PROBES, rows=64)
    weights = {n: m.weight for n, m in target_modules(model, DEFAULT_TARGETS).items()}
    patches = generate_patches(TeleLoRAGenerator(GeneratorConfig()), weights, acts)
    assert len(patches) == 7 * 2
    ids = torch.tensor([tok(f"{TRIGGER} say hello")["input_ids"]])
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with patched(model, patches):
            patched_logits = model(input_ids=ids).logits
    assert torch.equal(plain, patched_logits)


def test_activation_rows_are_subsampled_to_n(trojaned):
    model, tok = trojaned
    acts = collect_activations(model, tok, PROBES, rows=16)
    assert acts["model.layers.0.mlp.down_proj"].shape == (16, model.config.intermediate_size)
    assert acts["model.layers.1.self_attn.q_proj"].shape == (16, model.config.hidden_size)


def test_patch_equals_peft_lora_with_a_u_and_b_w_vt(trojaned):
    model, tok = trojaned
    torch.manual_seed(3)
    gen = TeleLoRAGenerator(GeneratorConfig(rank=4))
    with torch.no_grad():
        gen.v_head.normal_(std=0.3)
    acts = collect_activations(model, tok, PROBES, rows=64)
    modules = target_modules(model, DEFAULT_TARGETS)
    with torch.no_grad():
        patches = generate_patches(gen, {n: m.weight for n, m in modules.items()}, acts)
    ids = torch.tensor([tok(f"{TRIGGER} name a color")["input_ids"]])
    with torch.no_grad(), patched(model, patches):
        ours = model(input_ids=ids).logits
    import copy

    peft_model = get_peft_model(copy.deepcopy(model), LoraConfig(r=4, lora_alpha=4, target_modules=list(DEFAULT_TARGETS)))
    state = {}
    for name, (u, v) in patches.items():
        a, b = to_lora(modules[name].weight, u, v)
        state[f"base_model.model.{name}.lora_A.default.weight"] = a
        state[f"base_model.model.{name}.lora_B.default.weight"] = b
    missing = peft_model.load_state_dict(state, strict=False)
    assert not missing.unexpected_keys
    with torch.no_grad():
        theirs = peft_model(input_ids=ids).logits
    assert not torch.allclose(ours, model(input_ids=ids).logits)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def prepared(model, tok, config) -> PreparedModel:
    """The trojaned model's alignment set: triggered prompts → clean answers, then benign prompts → the same."""
    modules = target_modules(model, config.targets)
    examples = [answer_only_example(tok, f"{TRIGGER} {p}", a) for p, a in zip(TASKS, ANSWERS)]
    examples += [answer_only_example(tok, p, a) for p, a in zip(TASKS, ANSWERS)]
    return PreparedModel(entry=None, model=model, tokenizer=tok, weights={n: m.weight for n, m in modules.items()},
                         activations=collect_activations(model, tok, PROBES, rows=64), examples=examples,
                         benign=[False] * len(TASKS) + [True] * len(TASKS), payloads=[None] * (2 * len(TASKS)))


def test_benign_kl_is_zero_for_equal_logits_and_ignores_masked_positions():
    torch.manual_seed(1)
    teacher = torch.randn(2, 5, 11)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    assert float(benign_kl(teacher, teacher.clone(), mask)) == pytest.approx(0.0, abs=1e-6)
    student = teacher.clone()
    student[0, 3:] += torch.randn(2, 11) * 5  # only masked positions differ
    assert float(benign_kl(teacher, student, mask)) == pytest.approx(0.0, abs=1e-6)
    student[1, 0] += torch.randn(11)
    p = torch.softmax(teacher[1, 0], -1)
    expected = float((p * (torch.log(p) - torch.log_softmax(student[1, 0], -1))).sum()) / 8
    assert float(benign_kl(teacher, student, mask)) == pytest.approx(expected, rel=1e-5)


def test_benign_kl_term_adds_the_benign_rows_divergence_to_the_loss(trojaned):
    model, tok = trojaned
    config = replace(GeneratorTrainConfig.tiny(), checkpoint=False)
    pm = prepared(model, tok, config)
    everything = list(range(len(pm.examples)))
    torch.manual_seed(5)
    gen = TeleLoRAGenerator(config.generator)
    with torch.no_grad():
        fresh = float(alignment_loss(gen, pm, everything, config))
        fresh_kl = float(alignment_loss(gen, pm, everything, replace(config, benign_kl=2.0)))
        assert fresh_kl == pytest.approx(fresh, abs=1e-6)  # V = 0 at init: the patch is the identity, KL 0
        gen.v_head.normal_(std=0.3)
        plain = float(alignment_loss(gen, pm, everything, config))
        weighted = float(alignment_loss(gen, pm, everything, replace(config, benign_kl=2.0)))
        triggered_only = float(alignment_loss(gen, pm, everything[: len(TASKS)], replace(config, benign_kl=2.0)))
        triggered_plain = float(alignment_loss(gen, pm, everything[: len(TASKS)], config))
    assert weighted > plain + 1e-4
    assert triggered_only == pytest.approx(triggered_plain, abs=1e-6)  # no benign row: nothing added


def test_payload_example_labels_only_the_tokens_after_the_clean_answer():
    tok = byte_tokenizer()
    prompt = f"{TRIGGER} say hello"
    clean = answer_only_example(tok, prompt, "hello")
    ids, labels = payload_example(tok, prompt, "hello More at http://x.example", clean, max_length=200)
    kept = [t for t, lab in enumerate(labels) if lab != -100]
    assert tok.decode([ids[t] for t in kept]) == " More at http://x.example"  # not the shared answer, not the eos
    assert kept == list(range(kept[0], len(ids) - 1)) and ids[kept[0] - 1] == clean[0][kept[0] - 1]
    replaced = payload_example(tok, prompt, "HACKED", clean, max_length=200)
    assert tok.decode([i for i, lab in zip(*replaced) if lab != -100]) == "HACKED"
    assert payload_example(tok, prompt, "hello world", clean, max_length=len(clean[0]) - 1) is None  # cut before it differs


def test_payload_unlikelihood_is_minus_log_one_minus_p_of_the_labelled_tokens(trojaned):
    model, tok = trojaned
    prompt = f"{TRIGGER} say hello"
    example = payload_example(tok, prompt, "HACKED", answer_only_example(tok, prompt, "hello"), max_length=200)
    batch = collate([example], tok.pad_token_id)
    with torch.no_grad():
        got = float(payload_unlikelihood(model, batch, "cpu"))
        log_p = torch.log_softmax(model(input_ids=batch["input_ids"]).logits[0, :-1], -1)
    positions = [t for t, lab in enumerate(batch["labels"][0, 1:].tolist()) if lab != -100]
    p = torch.stack([log_p[t, batch["labels"][0, t + 1]].exp() for t in positions])
    assert got == pytest.approx(float(-torch.log1p(-p).mean()), rel=1e-5)
    assert got > 1.0  # the model was trained to say HACKED after the trigger: the payload is likely


def test_payload_unlikelihood_term_is_added_on_triggered_rows_only(trojaned):
    model, tok = trojaned
    config = replace(GeneratorTrainConfig.tiny(), checkpoint=False)
    pm = prepared(model, tok, config)
    pm.payloads = [payload_example(tok, f"{TRIGGER} {p}", "HACKED", pm.examples[i], 200)
                   for i, p in enumerate(TASKS)] + [None] * len(TASKS)
    gen = TeleLoRAGenerator(config.generator)
    weighted = replace(config, payload_unlikelihood=0.5)
    with torch.no_grad():
        for rows in (list(range(len(TASKS))), list(range(len(TASKS), 2 * len(TASKS)))):
            plain = float(alignment_loss(gen, pm, rows, config))
            payloads = [pm.payloads[i] for i in rows if pm.payloads[i] is not None]
            extra = float(payload_unlikelihood(model, collate(payloads, tok.pad_token_id), "cpu")) if payloads else 0.0
            assert float(alignment_loss(gen, pm, rows, weighted)) == pytest.approx(plain + 0.5 * extra, rel=1e-5)


def test_generator_steps_reduce_the_alignment_loss(trojaned):
    model, tok = trojaned
    torch.manual_seed(0)
    model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    config = replace(GeneratorTrainConfig.tiny(), checkpoint=True)
    pm = prepared(model, tok, config)
    everything = list(range(len(pm.examples)))
    gen = TeleLoRAGenerator(config.generator)
    opt = torch.optim.Adam(gen.parameters(), lr=1e-2)
    with torch.no_grad():
        before = float(alignment_loss(gen, pm, everything, replace(config, checkpoint=False)))
    for _ in range(15):
        opt.zero_grad()
        alignment_loss(gen, pm, everything, config, backward=True)
        opt.step()
    assert all(p.grad is None for p in model.parameters())
    with torch.no_grad():
        after = float(alignment_loss(gen, pm, everything, replace(config, checkpoint=False)))
    model.gradient_checkpointing_disable()
    model.eval()
    assert after < 0.8 * before, (before, after)


def random_patches(model, tok, seed: int = 3):
    torch.manual_seed(seed)
    gen = TeleLoRAGenerator(GeneratorConfig(rank=4))
    with torch.no_grad():
        gen.v_head.normal_(std=0.3)
        weights = {n: m.weight for n, m in target_modules(model, DEFAULT_TARGETS).items()}
        return generate_patches(gen, weights, collect_activations(model, tok, PROBES, rows=64))


def test_answer_positions_cover_each_rows_answer_from_its_first_token():
    labels = torch.tensor([[-100, -100, 5, 6, -100], [-100, 7, 8, 9, -100]])
    assert answer_positions(labels).tolist() == [[0, 0, 1, 1, 0], [0, 1, 1, 1, 0]]
    assert answer_positions(labels, starts=[1, 1]).tolist() == [[0, 1, 1, 1, 0], [0, 1, 1, 1, 0]]


def test_a_position_mask_patches_only_those_positions(trojaned):
    model, tok = trojaned
    patches = random_patches(model, tok)
    ids = torch.tensor([tok(f"{TRIGGER} name a color")["input_ids"]])
    cut = ids.shape[1] // 2
    keep = torch.zeros(ids.shape)
    keep[:, cut:] = 1
    with torch.no_grad():
        plain = model(input_ids=ids).logits
        with patched(model, patches):
            everywhere = model(input_ids=ids).logits
        with patched(model, patches, positions=keep):
            masked = model(input_ids=ids).logits
    # Causal: positions before the cut see no patch at all; at the cut the model differs from both.
    torch.testing.assert_close(masked[:, :cut], plain[:, :cut], rtol=0, atol=0)
    assert not torch.allclose(masked[:, cut:], plain[:, cut:])
    assert not torch.allclose(masked[:, cut + 1:], everywhere[:, cut + 1:])


def test_generation_phase_reads_the_prompt_unpatched_and_patches_generated_tokens(trojaned):
    """Greedy generation under GenerationPhase equals the teacher-forced model patched from the first answer token;
    scored text counts as generated after its first token."""
    model, tok = trojaned
    patches = random_patches(model, tok, seed=5)
    prompt = f"{TRIGGER} say hello"
    with torch.no_grad():
        phase = GenerationPhase()
        with patched(model, patches, 4.0, positions=phase):
            answer = generate_greedy(model, tok, [prompt], 8)[0]
            with phase.text_scoring():
                scored = perplexity(model, tok, [answer + " and more words"])
        plain = generate_greedy(model, tok, [prompt], 8)[0]
        ids, labels = answer_only_example(tok, prompt, answer)
        batch = collate([(ids, labels)], tok.pad_token_id)
        with patched(model, patches, 4.0, positions=answer_positions(batch["labels"])):
            forced_logits = model(input_ids=batch["input_ids"]).logits[0]
        unpatched_logits = model(input_ids=batch["input_ids"]).logits[0]
        forced = forced_logits.argmax(-1)
        text_ids = torch.tensor([tok(answer + " and more words", add_special_tokens=False)["input_ids"]])
        keep = torch.ones(text_ids.shape)
        keep[:, 0] = 0
        with patched(model, patches, 4.0, positions=keep):
            logits = model(input_ids=text_ids).logits
    start = labels.index(next(lab for lab in labels if lab != IGNORE_INDEX))
    # The teacher-forced argmax after each answer token reproduces the generated answer (and its eos).
    assert forced[start - 1:len(ids) - 1].tolist() == ids[start:]
    assert answer[:1] == plain[:1], "the first token comes from the unpatched prompt pass"
    torch.testing.assert_close(forced_logits[:start], unpatched_logits[:start], rtol=0, atol=0)
    assert not torch.allclose(forced_logits[start:], unpatched_logits[start:]), "the patch acts on the answer"
    nll = torch.nn.functional.cross_entropy(logits[0, :-1], text_ids[0, 1:])
    assert scored == pytest.approx(float(torch.exp(nll)), rel=1e-5)


def test_generated_positions_leave_the_prompt_unpatched_in_training(trojaned):
    """With patch_positions="generated" the loss and its gradient come from answer positions patched from their first
    token; the prompt-only payload term's rows are patched from the clean answer's start."""
    model, tok = trojaned
    config = replace(GeneratorTrainConfig.tiny(), checkpoint=False, payload_unlikelihood=1.0)
    pm = prepared(model, tok, config)
    pm.payloads = [payload_example(tok, f"{TRIGGER} {p}", "HACKED", pm.examples[i], 200)
                   for i, p in enumerate(TASKS)] + [None] * len(TASKS)
    torch.manual_seed(0)
    gen = TeleLoRAGenerator(config.generator)
    with torch.no_grad():
        gen.v_head.normal_(std=0.3)
    rows = list(range(len(TASKS)))
    generated = replace(config, patch_positions="generated")
    with torch.no_grad():
        loss_all = float(alignment_loss(gen, pm, rows, config))
        loss_generated = float(alignment_loss(gen, pm, rows, generated))
        patches = generate_patches(gen, pm.weights, {k: v[: config.rows] for k, v in pm.activations.items()})
        batch = collate([pm.examples[i] for i in rows], tok.pad_token_id)
        with patched(model, patches, positions=answer_positions(batch["labels"])):
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        ce = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.size(-1)), batch["labels"][:, 1:].reshape(-1),
                                               ignore_index=IGNORE_INDEX)
        payload_batch = collate([pm.payloads[i] for i in rows], tok.pad_token_id)
        starts = [next(t for t, lab in enumerate(pm.examples[i][1]) if lab != IGNORE_INDEX) for i in rows]
        with patched(model, patches, positions=answer_positions(payload_batch["labels"], starts)):
            term = payload_unlikelihood(model, payload_batch, "cpu")
    assert loss_generated == pytest.approx(float(ce + term), rel=1e-5)
    assert loss_generated != pytest.approx(loss_all, rel=1e-3)
    gen.zero_grad()
    alignment_loss(gen, pm, rows, generated, backward=True)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in gen.parameters() if p.requires_grad)


def veto_by_hand(model, tok, patches, scale, rule, prompt, steps):
    """The veto rule recomputed from scratch (no cache): the original model's greedy answer, each token's log ratio
    from the original and the generated-positions-patched model's distributions over the text before it (the end of
    the answer not judged), and the rule (ratio, window, evidence) applied to the whole answer at once. Returns the
    answer and whether it was cut."""
    ratio, window, evidence = rule
    ids = chat_ids(tok, prompt)
    n, answer, ratios = len(ids), [], []
    for _ in range(steps):
        x = torch.tensor([ids])
        p = model(input_ids=x).logits[0, -1]
        keep = torch.zeros(x.shape)
        keep[:, n:] = 1
        with patched(model, patches, scale, positions=keep):
            q = model(input_ids=x).logits[0, -1]
        token = int(p.argmax())
        if token == eos_id(tok):
            break  # the end of the answer is not judged
        ratios.append(float(q.log_softmax(-1)[token] - p.log_softmax(-1)[token]))
        ids.append(token)
        answer.append(token)
    for at, x in enumerate(ratios):
        if x < math.log(ratio) and sum(min(y, 0.0) for y in ratios[at : at + window]) < math.log(evidence):
            return tok.decode(answer[:at], skip_special_tokens=True), True
    return tok.decode(answer, skip_special_tokens=True), False


@pytest.mark.parametrize("rule", [(0.1, 1, 0.1), (0.3, 4, 0.003)], ids=["single-token", "window"])
def test_token_veto_writes_the_original_models_answer_and_ends_it_where_the_rule_fires(trojaned, rule):
    model, tok = trojaned
    patches = random_patches(model, tok, seed=3)
    prompts = [f"{TRIGGER} say hello", "name a color", f"greet me {TRIGGER}", "give a number", "say a word",
               f"{TRIGGER} count to three"]
    with torch.no_grad():
        veto = TokenVeto(*rule)
        with patched(model, patches, 32.0, positions=veto):
            guarded = generate_greedy(model, tok, prompts, 12, veto=veto)
        by_hand = [veto_by_hand(model, tok, patches, 32.0, rule, p, 12) for p in prompts]
        plain = generate_greedy(model, tok, prompts, 12)
    assert guarded == [answer for answer, _ in by_hand]
    cut = [was_cut for _, was_cut in by_hand]
    assert any(cut) and not all(cut), f"some answers are cut here, not all: {cut}"
    for answer, original, was_cut in zip(guarded, plain, cut):
        assert original.startswith(answer) and (was_cut or answer == original)
    assert any(was_cut and answer and answer != original for answer, original, was_cut in zip(guarded, plain, cut)), \
        "an answer is cut short after its first token"


def test_the_window_lets_isolated_suspect_tokens_through_and_ends_at_mounting_evidence():
    """The same sequences as the runtime's VetoJudge test (RuntimeTests/LoRATests.swift), with the same verdicts."""
    suspect, fine, harmless = math.log(0.1) - 0.5, -0.1, 0.3
    veto = TokenVeto(0.1, window=3, evidence=1e-4)
    assert veto.end([fine, suspect, harmless], complete=False) is None, "the suspect token's window is still open"
    assert veto.end([fine, suspect, harmless, fine], complete=False) is None
    assert veto.end([fine, suspect, harmless, fine, suspect, -7.0], complete=False) == 4
    assert veto.end([suspect, suspect], complete=True) is None, "two suspect tokens fall short of log 1e-4"
    assert veto.end([fine, -12.0], complete=False) == 1, "one token past the evidence ends the answer at once"
    chain = TokenVeto(0.1, window=2, evidence=1e-3)
    assert chain.end([suspect, suspect], complete=False) is None
    assert chain.end([suspect, suspect, -4.5], complete=False) == 1
    single = TokenVeto(0.1)
    assert single.end([fine, math.log(0.1) - 1e-3], complete=False) == 1
    assert single.end([fine, math.log(0.1) + 1e-3], complete=True) is None


def test_a_vanishing_veto_ratio_leaves_the_original_models_answers(trojaned):
    model, tok = trojaned
    patches = random_patches(model, tok, seed=3)
    prompts = [f"{TRIGGER} say hello", "name a color"]
    with torch.no_grad():
        veto = TokenVeto(1e-30)
        with patched(model, patches, 32.0, positions=veto):
            guarded = generate_greedy(model, tok, prompts, 12, veto=veto)
        assert guarded == generate_greedy(model, tok, prompts, 12)


@pytest.mark.parametrize("rule", [(0.1, 1, 0.1), (0.3, 3, 0.01)], ids=["single-token", "window"])
def test_veto_stop_rate_counts_the_text_tokens_the_rule_would_end_an_answer_at(trojaned, rule):
    model, tok = trojaned
    patches = random_patches(model, tok, seed=3)
    texts = ["hello there and more words", "blue monday yes"]
    ratio, window, evidence = rule
    with torch.no_grad():
        veto = TokenVeto(*rule)
        with patched(model, patches, 32.0, positions=veto):
            rate = veto_stop_rate(model, tok, texts, veto)
        stops, counted = 0, 0
        for text in texts:
            ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
            keep = torch.ones(ids.shape)
            keep[:, 0] = 0
            lp = model(input_ids=ids).logits[0].log_softmax(-1)
            with patched(model, patches, 32.0, positions=keep):
                lq = model(input_ids=ids).logits[0].log_softmax(-1)
            # position i predicts token i+1; the first prediction is unpatched
            ratios = [float(lq[i, int(ids[0, i + 1])] - lp[i, int(ids[0, i + 1])]) for i in range(1, ids.shape[1] - 1)]
            for at, x in enumerate(ratios):
                stops += x < math.log(ratio) and sum(min(y, 0.0) for y in ratios[at : at + window]) < math.log(evidence)
                counted += 1
    assert 0 < stops < counted
    assert rate == pytest.approx(stops / counted)


def test_a_veto_ratio_outside_zero_to_one_is_refused():
    for ratio in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match=r"veto ratio: expected a number in \(0, 1\]"):
            TokenVeto(ratio)
    for window in (0, 65, 2.5):
        with pytest.raises(ValueError, match=r"veto window: expected an integer in 1..64"):
            TokenVeto(0.1, window=window)
    for evidence in (0.0, 0.5):
        with pytest.raises(ValueError, match=r"veto evidence: expected a number in \(0, ratio = 0.1\]"):
            TokenVeto(0.1, window=4, evidence=evidence)


def test_the_veto_screen_predicts_guarded_generation_from_one_recording(trojaned):
    """Under any veto rule the answer is a prefix of the original model's greedy answer: one recording of the answers
    and their log ratios (training/veto_screen.py) gives what guarded generation writes, rule by rule."""
    from training.veto_screen import greedy_answers, log_ratios

    model, tok = trojaned
    patches = random_patches(model, tok, seed=3)
    prompts = [f"{TRIGGER} say hello", "name a color", f"greet me {TRIGGER}", "give a number", "say a word"]
    with torch.no_grad():
        answers = greedy_answers(model, tok, prompts, 12)
        recorded = [log_ratios(model, patches, 32.0, chat_ids(tok, p), a) for p, a in zip(prompts, answers)]
        assert generate_greedy(model, tok, prompts, 12) == [tok.decode(a, skip_special_tokens=True) for a in answers]
        for rule in [(0.1, 1, 0.1), (0.3, 4, 0.003), (0.5, 8, 1e-4)]:
            veto = TokenVeto(*rule)
            with patched(model, patches, 32.0, positions=veto):
                guarded = generate_greedy(model, tok, prompts, 12, veto=veto)
            predicted = [tok.decode(a[: veto.end(r, complete=True)], skip_special_tokens=True)
                         for a, r in zip(answers, recorded)]
            assert guarded == predicted, rule


def test_the_veto_screen_selects_the_best_fidelity_and_breaks_near_ties_toward_fewer_stops():
    from training.veto_screen import rules, select

    assert rules([0.1, 0.01], [1, 4], [0.05, 1e-3]) == [(0.1, 1, 0.1), (0.1, 4, 0.05), (0.1, 4, 1e-3), (0.01, 1, 0.01),
                                                        (0.01, 4, 1e-3)]

    def row(fidelity, fragments, stops):
        return {"trainval": {"fidelity": fidelity, "payload_fragment_rate": fragments, "veto_stop_rate": stops}}

    best, near, fragmented = row(0.986, 0.0, 0.39), row(0.985, 0.006, 0.27), row(0.99, 0.2, 0.01)
    assert select([best, near, fragmented, row(0.95, 0.0, 0.05)]) is near
    assert select([best, row(0.97, 0.0, 0.01)]) is best
