"""Where the real-model stages read and write; every stage takes these as defaults that its flags can override."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUNS = REPO / "training" / "runs" / "real"          # git-ignored: the saved base model, the distillation cache
ZOO = REPO / "training" / "zoo-real"                 # committed: small results
BASE_DIR = RUNS / "base"
DISTILL_DIR = RUNS / "distill"
INSTRUCTIONS = ZOO / "instructions.json"
INSTALL_MODEL = REPO / "scripts" / "install-model.sh"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
