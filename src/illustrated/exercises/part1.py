"""Check functions for the exercises of chapters 1 to 6 (Part I: self-attention, step by step).

Each ``check_*`` takes the student's function, runs it on fixed random inputs and edge cases,
and either prints "Correct! ..." or raises :class:`ExerciseError` (an
``AssertionError``) whose message names the mistake. The inputs come from a fixed seed, so a
check gives the same verdict on every run.
"""

from __future__ import annotations

import math

import numpy as np

from illustrated import reference
from illustrated.exercises.checks import Case, ExerciseError, Mistake, compare_with_reference, report_success

__all__ = [
    "check_token_ids",
    "check_embedding",
    "check_qkv",
    "check_scaled_scores",
    "check_dot_product_variance",
    "check_softmax",
    "check_masked_softmax",
    "check_causal_mask",
    "check_self_attention",
    "check_split_heads",
    "check_merge_heads",
    "check_multi_head_attention",
]

SEED = 2017  # the inputs of every check; fixed so that a verdict never changes between runs


def _rng() -> np.random.Generator:
    return np.random.default_rng(SEED)


def _swap_last(array):
    """Return ``array`` with its last two axes swapped, i.e. K^T for a batch of key matrices."""
    return np.swapaxes(array, -1, -2)


# Chapter 1: tokens and embeddings ------------------------------------------------------------

_VOCAB = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3, "thinking": 4, "machines": 5, "the": 6, "animal": 7}


def _token_ids_reference(tokens, vocab):
    unknown = vocab["<unk>"]
    return np.array([vocab.get(token, unknown) for token in tokens], dtype=int)


def check_token_ids(student_fn):
    """Check ``token_ids(tokens, vocab) -> ids``: one id per token, and the id of "<unk>" for unknown words."""
    cases = [
        Case("the tokens ['thinking', 'machines']", (["thinking", "machines"], _VOCAB)),
        Case("a repeated word, ['the', 'animal', 'the']", (["the", "animal", "the"], _VOCAB)),
        Case("a word missing from the vocabulary, ['the', 'zebra']", (["the", "zebra"], _VOCAB),
             hint="Map every unknown word to vocab['<unk>'], e.g. with vocab.get(token, vocab['<unk>'])."),
        Case("an empty list of tokens", ([], _VOCAB)),
    ]
    mistakes = [
        Mistake("Unknown words were dropped, but every token needs an id: give unknown words the id of '<unk>'.",
                lambda tokens, vocab: np.array([vocab[t] for t in tokens if t in vocab], dtype=int)),
        Mistake("The ids are off by one: use the vocabulary's own ids, which start at 0 for '<pad>'.",
                lambda tokens, vocab: _token_ids_reference(tokens, vocab) + 1),
    ]
    compare_with_reference(student_fn, _token_ids_reference, cases, mistakes=mistakes, name="`token_ids`")
    report_success("Every token gets its id, and unknown words get the id of '<unk>'.")


def check_embedding(student_fn):
    """Check ``embed(token_ids, table) -> vectors``: the rows of ``table``, multiplied by sqrt(d_model)."""
    rng = _rng()
    table = rng.normal(size=(8, 4))
    cases = [
        Case("token ids [4, 5] and an (8, 4) table", (np.array([4, 5]), table)),
        Case("a batch of token ids of shape (2, 3)", (np.array([[4, 5, 6], [7, 4, 0]]), table)),
        Case("a table with d_model = 9", (np.array([1, 2, 2]), rng.normal(size=(5, 9)))),
        Case("a table with d_model = 1", (np.array([0, 3]), rng.normal(size=(4, 1)))),
    ]
    mistakes = [
        Mistake("The vectors are not multiplied by sqrt(d_model); scale the looked-up rows by np.sqrt(table.shape[1]).",
                lambda ids, tab: tab[ids]),
        Mistake("The vectors are multiplied by d_model instead of sqrt(d_model).",
                lambda ids, tab: tab[ids] * tab.shape[1]),
        Mistake("The vectors are divided by sqrt(d_model); the paper multiplies them by it.",
                lambda ids, tab: tab[ids] / np.sqrt(tab.shape[1])),
        Mistake("The scale uses the vocabulary size (table.shape[0]); it must be sqrt(d_model), table.shape[1].",
                lambda ids, tab: tab[ids] * np.sqrt(tab.shape[0])),
    ]
    compare_with_reference(student_fn, reference.embed, cases, mistakes=mistakes, name="`embed`")
    report_success("Each token id picks its row of the table, scaled by sqrt(d_model).")


