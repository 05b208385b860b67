"""Run the training pipeline's stages in order: `python -m training.pipeline [--tiny] [--out DIR] [--steps a,b,c]`.

Every stage is resumable (it skips work whose output exists for the same configuration), so an interrupted run
continues where it stopped. Wall time per stage is written to <out>/timings.json.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Callable

from . import baselines, common, corpus, tokenizer, train_base, zoo
from .config import PipelineConfig, preset

STAGES: dict[str, Callable[[PipelineConfig, Path], object]] = {
    "corpus": lambda cfg, out: corpus.run(cfg.corpus, out),
    "tokenizer": lambda cfg, out: tokenizer.run(cfg.tokenizer, out),
    "base": lambda cfg, out: train_base.run(cfg, out),
    "zoo": lambda cfg, out: zoo.run(cfg, out),
    "baselines": lambda cfg, out: baselines.run(cfg, out),
}


def run(cfg: PipelineConfig, out: Path, steps: list[str]) -> dict[str, float]:
    unknown = [s for s in steps if s not in STAGES]
    if unknown:
        raise ValueError(f"--steps: unknown stages {unknown}; known {list(STAGES)}")
    timings_path = Path(out) / "timings.json"
    timings = common.read_json(timings_path) if timings_path.exists() else {}
    for step in steps:
        t0 = time.time()
        print(f"== {step}", flush=True)
        STAGES[step](cfg, Path(out))
        timings[step] = round(time.time() - t0, 1)
        common.write_json(timings_path, timings)
        print(f"== {step} done in {timings[step]} s", flush=True)
    return timings


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build corpus, tokenizer, base models, the Trojan zoo and baselines.")
    p.add_argument("--tiny", action="store_true", help="the CPU-sized configuration (minutes on 2 cores)")
    p.add_argument("--out", type=Path, help="output folder (default training/runs/tiny or training/runs/full)")
    p.add_argument("--steps", default=",".join(STAGES), help=f"comma-separated stages, default all: {','.join(STAGES)}")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    cfg = preset(a.tiny)
    out = a.out or Path("training/runs") / cfg.name
    timings = run(cfg, out, [s for s in a.steps.split(",") if s])
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
