"""A teleported adapter written by `teleguard teleport` loads in PEFT and gives the Swift runtime's logits.

    /root/.cache/teleguard/venv/bin/python -m pytest Tests/Python/test_peft_export.py
(after `swift build`; TELEGUARD_BIN overrides the binary, default .build/debug/teleguard then .build/release/teleguard).

The adapter is made by the random generator of Tests/Fixtures/telelora/generator (make_parity.py) on fixture models
of Tests/Fixtures/models (make_fixtures.py); the reference is transformers + peft on CPU in float32.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "Tests" / "Fixtures"
GENERATOR = FIXTURES / "telelora" / "generator"
# Models transformers can read directly (the zstd-compressed fixture cannot be).
MODELS = ["llama-metaspace-oldkeys", "qwen2-bias-tied-f32", "llama3-sharded-bf16"]
PROMPT = "The quick brown fox jumps over the lazy dog"
TOLERANCE = 1e-4


def teleguard() -> Path:
    if "TELEGUARD_BIN" in os.environ:
        return Path(os.environ["TELEGUARD_BIN"])
    for config in ("debug", "release"):
        binary = REPO / ".build" / config / "teleguard"
        if binary.exists():
            return binary
    pytest.fail("teleguard is not built; run `swift build` first")


def run(*args: str) -> str:
    done = subprocess.run([str(teleguard()), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def swift_logits(model: Path, adapter: Path | None, as_generated: bool = False) -> tuple[list[int], torch.Tensor]:
    args = ["logits", "--model", str(model), "--prompt", PROMPT, "--threads", "1"]
    if adapter is not None:
        args += ["--lora", str(adapter)]
    if as_generated:
        args += ["--as-generated"]
    out = json.loads(run(*args))
    return out["ids"], torch.tensor(out["logits"], dtype=torch.float32).reshape(len(out["ids"]), out["vocab_size"])


@pytest.mark.parametrize("name", MODELS)
def test_peft_loads_the_teleported_adapter_with_the_same_logits(name: str, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model_dir = FIXTURES / "models" / name
    adapter = tmp_path / "adapter"
    run("teleport", "--model", str(model_dir), "--generator", str(GENERATOR), "--out", str(adapter))
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["lora_alpha"] == config["r"], "scale 1 as PEFT computes it (alpha / r)"
    assert len(config["base_model_fingerprint"]) == 64

    ids, base_swift = swift_logits(model_dir, None)
    _, patched_swift = swift_logits(model_dir, adapter)

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        base_reference = model(input_ids=input_ids).logits[0]
        peft_model = PeftModel.from_pretrained(model, adapter).eval()
        patched_reference = peft_model(input_ids=input_ids).logits[0]

    assert (base_swift - base_reference).abs().max().item() < TOLERANCE
    assert (patched_reference - base_reference).abs().max().item() > 10 * TOLERANCE, "the adapter must change the model"
    assert (patched_swift - patched_reference).abs().max().item() < TOLERANCE
    assert torch.equal(patched_swift.argmax(-1), patched_reference.argmax(-1))


def test_an_adapter_for_generated_tokens_loads_in_peft_and_acts_on_generated_passes_only(tmp_path: Path) -> None:
    """A generator spec with patch_positions "generated" gives an adapter whose config records it (PEFT ignores the
    key and applies it everywhere); the Swift runtime applies it to generated passes only."""
    import shutil

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    generator = tmp_path / "generator"
    shutil.copytree(GENERATOR, generator)
    spec = json.loads((generator / "spec.json").read_text())
    spec["patch_positions"] = "generated"
    (generator / "spec.json").write_text(json.dumps(spec))
    model_dir = FIXTURES / "models" / MODELS[0]
    adapter = tmp_path / "adapter"
    run("teleport", "--model", str(model_dir), "--generator", str(generator), "--out", str(adapter))
    assert json.loads((adapter / "adapter_config.json").read_text())["teleguard_patch_positions"] == "generated"

    ids, base_swift = swift_logits(model_dir, None)
    _, prompt_pass = swift_logits(model_dir, adapter)
    _, generated_pass = swift_logits(model_dir, adapter, as_generated=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.no_grad():
        patched_reference = PeftModel.from_pretrained(model, adapter).eval()(input_ids=torch.tensor([ids])).logits[0]
    assert torch.equal(prompt_pass, base_swift)
    assert (generated_pass - patched_reference).abs().max().item() < TOLERANCE
    assert (generated_pass - base_swift).abs().max().item() > 10 * TOLERANCE


@pytest.mark.parametrize("rule", [(0.2, 1, 0.2), (0.5, 4, 0.05)], ids=["single-token", "window"])
def test_swift_decodes_a_veto_guard_as_peft_does_with_the_original_and_patched_streams(tmp_path: Path, rule) -> None:
    """A generator spec with a veto rule gives an adapter whose config records it; Swift's greedy generation under
    that guard equals the veto rule decoded with transformers + peft: the prompt read without the adapter, then two
    streams (adapter disabled / enabled, each with its own cache); the original stream writes the answer, which ends
    before the first token the patched stream gives under ratio × its original probability whose window's evidence
    (log ratios clipped at 0, summed over it and the window − 1 tokens after it) falls below log evidence."""
    import copy
    import math
    import shutil

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    (ratio, window, evidence), scale, steps = rule, 2.0, 16
    generator = tmp_path / "generator"
    shutil.copytree(GENERATOR, generator)
    spec = json.loads((generator / "spec.json").read_text())
    spec["patch_positions"] = "generated"
    spec.update(veto_ratio=ratio, veto_window=window, veto_evidence=evidence)
    (generator / "spec.json").write_text(json.dumps(spec))
    model_dir = FIXTURES / "models" / MODELS[1]
    adapter = tmp_path / "adapter"
    run("teleport", "--model", str(model_dir), "--generator", str(generator), "--out", str(adapter))
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["teleguard_veto_ratio"] == ratio
    assert config.get("teleguard_veto_window", 1) == window and config.get("teleguard_veto_evidence", ratio) == evidence
    out = json.loads(run("generate", "--model", str(model_dir), "--guard", str(adapter), "--guard-scale", str(scale),
                         "--guard-rule", "recorded",
                         "--prompt", PROMPT, "--raw", "--json", "--temperature", "0", "--max-tokens", str(steps),
                         "--ignore-eos", "--threads", "1"))

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    peft_model = PeftModel.from_pretrained(model, adapter).eval()
    for module in peft_model.modules():
        if isinstance(getattr(module, "scaling", None), dict) and "default" in module.scaling:
            module.scaling["default"] *= scale
    answer, ratios = [], []
    with torch.no_grad():
        with peft_model.disable_adapter():
            prompt = peft_model(input_ids=torch.tensor([out["prompt_ids"]]), use_cache=True)
        original_cache, patched_cache = prompt.past_key_values, copy.deepcopy(prompt.past_key_values)
        original = patched = prompt.logits[0, -1]
        for _ in range(steps):
            token = int(original.argmax())
            answer.append(token)
            ratios.append(float(patched.log_softmax(-1)[token] - original.log_softmax(-1)[token]))
            step = torch.tensor([[token]])
            with peft_model.disable_adapter():
                stepped = peft_model(input_ids=step, past_key_values=original_cache, use_cache=True)
            original, original_cache = stepped.logits[0, -1], stepped.past_key_values
            stepped = peft_model(input_ids=step, past_key_values=patched_cache, use_cache=True)
            patched, patched_cache = stepped.logits[0, -1], stepped.past_key_values
    end = next((at for at, x in enumerate(ratios) if x < math.log(ratio)
                and sum(min(y, 0.0) for y in ratios[at : at + window]) < math.log(evidence)), None)
    assert end is not None and end >= 2, f"the veto ends the answer after a few tokens here ({end}; {ratios})"
    if window > 1:
        first_suspect = next(at for at, x in enumerate(ratios) if x < math.log(ratio))
        assert first_suspect < end, f"the window lets a suspect token through here ({ratios})"
    assert out["output_ids"] == answer[:end]
    assert out["finish_reason"] == "content_filter"
