"""Helpers shared by the data, notebook and training tests: the local Multi30k copy, a closed port, a tiny config."""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def shared_multi30k() -> Path | None:
    """Return $ILLUSTRATED_MULTI30K_DIR, else ../shared/data/multi30k beside the repository, if it contains the files."""
    candidates = [Path(os.environ["ILLUSTRATED_MULTI30K_DIR"])] if os.environ.get("ILLUSTRATED_MULTI30K_DIR") else []
    candidates.append(ROOT.parent / "shared" / "data" / "multi30k")
    needed = ("train.de.gz", "val.en.gz", "test_2016_flickr.en.gz")
    for folder in candidates:
        if all((folder / name).is_file() for name in needed):
            return folder
    return None


LOCAL = shared_multi30k()
NO_LOCAL_COPY = "no local Multi30k copy: set ILLUSTRATED_MULTI30K_DIR or put the files in ../shared/data/multi30k"


def tiny_config(output_dir, **changes):
    """Return a TrainingConfig for a model of a few thousand weights trained for a few steps on the local copy."""
    from illustrated.train.runner import TrainingConfig

    settings = dict(
        data_dir=str(LOCAL), train_limit=200, valid_limit=16, test_sets=(), vocab_size=200, shared_vocabulary=True,
        d_model=32, num_heads=2, d_ff=64, num_layers=1, epochs=1, max_steps=4, max_tokens=256, warmup_steps=4,
        valid_bleu=False, progress=False, threads=1, log_every=1, output_dir=str(output_dir),
    )
    settings.update(changes)
    return TrainingConfig(**settings)


def closed_port_url() -> str:
    """Return a URL on 127.0.0.1 where nothing listens, so a download fails at once, as with no network."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
