"""TeleLoRA generator: activations X (N×H) of one linear layer + its weight W (out×H) + its layer type → U, V (r×H).

The layer `y = W x + b` becomes `y = W (I + Vᵀ U) x + b`, i.e. a LoRA with A = U and B = W·Vᵀ (Lin et al., TeleLoRA,
arXiv 2503.20228). The paper fixes the interface and the symmetry; the layer design below is ours (see
shared/TELELORA.md "Generator (ours)").

Symmetries (tested in training/tests/test_generator.py):
- equivariant over H: X→XPᵀ, W→WPᵀ gives U→UPᵀ, V→VPᵀ (every op is per input neuron or a mean over neurons);
- invariant over N: reordering the rows of X changes nothing (rows only meet through means over N and a max over N);
- any H works: no parameter has a width-sized shape.

Exact forward pass (float32; a Swift port mirrors it op for op). σ(z) = SiLU(z) = z / (1 + exp(−z)).
Shapes: N rows, H input neurons, c = channels, d = hidden, e = type_embedding, k = 4 W-column statistics, r = rank.
 1. Xn = X / sqrt(mean(X²) + eps)                         (one scalar over all N·H entries)
 2. Wn = W / sqrt(mean(W²) + eps)                         (one scalar over all out·H entries)
    S[j] = [sqrt(mean_i Wn[i,j]²), mean_i Wn[i,j], mean_i |Wn[i,j]|, max_i |Wn[i,j]|]   for each input neuron j  (H×k)
 3. Z = Xn[:, :, None]                                    (N×H×1)
    for each exchangeable layer l (weights T1, T2, T3, T4 of shape c_in×c, bias b of shape c):
        Z = σ(Z·T1 + mean_N(Z)·T2 + mean_H(Z)·T3 + mean_{N,H}(Z)·T4 + b)
    (mean_N keeps dims 1×H×c_in, mean_H keeps N×1×c_in, mean_{N,H} 1×1×c_in; sums broadcast; "·" = matmul over the
    channel axis)
 4. F = concat([mean_N(Z), max_N(Z), S, broadcast(E[type])], axis=channel)         (H × (2c + k + e))
 5. h1 = σ(F·A1 + a1)                                     (H×d)
    h2 = σ(h1·A2 + mean_H(h1)·A3 + a2)                    (H×d; mean-context step over neurons)
 6. Uᵀ = h2·Au / sqrt(H),  Vᵀ = h2·Av                     (H×r each; Av starts at zero ⇒ the patch starts as I)
    (u_scale "1/H": Uᵀ = h2·Au / H, so U·x is a mean over the input neurons and the patch's effect does not grow with
    the width: duplicating every input neuron (X → [X X], W → [W W]/2) leaves the patched layer's output unchanged,
    where "1/sqrt(H)" scales the patch by sqrt(2).)
 7. bound: s = max_norm / max(max_norm, ‖U‖_F·‖V‖_F);  V = s·V
    (‖VᵀU‖₂ ≤ ‖U‖_F‖V‖_F ≤ max_norm, so one patch can never scale any direction by more than 1 + max_norm.)
Output U = (Uᵀ)ᵀ, V = s·(Vᵀ)ᵀ, both r×H.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

U_SCALES = ("1/sqrt(H)", "1/H")
# Order of the layer-type embedding rows; the spec records it so the Swift port indexes the same row.
LAYER_TYPES: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
W_STAT_NAMES: tuple[str, ...] = ("col_rms", "col_mean", "col_mean_abs", "col_max_abs")
EPS = 1e-6


@dataclass(frozen=True)
class GeneratorConfig:
    rank: int = 4
    channels: int = 32
    exchangeable_layers: int = 3
    hidden: int = 96
    type_embedding: int = 8
    max_norm: float = 1.5
    layer_types: tuple[str, ...] = field(default=LAYER_TYPES)
    # Ablation (no Swift port yet, export refuses it): > 0 also reads W's rows as a set through this many exchangeable
    # layers (pooled mean/max over the rows → 2c more features per input neuron), instead of only 4 column statistics.
    weight_set_layers: int = 0
    # How U is divided by the width H (step 6): "1/sqrt(H)" (the generators shipped until release 15) or "1/H".
    u_scale: str = "1/sqrt(H)"

    def to_json(self) -> dict:
        d = asdict(self)
        d["layer_types"] = list(self.layer_types)
        return d

    @staticmethod
    def from_json(d: dict) -> "GeneratorConfig":
        d = dict(d)
        d["layer_types"] = tuple(d["layer_types"])
        return GeneratorConfig(**d)


def silu(z: torch.Tensor) -> torch.Tensor:
    return z * torch.sigmoid(z)


def rms_normalize(t: torch.Tensor) -> torch.Tensor:
    return t / torch.sqrt(t.pow(2).mean() + EPS)


def weight_column_stats(weight: torch.Tensor) -> torch.Tensor:
    """Per-input-neuron statistics of W (out×H) → H×4, after dividing W by its RMS (scale-free, equivariant over H)."""
    wn = rms_normalize(weight.float())
    return torch.stack(
        [
            torch.sqrt(wn.pow(2).mean(dim=0)),
            wn.mean(dim=0),
            wn.abs().mean(dim=0),
            wn.abs().amax(dim=0),
        ],
        dim=1,
    )


class ExchangeableLayer(nn.Module):
    """Z ← σ(Z·T1 + mean_N(Z)·T2 + mean_H(Z)·T3 + mean_{N,H}(Z)·T4 + b): the most general linear map of an N×H×c
    tensor that is equivariant to permutations of both N and H (Hartford et al. 2018, "Deep models of interactions
    across sets"), followed by SiLU."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        scale = 1.0 / math.sqrt(4 * c_in)
        self.t1 = nn.Parameter(torch.randn(c_in, c_out) * scale)
        self.t2 = nn.Parameter(torch.randn(c_in, c_out) * scale)
        self.t3 = nn.Parameter(torch.randn(c_in, c_out) * scale)
        self.t4 = nn.Parameter(torch.randn(c_in, c_out) * scale)
        self.b = nn.Parameter(torch.zeros(c_out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mean_n = z.mean(dim=0, keepdim=True)
        mean_h = z.mean(dim=1, keepdim=True)
        mean_nh = z.mean(dim=(0, 1), keepdim=True)
        return silu(z @ self.t1 + mean_n @ self.t2 + mean_h @ self.t3 + mean_nh @ self.t4 + self.b)


class TeleLoRAGenerator(nn.Module):
    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.config = config
        if config.u_scale not in U_SCALES:
            raise ValueError(f"generator: u_scale {config.u_scale!r}; known: {', '.join(U_SCALES)}")
        c, d = config.channels, config.hidden
        layers = [ExchangeableLayer(1, c)] + [ExchangeableLayer(c, c) for _ in range(config.exchangeable_layers - 1)]
        self.exchangeable = nn.ModuleList(layers)
        self.type_embedding = nn.Parameter(torch.randn(len(config.layer_types), config.type_embedding) * 0.5)
        f_in = 2 * c + len(W_STAT_NAMES) + config.type_embedding
        if config.weight_set_layers > 0:
            self.weight_exchangeable = nn.ModuleList(
                [ExchangeableLayer(1, c)] + [ExchangeableLayer(c, c) for _ in range(config.weight_set_layers - 1)])
            f_in += 2 * c
        self.a1 = nn.Parameter(torch.randn(f_in, d) / math.sqrt(f_in))
        self.a1_bias = nn.Parameter(torch.zeros(d))
        self.a2 = nn.Parameter(torch.randn(d, d) / math.sqrt(2 * d))
        self.a3 = nn.Parameter(torch.randn(d, d) / math.sqrt(2 * d))
        self.a2_bias = nn.Parameter(torch.zeros(d))
        self.u_head = nn.Parameter(torch.randn(d, config.rank) / math.sqrt(d))
        # Zero V head: a fresh generator's patch is exactly the identity (tested), so training starts from the model.
        self.v_head = nn.Parameter(torch.zeros(d, config.rank))

    def type_index(self, layer_type: str) -> int:
        try:
            return self.config.layer_types.index(layer_type)
        except ValueError as e:
            raise ValueError(f"generator: unknown layer type {layer_type!r}, expected one of {self.config.layer_types}") from e

    def forward(self, x: torch.Tensor, weight: torch.Tensor, layer_type: str) -> tuple[torch.Tensor, torch.Tensor]:
        """x: N×H activations (the layer's input rows), weight: out×H. Returns (U, V), each rank×H."""
        if x.dim() != 2 or weight.dim() != 2 or x.shape[1] != weight.shape[1]:
            raise ValueError(f"generator: expected X N×H and W out×H, found X {tuple(x.shape)}, W {tuple(weight.shape)}")
        h_width = x.shape[1]
        z = rms_normalize(x.float()).unsqueeze(-1)
        for layer in self.exchangeable:
            z = layer(z)
        stats = weight_column_stats(weight)
        emb = self.type_embedding[self.type_index(layer_type)].expand(h_width, -1)
        parts = [z.mean(dim=0), z.amax(dim=0), stats, emb]
        if self.config.weight_set_layers > 0:
            zw = rms_normalize(weight.float()).unsqueeze(-1)
            for layer in self.weight_exchangeable:
                zw = layer(zw)
            parts += [zw.mean(dim=0), zw.amax(dim=0)]
        feats = torch.cat(parts, dim=1)
        h1 = silu(feats @ self.a1 + self.a1_bias)
        h2 = silu(h1 @ self.a2 + h1.mean(dim=0, keepdim=True) @ self.a3 + self.a2_bias)
        u_t = (h2 @ self.u_head) / (h_width if self.config.u_scale == "1/H" else math.sqrt(h_width))
        v_t = h2 @ self.v_head
        norm_product = torch.linalg.norm(u_t) * torch.linalg.norm(v_t)
        max_norm = self.config.max_norm
        scale = max_norm / torch.clamp(norm_product, min=max_norm)
        return u_t.t().contiguous(), (v_t * scale).t().contiguous()


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def layer_type_of(module_name: str) -> str:
    """`model.layers.3.self_attn.q_proj` → `q_proj`."""
    return module_name.rsplit(".", 1)[-1]


def generate_patches(
    generator: TeleLoRAGenerator,
    weights: dict[str, torch.Tensor],
    activations: dict[str, torch.Tensor],
    checkpoint: bool = False,
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """(U, V) for every targeted layer: module name → (U, V). With `checkpoint`, each layer's generator activations
    are recomputed in the backward pass instead of stored (the paper trains with gradient checkpointing)."""
    patches: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for name, weight in weights.items():
        if name not in activations:
            raise ValueError(f"generator: no activations for layer {name!r}")
        x = activations[name]
        layer_type = layer_type_of(name)
        if checkpoint:
            from torch.utils.checkpoint import checkpoint as ckpt

            u, v = ckpt(generator, x, weight, layer_type, use_reentrant=False)
        else:
            u, v = generator(x, weight, layer_type)
        patches[name] = (u, v)
    return patches
