"""The PyTorch model (illustrated.model) checked against the NumPy reference and against PyTorch's own layers.

Every module is built in float64 (an autouse fixture sets the default dtype), so the NumPy
reference, torch.nn.TransformerEncoderLayer / TransformerDecoderLayer and our modules agree to
about 1e-12. Our masks are True where a query may attend. torch.nn's layers take masks that are
True where a key is ignored, so the tests invert our masks before they call torch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from illustrated import reference as ref
from illustrated.model import (
    Decoder,
    DecoderLayer,
    Encoder,
    EncoderLayer,
    MultiHeadAttention,
    PositionalEncoding,
    PositionwiseFeedForward,
    Transformer,
    TransformerConfig,
    causal_mask,
    padding_mask,
)

ATOL = 1e-11
RTOL = 1e-9
PAD = 0


@pytest.fixture(autouse=True)
def float64_default():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def assert_close(actual, expected, atol=ATOL, rtol=RTOL):
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().numpy()
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    np.testing.assert_allclose(actual, expected, atol=atol, rtol=rtol)


def numpy_of(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter random values, so that zero biases or unit LayerNorm gains hide nothing."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in module.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) / math.sqrt(param.shape[-1]))
    return module


def random_ids(batch: int, lengths, vocab_size: int, seed: int) -> torch.Tensor:
    """Return a padded batch (batch, max(lengths)) of ids in 1..vocab_size-1, padded with PAD on the right."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.full((batch, max(lengths)), PAD, dtype=torch.long)
    for row, length in enumerate(lengths):
        ids[row, :length] = torch.randint(1, vocab_size, (length,), generator=generator)
    return ids


def key_mask(lengths, width: int) -> torch.Tensor:
    """Return our padding mask (batch, 1, 1, width): True on the first `length` keys of each row."""
    return (torch.arange(width)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]


# ---------------------------------------------------------------------------------------------
# NumPy reference of each module, using the module's own weights


def linear_of(linear: nn.Linear):
    """Return (W, b) in the reference's orientation, x @ W + b."""
    bias = None if linear.bias is None else numpy_of(linear.bias)
    return numpy_of(linear.weight).T, bias


def reference_attention(mha: MultiHeadAttention, query, key, value, mask):
    (w_q, b_q), (w_k, b_k), (w_v, b_v), (w_o, b_o) = (
        linear_of(mha.q_proj), linear_of(mha.k_proj), linear_of(mha.v_proj), linear_of(mha.out_proj)
    )
    if isinstance(mask, torch.Tensor):
        mask = numpy_of(mask)
    return ref.multi_head_attention(query, key, value, w_q, w_k, w_v, w_o, mha.num_heads, mask,
                                    b_q, b_k, b_v, b_o)


def reference_feed_forward(ff: PositionwiseFeedForward, x):
    (w_1, b_1), (w_2, b_2) = linear_of(ff.linear1), linear_of(ff.linear2)
    return ref.feed_forward(x, w_1, b_1, w_2, b_2)


def reference_norm(norm: nn.LayerNorm, x):
    return ref.layer_norm(x, numpy_of(norm.weight), numpy_of(norm.bias), norm.eps)


def reference_sublayer(x, sublayer, norm, norm_first: bool):
    if norm_first:
        return x + sublayer(reference_norm(norm, x))
    return reference_norm(norm, x + sublayer(x))


def reference_encoder_layer(layer: EncoderLayer, x, mask):
    def attend(h):
        return reference_attention(layer.self_attn, h, h, h, mask)[0]

    x = reference_sublayer(x, attend, layer.norm1, layer.norm_first)
    return reference_sublayer(x, lambda h: reference_feed_forward(layer.feed_forward, h), layer.norm2,
                              layer.norm_first)


def reference_decoder_layer(layer: DecoderLayer, x, memory, tgt_mask, memory_mask):
    def attend_self(h):
        return reference_attention(layer.self_attn, h, h, h, tgt_mask)[0]

    def attend_memory(h):
        return reference_attention(layer.cross_attn, h, memory, memory, memory_mask)[0]

    x = reference_sublayer(x, attend_self, layer.norm1, layer.norm_first)
    x = reference_sublayer(x, attend_memory, layer.norm2, layer.norm_first)
    return reference_sublayer(x, lambda h: reference_feed_forward(layer.feed_forward, h), layer.norm3,
                              layer.norm_first)