# Chapter 2: queries, keys and values --------------------------------------------------------

def _projection_cases(rng):
    return [
        Case("two tokens, d_model = 4, d_k = 3", (rng.normal(size=(2, 4)), *rng.normal(size=(3, 4, 3)))),
        Case("five tokens, d_model = 8, d_k = 4", (rng.normal(size=(5, 8)), *rng.normal(size=(3, 8, 4)))),
        Case("a batch of shape (2, 3, 4)", (rng.normal(size=(2, 3, 4)), *rng.normal(size=(3, 4, 2))),
             hint="Use the @ operator, which works on a batch of matrices."),
        Case("d_v = 5 differing from d_k = 3",
             (rng.normal(size=(3, 4)), rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=(4, 5)))),
    ]


def check_qkv(student_fn):
    """Check ``qkv(x, w_q, w_k, w_v) -> (q, k, v)`` with ``q = x @ w_q``, ``k = x @ w_k``, ``v = x @ w_v``."""
    mistakes = [
        Mistake("The results are transposed: keep one token per row and compute x @ w_q, not w_q.T @ x.T.",
                lambda x, wq, wk, wv: tuple(_swap_last(x @ w) for w in (wq, wk, wv))),
        Mistake("The queries and keys are swapped: q comes from w_q and k from w_k.",
                lambda x, wq, wk, wv: (x @ wk, x @ wq, x @ wv)),
        Mistake("All three use the same weight matrix w_q; each role has its own matrix.",
                lambda x, wq, wk, wv: (x @ wq, x @ wq, x @ wq)),
    ]
    compare_with_reference(student_fn, reference.qkv_projections, _projection_cases(_rng()),
                           mistakes=mistakes, name="`qkv`", parts=("q", "k", "v"))
    report_success("q, k and v are the three projections x W^Q, x W^K and x W^V.")


# Chapter 3: scores and scaling --------------------------------------------------------------

def _scores_reference(q, k):
    return q @ _swap_last(k) / np.sqrt(q.shape[-1])


def check_scaled_scores(student_fn):
    """Check ``scaled_scores(q, k) -> scores`` with ``scores = q @ k^T / sqrt(d_k)``, shape (..., q_len, k_len)."""
    rng = _rng()
    cases = [
        Case("two queries and two keys with d_k = 4", (rng.normal(size=(2, 4)), rng.normal(size=(2, 4)))),
        Case("three queries and five keys with d_k = 8", (rng.normal(size=(3, 8)), rng.normal(size=(5, 8)))),
        Case("a batch of shape (2, 3, 4)", (rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))),
             hint="For a batch, swap only the last two axes of k: np.swapaxes(k, -1, -2), not k.T."),
        Case("d_k = 1", (rng.normal(size=(3, 1)), rng.normal(size=(2, 1)))),
    ]
    mistakes = [
        Mistake("The scores are not divided by sqrt(d_k), so they grow with the size of the vectors.",
                lambda q, k: q @ _swap_last(k)),
        Mistake("The scores are divided by d_k instead of sqrt(d_k).",
                lambda q, k: q @ _swap_last(k) / q.shape[-1]),
        Mistake("The scores are multiplied by sqrt(d_k) instead of divided by it.",
                lambda q, k: q @ _swap_last(k) * np.sqrt(q.shape[-1])),
        Mistake("The score matrix is transposed (keys as rows): rows must be queries, so compute q @ k^T, not k @ q^T.",
                lambda q, k: k @ _swap_last(q) / np.sqrt(q.shape[-1])),
    ]
    compare_with_reference(student_fn, _scores_reference, cases, mistakes=mistakes, name="`scaled_scores`")
    report_success("Row i, column j holds q_i . k_j / sqrt(d_k).")


