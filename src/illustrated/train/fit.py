"""A small training loop for tasks that fit in memory, such as the book's built-in number task.

It trains as section 5 of "Attention Is All You Need" (Vaswani et al., 2017) does: Adam with
beta_1 = 0.9, beta_2 = 0.98 and epsilon = 1e-9, the warm-up learning-rate schedule, and
cross-entropy with label smoothing.
Every ``eval_every`` steps it decodes the validation pairs greedily and measures the exact-match
accuracy, and it can stop as soon as that reaches a target. The full-scale loop for Multi30k,
with checkpoints and several devices, lives in :mod:`illustrated.train.runner`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from illustrated.data.batching import iterate_batches, make_batch
from illustrated.data.special_tokens import BOS_ID, EOS_ID
from illustrated.decode import greedy_decode
from illustrated.train.losses import label_smoothed_cross_entropy
from illustrated.train.schedule import warmup_scheduler

__all__ = ["TrainingHistory", "fit", "exact_match_accuracy", "token_accuracy", "translate_pairs"]

logger = logging.getLogger(__name__)

Pairs = Sequence[tuple[Sequence[int], Sequence[int]]]


@dataclass
class TrainingHistory:
    """Measurements of one :func:`fit` run, one entry per optimizer step and one per evaluation.

    Attributes:
        step, loss, token_accuracy, learning_rate: per update. ``loss`` is the label-smoothed
            training loss of that batch, ``token_accuracy`` the share of its non-padding target
            tokens whose most probable prediction (teacher forced) was right.
        eval_step, eval_exact_match, eval_seconds: per evaluation, the step it followed, the
            share of validation sentences decoded exactly right, and the wall-clock seconds
            since training started.
        seconds: wall-clock time of the whole run, evaluations included.
        target_reached_step: the first step whose evaluation reached ``target_exact_match``
            (None if it was not given or never reached).
    """

    step: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    token_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    eval_step: list[int] = field(default_factory=list)
    eval_exact_match: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    target_reached_step: int | None = None

    @property
    def steps_run(self) -> int:
        """The number of optimizer steps taken."""
        return self.step[-1] if self.step else 0

    def to_dict(self) -> dict:
        """Return the history as plain lists and numbers, e.g. to save as JSON."""
        return asdict(self)


def token_accuracy(logits: torch.Tensor, target: torch.Tensor, pad_id: int | None = 0) -> float:
    """Return the share of non-padding positions where the most probable token is the target.

    ``logits (..., vocab_size)`` and ``target (...)``; a batch with no real token gives 0.
    """
    if logits.shape[:-1] != target.shape:
        raise ValueError(f"logits of shape {tuple(logits.shape)} do not match targets of shape {tuple(target.shape)}")
    keep = torch.ones_like(target, dtype=torch.bool) if pad_id is None else target != pad_id
    correct = (logits.argmax(dim=-1) == target) & keep
    total = int(keep.sum())
    return int(correct.sum()) / total if total else 0.0


def _strip_after_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[:ids.index(eos_id)] if eos_id in ids else ids


def translate_pairs(model, pairs: Pairs, *, batch_size: int = 256, decode: Callable = greedy_decode,
                    bos_id: int = BOS_ID, eos_id: int = EOS_ID, **decode_options) -> list[list[int]]:
    """Decode the source of every pair and return the output ids, each cut before its ``<eos>``.

    ``decode`` is :func:`illustrated.decode.greedy_decode` or :func:`illustrated.decode.beam_search`;
    extra keyword arguments go to it (e.g. ``beam_size=4``). A row cut off at the length limit is
    returned whole; padding is removed.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    pad_id = model.config.pad_id
    device = next(model.parameters()).device
    outputs: list[list[int]] = []
    for start in range(0, len(pairs), batch_size):
        src = make_batch(pairs[start:start + batch_size], bos_id, eos_id, pad_id).src.to(device)
        ids = decode(model, src, bos_id=bos_id, eos_id=eos_id, **decode_options)
        for row in ids.tolist():
            row = _strip_after_eos(row, eos_id)
            outputs.append([token for token in row if token != pad_id])
    return outputs


def exact_match_accuracy(model, pairs: Pairs, *, batch_size: int = 256, decode: Callable = greedy_decode,
                         bos_id: int = BOS_ID, eos_id: int = EOS_ID, **decode_options) -> float:
    """Return the share of pairs whose decoded source equals the target exactly (every token, nothing more).

    An output cut off at the length limit counts as wrong even if its tokens match, because
    it never produced ``<eos>``. Unless ``max_len`` is given, decoding stops after as many tokens
    as the longest target of each chunk plus its ``<eos>``: a longer output cannot match, and an
    untrained model that never emits ``<eos>`` would otherwise run for 50 extra steps.
    Decoding options are as in :func:`translate_pairs`.
    """
    if not len(pairs):
        raise ValueError("exact_match_accuracy got no pairs to evaluate")
    pad_id = model.config.pad_id
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        src = make_batch(chunk, bos_id, eos_id, pad_id).src.to(device)
        options = dict(decode_options)
        if options.get("max_len") is None:
            options["max_len"] = min(max(len(target) for _, target in chunk) + 1, model.config.max_len)
        ids = decode(model, src, bos_id=bos_id, eos_id=eos_id, **options)
        for row, (_, target) in zip(ids.tolist(), chunk):
            expected = list(target) + [eos_id]
            correct += row[:len(expected)] == expected
    return correct / len(pairs)


def _check_positive_int(name: str, value, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}")


