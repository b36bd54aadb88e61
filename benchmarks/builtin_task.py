"""Time the training of chapter 10's small model on the built-in number task until 99% exact match.

Usage::

    .venv/bin/python benchmarks/builtin_task.py                  # seed 0, as in chapter 10
    .venv/bin/python benchmarks/builtin_task.py --seeds 0 1 2    # one run per seed
    .venv/bin/python benchmarks/builtin_task.py --threads 1      # torch.set_num_threads(1) first

Each run trains exactly as chapter 10 does (``TransformerConfig.tiny``, ``fit`` with batches of 64,
warm-up 200, learning-rate factor 0.5, label smoothing 0.1, validation every 100 steps, stop at 99.5%
validation exact match) and prints one line per seed:

- the first step and wall-clock second at which validation exact match reached 99%, and the step
  and second at which training stopped (validation time included in both);
- greedy exact match on the test split of 1,000 numbers, and the share of reordered test words
  whose strongest last-layer cross-attention (mean of the heads) falls on the source word they
  translate.

The 1-minute load average is printed before and after each run, because the time depends on what
else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from illustrated import set_seed
from illustrated.data import make_batch, make_number_task, reordered_positions
from illustrated.model import Transformer, TransformerConfig
from illustrated.train import exact_match_accuracy, fit


def alignment_hit_rate(model, task) -> float:
    """Return the share of reordered test words whose strongest cross-attention is on their source word."""
    batch = make_batch(task.pairs("test"))
    with torch.no_grad():
        _, attention = model(batch.src, batch.tgt_in, return_attention=True)
    cross = attention["cross"][-1].mean(dim=1)  # (batch, tgt_len, src_len)
    hits = [int(cross[row, t].argmax()) == example.alignment[t]
            for row, example in enumerate(task.test) for t in reordered_positions(example)]
    return sum(hits) / len(hits)


def run(seed: int, max_steps: int) -> dict:
    """Train one model as chapter 10 does and return its measurements."""
    set_seed(seed)
    task = make_number_task(seed=seed)
    model = Transformer(TransformerConfig.tiny(len(task.src_vocab), len(task.tgt_vocab)))
    history = fit(model, task.pairs("train"), validation_pairs=task.pairs("validation"), max_steps=max_steps,
                  batch_size=64, warmup_steps=200, lr_factor=0.5, label_smoothing=0.1, eval_every=100,
                  target_exact_match=0.995, seed=seed)
    reached = [(step, seconds) for step, accuracy, seconds
               in zip(history.eval_step, history.eval_exact_match, history.eval_seconds) if accuracy >= 0.99]
    return {
        "step_99": reached[0][0] if reached else None,
        "seconds_99": reached[0][1] if reached else None,
        "steps": history.steps_run,
        "seconds": history.seconds,
        "validation": history.eval_exact_match[-1],
        "test": exact_match_accuracy(model, task.pairs("test")),
        "alignment": alignment_hit_rate(model, task),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds to train with, one run each (default: 0)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads before training "
                        "(default: torch's own choice)")
    parser.add_argument("--max-steps", type=int, default=1500, help="optimizer steps at most (default: 1500)")
    args = parser.parse_args(argv)

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for seed in args.seeds:
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        result = run(seed, args.max_steps)
        total = time.perf_counter() - start
        reached = (f"99% at step {result['step_99']} after {result['seconds_99']:.1f} s"
                   if result["step_99"] is not None else "99% not reached")
        print(f"seed {seed}: {reached}; stopped at step {result['steps']} after {result['seconds']:.1f} s "
              f"(validation {result['validation']:.1%}); test exact match {result['test']:.1%}; "
              f"reordered words on their source {result['alignment']:.1%}; {total:.1f} s in all; "
              f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
