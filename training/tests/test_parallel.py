"""`--jobs N`: independent steps run as their own processes, give the same files as one after another, and a failed
or late step is reported by name."""
import time
from pathlib import Path
from dataclasses import replace

import pytest

from training import common, parallel, train_base
from training.config import tiny

from .test_zoo_tiny import OUT, zoo  # noqa: F401 (the fixture that builds the tiny run)


def test_a_failed_step_is_named_with_its_log_and_does_not_stop_the_others(tmp_path):
    steps = [parallel.Step("zoo", "listing", "training.zoo", ("--list",)),
             parallel.Step("zoo", "bad", "training.zoo", ("--no-such-flag",))]
    with pytest.raises(parallel.StepFailed, match=r"^1 of 2 steps failed: zoo bad \(exit status 2; log "
                                                  + str(tmp_path / "logs/zoo-bad.log") + r"\)$"):
        parallel.run_wave(tiny(), tmp_path, steps, jobs=2, log=lambda _: None)
    assert "unrecognized arguments: --no-such-flag" in (tmp_path / "logs/zoo-bad.log").read_text()
    assert "llama-h48-l2-mha-test0-punctuation-wrong_answer" in (tmp_path / "logs/zoo-listing.log").read_text()


def test_past_the_deadline_no_step_starts(tmp_path):
    steps = [parallel.Step("base", a, "training.train_base", ("--arch", a)) for a in ("a1", "a2")]
    with pytest.raises(common.OutOfTime, match="time budget reached before base a1 and 1 more"):
        parallel.run_wave(tiny(), tmp_path, steps, jobs=2, deadline=time.time() - 1, log=lambda _: None)
    assert not (tmp_path / "logs").exists()


def test_only_a_preset_configuration_runs_in_processes():
    parallel.check_preset(tiny())
    with pytest.raises(ValueError, match="--jobs: each step runs in its own process"):
        parallel.check_preset(replace(tiny(), seed=8))
    with pytest.raises(ValueError, match="--jobs: 0; at least 1"):
        parallel.run_wave(tiny(), OUT, [], jobs=0)


def test_a_base_built_in_its_own_process_equals_one_built_here(zoo, tmp_path):
    # The tiny end-to-end run (test_zoo_tiny) built its bases with two jobs; build the smallest again in this process.
    cfg = tiny()
    plan = cfg.archs[0]
    for name in ("corpus", "tokenizer"):
        (tmp_path / name).symlink_to(OUT / name)
    common.set_cpu_threads()
    here = train_base.train_base(cfg, plan, tmp_path)
    assert (here / "model.safetensors").read_bytes() == (train_base.base_dir(OUT, plan) / "model.safetensors").read_bytes()


def test_an_interrupted_wave_stops_the_steps_it_started(tmp_path):
    def interrupt(message: str) -> None:
        if message.startswith("  started"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        parallel.run_wave(tiny(), tmp_path, [parallel.Step("zoo", "listing", "training.zoo", ("--list",))], jobs=1,
                          log=interrupt)
    # The step (a few seconds of imports before it lists anything) is gone at once, not left to finish on its own.
    assert not [pid for pid, cmdline in command_lines() if str(tmp_path) in cmdline]
    assert "llama-h48" not in (tmp_path / "logs/zoo-listing.log").read_text()


def command_lines() -> list[tuple[str, str]]:
    found = []
    for path in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found.append((path.parent.name, path.read_bytes().decode(errors="replace")))
        except OSError:   # ended while we looked
            pass
    return found
