"""illustrated.views without a browser: accepted shapes, input checks, escaping, size and the static image."""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
import torch

from illustrated.model import Transformer, TransformerConfig
from illustrated.reference import softmax
from illustrated.views import AttentionView, attention_view, choice_view, encoder_decoder_view

TOKENS = ["the", "animal", "was", "tired", "it"]
HTML_TOKENS = ["<script>x(1)</script>", '"quoted"', "a & b", "</div>", "<b>bold</b>"]


def random_weights(*shape, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return softmax(rng.normal(size=shape) * 2.0, axis=-1)


def embedded_json(fragment: str) -> dict:
    match = re.search(r'<script type="application/json" class="itv-data">(.*?)</script>', fragment, re.S)
    assert match, "the view holds no JSON data element"
    return json.loads(match.group(1))


def static_svg(fragment: str) -> ElementTree.Element:
    match = re.search(r'src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)"', fragment)
    assert match, "the view holds no static SVG image"
    return ElementTree.fromstring(base64.b64decode(match.group(1)))


def svg_texts(svg: ElementTree.Element) -> list[str]:
    return [element.text for element in svg.iter("{http://www.w3.org/2000/svg}text")]


# ---- accepted shapes ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "shape, layers, heads",
    [
        ((5, 5), 1, 1),
        ((1, 5, 5), 1, 1),
        ((3, 5, 5), 1, 3),
        ((2, 3, 5, 5), 2, 3),
        ((1, 2, 3, 5, 5), 2, 3),
    ],
)
def test_shapes_accepted(shape, layers, heads):
    data = embedded_json(attention_view(random_weights(*shape), TOKENS).html)
    part = data["parts"][0]
    assert (part["layers"], part["heads"]) == (layers, heads)
    assert len(part["weights"]) == layers * heads * 25


def test_torch_tensor_and_layer_list():
    weights = torch.tensor(random_weights(2, 4, 5, 5), dtype=torch.bfloat16)
    from_tensor = embedded_json(attention_view(weights, TOKENS).html)["parts"][0]
    from_list = embedded_json(attention_view([layer[None] for layer in weights], TOKENS).html)["parts"][0]
    assert from_tensor["weights"] == from_list["weights"]
    assert (from_list["layers"], from_list["heads"]) == (2, 4)


def test_weights_rounded_to_thousandths():
    weights = np.array([[0.12345, 0.87655], [0.0004, 0.9996]])
    part = embedded_json(attention_view(weights, ["a", "b"]).html)["parts"][0]
    assert part["weights"] == [123, 877, 0, 1000]


def test_cross_attention_tokens_differ():
    weights = random_weights(4, 6)
    view = attention_view(weights, ["k1", "k2", "k3", "k4", "k5", "k6"], ["q1", "q2", "q3", "q4"])
    part = embedded_json(view.html)["parts"][0]
    assert part["queries"] == ["q1", "q2", "q3", "q4"]
    assert len(part["keys"]) == 6


def test_negative_layer_and_head():
    view = attention_view(random_weights(3, 4, 5, 5), TOKENS, layer=-1, head=-2)
    assert (view.layer, view.head) == (2, 2)


def test_query_by_token():
    assert attention_view(random_weights(5, 5), TOKENS, query="it").query == 4
    assert attention_view(random_weights(5, 5), TOKENS, query=1).query == 1


# ---- input checks ---------------------------------------------------------------------------

def test_key_count_mismatch_names_both():
    with pytest.raises(ValueError, match=r"5 keys.*4 tokens"):
        attention_view(random_weights(5, 5), TOKENS[:4])


def test_query_count_mismatch_names_both():
    with pytest.raises(ValueError, match=r"3 queries.*query_tokens has 2 tokens"):
        attention_view(random_weights(3, 5), TOKENS, ["a", "b"])


def test_batch_larger_than_one_rejected():
    with pytest.raises(ValueError, match=r"batch of 2"):
        attention_view(random_weights(2, 1, 4, 5, 5), TOKENS)
    with pytest.raises(ValueError, match=r"batch of 2.*w\[i:i \+ 1\]"):
        attention_view([random_weights(2, 4, 5, 5)], TOKENS)


def test_raw_scores_rejected():
    scores = np.random.default_rng(0).normal(size=(5, 5)) * 3
    with pytest.raises(ValueError, match=r"\[0, 1\].*softmax"):
        attention_view(scores, TOKENS)


