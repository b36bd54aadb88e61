"""Translating with a trained model and scoring it with BLEU, two ways.

* ``bleu``: the standard sacreBLEU score, on detokenised text, case-sensitive, with sacreBLEU's
  13a tokeniser (signature ``nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp``). This is the figure
  to compare with published results.
* ``bleu_lc``: lower-cased, tokenised BLEU, the measure of the best-known Multi30k Transformer
  tutorial (36.52 on test2016 after 10 epochs). That tutorial lower-cased and tokenised both sides
  with spaCy before training and scored the token lists. Here hypothesis and reference are both
  lower-cased and split with the same 13a tokeniser (sacreBLEU ``lowercase=True, tokenize="13a"``),
  which splits off punctuation as spaCy does but, unlike spaCy, keeps clitics ("man's") and
  hyphenated words ("t-shirt") whole. The two tokenisations differ in those cases only.

Both are corpus BLEU with up to 4-grams and the brevity penalty.

Example::

    model, source_tokenizer, target_tokenizer, _ = load_model("runs/multi30k/best.pt")
    hypotheses = translate(model, source_tokenizer, target_tokenizer, ["Ein Hund rennt."])
    bleu_scores(hypotheses, ["A dog runs."])     # {'bleu': ..., 'bleu_lc': ...}
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import Sequence

import torch

from illustrated.data.special_tokens import EOS_ID, PAD_ID

__all__ = ["bleu_scores", "translate", "evaluate_translations", "load_model", "read_sentences", "evaluate_files"]


def _sacrebleu():
    try:
        import sacrebleu
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("BLEU needs the sacrebleu package: pip install 'illustrated[train]'") from error
    return sacrebleu


def bleu_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict:
    """Return ``{"bleu": sacreBLEU cased 13a, "bleu_lc": lower-cased 13a}`` for aligned sentence lists."""
    if len(hypotheses) != len(references):
        raise ValueError(f"got {len(hypotheses)} hypotheses but {len(references)} references; they must be aligned")
    if not references:
        raise ValueError("cannot compute BLEU on an empty test set")
    sacrebleu = _sacrebleu()
    cased = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize="13a")
    lowered = sacrebleu.corpus_bleu(list(hypotheses), [list(references)], tokenize="13a", lowercase=True)
    return {"bleu": round(cased.score, 2), "bleu_lc": round(lowered.score, 2)}


class _LastPositionLogits(torch.nn.Module):
    """Wrap a Transformer so ``decode`` returns logits for the last target position only, ``(batch, 1, vocab)``.

    Greedy decoding and beam search read only ``decode(...)[:, -1]``. The output layer over every
    earlier position would be thrown away, and with a vocabulary of thousands it cost most of the
    decoding time.
    """

    def __init__(self, model):
        super().__init__()
        self.model = model
        self.config = model.config

    def encode(self, src):
        return self.model.encode(src)

    def decode(self, tgt_in, memory, src):
        model = self.model
        x = model._embed(tgt_in, model.tgt_embed)  # (batch, tgt_len, d_model)
        x, _, _ = model.decoder(x, memory, model.tgt_mask(tgt_in), model.src_mask(src))
        return model.output(x[:, -1:])  # (batch, 1, tgt_vocab_size)


@torch.no_grad()
def translate(model, source_tokenizer, target_tokenizer, sentences: Sequence[str], *, beam_size: int = 1,
              batch_size: int = 128, length_penalty: float = 0.6, max_length_ratio: float = 1.5,
              device=None) -> list[str]:
    """Translate sentences; return detokenised text, in the input order.

    Sentences are sorted by length and decoded ``batch_size`` at a time (greedy when
    ``beam_size == 1``, else beam search). A source longer than the model's ``max_len`` is cut.
    A translation stops at ``<eos>`` or at ``max_length_ratio`` times the longest source of its
    batch plus 10 tokens, whichever comes first.
    """
    from illustrated.decode import beam_search, greedy_decode

    if not isinstance(beam_size, int) or beam_size < 1:
        raise ValueError(f"beam_size must be a positive integer, got {beam_size!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not max_length_ratio > 0:
        raise ValueError(f"max_length_ratio must be a positive number, got {max_length_ratio!r}")
    device = device if device is not None else next(model.parameters()).device
    limit = model.config.max_len
    decoder = _LastPositionLogits(model)
    encoded = [ids[: limit - 1] + [EOS_ID] for ids in source_tokenizer.encode_batch(list(sentences))]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: list[str] = [""] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in chunk)
        src = torch.full((len(chunk), width), PAD_ID, dtype=torch.long)
        for row, index in enumerate(chunk):
            src[row, : len(encoded[index])] = torch.tensor(encoded[index])
        src = src.to(device)
        # Sorted batches have sources of similar length, so one cap fits the whole batch. It stops an
        # undertrained model that never emits <eos> from decoding 50 tokens past every source.
        max_len = min(limit, int(max_length_ratio * width) + 10)
        if beam_size == 1:
            ids = greedy_decode(decoder, src, max_len=max_len)
        else:
            ids = beam_search(decoder, src, beam_size=beam_size, length_penalty=length_penalty, max_len=max_len)
        for index, row in zip(chunk, ids.cpu().tolist()):
            outputs[index] = target_tokenizer.decode(row)
    return outputs


def evaluate_translations(model, source_tokenizer, target_tokenizer, sources: Sequence[str],
                          references: Sequence[str], *, beam_size: int = 1, batch_size: int = 128,
                          device=None) -> dict:
    """Translate ``sources`` and score them against ``references``.

    Returns ``{"bleu", "bleu_lc", "beam_size", "hypotheses"}``.
    """
    hypotheses = translate(model, source_tokenizer, target_tokenizer, sources, beam_size=beam_size,
                           batch_size=batch_size, device=device)
    return {**bleu_scores(hypotheses, references), "beam_size": beam_size, "hypotheses": hypotheses}


def load_model(checkpoint_path, device="cpu"):
    """Rebuild the model and both tokenizers from a training checkpoint.

    Returns ``(model, source_tokenizer, target_tokenizer, checkpoint)``, the model in eval mode on
    ``device``.
    """
    from illustrated.data.bpe import SubwordTokenizer
    from illustrated.model import Transformer, TransformerConfig
    from illustrated.train.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(checkpoint_path)
    missing = [key for key in ("model", "model_config", "tokenizers") if key not in checkpoint]
    if missing:
        raise ValueError(f"{checkpoint_path} has no {', '.join(missing)}, so no model can be built from it; give a "
                         f"checkpoint written by `train` (last.pt, best.pt, epochN.pt) or by `average`")
    model = Transformer(TransformerConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    model.to(device).eval()
    source_tokenizer = SubwordTokenizer.from_json(checkpoint["tokenizers"]["source"])
    target_tokenizer = SubwordTokenizer.from_json(checkpoint["tokenizers"]["target"])
    return model, source_tokenizer, target_tokenizer, checkpoint


def read_sentences(path) -> list[str]:
    """Read one sentence per line from a text file (UTF-8, or gzip-compressed when it ends in ``.gz``).

    Raises:
        FileNotFoundError: there is no file at ``path``.
        IsADirectoryError: ``path`` is a folder.
        ValueError: the file is not UTF-8, or ends in ``.gz`` but is not valid gzip.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"sentence file {path} is a folder; give a file with one sentence per line")
    if not path.is_file():
        raise FileNotFoundError(f"sentence file {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return [line.rstrip("\n").strip() for line in handle]
    except UnicodeDecodeError as error:
        raise ValueError(f"sentence file {path} is not UTF-8 text ({error}); convert it to UTF-8") from error
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"sentence file {path} ends in .gz but is not valid gzip ({error}); compress it with gzip, "
                         f"or drop the .gz from its name if it is plain text") from error


