"""The Transformer of "Attention Is All You Need" (Vaswani et al., 2017) in PyTorch.

The classes follow the order in which the book meets them: attention, the feed-forward
network, positional encoding, the encoder and decoder layers, their stacks, and the model.
Tensors are batch first, ``(batch, seq_len, d_model)``. A boolean attention mask is True where
a query may attend to a key, as in ``torch.nn.functional.scaled_dot_product_attention``.

Every attention layer has two paths that the tests prove equal: the explicit one, which the
book explains and which returns the attention weights, and the fused one
(``F.scaled_dot_product_attention``), which is faster and used whenever no weights are needed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from illustrated.reference import positional_encoding as _positional_encoding_table

__all__ = [
    "TransformerConfig",
    "MultiHeadAttention",
    "PositionwiseFeedForward",
    "PositionalEncoding",
    "EncoderLayer",
    "DecoderLayer",
    "Encoder",
    "Decoder",
    "Transformer",
    "causal_mask",
    "padding_mask",
]


@dataclass
class TransformerConfig:
    """Sizes and options of a :class:`Transformer`, with the paper's names."""

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 512  # width of every token vector
    num_heads: int = 8  # h; each head works in d_k = d_model / h dimensions
    d_ff: int = 2048  # inner width of the position-wise feed-forward network
    num_layers: int = 6  # N, the number of encoder layers
    num_decoder_layers: int | None = None  # None: the same as num_layers, as in the paper
    dropout: float = 0.1  # P_drop: on each sub-layer's output and on embeddings + positions
    attention_dropout: float = 0.0  # on the attention weights; the paper uses none
    max_len: int = 512  # rows of the positional-encoding table, the longest sequence accepted
    pad_id: int = 0  # the padding token in both vocabularies; masks are derived from it
    norm_first: bool = False  # False: post-LN, LayerNorm(x + Sublayer(x)), as in the paper
    tie_output_embedding: bool = False  # share the target embedding with the output layer
    share_embeddings: bool = False  # one embedding table for source and target (needs one joint vocabulary)
    layer_norm_eps: float = 1e-5

    def __post_init__(self):
        for name in ("src_vocab_size", "tgt_vocab_size", "d_model", "num_heads", "d_ff", "num_layers", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.num_decoder_layers is None:
            self.num_decoder_layers = self.num_layers
        if not isinstance(self.num_decoder_layers, int) or self.num_decoder_layers < 1:
            raise ValueError(f"num_decoder_layers must be a positive integer, got {self.num_decoder_layers!r}")
        if self.d_model % self.num_heads:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}; "
                f"choose d_model as a multiple of num_heads (e.g. {self.num_heads * max(1, self.d_model // self.num_heads)})"
            )
        for name in ("dropout", "attention_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                f"share_embeddings needs one vocabulary for both languages, but src_vocab_size={self.src_vocab_size} "
                f"and tgt_vocab_size={self.tgt_vocab_size}; give both the size of the joint vocabulary, or set "
                f"share_embeddings=False"
            )
        if not 0 <= self.pad_id < min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(
                f"pad_id={self.pad_id} must be a token id of both vocabularies "
                f"(sizes {self.src_vocab_size} and {self.tgt_vocab_size})"
            )

    @property
    def d_k(self) -> int:
        """Width of one head's queries, keys and values, d_model / num_heads."""
        return self.d_model // self.num_heads

    @classmethod
    def base(cls, src_vocab_size: int, tgt_vocab_size: int, **overrides) -> "TransformerConfig":
        """Return the paper's base model: N=6, d_model=512, h=8, d_ff=2048, P_drop=0.1."""
        return cls(src_vocab_size, tgt_vocab_size, **overrides)

    @classmethod
    def tiny(cls, src_vocab_size: int, tgt_vocab_size: int, **overrides) -> "TransformerConfig":
        """Return a model small enough to train in seconds on a laptop CPU."""
        sizes = dict(d_model=64, num_heads=4, d_ff=128, num_layers=2, dropout=0.1, max_len=128)
        sizes.update(overrides)
        return cls(src_vocab_size, tgt_vocab_size, **sizes)

    def to_dict(self) -> dict:
        """Return the fields as a plain dict, e.g. to store in a checkpoint."""
        return asdict(self)

    def replace(self, **changes) -> "TransformerConfig":
        """Return a copy with some fields changed."""
        return replace(self, **changes)


