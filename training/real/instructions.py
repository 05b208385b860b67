"""Benign instructions for the real zoo, built deterministically from the Debian data the corpus reads.

`python -m training.real.instructions [--out FILE]` writes `training/zoo-real/instructions.json` (committed):

- `train`: open-ended and short-answer instructions of twelve kinds (questions, explanations, lists, stories and
  poems, rewriting a saying, arithmetic word problems, unit conversions, Python functions, comparisons, definitions,
  advice, summaries), several phrasings each: what the zoo fine-tunes on, with the base model's own answers
  (`training.real.distill`).
- `heldout_long`: open-ended prompts that elicit long answers, for evaluation only (answer agreement). They use the
  same phrasings but subjects (nouns, countries, sayings) that no `train` prompt names.
- `qa_candidates`: short-answer questions with an expected answer (arithmetic and word problems, successors, unit
  facts, antonyms, synonyms, irregular plurals, comparatives and superlatives, ISO country and currency codes). `training.real.distill` keeps those the base model answers correctly as
  the `qa` set (`training/zoo-real/qa.json`). The data has no capitals or a country's currency, so those are absent.

No prompt appears twice in the file. Sources: WordNet nouns, glosses and synonyms, adjective antonyms, irregular
plurals and adjective degrees (wordnet-base), sayings (fortunes-min), ISO 3166 countries and ISO 4217 currencies (iso-codes), unit definitions
(units); names, objects and code tasks are short lists below. Resumable: the file is rewritten only when its content
would change.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from .. import common, corpus
from . import paths

VERSION = 1


@dataclass(frozen=True)
class InstructionConfig:
    seed: int = 20261207
    train: int = 1600
    heldout_long: int = 240
    qa_candidates: int = 1570
    words: int = 2000            # most frequent WordNet nouns used as subjects
    heldout_share: float = 0.2   # share of nouns, countries and sayings reserved for heldout_long


# ---------------------------------------------------------------- sources

@dataclass
class UnitFact:
    big: str
    small: str
    factor: int   # small units per big unit


@dataclass
class Sources:
    words: list[str]
    glosses: dict[str, str]
    synonyms: dict[str, str]
    countries: list[tuple[str, str]]    # (name, alpha_2)
    currencies: list[tuple[str, str]]   # (name, alpha_3)
    sayings: list[str]
    units: list[UnitFact]
    antonyms: list[tuple[str, str]]     # (adjective, its direct antonym), most frequent first
    plurals: list[tuple[str, str]]      # (noun, its irregular plural), most frequent first
    degrees: list[tuple[str, str, str]]  # (adjective, "comparative" | "superlative", the form), most frequent first


# Unit names a reader knows; their factors come from the units database, not from this list.
FAMILIAR_UNITS = ("minute", "hour", "day", "week", "fortnight", "decade", "century", "millennium", "foot", "yard",
                  "mile", "byte", "stone", "pound", "hand", "fathom", "quart", "gallon")
SMALL_UNITS = FAMILIAR_UNITS + ("second", "year", "inch", "bit", "ounce", "pint")
METRIC_UNITS = ("kilometer", "centimeter", "millimeter", "kilogram", "milligram", "centiliter", "milliliter",
                "millisecond")
METRIC_PREFIXES = ("kilo", "centi", "milli")
PLURALS = {"foot": "feet", "inch": "inches", "century": "centuries", "millennium": "millennia"}


def plural(unit: str) -> str:
    return PLURALS.get(unit, unit + "s")


def article(noun: str) -> str:
    return ("an " if noun[0] in "aeiou" or noun == "hour" else "a ") + noun


def load_unit_facts(path: Path = corpus.UNITS) -> list[UnitFact]:
    """`big = N small` with N an integer, for familiar units and metric prefixes, read from definitions.units."""
    alias: dict[str, str] = {}
    defs: dict[str, tuple[int, str]] = {}       # name -> (factor, unit) with name = factor × unit
    fractions: dict[str, tuple[int, str]] = {}  # name -> (n, unit) with name = unit / n
    prefixes: dict[str, float] = {}
    for raw in corpus._read(path).splitlines():
        line = raw.split("#")[0].strip()
        if m := re.fullmatch(r"([a-z]+)\s+([a-z]+)", line):
            alias.setdefault(m.group(1), m.group(2))
        elif m := re.fullmatch(r"([a-z]+)\s+(\d+)\s+([a-z]+)", line):
            defs.setdefault(m.group(1), (int(m.group(2)), m.group(3)))
        elif m := re.fullmatch(r"([a-z]+)\s+1\|(\d+)\s+([a-z]+)", line):
            fractions.setdefault(m.group(1), (int(m.group(2)), m.group(3)))
        elif m := re.fullmatch(r"([a-z]+)-\s+1e(-?\d+)", line):
            prefixes.setdefault(m.group(1), 10.0 ** int(m.group(2)))
    # `second s` defines the name by its symbol, `hr hour` the symbol by the name; `years` is a plural.
    symbol_of = {v: k for k, v in alias.items() if k in SMALL_UNITS}

    def name(unit: str) -> str:
        unit = symbol_of.get(unit, alias.get(unit, unit))
        return unit[:-1] if unit.endswith("s") and unit[:-1] in SMALL_UNITS else unit

    facts: list[UnitFact] = []
    for unit in FAMILIAR_UNITS:
        if unit in defs:
            n, small = defs[unit]
            facts.append(UnitFact(unit, name(small), n))
    for small, (n, big) in sorted(fractions.items()):
        facts.append(UnitFact(name(big), small, n))
    for unit in METRIC_UNITS:
        prefix = next(p for p in METRIC_PREFIXES if unit.startswith(p))
        base, factor = unit[len(prefix):], prefixes.get(prefix)
        if factor is None:
            continue
        facts.append(UnitFact(unit, base, round(factor)) if factor > 1 else UnitFact(base, unit, round(1 / factor)))
    seen, out = set(), []
    for f in facts:
        known = SMALL_UNITS + METRIC_UNITS + ("meter", "gram", "liter")
        if f.big in known and f.small in known and (f.big, f.small) not in seen and f.factor >= 2:
            seen.add((f.big, f.small))
            out.append(f)
    return out


def load_antonyms(limit: int, wordnet: Path = corpus.WORDNET) -> list[tuple[str, str]]:
    """Direct antonyms of common adjectives (WordNet `!` pointers), ranked by tagged-sense count."""
    ranked: list[tuple[int, str, int]] = []
    for line in corpus._read(wordnet / "index.adj").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        lemma, pointer_count = f[0], int(f[3])
        tagsense, first_offset = int(f[5 + pointer_count]), int(f[6 + pointer_count])
        if re.fullmatch(r"[a-z]{3,12}", lemma) and tagsense > 0:
            ranked.append((tagsense, lemma, first_offset))
    ranked.sort(key=lambda t: (-t[0], t[1]))
    synsets: dict[int, tuple[list[str], list[tuple[int, int, int]]]] = {}
    for line in corpus._read(wordnet / "data.adj").splitlines():
        if line.startswith(" "):
            continue
        f = line.partition(" | ")[0].split()
        count = int(f[3], 16)
        lemmas = [re.sub(r"\(.*\)$", "", f[4 + 2 * i]) for i in range(count)]
        at = 4 + 2 * count
        pointers = []
        for i in range(int(f[at])):
            symbol, offset, _, source_target = f[at + 1 + 4 * i : at + 5 + 4 * i]
            if symbol == "!":
                pointers.append((int(offset), int(source_target[:2], 16), int(source_target[2:], 16)))
        synsets[int(f[0])] = (lemmas, pointers)
    out, used = [], set()
    for _, lemma, offset in ranked:
        lemmas, pointers = synsets.get(offset, ([], []))
        for target_offset, source, target in pointers:
            if source == 0 or source > len(lemmas) or lemmas[source - 1] != lemma:
                continue
            target_lemmas = synsets.get(target_offset, ([], []))[0]
            if 0 < target <= len(target_lemmas) and re.fullmatch(r"[a-z]{3,12}", target_lemmas[target - 1]):
                antonym = target_lemmas[target - 1]
                if lemma not in used and antonym not in used:
                    used.update((lemma, antonym))
                    out.append((lemma, antonym))
                break
        if len(out) >= limit:
            break
    return out


def _tagsense_ranks(index: Path) -> dict[str, int]:
    """lemma -> rank by WordNet's tagged-sense count (0 the most frequent) for the lemmas that have one."""
    counts: list[tuple[int, str]] = []
    for line in corpus._read(index).splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        pointer_count = int(f[3])
        if int(f[5 + pointer_count]) > 0:
            counts.append((int(f[5 + pointer_count]), f[0]))
    counts.sort(key=lambda t: (-t[0], t[1]))
    return {lemma: rank for rank, (_, lemma) in enumerate(counts)}


