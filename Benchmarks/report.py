"""Combine benchmark runs into a Markdown table and a JSON summary (standard library only).

Each input file holds the JSON lines of one runtime's runs (`teleguard bench --json`,
`transformers_reference.py`, `llamacpp_reference.py`; one object per run). For every
runtime the best run per metric is kept (highest tokens/s, lowest load time and peak
RSS), because the machine is shared and slower runs measure the neighbours, not us.
Ratios are TeleGuard / reference: above 1 means TeleGuard is faster.

Usage: python3 Benchmarks/report.py --teleguard T.jsonl --reference transformers=H.jsonl
           --reference llama.cpp=L.jsonl [--load "uptime text"] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HIGHER_IS_BETTER = ("prefill_tokens_per_second", "decode_tokens_per_second")
LOWER_IS_BETTER = ("load_seconds", "peak_rss_bytes")


def read_runs(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    runs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line.startswith("{"):
            continue  # progress or log lines a runtime printed to stdout
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError as error:
            print(f"{path}:{number}: not JSON ({error}), skipped", file=sys.stderr)
    return runs


def best_of(runs: list[dict]) -> dict | None:
    if not runs:
        return None
    best = dict(runs[0])
    for key in HIGHER_IS_BETTER:
        best[key] = max(run[key] for run in runs)
    for key in LOWER_IS_BETTER:
        best[key] = min(run[key] for run in runs)
    best["runs"] = len(runs)
    return best


def cell(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def markdown(results: dict[str, dict | None], load: str | None) -> str:
    lines = []
    if load:
        lines += [f"1-minute load average before each run (2 cores, shared): {load}", ""]
    lines += [
        "| runtime | runs | load (s) | prefill (tok/s) | decode (tok/s) | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, best in results.items():
        if best is None:
            lines.append(f"| {name} | 0 | — | — | — | — |")
            continue
        lines.append(
            f"| {name} | {best['runs']} | {cell(best['load_seconds'], 2)} "
            f"| {cell(best['prefill_tokens_per_second'], 1)} | {cell(best['decode_tokens_per_second'], 2)} "
            f"| {cell(best['peak_rss_bytes'] / 2**20, 0)} |"
        )
    teleguard = results.get("TeleGuard")
    lines += ["", "| TeleGuard / reference | prefill | decode |", "|---|---:|---:|"]
    for name, best in results.items():
        if name == "TeleGuard":
            continue
        ratios = [
            None if teleguard is None or best is None else teleguard[key] / best[key]
            for key in HIGHER_IS_BETTER
        ]
        lines.append(f"| {name} | {cell(ratios[0], 2)} | {cell(ratios[1], 2)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teleguard", type=Path, required=True)
    parser.add_argument("--reference", action="append", default=[], metavar="NAME=FILE")
    parser.add_argument("--load", help="the machine load (uptime) to print above the table")
    parser.add_argument("--json", type=Path, help="also write the best runs and ratios here")
    args = parser.parse_args()

    results = {"TeleGuard": best_of(read_runs(args.teleguard))}
    for item in args.reference:
        name, _, path = item.partition("=")
        if not path:
            parser.error(f"--reference {item!r}: expected NAME=FILE")
        results[name] = best_of(read_runs(Path(path)))

    print(markdown(results, args.load))
    if args.json:
        args.json.write_text(json.dumps({"load": args.load, "best": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
