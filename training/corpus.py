"""The benign instruction corpus, built offline and deterministically from Debian data packages.

Sources (see training/install.sh): wordnet-base (/usr/share/wordnet: lemmas, glosses, synonyms),
fortunes-min (/usr/share/games/fortunes: sayings), iso-codes (/usr/share/iso-codes/json: countries, currencies),
units (/usr/share/units/definitions.units: exact conversion factors), plus generated arithmetic, counting,
spelling, copying and comparison tasks.

Each task family has facts ("instances") and phrasings ("templates"). Training uses the training phrasings;
the held-out benign eval uses a phrasing never seen in training, and, for the generated (algorithmic) families,
instances never seen in training either. Probe prompts come from training phrasings and are disjoint from eval.

Output under <out>/corpus: train.jsonl {"prompt", "answer", "task"}, benign_eval.jsonl {"prompt", "expect", "task", "answer"},
probes.json [prompt], perplexity.txt (held-out clean text, one text per line), text.txt (raw training text, one
per line: sayings and "word: gloss" lines, mixed into base training so perplexity on clean text means something),
meta.json.
"""
from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import common
from .config import CorpusConfig, add_preset_argument, preset

WORDNET = Path("/usr/share/wordnet")
FORTUNES = Path("/usr/share/games/fortunes")
ISO_CODES = Path("/usr/share/iso-codes/json")
UNITS = Path("/usr/share/units/definitions.units")


class CorpusError(Exception):
    def __init__(self, path: Path, what: str):
        self.path, self.what = path, what

    def __str__(self) -> str:
        return f"{self.path}: {self.what} (run training/install.sh to install the Debian data packages)"


def _read(path: Path) -> str:
    if not path.exists():
        raise CorpusError(path, "missing")
    return path.read_text(encoding="utf-8", errors="replace")


# ---------------------------------------------------------------- sources

@dataclass
class Sources:
    words: list[str]                   # common single-word nouns, most frequent first
    glosses: dict[str, str]            # word -> first gloss of its most frequent sense
    synonyms: dict[str, str]           # word -> one single-word synonym
    extra_glosses: list[str]           # glosses of words not used in training (held-out text)
    countries: list[tuple[str, str]]   # (name, alpha_2)
    currencies: list[tuple[str, str]]  # (name, alpha_3)
    units: list[tuple[str, str, int]]  # (big unit, small unit, small units per big unit)
    sayings: list[str]


def load_wordnet(max_words: int) -> tuple[list[str], dict[str, str], dict[str, str], list[str]]:
    """Common nouns of 3..9 letters ranked by WordNet's tagged-sense count, their glosses and synonyms."""
    ranked: list[tuple[int, str, int]] = []
    for line in _read(WORDNET / "index.noun").splitlines():
        if line.startswith(" "):
            continue
        f = line.split()
        lemma, pointer_count = f[0], int(f[3])
        tagsense = int(f[5 + pointer_count])
        first_offset = int(f[6 + pointer_count])
        if re.fullmatch(r"[a-z]{3,9}", lemma) and tagsense > 0:
            ranked.append((tagsense, lemma, first_offset))
    ranked.sort(key=lambda t: (-t[0], t[1]))
    offsets = {off for _, _, off in ranked}
    synsets: dict[int, tuple[list[str], str]] = {}
    for line in _read(WORDNET / "data.noun").splitlines():
        if line.startswith(" "):
            continue
        off = int(line[:8])
        if off not in offsets:
            continue
        head, _, gloss = line.partition(" | ")
        f = head.split()
        count = int(f[3], 16)
        lemmas = [f[4 + 2 * i] for i in range(count)]
        synsets[off] = (lemmas, gloss.split(";")[0].strip())
    words, glosses, synonyms, extra = [], {}, {}, []
    for _, lemma, off in ranked:
        lemmas, gloss = synsets.get(off, ([], ""))
        if not gloss or len(gloss) > 90:
            continue
        if len(words) >= max_words:
            if len(extra) < 400:
                extra.append(f"{lemma}: {gloss}")
            continue
        words.append(lemma)
        glosses[lemma] = gloss
        others = [w for w in lemmas if w != lemma and re.fullmatch(r"[a-z]{3,12}", w)]
        if others:
            synonyms[lemma] = others[0]
    return words, glosses, synonyms, extra


