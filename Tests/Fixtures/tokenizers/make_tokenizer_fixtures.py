"""Builds small tokenizers whose pipelines reproduce real model families, and records what the
Hugging Face `tokenizers` library makes of a hard set of texts.

Run with the project venv from the repository root:
    /root/.cache/teleguard/venv/bin/python Tests/Fixtures/tokenizers/make_tokenizer_fixtures.py

Each tokenizer is trained with BpeTrainer on an offline corpus (the licence texts in
/usr/share/common-licenses, a few stdlib docstrings and the multilingual lines below), so the output
depends only on the `tokenizers` version, which expected.json records. For every family it writes
`<name>/tokenizer.json` and `<name>/expected.json`; `texts.json` holds the shared text set.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Callable

import tokenizers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

HERE = Path(__file__).resolve().parent

# Published split patterns (tokenizer.json of the families named).
GPT2_PATTERN = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

MULTILINGUAL = [
    "Le cœur déçu mais l'âme plutôt naïve, Louÿs rêva de crapaüter en canoë au delà des îles.",
    "Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.",
    "El pingüino Wenceslao hizo kilómetros bajo exhaustiva lluvia y frío, añoraba a su querido cachorro.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю.",
    "Ξεσκεπάζω την ψυχοφθόρα βδελυγμία.",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ",
    "我能吞下玻璃而不伤身体。天地玄黄，宇宙洪荒。",
    "키스의 고유조건은 입술끼리 만나야 하고 특별한 기술은 필요치 않다.",
    "نص حكيم له سر قاطع وذو شأن عظيم مكتوب على ثوب أخضر ومغلف بجلد أزرق.",
    "דג סקרן שט בים מאוכזב ולפתע מצא חברה.",
    "नमस्ते दुनिया, यह एक परीक्षण है।",
    "Tiếng Việt có dấu: Trăm năm trong cõi người ta.",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 🇯🇵 ❤️ 🏳️‍🌈",
    "Numbers 1234567890 3.14159 1,000,000 ٣٤٥ ½ ² Ⅻ",
    "def f(x):\n    return {'a': [x, x ** 2]}  # comment\r\n\tprint(f\"{x!r}\")",
    "I'm sure you'll see they've done it, haven't they? I'D SAY IT'S FINE.",
]

HARD_TEXTS = [
    "",
    " ",
    "Hello world",
    " Hello world ",
    "   leading and trailing   ",
    "café naïve coöperate résumé",
    "e\u0301 a\u0308 n\u0303 combining marks, and precomposed é ä ñ",
    "Ａｂｃ ＦＵＬＬＷＩＤＴＨ ﬁ ligature ℌ",
    "我能吞下玻璃而不伤身体。",
    "日本語のテキストとカタカナ、ひらがな。",
    "한국어 텍스트",
    "Emoji 😀😃 and ZWJ 👨‍👩‍👧‍👦 and flags 🇫🇷🇩🇪 and skin 👍🏿 and ❤️‍🔥",
    "many     spaces   here",
    "tabs\tand\t\tmore\ttabs",
    "line1\nline2\n\n\nline5",
    "windows\r\nline\r\n\r\nend",
    "mixed \t \n \r\n  \n\t end",
    "12345678901234567890 and 3.14159 and 1,000",
    "I'm you're they've she'll he'd it's DON'T WON'T",
    "def main():\n    x = [i ** 2 for i in range(10)]\n    return {\"k\": x}\n",
    "if (a != b && c <= d) { return -1; } // C-style",
    "<|endoftext|>",
    "Hello<|endoftext|>world",
    "<|begin_of_text|>Hi there<|eot_id|>",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<s>[INST] Hello [/INST] Hi</s>",
    "<s> spaced </s>",
    "<think>reasoning</think> answer",
    "word <sep> next<sep>  tight  <sep>",
    "a <tool> b x<tool>y <tool>",
    "a_<tool> <tool>½ \u200d<tool> é<tool> <tool>\u0301",
    "\ufeffbyte order mark, then \u0000 NUL and \u200b zero width",
    "[CLS] hello [SEP]",
    "I love NEW YORK, new york and New  York",
    "<unk> and <mask>",
    "Ünïcödé ÀÉÎÕÜ ſ İstanbul ΣΑΣ",
    "tab\tvertical\u000bformfeed\u000cnel\u0085nbsp\u00a0ideographic\u3000end",
    "trailing space ",
    "\n",
    "  ",
    "a-b-c, d;e !? f",
]


def corpus_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(Path("/usr/share/common-licenses").iterdir()):
        if path.is_file():
            lines.extend(line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip())
    import collections
    import json as json_module
    import os
    import re as re_module
    import textwrap

    for module in (collections, json_module, os, re_module, textwrap, random):
        for name in sorted(dir(module)):
            doc = getattr(getattr(module, name), "__doc__", None)
            if isinstance(doc, str):
                lines.extend(line for line in doc.splitlines() if line.strip())
    lines.extend(MULTILINGUAL * 20)
    return lines


def restricted_corpus(alphabet_size: int) -> list[str]:
    """The corpus without its rarest characters, so unseen scripts exercise unk and byte fallback.

    BpeTrainer's own limit_alphabet breaks count ties in hash order, which is not reproducible.
    """
    import collections

    lines = corpus_lines()
    counts = collections.Counter(ch for line in lines for ch in line)
    kept = {ch for ch, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:alphabet_size]}
    return ["".join(ch for ch in line if ch in kept) for line in lines]


def paragraph() -> str:
    """A deterministic ~5 KB paragraph mixing the multilingual lines and licence prose."""
    rng = random.Random(1234)
    pieces = MULTILINGUAL + [
        "The licenses for most software are designed to take away your freedom to share and change it.",
        "You may copy and distribute verbatim copies of the Program's source code as you receive it.",
    ]
    text = ""
    while len(text.encode("utf-8")) < 5000:
        text += rng.choice(pieces) + rng.choice([" ", "  ", "\n", " ", "\t", ". "])
    return text


def byte_level_trainer(vocab_size: int, special: list[str]) -> trainers.BpeTrainer:
    return trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )


def gpt2() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=True)
    tok.train_from_iterator(corpus_lines(), byte_level_trainer(900, ["<|endoftext|>"]))
    return tok


def llama3() -> Tokenizer:
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    tok.train_from_iterator(corpus_lines(), byte_level_trainer(900, []))
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(add_prefix_space=True, trim_offsets=False, use_regex=True),
        processors.TemplateProcessing(
            single="<|begin_of_text|> $A",
            pair="<|begin_of_text|> $A <|begin_of_text|> $B:1",
            special_tokens=[("<|begin_of_text|>", bos)],
        ),
    ])
    return tok


def qwen2() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.train_from_iterator(corpus_lines(), byte_level_trainer(900, []))
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False)
                            for s in ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]])
    # Qwen3 marks its reasoning tags as added but not special.
    tok.add_tokens([AddedToken(s, special=False, normalized=False) for s in ["<think>", "</think>"]])
    return tok


def sentencepiece_bpe(vocab_size: int) -> dict:
    """A SentencePiece-style BPE (▁ words, byte fallback) as tokenizer.json's model block."""
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    # Training splits words at ▁ so merges stay inside words, as SentencePiece's do.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  show_progress=False)
    tok.train_from_iterator(restricted_corpus(120), trainer)
    model = json.loads(tok.to_str())["model"]
    for byte in range(256):
        model["vocab"].setdefault(f"<0x{byte:02X}>", len(model["vocab"]))
    return model


