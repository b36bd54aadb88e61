"""The small training loop, its metrics, and a model trained on the number task whose cross-attention reorders."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from illustrated import set_seed
from illustrated.data import EOS_ID, PAD_ID, make_batch, make_number_task, reordered_positions
from illustrated.decode import beam_search
from illustrated.model import Transformer, TransformerConfig
from illustrated.train import TrainingHistory, exact_match_accuracy, fit, token_accuracy, translate_pairs
from illustrated.train.schedule import warmup_learning_rate


class CopyModel(nn.Module):
    """A stand-in model that copies its source, then emits <eos>, so that metrics have known values."""

    def __init__(self, vocab_size: int = 12):
        super().__init__()
        self.vocab_size = vocab_size
        self.config = SimpleNamespace(pad_id=PAD_ID, max_len=32)
        self.weight = nn.Parameter(torch.zeros(1))

    def encode(self, src):
        return src

    def decode(self, tgt_in, memory, src):
        batch, tgt_len = tgt_in.shape
        logits = torch.zeros(batch, tgt_len, self.vocab_size)
        lengths = (src != PAD_ID).sum(dim=1)
        for position in range(tgt_len):
            copy = position < lengths
            token = torch.where(copy, src[:, min(position, src.shape[1] - 1)], torch.full_like(lengths, EOS_ID))
            logits[torch.arange(batch), position, token] = 10.0
        return logits


@pytest.fixture(scope="module")
def small_task():
    return make_number_task(seed=1, num_train=400, num_validation=40, num_test=40, max_number=9999)


def test_token_accuracy_ignores_padding():
    logits = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])  # predicts 2, 1, 0
    target = torch.tensor([[2, 2, PAD_ID]])
    assert token_accuracy(logits, target, pad_id=PAD_ID) == 0.5
    assert token_accuracy(logits, target, pad_id=None) == pytest.approx(2 / 3)
    assert token_accuracy(logits, torch.full((1, 3), PAD_ID), pad_id=PAD_ID) == 0.0


def test_exact_match_of_copy_model():
    pairs = [([5, 6, 7], [5, 6, 7]), ([8], [8]), ([9, 10], [9, 11]), ([4, 5], [4, 5, 6])]
    model = CopyModel()
    assert exact_match_accuracy(model, pairs, batch_size=3) == 0.5
    assert translate_pairs(model, pairs, batch_size=3) == [[5, 6, 7], [8], [9, 10], [4, 5]]


def test_exact_match_counts_missing_eos_wrong():
    model = CopyModel()
    # The copy is right, but a max_len of 2 cuts it before its <eos>.
    assert exact_match_accuracy(model, [([5, 6], [5, 6])], max_len=2) == 0.0
    assert exact_match_accuracy(model, [([5, 6], [5, 6])], max_len=3) == 1.0


def test_exact_match_with_beam_search():
    pairs = [([5, 6, 7], [5, 6, 7]), ([9, 10], [9, 11])]
    assert exact_match_accuracy(CopyModel(), pairs, decode=beam_search, beam_size=3) == 0.5


def test_exact_match_rejects_empty_pairs():
    with pytest.raises(ValueError, match="no pairs"):
        exact_match_accuracy(CopyModel(), [])


def test_fit_short_run_records_history(small_task, tmp_path):
    set_seed(0)
    config = TransformerConfig.tiny(len(small_task.src_vocab), len(small_task.tgt_vocab), d_model=32, d_ff=64)
    model = Transformer(config)
    log_file = tmp_path / "logs" / "fit.jsonl"
    history = fit(model, small_task.pairs("train"), validation_pairs=small_task.pairs("validation"),
                  max_steps=30, batch_size=32, warmup_steps=10, eval_every=20, log_every=10, log_file=log_file)

    assert isinstance(history, TrainingHistory)
    assert history.step == list(range(1, 31))
    assert history.steps_run == 30
    assert all(torch.isfinite(torch.tensor(history.loss)))
    assert history.loss[-1] < history.loss[0], "30 steps did not lower the loss at all"
    assert all(0.0 <= value <= 1.0 for value in history.token_accuracy)
    expected_rates = [warmup_learning_rate(step, 32, 10) for step in range(1, 31)]
    assert history.learning_rate == pytest.approx(expected_rates, rel=1e-9)
    assert history.eval_step == [20, 30], "evaluates every 20 steps and after the last"
    assert history.seconds > 0
    assert history.target_reached_step is None
    assert not model.training

    lines = [json.loads(line) for line in log_file.read_text().splitlines()]
    assert [line["step"] for line in lines if "loss" in line] == [10, 20, 30]
    assert [line["step"] for line in lines if "validation_exact_match" in line] == [20, 30]
    assert json.loads(json.dumps(history.to_dict()))["step"] == history.step


def test_fit_repeats_with_same_seed(small_task):
    losses = []
    for _ in range(2):
        set_seed(0)
        config = TransformerConfig.tiny(len(small_task.src_vocab), len(small_task.tgt_vocab), d_model=32, d_ff=64)
        history = fit(Transformer(config), small_task.pairs("train"), max_steps=5, batch_size=16, seed=3)
        losses.append(history.loss)
    assert losses[0] == losses[1]


def test_fit_stops_at_time_limit(small_task):
    set_seed(0)
    config = TransformerConfig.tiny(len(small_task.src_vocab), len(small_task.tgt_vocab), d_model=32, d_ff=64)
    history = fit(Transformer(config), small_task.pairs("train"), max_steps=10_000, batch_size=16, time_limit=0.01)
    assert history.steps_run < 10_000


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_steps=0), "max_steps"),
        (dict(batch_size=1.5), "batch_size"),
        (dict(warmup_steps=0), "warmup_steps"),
        (dict(target_exact_match=0.99), "needs validation_pairs"),
        (dict(target_exact_match=1.5, validation_pairs=[([5], [6])]), "target_exact_match"),
        (dict(time_limit=0), "time_limit"),
    ],
)
def test_fit_rejects_bad_arguments(small_task, kwargs, message):
    config = TransformerConfig.tiny(len(small_task.src_vocab), len(small_task.tgt_vocab), d_model=32, d_ff=64)
    with pytest.raises(ValueError, match=message):
        fit(Transformer(config), small_task.pairs("train"), **kwargs)


def test_fit_rejects_empty_training_set(small_task):
    config = TransformerConfig.tiny(len(small_task.src_vocab), len(small_task.tgt_vocab), d_model=32, d_ff=64)
    with pytest.raises(ValueError, match="no training pairs"):
        fit(Transformer(config), [])


# A model trained on the full number task, as in the training chapter.

@pytest.fixture(scope="module")
def trained():
    """Train the training chapter's model on the number task until 99.5% of validation is exact."""
    set_seed(0)
    task = make_number_task(seed=0)
    config = TransformerConfig.tiny(len(task.src_vocab), len(task.tgt_vocab))
    model = Transformer(config)
    history = fit(model, task.pairs("train"), validation_pairs=task.pairs("validation"), max_steps=1500,
                  batch_size=64, warmup_steps=200, lr_factor=0.5, eval_every=100, target_exact_match=0.995)
    return SimpleNamespace(task=task, model=model, history=history)


