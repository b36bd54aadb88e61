"""Check functions for the book's exercises; each raises an AssertionError that names the mistake.

``from illustrated.exercises import check_softmax`` and call ``check_softmax(my_softmax)``: it prints
"Correct! ..." or raises :class:`ExerciseError` with a one-sentence message. The shared machinery
is in :mod:`illustrated.exercises.checks`, the checks of chapters 1 to 6 in :mod:`~illustrated.exercises.part1`.
"""

from illustrated.exercises.checks import Case, ExerciseError, Mistake, attempt, compare_with_reference
from illustrated.exercises.part1 import (  # chapters 1 to 6
    __all__ as _part1_names,
    check_causal_mask,
    check_dot_product_variance,
    check_embedding,
    check_masked_softmax,
    check_merge_heads,
    check_multi_head_attention,
    check_qkv,
    check_scaled_scores,
    check_self_attention,
    check_softmax,
    check_split_heads,
    check_token_ids,
)
from illustrated.exercises.part2 import (  # chapters 7 to 10
    __all__ as _part2_names,
    check_cross_attention,
    check_decoder_inputs,
    check_decoder_mask,
    check_feed_forward,
    check_greedy,
    check_label_smoothing,
    check_layer_norm,
    check_learning_rate,
    check_positional_encoding,
    check_shift_matrix,
    check_sublayer_connection,
)

__all__ = ["Case", "Mistake", "ExerciseError", "compare_with_reference", "attempt", *_part1_names, *_part2_names]
