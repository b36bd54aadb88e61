"""The chapters as files: committed without outputs, listed in the table of contents, set up for Colab, and built."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml
from training_support import closed_port_url

from illustrated import colab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TOC_NOTEBOOKS = colab.toc_notebooks(ROOT)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_chapters_exist():
    assert NOTEBOOKS, "notebooks/ holds no chapter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    for index, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] != "code":
            continue
        assert cell.get("outputs") == [], f"{path.name}: cell {index} holds outputs; strip them before committing"
        assert cell.get("execution_count") is None, f"{path.name}: cell {index} holds an execution count"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_listed_in_toc(path):
    assert path in TOC_NOTEBOOKS, f"{path.name} is not listed in _toc.yml, so the book neither builds nor tests it"


def test_notebook_names_numbered():
    for path in NOTEBOOKS:
        number, _, slug = path.stem.partition("_")
        assert number.isdigit(), f"{path.name} does not start with a two-digit number (NN_slug.ipynb)"
        assert len(number) == 2, f"{path.name} does not start with a two-digit number (NN_slug.ipynb)"
        assert slug, f"{path.name} has no slug after its number (NN_slug.ipynb)"


@pytest.mark.parametrize("path", TOC_NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_colab_setup(path):
    repo_url, branch = colab.read_book_config(ROOT)
    first = load(path)["cells"][0]
    expected = colab.expected_cell(load(path), repo_url, branch)
    assert first.get("id") == colab.CELL_ID, f"{path.name} does not start with the Colab set-up cell"
    assert "".join(first["source"]) == expected["source"], (
        f"{path.name}: the Colab set-up cell is out of date with _config.yml; run `python -m illustrated.colab`"
    )
    assert "remove-cell" in first["metadata"].get("tags", []), f"{path.name}: the set-up cell is not hidden"


def test_colab_cell_does_nothing_outside_colab():
    cell = colab.install_cell_source("https://github.com/example/book", "main")
    calls = []
    namespace = {}
    real_run = subprocess.run
    subprocess.run = lambda *args, **kwargs: calls.append(args)  # noqa: E731
    try:
        exec(compile(cell, "colab-setup", "exec"), namespace)
    finally:
        subprocess.run = real_run
    assert calls == []


def test_colab_cell_pins_preinstalled_packages(tmp_path, monkeypatch):
    cell = colab.install_cell_source("https://github.com/example/book", "stable", ("train",))
    calls = []
    monkeypatch.setitem(sys.modules, "google.colab", object())
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: calls.append(command))
    exec(compile(cell, "colab-setup", "exec"), {})

    assert len(calls) == 1
    command = calls[0]
    assert command[command.index("-c") + 1] == "/tmp/illustrated-constraints.txt"
    assert command[-1] == "illustrated[train] @ git+https://github.com/example/book@stable"
    pins = Path("/tmp/illustrated-constraints.txt").read_text().split()
    for name in colab.PINNED:
        assert f"{name}=={version(name)}" in pins


def test_colab_cell_rejects_bad_repository():
    with pytest.raises(ValueError, match="https://"):
        colab.install_cell_source("git@github.com:example/book.git", "main")
    with pytest.raises(ValueError, match="branch"):
        colab.install_cell_source("https://github.com/example/book", "two words")


@pytest.mark.slow
def test_book_builds_every_chapter(built_book):
    for path in TOC_NOTEBOOKS:
        page = built_book / path.relative_to(ROOT).with_suffix(".html")
        assert page.exists(), f"the build wrote no page for {path.name}"


@pytest.mark.slow
@pytest.mark.parametrize("path", TOC_NOTEBOOKS, ids=lambda p: p.name)
def test_colab_button_points_at_notebook(built_book, path):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    repo = config["repository"]["url"].removeprefix("https://github.com/").rstrip("/")
    branch = config["repository"].get("branch", "main")
    relative = path.relative_to(ROOT).as_posix()
    expected = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{relative}"
    page = (built_book / path.relative_to(ROOT).with_suffix(".html")).read_text(encoding="utf-8")
    assert expected in page, f"{path.name}: no Colab launch link to {expected}"


@pytest.mark.slow
def test_chapter11_fallback_without_data(tmp_path, monkeypatch):
    """Check that chapter 11, with no copy of Multi30k and no network, shows a warning box and trains on the number task."""
    import nbformat
    from nbclient import NotebookClient

    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import kernel_messages  # the book build's fix for missed kernel-message wake-ups

    kernel_messages.install()
    empty = tmp_path / "no-multi30k"
    empty.mkdir()
    monkeypatch.setenv("ILLUSTRATED_MULTI30K_DIR", str(empty))
    monkeypatch.setenv("ILLUSTRATED_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ILLUSTRATED_MULTI30K_URL", closed_port_url())
    path = ROOT / "notebooks" / "11_training_on_multi30k.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()

    def text_of(cell) -> str:
        parts = []
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(output.get("data", {}).get("text/html", ""))
        return "".join(parts)

    outputs = "\n".join(text_of(cell) for cell in notebook.cells if cell.cell_type == "code")
    assert "data: the number task" in outputs
    assert 'class="admonition warning"' in outputs
    assert "Multi30k is not available here" in outputs
    assert "no-multi30k" in outputs, "the warning box does not say which folder lacked the files"
    assert "test: BLEU" in outputs, "the fallback run printed no test BLEU"
    assert not list((tmp_path / "cache").rglob("*.gz")), "a failed download left a file in the cache"