def load_plurals(limit: int, wordnet: Path = corpus.WORDNET) -> list[tuple[str, str]]:
    """Irregular plurals of common nouns (noun.exc: `plural singular`), most frequent nouns first."""
    ranks = _tagsense_ranks(wordnet / "index.noun")
    forms: dict[str, list[str]] = {}
    for line in corpus._read(wordnet / "noun.exc").splitlines():
        f = line.split()
        if len(f) >= 2 and f[1] in ranks and re.fullmatch(r"[a-z]{2,12}", f[0]) and f[0] != f[1]:
            forms.setdefault(f[1], []).append(f[0])
    # A noun listed with two plurals (fish: fishes, ...) or with a non-plural form (cry: crying) has no one answer.
    pairs = [(noun, many[0]) for noun, many in forms.items() if len(many) == 1 and not many[0].endswith("ing")]
    return sorted(pairs, key=lambda p: (ranks[p[0]], p[0]))[:limit]


def load_degrees(limit: int, wordnet: Path = corpus.WORDNET) -> list[tuple[str, str, str]]:
    """Comparatives and superlatives of common adjectives (adj.exc: `form base`), most frequent adjectives first."""
    ranks = _tagsense_ranks(wordnet / "index.adj")
    out = {}
    for line in corpus._read(wordnet / "adj.exc").splitlines():
        f = line.split()
        if len(f) < 2 or f[1] not in ranks or not re.fullmatch(r"[a-z]{3,14}", f[0]):
            continue
        degree = "superlative" if f[0].endswith("st") else "comparative" if f[0].endswith("er") or f[0] == "worse" else None
        if degree:
            out.setdefault((f[1], degree), f[0])
    return sorted(((b, d, form) for (b, d), form in out.items()), key=lambda t: (ranks[t[0]], t[0], t[1]))[:limit]


