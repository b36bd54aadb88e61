"""Token-budget batches: budget, padding, determinism, resumption, fixed shapes and replicas."""

from __future__ import annotations

import numpy as np
import pytest

from illustrated.data.buckets import TokenBudgetBatcher, collate_pairs, encode_pairs
from illustrated.data.special_tokens import BOS_ID, EOS_ID, PAD_ID


def make_examples(count=600, seed=0):
    rng = np.random.default_rng(seed)
    source_ids = [list(rng.integers(4, 100, size=rng.integers(1, 40))) for _ in range(count)]
    target_ids = [list(rng.integers(4, 100, size=rng.integers(1, 45))) for _ in range(count)]
    return encode_pairs(source_ids, target_ids)


SOURCES, TARGETS = make_examples()


def batches_of(batcher, epoch=0, start=0):
    return [batch for _, batch in batcher.iter_epoch(epoch, start)]


def test_encode_pairs_adds_specials():
    sources, targets = encode_pairs([[5, 6]], [[7]])
    assert sources == [[5, 6, EOS_ID]]
    assert targets == [[BOS_ID, 7, EOS_ID]]


def test_collate_shifts_target():
    batch = collate_pairs([[5, 6, EOS_ID]], [[BOS_ID, 7, 8, EOS_ID]], [0])
    assert batch.src.tolist() == [[5, 6, EOS_ID, 0, 0, 0, 0, 0]]
    assert batch.tgt_in.tolist()[0][:3] == [BOS_ID, 7, 8]
    assert batch.tgt_out.tolist()[0][:3] == [7, 8, EOS_ID]
    assert batch.num_tokens == 3


def test_budget_and_padding_multiple():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=1)
    for batch in batches_of(batcher):
        for tensor in (batch.src, batch.tgt_in):
            assert tensor.shape[1] % 8 == 0
            assert tensor.numel() <= 512
        assert batch.tgt_in.shape == batch.tgt_out.shape


def test_every_example_once_per_epoch():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=1)
    for epoch in (0, 1):
        seen = sorted(i for indices in batcher.plan(epoch) for i in indices)
        assert seen == list(range(len(SOURCES)))


def test_batch_holds_its_examples():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=1)
    batch = batches_of(batcher)[3]
    for row, index in enumerate(batch.indices):
        source = SOURCES[index]
        assert batch.src[row, : len(source)].tolist() == source
        assert (batch.src[row, len(source):] == PAD_ID).all()
        assert batch.tgt_in[row, : len(TARGETS[index]) - 1].tolist() == TARGETS[index][:-1]


def test_same_seed_and_epoch_same_order():
    first = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=3)
    second = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=3)
    assert first.plan(2) == second.plan(2)
    assert first.plan(2) != first.plan(3)
    other_seed = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=4)
    assert other_seed.plan(2) != first.plan(2)
    assert len(first.plan(0)) == len(first.plan(5)) == len(first)


def test_resume_mid_epoch_replays_rest():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=3)
    full = batches_of(batcher, epoch=1)
    resumed = batches_of(batcher, epoch=1, start=7)
    assert len(resumed) == len(full) - 7
    for expected, actual in zip(full[7:], resumed):
        assert expected.indices == actual.indices
        assert expected.src.equal(actual.src)
    positions = [position for position, _ in batcher.iter_epoch(1, 7)]
    assert positions[0] == 7
    with pytest.raises(ValueError, match="start"):
        next(batcher.iter_epoch(1, len(full) + 1))


def test_length_buckets_reduce_padding():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=1)
    real = padded = 0
    for batch in batches_of(batcher):
        real += int((batch.src != PAD_ID).sum())
        padded += batch.src.numel()
    assert real / padded > 0.6  # random batches of lengths 1..40 would be about half padding


def test_fixed_shapes_for_xla():
    shapes = (16, 32, 48)
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=480, seed=0, fixed_shapes=shapes)
    allowed = batcher.shapes()
    assert len(allowed) <= len(shapes)
    seen = set()
    for batch in batches_of(batcher):
        shape = tuple(batch.src.shape)
        assert shape == tuple(batch.tgt_in.shape)
        assert shape in allowed
        seen.add(shape)
        padding_rows = batch.tgt_out[len(batch.indices):]
        assert (padding_rows == PAD_ID).all()  # filler rows carry no target token
    assert seen == allowed
    assert batcher.num_dropped == 0


def test_fixed_shapes_drop_too_long():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=480, seed=0, fixed_shapes=(16, 32))
    longest = max(max(len(s), len(t) - 1) for s, t in zip(SOURCES, TARGETS))
    assert longest > 32
    assert batcher.num_dropped > 0
    kept = sum(len(indices) for indices in batcher.plan(0))
    assert kept == len(SOURCES) - batcher.num_dropped


def test_replicas_split_batches():
    single = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=5)
    replicas = [TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=5, num_replicas=2, rank=r) for r in (0, 1)]
    plans = [replica.plan(0) for replica in replicas]
    assert len(plans[0]) == len(plans[1]) == len(single.plan(0)) // 2
    everyone = [tuple(indices) for plan in plans for indices in plan]
    assert len(set(everyone)) == len(everyone)
    assert set(everyone) <= {tuple(indices) for indices in single.plan(0)}
    totals = replicas[0].group_target_tokens(0)
    assert totals == replicas[1].group_target_tokens(0)
    for position, total in enumerate(totals):
        counted = sum(len(TARGETS[i]) - 1 for plan in plans for i in plan[position])
        assert total == counted


def test_group_tokens_single_process():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, seed=5)
    totals = batcher.group_target_tokens(0)
    assert totals == [batch.num_tokens for batch in batches_of(batcher)]


def test_unshuffled_keeps_length_order():
    batcher = TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, shuffle=False)
    lengths = [max(len(SOURCES[i]), len(TARGETS[i]) - 1) for indices in batcher.plan(0) for i in indices]
    keys = [-(-length // 8) for length in lengths]
    assert keys == sorted(keys)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="max_tokens=8 cannot hold"):
        TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=8)
    with pytest.raises(ValueError, match="fixed_shapes"):
        TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, fixed_shapes=(32, 16))
    with pytest.raises(ValueError, match="rank"):
        TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="no example"):
        TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512, max_length=1)
    with pytest.raises(ValueError, match="sources"):
        TokenBudgetBatcher(SOURCES, TARGETS[:-1], max_tokens=512)
    with pytest.raises(ValueError, match="needs fixed_shapes"):
        TokenBudgetBatcher(SOURCES, TARGETS, max_tokens=512).shapes()
