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
from training_support import LOCAL, NO_LOCAL_COPY
from training_support import tiny_config as shared_tiny_config

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(LOCAL is None, reason=NO_LOCAL_COPY),
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
        "--valid-limit", "24", "--vocab-size", "300", "--shared-vocabulary", "--d-model", "32", "--num-heads", "2",
        "--d-ff", "64", "--num-layers", "1", "--epochs", "2", "--max-tokens", "256", "--warmup-steps", "10",
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


def tiny_config(output_dir, **changes):
    return shared_tiny_config(output_dir, **{"train_limit": 120, "valid_limit": 8, "max_steps": 3, **changes})


def test_new_run_rejects_folder_with_a_run(tmp_path):
    from illustrated.train.checkpoint import save_checkpoint
    from illustrated.train.runner import train

    for name in ("last.pt", "best.pt", "epoch3.pt"):
        folder = tmp_path / name.removesuffix(".pt")
        save_checkpoint({"step": 1}, folder / name)
        (folder / "metrics.jsonl").write_text('{"event": "start"}\n')
        with pytest.raises(ValueError, match=rf"{folder} already contains a run \({name}\); continue it with --resume"):
            train(tiny_config(folder))
        assert sorted(path.name for path in folder.iterdir()) == sorted([name, "metrics.jsonl"])
        assert (folder / "metrics.jsonl").read_text() == '{"event": "start"}\n'


def test_failed_start_leaves_no_folder(tmp_path):
    from illustrated.train.runner import train

    with pytest.raises(ValueError, match="unknown test set.*'test2018'"):
        train(tiny_config(tmp_path / "unknown", test_sets=("test2018",)))
    assert not (tmp_path / "unknown").exists()
    with pytest.raises(ValueError, match=r"longest of fixed_shapes \[2\] \(which caps max_length=128\)"):
        train(tiny_config(tmp_path / "short", fixed_shapes=(2,)))
    assert not (tmp_path / "short").exists()  # the tokenizers were learnt, but tokenizers.json is gone
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="fixed_shapes"):
        train(tiny_config(tmp_path / "kept", fixed_shapes=(2,)))
    assert [path.name for path in (tmp_path / "kept").iterdir()] == ["notes.txt"]


def test_resume_errors_before_any_work(tmp_path):
    from illustrated.train.checkpoint import load_checkpoint, save_checkpoint
    from illustrated.train.runner import train

    with pytest.raises(ValueError, match=f"no last.pt in {tmp_path / 'none'} to resume; train without --resume first"):
        train(tiny_config(tmp_path / "none", resume=True))
    assert not (tmp_path / "none").exists()

    run = tmp_path / "run"
    train(tiny_config(run))
    state = load_checkpoint(run / "last.pt")
    del state["optimizer"], state["scheduler"], state["rng_per_rank"]
    save_checkpoint(state, run / "last.pt")
    with pytest.raises(ValueError, match="cannot resume from .*last.pt: it has no optimizer, scheduler, rng_per_rank"):
        train(tiny_config(run, resume=True, max_steps=6))


def test_resume_drops_incomplete_last_metrics_line(tmp_path, capsys):
    from illustrated.train.runner import train

    run = tmp_path / "run"
    train(tiny_config(run))
    metrics_path = run / "metrics.jsonl"
    complete = metrics_path.read_text()
    metrics_path.write_text(complete + '{"time": 1.5, "event": "tra')
    result = train(tiny_config(run, resume=True, max_steps=5))
    assert "warning: dropping the incomplete last line" in capsys.readouterr().err
    assert [line["step"] for line in result.history if line["event"] == "train"] == [1, 2, 3, 4, 5]

    lines = metrics_path.read_text().splitlines()
    lines[1] = lines[1][:20]
    metrics_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=f"{metrics_path} line 2 is not valid JSON"):
        train(tiny_config(run, resume=True, max_steps=7))


def test_resume_of_finished_run_trains_and_writes_nothing(tmp_path, capsys):
    from illustrated.train import cli

    run = tmp_path / "run"
    arguments = ["train", "--data-dir", str(LOCAL), "--train-limit", "60", "--valid-limit", "8", "--vocab-size",
                 "200", "--d-model", "32", "--num-heads", "2", "--d-ff", "64", "--num-layers", "1", "--epochs", "1",
                 "--max-tokens", "256", "--no-valid-bleu", "--test-sets", "--threads", "1", "--no-progress",
                 "--output-dir", str(run)]
    assert cli.main(arguments) == 0
    steps = torch.load(run / "last.pt", weights_only=False)["step"]
    before = (run / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert cli.main(arguments + ["--resume"]) == 0
    assert capsys.readouterr().out == f"already finished 1 epochs at step {steps}; nothing to train\n"
    assert (run / "metrics.jsonl").read_text() == before


def test_resume_accepts_data_dir_spelled_otherwise(tmp_path, monkeypatch):
    from illustrated.train.runner import train

    run = tmp_path / "run"
    train(tiny_config(run))
    monkeypatch.setenv("ILLUSTRATED_MULTI30K_DIR", str(LOCAL))
    result = train(tiny_config(run, resume=True, max_steps=4, data_dir=None))
    assert result.history[-1]["step"] == 4
    result = train(tiny_config(run, resume=True, max_steps=5, data_dir=str(LOCAL) + "/"))
    assert result.history[-1]["step"] == 5


def test_train_finds_shared_copy_before_cache(tmp_path, monkeypatch):
    from illustrated.data.multi30k import find_local_multi30k
    from illustrated.train.runner import _load_splits

    monkeypatch.delenv("ILLUSTRATED_MULTI30K_DIR", raising=False)
    if find_local_multi30k() is None:
        pytest.skip("the package is installed outside a source checkout, so ../shared is not looked at")
    config = tiny_config(tmp_path / "run", data_dir=None, cache_dir=str(tmp_path / "cache"),
                         base_url="http://127.0.0.1:9/")  # nothing listens on port 9, so a download would fail
    splits = _load_splits(config)
    assert len(splits["train"]) == 120
    assert not (tmp_path / "cache").exists()
