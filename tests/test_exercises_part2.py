"""The check functions of chapters 7 to 10: a correct solution passes, and typical wrong ones fail naming the mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from illustrated import exercises, reference
from illustrated.exercises import ExerciseError
from illustrated.train import label_smoothed_cross_entropy, warmup_learning_rate


def fails_with(check, student_fn, *phrases):
    """Run ``check`` on a wrong solution and return its message, asserting that it names each phrase."""
    with pytest.raises(ExerciseError) as raised:
        check(student_fn)
    message = str(raised.value)
    for phrase in phrases:
        assert phrase in message, f"expected {phrase!r} in the message {message!r}"
    assert "\n" not in message
    return message


def passes(check, student_fn, capsys):
    check(student_fn)
    assert capsys.readouterr().out.startswith("Correct!")


# Chapter 7: positional encoding


def student_positional_encoding(max_len, d_model):
    table = np.zeros((max_len, d_model))
    for pos in range(max_len):
        for i in range(0, d_model, 2):
            angle = pos / 10000 ** (i / d_model)
            table[pos, i] = math.sin(angle)
            if i + 1 < d_model:
                table[pos, i + 1] = math.cos(angle)
    return table


def test_positional_encoding_correct(capsys):
    passes(exercises.check_positional_encoding, student_positional_encoding, capsys)


def test_positional_encoding_halves_layout():
    def halves(max_len, d_model):
        table = reference.positional_encoding(max_len, d_model)
        return np.concatenate([table[:, 0::2], table[:, 1::2]], axis=1)

    fails_with(exercises.check_positional_encoding, halves, "two halves", "interleaves")


def test_positional_encoding_swapped_sin_cos():
    def swapped(max_len, d_model):
        table = reference.positional_encoding(max_len, d_model)
        out = table.copy()
        out[:, 0::2], out[:, 1::2] = table[:, 1::2], table[:, 0::2]
        return out

    fails_with(exercises.check_positional_encoding, swapped, "swapped")


def test_positional_encoding_own_column_exponent():
    def own_exponent(max_len, d_model):
        angles = np.arange(max_len)[:, None] / 10000 ** (np.arange(d_model) / d_model)
        return np.where(np.arange(d_model) % 2 == 0, np.sin(angles), np.cos(angles))

    fails_with(exercises.check_positional_encoding, own_exponent, "share one frequency")


def test_positional_encoding_wrong_shape():
    fails_with(exercises.check_positional_encoding, lambda n, d: reference.positional_encoding(n, d).T, "shape")


def student_shift_matrix(k, d_model):
    blocks = np.zeros((d_model, d_model))
    for i in range(d_model // 2):
        angle = k * 10000 ** (-2 * i / d_model)
        blocks[2 * i:2 * i + 2, 2 * i:2 * i + 2] = [[math.cos(angle), math.sin(angle)],
                                                     [-math.sin(angle), math.cos(angle)]]
    return blocks


def test_shift_matrix_correct(capsys):
    passes(exercises.check_shift_matrix, student_shift_matrix, capsys)


def test_shift_matrix_backwards():
    fails_with(exercises.check_shift_matrix, lambda k, d: student_shift_matrix(k, d).T, "backwards")


def test_shift_matrix_ignores_k():
    fails_with(exercises.check_shift_matrix, lambda k, d: student_shift_matrix(1, d), "whatever k is")


def test_shift_matrix_identity_missing():
    fails_with(exercises.check_shift_matrix, lambda k, d: np.zeros((d, d)), "wrong")


# Chapter 8: the encoder block


def test_layer_norm_correct(capsys):
    def layer_norm(x, gamma, beta, eps=1e-5):
        mean = x.mean(axis=-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + eps) * gamma + beta

    passes(exercises.check_layer_norm, layer_norm, capsys)


def test_layer_norm_matches_torch(capsys):
    def torch_layer_norm(x, gamma, beta, eps=1e-5):
        x = torch.tensor(x)
        return torch.nn.functional.layer_norm(x, x.shape[-1:], torch.tensor(gamma), torch.tensor(beta), eps).numpy()

    passes(exercises.check_layer_norm, torch_layer_norm, capsys)


def test_layer_norm_unbiased_variance():
    def unbiased(x, gamma, beta, eps=1e-5):
        return (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, ddof=1, keepdims=True) + eps) * gamma + beta

    fails_with(exercises.check_layer_norm, unbiased, "unbiased")


def test_layer_norm_eps_outside_sqrt():
    def eps_outside(x, gamma, beta, eps=1e-5):
        return (x - x.mean(-1, keepdims=True)) / (x.std(-1, keepdims=True) + eps) * gamma + beta

    fails_with(exercises.check_layer_norm, eps_outside, "after the square root")


def test_layer_norm_no_eps_gives_nan():
    def no_eps(x, gamma, beta, eps=1e-5):
        return (x - x.mean(-1, keepdims=True)) / x.std(-1, keepdims=True) * gamma + beta

    fails_with(exercises.check_layer_norm, no_eps, "eps is missing", "NaN")


def test_layer_norm_wrong_axis():
    def over_tokens(x, gamma, beta, eps=1e-5):
        return (x - x.mean(0, keepdims=True)) / np.sqrt(x.var(0, keepdims=True) + eps) * gamma + beta

    fails_with(exercises.check_layer_norm, over_tokens, "over the tokens")


def student_sublayer(x, sublayer, norm_first):
    if norm_first:
        return x + sublayer(reference.layer_norm(x))
    return reference.layer_norm(x + sublayer(x))


def test_sublayer_connection_correct(capsys):
    passes(exercises.check_sublayer_connection, student_sublayer, capsys)


def test_sublayer_connection_swapped():
    fails_with(exercises.check_sublayer_connection, lambda x, f, first: student_sublayer(x, f, not first), "swapped")


def test_sublayer_connection_missing_residual():
    def no_residual(x, sublayer, norm_first):
        return sublayer(reference.layer_norm(x)) if norm_first else reference.layer_norm(sublayer(x))

    fails_with(exercises.check_sublayer_connection, no_residual, "residual connection is missing")


def test_sublayer_connection_pre_ln_normalises_sum():
    def normalises_sum(x, sublayer, norm_first):
        if norm_first:
            return reference.layer_norm(x + sublayer(reference.layer_norm(x)))
        return reference.layer_norm(x + sublayer(x))

    fails_with(exercises.check_sublayer_connection, normalises_sum, "un-normalised")


def test_feed_forward_correct(capsys):
    passes(exercises.check_feed_forward, lambda x, w1, b1, w2, b2: np.maximum(x @ w1 + b1, 0) @ w2 + b2, capsys)


def test_feed_forward_missing_relu():
    fails_with(exercises.check_feed_forward, lambda x, w1, b1, w2, b2: (x @ w1 + b1) @ w2 + b2, "ReLU is missing")


def test_feed_forward_relu_at_end():
    fails_with(exercises.check_feed_forward, lambda x, w1, b1, w2, b2: np.maximum((x @ w1 + b1) @ w2 + b2, 0),
               "after the second layer")


# Chapter 9: the decoder block


def student_decoder_mask(tgt_in, pad_id):
    tgt_len = tgt_in.shape[1]
    causal = np.tril(np.ones((tgt_len, tgt_len), dtype=bool))
    return causal[None, :, :] & (tgt_in != pad_id)[:, None, :]


def test_decoder_mask_correct(capsys):
    passes(exercises.check_decoder_mask, student_decoder_mask, capsys)


def test_decoder_mask_matches_model(capsys):
    from illustrated.model import Transformer, TransformerConfig

    model = Transformer(TransformerConfig.tiny(12, 12, d_model=8, num_heads=2, d_ff=8, num_layers=1))

    def model_mask(tgt_in, pad_id):
        model.config.pad_id = pad_id
        return model.tgt_mask(torch.tensor(tgt_in))[:, 0].numpy()

    passes(exercises.check_decoder_mask, model_mask, capsys)


def test_decoder_mask_no_padding():
    fails_with(exercises.check_decoder_mask,
               lambda ids, pad: np.broadcast_to(np.tril(np.ones((ids.shape[1],) * 2, dtype=bool)),
                                                (ids.shape[0],) + (ids.shape[1],) * 2),
               "padding is not masked")


def test_decoder_mask_no_causal():
    fails_with(exercises.check_decoder_mask,
               lambda ids, pad: np.broadcast_to((ids != pad)[:, None, :], (ids.shape[0],) + (ids.shape[1],) * 2),
               "future is not masked")


def test_decoder_mask_upper_triangle():
    fails_with(exercises.check_decoder_mask,
               lambda ids, pad: np.triu(np.ones((ids.shape[1],) * 2, dtype=bool))[None] & (ids != pad)[:, None, :],
               "transposed")


def test_decoder_inputs_correct(capsys):
    passes(exercises.check_decoder_inputs, lambda t, bos, eos: ([bos] + list(t), list(t) + [eos]), capsys)


def test_decoder_inputs_swapped():
    fails_with(exercises.check_decoder_inputs, lambda t, bos, eos: (list(t) + [eos], [bos] + list(t)), "swapped")


def test_decoder_inputs_truncated():
    fails_with(exercises.check_decoder_inputs, lambda t, bos, eos: ([bos] + list(t)[:-1], list(t) + [eos]),
               "one token shorter")


def student_cross_attention(decoder_x, memory, w_q, w_k, w_v):
    q, k, v = decoder_x @ w_q, memory @ w_k, memory @ w_v
    weights = reference.softmax(q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1]))
    return weights @ v, weights


def test_cross_attention_correct(capsys):
    passes(exercises.check_cross_attention, student_cross_attention, capsys)


def test_cross_attention_swapped_sides():
    fails_with(exercises.check_cross_attention, lambda x, m, wq, wk, wv: student_cross_attention(m, x, wq, wk, wv),
               "other way")


def test_cross_attention_self_attention():
    fails_with(exercises.check_cross_attention, lambda x, m, wq, wk, wv: student_cross_attention(x, x, wq, wk, wv),
               "self-attention")


def test_cross_attention_missing_scale():
    def unscaled(x, m, wq, wk, wv):
        q, k, v = x @ wq, m @ wk, m @ wv
        weights = reference.softmax(q @ np.swapaxes(k, -1, -2))
        return weights @ v, weights

    fails_with(exercises.check_cross_attention, unscaled, "wrong")


# Chapter 10: training and decoding


def student_label_smoothing(logits, target, epsilon, pad_id):
    loss = label_smoothed_cross_entropy(torch.tensor(logits), torch.tensor(target), epsilon, pad_id)
    return float(loss)


def test_label_smoothing_correct(capsys):
    passes(exercises.check_label_smoothing, student_label_smoothing, capsys)


def test_label_smoothing_counts_padding():
    def with_padding(logits, target, epsilon, pad_id):
        loss = label_smoothed_cross_entropy(torch.tensor(logits), torch.tensor(target), epsilon, None)
        return float(loss)

    fails_with(exercises.check_label_smoothing, with_padding, "Padding positions are counted")


def test_label_smoothing_unstable_log():
    def naive(logits, target, epsilon, pad_id):
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        log_probs = np.log(probs)
        nll = -np.take_along_axis(log_probs, target[..., None], -1)[..., 0]
        per_token = (1 - epsilon) * nll - epsilon * log_probs.mean(-1)
        keep = target != pad_id
        return float((per_token * keep).sum() / max(keep.sum(), 1))

    fails_with(exercises.check_label_smoothing, naive, "large logits")


def test_label_smoothing_nan_for_all_padding():
    def divides_by_zero(logits, target, epsilon, pad_id):
        keep = target != pad_id
        total = student_label_smoothing(logits, target, epsilon, pad_id) * max(keep.sum(), 1)
        return total / keep.sum()

    fails_with(exercises.check_label_smoothing, divides_by_zero, "all padding")


def test_label_smoothing_no_smoothing():
    fails_with(exercises.check_label_smoothing, lambda lg, t, eps, pad: student_label_smoothing(lg, t, 0.0, pad),
               "no smoothing")


def test_learning_rate_correct(capsys):
    passes(exercises.check_learning_rate, lambda step, d, w: warmup_learning_rate(step, d, w), capsys)


def test_learning_rate_division_by_zero():
    fails_with(exercises.check_learning_rate, lambda s, d, w: d ** -0.5 * min(s ** -0.5, s * w ** -1.5),
               "ZeroDivisionError", "max(step, 1)")


def test_learning_rate_max_instead_of_min():
    fails_with(exercises.check_learning_rate, lambda s, d, w: d ** -0.5 * max(max(s, 1) ** -0.5, max(s, 1) * w ** -1.5),
               "min")


def test_learning_rate_missing_model_factor():
    fails_with(exercises.check_learning_rate, lambda s, d, w: min(max(s, 1) ** -0.5, max(s, 1) * w ** -1.5),
               "d_model ** -0.5")


def student_greedy(next_log_probs, bos_id, eos_id, max_len):
    prefix, output = [bos_id], []
    for _ in range(max_len):
        token = int(np.argmax(next_log_probs(prefix)))
        output.append(token)
        if token == eos_id:
            break
        prefix.append(token)
    return output


def test_greedy_correct(capsys):
    passes(exercises.check_greedy, student_greedy, capsys)


def test_greedy_keeps_bos():
    fails_with(exercises.check_greedy, lambda f, bos, eos, n: [bos] + student_greedy(f, bos, eos, n), "starts with <bos>")


def test_greedy_drops_eos():
    def drops_eos(f, bos, eos, n):
        output = student_greedy(f, bos, eos, n)
        return output[:-1] if output and output[-1] == eos else output

    fails_with(exercises.check_greedy, drops_eos, "<eos> is missing")


def test_greedy_ignores_max_len():
    fails_with(exercises.check_greedy, lambda f, bos, eos, n: student_greedy(f, bos, eos, n + 1), "past max_len")


def test_greedy_not_implemented_reported():
    def unfinished(f, bos, eos, n):
        raise NotImplementedError

    fails_with(exercises.check_greedy, unfinished, "NotImplementedError")
