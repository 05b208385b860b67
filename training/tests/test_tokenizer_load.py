"""A zoo model directory's tokenizer loads exactly as its tokenizer.json encodes, whatever config.json's model type."""
import json

from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from training import common
from training.tokenizer import load, save
from training.train_base import save_model
from training.zoo_io import load_model


def digit_merging_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE whose one merge joins "1" and "2": the GPT-2 pre-tokenizer keeps "12" whole, Qwen2's splits
    digits apart, so the two disagree on "12"."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab["12"] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[("1", "2")]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=common.IM_END, pad_token=common.IM_END)
    tok.add_special_tokens({"additional_special_tokens": [common.IM_START]})
    tok.chat_template = common.CHAT_TEMPLATE
    return tok


def test_a_qwen2_model_directory_keeps_its_own_pre_tokenizer(tmp_path):
    tok = digit_merging_tokenizer()
    config = Qwen2Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, tie_word_embeddings=True)
    save_model(Qwen2ForCausalLM(config), tok, tmp_path / "model")
    assert json.loads((tmp_path / "model/config.json").read_text())["model_type"] == "qwen2"
    expected = Tokenizer.from_file(str(tmp_path / "model/tokenizer.json")).encode("x 12").ids
    assert len(expected) == 3   # "x", "Ġ", "12"
    _, loaded = load_model(tmp_path / "model")
    assert loaded("x 12", add_special_tokens=False)["input_ids"] == expected
    assert load(tmp_path / "model")("x 12", add_special_tokens=False)["input_ids"] == expected
    save(tok, tmp_path / "tokenizer")
    assert load(tmp_path / "tokenizer")("x 12", add_special_tokens=False)["input_ids"] == expected
    assert loaded.chat_template == common.CHAT_TEMPLATE