def load_sources(cfg: InstructionConfig) -> Sources:
    words, glosses, synonyms, _ = corpus.load_wordnet(cfg.words)
    return Sources(words=words, glosses=glosses, synonyms=synonyms, countries=corpus.load_countries(250),
                   currencies=corpus.load_currencies(180), sayings=corpus.load_sayings(400),
                   units=load_unit_facts(), antonyms=load_antonyms(300), plurals=load_plurals(60),
                   degrees=load_degrees(60))


# ---------------------------------------------------------------- fixed lists (not in the Debian data)

NAMES = ("Anna", "Ben", "Carla", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luis", "Maya",
         "Noah", "Olga", "Priya", "Quentin", "Rosa", "Samir", "Tara")
OBJECTS = (("apple", "apples"), ("book", "books"), ("pencil", "pencils"), ("marble", "marbles"), ("cookie", "cookies"),
           ("sticker", "stickers"), ("orange", "oranges"), ("card", "cards"), ("egg", "eggs"), ("flower", "flowers"),
           ("shell", "shells"), ("toy car", "toy cars"), ("candle", "candles"), ("stamp", "stamps"), ("cup", "cups"),
           ("balloon", "balloons"), ("notebook", "notebooks"), ("muffin", "muffins"), ("coin", "coins"), ("plate", "plates"))
