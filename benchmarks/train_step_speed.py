"""Time a training step of illustrated.model.Transformer against torch.nn.Transformer.

One step is forward, label loss, backward and an Adam update. Both models get the same sizes,
the same batches and the same masks (source and target padding, causal target). The reference is
torch.nn.Transformer wrapped with the same embeddings, sqrt(d_model) scaling, sinusoidal
positions and output layer, and built so that it does the same work:

* no final LayerNorm after post-LN stacks. torch.nn.Transformer adds one by default, while
  Vaswani et al. (2017) and our model do not. Pre-LN stacks keep it, as ours do;
* dropout in the same places: on embeddings, on each sub-layer's output and, only if the
  config sets attention_dropout, on the attention weights. torch's layers also drop inside the
  feed-forward network, so that dropout is replaced by an identity.

The two models run interleaved (ours, theirs, ours, theirs, ...) after a warm-up, so that
load from other processes on the machine hits both alike. The script prints the median step
time of each, the target tokens per second (non-pad tokens the loss is computed on) and the
ratio ours/theirs, where above 1 means ours is faster.

Examples:
    python benchmarks/train_step_speed.py --preset tiny --threads 2
    python benchmarks/train_step_speed.py --preset base --steps 20 --threads 2
    python benchmarks/train_step_speed.py --preset anchor --profile
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from illustrated.model import Transformer, TransformerConfig
from illustrated.reference import positional_encoding

PAD_ID = 0
BOS_ID = 1

# Default batch shape per preset: (sentences per batch, max tokens per sentence).
PRESET_BATCHES = {"tiny": (64, 32), "anchor": (64, 64), "base": (32, 32)}


def make_config(preset: str, vocab_size: int, seq_len: int, dropout: float | None) -> TransformerConfig:
    """Build the TransformerConfig of a preset; "anchor" is d_model 256, 3+3 layers, 8 heads, d_ff 512."""
    overrides = {"max_len": max(seq_len + 1, 128), "pad_id": PAD_ID}
    if dropout is not None:
        overrides["dropout"] = dropout
    if preset == "tiny":
        return TransformerConfig.tiny(vocab_size, vocab_size, **overrides)
    if preset == "base":
        return TransformerConfig.base(vocab_size, vocab_size, **overrides)
    if preset == "anchor":
        return TransformerConfig(vocab_size, vocab_size, d_model=256, num_heads=8, d_ff=512, num_layers=3,
                                 **overrides)
    raise ValueError(f"unknown preset {preset!r}; choose tiny, base or anchor")


class TorchTransformerModel(nn.Module):
    """torch.nn.Transformer with the embeddings, positions and output layer of illustrated.model.Transformer."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        d_model = config.d_model
        self.src_embed = nn.Embedding(config.src_vocab_size, d_model)
        self.tgt_embed = nn.Embedding(config.tgt_vocab_size, d_model)
        table = torch.tensor(positional_encoding(config.max_len, d_model), dtype=torch.get_default_dtype())
        self.register_buffer("positions", table, persistent=False)
        self.embed_dropout = nn.Dropout(config.dropout)

        layer_options = dict(d_model=d_model, nhead=config.num_heads, dim_feedforward=config.d_ff,
                             dropout=config.dropout, layer_norm_eps=config.layer_norm_eps, batch_first=True,
                             norm_first=config.norm_first)
        encoder_layer = nn.TransformerEncoderLayer(**layer_options)
        decoder_layer = nn.TransformerDecoderLayer(**layer_options)
        for layer in (encoder_layer, decoder_layer):
            layer.dropout = nn.Identity()  # the dropout inside the feed-forward network, which ours lacks
        for attention in (encoder_layer.self_attn, decoder_layer.self_attn, decoder_layer.multihead_attn):
            attention.dropout = config.attention_dropout
        encoder_norm = decoder_norm = None
        if config.norm_first:
            encoder_norm = nn.LayerNorm(d_model, eps=config.layer_norm_eps)
            decoder_norm = nn.LayerNorm(d_model, eps=config.layer_norm_eps)
        encoder = nn.TransformerEncoder(encoder_layer, config.num_layers, norm=encoder_norm,
                                        enable_nested_tensor=False)
        decoder = nn.TransformerDecoder(decoder_layer, config.num_decoder_layers, norm=decoder_norm)
        self.transformer = nn.Transformer(d_model, config.num_heads, custom_encoder=encoder, custom_decoder=decoder,
                                          batch_first=True)
        self.output = nn.Linear(d_model, config.tgt_vocab_size)
        if config.tie_output_embedding:
            self.output.weight = self.tgt_embed.weight

    def _embed(self, ids: torch.Tensor, table: nn.Embedding) -> torch.Tensor:
        x = table(ids) * math.sqrt(self.config.d_model)
        return self.embed_dropout(x + self.positions[: ids.shape[1]])

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        tgt_len = tgt_in.shape[1]
        # torch.nn masks are True where attention is NOT allowed.
        future = torch.ones(tgt_len, tgt_len, dtype=torch.bool, device=tgt_in.device).triu(1)
        src_pad = src == self.config.pad_id
        hidden = self.transformer(
            self._embed(src, self.src_embed), self._embed(tgt_in, self.tgt_embed),
            tgt_mask=future, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_in == self.config.pad_id,
            memory_key_padding_mask=src_pad, tgt_is_causal=True,
        )
        return self.output(hidden)


