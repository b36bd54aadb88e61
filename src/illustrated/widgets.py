"""Inspectors that recompute attention in a live kernel, and the bertviz adapter.

An inspector is a small ipywidgets app (a menu, a text box or a slider above an attention view)
that works with ipywidgets 7.7.1, which Colab ships, and with ipywidgets 8. It is wrapped in an
:class:`Inspector`, whose output carries two versions of itself in one display:

- ``application/vnd.jupyter.widget-view+json``: the live widget. JupyterLab 4.6 and Notebook 7.6
  pick it on the first run, and moving a control reruns the Python code (checked in Chromium).
  NOTE: Colab and the classic notebook also rank widget views first, but neither was checked.
- ``text/html``: an :mod:`illustrated.views` view with the inspector's choices computed in advance
  and put behind a menu in the page (every sentence of the menu, a few temperatures). It needs no
  kernel, so on the book's static pages the menus still change what is drawn.

The book's ``_config.yml`` makes the web pages use the second version: it ranks ``text/html``
above the widget view (``nb_mime_priority_overrides``) and loads no widget JavaScript
(``nb_ipywidgets_js`` is empty), so no page fetches require.js or the widget manager from a CDN.
A plain ipywidget displayed without an :class:`Inspector` around it draws nothing on the web
page, because the page loads no widget JavaScript. The browser tests reject such pages. In a
notebook front end without the widget extension, the HTML version shows instead of the widget.

:func:`show_bertviz` feeds the book's encoder, decoder and cross-attention to bertviz's
``head_view`` and ``model_view`` for readers in Colab and Jupyter. Its output is not for the web
book: see its docstring.
"""

from __future__ import annotations

import html
import json
import math
import re
from typing import Any, Callable, Mapping, Sequence

import ipywidgets as widgets
import numpy as np
from IPython.display import HTML, display

from illustrated import reference
from illustrated.views import AttentionView, attention_view, choice_view, encoder_decoder_view

__all__ = [
    "Inspector",
    "attention_inspector",
    "temperature_inspector",
    "model_inspector",
    "model_attention",
    "bertviz_attention",
    "show_bertviz",
    "load_require_first",
]

WIDGET_VIEW_MIMETYPE = "application/vnd.jupyter.widget-view+json"
# A static view contains every choice, so its size grows with their number. Past this many, the
# static version keeps the first ones and the menu's label states how many it shows.
MAX_STATIC_CHOICES = 12


class Inspector:
    """An ipywidgets inspector together with the kernel-free view that replaces it on a web page.

    Attributes:
        widget: the ipywidgets box (controls and output); display it alone to get only the widget.
        static_view: the :class:`~illustrated.views.AttentionView` written as ``text/html``.
    """

    def __init__(self, widget: widgets.Widget, static_view: AttentionView):
        self.widget = widget
        self.static_view = static_view

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        # ipywidgets 7 displays a widget from _ipython_display_, ipywidgets 8 from _repr_mimebundle_;
        # both write this widget-view dictionary, so the front end draws the same live widget.
        return {
            "text/plain": repr(self),
            "text/html": self.static_view.html,
            WIDGET_VIEW_MIMETYPE: {"version_major": 2, "version_minor": 0, "model_id": self.widget.model_id},
        }

    def __repr__(self) -> str:
        return f"Inspector({self.static_view!r})"


def _as_view(result: Any, view_options: dict) -> AttentionView:
    """Turn what a compute function returned into a view."""
    if isinstance(result, AttentionView):
        return result
    if isinstance(result, tuple) and len(result) in (2, 3):
        return attention_view(*result, **view_options)
    raise TypeError(
        "the compute function must return an AttentionView, (attention, tokens) or "
        f"(attention, tokens, query_tokens), got {type(result).__name__}"
    )


def _show_error(output: widgets.Output, error: Exception) -> None:
    with output:
        output.clear_output(wait=True)
        _display_html(f'<p style="color:#c92a2a">{html.escape(type(error).__name__)}: {html.escape(str(error))}</p>')


def _display_html(text: str) -> None:
    display(HTML(text))


def _static_choices(choices: Sequence[str], label: str) -> tuple[list[str], str]:
    if len(choices) <= MAX_STATIC_CHOICES:
        return list(choices), label
    return list(choices[:MAX_STATIC_CHOICES]), f"{label} (first {MAX_STATIC_CHOICES} of {len(choices)})"


