"""Cross-entropy with label smoothing, as in Vaswani et al. (2017), section 5.4 (epsilon_ls = 0.1)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["label_smoothed_cross_entropy", "LabelSmoothingLoss"]


def label_smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 0.1,
                                 pad_id: int | None = 0, reduction: str = "mean") -> torch.Tensor:
    """Return the cross-entropy against a smoothed target distribution, ignoring padding.

    The target puts ``1 - epsilon`` on the correct token and spreads ``epsilon`` evenly over the
    whole vocabulary, so per token::

        loss = (1 - epsilon) * (-log p[gold]) + epsilon * mean_j(-log p[j])

    which is what ``torch.nn.functional.cross_entropy(..., label_smoothing=epsilon)`` computes.
    It works on log-probabilities from ``log_softmax``, so it stays finite for any finite logits,
    including a model that gives some token a probability that underflows to zero.

    Args:
        logits: ``(batch, seq_len, vocab_size)`` or ``(N, vocab_size)``.
        target: token ids ``(batch, seq_len)`` or ``(N,)``.
        epsilon: smoothing mass in [0, 1).
        pad_id: positions whose target is this id are excluded; None keeps every position.
        reduction: "mean" over the non-padding tokens, "sum", or "none" (per token, 0 at padding).

    Returns:
        A scalar for "mean" and "sum"; for "none", a tensor shaped like ``target``. A batch with
        no real token gives a mean of 0, not NaN.
    """
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must lie in [0, 1), got {epsilon!r}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if logits.shape[:-1] != target.shape:
        raise ValueError(
            f"logits of shape {tuple(logits.shape)} do not match targets of shape {tuple(target.shape)}: "
            f"expected logits of shape {tuple(target.shape) + ('vocab_size',)}"
        )
    log_probs = F.log_softmax(logits.float(), dim=-1)  # (..., vocab_size)
    keep = torch.ones_like(target, dtype=torch.bool) if pad_id is None else target != pad_id
    safe_target = target.masked_fill(~keep, 0)  # any valid id: these positions are zeroed below
    nll = -log_probs.gather(-1, safe_target.unsqueeze(-1)).squeeze(-1)  # (...,)
    uniform = -log_probs.mean(dim=-1)  # cross-entropy against the uniform distribution
    per_token = ((1.0 - epsilon) * nll + epsilon * uniform) * keep
    if reduction == "none":
        return per_token
    total = per_token.sum()
    if reduction == "sum":
        return total
    return total / keep.sum().clamp(min=1)


class LabelSmoothingLoss(nn.Module):
    """Module form of :func:`label_smoothed_cross_entropy`, mean over non-padding tokens by default."""

    def __init__(self, epsilon: float = 0.1, pad_id: int | None = 0, reduction: str = "mean"):
        super().__init__()
        label_smoothed_cross_entropy(torch.zeros(1, 2), torch.zeros(1, dtype=torch.long), epsilon, None, reduction)
        self.epsilon = epsilon
        self.pad_id = pad_id
        self.reduction = reduction

    def forward(self, logits, target):
        return label_smoothed_cross_entropy(logits, target, self.epsilon, self.pad_id, self.reduction)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}, pad_id={self.pad_id}, reduction={self.reduction!r}"