@pytest.mark.slow
def test_trained_model_exact_on_test_split(trained):
    assert trained.history.target_reached_step is not None, (
        f"validation exact match only reached {max(trained.history.eval_exact_match):.3f}"
    )
    accuracy = exact_match_accuracy(trained.model, trained.task.pairs("test"))
    assert accuracy >= 0.99


@pytest.mark.slow
def test_trained_model_beam_search_exact(trained):
    accuracy = exact_match_accuracy(trained.model, trained.task.pairs("test")[:300], decode=beam_search, beam_size=4)
    assert accuracy >= 0.99


@pytest.mark.slow
def test_trained_cross_attention_points_at_aligned_word(trained):
    """For reordered words, the last decoder layer's strongest cross-attention is on the word being translated.

    Decoder position t reads <bos> + target[:t] and predicts target[t], so its attention row
    should peak at the source word that target[t] translates, alignment[t].
    """
    examples = trained.task.test
    batch = make_batch(trained.task.pairs("test"))
    with torch.no_grad():
        _, attention = trained.model(batch.src, batch.tgt_in, return_attention=True)
    cross = attention["cross"][-1].mean(dim=1)  # (batch, tgt_len, src_len), averaged over heads
    hits = total = 0
    for row, example in enumerate(examples):
        for position in reordered_positions(example):
            total += 1
            hits += int(cross[row, position].argmax()) == example.alignment[position]
    assert total > 2000, "the test split has too few reordered words to judge"
    assert hits / total >= 0.9, f"only {hits} of {total} reordered words attend to their source word"
