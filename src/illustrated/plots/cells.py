"""Vectors and matrices drawn as rows of coloured cells, the book's basic picture."""

from __future__ import annotations

from illustrated.plots._base import as_matrix, cell_figure, check_labels, draw_cells, text_width
from illustrated.plots.style import CELL_HEIGHT, CELL_WIDTH, RC_PARAMS, TITLE_SIZE, role_color

__all__ = ["vector_cells"]


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

    if ax is None:
        top = 0.05 + 0.2 * (column_labels is not None) + 0.25 * (title is not None)
        figure, ax = cell_figure(columns, rows, left=0.05 + text_width(labels), top=top)
    else:
        figure = ax.figure
        ax.set_xlim(0, columns)
        ax.set_ylim(rows, 0)
        ax.set_aspect(CELL_HEIGHT / CELL_WIDTH)
        ax.axis("off")

    draw_cells(ax, matrix, role=role, vmax=vmax, decimals=decimals, show_values=show_values,
               weights=weights, mask=mask)
    font_size = RC_PARAMS["font.size"]
    if labels is not None:
        for i, label in enumerate(labels):
            ax.text(-0.15, i + 0.5, label, ha="right", va="center", fontsize=font_size + 0.5)
    if column_labels is not None:
        for j, label in enumerate(column_labels):
            ax.text(j + 0.5, -0.12, label, ha="center", va="bottom", fontsize=font_size - 0.5, color="#555555")
    if title is not None:
        offset = 0.55 if column_labels is not None else 0.15
        ax.text(columns / 2, -offset, title, ha="center", va="bottom", fontsize=TITLE_SIZE,
                color=role_color(role), fontweight="bold")
    return figure
