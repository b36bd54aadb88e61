"""Vectors and matrices drawn as rows of coloured cells, the book's basic picture."""

from __future__ import annotations

from illustrated.plots._base import as_matrix, cell_figure, check_labels, draw_cells, text_width
from illustrated.plots.style import CELL_HEIGHT, CELL_WIDTH, RC_PARAMS, TITLE_SIZE, role_color

__all__ = ["vector_cells", "matrix_product"]


def vector_cells(values, labels=None, *, role: str = "embedding", column_labels=None, decimals: int = 2,
                 show_values: bool = True, vmax: float | None = None, weights: bool = False,
                 mask=None, title: str | None = None, ax=None):
    """Draw vectors as rows of coloured cells, one row per token, in the colour of their role.

    Args:
        values: one vector ``(d,)`` or a matrix ``(rows, d)``; NumPy, torch or nested lists.
        labels: one label per row, usually the tokens, written to the left of each row.
        role: which colour to use: "embedding", "query", "key", "value", "score", "output",
            "position" or "feed_forward" (see :data:`illustrated.plots.style.ROLE_COLORS`).
        column_labels: one label per column, written above the cells.
        decimals: digits after the point in each cell; ``show_values=False`` leaves cells blank.
        vmax: the magnitude at which a cell reaches full colour. It defaults to the largest
            finite ``|value|``. Pass the same ``vmax`` to figures that should be compared.
        weights: treat the values as weights in [0, 1] (white to the role's colour).
        mask: optional boolean array of the same shape; cells where it is False are hatched.
        title: drawn above the cells.
        ax: draw into these axes instead of a new figure (their limits and aspect are reset).

    Returns:
        The matplotlib ``Figure``.
    """
    matrix = as_matrix(values)
    rows, columns = matrix.shape
    labels = check_labels(labels, rows, "labels")
    column_labels = check_labels(column_labels, columns, "column labels")
    if not isinstance(decimals, int) or decimals < 0:
        raise ValueError(f"decimals must be a non-negative integer, got {decimals!r}")
    font_size = RC_PARAMS["font.size"]
    # Column labels wider than a cell are turned upright, so that neighbours do not overlap.
    upright = column_labels is not None and text_width(column_labels, font_size - 0.5) > CELL_WIDTH
    if column_labels is None:
        column_label_height = 0.0
    else:
        column_label_height = text_width(column_labels, font_size - 0.5) if upright else 0.2

    if ax is None:
        top = 0.05 + column_label_height + 0.25 * (title is not None)
        figure, ax = cell_figure(columns, rows, left=0.05 + text_width(labels), top=top)
    else:
        figure = ax.figure
        ax.set_xlim(0, columns)
        ax.set_ylim(rows, 0)
        ax.set_aspect(CELL_HEIGHT / CELL_WIDTH)
        ax.axis("off")

    draw_cells(ax, matrix, role=role, vmax=vmax, decimals=decimals, show_values=show_values,
               weights=weights, mask=mask)
    if labels is not None:
        for i, label in enumerate(labels):
            ax.text(-0.15, i + 0.5, label, ha="right", va="center", fontsize=font_size + 0.5)
    if column_labels is not None:
        for j, label in enumerate(column_labels):
            ax.text(j + 0.5, -0.12, label, ha="center", va="bottom", fontsize=font_size - 0.5, color="#555555",
                    rotation=90 if upright else 0)
    if title is not None:
        offset = 0.15 + column_label_height / CELL_HEIGHT
        ax.text(columns / 2, -offset, title, ha="center", va="bottom", fontsize=TITLE_SIZE,
                color=role_color(role), fontweight="bold")
    return figure


def matrix_product(left, right, result, *, roles=("embedding", "query", "query"), names=("X", "W", "XW"),
                   labels=None, decimals=2, title: str | None = None):
    """Draw a matrix product ``left x right = result`` as three blocks of cells, as in X x W^Q = Q.

    Args:
        left: ``(rows, inner)``; right: ``(inner, columns)``; result: ``(rows, columns)``.
        roles: the role (colour) of each of the three blocks.
        names: a name written above each block; matplotlib math such as ``"$W^Q$"`` works.
        labels: one label per row of ``left`` and ``result``, usually the tokens.
        decimals: digits after the point in each cell, one number for all blocks or three.
        title: drawn above the figure.

    Raises ValueError when the shapes do not fit together, naming all three.
    """
    left, right, result = as_matrix(left, "left"), as_matrix(right, "right"), as_matrix(result, "result")
    if left.shape[1] != right.shape[0] or result.shape != (left.shape[0], right.shape[1]):
        raise ValueError(
            f"shapes do not form a product: left {left.shape} x right {right.shape} gives "
            f"({left.shape[0]}, {right.shape[1]}), but result has shape {result.shape}"
        )
    if len(roles) != 3 or len(names) != 3:
        raise ValueError(f"pass three roles and three names, one per block; got {len(roles)} and {len(names)}")
    labels = check_labels(labels, left.shape[0], "labels")
    block_decimals = tuple(decimals) if isinstance(decimals, (tuple, list)) else (decimals,) * 3
    if len(block_decimals) != 3:
        raise ValueError(f"decimals must be one integer or three, one per block; got {decimals!r}")

    gap = 1.0  # cells between blocks, where "x" and "=" go
    blocks = (left, right, result)
    starts = [0.0, left.shape[1] + gap, left.shape[1] + gap + right.shape[1] + gap]
    columns = starts[2] + result.shape[1]
    rows = max(left.shape[0], right.shape[0])
    top = 0.35 + 0.25 * (title is not None)
    figure, ax = cell_figure(columns, rows, left=0.05 + text_width(labels), top=top)

    for block, start, role, name, digits in zip(blocks, starts, roles, names, block_decimals):
        draw_cells(ax, block, role=role, left=start, decimals=digits)
        ax.text(start + block.shape[1] / 2, -0.15, name, ha="center", va="bottom", fontsize=TITLE_SIZE,
                color=role_color(role), fontweight="bold")
    middle = left.shape[0] / 2
    ax.text(starts[1] - gap / 2, middle, "\u00d7", ha="center", va="center", fontsize=TITLE_SIZE + 4)
    ax.text(starts[2] - gap / 2, middle, "=", ha="center", va="center", fontsize=TITLE_SIZE + 4)
    if labels is not None:
        for i, label in enumerate(labels):
            ax.text(-0.15, i + 0.5, label, ha="right", va="center", fontsize=RC_PARAMS["font.size"] + 0.5)
    if title is not None:
        ax.text(columns / 2, -0.65, title, ha="center", va="bottom", fontsize=TITLE_SIZE)
    return figure
