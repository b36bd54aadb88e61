"""Turning a trained encoder-decoder into a translator: greedy decoding and beam search.

Both functions take a padded batch of source ids ``src (batch, src_len)``, encode it once, and
then extend every target sentence one token at a time, feeding the tokens chosen so far back
into the decoder. They return token ids ``(batch, out_len)`` without the leading ``<bos>``:

* each row ends at its first ``<eos>``, which is included, so that a finished sentence differs
  from one cut off at the length limit (which has no ``<eos>``);
* after the end, rows are padded with the model's ``pad_id``.

The decoder is never allowed to produce ``<pad>`` or ``<bos>``: their scores are set to
``-inf`` before choosing, so an output contains padding only after its end.

``model`` is a :class:`illustrated.model.Transformer`, or any module with the same
``encode(src)``, ``decode(tgt_in, memory, src)`` and ``config`` (``pad_id``, ``max_len``). It is
put in eval mode while decoding (dropout off) and restored afterwards.

NOTE: every step runs the decoder over the whole prefix again (no key/value cache), which
costs O(out_len^2) per sentence. That is plenty fast for the book's sentences of under 50
tokens.
"""

from __future__ import annotations

import math

import torch

from illustrated.data.special_tokens import BOS_ID, EOS_ID

__all__ = ["greedy_decode", "beam_search", "length_penalty_factor", "DEFAULT_EXTRA_LENGTH"]

DEFAULT_EXTRA_LENGTH = 50  # with max_len=None, a row may be this many tokens longer than its source


def _check_model(model) -> tuple[int, int]:
    """Return the model's ``(pad_id, max_len)``, or raise TypeError if it cannot decode."""
    missing = [name for name in ("encode", "decode", "config") if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"model must have encode(src), decode(tgt_in, memory, src) and config like "
            f"illustrated.model.Transformer; {type(model).__name__} lacks {', '.join(missing)}"
        )
    return int(model.config.pad_id), int(model.config.max_len)


def _check_src(src) -> torch.Tensor:
    if not isinstance(src, torch.Tensor):
        raise TypeError(
            f"src must be a padded tensor of token ids (batch, src_len), got {type(src).__name__}; "
            f"build one with illustrated.data.pad_sequences"
        )
    if src.dim() != 2:
        hint = " (add a batch dimension with src.unsqueeze(0))" if src.dim() == 1 else ""
        raise ValueError(f"src must have shape (batch, src_len), got {tuple(src.shape)}{hint}")
    if src.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"src must hold integer token ids, got dtype {src.dtype}")
    return src


def _length_limits(src: torch.Tensor, pad_id: int, model_max_len: int, max_len: int | None) -> torch.Tensor:
    """Return each row's maximum output length ``(batch,)``, counting the ``<eos>``.

    ``max_len=None`` gives each row its own source length (without padding) plus
    ``DEFAULT_EXTRA_LENGTH``, so a sentence decodes the same alone or in a padded batch. The
    limit never exceeds the model's ``max_len``, the rows of its positional-encoding table.
    """
    if max_len is None:
        source_lengths = (src != pad_id).sum(dim=1)
        return (source_lengths + DEFAULT_EXTRA_LENGTH).clamp(max=model_max_len)
    if isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 1:
        raise ValueError(f"max_len must be a positive integer or None, got {max_len!r}")
    if max_len > model_max_len:
        raise ValueError(
            f"max_len={max_len} exceeds the model's max_len={model_max_len} (its positional-encoding table); "
            f"pass max_len <= {model_max_len}"
        )
    return torch.full((src.shape[0],), max_len, dtype=torch.long, device=src.device)


def _forbid_special(logits: torch.Tensor, pad_id: int, bos_id: int, eos_id: int) -> torch.Tensor:
    """Set the scores of ``<pad>`` and ``<bos>`` to -inf, so decoding never emits them."""
    logits = logits.clone()
    for token_id in {pad_id, bos_id} - {eos_id}:
        if 0 <= token_id < logits.shape[-1]:
            logits[..., token_id] = float("-inf")
    return logits


class _EvalMode:
    """Put a module in eval mode inside a ``with`` block and restore its previous mode after."""

    def __init__(self, model):
        self.model = model
        self.was_training = getattr(model, "training", False)

    def __enter__(self):
        self.model.eval()

    def __exit__(self, *exc_info):
        self.model.train(self.was_training)