def reference_transformer(model: Transformer, src: torch.Tensor, tgt_in: torch.Tensor):
    """Run the whole model in NumPy: embeddings, positions, both stacks and the output layer."""
    config = model.config
    src_np, tgt_np = src.numpy(), tgt_in.numpy()
    table = ref.positional_encoding(config.max_len, config.d_model)
    src_mask = ref.padding_mask(src_np, config.pad_id)[:, None]  # (batch, 1, 1, src_len)
    tgt_mask = ref.causal_mask(tgt_np.shape[1]) & ref.padding_mask(tgt_np, config.pad_id)[:, None]

    x = ref.embed(src_np, numpy_of(model.src_embed.weight)) + table[: src_np.shape[1]]
    for layer in model.encoder.layers:
        x = reference_encoder_layer(layer, x, src_mask)
    if model.encoder.norm is not None:
        x = reference_norm(model.encoder.norm, x)
    memory = x

    y = ref.embed(tgt_np, numpy_of(model.tgt_embed.weight)) + table[: tgt_np.shape[1]]
    for layer in model.decoder.layers:
        y = reference_decoder_layer(layer, y, memory, tgt_mask, src_mask)
    if model.decoder.norm is not None:
        y = reference_norm(model.decoder.norm, y)
    w_out, b_out = linear_of(model.output)
    return ref.project(y, w_out, b_out)


# ---------------------------------------------------------------------------------------------
# torch.nn layers holding our weights


def copy_attention_into_torch(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    # torch packs W^Q, W^K, W^V (each (d_model, d_model) as stored by nn.Linear) into one in_proj_weight.
    theirs.in_proj_weight.copy_(torch.cat([ours.q_proj.weight, ours.k_proj.weight, ours.v_proj.weight]))
    theirs.in_proj_bias.copy_(torch.cat([ours.q_proj.bias, ours.k_proj.bias, ours.v_proj.bias]))
    theirs.out_proj.weight.copy_(ours.out_proj.weight)
    theirs.out_proj.bias.copy_(ours.out_proj.bias)


def copy_linear_and_norm(ours: nn.Module, theirs: nn.Module, names) -> None:
    for our_name, their_name in names:
        source, target = ours.get_submodule(our_name), theirs.get_submodule(their_name)
        target.weight.copy_(source.weight)
        target.bias.copy_(source.bias)


@torch.no_grad()
def torch_encoder_layer_like(layer: EncoderLayer, d_ff: int) -> nn.TransformerEncoderLayer:
    d_model, num_heads = layer.self_attn.d_model, layer.self_attn.num_heads
    theirs = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, dropout=0.0, batch_first=True,
                                        norm_first=layer.norm_first, layer_norm_eps=layer.norm1.eps)
    copy_attention_into_torch(layer.self_attn, theirs.self_attn)
    copy_linear_and_norm(layer, theirs, [("feed_forward.linear1", "linear1"), ("feed_forward.linear2", "linear2"),
                                         ("norm1", "norm1"), ("norm2", "norm2")])
    return theirs.eval()


@torch.no_grad()
def torch_decoder_layer_like(layer: DecoderLayer, d_ff: int) -> nn.TransformerDecoderLayer:
    d_model, num_heads = layer.self_attn.d_model, layer.self_attn.num_heads
    theirs = nn.TransformerDecoderLayer(d_model, num_heads, d_ff, dropout=0.0, batch_first=True,
                                        norm_first=layer.norm_first, layer_norm_eps=layer.norm1.eps)
    copy_attention_into_torch(layer.self_attn, theirs.self_attn)
    copy_attention_into_torch(layer.cross_attn, theirs.multihead_attn)
    copy_linear_and_norm(layer, theirs, [("feed_forward.linear1", "linear1"), ("feed_forward.linear2", "linear2"),
                                         ("norm1", "norm1"), ("norm2", "norm2"), ("norm3", "norm3")])
    return theirs.eval()


def small_config(**overrides) -> TransformerConfig:
    sizes = dict(src_vocab_size=23, tgt_vocab_size=19, d_model=16, num_heads=4, d_ff=24, num_layers=2,
                 num_decoder_layers=3, dropout=0.1, max_len=20, pad_id=PAD)
    sizes.update(overrides)
    return TransformerConfig(**sizes)


