"""The figures of chapters 7 to 10: each draws from valid input and rejects bad input with a clear message."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from illustrated import plots
from illustrated.data import translate_number
from illustrated.reference import positional_encoding
from illustrated.train import TrainingHistory


def test_positional_encoding_heatmap_both_layouts():
    table = positional_encoding(20, 512)
    for layout in ("interleaved", "halves"):
        figure = plots.positional_encoding_heatmap(table, layout=layout, title=layout)
        assert isinstance(figure, Figure)
        image = figure.axes[0].images[0].get_array()
        assert image.shape == (20, 512)
    halves = plots.positional_encoding_heatmap(table, layout="halves").axes[0].images[0].get_array()
    assert np.allclose(halves[:, :256], table[:, 0::2]), "the left half must hold the sines"
    assert np.allclose(halves[:, 256:], table[:, 1::2]), "the right half must hold the cosines"


def test_positional_encoding_heatmap_rejects_layout():
    with pytest.raises(ValueError, match="interleaved"):
        plots.positional_encoding_heatmap(positional_encoding(4, 8), layout="sideways")


def test_positional_encoding_layouts_two_panels():
    figure = plots.positional_encoding_layouts(positional_encoding(20, 64))
    assert len([ax for ax in figure.axes if ax.images]) == 2


def test_encoding_waves_checks_dimensions():
    table = positional_encoding(30, 16)
    assert isinstance(plots.encoding_waves(table, [0, 1, 8]), Figure)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        plots.encoding_waves(table, [16])


def test_shift_rotation_checks_range():
    table = positional_encoding(10, 8)
    assert isinstance(plots.shift_rotation(table, [0, 1], start=2, shift=3), Figure)
    with pytest.raises(ValueError, match="positions"):
        plots.shift_rotation(table, [0], start=8, shift=3)
    with pytest.raises(ValueError, match="2i \\+ 1 < d_model"):
        plots.shift_rotation(table, [4])


@pytest.mark.parametrize("kind", ["encoder", "decoder"])
@pytest.mark.parametrize("norm_first", [False, True])
def test_block_diagram_names_every_box(kind, norm_first):
    figure = plots.block_diagram(kind, norm_first=norm_first)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert "feed-forward" in texts
    if kind == "decoder":
        assert "encoder-decoder attention" in texts
    norm_label = "LayerNorm" if norm_first else "Add & LayerNorm"
    assert texts.count(norm_label) == (3 if kind == "decoder" else 2)


def test_block_diagram_rejects_kind():
    with pytest.raises(ValueError, match="encoder' or 'decoder"):
        plots.block_diagram("middle")


def test_series_chart_checks_lengths():
    assert isinstance(plots.series_chart({"a": [1, 2, 3], "b": [3, 2, 1]}, xlabel="layer"), Figure)
    with pytest.raises(ValueError, match="same length"):
        plots.series_chart({"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(ValueError, match="non-empty"):
        plots.series_chart({})


def test_decoding_step_highlights_choice():
    probabilities = np.array([0.05, 0.6, 0.3, 0.05])
    figure = plots.decoding_step(["<bos>"], probabilities, ["a", "b", "c", "d"], source_tokens=["x", "y"], top_k=3)
    bars = figure.axes[1].patches
    assert len(bars) == 3
    assert bars[0].get_width() == pytest.approx(0.6)


def test_decoding_step_rejects_non_distribution():
    with pytest.raises(ValueError, match="distribution"):
        plots.decoding_step(["<bos>"], np.array([0.5, 0.7]), ["a", "b"])
    with pytest.raises(ValueError, match="at least <bos>"):
        plots.decoding_step([], np.array([0.5, 0.5]), ["a", "b"])


def test_smoothed_target_values():
    figure = plots.smoothed_target(["a", "b", "c", "d"], gold=2, epsilon=0.2)
    heights = [bar.get_height() for bar in figure.axes[1].patches]
    assert heights == pytest.approx([0.05, 0.05, 0.85, 0.05])
    with pytest.raises(ValueError, match="gold"):
        plots.smoothed_target(["a"], gold=3, epsilon=0.1)


def test_learning_rate_curves_marks_peak():
    steps = np.arange(1, 101)
    rates = np.minimum(steps ** -0.5, steps * 20 ** -1.5)
    figure = plots.learning_rate_curves({"warm-up 20": (steps, rates)})
    assert any("peak at step 20" in text.get_text() for text in figure.axes[0].texts)
    with pytest.raises(ValueError, match="steps but"):
        plots.learning_rate_curves({"bad": (steps, rates[:-1])})


def test_training_curves_needs_steps():
    history = TrainingHistory(step=[1, 2, 3], loss=[3.0, 2.0, 1.5], token_accuracy=[0.1, 0.5, 0.7],
                              learning_rate=[0.1, 0.2, 0.3], eval_step=[3], eval_exact_match=[0.4], eval_seconds=[1.0])
    assert isinstance(plots.training_curves(history, smooth=2), Figure)
    with pytest.raises(ValueError, match="no steps"):
        plots.training_curves(TrainingHistory())


def test_cross_attention_maps_outlines_alignment():
    example = translate_number(21)
    weights = np.full((3, 3), 1 / 3)
    figure = plots.cross_attention_maps([(weights, example.source, example.target, example.alignment)] * 2)
    axes = [ax for ax in figure.axes if ax.images]
    assert len(axes) == 2
    outlined = sorted((patch.get_x() + 0.5, patch.get_y() + 0.5) for patch in axes[0].patches)
    assert outlined == sorted((source, target) for target, source in enumerate(example.alignment))


def test_cross_attention_maps_rejects_mismatch():
    with pytest.raises(ValueError, match="source tokens"):
        plots.cross_attention_maps([(np.ones((2, 3)) / 3, ["a", "b"], ["x", "y"], None)])
    with pytest.raises(ValueError, match="maps is empty"):
        plots.cross_attention_maps([])
