"""Data: vocabularies and tokenizers, the built-in translation task, the Multi30k loader, batches with masks."""

from illustrated.data.batching import Batch, iterate_batches, make_batch, pad_sequences
from illustrated.data.bpe import SubwordTokenizer
from illustrated.data.buckets import TokenBudgetBatcher, TranslationBatch, collate_pairs, encode_pairs
from illustrated.data.multi30k import (
    Multi30kChecksumError,
    Multi30kError,
    Multi30kUnavailableError,
    TranslationPairs,
    fetch_multi30k,
    find_local_multi30k,
    load_multi30k,
)
from illustrated.data.special_tokens import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIAL_TOKENS, UNK, UNK_ID
from illustrated.data.synthetic import (
    TranslationExample,
    TranslationTask,
    make_number_task,
    reordered_positions,
    translate_number,
)
from illustrated.data.vocab import Vocabulary

__all__ = [
    "PAD", "BOS", "EOS", "UNK", "SPECIAL_TOKENS", "PAD_ID", "BOS_ID", "EOS_ID", "UNK_ID",
    "Vocabulary",
    "TranslationExample", "TranslationTask", "make_number_task", "translate_number", "reordered_positions",
    "Batch", "pad_sequences", "make_batch", "iterate_batches",
    "SubwordTokenizer",
    "TokenBudgetBatcher", "TranslationBatch", "collate_pairs", "encode_pairs",
    "load_multi30k", "fetch_multi30k", "find_local_multi30k", "TranslationPairs",
    "Multi30kError", "Multi30kChecksumError", "Multi30kUnavailableError",
]
