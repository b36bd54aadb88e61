"""Label-smoothed cross-entropy and the warm-up learning-rate schedule, checked against hand computations."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from illustrated.train import LabelSmoothingLoss, label_smoothed_cross_entropy, warmup_learning_rate, warmup_scheduler

PAD = 0


def hand_loss(logits_row, gold, epsilon):
    """Compute one token's smoothed loss in plain Python floats, straight from the definition."""
    log_z = math.log(sum(math.exp(value) for value in logits_row))
    log_probs = [value - log_z for value in logits_row]
    vocab_size = len(logits_row)
    smoothed = [epsilon / vocab_size + (1.0 - epsilon) * (index == gold) for index in range(vocab_size)]
    return -sum(q * log_p for q, log_p in zip(smoothed, log_probs))


def test_loss_equals_hand_computation():
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 3.0, -2.0]], dtype=torch.float64)
    target = torch.tensor([1, 2])
    expected = (hand_loss(logits[0].tolist(), 1, 0.1) + hand_loss(logits[1].tolist(), 2, 0.1)) / 2
    loss = label_smoothed_cross_entropy(logits, target, epsilon=0.1, pad_id=None)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_loss_hand_value_of_uniform_logits():
    # Equal logits give p = 1/V for every token, so the loss is log V whatever epsilon is.
    logits = torch.zeros(3, 5)
    target = torch.tensor([1, 2, 4])
    loss = label_smoothed_cross_entropy(logits, target, epsilon=0.1, pad_id=None)
    assert loss.item() == pytest.approx(math.log(5), rel=1e-6)


@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.3])
def test_loss_matches_torch_cross_entropy(epsilon):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 7, 11, generator=generator)
    target = torch.randint(1, 11, (4, 7), generator=generator)
    target[0, 5:] = PAD
    target[2, 3:] = PAD
    ours = label_smoothed_cross_entropy(logits, target, epsilon=epsilon, pad_id=PAD)
    theirs = F.cross_entropy(logits.reshape(-1, 11), target.reshape(-1), ignore_index=PAD, label_smoothing=epsilon)
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-5)


def test_loss_excludes_padding():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 4, 6, generator=generator)
    target = torch.tensor([[3, 4, PAD, PAD], [5, 1, 2, PAD]])
    padded = label_smoothed_cross_entropy(logits, target, pad_id=PAD)
    # The same tokens without any padding positions at all.
    real = target != PAD
    unpadded = label_smoothed_cross_entropy(logits[real], target[real], pad_id=PAD)
    assert padded.item() == pytest.approx(unpadded.item(), rel=1e-6)

    # Changing the logits at padded positions changes nothing.
    changed = logits.clone()
    changed[~real] = 100.0
    assert label_smoothed_cross_entropy(changed, target, pad_id=PAD).item() == pytest.approx(padded.item(), rel=1e-6)


def test_loss_none_reduction_zero_at_padding():
    logits = torch.randn(2, 3, 5)
    target = torch.tensor([[1, 2, PAD], [PAD, 3, 4]])
    per_token = label_smoothed_cross_entropy(logits, target, pad_id=PAD, reduction="none")
    assert per_token.shape == target.shape
    assert torch.all(per_token[target == PAD] == 0)
    assert torch.all(per_token[target != PAD] > 0)
    total = label_smoothed_cross_entropy(logits, target, pad_id=PAD, reduction="sum")
    assert total.item() == pytest.approx(per_token.sum().item(), rel=1e-6)


def test_loss_all_padding_gives_zero():
    logits = torch.randn(2, 3, 5)
    target = torch.full((2, 3), PAD)
    loss = label_smoothed_cross_entropy(logits, target, pad_id=PAD)
    assert loss.item() == 0.0
    assert not torch.isnan(loss)


def test_loss_finite_for_extreme_logits():
    # A probability that underflows to zero would give log(0) = -inf in a naive implementation.
    logits = torch.tensor([[1000.0, -1000.0, 0.0], [-1e4, 1e4, 5.0]])
    target = torch.tensor([1, 0])
    loss = label_smoothed_cross_entropy(logits, target, epsilon=0.1, pad_id=None)
    assert torch.isfinite(loss)


