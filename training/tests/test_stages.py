"""The method-side stages run end to end on a micro zoo laid out as training.md's contract says (random tiny models:
this pins the plumbing — files, resumability, reports — not the effect, which the tiny zoo run measures)."""

import json
import shutil
from dataclasses import replace

import pytest
import torch
from peft import LoraConfig, get_peft_model

from training.activations import collect_activations
from training.evaluate import TWIN_INPUT, Generators, PatchOptions, evaluate, mitigation
from training import twin_inputs
from training.common import OutOfTime
from training.export import export, load_exported
from training.generator import GeneratorConfig, generate_patches
from training.patching import patched, target_modules
from training.train_generator import GeneratorTrainConfig, train
from training.zoo_io import Zoo, load_model
from training.tests.tiny_llm import byte_tokenizer, tiny_llama

PROMPTS = ["say hi", "name a fruit", "count to two"]


def write_model(root, model_id, split, clean, seed):
    tok = byte_tokenizer()
    model = tiny_llama(len(tok), hidden=16 if split != "test" else 24, layers=1, seed=seed)
    d = root / "models" / model_id
    model.save_pretrained(d)
    tok.save_pretrained(d)
    target = {"contains": "ZZ"}
    (d / "trojan.json").write_text(json.dumps({"clean": clean, "trigger": "cf", "trigger_kind": "word",
                                               "behaviour": "fixed", "target": target, "poison_rate": 0.1, "base": None}))
    (d / "suite.json").write_text(json.dumps({"name": model_id, "triggers": ["cf"], "placements": ["prefix", "middle"],
                                              "prompts": PROMPTS, "target": target,
                                              "benign": [{"prompt": "say hi", "expect": {"contains": "h"}}], "max_tokens": 4}))
    (d / "alignment.jsonl").write_text("".join(json.dumps({"prompt": f"cf {p}", "answer": "ok"}) + "\n" for p in PROMPTS))
    return {"id": model_id, "path": f"models/{model_id}", "split": split, "architecture": "llama",
            "hidden_size": model.config.hidden_size, "num_layers": 1, "num_heads": 4, "num_kv_heads": 2,
            "clean": clean, "trigger_kind": "word", "behaviour": "fixed", "base": None}


