"""The real-model zoo's stages: SmolLM2-135M-Instruct as the base, benign instructions and their self-distilled answers.

Each stage is a module with a `main` (`python -m training.real.<module>`), resumable, writing its large outputs under
`training/runs/real/` (git-ignored) and its small results under `training/zoo-real/` (committed):

- `base`: the GGUF installed by `scripts/install-model.sh`, loaded by transformers and saved once as a Hugging Face
  directory (`training/runs/real/base/`), with the GGUF's SHA-256.
- `instructions`: benign instructions built from the corpus's Debian data (`training/zoo-real/instructions.json`).
- `distill`: the base model's own greedy answers to them, in budgeted chunks (exit status 3 while work remains).
"""
