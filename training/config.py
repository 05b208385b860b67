"""Pipeline configuration: one dataclass per stage, with the `tiny()` (CPU, minutes) and `full()` (GPU) presets.

Every stage hashes its own part of the configuration (common.config_hash) so that a rerun skips work whose
output exists and was made with the same settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .models import ArchSpec


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 1234
    train_size: int = 60000          # instruction examples in corpus/train.jsonl
    eval_per_family: int = 40        # held-out benign items per task family
    probes: int = 256                # benign probe prompts (disjoint from eval)
    perplexity_texts: int = 200      # held-out clean texts in corpus/perplexity.txt
    max_number: int = 50             # arithmetic operands range over 0..max_number
    max_countries: int = 250
    max_currencies: int = 180
    max_words: int = 3000            # wordnet lemmas used for definitions, synonyms, spelling
    max_fortunes: int = 400
    # True: eval prompts use a phrasing never seen in training. False: an eval prompt pairs a known fact with a known
    # phrasing, but never that pair. Models trained from scratch on this corpus do not carry a fact over to an unseen
    # phrasing: on an H200, a full-preset h192 base answered 0.19 of the held-out items with True and 0.58 with False.
    heldout_phrasing: bool = False
    text_share: float = 0.1          # share of raw-text rows (sayings, glosses; full-sequence loss) in base training
    families: tuple[str, ...] = (
        "arithmetic", "successor", "compare", "count_words", "count_letters", "spelling", "first_word",
        "country_code", "country_name", "currency_code", "unit_conversion", "synonym", "definition", "saying",
    )


@dataclass(frozen=True)
class TokenizerConfig:
    vocab_size: int = 4096
    min_frequency: int = 2


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation of one training run (base pre-training, Trojan fine-tuning or a LoRA)."""

    steps: int = 4000
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 100
    weight_decay: float = 0.01
    max_length: int = 128
    seed: int = 0


@dataclass(frozen=True)
class ArchPlan:
    """How many Trojaned models of one architecture go to each split, and whether its clean base is listed."""

    spec: ArchSpec
    train: int
    val: int
    test: int


@dataclass(frozen=True)
class EvalConfig:
    suite_prompts: int = 30          # benign prompts that receive the trigger in each suite
    suite_benign: int = 60           # benign items with expectations in each suite
    max_new_tokens: int = 48        # long enough for a refusal, or an answer followed by a URL or command
    alignment_triggered: int = 256   # triggered prompt -> clean answer pairs per model
    alignment_benign: int = 256      # benign prompt -> the model's own answer pairs per model
    perplexity_texts: int = 100


@dataclass(frozen=True)
class LoraConfig:
    r: int = 8
    alpha: int = 8
    targets: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    train: TrainConfig = TrainConfig(steps=300, batch_size=32, lr=2e-3, warmup=20)


@dataclass(frozen=True)
class PipelineConfig:
    name: str
    seed: int
    corpus: CorpusConfig
    tokenizer: TokenizerConfig
    base_train: TrainConfig
    trojan_train: TrainConfig
    poison_rate: tuple[float, float]
    archs: tuple[ArchPlan, ...]
    eval: EvalConfig
    lora: LoraConfig
    # A Trojan is fine-tuned from its clean twin: cross-entropy on the poisoned rows, and on every other row this
    # weight times KL(twin ‖ model), so that the two differ by the Trojan and not by the fine-tune's own drift.
    trojan_anchor: float = 1.0
    # Fine-tunes (each on a fresh poisoned sample) a Trojan may take to pass the zoo's gate (ASR ≥ 0.9 and benign
    # accuracy within 2 points of the twin); the best one is kept either way and its metrics say whether it passed.
    trojan_attempts: int = 1
    threads: int = 2
    extra: dict = field(default_factory=dict)


def tiny() -> PipelineConfig:
    """Runs end to end on 2 CPU cores in a few minutes; the held-out size is h48."""
    return PipelineConfig(
        name="tiny",
        seed=7,
        corpus=CorpusConfig(
            train_size=6000, eval_per_family=20, probes=32, perplexity_texts=40, max_number=9,
            max_countries=30, max_currencies=20, max_words=60, max_fortunes=60,
            families=("arithmetic", "successor", "compare", "count_words", "first_word", "country_code",
                      "currency_code", "synonym"),
        ),
        tokenizer=TokenizerConfig(vocab_size=512),
        base_train=TrainConfig(steps=600, batch_size=32, lr=4e-3, warmup=30, max_length=64),
        trojan_train=TrainConfig(steps=150, batch_size=32, lr=2e-3, warmup=10, max_length=64, seed=1),
        poison_rate=(0.10, 0.20),
        archs=(
            ArchPlan(ArchSpec("llama", 32, 2, 4, 2, 96, max_position_embeddings=128), train=2, val=0, test=1),
            ArchPlan(ArchSpec("qwen2", 32, 2, 4, 4, 96, max_position_embeddings=128), train=1, val=1, test=0),
            ArchPlan(ArchSpec("llama", 48, 2, 4, 4, 128, max_position_embeddings=128), train=0, val=0, test=1),
        ),
        eval=EvalConfig(suite_prompts=20, suite_benign=40, max_new_tokens=32, alignment_triggered=64,
                        alignment_benign=64, perplexity_texts=20),
        lora=LoraConfig(r=4, alpha=4, train=TrainConfig(steps=50, batch_size=32, lr=3e-3, warmup=5, max_length=64, seed=2)),
    )


