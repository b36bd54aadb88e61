"""Time the execution of book chapters with nbclient, one fresh kernel per chapter, as the book build runs them.

Usage::

    .venv/bin/python benchmarks/chapter_times.py                      # every notebook in _toc.yml
    .venv/bin/python benchmarks/chapter_times.py notebooks/03_*.ipynb  # some chapters

Prints one line per chapter: the wall time from kernel start to the last cell, and the 1-minute
load average before and after, because a busy shared machine inflates the times.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from illustrated.colab import toc_notebooks

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import kernel_messages  # noqa: E402  the book build's fix for missed kernel-message wake-ups

kernel_messages.install()


def time_notebook(path: Path, timeout: int) -> float:
    """Execute the notebook at ``path`` in a new kernel and return the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: every one in _toc.yml)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default: 600)")
    args = parser.parse_args(argv)

    paths = [path.resolve() for path in args.notebooks] or toc_notebooks(ROOT)
    print(f"{os.cpu_count()} CPUs; times include kernel start-up and imports")
    for path in paths:
        load_before = os.getloadavg()[0]
        seconds = time_notebook(path, args.timeout)
        print(f"{path.name:40s} {seconds:6.1f} s   load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