def check_dot_product_variance(student_fn):
    """Check ``dot_product_variance(d_k, num_samples, rng) -> float``, the variance of q.k for N(0, 1) entries.

    The result is statistical, so the check accepts any estimate within 10% of the true
    variance d_k. With 20,000 samples the relative standard error of an honest estimate is at
    most sqrt(8 / 20000) = 2% (at d_k = 1, where q_i k_i has kurtosis 9), so 10% is five standard
    errors. The generators are seeded, so a given function always gets the same verdict.
    """
    num_samples = 20_000
    results = {}
    for d_k in (1, 4, 16, 64, 256):
        try:
            value = student_fn(d_k, num_samples, np.random.default_rng(SEED + d_k))
        except Exception as error:
            raise ExerciseError(
                f"`dot_product_variance` raised {type(error).__name__} ({error}) for d_k = {d_k}."
            ) from error
        try:
            value = float(np.asarray(value.detach() if hasattr(value, "detach") else value))
        except (TypeError, ValueError):
            raise ExerciseError(
                f"`dot_product_variance` must return one number, but for d_k = {d_k} it returned {value!r}."
            ) from None
        results[d_k] = value

    if all(abs(v - 1.0) < 0.1 for v in results.values()):
        raise ExerciseError("The variance stays near 1 for every d_k, so the dot products were divided by "
                            "sqrt(d_k); measure the raw q.k, whose variance grows with d_k.")
    if all(abs(v - math.sqrt(d_k)) <= 0.1 * math.sqrt(d_k) for d_k, v in results.items()):
        raise ExerciseError("The result grows like sqrt(d_k): that is the standard deviation; return the "
                            "variance (np.var), its square.")
    for d_k, value in results.items():
        if not (math.isfinite(value) and abs(value - d_k) <= 0.1 * d_k):
            raise ExerciseError(f"For d_k = {d_k} the function returned {value:.4g}, but the variance of q.k "
                                f"for vectors with independent N(0, 1) entries is d_k = {d_k}.")
    report_success("The variance of q.k grows in proportion to d_k.")


# Chapter 4: softmax and masking -------------------------------------------------------------

def _unstable_softmax(x):
    exp = np.exp(x)
    return exp / exp.sum(axis=-1, keepdims=True)


def check_softmax(student_fn):
    """Check ``softmax(x) -> probabilities`` along the last axis, stable for scores of any size."""
    rng = _rng()
    cases = [
        Case("the scores [1.0, 2.0, 3.0]", (np.array([1.0, 2.0, 3.0]),)),
        Case("a (3, 4) matrix of scores", (rng.normal(size=(3, 4)),)),
        Case("a batch of shape (2, 3, 5)", (rng.normal(size=(2, 3, 5)),)),
        Case("large scores [1000.0, 1001.0, 1002.0]", (np.array([1000.0, 1001.0, 1002.0]),)),
        Case("a row with a score of -inf", (np.array([[0.5, -np.inf, 1.5], [-800.0, -801.0, -802.0]]),)),
    ]
    mistakes = [
        Mistake("The softmax overflows on large scores: np.exp(1000) is inf and inf / inf is NaN; subtract "
                "each row's maximum before calling np.exp.", _unstable_softmax),
        Mistake("The exponentials are not divided by their sum, so the rows do not add up to 1.",
                lambda x: np.exp(x - x.max(axis=-1, keepdims=True))),
        Mistake("The softmax is taken over the first axis (down the columns); take it over the last axis, "
                "with axis=-1 and keepdims=True.",
                lambda x: reference.softmax(x, axis=0)),
        Mistake("The exponentials are divided by the sum over the whole array instead of each row's sum; "
                "use axis=-1 and keepdims=True.",
                lambda x: np.exp(x - x.max()) / np.exp(x - x.max()).sum()),
    ]
    compare_with_reference(student_fn, reference.softmax, cases, mistakes=mistakes, name="`softmax`")
    report_success("Each row is a probability distribution, even for scores around 1000.")