def attention_inspector(
    compute: Callable[[str], Any],
    choices: Sequence[str] | str,
    *,
    label: str = "Sentence",
    value: str | None = None,
    **view_options,
) -> Inspector:
    """Build an inspector that recomputes attention for another input chosen by the reader.

    Args:
        compute: called with a choice; returns an :class:`~illustrated.views.AttentionView`, or
            ``(attention, tokens)`` or ``(attention, tokens, query_tokens)`` drawn with
            ``attention_view(..., **view_options)``.
        choices: a list of inputs, shown as a menu. Or one string, shown in a text box where the
            reader types any input; the web page then shows that string only.
        label: the control's label.
        value: the choice shown first; default the first one.
        view_options: options of :func:`~illustrated.views.attention_view` (mode, layer, head, ...).

    Returns:
        An :class:`Inspector`. In a live kernel a new choice calls ``compute`` again; an error it
        raises (say, a word missing from the vocabulary) is printed under the control.

    Example::

        def compute(sentence):
            tokens = sentence.split()
            return attention_weights(tokens), tokens
        attention_inspector(compute, ["the animal didn't cross the street because it was too tired"])
    """
    free_text = isinstance(choices, str)
    options = [choices] if free_text else [str(choice) for choice in choices]
    if not options:
        raise ValueError("choices is empty; pass at least one input to show")
    if value is None:
        value = options[0]
    if not free_text and value not in options:
        raise ValueError(f"value={value!r} is not one of the choices {options}")

    # The static version: every choice computed now (this also raises early on a bad input).
    static_names, static_label = ([value], label) if free_text else _static_choices(options, label)
    static_views = {name: _as_view(compute(name), view_options) for name in static_names}
    if value not in static_views:
        static_views = {value: _as_view(compute(value), view_options), **static_views}
    static_view = choice_view(static_views, label=static_label, selected=value)

    style = {"description_width": "initial"}
    if free_text:
        control = widgets.Text(value=value, description=label, continuous_update=False, style=style,
                               layout=widgets.Layout(width="100%"))
    else:
        control = widgets.Dropdown(options=options, value=value, description=label, style=style)
    output = widgets.Output()

    def redraw(change=None):
        try:
            view = _as_view(compute(control.value), view_options)
        except (ValueError, KeyError, TypeError, IndexError) as error:
            _show_error(output, error)
            return
        with output:
            output.clear_output(wait=True)
            display(view)

    with output:
        display(static_views[value])
    control.observe(redraw, names="value")
    return Inspector(widgets.VBox([control, output]), static_view)


def temperature_inspector(
    scores: Any,
    tokens: Sequence[str],
    query_tokens: Sequence[str] | None = None,
    *,
    temperature: float = 1.0,
    min_temperature: float = 0.1,
    max_temperature: float = 10.0,
    static_temperatures: Sequence[float] = (0.25, 0.5, 1.0, 2.0, 4.0),
    mode: str = "heatmap",
    **view_options,
) -> Inspector:
    """Build an inspector with a slider that divides the scores by a temperature before the softmax.

    A temperature below 1 sharpens the weights towards the largest score; above 1 it flattens them
    towards uniform. Dividing by ``sqrt(d_k)``, as scaled dot-product attention does, is a
    temperature of ``sqrt(d_k)``.

    Args:
        scores: ``(queries, keys)``, ``(heads, queries, keys)`` or ``(layers, heads, queries, keys)``
            raw scores; masked positions may hold ``-inf``.
        tokens, query_tokens: as in :func:`~illustrated.views.attention_view`.
        temperature: the slider's first value.
        min_temperature, max_temperature: the slider's range (a log scale).
        static_temperatures: the temperatures the web page offers in its menu, beside ``temperature``.
        mode, view_options: as in :func:`~illustrated.views.attention_view`.
    """
    scores = _scores_array(scores)
    if not 0 < min_temperature <= temperature <= max_temperature:
        raise ValueError(
            "temperatures must satisfy 0 < min_temperature <= temperature <= max_temperature, got "
            f"{min_temperature}, {temperature}, {max_temperature}"
        )
    for value in static_temperatures:
        if not value > 0:
            raise ValueError(f"static_temperatures must be positive, got {value}")

    def view_at(value: float) -> AttentionView:
        weights = reference.softmax(scores / value, axis=-1)
        return attention_view(weights, tokens, query_tokens, mode=mode,
                              title=f"softmax(scores / T) at T = {value:.2f}", **view_options)

    names = {f"T = {value:g}": float(value) for value in sorted({*static_temperatures, temperature})}
    static_view = choice_view({name: view_at(value) for name, value in names.items()}, label="Temperature",
                              selected=f"T = {temperature:g}")

    slider = widgets.FloatLogSlider(
        value=temperature, base=10, min=math.log10(min_temperature), max=math.log10(max_temperature),
        step=0.02, description="Temperature T", readout_format=".2f", continuous_update=False,
        style={"description_width": "initial"},
    )
    output = widgets.Output()

    def redraw(change=None):
        with output:
            output.clear_output(wait=True)
            display(view_at(slider.value))

    redraw()
    slider.observe(redraw, names="value")
    return Inspector(widgets.VBox([slider, output]), static_view)