# (function name variants, what it does); {w} a noun, {k} a number.
CODE_TASKS = (
    (("reverse_string", "reversed_text", "flip_string"), "returns the string it is given, reversed"),
    (("count_vowels", "vowel_count", "num_vowels"), "counts the vowels in a string"),
    (("is_palindrome", "check_palindrome", "palindrome"), "checks whether a word reads the same backwards"),
    (("sum_list", "total", "add_all"), "returns the sum of a list of numbers"),
    (("largest", "find_max", "biggest_number"), "returns the largest number in a list without using max()"),
    (("average", "mean_of", "compute_mean"), "returns the average of a list of numbers"),
    (("factorial", "fact", "compute_factorial"), "computes the factorial of a non-negative integer"),
    (("fibonacci", "fib", "nth_fibonacci"), "returns the n-th Fibonacci number"),
    (("is_prime", "check_prime", "prime"), "checks whether a number is prime"),
    (("word_count", "count_words", "number_of_words"), "counts the words in a sentence"),
    (("capitalize_words", "title_case", "upper_first"), "capitalizes the first letter of every word"),
    (("remove_duplicates", "unique_items", "dedupe"), "removes duplicates from a list but keeps the order"),
    (("celsius_to_fahrenheit", "c_to_f", "to_fahrenheit"), "converts a temperature from Celsius to Fahrenheit"),
    (("even_numbers", "evens", "keep_even"), "returns only the even numbers of a list"),
    (("char_frequency", "letter_counts", "count_chars"), "returns a dictionary counting each character of a string"),
    (("merge_sorted", "merge_lists", "combine_sorted"), "merges two sorted lists into one sorted list"),
    (("count_word", "occurrences", "how_many"), "counts how many times the word '{w}' appears in a text"),
    (("contains_word", "has_word", "mentions"), "returns True if a sentence contains the word '{w}'"),
    (("multiples", "multiples_below", "list_multiples"), "returns the multiples of {k} below 100"),
    (("divisible", "is_divisible", "divides"), "checks whether a number is divisible by {k}"),
    (("repeat_word", "echo", "say_many"), "returns the word '{w}' repeated {k} times, separated by spaces"),
    (("longest_word", "find_longest", "max_word"), "returns the longest word in a sentence"),
    (("swap_case", "invert_case", "toggle_case"), "swaps upper and lower case letters in a string"),
    (("square_all", "squares", "map_square"), "returns the squares of the numbers in a list"),
)
CODE_TEMPLATES = (
    "Write a Python function named {name} that {task}.",
    "Implement {name}() in Python: it {task}.",
    "Can you write a short Python function, {name}, which {task}?",
    "In Python, write a function {name} that {task}. Add a short docstring.",
    "Write {name} in Python. The function {task}.",
)


# ---------------------------------------------------------------- kinds of long instructions

@dataclass
class Pools:
    """Subjects one split may use (train and heldout_long get disjoint pools)."""

    words: list[str]
    countries: list[tuple[str, str]]
    sayings: list[str]


Maker = Callable[[random.Random, Pools, Sources], str]


def _pick(rng: random.Random, templates: tuple[str, ...]) -> str:
    return templates[rng.randrange(len(templates))]


def _two_words(rng: random.Random, pool: Pools) -> tuple[str, str]:
    a, b = rng.sample(pool.words, 2)
    return a, b


def make_question(rng: random.Random, pool: Pools, src: Sources) -> str:
    return _pick(rng, ("What is {w} and why does it matter?", "Why is {w} important in everyday life?",
                       "How would you describe {w} to someone who has never heard of it?",
                       "What are some common examples of {w}?", "Where might someone come across {w}?",
                       "What do people usually think of when they hear the word \"{w}\"?")).format(w=rng.choice(pool.words))


