"""Figures of attention: score and weight matrices, heads side by side, lines from a query, the weighted sum."""

from __future__ import annotations

import numpy as np
from matplotlib.patches import FancyBboxPatch

from illustrated.plots._base import (
    as_matrix,
    cell_figure,
    check_labels,
    draw_cells,
    format_number,
    new_figure,
    text_width,
    to_numpy,
)
from illustrated.plots.cells import vector_cells
from illustrated.plots.style import (
    FONT_SIZE,
    HEAD_COLORS,
    MISSING_COLOR,
    RC_PARAMS,
    TITLE_SIZE,
    role_color,
    text_color_for,
    weight_cmap,
)

__all__ = ["score_matrix", "heads_side_by_side", "attention_lines", "weighted_sum"]


def score_matrix(matrix, query_tokens, key_tokens=None, *, weights: bool = False, mask=None,
                 decimals: int = 2, vmax: float | None = None, title: str | None = None):
    """Draw a score or weight matrix: one row per query, one column per key, the number in each cell.

    Args:
        matrix: ``(q_len, k_len)``, the scores ``q.k / sqrt(d_k)`` or the softmax weights.
        query_tokens: the row labels; key_tokens: the column labels (default: the query tokens).
        weights: True for weights in [0, 1] (white to brown), False for signed scores.
        mask: optional boolean ``(q_len, k_len)``, True where a query may attend; masked cells are hatched.
        decimals, vmax, title: as in :func:`~illustrated.plots.vector_cells`.
    """
    matrix = as_matrix(matrix, "matrix")
    key_tokens = query_tokens if key_tokens is None else key_tokens
    return vector_cells(matrix, query_tokens, role="score", column_labels=key_tokens, decimals=decimals,
                        vmax=vmax, weights=weights, mask=mask, title=title)


