"""The NumPy reference (illustrated.reference) checked against PyTorch's own implementations.

Every comparison runs in float64 on random inputs of several shapes, so a tolerance of about
1e-12 separates a correct step from a wrong one. PyTorch's boolean attn_mask of
F.scaled_dot_product_attention uses the reference's convention (True where a query may attend),
while nn.MultiheadAttention uses the opposite one (True where a key is ignored), so the tests
invert the mask for it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from illustrated import reference as ref

ATOL = 1e-12
RTOL = 1e-10


def as_torch(array) -> torch.Tensor:
    return torch.from_numpy(np.array(array))  # a copy: broadcast views are read-only


def assert_close(actual, expected, atol=ATOL, rtol=RTOL):
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol)


def make_mask(kind: str, batch_shape: tuple, q_len: int, k_len: int, rng) -> np.ndarray | None:
    """Build a boolean mask (True = may attend) of one kind, broadcastable to (*batch_shape, q_len, k_len).

    "padding" masks the trailing keys of each sequence but keeps at least one key. "causal" lets
    query i see keys 0..i. "empty_row" is random and leaves query 0 with no key at all.
    """
    if kind == "none":
        return None
    if kind == "padding":
        lengths = rng.integers(1, k_len + 1, size=batch_shape)
        keys = np.arange(k_len) < np.asarray(lengths)[..., None]  # (*batch_shape, k_len)
        return keys[..., None, :]  # (*batch_shape, 1, k_len)
    if kind == "causal":
        return np.tril(np.ones((q_len, k_len), dtype=bool))
    if kind == "empty_row":
        mask = rng.random(batch_shape + (q_len, k_len)) < 0.6
        mask[..., 0, :] = False
        return mask
    raise ValueError(f"unknown mask kind {kind!r}")


# ---------------------------------------------------------------------------------------------
# softmax


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (2, 4, 9)])
@pytest.mark.parametrize("magnitude", [1.0, 1e2, 1e4])
def test_softmax_matches_torch(shape, magnitude):
    rng = np.random.default_rng(len(shape) * 31 + int(math.log10(magnitude)))
    x = rng.uniform(-magnitude, magnitude, size=shape)

    out = ref.softmax(x)

    assert np.isfinite(out).all()
    assert_close(out, torch.softmax(as_torch(x), dim=-1))
    assert_close(out.sum(axis=-1), np.ones(shape[:-1]))


def test_softmax_stable_at_1e4():
    # exp(1e4) overflows float64: only the max-subtraction keeps these finite.
    x = np.array([[1e4, 1e4 - 1.0, 1e4 - 2.0], [-1e4, -1e4, -1e4 + 3.0]])

    out = ref.softmax(x)

    assert np.isfinite(out).all()
    assert_close(out, torch.softmax(as_torch(x), dim=-1))
    assert_close(out[0], ref.softmax(np.array([0.0, -1.0, -2.0])))
    assert_close(out[1], ref.softmax(np.array([0.0, 0.0, 3.0])))


def test_softmax_shift_invariant():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 6))

    assert_close(ref.softmax(x + 1e4), ref.softmax(x), atol=1e-9)


def test_softmax_zero_on_negative_infinity():
    x = np.array([[0.5, -np.inf, 1.5, -np.inf], [-np.inf, -np.inf, -np.inf, -np.inf]])

    out = ref.softmax(x)

    assert out[0, 1] == 0.0
    assert out[0, 3] == 0.0
    assert_close(out[0, [0, 2]], ref.softmax(np.array([0.5, 1.5])))
    assert_close(out[0].sum(), 1.0)
    assert not np.isnan(out).any()
    assert (out[1] == 0.0).all(), "a row that is -inf everywhere must give zeros, not NaN"


@pytest.mark.parametrize("axis", [0, 1, -2])
def test_softmax_along_axis(axis):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, 4, 5))

    out = ref.softmax(x, axis=axis)

    assert_close(out, torch.softmax(as_torch(x), dim=axis))
    assert_close(out.sum(axis=axis), np.ones(np.delete(x.shape, axis)))


def test_softmax_accepts_lists_and_integers():
    expected = torch.softmax(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), dim=-1)

    assert_close(ref.softmax([1.0, 2.0, 3.0]), expected)
    assert_close(ref.softmax(np.array([1, 2, 3])), expected)


def test_softmax_keeps_float32():
    assert ref.softmax(np.zeros(3, dtype=np.float32)).dtype == np.float32


def test_softmax_rejects_nan():
    with pytest.raises(ValueError, match="NaN"):
        ref.softmax(np.array([0.0, np.nan]))


def test_softmax_rejects_positive_infinity():
    with pytest.raises(ValueError, match=r"\+inf"):
        ref.softmax(np.array([0.0, np.inf]))


# ---------------------------------------------------------------------------------------------
# scaled dot-product attention

ATTENTION_SHAPES = [
    # (batch_shape, q_len, k_len, d_k, d_v)
    ((), 1, 1, 1, 1),
    ((), 4, 6, 8, 5),
    ((3,), 5, 5, 16, 16),
    ((2, 3), 7, 4, 8, 2),
]


@pytest.mark.parametrize("shape", ATTENTION_SHAPES, ids=str)
@pytest.mark.parametrize("mask_kind", ["none", "padding", "causal", "empty_row"])
def test_attention_matches_torch_sdpa(shape, mask_kind):
    batch_shape, q_len, k_len, d_k, d_v = shape
    rng = np.random.default_rng(q_len * 100 + k_len * 10 + d_k)
    q = rng.normal(size=batch_shape + (q_len, d_k))
    k = rng.normal(size=batch_shape + (k_len, d_k))
    v = rng.normal(size=batch_shape + (k_len, d_v))
    mask = make_mask(mask_kind, batch_shape, q_len, k_len, rng)

    out, weights = ref.scaled_dot_product_attention(q, k, v, mask)

    attn_mask = None if mask is None else as_torch(mask)
    expected = F.scaled_dot_product_attention(as_torch(q), as_torch(k), as_torch(v), attn_mask=attn_mask)
    assert out.shape == batch_shape + (q_len, d_v)
    assert weights.shape == batch_shape + (q_len, k_len)

    allowed = np.ones(batch_shape + (q_len, k_len), dtype=bool) if mask is None else np.broadcast_to(
        mask, batch_shape + (q_len, k_len)
    )
    has_key = allowed.any(axis=-1)  # (*batch_shape, q_len)
    assert_close(out[has_key], expected.numpy()[has_key])
    assert not np.isnan(out).any()
    assert (out[~has_key] == 0.0).all(), "a query with every key masked must give a zero output"

    # Weights: torch's softmax of the scaled, masked scores; exact zeros on masked keys.
    scores = as_torch(q) @ as_torch(k).transpose(-2, -1) / math.sqrt(d_k)
    expected_weights = torch.softmax(scores.masked_fill(~as_torch(allowed), float("-inf")), dim=-1).numpy()
    assert_close(weights[has_key], expected_weights[has_key])
    assert (weights[~allowed] == 0.0).all()
    assert_close(weights.sum(axis=-1)[has_key], np.ones(has_key.sum()))
    assert (weights[~has_key] == 0.0).all(), "a query with every key masked must get a zero weight row"


@pytest.mark.parametrize("size", [1, 3, 8])
def test_attention_causal_matches_torch_is_causal(size):
    rng = np.random.default_rng(size)
    q, k, v = (rng.normal(size=(2, size, 4)) for _ in range(3))

    out, weights = ref.scaled_dot_product_attention(q, k, v, ref.causal_mask(size))

    expected = F.scaled_dot_product_attention(as_torch(q), as_torch(k), as_torch(v), is_causal=True)
    assert_close(out, expected)
    assert (weights[..., np.triu_indices(size, 1)[0], np.triu_indices(size, 1)[1]] == 0.0).all()


def test_attention_padding_mask_ignores_padded_keys():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(1, 3, 4))
    k = rng.normal(size=(1, 5, 4))
    v = rng.normal(size=(1, 5, 6))
    ids = np.array([[7, 8, 9, 0, 0]])  # two padding tokens at the end

    out, weights = ref.scaled_dot_product_attention(q, k, v, ref.padding_mask(ids, pad_id=0))
    short_out, short_weights = ref.scaled_dot_product_attention(q, k[:, :3], v[:, :3])

    assert_close(out, short_out)
    assert_close(weights[..., :3], short_weights)
    assert (weights[..., 3:] == 0.0).all()


def test_attention_scales_by_sqrt_d_k():
    # Two keys whose dot products with the query are 0 and d_k: the weight ratio must be exp(sqrt(d_k)).
    d_k = 16
    q = np.ones((1, d_k))
    k = np.stack([np.zeros(d_k), np.ones(d_k)])
    v = np.eye(2)

    _, weights = ref.scaled_dot_product_attention(q, k, v)

    assert_close(weights[0, 1] / weights[0, 0], math.exp(math.sqrt(d_k)))


def test_attention_rejects_mismatched_d_k():
    with pytest.raises(ValueError, match=r"d_k.*8 and 4"):
        ref.scaled_dot_product_attention(np.zeros((2, 8)), np.zeros((3, 4)), np.zeros((3, 4)))


def test_attention_rejects_mismatched_key_value_lengths():
    with pytest.raises(ValueError, match=r"same length.*3 and 5"):
        ref.scaled_dot_product_attention(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((5, 4)))


def test_attention_rejects_non_boolean_mask():
    with pytest.raises(TypeError, match="boolean.*float64"):
        ref.scaled_dot_product_attention(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((3, 4)), np.ones((2, 3)))


def test_attention_rejects_mask_of_wrong_shape():
    mask = np.ones((2, 4), dtype=bool)
    with pytest.raises(ValueError, match=r"\(2, 4\).*\(2, 3\)"):
        ref.scaled_dot_product_attention(np.zeros((2, 4)), np.zeros((3, 4)), np.zeros((3, 4)), mask)


# ---------------------------------------------------------------------------------------------
# heads


@pytest.mark.parametrize("shape, num_heads", [((5, 8), 1), ((5, 8), 2), ((2, 7, 12), 3), ((2, 3, 4, 16), 8)])
def test_split_heads_matches_view_transpose(shape, num_heads):
    rng = np.random.default_rng(num_heads)
    x = rng.normal(size=shape)
    d_k = shape[-1] // num_heads

    heads = ref.split_heads(x, num_heads)

    expected = as_torch(x).reshape(*shape[:-1], num_heads, d_k).transpose(-2, -3)
    assert heads.shape == shape[:-2] + (num_heads, shape[-2], d_k)
    np.testing.assert_array_equal(heads, expected.numpy())
    # Head h contains features h*d_k .. (h+1)*d_k - 1 of every position.
    np.testing.assert_array_equal(heads[..., num_heads - 1, :, :], x[..., (num_heads - 1) * d_k:])


@pytest.mark.parametrize("shape, num_heads", [((5, 8), 2), ((2, 7, 12), 3), ((2, 3, 4, 16), 8), ((1, 1), 1)])
def test_split_merge_round_trip(shape, num_heads):
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape)

    np.testing.assert_array_equal(ref.merge_heads(ref.split_heads(x, num_heads)), x)


def test_split_heads_rejects_indivisible_d_model():
    with pytest.raises(ValueError, match=r"d_model=10.*num_heads=3"):
        ref.split_heads(np.zeros((2, 10)), 3)


def test_split_heads_rejects_zero_heads():
    with pytest.raises(ValueError, match="num_heads=0"):
        ref.split_heads(np.zeros((2, 10)), 0)


def test_merge_heads_rejects_missing_head_axis():
    with pytest.raises(ValueError, match=r"\(4, 8\)"):
        ref.merge_heads(np.zeros((4, 8)))


# ---------------------------------------------------------------------------------------------
# multi-head attention against torch.nn.MultiheadAttention


def torch_mha_with_weights(w_q, w_k, w_v, w_o, biases, num_heads):
    """Build an nn.MultiheadAttention holding the reference's weights (x @ w becomes F.linear(x, w.T))."""
    d_model = w_q.shape[0]
    mha = torch.nn.MultiheadAttention(d_model, num_heads, bias=biases is not None, batch_first=True,
                                      dtype=torch.float64)
    with torch.no_grad():
        mha.in_proj_weight.copy_(as_torch(np.concatenate([w_q.T, w_k.T, w_v.T])))
        mha.out_proj.weight.copy_(as_torch(w_o.T))
        if biases is not None:
            b_q, b_k, b_v, b_o = biases
            mha.in_proj_bias.copy_(as_torch(np.concatenate([b_q, b_k, b_v])))
            mha.out_proj.bias.copy_(as_torch(b_o))
    return mha.eval()


