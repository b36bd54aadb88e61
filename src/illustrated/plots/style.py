"""The book's visual language: one colour per role, cell sizes and fonts shared by every figure.

A vector is drawn as a row of cells, as in Jay Alammar's "The Illustrated Transformer". The colour
of a cell shows which role the vector plays (an embedding, a query, a key, a value, an output), and
its strength shows how large the entry is. Negative entries are drawn in a neutral grey of the same
strength, so the sign stays visible without giving up the role's colour.

Every chapter takes its colours from here; a notebook never sets a colour by hand.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, to_rgb

__all__ = [
    "ROLE_COLORS",
    "NEGATIVE_COLOR",
    "MISSING_COLOR",
    "HEAD_COLORS",
    "CELL_WIDTH",
    "CELL_HEIGHT",
    "FONT_SIZE",
    "TITLE_SIZE",
    "DPI",
    "RC_PARAMS",
    "role_color",
    "role_cmap",
    "weight_cmap",
    "text_color_for",
    "style_context",
]

# One colour per role. Part I uses embedding, query, key, value, score and output; Part II adds
# position, feed_forward, encoder, decoder and cross (encoder-decoder attention).
ROLE_COLORS: dict[str, str] = {
    "embedding": "#3f9a4f",  # green: token embeddings and every layer's input x
    "position": "#c9a100",  # gold: positional encodings
    "query": "#7b52ab",  # purple: queries q = x W^Q
    "key": "#e07b00",  # orange: keys k = x W^K
    "value": "#2f73b8",  # blue: values v = x W^V
    "score": "#8c564b",  # brown: scores q.k and attention weights
    "output": "#cf2f74",  # pink: the attention output z and W^O
    "feed_forward": "#16918a",  # teal: the position-wise feed-forward network
    "encoder": "#3f9a4f",
    "decoder": "#7b52ab",
    "cross": "#e07b00",
    "neutral": "#4d4d4d",  # anything without a role: one-hot vectors, counts
}
# Role aliases that read more naturally in some chapters.
_ALIASES = {"input": "embedding", "x": "embedding", "q": "query", "k": "key", "v": "value",
            "z": "output", "weight": "score", "weights": "score", "attention": "score"}

NEGATIVE_COLOR = "#6f7780"  # negative entries, whatever the role
MISSING_COLOR = "#d9d9d9"  # masked, NaN or infinite entries, drawn hatched

# Distinct colours for the heads of multi-head attention (the Tableau 10 hues), head 0 first.
HEAD_COLORS: tuple[str, ...] = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
)

CELL_WIDTH = 0.52  # inches per cell, wide enough for "-0.42" at FONT_SIZE
CELL_HEIGHT = 0.36  # inches per row of cells
FONT_SIZE = 8.5
TITLE_SIZE = 10.5
DPI = 110

# Settings applied around every figure the package draws (through matplotlib.rc_context).
RC_PARAMS = {
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": FONT_SIZE + 0.5,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "savefig.bbox": "tight",
    "legend.frameon": False,
    "legend.fontsize": FONT_SIZE,
}


def role_color(role: str) -> str:
    """Return the hex colour of a role, e.g. ``role_color("query")``; raise ValueError for an unknown role."""
    if not isinstance(role, str):
        raise TypeError(f"role must be a string such as 'query', got {role!r}")
    name = _ALIASES.get(role.lower(), role.lower())
    if name not in ROLE_COLORS:
        known = ", ".join(sorted(ROLE_COLORS))
        raise ValueError(f"unknown role {role!r}; use one of: {known}")
    return ROLE_COLORS[name]


def role_cmap(role: str) -> LinearSegmentedColormap:
    """Return the colour map of a role on [-1, 1]: grey for negative, white at 0, the role's colour for positive."""
    return LinearSegmentedColormap.from_list(
        f"illustrated_{role}", [NEGATIVE_COLOR, "#ffffff", role_color(role)], N=256
    )


def weight_cmap(role: str = "score") -> LinearSegmentedColormap:
    """Return a colour map on [0, 1] from white to a colour, for weights and probabilities.

    ``role`` is a role name ("score", "value", ...) or a colour such as an entry of HEAD_COLORS.
    """
    color = role if isinstance(role, str) and role.startswith("#") else role_color(role)
    return LinearSegmentedColormap.from_list(f"illustrated_{role}_weights", ["#ffffff", color], N=256)


def text_color_for(face_color) -> str:
    """Return black or white, whichever reads better on a cell of ``face_color`` (by relative luminance)."""
    red, green, blue = to_rgb(face_color)
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return "#111111" if luminance > 0.5 else "#ffffff"


def style_context():
    """Return a ``matplotlib.rc_context`` with the book's settings, for ``with style_context(): ...``."""
    return mpl.rc_context(RC_PARAMS)