@torch.no_grad()
def copy_weights(ours: Transformer, theirs: TorchTransformerModel) -> None:
    """Load our model's weights into the torch.nn.Transformer wrapper (torch packs W^Q, W^K, W^V into one)."""

    def copy_attention(source, target: nn.MultiheadAttention) -> None:
        target.in_proj_weight.copy_(torch.cat([source.q_proj.weight, source.k_proj.weight, source.v_proj.weight]))
        target.in_proj_bias.copy_(torch.cat([source.q_proj.bias, source.k_proj.bias, source.v_proj.bias]))
        target.out_proj.load_state_dict(source.out_proj.state_dict())

    def copy_feed_forward_and_norms(source, target, num_norms: int) -> None:
        target.linear1.load_state_dict(source.feed_forward.linear1.state_dict())
        target.linear2.load_state_dict(source.feed_forward.linear2.state_dict())
        for index in range(1, num_norms + 1):
            getattr(target, f"norm{index}").load_state_dict(getattr(source, f"norm{index}").state_dict())

    for name in ("src_embed", "tgt_embed", "output"):
        getattr(theirs, name).load_state_dict(getattr(ours, name).state_dict())
    for source, target in zip(ours.encoder.layers, theirs.transformer.encoder.layers):
        copy_attention(source.self_attn, target.self_attn)
        copy_feed_forward_and_norms(source, target, num_norms=2)
    for source, target in zip(ours.decoder.layers, theirs.transformer.decoder.layers):
        copy_attention(source.self_attn, target.self_attn)
        copy_attention(source.cross_attn, target.multihead_attn)
        copy_feed_forward_and_norms(source, target, num_norms=3)
    if ours.config.norm_first:
        theirs.transformer.encoder.norm.load_state_dict(ours.encoder.norm.state_dict())
        theirs.transformer.decoder.norm.load_state_dict(ours.decoder.norm.state_dict())


def check_same_function(ours: Transformer, theirs: TorchTransformerModel, batch) -> float:
    """Return the largest logit difference of the two models holding the same weights, in eval mode.

    A small difference shows that the timed models compute the same function, so they do the same work.
    The weights are perturbed first, because at initialisation (LayerNorm gains 1, biases 0) an extra
    final LayerNorm after a post-LN stack would change almost nothing.
    """
    ours_copy, theirs_copy = copy.deepcopy(ours).eval(), copy.deepcopy(theirs).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in ours_copy.parameters():
            param.add_(0.1 * torch.randn(param.shape, generator=generator))
    copy_weights(ours_copy, theirs_copy)
    src, tgt_in, tgt_out = batch
    with torch.no_grad():
        ours_logits, their_logits = ours_copy(src, tgt_in), theirs_copy(src, tgt_in)
    real = tgt_out != PAD_ID  # pad positions are not compared: the loss ignores them
    return (ours_logits - their_logits)[real].abs().max().item()