@torch.no_grad()
def greedy_decode(model, src: torch.Tensor, *, bos_id: int = BOS_ID, eos_id: int = EOS_ID,
                  max_len: int | None = None) -> torch.Tensor:
    """Translate a batch by always choosing the most probable next token.

    Args:
        model: a :class:`illustrated.model.Transformer` (see the module docstring).
        src: padded source ids ``(batch, src_len)``.
        bos_id: the token the decoder starts from; it is not part of the output.
        eos_id: the token that ends a sentence; it is included in the output.
        max_len: the maximum number of output tokens per row, ``<eos>`` included. None gives each
            row its source length plus 50, capped at ``model.config.max_len``.

    Returns:
        Token ids ``(batch, out_len)``, ``out_len`` being the longest row's length: each row up
        to and including its first ``<eos>`` (or cut at ``max_len``), then padding.

    Example::

        ids = greedy_decode(model, src)             # src (batch, src_len)
        words = tgt_vocab.decode(ids[0])            # stops at <eos>, drops padding
    """
    pad_id, model_max_len = _check_model(model)
    src = _check_src(src)
    limits = _length_limits(src, pad_id, model_max_len, max_len)
    batch = src.shape[0]
    if batch == 0:
        return torch.empty(0, 0, dtype=torch.long, device=src.device)

    with _EvalMode(model):
        memory = model.encode(src)  # (batch, src_len, d_model), computed once
        tokens = torch.full((batch, 1), bos_id, dtype=torch.long, device=src.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=src.device)
        for step in range(int(limits.max())):
            logits = model.decode(tokens, memory, src)[:, -1]  # (batch, tgt_vocab_size): the next token
            next_token = _forbid_special(logits, pad_id, bos_id, eos_id).argmax(dim=-1)
            next_token = next_token.masked_fill(finished, pad_id)  # finished rows only grow padding
            tokens = torch.cat([tokens, next_token[:, None]], dim=1)
            finished |= (next_token == eos_id) | (step + 1 >= limits)
            if bool(finished.all()):
                break
    return tokens[:, 1:]


def length_penalty_factor(length: int, alpha: float) -> float:
    """Return the length normalisation ``((5 + length) / 6) ** alpha`` of Wu et al. (2016), used by the paper.

    Beam search divides a hypothesis's total log-probability by this factor, so that longer
    sentences, which add more negative log-probabilities, are not always beaten by short ones.
    ``alpha = 0`` turns it off.
    """
    return ((5.0 + length) / 6.0) ** alpha


def _keep_best(hypotheses: list, score: float, ids: list[int], beam_size: int) -> None:
    """Insert ``(score, ids)`` into a list sorted best first, keeping at most ``beam_size`` entries.

    A new hypothesis goes after those with an equal score, so the earlier (shorter) one wins ties.
    """
    position = 0
    while position < len(hypotheses) and hypotheses[position][0] >= score:
        position += 1
    hypotheses.insert(position, (score, ids))
    del hypotheses[beam_size:]


