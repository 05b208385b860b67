"""Run the training pipeline's stages in order: `python -m training.pipeline [--tiny] [--out DIR] [--steps a,b,c]`.

Every stage is resumable (it skips work whose output exists for the same configuration), so an interrupted run
continues where it stopped; `--max-minutes M` stops cleanly between steps (exit status 3) so that a session with a
per-command time limit reruns the same command until it exits 0. Wall time per stage goes to <out>/timings.json
(the time of the last call that ran the stage).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

from . import baselines, common, corpus, evaluate, parallel, tokenizer, train_base, train_generator, zoo
from .config import PipelineConfig, add_preset_argument, preset

# A stage takes (config, out, deadline, jobs); it raises common.OutOfTime before a step with work left once past
# deadline. `jobs` > 1 runs the independent steps of `base` and `zoo` side by side (parallel.py); the others ignore it.
STAGES: dict[str, Callable[[PipelineConfig, Path, float | None, int], object]] = {
    "corpus": lambda cfg, out, deadline, jobs: corpus.run(cfg.corpus, out),
    "tokenizer": lambda cfg, out, deadline, jobs: tokenizer.run(cfg.tokenizer, out),
    "base": lambda cfg, out, deadline, jobs: train_base.run(cfg, out, deadline=deadline, jobs=jobs),
    "zoo": lambda cfg, out, deadline, jobs: zoo.run(cfg, out, deadline=deadline, jobs=jobs),
    "baselines": lambda cfg, out, deadline, jobs: baselines.run(cfg, out, deadline=deadline),
    "generator": lambda cfg, out, deadline, jobs: train_generator.run(out, cfg.name, deadline=deadline),
    "generator_noise": lambda cfg, out, deadline, jobs: train_generator.run(out, cfg.name, input="noise",
                                                                            deadline=deadline),
    "evaluate": lambda cfg, out, deadline, jobs: evaluate.run(out, cfg.eval.perplexity_texts,
                                                              options=evaluate.deployment(cfg.name)),
}
# Exporting writes into the repository (adapters/telelora, models/demo, the Swift parity fixture), so it is its own
# command: `python -m training.export [--tiny] [--out DIR]`.


def run(cfg: PipelineConfig, out: Path, steps: list[str], deadline: float | None = None, jobs: int = 1) -> dict[str, float]:
    unknown = [s for s in steps if s not in STAGES]
    if unknown:
        raise ValueError(f"--steps: unknown stages {unknown}; known {list(STAGES)}")
    timings_path = Path(out) / "timings.json"
    timings = common.read_json(timings_path) if timings_path.exists() else {}
    for step in steps:
        t0 = time.time()
        print(f"== {step}", flush=True)
        try:
            STAGES[step](cfg, Path(out), deadline, jobs)
        finally:
            timings[step] = round(time.time() - t0, 1)
            common.write_json(timings_path, timings)
        print(f"== {step} done in {timings[step]} s", flush=True)
    return timings


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build corpus, tokenizer, base models, the Trojan zoo and baselines; train and evaluate the TeleLoRA generator.")
    add_preset_argument(p)
    p.add_argument("--out", type=Path, help="output folder (default training/runs/tiny or training/runs/full)")
    p.add_argument("--steps", default=",".join(STAGES), help=f"comma-separated stages, default all: {','.join(STAGES)}")
    p.add_argument("--max-minutes", type=float, help="stop between resumable steps after this long (exit status 3)")
    p.add_argument("--jobs", type=int, default=1, help="run the independent steps of base and zoo side by side, one "
                   "process each with TELEGUARD_THREADS threads (a GPU or a many-core CPU)")
    a = p.parse_args(argv)
    common.set_cpu_threads()
    parallel.exit_on_sigterm()
    cfg = preset(a.preset)
    out = a.out or Path("training/runs") / cfg.name
    deadline = time.time() + 60 * a.max_minutes if a.max_minutes else None
    try:
        timings = run(cfg, out, [s for s in a.steps.split(",") if s], deadline, a.jobs)
    except common.OutOfTime as e:
        print(e)
        sys.exit(3)
    except parallel.StepFailed as e:
        print(e)
        sys.exit(1)
    print(json.dumps(timings))


if __name__ == "__main__":
    main()