MHA_CASES = [
    # (batch, q_len, k_len, d_model, num_heads)
    (1, 1, 1, 4, 1),
    (2, 5, 5, 8, 2),
    (3, 4, 7, 12, 3),
    (2, 6, 6, 32, 8),
]


@pytest.mark.parametrize("case, mask_kind", [
    (case, mask_kind)
    for case in MHA_CASES
    for mask_kind in ("none", "padding", "causal")
    if mask_kind != "causal" or case[1] == case[2]  # a causal mask is for self-attention
], ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
def test_multi_head_attention_matches_torch(case, mask_kind, with_bias):
    batch, q_len, k_len, d_model, num_heads = case
    rng = np.random.default_rng(batch * 1000 + q_len * 100 + k_len * 10 + num_heads)
    query = rng.normal(size=(batch, q_len, d_model))
    memory = query if q_len == k_len else rng.normal(size=(batch, k_len, d_model))
    w_q, w_k, w_v, w_o = (rng.normal(size=(d_model, d_model)) / math.sqrt(d_model) for _ in range(4))
    biases = tuple(rng.normal(size=d_model) for _ in range(4)) if with_bias else None
    b_q, b_k, b_v, b_o = biases if with_bias else (None,) * 4

    mha = torch_mha_with_weights(w_q, w_k, w_v, w_o, biases, num_heads)
    torch_kwargs = {}
    mask = None
    if mask_kind == "padding":
        lengths = rng.integers(1, k_len + 1, size=batch)
        key_is_real = np.arange(k_len) < lengths[:, None]  # (batch, k_len)
        mask = key_is_real[:, None, :]  # (batch, 1, k_len), no head axis: applies to every head
        torch_kwargs["key_padding_mask"] = as_torch(~key_is_real)
    elif mask_kind == "causal":
        mask = ref.causal_mask(q_len)  # (q_len, k_len)
        torch_kwargs["attn_mask"] = as_torch(~mask)

    out, weights = ref.multi_head_attention(query, memory, memory, w_q, w_k, w_v, w_o, num_heads, mask,
                                            b_q, b_k, b_v, b_o)
    expected, expected_weights = mha(as_torch(query), as_torch(memory), as_torch(memory),
                                     need_weights=True, average_attn_weights=False, **torch_kwargs)

    assert out.shape == (batch, q_len, d_model)
    assert weights.shape == (batch, num_heads, q_len, k_len)
    assert_close(out, expected)
    assert_close(weights, expected_weights)


def test_multi_head_attention_per_head_mask():
    # A mask with a head axis, (batch, num_heads, q_len, k_len), gives each head its own keys.
    rng = np.random.default_rng(11)
    batch, length, d_model, num_heads = 2, 4, 8, 2
    x = rng.normal(size=(batch, length, d_model))
    w_q, w_k, w_v, w_o = (rng.normal(size=(d_model, d_model)) / math.sqrt(d_model) for _ in range(4))
    mask = rng.random((batch, num_heads, length, length)) < 0.7
    mask[..., 0] = True  # every query keeps key 0

    out, weights = ref.multi_head_attention(x, x, x, w_q, w_k, w_v, w_o, num_heads, mask)

    mha = torch_mha_with_weights(w_q, w_k, w_v, w_o, None, num_heads)
    # torch takes a per-head mask as (batch * num_heads, q_len, k_len), True where a key is ignored.
    attn_mask = as_torch(~mask.reshape(batch * num_heads, length, length))
    expected, expected_weights = mha(as_torch(x), as_torch(x), as_torch(x), attn_mask=attn_mask,
                                     need_weights=True, average_attn_weights=False)
    assert_close(out, expected)
    assert_close(weights, expected_weights)
    assert (weights[~mask] == 0.0).all()


def test_multi_head_attention_all_masked_query_is_zero():
    rng = np.random.default_rng(12)
    d_model, num_heads = 8, 2
    x = rng.normal(size=(1, 3, d_model))
    w_q, w_k, w_v, w_o = (rng.normal(size=(d_model, d_model)) for _ in range(4))
    b_o = rng.normal(size=d_model)
    mask = np.ones((3, 3), dtype=bool)
    mask[1] = False

    out, weights = ref.multi_head_attention(x, x, x, w_q, w_k, w_v, w_o, num_heads, mask, b_o=b_o)

    assert not np.isnan(out).any()
    assert (weights[:, :, 1] == 0.0).all()
    # The zero heads still pass through W^O, so the output of that query is the output bias.
    assert_close(out[0, 1], b_o)


def test_multi_head_attention_rejects_indivisible_d_model():
    w = np.zeros((6, 6))
    with pytest.raises(ValueError, match=r"d_model=6.*num_heads=4"):
        ref.multi_head_attention(np.zeros((2, 6)), np.zeros((2, 6)), np.zeros((2, 6)), w, w, w, w, 4)


# ---------------------------------------------------------------------------------------------
# positional encoding


def paper_positional_encoding(max_len: int, d_model: int) -> np.ndarray:
    """Write out PE(pos, 2i) = sin(pos / 10000^(2i/d_model)), PE(pos, 2i+1) = cos(...) one entry at a time."""
    table = np.empty((max_len, d_model))
    for pos in range(max_len):
        for column in range(d_model):
            two_i = column - column % 2
            angle = pos / 10000 ** (two_i / d_model)
            table[pos, column] = math.sin(angle) if column % 2 == 0 else math.cos(angle)
    return table


@pytest.mark.parametrize("max_len, d_model", [(1, 1), (5, 2), (10, 7), (17, 33), (50, 64), (3, 512)])
def test_positional_encoding_matches_formula(max_len, d_model):
    table = ref.positional_encoding(max_len, d_model)

    assert table.shape == (max_len, d_model)
    assert_close(table, paper_positional_encoding(max_len, d_model))


def test_positional_encoding_interleaves_sin_and_cos():
    table = ref.positional_encoding(4, 6)

    np.testing.assert_array_equal(table[0], [0.0, 1.0, 0.0, 1.0, 0.0, 1.0])
    assert_close(table[1, :2], [math.sin(1.0), math.cos(1.0)])
    assert_close(table[:, 0::2] ** 2 + table[:, 1::2] ** 2, np.ones((4, 3)))


def test_positional_encoding_odd_d_model_ends_with_sine():
    d_model = 5
    table = ref.positional_encoding(6, d_model)
    angles = np.arange(6) / 10000 ** (4 / d_model)

    assert_close(table[:, -1], np.sin(angles))


def test_positional_encoding_accepts_numpy_integers():
    assert ref.positional_encoding(np.int64(3), np.int32(4)).shape == (3, 4)


@pytest.mark.parametrize("max_len, d_model, name, value",
                         [(0, 8, "max_len", "0"), (-2, 8, "max_len", "-2"), (2.5, 8, "max_len", "2.5"),
                          (True, 8, "max_len", "True"), (4, 0, "d_model", "0"), (4, "8", "d_model", "'8'")])
def test_positional_encoding_rejects_bad_sizes(max_len, d_model, name, value):
    with pytest.raises(ValueError, match=f"{name} must be a positive integer, got {value}"):
        ref.positional_encoding(max_len, d_model)


# ---------------------------------------------------------------------------------------------
# layer norm, feed-forward, embedding, projections


@pytest.mark.parametrize("shape", [(1, 4), (5, 8), (2, 3, 16), (2, 2, 3, 7)])
@pytest.mark.parametrize("eps", [1e-5, 1e-6, 0.1])
def test_layer_norm_matches_torch(shape, eps):
    rng = np.random.default_rng(shape[-1])
    x = rng.normal(loc=3.0, scale=2.0, size=shape)
    gamma = rng.normal(size=shape[-1])
    beta = rng.normal(size=shape[-1])
    norm = torch.nn.LayerNorm(shape[-1], eps=eps, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(as_torch(gamma))
        norm.bias.copy_(as_torch(beta))

    assert_close(ref.layer_norm(x, gamma, beta, eps), norm(as_torch(x)))
    assert_close(ref.layer_norm(x, eps=eps), F.layer_norm(as_torch(x), (shape[-1],), eps=eps))


def test_layer_norm_uses_biased_variance():
    x = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, -10.0, 0.0, 5.0]])

    out = ref.layer_norm(x, eps=0.0)

    assert_close(out.mean(axis=-1), np.zeros(2))
    assert_close(out.var(axis=-1), np.ones(2))  # ddof=0; the unbiased variance would give 4/3 here
    assert_close(out[0], (x[0] - 2.5) / math.sqrt(1.25))


