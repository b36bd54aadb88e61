"""Fixtures shared by the whole suite: the repository's paths and one build of the book per session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_HTML = ROOT / "_build" / "html"

# One OpenMP thread for the tests and every kernel they start, unless the caller sets another number. On a
# shared 2-core machine, two torch threads that wait on each other made chapter 10 run 13 times slower than one.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def jupyter_book_command() -> list[str]:
    """Return the command that runs jupyter-book with this interpreter's environment."""
    return [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "-W", "-n", "--keep-going"]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_book() -> Path:
    """Build the book once per session, executing every chapter, and return ``_build/html``.

    The build runs with warnings as errors and ``execute.raise_on_error``, so a failing cell or a
    broken cross-reference fails it. Execution is cached, so unchanged chapters are not run again.
    """
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    result = subprocess.run(jupyter_book_command(), cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-8000:]
        pytest.fail(f"the book build failed with exit code {result.returncode}:\n{log}", pytrace=False)
    assert (BUILD_HTML / "index.html").exists(), "the build finished but wrote no _build/html/index.html"
    return BUILD_HTML
