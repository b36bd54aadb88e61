"""Figures of Part II: positional encodings, the encoder and decoder blocks, a decoding step, and training.

Colours follow the book's roles: gold for positions, green for the encoder, purple for the
decoder, orange for encoder-decoder (cross) attention, teal for the feed-forward network and
brown for attention weights and probabilities. "The paper" in the docstrings is "Attention Is All
You Need" (Vaswani et al., 2017).
"""

from __future__ import annotations

import numpy as np
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from illustrated.plots._base import as_matrix, check_labels, equal_length_arrays, new_figure, to_numpy
from illustrated.plots.style import (
    FONT_SIZE,
    HEAD_COLORS,
    NEGATIVE_COLOR,
    TITLE_SIZE,
    role_cmap,
    role_color,
    style_context,
    text_color_for,
    weight_cmap,
)

__all__ = [
    "positional_encoding_heatmap",
    "positional_encoding_layouts",
    "encoding_waves",
    "shift_rotation",
    "block_diagram",
    "series_chart",
    "decoding_step",
    "smoothed_target",
    "learning_rate_curves",
    "training_curves",
    "cross_attention_maps",
]

LAYOUTS = ("interleaved", "halves")


def _check_layout(layout: str) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'interleaved' (the paper's) or 'halves' (sines, then cosines), got {layout!r}")
    return layout


def _to_layout(encoding: np.ndarray, layout: str) -> np.ndarray:
    """Reorder the columns of an interleaved encoding (sin, cos, sin, cos, ...) into the requested layout."""
    if layout == "interleaved":
        return encoding
    return np.concatenate([encoding[:, 0::2], encoding[:, 1::2]], axis=1)  # all sines, then all cosines


def _draw_encoding(ax, encoding: np.ndarray, layout: str, title: str | None) -> object:
    table = _to_layout(encoding, layout)
    max_len, d_model = table.shape
    image = ax.imshow(table, cmap=role_cmap("position"), vmin=-1.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.set_xlabel("dimension")
    ax.set_ylabel("position")
    ax.set_yticks(range(0, max_len, max(1, max_len // 10)))
    if layout == "halves" and d_model > 1:
        half = (d_model + 1) // 2
        ax.axvline(half - 0.5, color="#333333", linewidth=0.8, linestyle="--")
        ax.text(half / 2, -0.8, "sin", ha="center", va="bottom", fontsize=FONT_SIZE)
        ax.text(half + (d_model - half) / 2, -0.8, "cos", ha="center", va="bottom", fontsize=FONT_SIZE)
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1, pad=14 if layout == "halves" else 6)
    return image


def positional_encoding_heatmap(encoding, *, layout: str = "interleaved", title: str | None = None):
    """Draw a positional-encoding table as a heatmap: one row per position, one column per dimension.

    Args:
        encoding: ``(max_len, d_model)`` in the paper's interleaved layout, as
            :func:`illustrated.reference.positional_encoding` returns it.
        layout: ``"interleaved"`` draws it as it is (sin in even columns, cos in odd ones);
            ``"halves"`` moves all sines to the left half and all cosines to the right half,
            the layout of the Tensor2Tensor code and of The Illustrated Transformer.
        title: drawn above the heatmap.
    """
    encoding = as_matrix(encoding, "encoding")
    _check_layout(layout)
    figure = new_figure(7.0, 2.6 + 0.2 * (title is not None))
    with style_context():
        ax = figure.add_subplot(1, 1, 1)
        image = _draw_encoding(ax, encoding, layout, title)
        figure.colorbar(image, ax=ax, fraction=0.03, pad=0.02)
    figure.tight_layout()
    return figure


def positional_encoding_layouts(encoding, *, title: str | None = None):
    """Draw the same encoding table in both layouts, interleaved above and halves below.

    The numbers are the same; only the order of the columns differs, so the two pictures
    show one set of sine waves arranged two ways.
    """
    encoding = as_matrix(encoding, "encoding")
    figure = new_figure(7.5, 5.8 + 0.3 * (title is not None))
    figure.set_layout_engine("constrained")
    with style_context():
        axes = figure.subplots(2, 1)
        image = None
        for ax, layout, name in zip(axes, LAYOUTS, ("interleaved, as in the paper: sin, cos, sin, cos, ...",
                                                     "halves, as in Tensor2Tensor: all sines, then all cosines")):
            image = _draw_encoding(ax, encoding, layout, name)
        figure.colorbar(image, ax=list(axes), fraction=0.025, pad=0.02)
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    return figure


def encoding_waves(encoding, dimensions, *, title: str | None = None):
    """Draw some columns of a positional-encoding table as curves over the positions.

    Args:
        encoding: ``(max_len, d_model)``.
        dimensions: the column indices to draw, e.g. ``[0, 1, 10, 11]``; even ones are sines and
            odd ones cosines in the paper's layout, drawn solid and dashed.
        title: drawn above the figure.
    """
    encoding = as_matrix(encoding, "encoding")
    max_len, d_model = encoding.shape
    dimensions = [int(d) for d in dimensions]
    bad = [d for d in dimensions if not 0 <= d < d_model]
    if not dimensions or bad:
        raise ValueError(f"dimensions must be column indices in [0, {d_model}), got {dimensions}")
    figure = new_figure(7.0, 2.6 + 0.2 * (title is not None))
    with style_context():
        ax = figure.add_subplot(1, 1, 1)
        positions = np.arange(max_len)
        for index, dimension in enumerate(dimensions):
            kind = "sin" if dimension % 2 == 0 else "cos"
            ax.plot(positions, encoding[:, dimension], "-" if kind == "sin" else "--",
                    color=HEAD_COLORS[index % len(HEAD_COLORS)], label=f"dim {dimension} ({kind})")
        ax.set_xlabel("position")
        ax.set_ylabel("PE value")
        ax.legend(loc="upper right", ncol=min(4, len(dimensions)))
        ax.set_ylim(-1.15, 1.6)
        if title:
            ax.set_title(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


def shift_rotation(encoding, pairs, *, start: int = 0, shift: int = 1, title: str | None = None):
    """Draw pairs of dimensions (sin, cos) as points on the unit circle, where a shift is a rotation.

    For the frequency of pair i, position ``pos`` sits at the angle ``pos * omega_i``. Moving
    ``shift`` positions on rotates every point by ``shift * omega_i``, the same angle wherever it
    starts, which is why ``PE(pos + k)`` is a fixed linear map (a rotation per pair) of ``PE(pos)``.

    Args:
        encoding: ``(max_len, d_model)`` in the interleaved layout.
        pairs: indices i of the (sin, cos) pairs to draw, columns 2i and 2i + 1.
        start: the position whose arrow is drawn; shift: how many positions the arrow spans.
        title: drawn above the figure.
    """
    encoding = as_matrix(encoding, "encoding")
    max_len, d_model = encoding.shape
    pairs = [int(i) for i in pairs]
    if not pairs or any(not 0 <= 2 * i + 1 < d_model for i in pairs):
        raise ValueError(f"pairs must be indices i with 2i + 1 < d_model = {d_model}, got {pairs}")
    if not 0 <= start < max_len or not 0 <= start + shift < max_len:
        raise ValueError(f"start={start} and start + shift={start + shift} must be positions in [0, {max_len})")
    color = role_color("position")
    figure = new_figure(2.5 * len(pairs) + 0.3, 2.9 + 0.25 * (title is not None))
    with style_context():
        axes = figure.subplots(1, len(pairs), squeeze=False)[0]
        for ax, i in zip(axes, pairs):
            sines, cosines = encoding[:, 2 * i], encoding[:, 2 * i + 1]
            circle = np.linspace(0, 2 * np.pi, 200)
            ax.plot(np.cos(circle), np.sin(circle), color="#cccccc", linewidth=0.8)
            ax.scatter(cosines, sines, s=12, color=color, zorder=3)
            end = start + shift
            omega = 10000.0 ** (-2 * i / d_model)  # the pair's frequency, radians per position
            # The arc outside the circle: counter-clockwise from the angle of `start` by shift * omega.
            first = np.arctan2(sines[start], cosines[start])
            sweep = shift * omega
            arc = first + np.linspace(0.0, sweep, 100)
            ax.plot(1.15 * np.cos(arc), 1.15 * np.sin(arc), color=role_color("output"), linewidth=1.4)
            ax.add_patch(FancyArrowPatch((1.15 * np.cos(arc[-2]), 1.15 * np.sin(arc[-2])),
                                         (1.15 * np.cos(arc[-1]), 1.15 * np.sin(arc[-1])), arrowstyle="-|>",
                                         mutation_scale=10, color=role_color("output"), linewidth=1.4))
            for position, label in ((start, f"pos {start}"), (end, f"pos {end}")):
                ax.scatter([cosines[position]], [sines[position]], s=28, color=role_color("output"), zorder=4)
                ax.text(0.7 * cosines[position], 0.7 * sines[position], label, ha="center", va="center",
                        fontsize=FONT_SIZE - 1.5, color="#333333")
            ax.text(0, -0.25, f"{shift} \u00d7 {omega:.3g}\n= {sweep:.3g} rad", ha="center", va="center",
                    fontsize=FONT_SIZE - 1, color=role_color("output"))
            ax.set_aspect("equal")
            ax.set_xlim(-1.35, 1.35)
            ax.set_ylim(-1.35, 1.35)
            ax.set_xticks([-1, 0, 1])
            ax.set_yticks([-1, 0, 1])
            ax.set_xlabel(f"cos (dim {2 * i + 1})")
            ax.set_ylabel(f"sin (dim {2 * i})")
            ax.set_title(f"pair {i}", fontsize=FONT_SIZE + 1)
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


# ---- block diagrams -------------------------------------------------------------------------

_BLOCKS = {
    "encoder": [("self-attention", "encoder")],
    "decoder": [("masked self-attention", "decoder"), ("encoder-decoder attention", "cross")],
}


def block_diagram(kind: str = "encoder", *, norm_first: bool = False, title: str | None = None):
    """Draw one encoder or decoder layer as boxes, with its residual connections and layer norms.

    Post-LN (the paper, ``norm_first=False``) normalises after each residual sum,
    ``x = LayerNorm(x + Sublayer(x))``. Pre-LN (``norm_first=True``) normalises the sub-layer's
    input and leaves the residual path untouched, ``x = x + Sublayer(LayerNorm(x))``.

    Args:
        kind: ``"encoder"`` (self-attention, feed-forward) or ``"decoder"`` (masked
            self-attention, encoder-decoder attention, feed-forward).
        norm_first: draw the pre-LN variant.
        title: drawn above the diagram; by default it names the kind and the variant.
    """
    if kind not in _BLOCKS:
        raise ValueError(f"kind must be 'encoder' or 'decoder', got {kind!r}")
    sublayers = _BLOCKS[kind] + [("feed-forward", "feed_forward")]
    box_height, gap = 0.55, 0.3
    # Per sub-layer: two boxes (the sub-layer and a norm) with an arrow below each; pre-LN adds the "+".
    per_sublayer = 2 * (box_height + gap) + (gap / 2 + 0.13 if norm_first else 0.0)
    height = 0.55 + len(sublayers) * per_sublayer + 0.3 + 0.45 + 0.55
    width = 4.2
    figure = new_figure(width, height)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")

    center, box_width = 1.8, 2.2
    norm_color = "#f1e3a6"
    residual_x = center + box_width / 2 + 0.45
    y = 0.35
    ax.text(center, y, "x (input)", ha="center", va="center", fontsize=FONT_SIZE + 0.5)

    def box(y_bottom, label, face, text_color=None):
        ax.add_patch(FancyBboxPatch((center - box_width / 2, y_bottom), box_width, box_height,
                                    boxstyle="round,pad=0.02,rounding_size=0.08", facecolor=face,
                                    edgecolor="#333333", linewidth=0.8))
        ax.text(center, y_bottom + box_height / 2, label, ha="center", va="center", fontsize=FONT_SIZE + 0.5,
                color=text_color or text_color_for(face))
        return y_bottom + box_height

    def arrow(y_from, y_to):
        ax.add_patch(FancyArrowPatch((center, y_from), (center, y_to), arrowstyle="-|>", mutation_scale=9,
                                     color="#333333", linewidth=0.9))

    y += 0.2
    for label, role in sublayers:
        branch_y = y + 0.05
        arrow(y, y + gap)
        y += gap
        if norm_first:
            y = box(y, "LayerNorm", norm_color)
            arrow(y, y + gap)
            y += gap
            y = box(y, label, role_color(role))
            sum_y = y + gap / 2
            ax.add_patch(Rectangle((center - 0.13, sum_y - 0.13), 0.26, 0.26, facecolor="white", edgecolor="#333333"))
            ax.text(center, sum_y, "+", ha="center", va="center", fontsize=FONT_SIZE + 2)
            y = sum_y + 0.13
        else:
            y = box(y, label, role_color(role))
            arrow(y, y + gap)
            y += gap
            y = box(y, "Add & LayerNorm", norm_color)
            sum_y = y - box_height / 2
        # The residual connection: from below the sub-layer, around it, into the sum.
        ax.plot([center, residual_x, residual_x], [branch_y, branch_y, sum_y], color=role_color("output"),
                linewidth=1.2)
        sum_edge = center + 0.13 if norm_first else center + box_width / 2
        ax.add_patch(FancyArrowPatch((residual_x, sum_y), (sum_edge, sum_y), arrowstyle="-|>", mutation_scale=9,
                                     color=role_color("output"), linewidth=1.2))
    arrow(y, y + 0.3)
    ax.text(center, y + 0.45, "output", ha="center", va="center", fontsize=FONT_SIZE + 0.5)
    ax.text(residual_x + 0.08, 0.55 + gap, "residual", ha="left", va="bottom", fontsize=FONT_SIZE - 0.5,
            color=role_color("output"), rotation=90)
    name = "post-LN, as in the paper" if not norm_first else "pre-LN"
    ax.text(width / 2, height - 0.2, title or f"{kind} layer, {name}", ha="center", va="top", fontsize=TITLE_SIZE)
    return figure


# ---- curves -----------------------------------------------------------------------------------

def series_chart(series: dict, *, x=None, xlabel: str = "", ylabel: str = "", log_y: bool = False,
                 title: str | None = None, markers: bool = True):
    """Draw one or more named series as lines over a shared x axis, each in its own head colour.

    Args:
        series: ``{name: values (n,)}``; every series has the same length.
        x: the x values ``(n,)``; default 1..n (for instance layer numbers).
        xlabel, ylabel, title: axis labels and a title.
        log_y: use a logarithmic y axis.
        markers: mark each point.
    """
    arrays, count = equal_length_arrays(series, "series")
    x = np.arange(1, count + 1) if x is None else to_numpy(x, "x").reshape(-1)
    if x.size != count:
        raise ValueError(f"x has {x.size} values for series of length {count}")
    figure = new_figure(5.0, 2.9 + 0.2 * (title is not None))
    with style_context():
        ax = figure.add_subplot(1, 1, 1)
        for index, (name, values) in enumerate(arrays.items()):
            ax.plot(x, values, "o-" if markers else "-", color=HEAD_COLORS[index % len(HEAD_COLORS)], label=name,
                    markersize=4)
        if log_y:
            ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if len(arrays) > 1:
            ax.legend()
        if title:
            ax.set_title(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


def decoding_step(prefix_tokens, probabilities, vocabulary, *, source_tokens=None, top_k: int = 8,
                  chosen: int | None = None, title: str | None = None):
    """Draw one step of decoding: the tokens the decoder has read, and its distribution over the next token.

    Args:
        prefix_tokens: the decoder's input so far, e.g. ``["<bos>", "ein", "und"]``.
        source_tokens: the encoded source sentence, drawn above the decoder's input as the memory
            that the encoder-decoder attention reads; None leaves it out.
        probabilities: ``(vocab_size,)``, the softmax of the last position's logits.
        vocabulary: the token of each id, ``vocab_size`` strings.
        top_k: how many of the most probable tokens to draw.
        chosen: the id that decoding picks; default the most probable one. It is drawn darker.
        title: drawn above the figure.
    """
    prefix_tokens = [str(token) for token in prefix_tokens]
    probabilities = to_numpy(probabilities, "probabilities").reshape(-1)
    vocabulary = check_labels(vocabulary, probabilities.size, "vocabulary tokens")
    if not prefix_tokens:
        raise ValueError("prefix_tokens is empty; the decoder always reads at least <bos>")
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 or abs(probabilities.sum() - 1) > 1e-3:
        raise ValueError("probabilities must be a distribution: finite, non-negative, summing to 1")
    top_k = min(int(top_k), probabilities.size)
    order = np.argsort(-probabilities, kind="stable")[:top_k]
    chosen = int(order[0]) if chosen is None else int(chosen)

    figure = new_figure(7.6, max(0.5 + 0.3 * top_k, 2.6) + 0.3 * (title is not None))
    with style_context():
        prefix_ax = figure.add_axes((0.02, 0.12, 0.36, 0.76))
        bars_ax = figure.add_axes((0.55, 0.12, 0.42, 0.76))
    prefix_ax.axis("off")
    prefix_ax.set_xlim(0, 1)
    prefix_ax.set_ylim(0, 1)
    def token_row(tokens, y, role, caption):
        box_width = min(0.96 / len(tokens), 0.3)
        start = 0.5 - box_width * len(tokens) / 2
        face = role_color(role)
        for index, token in enumerate(tokens):
            prefix_ax.add_patch(FancyBboxPatch((start + index * box_width + 0.008, y), box_width - 0.016, 0.16,
                                               boxstyle="round,pad=0.005", facecolor=face, edgecolor="none"))
            prefix_ax.text(start + (index + 0.5) * box_width, y + 0.08, token, ha="center", va="center",
                           fontsize=FONT_SIZE - 1.5, color=text_color_for(face))
        prefix_ax.text(0.5, y + 0.2, caption, ha="center", va="bottom", fontsize=FONT_SIZE)

    decoder_y = 0.22 if source_tokens is not None else 0.44
    token_row(prefix_tokens, decoder_y, "decoder", "decoder input so far")
    if source_tokens is not None:
        token_row([str(token) for token in source_tokens], 0.7, "encoder", "encoder output (memory)")
        prefix_ax.annotate("", xy=(0.5, 0.47), xytext=(0.5, 0.69), xycoords="axes fraction",
                           arrowprops=dict(arrowstyle="-|>", color=role_color("cross"), linestyle="--"))
        prefix_ax.text(0.53, 0.58, "keys and values of the\nencoder-decoder attention", ha="left", va="center",
                       fontsize=FONT_SIZE - 1.5, color=role_color("cross"))
    prefix_ax.annotate("", xy=(1.28, decoder_y + 0.08), xytext=(1.02, decoder_y + 0.08), xycoords="axes fraction",
                       arrowprops=dict(arrowstyle="-|>", color="#333333"))
    prefix_ax.text(1.15, decoder_y + 0.15, "next?", ha="center", va="bottom", fontsize=FONT_SIZE,
                   transform=prefix_ax.transAxes)

    positions = np.arange(top_k)[::-1]
    color = role_color("score")
    faces = [color if token_id == chosen else weight_cmap("score")(0.45) for token_id in order]
    bars_ax.barh(positions, probabilities[order], color=faces, height=0.7)
    bars_ax.set_yticks(positions, [vocabulary[token_id] for token_id in order])
    bars_ax.set_xlim(0, 1.12)
    bars_ax.set_xlabel("probability of the next token")
    for position, token_id in zip(positions, order):
        bars_ax.text(probabilities[token_id] + 0.02, position, f"{probabilities[token_id]:.3f}", va="center",
                     fontsize=FONT_SIZE - 1)
    for side in ("top", "right"):
        bars_ax.spines[side].set_visible(False)
    if title:
        figure.text(0.5, 0.97, title, ha="center", va="top", fontsize=TITLE_SIZE)
    return figure


def smoothed_target(vocabulary, gold: int, epsilon: float, *, predicted=None, title: str | None = None):
    """Draw the one-hot target, the label-smoothed target and optionally a model's prediction, as bars.

    The smoothed target puts ``1 - epsilon + epsilon / V`` on the gold token and ``epsilon / V``
    on each of the others, V being the vocabulary size.
    """
    vocabulary = [str(token) for token in vocabulary]
    size = len(vocabulary)
    if not 0 <= gold < size:
        raise ValueError(f"gold must be an id in [0, {size}), got {gold}")
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"epsilon must lie in [0, 1), got {epsilon}")
    one_hot = np.zeros(size)
    one_hot[gold] = 1.0
    smooth = np.full(size, epsilon / size)
    smooth[gold] += 1.0 - epsilon
    panels = [("one-hot target", one_hot, "score"), (f"smoothed target, \u03b5 = {epsilon:g}", smooth, "score")]
    if predicted is not None:
        predicted = to_numpy(predicted, "predicted").reshape(-1)
        if predicted.size != size:
            raise ValueError(f"predicted has {predicted.size} values for a vocabulary of {size}")
        panels.append(("model's prediction", predicted, "decoder"))
    figure = new_figure(2.6 * len(panels) + 0.4, 2.5 + 0.25 * (title is not None))
    with style_context():
        axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for ax, (name, values, role) in zip(axes, panels):
        ax.bar(np.arange(size), values, color=role_color(role), width=0.75)
        ax.set_xticks(np.arange(size), vocabulary, rotation=90, fontsize=FONT_SIZE - 1)
        ax.set_ylim(0, 1.08)
        ax.set_title(name, fontsize=FONT_SIZE + 0.5)
    axes[0].set_ylabel("probability")
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


def learning_rate_curves(schedules: dict, *, title: str | None = None):
    """Draw learning-rate schedules over the training steps, marking each one's peak.

    Args:
        schedules: ``{name: (steps (n,), rates (n,))}``, e.g. one entry per warm-up length.
        title: drawn above the figure.
    """
    if not isinstance(schedules, dict) or not schedules:
        raise ValueError("schedules must be a non-empty dict {name: (steps, rates)}")
    figure = new_figure(6.0, 3.0 + 0.2 * (title is not None))
    with style_context():
        ax = figure.add_subplot(1, 1, 1)
        for index, (name, pair) in enumerate(schedules.items()):
            if len(pair) != 2:
                raise ValueError(f"schedules[{name!r}] must be (steps, rates)")
            steps = to_numpy(pair[0], "steps").reshape(-1)
            rates = to_numpy(pair[1], "rates").reshape(-1)
            if steps.shape != rates.shape:
                raise ValueError(f"schedules[{name!r}]: {steps.size} steps but {rates.size} rates")
            color = HEAD_COLORS[index % len(HEAD_COLORS)]
            ax.plot(steps, rates, color=color, label=str(name))
            peak = int(np.argmax(rates))
            ax.plot(steps[peak], rates[peak], "o", color=color, markersize=5)
            ax.annotate(f"peak at step {int(steps[peak]):,}", (steps[peak], rates[peak]), textcoords="offset points",
                        xytext=(6, 4), fontsize=FONT_SIZE - 1, color=color)
        ax.set_xlabel("training step")
        ax.set_ylabel("learning rate")
        ax.legend(loc="upper right")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        if title:
            ax.set_title(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


def training_curves(history, *, smooth: int = 20, title: str | None = None):
    """Draw a training run: the loss per step, and the token and exact-match accuracies.

    Args:
        history: a :class:`illustrated.train.TrainingHistory` (or anything with its ``step``,
            ``loss``, ``token_accuracy``, ``eval_step`` and ``eval_exact_match`` lists).
        smooth: also draw a running mean over this many steps (1 turns it off).
        title: drawn above the figure.
    """
    steps = np.asarray(history.step, dtype=float)
    if steps.size == 0:
        raise ValueError("the history has no steps to draw; train for at least one step")
    loss = np.asarray(history.loss, dtype=float)
    accuracy = np.asarray(history.token_accuracy, dtype=float)
    figure = new_figure(8.5, 2.9 + 0.25 * (title is not None))
    with style_context():
        loss_ax, accuracy_ax = figure.subplots(1, 2)
    line_color = role_color("decoder")
    loss_ax.plot(steps, loss, color=weight_cmap("decoder")(0.4), linewidth=0.8, label="per step")
    if smooth > 1 and steps.size >= smooth:
        kernel = np.ones(smooth) / smooth
        loss_ax.plot(steps[smooth - 1:], np.convolve(loss, kernel, mode="valid"), color=line_color,
                     label=f"mean of {smooth} steps")
        loss_ax.legend()
    loss_ax.set_xlabel("training step")
    loss_ax.set_ylabel("label-smoothed loss")
    loss_ax.set_title("training loss", fontsize=FONT_SIZE + 1)

    accuracy_ax.plot(steps, accuracy, color=weight_cmap("decoder")(0.5), linewidth=0.8,
                     label="token accuracy (training batch)")
    if len(history.eval_step):
        accuracy_ax.plot(history.eval_step, history.eval_exact_match, "o-", color=role_color("cross"),
                         label="exact match (validation)", markersize=4)
    accuracy_ax.set_ylim(0, 1.02)
    accuracy_ax.set_xlabel("training step")
    accuracy_ax.set_ylabel("accuracy")
    accuracy_ax.legend(loc="lower right")
    accuracy_ax.set_title("accuracy", fontsize=FONT_SIZE + 1)
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    figure.tight_layout()
    return figure


def cross_attention_maps(maps, *, columns: int = 3, title: str | None = None):
    """Draw encoder-decoder attention as heatmaps, one per sentence, with the true alignment outlined.

    Args:
        maps: a list of ``(weights, src_tokens, tgt_tokens, alignment)``. ``weights`` is
            ``(tgt_len, src_len)``, a head or the mean over heads, with one row per target token
            being predicted and one column per source token. ``alignment`` gives for each row the
            index of the source token it translates, or is None to draw no outline.
        columns: maps per row of the figure.
        title: drawn above the figure.
    """
    if not maps:
        raise ValueError("maps is empty; pass at least one (weights, src_tokens, tgt_tokens, alignment)")
    checked = []
    for index, item in enumerate(maps):
        if len(item) != 4:
            raise ValueError(f"maps[{index}] must be (weights, src_tokens, tgt_tokens, alignment)")
        weights, src_tokens, tgt_tokens, alignment = item
        weights = as_matrix(weights, f"maps[{index}] weights")
        tgt_len, src_len = weights.shape
        src_tokens = check_labels(src_tokens, src_len, "source tokens")
        tgt_tokens = check_labels(tgt_tokens, tgt_len, "target tokens")
        if alignment is not None and len(alignment) > tgt_len:
            raise ValueError(f"maps[{index}]: {len(alignment)} alignment entries for {tgt_len} target rows")
        checked.append((weights, src_tokens, tgt_tokens, alignment))

    per_row = min(columns, len(checked))
    rows = -(-len(checked) // per_row)
    cell = 0.3  # inches per cell, the same in every map
    # Each column of maps is as wide as its longest source, so equal-aspect cells come out the same size.
    column_cells = [max(item[0].shape[1] for item in checked[column::per_row]) for column in range(per_row)]
    max_tgt = max(item[0].shape[0] for item in checked)
    label_margin = 0.9  # inches for the target tokens left of each map
    figure = new_figure(sum(column_cells) * cell + per_row * label_margin + 0.3,
                        rows * (max_tgt * cell + 1.0) + 0.3 * (title is not None))
    figure.set_layout_engine("constrained")
    grid = figure.add_gridspec(rows, per_row, width_ratios=column_cells)
    cmap = weight_cmap("cross")
    for index, (weights, src_tokens, tgt_tokens, alignment) in enumerate(checked):
        row, column = divmod(index, per_row)
        with style_context():
            ax = figure.add_subplot(grid[row, column])
        ax.imshow(weights, cmap=cmap, vmin=0.0, vmax=1.0, aspect="equal", interpolation="nearest")
        ax.set_xlim(-0.5, column_cells[column] - 0.5)
        ax.set_ylim(max_tgt - 0.5, -0.5)
        ax.set_xticks(range(len(src_tokens)), src_tokens, rotation=90, fontsize=FONT_SIZE - 1)
        ax.set_yticks(range(len(tgt_tokens)), tgt_tokens, fontsize=FONT_SIZE - 1)
        ax.tick_params(length=0)
        for spine in ax.spines.values():
            spine.set_visible(False)
        if alignment is not None:
            for target_index, source_index in enumerate(alignment):
                if source_index is None:
                    continue
                ax.add_patch(Rectangle((source_index - 0.5, target_index - 0.5), 1, 1, fill=False,
                                       edgecolor=NEGATIVE_COLOR, linewidth=1.0, linestyle=":"))
        ax.set_xlabel("source (keys)", fontsize=FONT_SIZE - 0.5)
        if column == 0:
            ax.set_ylabel("target being predicted", fontsize=FONT_SIZE - 0.5)
    if title:
        figure.suptitle(title, fontsize=TITLE_SIZE)
    return figure
