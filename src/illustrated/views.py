"""Attention views: self-contained HTML that draws attention weights in any notebook or web page.

``attention_view(weights, tokens)`` returns an :class:`AttentionView`. Displaying it gives one
``text/html`` output made of a ``div``, the weights as JSON and a short inline script, so it needs
no kernel, no require.js and nothing from another site. The same output therefore works on the
book's static pages and in JupyterLab 4.6 and Notebook 7.6 on the first run (checked in Chromium).
An untrusted notebook shows the static image described below. NOTE: Colab runs scripts in
outputs too, but views were not checked there.

What a view shows:

- ``mode="lines"``: the picture of *The Illustrated Transformer*, queries in the left column, keys
  in the right one, and a line from each query to each key whose opacity is the weight. Hovering or
  clicking a token keeps only its lines and prints the weights beside the other column.
- ``mode="heatmap"``: one row per query and one column per key.
- ``mode="heads"``: a thumbnail of every head of the chosen layer above the lines view.
- ``mode="grid"``: a thumbnail of every layer and head above the lines view.

Menus in the view choose the layer, the head and the drawing (lines or heatmap).
``encoder_decoder_view`` adds a menu for encoder self-attention, decoder self-attention and
cross-attention. Weights are stored in thousandths (rounded to 3 decimals). A view of six layers
of eight heads over 20 tokens measured 120 to 141 KB of HTML, and a test keeps it under 300 KB.

Each output also holds a static SVG image of the first selection, shown when the script does not
run (an untrusted notebook, a notebook viewer that strips scripts). Every token is escaped: the
script sets tokens as text, the JSON has ``<``, ``>`` and ``&`` escaped, and the SVG image escapes
them as XML. Each display gets a fresh element id, so one view can be shown twice on a page.
"""

from __future__ import annotations

import base64
import html
import json
import uuid
import warnings
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from illustrated.plots.style import HEAD_COLORS

__all__ = ["AttentionView", "attention_view", "encoder_decoder_view", "choice_view", "MODES"]

MODES = ("lines", "heatmap", "heads", "grid")
_STYLES = ("lines", "heatmap")
# Weights may leave [0, 1] by this much through float16/bfloat16 rounding; they are clipped back.
_RANGE_TOLERANCE = 1e-2
# Past this size a view is slow to load on a page, so a warning suggests how to make it smaller.
_LARGE_VIEW_BYTES = 1_000_000
_MAX_LABEL_CHARS = 24


@lru_cache(maxsize=None)
def _asset(name: str) -> str:
    return resources.files("illustrated").joinpath(name).read_text(encoding="utf-8")