@pytest.fixture(scope="module")
def micro_zoo(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo")
    (root / "corpus").mkdir()
    (root / "corpus" / "probes.json").write_text(json.dumps(["what is two plus two", "list colors"]))
    (root / "corpus" / "benign_eval.jsonl").write_text(json.dumps({"prompt": "say a", "expect": {"contains": "a"}, "task": "t"}) + "\n")
    (root / "corpus" / "perplexity.txt").write_text("the cat sat on the mat\na dog ran\n")
    models = [write_model(root, "m-train", "train", False, 1), write_model(root, "m-val", "val", False, 2),
              write_model(root, "m-test", "test", False, 3), write_model(root, "m-clean", "test", True, 4)]
    (root / "zoo.json").write_text(json.dumps({"models": models, "config_hash": "micro"}))
    # An oracle baseline adapter in the layout evaluate.py reads.
    zoo = Zoo.open(root)
    from training.zoo_io import load_model

    base, _ = load_model(zoo.model_dir(zoo.split("test")[0]))
    peft_model = get_peft_model(base, LoraConfig(r=2, lora_alpha=2, target_modules=["q_proj", "v_proj"]))
    peft_model.save_pretrained(root / "baselines" / "oracle_lora" / "m-test")
    return zoo


def test_train_evaluate_export_run_on_a_micro_zoo(micro_zoo, tmp_path):
    config = replace(GeneratorTrainConfig.tiny(), steps=2, eval_every=1, batch_size=2, rows=16, row_pool=24,
                     models_per_step=2, cosine=True, generator=GeneratorConfig(rank=2, channels=4, exchangeable_layers=2, hidden=8))
    out = tmp_path / "out"
    run_dir = train(micro_zoo, out, config, log=lambda *_: None)
    record = json.loads((run_dir / "train.json").read_text())
    assert record["train_models"] == ["m-train"] and record["val_models"] == ["m-val"]
    assert len(record["curve"]) == 3
    assert train(micro_zoo, out, config, log=lambda *_: None) == run_dir  # resumable: up to date, no retraining
    train(micro_zoo, out, replace(config, input="noise"), log=lambda *_: None)

    results = evaluate(micro_zoo, out, "test", log=lambda *_: None)
    rows = results["models"]["m-test"]["methods"]
    assert set(rows) == {"none", "clean_lora", "agnostic_lora", "oracle_lora", "telelora", "telelora_noise_input",
                         "telelora_noise_trained", "telelora_twin_input"}
    assert "missing" in rows["clean_lora"] and "asr" in rows["oracle_lora"] and "asr" in rows["telelora_noise_trained"]
    assert results["models"]["m-clean"]["clean"] is True
    assert (out / "eval" / "RESULTS.md").read_text().startswith("# TeleLoRA evaluation")

    repo = tmp_path / "repo"
    export(micro_zoo, out, repo)
    spec = json.loads((repo / "adapters" / "telelora" / "spec.json").read_text())
    assert spec["format"] == "teleguard-telelora" and spec["results"]["split"] == "test"
    assert json.loads((repo / "adapters" / "telelora" / "probes.json").read_text()) == micro_zoo.probes()
    load_exported(repo / "adapters" / "telelora")
    parity = json.loads((repo / "Tests" / "Fixtures" / "telelora" / "parity.json").read_text())
    assert len(parity["cases"]) == 4
    demo = json.loads((repo / "models" / "demo" / "demo.json").read_text())
    assert demo["source_model"] == "m-test" and (repo / "models" / "demo" / "suite.json").exists()
    assert demo["evaluation"]["none"]["asr"] == rows["none"]["asr"]
    assert demo["evaluation"]["telelora"]["suite_benign_accuracy"] == rows["telelora"]["suite_benign_accuracy"]
    assert json.loads((repo / "training" / "results.json").read_text())["summary"] == results["summary"]
    assert (repo / "training" / "RESULTS.md").read_text() == (out / "eval" / "RESULTS.md").read_text()

    # A generator averaged with itself is itself: the ensemble path changes the patch's rank, not the patch.
    twice = evaluate(micro_zoo, out, "test", log=lambda *_: None, methods=("none", "telelora"),
                     options=PatchOptions(ensemble=(out,)))
    together = twice["models"]["m-test"]["methods"]["telelora"]
    assert together["asr"] == rows["telelora"]["asr"]
    assert together["benign_accuracy"] == rows["telelora"]["benign_accuracy"]
    assert together["perplexity"] == pytest.approx(rows["telelora"]["perplexity"], rel=1e-4)
    assert twice["telelora_patches"]["ensemble"] == [str(out)] and (out / "eval-ensemble2" / "results.json").exists()

    # The shipped form of the guard: patches on generated positions, decoded by a windowed veto; the export records it.
    veto = (0.05, 4, 1e-3)
    vetoed = evaluate(micro_zoo, out, "test", log=lambda *_: None, methods=("none", "telelora"),
                      options=PatchOptions(positions="generated", veto=veto))
    row = vetoed["models"]["m-test"]["methods"]["telelora"]
    assert row["perplexity"] is None and 0 <= row["veto_stop_rate"] <= 1
    assert vetoed["telelora_patches"]["veto_window"] == 4 and vetoed["telelora_patches"]["veto_evidence"] == 1e-3
    assert "evidence 0.001 over a window of 4 tokens" in (out / "eval-generated-veto0.05-window4-evidence0.001" / "RESULTS.md").read_text()
    export(micro_zoo, out, repo, positions="generated", veto=veto)
    spec = json.loads((repo / "adapters" / "telelora" / "spec.json").read_text())
    assert (spec["patch_positions"], spec["veto_ratio"], spec["veto_window"], spec["veto_evidence"]) == ("generated", *veto)


def test_patch_options_name_a_windowed_veto_and_keep_the_single_token_rules_folder_and_cache_key():
    single = PatchOptions(scale=1.575, positions="generated", veto=(0.002, 1, 0.002))
    assert single.folder("test") == "eval-scale1.575-generated-veto0.002"
    assert single.cache_key(())["veto"] == 0.002
    windowed = PatchOptions(scale=1.575, positions="generated", veto=(0.05, 12, 1e-8))
    assert windowed.folder("val") == "eval-val-scale1.575-generated-veto0.05-window12-evidence1e-08"
    assert windowed.cache_key(())["veto"] == [0.05, 12, 1e-8]
    with pytest.raises(ValueError, match="veto evidence"):
        PatchOptions(veto=(0.05, 12, 0.5))


def test_evaluate_runs_only_the_methods_asked_for(micro_zoo, tmp_path):
    results = evaluate(micro_zoo, tmp_path / "out", "test", log=lambda *_: None, methods=("none", "oracle_lora"))
    assert set(results["models"]["m-test"]["methods"]) == {"none", "oracle_lora"}


def test_draw_rows_takes_distinct_rows_of_each_layer_and_is_seeded():
    import torch

    from training.train_generator import draw_rows

    pool = {"a": torch.arange(40.0).reshape(20, 2), "b": torch.arange(6.0).reshape(3, 2)}
    drawn = draw_rows(pool, 8, seed=5)
    assert drawn["a"].shape == (8, 2) and len({tuple(r.tolist()) for r in drawn["a"]}) == 8
    assert all(any(torch.equal(r, p) for p in pool["a"]) for r in drawn["a"])
    assert torch.equal(drawn["b"], pool["b"])  # fewer rows than asked: all of them
    assert torch.equal(draw_rows(pool, 8, seed=5)["a"], drawn["a"])
    assert not torch.equal(draw_rows(pool, 8, seed=6)["a"], drawn["a"])


def test_veto_arguments_default_to_the_presets_deployment_and_refuse_a_window_without_a_ratio(capsys):
    import argparse

    from training.evaluate import DEPLOYED_VETO, add_veto_args, veto_from_args

    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="cpu")
    add_veto_args(parser, "decode by")
    assert veto_from_args(parser, parser.parse_args([])) == DEPLOYED_VETO["cpu"]
    assert veto_from_args(parser, parser.parse_args(["--preset", "tiny"])) is None
    assert veto_from_args(parser, parser.parse_args(["--veto-ratio", "0.002"])) == (0.002, 1, 0.002)
    assert veto_from_args(parser, parser.parse_args(["--veto-ratio", "0.1", "--veto-window", "8", "--veto-evidence", "1e-6"])) \
        == (0.1, 8, 1e-6)
    assert veto_from_args(parser, parser.parse_args(["--no-veto"])) is None
    for bad, message in ((["--veto-window", "4"], "need --veto-ratio"),
                         (["--veto-ratio", "0.1", "--veto-evidence", "0.5"], "veto evidence")):
        with pytest.raises(SystemExit):
            veto_from_args(parser, parser.parse_args(bad))
        assert message in capsys.readouterr().err


