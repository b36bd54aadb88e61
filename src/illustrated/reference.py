"""NumPy reference of every step of the Transformer, as pure functions.

Each function is the plain, readable version of one step of "Attention Is All You Need"
(Vaswani et al., 2017). The PyTorch modules in :mod:`illustrated.model` compute the same
things and the tests prove that both agree with PyTorch's own implementations.

Conventions:

* shapes are written as ``(batch, seq_len, d_model)``; every function also accepts inputs
  without the leading batch dimensions, because they broadcast over them;
* a boolean attention mask is True where a query may attend to a key, as in
  ``torch.nn.functional.scaled_dot_product_attention``;
* a query whose keys are all masked gets an all-zero row of weights and an all-zero output,
  never NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "embed",
    "project",
    "qkv_projections",
    "softmax",
    "scaled_dot_product_attention",
    "split_heads",
    "merge_heads",
    "multi_head_attention",
    "positional_encoding",
    "layer_norm",
    "relu",
    "feed_forward",
    "padding_mask",
    "causal_mask",
]


def embed(token_ids, table, scale: bool = True):
    """Look up token embeddings, scaled by sqrt(d_model) as in section 3.4 of the paper.

    Args:
        token_ids: integer array of any shape, e.g. ``(batch, seq_len)``.
        table: the embedding matrix, ``(vocab_size, d_model)``.
        scale: multiply by sqrt(d_model); the paper does, a plain lookup does not.

    Returns:
        ``token_ids.shape + (d_model,)``.
    """
    table = np.asarray(table)
    ids = np.asarray(token_ids)
    if table.ndim != 2:
        raise ValueError(f"the embedding table must be 2-D (vocab_size, d_model), got shape {table.shape}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise TypeError(f"token ids must be integers, got dtype {ids.dtype}")
    vocab_size, d_model = table.shape
    if ids.size and (ids.min() < 0 or ids.max() >= vocab_size):
        raise ValueError(
            f"token ids must lie in [0, {vocab_size}) for a vocabulary of {vocab_size}, "
            f"got values from {ids.min()} to {ids.max()}"
        )
    vectors = table[ids]
    return vectors * np.sqrt(d_model) if scale else vectors


def project(x, weight, bias=None):
    """Apply a linear map ``x @ weight (+ bias)``: ``(..., d_in) -> (..., d_out)``.

    ``weight`` has shape ``(d_in, d_out)``, the orientation of the paper's W^Q, W^K and W^V.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    if x.shape[-1] != weight.shape[0]:
        raise ValueError(
            f"cannot project vectors of size {x.shape[-1]} with a weight of shape {weight.shape}: "
            f"its first dimension must be {x.shape[-1]}"
        )
    out = x @ weight
    return out if bias is None else out + np.asarray(bias)


def qkv_projections(x, w_q, w_k, w_v):
    """Compute queries, keys and values ``Q = X W^Q``, ``K = X W^K``, ``V = X W^V``.

    Args:
        x: ``(..., seq_len, d_model)``.
        w_q, w_k: ``(d_model, d_k)``; w_v: ``(d_model, d_v)``.

    Returns:
        ``(q, k, v)`` of shapes ``(..., seq_len, d_k)``, ``(..., seq_len, d_k)``, ``(..., seq_len, d_v)``.
    """
    return project(x, w_q), project(x, w_k), project(x, w_v)


def softmax(x, axis: int = -1):
    """Numerically stable softmax along ``axis``.

    The maximum is subtracted before exponentiating, so inputs of any magnitude give finite
    results. Entries equal to ``-inf`` get probability 0, and a slice that is ``-inf``
    everywhere (a query with every key masked) gives all zeros instead of NaN.
    """
    x = np.asarray(x)
    x = x.astype(np.result_type(x.dtype, np.float32), copy=False)  # integers and float16 become floats
    if np.isnan(x).any():
        raise ValueError("softmax input contains NaN; check the scores that were passed in")
    if np.isposinf(x).any():
        raise ValueError("softmax input contains +inf; mask a key with -inf (or a boolean mask), never +inf")
    x_max = np.max(x, axis=axis, keepdims=True)
    # A slice that is all -inf would give -inf - (-inf) = NaN: shift it by 0 instead.
    x_max = np.where(np.isfinite(x_max), x_max, 0.0)
    exp = np.exp(x - x_max)
    total = np.sum(exp, axis=axis, keepdims=True)
    return np.divide(exp, total, out=np.zeros_like(exp), where=total > 0)


def _check_mask(mask, scores_shape):
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise TypeError(
            f"the attention mask must be boolean (True where a query may attend), got dtype {mask.dtype}"
        )
    try:
        np.broadcast_shapes(mask.shape, scores_shape)
    except ValueError:
        raise ValueError(
            f"attention mask of shape {mask.shape} does not broadcast to the scores of shape "
            f"{scores_shape} (..., queries, keys)"
        ) from None
    return mask