def _to_numpy(value: Any, name: str) -> np.ndarray:
    """Convert a NumPy array, a torch tensor or nested lists to a float64 array."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        value = value.detach().cpu().float().numpy()
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"{name} must be a NumPy array, a torch tensor or a list of them, got {type(value).__name__}"
        ) from error
    return array


def _stack_layers(layers: Sequence[Any], name: str) -> np.ndarray:
    """Stack a list of per-layer weights, as ``Transformer(..., return_attention=True)`` returns them."""
    arrays = [_to_numpy(layer, f"{name}[{i}]") for i, layer in enumerate(layers)]
    squeezed = []
    for i, array in enumerate(arrays):
        if array.ndim == 4:  # (batch, heads, q, k)
            if array.shape[0] != 1:
                raise ValueError(
                    f"{name}[{i}] has shape {array.shape}, a batch of {array.shape[0]} examples; a view shows one: "
                    f"pass [w[i:i + 1] for w in {name}] to pick example i"
                )
            array = array[0]
        elif array.ndim == 2:  # (q, k): one head
            array = array[None]
        elif array.ndim != 3:
            raise ValueError(
                f"{name}[{i}] has shape {array.shape}; each layer must be (heads, queries, keys) "
                "or (1, heads, queries, keys)"
            )
        squeezed.append(array)
    shapes = {a.shape for a in squeezed}
    if len(shapes) > 1:
        listed = ", ".join(str(a.shape) for a in squeezed)
        raise ValueError(f"the layers of {name} differ in shape: {listed}; every layer must have the same shape")
    return np.stack(squeezed)


def _as_layers_heads(attention: Any, name: str = "attention") -> np.ndarray:
    """Bring attention weights to the shape ``(layers, heads, queries, keys)``.

    Accepts ``(q, k)``, ``(heads, q, k)``, ``(layers, heads, q, k)`` and ``(1, layers, heads, q, k)``,
    or a list with one array per layer. A 3-D array with a leading 1 is one head either way.
    """
    if isinstance(attention, (list, tuple)) and attention and np.ndim(_first_item(attention)) >= 2:
        weights = _stack_layers(attention, name)
    else:
        weights = _to_numpy(attention, name)
        if weights.ndim == 5:
            if weights.shape[0] != 1:
                raise ValueError(
                    f"{name} has shape {weights.shape}: a batch of {weights.shape[0]} examples of "
                    f"(layers, heads, queries, keys); pass {name}[i] to show example i"
                )
            weights = weights[0]
        elif weights.ndim == 3:
            weights = weights[None]
        elif weights.ndim == 2:
            weights = weights[None, None]
        elif weights.ndim != 4:
            raise ValueError(
                f"{name} has shape {weights.shape}; expected (queries, keys), (heads, queries, keys) or "
                "(layers, heads, queries, keys), with an optional leading batch dimension of 1"
            )
    if 0 in weights.shape:
        raise ValueError(f"{name} has an empty dimension, shape {weights.shape} as (layers, heads, queries, keys)")
    if not np.all(np.isfinite(weights)):
        raise ValueError(
            f"{name} contains NaN or infinite values; attention weights must be finite "
            "(a fully masked row should be all zeros)"
        )
    low, high = float(weights.min()), float(weights.max())
    if low < -_RANGE_TOLERANCE or high > 1 + _RANGE_TOLERANCE:
        raise ValueError(
            f"{name} contains values from {low:.4g} to {high:.4g}, but attention weights lie in [0, 1]; "
            "pass the softmax of the scores (illustrated.reference.softmax), not the raw scores"
        )
    return np.clip(weights, 0.0, 1.0)


def _first_item(sequence: Sequence[Any]) -> Any:
    first = sequence[0]
    if hasattr(first, "detach"):
        return first.detach().cpu()
    return first


def _check_tokens(tokens: Any, name: str) -> list[str]:
    if isinstance(tokens, str):
        raise TypeError(
            f"{name} must be a list of tokens, got the string {tokens!r}; split it first, e.g. {name}=text.split()"
        )
    if hasattr(tokens, "tolist"):
        tokens = tokens.tolist()
    try:
        return [str(token) for token in tokens]
    except TypeError as error:
        raise TypeError(f"{name} must be a list of tokens, got {type(tokens).__name__}") from error


def _check_count(tokens: list[str], count: int, axis: str, token_name: str, weights_name: str, shape) -> None:
    if len(tokens) != count:
        preview = tokens if len(tokens) <= 8 else tokens[:8] + ["..."]
        raise ValueError(
            f"{weights_name} has {count} {axis} (shape {tuple(shape)} as (layers, heads, queries, keys)) "
            f"but {token_name} has {len(tokens)} tokens: {preview}; pass one token per {axis[:-1]}"
        )


def _index(value: int, count: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if not -count <= value < count:
        raise ValueError(f"{name}={value} is out of range: the attention has {count} {name}s (0 to {count - 1})")
    return int(value) % count


def _query_index(query: int | str | None, query_tokens: list[str]) -> int | None:
    if query is None:
        return None
    if isinstance(query, str):
        if query not in query_tokens:
            raise ValueError(f"query={query!r} is not one of the query tokens {query_tokens}")
        return query_tokens.index(query)
    return _index(query, len(query_tokens), "query")


def _part(name: str, weights: np.ndarray, queries: list[str], keys: list[str],
          query_label: str, key_label: str) -> dict:
    thousandths = np.rint(weights * 1000).astype(np.int64)
    return {
        "name": name,
        "queries": queries,
        "keys": keys,
        "queryLabel": query_label,
        "keyLabel": key_label,
        "layers": int(weights.shape[0]),
        "heads": int(weights.shape[1]),
        "weights": thousandths.ravel().tolist(),
        "choice": 0,
    }


def _mode_layout(mode: str, style: str | None) -> tuple[str, str]:
    """Map a mode to (detail drawing, overview) as the script understands them."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a view mode; choose one of {', '.join(MODES)}")
    if style is not None and style not in _STYLES:
        raise ValueError(f"style={style!r} is not a drawing; choose 'lines' or 'heatmap'")
    if mode in _STYLES:
        return style or mode, "none"
    return style or "lines", mode


