"""Device choice: the environment override first, then CUDA, XLA, MPS and the CPU."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from illustrated.train import device as device_module
from illustrated.train.device import ENV_DEVICE, autocast_dtype, choose_device, is_xla


@pytest.fixture
def machine(monkeypatch):
    """Pretend to be a machine with chosen accelerators; returns a function that sets them."""
    monkeypatch.delenv(ENV_DEVICE, raising=False)

    def configure(cuda=False, xla=False, mps=False, cuda_count=1):
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count if cuda else 0)
        monkeypatch.setattr(device_module, "_mps_available", lambda: mps)
        if xla:
            fake = types.ModuleType("torch_xla")
            fake.device = lambda: "xla-device"  # the real one returns torch.device("xla:0")
            monkeypatch.setattr(device_module, "_import_torch_xla", lambda: fake)
        else:
            monkeypatch.setattr(device_module, "_import_torch_xla", lambda: None)

    return configure


def test_cpu_when_nothing_else(machine):
    machine()
    assert choose_device() == torch.device("cpu")


def test_cuda_first(machine):
    machine(cuda=True, xla=True, mps=True)
    assert choose_device() == torch.device("cuda")


def test_xla_before_mps(machine):
    machine(xla=True, mps=True)
    assert choose_device() == "xla-device"


def test_mps_before_cpu(machine):
    machine(mps=True)
    assert choose_device() == torch.device("mps")


def test_environment_overrides_order(machine, monkeypatch):
    machine(cuda=True, xla=True, mps=True)
    monkeypatch.setenv(ENV_DEVICE, "cpu")
    assert choose_device() == torch.device("cpu")
    monkeypatch.setenv(ENV_DEVICE, "xla")
    assert choose_device() == "xla-device"
    monkeypatch.setenv(ENV_DEVICE, " MPS ")
    assert choose_device() == torch.device("mps")


def test_argument_overrides_environment(machine, monkeypatch):
    machine(cuda=True)
    monkeypatch.setenv(ENV_DEVICE, "cuda")
    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto") == torch.device("cuda")  # "auto" defers to the environment


def test_environment_auto_and_empty(machine, monkeypatch):
    machine(mps=True)
    for value in ("auto", ""):
        monkeypatch.setenv(ENV_DEVICE, value)
        assert choose_device() == torch.device("mps")


def test_cuda_index(machine, monkeypatch):
    machine(cuda=True, cuda_count=2)
    monkeypatch.setenv(ENV_DEVICE, "cuda:1")
    assert choose_device() == torch.device("cuda", 1)
    monkeypatch.setenv(ENV_DEVICE, "cuda:2")
    with pytest.raises(RuntimeError, match="2 CUDA device"):
        choose_device()


def test_unknown_device_named_in_error(machine, monkeypatch):
    machine()
    monkeypatch.setenv(ENV_DEVICE, "tpu")
    with pytest.raises(ValueError, match=r"ILLUSTRATED_DEVICE is 'tpu'.*xla"):
        choose_device()
    with pytest.raises(ValueError, match="the device argument is 'cuda:x'"):
        choose_device("cuda:x")


def test_unavailable_device_says_what_to_do(machine, monkeypatch):
    machine()
    monkeypatch.setenv(ENV_DEVICE, "cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        choose_device()
    monkeypatch.setenv(ENV_DEVICE, "xla")
    with pytest.raises(RuntimeError, match=r"illustrated\[tpu\]"):
        choose_device()
    monkeypatch.setenv(ENV_DEVICE, "mps")
    with pytest.raises(RuntimeError, match="MPS"):
        choose_device()


def test_real_machine_choice(monkeypatch):
    monkeypatch.delenv(ENV_DEVICE, raising=False)
    chosen = choose_device()
    if torch.cuda.is_available():
        assert chosen.type == "cuda"
    elif "torch_xla" not in sys.modules and not device_module.xla_available():
        assert chosen.type in ("mps", "cpu")


def test_autocast_dtype():
    assert autocast_dtype(torch.device("cpu")) is None
    assert autocast_dtype(torch.device("xla")) is torch.bfloat16
    assert is_xla(torch.device("xla"))
    assert not is_xla(torch.device("cpu"))


def test_unavailable_device_lists_available_ones(machine):
    machine(mps=True)
    with pytest.raises(device_module.DeviceUnavailableError, match=r"Available here: mps, cpu;.*--device cpu"):
        choose_device("cuda")
    assert device_module.available_devices() == ["mps", "cpu"]