def _masked_softmax_reference(scores, mask):
    return reference.softmax(np.where(mask, scores, -np.inf))


def check_masked_softmax(student_fn):
    """Check ``masked_softmax(scores, mask) -> weights``: mask True where a query may attend; all-masked rows give 0."""
    rng = _rng()
    causal = np.tril(np.ones((4, 4), dtype=bool))
    padding = np.array([[True, True, True, False, False]])
    no_keys = np.array([[True, False, True], [False, False, False], [True, True, True]])
    cases = [
        Case("a (4, 4) causal mask", (rng.normal(size=(4, 4)), causal)),
        Case("a padding mask of shape (1, 5) for (3, 5) scores", (rng.normal(size=(3, 5)), padding)),
        Case("a query whose keys are all masked", (rng.normal(size=(3, 3)), no_keys)),
        Case("a batch of shape (2, 4, 4) with a causal mask", (rng.normal(size=(2, 4, 4)), causal)),
    ]
    mistakes = [
        Mistake("A query whose keys are all masked gets NaN weights; give that row all-zero weights instead.",
                lambda s, m: _unstable_softmax(np.where(m, s, -np.inf) - np.where(m, s, -np.inf).max(-1, keepdims=True))),
        Mistake("A query whose keys are all masked gets equal weights 1/k_len (a large negative fill such as "
                "-1e9 does that); its row should be all zeros.",
                lambda s, m: reference.softmax(np.where(m, s, -1e9))),
        Mistake("The mask is used the wrong way round: True means the query may attend, so put -inf where "
                "the mask is False.",
                lambda s, m: reference.softmax(np.where(m, -np.inf, s))),
        Mistake("The mask has no effect: put -inf into the scores where the mask is False before the softmax.",
                lambda s, m: reference.softmax(s)),
    ]
    compare_with_reference(student_fn, _masked_softmax_reference, cases, mistakes=mistakes, name="`masked_softmax`")
    report_success("Masked keys get weight 0, and a query with no key left gets a row of zeros.")


def check_causal_mask(student_fn):
    """Check ``causal_mask(size) -> mask``: boolean (size, size), True where key j <= query i."""
    cases = [Case(f"size = {size}", (size,)) for size in (1, 2, 5)]
    mistakes = [
        Mistake("The mask lets each query see the future instead of the past: position i may attend to "
                "keys 0..i, the lower triangle (np.tril), not the upper one.",
                lambda n: np.triu(np.ones((n, n), dtype=bool))),
        Mistake("The diagonal is masked, but each position may attend to itself: use np.tril with k=0.",
                lambda n: np.tril(np.ones((n, n), dtype=bool), k=-1)),
        Mistake("The mask contains numbers, not booleans; build it with dtype=bool.",
                lambda n: np.tril(np.ones((n, n)))),
        Mistake("The mask contains integers, not booleans; build it with dtype=bool.",
                lambda n: np.tril(np.ones((n, n), dtype=int))),
    ]
    compare_with_reference(student_fn, reference.causal_mask, cases, mistakes=mistakes, name="`causal_mask`")
    report_success("Query i may attend to keys 0..i and to nothing after it.")


# Chapter 5: the weighted sum ----------------------------------------------------------------

def _self_attention_reference(x, w_q, w_k, w_v):
    q, k, v = reference.qkv_projections(x, w_q, w_k, w_v)
    return reference.scaled_dot_product_attention(q, k, v)[0]


