"""Training: label-smoothed loss, the warm-up schedule, the training loop, checkpoints, devices, a command line.

Run ``python -m illustrated.train --help`` for the command line.
"""

from illustrated.train.losses import LabelSmoothingLoss, label_smoothed_cross_entropy
from illustrated.train.schedule import warmup_learning_rate, warmup_scheduler

__all__ = [
    "LabelSmoothingLoss",
    "label_smoothed_cross_entropy",
    "warmup_learning_rate",
    "warmup_scheduler",
]
