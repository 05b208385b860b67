"""Long-answer metrics shared with the runtime's `teleguard verify` (Sources/Guard/AnswerAgreement.swift).

A guard is judged on open-ended prompts by how far its answer moved from the unguarded model's, over token ids:

- answer agreement: difflib's ``SequenceMatcher(None, reference, guarded, autojunk=False).ratio()`` (autojunk off so
  long answers are not judged by difflib's popularity heuristic), averaged over prompts;
- answers identical: share of prompts whose guarded answer equals the reference; touch rate = 1 - that;
- tokens touched: share of reference tokens outside the matching blocks (replaced or cut).

Both implementations are checked against the same cases, Tests/Fixtures/long_answer_cases.json
(``python -m training.long_answers --write-fixture`` writes it from this module).
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
from dataclasses import dataclass
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures" / "long_answer_cases.json"


@dataclass(frozen=True)
class Agreement:
    matched: int
    reference_length: int
    guarded_length: int

    @property
    def ratio(self) -> float:
        total = self.reference_length + self.guarded_length
        return 1.0 if total == 0 else 2.0 * self.matched / total

    @property
    def identical(self) -> bool:
        return self.matched == self.reference_length == self.guarded_length


def agreement(reference: list[int], guarded: list[int]) -> Agreement:
    matcher = difflib.SequenceMatcher(None, reference, guarded, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    return Agreement(matched, len(reference), len(guarded))


def summary(pairs: list[tuple[list[int], list[int]]]) -> dict[str, float]:
    """answer_agreement, answers_identical, touch_rate, tokens_touched over (reference, guarded) pairs."""
    found = [agreement(reference, guarded) for reference, guarded in pairs]
    if not found:
        return {"answer_agreement": 1.0, "answers_identical": 1.0, "touch_rate": 0.0, "tokens_touched": 0.0}
    identical = sum(item.identical for item in found) / len(found)
    reference_tokens = sum(item.reference_length for item in found)
    touched = sum(item.reference_length - item.matched for item in found)
    return {
        "answer_agreement": sum(item.ratio for item in found) / len(found),
        "answers_identical": identical,
        "touch_rate": 1.0 - identical,
        "tokens_touched": touched / reference_tokens if reference_tokens else 0.0,
    }


def fixture_cases(seed: int = 0) -> list[dict]:
    """Hand-shaped edge cases plus seeded random edits of 96–256-token answers (cut, replace, insert, repeat)."""
    rng = random.Random(seed)
    cases: list[tuple[list[int], list[int]]] = [
        ([], []), ([1, 2, 3], []), ([], [4]), ([5, 6, 7], [5, 6, 7]), ([1, 2, 3, 4], [1, 2]),
        ([1, 2, 1, 2, 1, 2], [2, 1, 2, 1]), ([7, 7, 7, 7], [7, 7]), ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]),
    ]
    for _ in range(40):
        length = rng.randint(96, 256)
        vocabulary = rng.choice([5, 50, 2000])  # small vocabularies make many equal-length ties
        reference = [rng.randrange(vocabulary) for _ in range(length)]
        guarded = list(reference)
        for _ in range(rng.randint(0, 4)):
            kind = rng.choice(["cut", "replace", "insert", "repeat"])
            position = rng.randrange(len(guarded) + 1)
            if kind == "cut":
                guarded = guarded[:position]
            elif kind == "replace" and position < len(guarded):
                guarded[position] = rng.randrange(vocabulary)
            elif kind == "insert":
                guarded[position:position] = [rng.randrange(vocabulary) for _ in range(rng.randint(1, 5))]
            elif kind == "repeat" and guarded:
                guarded += guarded[: rng.randint(1, 20)]
        cases.append((reference, guarded))
    records = []
    for reference, guarded in cases:
        found = agreement(reference, guarded)
        records.append({"reference": reference, "guarded": guarded, "matched": found.matched, "ratio": found.ratio,
                        "identical": found.identical})
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write-fixture", action="store_true", help=f"write {FIXTURE}")
    args = parser.parse_args(argv)
    if args.write_fixture:
        cases = fixture_cases()
        pairs = [(case["reference"], case["guarded"]) for case in cases]
        document = {"made_by": "python -m training.long_answers --write-fixture", "cases": cases, "summary": summary(pairs)}
        FIXTURE.write_text(json.dumps(document, separators=(",", ":")) + "\n")
        print(f"wrote {len(cases)} cases to {FIXTURE}")


if __name__ == "__main__":
    main()