def _scores_array(scores: Any) -> np.ndarray:
    if hasattr(scores, "detach"):
        scores = scores.detach().cpu().float().numpy()
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim < 2:
        raise ValueError(f"scores must be at least (queries, keys), got shape {array.shape}")
    if np.isnan(array).any() or np.isposinf(array).any():
        raise ValueError("scores contain NaN or +inf; mask positions with -inf instead")
    return array


def model_inspector(
    model,
    examples: Mapping[str, tuple],
    *,
    label: str = "Sentence",
    show: str = "cross",
    mode: str = "lines",
    value: str | None = None,
) -> Inspector:
    """Build an inspector that runs a :class:`~illustrated.model.Transformer` on the chosen example.

    Args:
        model: a ``Transformer``; it is run in eval mode without gradients, then put back as it was.
        examples: menu entry -> ``(src_ids, tgt_in_ids, src_tokens, tgt_tokens)``; the ids are lists
            or 1-D tensors of one sentence, ``tgt_in_ids`` starting with the begin-of-sentence token,
            and the tokens label them one for one.
        label: the menu's label.
        show: the attention shown first: ``"encoder"``, ``"decoder"`` or ``"cross"``.
        mode: as in :func:`~illustrated.views.attention_view`.
        value: the example shown first; default the first one.
    """
    if not examples:
        raise ValueError("examples is empty; pass at least one (src_ids, tgt_in_ids, src_tokens, tgt_tokens)")
    for name, example in examples.items():
        if not isinstance(example, (tuple, list)) or len(example) != 4:
            raise ValueError(f"examples[{name!r}] must be (src_ids, tgt_in_ids, src_tokens, tgt_tokens)")

    def compute(name: str) -> AttentionView:
        src_ids, tgt_ids, src_tokens, tgt_tokens = examples[name]
        attention = model_attention(model, src_ids, tgt_ids)
        return encoder_decoder_view(attention["encoder"], attention["decoder"], attention["cross"],
                                    src_tokens, tgt_tokens, mode=mode, show=show)

    return attention_inspector(compute, list(examples), label=label, value=value)


def _ids_tensor(ids, name: str):
    import torch

    tensor = ids.detach().cpu() if isinstance(ids, torch.Tensor) else torch.as_tensor(list(ids))
    if tensor.dim() == 2 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be the ids of one sentence, (seq_len,) or (1, seq_len); got shape "
                         f"{tuple(tensor.shape)}")
    if tensor.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must hold integer token ids, got dtype {tensor.dtype}")
    return tensor.long()[None]  # (1, seq_len)


def model_attention(model, src_ids, tgt_in_ids) -> dict[str, np.ndarray]:
    """Run a Transformer on one sentence pair and return its attention weights.

    Returns ``{"encoder": (layers, heads, src_len, src_len), "decoder": (layers, heads, tgt_len,
    tgt_len), "cross": (layers, heads, tgt_len, src_len)}`` as NumPy arrays. The model runs in eval
    mode (no dropout) without gradients and is put back in the mode it was in.
    """
    import torch

    src = _ids_tensor(src_ids, "src_ids")
    tgt = _ids_tensor(tgt_in_ids, "tgt_in_ids")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            _, attention = model(src.to(device), tgt.to(device), return_attention=True)
    finally:
        model.train(was_training)
    return {
        kind: torch.stack([layer[0] for layer in layers]).float().cpu().numpy()
        for kind, layers in attention.items()
    }


def bertviz_attention(attention: Any, name: str = "attention") -> tuple:
    """Convert attention weights to what bertviz takes: a tuple of ``(1, heads, queries, keys)`` tensors, one per layer.

    ``attention`` may be any form :func:`~illustrated.views.attention_view` accepts; bertviz itself
    rejects NumPy arrays and tensors without the batch dimension.
    """
    import torch

    from illustrated.views import _as_layers_heads

    weights = _as_layers_heads(attention, name)  # (layers, heads, queries, keys)
    return tuple(torch.from_numpy(layer[None].astype(np.float32)) for layer in weights)


# bertviz 1.4.1 writes require.js as a script tag of its own, followed by the inline script that draws.
_REQUIRE_TAG = re.compile(r'<script src="(https://[^"]+/require(?:\.min)?\.js)"></script>')
_INLINE_SCRIPT = re.compile(r'<script(?: type="text/javascript")?>(.*?)</script>', re.S)
_LOAD_REQUIRE_FIRST = """<script type="text/javascript">(function () {
  function draw() {
%s
  }
  if (window.requirejs) {
    draw();
    return;
  }
  var loader = document.createElement("script");
  loader.src = %s;
  loader.onload = draw;
  document.head.appendChild(loader);
})();</script>"""


