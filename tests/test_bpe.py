"""BPE tokenizer: fixed special ids, exact detokenisation, JSON round trip."""

from __future__ import annotations

import pytest

from illustrated.data.bpe import SubwordTokenizer
from illustrated.data.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

SENTENCES = [
    "Two young, White males are outside near many bushes.",
    "Several men in hard hats are operating a giant pulley system.",
    "A little girl climbing into a wooden playhouse.",
    "A man in a blue shirt is standing on a ladder cleaning windows.",
    "Two men are at the stove preparing food.",
    "A man in green holds a guitar while the other man observes his shirt.",
    "A man is smiling at a stuffed lion",
    "A trendy girl talking on her cellphone while gliding slowly down the street.",
    "A woman with a large purse is walking by a gate.",
    "Boys dancing on poles in the middle of the night.",
    "Männer, die über Brücken gehen: \"Straßenmusik\" um 3 Uhr!",
] * 5


@pytest.fixture(scope="module")
def tokenizer():
    return SubwordTokenizer.train(SENTENCES, vocab_size=200, min_frequency=1)


def test_special_tokens_at_fixed_ids(tokenizer):
    for expected_id, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.id_to_token(expected_id) == token
    assert (PAD_ID, BOS_ID, EOS_ID, UNK_ID) == (0, 1, 2, 3)


def test_decode_restores_text(tokenizer):
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence)
        assert all(token_id > UNK_ID for token_id in ids), sentence
        assert tokenizer.decode(ids) == sentence


def test_decode_drops_specials_and_stops_at_eos(tokenizer):
    ids = tokenizer.encode("Two men are at the stove.")
    assert tokenizer.decode([BOS_ID] + ids + [EOS_ID, *ids, PAD_ID]) == "Two men are at the stove."
    assert tokenizer.decode_batch([ids + [EOS_ID, PAD_ID], [EOS_ID]]) == ["Two men are at the stove.", ""]


def test_whitespace_is_normalised(tokenizer):
    assert tokenizer.decode(tokenizer.encode("  Two   men\tare  ")) == "Two men are"


def test_unknown_characters_become_unk(tokenizer):
    ids = tokenizer.encode("Two 猫")
    assert UNK_ID in ids


def test_frequent_words_are_single_tokens(tokenizer):
    tokens = tokenizer.tokens("A man is")
    assert tokens == ["\u2581A", "\u2581man", "\u2581is"]


def test_vocab_size_respected():
    small = SubwordTokenizer.train(SENTENCES, vocab_size=60, min_frequency=1)
    assert small.vocab_size <= 60
    for sentence in SENTENCES:
        assert small.decode(small.encode(sentence)) == sentence


def test_json_round_trip(tokenizer, tmp_path):
    restored = SubwordTokenizer.from_json(tokenizer.to_json())
    path = tmp_path / "tokenizer.json"
    tokenizer.save(path)
    loaded = SubwordTokenizer.load(path)
    for sentence in SENTENCES[:11]:
        assert restored.encode(sentence) == tokenizer.encode(sentence)
        assert loaded.encode(sentence) == tokenizer.encode(sentence)
    assert loaded.vocab_size == tokenizer.vocab_size


def test_encode_batch_matches_encode(tokenizer):
    assert tokenizer.encode_batch(SENTENCES[:11]) == [tokenizer.encode(s) for s in SENTENCES[:11]]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="vocab_size"):
        SubwordTokenizer.train(SENTENCES, vocab_size=4)
    with pytest.raises(ValueError, match="empty"):
        SubwordTokenizer.train([], vocab_size=100)
    with pytest.raises(ValueError, match="min_frequency"):
        SubwordTokenizer.train(SENTENCES, vocab_size=100, min_frequency=0)
    with pytest.raises(ValueError, match="not a tokenizer JSON"):
        SubwordTokenizer.from_json("{not json")


def test_out_of_range_id(tokenizer):
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tokenizer.id_to_token(10_000)


def test_tokenizer_with_other_special_order_rejected():
    from tokenizers import Tokenizer, models

    other = Tokenizer(models.WordLevel({"<unk>": 0, "<pad>": 1, "<bos>": 2, "<eos>": 3}, unk_token="<unk>"))
    with pytest.raises(ValueError, match="'<pad>' has id 1"):
        SubwordTokenizer(other)