# Since PyTorch 2.5 (pull requests 131060 and 131863), F.scaled_dot_product_attention returns a zero
# output for a query whose keys are all masked. Older versions could return NaN there.
# NOTE: only the CPU kernels are tested here, so on other devices the layer still zeroes those rows.
_SDPA_ZEROES_EMPTY_ROWS_ON_CPU = torch.__version__ >= "2.5"


def causal_mask(size: int, device=None) -> torch.Tensor:
    """Return the decoder's look-ahead mask ``(size, size)``: query i may attend to keys 0..i."""
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def padding_mask(token_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """Return the key mask ``(batch, 1, 1, seq_len)`` of a padded batch ``(batch, seq_len)``.

    True where the key is a real token; it broadcasts over heads and queries.
    """
    return (token_ids != pad_id)[:, None, None, :]


def _check_mask(mask: torch.Tensor, scores_shape: tuple) -> None:
    if mask.dtype != torch.bool:
        raise TypeError(f"the attention mask must be boolean (True where a query may attend), got {mask.dtype}")
    try:
        expanded = torch.broadcast_shapes(mask.shape, scores_shape)
    except RuntimeError:
        expanded = None
    if expanded != tuple(scores_shape):
        raise ValueError(
            f"attention mask of shape {tuple(mask.shape)} does not broadcast to the attention scores "
            f"(batch, num_heads, q_len, k_len) = {tuple(scores_shape)}"
        )


class MultiHeadAttention(nn.Module):
    """Multi-head attention, section 3.2.2 of the paper.

    Args:
        d_model: width of the input and output vectors.
        num_heads: number of heads h; ``d_model`` must be divisible by it.
        dropout: dropout on the attention weights (training only).
        bias: whether the four projections have biases.

    Shape:
        query ``(batch, q_len, d_model)``, key and value ``(batch, k_len, d_model)``;
        mask boolean, broadcastable to ``(batch, num_heads, q_len, k_len)``, True where a query
        may attend. Output ``(batch, q_len, d_model)``; weights, when requested,
        ``(batch, num_heads, q_len, k_len)``.

    A query whose keys are all masked gets zero weights and a zero output on both paths.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model = d_model
        self.num_heads = num_heads
        self.d_k = d_model // num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)  # W^Q of all heads side by side
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W^O

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq_len, _ = x.shape
        return x.view(batch, seq_len, self.num_heads, self.d_k).transpose(1, 2)  # (batch, h, seq_len, d_k)

    def _project_packed(self, query, key, value):
        """Compute Q, K, V with as few matrix products as the inputs allow: one for self-attention.

        Stacking W^Q, W^K and W^V into one (3 d_model, d_model) weight gives the same numbers as
        the three projections, but one larger product runs faster on CPU, and its backward pass
        returns one input gradient instead of three that autograd must add up.
        """
        projections = [self.q_proj, self.k_proj, self.v_proj]
        if query is key and key is value:
            groups = [(query, projections)]  # self-attention
        elif key is value:
            groups = [(query, projections[:1]), (key, projections[1:])]  # encoder-decoder attention
        else:
            groups = [(query, projections[:1]), (key, projections[1:2]), (value, projections[2:])]
        outputs = []
        for x, linears in groups:
            if len(linears) == 1:
                outputs.append(linears[0](x))
                continue
            weight = torch.cat([linear.weight for linear in linears])
            bias = None if linears[0].bias is None else torch.cat([linear.bias for linear in linears])
            outputs.extend(F.linear(x, weight, bias).chunk(len(linears), dim=-1))
        return outputs

    def forward(self, query, key, value, mask=None, need_weights: bool = False):
        """Return ``(output, weights)``; weights is None unless ``need_weights``."""
        if query.dim() != 3 or key.dim() != 3 or value.dim() != 3:
            raise ValueError(
                f"query, key and value must be (batch, seq_len, d_model), got shapes "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        sizes = (query.shape[-1], key.shape[-1], value.shape[-1])
        if sizes != (self.d_model,) * 3:
            raise ValueError(
                f"query, key and value must have d_model={self.d_model} features, got {sizes[0]}, {sizes[1]} "
                f"and {sizes[2]}"
            )
        if key.shape[:2] != value.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(
                f"query, key and value must share the batch size, and key and value the length; got shapes "
                f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
            )
        batch, q_len, _ = query.shape
        k_len = key.shape[1]
        if need_weights:
            q, k, v = self.q_proj(query), self.k_proj(key), self.v_proj(value)  # Q = X W^Q, ...
        else:
            q, k, v = self._project_packed(query, key, value)
        q = self._split(q)  # (batch, h, q_len, d_k)
        k = self._split(k)  # (batch, h, k_len, d_k)
        v = self._split(v)  # (batch, h, k_len, d_k)

        if mask is not None:
            _check_mask(mask, (batch, self.num_heads, q_len, k_len))
        dropout_p = self.dropout if self.training else 0.0

        if need_weights:
            # The explicit path of equation (1), which the book draws.
            scores = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # (batch, h, q_len, k_len)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            if mask is not None:
                any_key = mask.any(dim=-1, keepdim=True)  # False for a query with every key masked
                weights = weights.masked_fill(~any_key, 0.0)  # all -inf rows give NaN: make them 0
            heads = F.dropout(weights, dropout_p, self.training) @ v  # (batch, h, q_len, d_k)
        else:
            # The fused kernel computes the same thing without storing the weights.
            weights = None
            heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
            if mask is not None and not (_SDPA_ZEROES_EMPTY_ROWS_ON_CPU and heads.device.type == "cpu"):
                any_key = mask.any(dim=-1, keepdim=True)
                heads = heads.masked_fill(~any_key, 0.0)

        merged = heads.transpose(1, 2).reshape(batch, q_len, self.d_model)  # concat: (batch, q_len, d_model)
        return self.out_proj(merged), weights


class PositionwiseFeedForward(nn.Module):
    """The feed-forward network of equation (2), ``max(0, x W_1 + b_1) W_2 + b_2``, applied to each position.

    Shape: ``(batch, seq_len, d_model) -> (batch, seq_len, d_model)``.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.linear2(self.dropout(F.relu(self.linear1(x))))


class PositionalEncoding(nn.Module):
    """Add the sinusoidal positional encoding of section 3.5 to a batch of embeddings.

    The table ``(max_len, d_model)`` is precomputed in the paper's interleaved layout
    (sine in even columns, cosine in odd columns). Shape: ``(batch, seq_len, d_model)`` in and out.

    The table is computed in float64 and stored in the default dtype, so a module built under
    ``torch.set_default_dtype(torch.float64)`` contains the exact values, while ``.double()`` on a
    float32 module only widens float32 values.
    """

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        table = torch.tensor(_positional_encoding_table(max_len, d_model), dtype=torch.get_default_dtype())
        self.register_buffer("table", table, persistent=False)  # recomputed, so not stored in checkpoints

    def forward(self, x):
        seq_len = x.shape[1]
        max_len = self.table.shape[0]
        if seq_len > max_len:
            raise ValueError(
                f"sequence length {seq_len} exceeds the positional-encoding table of {max_len} positions; "
                f"build the model with a larger max_len or truncate the input"
            )
        return x + self.table[:seq_len].to(x.dtype)


def _sublayer(x, sublayer, norm, dropout, norm_first: bool):
    """Wrap a sub-layer with its residual connection and layer norm, post-LN or pre-LN."""
    if norm_first:
        return x + dropout(sublayer(norm(x)))  # pre-LN: x + Sublayer(LayerNorm(x))
    return norm(x + dropout(sublayer(x)))  # post-LN, as in the paper: LayerNorm(x + Sublayer(x))


class EncoderLayer(nn.Module):
    """One encoder layer: self-attention, then the feed-forward network, each with a residual and a layer norm.

    Shape: ``x (batch, src_len, d_model)``; ``src_mask`` broadcastable to ``(batch, h, src_len, src_len)``.
    ``forward`` returns ``(x, weights)``, weights being None unless ``need_weights``.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 attention_dropout: float = 0.0, norm_first: bool = False, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, attention_dropout)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, src_mask=None, need_weights: bool = False):
        weights = None

        def attend(h):
            nonlocal weights
            out, weights = self.self_attn(h, h, h, src_mask, need_weights)
            return out

        x = _sublayer(x, attend, self.norm1, self.dropout, self.norm_first)
        x = _sublayer(x, self.feed_forward, self.norm2, self.dropout, self.norm_first)
        return x, weights


class DecoderLayer(nn.Module):
    """One decoder layer: masked self-attention, encoder-decoder attention, then the feed-forward network.

    In the encoder-decoder ("cross") attention the queries come from the decoder and the keys
    and values from the encoder's output ``memory``.

    Shape: ``x (batch, tgt_len, d_model)``, ``memory (batch, src_len, d_model)``;
    ``tgt_mask`` broadcastable to ``(batch, h, tgt_len, tgt_len)``, ``memory_mask`` to
    ``(batch, h, tgt_len, src_len)``. ``forward`` returns ``(x, self_weights, cross_weights)``.
    """

    def __init__(self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.1,
                 attention_dropout: float = 0.0, norm_first: bool = False, layer_norm_eps: float = 1e-5):
        super().__init__()
        self.norm_first = norm_first
        self.self_attn = MultiHeadAttention(d_model, num_heads, attention_dropout)
        self.cross_attn = MultiHeadAttention(d_model, num_heads, attention_dropout)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff)
        self.norm1 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm2 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.norm3 = nn.LayerNorm(d_model, eps=layer_norm_eps)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, need_weights: bool = False):
        self_weights = cross_weights = None

        def attend_self(h):
            nonlocal self_weights
            out, self_weights = self.self_attn(h, h, h, tgt_mask, need_weights)
            return out

        def attend_memory(h):
            nonlocal cross_weights
            out, cross_weights = self.cross_attn(h, memory, memory, memory_mask, need_weights)
            return out

        x = _sublayer(x, attend_self, self.norm1, self.dropout, self.norm_first)
        x = _sublayer(x, attend_memory, self.norm2, self.dropout, self.norm_first)
        x = _sublayer(x, self.feed_forward, self.norm3, self.dropout, self.norm_first)
        return x, self_weights, cross_weights


class Encoder(nn.Module):
    """A stack of N :class:`EncoderLayer`, with a final layer norm when pre-LN (whose layers end un-normalised).

    ``forward(x, src_mask, need_weights)`` returns ``(x, weights)`` with one weight tensor per layer
    (an empty list unless ``need_weights``).
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(config.d_model, config.num_heads, config.d_ff, config.dropout,
                         config.attention_dropout, config.norm_first, config.layer_norm_eps)
            for _ in range(config.num_layers)
        )
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm_first else None

    def forward(self, x, src_mask=None, need_weights: bool = False):
        all_weights = []
        for layer in self.layers:
            x, weights = layer(x, src_mask, need_weights)
            if need_weights:
                all_weights.append(weights)
        if self.norm is not None:
            x = self.norm(x)
        return x, all_weights


