"""Subword tokenisation by byte-pair encoding (BPE), learnt from the training sentences.

BPE (Sennrich, Haddow and Birch, 2016) starts from single characters and repeatedly merges the most
frequent adjacent pair into a new symbol, until the vocabulary has the requested size. Frequent
words end up as one token and rare words as a few pieces, so no word is out of vocabulary.

The work is done by the ``tokenizers`` library (a dependency of bertviz and of the ``train`` extra).
Words are marked with a leading ``▁`` (the Metaspace convention of SentencePiece) and punctuation is
split off, so :meth:`SubwordTokenizer.decode` rebuilds the sentence text exactly, which sacreBLEU
needs: it scores detokenised text. The four special tokens sit at the book's fixed ids
(``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3).

Example::

    tokenizer = SubwordTokenizer.train(sentences, vocab_size=8000)
    ids = tokenizer.encode("Two dogs play.")          # e.g. [412, 930, 388, 7]
    tokenizer.decode(ids)                               # 'Two dogs play.'
    restored = SubwordTokenizer.from_json(tokenizer.to_json())
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Sequence

from illustrated.data.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

__all__ = ["SubwordTokenizer"]

WORD_MARK = "\u2581"  # "▁", prefixed to every word


def _require_tokenizers():
    try:
        import tokenizers
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "subword tokenisation needs the `tokenizers` package: pip install 'illustrated[train]'"
        ) from error
    return tokenizers


class SubwordTokenizer:
    """A BPE tokenizer for one language, with the book's special tokens at fixed ids.

    Build one with :meth:`train`, or restore one with :meth:`from_json` / :meth:`load`.
    """

    def __init__(self, tokenizer):
        self._tokenizer = tokenizer
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            found = tokenizer.token_to_id(token)
            if found != expected_id:
                raise ValueError(
                    f"special token {token!r} has id {found} in this tokenizer, expected {expected_id}; "
                    f"train it with SubwordTokenizer.train so the specials come first"
                )

    @classmethod
    def train(cls, sentences: Iterable[str], vocab_size: int = 8000, min_frequency: int = 2) -> "SubwordTokenizer":
        """Learn BPE merges from ``sentences`` until the vocabulary (specials included) has ``vocab_size`` tokens.

        A small corpus may run out of merges first, so the result can be smaller; ``min_frequency``
        is the number of times a pair must occur to be merged.
        """
        if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"vocab_size must be an integer above {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
        if not isinstance(min_frequency, int) or min_frequency < 1:
            raise ValueError(f"min_frequency must be a positive integer, got {min_frequency!r}")
        sentences = list(sentences)
        if not sentences:
            raise ValueError("cannot learn BPE from an empty list of sentences")
        tk = _require_tokenizers()
        from tokenizers import decoders, models, normalizers, pre_tokenizers, trainers

        tokenizer = tk.Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS[UNK_ID]))
        # NFC so that "ü" typed as one or two code points is one symbol; runs of spaces become one.
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.NFC(), normalizers.Replace(tk.Regex(r"\s+"), " "), normalizers.Strip()]
        )
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(replacement=WORD_MARK), pre_tokenizers.Punctuation()]
        )
        tokenizer.decoder = decoders.Metaspace(replacement=WORD_MARK)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=min_frequency,
            special_tokens=list(SPECIAL_TOKENS),  # added first, so they get ids 0..3
            show_progress=False,
        )
        tokenizer.train_from_iterator(sentences, trainer)
        return cls(tokenizer)

    # Encoding and decoding.

    @property
    def vocab_size(self) -> int:
        """Number of tokens, specials included: the embedding table's row count."""
        return self._tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        """Return the token ids of one sentence, without ``<bos>`` or ``<eos>``."""
        return self._tokenizer.encode(text).ids

    def encode_batch(self, texts: Sequence[str]) -> list[list[int]]:
        """Return the token ids of many sentences, encoded in one call to the library."""
        return [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]

    def tokens(self, text: str) -> list[str]:
        """Return the subword strings of one sentence, e.g. ``['▁Two', '▁dog', 's', '.']``."""
        return self._tokenizer.encode(text).tokens

    def id_to_token(self, token_id: int) -> str:
        """Return the subword string of an id."""
        token = self._tokenizer.id_to_token(int(token_id))
        if token is None:
            raise ValueError(f"token id {token_id} is outside the vocabulary of {self.vocab_size} tokens")
        return token

    def decode(self, ids: Iterable[int]) -> str:
        """Return the sentence text of token ids, dropping special tokens and stopping at the first ``<eos>``."""
        kept = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id == EOS_ID:
                break
            if token_id in (PAD_ID, BOS_ID):
                continue
            kept.append(token_id)
        return self._tokenizer.decode(kept, skip_special_tokens=False)

    def decode_batch(self, batch: Iterable[Iterable[int]]) -> list[str]:
        """Apply :meth:`decode` to each row, e.g. of a ``(batch, out_len)`` tensor of decoded ids."""
        return [self.decode(row) for row in batch]

    # Saving and loading: the JSON goes into training checkpoints.

    def to_json(self) -> str:
        """Return the whole tokenizer (merges, vocabulary, normaliser, decoder) as a JSON string."""
        return self._tokenizer.to_str()

    @classmethod
    def from_json(cls, text: str) -> "SubwordTokenizer":
        """Restore a tokenizer from :meth:`to_json`'s output."""
        tk = _require_tokenizers()
        try:
            json.loads(text)
        except (TypeError, json.JSONDecodeError) as error:
            raise ValueError(f"not a tokenizer JSON string: {error}") from error
        return cls(tk.Tokenizer.from_str(text))

    def save(self, path) -> None:
        """Write the tokenizer's JSON to ``path``."""
        Path(path).write_text(self.to_json(), encoding="utf-8")

    @classmethod
    def load(cls, path) -> "SubwordTokenizer":
        """Read a tokenizer written by :meth:`save`."""
        return cls.from_json(Path(path).read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        return f"SubwordTokenizer(vocab_size={self.vocab_size})"
