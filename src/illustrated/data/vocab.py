"""A word-level vocabulary: the table that maps tokens to ids and back.

Every vocabulary of the book starts with the four special tokens at fixed ids
(``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3). The ordinary tokens follow in the order
they were given. A token that is not in the vocabulary is encoded as ``UNK_ID``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from illustrated.data.special_tokens import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, UNK_ID

__all__ = ["Vocabulary"]


class Vocabulary:
    """Map tokens (strings) to integer ids and back, with the special tokens first.

    Args:
        tokens: the ordinary tokens, in the order their ids should follow the specials.
            Duplicates are rejected, and so are the special tokens themselves, which are
            always added in front.

    Example::

        vocab = Vocabulary(["twenty", "-", "one"])
        vocab.encode(["twenty", "-", "one"], add_eos=True)  # [4, 5, 6, 2]
        vocab.decode([4, 5, 6, 2])                           # ['twenty', '-', 'one']
    """

    def __init__(self, tokens: Iterable[str]):
        tokens = list(tokens)
        for token in tokens:
            if not isinstance(token, str) or not token:
                raise TypeError(f"vocabulary tokens must be non-empty strings, got {token!r}")
        reserved = [token for token in tokens if token in SPECIAL_TOKENS]
        if reserved:
            raise ValueError(
                f"the special tokens {sorted(set(reserved))} are added by Vocabulary itself; "
                f"remove them from the tokens you pass"
            )
        duplicates = sorted(token for token, count in Counter(tokens).items() if count > 1)
        if duplicates:
            raise ValueError(f"duplicate tokens {duplicates[:10]}: pass each token once")
        self._id_to_token: list[str] = list(SPECIAL_TOKENS) + tokens
        self._token_to_id: dict[str, int] = {token: index for index, token in enumerate(self._id_to_token)}

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[str]], min_freq: int = 1) -> "Vocabulary":
        """Build a vocabulary from tokenized sentences, most frequent tokens first.

        Tokens seen fewer than ``min_freq`` times are left out (they will encode as ``<unk>``).
        Ties in frequency keep the order of first appearance, so the same data always gives the
        same ids. Special tokens inside the sentences are skipped.
        """
        if not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be a positive integer, got {min_freq!r}")
        counts: Counter[str] = Counter()
        for sentence in sequences:
            if isinstance(sentence, str):
                raise TypeError(
                    f"from_sequences expects tokenized sentences (lists of tokens), got the string {sentence!r}; "
                    f"split it first, e.g. sentence.split()"
                )
            counts.update(token for token in sentence if token not in SPECIAL_TOKENS)
        # Counter keeps insertion order, and sorted() is stable, so ties keep their first appearance.
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        return cls(token for token, count in ranked if count >= min_freq)

    def __len__(self) -> int:
        return len(self._id_to_token)

    def __contains__(self, token) -> bool:
        return token in self._token_to_id

    def __iter__(self):
        return iter(self._id_to_token)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self._id_to_token == other._id_to_token

    def __repr__(self) -> str:
        preview = ", ".join(self._id_to_token[len(SPECIAL_TOKENS):len(SPECIAL_TOKENS) + 6])
        more = ", ..." if len(self) > len(SPECIAL_TOKENS) + 6 else ""
        return f"Vocabulary({len(self)} tokens: specials, {preview}{more})"

    @property
    def tokens(self) -> list[str]:
        """All tokens in id order, the special tokens first."""
        return list(self._id_to_token)

    def token_to_id(self, token: str) -> int:
        """Return the id of ``token``, or ``UNK_ID`` if it is not in the vocabulary."""
        return self._token_to_id.get(token, UNK_ID)

    def id_to_token(self, token_id: int) -> str:
        """Return the token of an id; raise IndexError for an id outside the vocabulary."""
        index = int(token_id)
        if not 0 <= index < len(self):
            raise IndexError(f"token id {index} is outside this vocabulary of {len(self)} tokens (0 to {len(self) - 1})")
        return self._id_to_token[index]

    def encode(self, tokens: Sequence[str], add_bos: bool = False, add_eos: bool = False) -> list[int]:
        """Return the ids of a tokenized sentence, unknown tokens as ``UNK_ID``.

        ``add_bos`` and ``add_eos`` put ``BOS_ID`` in front and ``EOS_ID`` at the end.
        """
        if isinstance(tokens, str):
            raise TypeError(
                f"encode expects a list of tokens, got the string {tokens!r}; split it first, e.g. text.split()"
            )
        ids = [self._token_to_id.get(token, UNK_ID) for token in tokens]
        if add_bos:
            ids.insert(0, BOS_ID)
        if add_eos:
            ids.append(EOS_ID)
        return ids

    def decode(self, ids: Iterable[int], strip_special: bool = True) -> list[str]:
        """Return the tokens of a sequence of ids (a list, a 1-D array or a 1-D tensor).

        With ``strip_special`` (the default) decoding stops at the first ``<eos>`` and drops
        ``<bos>`` and ``<pad>``, so the output of a decoder reads as a sentence. ``<unk>`` is
        kept, because it stands for a real word. Without it every id is turned into its token.
        """
        if hasattr(ids, "tolist"):  # a NumPy array or a torch tensor
            ids = ids.tolist()
        tokens = []
        for token_id in ids:
            if isinstance(token_id, list):
                raise ValueError("decode takes one sequence of ids; decode a batch row by row")
            token_id = int(token_id)
            if strip_special:
                if token_id == EOS_ID:
                    break
                if token_id in (BOS_ID, PAD_ID):
                    continue
            tokens.append(self.id_to_token(token_id))
        return tokens