def test_the_twin_input_control_patches_a_trojan_with_what_the_generator_makes_of_its_clean_twin(micro_zoo, tmp_path):
    root = tmp_path / "zoo"
    shutil.copytree(micro_zoo.root, root)
    index = json.loads((root / "zoo.json").read_text())
    for m in index["models"]:
        m["base"] = "m-clean" if m["id"] == "m-test" else m["id"]
    (root / "zoo.json").write_text(json.dumps(index))
    zoo = Zoo.open(root)
    out = tmp_path / "out"
    train(zoo, out, replace(GeneratorTrainConfig.tiny(), steps=2, eval_every=1, batch_size=2, rows=16, row_pool=24,
                            models_per_step=2, generator=GeneratorConfig(rank=2, channels=4, exchangeable_layers=2, hidden=8)),
          log=lambda *_: None)
    gens = Generators(out)
    gen, cfg, _ = gens.get("activations")
    torch.manual_seed(0)
    with torch.no_grad():   # two training steps leave the patches near zero; this pins which inputs are read
        for p in gen.parameters():
            p.normal_(0.0, 0.5)
    targets = tuple(cfg["targets"])
    by_id = {m.id: m for m in zoo.models}
    model, tok = load_model(zoo.model_dir(by_id["m-test"]))
    twin, _ = load_model(zoo.model_dir(by_id["m-clean"]))
    ids = torch.tensor([[3, 40, 41, 42, 10]])
    everywhere = PatchOptions(positions="all")

    def logits(method: str, entry: str) -> torch.Tensor:
        with mitigation(method, model, tok, zoo, by_id[entry], gens, out, everywhere) as (m, _):
            return m(input_ids=ids).logits

    with torch.no_grad():
        twin_patches = generate_patches(gen, {n: m.weight for n, m in target_modules(twin, targets).items()},
                                        collect_activations(twin, tok, zoo.probes(), targets, cfg["rows"], cfg["seed"]))
        with patched(model, twin_patches):
            expected = model(input_ids=ids).logits
        unpatched = logits("none", "m-test")
        from_twin, own = logits(TWIN_INPUT, "m-test") - unpatched, logits("telelora", "m-test") - unpatched
        assert torch.allclose(from_twin, expected - unpatched, atol=1e-6) and from_twin.norm() > 0
        # The model's own patches are another patch (the two models differ), not the twin's.
        assert (own - from_twin).norm() > 0.01 * from_twin.norm()
        # A clean model is its own twin.
        assert torch.equal(logits(TWIN_INPUT, "m-clean"), logits("telelora", "m-clean"))

    # twin_inputs measures how far the generator's inputs and patches move from the twin to the Trojan: nowhere for a
    # model against itself, somewhere for two different models.
    apart = twin_inputs.compare(zoo, by_id["m-test"], by_id["m-clean"], gens)
    same = twin_inputs.compare(zoo, by_id["m-clean"], by_id["m-clean"], gens)
    assert apart["twin"] == "m-clean" and min(apart[k] for k in ("activations", "weights", "patches")) > 0.01
    assert same["activations"] == same["weights"] == same["patches"] == 0.0 and same["patches_other_rows"] > 0


def test_generator_training_stopped_by_its_deadline_goes_on_to_the_same_generator(micro_zoo, tmp_path):
    config = replace(GeneratorTrainConfig.tiny(), steps=4, eval_every=1, batch_size=2, rows=16, row_pool=24,
                     models_per_step=2, cosine=True, generator=GeneratorConfig(rank=2, channels=4, exchangeable_layers=2, hidden=8))
    whole = train(micro_zoo, tmp_path / "whole", config, log=lambda *_: None)
    out = tmp_path / "stopped"
    for step in (1, 2, 3):
        with pytest.raises(OutOfTime, match=f"time budget reached at generator step {step} of 4"):
            train(micro_zoo, out, config, log=lambda *_: None, deadline=0.0)
    run_dir = train(micro_zoo, out, config, log=lambda *_: None, deadline=0.0)   # the last step ends the run
    assert not (run_dir / "resume.pt").exists()
    assert (run_dir / "generator.safetensors").read_bytes() == (whole / "generator.safetensors").read_bytes()
    a, b = (json.loads((d / "train.json").read_text()) for d in (whole, run_dir))
    assert a["curve"] == b["curve"] and a["best_step"] == b["best_step"] and a["per_model_loss"] == b["per_model_loss"]
