import pytest
import torch

from training.generator import GeneratorConfig, TeleLoRAGenerator, parameter_count


def random_generator(seed: int = 0, weight_set_layers: int = 0) -> TeleLoRAGenerator:
    torch.manual_seed(seed)
    gen = TeleLoRAGenerator(GeneratorConfig(rank=4, channels=8, exchangeable_layers=2, hidden=16, max_norm=100.0,
                                            weight_set_layers=weight_set_layers))
    with torch.no_grad():
        gen.v_head.normal_()  # a trained-looking V head, so the symmetry checks see non-zero V
    return gen


def inputs(n: int, h: int, out: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, h, generator=g) * torch.linspace(0.2, 3.0, h)
    return x, torch.randn(out, h, generator=g)


@pytest.mark.parametrize("weight_set_layers", [0, 2])
@pytest.mark.parametrize("h", [17, 64, 130])
def test_permuting_input_neurons_permutes_u_and_v(h, weight_set_layers):
    gen = random_generator(weight_set_layers=weight_set_layers)
    x, w = inputs(40, h, 23, seed=h)
    perm = torch.randperm(h, generator=torch.Generator().manual_seed(1))
    u, v = gen(x, w, "down_proj")
    up, vp = gen(x[:, perm], w[:, perm], "down_proj")
    assert u.shape == (4, h) and v.shape == (4, h)
    torch.testing.assert_close(up, u[:, perm], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(vp, v[:, perm], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("h", [17, 64, 130])
def test_shuffling_sample_rows_changes_nothing(h):
    gen = random_generator()
    x, w = inputs(50, h, 31, seed=100 + h)
    rows = torch.randperm(50, generator=torch.Generator().manual_seed(2))
    u, v = gen(x, w, "q_proj")
    us, vs = gen(x[rows], w, "q_proj")
    torch.testing.assert_close(us, u, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(vs, v, rtol=1e-5, atol=1e-6)


def test_layer_types_with_the_same_input_get_different_patches():
    gen = random_generator()
    x, w = inputs(30, 24, 24, seed=5)
    uq, vq = gen(x, w, "q_proj")
    uk, vk = gen(x, w, "k_proj")
    assert not torch.allclose(vq, vk)


def test_patch_norm_is_bounded():
    torch.manual_seed(0)
    gen = TeleLoRAGenerator(GeneratorConfig(rank=4, channels=8, exchangeable_layers=2, hidden=16, max_norm=0.5))
    with torch.no_grad():
        gen.v_head.normal_(std=50.0)
    x, w = inputs(30, 40, 40, seed=6)
    with torch.no_grad():
        u, v = gen(x, w, "o_proj")
    spectral = torch.linalg.matrix_norm(v.t() @ u, ord=2)
    assert float(spectral) <= 0.5 + 1e-4


def test_fresh_generator_gives_zero_v():
    gen = TeleLoRAGenerator(GeneratorConfig())
    x, w = inputs(20, 33, 12, seed=7)
    u, v = gen(x, w, "up_proj")
    assert torch.count_nonzero(v) == 0
    assert torch.count_nonzero(u) > 0


def test_full_size_generator_stays_small():
    assert parameter_count(TeleLoRAGenerator(GeneratorConfig())) < 300_000


def test_unknown_layer_type_and_bad_shapes_are_refused():
    gen = TeleLoRAGenerator(GeneratorConfig())
    with pytest.raises(ValueError, match="unknown layer type 'lm_head'"):
        gen(torch.zeros(3, 4), torch.zeros(5, 4), "lm_head")
    with pytest.raises(ValueError, match="expected X N×H and W out×H"):
        gen(torch.zeros(3, 4), torch.zeros(5, 6), "q_proj")


def test_weight_set_variant_ignores_the_order_of_ws_rows():
    gen = random_generator(weight_set_layers=2)
    x, w = inputs(30, 20, 26, seed=9)
    rows = torch.randperm(26, generator=torch.Generator().manual_seed(3))
    u, v = gen(x, w, "gate_proj")
    ur, vr = gen(x, w[rows], "gate_proj")
    torch.testing.assert_close(ur, u, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(vr, v, rtol=1e-5, atol=1e-6)


def patched_output(gen: TeleLoRAGenerator, x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(W·x, W·Vᵀ·U·x) for every row x of X: the layer's output and the patch's share of it."""
    with torch.no_grad():
        u, v = gen(x, w, "up_proj")
        return x @ w.t(), (x @ u.t()) @ v @ w.t()


@pytest.mark.parametrize("h", [17, 48])
def test_with_u_scale_1_over_h_duplicating_every_input_neuron_changes_no_output(h):
    """X → [X X] and W → [W W]/2 is the same layer at twice the width; a "1/H" generator patches it the same, a
    "1/sqrt(H)" one scales the patch's share by sqrt(2)."""
    x, w = inputs(40, h, 29, seed=300 + h)
    x2, w2 = torch.cat([x, x], dim=1), torch.cat([w, w], dim=1) / 2
    for u_scale, ratio in (("1/H", 1.0), ("1/sqrt(H)", 2 ** 0.5)):
        torch.manual_seed(0)
        gen = TeleLoRAGenerator(GeneratorConfig(rank=4, channels=8, exchangeable_layers=2, hidden=16, max_norm=100.0,
                                                u_scale=u_scale))
        with torch.no_grad():
            gen.v_head.normal_()
        y, patch = patched_output(gen, x, w)
        y2, patch2 = patched_output(gen, x2, w2)
        torch.testing.assert_close(y2, y, rtol=1e-5, atol=1e-5)
        assert patch.abs().max() > 1e-3
        torch.testing.assert_close(patch2, ratio * patch, rtol=1e-4, atol=1e-5)


def test_an_unknown_u_scale_is_refused():
    with pytest.raises(ValueError, match="u_scale '1/H2'"):
        TeleLoRAGenerator(GeneratorConfig(u_scale="1/H2"))