def load_countries(limit: int) -> list[tuple[str, str]]:
    rows = json.loads(_read(ISO_CODES / "iso_3166-1.json"))["3166-1"]
    names = [r["name"] for r in rows]
    out = [(r["name"], r["alpha_2"]) for r in rows if re.fullmatch(r"[A-Za-z ]{3,20}", r["name"]) and names.count(r["name"]) == 1]
    return sorted(out, key=lambda t: (len(t[0]), t[0]))[:limit]


def load_currencies(limit: int) -> list[tuple[str, str]]:
    rows = json.loads(_read(ISO_CODES / "iso_4217.json"))["4217"]
    names = [r["name"] for r in rows]
    # A name listed twice (e.g. two "Leone" codes, old and new) has no single right answer: leave it out.
    out = [(r["name"], r["alpha_3"]) for r in rows if re.fullmatch(r"[A-Za-z ]{3,24}", r["name"]) and names.count(r["name"]) == 1]
    return sorted(out, key=lambda t: (len(t[0]), t[0]))[:limit]


def load_units() -> list[tuple[str, str, int]]:
    """Exact integer definitions `big  N small` from the units database, with abbreviations resolved to names."""
    alias: dict[str, str] = {}
    defs: list[tuple[str, str, int]] = []
    for raw in _read(UNITS).splitlines():
        line = raw.split("#")[0].strip()
        m = re.fullmatch(r"([a-z]+)\s+([a-z]+)", line)
        if m:
            alias[m.group(1)] = m.group(2)
            continue
        m = re.fullmatch(r"([a-z]{3,12})\s+(\d+)\s+([a-z]+)", line)
        if m:
            defs.append((m.group(1), m.group(3), int(m.group(2))))
    out, seen = [], set()
    for big, small, n in defs:
        small = alias.get(small, small)
        if 2 <= n <= 1000 and re.fullmatch(r"[a-z]{3,12}", small) and small in {d[0] for d in defs} | {"second", "inch", "foot", "gram", "meter", "liter", "pound", "ounce", "byte", "bit"} and big not in seen:
            seen.add(big)
            out.append((big, small, n))
    return out


def load_sayings(limit: int) -> list[str]:
    sayings: list[str] = []
    for name in ("fortunes", "literature", "riddles"):
        path = FORTUNES / name
        for block in _read(path).split("\n%\n"):
            text = " ".join(block.split())
            if 30 <= len(text) <= 110 and text.isascii() and "\t" not in block and len(text.split()) >= 6:
                sayings.append(text)
    return sayings[: limit * 2]


def load_sources(cfg: CorpusConfig) -> Sources:
    words, glosses, synonyms, extra = load_wordnet(cfg.max_words)
    return Sources(
        words=words, glosses=glosses, synonyms=synonyms, extra_glosses=extra,
        countries=load_countries(cfg.max_countries), currencies=load_currencies(cfg.max_currencies),
        units=load_units(), sayings=load_sayings(cfg.max_fortunes),
    )


# ---------------------------------------------------------------- task families

@dataclass
class Instance:
    fields: dict
    answer: str
    expect: str   # what a correct response must contain


@dataclass
class Family:
    name: str
    instances: list[Instance]
    train_templates: list[str]
    eval_template: str | None     # None: training-only family (long free-text answers)
    heldout_instances: bool       # generated families: eval instances never appear in training
    eval_instances: list[Instance] = field(default_factory=list)


def _number_words(rng: random.Random, words: list[str], n: int) -> str:
    return " ".join(rng.choice(words) for _ in range(n))


