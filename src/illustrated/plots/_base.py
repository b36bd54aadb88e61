"""Shared plumbing of the figure functions: input conversion, new figures, and the cell drawer."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from illustrated.plots.style import (
    CELL_HEIGHT,
    CELL_WIDTH,
    MISSING_COLOR,
    RC_PARAMS,
    role_cmap,
    role_color,
    text_color_for,
    weight_cmap,
)


def to_numpy(values, name: str = "values") -> np.ndarray:
    """Convert a NumPy array, a torch tensor or nested lists to a float NumPy array."""
    if hasattr(values, "detach"):  # a torch tensor, possibly on a GPU or requiring grad
        values = values.detach().cpu().numpy()
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be numeric (an array, a tensor or nested lists), got {type(values).__name__}") from None
    return array


def as_matrix(values, name: str = "values") -> np.ndarray:
    """Return ``values`` as a 2-D float array, in which a 1-D vector becomes one row."""
    array = to_numpy(values, name)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a vector or a matrix (1-D or 2-D), got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty (shape {array.shape}); there is nothing to draw")
    return array


def equal_length_arrays(mapping, noun: str) -> tuple[dict, int]:
    """Return ``{name: 1-D array}`` for a non-empty dict of equally long sequences, and their length.

    ``noun`` names one entry in the error messages, e.g. "series" or "distribution".
    """
    if not isinstance(mapping, dict) or not mapping:
        raise ValueError(f"{noun} values must come as a non-empty dict {{name: values}}, got {type(mapping).__name__}")
    arrays = {str(name): to_numpy(values, f"{noun} {name!r}").reshape(-1) for name, values in mapping.items()}
    lengths = {array.size for array in arrays.values()}
    if len(lengths) != 1:
        raise ValueError(f"every {noun} must have the same length, got lengths {sorted(lengths)}")
    return arrays, lengths.pop()


def check_labels(labels, count: int, noun: str):
    """Return ``labels`` as a list of strings (None stays None), or raise ValueError if there are not ``count`` of them."""
    if labels is None:
        return None
    if isinstance(labels, str):
        raise TypeError(f"{noun} must be a list of strings, one per item, got the single string {labels!r}")
    labels = [str(label) for label in labels]
    if len(labels) != count:
        raise ValueError(f"got {len(labels)} {noun} for {count} items; pass exactly one per item")
    return labels


def new_figure(width: float, height: float):
    """Create a figure of ``width`` x ``height`` inches with the book's style that pyplot will not show twice.

    The figure is closed in pyplot right away: a notebook shows it once, as the value the cell
    returns (or through ``display``), and not again when the cell ends.
    """
    with plt.rc_context(RC_PARAMS):
        figure = plt.figure(figsize=(width, height))
    plt.close(figure)
    return figure


def text_width(labels, font_size: float | None = None) -> float:
    """Estimate in inches the width of the longest label, to reserve a margin for it."""
    if not labels:
        return 0.0
    size = font_size or RC_PARAMS["font.size"]
    return max(len(str(label)) for label in labels) * 0.62 * size / 72 + 0.12


def cell_figure(columns: float, rows: float, *, left: float = 0.05, top: float = 0.05,
                right: float = 0.1, bottom: float = 0.05):
    """Create a figure whose axes measure ``columns`` x ``rows`` cells at the book's cell size.

    The margins (inches) leave room for labels and titles, which are drawn outside the axes.
    In the axes x runs from 0 to ``columns`` and y from 0 at the top to ``rows`` at the bottom.
    Returns ``(figure, ax)``.
    """
    inner_width = columns * CELL_WIDTH
    inner_height = rows * CELL_HEIGHT
    width = left + inner_width + right
    height = top + inner_height + bottom
    figure = new_figure(width, height)
    ax = figure.add_axes((left / width, bottom / height, inner_width / width, inner_height / height))
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    return figure, ax


def format_number(value: float, decimals: int) -> str:
    """Format a cell's number: fixed decimals, no "-0.00", and "nan", "inf" or "-inf" spelt out."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    text = f"{value:.{decimals}f}"
    if float(text) == 0.0:
        text = text.lstrip("-")
    return text


def default_vmax(values: np.ndarray, weights: bool) -> float:
    """Return the scale at which a cell reaches full colour: 1 for weights, else the largest finite |value|."""
    if weights:
        return 1.0
    finite = np.abs(values[np.isfinite(values)])
    peak = float(finite.max()) if finite.size else 1.0
    return peak if peak > 0 else 1.0


def draw_cells(ax, values, *, role: str = "embedding", left: float = 0.0, top: float = 0.0,
               vmax: float | None = None, decimals: int = 2, show_values: bool = True,
               weights: bool = False, mask=None, font_size: float | None = None,
               outline: bool = True) -> float:
    """Draw a matrix as rows of coloured cells; return the scale ``vmax`` that was used.

    Cell (i, j) covers x in [left + j, left + j + 1] and y in [top + i, top + i + 1] of ``ax``
    (y grows downwards). Signed values use the role's map (grey below 0, the role's colour above);
    ``weights=True`` uses white-to-colour on [0, 1]. Entries that are NaN or infinite, or where
    the boolean ``mask`` is False, are drawn hatched in light grey.
    """
    values = as_matrix(values)
    rows, columns = values.shape
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), values.shape)
    if vmax is None:
        vmax = default_vmax(values, weights)
    if not np.isfinite(vmax) or vmax <= 0:
        raise ValueError(f"vmax must be a positive finite number, got {vmax!r}")
    cmap = weight_cmap(role) if weights else role_cmap(role)
    edge = role_color(role)
    for i in range(rows):
        for j in range(columns):
            value = float(values[i, j])
            hidden = mask is not None and not mask[i, j]
            if hidden or not np.isfinite(value):
                face = MISSING_COLOR
                hatch = "////"
            else:
                level = value / vmax if weights else 0.5 + 0.5 * value / vmax
                face = cmap(min(max(level, 0.0), 1.0))
                hatch = None
            ax.add_patch(Rectangle((left + j, top + i), 1, 1, facecolor=face, edgecolor="white",
                                   linewidth=1.2, hatch=hatch))
            if show_values:
                ax.text(left + j + 0.5, top + i + 0.5, format_number(value, decimals), ha="center",
                        va="center", color=text_color_for(face), fontsize=font_size or RC_PARAMS["font.size"])
        if outline:
            ax.add_patch(Rectangle((left, top + i + 0.06), columns, 0.88, fill=False, edgecolor=edge,
                                   linewidth=0.8))
    return vmax