def heads_side_by_side(weights, tokens, query_tokens=None, *, show_values: bool | None = None,
                       decimals: int = 2, columns: int = 4, title: str | None = None):
    """Draw the attention weights of every head as small heatmaps side by side, each in its head's colour.

    Args:
        weights: ``(num_heads, q_len, k_len)``, NumPy or torch (a leading batch axis of size 1 is dropped).
        tokens: the key tokens; query_tokens: the query tokens (default: the key tokens).
        show_values: write the weights into the cells; by default only when there are at most 6 keys.
        decimals: digits after the point.
        columns: heads per row of the figure.
        title: drawn above the figure.
    """
    weights = to_numpy(weights, "weights")
    if weights.ndim == 4 and weights.shape[0] == 1:
        weights = weights[0]
    if weights.ndim != 3:
        raise ValueError(f"weights must be (num_heads, q_len, k_len), got shape {weights.shape}")
    num_heads, q_len, k_len = weights.shape
    tokens = check_labels(tokens, k_len, "key tokens")
    query_tokens = check_labels(query_tokens if query_tokens is not None else tokens, q_len, "query tokens")
    if show_values is None:
        show_values = k_len <= 6
    if not isinstance(columns, int) or columns < 1:
        raise ValueError(f"columns must be a positive integer, got {columns!r}")

    per_row = min(columns, num_heads)
    rows = -(-num_heads // per_row)
    cell = 0.42 if show_values else 0.26
    panel_width, panel_height = cell * k_len, cell * q_len
    label_width = text_width(query_tokens)
    key_label_height = text_width(tokens, FONT_SIZE - 1)
    gap = 0.25
    width = label_width + per_row * panel_width + (per_row - 1) * gap + 0.1
    row_height = panel_height + key_label_height + 0.3
    top = 0.3 if title else 0.05
    height = top + rows * row_height
    figure = new_figure(width, height)

    for head in range(num_heads):
        row, column = divmod(head, per_row)
        left = label_width + column * (panel_width + gap)
        bottom = height - top - (row + 1) * row_height + key_label_height
        ax = figure.add_axes((left / width, bottom / height, panel_width / width, panel_height / height))
        color = HEAD_COLORS[head % len(HEAD_COLORS)]
        ax.imshow(weights[head], cmap=weight_cmap(color), vmin=0.0, vmax=1.0, aspect="auto",
                  interpolation="nearest")
        ax.set_title(f"head {head}", color=color, fontsize=FONT_SIZE + 0.5, fontweight="bold", pad=3)
        ax.set_xticks(range(k_len), tokens, rotation=90, fontsize=FONT_SIZE - 1)
        ax.set_yticks(range(q_len), query_tokens if column == 0 else [""] * q_len, fontsize=FONT_SIZE - 1)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if show_values:
            cmap = weight_cmap(color)
            for i in range(q_len):
                for j in range(k_len):
                    value = float(weights[head, i, j])
                    face = cmap(min(max(value, 0.0), 1.0)) if np.isfinite(value) else MISSING_COLOR
                    ax.text(j, i, format_number(value, decimals), ha="center", va="center",
                            fontsize=FONT_SIZE - 1.5, color=text_color_for(face))
    if title:
        figure.text(0.5, 1 - 0.2 / height, title, ha="center", va="center", fontsize=TITLE_SIZE)
    return figure


def attention_lines(weights, tokens, query_tokens=None, *, query: int = 0, color: str | None = None,
                    title: str | None = None):
    """Draw where one query looks: lines from the query token to every key token, thicker for larger weights.

    A static picture of what an attention view shows when a token is clicked, in the style of
    The Illustrated Transformer: the query column on the left, the keys on the right.

    Args:
        weights: ``(q_len, k_len)`` attention weights (rows sum to 1).
        tokens: the key tokens; query_tokens: the query tokens (default: the key tokens).
        query: the index of the query whose weights are drawn.
        color: the colour of the lines; defaults to the score colour.
        title: drawn above the figure.
    """
    weights = as_matrix(weights, "weights")
    q_len, k_len = weights.shape
    tokens = check_labels(tokens, k_len, "key tokens")
    query_tokens = check_labels(query_tokens if query_tokens is not None else tokens, q_len, "query tokens")
    if not isinstance(query, (int, np.integer)) or not 0 <= query < q_len:
        raise ValueError(f"query must be an index in [0, {q_len}) for {q_len} query tokens, got {query!r}")
    color = color or role_color("score")

    column_width = max(text_width(tokens), text_width(query_tokens)) + 0.2
    rows = max(q_len, k_len)
    top = 0.35 if title else 0.1
    height = top + rows * 0.27 + 0.1
    width = 2 * column_width + 1.3
    figure = new_figure(width, height)
    ax = figure.add_axes((0, 0, 1, 1 - top / height))
    ax.set_xlim(0, width)
    ax.set_ylim(rows, -0.2)
    ax.axis("off")

    left_x, right_x = column_width, width - column_width
    for j, token in enumerate(tokens):
        strength = float(weights[query, j])
        ax.plot([left_x + 0.05, right_x - 0.05], [query + 0.5, j + 0.5], color=color,
                alpha=min(1.0, 0.15 + 0.85 * strength), linewidth=0.5 + 6 * strength, solid_capstyle="round")
        shade = weight_cmap(color)(min(max(strength, 0.0), 1.0))
        ax.add_patch(FancyBboxPatch((right_x, j + 0.12), column_width - 0.15, 0.76, boxstyle="round,pad=0.02",
                                    facecolor=shade, edgecolor="none"))
        ax.text(right_x + 0.08, j + 0.5, token, ha="left", va="center", color=text_color_for(shade))
    for i, token in enumerate(query_tokens):
        chosen = i == query
        ax.text(left_x - 0.08, i + 0.5, token, ha="right", va="center",
                fontweight="bold" if chosen else "normal", color="#111111" if chosen else "#888888")
    if title:
        figure.text(0.5, 1 - 0.18 / height, title, ha="center", va="center", fontsize=TITLE_SIZE)
    return figure


def weighted_sum(weights_row, values, output, tokens, *, query_token: str | None = None, decimals: int = 2,
                 title: str | None = None):
    """Draw one output row as the sum of the value vectors, each multiplied by its attention weight.

    Row j shows ``weight_j x v_j = weight_j * v_j``; the last row is their sum ``z``.

    Args:
        weights_row: ``(k_len,)``, one query's attention weights.
        values: ``(k_len, d_v)``, the value vectors.
        output: ``(d_v,)``, the output z of that query (checked to equal the weighted sum).
        tokens: the key tokens, one per value vector.
        query_token: the query's token, used in the label of z.
        decimals: digits after the point.
        title: drawn above the figure.
    """
    weights_row = to_numpy(weights_row, "weights_row").reshape(-1)
    values = as_matrix(values, "values")
    output = to_numpy(output, "output").reshape(-1)
    k_len, d_v = values.shape
    if weights_row.shape != (k_len,) or output.shape != (d_v,):
        raise ValueError(f"weights_row {weights_row.shape}, values {values.shape} and output {output.shape} "
                         f"do not fit: expected ({k_len},), (k_len, d_v) and ({d_v},)")
    tokens = check_labels(tokens, k_len, "tokens")
    weighted = weights_row[:, None] * values
    if not np.allclose(weighted.sum(axis=0), output, atol=1e-6):
        raise ValueError("output is not the weighted sum of the values; pass the z of this query's weights")

    vmax = float(max(np.abs(values).max(), np.abs(weighted).max(), np.abs(output).max(), 1e-12))
    z_label = f"z ({query_token})" if query_token else "z"
    gap = 1.0
    start_value, start_weighted = 1 + gap, 1 + gap + d_v + gap
    columns = start_weighted + d_v
    rows = k_len + 1.3
    top = 0.35 + 0.25 * (title is not None)
    figure, ax = cell_figure(columns, rows, left=0.05 + text_width(tokens + [z_label]), top=top)

    draw_cells(ax, weights_row[:, None], role="score", weights=True, decimals=decimals)
    draw_cells(ax, values, role="value", left=start_value, vmax=vmax, decimals=decimals)
    draw_cells(ax, weighted, role="value", left=start_weighted, vmax=vmax, decimals=decimals)
    draw_cells(ax, output, role="output", left=start_weighted, top=k_len + 0.3, vmax=vmax, decimals=decimals)
    size = RC_PARAMS["font.size"]
    for j, token in enumerate(tokens):
        ax.text(-0.15, j + 0.5, token, ha="right", va="center", fontsize=size + 0.5)
        ax.text(1 + gap / 2, j + 0.5, "\u00d7", ha="center", va="center", fontsize=TITLE_SIZE + 2)
        ax.text(start_weighted - gap / 2, j + 0.5, "=", ha="center", va="center", fontsize=TITLE_SIZE + 2)
    ax.plot([start_weighted, columns], [k_len + 0.15, k_len + 0.15], color="#333333", linewidth=1)
    ax.text(start_weighted - gap / 2, k_len + 0.8, "\u03a3", ha="center", va="center", fontsize=TITLE_SIZE + 2)
    ax.text(start_weighted - gap - 0.1, k_len + 0.8, z_label, ha="right", va="center", fontsize=size + 0.5,
            color=role_color("output"), fontweight="bold")
    for text, x, role in (("weight", 0.5, "score"), ("v", start_value + d_v / 2, "value"),
                          ("weight \u00b7 v", start_weighted + d_v / 2, "value")):
        ax.text(x, -0.15, text, ha="center", va="bottom", fontsize=TITLE_SIZE - 1, color=role_color(role),
                fontweight="bold")
    if title is not None:
        ax.text(columns / 2, -0.7, title, ha="center", va="bottom", fontsize=TITLE_SIZE)
    return figure