def _json_for_script(payload: dict) -> str:
    """Serialise for a <script> element: '<', '>' and '&' escaped so no token can close the element."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class AttentionView:
    """A drawn view of attention weights; display it in a notebook, or save it as an HTML page.

    Build it with :func:`attention_view` or :func:`encoder_decoder_view`. ``html`` is the HTML
    fragment (a fresh element id on every access), ``save(path)`` writes a standalone page.
    """

    def __init__(self, parts: list[dict], *, style: str, overview: str, part: int = 0, layer: int = 0,
                 head: int = 0, query: int | None = None, title: str | None = None,
                 choices: dict | None = None):
        self.parts = parts
        self.choices = choices
        self.style = style
        self.overview = overview
        self.part = part
        self.layer = layer
        self.head = head
        self.query = query
        self.title = title

    @property
    def mode(self) -> str:
        return self.style if self.overview == "none" else self.overview

    def payload(self) -> dict:
        """Return the data the script draws from, as it is embedded in the page."""
        return {
            "parts": self.parts,
            "style": self.style,
            "overview": self.overview,
            "part": self.part,
            "layer": self.layer,
            "head": self.head,
            "query": self.query,
            "title": self.title,
            "choices": self.choices,
            "colors": list(HEAD_COLORS),
        }

    @property
    def html(self) -> str:
        """The HTML fragment: root div, styles, static image, JSON data and script."""
        view_id = "itv-" + uuid.uuid4().hex[:12]
        label = self.title or "attention view"
        image = _static_image(self.parts[self.part], self.layer, self.head, self.style, self.query)
        fragment = (
            # MathJax skips elements of these classes (MyST marks its own sections with the same
            # pair), so a token such as \(x\) stays text.
            f'<div class="itv-view tex2jax_ignore mathjax_ignore" id="{view_id}" aria-label="{html.escape(label)}">'
            f"<style>{_asset('attention_view.css')}</style>"
            f'<div class="itv-static">{image}</div>'
            '<div class="itv-live" hidden></div>'
            f'<script type="application/json" class="itv-data">{_json_for_script(self.payload())}</script>'
            f"<script>{_asset('attention_view.js').rstrip()}({json.dumps(view_id)});</script>"
            "</div>"
        )
        if len(fragment) > _LARGE_VIEW_BYTES:
            warnings.warn(
                f"this attention view is {len(fragment) / 1e6:.1f} MB of HTML; show fewer layers "
                "(index the weights) or fewer tokens to keep the page fast",
                stacklevel=3,
            )
        return fragment

    def _repr_html_(self) -> str:
        return self.html

    def save(self, path: str | Path) -> Path:
        """Write the view as a standalone HTML page and return its path."""
        path = Path(path)
        title = html.escape(self.title or "Attention view")
        path.write_text(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head><body>\n{self.html}\n</body></html>\n",
            encoding="utf-8",
        )
        return path

    def __repr__(self) -> str:
        shapes = ", ".join(
            f"{p['name']}: {p['layers']}x{p['heads']}x{len(p['queries'])}x{len(p['keys'])}" for p in self.parts
        )
        return f"AttentionView(mode={self.mode!r}, {shapes})"


def attention_view(
    attention: Any,
    tokens: Sequence[str],
    query_tokens: Sequence[str] | None = None,
    *,
    mode: str = "lines",
    layer: int = 0,
    head: int = 0,
    query: int | str | None = None,
    style: str | None = None,
    title: str | None = None,
    query_label: str = "query",
    key_label: str = "key",
) -> AttentionView:
    """Draw attention weights as an interactive view that works without a kernel.

    Args:
        attention: weights ``(queries, keys)``, ``(heads, queries, keys)`` or
            ``(layers, heads, queries, keys)``, as a NumPy array or torch tensor, with an optional
            leading batch dimension of 1; or a list with one ``(1, heads, queries, keys)`` tensor per
            layer, as ``Transformer(...)(src, tgt_in, return_attention=True)[1]["encoder"]``.
            Values must lie in [0, 1]; they are rounded to 3 decimals. A 4-D array is read as
            layers, not as a batch: for a batch, pass ``weights[i]``.
        tokens: the key tokens, one per key.
        query_tokens: the query tokens, one per query; default ``tokens`` (self-attention).
        mode: ``"lines"``, ``"heatmap"``, ``"heads"`` (every head of ``layer``) or ``"grid"``
            (every layer and head).
        layer, head: the selection shown first; negative indices count from the end.
        query: a query index or token to select first, e.g. ``query="it"``; default none.
        style: the drawing below the thumbnails in the heads and grid modes, ``"lines"`` (default)
            or ``"heatmap"``.
        title: a line shown above the view.
        query_label, key_label: column headers of the lines drawing.

    Returns:
        An :class:`AttentionView`; a notebook displays it, ``.save(path)`` writes a page.

    Example::

        weights = reference.softmax(scores)                        # (5, 5)
        attention_view(weights, ["the", "animal", "was", "tired", "it"], query="it")
    """
    weights = _as_layers_heads(attention, "attention")
    keys = _check_tokens(tokens, "tokens")
    queries = keys if query_tokens is None else _check_tokens(query_tokens, "query_tokens")
    _check_count(keys, weights.shape[3], "keys", "tokens", "attention", weights.shape)
    _check_count(queries, weights.shape[2], "queries", "query_tokens" if query_tokens is not None else "tokens",
                 "attention", weights.shape)
    detail, overview = _mode_layout(mode, style)
    part = _part("attention", weights, queries, keys, query_label, key_label)
    return AttentionView(
        [part], style=detail, overview=overview,
        layer=_index(layer, weights.shape[0], "layer"), head=_index(head, weights.shape[1], "head"),
        query=_query_index(query, queries), title=title,
    )


def encoder_decoder_view(
    encoder: Any,
    decoder: Any,
    cross: Any,
    src_tokens: Sequence[str],
    tgt_tokens: Sequence[str],
    *,
    mode: str = "lines",
    show: str = "cross",
    layer: int = 0,
    head: int = 0,
    style: str | None = None,
    title: str | None = None,
) -> AttentionView:
    """Draw the three attentions of an encoder-decoder behind one menu.

    Args:
        encoder: encoder self-attention, ``(layers, heads, src_len, src_len)`` or the list that
            ``Transformer(...)(src, tgt_in, return_attention=True)[1]["encoder"]`` returns.
        decoder: decoder self-attention, ``(layers, heads, tgt_len, tgt_len)`` or a list.
        cross: encoder-decoder attention, ``(layers, heads, tgt_len, src_len)`` or a list.
        src_tokens: the source tokens; tgt_tokens: the decoder's input tokens.
        mode: as in :func:`attention_view`.
        show: which attention the menu shows first: ``"encoder"``, ``"decoder"`` or ``"cross"``.
        layer, head, style, title: as in :func:`attention_view`.
    """
    src = _check_tokens(src_tokens, "src_tokens")
    tgt = _check_tokens(tgt_tokens, "tgt_tokens")
    encoder_weights = _as_layers_heads(encoder, "encoder")
    decoder_weights = _as_layers_heads(decoder, "decoder")
    cross_weights = _as_layers_heads(cross, "cross")
    _check_count(src, encoder_weights.shape[2], "queries", "src_tokens", "encoder", encoder_weights.shape)
    _check_count(src, encoder_weights.shape[3], "keys", "src_tokens", "encoder", encoder_weights.shape)
    _check_count(tgt, decoder_weights.shape[2], "queries", "tgt_tokens", "decoder", decoder_weights.shape)
    _check_count(tgt, decoder_weights.shape[3], "keys", "tgt_tokens", "decoder", decoder_weights.shape)
    _check_count(tgt, cross_weights.shape[2], "queries", "tgt_tokens", "cross", cross_weights.shape)
    _check_count(src, cross_weights.shape[3], "keys", "src_tokens", "cross", cross_weights.shape)
    order = ("encoder", "decoder", "cross")
    if show not in order:
        raise ValueError(f"show={show!r} is not one of {', '.join(order)}")
    parts = [
        _part("encoder self-attention", encoder_weights, src, src, "source (query)", "source (key)"),
        _part("decoder self-attention", decoder_weights, tgt, tgt, "target (query)", "target (key)"),
        _part("cross-attention", cross_weights, tgt, src, "target (query)", "source (key)"),
    ]
    shown = order.index(show)
    weights = (encoder_weights, decoder_weights, cross_weights)[shown]
    detail, overview = _mode_layout(mode, style)
    return AttentionView(
        parts, style=detail, overview=overview, part=shown,
        layer=_index(layer, weights.shape[0], "layer"), head=_index(head, weights.shape[1], "head"), title=title,
    )


def choice_view(views: Mapping[str, AttentionView], *, label: str = "Example", selected: str | None = None,
                title: str | None = None) -> AttentionView:
    """Put several views behind one menu, e.g. one per sentence or per temperature.

    The page switches between them without a kernel, which is how ``illustrated.widgets`` gives
    its inspectors a working static version. Every view keeps its own menus (layer, head, and for an
    encoder-decoder the kind of attention); the first view's mode and selection are shown first.

    Args:
        views: menu entry name -> view, in menu order.
        label: the menu's label.
        selected: the entry shown first; default the first one.
        title: a line above the view; default the title of the entry shown first.
    """
    if not views:
        raise ValueError("choice_view needs at least one view, got an empty mapping")
    names = [str(name) for name in views]
    if selected is None:
        selected = names[0]
    if str(selected) not in names:
        raise ValueError(f"selected={selected!r} is not one of the entries {names}")
    parts = []
    first_part = 0
    for index, (name, view) in enumerate(views.items()):
        if not isinstance(view, AttentionView):
            raise TypeError(f"views[{name!r}] must be an AttentionView, got {type(view).__name__}")
        if view.choices is not None:
            raise ValueError(f"views[{name!r}] already has a menu of choices; menus do not nest")
        if str(name) == str(selected):
            first_part = len(parts) + view.part
        for part in view.parts:
            parts.append(dict(part, choice=index, title=view.title))
    first = views[selected] if selected in views else list(views.values())[names.index(str(selected))]
    return AttentionView(
        parts, style=first.style, overview=first.overview, part=first_part, layer=first.layer,
        head=first.head, query=first.query, title=title if title is not None else first.title,
        choices={"label": str(label), "names": names},
    )


# ---- the static image, for outputs whose script does not run ----------------------------------

def _label(token: str) -> str:
    return token if len(token) <= _MAX_LABEL_CHARS else token[: _MAX_LABEL_CHARS - 1] + "\u2026"


def _text_width(text: str, font_size: float = 13) -> float:
    return len(text) * font_size * 0.58  # an estimate: no fonts are measured in Python


def _static_image(part: dict, layer: int, head: int, style: str, query: int | None) -> str:
    """Return an <img> whose SVG data URI draws the view's first selection."""
    weights = np.asarray(part["weights"], dtype=np.int64).reshape(
        part["layers"], part["heads"], len(part["queries"]), len(part["keys"])
    )[layer, head] / 1000
    drawing = _svg_heatmap if style == "heatmap" else _svg_lines
    caption = f"{part['name']}, layer {layer}, head {head} (static image: the interactive view needs scripts)"
    svg = drawing(weights, part["queries"], part["keys"], HEAD_COLORS[head % len(HEAD_COLORS)], caption, query)
    encoded = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return f'<img alt="{html.escape(caption)}" src="data:image/svg+xml;base64,{encoded}">'