class Decoder(nn.Module):
    """A stack of N :class:`DecoderLayer`, with a final layer norm when pre-LN.

    ``forward(x, memory, tgt_mask, memory_mask, need_weights)`` returns
    ``(x, self_weights, cross_weights)``, the last two being lists with one tensor per layer.
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderLayer(config.d_model, config.num_heads, config.d_ff, config.dropout,
                         config.attention_dropout, config.norm_first, config.layer_norm_eps)
            for _ in range(config.num_decoder_layers)
        )
        self.norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps) if config.norm_first else None

    def forward(self, x, memory, tgt_mask=None, memory_mask=None, need_weights: bool = False):
        self_weights, cross_weights = [], []
        for layer in self.layers:
            x, sw, cw = layer(x, memory, tgt_mask, memory_mask, need_weights)
            if need_weights:
                self_weights.append(sw)
                cross_weights.append(cw)
        if self.norm is not None:
            x = self.norm(x)
        return x, self_weights, cross_weights


class Transformer(nn.Module):
    """The encoder-decoder Transformer of the paper.

    ``model(src, tgt_in)`` takes padded token ids ``src (batch, src_len)`` and
    ``tgt_in (batch, tgt_len)`` (the target shifted right, starting with the begin-of-sentence
    token), derives the padding and causal masks from ``config.pad_id``, and returns logits
    ``(batch, tgt_len, tgt_vocab_size)``. With ``return_attention=True`` it returns
    ``(logits, attention)``, where ``attention`` maps ``"encoder"``, ``"decoder"`` and ``"cross"``
    to one tensor per layer, ``(batch, num_heads, q_len, k_len)``.

    Example::

        config = TransformerConfig.tiny(src_vocab_size=100, tgt_vocab_size=120)
        model = Transformer(config)
        logits = model(torch.tensor([[5, 6, 7, 0]]), torch.tensor([[1, 8, 9]]))  # (1, 3, 120)
    """

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.src_embed = nn.Embedding(config.src_vocab_size, config.d_model)
        if config.share_embeddings:
            # With a vocabulary learnt from both languages, the encoder and the decoder look up their tokens
            # in one table (built once, so the random initialisation draws one table, not two).
            self.tgt_embed = self.src_embed
        else:
            self.tgt_embed = nn.Embedding(config.tgt_vocab_size, config.d_model)
        self.positional_encoding = PositionalEncoding(config.d_model, config.max_len)
        self.embed_dropout = nn.Dropout(config.dropout)
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.output = nn.Linear(config.d_model, config.tgt_vocab_size)
        self.reset_parameters()
        self.tie_weights()

    def tie_weights(self) -> None:
        """Make the shared weights one tensor: the embedding tables, and the output layer's matrix.

        Section 3.4 of the paper shares one matrix between the two embedding layers and the pre-softmax
        linear layer. Which ones are shared follows ``share_embeddings`` and ``tie_output_embedding``.
        """
        if self.config.share_embeddings:
            self.tgt_embed = self.src_embed
        if self.config.tie_output_embedding:
            self.output.weight = self.tgt_embed.weight

    def _apply(self, fn, *args, **kwargs):
        # Moving a model to an XLA device can leave each module with its own copy of a tied weight, so every
        # move or cast ties the weights again.
        result = super()._apply(fn, *args, **kwargs)
        self.tie_weights()
        return result

    def reset_parameters(self):
        """Initialise the weights: Xavier-uniform matrices, zero biases, embeddings N(0, 1/d_model).

        With the sqrt(d_model) scaling of the embeddings this gives token vectors of unit variance,
        the scale of the positional encoding they are added to.
        """
        for name, param in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(param)
            elif "norm" in name:
                nn.init.ones_(param)
            elif "embed" in name:
                nn.init.normal_(param, std=self.config.d_model ** -0.5)
            elif param.dim() > 1:
                nn.init.xavier_uniform_(param)

    def _check_ids(self, ids: torch.Tensor, vocab_size: int, name: str) -> None:
        if ids.dim() != 2:
            raise ValueError(f"{name} must be token ids of shape (batch, seq_len), got shape {tuple(ids.shape)}")
        if ids.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
        if ids.device.type == "xla" or torch.compiler.is_compiling():
            return  # reading the values back would force a device sync on every step
        if ids.numel():
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= vocab_size:
                raise ValueError(
                    f"{name} holds token ids from {low} to {high}, outside the vocabulary of "
                    f"{vocab_size} tokens (valid ids: 0 to {vocab_size - 1})"
                )

    def _embed(self, ids, table):
        x = table(ids) * math.sqrt(self.config.d_model)  # (batch, seq_len, d_model)
        return self.embed_dropout(self.positional_encoding(x))

    def src_mask(self, src: torch.Tensor) -> torch.Tensor:
        """Return the key padding mask of the source, ``(batch, 1, 1, src_len)``."""
        return padding_mask(src, self.config.pad_id)

    def tgt_mask(self, tgt_in: torch.Tensor) -> torch.Tensor:
        """Return the decoder self-attention mask, ``(batch, 1, tgt_len, tgt_len)``: causal and no padding keys."""
        return causal_mask(tgt_in.shape[1], tgt_in.device) & padding_mask(tgt_in, self.config.pad_id)

    def encode(self, src: torch.Tensor, return_attention: bool = False):
        """Encode source ids ``(batch, src_len)`` into ``memory (batch, src_len, d_model)``.

        Returns ``memory``, or ``(memory, encoder_weights)`` with ``return_attention``.
        """
        self._check_ids(src, self.config.src_vocab_size, "src")
        memory, weights = self.encoder(self._embed(src, self.src_embed), self.src_mask(src), return_attention)
        return (memory, weights) if return_attention else memory

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor, src: torch.Tensor, return_attention: bool = False):
        """Return the logits ``(batch, tgt_len, tgt_vocab_size)`` for target ids given the encoded source.

        ``src`` is needed only for its padding mask. With ``return_attention`` returns
        ``(logits, {"decoder": [...], "cross": [...]})``.
        """
        self._check_ids(tgt_in, self.config.tgt_vocab_size, "tgt_in")
        x = self._embed(tgt_in, self.tgt_embed)
        x, self_weights, cross_weights = self.decoder(
            x, memory, self.tgt_mask(tgt_in), self.src_mask(src), return_attention
        )
        logits = self.output(x)
        if return_attention:
            return logits, {"decoder": self_weights, "cross": cross_weights}
        return logits

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor, return_attention: bool = False):
        if src.dim() == 2 and tgt_in.dim() == 2 and src.shape[0] != tgt_in.shape[0]:
            raise ValueError(
                f"src and tgt_in must have the same batch size, got {src.shape[0]} and {tgt_in.shape[0]}"
            )
        if not return_attention:
            return self.decode(tgt_in, self.encode(src), src)
        memory, encoder_weights = self.encode(src, return_attention=True)
        logits, weights = self.decode(tgt_in, memory, src, return_attention=True)
        return logits, {"encoder": encoder_weights, **weights}

    def num_parameters(self) -> int:
        """Count the trainable parameters, counting tied weights once."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
