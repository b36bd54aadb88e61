"""The built-in number task, the vocabulary and batching."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from illustrated.data import (
    BOS_ID,
    EOS_ID,
    PAD_ID,
    SPECIAL_TOKENS,
    UNK_ID,
    Vocabulary,
    iterate_batches,
    make_batch,
    make_number_task,
    pad_sequences,
    reordered_positions,
    translate_number,
)
from illustrated.data.synthetic import LEXICON_SIZE, MAX_NUMBER, english_text, german_text


@pytest.fixture(scope="module")
def task():
    return make_number_task(seed=0)


# Spelling numbers.

@pytest.mark.parametrize(
    "number, english, german",
    [
        (0, "zero", "null"),
        (1, "one", "eins"),
        (7, "seven", "sieben"),
        (12, "twelve", "zwölf"),
        (16, "sixteen", "sechzehn"),
        (21, "twenty-one", "einundzwanzig"),
        (30, "thirty", "dreißig"),
        (67, "sixty-seven", "siebenundsechzig"),
        (100, "one hundred", "einhundert"),
        (101, "one hundred one", "einhunderteins"),
        (121, "one hundred twenty-one", "einhunderteinundzwanzig"),
        (1000, "one thousand", "eintausend"),
        (1001, "one thousand one", "eintausendeins"),
        (21021, "twenty-one thousand twenty-one", "einundzwanzigtausendeinundzwanzig"),
        (345678, "three hundred forty-five thousand six hundred seventy-eight",
         "dreihundertfünfundvierzigtausendsechshundertachtundsiebzig"),
        (999999, "nine hundred ninety-nine thousand nine hundred ninety-nine",
         "neunhundertneunundneunzigtausendneunhundertneunundneunzig"),
    ],
)
def test_translate_number_spells_both_languages(number, english, german):
    example = translate_number(number)
    assert example.number == number
    assert example.source_text == english
    assert example.target_text == german


def test_translate_number_tokens_and_alignment():
    example = translate_number(21)
    assert example.source == ("twenty", "-", "one")
    assert example.target == ("ein", "und", "zwanzig")
    assert example.alignment == (2, 1, 0)
    assert reordered_positions(example) == [0, 2]


def test_translate_number_two_compounds_reordered():
    example = translate_number(45_678)
    assert example.source == ("forty", "-", "five", "thousand", "six", "hundred", "seventy", "-", "eight")
    assert example.target == ("fünf", "und", "vierzig", "tausend", "sechs", "hundert", "acht", "und", "siebzig")
    assert reordered_positions(example) == [0, 2, 6, 8]


@pytest.mark.parametrize("number", [5, 13, 40, 100, 700_000, 110_001])
def test_translate_number_monotonic_without_compound(number):
    example = translate_number(number)
    assert example.alignment == tuple(range(len(example.source)))
    assert reordered_positions(example) == []


def test_alignment_is_permutation_translating_word_by_word():
    rng = np.random.default_rng(0)
    numbers = list(range(LEXICON_SIZE)) + rng.integers(0, MAX_NUMBER + 1, 3000).tolist() + [MAX_NUMBER]
    dictionary = {}
    for number in numbers:
        example = translate_number(number)
        assert len(example.source) == len(example.target) == len(example.alignment)
        assert sorted(example.alignment) == list(range(len(example.source)))
        for target_word, source_index in zip(example.target, example.alignment):
            dictionary.setdefault(example.source[source_index], set()).add(target_word)
    # Each English word translates to one German word, except "one", which is "eins" at the end.
    ambiguous = {word: sorted(targets) for word, targets in dictionary.items() if len(targets) > 1}
    assert ambiguous == {"one": ["ein", "eins"]}


def test_text_joining_rules():
    assert english_text(["twenty", "-", "one", "thousand"]) == "twenty-one thousand"
    assert german_text(["ein", "und", "zwanzig", "tausend"]) == "einundzwanzigtausend"


@pytest.mark.parametrize("number", [-1, MAX_NUMBER + 1])
def test_translate_number_rejects_out_of_range(number):
    with pytest.raises(ValueError, match="999,999"):
        translate_number(number)


@pytest.mark.parametrize("number", [2.0, "21", True, None])
def test_translate_number_rejects_non_integers(number):
    with pytest.raises(TypeError, match="integer"):
        translate_number(number)


# The task and its splits.

def test_task_split_sizes(task):
    assert len(task.train) == 6000
    assert len(task.validation) == 500
    assert len(task.test) == 1000


def test_task_splits_share_no_number(task):
    train = {example.number for example in task.train}
    validation = {example.number for example in task.validation}
    test = {example.number for example in task.test}
    assert len(train) == len(task.train), "the training split repeats a number"
    assert len(validation) == len(task.validation)
    assert len(test) == len(task.test)
    assert not train & validation
    assert not train & test
    assert not validation & test


def test_task_lexicon_in_training_split(task):
    train = {example.number for example in task.train}
    assert set(range(LEXICON_SIZE)) <= train


def test_task_covers_every_digit_count(task):
    for split in ("train", "validation", "test"):
        digit_counts = {len(str(example.number)) for example in task.split(split)}
        assert {3, 4, 5, 6} <= digit_counts, f"{split} lacks some digit counts: {sorted(digit_counts)}"


def test_task_most_test_sentences_reorder(task):
    reordering = sum(bool(reordered_positions(example)) for example in task.test)
    assert reordering / len(task.test) > 0.8


def test_task_same_seed_same_examples():
    first = make_number_task(seed=3, num_train=300, num_validation=20, num_test=50)
    second = make_number_task(seed=3, num_train=300, num_validation=20, num_test=50)
    assert first.train == second.train
    assert first.validation == second.validation
    assert first.test == second.test


def test_task_other_seed_other_examples():
    first = make_number_task(seed=3, num_train=300, num_validation=20, num_test=50)
    second = make_number_task(seed=4, num_train=300, num_validation=20, num_test=50)
    assert [example.number for example in first.test] != [example.number for example in second.test]
    assert first.src_vocab == second.src_vocab, "token ids must not depend on the seed"
    assert first.tgt_vocab == second.tgt_vocab


def test_task_vocabularies_cover_all_words(task):
    for split in task.splits:
        for source_ids, target_ids in task.pairs(split):
            assert UNK_ID not in source_ids
            assert UNK_ID not in target_ids
    assert len(task.src_vocab) == len(SPECIAL_TOKENS) + 31  # 10 units, 10 teens, 8 tens, "-", hundred, thousand
    assert len(task.tgt_vocab) == len(SPECIAL_TOKENS) + 32  # the same, plus "eins"


def test_task_pairs_encode_examples(task):
    source_ids, target_ids = task.pairs("test")[0]
    example = task.test[0]
    assert task.src_vocab.decode(source_ids) == list(example.source)
    assert task.tgt_vocab.decode(target_ids) == list(example.target)
    assert BOS_ID not in target_ids
    assert EOS_ID not in target_ids


def test_task_small_max_number():
    small = make_number_task(seed=0, num_train=150, num_validation=10, num_test=20, max_number=999)
    numbers = [example.number for split in small.splits for example in small.split(split)]
    assert max(numbers) <= 999
    assert len(set(numbers)) == 180


def test_task_unknown_split_rejected(task):
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        task.split("dev")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_train=50), "at least 100"),
        (dict(num_test=0), "num_test"),
        (dict(max_number=MAX_NUMBER + 1), "max_number"),
        (dict(max_number=500, num_train=400, num_test=200), "distinct numbers"),
        (dict(seed=-1), "seed"),
        (dict(num_validation=1.5), "num_validation"),
    ],
)
def test_task_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_number_task(**kwargs)


# The vocabulary.

def test_vocabulary_specials_first():
    vocab = Vocabulary(["a", "b"])
    assert vocab.tokens[:4] == list(SPECIAL_TOKENS)
    assert [vocab.token_to_id(token) for token in SPECIAL_TOKENS] == [PAD_ID, BOS_ID, EOS_ID, UNK_ID]
    assert vocab.token_to_id("a") == 4
    assert len(vocab) == 6


def test_vocabulary_encode_decode_round_trip():
    vocab = Vocabulary(["twenty", "-", "one"])
    ids = vocab.encode(["twenty", "-", "one"], add_bos=True, add_eos=True)
    assert ids == [BOS_ID, 4, 5, 6, EOS_ID]
    assert vocab.decode(ids) == ["twenty", "-", "one"]


def test_vocabulary_unknown_token_is_unk():
    vocab = Vocabulary(["a"])
    assert vocab.encode(["a", "zebra"]) == [4, UNK_ID]
    assert vocab.decode([4, UNK_ID]) == ["a", "<unk>"]
    assert "zebra" not in vocab
    assert "a" in vocab


def test_vocabulary_decode_stops_at_eos():
    vocab = Vocabulary(["a", "b"])
    assert vocab.decode([BOS_ID, 4, 5, EOS_ID, 4, PAD_ID]) == ["a", "b"]
    assert vocab.decode(torch.tensor([4, PAD_ID, 5])) == ["a", "b"]
    assert vocab.decode([BOS_ID, 4, EOS_ID, PAD_ID], strip_special=False) == ["<bos>", "a", "<eos>", "<pad>"]


def test_vocabulary_from_sequences_orders_by_frequency():
    vocab = Vocabulary.from_sequences([["b", "a", "c"], ["a", "c"], ["a", "d"]])
    assert vocab.tokens[4:] == ["a", "c", "b", "d"]
    assert Vocabulary.from_sequences([["b", "a", "c"], ["a", "c"]], min_freq=2).tokens[4:] == ["a", "c"]


def test_vocabulary_rejects_bad_tokens():
    with pytest.raises(ValueError, match="duplicate"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="special tokens"):
        Vocabulary(["<pad>", "a"])
    with pytest.raises(TypeError, match="non-empty strings"):
        Vocabulary(["a", ""])


def test_vocabulary_rejects_strings_and_bad_ids():
    vocab = Vocabulary(["a"])
    with pytest.raises(TypeError, match="split it first"):
        vocab.encode("a a")
    with pytest.raises(TypeError, match="split it first"):
        Vocabulary.from_sequences(["a b"])
    with pytest.raises(IndexError, match="outside this vocabulary"):
        vocab.decode([99])
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.from_sequences([["a"]], min_freq=0)


# Batching.

def test_pad_sequences_pads_at_end():
    batch = pad_sequences([[5, 6, 7], [8], []])
    assert batch.dtype == torch.long
    assert batch.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID], [PAD_ID, PAD_ID, PAD_ID]]
    assert pad_sequences([[5]], length=3, pad_id=9).tolist() == [[5, 9, 9]]


def test_pad_sequences_rejects_bad_input():
    with pytest.raises(ValueError, match="no sequences"):
        pad_sequences([])
    with pytest.raises(ValueError, match="does not fit"):
        pad_sequences([[1, 2, 3]], length=2)
    with pytest.raises(TypeError, match="encode it first"):
        pad_sequences(["abc"])
    with pytest.raises(ValueError, match="negative"):
        pad_sequences([[1, -2]])


def test_make_batch_shifts_target():
    batch = make_batch([([5, 6, 7], [10, 11]), ([8], [12, 13, 14])])
    assert batch.src.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert batch.tgt_in.tolist() == [[BOS_ID, 10, 11, PAD_ID], [BOS_ID, 12, 13, 14]]
    assert batch.tgt_out.tolist() == [[10, 11, EOS_ID, PAD_ID], [12, 13, 14, EOS_ID]]
    # The decoder reads at t + 1 the target token it had to predict at t.
    target_positions = (batch.tgt_out[:, :-1] != PAD_ID) & (batch.tgt_out[:, :-1] != EOS_ID)
    assert torch.equal(batch.tgt_in[:, 1:][target_positions], batch.tgt_out[:, :-1][target_positions])
    assert batch.num_target_tokens == 7
    assert len(batch) == 2


def test_make_batch_rejects_targets_with_specials():
    with pytest.raises(ValueError, match="already contains"):
        make_batch([([5], [BOS_ID, 6])])
    with pytest.raises(ValueError, match="already contains"):
        make_batch([([5], [6, EOS_ID])])
    with pytest.raises(ValueError, match="no pairs"):
        make_batch([])


def test_iterate_batches_visits_every_pair_once(task):
    pairs = task.pairs("validation")
    seen = []
    for batch in iterate_batches(pairs, 64, shuffle=True, rng=np.random.default_rng(0)):
        for row in batch.src.tolist():
            seen.append(tuple(token for token in row if token != PAD_ID))
    assert sorted(seen) == sorted(tuple(source) for source, _ in pairs)
    assert [tuple(s) for s, _ in pairs][:5] != seen[:5], "shuffle=True kept the original order"


def test_iterate_batches_repeatable_and_drop_last(task):
    pairs = task.pairs("validation")[:100]
    first = [batch.src for batch in iterate_batches(pairs, 32, shuffle=True, rng=np.random.default_rng(5))]
    second = [batch.src for batch in iterate_batches(pairs, 32, shuffle=True, rng=np.random.default_rng(5))]
    assert all(torch.equal(a, b) for a, b in zip(first, second))
    assert [len(batch) for batch in iterate_batches(pairs, 32)] == [32, 32, 32, 4]
    assert [len(batch) for batch in iterate_batches(pairs, 32, drop_last=True)] == [32, 32, 32]


def test_iterate_batches_rejects_bad_arguments(task):
    with pytest.raises(ValueError, match="rng"):
        next(iterate_batches(task.pairs("validation"), 8, shuffle=True))
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(task.pairs("validation"), 0))
