"""illustrated.widgets: inspectors (their live widget and their static version) and the bertviz adapter."""

from __future__ import annotations

import json
import re

import ipywidgets
import numpy as np
import pytest
import torch

import illustrated.widgets as inspectors
from illustrated.model import Transformer, TransformerConfig
from illustrated.reference import softmax
from illustrated.views import AttentionView, attention_view

SENTENCES = ["the animal was tired", "the street was wide too"]
IPYWIDGETS_MAJOR = int(ipywidgets.__version__.split(".")[0])


def embedded_json(fragment: str) -> dict:
    match = re.search(r'<script type="application/json" class="itv-data">(.*?)</script>', fragment, re.S)
    assert match, "the HTML holds no view data"
    return json.loads(match.group(1))


def uniform_attention(sentence: str):
    tokens = sentence.split()
    return np.full((len(tokens), len(tokens)), 1 / len(tokens)), tokens


@pytest.fixture
def displayed(monkeypatch):
    """Record what inspectors display instead of sending it to a front end."""
    shown = []
    monkeypatch.setattr(inspectors, "display", shown.append)
    return shown


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Transformer(TransformerConfig.tiny(30, 40))


def find_control(inspector, kind):
    return next(child for child in inspector.widget.children if isinstance(child, kind))


# ---- the Inspector's two versions -----------------------------------------------------------

def test_bundle_has_widget_and_html():
    inspector = inspectors.attention_inspector(uniform_attention, SENTENCES)
    bundle = inspector._repr_mimebundle_()
    assert bundle[inspectors.WIDGET_VIEW_MIMETYPE]["model_id"] == inspector.widget.model_id
    assert bundle[inspectors.WIDGET_VIEW_MIMETYPE]["version_major"] == 2
    assert 'class="itv-view ' in bundle["text/html"]
    assert bundle["text/plain"].startswith("Inspector(")


def test_widget_bundle_matches_ipywidgets():
    inspector = inspectors.attention_inspector(uniform_attention, SENTENCES)
    if IPYWIDGETS_MAJOR >= 8:
        expected = inspector.widget._repr_mimebundle_()[inspectors.WIDGET_VIEW_MIMETYPE]
    else:  # ipywidgets 7 writes the same dictionary from _ipython_display_
        expected = {"version_major": 2, "version_minor": 0, "model_id": inspector.widget._model_id}
    assert inspector._repr_mimebundle_()[inspectors.WIDGET_VIEW_MIMETYPE] == expected


def test_static_version_has_every_choice():
    inspector = inspectors.attention_inspector(uniform_attention, SENTENCES, label="Sentence", mode="heatmap")
    data = embedded_json(inspector._repr_mimebundle_()["text/html"])
    assert data["choices"] == {"label": "Sentence", "names": SENTENCES}
    assert [part["keys"] for part in data["parts"]] == [s.split() for s in SENTENCES]
    assert data["style"] == "heatmap"


def test_static_version_caps_choices():
    choices = [f"word{i} other" for i in range(inspectors.MAX_STATIC_CHOICES + 3)]
    data = embedded_json(inspectors.attention_inspector(uniform_attention, choices).static_view.html)
    assert len(data["choices"]["names"]) == inspectors.MAX_STATIC_CHOICES
    assert data["choices"]["label"] == f"Sentence (first {inspectors.MAX_STATIC_CHOICES} of {len(choices)})"


# ---- recomputing in a live kernel -------------------------------------------------------------

def test_menu_change_recomputes(displayed):
    calls = []

    def compute(sentence):
        calls.append(sentence)
        return uniform_attention(sentence)

    inspector = inspectors.attention_inspector(compute, SENTENCES)
    calls.clear()
    displayed.clear()
    find_control(inspector, ipywidgets.Dropdown).value = SENTENCES[1]
    assert calls == [SENTENCES[1]]
    assert len(displayed) == 1
    assert embedded_json(displayed[0].html)["parts"][0]["keys"] == SENTENCES[1].split()