@pytest.mark.parametrize("shape, d_ff", [((3, 4), 8), ((2, 5, 8), 32), ((2, 2, 3, 6), 5)])
def test_feed_forward_matches_torch(shape, d_ff):
    rng = np.random.default_rng(d_ff)
    d_model = shape[-1]
    x = rng.normal(size=shape)
    w_1, b_1 = rng.normal(size=(d_model, d_ff)), rng.normal(size=d_ff)
    w_2, b_2 = rng.normal(size=(d_ff, d_model)), rng.normal(size=d_model)

    out = ref.feed_forward(x, w_1, b_1, w_2, b_2)

    hidden = F.relu(F.linear(as_torch(x), as_torch(w_1.T), as_torch(b_1)))
    assert out.shape == shape
    assert_close(out, F.linear(hidden, as_torch(w_2.T), as_torch(b_2)))


def test_feed_forward_rejects_wrong_weight_shape():
    with pytest.raises(ValueError, match=r"size 4.*\(5, 8\)"):
        ref.feed_forward(np.zeros((2, 4)), np.zeros((5, 8)), np.zeros(8), np.zeros((8, 4)), np.zeros(4))


def test_relu():
    np.testing.assert_array_equal(ref.relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])


@pytest.mark.parametrize("ids_shape", [(), (4,), (2, 5), (2, 3, 4)])
@pytest.mark.parametrize("scale", [True, False])
def test_embed_matches_torch(ids_shape, scale):
    rng = np.random.default_rng(len(ids_shape))
    vocab_size, d_model = 11, 6
    table = rng.normal(size=(vocab_size, d_model))
    ids = rng.integers(0, vocab_size, size=ids_shape)

    out = ref.embed(ids, table, scale=scale)

    expected = F.embedding(torch.as_tensor(ids), as_torch(table)) * (math.sqrt(d_model) if scale else 1.0)
    assert out.shape == ids_shape + (d_model,)
    assert_close(out, expected)


