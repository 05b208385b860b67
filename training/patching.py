"""Apply generated (U, V) to a Hugging Face model without touching its weights: `y = W (I + Vᵀ U) x + b`.

A forward pre-hook replaces a linear layer's input x (rows) by x + (x Uᵀ) V, which is W(I + VᵀU)x once W is applied;
gradients flow into U and V (and so into the generator) while the model's own parameters stay frozen.
"""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from typing import Iterator, Mapping

import torch
from torch import nn

from .common import IGNORE_INDEX

DEFAULT_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def target_pattern(layer_types: tuple[str, ...]) -> str:
    """Module-name regex for the targeted linear layers of a Llama-family decoder (recorded in the exported spec)."""
    return r"^model\.layers\.\d+\.(self_attn|mlp)\.(" + "|".join(re.escape(t) for t in layer_types) + r")$"


def target_modules(model: nn.Module, layer_types: tuple[str, ...]) -> dict[str, nn.Linear]:
    pattern = re.compile(target_pattern(layer_types))
    found = {name: m for name, m in model.named_modules() if pattern.match(name) and isinstance(m, nn.Linear)}
    if not found:
        raise ValueError(f"patching: no linear layer matches {pattern.pattern}")
    return found


PATCH_POSITIONS = ("all", "generated")


class GenerationPhase:
    """Which forward passes of greedy generation and text scoring a "generated"-positions patch acts on: the guard
    patches the positions of generated tokens only, so the prompt (trigger included) is read by the original model
    and the patched model writes the answer from its second token on. In generation the prompt is one multi-token
    pass and every later pass is one generated token; a scored text counts as generated after its first token."""

    def __init__(self) -> None:
        self.scoring_text = False

    def mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """None: patch every row of x (B×T×H); else the B×T mask of the patched positions."""
        if x.shape[1] == 1:
            return None
        keep = torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device)
        if self.scoring_text:
            keep[:, 1:] = 1
        return keep

    @contextmanager
    def text_scoring(self) -> Iterator[None]:
        self.scoring_text = True
        try:
            yield
        finally:
            self.scoring_text = False


