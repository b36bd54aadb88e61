"""The Colab set-up cell that opens every chapter, and the command that keeps it in sync.

Colab comes with its own torch, numpy, matplotlib and ipywidgets (7.7.1). The cell writes their
installed versions to a pip constraints file before it installs this package. pip then either
leaves them alone or fails loudly, so it never swaps Colab's torch for another build.

The repository and branch come from ``repository.url`` and ``repository.branch`` in the book's
``_config.yml``, the same values the launch buttons use. After changing them, run::

    python -m illustrated.colab            # rewrite the first cell of every notebook in _toc.yml
    python -m illustrated.colab --check    # exit with 1 if a notebook is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CELL_ID = "colab-setup"
CELL_TAGS = ["remove-cell"]  # hidden in the web book: readers there have nothing to install
PINNED = ("torch", "numpy", "matplotlib", "ipywidgets")

_TEMPLATE = '''\
# Colab set-up: install the book's package `illustrated` without replacing Colab's own
# {pinned_names}. Outside Colab this cell does nothing.
import sys

if "google.colab" in sys.modules:
    import subprocess
    from importlib.metadata import version

    with open("/tmp/illustrated-constraints.txt", "w") as constraints:
        for name in {pinned!r}:
            constraints.write(f"{{name}}=={{version(name)}}\\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/illustrated-constraints.txt",
         "illustrated{extras} @ git+{repo_url}@{branch}"],
        check=True,
    )'''


def install_cell_source(repo_url: str, branch: str, extras: tuple[str, ...] = ()) -> str:
    """Return the source of the Colab set-up cell for a repository URL, a branch and package extras."""
    repo_url = repo_url.rstrip("/")
    if not repo_url.startswith("https://"):
        raise ValueError(f"repository.url must be an https:// URL, got {repo_url!r}")
    if not branch or any(c.isspace() for c in branch):
        raise ValueError(f"repository.branch must be a branch name without spaces, got {branch!r}")
    extras_text = f"[{','.join(extras)}]" if extras else ""
    return _TEMPLATE.format(
        pinned_names=", ".join(PINNED[:-1]) + " or " + PINNED[-1],
        pinned=PINNED,
        extras=extras_text,
        repo_url=repo_url,
        branch=branch,
    )


def read_book_config(root: Path) -> tuple[str, str]:
    """Return ``(repository URL, branch)`` from ``root/_config.yml``."""
    import yaml  # PyYAML comes with jupyter-book; only the book's maintainers run this

    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repository = config.get("repository") or {}
    if "url" not in repository:
        raise ValueError(f"{root / '_config.yml'} has no repository.url")
    return repository["url"], repository.get("branch", "main")


def toc_notebooks(root: Path) -> list[Path]:
    """Return the notebooks listed in ``root/_toc.yml``, in the order of the book."""
    import yaml

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                path = root / (node["file"] + ".ipynb")
                if path.exists():
                    found.append(path)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def expected_cell(notebook: dict, repo_url: str, branch: str) -> dict:
    """Return the set-up cell a notebook should start with; its extras come from its metadata."""
    extras = tuple(notebook.get("metadata", {}).get("illustrated", {}).get("colab_extras", ()))
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"tags": list(CELL_TAGS)},
        "outputs": [],
        "source": install_cell_source(repo_url, branch, extras),
    }


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def sync_notebook(path: Path, repo_url: str, branch: str, check: bool) -> bool:
    """Make the notebook at ``path`` start with the current set-up cell; return True if it already did."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cell = expected_cell(notebook, repo_url, branch)
    cells = notebook["cells"]
    first = cells[0] if cells else None
    up_to_date = (
        first is not None
        and first.get("id") == CELL_ID
        and _cell_source(first) == cell["source"]
        and first.get("metadata", {}).get("tags") == CELL_TAGS
    )
    if up_to_date or check:
        return up_to_date
    if first is not None and first.get("id") == CELL_ID:
        cells[0] = cell
    else:
        cells.insert(0, cell)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m illustrated.colab", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the book's root folder (default: current)")
    parser.add_argument("--check", action="store_true", help="only report notebooks that are out of date")
    args = parser.parse_args(argv)

    repo_url, branch = read_book_config(args.root)
    stale = [p for p in toc_notebooks(args.root) if not sync_notebook(p, repo_url, branch, args.check)]
    for path in stale:
        print(f"{'out of date' if args.check else 'updated'}: {path.relative_to(args.root)}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
