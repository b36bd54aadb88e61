"""Batches for sequence-to-sequence training: padding, and the decoder's shifted input and output.

A pair ``(source ids, target ids)`` becomes three rows of token ids::

    src      the source ids                       twenty  -    one   <pad>
    tgt_in   <bos> + the target (what the         <bos>   ein  und   zwanzig
             decoder reads, shifted right)
    tgt_out  the target + <eos> (what it must     ein     und  zwanzig <eos>
             predict at each position)

Rows of different lengths are padded with ``PAD_ID`` at the end. The model derives its padding
masks from that id, and the loss skips those positions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from illustrated.data.special_tokens import BOS_ID, EOS_ID, PAD_ID

__all__ = ["Batch", "pad_sequences", "make_batch", "iterate_batches"]


def _as_id_list(sequence, name: str) -> list[int]:
    if hasattr(sequence, "tolist"):
        sequence = sequence.tolist()
    if isinstance(sequence, (str, bytes)):
        raise TypeError(f"{name} must be a sequence of token ids, got the string {sequence!r}; encode it first")
    ids = list(sequence)
    for token_id in ids:
        if isinstance(token_id, bool) or not isinstance(token_id, (int, np.integer)):
            raise TypeError(f"{name} must contain integer token ids, got {token_id!r}")
        if token_id < 0:
            raise ValueError(f"{name} contains the negative token id {token_id}; ids start at 0")
    return [int(token_id) for token_id in ids]


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int = PAD_ID, length: int | None = None) -> torch.Tensor:
    """Stack id sequences of different lengths into one ``(batch, length)`` tensor, padded at the end.

    Args:
        sequences: token id sequences (lists, arrays or 1-D tensors); empty sequences are allowed.
        pad_id: the id written after each sequence's end.
        length: the width of the batch; by default the longest sequence's length.

    Returns:
        A ``torch.long`` tensor ``(len(sequences), length)``.

    Raises:
        ValueError: if there are no sequences, or one is longer than ``length``.
    """
    rows = [_as_id_list(sequence, f"sequence {index}") for index, sequence in enumerate(sequences)]
    if not rows:
        raise ValueError("pad_sequences got no sequences; a batch needs at least one")
    longest = max(len(row) for row in rows)
    if length is None:
        length = longest
    elif longest > length:
        raise ValueError(f"a sequence of {longest} tokens does not fit the requested length {length}; raise length")
    batch = torch.full((len(rows), length), pad_id, dtype=torch.long)
    for index, row in enumerate(rows):
        if row:
            batch[index, :len(row)] = torch.tensor(row, dtype=torch.long)
    return batch


@dataclass
class Batch:
    """A padded batch for teacher-forced training of an encoder-decoder.

    Attributes:
        src: source ids ``(batch, src_len)``.
        tgt_in: the decoder's input ``(batch, tgt_len)``: ``<bos>`` followed by the target.
        tgt_out: the tokens to predict ``(batch, tgt_len)``: the target followed by ``<eos>``.
            ``tgt_out[:, t]`` is the token that follows ``tgt_in[:, :t + 1]``.
    """

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    pad_id: int = PAD_ID

    def __len__(self) -> int:
        return self.src.shape[0]

    @property
    def num_target_tokens(self) -> int:
        """The number of target positions that are not padding, the tokens the loss counts."""
        return int((self.tgt_out != self.pad_id).sum())

    def to(self, device) -> "Batch":
        """Return the batch with its three tensors moved to ``device``."""
        return Batch(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device), self.pad_id)


def make_batch(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], bos_id: int = BOS_ID,
               eos_id: int = EOS_ID, pad_id: int = PAD_ID) -> Batch:
    """Turn ``(source ids, target ids)`` pairs into a padded :class:`Batch`.

    The target ids must not contain ``<bos>`` or ``<eos>`` themselves: this function adds
    ``<bos>`` in front of the decoder's input and ``<eos>`` at the end of its output.
    """
    pairs = list(pairs)
    if not pairs:
        raise ValueError("make_batch got no pairs; a batch needs at least one")
    sources, targets = [], []
    for index, pair in enumerate(pairs):
        if len(pair) != 2:
            raise ValueError(f"pair {index} has {len(pair)} items; expected (source ids, target ids)")
        source = _as_id_list(pair[0], f"the source of pair {index}")
        target = _as_id_list(pair[1], f"the target of pair {index}")
        if bos_id in target or eos_id in target:
            raise ValueError(
                f"the target of pair {index} already contains <bos> ({bos_id}) or <eos> ({eos_id}): {target}; "
                f"pass the bare target, make_batch adds both"
            )
        sources.append(source)
        targets.append(target)
    src = pad_sequences(sources, pad_id)
    tgt_in = pad_sequences([[bos_id] + target for target in targets], pad_id)
    tgt_out = pad_sequences([target + [eos_id] for target in targets], pad_id)
    return Batch(src, tgt_in, tgt_out, pad_id)


def iterate_batches(pairs: Sequence[tuple[Sequence[int], Sequence[int]]], batch_size: int, *,
                    shuffle: bool = False, rng: np.random.Generator | None = None,
                    drop_last: bool = False, bos_id: int = BOS_ID, eos_id: int = EOS_ID,
                    pad_id: int = PAD_ID) -> Iterator[Batch]:
    """Yield :class:`Batch` objects of ``batch_size`` pairs, one pass over ``pairs``.

    With ``shuffle`` the order is drawn from ``rng`` (a ``numpy.random.Generator``, required so
    that runs are repeatable). The last batch may be smaller unless ``drop_last``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if shuffle and rng is None:
        raise ValueError("shuffle=True needs rng, e.g. rng=illustrated.set_seed(0), so the order is repeatable")
    order = rng.permutation(len(pairs)) if shuffle else np.arange(len(pairs))
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    for start in range(0, stop, batch_size):
        chunk = [pairs[int(index)] for index in order[start:start + batch_size]]
        yield make_batch(chunk, bos_id, eos_id, pad_id)
