"""Training tokens per second: illustrated.model.Transformer against torch.nn.Transformer, same size, same batches.

Both models have the size of the best-known Multi30k Transformer tutorial: d_model 256, 3 encoder
and 3 decoder layers, 8 heads, d_ff 512. They get the same Multi30k batches (BPE, 8,000 tokens per
language, batches of at most --max-tokens padded positions per side), the same label-smoothed loss
and the same optimizer, Adam. Steps alternate between the two models
in one process, so load from other programs on the machine slows both alike. A token is a real
(non-padding) source or target token.

    python benchmarks/multi30k_throughput.py --rounds 5 --steps 4 --threads 2
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import time

import torch
from torch import nn

from illustrated.data.bpe import SubwordTokenizer
from illustrated.data.buckets import TokenBudgetBatcher, encode_pairs
from illustrated.data.multi30k import find_local_multi30k, load_multi30k
from illustrated.data.special_tokens import PAD_ID
from illustrated.model import PositionalEncoding, Transformer, TransformerConfig
from illustrated.train.losses import label_smoothed_cross_entropy


class TorchTransformer(nn.Module):
    """torch.nn.Transformer with embeddings, positional encoding and an output layer, called like ours."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.src_embed = nn.Embedding(config.src_vocab_size, config.d_model)
        self.tgt_embed = nn.Embedding(config.tgt_vocab_size, config.d_model)
        self.positional_encoding = PositionalEncoding(config.d_model, config.max_len)
        self.dropout = nn.Dropout(config.dropout)
        self.transformer = nn.Transformer(
            config.d_model, config.num_heads, config.num_layers, config.num_decoder_layers, config.d_ff,
            config.dropout, batch_first=True,
        )
        self.output = nn.Linear(config.d_model, config.tgt_vocab_size)
        self.output.weight = self.tgt_embed.weight

    def forward(self, src, tgt_in):
        scale = math.sqrt(self.config.d_model)
        src_x = self.dropout(self.positional_encoding(self.src_embed(src) * scale))
        tgt_x = self.dropout(self.positional_encoding(self.tgt_embed(tgt_in) * scale))
        causal = nn.Transformer.generate_square_subsequent_mask(tgt_in.shape[1], dtype=torch.bool)
        out = self.transformer(
            src_x, tgt_x, tgt_mask=causal, src_key_padding_mask=src == PAD_ID,
            tgt_key_padding_mask=tgt_in == PAD_ID, memory_key_padding_mask=src == PAD_ID,
            tgt_is_causal=True,
        )
        return self.output(out)


def time_steps(model, optimizer, batches) -> tuple[float, int]:
    """Train on ``batches``; return (seconds, real source + target tokens)."""
    tokens = 0
    start = time.perf_counter()
    for batch in batches:
        logits = model(batch.src, batch.tgt_in)
        loss = label_smoothed_cross_entropy(logits, batch.tgt_out, 0.1, PAD_ID)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int((batch.src != PAD_ID).sum()) + batch.num_tokens
    return time.perf_counter() - start, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two models (default 5)")
    parser.add_argument("--steps", type=int, default=4, help="training steps per model per round (default 4)")
    parser.add_argument("--max-tokens", type=int, default=4096, help="padded positions per side per batch")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    parser.add_argument("--data-dir", default=None, help="folder with the Multi30k .gz files")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    data_dir = args.data_dir or find_local_multi30k()
    train = load_multi30k("train", local_dir=data_dir)
    source_tokenizer = SubwordTokenizer.train(train.source, 8000)
    target_tokenizer = SubwordTokenizer.train(train.target, 8000)
    sources, targets = encode_pairs(source_tokenizer.encode_batch(train.source),
                                    target_tokenizer.encode_batch(train.target))
    batcher = TokenBudgetBatcher(sources, targets, args.max_tokens, seed=0)
    plan = batcher.plan(0)
    needed = (args.rounds + 1) * args.steps
    batches = [batcher.collate(plan[i % len(plan)]) for i in range(needed)]

    config = TransformerConfig(source_tokenizer.vocab_size, target_tokenizer.vocab_size, d_model=256, num_heads=8,
                               d_ff=512, num_layers=3, dropout=0.1, tie_output_embedding=True)
    models = {"illustrated": Transformer(config), "torch.nn.Transformer": TorchTransformer(config)}
    optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)
                  for name, m in models.items()}
    for name, model in models.items():  # warm-up round, not timed
        model.train()
        time_steps(model, optimizers[name], batches[: args.steps])

    rates = {name: [] for name in models}
    for round_index in range(args.rounds):
        chunk = batches[(round_index + 1) * args.steps:(round_index + 2) * args.steps]
        for name, model in models.items():
            seconds, tokens = time_steps(model, optimizers[name], chunk)
            rates[name].append(tokens / seconds)

    print(f"machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {args.rounds} rounds x {args.steps} steps, "
          f"max_tokens {args.max_tokens}")
    for name, values in rates.items():
        print(f"{name:22s} median {statistics.median(values):8,.0f} tokens/s  (rounds: "
              + ", ".join(f"{v:,.0f}" for v in values) + ")")
    ratios = [ours / theirs for ours, theirs in zip(rates["illustrated"], rates["torch.nn.Transformer"])]
    print(f"ratio illustrated / torch.nn.Transformer: median {statistics.median(ratios):.3f} "
          f"(per round: {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