def scaled_dot_product_attention(q, k, v, mask=None):
    """Compute ``softmax(Q K^T / sqrt(d_k)) V``, equation (1) of the paper.

    Args:
        q: queries, ``(..., q_len, d_k)``.
        k: keys, ``(..., k_len, d_k)``.
        v: values, ``(..., k_len, d_v)``.
        mask: optional boolean array broadcastable to ``(..., q_len, k_len)``,
            True where a query may attend to a key.

    Returns:
        ``(output, weights)``: ``(..., q_len, d_v)`` and ``(..., q_len, k_len)``. Each row of
        weights sums to 1, except for a query whose keys are all masked: its row and its
        output are all zeros.
    """
    q, k, v = np.asarray(q), np.asarray(k), np.asarray(v)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys must have the same size d_k, got {q.shape[-1]} and {k.shape[-1]}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values must have the same length, got {k.shape[-2]} and {v.shape[-2]}")
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (..., q_len, k_len)
    if mask is not None:
        mask = _check_mask(mask, scores.shape)
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def split_heads(x, num_heads: int):
    """Split the last dimension into heads: ``(..., seq_len, d_model) -> (..., num_heads, seq_len, d_k)``.

    ``d_k = d_model // num_heads``; head ``h`` takes features ``h*d_k`` to ``(h+1)*d_k - 1``.
    """
    x = np.asarray(x)
    d_model = x.shape[-1]
    if num_heads < 1 or d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    d_k = d_model // num_heads
    x = x.reshape(x.shape[:-1] + (num_heads, d_k))  # (..., seq_len, num_heads, d_k)
    return np.swapaxes(x, -2, -3)  # (..., num_heads, seq_len, d_k)


def merge_heads(x):
    """Concatenate heads again: ``(..., num_heads, seq_len, d_k) -> (..., seq_len, num_heads * d_k)``."""
    x = np.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"merge_heads expects (..., num_heads, seq_len, d_k), got shape {x.shape}")
    x = np.swapaxes(x, -2, -3)  # (..., seq_len, num_heads, d_k)
    return x.reshape(x.shape[:-2] + (x.shape[-2] * x.shape[-1],))


def multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, num_heads: int, mask=None,
                         b_q=None, b_k=None, b_v=None, b_o=None):
    """Compute multi-head attention, section 3.2.2 of the paper.

    ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O`` with
    ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``. The per-head matrices W_i are the
    column blocks of the full ``(d_model, d_model)`` matrices, so all heads cost one
    full-width projection.

    Args:
        query: ``(..., q_len, d_model)``; key, value: ``(..., k_len, d_model)``.
        w_q, w_k, w_v, w_o: ``(d_model, d_model)``, applied as ``x @ w``.
        num_heads: number of heads h; ``d_model`` must be divisible by it.
        mask: optional boolean mask broadcastable to ``(..., num_heads, q_len, k_len)``.
            A mask of shape ``(..., q_len, k_len)`` without a head axis applies to every head.
        b_q, b_k, b_v, b_o: optional biases ``(d_model,)``.

    Returns:
        ``(output, weights)``: ``(..., q_len, d_model)`` and ``(..., num_heads, q_len, k_len)``.
    """
    d_model = np.asarray(query).shape[-1]
    if num_heads < 1 or d_model % num_heads:
        raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
    q = split_heads(project(query, w_q, b_q), num_heads)  # (..., h, q_len, d_k)
    k = split_heads(project(key, w_k, b_k), num_heads)  # (..., h, k_len, d_k)
    v = split_heads(project(value, w_v, b_v), num_heads)  # (..., h, k_len, d_k)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == np.asarray(query).ndim:  # (..., q_len, k_len): same mask for every head
            mask = np.expand_dims(mask, -3)
    heads, weights = scaled_dot_product_attention(q, k, v, mask)
    return project(merge_heads(heads), w_o, b_o), weights


def positional_encoding(max_len: int, d_model: int):
    """Return the sinusoidal positional encoding, ``(max_len, d_model)``, section 3.5 of the paper.

    ``PE[pos, 2i] = sin(pos / 10000^(2i / d_model))`` and
    ``PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))``: sines and cosines interleaved.
    For an odd ``d_model`` the last column is the sine of the last frequency.
    """
    for name, value in (("max_len", max_len), ("d_model", d_model)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    positions = np.arange(max_len)[:, None]  # (max_len, 1)
    two_i = np.arange(0, d_model, 2)  # (ceil(d_model / 2),)
    angles = positions / np.power(10000.0, two_i / d_model)  # (max_len, ceil(d_model / 2))
    pe = np.zeros((max_len, d_model))
    pe[:, 0::2] = np.sin(angles)
    pe[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return pe


def layer_norm(x, gamma=None, beta=None, eps: float = 1e-5):
    """Normalise the last dimension to zero mean and unit variance, then scale and shift.

    The variance is the biased one (divided by n, not n - 1), as in ``torch.nn.LayerNorm``.
    ``x``: ``(..., d_model)``; ``gamma``, ``beta``: ``(d_model,)``, defaulting to 1 and 0.
    """
    x = np.asarray(x)
    mean = x.mean(axis=-1, keepdims=True)
    var = x.var(axis=-1, keepdims=True)  # ddof=0: the biased variance
    out = (x - mean) / np.sqrt(var + eps)
    if gamma is not None:
        out = out * np.asarray(gamma)
    if beta is not None:
        out = out + np.asarray(beta)
    return out


def relu(x):
    """Return ``max(0, x)`` element-wise."""
    return np.maximum(x, 0)


def feed_forward(x, w_1, b_1, w_2, b_2):
    """Apply the position-wise feed-forward network, equation (2): ``max(0, x W_1 + b_1) W_2 + b_2``.

    ``x``: ``(..., d_model)``; ``w_1``: ``(d_model, d_ff)``; ``w_2``: ``(d_ff, d_model)``.
    Returns ``(..., d_model)``.
    """
    return project(relu(project(x, w_1, b_1)), w_2, b_2)


def padding_mask(token_ids, pad_id: int = 0):
    """Return a key mask for padded sequences: ``(batch, seq_len) -> (batch, 1, seq_len)``.

    True where the key is a real token. It broadcasts over the queries of the scores
    ``(batch, q_len, k_len)``.
    """
    ids = np.asarray(token_ids)
    return (ids != pad_id)[..., None, :]


def causal_mask(size: int):
    """Return the decoder's look-ahead mask, ``(size, size)``: query i may attend to keys 0..i."""
    return np.tril(np.ones((size, size), dtype=bool))
