"""The command line: ``python -m illustrated.train train ...`` and ``python -m illustrated.train evaluate ...``.

Examples::

    # The anchor-size model (d_model 256, 3+3 layers) on Multi30k German to English, 10 epochs.
    python -m illustrated.train train --output-dir runs/multi30k

    # Several GPUs on one machine: one process per GPU.
    torchrun --nproc-per-node 4 -m illustrated.train train --output-dir runs/multi30k-ddp

    # Continue a run that was stopped, exactly where it stopped.
    python -m illustrated.train train --output-dir runs/multi30k --resume

    # Average the weights of the last three epochs (train with --keep-epochs 3), then score the average.
    python -m illustrated.train average --checkpoints runs/multi30k/epoch8.pt runs/multi30k/epoch9.pt \\
        runs/multi30k/epoch10.pt --output runs/multi30k/average.pt

    # Score a checkpoint on a test set of your own (one sentence per line, aligned files).
    python -m illustrated.train evaluate --checkpoint runs/multi30k/best.pt \\
        --source-file test.de --reference-file test.en
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import MISSING, fields

from illustrated.train.runner import TrainingConfig

__all__ = ["build_parser", "config_from_args", "main"]

# One help text per TrainingConfig field, grouped as in --help.
_OPTION_HELP = {
    "data": {
        "data_dir": "folder that holds the eight Multi30k .gz files; nothing is downloaded then "
                    "(default: $ILLUSTRATED_MULTI30K_DIR, else the cache folder, downloading what is missing)",
        "cache_dir": "folder for downloaded files (default: $ILLUSTRATED_CACHE_DIR, $XDG_CACHE_HOME/illustrated "
                     "or ~/.cache/illustrated)",
        "base_url": "URL to download the Multi30k files from (default: $ILLUSTRATED_MULTI30K_URL, else the "
                    "multi30k/dataset repository on GitHub at a pinned commit)",
        "direction": "translation direction, de-en or en-de",
        "train_limit": "use only the first N training pairs",
        "valid_limit": "use only the first N validation pairs",
        "test_sets": "test sets to score at the end, among test2016 and test2017 (none: give no value)",
    },
    "tokenizer": {
        "vocab_size": "BPE vocabulary size, the four special tokens included: of the one shared vocabulary, or of "
                      "each language's with --no-shared-vocabulary",
        "target_vocab_size": "BPE vocabulary size of the target language, if it differs from --vocab-size (only with "
                             "--no-shared-vocabulary)",
        "shared_vocabulary": "learn one BPE vocabulary of --vocab-size tokens from both languages, and share one "
                             "embedding matrix between the encoder, the decoder and (with --tie-output-embedding) "
                             "the output layer, as the paper does",
        "min_frequency": "minimum count of a symbol pair for BPE to merge it",
    },
    "model": {
        "d_model": "width of every token vector",
        "num_heads": "attention heads; d_model must be divisible by it",
        "d_ff": "inner width of the feed-forward networks",
        "num_layers": "encoder layers (and decoder layers, unless --num-decoder-layers is given)",
        "num_decoder_layers": "decoder layers",
        "dropout": "dropout probability on sub-layer outputs and embeddings",
        "attention_dropout": "dropout probability on the attention weights",
        "norm_first": "pre-LN layers (LayerNorm before each sub-layer) in place of the paper's post-LN",
        "tie_output_embedding": "share the target embedding matrix with the output layer",
        "max_length": "longest training sentence in subword tokens; longer pairs are left out",
    },
    "optimisation": {
        "epochs": "passes over the training data",
        "max_steps": "stop after this many updates in all, even in the middle of an epoch",
        "max_tokens": "padded positions per side in one batch (per process), which sets the batch size",
        "warmup_steps": "updates of linear learning-rate warm-up before the 1/sqrt(step) decay",
        "lr_factor": "multiplies the whole warm-up schedule; the peak rate is lr_factor / sqrt(d_model * warmup_steps)",
        "label_smoothing": "probability mass spread over the vocabulary in the target distribution",
        "clip_norm": "maximum L2 norm of the gradient (0 turns clipping off)",
        "seed": "seed of every random number generator, and of the batch order",
    },
    "hardware": {
        "device": "auto, cpu, cuda, cuda:N, xla or mps (default: $ILLUSTRATED_DEVICE, else the first of CUDA, "
                  "XLA, MPS, CPU that is available)",
        "amp": "mixed precision: auto (bfloat16 autocast on GPU and TPU, none on CPU), bf16 or none",
        "compile": "compile the model with torch.compile",
        "fixed_shapes": "pad every batch to one of these lengths, e.g. 16 32 64 128 (default on XLA: "
                        "16 32 48 64 96 128, which avoids recompiling for every new shape)",
        "threads": "CPU threads for torch (default: torch's choice)",
    },
    "output": {
        "output_dir": "folder for last.pt, best.pt, tokenizers.json and metrics.jsonl",
        "checkpoint_every": "also save last.pt every N updates (0: only at the end of each epoch)",
        "keep_epochs": "also keep the checkpoints of the last N epochs as epochE.pt, for `average` (0: none)",
        "log_every": "updates between two lines of metrics.jsonl and progress-bar updates",
        "progress": "show a progress bar",
        "valid_bleu": "compute greedy BLEU on the validation set after each epoch (best.pt follows it; "
                      "without it, best.pt follows the validation loss)",
        "test_beam_size": "beam size for the test sets at the end, scored beside greedy decoding (1: greedy only)",
        "eval_batch_size": "sentences per decoding batch",
        "resume": "continue from OUTPUT_DIR/last.pt with the same data order, schedule step and random state",
    },
}


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    defaults = TrainingConfig()
    types = {field.name: field for field in fields(TrainingConfig)}
    documented = {name for group in _OPTION_HELP.values() for name in group}
    undocumented = set(types) - documented
    if undocumented:  # every field must have an option with help text
        raise RuntimeError(f"TrainingConfig fields without a command-line help text: {sorted(undocumented)}")
    for title, options in _OPTION_HELP.items():
        group = parser.add_argument_group(title)
        for name, text in options.items():
            flag = "--" + name.replace("_", "-")
            default = getattr(defaults, name)
            if isinstance(default, bool):
                group.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=default,
                                   help=f"{text} (default: {'on' if default else 'off'})")
            elif name in ("test_sets", "fixed_shapes"):
                kind = str if name == "test_sets" else int
                shown = " ".join(map(str, default)) if default else "none"
                group.add_argument(flag, dest=name, nargs="*", type=kind, default=default,
                                   help=text if "(default" in text else f"{text} (default: {shown})")
            else:
                kind = float if name in ("dropout", "attention_dropout", "lr_factor", "label_smoothing",
                                         "clip_norm") else int
                if name in ("data_dir", "cache_dir", "base_url", "direction", "device", "amp", "output_dir"):
                    kind = str
                choices = {"direction": ["de-en", "en-de"], "amp": ["auto", "bf16", "none"]}.get(name)
                group.add_argument(flag, dest=name, type=kind, default=default, choices=choices,
                                   metavar=None if choices else name.upper(),
                                   help=text if "(default" in text else f"{text} (default: {default})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m illustrated.train",
        description="Train the Transformer on Multi30k, or score a trained checkpoint with BLEU.",
        epilog=__doc__.split("Examples::", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,evaluate,average}")
    train_parser = commands.add_parser(
        "train", help="train a model (one process, or one per GPU under torchrun)",
        description="Train a Transformer on Multi30k. Metrics go to OUTPUT_DIR/metrics.jsonl, checkpoints to "
                    "OUTPUT_DIR/last.pt and OUTPUT_DIR/best.pt; the test-set BLEU is printed at the end.",
    )
    _add_config_options(train_parser)

    evaluate_parser = commands.add_parser(
        "evaluate", help="score a checkpoint on two files of aligned sentences",
        description="Translate SOURCE_FILE with a checkpoint and score it against REFERENCE_FILE (one sentence per "
                    "line, plain or .gz). Prints sacreBLEU (cased, 13a tokeniser, detokenised) and the lower-cased "
                    "13a-tokenised BLEU, for greedy decoding and beam search.",
    )
    evaluate_parser.add_argument("--checkpoint", required=True, help="a last.pt or best.pt written by `train`")
    evaluate_parser.add_argument("--source-file", required=True, help="sentences to translate, one per line")
    evaluate_parser.add_argument("--reference-file", required=True,
                                 help="reference translations, line i translating line i of --source-file")
    evaluate_parser.add_argument("--beam-size", type=int, nargs="+", default=[1, 4],
                                 help="beam sizes to score; 1 is greedy decoding (default: 1 4)")
    evaluate_parser.add_argument("--batch-size", type=int, default=128, help="sentences per decoding batch (default: 128)")
    evaluate_parser.add_argument("--device", default="auto", help="device to decode on, as for train (default: auto)")
    evaluate_parser.add_argument("--output-file", help="write the translations of the first beam size here")
    evaluate_parser.add_argument("--json", action="store_true", help="print the scores as JSON, one line per beam size")

    average_parser = commands.add_parser(
        "average", help="average the weights of several checkpoints of one run",
        description="Average the model weights of several checkpoints of one run (for example the epochE.pt files "
                    "kept by --keep-epochs) into one checkpoint that `evaluate` can score. The output has no "
                    "optimizer state, so training cannot resume from it.",
    )
    average_parser.add_argument("--checkpoints", nargs="+", required=True, help="two or more checkpoints of one run")
    average_parser.add_argument("--output", required=True, help="where to write the averaged checkpoint")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainingConfig:
    """Return the TrainingConfig of parsed ``train`` options; it checks every setting."""
    values = {field.name: getattr(args, field.name) for field in fields(TrainingConfig)}
    values["test_sets"] = tuple(values["test_sets"] or ())
    values["fixed_shapes"] = tuple(values["fixed_shapes"]) if values["fixed_shapes"] else None
    return TrainingConfig(**values)


def _run_train(args) -> int:
    from illustrated.train.runner import train

    result = train(config_from_args(args))
    if int(os.environ.get("RANK", "0")) != 0:
        return 0  # under torchrun, only the first process reports
    if result.note:
        print(result.note)
        if not result.train_seconds:
            return 0  # a finished run, resumed: nothing was trained or scored
    for name, scores in result.test.items():
        for kind, score in scores.items():
            print(f"{name} {kind} (beam {score['beam_size']}): BLEU {score['bleu']:.2f} (sacreBLEU, cased, 13a), "
                  f"{score['bleu_lc']:.2f} (lower-cased, 13a tokens)")
    if result.output_dir is not None:
        print(f"checkpoints and metrics.jsonl in {result.output_dir}; time {result.train_seconds:.0f} s")
    return 0


def _run_evaluate(args) -> int:
    from illustrated.train.device import choose_device
    from illustrated.train.evaluate import evaluate_files

    for size in args.beam_size:
        if size < 1:
            raise ValueError(f"--beam-size values must be positive integers, got {size}")
    results = evaluate_files(args.checkpoint, args.source_file, args.reference_file, beam_sizes=args.beam_size,
                             batch_size=args.batch_size, device=choose_device(args.device),
                             output_file=args.output_file)
    for result in results:
        if args.json:
            print(json.dumps(result))
        else:
            kind = "greedy" if result["beam_size"] == 1 else f"beam {result['beam_size']}"
            print(f"{kind}: BLEU {result['bleu']:.2f} (sacreBLEU, cased, 13a), {result['bleu_lc']:.2f} "
                  f"(lower-cased, 13a tokens) on {result['sentences']} sentences")
    return 0


def _run_average(args) -> int:
    from illustrated.train.checkpoint import average_checkpoints

    path = average_checkpoints(args.checkpoints, args.output)
    print(f"averaged {len(args.checkpoints)} checkpoints into {path}")
    return 0


def main(argv=None) -> int:
    from illustrated.data.multi30k import Multi30kError
    from illustrated.train.device import DeviceUnavailableError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            return _run_train(args)
        if args.command == "average":
            return _run_average(args)
        return _run_evaluate(args)
    except (ValueError, OSError, Multi30kError, DeviceUnavailableError) as error:
        # Bad settings, unavailable devices, and files that are missing or unreadable: the message
        # names the file or the fix, so no traceback is printed.
        parser.exit(2, f"{parser.prog} {args.command}: error: {error}\n")


if __name__ == "__main__":
    sys.exit(main())
