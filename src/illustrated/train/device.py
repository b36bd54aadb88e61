"""Choosing the device to train on: an environment override, then CUDA, XLA (TPU), MPS, and the CPU.

``ILLUSTRATED_DEVICE`` overrides the choice, e.g. ``cpu``, ``cuda``, ``cuda:1``, ``xla`` or ``mps``.
XLA is tried only when ``torch_xla`` imports (``pip install 'illustrated[tpu]'``); torch_xla 2.9,
its last release, pairs with torch 2.9.
"""

from __future__ import annotations

import importlib
import os

import torch

__all__ = ["ENV_DEVICE", "DeviceUnavailableError", "available_devices", "choose_device", "autocast_dtype", "is_xla",
           "xla_available"]

ENV_DEVICE = "ILLUSTRATED_DEVICE"
_KINDS = ("cpu", "cuda", "xla", "mps")


def _import_torch_xla():
    """Return the ``torch_xla`` module, or None when it is not installed or fails to import."""
    try:
        return importlib.import_module("torch_xla")
    except Exception:  # noqa: BLE001 - a broken install (wrong torch pairing) raises more than ImportError
        return None


def xla_available() -> bool:
    """Return True when ``torch_xla`` imports, i.e. an XLA device (a TPU) can be used."""
    return _import_torch_xla() is not None


class DeviceUnavailableError(RuntimeError):
    """The requested device is a known kind but is not available on this machine."""


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def _xla_device(torch_xla):
    # Recent torch_xla releases have torch_xla.device(). Older ones only have xla_model.xla_device().
    if hasattr(torch_xla, "device"):
        return torch_xla.device()
    from torch_xla.core import xla_model

    return xla_model.xla_device()


def available_devices() -> list[str]:
    """Return the device kinds usable here, in the order ``auto`` tries them, e.g. ``["cuda", "cpu"]``."""
    kinds = ["cuda"] if torch.cuda.is_available() else []
    if _import_torch_xla() is not None:
        kinds.append("xla")
    if _mps_available():
        kinds.append("mps")
    return kinds + ["cpu"]


def _unavailable(message: str) -> DeviceUnavailableError:
    return DeviceUnavailableError(
        f"{message}. Available here: {', '.join(available_devices())}; choose one of them, e.g. --device cpu, "
        f"or --device auto to take the first"
    )


def choose_device(preference: str | None = None) -> torch.device:
    """Return the device to train on.

    Order: ``preference`` (an argument such as ``--device``), then ``$ILLUSTRATED_DEVICE``, then
    the first available of CUDA, XLA, MPS, and finally the CPU. ``"auto"`` or an empty value
    means "choose for me".

    Raises:
        ValueError: the requested device is not a known kind.
        DeviceUnavailableError: the requested device is not available on this machine (a RuntimeError).
    """
    requested = preference if preference not in (None, "", "auto") else os.environ.get(ENV_DEVICE, "")
    requested = requested.strip().lower()
    source = "the device argument" if preference not in (None, "", "auto") else f"${ENV_DEVICE}"
    if requested in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        torch_xla = _import_torch_xla()
        if torch_xla is not None:
            return _xla_device(torch_xla)
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")

    kind, _, index = requested.partition(":")
    if kind not in _KINDS or (index and not index.isdigit()):
        raise ValueError(
            f"{source} is {requested!r}, which is not a device; expected one of "
            f"{', '.join(_KINDS)} or 'auto', optionally with an index such as 'cuda:1'"
        )
    if kind == "cpu":
        return torch.device("cpu")
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise _unavailable(f"{source} requests {requested!r} but CUDA is not available (torch "
                               f"{torch.__version__}); a CUDA build of torch and a GPU are needed")
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            raise _unavailable(f"{source} requests {requested!r} but this machine has {count} CUDA device(s)")
        return torch.device(requested)
    if kind == "mps":
        if not _mps_available():
            raise _unavailable(f"{source} requests 'mps' but the MPS backend is not available")
        return torch.device("mps")
    torch_xla = _import_torch_xla()
    if torch_xla is None:
        raise _unavailable(f"{source} requests 'xla' but torch_xla does not import; install it with "
                           f"pip install 'illustrated[tpu]' (torch_xla 2.9 needs torch 2.9) on a TPU machine")
    return _xla_device(torch_xla)


def is_xla(device: torch.device) -> bool:
    """Return True for an XLA device (a TPU through torch_xla)."""
    return torch.device(device).type == "xla"


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """Return the mixed-precision type for ``device``: bfloat16 on CUDA (when supported) and XLA, else None.

    None means full float32, which the CPU and MPS use by default.
    """
    kind = torch.device(device).type
    if kind == "xla":
        return torch.bfloat16
    if kind == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None
