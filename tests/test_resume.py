"""A run killed with SIGKILL after a checkpoint and resumed ends exactly like a run never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def shared_multi30k() -> Path | None:
    """Return $ILLUSTRATED_MULTI30K_DIR, else ../shared/data/multi30k beside the repository, if it contains the files."""
    candidates = [Path(os.environ["ILLUSTRATED_MULTI30K_DIR"])] if os.environ.get("ILLUSTRATED_MULTI30K_DIR") else []
    candidates.append(ROOT.parent / "shared" / "data" / "multi30k")
    for folder in candidates:
        if (folder / "train.de.gz").is_file() and (folder / "val.en.gz").is_file():
            return folder
    return None


LOCAL = shared_multi30k()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(LOCAL is None, reason="no local Multi30k copy: set ILLUSTRATED_MULTI30K_DIR or put "
                                             "the files in ../shared/data/multi30k"),
]

# The child slows each step by a fixed sleep, which changes no number, so that the parent has time
# to kill it between two checkpoints whatever the machine's speed.
WRAPPER = """
import sys, time
import illustrated.train.runner as runner
original = runner.train_step
def slow_step(*args, **kwargs):
    time.sleep(0.03)
    return original(*args, **kwargs)
runner.train_step = slow_step
from illustrated.train.cli import main
sys.exit(main(sys.argv[1:]))
"""


def command(wrapper: Path, output_dir: Path, *extra: str) -> list[str]:
    return [
        sys.executable, str(wrapper), "train", "--data-dir", str(LOCAL), "--train-limit", "240",
        "--valid-limit", "24", "--vocab-size", "300", "--d-model", "32", "--num-heads", "2", "--d-ff", "64",
        "--num-layers", "1", "--epochs", "2", "--max-tokens", "256", "--warmup-steps", "10",
        "--checkpoint-every", "5", "--log-every", "1", "--no-valid-bleu", "--test-sets", "--threads", "1",
        "--no-progress", "--output-dir", str(output_dir), *extra,
    ]


def metrics(output_dir: Path) -> list[dict]:
    lines = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    kept = []
    for line in lines:
        if line["event"] in ("train", "valid"):
            kept.append({key: value for key, value in line.items() if key not in ("time", "tokens_per_s", "elapsed_s")})
    return kept


def test_sigkill_and_resume_match_uninterrupted(tmp_path):
    wrapper = tmp_path / "slow_train.py"
    wrapper.write_text(WRAPPER)
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    straight = tmp_path / "straight"
    subprocess.run(command(wrapper, straight), env=env, check=True, capture_output=True, timeout=600)
    expected = metrics(straight)
    total_steps = expected[-1]["step"]
    assert total_steps > 20

    stopped = tmp_path / "stopped"
    process = subprocess.Popen(command(wrapper, stopped), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (stopped / "last.pt").exists():
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.01)
    time.sleep(0.1)  # let it train a few steps past the checkpoint, which the resumed run must redo
    assert process.poll() is None, "the run finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    checkpoint_step = torch.load(stopped / "last.pt", weights_only=False)["step"]
    assert 0 < checkpoint_step < total_steps

    resumed = subprocess.run(command(wrapper, stopped, "--resume"), env=env, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    actual = metrics(stopped)
    assert [line["step"] for line in actual] == [line["step"] for line in expected]
    assert actual[-1]["loss"] == expected[-1]["loss"]
    assert actual == expected

    straight_state = torch.load(straight / "last.pt", weights_only=False)
    resumed_state = torch.load(stopped / "last.pt", weights_only=False)
    for name, tensor in straight_state["model"].items():
        assert torch.equal(tensor, resumed_state["model"][name]), name
    assert resumed_state["scheduler"] == straight_state["scheduler"]


def test_resume_rejects_changed_settings(tmp_path):
    wrapper = tmp_path / "slow_train.py"
    wrapper.write_text(WRAPPER)
    output_dir = tmp_path / "run"
    subprocess.run(command(wrapper, output_dir) + ["--max-steps", "5"], check=True, capture_output=True, timeout=600)
    changed = subprocess.run(command(wrapper, output_dir, "--resume", "--d-model", "64"), capture_output=True,
                             text=True, timeout=600)
    assert changed.returncode != 0
    assert "cannot resume: d_model was 32 in the checkpoint but is 64 now" in changed.stderr