def test_text_box_recomputes(displayed):
    inspector = inspectors.attention_inspector(uniform_attention, "a b c")
    text = find_control(inspector, ipywidgets.Text)
    assert text.continuous_update is False
    displayed.clear()
    text.value = "x y"
    assert embedded_json(displayed[-1].html)["parts"][0]["keys"] == ["x", "y"]


def test_bad_input_shows_error(displayed):
    vocabulary = {"a": 0, "b": 1}

    def compute(sentence):
        ids = [vocabulary[word] for word in sentence.split()]  # KeyError for an unknown word
        return np.full((len(ids), len(ids)), 1 / len(ids)), sentence.split()

    inspector = inspectors.attention_inspector(compute, "a b")
    displayed.clear()
    find_control(inspector, ipywidgets.Text).value = "a zebra"
    assert len(displayed) == 1
    assert "KeyError" in displayed[0].data
    assert "zebra" in displayed[0].data


def test_first_input_error_raises():
    with pytest.raises(KeyError):
        inspectors.attention_inspector(lambda sentence: {}[sentence], ["a b"])


def test_unknown_value_rejected():
    with pytest.raises(ValueError, match="value='c' is not one of the choices"):
        inspectors.attention_inspector(uniform_attention, ["a b"], value="c")


def test_compute_result_type_checked():
    with pytest.raises(TypeError, match="must return an AttentionView"):
        inspectors.attention_inspector(lambda sentence: np.eye(2), ["a b"])


# ---- the temperature inspector --------------------------------------------------------------

def test_temperature_slider_recomputes(displayed):
    scores = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, -np.inf]])
    inspector = inspectors.temperature_inspector(scores, ["a", "b", "c"], ["q1", "q2"])
    slider = find_control(inspector, ipywidgets.FloatLogSlider)
    assert slider.value == pytest.approx(1.0)
    displayed.clear()
    slider.value = 0.5
    part = embedded_json(displayed[-1].html)["parts"][0]
    expected = np.rint(softmax(scores / 0.5) * 1000).astype(int).ravel().tolist()
    assert part["weights"] == expected


def test_temperature_static_menu():
    inspector = inspectors.temperature_inspector(np.zeros((2, 2)), ["a", "b"], temperature=3.0,
                                                 static_temperatures=(0.5, 2.0))
    data = embedded_json(inspector.static_view.html)
    assert data["choices"]["names"] == ["T = 0.5", "T = 2", "T = 3"]
    assert data["part"] == 2


def test_temperature_range_checked():
    with pytest.raises(ValueError, match="min_temperature <= temperature"):
        inspectors.temperature_inspector(np.zeros((2, 2)), ["a", "b"], temperature=20.0)


def test_temperature_nan_scores_rejected():
    with pytest.raises(ValueError, match="NaN"):
        inspectors.temperature_inspector(np.array([[np.nan, 0.0]]), ["a", "b"], ["q"])


# ---- the model ------------------------------------------------------------------------------

def test_model_attention_shapes(model):
    attention = inspectors.model_attention(model, [5, 6, 7, 8, 9], torch.tensor([[1, 8, 9, 10]]))
    config = model.config
    assert attention["encoder"].shape == (config.num_layers, config.num_heads, 5, 5)
    assert attention["decoder"].shape == (config.num_decoder_layers or config.num_layers, config.num_heads, 4, 4)
    assert attention["cross"].shape == (config.num_decoder_layers or config.num_layers, config.num_heads, 4, 5)
    np.testing.assert_allclose(attention["cross"].sum(-1), 1.0, atol=1e-5)


def test_model_attention_restores_training(model):
    model.train()
    inspectors.model_attention(model, [5, 6], [1, 8])
    assert model.training
    model.eval()


def test_model_attention_rejects_batch(model):
    with pytest.raises(ValueError, match=r"one sentence.*\(2, 3\)"):
        inspectors.model_attention(model, torch.ones(2, 3, dtype=torch.long), [1, 2])