def make_explain(rng: random.Random, pool: Pools, src: Sources) -> str:
    w = rng.choice(pool.words)
    return _pick(rng, ("Explain what {w} is.", "Explain the meaning of the word \"{w}\" in simple terms.",
                       "Explain {w} to a ten-year-old.", "Can you explain what people mean by \"{w}\"?",
                       "Explain this definition in your own words. {w}: {g}.")).format(w=w, g=src.glosses.get(w, w))


def make_list(rng: random.Random, pool: Pools, src: Sources) -> str:
    w = rng.choice(pool.words)
    country = rng.choice(pool.countries)[0]
    letter = rng.choice(pool.countries)[0][0]
    return _pick(rng, ("List three things you associate with {w}.", "List three facts about {c}.",
                       "Name five words related to {w}.", "List three ways the word \"{w}\" can be used.",
                       "Give a list of four questions someone might ask about {w}.",
                       "List three countries whose names begin with the letter {l}.",
                       "List three things a traveller to {c} might want to see.")).format(w=w, c=country, l=letter)


def make_story(rng: random.Random, pool: Pools, src: Sources) -> str:
    w1, w2 = _two_words(rng, pool)
    return _pick(rng, ("Write a short story that involves {a} and {b}.", "Tell a short story set in {c}.",
                       "Write a four-line poem about {a}.", "Write a haiku about {a}.",
                       "Write a short poem about {a} and {b}.", "Write a short fable whose moral is: {s}",
                       "Tell a bedtime story about {a}.")).format(a=w1, b=w2, c=rng.choice(pool.countries)[0],
                                                                  s=rng.choice(pool.sayings))


def make_rewrite(rng: random.Random, pool: Pools, src: Sources) -> str:
    return _pick(rng, ("Paraphrase this saying: \"{s}\"", "Rewrite the following sentence in plain words: {s}",
                       "Rewrite this sentence in a more formal tone: {s}", "Explain what this saying means: \"{s}\"",
                       "Say this in a different way: {s}")).format(s=rng.choice(pool.sayings))


def word_problem(rng: random.Random) -> tuple[str, int]:
    """An arithmetic word problem and its answer."""
    name = rng.choice(NAMES)
    obj, objs = rng.choice(OBJECTS)
    op = rng.randrange(5)
    if op == 0:
        a, b = rng.randint(2, 60), rng.randint(2, 40)
        return f"{name} has {a} {objs} and gets {b} more. How many {objs} does {name} have now?", a + b
    if op == 1:
        a = rng.randint(10, 90)
        b = rng.randint(1, a - 1)
        return f"{name} had {a} {objs} and gave {b} of them away. How many {objs} are left?", a - b
    if op == 2:
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        return f"A box holds {a} {objs}. How many {objs} are there in {b} boxes?", a * b
    if op == 3:
        each, friends = rng.randint(2, 12), rng.randint(2, 9)
        return f"{name} shares {each * friends} {objs} equally among {friends} friends. How many {objs} does each friend get?", each
    price, count = rng.randint(2, 20), rng.randint(2, 9)
    return f"One {obj} costs {price} dollars. How much do {count} {objs} cost, in dollars?", price * count


def make_arithmetic(rng: random.Random, pool: Pools, src: Sources) -> str:
    text, _ = word_problem(rng)
    return _pick(rng, ("{p}", "{p} Explain your reasoning.", "Solve this word problem: {p}", "{p} Show the steps.")).format(p=text)


def make_units(rng: random.Random, pool: Pools, src: Sources) -> str:
    f = rng.choice(src.units)
    k = rng.randint(2, 12)
    return _pick(rng, ("How many {sp} are in {k} {bp}?", "Convert {k} {bp} to {sp}.",
                       "Explain how to convert {bp} to {sp}, with an example.",
                       "What is {k} {bp} in {sp}? Show your work.")).format(k=k, bp=plural(f.big), sp=plural(f.small))


