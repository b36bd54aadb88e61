"""Check functions for the exercises of chapters 7 to 10 (Part II: the full encoder-decoder).

Each ``check_*`` takes the student's function, runs it on fixed random inputs and edge cases,
and either prints "Correct! ..." or raises :class:`ExerciseError` (an ``AssertionError``) whose
message names the mistake. The inputs come from a fixed seed, so a check gives the same verdict
on every run. "The paper" in the messages is "Attention Is All You Need" (Vaswani et al., 2017).
"""

from __future__ import annotations

import math

import numpy as np

from illustrated import reference
from illustrated.exercises.checks import Case, ExerciseError, Mistake, compare_with_reference, report_success

__all__ = [
    "check_positional_encoding",
    "check_shift_matrix",
    "check_layer_norm",
    "check_sublayer_connection",
    "check_feed_forward",
    "check_decoder_mask",
    "check_decoder_inputs",
    "check_cross_attention",
    "check_label_smoothing",
    "check_learning_rate",
    "check_greedy",
]

SEED = 2018  # the inputs of every check; fixed so that a verdict never changes between runs


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


# Chapter 7: positional encoding -------------------------------------------------------------

def _encoding_halves(max_len, d_model):
    table = reference.positional_encoding(max_len, d_model)
    return np.concatenate([table[:, 0::2], table[:, 1::2]], axis=1)


