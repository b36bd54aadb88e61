"""Data: vocabularies and tokenizers, the built-in translation task, the Multi30k loader, batches with masks."""

from illustrated.data.special_tokens import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIAL_TOKENS, UNK, UNK_ID

__all__ = ["PAD", "BOS", "EOS", "UNK", "SPECIAL_TOKENS", "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID"]
