"""The figures of illustrated.plots: shapes in, Figures out, clear errors, and one colour per role."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from illustrated import plots
from illustrated.plots._base import format_number
from illustrated.plots.style import ROLE_COLORS, role_color, text_color_for

TOKENS = ["Thinking", "Machines"]


def cell_texts(figure: Figure) -> list[str]:
    return [text.get_text() for ax in figure.axes for text in ax.texts]


def hatched_cells(figure: Figure) -> int:
    return sum(1 for ax in figure.axes for patch in ax.patches if isinstance(patch, Rectangle) and patch.get_hatch())


def test_part1_roles_have_distinct_colours():
    roles = ("embedding", "query", "key", "value", "score", "output")
    colours = [role_color(role) for role in roles]
    assert len(set(colours)) == len(roles)


def test_role_aliases_and_unknown_role():
    assert role_color("q") == ROLE_COLORS["query"]
    assert role_color("Z") == ROLE_COLORS["output"]
    with pytest.raises(ValueError, match="unknown role 'colour'"):
        role_color("colour")


def test_text_colour_contrasts_with_cell():
    assert text_color_for("#000000") == "#ffffff"
    assert text_color_for("#ffffff") == "#111111"


def test_format_number_cases():
    assert format_number(-0.001, 2) == "0.00"
    assert format_number(float("nan"), 2) == "nan"
    assert format_number(float("-inf"), 2) == "-inf"
    assert format_number(1.23456, 3) == "1.235"


def test_vector_cells_draws_every_value():
    values = np.array([[0.5, -1.25, 2.0], [0.0, 1.0, -3.0]])
    figure = plots.vector_cells(values, TOKENS, role="query", title="q")
    texts = cell_texts(figure)
    assert isinstance(figure, Figure)
    for expected in ("0.50", "-1.25", "2.00", "-3.00", "Thinking", "Machines", "q"):
        assert expected in texts


def test_vector_cells_figures_not_left_in_pyplot():
    before = set(plt.get_fignums())
    plots.vector_cells([1.0, 2.0])
    assert set(plt.get_fignums()) == before, "a figure left open in pyplot would be shown twice in a notebook"


def test_vector_cells_accepts_torch_and_one_vector():
    figure = plots.vector_cells(torch.tensor([1.0, -2.0], requires_grad=True))
    assert "-2.00" in cell_texts(figure)


def test_vector_cells_size_grows_with_columns():
    narrow = plots.vector_cells(np.ones((2, 3)))
    wide = plots.vector_cells(np.ones((2, 9)))
    assert wide.get_size_inches()[0] > narrow.get_size_inches()[0] + 2


def test_vector_cells_hatches_nan_and_masked():
    figure = plots.vector_cells([[0.2, np.nan, 0.8]], mask=[[True, True, False]], weights=True)
    assert hatched_cells(figure) == 2
    assert "nan" in cell_texts(figure)


def test_vector_cells_rejects_bad_input():
    with pytest.raises(ValueError, match="got 1 labels for 2 items"):
        plots.vector_cells(np.ones((2, 3)), ["one"])
    with pytest.raises(ValueError, match=r"got shape \(2, 2, 2\)"):
        plots.vector_cells(np.ones((2, 2, 2)))
    with pytest.raises(TypeError, match="single string"):
        plots.vector_cells(np.ones((1, 3)), "Thinking")
    with pytest.raises(ValueError, match="empty"):
        plots.vector_cells(np.ones((0, 3)))
    with pytest.raises(ValueError, match="vmax must be a positive"):
        plots.vector_cells(np.ones((1, 3)), vmax=0.0)


def test_vector_cells_into_given_axes():
    figure, ax = plt.subplots()
    assert plots.vector_cells(np.eye(2), ax=ax) is figure
    plt.close(figure)


def test_matrix_product_draws_three_blocks():
    x, w = np.ones((2, 4)), np.full((4, 3), 0.5)
    figure = plots.matrix_product(x, w, x @ w, names=("X", "W", "Q"), labels=TOKENS, decimals=(0, 1, 2))
    texts = cell_texts(figure)
    assert {"X", "W", "Q", "\u00d7", "="} <= set(texts)
    assert texts.count("1") == 8
    assert texts.count("0.5") == 12
    assert texts.count("2.00") == 6


def test_matrix_product_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"left \(2, 4\) x right \(3, 3\)"):
        plots.matrix_product(np.ones((2, 4)), np.ones((3, 3)), np.ones((2, 3)))


def test_score_matrix_labels_keys_and_queries():
    figure = plots.score_matrix(np.eye(2), TOKENS, weights=True)
    assert cell_texts(figure).count("Thinking") == 2  # once as a query, once as a key


def test_heads_side_by_side_one_axes_per_head():
    weights = np.full((1, 3, 2, 2), 0.5)  # a leading batch axis of 1 is dropped
    figure = plots.heads_side_by_side(weights, TOKENS)
    assert len(figure.axes) == 3
    assert [ax.get_title() for ax in figure.axes] == ["head 0", "head 1", "head 2"]


def test_heads_side_by_side_rejects_bad_shape():
    with pytest.raises(ValueError, match=r"\(num_heads, q_len, k_len\)"):
        plots.heads_side_by_side(np.ones((2, 2)), TOKENS)
    with pytest.raises(ValueError, match="got 3 key tokens for 2 items"):
        plots.heads_side_by_side(np.ones((1, 2, 2)), TOKENS + ["extra"])


def test_attention_lines_one_line_per_key():
    weights = np.array([[0.9, 0.1], [0.5, 0.5]])
    figure = plots.attention_lines(weights, TOKENS, query=0)
    lines = figure.axes[0].lines
    assert len(lines) == 2
    assert lines[0].get_linewidth() > lines[1].get_linewidth()


def test_attention_lines_rejects_bad_query():
    with pytest.raises(ValueError, match=r"query must be an index in \[0, 2\)"):
        plots.attention_lines(np.eye(2), TOKENS, query=2)


def test_weighted_sum_shows_output():
    weights, values = np.array([0.25, 0.75]), np.array([[1.0, 2.0], [3.0, 4.0]])
    figure = plots.weighted_sum(weights, values, weights @ values, TOKENS, query_token="Thinking")
    texts = cell_texts(figure)
    assert "z (Thinking)" in texts
    assert "2.50" in texts
    assert "3.50" in texts


def test_weighted_sum_rejects_wrong_output():
    with pytest.raises(ValueError, match="not the weighted sum"):
        plots.weighted_sum(np.array([0.5, 0.5]), np.eye(2), np.array([1.0, 1.0]), TOKENS)


def test_probability_bars_one_panel_per_setting():
    figure = plots.probability_bars({"T = 1": [0.2, 0.8], "T = 2": [0.4, 0.6]}, TOKENS)
    assert [ax.get_title() for ax in figure.axes] == ["T = 1", "T = 2"]


def test_probability_bars_rejects_unequal_sizes():
    with pytest.raises(ValueError, match=r"same length, got lengths \[2, 3\]"):
        plots.probability_bars({"a": [0.5, 0.5], "b": [0.2, 0.3, 0.5]}, TOKENS)


def test_scaling_experiment_three_panels():
    d_k = np.array([1, 4, 16])
    series = {"variance": [1.0, 4.0, 16.0], "max_weight": [0.3, 0.5, 0.8], "gradient": [0.4, 0.3, 0.1]}
    figure = plots.scaling_experiment(d_k, series, series)
    assert len(figure.axes) == 3


def test_scaling_experiment_rejects_missing_key():
    d_k = np.array([1, 4])
    complete = {"variance": [1, 4], "max_weight": [0.3, 0.5], "gradient": [0.4, 0.3]}
    with pytest.raises(ValueError, match=r"scaled is missing the key\(s\) \['gradient'\]"):
        plots.scaling_experiment(d_k, complete, {"variance": [1, 1], "max_weight": [0.3, 0.3]})


def test_figures_save_as_png(tmp_path):
    figure = plots.vector_cells(np.arange(6).reshape(2, 3) - 2.5, TOKENS, role="value")
    path = tmp_path / "cells.png"
    figure.savefig(path)
    assert path.stat().st_size > 2000
