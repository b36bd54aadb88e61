"""Training: label-smoothed loss, the warm-up schedule, the training loop, checkpoints, devices, a command line.

Run ``python -m illustrated.train --help`` for the command line.
"""

from illustrated.train.losses import LabelSmoothingLoss, label_smoothed_cross_entropy
from illustrated.train.schedule import warmup_learning_rate, warmup_scheduler
from illustrated.train.checkpoint import CheckpointManager, average_checkpoints, load_checkpoint, save_checkpoint
from illustrated.train.device import autocast_dtype, choose_device
from illustrated.train.evaluate import bleu_scores, evaluate_files, load_model, translate
from illustrated.train.fit import TrainingHistory, exact_match_accuracy, fit, token_accuracy, translate_pairs
from illustrated.train.runner import TrainingConfig, TrainingResult, train

__all__ = [
    "LabelSmoothingLoss",
    "label_smoothed_cross_entropy",
    "warmup_learning_rate",
    "warmup_scheduler",
    "choose_device",
    "autocast_dtype",
    "CheckpointManager",
    "save_checkpoint",
    "load_checkpoint",
    "average_checkpoints",
    "TrainingConfig",
    "TrainingResult",
    "train",
    "bleu_scores",
    "translate",
    "load_model",
    "evaluate_files",
    "fit",
    "TrainingHistory",
    "exact_match_accuracy",
    "token_accuracy",
    "translate_pairs",
]