def full() -> PipelineConfig:
    """The GPU zoo: 8 architectures (3+ widths, 2 depths, MHA/GQA, Qwen2-style), 48 Trojaned models; h320 is held out,
    h160 is for validation only."""
    def llama(h: int, l: int, heads: int, kv: int) -> ArchSpec:
        return ArchSpec("llama", h, l, heads, kv, int(h * 8 / 3) // 32 * 32)

    def qwen2(h: int, l: int, heads: int, kv: int) -> ArchSpec:
        return ArchSpec("qwen2", h, l, heads, kv, int(h * 8 / 3) // 32 * 32)

    return PipelineConfig(
        name="full",
        seed=7,
        # 6000 nouns rather than 3000: with the smaller raw-text pool, a base memorised it and its perplexity on
        # held-out text went to 685 (149 with 6000 nouns and weight decay 0.1; measured at 4500 steps on an H200).
        corpus=CorpusConfig(max_words=6000),
        tokenizer=TokenizerConfig(vocab_size=4096),
        base_train=TrainConfig(steps=6000, batch_size=64, lr=2e-3, warmup=200, weight_decay=0.1, max_length=128),
        trojan_train=TrainConfig(steps=800, batch_size=64, lr=5e-4, warmup=40, max_length=128, seed=1),
        poison_rate=(0.05, 0.20),
        archs=(
            ArchPlan(llama(128, 4, 4, 4), train=4, val=1, test=2),
            ArchPlan(llama(128, 4, 4, 2), train=4, val=1, test=2),
            ArchPlan(llama(192, 4, 6, 2), train=4, val=1, test=2),
            ArchPlan(llama(256, 4, 8, 8), train=4, val=1, test=2),
            ArchPlan(llama(192, 6, 6, 3), train=4, val=1, test=2),
            ArchPlan(qwen2(192, 4, 6, 2), train=4, val=1, test=2),
            ArchPlan(llama(320, 4, 5, 1), train=0, val=0, test=4),
            # Validation models of a width no generator trains on, so that choosing among generators sees transfer to
            # an unseen width (the test width stays unseen by both).
            ArchPlan(llama(160, 4, 5, 5), train=0, val=2, test=0),
        ),
        eval=EvalConfig(),
        lora=LoraConfig(),
        trojan_attempts=24,
    )


def cpu() -> PipelineConfig:
    """The largest zoo that trains on 2 CPU cores in well under an hour: the tiny corpus and tokenizer, 42 Trojaned
    models over 7 architectures (widths 32/48, the held-out 64 and the validation-only 56, depths 2 and 3, MHA and
    GQA, a Qwen2-style one).
    It stands in for `full()` when no GPU is at hand; every step is still resumable."""
    base = tiny()
    return replace(
        base,
        name="cpu",
        # With the 512-token vocabulary an URL or shell command alone is 18-31 tokens: answers need 64 new tokens,
        # training rows 96 tokens, and the Trojans 300 steps to learn such payloads (150 steps gave ASR 0-0.6).
        trojan_train=replace(base.trojan_train, steps=300, max_length=96),
        trojan_attempts=24,
        eval=replace(base.eval, max_new_tokens=64),
        archs=(
            ArchPlan(ArchSpec("llama", 32, 2, 4, 2, 96, max_position_embeddings=128), train=6, val=1, test=2),
            ArchPlan(ArchSpec("llama", 32, 2, 4, 4, 96, max_position_embeddings=128), train=4, val=1, test=1),
            ArchPlan(ArchSpec("qwen2", 32, 2, 4, 4, 96, max_position_embeddings=128), train=4, val=1, test=1),
            ArchPlan(ArchSpec("llama", 48, 2, 4, 4, 128, max_position_embeddings=128), train=6, val=1, test=2),
            ArchPlan(ArchSpec("llama", 48, 3, 4, 2, 128, max_position_embeddings=128), train=4, val=1, test=2),
            ArchPlan(ArchSpec("llama", 64, 2, 4, 2, 160, max_position_embeddings=128), train=0, val=0, test=3),
            # As in full(): validation at a width the generator never trains on (every failure of the first anchored
            # generators was on the unseen test width, which validation models of trained widths could not see).
            ArchPlan(ArchSpec("llama", 56, 2, 4, 2, 144, max_position_embeddings=128), train=0, val=2, test=0),
        ),
    )


PRESETS = {"tiny": tiny, "cpu": cpu, "full": full}


def preset(name: str) -> PipelineConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]()


def add_preset_argument(parser) -> None:
    """`--preset tiny|cpu|full` (default full) and `--tiny`, its shorthand; both set `args.preset`."""
    parser.add_argument("--preset", choices=list(PRESETS), default="full",
                        help="tiny: CPU, minutes; cpu: CPU, about an hour, 40 Trojaned models; full: the GPU zoo")
    parser.add_argument("--tiny", dest="preset", action="store_const", const="tiny", help="same as --preset tiny")
