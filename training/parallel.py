"""Run a stage's independent steps side by side, one process each: `python -m training.pipeline --jobs N`.

The base models of different architectures do not depend on each other, nor do the clean twins, nor the Trojans once
their twins exist; each is one resumable step with its own command (`train_base --arch`, `zoo --model`). On a GPU
these models are far too small to fill it, and on a multi-core CPU one thread per job is fastest, so N such commands
at once finish a stage about N times sooner. Each child reads the configuration from the preset name, so only a
configuration equal to its preset can run this way. Each writes its output to <out>/logs/<stage>-<id>.log.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import common
from .config import PipelineConfig, preset


@dataclass(frozen=True)
class Step:
    """One resumable step run as its own process: `python -m <module> --preset P --out O <args>`."""

    stage: str
    id: str
    module: str
    args: tuple[str, ...]

    def argv(self, cfg: PipelineConfig, out: Path) -> list[str]:
        return [sys.executable, "-m", self.module, "--preset", cfg.name, "--out", str(out), *self.args]

    def log_path(self, out: Path) -> Path:
        return Path(out) / "logs" / f"{self.stage}-{self.id}.log"


class StepFailed(RuntimeError):
    """Some steps of a wave exited with an error; the message names each step and its log."""


def check_preset(cfg: PipelineConfig) -> None:
    try:
        same = preset(cfg.name) == cfg
    except ValueError:
        same = False
    if not same:
        raise ValueError(f"--jobs: each step runs in its own process, which rebuilds the configuration from the preset "
                         f"name; this configuration ({cfg.name!r}) is not that preset's, so run it with --jobs 1")


def run_wave(cfg: PipelineConfig, out: Path, steps: list[Step], jobs: int, deadline: float | None = None,
             log=print) -> None:
    """Run `steps` (independent of each other) with at most `jobs` at a time. Past `deadline` no further step starts;
    those already running finish, then common.OutOfTime is raised. A failed step does not stop the others; once all
    have ended, StepFailed names every failed one."""
    if jobs < 1:
        raise ValueError(f"--jobs: {jobs}; at least 1")
    pending = list(steps)
    running: list[tuple[Step, subprocess.Popen, float]] = []
    failed: list[str] = []
    try:
        _schedule(cfg, out, pending, running, failed, jobs, deadline, log)
    finally:
        for _, proc, _ in running:   # interrupted (Ctrl-C, SIGTERM): no step outlives the command that started it
            proc.terminate()
            proc.wait()
    if failed:
        raise StepFailed(f"{len(failed)} of {len(steps)} steps failed: " + "; ".join(failed))
    if pending:
        raise common.OutOfTime(f"time budget reached before {pending[0].stage} {pending[0].id} and {len(pending) - 1} "
                               f"more; rerun the same command to continue")


def _schedule(cfg: PipelineConfig, out: Path, pending: list[Step], running: list, failed: list[str], jobs: int,
              deadline: float | None, log) -> None:
    while pending or running:
        while pending and len(running) < jobs and not (deadline is not None and time.time() > deadline):
            step = pending.pop(0)
            path = step.log_path(out)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w") as f:
                running.append((step, subprocess.Popen(step.argv(cfg, out), stdout=f, stderr=subprocess.STDOUT), time.time()))
            log(f"  started {step.stage} {step.id}")
        if not running:
            break   # the deadline passed with steps left
        time.sleep(0.2)
        for item in list(running):
            step, proc, t0 = item
            if proc.poll() is None:
                continue
            running.remove(item)
            if proc.returncode == 0:
                log(f"  done {step.stage} {step.id} in {time.time() - t0:.0f} s")
            else:
                failed.append(f"{step.stage} {step.id} (exit status {proc.returncode}; log {step.log_path(out)})")
                log(f"  FAILED {failed[-1]}")


def exit_on_sigterm() -> None:
    """SIGTERM (`timeout`, a scheduler) ends the command like Ctrl-C does, through its `finally` blocks, so that
    run_wave stops the steps it started."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