@torch.no_grad()
def beam_search(model, src: torch.Tensor, *, bos_id: int = BOS_ID, eos_id: int = EOS_ID, beam_size: int = 4,
                max_len: int | None = None, length_penalty: float = 0.6, return_hypotheses: bool = False):
    """Translate a batch keeping the ``beam_size`` most probable partial sentences at every step.

    All beams of all sentences run through the decoder together, as one batch of
    ``batch * beam_size`` rows, against a source encoded once. At each step every live beam
    proposes its next tokens, and the ``2 * beam_size`` best continuations of each sentence are
    ranked by total log-probability. A continuation ending in ``<eos>`` becomes a finished
    hypothesis when it ranks among the first ``beam_size``, and each sentence keeps its
    ``beam_size`` best finished hypotheses, scored ``log p / length_penalty_factor(length)``.
    The best ``beam_size`` continuations that do not end stay alive. A sentence is done once it
    has ``beam_size`` finished hypotheses and the worst of them scores at least as well as the
    best live beam would if it ended now. A sentence that reaches its length limit is done too,
    and its live beams are finished as they are. The result is the best finished hypothesis.
    With ``beam_size=1`` this is exactly :func:`greedy_decode`.

    Stopping only after ``beam_size`` finished hypotheses is not enough by itself: a model
    trained with label smoothing gives ``<eos>`` a probability of about epsilon / vocab_size
    everywhere, so with a small vocabulary an early ``<eos>`` can rank among the first
    ``beam_size`` while the correct sentence is still growing.

    NOTE: with ``length_penalty > 0`` a live beam that grows longer divides by a larger factor,
    so it could still overtake a finished one after the stop. The search does not look for it.

    Args:
        model, src, bos_id, eos_id, max_len: as in :func:`greedy_decode`.
        beam_size: the number of hypotheses kept per sentence (the paper uses 4).
        length_penalty: alpha of :func:`length_penalty_factor` (the paper uses 0.6).
        return_hypotheses: also return, per sentence, its best ``beam_size`` finished hypotheses
            as ``(score, token ids)``, best first.

    Returns:
        Token ids ``(batch, out_len)`` laid out as in :func:`greedy_decode`, or
        ``(ids, hypotheses)`` with ``return_hypotheses``.
    """
    pad_id, model_max_len = _check_model(model)
    src = _check_src(src)
    if isinstance(beam_size, bool) or not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size!r}")
    if not (isinstance(length_penalty, (int, float)) and math.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")
    limits = _length_limits(src, pad_id, model_max_len, max_len).tolist()
    batch, device = src.shape[0], src.device
    if batch == 0:
        empty = torch.empty(0, 0, dtype=torch.long, device=device)
        return (empty, []) if return_hypotheses else empty

    finished: list[list[tuple[float, list[int]]]] = [[] for _ in range(batch)]
    done = [False] * batch
    with _EvalMode(model):
        memory = model.encode(src).repeat_interleave(beam_size, dim=0)  # (batch * beam, src_len, d_model)
        beam_src = src.repeat_interleave(beam_size, dim=0)  # (batch * beam, src_len), for the padding mask
        tokens = torch.full((batch * beam_size, 1), bos_id, dtype=torch.long, device=device)
        # Every beam starts as the same <bos>; only beam 0 is live, so the first step does not pick duplicates.
        scores = torch.full((batch, beam_size), float("-inf"), device=device)
        scores[:, 0] = 0.0

        for step in range(max(limits)):
            logits = model.decode(tokens, memory, beam_src)[:, -1]  # (batch * beam, vocab)
            log_probs = _forbid_special(logits, pad_id, bos_id, eos_id).float().log_softmax(dim=-1)
            vocab_size = log_probs.shape[-1]
            candidates = (scores.reshape(-1, 1) + log_probs).reshape(batch, beam_size * vocab_size)
            top_scores, top_index = candidates.topk(min(2 * beam_size, candidates.shape[1]), dim=1)  # (batch, 2k)
            top_beam = torch.div(top_index, vocab_size, rounding_mode="floor")
            top_token = top_index % vocab_size
            is_eos = top_token == eos_id
            length = step + 1  # tokens in each hypothesis after this step, <eos> included

            # Finish the <eos> continuations that rank among the first beam_size.
            factor = length_penalty_factor(length, length_penalty)
            ranks = torch.arange(top_scores.shape[1], device=device)
            newly_finished = is_eos & (ranks < beam_size) & torch.isfinite(top_scores)
            for sentence, rank in newly_finished.nonzero().tolist():
                if done[sentence]:
                    continue
                row = sentence * beam_size + int(top_beam[sentence, rank])
                hypothesis = tokens[row, 1:].tolist() + [eos_id]
                _keep_best(finished[sentence], float(top_scores[sentence, rank]) / factor, hypothesis, beam_size)

            # The best beam_size continuations that do not end the sentence stay alive. There are
            # always enough, because each beam contributes at most one <eos> to the 2k candidates.
            alive_scores, alive_rank = top_scores.masked_fill(is_eos, float("-inf")).topk(beam_size, dim=1)
            alive_beam = top_beam.gather(1, alive_rank)
            alive_token = top_token.gather(1, alive_rank)
            rows = (torch.arange(batch, device=device)[:, None] * beam_size + alive_beam).reshape(-1)
            tokens = torch.cat([tokens[rows], alive_token.reshape(-1, 1)], dim=1)
            scores = alive_scores

            best_alive = scores[:, 0].tolist()  # each sentence's best live score, log p so far
            for sentence in range(batch):
                if done[sentence]:
                    continue
                if length >= limits[sentence]:
                    # Out of room: the live beams end here, without <eos>.
                    for beam in range(beam_size):
                        score = float(scores[sentence, beam])
                        if math.isfinite(score):
                            hypothesis = tokens[sentence * beam_size + beam, 1:].tolist()
                            _keep_best(finished[sentence], score / factor, hypothesis, beam_size)
                    done[sentence] = True
                elif len(finished[sentence]) >= beam_size:
                    worst_finished = finished[sentence][-1][0]
                    done[sentence] = worst_finished >= best_alive[sentence] / factor
            if all(done):
                break

    best = [hypotheses[0][1] for hypotheses in finished]
    out_len = max(len(ids) for ids in best)
    output = torch.full((batch, out_len), pad_id, dtype=torch.long, device=device)
    for sentence, ids in enumerate(best):
        output[sentence, :len(ids)] = torch.tensor(ids, dtype=torch.long, device=device)
    return (output, finished) if return_hypotheses else output
