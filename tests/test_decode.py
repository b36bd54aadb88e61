"""Greedy decoding and beam search, on scripted models with known outputs and on a real Transformer."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from illustrated.data import BOS_ID, EOS_ID, PAD_ID, pad_sequences
from illustrated.decode import DEFAULT_EXTRA_LENGTH, beam_search, greedy_decode, length_penalty_factor
from illustrated.model import Transformer, TransformerConfig

VOCAB_SIZE = 12


class ScriptedModel(nn.Module):
    """A stand-in decoder whose next-token log-probabilities come from a Python function.

    ``next_log_probs(source, prefix)`` receives the source ids without padding and the tokens
    chosen so far (without ``<bos>``), and returns one score per vocabulary entry.
    """

    def __init__(self, next_log_probs, max_len: int = 64):
        super().__init__()
        self.next_log_probs = next_log_probs
        self.config = SimpleNamespace(pad_id=PAD_ID, max_len=max_len)
        self.weight = nn.Parameter(torch.zeros(1))  # so the module has a device and a mode
        self.decode_calls = 0

    def encode(self, src):
        return src.float()[..., None]  # (batch, src_len, 1): the "memory" is the source itself

    def decode(self, tgt_in, memory, src):
        self.decode_calls += 1
        batch, tgt_len = tgt_in.shape
        logits = torch.full((batch, tgt_len, VOCAB_SIZE), -30.0)
        for row in range(batch):
            source = [token for token in src[row].tolist() if token != PAD_ID]
            for position in range(tgt_len):
                prefix = tgt_in[row, 1:position + 1].tolist()
                logits[row, position] = torch.tensor(self.next_log_probs(source, prefix), dtype=torch.float)
        return logits


def one_hot_scores(token, low=-30.0):
    scores = [low] * VOCAB_SIZE
    scores[token] = 0.0
    return scores


def copy_source(source, prefix):
    """Copy the source token by token, then emit <eos>."""
    if len(prefix) < len(source):
        return one_hot_scores(source[len(prefix)])
    return one_hot_scores(EOS_ID)


def never_stop(source, prefix):
    return one_hot_scores(7)


def prefers_pad_and_bos(source, prefix):
    """Give <pad> and <bos> the highest scores; decoding must still pick 5, then <eos>."""
    scores = [-30.0] * VOCAB_SIZE
    scores[PAD_ID] = 10.0
    scores[BOS_ID] = 9.0
    scores[5 if not prefix else EOS_ID] = 0.0
    return scores


def greedy_trap(source, prefix):
    """A tree where the locally best first token leads to a worse sentence.

    First token: 4 with p = 0.6, 5 with p = 0.4. After 4, every next token is unlikely
    (the best, 6, has p = 0.3) and after 6 comes <eos> for sure. After 5, <eos> has p = 0.99.
    Greedy: 4 6 <eos>, log p = log 0.6 + log 0.3. Beam 2: 5 <eos>, log p = log 0.4 + log 0.99.
    """
    if not prefix:
        scores = [-30.0] * VOCAB_SIZE
        scores[4], scores[5] = math.log(0.6), math.log(0.4)
        return scores
    others = [token for token in range(VOCAB_SIZE) if token not in (PAD_ID, BOS_ID)]  # the tokens decoding may emit
    if prefix == [4]:
        scores = [-30.0] * VOCAB_SIZE
        for token in others:
            scores[token] = math.log(0.7 / (len(others) - 1))
        scores[6] = math.log(0.3)
        return scores
    if prefix == [5]:
        scores = [-30.0] * VOCAB_SIZE
        for token in others:
            scores[token] = math.log(0.01 / (len(others) - 1))
        scores[EOS_ID] = math.log(0.99)
        return scores
    return one_hot_scores(EOS_ID)


def trimmed(row):
    """Return a decoded row without its trailing padding."""
    values = row.tolist() if hasattr(row, "tolist") else list(row)
    while values and values[-1] == PAD_ID:
        values.pop()
    return values


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(0)
    config = TransformerConfig.tiny(20, 20, d_model=32, num_heads=4, d_ff=64, num_layers=2, max_len=64)
    return Transformer(config).eval()


@pytest.fixture(scope="module")
def padded_src():
    generator = torch.Generator().manual_seed(1)
    sentences = [torch.randint(4, 20, (length,), generator=generator).tolist() for length in (5, 2, 7, 1, 4)]
    return sentences, pad_sequences(sentences)


# Greedy decoding.

def test_greedy_copies_and_stops_at_eos():
    model = ScriptedModel(copy_source)
    src = pad_sequences([[5, 6, 7], [8], [9, 10]])
    out = greedy_decode(model, src)
    assert out.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID], [9, 10, EOS_ID, PAD_ID]]


def test_greedy_stops_when_all_rows_end():
    model = ScriptedModel(copy_source)
    greedy_decode(model, pad_sequences([[5, 6]]))
    assert model.decode_calls == 3  # 5, 6, <eos>; then nothing more


def test_greedy_respects_max_len():
    model = ScriptedModel(never_stop)
    out = greedy_decode(model, pad_sequences([[5, 6], [4]]), max_len=4)
    assert out.tolist() == [[7, 7, 7, 7], [7, 7, 7, 7]]
    assert EOS_ID not in out


def test_greedy_default_length_limit_per_row():
    model = ScriptedModel(never_stop)
    out = greedy_decode(model, pad_sequences([[5, 6, 8], [4]]))
    assert len(trimmed(out[0])) == 3 + DEFAULT_EXTRA_LENGTH
    assert len(trimmed(out[1])) == 1 + DEFAULT_EXTRA_LENGTH


def test_greedy_default_limit_capped_at_model_max_len():
    model = ScriptedModel(never_stop, max_len=10)
    out = greedy_decode(model, pad_sequences([[5, 6, 8]]))
    assert out.shape == (1, 10)


def test_greedy_never_emits_pad_or_bos():
    model = ScriptedModel(prefers_pad_and_bos)
    out = greedy_decode(model, pad_sequences([[4], [4, 5]]))
    assert out.tolist() == [[5, EOS_ID], [5, EOS_ID]]


def test_greedy_padded_batch_equals_one_at_a_time(random_model, padded_src):
    sentences, src = padded_src
    batched = greedy_decode(random_model, src, max_len=12)
    for row, sentence in enumerate(sentences):
        alone = greedy_decode(random_model, torch.tensor([sentence]), max_len=12)
        assert trimmed(batched[row]) == trimmed(alone[0]), f"sentence {row} decodes differently in a batch"


def test_greedy_output_layout(random_model, padded_src):
    _, src = padded_src
    out = greedy_decode(random_model, src, max_len=15)
    assert out.dtype == torch.long
    assert out.shape[0] == src.shape[0]
    assert out.shape[1] <= 15
    for row in out.tolist():
        assert BOS_ID not in row
        if EOS_ID in row:
            end = row.index(EOS_ID)
            assert all(token == PAD_ID for token in row[end + 1:]), "tokens after <eos> must be padding"
            assert PAD_ID not in row[:end], "padding before <eos>"
        else:
            assert PAD_ID not in row


def test_greedy_restores_training_mode(random_model, padded_src):
    _, src = padded_src
    random_model.train()
    try:
        first = greedy_decode(random_model, src, max_len=6)
        assert random_model.training, "greedy_decode left the model in eval mode"
        second = greedy_decode(random_model, src, max_len=6)
        assert torch.equal(first, second), "dropout was active while decoding"
    finally:
        random_model.eval()


def test_greedy_empty_batch(random_model):
    out = greedy_decode(random_model, torch.empty(0, 3, dtype=torch.long))
    assert out.shape == (0, 0)


@pytest.mark.parametrize(
    "src, kwargs, error, message",
    [
        (torch.tensor([5, 6]), {}, ValueError, "unsqueeze"),
        (torch.tensor([[5.0, 6.0]]), {}, TypeError, "integer"),
        ([[5, 6]], {}, TypeError, "pad_sequences"),
        (torch.tensor([[5, 6]]), {"max_len": 0}, ValueError, "max_len"),
        (torch.tensor([[5, 6]]), {"max_len": 65}, ValueError, "exceeds the model's max_len=64"),
    ],
)
def test_greedy_rejects_bad_input(random_model, src, kwargs, error, message):
    with pytest.raises(error, match=message):
        greedy_decode(random_model, src, **kwargs)


def test_greedy_rejects_non_model():
    with pytest.raises(TypeError, match="lacks encode, decode, config"):
        greedy_decode(nn.Linear(2, 2), torch.tensor([[5]]))


# Beam search.

def test_beam_size_one_equals_greedy(random_model, padded_src):
    _, src = padded_src
    for max_len in (3, 9, 20):
        greedy = greedy_decode(random_model, src, max_len=max_len)
        beam = beam_search(random_model, src, beam_size=1, max_len=max_len)
        assert torch.equal(beam, greedy), f"beam_size=1 differs from greedy at max_len={max_len}"


def test_beam_size_one_equals_greedy_with_eos():
    model = ScriptedModel(copy_source)
    src = pad_sequences([[5, 6, 7], [8], [9, 10]])
    assert torch.equal(beam_search(model, src, beam_size=1), greedy_decode(model, src))


def test_beam_finds_better_sentence_than_greedy():
    model = ScriptedModel(greedy_trap)
    src = pad_sequences([[4]])
    assert trimmed(greedy_decode(model, src)[0]) == [4, 6, EOS_ID]
    out, hypotheses = beam_search(model, src, beam_size=2, length_penalty=0.0, return_hypotheses=True)
    assert trimmed(out[0]) == [5, EOS_ID]
    best_score, best_ids = hypotheses[0][0]
    assert best_ids == [5, EOS_ID]
    assert best_score == pytest.approx(math.log(0.4) + math.log(0.99), abs=1e-4)
    scores = [score for score, _ in hypotheses[0]]
    assert scores == sorted(scores, reverse=True)


def test_beam_copies_and_stops_at_eos():
    model = ScriptedModel(copy_source)
    src = pad_sequences([[5, 6, 7], [8], [9, 10]])
    out = beam_search(model, src, beam_size=3)
    assert out.tolist() == [[5, 6, 7, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID], [9, 10, EOS_ID, PAD_ID]]


def test_beam_respects_max_len():
    model = ScriptedModel(never_stop)
    out = beam_search(model, pad_sequences([[5, 6], [4]]), beam_size=3, max_len=5)
    assert out.shape == (2, 5)
    assert EOS_ID not in out


def test_beam_never_emits_pad_or_bos():
    model = ScriptedModel(prefers_pad_and_bos)
    out = beam_search(model, pad_sequences([[4], [4, 5]]), beam_size=2)
    assert out.tolist() == [[5, EOS_ID], [5, EOS_ID]]


def test_beam_padded_batch_equals_one_at_a_time(random_model, padded_src):
    sentences, src = padded_src
    batched = beam_search(random_model, src, beam_size=3, max_len=10)
    for row, sentence in enumerate(sentences):
        alone = beam_search(random_model, torch.tensor([sentence]), beam_size=3, max_len=10)
        assert trimmed(batched[row]) == trimmed(alone[0]), f"sentence {row} decodes differently in a batch"


def test_beam_score_at_least_greedy_score(random_model, padded_src):
    # With no length penalty, the beam's best hypothesis is at least as likely as greedy's output.
    _, src = padded_src
    greedy = greedy_decode(random_model, src, max_len=8)
    _, hypotheses = beam_search(random_model, src, beam_size=4, max_len=8, length_penalty=0.0,
                                return_hypotheses=True)
    for row in range(src.shape[0]):
        tokens = trimmed(greedy[row])
        tgt_in = torch.tensor([[BOS_ID] + tokens[:-1]])
        with torch.no_grad():
            logits = random_model(src[row:row + 1], tgt_in)
        logits[..., PAD_ID] = float("-inf")
        logits[..., BOS_ID] = float("-inf")
        greedy_score = logits.log_softmax(-1)[0, torch.arange(len(tokens)), tokens].sum().item()
        assert hypotheses[row][0][0] >= greedy_score - 1e-4


def test_length_penalty_factor_values():
    assert length_penalty_factor(1, 0.6) == pytest.approx(1.0)
    assert length_penalty_factor(7, 0.6) == pytest.approx(2.0 ** 0.6)
    assert length_penalty_factor(10, 0.0) == 1.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"beam_size": 0}, "beam_size"),
        ({"beam_size": 2.0}, "beam_size"),
        ({"length_penalty": -0.5}, "length_penalty"),
        ({"length_penalty": float("nan")}, "length_penalty"),
        ({"max_len": 100}, "exceeds"),
    ],
)
def test_beam_rejects_bad_arguments(random_model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        beam_search(random_model, torch.tensor([[5, 6]]), **kwargs)