def small_model(seed: int = 0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    return randomize_(Transformer(small_config(**overrides)), seed).eval()


# ---------------------------------------------------------------------------------------------
# each module against the NumPy reference

ATTENTION_CASES = [
    # (batch, q_len, k_len, d_model, num_heads)
    (1, 1, 1, 4, 1),
    (2, 5, 5, 8, 2),
    (3, 4, 7, 12, 3),
    (2, 6, 6, 32, 8),
]
MASK_KINDS = ["none", "padding", "causal", "empty_row"]


def attention_mask(kind: str, batch: int, num_heads: int, q_len: int, k_len: int, seed: int):
    """Build one of our boolean masks; "empty_row" is random per head and leaves query 0 with no key."""
    generator = torch.Generator().manual_seed(seed)
    if kind == "none":
        return None
    if kind == "padding":
        lengths = torch.randint(1, k_len + 1, (batch,), generator=generator).tolist()
        return key_mask(lengths, k_len)
    if kind == "causal":
        return torch.ones(q_len, k_len, dtype=torch.bool).tril()
    mask = torch.rand(batch, num_heads, q_len, k_len, generator=generator) < 0.6
    mask[:, :, 0, :] = False
    return mask


def attention_cases():
    for case in ATTENTION_CASES:
        for kind in MASK_KINDS:
            if kind == "causal" and case[1] != case[2]:
                continue  # a causal mask is for self-attention
            yield case, kind


@pytest.mark.parametrize("case, mask_kind", list(attention_cases()), ids=str)
@pytest.mark.parametrize("need_weights", [True, False], ids=["explicit", "fused"])
def test_attention_matches_reference(case, mask_kind, need_weights):
    batch, q_len, k_len, d_model, num_heads = case
    mha = randomize_(MultiHeadAttention(d_model, num_heads), seed=q_len * 10 + k_len).eval()
    generator = torch.Generator().manual_seed(k_len)
    query = torch.randn(batch, q_len, d_model, generator=generator)
    memory = query if q_len == k_len else torch.randn(batch, k_len, d_model, generator=generator)
    mask = attention_mask(mask_kind, batch, num_heads, q_len, k_len, seed=d_model)

    out, weights = mha(query, memory, memory, mask, need_weights=need_weights)

    expected, expected_weights = reference_attention(mha, numpy_of(query), numpy_of(memory), numpy_of(memory),
                                                     mask)
    assert out.shape == (batch, q_len, d_model)
    assert_close(out, expected)
    if need_weights:
        assert weights.shape == (batch, num_heads, q_len, k_len)
        assert_close(weights, expected_weights)
    else:
        assert weights is None


@pytest.mark.parametrize("case, mask_kind, inputs", [
    (case, mask_kind, inputs)
    for case, mask_kind in attention_cases()
    for inputs in ("self", "cross", "separate")
    if inputs != "self" or case[1] == case[2]  # self-attention needs as many keys as queries
], ids=str)
def test_fused_path_matches_explicit(case, mask_kind, inputs):
    # Train mode with dropout 0: the fused kernel and the explicit softmax must agree,
    # in the output and in every gradient, including on queries with no key to attend to.
    # "self" is mha(x, x, x), "cross" mha(x, m, m) and "separate" mha(x, m, n): the fused
    # path packs the projections differently in each case.
    batch, q_len, k_len, d_model, num_heads = case
    mha = randomize_(MultiHeadAttention(d_model, num_heads, dropout=0.0), seed=3).train()
    generator = torch.Generator().manual_seed(q_len)
    query = torch.randn(batch, q_len, d_model, generator=generator, requires_grad=True)
    key = query if inputs == "self" else torch.randn(batch, k_len, d_model, generator=generator, requires_grad=True)
    value = key if inputs != "separate" else torch.randn(batch, k_len, d_model, generator=generator,
                                                           requires_grad=True)
    leaves = {"query": query, "key": key, "value": value}
    mask = attention_mask(mask_kind, batch, num_heads, q_len, k_len, seed=k_len)

    results = {}
    for need_weights in (True, False):
        mha.zero_grad()
        for leaf in leaves.values():
            leaf.grad = None
        out, _ = mha(query, key, value, mask, need_weights=need_weights)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        grads = {f"input {name}": leaf.grad.clone() for name, leaf in leaves.items()}
        grads.update({name: param.grad.clone() for name, param in mha.named_parameters()})
        results[need_weights] = (out.detach(), grads)

    (explicit_out, explicit_grads), (fused_out, fused_grads) = results[True], results[False]
    assert not torch.isnan(fused_out).any()
    assert_close(fused_out, explicit_out)
    assert fused_grads.keys() == explicit_grads.keys()
    for name in explicit_grads:
        assert_close(fused_grads[name], explicit_grads[name], atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_attention_all_masked_query_outputs_bias(dtype):
    mha = randomize_(MultiHeadAttention(8, 2), seed=5).to(dtype).eval()
    x = torch.randn(1, 3, 8, dtype=dtype)
    mask = torch.ones(3, 3, dtype=torch.bool)
    mask[1] = False

    for need_weights in (True, False):
        out, weights = mha(x, x, x, mask, need_weights=need_weights)
        # The zero heads still pass through W^O, so that query's output is the output bias.
        assert not torch.isnan(out).any()
        assert_close(out[0, 1], mha.out_proj.bias)
        if need_weights:
            assert (weights[:, :, 1] == 0).all()


def test_feed_forward_matches_reference():
    ff = randomize_(PositionwiseFeedForward(12, 40), seed=1)
    x = torch.randn(3, 5, 12)

    assert_close(ff(x), reference_feed_forward(ff, numpy_of(x)))


@pytest.mark.parametrize("d_model", [1, 7, 16])
def test_positional_encoding_matches_reference(d_model):
    pe = PositionalEncoding(d_model, max_len=12)
    x = torch.randn(2, 9, d_model)

    assert pe.table.dtype == torch.float64
    assert_close(pe(x), numpy_of(x) + ref.positional_encoding(9, d_model), atol=1e-14)


def test_positional_encoding_not_in_state_dict():
    assert "table" not in PositionalEncoding(8, 10).state_dict()


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_encoder_layer_matches_reference(norm_first):
    layer = randomize_(EncoderLayer(16, 4, 24, dropout=0.1, norm_first=norm_first), seed=2).eval()
    x = torch.randn(3, 6, 16)
    mask = key_mask([6, 4, 1], 6)

    out, weights = layer(x, mask, need_weights=True)

    assert_close(out, reference_encoder_layer(layer, numpy_of(x), numpy_of(mask)))
    assert weights.shape == (3, 4, 6, 6)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_layer_matches_reference(norm_first):
    layer = randomize_(DecoderLayer(16, 4, 24, dropout=0.1, norm_first=norm_first), seed=3).eval()
    x = torch.randn(2, 5, 16)
    memory = torch.randn(2, 7, 16)
    tgt_mask = causal_mask(5) & key_mask([5, 3], 5)
    memory_mask = key_mask([7, 2], 7)

    out, self_weights, cross_weights = layer(x, memory, tgt_mask, memory_mask, need_weights=True)

    expected = reference_decoder_layer(layer, numpy_of(x), numpy_of(memory), numpy_of(tgt_mask),
                                       numpy_of(memory_mask))
    assert_close(out, expected)
    assert self_weights.shape == (2, 4, 5, 5)
    assert cross_weights.shape == (2, 4, 5, 7)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
@pytest.mark.parametrize("tie", [False, True], ids=["untied", "tied"])
def test_transformer_matches_reference(norm_first, tie):
    model = small_model(seed=4, norm_first=norm_first, tie_output_embedding=tie)
    src = random_ids(3, [7, 4, 1], 23, seed=1)
    tgt_in = random_ids(3, [5, 6, 2], 19, seed=2)

    logits = model(src, tgt_in)

    assert logits.shape == (3, 6, 19)
    assert_close(logits, reference_transformer(model, src, tgt_in))


# ---------------------------------------------------------------------------------------------
# layers and stacks against torch.nn.TransformerEncoderLayer / TransformerDecoderLayer

LAYER_SHAPES = [
    # (d_model, num_heads, d_ff, src lengths, tgt lengths)
    (8, 1, 16, [5], [4]),
    (16, 4, 24, [6, 3, 1], [5, 5, 2]),
    (24, 3, 48, [9, 9], [1, 7]),
]


@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
@pytest.mark.parametrize("grad_enabled", [True, False], ids=["grad", "no_grad"])
def test_encoder_layer_matches_torch(shape, norm_first, grad_enabled):
    # Under no_grad in eval mode torch may take its fused inference path, so both of its paths are compared.
    d_model, num_heads, d_ff, lengths, _ = shape
    ours = randomize_(EncoderLayer(d_model, num_heads, d_ff, dropout=0.0, norm_first=norm_first), seed=d_ff).eval()
    theirs = torch_encoder_layer_like(ours, d_ff)
    x = torch.randn(len(lengths), max(lengths), d_model)
    mask = key_mask(lengths, max(lengths))

    with torch.set_grad_enabled(grad_enabled):
        out, _ = ours(x, mask)
        expected = theirs(x, src_key_padding_mask=~mask[:, 0, 0, :])

    assert_close(out, expected)


@pytest.mark.parametrize("shape", LAYER_SHAPES, ids=str)
@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_decoder_layer_matches_torch(shape, norm_first):
    d_model, num_heads, d_ff, src_lengths, tgt_lengths = shape
    ours = randomize_(DecoderLayer(d_model, num_heads, d_ff, dropout=0.0, norm_first=norm_first), seed=d_ff).eval()
    theirs = torch_decoder_layer_like(ours, d_ff)
    src_len, tgt_len = max(src_lengths), max(tgt_lengths)
    x = torch.randn(len(tgt_lengths), tgt_len, d_model)
    memory = torch.randn(len(src_lengths), src_len, d_model)
    tgt_keys, memory_keys = key_mask(tgt_lengths, tgt_len), key_mask(src_lengths, src_len)

    out, _, _ = ours(x, memory, causal_mask(tgt_len) & tgt_keys, memory_keys)
    expected = theirs(x, memory, tgt_mask=~causal_mask(tgt_len), tgt_key_padding_mask=~tgt_keys[:, 0, 0, :],
                      memory_key_padding_mask=~memory_keys[:, 0, 0, :])

    assert_close(out, expected)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_stacks_match_torch(norm_first):
    config = small_config(norm_first=norm_first, dropout=0.0)
    encoder = randomize_(Encoder(config), seed=7).eval()
    decoder = randomize_(Decoder(config), seed=8).eval()
    # torch.nn's stacks end with the optional norm we give them; ours have one only when pre-LN.
    their_encoder = nn.TransformerEncoder(
        torch_encoder_layer_like(encoder.layers[0], config.d_ff), config.num_layers,
        norm=nn.LayerNorm(config.d_model) if norm_first else None, enable_nested_tensor=False,
    ).eval()
    their_decoder = nn.TransformerDecoder(
        torch_decoder_layer_like(decoder.layers[0], config.d_ff), config.num_decoder_layers,
        norm=nn.LayerNorm(config.d_model) if norm_first else None,
    ).eval()
    with torch.no_grad():
        for ours, theirs in zip(encoder.layers, their_encoder.layers):
            theirs.load_state_dict(torch_encoder_layer_like(ours, config.d_ff).state_dict())
        for ours, theirs in zip(decoder.layers, their_decoder.layers):
            theirs.load_state_dict(torch_decoder_layer_like(ours, config.d_ff).state_dict())
        if norm_first:
            their_encoder.norm.load_state_dict(encoder.norm.state_dict())
            their_decoder.norm.load_state_dict(decoder.norm.state_dict())
    assert len(encoder.layers) == 2
    assert len(decoder.layers) == 3
    src_lengths, tgt_lengths = [8, 5], [6, 3]
    src = torch.randn(2, 8, config.d_model)
    tgt = torch.randn(2, 6, config.d_model)
    src_keys, tgt_keys = key_mask(src_lengths, 8), key_mask(tgt_lengths, 6)

    memory, _ = encoder(src, src_keys)
    out, _, _ = decoder(tgt, memory, causal_mask(6) & tgt_keys, src_keys)
    their_memory = their_encoder(src, src_key_padding_mask=~src_keys[:, 0, 0, :])
    their_out = their_decoder(tgt, their_memory, tgt_mask=~causal_mask(6),
                              tgt_key_padding_mask=~tgt_keys[:, 0, 0, :],
                              memory_key_padding_mask=~src_keys[:, 0, 0, :])

    assert_close(memory, their_memory)
    assert_close(out, their_out)


# ---------------------------------------------------------------------------------------------
# properties of the whole model


def test_decoder_is_causal():
    model = small_model(seed=10)
    src = random_ids(2, [6, 4], 23, seed=3)
    tgt_in = random_ids(2, [7, 7], 19, seed=4)
    logits = model(src, tgt_in)

    for position in (1, 4, 6):
        changed = tgt_in.clone()
        changed[:, position] = changed[:, position] % 18 + 1  # another real token
        changed_logits = model(src, changed)

        assert_close(changed_logits[:, :position], logits[:, :position])
        assert not torch.allclose(changed_logits[:, position], logits[:, position])


def test_source_padding_is_ignored():
    model = small_model(seed=11)
    src = random_ids(2, [5, 3], 23, seed=5)
    tgt_in = random_ids(2, [4, 2], 19, seed=6)
    padded_src = F.pad(src, (0, 4), value=PAD)

    assert_close(model(padded_src, tgt_in), model(src, tgt_in))


def test_target_padding_is_ignored():
    # Trailing pads come after every real token, so the causal mask alone hides them from real
    # positions. The target padding mask acts on the pad rows: test_attention_weights_respect_masks.
    model = small_model(seed=12)
    src = random_ids(2, [5, 3], 23, seed=7)
    tgt_in = random_ids(2, [4, 4], 19, seed=8)
    padded_tgt = F.pad(tgt_in, (0, 3), value=PAD)

    assert_close(model(src, padded_tgt)[:, :4], model(src, tgt_in))


def test_padding_changes_nothing_but_masked_keys():
    # The same property seen from the other side: a real token where a pad was changes the output.
    model = small_model(seed=12)
    src = random_ids(1, [3], 23, seed=7)
    tgt_in = random_ids(1, [3], 19, seed=8)

    assert not torch.allclose(model(F.pad(src, (0, 1), value=5), tgt_in), model(src, tgt_in))


@pytest.mark.parametrize("norm_first", [False, True], ids=["post_ln", "pre_ln"])
def test_padded_batch_equals_one_by_one(norm_first):
    model = small_model(seed=13, norm_first=norm_first)
    src_lengths, tgt_lengths = [7, 2, 5], [3, 6, 1]
    src = random_ids(3, src_lengths, 23, seed=9)
    tgt_in = random_ids(3, tgt_lengths, 19, seed=10)

    logits = model(src, tgt_in)

    for row, (src_len, tgt_len) in enumerate(zip(src_lengths, tgt_lengths)):
        alone = model(src[row:row + 1, :src_len], tgt_in[row:row + 1, :tgt_len])
        assert_close(logits[row:row + 1, :tgt_len], alone)


def test_attention_weights_respect_masks():
    # Every row sums to 1, and every masked key gets weight 0.
    model = small_model(seed=14)
    src_lengths, tgt_lengths = [6, 2], [5, 3]
    src = random_ids(2, src_lengths, 23, seed=11)
    tgt_in = random_ids(2, tgt_lengths, 19, seed=12)

    _, attention = model(src, tgt_in, return_attention=True)

    src_real = src != PAD  # (batch, src_len)
    tgt_allowed = causal_mask(5) & (tgt_in != PAD)[:, None, :]  # (batch, tgt_len, tgt_len)
    for weights in attention["encoder"]:
        assert_close(weights.sum(-1), torch.ones(2, 4, 6))
        assert (weights.masked_select(~src_real[:, None, None, :].expand_as(weights)) == 0).all()
    for weights in attention["decoder"]:
        assert_close(weights.sum(-1), torch.ones(2, 4, 5))
        assert (weights.masked_select(~tgt_allowed[:, None].expand_as(weights)) == 0).all()
    for weights in attention["cross"]:
        assert_close(weights.sum(-1), torch.ones(2, 4, 5))
        assert (weights.masked_select(~src_real[:, None, None, :].expand_as(weights)) == 0).all()


def test_return_attention_shapes():
    model = small_model(seed=15)
    src = random_ids(2, [6, 4], 23, seed=13)
    tgt_in = random_ids(2, [5, 5], 19, seed=14)

    logits, attention = model(src, tgt_in, return_attention=True)

    assert set(attention) == {"encoder", "decoder", "cross"}
    assert [tuple(w.shape) for w in attention["encoder"]] == [(2, 4, 6, 6)] * 2
    assert [tuple(w.shape) for w in attention["decoder"]] == [(2, 4, 5, 5)] * 3
    assert [tuple(w.shape) for w in attention["cross"]] == [(2, 4, 5, 6)] * 3
    assert_close(logits, model(src, tgt_in))  # the explicit path gives the fused path's logits


def test_encode_decode_equal_forward():
    model = small_model(seed=16)
    src = random_ids(2, [6, 4], 23, seed=15)
    tgt_in = random_ids(2, [5, 2], 19, seed=16)

    memory = model.encode(src)

    assert memory.shape == (2, 6, 16)
    assert_close(model.decode(tgt_in, memory, src), model(src, tgt_in))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_all_padding_source_gives_finite_logits_and_gradients(dtype):
    # Every cross-attention query of the second sentence has no key: outputs and gradients stay finite.
    model = small_model(seed=17).to(dtype).train()
    src = random_ids(2, [4, 0], 23, seed=17)
    tgt_in = random_ids(2, [3, 3], 19, seed=18)

    logits = model(src, tgt_in)
    logits.sum().backward()

    assert torch.isfinite(logits).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_tied_weights_share_storage():
    model = small_model(seed=18, tie_output_embedding=True).train()
    untied = small_model(seed=18)

    assert model.output.weight is model.tgt_embed.weight
    assert model.output.weight.data_ptr() == model.tgt_embed.weight.data_ptr()
    assert untied.num_parameters() - model.num_parameters() == 19 * 16

    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    model(random_ids(1, [3], 23, seed=1), random_ids(1, [3], 19, seed=2)).sum().backward()
    optimizer.step()

    assert model.output.weight is model.tgt_embed.weight


def test_shared_embeddings_one_table_for_both_sides():
    both = small_config(tgt_vocab_size=23, tie_output_embedding=True, share_embeddings=True)
    model = Transformer(both)
    separate = Transformer(small_config(tgt_vocab_size=23, tie_output_embedding=True))

    assert model.src_embed is model.tgt_embed
    assert model.output.weight is model.src_embed.weight
    assert separate.num_parameters() - model.num_parameters() == 23 * 16
    names = dict(model.named_parameters())
    assert "src_embed.weight" in names
    assert "tgt_embed.weight" not in names  # listed once, so trained once

    model.load_state_dict(model.state_dict())  # the shared table round-trips through a state dict
    src = random_ids(1, [3], 23, seed=3)
    assert torch.isfinite(model(src, src)).all()


def test_moving_model_ties_weights_again():
    # On XLA a move can leave a tied weight as separate copies; every move or cast ties them again.
    model = Transformer(small_config(tgt_vocab_size=23, tie_output_embedding=True, share_embeddings=True))
    model.tgt_embed = nn.Embedding(23, 16)
    model.output.weight = nn.Parameter(model.src_embed.weight.detach().clone())

    model.to(torch.float64)

    assert model.tgt_embed is model.src_embed
    assert model.output.weight is model.src_embed.weight
    assert model.output.weight.dtype == torch.float64


def test_shared_embeddings_need_one_vocabulary():
    with pytest.raises(ValueError, match="src_vocab_size=23 and tgt_vocab_size=19"):
        small_config(share_embeddings=True)


def test_untied_weights_are_separate():
    model = Transformer(small_config(tie_output_embedding=False))

    assert model.output.weight.data_ptr() != model.tgt_embed.weight.data_ptr()


def test_embeddings_scaled_by_sqrt_d_model():
    model = small_model(seed=19, d_model=36, num_heads=4, d_ff=8)
    seen = []
    model.positional_encoding.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    src = random_ids(1, [4], 23, seed=19)
    tgt_in = random_ids(1, [3], 19, seed=20)

    model(src, tgt_in)

    assert_close(seen[0], model.src_embed(src) * 6.0)
    assert_close(seen[1], model.tgt_embed(tgt_in) * 6.0)


def test_initial_embeddings_have_unit_variance():
    # N(0, 1/d_model) entries times sqrt(d_model): the scale of the positional encoding.
    torch.manual_seed(0)
    model = Transformer(TransformerConfig(200, 200, d_model=256, num_heads=4, d_ff=8, num_layers=1))
    scaled = model.src_embed.weight * math.sqrt(256)

    assert abs(scaled.std().item() - 1.0) < 0.02


def test_eval_mode_is_deterministic():
    model = small_model(seed=20)
    src = random_ids(2, [5, 3], 23, seed=21)
    tgt_in = random_ids(2, [4, 2], 19, seed=22)

    assert torch.equal(model(src, tgt_in), model(src, tgt_in))
    model.train()
    assert not torch.equal(model(src, tgt_in), model(src, tgt_in))  # dropout 0.1 is active


# ---------------------------------------------------------------------------------------------
# configuration


def test_base_preset_is_the_papers():
    config = TransformerConfig.base(37000, 37000)

    assert config.num_layers == 6
    assert config.num_decoder_layers == 6
    assert config.d_model == 512
    assert config.num_heads == 8
    assert config.d_k == 64
    assert config.d_ff == 2048
    assert config.dropout == 0.1
    assert config.attention_dropout == 0.0
    assert config.norm_first is False


def test_tiny_preset_and_overrides():
    tiny = TransformerConfig.tiny(50, 60)
    changed = TransformerConfig.tiny(50, 60, d_model=32, num_layers=1)

    assert (tiny.d_model, tiny.num_heads, tiny.d_ff, tiny.num_layers) == (64, 4, 128, 2)
    assert (changed.d_model, changed.num_layers, changed.num_decoder_layers) == (32, 1, 1)
    assert TransformerConfig.base(10, 10, dropout=0.3).dropout == 0.3


def test_config_round_trips_through_dict():
    config = TransformerConfig.tiny(50, 60, norm_first=True)

    assert TransformerConfig(**config.to_dict()) == config
    assert config.replace(d_model=128).d_model == 128
    assert config.d_model == 64


def test_base_model_has_expected_parameter_count():
    # 6+6 layers of width 512 with separate 37000-token embeddings and an untied output layer.
    config = TransformerConfig.base(37000, 37000)
    d, f, v = 512, 2048, 37000
    attention = 4 * (d * d + d)
    feed_forward = d * f + f + f * d + d
    norm = 2 * d
    encoder = 6 * (attention + feed_forward + 2 * norm)
    decoder = 6 * (2 * attention + feed_forward + 3 * norm)

    with torch.device("meta"):
        model = Transformer(config)

    assert model.num_parameters() == 2 * v * d + encoder + decoder + d * v + v


# ---------------------------------------------------------------------------------------------
# bad inputs


def test_config_rejects_indivisible_d_model():
    with pytest.raises(ValueError, match=r"d_model=100 is not divisible by num_heads=8"):
        TransformerConfig(10, 10, d_model=100, num_heads=8)


def test_attention_rejects_indivisible_d_model():
    with pytest.raises(ValueError, match=r"d_model=10 is not divisible by num_heads=4"):
        MultiHeadAttention(10, 4)


@pytest.mark.parametrize("field, value", [("num_layers", 0), ("d_model", -8), ("num_decoder_layers", 0),
                                          ("num_decoder_layers", 1.5), ("max_len", 2.0)])
def test_config_rejects_bad_sizes(field, value):
    sizes = dict(d_model=16, num_heads=4)
    sizes[field] = value
    with pytest.raises(ValueError, match=rf"{field} must be a positive integer, got {value}"):
        TransformerConfig(10, 10, **sizes)


@pytest.mark.parametrize("field", ["dropout", "attention_dropout"])
def test_config_rejects_bad_dropout(field):
    with pytest.raises(ValueError, match=rf"{field} must lie in \[0, 1\), got 1.0"):
        TransformerConfig(10, 10, d_model=16, num_heads=4, **{field: 1.0})


def test_config_rejects_pad_id_outside_vocabulary():
    with pytest.raises(ValueError, match=r"pad_id=12.*10 and 20"):
        TransformerConfig(10, 20, d_model=16, num_heads=4, pad_id=12)


def shape_pattern(shape) -> str:
    """Return a regular expression matching the tuple repr of a shape, e.g. (6,) or (2, 1, 1, 4)."""
    return "\\(" + ", ".join(str(size) for size in shape) + (",\\)" if len(shape) == 1 else "\\)")


@pytest.mark.parametrize("mask_shape", [(2, 1, 1, 4), (3, 5), (2, 4, 1, 5, 5), (6,)])
def test_attention_rejects_mask_of_wrong_shape(mask_shape):
    mha = MultiHeadAttention(8, 4)
    x = torch.randn(2, 5, 8)
    pattern = rf"{shape_pattern(mask_shape)}.*\(2, 4, 5, 5\)"

    for need_weights in (True, False):
        with pytest.raises(ValueError, match=pattern):
            mha(x, x, x, torch.ones(mask_shape, dtype=torch.bool), need_weights=need_weights)


def test_encoder_layer_rejects_mask_of_wrong_shape():
    layer = EncoderLayer(8, 2, 16)
    with pytest.raises(ValueError, match=r"\(3, 1, 1, 6\).*\(3, 2, 5, 5\)"):
        layer(torch.randn(3, 5, 8), torch.ones(3, 1, 1, 6, dtype=torch.bool))


def test_attention_rejects_non_boolean_mask():
    mha = MultiHeadAttention(8, 4)
    x = torch.randn(2, 5, 8)
    with pytest.raises(TypeError, match="boolean.*torch.float64"):
        mha(x, x, x, torch.ones(5, 5))


def test_attention_rejects_wrong_d_model():
    mha = MultiHeadAttention(8, 4)
    with pytest.raises(ValueError, match="d_model=8 features, got 6, 8 and 8"):
        mha(torch.randn(2, 5, 6), torch.randn(2, 5, 8), torch.randn(2, 5, 8))


def test_attention_rejects_key_value_length_mismatch():
    mha = MultiHeadAttention(8, 4)
    with pytest.raises(ValueError, match=r"\(2, 5, 8\), \(2, 4, 8\), \(2, 3, 8\)"):
        mha(torch.randn(2, 5, 8), torch.randn(2, 4, 8), torch.randn(2, 3, 8))


def test_attention_rejects_unbatched_input():
    mha = MultiHeadAttention(8, 4)
    with pytest.raises(ValueError, match=r"\(5, 8\)"):
        mha(torch.randn(5, 8), torch.randn(5, 8), torch.randn(5, 8))


@pytest.mark.parametrize("which, bad_id, low, high", [("src", 23, 1, 23), ("src", -1, -1, 22), ("tgt_in", 19, 1, 19),
                                                      ("tgt_in", 40, 1, 40)])
def test_model_rejects_ids_outside_vocabulary(which, bad_id, low, high):
    model = small_model()
    inputs = {"src": torch.tensor([[1, 22, 5]]), "tgt_in": torch.tensor([[1, 18, 5]])}
    inputs[which][0, 2] = bad_id
    vocab_size = 23 if which == "src" else 19
    pattern = rf"{which} holds token ids from {low} to {high}.*vocabulary of {vocab_size}.*0 to {vocab_size - 1}"

    with pytest.raises(ValueError, match=pattern):
        model(inputs["src"], inputs["tgt_in"])


@pytest.mark.parametrize("which", ["src", "tgt_in"])
def test_model_rejects_sequence_longer_than_max_len(which):
    model = small_model()  # max_len 20
    inputs = {"src": random_ids(1, [5], 23, seed=1), "tgt_in": random_ids(1, [5], 19, seed=2)}
    inputs[which] = torch.ones(1, 21, dtype=torch.long)

    with pytest.raises(ValueError, match=r"sequence length 21 exceeds.*table of 20 positions"):
        model(inputs["src"], inputs["tgt_in"])


def test_model_rejects_batch_size_mismatch():
    with pytest.raises(ValueError, match="same batch size, got 2 and 3"):
        small_model()(torch.ones(2, 4, dtype=torch.long), torch.ones(3, 4, dtype=torch.long))


def test_model_rejects_float_ids():
    with pytest.raises(TypeError, match="src.*torch.float64"):
        small_model()(torch.ones(1, 4), torch.ones(1, 4, dtype=torch.long))


def test_model_rejects_ids_without_batch_axis():
    with pytest.raises(ValueError, match=r"tgt_in.*\(batch, seq_len\).*\(4,\)"):
        small_model().decode(torch.ones(4, dtype=torch.long), torch.randn(1, 4, 16), torch.ones(1, 4, dtype=torch.long))


def test_padding_and_causal_masks():
    ids = torch.tensor([[4, 5, 0], [6, 0, 0]])

    assert padding_mask(ids, 0).shape == (2, 1, 1, 3)
    assert padding_mask(ids, 0)[:, 0, 0].tolist() == [[True, True, False], [True, False, False]]
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