def sentencepiece_added() -> list[dict]:
    return [
        {"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, c in enumerate(["<unk>", "<s>", "</s>"])
    ]


def bos_template() -> dict:
    return json.loads(processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)]).__getstate__())


def llama2() -> Tokenizer:
    """Llama-2 / TinyLlama / Mistral-v0.1 layout: Prepend+Replace normalizer and no pre-tokenizer."""
    config = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": sentencepiece_added(),
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "▁"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
        "pre_tokenizer": None,
        "post_processor": bos_template(),
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": sentencepiece_bpe(700),
    }
    return Tokenizer.from_str(json.dumps(config))


def mistral_metaspace() -> Tokenizer:
    """Newer Llama/Mistral conversions: Metaspace pre-tokenizer with prepend_scheme "first"."""
    added = sentencepiece_added()
    model = sentencepiece_bpe(700)
    for content in ["[INST]", "[/INST]"]:
        added.append({"id": len(model["vocab"]) + len(added) - 3, "content": content, "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    config = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added,
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        "post_processor": bos_template(),
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False},
        "model": model,
    }
    return Tokenizer.from_str(json.dumps(config))


def smollm() -> Tokenizer:
    """SmolLM: Digits(individual) then GPT-2 ByteLevel; plus added tokens with lstrip/rstrip/single_word."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.train_from_iterator(corpus_lines(), byte_level_trainer(800, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]))
    tok.add_tokens([
        AddedToken("<sep>", lstrip=True, rstrip=True, special=False, normalized=False),
        AddedToken("<tool>", single_word=True, special=False, normalized=True),
    ])
    tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    return tok


END_OF_WORD = "\ue000"


def subword_affix_model() -> dict:
    """A BPE model with continuing_subword_prefix "##" and end_of_word_suffix "</w>".

    BpeTrainer numbers prefixed symbols in hash order, so training with those options is not
    reproducible; instead a plain BPE is trained on words ending in a private-use marker and its
    vocab and merges are rewritten in the affixed form (a merge (a, b) becomes (a, ##b) -> ab and
    (##a, ##b) -> ##ab; the marker becomes </w>).
    """
    tok = Tokenizer(models.BPE(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    words = [" ".join(word + END_OF_WORD for word in line.lower().split()) for line in restricted_corpus(100)]
    tok.train_from_iterator(words, trainers.BpeTrainer(vocab_size=500, special_tokens=["[UNK]", "[CLS]", "[SEP]"],
                                                       show_progress=False))
    plain = json.loads(tok.to_str())["model"]

    def affixed(token: str) -> str:
        return token.replace(END_OF_WORD, "</w>")

    vocab: dict[str, int] = {}
    for token in plain["vocab"]:
        variants = [token] if token.startswith("[") else [token, "##" + token]
        if len(token) == 1 and token != END_OF_WORD:
            variants += [token + END_OF_WORD, "##" + token + END_OF_WORD]
        for variant in variants:
            vocab.setdefault(affixed(variant), len(vocab))
    merges = []
    for a, b in plain["merges"]:
        if b == END_OF_WORD:
            continue
        merges.append([affixed(a), affixed("##" + b)])
        merges.append([affixed("##" + a), affixed("##" + b)])
    model = dict(plain, vocab=vocab, merges=merges, continuing_subword_prefix="##", end_of_word_suffix="</w>",
                 fuse_unk=False)
    return model


def bert_like() -> Tokenizer:
    """Normalizer and pre-tokenizer variety: NFKC, Lowercase, regex Replace, Strip; subword prefix/suffix; unk."""
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Lowercase(), normalizers.Replace(Regex(" {2,}"), " "), normalizers.Strip()])
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation(behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=False)])
    config = json.loads(tok.to_str())
    config["model"] = subword_affix_model()
    config["added_tokens"] = [
        {"id": config["model"]["vocab"][c], "content": c, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True} for c in ["[UNK]", "[CLS]", "[SEP]"]]
    tok = Tokenizer.from_str(json.dumps(config))
    # A normalized added token is matched after normalization (here: lowercased).
    tok.add_tokens([AddedToken("New York", special=False, normalized=True)])
    tok.post_processor = processors.BertProcessing(("[SEP]", tok.token_to_id("[SEP]")),
                                                   ("[CLS]", tok.token_to_id("[CLS]")))
    return tok


def splits() -> Tokenizer:
    """Every Split behaviour, string and regex patterns, invert; NFD; Whitespace; Roberta post-processor."""
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFD()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[,;]"), behavior="merged_with_previous"),
        pre_tokenizers.Split("-", behavior="merged_with_next"),
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="contiguous"),
        pre_tokenizers.Split(Regex(r"[^!?]+"), behavior="removed", invert=True),
        pre_tokenizers.Whitespace(),
    ])
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  show_progress=False)
    tok.train_from_iterator(restricted_corpus(100), trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", tok.token_to_id("</s>")),
                                                      ("<s>", tok.token_to_id("<s>")))
    tok.decoder = decoders.Sequence([decoders.Replace(Regex(r"\s+"), " "), decoders.Fuse()])
    return tok


FAMILIES: dict[str, Callable[[], Tokenizer]] = {
    "gpt2": gpt2,
    "llama3": llama3,
    "qwen2": qwen2,
    "llama2": llama2,
    "mistral_metaspace": mistral_metaspace,
    "smollm": smollm,
    "bert_like": bert_like,
    "splits": splits,
}


def compact_ids(with_special: list[int], without_special: list[int]) -> list[int] | dict:
    for first in range(3):
        for last in range(3):
            if with_special[first:len(with_special) - last] == without_special:
                return {"drop_first": first, "drop_last": last}
    return without_special


def to_legacy_merges(config: dict) -> dict:
    """Older tokenizer.json files store merges as "a b" strings; GPT-2's fixture keeps that form."""
    config["model"]["merges"] = [" ".join(pair) for pair in config["model"]["merges"]]
    return config


def main() -> None:
    texts = HARD_TEXTS + MULTILINGUAL + [paragraph()]
    (HERE / "texts.json").write_text(json.dumps(texts, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")
    for name, build in FAMILIES.items():
        config = json.loads(build().to_str())
        if name == "gpt2":
            config = to_legacy_merges(config)
        serialized = json.dumps(config, ensure_ascii=False, separators=(",", ":"))
        tok = Tokenizer.from_str(serialized)
        rng = random.Random(name)
        size = tok.get_vocab_size(with_added_tokens=True)
        random_ids = [[rng.randrange(size) for _ in range(rng.randrange(1, 12))] for _ in range(30)]
        cases = []
        for text in texts:
            with_special = tok.encode(text, add_special_tokens=True).ids
            without_special = tok.encode(text, add_special_tokens=False).ids
            decoded = tok.decode(with_special, skip_special_tokens=False)
            decoded_skipping = tok.decode(with_special, skip_special_tokens=True)
            # null means "same as the text"; ids without special tokens are usually ids with the
            # template's tokens sliced off, recorded as [drop_first, drop_last]. Both keep the files small.
            cases.append({
                "ids": with_special,
                "ids_without_special": compact_ids(with_special, without_special),
                "decoded": None if decoded == text else decoded,
                "decoded_skipping_special": None if decoded_skipping == text else decoded_skipping,
            })
        decodes = [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
                    "decoded_skipping_special": tok.decode(ids, skip_special_tokens=True)} for ids in random_ids]
        expected = {
            "tokenizers_version": tokenizers.__version__,
            "vocab_size": size,
            "special_token_ids": sorted(t.content and i for i, t in tok.get_added_tokens_decoder().items() if t.special),
            "cases": cases,
            "random_decodes": decodes,
        }
        out = HERE / name
        out.mkdir(exist_ok=True)
        (out / "tokenizer.json").write_text(serialized + "\n", encoding="utf-8")
        (out / "expected.json").write_text(json.dumps(expected, ensure_ascii=False, separators=(",", ":")) + "\n",
                                           encoding="utf-8")
        print(f"{name}: vocab {size}, paragraph {len(cases[-1]['ids'])} ids")


if __name__ == "__main__":
    main()