def check_self_attention(student_fn):
    """Check ``self_attention(x, w_q, w_k, w_v) -> z``, i.e. softmax(Q K^T / sqrt(d_k)) V with Q, K, V from x."""
    rng = _rng()
    cases = [
        Case("two tokens, d_model = 4, d_k = 3", (rng.normal(size=(2, 4)), *rng.normal(size=(3, 4, 3)))),
        Case("five tokens, d_model = 8, d_k = 4", (rng.normal(size=(5, 8)), *rng.normal(size=(3, 8, 4)))),
        Case("a batch of shape (2, 3, 6) with d_k = 2", (rng.normal(size=(2, 3, 6)), *rng.normal(size=(3, 6, 2))),
             hint="For a batch, swap only the last two axes of k: np.swapaxes(k, -1, -2)."),
        Case("a single token", (rng.normal(size=(1, 4)), *rng.normal(size=(3, 4, 3)))),
    ]

    def attend(x, w_q, w_k, w_v, *, scale, axis=-1, transpose=False, weights_only=False):
        q, k, v = x @ w_q, x @ w_k, x @ w_v
        scores = (k @ _swap_last(q) if transpose else q @ _swap_last(k)) / scale(q, x)
        weights = reference.softmax(scores, axis=axis)
        return weights if weights_only else weights @ v

    def by_sqrt_d_k(q, x):
        return np.sqrt(q.shape[-1])

    mistakes = [
        Mistake("The scores are not divided by sqrt(d_k) before the softmax.",
                lambda *a: attend(*a, scale=lambda q, x: 1.0)),
        Mistake("The scores are divided by sqrt(d_model); the paper divides by sqrt(d_k), the size of q and k.",
                lambda *a: attend(*a, scale=lambda q, x: np.sqrt(x.shape[-1]))),
        Mistake("The softmax runs down the columns (over queries); each query's row of weights must sum to 1, "
                "so take it over the last axis.",
                lambda *a: attend(*a, scale=by_sqrt_d_k, axis=-2)),
        Mistake("The score matrix is transposed (k @ q^T); each row must belong to one query: q @ k^T.",
                lambda *a: attend(*a, scale=by_sqrt_d_k, transpose=True)),
        Mistake("The function returns the attention weights; multiply them by the values V to get z.",
                lambda *a: attend(*a, scale=by_sqrt_d_k, weights_only=True)),
    ]
    compare_with_reference(student_fn, _self_attention_reference, cases, mistakes=mistakes, name="`self_attention`")
    report_success("Each z_i is the average of the value vectors, weighted by softmax(q_i . k / sqrt(d_k)).")


# Chapter 6: multi-head attention ------------------------------------------------------------

def _split_cases(rng):
    return [
        Case("three tokens, d_model = 8, two heads", (rng.normal(size=(3, 8)), 2)),
        Case("a batch of shape (2, 4, 8) with four heads", (rng.normal(size=(2, 4, 8)), 4)),
        Case("d_model = 6 with three heads", (rng.normal(size=(5, 6)), 3)),
        Case("one head", (rng.normal(size=(2, 4)), 1)),
    ]


