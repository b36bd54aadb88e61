"""The book's running examples: "Thinking Machines" with its embeddings and projections, and a tiny corpus.

Chapter 1 builds the vocabulary, the embedding table and the embeddings by hand and then shows that
:func:`running_example` returns the same arrays; later chapters start from :func:`running_example`
so that every chapter prints the same numbers for the same two words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from illustrated.data import SPECIAL_TOKENS, UNK
from illustrated.reference import embed

__all__ = ["CORPUS", "ANIMAL_SENTENCE", "RunningExample", "tokenize", "build_vocabulary", "running_example"]

ANIMAL_SENTENCE = "The animal didn't cross the street because it was too tired"

# The sentences whose words make up the running example's vocabulary.
CORPUS = (
    "Thinking Machines",
    ANIMAL_SENTENCE,
    "The street was too wide",
    "Machines are thinking about the animal",
)

_WORD = re.compile(r"[\w']+|[^\w\s]")  # a word (apostrophes included) or one punctuation mark


def tokenize(text: str) -> list[str]:
    """Split text into words and punctuation marks, e.g. "didn't cross." -> ["didn't", "cross", "."].

    A word-level tokenizer, small enough to read. "Attention Is All You Need" (Vaswani et al., 2017)
    used byte-pair encoding instead.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}")
    return _WORD.findall(text)


def build_vocabulary(texts) -> dict[str, int]:
    """Map every token of ``texts`` to an id: the special tokens first (ids 0 to 3), then words in order of first use."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of sentences, not one string; wrap it in a list")
    vocab = {token: index for index, token in enumerate(SPECIAL_TOKENS)}
    for text in texts:
        for token in tokenize(text):
            vocab.setdefault(token, len(vocab))
    return vocab


@dataclass(frozen=True)
class RunningExample:
    """A sentence with everything self-attention needs: tokens, ids, embeddings and the projections W^Q, W^K, W^V."""

    sentence: str
    tokens: list
    vocab: dict
    token_ids: np.ndarray  # (seq_len,)
    table: np.ndarray  # (vocab_size, d_model), the embedding table
    x: np.ndarray  # (seq_len, d_model), the embeddings scaled by sqrt(d_model)
    w_q: np.ndarray  # (d_model, d_k)
    w_k: np.ndarray  # (d_model, d_k)
    w_v: np.ndarray  # (d_model, d_k)

    @property
    def d_model(self) -> int:
        """Width of each embedding."""
        return self.table.shape[1]

    @property
    def d_k(self) -> int:
        """Width of each query, key and value."""
        return self.w_q.shape[1]


def running_example(sentence: str = "Thinking Machines", *, d_model: int = 4, d_k: int = 3,
                    seed: int = 0) -> RunningExample:
    """Return the running example for ``sentence`` with random weights drawn from ``seed``.

    The draws come in this order from ``numpy.random.default_rng(seed)``: the embedding table
    ``(vocab_size, d_model)``, then W^Q, W^K and W^V ``(d_model, d_k)``, each with entries from
    N(0, 1/d_model). After the scaling by sqrt(d_model) the embeddings then have entries of about
    unit size. Words outside :data:`CORPUS` get the id of "<unk>".
    """
    for name, value in (("d_model", d_model), ("d_k", d_k)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    vocab = build_vocabulary(CORPUS)
    tokens = tokenize(sentence)
    if not tokens:
        raise ValueError(f"the sentence {sentence!r} has no tokens; pass at least one word")
    token_ids = np.array([vocab.get(token, vocab[UNK]) for token in tokens])

    rng = np.random.default_rng(seed)
    std = d_model ** -0.5
    table = rng.normal(0.0, std, size=(len(vocab), d_model))
    w_q, w_k, w_v = (rng.normal(0.0, std, size=(d_model, d_k)) for _ in range(3))
    return RunningExample(sentence, tokens, vocab, token_ids, table, embed(token_ids, table), w_q, w_k, w_v)
