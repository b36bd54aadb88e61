"""The check functions of chapters 1 to 6: a correct solution passes, and typical wrong ones fail with a message naming the mistake."""

from __future__ import annotations

import numpy as np
import pytest

from illustrated import exercises, reference
from illustrated.exercises import ExerciseError


def swap_last(a):
    return np.swapaxes(a, -1, -2)


def fails_with(check, student_fn, *phrases):
    """Run ``check`` on a wrong solution and return its message, asserting that it names each phrase."""
    with pytest.raises(ExerciseError) as raised:
        check(student_fn)
    message = str(raised.value)
    for phrase in phrases:
        assert phrase in message, f"expected {phrase!r} in the message {message!r}"
    return message


def passes(check, student_fn, capsys):
    check(student_fn)
    assert capsys.readouterr().out.startswith("Correct!")


def test_failure_is_assertion_error():
    assert issubclass(ExerciseError, AssertionError)


def test_message_is_one_sentence():
    message = fails_with(exercises.check_scaled_scores, lambda q, k: q @ swap_last(k), "sqrt(d_k)")
    assert message.count(". ") <= 1
    assert "\n" not in message


# Chapter 1


def test_token_ids_correct(capsys):
    passes(exercises.check_token_ids, lambda tokens, vocab: [vocab.get(t, vocab["<unk>"]) for t in tokens], capsys)


def test_token_ids_wrong():
    fails_with(exercises.check_token_ids, lambda tokens, vocab: [vocab[t] for t in tokens],
               "KeyError", "missing from the vocabulary", "<unk>")
    fails_with(exercises.check_token_ids, lambda tokens, vocab: [vocab[t] for t in tokens if t in vocab], "dropped")
    fails_with(exercises.check_token_ids, lambda tokens, vocab: [vocab.get(t, 3) + 1 for t in tokens], "off by one")


def test_embedding_correct(capsys):
    passes(exercises.check_embedding, reference.embed, capsys)


def test_embedding_wrong():
    fails_with(exercises.check_embedding, lambda ids, table: table[ids], "not multiplied by sqrt(d_model)")
    fails_with(exercises.check_embedding, lambda ids, table: table[ids] * table.shape[1], "by d_model instead")
    fails_with(exercises.check_embedding, lambda ids, table: table[ids] * np.sqrt(table.shape[0]), "vocabulary size")


# Chapter 2


def test_qkv_correct(capsys):
    passes(exercises.check_qkv, reference.qkv_projections, capsys)


def test_qkv_wrong():
    fails_with(exercises.check_qkv, lambda x, wq, wk, wv: (x @ wk, x @ wq, x @ wv), "swapped")
    fails_with(exercises.check_qkv, lambda x, wq, wk, wv: tuple(swap_last(x @ w) for w in (wq, wk, wv)), "transposed")
    fails_with(exercises.check_qkv, lambda x, wq, wk, wv: x @ wq, "tuple of 3 arrays")


# Chapter 3


def test_scaled_scores_correct(capsys):
    passes(exercises.check_scaled_scores, lambda q, k: q @ swap_last(k) / np.sqrt(q.shape[-1]), capsys)


def test_scaled_scores_missing_sqrt():
    fails_with(exercises.check_scaled_scores, lambda q, k: q @ swap_last(k), "not divided by sqrt(d_k)")


def test_scaled_scores_transposed_keys():
    fails_with(exercises.check_scaled_scores, lambda q, k: k @ swap_last(q) / np.sqrt(q.shape[-1]), "transposed")


def test_scaled_scores_divided_by_d_k():
    fails_with(exercises.check_scaled_scores, lambda q, k: q @ swap_last(k) / q.shape[-1], "by d_k instead")


def test_scaled_scores_plain_transpose_on_batch():
    fails_with(exercises.check_scaled_scores, lambda q, k: q @ k.T / np.sqrt(q.shape[-1]),
               "a batch of shape (2, 3, 4)", "np.swapaxes(k, -1, -2)")


def test_dot_product_variance_correct(capsys):
    def variance(d_k, num_samples, rng):
        return np.var((rng.normal(size=(num_samples, d_k)) * rng.normal(size=(num_samples, d_k))).sum(-1))

    passes(exercises.check_dot_product_variance, variance, capsys)


def test_dot_product_variance_wrong():
    def scaled(d_k, n, rng):
        return np.var((rng.normal(size=(n, d_k)) * rng.normal(size=(n, d_k))).sum(-1) / np.sqrt(d_k))

    def standard_deviation(d_k, n, rng):
        return np.std((rng.normal(size=(n, d_k)) * rng.normal(size=(n, d_k))).sum(-1))

    fails_with(exercises.check_dot_product_variance, scaled, "stays near 1", "divided by sqrt(d_k)")
    fails_with(exercises.check_dot_product_variance, standard_deviation, "standard deviation")
    fails_with(exercises.check_dot_product_variance, lambda d_k, n, rng: [1.0, 2.0], "one number")


# Chapter 4


def test_softmax_correct(capsys):
    passes(exercises.check_softmax, reference.softmax, capsys)


def test_softmax_unstable():
    message = fails_with(exercises.check_softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True), "overflows")
    assert "subtract" in message
    assert "maximum" in message


def test_softmax_wrong_axis_and_unnormalised():
    fails_with(exercises.check_softmax, lambda x: reference.softmax(x, axis=0), "first axis")
    fails_with(exercises.check_softmax, lambda x: np.exp(x - x.max(-1, keepdims=True)), "not divided by their sum")