def test_nan_rejected():
    weights = random_weights(5, 5)
    weights[2, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        attention_view(weights, TOKENS)


def test_string_tokens_rejected():
    with pytest.raises(TypeError, match=r"split it first"):
        attention_view(random_weights(5, 5), "the animal was tired it")


@pytest.mark.parametrize("shape", [(5,), (1, 1, 1, 1, 1, 5)])
def test_wrong_rank_rejected(shape):
    with pytest.raises(ValueError, match="expected \\(queries, keys\\)"):
        attention_view(np.full(shape, 0.2), TOKENS)


def test_layers_of_different_shape_rejected():
    with pytest.raises(ValueError, match="differ in shape"):
        attention_view([random_weights(1, 2, 5, 5), random_weights(1, 3, 5, 5)], TOKENS)


def test_unknown_mode_rejected():
    with pytest.raises(ValueError, match="lines, heatmap, heads, grid"):
        attention_view(random_weights(5, 5), TOKENS, mode="arcs")


def test_head_out_of_range():
    with pytest.raises(ValueError, match=r"head=4 is out of range.*4 heads"):
        attention_view(random_weights(4, 5, 5), TOKENS, head=4)


def test_unknown_query_token():
    with pytest.raises(ValueError, match="'dog' is not one of the query tokens"):
        attention_view(random_weights(5, 5), TOKENS, query="dog")


# ---- the HTML -------------------------------------------------------------------------------

def test_html_tokens_escaped():
    fragment = attention_view(random_weights(5, 5), HTML_TOKENS, title="<i>title</i>").html
    # Only the view's own two script elements open, and no token closes the JSON element early.
    assert fragment.count("<script") == 2
    assert "x(1)</script>" not in fragment
    assert "</div>\"" not in fragment
    assert "<b>bold" not in fragment
    data = embedded_json(fragment)
    assert data["parts"][0]["keys"] == HTML_TOKENS
    assert data["title"] == "<i>title</i>"


def test_static_image_escapes_tokens():
    svg = static_svg(attention_view(random_weights(5, 5), HTML_TOKENS).html)
    texts = svg_texts(svg)
    for token in HTML_TOKENS:
        assert texts.count(token) == 2, f"{token!r} should label one query and one key"


def test_static_image_one_label_per_token():
    view = attention_view(random_weights(4, 6), list("abcdef"), list("wxyz"), mode="heatmap")
    texts = svg_texts(static_svg(view.html))
    assert len(texts) == 1 + 4 + 6  # the caption, the queries, the keys


@pytest.mark.parametrize("mode", ["lines", "heatmap"])
@pytest.mark.parametrize("query", [None, 2])
def test_static_image_fits_labels(mode, query):
    view = attention_view(random_weights(5, 5), TOKENS, mode=mode, query=query)
    svg = static_svg(view.html)
    width, height = float(svg.get("width")), float(svg.get("height"))
    for element in svg.iter("{http://www.w3.org/2000/svg}text"):
        assert 0 <= float(element.get("x")) < width, f"{element.text!r} lies outside the image width {width}"
        assert 0 <= float(element.get("y")) < height, f"{element.text!r} lies outside the image height {height}"


def test_static_image_shows_selected_query():
    weights = random_weights(5, 5)
    all_lines = static_svg(attention_view(weights, TOKENS).html)
    one_query = static_svg(attention_view(weights, TOKENS, query="it").html)
    count = lambda svg: len(list(svg.iter("{http://www.w3.org/2000/svg}line")))  # noqa: E731
    assert count(one_query) == int((weights[4] >= 0.005).sum())
    assert count(all_lines) > count(one_query)


def test_each_display_gets_new_id():
    view = attention_view(random_weights(5, 5), TOKENS)
    ids = {re.search(r'id="(itv-[0-9a-f]+)"', view.html).group(1) for _ in range(3)}
    assert len(ids) == 3


def test_script_called_with_its_root_id():
    fragment = attention_view(random_weights(5, 5), TOKENS)._repr_html_()
    view_id = re.search(r'id="(itv-[0-9a-f]+)"', fragment).group(1)
    assert fragment.rstrip().endswith(f'("{view_id}");</script></div>')


def test_no_outside_urls():
    fragment = attention_view(random_weights(2, 2, 5, 5), TOKENS, mode="grid").html
    assert "http://" not in fragment.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in fragment
    assert "require(" not in fragment


def test_size_of_six_layers_eight_heads():
    weights = random_weights(6, 8, 20, 20)
    tokens = [f"token{i}" for i in range(20)]
    for mode in ("lines", "heatmap", "grid"):
        size = len(attention_view(weights, tokens, mode=mode).html.encode("utf-8"))
        assert size < 300_000, f"mode {mode}: {size} bytes"


def test_save_writes_page(tmp_path):
    path = attention_view(random_weights(5, 5), TOKENS, title="it -> animal").save(tmp_path / "view.html")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<title>it -&gt; animal</title>" in text


def test_repr_names_shape():
    assert repr(attention_view(random_weights(2, 3, 5, 5), TOKENS, mode="grid")) == (
        "AttentionView(mode='grid', attention: 2x3x5x5)"
    )


# ---- encoder-decoder and menus ----------------------------------------------------------------

@pytest.fixture(scope="module")
def model_attention():
    torch.manual_seed(0)
    model = Transformer(TransformerConfig.tiny(30, 40)).eval()
    with torch.no_grad():
        _, attention = model(torch.tensor([[5, 6, 7, 8, 9]]), torch.tensor([[1, 8, 9, 10]]), return_attention=True)
    return attention


def test_encoder_decoder_parts(model_attention):
    view = encoder_decoder_view(model_attention["encoder"], model_attention["decoder"], model_attention["cross"],
                                list("abcde"), ["<s>", "x", "y", "z"])
    data = embedded_json(view.html)
    names = [part["name"] for part in data["parts"]]
    assert names == ["encoder self-attention", "decoder self-attention", "cross-attention"]
    assert data["part"] == 2
    cross = data["parts"][2]
    assert (len(cross["queries"]), len(cross["keys"])) == (4, 5)


def test_encoder_decoder_mismatch_names_argument(model_attention):
    with pytest.raises(ValueError, match=r"cross has 5 keys.*src_tokens has 4 tokens"):
        encoder_decoder_view(random_weights(2, 4, 4, 4), model_attention["decoder"], model_attention["cross"],
                             list("abcd"), ["<s>", "x", "y", "z"])


def test_decoder_mismatch_names_argument(model_attention):
    with pytest.raises(ValueError, match=r"decoder has 4 queries.*tgt_tokens has 3 tokens"):
        encoder_decoder_view(model_attention["encoder"], model_attention["decoder"], model_attention["cross"],
                             list("abcde"), ["<s>", "x", "y"])


def test_choice_view_keeps_every_part(model_attention):
    one = attention_view(random_weights(5, 5), TOKENS)
    pair = encoder_decoder_view(model_attention["encoder"], model_attention["decoder"], model_attention["cross"],
                                list("abcde"), ["<s>", "x", "y", "z"])
    combined = choice_view({"one": one, "pair": pair}, label="Example", selected="pair")
    data = embedded_json(combined.html)
    assert [part["choice"] for part in data["parts"]] == [0, 1, 1, 1]
    assert data["choices"] == {"label": "Example", "names": ["one", "pair"]}
    assert data["part"] == 3  # the pair's cross-attention, which it shows first


def test_choice_view_rejects_nesting():
    inner = choice_view({"a": attention_view(random_weights(5, 5), TOKENS)})
    with pytest.raises(ValueError, match="menus do not nest"):
        choice_view({"outer": inner})


def test_choice_view_unknown_selection():
    with pytest.raises(ValueError, match="selected='c'"):
        choice_view({"a": attention_view(random_weights(5, 5), TOKENS)}, selected="c")


def test_view_is_attention_view():
    assert isinstance(attention_view(random_weights(5, 5), TOKENS), AttentionView)


def test_large_view_warns():
    weights = np.full((8, 200, 200), 1 / 200)
    with pytest.warns(UserWarning, match=r"MB of HTML; show fewer layers"):
        attention_view(weights, [f"t{i}" for i in range(200)]).html


def test_script_asset_cannot_close_its_element():
    from illustrated.views import _asset

    assert "</script" not in _asset("attention_view.js").lower()
    assert "</style" not in _asset("attention_view.css").lower()
