import json

import pytest
import torch

from training.export import ExportError, deployed, load_exported, parity_cases, write_generator
from training.generator import GeneratorConfig, TeleLoRAGenerator


def trained_looking_generator(u_scale: str = "1/sqrt(H)") -> TeleLoRAGenerator:
    torch.manual_seed(4)
    gen = TeleLoRAGenerator(GeneratorConfig(rank=3, channels=8, exchangeable_layers=3, hidden=20, max_norm=1.0,
                                            u_scale=u_scale))
    with torch.no_grad():
        for p in gen.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return gen.eval()


@pytest.mark.parametrize("u_scale", ["1/sqrt(H)", "1/H"])
def test_spec_and_safetensors_reload_to_an_identical_generator(tmp_path, u_scale):
    gen = trained_looking_generator(u_scale)
    spec = write_generator(gen, tmp_path, {"targets": ["x"]})
    assert spec["architecture"]["u_scale"] == u_scale
    again = load_exported(tmp_path)
    assert again.config == gen.config
    for (name, a), (name_b, b) in zip(gen.state_dict().items(), again.state_dict().items()):
        assert name == name_b and torch.equal(a, b)
    assert json.loads((tmp_path / "spec.json").read_text())["architecture"]["activation"] == "silu"
    assert spec["format"] == "teleguard-telelora" and spec["version"] == 1
    assert parity_cases(gen) == parity_cases(again)


@pytest.mark.parametrize("bound", [0.01, 100.0])  # the norm bound active on every case / on none
def test_deployed_generator_gives_scale_times_the_trained_patches(bound):
    gen = trained_looking_generator()
    from dataclasses import replace

    gen = TeleLoRAGenerator(replace(gen.config, max_norm=bound)).eval()
    gen.load_state_dict(trained_looking_generator().state_dict())
    for scale in (0.5, 2.0):
        fused = deployed(gen, scale)
        torch.manual_seed(9)
        for h, layer_type in ((17, "q_proj"), (40, "down_proj")):
            x, w = torch.randn(6, h), torch.randn(11, h) * 0.1
            with torch.no_grad():
                u, v = gen(x, w, layer_type)
                u2, v2 = fused(x, w, layer_type)
            torch.testing.assert_close(u2, u)
            torch.testing.assert_close(v2, scale * v, rtol=1e-5, atol=1e-7)
    assert deployed(gen, 1.0) is gen


def test_parity_cases_hold_nonzero_patches():
    cases = parity_cases(trained_looking_generator())
    assert {c["h"] for c in cases} == {17, 48, 64, 130}
    for c in cases:
        assert len(c["u"]) == len(c["v"]) == 3 * c["h"]
        assert any(abs(v) > 0 for v in c["v"])


def test_wrong_format_is_refused(tmp_path):
    write_generator(trained_looking_generator(), tmp_path, {})
    spec = json.loads((tmp_path / "spec.json").read_text())
    spec["format"] = "something-else"
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    with pytest.raises(ExportError, match="expected 'teleguard-telelora' 1, found 'something-else' 1"):
        load_exported(tmp_path)


def test_committed_parity_fixture_matches_the_committed_generator():
    """Tests/Fixtures/telelora/parity.json (for the Swift port) was made by training/export.py from
    adapters/telelora/; recomputing it from the exported files alone must give the same numbers."""
    from pathlib import Path

    from training.export import sha256

    repo = Path(__file__).resolve().parents[2]
    fixture_path = repo / "Tests" / "Fixtures" / "telelora" / "parity.json"
    if not fixture_path.exists():
        pytest.skip("no exported generator in this checkout")
    fixture = json.loads(fixture_path.read_text())
    target = repo / "adapters" / "telelora"
    assert fixture["generator_sha256"] == sha256(target / "generator.safetensors")
    gen = load_exported(target)
    for want, got in zip(fixture["cases"], parity_cases(gen)):
        for key in ("x", "w", "w_column_stats", "u", "v"):
            torch.testing.assert_close(torch.tensor(got[key]), torch.tensor(want[key]), rtol=1e-5, atol=1e-6)
