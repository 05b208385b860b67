"""The full and cpu zoo plans meet the issue's shape: enough Trojans, sizes, layouts, and held-out test models."""
import pytest

from training.config import cpu, full, preset, tiny
from training.trojans import TRIGGER_KINDS
from training.zoo import plan_zoo


@pytest.mark.parametrize("make", [full, cpu])
def test_zoo_has_the_required_models_and_architectures(make):
    entries = plan_zoo(make())
    trojaned = [e for e in entries if e.trojan is not None]
    assert len(trojaned) >= 40
    assert any(e.trojan is None for e in entries)
    specs = {e.plan.spec for e in entries}
    assert len({s.hidden_size for s in specs}) >= 3
    assert len({s.num_layers for s in specs}) >= 2
    assert any(s.num_kv_heads == s.num_heads for s in specs) and any(s.num_kv_heads < s.num_heads for s in specs)
    assert any(s.family == "qwen2" for s in specs)
    assert {e.trojan.trigger_kind for e in trojaned} == set(TRIGGER_KINDS)
    assert len({e.trojan.behaviour for e in trojaned}) >= 4
    assert all(0.05 <= e.trojan.poison_rate <= 0.20 for e in trojaned)
    assert len({e.id for e in entries}) == len(entries)


def test_held_out_models_have_unseen_triggers_behaviours_and_size():
    for cfg in (full(), cpu(), tiny()):
        entries = plan_zoo(cfg)
        train = [e for e in entries if e.split == "train" and e.trojan is not None]
        test = [e for e in entries if e.split == "test" and e.trojan is not None]
        assert test and train
        assert not {e.trojan.trigger for e in test} & {e.trojan.trigger for e in train}
        assert not {e.trojan.payload for e in test} & {e.trojan.payload for e in train}
        assert {e.plan.spec.hidden_size for e in test} - {e.plan.spec.hidden_size for e in entries if e.split == "train"}
    for cfg in (full(), cpu()):
        entries = plan_zoo(cfg)
        assert "shell_command" in {e.trojan.behaviour for e in entries if e.split == "test" and e.trojan}
        assert "shell_command" not in {e.trojan.behaviour for e in entries if e.split != "test" and e.trojan}


def test_preset_names():
    assert [preset(n).name for n in ("tiny", "cpu", "full")] == ["tiny", "cpu", "full"]
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        preset("huge")


@pytest.mark.parametrize("make", [full, cpu])
def test_validation_has_a_width_neither_training_nor_test_has(make):
    entries = [e for e in plan_zoo(make()) if e.trojan is not None]
    width = lambda split: {e.plan.spec.hidden_size for e in entries if e.split == split}
    assert width("val") - width("train") - width("test")
    clean = {e.id: e.split for e in plan_zoo(make()) if e.trojan is None}
    assert all(clean[e.base_id] == "val" for e in entries if e.split == "val" and e.plan.spec.hidden_size not in width("train"))
