"""Batches by token budget: sentences of similar length together, so little of each batch is padding.

Each example is sorted into a length bucket, the length of its longer side (source or target)
rounded up to a multiple of ``pad_multiple`` (8 by default: tensor cores and vector units work best
on such widths). A bucket of length ``L`` is cut into batches of ``max_tokens // L`` sentences, so
every batch contains at most ``max_tokens`` positions per side, padding included.

On XLA devices every new tensor shape triggers a recompilation, so ``fixed_shapes`` replaces the
buckets with a short list of lengths, e.g. ``(16, 32, 48, 64, 128)``: every batch is then padded to
its bucket's length and to its bucket's full row count, and the whole run uses only
``len(fixed_shapes)`` shapes.

The order is a pure function of ``seed`` and ``epoch``, so a run resumed mid-epoch replays the same
batches, and under DistributedDataParallel every replica computes the same plan and takes its share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from illustrated.data.special_tokens import BOS_ID, EOS_ID, PAD_ID

__all__ = ["TokenBudgetBatcher", "TranslationBatch", "encode_pairs", "collate_pairs"]


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def encode_pairs(source_ids: Sequence[Sequence[int]], target_ids: Sequence[Sequence[int]]):
    """Add the special tokens: the source ends with ``<eos>``, the target is ``<bos> ... <eos>``.

    Returns ``(sources, targets)`` as lists of int lists. The decoder then reads ``target[:-1]``
    and learns to predict ``target[1:]``.
    """
    if len(source_ids) != len(target_ids):
        raise ValueError(f"got {len(source_ids)} source sentences but {len(target_ids)} target sentences")
    sources = [list(ids) + [EOS_ID] for ids in source_ids]
    targets = [[BOS_ID] + list(ids) + [EOS_ID] for ids in target_ids]
    return sources, targets


@dataclass
class TranslationBatch:
    """One padded batch: ``src (batch, src_len)``, ``tgt_in`` and ``tgt_out (batch, tgt_len)``.

    ``num_tokens`` counts the real (non-padding) target tokens, the denominator of the loss.
    """

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    indices: list[int]

    @property
    def num_tokens(self) -> int:
        return int((self.tgt_out != PAD_ID).sum())

    def to(self, device, non_blocking: bool = False) -> "TranslationBatch":
        return TranslationBatch(
            self.src.to(device, non_blocking=non_blocking),
            self.tgt_in.to(device, non_blocking=non_blocking),
            self.tgt_out.to(device, non_blocking=non_blocking),
            self.indices,
        )


def collate_pairs(sources, targets, indices: Sequence[int], pad_multiple: int = 8,
                  length: int | None = None, rows: int | None = None) -> TranslationBatch:
    """Pad the examples at ``indices`` into a :class:`TranslationBatch`.

    Each side is padded to a multiple of ``pad_multiple``, or to exactly ``length`` when given.
    ``rows`` adds all-padding rows up to that batch size, which gives XLA fixed shapes. Such rows
    have no target tokens, so they add nothing to the loss.
    """
    indices = list(indices)
    src_len = max(len(sources[i]) for i in indices)
    tgt_len = max(len(targets[i]) - 1 for i in indices)
    if length is not None:
        if max(src_len, tgt_len) > length:
            raise ValueError(f"an example of length {max(src_len, tgt_len)} does not fit the fixed length {length}")
        src_len = tgt_len = length
    else:
        src_len, tgt_len = _round_up(src_len, pad_multiple), _round_up(tgt_len, pad_multiple)
    num_rows = len(indices) if rows is None else rows
    if num_rows < len(indices):
        raise ValueError(f"rows={rows} is smaller than the {len(indices)} examples of the batch")
    src = torch.full((num_rows, src_len), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((num_rows, tgt_len), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((num_rows, tgt_len), PAD_ID, dtype=torch.long)
    for row, index in enumerate(indices):
        source, target = sources[index], targets[index]
        src[row, : len(source)] = torch.tensor(source)
        tgt_in[row, : len(target) - 1] = torch.tensor(target[:-1])
        tgt_out[row, : len(target) - 1] = torch.tensor(target[1:])
    return TranslationBatch(src, tgt_in, tgt_out, indices)


class TokenBudgetBatcher:
    """Plan batches of at most ``max_tokens`` padded positions per side, bucketed by length.

    Args:
        sources, targets: encoded examples from :func:`encode_pairs` (targets include ``<bos>``
            and ``<eos>``; a target of n + 2 ids gives n + 1 decoder positions).
        max_tokens: padded positions per side per batch (rows times padded length).
        seed: with the epoch, fixes the order; the same seed and epoch give the same batches.
        shuffle: False keeps buckets in length order and examples in their original order
            (for evaluation).
        pad_multiple: padded lengths are multiples of this.
        fixed_shapes: increasing lengths; when given, every batch is padded to one of these lengths
            and to that bucket's full row count (XLA).
        max_length: examples longer than this (either side) are left out; defaults to the last of
            ``fixed_shapes`` when those are given, else no limit.
        num_replicas, rank: under DistributedDataParallel, replica ``rank`` takes every
            ``num_replicas``-th batch, and every replica gets the same number of batches.

    Example::

        batcher = TokenBudgetBatcher(sources, targets, max_tokens=4096, seed=0)
        for position, batch in batcher.iter_epoch(epoch=0, start=0):
            ...
    """

    def __init__(self, sources, targets, max_tokens: int, *, seed: int = 0, shuffle: bool = True,
                 pad_multiple: int = 8, fixed_shapes: Sequence[int] | None = None,
                 max_length: int | None = None, num_replicas: int = 1, rank: int = 0):
        if len(sources) != len(targets):
            raise ValueError(f"got {len(sources)} sources but {len(targets)} targets")
        if not isinstance(pad_multiple, int) or pad_multiple < 1:
            raise ValueError(f"pad_multiple must be a positive integer, got {pad_multiple!r}")
        if not isinstance(num_replicas, int) or num_replicas < 1:
            raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must lie in [0, {num_replicas}), got {rank!r}")
        if fixed_shapes is not None:
            fixed_shapes = tuple(int(length) for length in fixed_shapes)
            if not fixed_shapes or list(fixed_shapes) != sorted(set(fixed_shapes)) or fixed_shapes[0] < 1:
                raise ValueError(f"fixed_shapes must be increasing positive lengths, got {fixed_shapes!r}")
            if max_length is None or max_length > fixed_shapes[-1]:
                max_length = fixed_shapes[-1]
        self.sources, self.targets = sources, targets
        self.max_tokens = max_tokens
        self.seed = seed
        self.shuffle = shuffle
        self.pad_multiple = pad_multiple
        self.fixed_shapes = fixed_shapes
        self.num_replicas, self.rank = num_replicas, rank

        lengths = np.array([max(len(s), len(t) - 1) for s, t in zip(sources, targets)], dtype=np.int64)
        keep = np.ones(len(lengths), dtype=bool) if max_length is None else lengths <= max_length
        self.kept = np.flatnonzero(keep)  # indices of the examples short enough to train on
        self.num_dropped = int((~keep).sum())
        if len(self.kept) == 0:
            raise ValueError(f"no example is at most max_length={max_length} tokens long")
        self._bucket_length = {}  # index -> padded length of its bucket
        for index in self.kept:
            self._bucket_length[int(index)] = self._padded_length(int(lengths[index]))
        longest = max(self._bucket_length.values())
        if max_tokens < longest:
            raise ValueError(
                f"max_tokens={max_tokens} cannot hold one example of padded length {longest}; "
                f"raise max_tokens to at least {longest} or lower max_length"
            )

    def _padded_length(self, length: int) -> int:
        if self.fixed_shapes is None:
            return _round_up(length, self.pad_multiple)
        return next(shape for shape in self.fixed_shapes if shape >= length)

    def rows_for(self, padded_length: int) -> int:
        """Return the batch size of the bucket with this padded length."""
        return max(1, self.max_tokens // padded_length)

    def _all_batches(self, epoch: int) -> list[tuple[int, list[int]]]:
        """Return every replica's batches of an epoch as ``(padded_length, indices)``, in training order."""
        order = self.kept.copy()
        rng = np.random.default_rng([self.seed, epoch])
        if self.shuffle:
            rng.shuffle(order)
        buckets: dict[int, list[int]] = {}
        for index in order:
            buckets.setdefault(self._bucket_length[int(index)], []).append(int(index))
        batches = []
        for padded_length in sorted(buckets):
            members, rows = buckets[padded_length], self.rows_for(padded_length)
            batches.extend((padded_length, members[i:i + rows]) for i in range(0, len(members), rows))
        if self.shuffle:
            permutation = rng.permutation(len(batches))
            batches = [batches[i] for i in permutation]
        return batches

    def plan(self, epoch: int) -> list[list[int]]:
        """Return this replica's batches of ``epoch`` as lists of example indices, in training order."""
        batches = self._all_batches(epoch)
        per_replica = len(batches) // self.num_replicas
        if per_replica == 0:
            raise ValueError(
                f"{len(batches)} batches cannot be shared by {self.num_replicas} replicas; "
                f"lower max_tokens or use more data"
            )
        mine = batches[self.rank::self.num_replicas][:per_replica]  # equal counts, so no replica waits
        return [indices for _, indices in mine]

    def group_target_tokens(self, epoch: int) -> list[int]:
        """Return, for each position of :meth:`plan`, the target tokens of that step's batches on all replicas.

        Dividing each replica's summed loss by this total over ``num_replicas`` makes the gradient
        that DistributedDataParallel averages equal to the mean over every target token of the step,
        as if one process had trained on all the replicas' batches together.
        """
        batches = self._all_batches(epoch)
        per_replica = len(batches) // self.num_replicas
        counts = [sum(len(self.targets[i]) - 1 for i in indices) for _, indices in batches]
        step = self.num_replicas
        return [sum(counts[position * step:(position + 1) * step]) for position in range(per_replica)]

    def __len__(self) -> int:
        """Number of batches per epoch for this replica (the same in every epoch)."""
        return len(self.plan(0))

    def collate(self, indices: Sequence[int]) -> TranslationBatch:
        """Pad one planned batch; with ``fixed_shapes``, to its bucket's length and row count."""
        if self.fixed_shapes is None:
            return collate_pairs(self.sources, self.targets, indices, self.pad_multiple)
        length = max(self._bucket_length[int(i)] for i in indices)
        return collate_pairs(self.sources, self.targets, indices, length=length, rows=self.rows_for(length))

    def iter_epoch(self, epoch: int, start: int = 0):
        """Yield ``(position, batch)`` for this replica's batches of ``epoch``, from batch ``start`` on.

        ``start`` is the number of batches already trained in this epoch, as stored in a checkpoint.
        """
        plan = self.plan(epoch)
        if not 0 <= start <= len(plan):
            raise ValueError(f"start={start} is outside the epoch's {len(plan)} batches")
        for position in range(start, len(plan)):
            yield position, self.collate(plan[position])

    def shapes(self) -> set[tuple[int, int]]:
        """Return the ``(rows, length)`` shapes that batches can have, with ``fixed_shapes`` only.

        Without fixed shapes the last batch of a bucket has fewer rows and each side is padded on
        its own, so there is no short list to return.
        """
        if self.fixed_shapes is None:
            raise ValueError("shapes() needs fixed_shapes; without them every batch may have its own shape")
        return {(self.rows_for(length), length) for length in set(self._bucket_length.values())}
