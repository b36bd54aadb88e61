"""The built book in headless Chromium: every page offline and without errors, every attention view working.

Each page of ``_toc.yml`` is served from 127.0.0.1. A page passes when it sends no request to
another host and logs no console error. Every attention view on it must also have drawn one label
per token, and its drawing must change when a token is clicked or another head is chosen. The gallery page
(book/views_gallery) adds the checks that need a known set of views: every mode, two views side by
side, HTML in tokens, the static image, the dark theme and sideways scrolling. Screenshots go to
``_build/screenshots/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from browser_tools import (
    CONTRAST_RATIOS,
    ROOT,
    VIEWS_STATE,
    check_view_responds,
    label_texts,
    launch,
    shorten,
    view_signature,
    watch,
)

pytestmark = pytest.mark.browser

GALLERY = "book/views_gallery.html"
STICKY_HEADERS_HIDDEN = ".bd-header, .bd-header-article, .skip-link { visibility: hidden !important; }"
HTML_TOKENS = ["<script>x(1)</script>", '"quoted"', "a & b", "</div>", "<b>bold</b>"]


def toc_pages() -> list[str]:
    """Return the HTML path of every page in _toc.yml, in the book's order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return [f"{Path(name).with_suffix('')}.html" for name in files]


def slug(page_path: str) -> str:
    return page_path.removesuffix(".html").replace("/", "-")


# ---- every page ---------------------------------------------------------------------------------

@pytest.mark.parametrize("page_path", toc_pages())
def test_page_offline_and_working(page_path, book_html, book_url, open_page, screenshot_dir):
    assert (book_html / page_path).exists(), f"{page_path} was not built"
    page, log = open_page(f"{book_url}/{page_path}")

    assert log.outside_requests == [], f"{page_path} requested other hosts: {log.outside_requests}"
    assert log.page_errors == [], f"{page_path} raised in the browser: {log.page_errors}"
    assert log.unexpected_console_errors() == [], f"{page_path} logged console errors: {log.console_errors}"
    bare_widgets = page.locator('script[type="application/vnd.jupyter.widget-view+json"]').count()
    assert bare_widgets == 0, (
        f"{page_path} shows {bare_widgets} bare ipywidgets, which draw nothing on a static page; "
        "wrap them with illustrated.widgets or tag their cell remove-output"
    )

    views = page.evaluate(VIEWS_STATE)
    for index, state in enumerate(views):
        name = f"{page_path} view {index}"
        assert state["ready"] == "1", f"{name} did not draw: {state}"
        assert state["staticHidden"], f"{name} still shows its static image although scripts ran"
        assert len(state["queryLabels"]) == state["queries"], f"{name}: one label per query expected: {state}"
        assert len(state["keyLabels"]) == state["keys"], f"{name}: one label per key expected: {state}"
        check_view_responds(page.locator(".itv-view").nth(index), name)
    if views:
        page.screenshot(path=str(screenshot_dir / f"{slug(page_path)}.png"), full_page=True)


def test_pages_use_local_mathjax(book_html):
    for page_path in toc_pages():
        text = (book_html / page_path).read_text(encoding="utf-8")
        if "mathjax" in text.lower():
            assert "_static/mathjax/tex-chtml.js" in text, f"{page_path} loads MathJax from elsewhere"
    assert (book_html / "_static" / "mathjax" / "tex-chtml.js").exists()


# ---- the gallery: every kind of view, in known places ----------------------------------------

@pytest.fixture
def gallery(book_url, open_page):
    page, log = open_page(f"{book_url}/{GALLERY}")
    return page, log


def find_view(page, predicate_js: str):
    """Return the locator of the first view whose state satisfies a JavaScript predicate."""
    index = page.evaluate(f"() => ({VIEWS_STATE})().findIndex({predicate_js})")
    assert index >= 0, f"no view on the page matches {predicate_js}"
    return page.locator(".itv-view").nth(index)


def test_gallery_has_every_kind(gallery, screenshot_dir):
    page, _ = gallery
    views = page.evaluate(VIEWS_STATE)
    kinds = {
        "lines": [v for v in views if v["style"] == "lines" and v["overview"] == "none" and v["parts"] == 1],
        "heatmap": [v for v in views if v["style"] == "heatmap" and v["overview"] == "none"],
        "heads": [v for v in views if v["overview"] == "heads" and v["parts"] == 1],
        "grid": [v for v in views if v["overview"] == "grid"],
        "encoder-decoder": [v for v in views if v["parts"] == 3 and v["choices"] == 0],
        "inspector": [v for v in views if v["choices"] > 1],
    }
    for kind, matching in kinds.items():
        assert matching, f"the gallery has no {kind} view: {views}"
        locator = page.locator(f"#{matching[0]['id']}")
        locator.scroll_into_view_if_needed()
        # Hide the theme's sticky headers, which would otherwise cover views taller than the window.
        locator.screenshot(path=str(screenshot_dir / f"view-{kind}.png"), style=STICKY_HEADERS_HIDDEN)