def fit(model, train_pairs: Pairs, *, validation_pairs: Pairs | None = None, max_steps: int = 1000,
        batch_size: int = 64, warmup_steps: int = 400, lr_factor: float = 1.0, label_smoothing: float = 0.1,
        clip_grad_norm: float | None = 1.0, eval_every: int = 100, target_exact_match: float | None = None,
        time_limit: float | None = None, seed: int = 0, log_every: int = 50, log_file: str | Path | None = None,
        progress: bool = False, bos_id: int = BOS_ID, eos_id: int = EOS_ID) -> TrainingHistory:
    """Train an encoder-decoder on in-memory ``(source ids, target ids)`` pairs; return its history.

    Each step takes the next ``batch_size`` pairs of a shuffled pass over ``train_pairs``
    (reshuffled every epoch), computes the label-smoothed loss over the non-padding target
    tokens, and updates with Adam under the warm-up schedule
    ``lr = lr_factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)``.

    Args:
        model: a :class:`illustrated.model.Transformer`, trained in place on its current device.
        train_pairs: source and target ids without ``<bos>``/``<eos>`` (see :func:`illustrated.data.make_batch`).
        validation_pairs: pairs decoded every ``eval_every`` steps and after the last step.
        max_steps: the number of optimizer steps to take at most.
        batch_size: pairs per step.
        warmup_steps, lr_factor: the schedule's warm-up length and scale (Vaswani et al. used 4000 and 1).
        label_smoothing: epsilon of the loss (Vaswani et al. used 0.1).
        clip_grad_norm: clip the gradient to this global norm; None turns clipping off.
        eval_every: steps between validation runs.
        target_exact_match: stop after the first evaluation whose exact-match accuracy reaches this.
        time_limit: stop after the first step that ends later than this many seconds after the start.
        seed: seeds the shuffling and PyTorch's generator (dropout), so a run repeats exactly on one machine.
        log_every: steps between log lines (logger ``illustrated.train.fit`` at INFO level).
        log_file: also append one JSON line per logged step and per evaluation to this file.
        progress: show a ``tqdm`` progress bar.

    Returns:
        A :class:`TrainingHistory`. The model is left in eval mode.
    """
    _check_positive_int("max_steps", max_steps)
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("warmup_steps", warmup_steps)
    _check_positive_int("eval_every", eval_every)
    _check_positive_int("log_every", log_every)
    if not len(train_pairs):
        raise ValueError("fit got no training pairs")
    if target_exact_match is not None and not 0.0 < target_exact_match <= 1.0:
        raise ValueError(f"target_exact_match must lie in (0, 1], got {target_exact_match!r}")
    if target_exact_match is not None and not validation_pairs:
        raise ValueError("target_exact_match needs validation_pairs to measure the accuracy on")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")

    pad_id = model.config.pad_id
    device = next(model.parameters()).device
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = warmup_scheduler(optimizer, model.config.d_model, warmup_steps, lr_factor)
    history = TrainingHistory()
    log_path = Path(log_file) if log_file is not None else None
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)

    def record(entry: dict) -> None:
        if log_path is not None:
            with log_path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry) + "\n")

    def evaluate(step: int) -> float:
        accuracy = exact_match_accuracy(model, validation_pairs, bos_id=bos_id, eos_id=eos_id)
        elapsed = time.perf_counter() - start
        history.eval_step.append(step)
        history.eval_exact_match.append(accuracy)
        history.eval_seconds.append(elapsed)
        logger.info("step %d: validation exact match %.4f after %.1f s", step, accuracy, elapsed)
        record({"step": step, "validation_exact_match": accuracy, "seconds": elapsed})
        return accuracy

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=max_steps, desc="training", unit="step")

    start = time.perf_counter()
    logger.info("training for at most %d steps on %d pairs, device %s", max_steps, len(train_pairs), device)
    step = 0
    stop = False
    while not stop:
        for batch in iterate_batches(train_pairs, batch_size, shuffle=True, rng=rng,
                                     bos_id=bos_id, eos_id=eos_id, pad_id=pad_id):
            model.train()
            batch = batch.to(device)
            logits = model(batch.src, batch.tgt_in)  # (batch, tgt_len, tgt_vocab_size)
            loss = label_smoothed_cross_entropy(logits, batch.tgt_out, label_smoothing, pad_id)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the training loss became {float(loss)} at step {step + 1}; "
                    f"lower lr_factor or enable clip_grad_norm"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
            learning_rate = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1

            history.step.append(step)
            history.loss.append(loss.item())
            history.token_accuracy.append(token_accuracy(logits.detach(), batch.tgt_out, pad_id))
            history.learning_rate.append(learning_rate)
            if bar is not None:
                bar.update(1)
            if step % log_every == 0:
                logger.info("step %d: loss %.4f, token accuracy %.4f, learning rate %.2e",
                            step, history.loss[-1], history.token_accuracy[-1], learning_rate)
                record({"step": step, "loss": history.loss[-1], "token_accuracy": history.token_accuracy[-1],
                        "learning_rate": learning_rate})

            out_of_time = time_limit is not None and time.perf_counter() - start > time_limit
            last = step >= max_steps or out_of_time
            if validation_pairs and (step % eval_every == 0 or last):
                accuracy = evaluate(step)
                if target_exact_match is not None and accuracy >= target_exact_match:
                    history.target_reached_step = step
                    last = True
            if last:
                if out_of_time:
                    logger.info("stopping at step %d: the time limit of %s s has passed", step, time_limit)
                stop = True
                break

    history.seconds = time.perf_counter() - start
    if bar is not None:
        bar.close()
    model.eval()
    return history