def test_model_inspector_static_parts(model):
    examples = {
        "first": ([5, 6, 7], [1, 8], ["a", "b", "c"], ["<s>", "x"]),
        "second": ([5, 6], [1, 8, 9], ["a", "b"], ["<s>", "x", "y"]),
    }
    inspector = inspectors.model_inspector(model, examples)
    data = embedded_json(inspector.static_view.html)
    assert [part["choice"] for part in data["parts"]] == [0, 0, 0, 1, 1, 1]
    assert data["parts"][data["part"]]["name"] == "cross-attention"
    assert data["parts"][5]["queries"] == ["<s>", "x", "y"]


def test_model_inspector_checks_examples(model):
    with pytest.raises(ValueError, match=r"examples\['bad'\] must be"):
        inspectors.model_inspector(model, {"bad": ([5], [1])})


# ---- bertviz --------------------------------------------------------------------------------

def test_bertviz_attention_format():
    layers = inspectors.bertviz_attention(softmax(np.zeros((2, 3, 4, 5))))
    assert isinstance(layers, tuple)
    assert len(layers) == 2
    assert layers[0].shape == (1, 3, 4, 5)
    assert layers[0].dtype == torch.float32


def bertviz_params(page: str) -> dict:
    """Return the JSON that bertviz's page script draws from (its ``const params = {...}``)."""
    start = page.index("const params = ") + len("const params = ")
    params, _ = json.JSONDecoder().raw_decode(page[start:])
    return params


@pytest.mark.parametrize("view", ["head", "model"])
def test_show_bertviz_feeds_three_attentions(model, view):
    pytest.importorskip("bertviz")
    page = inspectors.show_bertviz(model, [5, 6, 7], [1, 8], ["a", "b", "c"], ["<s>", "x"], view=view,
                                   html_action="return").data
    attention = {entry["name"]: entry for entry in bertviz_params(page)["attention"]}
    assert list(attention) == ["Encoder", "Decoder", "Cross"]
    assert attention["Cross"]["left_text"] == ["<s>", "x"]
    assert attention["Cross"]["right_text"] == ["a", "b", "c"]
    assert len(attention["Encoder"]["attn"]) == model.config.num_layers
    assert len(attention["Encoder"]["attn"][0]) == model.config.num_heads


def test_show_bertviz_loads_from_cdn(model):
    pytest.importorskip("bertviz")
    page = inspectors.show_bertviz(model, [5, 6], [1, 8], ["a", "b"], ["<s>", "x"], html_action="return").data
    # The reason its output stays off the web book: bertviz 1.4.1 loads its scripts from cdnjs.
    assert "https://cdnjs.cloudflare.com/ajax/libs/require.js" in page


def test_show_bertviz_token_count_checked(model):
    with pytest.raises(ValueError, match="src_ids has 3 ids but src_tokens has 2"):
        inspectors.show_bertviz(model, [5, 6, 7], [1, 8], ["a", "b"], ["<s>", "x"])


def test_show_bertviz_view_checked(model):
    with pytest.raises(ValueError, match="choose 'head' or 'model'"):
        inspectors.show_bertviz(model, [5], [1], ["a"], ["<s>"], view="neuron")


def test_inspector_views_are_attention_views():
    assert isinstance(inspectors.attention_inspector(uniform_attention, SENTENCES).static_view, AttentionView)
    assert isinstance(attention_view(np.eye(2), ["a", "b"]), AttentionView)


def test_load_require_first_rewrites_bertviz(model):
    pytest.importorskip("bertviz")
    page = inspectors.show_bertviz(model, [5, 6], [1, 8], ["a", "b"], ["<s>", "x"], html_action="return").data
    assert page.count("<script") == 1  # require.js is no longer a tag of its own
    assert 'loader.src = "https://cdnjs.cloudflare.com/ajax/libs/require.js/2.3.6/require.min.js"' in page
    assert list(entry["name"] for entry in bertviz_params(page)["attention"]) == ["Encoder", "Decoder", "Cross"]


def test_load_require_first_keeps_other_pages():
    page = '<div>no require.js here</div><script type="text/javascript">draw();</script>'
    assert inspectors.load_require_first(page) == page


def test_show_bertviz_html_action_checked(model):
    with pytest.raises(ValueError, match="html_action='file' is invalid"):
        inspectors.show_bertviz(model, [5], [1], ["a"], ["<s>"], html_action="file")