def check_split_heads(student_fn):
    """Check ``split_heads(x, num_heads)``: ``(..., seq_len, d_model) -> (..., num_heads, seq_len, d_k)``."""
    mistakes = [
        Mistake("The array was reshaped straight to (num_heads, seq_len, d_k), which mixes the tokens: reshape "
                "to (seq_len, num_heads, d_k) first, then swap the two axes.",
                lambda x, h: x.reshape(x.shape[:-2] + (h, x.shape[-2], x.shape[-1] // h))),
        Mistake("Each head takes every num_heads-th feature; head i must take the contiguous block of d_k "
                "features i*d_k to (i+1)*d_k - 1.",
                lambda x, h: np.swapaxes(np.swapaxes(x.reshape(x.shape[:-1] + (x.shape[-1] // h, h)), -1, -2), -2, -3)),
        Mistake("The heads axis must come before the tokens: after the reshape to (..., seq_len, num_heads, d_k), "
                "swap axes -2 and -3.",
                lambda x, h: x.reshape(x.shape[:-1] + (h, x.shape[-1] // h))),
    ]
    compare_with_reference(student_fn, reference.split_heads, _split_cases(_rng()), mistakes=mistakes,
                           name="`split_heads`")
    report_success("Head i holds features i*d_k to (i+1)*d_k - 1 of every token.")


def check_merge_heads(student_fn):
    """Check ``merge_heads(heads)``: ``(..., num_heads, seq_len, d_k) -> (..., seq_len, num_heads * d_k)``."""
    cases = [Case(case.description.replace("d_model", "heads made from d_model"),
                  (reference.split_heads(*case.args),)) for case in _split_cases(_rng())]
    mistakes = [
        Mistake("The heads were reshaped straight to (seq_len, d_model), which mixes the tokens: swap the heads "
                "and tokens axes back first, then reshape.",
                lambda z: z.reshape(z.shape[:-3] + (z.shape[-2], z.shape[-3] * z.shape[-1]))),
    ]
    compare_with_reference(student_fn, reference.merge_heads, cases, mistakes=mistakes, name="`merge_heads`")
    report_success("The heads are concatenated again, head 0's features first.")


def _mha_reference(x, w_q, w_k, w_v, w_o, num_heads):
    return reference.multi_head_attention(x, x, x, w_q, w_k, w_v, w_o, num_heads)[0]


def check_multi_head_attention(student_fn):
    """Check ``multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads) -> output`` for self-attention."""
    rng = _rng()
    cases = [
        Case("two tokens, d_model = 8, two heads", (rng.normal(size=(2, 8)), *rng.normal(size=(4, 8, 8)), 2)),
        Case("five tokens, d_model = 12, four heads", (rng.normal(size=(5, 12)), *rng.normal(size=(4, 12, 12)), 4)),
        Case("a batch of shape (2, 3, 8) with eight heads", (rng.normal(size=(2, 3, 8)), *rng.normal(size=(4, 8, 8)), 8)),
        Case("one head", (rng.normal(size=(3, 4)), *rng.normal(size=(4, 4, 4)), 1)),
    ]

    def attend(x, w_q, w_k, w_v, w_o, h, *, d_scale=None, use_w_o=True, plain_reshape=False):
        def split(a):
            if plain_reshape:
                return a.reshape(a.shape[:-2] + (h, a.shape[-2], a.shape[-1] // h))
            return reference.split_heads(a, h)

        q, k, v = split(x @ w_q), split(x @ w_k), split(x @ w_v)
        scale = np.sqrt(d_scale if d_scale is not None else q.shape[-1])
        heads = reference.softmax(q @ _swap_last(k) / scale) @ v
        merged = reference.merge_heads(heads)
        return merged @ w_o if use_w_o else merged

    mistakes = [
        Mistake("Each head's scores are divided by sqrt(d_model); divide by sqrt(d_k), d_k = d_model / num_heads.",
                lambda x, *w: attend(x, *w, d_scale=x.shape[-1])),
        Mistake("The concatenated heads are not multiplied by W_O, the output projection.",
                lambda x, *w: attend(x, *w, use_w_o=False)),
        Mistake("The projections were reshaped straight to (num_heads, seq_len, d_k), which mixes the tokens: "
                "reshape to (seq_len, num_heads, d_k), then swap those two axes.",
                lambda x, *w: attend(x, *w, plain_reshape=True)),
    ]
    compare_with_reference(student_fn, _mha_reference, cases, mistakes=mistakes, name="`multi_head_attention`")
    report_success("The heads attend separately, and W_O mixes their concatenation.")