def test_masked_softmax_correct(capsys):
    passes(exercises.check_masked_softmax, lambda s, m: reference.softmax(np.where(m, s, -np.inf)), capsys)


def test_masked_softmax_wrong():
    def nan_rows(s, m):
        masked = np.where(m, s, -np.inf)
        exp = np.exp(masked - masked.max(-1, keepdims=True))
        return exp / exp.sum(-1, keepdims=True)

    fails_with(exercises.check_masked_softmax, nan_rows, "NaN")
    fails_with(exercises.check_masked_softmax, lambda s, m: reference.softmax(np.where(m, s, -1e9)), "1/k_len")
    fails_with(exercises.check_masked_softmax, lambda s, m: reference.softmax(np.where(m, -np.inf, s)),
               "wrong way round")


def test_causal_mask_correct(capsys):
    passes(exercises.check_causal_mask, reference.causal_mask, capsys)


def test_causal_mask_wrong():
    fails_with(exercises.check_causal_mask, lambda n: np.triu(np.ones((n, n), dtype=bool)), "future")
    fails_with(exercises.check_causal_mask, lambda n: np.tril(np.ones((n, n), dtype=bool), -1), "diagonal")
    fails_with(exercises.check_causal_mask, lambda n: np.tril(np.ones((n, n))), "not booleans")


# Chapter 5


def test_self_attention_correct(capsys):
    passes(exercises.check_self_attention,
           lambda x, wq, wk, wv: reference.scaled_dot_product_attention(x @ wq, x @ wk, x @ wv)[0], capsys)


def test_self_attention_wrong():
    def attend(x, wq, wk, wv, scale, axis=-1, transpose=False):
        q, k, v = x @ wq, x @ wk, x @ wv
        scores = (k @ swap_last(q) if transpose else q @ swap_last(k)) / scale(q, x)
        return reference.softmax(scores, axis=axis) @ v

    def by_d_k(q, x):
        return np.sqrt(q.shape[-1])

    fails_with(exercises.check_self_attention, lambda *a: attend(*a, lambda q, x: 1.0), "not divided by sqrt(d_k)")
    fails_with(exercises.check_self_attention, lambda *a: attend(*a, lambda q, x: np.sqrt(x.shape[-1])),
               "sqrt(d_model)")
    fails_with(exercises.check_self_attention, lambda *a: attend(*a, by_d_k, transpose=True), "transposed")
    fails_with(exercises.check_self_attention, lambda *a: attend(*a, by_d_k, axis=-2), "down the columns")


# Chapter 6


def test_split_and_merge_heads_correct(capsys):
    passes(exercises.check_split_heads, reference.split_heads, capsys)
    passes(exercises.check_merge_heads, reference.merge_heads, capsys)


def test_split_heads_wrong():
    fails_with(exercises.check_split_heads,
               lambda x, h: x.reshape(x.shape[:-2] + (h, x.shape[-2], x.shape[-1] // h)), "mixes the tokens")
    fails_with(exercises.check_split_heads, lambda x, h: x.reshape(x.shape[:-1] + (h, x.shape[-1] // h)),
               "heads axis must come before")


def test_merge_heads_wrong():
    fails_with(exercises.check_merge_heads,
               lambda z: z.reshape(z.shape[:-3] + (z.shape[-2], z.shape[-3] * z.shape[-1])), "mixes the tokens")
    fails_with(exercises.check_merge_heads, lambda z: z, "has shape")


def test_multi_head_attention_correct(capsys):
    passes(exercises.check_multi_head_attention,
           lambda x, wq, wk, wv, wo, h: reference.multi_head_attention(x, x, x, wq, wk, wv, wo, h)[0], capsys)


def test_multi_head_attention_wrong():
    def attend(x, wq, wk, wv, wo, h, d_scale=None, use_w_o=True):
        q, k, v = (reference.split_heads(x @ w, h) for w in (wq, wk, wv))
        scale = np.sqrt(d_scale or q.shape[-1])
        merged = reference.merge_heads(reference.softmax(q @ swap_last(k) / scale) @ v)
        return merged @ wo if use_w_o else merged

    fails_with(exercises.check_multi_head_attention, lambda x, *w: attend(x, *w, d_scale=x.shape[-1]),
               "sqrt(d_model)")
    fails_with(exercises.check_multi_head_attention, lambda x, *w: attend(x, *w, use_w_o=False), "W_O")


# The shared machinery


def test_in_place_change_is_reported():
    def in_place(x):
        x -= x.max(axis=-1, keepdims=True)
        np.exp(x, out=x)
        x /= x.sum(axis=-1, keepdims=True)
        return x

    fails_with(exercises.check_softmax, in_place, "in place")


def test_missing_return_is_reported():
    fails_with(exercises.check_softmax, lambda x: None, "forget to `return`")


def test_torch_results_are_accepted(capsys):
    import torch

    passes(exercises.check_softmax, lambda x: torch.softmax(torch.tensor(x), dim=-1), capsys)


def test_attempt_prints_instead_of_raising(capsys):
    def unfinished(x):
        raise NotImplementedError

    exercises.attempt(exercises.check_softmax, unfinished)
    assert "Not attempted yet" in capsys.readouterr().out
    exercises.attempt(exercises.check_softmax, lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True))
    assert capsys.readouterr().out.startswith("Not yet: The softmax overflows")


def test_non_callable_is_rejected():
    fails_with(exercises.check_softmax, np.ones(3), "Pass the function itself")
