"""The learning-rate schedule of Vaswani et al. (2017), section 5.3: a linear warm-up, then decay as 1/sqrt(step)."""

from __future__ import annotations

import math

from torch.optim.lr_scheduler import LambdaLR

__all__ = ["warmup_learning_rate", "warmup_scheduler"]


def warmup_learning_rate(step: int, d_model: int, warmup_steps: int = 4000, factor: float = 1.0) -> float:
    """Return ``factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)``.

    Steps count from 1. Step 0, which a scheduler requests before the first update, is treated
    as step 1, so the rate is never a division by zero. The peak, ``factor / sqrt(d_model *
    warmup_steps)``, is reached at ``step == warmup_steps``.
    """
    if d_model < 1:
        raise ValueError(f"d_model must be a positive integer, got {d_model!r}")
    if warmup_steps < 1:
        raise ValueError(f"warmup_steps must be a positive integer, got {warmup_steps!r}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step!r}")
    step = max(step, 1)
    return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


def warmup_scheduler(optimizer, d_model: int, warmup_steps: int = 4000, factor: float = 1.0) -> LambdaLR:
    """Wrap an optimizer so its learning rate follows :func:`warmup_learning_rate`.

    Call ``scheduler.step()`` after each ``optimizer.step()``. The optimizer's own ``lr`` is
    replaced: create it with any value (e.g. ``lr=1.0``). Update k (counting from 1) uses the rate
    of step k, as in the paper.
    """
    for group in optimizer.param_groups:
        group["lr"] = 1.0
        group["initial_lr"] = 1.0
    rate = lambda index: warmup_learning_rate(index + 1, d_model, warmup_steps, factor)  # noqa: E731
    if not math.isfinite(rate(0)):
        raise ValueError("the warm-up schedule gave a non-finite rate at the first step")
    return LambdaLR(optimizer, rate)