def _svg_document(width: float, height: float, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif" font-size="13">'
        f'<rect width="100%" height="100%" fill="#ffffff" rx="6"/>' + "".join(body) + "</svg>"
    )


def _svg_text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" dominant-baseline="central" fill="#1a1a1a"{extra}>'
        f"{html.escape(text)}</text>"
    )


def _svg_lines(weights, queries, keys, color, caption, query) -> str:
    row, top = 22, 44
    query_width = max(_text_width(_label(t)) for t in queries)
    key_width = max(_text_width(_label(t)) for t in keys)
    query_right = 12 + query_width
    key_left = query_right + 150
    width = max(key_left + key_width + 12, _text_width(caption, 11) + 20)
    height = top + max(len(queries), len(keys)) * row + 6
    body = [_svg_text(10, 14, caption, extra=' font-size="11" fill-opacity="0.8"')]
    for q in range(len(queries)):
        for k in range(len(keys)):
            w = float(weights[q, k])
            if w < 0.005 or (query is not None and q != query):
                continue
            y1, y2 = top + q * row + row / 2, top + k * row + row / 2
            # The same opacity and width as the script draws, with and without a selected query.
            opacity, stroke_width = (0.15 + 0.85 * w, 1.5 + 3 * w) if query is not None else (0.85 * w, 2.0)
            body.append(
                f'<line x1="{query_right + 8:.1f}" y1="{y1:.1f}" x2="{key_left - 8:.1f}" y2="{y2:.1f}" '
                f'stroke="{color}" stroke-width="{stroke_width:.2f}" stroke-opacity="{opacity:.3f}"/>'
            )
    for q, token in enumerate(queries):
        weight = ' font-weight="bold"' if q == query else ""
        body.append(_svg_text(query_right, top + q * row + row / 2, _label(token), "end", weight))
    for k, token in enumerate(keys):
        body.append(_svg_text(key_left, top + k * row + row / 2, _label(token)))
    return _svg_document(width, height, body)