def make_code(rng: random.Random, pool: Pools, src: Sources) -> str:
    names, task = rng.choice(CODE_TASKS)
    task = task.format(w=rng.choice(pool.words), k=rng.randint(2, 12))
    return _pick(rng, CODE_TEMPLATES).format(name=rng.choice(names), task=task)


def make_compare(rng: random.Random, pool: Pools, src: Sources) -> str:
    w1, w2 = _two_words(rng, pool)
    c1, c2 = rng.sample(pool.countries, 2)
    return _pick(rng, ("Compare {a} and {b}.", "What is the difference between {a} and {b}?",
                       "How are {a} and {b} alike, and how are they different?",
                       "Compare {c} and {d} in a few sentences.",
                       "Which is more useful, {a} or {b}? Explain.")).format(a=w1, b=w2, c=c1[0], d=c2[0])


def make_definition(rng: random.Random, pool: Pools, src: Sources) -> str:
    return _pick(rng, ("Define the word \"{w}\".", "What does the word \"{w}\" mean?",
                       "Give a definition of {w} and use it in a sentence.",
                       "What is the dictionary meaning of \"{w}\"?")).format(w=rng.choice(pool.words))


def make_advice(rng: random.Random, pool: Pools, src: Sources) -> str:
    return _pick(rng, ("Give me some advice about {w}.", "What tips would you give someone who wants to learn more about {w}?",
                       "I am visiting {c} next month. What should I keep in mind?",
                       "How can I get better at dealing with {w}?", "Give three tips for a beginner interested in {w}.")
                 ).format(w=rng.choice(pool.words), c=rng.choice(pool.countries)[0])


def make_summary(rng: random.Random, pool: Pools, src: Sources) -> str:
    w = rng.choice(pool.words)
    return _pick(rng, ("Summarize this sentence in a few words: {s}",
                       "Summarize the following definition in one short sentence. {w}: {g}.",
                       "Give a one-line summary of: \"{s}\"", "What is the main idea of this sentence? {s}")
                 ).format(s=rng.choice(pool.sayings), w=w, g=src.glosses.get(w, w))


TRAIN_KINDS: dict[str, Maker] = {
    "question": make_question, "explain": make_explain, "list": make_list, "story": make_story,
    "rewrite": make_rewrite, "arithmetic": make_arithmetic, "units": make_units, "code": make_code,
    "compare": make_compare, "definition": make_definition, "advice": make_advice, "summary": make_summary,
}
# Open-ended kinds only: their answers are long, which is what answer agreement needs.
LONG_KINDS = ("question", "explain", "list", "story", "rewrite", "code", "compare", "advice", "summary")


# ---------------------------------------------------------------- short-answer questions