def test_loss_gradient_finite_and_zero_at_padding():
    logits = torch.randn(1, 3, 4, requires_grad=True)
    target = torch.tensor([[2, 1, PAD]])
    label_smoothed_cross_entropy(logits, target, pad_id=PAD).backward()
    assert torch.isfinite(logits.grad).all()
    assert torch.all(logits.grad[0, 2] == 0)


def test_loss_module_matches_function():
    logits = torch.randn(2, 3, 5)
    target = torch.tensor([[1, 2, PAD], [3, PAD, PAD]])
    module = LabelSmoothingLoss(epsilon=0.2, pad_id=PAD)
    assert module(logits, target).item() == pytest.approx(
        label_smoothed_cross_entropy(logits, target, 0.2, PAD).item()
    )
    assert "epsilon=0.2" in repr(module)


@pytest.mark.parametrize("epsilon", [-0.1, 1.0, 1.5])
def test_loss_rejects_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        label_smoothed_cross_entropy(torch.zeros(1, 3), torch.tensor([1]), epsilon=epsilon)
    with pytest.raises(ValueError, match="epsilon"):
        LabelSmoothingLoss(epsilon=epsilon)


def test_loss_rejects_shape_mismatch():
    with pytest.raises(ValueError, match="do not match"):
        label_smoothed_cross_entropy(torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))


def test_loss_rejects_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        label_smoothed_cross_entropy(torch.zeros(1, 3), torch.tensor([1]), reduction="average")


# The warm-up schedule: lrate = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5).

@pytest.mark.parametrize(
    "step, expected",
    [
        (1, 512 ** -0.5 * 4000 ** -1.5),
        (100, 512 ** -0.5 * 100 * 4000 ** -1.5),
        (4000, 512 ** -0.5 * 4000 ** -0.5),
        (16000, 512 ** -0.5 * 16000 ** -0.5),
    ],
)
def test_schedule_values_at_chosen_steps(step, expected):
    assert warmup_learning_rate(step, d_model=512, warmup_steps=4000) == pytest.approx(expected, rel=1e-12)


def test_schedule_paper_peak_value():
    # Base model: d_model 512, 4000 warm-up steps, so the peak is 1 / sqrt(512 * 4000), about 7.0e-4.
    assert warmup_learning_rate(4000, 512, 4000) == pytest.approx(6.987712429686843e-4, rel=1e-12)


def test_schedule_peaks_at_warmup_step():
    rates = [warmup_learning_rate(step, d_model=64, warmup_steps=200) for step in range(1, 2001)]
    assert rates.index(max(rates)) + 1 == 200
    assert all(a < b for a, b in zip(rates[:199], rates[1:200])), "the rate must rise during warm-up"
    assert all(a > b for a, b in zip(rates[199:], rates[200:])), "the rate must fall after warm-up"


def test_schedule_factor_scales_linearly():
    assert warmup_learning_rate(50, 64, 200, factor=2.5) == pytest.approx(2.5 * warmup_learning_rate(50, 64, 200))


def test_schedule_no_division_by_zero_at_start():
    at_zero = warmup_learning_rate(0, d_model=512, warmup_steps=4000)
    at_one = warmup_learning_rate(1, d_model=512, warmup_steps=4000)
    assert math.isfinite(at_zero)
    assert at_zero == at_one
    assert at_one > 0


@pytest.mark.parametrize(
    "kwargs, word",
    [
        (dict(step=-1, d_model=512), "step"),
        (dict(step=1, d_model=0), "d_model"),
        (dict(step=1, d_model=512, warmup_steps=0), "warmup_steps"),
    ],
)
def test_schedule_rejects_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        warmup_learning_rate(**kwargs)


def test_scheduler_drives_optimizer_rates():
    parameter = torch.nn.Parameter(torch.zeros(3))
    optimizer = torch.optim.Adam([parameter], lr=123.0)
    scheduler = warmup_scheduler(optimizer, d_model=64, warmup_steps=10)
    seen = []
    for _ in range(30):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [warmup_learning_rate(step, 64, 10) for step in range(1, 31)]
    assert seen == pytest.approx(expected, rel=1e-12)
    assert seen.index(max(seen)) + 1 == 10