def make_batches(count: int, batch_size: int, seq_len: int, vocab_size: int, seed: int):
    """Return `count` padded batches (src, tgt_in, tgt_out); sentence lengths are uniform in [seq_len/2, seq_len]."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        src = torch.randint(2, vocab_size, (batch_size, seq_len), generator=generator)
        tgt = torch.randint(2, vocab_size, (batch_size, seq_len + 1), generator=generator)
        tgt[:, 0] = BOS_ID
        low = max(1, seq_len // 2)
        src_lengths = torch.randint(low, seq_len + 1, (batch_size,), generator=generator)
        tgt_lengths = torch.randint(low, seq_len + 1, (batch_size,), generator=generator)
        src[torch.arange(seq_len)[None, :] >= src_lengths[:, None]] = PAD_ID
        tgt[torch.arange(seq_len + 1)[None, :] > tgt_lengths[:, None]] = PAD_ID
        batches.append((src, tgt[:, :-1].contiguous(), tgt[:, 1:].contiguous()))
    return batches


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, batch) -> None:
    src, tgt_in, tgt_out = batch
    logits = model(src, tgt_in)  # (batch, tgt_len, vocab)
    loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD_ID)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def timed_step(model, optimizer, batch) -> tuple[float, float]:
    """Run one training step and return its (wall-clock, process CPU) time in seconds."""
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    train_step(model, optimizer, batch)
    return time.perf_counter() - wall_start, time.process_time() - cpu_start


def profile_steps(name: str, model, optimizer, batches, steps: int, rows: int) -> None:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for step in range(steps):
            train_step(model, optimizer, batches[step % len(batches)])
    print(f"\n--- profile of {name}, {steps} steps, ops sorted by self CPU time ---")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESET_BATCHES), default="tiny",
                        help="model size: tiny, base (the paper's) or anchor (d_model 256, 3+3 layers, d_ff 512)")
    parser.add_argument("--batch-size", type=int, help="sentences per batch (default depends on the preset)")
    parser.add_argument("--seq-len", type=int, help="maximum tokens per sentence (default depends on the preset)")
    parser.add_argument("--vocab-size", type=int, default=8000, help="size of both vocabularies (default 8000)")
    parser.add_argument("--dropout", type=float, help="override the preset's dropout (tiny and base: 0.1)")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model, interleaved (default 20)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model first (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the batches (default 0)")
    parser.add_argument("--profile", action="store_true",
                        help="after timing, profile a few steps of each model with torch.profiler")
    args = parser.parse_args(argv)
    default_batch, default_len = PRESET_BATCHES[args.preset]
    args.batch_size = args.batch_size or default_batch
    args.seq_len = args.seq_len or default_len
    for name in ("batch_size", "seq_len", "vocab_size", "threads", "steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.vocab_size < 3:
        parser.error(f"--vocab-size must be at least 3 (pad, begin-of-sentence and one word), got {args.vocab_size}")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = make_config(args.preset, args.vocab_size, args.seq_len, args.dropout)

    torch.manual_seed(args.seed)
    ours = Transformer(config).train()
    torch.manual_seed(args.seed)
    theirs = TorchTransformerModel(config).train()
    our_params = sum(p.numel() for p in ours.parameters())
    their_params = sum(p.numel() for p in theirs.parameters())
    if our_params != their_params:
        raise RuntimeError(f"the models differ in size ({our_params} and {their_params} parameters): not the same work")
    models = {
        "ours": (ours, torch.optim.Adam(ours.parameters(), lr=1e-4)),
        "torch.nn.Transformer": (theirs, torch.optim.Adam(theirs.parameters(), lr=1e-4)),
    }

    batches = make_batches(4, args.batch_size, args.seq_len, args.vocab_size, args.seed)
    target_tokens = [int((tgt_out != PAD_ID).sum()) for _, _, tgt_out in batches]
    source_tokens = [int((src != PAD_ID).sum()) for src, _, _ in batches]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    print(f"preset {args.preset}: d_model {config.d_model}, heads {config.num_heads}, d_ff {config.d_ff}, "
          f"layers {config.num_layers}+{config.num_decoder_layers}, dropout {config.dropout}, "
          f"vocab {args.vocab_size}, {our_params:,} parameters each")
    print(f"batch {args.batch_size} x {args.seq_len}: on average {statistics.mean(source_tokens):.0f} source and "
          f"{statistics.mean(target_tokens):.0f} target tokens (non-pad) per step")

    difference = check_same_function(ours, theirs, batches[0])
    print(f"same weights, eval mode: logits differ by at most {difference:.2e}")
    if difference > 1e-3:
        raise RuntimeError(f"the two models compute different functions (logits differ by {difference:.2e})")

    for step in range(args.warmup):
        for model, optimizer in models.values():
            train_step(model, optimizer, batches[step % len(batches)])

    wall = {name: [] for name in models}
    cpu = {name: [] for name in models}
    for step in range(args.steps):
        batch = batches[step % len(batches)]
        for name, (model, optimizer) in models.items():
            wall_time, cpu_time = timed_step(model, optimizer, batch)
            wall[name].append(wall_time)
            cpu[name].append(cpu_time)

    mean_target_tokens = statistics.mean(target_tokens[step % len(batches)] for step in range(args.steps))
    print(f"\n{'model':<22}{'median step':>14}{'min':>12}{'max':>12}{'target tok/s':>15}{'CPU time':>12}")
    for name in models:
        median = statistics.median(wall[name])
        print(f"{name:<22}{median * 1e3:>11.1f} ms{min(wall[name]) * 1e3:>9.1f} ms{max(wall[name]) * 1e3:>9.1f} ms"
              f"{mean_target_tokens / median:>15,.0f}{statistics.median(cpu[name]) * 1e3:>9.1f} ms")
    # CPU time (both threads) is less disturbed by other processes than wall-clock time,
    # which counts the time the scheduler gives away, so it is printed as a second opinion.
    for label, times in (("wall-clock", wall), ("CPU time", cpu)):
        ours_times, their_times = times["ours"], times["torch.nn.Transformer"]
        pair_ratios = [theirs / ours for ours, theirs in zip(ours_times, their_times)]
        quartiles = statistics.quantiles(pair_ratios, n=4) if len(pair_ratios) > 1 else pair_ratios * 3
        print(f"ratio ours/theirs by {label}: {statistics.median(their_times) / statistics.median(ours_times):.3f} "
              f"(per-pair ratios: median {statistics.median(pair_ratios):.3f}, "
              f"quartiles {quartiles[0]:.3f} to {quartiles[2]:.3f}, over {args.steps} pairs)")

    if args.profile:
        for name, (model, optimizer) in models.items():
            profile_steps(name, model, optimizer, batches, steps=min(args.steps, 5), rows=25)


if __name__ == "__main__":
    main()