def _encoding_swapped(max_len, d_model):
    """Return the table with cosines in the even columns and sines in the odd ones."""
    positions = np.arange(max_len)[:, None]
    angles = positions / np.power(10000.0, np.arange(0, d_model, 2) / d_model)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.cos(angles)
    table[:, 1::2] = np.sin(angles[:, : d_model // 2])
    return table


def _encoding_exponent_i(max_len, d_model):
    """Return the table with each column's own index in the exponent (2i + 1 for a cosine) instead of the pair's 2i."""
    positions = np.arange(max_len)[:, None]
    columns = np.arange(d_model)
    angles = positions / np.power(10000.0, columns / d_model)
    return np.where(columns % 2 == 0, np.sin(angles), np.cos(angles))


def _encoding_pair_index(max_len, d_model):
    """Return the table with the pair index i in the exponent where the paper has 2i."""
    positions = np.arange(max_len)[:, None]
    angles = positions / np.power(10000.0, np.arange(0, d_model, 2) / 2 / d_model)
    table = np.zeros((max_len, d_model))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles[:, : d_model // 2])
    return table


def check_positional_encoding(student_fn):
    """Check ``positional_encoding(max_len, d_model) -> (max_len, d_model)``, sines and cosines interleaved."""
    cases = [
        Case("max_len = 4, d_model = 6", (4, 6)),
        Case("max_len = 20, d_model = 512, the size of the chapter's heatmap", (20, 512)),
        Case("max_len = 1 (only position 0)", (1, 8)),
        Case("max_len = 50, d_model = 2 (one pair)", (50, 2)),
    ]
    mistakes = [
        Mistake("The sines and cosines are in two halves; the paper interleaves them: sin in the even columns "
                "(2i) and cos in the odd ones (2i + 1).", _encoding_halves),
        Mistake("Sine and cosine are swapped: PE[pos, 2i] is the sine and PE[pos, 2i + 1] the cosine.",
                _encoding_swapped),
        Mistake("Each column uses its own index in the exponent, but a sine and its cosine share one frequency: "
                "both columns 2i and 2i + 1 use 10000^(2i / d_model).", _encoding_exponent_i),
        Mistake("The exponent is i / d_model; the paper's is 2i / d_model, with i the index of the (sin, cos) pair.",
                _encoding_pair_index),
    ]
    compare_with_reference(student_fn, reference.positional_encoding, cases, mistakes=mistakes,
                           name="`positional_encoding`", rtol=1e-6, atol=1e-9)
    report_success("Every position gets sines and cosines of d_model / 2 frequencies, interleaved as in the paper.")


def _shift_matrix_reference(k, d_model):
    """Return M with PE[pos + k] = M @ PE[pos]: a 2x2 rotation by k * omega_i for each (sin, cos) pair."""
    matrix = np.zeros((d_model, d_model))
    for i in range(d_model // 2):
        angle = k / 10000.0 ** (2 * i / d_model)
        c, s = math.cos(angle), math.sin(angle)
        # sin(a + b) = sin a cos b + cos a sin b;  cos(a + b) = cos a cos b - sin a sin b
        matrix[2 * i, 2 * i], matrix[2 * i, 2 * i + 1] = c, s
        matrix[2 * i + 1, 2 * i], matrix[2 * i + 1, 2 * i + 1] = -s, c
    return matrix


def check_shift_matrix(student_fn):
    """Check ``shift_matrix(k, d_model) -> M`` with ``PE[pos + k] = M @ PE[pos]`` for every position (even d_model)."""
    cases = [
        Case("k = 1, d_model = 4", (1, 4)),
        Case("k = 3, d_model = 8", (3, 8)),
        Case("k = 0 (no shift), d_model = 6", (0, 6), hint="A shift by 0 positions is the identity matrix."),
        Case("k = 10, d_model = 16", (10, 16)),
    ]
    mistakes = [
        Mistake("The matrix shifts backwards, from pos to pos - k: the signs of the sines in each 2x2 block are "
                "swapped (it is the transpose of the right matrix).", lambda k, d: _shift_matrix_reference(k, d).T),
        Mistake("The matrix shifts by one position whatever k is: the angle of pair i is k * omega_i.",
                lambda k, d: _shift_matrix_reference(1, d)),
    ]
    compare_with_reference(student_fn, _shift_matrix_reference, cases, mistakes=mistakes, name="`shift_matrix`",
                           atol=1e-9)
    table = reference.positional_encoding(30, 8)
    moved = table[:20] @ np.asarray(student_fn(5, 8), dtype=float).T
    if not np.allclose(moved, table[5:25], atol=1e-9):
        raise ExerciseError("`shift_matrix(5, 8) @ PE[pos]` does not give PE[pos + 5] for every pos.")
    report_success("M_k rotates each (sin, cos) pair by k times its frequency, whatever the position.")


# Chapter 8: the encoder block ---------------------------------------------------------------

def _layer_norm_reference(x, gamma, beta, eps=1e-5):
    return reference.layer_norm(x, gamma, beta, eps)


def check_layer_norm(student_fn):
    """Check ``layer_norm(x, gamma, beta, eps=1e-5)``: normalise the last axis (biased variance), then scale and shift."""
    rng = _rng()
    d_model = 6
    cases = [
        Case("two tokens, d_model = 6", (rng.normal(size=(2, d_model)) * 3 + 1, rng.normal(size=d_model),
                                          rng.normal(size=d_model))),
        Case("a batch of shape (2, 3, 4)", (rng.normal(size=(2, 3, 4)), rng.normal(size=4), rng.normal(size=4))),
        Case("a constant vector, whose variance is 0", (np.full((1, 5), 2.5), np.ones(5), np.zeros(5)),
             hint="Add eps to the variance before the square root, so a constant vector gives 0, not NaN."),
        Case("eps = 0.1 passed explicitly", (rng.normal(size=(3, 4)), np.ones(4), np.zeros(4)), {"eps": 0.1}),
    ]
    mistakes = [
        Mistake("The variance is the unbiased one (divided by n - 1); layer norm divides by n, as np.var does "
                "by default and torch.nn.LayerNorm does.",
                lambda x, g, b, eps=1e-5: (x - x.mean(-1, keepdims=True))
                / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) * g + b),
        Mistake("eps is added after the square root; the paper's implementations add it to the variance: "
                "(x - mean) / sqrt(var + eps).",
                lambda x, g, b, eps=1e-5: (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + eps) * g + b),
        Mistake("eps is missing: divide by sqrt(var + eps), which also keeps a constant vector (variance 0) from "
                "giving NaN.",
                lambda x, g, b, eps=1e-5: (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True) * g + b),
        Mistake("gamma and beta are not applied: multiply the normalised vector by gamma and add beta.",
                lambda x, g, b, eps=1e-5: reference.layer_norm(x, eps=eps)),
        Mistake("The mean and variance are taken over the tokens (axis 0); layer norm takes them over each "
                "token's features, the last axis.",
                lambda x, g, b, eps=1e-5: (x - x.mean(0, keepdims=True)) / np.sqrt(x.var(0, keepdims=True) + eps)
                * g + b),
    ]
    compare_with_reference(student_fn, _layer_norm_reference, cases, mistakes=mistakes, name="`layer_norm`",
                           rtol=1e-5, atol=1e-7)
    report_success("Each token's vector gets mean 0 and variance 1 over its features, then gamma and beta.")


class _TinySublayer:
    """A fixed non-linear sub-layer ``tanh(x W)``, for which no residual or norm mistake can cancel out.

    An affine sub-layer such as ``2x + 0.5`` would not do: layer norm removes any positive scale
    and shift, so ``LayerNorm(x + 2x + 0.5)`` equals ``LayerNorm(x)`` and hides a missing residual.
    """

    def __init__(self, d_model: int, seed: int):
        self.weight = np.random.default_rng(seed).normal(size=(d_model, d_model))

    def __call__(self, x):
        return np.tanh(np.asarray(x) @ self.weight)

    def __deepcopy__(self, memo):
        return self


def _sublayer_reference(x, sublayer, norm_first):
    if norm_first:
        return x + sublayer(reference.layer_norm(x))
    return reference.layer_norm(x + sublayer(x))


def check_sublayer_connection(student_fn):
    """Check ``sublayer_connection(x, sublayer, norm_first)``: post-LN ``LN(x + f(x))`` or pre-LN ``x + f(LN(x))``."""
    rng = _rng()
    x = rng.normal(size=(3, 4)) * 2
    cases = [
        Case("post-LN (norm_first=False), 3 tokens, d_model = 4", (x, _TinySublayer(4, 1), False)),
        Case("pre-LN (norm_first=True), 3 tokens, d_model = 4", (x, _TinySublayer(4, 1), True)),
        Case("post-LN, a batch of shape (2, 2, 5)", (rng.normal(size=(2, 2, 5)), _TinySublayer(5, 2), False)),
        Case("pre-LN, a batch of shape (2, 2, 5)", (rng.normal(size=(2, 2, 5)), _TinySublayer(5, 2), True)),
    ]
    mistakes = [
        Mistake("Post-LN and pre-LN are swapped: norm_first=False is the paper's LayerNorm(x + f(x)), and "
                "norm_first=True is x + f(LayerNorm(x)).",
                lambda x, f, norm_first: _sublayer_reference(x, f, not norm_first)),
        Mistake("The residual connection is missing: add the input x to the sub-layer's output.",
                lambda x, f, norm_first: f(reference.layer_norm(x)) if norm_first else reference.layer_norm(f(x))),
        Mistake("Pre-LN normalises the sum as well; in pre-LN the residual path x stays un-normalised: "
                "x + f(LayerNorm(x)).",
                lambda x, f, norm_first: reference.layer_norm(x + f(reference.layer_norm(x))) if norm_first
                else reference.layer_norm(x + f(x))),
    ]
    compare_with_reference(student_fn, _sublayer_reference, cases, mistakes=mistakes, name="`sublayer_connection`",
                           rtol=1e-5, atol=1e-7)
    report_success("Post-LN normalises after the residual sum, pre-LN before the sub-layer.")


def check_feed_forward(student_fn):
    """Check ``feed_forward(x, w_1, b_1, w_2, b_2)``, equation (2): ``max(0, x W_1 + b_1) W_2 + b_2``."""
    rng = _rng()
    cases = [
        Case("two tokens, d_model = 4, d_ff = 8",
             (rng.normal(size=(2, 4)), rng.normal(size=(4, 8)), rng.normal(size=8), rng.normal(size=(8, 4)),
              rng.normal(size=4))),
        Case("a batch of shape (2, 3, 4)",
             (rng.normal(size=(2, 3, 4)), rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=(6, 4)),
              rng.normal(size=4))),
    ]
    mistakes = [
        Mistake("The ReLU is missing: the network is max(0, x W_1 + b_1) W_2 + b_2, two linear maps with a "
                "ReLU between them.", lambda x, w1, b1, w2, b2: (x @ w1 + b1) @ w2 + b2),
        Mistake("The ReLU is applied after the second layer; it belongs between the two: "
                "max(0, x W_1 + b_1) W_2 + b_2.", lambda x, w1, b1, w2, b2: np.maximum((x @ w1 + b1) @ w2 + b2, 0)),
        Mistake("The bias b_1 is added after the ReLU; it goes inside: max(0, x W_1 + b_1).",
                lambda x, w1, b1, w2, b2: (np.maximum(x @ w1, 0) + b1) @ w2 + b2),
    ]
    compare_with_reference(student_fn, reference.feed_forward, cases, mistakes=mistakes, name="`feed_forward`")
    report_success("Each position goes through W_1, a ReLU and W_2, the same weights at every position.")


# Chapter 9: the decoder block ---------------------------------------------------------------

def _decoder_mask_reference(tgt_in, pad_id):
    tgt_in = np.asarray(tgt_in)
    causal = reference.causal_mask(tgt_in.shape[-1])  # (tgt_len, tgt_len)
    keys = (tgt_in != pad_id)[:, None, :]  # (batch, 1, tgt_len)
    return causal[None] & keys


def check_decoder_mask(student_fn):
    """Check ``decoder_mask(tgt_in, pad_id) -> (batch, tgt_len, tgt_len)``: causal and no padding keys."""
    cases = [
        Case("one sentence without padding, [[1, 5, 6, 7]]", (np.array([[1, 5, 6, 7]]), 0)),
        Case("two sentences, the second padded: [[1, 5, 6], [1, 8, 0]]", (np.array([[1, 5, 6], [1, 8, 0]]), 0)),
        Case("pad_id = 9", (np.array([[1, 4, 9, 9], [1, 4, 5, 6]]), 9)),
    ]
    mistakes = [
        Mistake("The padding is not masked: combine the causal mask with a key mask that is False where "
                "tgt_in == pad_id.", lambda ids, pad: np.broadcast_to(reference.causal_mask(np.shape(ids)[-1]),
                                                                       (len(ids),) + (np.shape(ids)[-1],) * 2)),
        Mistake("The future is not masked: each position may attend only to itself and earlier positions, "
                "so combine the padding mask with np.tril.",
                lambda ids, pad: np.broadcast_to((np.asarray(ids) != pad)[:, None, :],
                                                 (len(ids),) + (np.shape(ids)[-1],) * 2)),
        Mistake("The causal part is transposed: query i may attend to keys 0..i, the lower triangle.",
                lambda ids, pad: np.triu(np.ones((np.shape(ids)[-1],) * 2, dtype=bool))[None]
                & (np.asarray(ids) != pad)[:, None, :]),
        Mistake("The padding mask is applied to the queries (rows) instead of the keys (columns).",
                lambda ids, pad: reference.causal_mask(np.shape(ids)[-1])[None] & (np.asarray(ids) != pad)[:, :, None]),
    ]
    compare_with_reference(student_fn, _decoder_mask_reference, cases, mistakes=mistakes, name="`decoder_mask`")
    report_success("Each position sees itself and earlier tokens, and never a padding token.")


def _decoder_inputs_reference(target, bos_id, eos_id):
    target = list(target)
    return np.array([bos_id] + target, dtype=int), np.array(target + [eos_id], dtype=int)


def check_decoder_inputs(student_fn):
    """Check ``decoder_inputs(target, bos_id, eos_id) -> (tgt_in, tgt_out)``: ``<bos>`` + target and target + ``<eos>``."""
    cases = [
        Case("the target [7, 8, 9]", ([7, 8, 9], 1, 2)),
        Case("a one-token target [5]", ([5], 1, 2)),
        Case("an empty target", ([], 1, 2), hint="An empty target gives tgt_in = [bos_id] and tgt_out = [eos_id]."),
        Case("bos_id = 10, eos_id = 11", ([4, 4], 10, 11)),
    ]
    mistakes = [
        Mistake("tgt_in and tgt_out are swapped: the decoder reads <bos> + target and must predict target + <eos>.",
                lambda t, bos, eos: _decoder_inputs_reference(t, bos, eos)[::-1]),
        Mistake("The last target token is dropped from tgt_in, so tgt_in is one token shorter than tgt_out; "
                "both must have len(target) + 1 tokens.",
                lambda t, bos, eos: (np.array([bos] + list(t)[:-1], dtype=int), np.array(list(t) + [eos], dtype=int))),
        Mistake("tgt_out starts with <bos>; it is the target followed by <eos>.",
                lambda t, bos, eos: (np.array([bos] + list(t), dtype=int), np.array([bos] + list(t), dtype=int))),
    ]
    compare_with_reference(student_fn, _decoder_inputs_reference, cases, mistakes=mistakes, name="`decoder_inputs`",
                           parts=("tgt_in", "tgt_out"))
    report_success("At each position the decoder reads one token and must predict the next one.")


def _cross_attention_reference(decoder_x, memory, w_q, w_k, w_v):
    q = decoder_x @ w_q
    k = memory @ w_k
    v = memory @ w_v
    return reference.scaled_dot_product_attention(q, k, v)


def check_cross_attention(student_fn):
    """Check ``cross_attention(decoder_x, memory, w_q, w_k, w_v) -> (output, weights)``.

    Queries come from the decoder, keys and values from the encoder's output.
    """
    rng = _rng()
    cases = [
        Case("3 target positions, 5 source tokens, d_model = 4, d_k = 2",
             (rng.normal(size=(3, 4)), rng.normal(size=(5, 4)), *rng.normal(size=(3, 4, 2)))),
        Case("as many target positions as source tokens (4 and 4)",
             (rng.normal(size=(4, 4)), rng.normal(size=(4, 4)), *rng.normal(size=(3, 4, 3)))),
        Case("a batch of shape (2, 2, 4) against memory (2, 6, 4)",
             (rng.normal(size=(2, 2, 4)), rng.normal(size=(2, 6, 4)), *rng.normal(size=(3, 4, 2))),
             hint="Use the @ operator and np.swapaxes(k, -1, -2), which work on batches."),
    ]
    mistakes = [
        Mistake("The queries come from the memory and the keys and values from the decoder; it is the other way: "
                "the decoder asks (queries), the encoder's output answers (keys and values).",
                lambda x, m, wq, wk, wv: _cross_attention_reference(m, x, wq, wk, wv)),
        Mistake("The values come from the decoder; keys and values both come from the encoder's output.",
                lambda x, m, wq, wk, wv: reference.scaled_dot_product_attention(x @ wq, m @ wk, x @ wv)),
        Mistake("This is the decoder's self-attention: queries, keys and values all come from decoder_x.",
                lambda x, m, wq, wk, wv: _cross_attention_reference(x, x, wq, wk, wv)),
    ]
    compare_with_reference(student_fn, _cross_attention_reference, cases, mistakes=mistakes, name="`cross_attention`",
                           parts=("output", "weights"))
    report_success("Each target position attends over the source tokens: one row of weights per query.")


# Chapter 10: training and decoding ----------------------------------------------------------

def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _label_smoothing_reference(logits, target, epsilon, pad_id):
    logits, target = np.asarray(logits, dtype=float), np.asarray(target)
    log_probs = _log_softmax(logits)  # (..., vocab_size)
    nll = -np.take_along_axis(log_probs, target[..., None], axis=-1)[..., 0]
    uniform = -log_probs.mean(axis=-1)
    per_token = (1 - epsilon) * nll + epsilon * uniform
    keep = target != pad_id
    return float((per_token * keep).sum() / max(int(keep.sum()), 1))


def check_label_smoothing(student_fn):
    """Check ``label_smoothed_loss(logits, target, epsilon, pad_id) -> float``, the mean over non-padding tokens."""
    rng = _rng()
    logits = rng.normal(size=(2, 4, 7)) * 2
    target = np.array([[3, 4, 5, 0], [6, 1, 0, 0]])
    cases = [
        Case("a batch (2, 4) with padding (pad_id = 0) and epsilon = 0.1", (logits, target, 0.1, 0)),
        Case("epsilon = 0, the plain cross-entropy", (logits, target, 0.0, 0)),
        Case("flat logits (3, 5) without padding", (rng.normal(size=(3, 5)), np.array([1, 2, 4]), 0.2, 0)),
        Case("very large logits (up to 1000)", (np.array([[1000.0, -1000.0, 0.0]]), np.array([1]), 0.1, 0),
             hint="Compute log-probabilities with a stable log-softmax (subtract the max) instead of log(softmax)."),
        Case("a batch that is all padding", (rng.normal(size=(1, 3, 4)), np.zeros((1, 3), dtype=int), 0.1, 0),
             hint="With no real token the mean has nothing to average: return 0, not NaN."),
    ]

    def with_padding(logits, target, epsilon, pad_id):
        log_probs = _log_softmax(np.asarray(logits, dtype=float))
        nll = -np.take_along_axis(log_probs, np.asarray(target)[..., None], axis=-1)[..., 0]
        return float(((1 - epsilon) * nll + epsilon * -log_probs.mean(-1)).mean())

    def others_only(logits, target, epsilon, pad_id):
        log_probs = _log_softmax(np.asarray(logits, dtype=float))
        target = np.asarray(target)
        vocab_size = log_probs.shape[-1]
        gold = np.take_along_axis(log_probs, target[..., None], axis=-1)[..., 0]
        rest = (log_probs.sum(-1) - gold) / (vocab_size - 1)
        per_token = -(1 - epsilon) * gold - epsilon * rest
        keep = target != pad_id
        return float((per_token * keep).sum() / max(int(keep.sum()), 1))

    mistakes = [
        Mistake("Padding positions are counted: average only over positions where target != pad_id.", with_padding),
        Mistake("There is no smoothing: the target must put 1 - epsilon on the gold token and spread epsilon "
                "over the vocabulary.", lambda lg, t, eps, pad: _label_smoothing_reference(lg, t, 0.0, pad)),
        Mistake("epsilon is spread over the V - 1 wrong tokens; this chapter (like PyTorch's label_smoothing) "
                "spreads it over all V tokens, the gold one included.", others_only),
    ]
    compare_with_reference(student_fn, _label_smoothing_reference, cases, mistakes=mistakes,
                           name="`label_smoothed_loss`", rtol=1e-6, atol=1e-8)
    report_success("The loss mixes -log p(gold) with the mean -log p over the vocabulary and skips padding.")


def _learning_rate_reference(step, d_model, warmup_steps):
    step = max(step, 1)
    return d_model ** -0.5 * min(step ** -0.5, step * warmup_steps ** -1.5)


def check_learning_rate(student_fn):
    """Check ``learning_rate(step, d_model, warmup_steps)``, the paper's schedule, with step 0 treated as step 1."""
    cases = [Case(f"step = {step}, d_model = {d_model}, warmup_steps = {warmup}", (step, d_model, warmup))
             for step, d_model, warmup in ((1, 512, 4000), (100, 512, 4000), (4000, 512, 4000), (20000, 512, 4000),
                                           (50, 64, 200), (200, 64, 200))]
    cases.append(Case("step = 0, before the first update", (0, 512, 4000),
                      hint="step ** -0.5 divides by zero at step 0: treat step 0 as step 1, e.g. step = max(step, 1)."))
    mistakes = [
        Mistake("The schedule takes the max of the two terms; it takes their min, so it rises linearly "
                "during warm-up and then decays as 1 / sqrt(step).",
                lambda s, d, w: d ** -0.5 * max(max(s, 1) ** -0.5, max(s, 1) * w ** -1.5)),
        Mistake("The factor d_model ** -0.5 is missing.", lambda s, d, w: min(max(s, 1) ** -0.5, max(s, 1) * w ** -1.5)),
        Mistake("The warm-up term uses warmup_steps ** -0.5; the paper's is step * warmup_steps ** -1.5, which "
                "meets step ** -0.5 exactly at step = warmup_steps.",
                lambda s, d, w: d ** -0.5 * min(max(s, 1) ** -0.5, max(s, 1) * w ** -0.5)),
    ]
    compare_with_reference(student_fn, _learning_rate_reference, cases, mistakes=mistakes, name="`learning_rate`",
                           rtol=1e-9, atol=0.0)
    report_success("The rate rises linearly for warmup_steps steps, peaks, then decays as 1 / sqrt(step).")


class _ScriptedSteps:
    """A next-token function with a known output: it spells ``sentence`` token by token, then emits ``<eos>``."""

    def __init__(self, sentence, vocab_size, eos_id, noise_seed):
        self.sentence = list(sentence)
        self.vocab_size = vocab_size
        self.eos_id = eos_id
        self.noise = np.random.default_rng(noise_seed).normal(size=(64, vocab_size))

    def __call__(self, prefix):
        prefix = list(prefix)
        scores = self.noise[len(prefix)].copy()
        wanted = self.sentence[len(prefix) - 1] if len(prefix) - 1 < len(self.sentence) else self.eos_id
        scores[wanted] = scores.max() + 1.0
        return scores - np.log(np.exp(scores).sum())

    def __deepcopy__(self, memo):
        return self


def _greedy_reference(next_log_probs, bos_id, eos_id, max_len):
    prefix = [bos_id]
    output = []
    while len(output) < max_len:
        token = int(np.argmax(next_log_probs(prefix)))
        output.append(token)
        if token == eos_id:
            break
        prefix.append(token)
    return np.array(output, dtype=int)


def check_greedy(student_fn):
    """Check ``greedy(next_log_probs, bos_id, eos_id, max_len) -> ids``: argmax each step, stop after ``<eos>`` or max_len.

    ``next_log_probs(prefix)`` takes the tokens so far, starting with ``<bos>``, and returns the
    log-probabilities of the next token. The output leaves out ``<bos>`` and ends with ``<eos>``.
    """
    cases = [
        Case("a model that spells [5, 6, 7] then <eos>", (_ScriptedSteps([5, 6, 7], 10, 2, 0), 1, 2, 20)),
        Case("a model that says <eos> at once", (_ScriptedSteps([], 10, 2, 1), 1, 2, 20)),
        Case("max_len = 2, shorter than the sentence [5, 6, 7]", (_ScriptedSteps([5, 6, 7], 10, 2, 2), 1, 2, 2),
             hint="Stop after max_len tokens even when no <eos> came."),
        Case("bos_id = 8 and eos_id = 9", (_ScriptedSteps([3, 4], 12, 9, 3), 8, 9, 20)),
    ]
    mistakes = [
        Mistake("The output starts with <bos>; return only the generated tokens.",
                lambda f, bos, eos, n: np.concatenate([[bos], _greedy_reference(f, bos, eos, n)]).astype(int)),
        Mistake("The final <eos> is missing; this chapter's convention keeps it, so a finished sentence differs "
                "from one cut off at max_len.",
                lambda f, bos, eos, n: _greedy_reference(f, bos, eos, n)[:-1]
                if eos in _greedy_reference(f, bos, eos, n) else _greedy_reference(f, bos, eos, n)),
        Mistake("The loop runs one step past max_len: return at most max_len tokens.",
                lambda f, bos, eos, n: _greedy_reference(f, bos, eos, n + 1)),
    ]
    compare_with_reference(student_fn, _greedy_reference, cases, mistakes=mistakes, name="`greedy`")
    report_success("Each step feeds the tokens so far back in and keeps the most probable next one.")
