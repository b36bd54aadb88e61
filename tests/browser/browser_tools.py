"""Helpers shared by the browser tests and their fixtures: Chromium's launch, request and console watching."""

from __future__ import annotations

import functools
import http.server
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
VIEWS_SCRIPT = ROOT / "src" / "illustrated" / "attention_view.js"
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Console errors that are not the book's fault. Each entry is a substring of the message and
# the reason it is harmless; keep the list short.
ALLOWED_CONSOLE_ERRORS: dict[str, str] = {}


@dataclass
class PageLog:
    """What one page did: requests aborted for leaving loopback, console errors, uncaught exceptions."""

    outside_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def unexpected_console_errors(self) -> list[str]:
        return [
            message for message in self.console_errors
            if not any(allowed in message for allowed in ALLOWED_CONSOLE_ERRORS)
        ]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the name is fixed by the base class
        pass


def serve(folder: Path):
    """Start a static file server for ``folder`` on 127.0.0.1, on a port the OS picks."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def launch(playwright, chromium_path: str, **options):
    """Launch Chromium with a fresh profile in a temporary folder; return (context, profile folder)."""
    profile = tempfile.mkdtemp(prefix="illustrated-chromium-")
    context = playwright.chromium.launch_persistent_context(
        profile, executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900}, **options,
    )
    return context, profile


def watch(page) -> PageLog:
    """Abort every request that leaves loopback, and record it with the console errors."""
    log = PageLog()

    def route(route_request):
        url = route_request.request.url
        parts = urlsplit(url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK_HOSTS:
            log.outside_requests.append(url)
            route_request.abort()
        else:
            route_request.continue_()

    page.route("**/*", route)
    page.on("console", lambda message: log.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: log.page_errors.append(str(error)))
    return log


# ---- attention views ----------------------------------------------------------------------

# In-page helpers. Each returns plain data so a failing assert prints what the page held.
VIEWS_STATE = """() => Array.from(document.querySelectorAll(".itv-view")).map((view) => {
  const data = JSON.parse(view.querySelector("script.itv-data").textContent);
  const part = data.parts[Number(view.getAttribute("data-part"))];
  const svg = view.querySelector("svg.itv-detail");
  // A label's first child is its text; its <title> child (the tooltip) follows.
  const texts = (selector) => svg ? Array.from(svg.querySelectorAll(selector)).map((n) => n.firstChild.nodeValue) : [];
  return {
    id: view.id,
    ready: view.getAttribute("data-itv-ready"),
    staticHidden: view.querySelector(".itv-static").hidden,
    style: view.getAttribute("data-style"),
    overview: data.overview,
    parts: data.parts.length,
    choices: data.choices ? data.choices.names.length : 0,
    queries: part ? part.queries.length : null,
    keys: part ? part.keys.length : null,
    queryLabels: texts(".itv-query-label"),
    keyLabels: texts(".itv-key-label"),
    thumbnails: view.querySelectorAll(".itv-thumb canvas").length,
    title: (view.querySelector(".itv-title") || {}).textContent || null,
  };
})"""

SIGNATURE = """(view) => {
  const svg = view.querySelector("svg.itv-detail");
  const lines = Array.from(svg.querySelectorAll(".itv-line"))
    .filter((line) => line.style.display !== "none")
    .map((line) => line.getAttribute("data-query") + ">" + line.getAttribute("data-key") + ":" +
      line.getAttribute("stroke-opacity"));
  const cells = Array.from(svg.querySelectorAll(".itv-cell")).map((cell) => cell.getAttribute("fill-opacity"));
  const values = Array.from(svg.querySelectorAll(".itv-value")).map((text) => text.textContent);
  const labels = Array.from(svg.querySelectorAll(".itv-label")).map((text) => text.textContent);
  return JSON.stringify([view.getAttribute("data-part"), view.getAttribute("data-layer"),
    view.getAttribute("data-head"), lines, cells, values, labels]);
}"""


# The contrast ratio (WCAG 2) between each view's first label and the first opaque background behind it.
CONTRAST_RATIOS = """() => Array.from(document.querySelectorAll(".itv-view")).map((view) => {
  const label = view.querySelector(".itv-query-label");
  const rgb = (text) => text.match(/[\\d.]+/g).map(Number);
  let node = label.parentNode;
  let background = null;
  while (node && node.nodeType === 1) {
    const color = rgb(getComputedStyle(node).backgroundColor);
    if (color.length < 4 || color[3] > 0.5) { background = color; break; }
    node = node.parentNode;
  }
  background = background || [255, 255, 255];
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const a = luminance(rgb(getComputedStyle(label).fill));
  const b = luminance(background);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
})"""


def view_signature(view) -> str:
    return view.evaluate(SIGNATURE)


def label_texts(view, selector: str) -> list[str]:
    """Return the text of each label, without the tooltip that its <title> child holds."""
    return view.locator(selector).evaluate_all("(nodes) => nodes.map((n) => n.firstChild.nodeValue)")


def shorten(token: str) -> str:
    return token if len(token) <= 24 else token[:23] + "\u2026"


def check_view_responds(view, name: str) -> None:
    """Click a query token not yet selected, then choose another head; check that each changes the drawing."""
    before = view_signature(view)
    labels = view.locator("svg.itv-detail .itv-query-label")
    pressed = labels.evaluate_all('(nodes) => nodes.map((n) => n.getAttribute("aria-pressed"))')
    label = labels.nth(pressed.index("false"))
    label.click()
    after_click = view_signature(view)
    assert after_click != before, f"{name}: clicking a query token did not change the drawing"
    assert label.get_attribute("aria-pressed") == "true", f"{name}: the clicked token is not marked as selected"
    label.click()  # unselect, so the view is left as it was drawn
    view.page.mouse.move(0, 0)

    head_menu = view.locator("select.itv-select-head")
    if head_menu.count():
        options = head_menu.locator("option").all()
        current = head_menu.input_value()
        other = next(option.get_attribute("value") for option in options if option.get_attribute("value") != current)
        before = view_signature(view)
        head_menu.select_option(other)
        assert view.get_attribute("data-head") == other, f"{name}: choosing head {other} did not select it"
        assert view_signature(view) != before, f"{name}: choosing head {other} did not change the drawing"
        head_menu.select_option(current)
