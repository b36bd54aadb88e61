"""bertviz's output as JupyterLab 4 inserts it: its drawing script must wait for require.js.

JupyterLab and Notebook 7 set an output's HTML and then re-create each of its script elements,
so an external script and the inline script after it start together and the inline one runs
first. These tests insert bertviz's HTML the same way into a blank page served from 127.0.0.1.
Requests for require.js are answered, after a delay, with a stub that records the drawing call;
d3 and jQuery are never requested because the stub does not load modules.
"""

from __future__ import annotations

import time

import pytest
import torch

from browser_tools import serve
from illustrated.model import Transformer, TransformerConfig
from illustrated.widgets import show_bertviz

pytestmark = pytest.mark.browser

REQUIRE_URL = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"
# Stands in for require.js: accepts bertviz's configuration and counts its drawing calls.
REQUIRE_STUB = (
    "window.require = {config: function () {}};"
    "window.requirejs = function () { window.bertvizDrawn = (window.bertvizDrawn || 0) + 1; };"
)
# Inserts HTML the way JupyterLab's HTML renderer does: innerHTML, then each script re-created.
INSERT_LIKE_JUPYTERLAB = """(html) => {
  const host = document.createElement("div");
  document.body.appendChild(host);
  host.innerHTML = html;
  for (const old of Array.from(host.querySelectorAll("script"))) {
    const script = document.createElement("script");
    for (const attribute of Array.from(old.attributes)) {
      script.setAttribute(attribute.name, attribute.value);
    }
    script.textContent = old.textContent;
    old.parentNode.replaceChild(script, old);
  }
}"""


@pytest.fixture(scope="module")
def bertviz_pages():
    pytest.importorskip("bertviz")
    import bertviz

    torch.manual_seed(0)
    model = Transformer(TransformerConfig.tiny(30, 40))
    rewritten = show_bertviz(model, [5, 6, 7], [1, 8], ["a", "b", "c"], ["<s>", "x"], html_action="return").data
    encoder = [torch.full((1, 2, 3, 3), 1 / 3)]
    original = bertviz.head_view(encoder_attention=encoder, encoder_tokens=["a", "b", "c"], html_action="return").data
    return {"original": original, "rewritten": rewritten}


def draw_count(page_html: str, tmp_path, open_page) -> tuple[int, list[str]]:
    (tmp_path / "index.html").write_text("<!DOCTYPE html><html><body></body></html>", encoding="utf-8")
    server, url = serve(tmp_path)
    try:
        page, log = open_page(f"{url}/index.html")

        def answer_require(route):
            time.sleep(0.3)  # a network's delay, so that scripts inserted after the tag run first
            route.fulfill(body=REQUIRE_STUB, content_type="application/javascript")

        page.route(REQUIRE_URL, answer_require)
        page.evaluate(INSERT_LIKE_JUPYTERLAB, page_html)
        page.wait_for_timeout(1500)
        return page.evaluate("() => window.bertvizDrawn || 0"), log.page_errors
    finally:
        server.shutdown()
        server.server_close()


def test_bertviz_as_written_misses_first_run(bertviz_pages, tmp_path, open_page):
    drawn, errors = draw_count(bertviz_pages["original"], tmp_path, open_page)
    assert drawn == 0, "bertviz's own HTML drew on the first run; the rewrite may no longer be needed"
    assert any("require" in error for error in errors)


def test_rewritten_bertviz_draws_on_first_run(bertviz_pages, tmp_path, open_page):
    drawn, errors = draw_count(bertviz_pages["rewritten"], tmp_path, open_page)
    assert drawn == 1
    assert errors == []