def test_gallery_grid_thumbnails(gallery):
    page, _ = gallery
    grid = find_view(page, '(v) => v.overview === "grid"')
    layers, heads = 6, 8
    assert grid.locator(".itv-thumb canvas").count() == layers * heads
    grid.locator('.itv-thumb[data-layer="3"][data-head="5"]').click()
    assert grid.get_attribute("data-layer") == "3"
    assert grid.get_attribute("data-head") == "5"
    assert grid.locator('.itv-thumb[aria-pressed="true"]').get_attribute("data-head") == "5"


def test_gallery_heads_thumbnail_selects_head(gallery):
    page, _ = gallery
    view = find_view(page, '(v) => v.overview === "heads" && v.parts === 1')
    before = view_signature(view)
    view.locator('.itv-thumb[data-head="3"]').click()
    assert view.get_attribute("data-head") == "3"
    assert view_signature(view) != before


def test_gallery_two_views_independent(gallery):
    page, _ = gallery
    first, second = page.locator(".itv-view").nth(0), page.locator(".itv-view").nth(1)
    second_before = view_signature(second)
    first.locator(".itv-key-label").nth(1).click()
    assert view_signature(second) == second_before, "clicking in one view changed another"
    first_before = view_signature(first)
    second.locator(".itv-query-label").nth(2).click()
    assert view_signature(second) != second_before
    assert view_signature(first) == first_before


def test_gallery_tokens_escaped(gallery):
    page, log = gallery
    view = find_view(page, '(v) => v.title === "Tokens <b>with</b> HTML"')
    assert label_texts(view, ".itv-query-label") == [shorten(t) for t in HTML_TOKENS]
    assert label_texts(view, ".itv-key-label") == [shorten(t) for t in HTML_TOKENS]
    # Had a token been parsed as HTML, the view would contain <b> or extra <script> elements.
    assert view.locator("b").count() == 0
    assert view.locator("script").count() == 2
    assert log.page_errors == []


def test_gallery_attention_menu(gallery):
    page, _ = gallery
    view = find_view(page, "(v) => v.parts === 3 && v.choices === 0")
    state = json.loads(view.evaluate('(v) => v.querySelector("script.itv-data").textContent'))
    decoder = state["parts"][1]
    view.locator("select.itv-select-part").select_option("1")
    assert label_texts(view, ".itv-query-label") == [shorten(t) for t in decoder["queries"]]
    assert label_texts(view, ".itv-key-label") == [shorten(t) for t in decoder["keys"]]


def test_gallery_choice_menu(gallery):
    page, _ = gallery
    view = find_view(page, '(v) => v.choices > 1 && v.title && v.title.startsWith("softmax")')
    before = view_signature(view)
    menu = view.locator("select.itv-select-choice")
    menu.select_option(index=0)
    assert view_signature(view) != before, "choosing another temperature did not change the drawing"
    assert view.locator(".itv-title").text_content() != "softmax(scores / T) at T = 1.00"


def test_gallery_static_image_without_scripts(playwright_session, chromium_path, book_url, screenshot_dir):
    context, _ = launch(playwright_session, chromium_path, java_script_enabled=False)
    try:
        page = context.new_page()
        log = watch(page)
        page.goto(f"{book_url}/{GALLERY}", wait_until="load")
        images = page.locator(".itv-static img")
        assert images.count() == page.locator(".itv-view").count()
        for index in range(images.count()):
            image = images.nth(index)
            assert image.is_visible()
            # Every static image is wider than its caption line (about 450 px), so a narrow one is broken.
            complete, width, height = image.evaluate("(img) => [img.complete, img.naturalWidth, img.naturalHeight]")
            assert complete, f"static image {index} did not load"
            assert width >= 200, f"static image {index} is {width} px wide, narrower than its caption"
            assert height >= 50, f"static image {index} is {height} px high"
        assert log.outside_requests == []
        page.screenshot(path=str(screenshot_dir / "views_gallery-without-scripts.png"), full_page=True)
    finally:
        context.close()


def test_gallery_dark_theme(playwright_session, chromium_path, book_url, screenshot_dir):
    context, _ = launch(playwright_session, chromium_path, color_scheme="dark")
    try:
        page = context.new_page()
        log = watch(page)
        page.goto(f"{book_url}/{GALLERY}", wait_until="load")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
        # The theme draws HTML outputs on a light card in dark mode; whatever the card, labels must contrast.
        ratios = page.evaluate(CONTRAST_RATIOS)
        assert ratios, "no view labels found"
        assert min(ratios) >= 4.5, f"label contrast ratios {ratios} fall below 4.5:1 in the dark theme"
        assert log.unexpected_console_errors() == []
        page.screenshot(path=str(screenshot_dir / "views_gallery-dark.png"), full_page=True)
    finally:
        context.close()


def test_gallery_wide_view_scrolls(book_url, open_page, browser_context):
    page, _ = open_page(f"{book_url}/{GALLERY}")
    page.set_viewport_size({"width": 480, "height": 900})
    grid = find_view(page, '(v) => v.overview === "grid"')
    box = grid.locator(".itv-scroll")
    scroll_width, client_width = box.evaluate("(n) => [n.scrollWidth, n.clientWidth]")
    assert scroll_width > client_width, "the grid fits in 480 px, so this test checks nothing"
    page_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert page_width <= 480, f"the page widened to {page_width} px instead of scrolling the view"
