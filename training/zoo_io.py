"""Read-only access to a zoo directory as training.md's on-disk contract defines it (zoo.json, models/<id>/, corpus/)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from .common import read_jsonl
from .tokenizer import load as load_tokenizer


@dataclass(frozen=True)
class ZooModel:
    id: str
    path: str
    split: str
    architecture: str
    hidden_size: int
    num_layers: int
    clean: bool
    trigger_kind: str | None
    behaviour: str | None
    base: str | None

    @staticmethod
    def from_json(d: dict) -> "ZooModel":
        return ZooModel(
            id=d["id"], path=d["path"], split=d["split"], architecture=d.get("architecture", ""),
            hidden_size=int(d.get("hidden_size", 0)), num_layers=int(d.get("num_layers", 0)), clean=bool(d["clean"]),
            trigger_kind=d.get("trigger_kind"), behaviour=d.get("behaviour"), base=d.get("base"),
        )


@dataclass(frozen=True)
class Zoo:
    root: Path
    models: tuple[ZooModel, ...]
    config_hash: str

    @staticmethod
    def open(root: Path) -> "Zoo":
        index = root / "zoo.json"
        if not index.exists():
            raise FileNotFoundError(f"zoo: {index} not found (build the zoo first)")
        data = json.loads(index.read_text())
        return Zoo(root, tuple(ZooModel.from_json(m) for m in data["models"]), str(data.get("config_hash", "")))

    def split(self, name: str) -> list[ZooModel]:
        return [m for m in self.models if m.split == name]

    def model_dir(self, entry: ZooModel) -> Path:
        p = Path(entry.path)
        if p.is_absolute():
            return p
        return self.root / p if (self.root / p).exists() else self.root / "models" / entry.id

    def probes(self) -> list[str]:
        return list(json.loads((self.root / "corpus" / "probes.json").read_text()))

    def benign_eval(self) -> list[dict]:
        return read_jsonl(self.root / "corpus" / "benign_eval.jsonl")

    def perplexity_text(self) -> str:
        return (self.root / "corpus" / "perplexity.txt").read_text()

    def alignment(self, entry: ZooModel) -> list[dict]:
        return read_jsonl(self.model_dir(entry) / "alignment.jsonl")

    def suite(self, entry: ZooModel) -> dict:
        return json.loads((self.model_dir(entry) / "suite.json").read_text())

    def trojan(self, entry: ZooModel) -> dict:
        return json.loads((self.model_dir(entry) / "trojan.json").read_text())


def add_location_args(parser, out_help: str) -> None:
    """--preset / --tiny / --out / --zoo as every stage takes them: the zoo defaults to --out, which defaults to
    training/runs/<preset>."""
    from .config import add_preset_argument

    add_preset_argument(parser)
    parser.add_argument("--out", type=Path, help=f"{out_help} (default: training/runs/<preset>)")
    parser.add_argument("--zoo", type=Path, help="the zoo directory holding zoo.json (default: --out)")


def resolve_locations(args) -> tuple[Path, Path]:
    out = args.out or Path("training/runs") / args.preset
    return (args.zoo or out), out


def load_model(path: Path, device: str = "cpu"):
    """A frozen float32 model in eval mode and its tokenizer."""
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32).to(device)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, load_tokenizer(path)
