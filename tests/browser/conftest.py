"""Fixtures of the browser tests: the built book, a loopback HTTP server and headless Chromium.

The browser is Debian's Chromium (``/usr/bin/chromium``, or the path in ``ILLUSTRATED_CHROMIUM``)
driven by the ``playwright`` package; ``playwright install`` is never needed. Without a browser
these tests are skipped, except under CI (``CI`` set to ``true`` or ``1``), where they fail.

Every page is opened with a route that aborts any request to a host other than loopback and
records it, so a test can assert that the book loads nothing from another site.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from browser_tools import ROOT, VIEWS_SCRIPT, launch, serve, watch


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(reason: str):
    """Skip the test where a browser is optional, fail it in CI where it is required."""
    if in_ci():
        pytest.fail(f"{reason} (CI requires the browser tests to run)", pytrace=False)
    pytest.skip(reason)


# ---- the book ---------------------------------------------------------------------------------

def book_sources() -> list[Path]:
    """Return the files whose change makes a built book out of date."""
    paths = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    for folder, pattern in (("book", "*"), ("notebooks", "*.ipynb"), ("src/illustrated", "*")):
        paths.extend(path for path in (ROOT / folder).rglob(pattern) if path.is_file() and "__pycache__" not in path.parts)
    return paths


def build_is_current(html_dir: Path) -> bool:
    index = html_dir / "index.html"
    if not index.exists():
        return False
    built = index.stat().st_mtime
    return all(path.stat().st_mtime < built for path in book_sources())


def pages_with_stale_views(html_dir: Path) -> list[str]:
    """Return the pages whose attention views were drawn by another version of the view script.

    Execution is cached on the code of each notebook, so a changed ``attention_view.js`` does not
    re-run a notebook whose cells did not change.
    """
    script = VIEWS_SCRIPT.read_text(encoding="utf-8").rstrip()
    stale = []
    for page in html_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8", errors="replace")
        if 'class="itv-view' in text and script not in text:
            stale.append(str(page.relative_to(html_dir)))
    return sorted(stale)


def refresh_stale_notebooks(cache_dir: Path) -> int:
    """Drop the cached executions whose outputs hold an outdated view; return how many were dropped."""
    from jupyter_cache import get_cache

    script = VIEWS_SCRIPT.read_text(encoding="utf-8").rstrip()
    cache = get_cache(str(cache_dir))
    dropped = 0
    for record in cache.list_cache_records():
        html_outputs = list(html_output_texts(cache.get_cache_bundle(record.pk).nb))
        if any("itv-view" in text and script not in text for text in html_outputs):
            cache.remove_cache(record.pk)
            dropped += 1
    return dropped


def html_output_texts(notebook):
    """Yield the text/html of every output of a notebook, joined when nbformat split it into lines."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            text = output.get("data", {}).get("text/html")
            if text is not None:
                yield "".join(text) if isinstance(text, list) else text


def run_build(extra_args: list[str]) -> None:
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(ROOT), "-W", "-n", "--keep-going"]
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    result = subprocess.run(command + extra_args, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        log = (result.stdout + result.stderr)[-8000:]
        pytest.fail(f"the book build failed with exit code {result.returncode}:\n{log}", pytrace=False)


@pytest.fixture(scope="session")
def book_html(request) -> Path:
    """Return the folder of the built book: reused when newer than every source, else built.

    ``ILLUSTRATED_BOOK_HTML`` names another built book to test instead (its pages are then
    taken as they are). A build whose views came from an older view script has those
    notebooks' cached executions dropped and is rebuilt, so the tests see the current views.
    """
    override = os.environ.get("ILLUSTRATED_BOOK_HTML")
    if override:
        html_dir = Path(override).resolve()
        if not (html_dir / "index.html").exists():
            pytest.fail(f"ILLUSTRATED_BOOK_HTML={override} holds no index.html", pytrace=False)
        return html_dir

    html_dir = ROOT / "_build" / "html"
    if not build_is_current(html_dir):
        html_dir = request.getfixturevalue("built_book")
    stale = pages_with_stale_views(html_dir)
    if stale:
        dropped = refresh_stale_notebooks(ROOT / "_build" / ".jupyter_cache")
        run_build(["--all"])
        stale = pages_with_stale_views(html_dir)
        assert not stale, (
            f"after dropping {dropped} cached executions and rebuilding, these pages still hold views "
            f"drawn by an older attention_view.js: {stale}"
        )
    return html_dir


@pytest.fixture(scope="session")
def screenshot_dir(book_html: Path) -> Path:
    folder = book_html.parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# ---- the server -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def book_url(book_html: Path):
    server, url = serve(book_html)
    yield url
    server.shutdown()
    server.server_close()


# ---- the browser ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("ILLUSTRATED_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        missing(f"Chromium not found at {path}; install Debian's package: apt-get install chromium")
    return path


@pytest.fixture(scope="session")
def playwright_session():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed; pip install playwright")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser_context(playwright_session, chromium_path):
    context, profile = launch(playwright_session, chromium_path)
    yield context
    context.close()
    shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def open_page(browser_context):
    """Open a URL in a new tab that records its requests and errors; return (page, log)."""
    pages = []

    def opener(url: str, context=None):
        page = (context or browser_context).new_page()
        pages.append(page)
        log = watch(page)
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        return page, log

    yield opener
    for page in pages:
        page.close()