def _check_output_file(output_file: Path, inputs) -> None:
    """Raise when writing ``output_file`` would overwrite an input or cannot succeed, before any decoding."""
    for name, path in inputs.items():
        if output_file.resolve() == Path(path).resolve() or (
                output_file.exists() and Path(path).exists() and os.path.samefile(output_file, path)):
            raise ValueError(f"the output file {output_file} is the {name}; write the translations elsewhere")
    if output_file.is_dir():
        raise IsADirectoryError(f"the output file {output_file} is a folder; give a file name, "
                                f"e.g. {output_file / 'translations.txt'}")
    if not output_file.parent.is_dir():
        raise FileNotFoundError(f"the folder of the output file {output_file} does not exist; create it first")


def evaluate_files(checkpoint_path, source_file, reference_file, *, beam_sizes=(1, 4), batch_size: int = 128,
                   device="cpu", output_file=None) -> list[dict]:
    """Score a checkpoint on a test set of one's own: two files of aligned sentences, one per line.

    Returns one dict per beam size, ``{"beam_size", "bleu", "bleu_lc", "sentences"}``; with
    ``output_file``, the translations of the first beam size are written there, one per line
    (gzip-compressed when its name ends in ``.gz``). An ``output_file`` that is the source or the
    reference file raises ValueError before anything is read.
    """
    if output_file is not None:
        output_file = Path(output_file)
        _check_output_file(output_file, {"source file": source_file, "reference file": reference_file,
                                         "checkpoint": checkpoint_path})
    sources, references = read_sentences(source_file), read_sentences(reference_file)
    if len(sources) != len(references):
        raise ValueError(
            f"{source_file} has {len(sources)} lines but {reference_file} has {len(references)}; "
            f"line i of the reference file must translate line i of the source file"
        )
    if not sources:
        raise ValueError(f"{source_file} is empty: expected one sentence per line")
    model, source_tokenizer, target_tokenizer, _ = load_model(checkpoint_path, device)
    results = []
    for beam_size in beam_sizes:
        scored = evaluate_translations(model, source_tokenizer, target_tokenizer, sources, references,
                                       beam_size=beam_size, batch_size=batch_size)
        if output_file is not None and not results:
            opener = gzip.open if output_file.suffix == ".gz" else open
            with opener(output_file, "wt", encoding="utf-8") as handle:
                handle.write("\n".join(scored["hypotheses"]) + "\n")
        results.append({"beam_size": beam_size, "bleu": scored["bleu"], "bleu_lc": scored["bleu_lc"],
                        "sentences": len(sources)})
    return results
