"""Attention views saved as standalone pages and opened in headless Chromium, without building the book.

These run in seconds, so the view script can be checked even while a chapter breaks the book's build.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from browser_tools import VIEWS_STATE, check_view_responds, label_texts, serve, view_signature
from illustrated.model import Transformer, TransformerConfig
from illustrated.reference import softmax
from illustrated.views import attention_view, choice_view, encoder_decoder_view

pytestmark = pytest.mark.browser

TOKENS = ["the", "animal", "was", "tired", "because", "it"]


def weights(*shape, seed=0):
    return softmax(np.random.default_rng(seed).normal(size=shape) * 2.0)


@pytest.fixture
def show(tmp_path, open_page):
    """Write HTML fragments to one page, serve it on 127.0.0.1, open it; return (page, log)."""
    servers = []

    def opener(*fragments: str):
        (tmp_path / "index.html").write_text(
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>views</title></head><body>'
            + "\n".join(fragments) + "</body></html>",
            encoding="utf-8",
        )
        server, url = serve(tmp_path)
        servers.append(server)
        page, log = open_page(f"{url}/index.html")
        return page, log

    yield opener
    for server in servers:
        server.shutdown()
        server.server_close()


def assert_clean(log):
    assert log.outside_requests == []
    assert log.page_errors == []
    assert log.unexpected_console_errors() == []


@pytest.mark.parametrize("mode", ["lines", "heatmap", "heads", "grid"])
def test_mode_draws_and_responds(show, mode):
    page, log = show(attention_view(weights(2, 3, 6, 6), TOKENS, mode=mode).html)
    state = page.evaluate(VIEWS_STATE)[0]
    assert state["ready"] == "1"
    assert state["staticHidden"]
    assert state["queryLabels"] == TOKENS
    assert state["keyLabels"] == TOKENS
    expected_thumbnails = {"lines": 0, "heatmap": 0, "heads": 3, "grid": 6}[mode]
    assert state["thumbnails"] == expected_thumbnails
    check_view_responds(page.locator(".itv-view").first, mode)
    assert_clean(log)


def test_cross_attention_columns(show):
    page, log = show(attention_view(weights(4, 6), TOKENS, ["ein", "und", "zwanzig", "."]).html)
    view = page.locator(".itv-view").first
    assert label_texts(view, ".itv-query-label") == ["ein", "und", "zwanzig", "."]
    assert label_texts(view, ".itv-key-label") == TOKENS
    assert_clean(log)


def test_click_shows_weights(show):
    matrix = weights(6, 6)
    page, _ = show(attention_view(matrix, TOKENS).html)
    view = page.locator(".itv-view").first
    view.locator(".itv-query-label").nth(5).click()
    values = view.locator(".itv-value").all_text_contents()
    shown = [float(text) for text in values if text]
    assert shown == pytest.approx(np.round(matrix[5], 3).tolist(), abs=1e-9)
    visible = view.locator(".itv-line").evaluate_all(
        "(lines) => lines.filter((l) => l.style.display !== 'none').map((l) => l.getAttribute('data-query'))"
    )
    assert set(visible) == {"5"}


def test_key_click_shows_incoming_lines(show):
    page, _ = show(attention_view(weights(6, 6), TOKENS).html)
    view = page.locator(".itv-view").first
    view.locator(".itv-key-label").nth(1).click()
    visible = view.locator(".itv-line").evaluate_all(
        "(lines) => lines.filter((l) => l.style.display !== 'none').map((l) => l.getAttribute('data-key'))"
    )
    assert set(visible) == {"1"}


def test_hover_previews_then_restores(show):
    page, _ = show(attention_view(weights(6, 6), TOKENS).html)
    view = page.locator(".itv-view").first
    before = view_signature(view)
    view.locator(".itv-query-label").nth(2).hover()
    assert view_signature(view) != before
    page.mouse.move(1, 1)
    assert view_signature(view) == before


def test_keyboard_selects_token(show):
    page, _ = show(attention_view(weights(6, 6), TOKENS).html)
    view = page.locator(".itv-view").first
    label = view.locator(".itv-query-label").nth(3)
    label.focus()
    page.keyboard.press("Enter")
    assert label.get_attribute("aria-pressed") == "true"
    page.keyboard.press("Enter")
    assert label.get_attribute("aria-pressed") == "false"


def test_heatmap_row_highlight(show):
    page, _ = show(attention_view(weights(6, 6), TOKENS, mode="heatmap").html)
    view = page.locator(".itv-view").first
    view.locator(".itv-query-label").nth(0).click()
    opacities = view.locator(".itv-cell").evaluate_all(
        "(cells) => cells.map((c) => [c.getAttribute('data-query'), Number(c.getAttribute('fill-opacity'))])"
    )
    matrix = np.round(weights(6, 6), 3)
    first_row = [opacity for query, opacity in opacities if query == "0"]
    other_rows = [opacity for query, opacity in opacities if query != "0"]
    assert first_row == pytest.approx(matrix[0].tolist(), abs=1e-3)
    assert max(other_rows) <= 0.25 * matrix[1:].max() + 1e-3


def test_same_view_shown_twice(show):
    view = attention_view(weights(2, 6, 6), TOKENS)
    page, log = show(view.html, view.html)
    states = page.evaluate(VIEWS_STATE)
    assert len(states) == 2
    assert states[0]["id"] != states[1]["id"]
    assert [state["ready"] for state in states] == ["1", "1"]
    first, second = page.locator(".itv-view").nth(0), page.locator(".itv-view").nth(1)
    second_before = view_signature(second)
    first.locator("select.itv-select-head").select_option("1")
    assert first.get_attribute("data-head") == "1"
    assert view_signature(second) == second_before
    assert_clean(log)


def test_encoder_decoder_menu(show):
    torch.manual_seed(0)
    model = Transformer(TransformerConfig.tiny(30, 40)).eval()
    with torch.no_grad():
        _, attention = model(torch.tensor([[5, 6, 7, 8]]), torch.tensor([[1, 8, 9]]), return_attention=True)
    view = encoder_decoder_view(attention["encoder"], attention["decoder"], attention["cross"],
                                ["a", "b", "c", "d"], ["<s>", "x", "y"])
    page, log = show(view.html)
    root = page.locator(".itv-view").first
    assert label_texts(root, ".itv-query-label") == ["<s>", "x", "y"]
    assert label_texts(root, ".itv-key-label") == ["a", "b", "c", "d"]
    root.locator("select.itv-select-part").select_option("0")
    assert label_texts(root, ".itv-query-label") == ["a", "b", "c", "d"]
    # Decoder self-attention is causal: the first target token attends only to itself.
    root.locator("select.itv-select-part").select_option("1")
    root.locator(".itv-query-label").nth(0).click()
    keys = root.locator(".itv-line").evaluate_all(
        "(lines) => lines.filter((l) => l.style.display !== 'none').map((l) => l.getAttribute('data-key'))"
    )
    assert keys == ["0"]
    assert_clean(log)


def test_choice_menu_keeps_kind(show):
    torch.manual_seed(0)
    model = Transformer(TransformerConfig.tiny(30, 40)).eval()
    views = {}
    for name, src in (("short", [[5, 6]]), ("long", [[5, 6, 7, 8, 9]])):
        with torch.no_grad():
            _, attention = model(torch.tensor(src), torch.tensor([[1, 8]]), return_attention=True)
        views[name] = encoder_decoder_view(attention["encoder"], attention["decoder"], attention["cross"],
                                           [f"s{i}" for i in range(len(src[0]))], ["<s>", "x"])
    page, _ = show(choice_view(views, label="Sentence").html)
    root = page.locator(".itv-view").first
    assert root.get_attribute("data-part") == "2"  # cross-attention of the first entry
    root.locator("select.itv-select-choice").select_option("1")
    assert root.get_attribute("data-part") == "5"  # still cross-attention, of the second entry
    assert label_texts(root, ".itv-key-label") == ["s0", "s1", "s2", "s3", "s4"]


def test_long_token_cut_with_tooltip(show):
    long_token = "supercalifragilisticexpialidocious"
    page, _ = show(attention_view(weights(2, 2), [long_token, "b"]).html)
    label = page.locator(".itv-view .itv-query-label").first
    assert label.evaluate("(n) => n.firstChild.nodeValue") == long_token[:23] + "\u2026"
    assert label.locator("title").text_content() == long_token


def test_view_defines_no_globals(show, tmp_path):
    page, _ = show("<p>no view</p>")
    before = set(page.evaluate("() => Object.getOwnPropertyNames(window)"))
    second = tmp_path / "second"
    second.mkdir()
    attention_view(weights(2, 3, 6, 6), TOKENS, mode="grid").save(second / "index.html")
    page.goto(page.url.replace("index.html", "second/index.html"))
    assert page.locator('.itv-view[data-itv-ready="1"]').count() == 1
    after = set(page.evaluate("() => Object.getOwnPropertyNames(window)"))
    assert after - before == set()


def test_masked_rows_draw_no_lines(show):
    matrix = weights(6, 6)
    matrix[0] = 0.0  # a query whose keys are all masked gets all-zero weights
    page, log = show(attention_view(matrix, TOKENS).html)
    view = page.locator(".itv-view").first
    view.locator(".itv-query-label").nth(0).click()
    visible = view.locator(".itv-line").evaluate_all("(lines) => lines.filter((l) => l.style.display !== 'none').length")
    assert visible == 0
    assert set(view.locator(".itv-value").all_text_contents()) - {""} == {"0.000"}
    assert_clean(log)
