"""Figures in the book's visual language: vectors as rows of coloured cells, one colour per role.

Every function returns a matplotlib ``Figure`` that a notebook displays once, as a cell's value.
Colours, cell sizes and fonts come from :mod:`illustrated.plots.style`.
"""

from illustrated.plots.attention import attention_lines, heads_side_by_side, score_matrix, weighted_sum
from illustrated.plots.cells import matrix_product, vector_cells
from illustrated.plots.curves import probability_bars, scaling_experiment
from illustrated.plots.part2 import (  # the figures of chapters 7 to 10
    __all__ as _part2_names,
    block_diagram,
    cross_attention_maps,
    decoding_step,
    encoding_waves,
    learning_rate_curves,
    positional_encoding_heatmap,
    positional_encoding_layouts,
    series_chart,
    shift_rotation,
    smoothed_target,
    training_curves,
)
from illustrated.plots.style import HEAD_COLORS, ROLE_COLORS, role_cmap, role_color, style_context, weight_cmap

__all__ = [
    "ROLE_COLORS",
    "HEAD_COLORS",
    "role_color",
    "role_cmap",
    "weight_cmap",
    "style_context",
    "vector_cells",
    "matrix_product",
    "score_matrix",
    "heads_side_by_side",
    "attention_lines",
    "weighted_sum",
    "probability_bars",
    "scaling_experiment",
]
__all__ += _part2_names
