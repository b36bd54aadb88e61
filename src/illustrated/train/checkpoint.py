"""Training checkpoints written atomically, keeping the last one and the best one.

A checkpoint is one ``torch.save`` file. It contains everything a run needs to continue exactly
where it stopped, or to translate on its own: the model's weights and configuration, both tokenizers,
the optimizer and scheduler states, the step, epoch and position inside the epoch, and the random
number generators' states. It is written to a temporary file in the same folder and renamed over
the old one, so a run killed while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointManager",
    "save_checkpoint",
    "load_checkpoint",
    "capture_rng_state",
    "restore_rng_state",
    "average_checkpoints",
]

CHECKPOINT_FORMAT = 1
LAST_NAME, BEST_NAME = "last.pt", "best.pt"


def _tensor_identity(tensor: torch.Tensor) -> tuple:
    """Return what makes two tensors the same weights: storage, offset, shape and strides."""
    try:
        address = tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        # NOTE: XLA tensors expose no storage, so there each name gets its own copy (correct, only larger).
        return ("object", id(tensor))
    return (tensor.device, address, tensor.storage_offset(), tuple(tensor.shape), tensor.stride(), tensor.dtype)


def _to_cpu(value, copies: dict | None = None):
    """Return ``value`` with every tensor moved to the CPU (XLA and CUDA tensors cannot be saved portably).

    Tied weights stay tied: a tensor listed under several names (a shared embedding table) is copied
    once, so the checkpoint stores it once.
    """
    copies = {} if copies is None else copies
    if isinstance(value, torch.Tensor):
        key = _tensor_identity(value)
        if key not in copies:
            copies[key] = value.detach().cpu()
        return copies[key]
    if isinstance(value, dict):
        return {key: _to_cpu(item, copies) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_cpu(item, copies) for item in value)
    return value


def _replace_atomically(write, path: Path) -> None:
    """Call ``write(temporary_path)``, flush it to disk, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    temporary = Path(temporary)
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` to ``path`` atomically (a temporary file, then a rename); return the path."""
    path = Path(path)
    state = _to_cpu(dict(state, format=CHECKPOINT_FORMAT))
    _replace_atomically(lambda temporary: torch.save(state, temporary), path)
    return path


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: there is no file at ``path``.
        IsADirectoryError: ``path`` is a folder.
        ValueError: the file is not a checkpoint of this format.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a checkpoint; give the path of a last.pt or best.pt in it")
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; train first, or give the path of a last.pt or best.pt")
    try:
        # weights_only=False: the checkpoint contains plain Python objects (configs, RNG states) beside tensors.
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # noqa: BLE001 - torch raises many types for a damaged file
        raise ValueError(f"{path} is not a readable checkpoint: {error}") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path} is not an illustrated training checkpoint of format {CHECKPOINT_FORMAT} (found {found!r})")
    return state


def capture_rng_state() -> dict:
    """Return the states of Python's, NumPy's and PyTorch's generators (CPU, and CUDA when present)."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        from torch_xla.core import xla_model

        state["xla"] = xla_model.get_rng_state()
    except Exception:  # noqa: BLE001 - torch_xla absent, or present without a device
        pass
    return state


def restore_rng_state(state: dict) -> None:
    """Put the generators back in the states of :func:`capture_rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "xla" in state:
        from torch_xla.core import xla_model

        xla_model.set_rng_state(state["xla"])


