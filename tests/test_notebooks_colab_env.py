"""Every chapter in _toc.yml executes in a second virtualenv with ipywidgets 7.7.1, the version Colab ships.

The book's own .venv has ipywidgets 8, so a chapter that used an 8-only API (``widgets.Stack``,
``TagsInput`` and the like) would pass there and fail for every Colab student. This test builds a
virtualenv with ipywidgets==7.7.1, this machine's torch (pinned, so pip never fetches another
build), the package with every extra the notebooks ask for in their metadata, and a kernel; then it
executes each chapter in a kernel of that virtualenv.

The virtualenv is cached under pytest's cache folder (``.pytest_cache/d/colab-venv``) and reused
while its requirements stay the same. The first run installs it, which took about 5 minutes here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from illustrated import colab

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
COLAB_IPYWIDGETS = "7.7.1"
TOC_NOTEBOOKS = colab.toc_notebooks(ROOT)
INSTALL_TIMEOUT_S = 1800
EXECUTE_TIMEOUT_S = 600  # for one chapter, whose target is under 60 s on a 2-core machine

# Executed inside the virtualenv: fails unless the kernel runs that virtualenv's ipywidgets 7.7.1,
# then runs every cell of the notebook.
RUNNER = """
import sys
import nbformat
from nbclient import NotebookClient

sys.path.insert(0, sys.argv[5])
import kernel_messages  # the book's fix for missed kernel-message wake-ups

kernel_messages.install()

path, expected = sys.argv[1], sys.argv[2]
notebook = nbformat.read(path, as_version=4)
probe = nbformat.v4.new_code_cell(
    "import ipywidgets, sys\\n"
    f"assert ipywidgets.__version__ == {expected!r}, "
    "f'the kernel runs ipywidgets {ipywidgets.__version__} from {sys.executable}'"
)
notebook.cells.insert(0, probe)
client = NotebookClient(notebook, timeout=int(sys.argv[3]), kernel_name="python3",
                        resources={"metadata": {"path": sys.argv[4]}})
client.execute()
"""


def notebook_extras() -> list[str]:
    """Return every package extra that a chapter requests in its metadata, sorted."""
    extras = set()
    for path in TOC_NOTEBOOKS:
        metadata = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
        extras.update(metadata.get("illustrated", {}).get("colab_extras", []))
    return sorted(extras)


def requirements() -> list[str]:
    """Return the pip arguments that make the virtualenv: pinned torch and ipywidgets, a kernel, the package."""
    extras = notebook_extras()
    package = f"{ROOT}[{','.join(extras)}]" if extras else str(ROOT)
    return [f"torch=={torch.__version__}", "numpy", "matplotlib", "ipykernel", "nbclient", "nbformat",
            f"ipywidgets=={COLAB_IPYWIDGETS}", "-e", package]


@pytest.fixture(scope="session")
def colab_python(request) -> Path:
    """Create (or reuse) the virtualenv with ipywidgets 7.7.1 and return its Python interpreter."""
    folder = Path(request.config.cache.mkdir("colab-venv"))
    python = folder / "bin" / "python"
    stamp = folder / "illustrated-requirements.txt"
    expected_requirements = "\n".join(requirements()) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == expected_requirements:
        return python

    subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True)
    constraints = folder / "constraints.txt"
    # Constraints keep pip from replacing torch or ipywidgets while it resolves the package's dependencies.
    constraints.write_text(f"torch=={torch.__version__}\nipywidgets=={COLAB_IPYWIDGETS}\n")
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *requirements()],
        capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
    )
    if result.returncode != 0:
        pytest.fail(f"installing the Colab-like virtualenv in {folder} failed:\n{result.stderr[-4000:]}",
                    pytrace=False)
    stamp.write_text(expected_requirements)
    return python


def test_colab_env_has_ipywidgets_7(colab_python):
    result = subprocess.run([str(colab_python), "-c", "import ipywidgets; print(ipywidgets.__version__)"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == COLAB_IPYWIDGETS


def test_colab_env_keeps_this_torch(colab_python):
    result = subprocess.run([str(colab_python), "-c", "import torch; print(torch.__version__)"],
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == torch.__version__


@pytest.mark.parametrize("path", TOC_NOTEBOOKS, ids=lambda p: p.name)
def test_chapter_runs_with_ipywidgets_7(colab_python, path):
    result = subprocess.run(
        [str(colab_python), "-c", RUNNER, str(path), COLAB_IPYWIDGETS, str(EXECUTE_TIMEOUT_S), str(path.parent),
         str(ROOT / "book" / "_ext")],
        capture_output=True, text=True, timeout=EXECUTE_TIMEOUT_S + 120,
    )
    assert result.returncode == 0, f"{path.name} failed with ipywidgets {COLAB_IPYWIDGETS}:\n{result.stderr[-6000:]}"