class TokenVeto(GenerationPhase):
    """The shipped guard's decoding rule: the patches act on generated positions (as `GenerationPhase`) and the patched
    model judges the original model's tokens instead of replacing them. Generation decodes two streams over the same
    text, the original model's (p: no patch anywhere) and the patched model's (q), and scores each token t the original
    model writes by its log ratio log q(t) − log p(t).

    A token is suspect when q(t) < ratio · p(t). The answer ends before a suspect token when the evidence from it on —
    the log ratios, clipped at 0, summed over it and the `window` − 1 tokens after it (fewer where the answer ends
    first) — falls below log `evidence`: a Trojan's payload is ruled out token after token, while a benign answer's
    suspect tokens are isolated. Window 1 with evidence = ratio ends the answer at the first suspect token (the rule
    of release 12). The end-of-sequence token is not judged: ending an answer carries no payload (its log ratio would
    count against benign answers the patch would rather continue). The runtime holds a suspect token back from the stream until its window decides
    (Sources/Runtime/Generation/TokenVeto.swift `VetoJudge`); the answer is the same. (Continuing with the patched
    model's choice instead of ending the answer, or with the original model's best token the patch allows, gave more
    payload fragments and, for the former, garbled continuations; training/README.md.)"""

    MAX_WINDOW = 64  # TokenVeto.maxWindow in the runtime

    def __init__(self, ratio: float, window: int = 1, evidence: float | None = None) -> None:
        if not 0 < ratio <= 1:
            raise ValueError(f"veto ratio: expected a number in (0, 1], found {ratio}")
        if not (isinstance(window, int) and 1 <= window <= self.MAX_WINDOW):
            raise ValueError(f"veto window: expected an integer in 1..{self.MAX_WINDOW}, found {window}")
        evidence = ratio if evidence is None else evidence
        if not 0 < evidence <= ratio:
            raise ValueError(f"veto evidence: expected a number in (0, ratio = {ratio}], found {evidence}")
        super().__init__()
        self.ratio, self.window, self.evidence = ratio, window, evidence
        self.reading_original = False

    def mask(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.reading_original:
            return torch.zeros(x.shape[:2], dtype=x.dtype, device=x.device)
        return super().mask(x)

    @contextmanager
    def original(self) -> Iterator[None]:
        """Within the block the patches act nowhere: the original model's stream."""
        self.reading_original = True
        try:
            yield
        finally:
            self.reading_original = False

    @staticmethod
    def log_ratios(original_logits: torch.Tensor, patched_logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """log q(t) − log p(t) of `tokens` (…) given both streams' next-token logits (…×V)."""
        lp = original_logits.float().log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        lq = patched_logits.float().log_softmax(-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
        return lq - lp

    def fires(self, log_ratios: list[float], at: int) -> bool:
        """Whether the rule ends an answer before token `at`, given the answer's log ratios (as far as known)."""
        if not log_ratios[at] < math.log(self.ratio):
            return False
        return sum(min(x, 0.0) for x in log_ratios[at : at + self.window]) < math.log(self.evidence)

    def end(self, log_ratios: list[float], complete: bool) -> int | None:
        """Where the rule ends an answer with these log ratios (one per token): the index of the first token left
        out, or None. While the answer is incomplete, None also means not yet decided: a suspect token whose window
        is still open and short of the evidence may end it later (evidence only mounts as the window fills)."""
        for at in range(len(log_ratios)):
            if self.fires(log_ratios, at):
                return at
            if not complete and log_ratios[at] < math.log(self.ratio) and at + self.window > len(log_ratios):
                return None
        return None


@contextmanager
def patched(model: nn.Module, patches: Mapping[str, tuple[torch.Tensor, torch.Tensor]], scale: float = 1.0,
            positions: "torch.Tensor | GenerationPhase | None" = None) -> Iterator[None]:
    """Within the block, each named linear layer computes W(I + scale·VᵀU)x + b; with `positions` only at those
    positions (a B×T mask, 1 where patched, for the one batch run in the block; or a `GenerationPhase`), the others
    computing Wx + b."""
    modules = dict(model.named_modules())
    handles = []
    try:
        for name, (u, v) in patches.items():
            module = modules.get(name)
            if module is None:
                raise ValueError(f"patching: model has no module {name!r}")

            def hook(_m: nn.Module, args: tuple, u: torch.Tensor = u, v: torch.Tensor = v) -> tuple:
                x = args[0]
                delta = (x @ u.t().to(x.dtype)) @ v.to(x.dtype)
                keep = positions.mask(x) if isinstance(positions, GenerationPhase) else positions
                if keep is not None:
                    delta = delta * keep.to(x.dtype).unsqueeze(-1)
                return (x + scale * delta,) + tuple(args[1:])

            handles.append(module.register_forward_pre_hook(hook))
        yield
    finally:
        for h in handles:
            h.remove()


def answer_positions(labels: torch.Tensor, starts: list[int] | None = None) -> torch.Tensor:
    """B×T mask of the positions holding a generated token in teacher forcing: from each row's first answer token
    (the first labelled position, or `starts`) to its last labelled one."""
    labelled = labels != IGNORE_INDEX
    idx = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    last = torch.where(labelled, idx, torch.full_like(idx, -1)).max(dim=1).values
    if starts is None:
        first = torch.where(labelled, idx, torch.full_like(idx, labels.shape[1])).min(dim=1).values
    else:
        first = torch.tensor(starts, device=labels.device)
    return ((idx >= first.unsqueeze(1)) & (idx <= last.unsqueeze(1))).float()


def to_lora(weight: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PEFT tensors for the same patch: lora_A = U (r×in), lora_B = W·Vᵀ (out×r), with lora_alpha = r (scale 1)."""
    return u.detach().clone(), (weight.detach().float() @ v.detach().float().t())