class CheckpointManager:
    """Keep ``last.pt`` and ``best.pt`` in a folder.

    ``save(state, metric)`` always replaces ``last.pt``; it also replaces ``best.pt`` when
    ``metric`` beats every metric saved so far (higher is better when ``mode="max"``, as for
    BLEU, lower when ``mode="min"``, as for a loss).
    """

    def __init__(self, directory, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.directory = Path(directory)
        self.mode = mode
        self.best_metric: float | None = None

    @property
    def last_path(self) -> Path:
        return self.directory / LAST_NAME

    @property
    def best_path(self) -> Path:
        return self.directory / BEST_NAME

    def is_better(self, metric: float | None) -> bool:
        """Return True when ``metric`` beats the best one so far (None never does)."""
        if metric is None:
            return False
        if self.best_metric is None:
            return True
        return metric > self.best_metric if self.mode == "max" else metric < self.best_metric

    def save(self, state: dict, metric: float | None = None) -> bool:
        """Write ``last.pt``, and ``best.pt`` too when ``metric`` is the best yet; return whether it was."""
        better = self.is_better(metric)
        if better:
            self.best_metric = metric
        save_checkpoint(dict(state, best_metric=self.best_metric), self.last_path)
        if better:
            _replace_atomically(lambda temporary: shutil.copyfile(self.last_path, temporary), self.best_path)
        return better

    def epoch_path(self, epoch: int) -> Path:
        return self.directory / f"epoch{epoch}.pt"

    def keep_epoch(self, epoch: int, keep: int) -> Path:
        """Copy ``last.pt`` to ``epoch{epoch}.pt`` and delete the epoch checkpoints older than the last ``keep``."""
        if keep < 1:
            raise ValueError(f"keep must be a positive number of epochs, got {keep!r}")
        path = self.epoch_path(epoch)
        _replace_atomically(lambda temporary: shutil.copyfile(self.last_path, temporary), path)
        for old in self.directory.glob("epoch*.pt"):
            number = old.stem.removeprefix("epoch")
            if number.isdigit() and int(number) <= epoch - keep:
                old.unlink(missing_ok=True)
        return path

    def restore(self, state: dict) -> None:
        """Take the best metric from a loaded checkpoint, so a resumed run compares against it."""
        self.best_metric = state.get("best_metric")


def average_checkpoints(paths, output) -> Path:
    """Average the model weights of several checkpoints of one run and save the result to ``output``.

    "Attention Is All You Need" reports its base models with the average of the last 5 checkpoints
    (written 10 minutes apart), and its big models with the last 20. The checkpoints must share the model configuration and the tokenizers. The output
    contains the averaged weights, the configuration and the tokenizers, so ``evaluate`` and
    :func:`illustrated.train.load_model` can use it, but no optimizer state, so training cannot
    resume from it.

    Raises:
        ValueError: fewer than two paths, one file given twice, ``output`` among them, or checkpoints
            that differ in model configuration, tokenizers or a training setting that defines a run.
        IsADirectoryError: ``output`` is a folder.
    """
    from illustrated.model import TransformerConfig
    from illustrated.train.runner import _RESUME_MUST_MATCH, stored_setting

    def model_config_of(state: dict) -> dict:
        # Through TransformerConfig, so that a field added since (at its default) compares equal.
        try:
            return TransformerConfig(**state["model_config"]).to_dict()
        except (TypeError, ValueError):
            return dict(state["model_config"])  # not this package's model: compared as stored

    def settings_of(state: dict) -> dict:
        stored = state.get("training") or {}
        return {name: stored_setting(stored, name) for name in _RESUME_MUST_MATCH}

    paths = [Path(path) for path in paths]
    output = Path(output)
    if len(paths) < 2:
        raise ValueError(f"averaging needs at least two checkpoints, got {len(paths)}")
    resolved = [path.resolve() for path in paths]
    for index, path in enumerate(paths):
        if resolved[index] in resolved[:index]:
            raise ValueError(f"{path} is given twice; give each checkpoint once")
    if output.resolve() in resolved:
        raise ValueError(f"the output {output} is one of the checkpoints to average; write it elsewhere")
    if output.is_dir():
        raise IsADirectoryError(f"the output {output} is a folder; give a file name, e.g. {output / 'average.pt'}")
    first = load_checkpoint(paths[0])
    first_config, first_settings = model_config_of(first), settings_of(first)
    # Tied weights appear under several names with one storage: average each once and keep them tied.
    owner_of, owners = {}, {}
    for name, tensor in first["model"].items():
        owner_of[name] = owners.setdefault(_tensor_identity(tensor), name)
    total = {name: tensor.to(torch.float64, copy=True) if tensor.is_floating_point() else tensor.clone()
             for name, tensor in first["model"].items() if owner_of[name] == name}
    steps = [first.get("step")]
    for path in paths[1:]:
        state = load_checkpoint(path)
        if model_config_of(state) != first_config:
            raise ValueError(f"{path} has another model_config than {paths[0]}; average only checkpoints of one run")
        if state.get("tokenizers") != first.get("tokenizers"):
            raise ValueError(f"{path} has other tokenizers than {paths[0]}; average only checkpoints of one run")
        settings = settings_of(state)
        for name in _RESUME_MUST_MATCH:
            old, new = first_settings[name], settings[name]
            if old != new:
                raise ValueError(f"{path} was trained with {name}={new!r} but {paths[0]} with {name}={old!r}; "
                                 f"average only checkpoints of one run")
        if state["model"].keys() != first["model"].keys():
            raise ValueError(f"{path} has other weight names than {paths[0]}")
        for name in total:
            if total[name].is_floating_point():
                total[name] += state["model"][name].double()
        steps.append(state.get("step"))
    means = {name: (tensor / len(paths)).to(first["model"][name].dtype) if tensor.is_floating_point() else tensor
             for name, tensor in total.items()}
    weights = {name: means[owner_of[name]] for name in first["model"]}
    averaged = {
        "model": weights, "model_config": first["model_config"], "tokenizers": first["tokenizers"],
        "averaged_from": [str(path) for path in paths], "steps": steps, "training": first.get("training"),
    }
    return save_checkpoint(averaged, output)
