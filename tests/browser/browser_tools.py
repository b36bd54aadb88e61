"""Helpers shared by the browser tests and their fixtures: Chromium's launch, request and console watching."""

from __future__ import annotations

import tempfile
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