def test_embed_scales_by_sqrt_d_model():
    table = np.ones((3, 16))

    np.testing.assert_array_equal(ref.embed([2], table), np.full((1, 16), 4.0))


def test_embed_empty_ids():
    assert ref.embed(np.zeros((2, 0), dtype=np.int64), np.ones((3, 4))).shape == (2, 0, 4)


@pytest.mark.parametrize("ids, low, high", [([1, 11], 1, 11), ([-1, 2], -1, 2), ([30], 30, 30)])
def test_embed_rejects_ids_outside_vocabulary(ids, low, high):
    with pytest.raises(ValueError, match=rf"\[0, 11\).*from {low} to {high}"):
        ref.embed(np.array(ids), np.zeros((11, 4)))


def test_embed_rejects_float_ids():
    with pytest.raises(TypeError, match="float64"):
        ref.embed(np.array([1.0, 2.0]), np.zeros((11, 4)))


def test_embed_rejects_table_that_is_not_2d():
    with pytest.raises(ValueError, match=r"\(11,\)"):
        ref.embed(np.array([1]), np.zeros(11))


@pytest.mark.parametrize("shape, d_k, d_v", [((4, 8), 8, 8), ((2, 5, 12), 4, 6), ((2, 2, 3, 6), 3, 1)])
def test_qkv_projections_match_torch(shape, d_k, d_v):
    rng = np.random.default_rng(d_k + d_v)
    x = rng.normal(size=shape)
    w_q, w_k = rng.normal(size=(shape[-1], d_k)), rng.normal(size=(shape[-1], d_k))
    w_v = rng.normal(size=(shape[-1], d_v))

    q, k, v = ref.qkv_projections(x, w_q, w_k, w_v)

    for actual, weight in ((q, w_q), (k, w_k), (v, w_v)):
        assert actual.shape == shape[:-1] + (weight.shape[1],)
        assert_close(actual, F.linear(as_torch(x), as_torch(weight.T)))


def test_project_rejects_mismatched_sizes():
    with pytest.raises(ValueError, match=r"size 8.*\(6, 4\).*must be 8"):
        ref.project(np.zeros((3, 8)), np.zeros((6, 4)))


# ---------------------------------------------------------------------------------------------
# masks


def test_padding_mask_marks_real_tokens():
    ids = np.array([[5, 6, 0, 0], [7, 0, 8, 9]])

    mask = ref.padding_mask(ids, pad_id=0)

    assert mask.shape == (2, 1, 4)
    np.testing.assert_array_equal(mask[:, 0], [[True, True, False, False], [True, False, True, True]])
    np.testing.assert_array_equal(ref.padding_mask(ids, pad_id=7)[1, 0], [False, True, True, True])


def test_causal_mask_is_lower_triangular():
    np.testing.assert_array_equal(
        ref.causal_mask(3), [[True, False, False], [True, True, False], [True, True, True]]
    )
