"""DistributedDataParallel on the CPU: two gloo processes train like one process on their combined batches."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

pytestmark = pytest.mark.slow

STEPS = 4

# Shared by the two replicas (under torchrun) and the single process: the same model, examples and batches.
COMMON = """
import json, sys
import numpy as np
import torch
from illustrated.data.buckets import TokenBudgetBatcher, collate_pairs, encode_pairs
from illustrated.model import Transformer, TransformerConfig
from illustrated.train.runner import setup_distributed, train_step
from illustrated.train.schedule import warmup_scheduler

torch.set_num_threads(1)
rng = np.random.default_rng(0)
sources, targets = encode_pairs(
    [list(rng.integers(4, 60, size=rng.integers(2, 20))) for _ in range(200)],
    [list(rng.integers(4, 60, size=rng.integers(2, 20))) for _ in range(200)],
)

def build():
    torch.manual_seed(0)
    config = TransformerConfig(60, 60, d_model=32, num_heads=2, d_ff=64, num_layers=1, dropout=0.0)
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    return model, optimizer, warmup_scheduler(optimizer, 32, warmup_steps=50)

def batcher(replicas, rank):
    return TokenBudgetBatcher(sources, targets, max_tokens=160, seed=0, num_replicas=replicas, rank=rank)
"""

REPLICA = COMMON + """
context = setup_distributed("cpu")
model, optimizer, scheduler = build()
ddp = torch.nn.parallel.DistributedDataParallel(model)
mine = batcher(context.world_size, context.rank)
totals = mine.group_target_tokens(0)
for position, batch in mine.iter_epoch(0):
    if position == STEPS:
        break
    train_step(ddp, batch, optimizer, scheduler, normaliser=totals[position] / context.world_size)
torch.save(model.state_dict(), f"{OUT}/rank{context.rank}.pt")
with open(f"{OUT}/plan{context.rank}.json", "w") as handle:
    json.dump(mine.plan(0)[:STEPS], handle)
torch.distributed.destroy_process_group()
"""

SINGLE = COMMON + """
model, optimizer, scheduler = build()
torch.save(model.state_dict(), f"{OUT}/initial.pt")
plans = [json.load(open(f"{OUT}/plan{rank}.json")) for rank in (0, 1)]
for position in range(STEPS):
    combined = plans[0][position] + plans[1][position]
    batch = collate_pairs(sources, targets, combined)
    train_step(model, batch, optimizer, scheduler, normaliser=batch.num_tokens)
torch.save(model.state_dict(), f"{OUT}/single.pt")
"""


def test_two_replicas_match_one_process(tmp_path):
    header = f"OUT = {str(tmp_path)!r}\nSTEPS = {STEPS}\n"
    replica_script = tmp_path / "replica.py"
    replica_script.write_text(header + REPLICA)
    single_script = tmp_path / "single.py"
    single_script.write_text(header + SINGLE)

    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(replica_script)],
        capture_output=True, text=True, timeout=600,
    )
    assert launched.returncode == 0, launched.stdout[-2000:] + launched.stderr[-4000:]
    alone = subprocess.run([sys.executable, str(single_script)], capture_output=True, text=True, timeout=600)
    assert alone.returncode == 0, alone.stderr[-4000:]

    plans = [json.loads((tmp_path / f"plan{rank}.json").read_text()) for rank in (0, 1)]
    assert plans[0] != plans[1]  # the replicas saw different data
    first = torch.load(tmp_path / "rank0.pt")
    second = torch.load(tmp_path / "rank1.pt")
    single = torch.load(tmp_path / "single.pt")
    initial = torch.load(tmp_path / "initial.pt")
    changed = False
    for name in first:
        assert torch.equal(first[name], second[name]), f"replicas differ in {name}"
        if name.endswith("k_proj.bias"):
            # The softmax ignores a bias added to every key, so this gradient is zero up to rounding,
            # and Adam turns rounding noise of either run into full-size steps of its own sign.
            continue
        torch.testing.assert_close(first[name], single[name], rtol=1e-4, atol=1e-5, msg=f"{name} differs from one process")
        changed |= not torch.equal(initial[name], single[name])
    assert changed, "no weight moved: the replicas did not train"