def _svg_heatmap(weights, queries, keys, color, caption, query) -> str:
    cell = max(14, min(34, 560 // max(len(queries), len(keys))))
    query_width = max(_text_width(_label(t)) for t in queries)
    key_width = max(_text_width(_label(t)) for t in keys)
    left = query_width + 14
    top = key_width * 0.72 + 40
    width = max(left + len(keys) * cell + key_width * 0.72 + 10, _text_width(caption, 11) + 20)
    height = top + len(queries) * cell + 8
    body = [_svg_text(10, 14, caption, extra=' font-size="11" fill-opacity="0.8"')]
    for q in range(len(queries)):
        for k in range(len(keys)):
            w = float(weights[q, k])
            body.append(
                f'<rect x="{left + k * cell:.1f}" y="{top + q * cell:.1f}" width="{cell}" height="{cell}" '
                f'fill="{color}" fill-opacity="{w:.3f}"/>'
            )
    for q, token in enumerate(queries):
        body.append(_svg_text(left - 6, top + q * cell + cell / 2, _label(token), "end"))
    for k, token in enumerate(keys):
        x, y = left + k * cell + cell / 2, top - 6
        body.append(_svg_text(x, y, _label(token), extra=f' transform="rotate(-45 {x:.1f} {y:.1f})"'))
    return _svg_document(width, height, body)
