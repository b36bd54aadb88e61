"""Line and bar charts of the book: softmax distributions side by side, and the scaling experiment."""

from __future__ import annotations

import numpy as np

from illustrated.plots._base import check_labels, equal_length_arrays, new_figure, to_numpy
from illustrated.plots.style import FONT_SIZE, TITLE_SIZE, role_color, style_context

__all__ = ["probability_bars", "scaling_experiment"]


def probability_bars(distributions: dict, labels, *, role: str = "score", title: str | None = None,
                     ylim: float = 1.0):
    """Draw several probability distributions over the same items as bar charts side by side.

    Args:
        distributions: ``{setting name: probabilities (k,)}``, e.g. one entry per temperature.
            The names are the panel titles, in the order given.
        labels: the k items, usually the key tokens.
        role: the colour of the bars.
        title: drawn above the figure.
        ylim: the top of the y axis, the same in every panel so they compare.
    """
    arrays, count = equal_length_arrays(distributions, "distribution")
    labels = check_labels(labels, count, "labels")

    panels = len(arrays)
    panel_width = max(1.6, 0.32 * count + 0.5)
    figure = new_figure(panels * panel_width + 0.4, 2.1 + 0.25 * (title is not None))
    with style_context():
        axes = figure.subplots(1, panels, sharey=True, squeeze=False)[0]
    color = role_color(role)
    for ax, (name, values) in zip(axes, arrays.items()):
        positions = np.arange(count)
        ax.bar(positions, values, color=color, width=0.7)
        for x, value in zip(positions, values):
            ax.text(x, value + 0.02 * ylim, f"{value:.2f}", ha="center", va="bottom", fontsize=FONT_SIZE - 1.5)
        ax.set_xticks(positions, labels, rotation=45 if max(len(label) for label in labels) > 3 else 0,
                      ha="right" if max(len(label) for label in labels) > 3 else "center")
        ax.set_ylim(0, ylim * 1.12)
        ax.set_title(name, fontsize=FONT_SIZE + 0.5)
    axes[0].set_ylabel("probability")
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


def scaling_experiment(d_k_values, unscaled: dict, scaled: dict, *, title: str | None = None):
    """Draw the experiment behind the division by sqrt(d_k): three panels against d_k, unscaled and scaled.

    Args:
        d_k_values: the sizes tried, ``(n,)``.
        unscaled, scaled: dicts with arrays ``(n,)`` under the keys
            ``"variance"`` (variance of the scores), ``"max_weight"`` (mean largest softmax weight)
            and ``"gradient"`` (mean norm of the softmax's gradient with respect to the scores).
        title: drawn above the figure.
    """
    d_k_values = to_numpy(d_k_values, "d_k_values").reshape(-1)
    panels = (("variance", "variance of the scores", True),
              ("max_weight", "largest softmax weight", False),
              ("gradient", "gradient norm of the softmax", True))
    for name, series in (("unscaled", unscaled), ("scaled", scaled)):
        missing = [key for key, _, _ in panels if key not in series]
        if missing:
            raise ValueError(f"{name} is missing the key(s) {missing}; expected variance, max_weight and gradient")
        for key, _, _ in panels:
            if to_numpy(series[key]).reshape(-1).shape != d_k_values.shape:
                raise ValueError(f"{name}[{key!r}] must have one value per d_k ({d_k_values.size})")

    figure = new_figure(9.0, 2.7 + 0.2 * (title is not None))
    with style_context():
        axes = figure.subplots(1, 3)
    for ax, (key, label, log_y) in zip(axes, panels):
        ax.plot(d_k_values, to_numpy(unscaled[key]).reshape(-1), "o-", color=role_color("score"),
                label="q\u00b7k")
        ax.plot(d_k_values, to_numpy(scaled[key]).reshape(-1), "s--", color=role_color("query"),
                label="q\u00b7k / \u221ad\u2096")
        ax.set_xscale("log", base=2)
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel("d\u2096")
        ax.set_title(label, fontsize=FONT_SIZE + 1)
    axes[0].legend()
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure
