"""Figures in the book's visual language: vectors as rows of coloured cells, one colour per role.

Every function returns a matplotlib ``Figure`` that a notebook displays once, as a cell's value.
Colours, cell sizes and fonts come from :mod:`illustrated.plots.style`.
"""

from illustrated.plots.cells import vector_cells
from illustrated.plots.style import HEAD_COLORS, ROLE_COLORS, role_cmap, role_color, style_context, weight_cmap

__all__ = [
    "ROLE_COLORS",
    "HEAD_COLORS",
    "role_color",
    "role_cmap",
    "weight_cmap",
    "style_context",
    "vector_cells",
]