def load_require_first(page: str) -> str:
    """Rewrite bertviz's HTML so that its drawing script waits for require.js to load.

    JupyterLab 4 and Notebook 7 add an output's script tags together, so bertviz's inline script
    runs before the separate require.js tag has loaded, and the first run draws nothing. The
    rewritten page loads require.js from the drawing script and draws once it has loaded, or at
    once where require.js is already on the page. A page of another layout is returned unchanged.
    """
    match = _REQUIRE_TAG.search(page)
    if match is None or not _INLINE_SCRIPT.search(page, match.end()):
        return page
    body = page[:match.start()] + page[match.end():]
    return _INLINE_SCRIPT.sub(
        lambda script: _LOAD_REQUIRE_FIRST % (script.group(1), json.dumps(match.group(1))), body
    )


def show_bertviz(model, src_ids, tgt_ids, src_tokens: Sequence[str], tgt_tokens: Sequence[str], view: str = "head",
                 *, html_action: str = "view", **options):
    """Show the model's encoder, decoder and cross-attention in bertviz's ``head_view`` or ``model_view``.

    For readers in Colab and Jupyter only. bertviz's output loads require.js 2.3.6, d3 and jQuery
    from cdnjs.cloudflare.com, so it draws nothing offline, and a web page that shows it would
    send requests to another site. Keep its cell's output out of the book with the
    ``remove-output`` tag; the book's own views (:mod:`illustrated.views`) show the same weights
    offline.

    Displayed as bertviz writes it, the view stays blank on its first run in JupyterLab 4.6 and
    Notebook 7.6 and draws when the cell runs again (checked in Chromium with bertviz's CDN files
    served from local copies). :func:`load_require_first` rewrites its HTML so that the first run
    draws as well. NOTE: Colab was not checked, with or without the rewrite.

    bertviz (https://github.com/jessevig/bertviz) is licensed under the Apache License 2.0, as its
    package metadata states (checked for bertviz 1.4.1). Install it with
    ``pip install "illustrated[bertviz]"``.

    Args:
        model: a :class:`~illustrated.model.Transformer`.
        src_ids, tgt_ids: the ids of one source sentence and of the decoder's input, as lists,
            1-D tensors or ``(1, seq_len)`` tensors.
        src_tokens, tgt_tokens: one label per id.
        view: ``"head"`` (one layer at a time, heads overlaid) or ``"model"`` (every layer and head).
        html_action: ``"view"`` displays the view, ``"return"`` returns it as an ``IPython.display.HTML``.
        options: passed to bertviz, e.g. ``layer=``, ``heads=``, ``display_mode="light"``.

    Returns:
        None, or the HTML object with ``html_action="return"``.
    """
    if view not in ("head", "model"):
        raise ValueError(f"view={view!r} is not a bertviz view; choose 'head' or 'model'")
    if html_action not in ("view", "return"):
        raise ValueError(f"html_action={html_action!r} is invalid; choose 'view' or 'return'")
    try:
        import bertviz
    except ImportError as error:
        raise ImportError(
            'show_bertviz needs bertviz; install it with pip install "illustrated[bertviz]"'
        ) from error
    attention = model_attention(model, src_ids, tgt_ids)
    src_tokens = [str(token) for token in src_tokens]
    tgt_tokens = [str(token) for token in tgt_tokens]
    if len(src_tokens) != attention["encoder"].shape[-1]:
        raise ValueError(f"src_ids has {attention['encoder'].shape[-1]} ids but src_tokens has {len(src_tokens)} "
                         "tokens; pass one token per id")
    if len(tgt_tokens) != attention["decoder"].shape[-1]:
        raise ValueError(f"tgt_ids has {attention['decoder'].shape[-1]} ids but tgt_tokens has {len(tgt_tokens)} "
                         "tokens; pass one token per id")
    draw = bertviz.head_view if view == "head" else bertviz.model_view
    page = draw(
        encoder_attention=bertviz_attention(attention["encoder"], "encoder"),
        decoder_attention=bertviz_attention(attention["decoder"], "decoder"),
        cross_attention=bertviz_attention(attention["cross"], "cross"),
        encoder_tokens=src_tokens,
        decoder_tokens=tgt_tokens,
        html_action="return",
        **options,
    ).data
    result = HTML(load_require_first(page))
    if html_action == "return":
        return result
    display(result)
    return None