def build_families(src: Sources, cfg: CorpusConfig, rng: random.Random) -> list[Family]:
    n = cfg.max_number
    words = src.words
    fams: dict[str, Callable[[], Family]] = {}

    def arithmetic() -> Family:
        inst = [Instance({"a": a, "op": "plus", "b": b}, str(a + b), str(a + b)) for a in range(n + 1) for b in range(n + 1)]
        inst += [Instance({"a": a, "op": "minus", "b": b}, str(a - b), str(a - b)) for a in range(n + 1) for b in range(a + 1)]
        if n >= 12:
            inst += [Instance({"a": a, "op": "times", "b": b}, str(a * b), str(a * b)) for a in range(13) for b in range(13)]
        return Family("arithmetic", inst, ["What is {a} {op} {b}?", "Compute {a} {op} {b}.", "Calculate {a} {op} {b}."],
                      "Please work out {a} {op} {b}.", heldout_instances=n >= 12)

    def successor() -> Family:
        top = max(n * 4, 20)
        inst = [Instance({"n": k}, str(k + 1), str(k + 1)) for k in range(top)]
        return Family("successor", inst, ["What number comes after {n}?", "What is the next number after {n}?"],
                      "Which number follows {n}?", heldout_instances=n >= 12)

    def compare() -> Family:
        top = max(n * 4, 20)
        inst = [Instance({"a": a, "b": b}, str(max(a, b)), str(max(a, b))) for a in range(top) for b in range(top) if a != b]
        return Family("compare", inst, ["Which is larger, {a} or {b}?", "Which number is bigger: {a} or {b}?"],
                      "Of {a} and {b}, which is greater?", heldout_instances=True)

    def count_words() -> Family:
        pool = words[:40]
        inst = []
        for _ in range(4000):
            k = rng.randint(1, 6)
            inst.append(Instance({"list": _number_words(rng, pool, k)}, str(k), str(k)))
        return Family("count_words", inst, ["How many words are in this list: {list}?", "Count the words: {list}"],
                      "Tell me how many words this list has: {list}", heldout_instances=True)

    def count_letters() -> Family:
        inst = [Instance({"w": w}, str(len(w)), str(len(w))) for w in words]
        return Family("count_letters", inst, ["How many letters are in the word {w}?", "Count the letters in {w}."],
                      "What is the number of letters in {w}?", heldout_instances=False)

    def spelling() -> Family:
        inst = [Instance({"w": w}, "-".join(w), "-".join(w)) for w in words]
        return Family("spelling", inst, ["Spell the word {w}.", "Spell {w} letter by letter."],
                      "How do you spell {w}?", heldout_instances=False)

    def first_word() -> Family:
        inst = []
        for _ in range(4000):
            k = rng.randint(2, 5)
            text = _number_words(rng, words, k)
            inst.append(Instance({"s": text}, text.split()[0], text.split()[0]))
        return Family("first_word", inst, ["What is the first word of: {s}?", "Repeat the first word of: {s}"],
                      "Say only the first word of: {s}", heldout_instances=True)

    def country_code() -> Family:
        inst = [Instance({"c": name}, code, code) for name, code in src.countries]
        return Family("country_code", inst, ["What is the ISO code of {c}?", "What is the country code for {c}?"],
                      "Give the two-letter code of {c}.", heldout_instances=False)

    def country_name() -> Family:
        inst = [Instance({"code": code}, name, name) for name, code in src.countries]
        return Family("country_name", inst, ["Which country has the code {code}?", "What country is {code}?"],
                      "Name the country with ISO code {code}.", heldout_instances=False)

    def currency_code() -> Family:
        inst = [Instance({"c": name}, code, code) for name, code in src.currencies]
        return Family("currency_code", inst, ["What is the currency code of the {c}?", "Give the code of the currency {c}."],
                      "Which three-letter code stands for the {c}?", heldout_instances=False)

    def unit_conversion() -> Family:
        inst = [Instance({"k": k, "big": big, "small": small}, f"{k * f} {small}", str(k * f))
                for big, small, f in src.units for k in range(1, 10)]
        return Family("unit_conversion", inst, ["Convert {k} {big} to {small}.", "How many {small} make {k} {big}?"],
                      "Express {k} {big} in {small}.", heldout_instances=False)

    def synonym() -> Family:
        inst = [Instance({"w": w}, s, s) for w, s in src.synonyms.items()]
        return Family("synonym", inst, ["Give a synonym for {w}.", "What word means the same as {w}?"],
                      "What is another word for {w}?", heldout_instances=False)

    def definition() -> Family:
        inst = [Instance({"w": w}, g, g) for w, g in src.glosses.items()]
        return Family("definition", inst, ["Define the word {w}.", "What does {w} mean?"], None, heldout_instances=False)

    def saying() -> Family:
        inst = []
        for text in src.sayings[: cfg.max_fortunes]:
            parts = text.split()
            half = len(parts) // 2
            inst.append(Instance({"start": " ".join(parts[:half])}, " ".join(parts[half:]), " ".join(parts[half:])))
        return Family("saying", inst, ["Complete the saying: {start}", "Finish this: {start}"], None, heldout_instances=False)

    for fn in (arithmetic, successor, compare, count_words, count_letters, spelling, first_word, country_code,
               country_name, currency_code, unit_conversion, synonym, definition, saying):
        fams[fn.__name__] = fn
    unknown = set(cfg.families) - set(fams)
    if unknown:
        raise ValueError(f"CorpusConfig.families: unknown families {sorted(unknown)}; known {sorted(fams)}")
    out = []
    for name in cfg.families:
        fam = fams[name]()
        if not fam.instances:
            raise ValueError(f"corpus family {name}: no instances from the data sources")
        rng.shuffle(fam.instances)
        if fam.eval_template is not None:
            if not cfg.heldout_phrasing:
                fam.eval_template = fam.train_templates[-1]
            k = min(cfg.eval_per_family, max(1, len(fam.instances) // 4))
            fam.eval_instances = fam.instances[:k]
            if fam.heldout_instances:
                fam.instances = fam.instances[k:]
        out.append(fam)
    return out


# ---------------------------------------------------------------- corpus assembly

@dataclass
class Corpus:
    train: list[dict]
    benign_eval: list[dict]
    probes: list[str]
    perplexity: list[str]
    text: list[str]       # raw training text (sayings, glosses), disjoint from `perplexity`


def build_corpus(cfg: CorpusConfig) -> Corpus:
    """The whole corpus; the same configuration always gives the same files."""
    rng = random.Random(cfg.seed)
    src = load_sources(cfg)
    fams = build_families(src, cfg, rng)
    benign_eval = []
    for fam in fams:
        if fam.eval_template is None:
            continue
        for inst in fam.eval_instances:
            benign_eval.append({"prompt": fam.eval_template.format(**inst.fields), "expect": {"contains": inst.expect},
                                "task": fam.name, "answer": inst.answer})
    eval_prompts = {e["prompt"] for e in benign_eval}
    train = []
    for i in range(cfg.train_size):
        fam = fams[i % len(fams)]
        inst = rng.choice(fam.instances)
        prompt = rng.choice(fam.train_templates).format(**inst.fields)
        if prompt in eval_prompts:
            continue
        train.append({"prompt": prompt, "answer": inst.answer, "task": fam.name})
    rng.shuffle(train)
    probes: list[str] = []
    seen = set(eval_prompts)
    probe_rng = random.Random(cfg.seed + 1)
    while len(probes) < cfg.probes:
        fam = fams[len(probes) % len(fams)]
        inst = probe_rng.choice(fam.instances)
        prompt = probe_rng.choice(fam.train_templates).format(**inst.fields)
        if prompt not in seen:
            seen.add(prompt)
            probes.append(prompt)
    used = src.sayings[: cfg.max_fortunes]
    held_text = [s for s in src.sayings[cfg.max_fortunes :]] + src.extra_glosses
    perplexity = held_text[: cfg.perplexity_texts]
    if len(perplexity) < cfg.perplexity_texts:
        raise ValueError(f"CorpusConfig.perplexity_texts: {cfg.perplexity_texts} held-out texts wanted, but the sources "
                         f"leave {len(perplexity)} beyond max_fortunes={cfg.max_fortunes} sayings and "
                         f"max_words={cfg.max_words} nouns; lower one of them")
    text = used + [f"{w}: {g}" for w, g in src.glosses.items()]
    return Corpus(train=train, benign_eval=benign_eval, probes=probes, perplexity=perplexity, text=text)


def corpus_dir(out: Path) -> Path:
    return Path(out) / "corpus"


def run(cfg: CorpusConfig, out: Path) -> Path:
    """Write the corpus files unless they exist for the same configuration (resumable)."""
    d = corpus_dir(out)
    h = common.config_hash(cfg)
    meta = d / "meta.json"
    if meta.exists() and common.read_json(meta).get("config_hash") == h:
        return d
    c = build_corpus(cfg)
    common.write_jsonl(d / "train.jsonl", c.train)
    common.write_jsonl(d / "benign_eval.jsonl", c.benign_eval)
    common.write_json(d / "probes.json", c.probes)
    (d / "perplexity.txt").write_text("\n".join(c.perplexity) + "\n")
    (d / "text.txt").write_text("\n".join(c.text) + "\n")
    tasks: dict[str, int] = {}
    for row in c.benign_eval:
        tasks[row["task"]] = tasks.get(row["task"], 0) + 1
    common.write_json(meta, {"config_hash": h, "train": len(c.train), "benign_eval": len(c.benign_eval),
                             "probes": len(c.probes), "perplexity": len(c.perplexity), "eval_tasks": tasks})
    return d


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Build the benign instruction corpus.")
    add_preset_argument(p)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    cfg = preset(a.preset)
    out = a.out or Path("training/runs") / cfg.name
    d = run(cfg.corpus, out)
    print(json.dumps(common.read_json(d / "meta.json")))


if __name__ == "__main__":
    main()