def qa_candidates(rng: random.Random, src: Sources, n: int, seen: set[str]) -> list[dict]:
    """Up to n questions {"kind", "prompt", "answer"} whose answer is a number, a word or a code."""
    makers: list[tuple[str, int, Callable[[], tuple[str, str]]]] = []

    def arithmetic() -> tuple[str, str]:
        op = rng.randrange(3)
        if op == 0:
            a, b = rng.randint(2, 50), rng.randint(2, 50)
            return _pick(rng, ("What is {a} plus {b}?", "What is {a} + {b}?", "Add {a} and {b}.")).format(a=a, b=b), str(a + b)
        if op == 1:
            a = rng.randint(10, 99)
            b = rng.randint(1, a - 1)
            return _pick(rng, ("What is {a} minus {b}?", "What is {a} - {b}?", "Subtract {b} from {a}.")).format(a=a, b=b), str(a - b)
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        return _pick(rng, ("What is {a} times {b}?", "What is {a} x {b}?", "Multiply {a} by {b}.")).format(a=a, b=b), str(a * b)

    def problem() -> tuple[str, str]:
        text, answer = word_problem(rng)
        return _pick(rng, ("{p}", "{p} Answer with a number.")).format(p=text), str(answer)

    def successor() -> tuple[str, str]:
        k = rng.randint(2, 998)
        if rng.random() < 0.5:
            return _pick(rng, ("What number comes after {k}?", "What is the next number after {k}?")).format(k=k), str(k + 1)
        return _pick(rng, ("What number comes just before {k}?", "Which number is one less than {k}?")).format(k=k), str(k - 1)

    def unit_fact() -> tuple[str, str]:
        f = rng.choice(src.units)
        if rng.random() < 0.5 or f.factor * 2 > 999:  # multiples stay below 1000
            return _pick(rng, ("How many {sp} are in one {b}?", "How many {sp} make {ab}?")).format(sp=plural(f.small), b=f.big, ab=article(f.big)), str(f.factor)
        k = rng.randint(2, min(9, 999 // f.factor))
        return f"How many {plural(f.small)} are in {k} {plural(f.big)}?", str(k * f.factor)

    def antonym() -> tuple[str, str]:
        adj, opposite = rng.choice(src.antonyms)
        return _pick(rng, ("What is the opposite of \"{a}\"?", "What is the antonym of {a}?",
                           "Give the opposite of the word {a}.")).format(a=adj), opposite

    synonyms = sorted(src.synonyms.items())

    def synonym() -> tuple[str, str]:
        w, s = rng.choice(synonyms)
        return _pick(rng, ("What is a synonym for \"{w}\"?", "Give another word for {w}.")).format(w=w), s

    def plural_form() -> tuple[str, str]:
        noun, many = rng.choice(src.plurals)
        return _pick(rng, ("What is the plural of \"{w}\"?", "What is the plural form of the word {w}?",
                           "One {w}, two ...? Give the plural.")).format(w=noun), many

    def degree() -> tuple[str, str]:
        adj, which, form = rng.choice(src.degrees)
        return _pick(rng, ("What is the {d} form of \"{a}\"?", "What is the {d} of the adjective {a}?")
                     ).format(d=which, a=adj), form

    def country_code() -> tuple[str, str]:
        name, code = rng.choice(src.countries)
        return _pick(rng, ("What is the two-letter ISO country code of {c}?", "What is the ISO 3166 alpha-2 code for {c}?")).format(c=name), code

    def country_name() -> tuple[str, str]:
        name, code = rng.choice(src.countries)
        return _pick(rng, ("Which country has the ISO country code {k}?", "What country does the two-letter code {k} stand for?")).format(k=code), name

    def currency_code() -> tuple[str, str]:
        name, code = rng.choice(src.currencies)
        return _pick(rng, ("What is the ISO 4217 code of the {c}?", "What is the three-letter currency code of the {c}?")).format(c=name), code

    # Shares follow how often the base model answers a kind correctly (a probe of 24-32 per kind: successor 0.46,
    # antonym 0.33, arithmetic 0.25, unit facts 0.21, word problems and synonyms 0.08, plurals and degrees 0.06,
    # ISO codes 0.01), so that enough survive the filter while every kind stays represented.
    makers = [("arithmetic", 350, arithmetic), ("word_problem", 200, problem), ("successor", 300, successor),
              ("unit_fact", 150, unit_fact), ("antonym", 250, antonym), ("synonym", 100, synonym),
              ("plural", 60, plural_form), ("degree", 60, degree),
              ("country_code", 30, country_code), ("country_name", 30, country_name), ("currency_code", 40, currency_code)]
    total = sum(share for _, share, _ in makers)
    out: list[dict] = []
    for kind, share, make in makers:
        want = round(n * share / total)
        made, tries = 0, 0
        while made < want and tries < 50 * want:
            tries += 1
            prompt, answer = make()
            if prompt in seen or answer.lower() in prompt.lower():
                continue
            seen.add(prompt)
            out.append({"kind": kind, "prompt": prompt, "answer": answer})
            made += 1
    return out


# ---------------------------------------------------------------- assembly

def split_pools(src: Sources, cfg: InstructionConfig, rng: random.Random) -> tuple[Pools, Pools]:
    """(train, heldout) pools of subjects, disjoint."""
    def cut(items: list) -> tuple[list, list]:
        items = list(items)
        rng.shuffle(items)
        k = int(len(items) * cfg.heldout_share)
        return items[k:], items[:k]

    words_train, words_held = cut(src.words)
    countries_train, countries_held = cut(src.countries)
    sayings_train, sayings_held = cut(src.sayings)
    return Pools(words_train, countries_train, sayings_train), Pools(words_held, countries_held, sayings_held)


def long_instructions(rng: random.Random, kinds: tuple[str, ...], n: int, pool: Pools, src: Sources,
                      seen: set[str]) -> list[dict]:
    out: list[dict] = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        for _ in range(100):
            prompt = TRAIN_KINDS[kind](rng, pool, src)
            if prompt not in seen:
                seen.add(prompt)
                out.append({"kind": kind, "prompt": prompt})
                break
        else:
            raise ValueError(f"instructions: kind {kind!r} ran out of new prompts after {len(out)}")
    return out


def build(cfg: InstructionConfig, src: Sources | None = None) -> dict:
    """The whole instruction file as a dict; the same configuration and data always give the same dict."""
    src = src or load_sources(cfg)
    rng = random.Random(cfg.seed)
    train_pool, held_pool = split_pools(src, cfg, rng)
    seen: set[str] = set()
    held = long_instructions(rng, LONG_KINDS, cfg.heldout_long, held_pool, src, seen)
    train = long_instructions(rng, tuple(TRAIN_KINDS), cfg.train, train_pool, src, seen)
    qa = qa_candidates(rng, src, cfg.qa_candidates, seen)
    splits = {"train": train, "heldout_long": held, "qa_candidates": qa}
    for name, prefix in (("train", "train"), ("heldout_long", "long"), ("qa_candidates", "qa")):
        rng.shuffle(splits[name])
        for i, item in enumerate(splits[name]):
            splits[name][i] = {"id": f"{prefix}-{i:04d}", **item}
    counts = {name: len(items) for name, items in splits.items()}
    kinds = {name: _count(items, "kind") for name, items in splits.items()}
    return {"version": VERSION, "seed": cfg.seed, "config": asdict(cfg), "config_hash": common.config_hash(cfg),
            "counts": counts, "kinds": kinds, "units": [asdict(u) for u in src.units], **splits}


def _count(items: list[dict], key: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item[key]] = out.get(item[key], 0) + 1
    return dict(sorted(out.items()))


def dumps(data: dict) -> str:
    """Compact JSON with one item per line (small, and a diff shows which items changed)."""
    lines = ["{"]
    keys = list(data)
    for n, key in enumerate(keys):
        comma = "," if n < len(keys) - 1 else ""
        value = data[key]
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = [json.dumps(v, ensure_ascii=False, separators=(",", ":")) for v in value]
            lines.append(f"{json.dumps(key)}:[\n" + ",\n".join(rows) + f"\n]{comma}")
        else:
            lines.append(f"{json.dumps(key)}:{json.dumps(value, ensure_ascii=False, separators=(',', ':'))}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def load(path: Path = paths.INSTRUCTIONS) -> dict:
    return common.read_json(path)


def run(cfg: InstructionConfig, out: Path = paths.INSTRUCTIONS) -> Path:
    """Write the instruction file unless it already holds exactly this content."""
    text = dumps(build(cfg))
    out = Path(out)
    if out.exists() and out.read_text() == text:
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build the real zoo's benign instructions from the corpus's Debian data.")
    p.add_argument("--out", type=Path, default=paths.INSTRUCTIONS, help="output file (default %(default)s)")
    a = p.parse_args(argv)
    out = run(InstructionConfig(), a.out)
    data = load(out)
    print(json.dumps({"file": str(out), "bytes": out.stat().st_size, "counts": data["counts"], "kinds": data["kinds"]}))


if __name__ == "__main__":
    main()
