"""The training loop for Multi30k (or any aligned sentence pairs) on a CPU, GPUs or a TPU.

What one run does, in order:

1. choose the device (:func:`illustrated.train.device.choose_device`) and, under ``torchrun``, join
   the process group (NCCL on GPUs, gloo on CPUs);
2. load the data and learn one BPE tokenizer from both languages of the training split, or one per
   language with ``shared_vocabulary=False`` (or restore them from the checkpoint when resuming);
3. build the model, Adam with the paper's betas (0.9, 0.98) and epsilon 1e-9, and the warm-up
   schedule; the loss is cross-entropy with label smoothing;
4. train in token-budget batches, with bf16 autocast on GPUs and TPUs, gradient clipping, a
   progress bar showing the loss and tokens per second, and metrics appended to ``metrics.jsonl``;
5. after each epoch, compute the validation loss and greedy BLEU, and save ``last.pt`` (and
   ``best.pt`` when the validation BLEU is the best so far);
6. at the end, translate the test sets with the best checkpoint and report both BLEU figures.

A run resumed with ``resume=True`` continues exactly: the same batches in the same order, the same
schedule step and the same random state, so it ends with the same weights as a run never stopped.

On XLA (a TPU through torch_xla) every batch is padded to a few fixed shapes, the step reads no
value back to the host, and ``torch_xla.sync()`` ends each step, so the graph compiles once per
shape.

NOTE: the XLA path has not run on TPU hardware yet. In particular, whether torch_xla recompiles the
optimizer step when the warm-up schedule changes the learning rate is untested.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn

from illustrated.data.buckets import TokenBudgetBatcher, encode_pairs
from illustrated.data.special_tokens import PAD_ID, SPECIAL_TOKENS
from illustrated.seeding import set_seed
from illustrated.train.checkpoint import (
    BEST_NAME,
    LAST_NAME,
    CheckpointManager,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
)
from illustrated.train.device import autocast_dtype, choose_device, is_xla
from illustrated.train.losses import label_smoothed_cross_entropy
from illustrated.train.schedule import warmup_scheduler

__all__ = ["TrainingConfig", "TrainingResult", "train", "train_step", "validation_loss", "setup_distributed"]

DEFAULT_XLA_SHAPES = (16, 32, 48, 64, 96, 128)


@dataclass
class TrainingConfig:
    """Every setting of a training run; the command line has one option per field."""

    # Data.
    data_dir: str | None = None  # a folder holding the Multi30k .gz files; None: cache, then download
    cache_dir: str | None = None  # where downloads are kept; None: $ILLUSTRATED_CACHE_DIR or ~/.cache/illustrated
    base_url: str | None = None  # where to download from; None: the pinned GitHub commit
    direction: str = "de-en"  # "de-en" or "en-de"
    train_limit: int | None = None  # use only the first N training pairs
    valid_limit: int | None = None  # use only the first N validation pairs
    test_sets: tuple[str, ...] = ("test2016", "test2017")
    # Tokenizers: one BPE vocabulary per language, specials included, or one for both languages.
    vocab_size: int = 8000
    target_vocab_size: int | None = None  # None: the same as vocab_size; a smaller one speeds up the output layer
    shared_vocabulary: bool = True  # one BPE vocabulary learnt from both languages, one embedding table for both
    min_frequency: int = 2
    # Model, with the paper's names. The defaults are d_model 256, 3 encoder and 3 decoder layers, 8 heads,
    # d_ff 512: the size of the best-known Multi30k Transformer tutorial.
    d_model: int = 256
    num_heads: int = 8
    d_ff: int = 512
    num_layers: int = 3
    num_decoder_layers: int | None = None
    dropout: float = 0.1
    attention_dropout: float = 0.0
    norm_first: bool = False
    tie_output_embedding: bool = True
    max_length: int = 128  # maximum training sentence length in tokens; longer pairs are left out
    # Optimisation.
    epochs: int = 10
    max_steps: int | None = None  # stop after this many updates in all, even mid-epoch
    # The defaults of max_tokens, warmup_steps and lr_factor are those of the measured 10-epoch Multi30k
    # runs in benchmarks/RESULTS.md: peak learning rate 0.55 / sqrt(256 * 400) = 1.72e-3 at step 400.
    max_tokens: int = 2048  # padded positions per side per batch (per replica)
    warmup_steps: int = 400
    lr_factor: float = 0.55  # scales the whole warm-up schedule
    label_smoothing: float = 0.1
    clip_norm: float = 1.0  # maximum gradient norm; 0 turns clipping off
    seed: int = 0
    # Hardware.
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:N", "xla" or "mps"
    amp: str = "auto"  # "auto" (bf16 on GPU and TPU), "bf16" or "none"
    compile: bool = False  # wrap the model in torch.compile
    fixed_shapes: tuple[int, ...] | None = None  # padded lengths; None: DEFAULT_XLA_SHAPES on XLA, free elsewhere
    threads: int | None = None  # torch.set_num_threads on the CPU; None leaves torch's default
    # Output and evaluation.
    output_dir: str = "runs/multi30k"
    checkpoint_every: int = 0  # also save last.pt every N steps; 0: only at the end of each epoch
    keep_epochs: int = 0  # also keep the end-of-epoch checkpoints of the last N epochs (epochE.pt); 0: none
    log_every: int = 50  # steps between metrics lines and progress updates
    progress: bool = True  # show a tqdm progress bar
    valid_bleu: bool = True  # greedy BLEU on the validation set after each epoch
    test_beam_size: int = 4  # beam search on the test sets at the end as well; 1: greedy only
    eval_batch_size: int = 128  # sentences per decoding batch
    resume: bool = False  # continue from output_dir/last.pt

    def __post_init__(self):
        positive = ("vocab_size", "min_frequency", "d_model", "num_heads", "d_ff", "num_layers", "max_length",
                    "max_tokens", "warmup_steps", "log_every", "test_beam_size", "eval_batch_size")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        for name in ("max_steps", "train_limit", "valid_limit", "threads", "num_decoder_layers", "target_vocab_size"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
        if self.epochs == 0 and self.max_steps is None:
            raise ValueError("epochs=0 trains nothing; give epochs >= 1 or max_steps")
        if self.amp not in ("auto", "bf16", "none"):
            raise ValueError(f"amp must be 'auto', 'bf16' or 'none', got {self.amp!r}")
        if self.lr_factor <= 0 or not math.isfinite(self.lr_factor):
            raise ValueError(f"lr_factor must be a positive number, got {self.lr_factor!r}")
        if not math.isfinite(self.clip_norm):
            raise ValueError(f"clip_norm must be a finite number (0 turns clipping off), got {self.clip_norm!r}")
        if self.clip_norm < 0:
            raise ValueError(f"clip_norm must be >= 0 (0 turns clipping off), got {self.clip_norm!r}")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every!r}")
        if not isinstance(self.keep_epochs, int) or isinstance(self.keep_epochs, bool) or self.keep_epochs < 0:
            raise ValueError(f"keep_epochs must be a non-negative integer (0 keeps none), got {self.keep_epochs!r}")
        for name in ("vocab_size", "target_vocab_size"):
            value = getattr(self, name)
            if value is not None and value <= len(SPECIAL_TOKENS):
                raise ValueError(f"{name} must be an integer above {len(SPECIAL_TOKENS)}, the number of special "
                                 f"tokens, got {value!r}")
        if self.shared_vocabulary and self.target_vocab_size not in (None, self.vocab_size):
            raise ValueError(f"target_vocab_size={self.target_vocab_size} is invalid with shared_vocabulary, which "
                             f"learns one vocabulary of vocab_size={self.vocab_size} tokens for both languages; "
                             f"drop target_vocab_size (--target-vocab-size), or turn shared_vocabulary off "
                             f"(--no-shared-vocabulary) for one vocabulary per language")
        if self.d_model % self.num_heads:
            raise ValueError(f"d_model={self.d_model} is not divisible by num_heads={self.num_heads}; "
                             f"choose d_model as a multiple of num_heads")
        for name in ("dropout", "attention_dropout", "label_smoothing"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:  # also False for NaN
                raise ValueError(f"{name} must lie in [0, 1), got {value!r}")
        self.test_sets = tuple(self.test_sets)
        if self.fixed_shapes is not None:
            self.fixed_shapes = tuple(int(length) for length in self.fixed_shapes)
            shapes = self.fixed_shapes
            if not shapes or shapes[0] < 1 or list(shapes) != sorted(set(shapes)):
                raise ValueError(f"fixed_shapes must be increasing positive lengths, got {list(shapes)}")
            if self.max_tokens < shapes[-1]:
                raise ValueError(f"max_tokens={self.max_tokens} is smaller than the longest of fixed_shapes, "
                                 f"{shapes[-1]}, so a batch of that length cannot hold one pair; raise max_tokens "
                                 f"or drop that length")
        else:
            # The batcher pads lengths to a multiple of 8, so the longest pair kept needs this many positions.
            longest = -(-self.max_length // 8) * 8
            if self.max_tokens < longest:
                raise ValueError(f"max_tokens={self.max_tokens} cannot hold one pair of max_length={self.max_length} "
                                 f"tokens (padded to {longest}); raise max_tokens to at least {longest} or lower "
                                 f"max_length")

    def to_dict(self) -> dict:
        return asdict(self)


# Settings that fix the data order, the model or the optimisation: a resumed run must keep them, and
# `average` takes only checkpoints that agree on them. data_dir is not among them, because the files
# are checked against their SHA-256 sums wherever they are read from.
_RESUME_MUST_MATCH = (
    "direction", "train_limit", "vocab_size", "target_vocab_size", "shared_vocabulary", "min_frequency",
    "d_model", "num_heads", "d_ff", "num_layers", "num_decoder_layers", "dropout", "attention_dropout",
    "norm_first", "tie_output_embedding", "max_length", "max_tokens", "warmup_steps", "lr_factor",
    "label_smoothing", "clip_norm", "seed", "fixed_shapes",
)


@dataclass
class TrainingResult:
    """The result of :func:`train`: the trained model (best checkpoint's weights), tokenizers and metrics."""

    model: nn.Module
    source_tokenizer: object
    target_tokenizer: object
    history: list[dict] = field(default_factory=list)  # every metrics line of this run, as in metrics.jsonl
    test: dict = field(default_factory=dict)  # test set -> {"greedy": {...}, "beam": {...}}
    output_dir: Path | None = None
    train_seconds: float = 0.0
    note: str | None = None  # one line for the user, e.g. why a resumed run trained nothing


# Distributed set-up.


@dataclass
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            torch.distributed.barrier()

    def gather(self, value) -> list:
        """Return ``value`` from every process, in rank order (a collective: every process must call it)."""
        if not self.enabled:
            return [value]
        gathered = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, value)
        return gathered


def setup_distributed(device_kind: str) -> DistributedContext:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1); NCCL for CUDA, gloo otherwise."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistributedContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        backend = "nccl" if device_kind == "cuda" else "gloo"
        if device_kind == "cuda":
            torch.cuda.set_device(local_rank)
        torch.distributed.init_process_group(backend=backend)
    return DistributedContext(rank, world_size, local_rank)


# One step and the validation loss.


def _xla_sync() -> None:
    import torch_xla

    if hasattr(torch_xla, "sync"):
        torch_xla.sync()
    else:  # older torch_xla releases, without torch_xla.sync()
        from torch_xla.core import xla_model

        xla_model.mark_step()


def _autocast(device: torch.device, amp_dtype):
    return torch.autocast(device.type, dtype=amp_dtype or torch.bfloat16, enabled=amp_dtype is not None)


def train_step(model, batch, optimizer, scheduler, *, normaliser: float, label_smoothing: float = 0.1,
               clip_norm: float = 1.0, amp_dtype=None) -> torch.Tensor:
    """Run one update on a batch already on the model's device; return the summed loss, still on the device.

    The loss is summed over the batch's target tokens and divided by ``normaliser``. In one process
    that is the batch's own token count. Under DistributedDataParallel, which averages gradients, it
    is the token count of all replicas' batches divided by the number of replicas, so every token of
    the step weighs the same. Nothing is read back to the host, so the step stays asynchronous on GPUs and
    compiles to one graph per shape on XLA.
    """
    device = batch.src.device
    with _autocast(device, amp_dtype):
        logits = model(batch.src, batch.tgt_in)  # (batch, tgt_len, tgt_vocab_size)
    loss_sum = label_smoothed_cross_entropy(logits, batch.tgt_out, label_smoothing, PAD_ID, reduction="sum")
    divisor = torch.tensor(float(normaliser), dtype=torch.float32, device=device)
    (loss_sum / divisor).backward()
    if clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum.detach()


@torch.no_grad()
def validation_loss(model, batcher: TokenBudgetBatcher, device, *, label_smoothing: float = 0.1,
                    amp_dtype=None) -> dict:
    """Return the validation set's loss per target token: ``{"loss"}`` (smoothed, as in training), ``{"nll", "ppl"}``."""
    was_training = model.training
    model.eval()
    smoothed = torch.zeros((), device=device)
    nll = torch.zeros((), device=device)
    tokens = 0
    for _, batch in batcher.iter_epoch(0):
        tokens += batch.num_tokens
        batch = batch.to(device)
        with _autocast(device, amp_dtype):
            logits = model(batch.src, batch.tgt_in)
        smoothed += label_smoothed_cross_entropy(logits, batch.tgt_out, label_smoothing, PAD_ID, reduction="sum")
        nll += label_smoothed_cross_entropy(logits, batch.tgt_out, 0.0, PAD_ID, reduction="sum")
        if is_xla(device):
            _xla_sync()
    model.train(was_training)
    mean_nll = float(nll) / max(tokens, 1)
    return {"loss": float(smoothed) / max(tokens, 1), "nll": mean_nll, "ppl": math.exp(min(mean_nll, 50.0))}


# Data and tokenizers.


def _load_splits(config: TrainingConfig, data=None) -> dict:
    """Return ``{"train", "valid", test set names...}`` -> pairs with ``.source`` and ``.target`` lists."""
    if data is not None:
        missing = [name for name in ("train", "valid") if name not in data]
        if missing:
            raise ValueError(f"data must map 'train' and 'valid' (and any test sets) to sentence pairs; missing {missing}")
        return dict(data)
    from illustrated.data.multi30k import ENV_LOCAL_DIR, find_local_multi30k, load_multi30k

    local_dir = config.data_dir
    if local_dir is None and not os.environ.get(ENV_LOCAL_DIR):
        local_dir = find_local_multi30k()  # ../shared/data/multi30k beside a source checkout, as chapter 11 does
    where = dict(local_dir=local_dir, cache_dir=config.cache_dir, base_url=config.base_url)
    splits = {
        "train": load_multi30k("train", config.direction, limit=config.train_limit, **where),
        "valid": load_multi30k("valid", config.direction, limit=config.valid_limit, **where),
    }
    for name in config.test_sets:
        splits[name] = load_multi30k(name, config.direction, **where)
    return splits


def _tokenizers(config: TrainingConfig, splits: dict, resume_state: dict | None, context: DistributedContext):
    from illustrated.data.bpe import SubwordTokenizer

    if resume_state is not None:
        stored = resume_state["tokenizers"]
        return SubwordTokenizer.from_json(stored["source"]), SubwordTokenizer.from_json(stored["target"])
    path = Path(config.output_dir) / "tokenizers.json"
    if context.is_main:
        # Learnt once, by one process: every replica must use the very same vocabulary.
        if config.shared_vocabulary:
            # One vocabulary from both sides: names, numbers and shared word pieces get the same ids.
            source = target = SubwordTokenizer.train(splits["train"].source + splits["train"].target,
                                                     config.vocab_size, config.min_frequency)
        else:
            source = SubwordTokenizer.train(splits["train"].source, config.vocab_size, config.min_frequency)
            target = SubwordTokenizer.train(splits["train"].target, config.target_vocab_size or config.vocab_size,
                                            config.min_frequency)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"source": source.to_json(), "target": target.to_json()}), encoding="utf-8")
    context.barrier()
    if not context.is_main:
        stored = json.loads(path.read_text(encoding="utf-8"))
        source, target = SubwordTokenizer.from_json(stored["source"]), SubwordTokenizer.from_json(stored["target"])
    return source, target


# Settings added after the first checkpoints were written, with the value that reproduces what the code did
# before, so that older runs can still be resumed and averaged.
_DEFAULTS_FOR_OLDER_CHECKPOINTS = {"shared_vocabulary": False}


def stored_setting(settings: dict, name: str):
    """Return the training setting ``name`` as a checkpoint stored it, lists as tuples, older checkpoints filled in."""
    value = settings.get(name, _DEFAULTS_FOR_OLDER_CHECKPOINTS.get(name))
    return tuple(value) if isinstance(value, list) else value


def _option_for(name: str, value) -> str | None:
    """Return the command-line option that sets ``name`` to ``value``, or None where no option can."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else "--no-" + name.replace("_", "-")
    if isinstance(value, tuple):
        return " ".join([flag, *map(str, value)])
    if isinstance(value, (int, float, str)):
        return f"{flag} {value}"
    return None


def _check_resume_compatible(config: TrainingConfig, state: dict, world_size: int) -> None:
    stored = state["training"]
    differences, options = [], []
    for name in _RESUME_MUST_MATCH:
        old, new = stored_setting(stored, name), getattr(config, name)
        if old != new:
            differences.append(f"{name} was {old!r} in the checkpoint but is {new!r} now")
            options.append(_option_for(name, old))
    if differences:
        # Every difference at once: a run started under older defaults may differ in several settings.
        hint = ""
        if all(options):
            hint = f" (on the command line: {' '.join(options)})"
        raise ValueError(
            f"cannot resume: {'; '.join(differences)}. Resume with the checkpoint's settings{hint}, or train "
            f"afresh in another output folder"
        )
    if state.get("world_size", 1) != world_size:
        raise ValueError(
            f"cannot resume: the checkpoint was written by {state.get('world_size', 1)} process(es) and this run "
            f"has {world_size}; the batch order depends on it, so resume with the same number of processes"
        )


# The metrics log.


class MetricsLog:
    """Append JSON lines to ``metrics.jsonl`` and keep them in memory for :class:`TrainingResult`."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled, self.lines = path, enabled, []

    def read(self) -> list[dict]:
        """Return the records of the file (none when it is missing).

        A last line without its newline that is not valid JSON was cut short by a run killed while
        writing it: it is dropped with a warning on stderr. Any other damaged line raises ValueError.
        """
        if not self.path.is_file():
            return []
        text = self.path.read_text(encoding="utf-8")
        lines = text.splitlines()
        records = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                if number == len(lines) and not text.endswith("\n"):
                    print(f"warning: dropping the incomplete last line ({number}) of {self.path}, "
                          f"left by a run stopped while writing it", file=sys.stderr)
                    continue
                raise ValueError(f"{self.path} line {number} is not valid JSON ({error}); "
                                 f"repair or delete that line, then resume again") from error
            if not isinstance(record, dict):
                raise ValueError(f"{self.path} line {number} is not a JSON object; repair or delete that line, "
                                 f"then resume again")
            records.append(record)
        return records

    def truncate_after(self, step: int) -> None:
        """Drop the lines written after ``step``, and the test and end lines, before resuming from ``step``.

        The test and end lines go too, because the resumed run writes them again when it ends.
        """
        if not self.enabled or not self.path.exists():
            return
        remaining = [record for record in self.read()
                     if record.get("step", 0) <= step and record.get("event") not in ("test", "end")]
        temporary = self.path.with_suffix(".jsonl.tmp")
        temporary.write_text("".join(json.dumps(record) + "\n" for record in remaining), encoding="utf-8")
        os.replace(temporary, self.path)
        self.lines = remaining

    def write(self, **record) -> dict:
        record = {"time": round(time.time(), 3), **record}
        if self.enabled:
            self.lines.append(record)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
        return record


def _progress_bar(total: int, initial: int, description: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=description, disable=not enabled, leave=False, dynamic_ncols=True)


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return getattr(model, "module", model)  # DistributedDataParallel


def _evaluate_bleu(model, source_tokenizer, target_tokenizer, pairs, device, beam_size: int, batch_size: int) -> dict:
    from illustrated.train.evaluate import evaluate_translations

    return evaluate_translations(model, source_tokenizer, target_tokenizer, pairs.source, pairs.target,
                                 beam_size=beam_size, batch_size=batch_size, device=device)


def _run_files(output_dir: Path) -> list[str]:
    """Return the names of the checkpoints in ``output_dir`` that show a run was trained there."""
    if not output_dir.is_dir():
        return []
    names = [path.name for path in output_dir.glob("epoch*.pt") if path.stem.removeprefix("epoch").isdigit()]
    names += [name for name in (LAST_NAME, BEST_NAME) if (output_dir / name).exists()]
    return sorted(names)


def _check_output_dir(output_dir: Path, resume: bool) -> None:
    """Raise ValueError when ``output_dir`` cannot take this run: a file, a folder with another run, or nothing to resume."""
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"the output folder {output_dir} is a file; give the name of a folder")
    if resume:
        if not (output_dir / LAST_NAME).is_file():
            raise ValueError(f"no {LAST_NAME} in {output_dir} to resume; train without --resume first")
        return
    found = _run_files(output_dir)
    if found:
        raise ValueError(
            f"{output_dir} already contains a run ({', '.join(found)}); continue it with --resume, "
            f"or train in another --output-dir, or delete the folder"
        )


def _check_test_set_names(names) -> None:
    from illustrated.data.multi30k import SPLITS

    known = [name for name in SPLITS if name.startswith("test")]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown test set(s) {', '.join(map(repr, unknown))}; test_sets takes names among "
                         f"{', '.join(known)}, or none")


def _check_resume_state(state: dict, path: Path) -> None:
    missing = [key for key in ("optimizer", "scheduler", "rng_per_rank", "step", "epoch", "position", "training")
               if key not in state]
    if missing:
        raise ValueError(
            f"cannot resume from {path}: it has no {', '.join(missing)} (a checkpoint written by `average` has "
            f"no optimizer state); resume needs the last.pt written by `train`, or train afresh in another folder"
        )


def _finished_message(config: TrainingConfig, state: dict) -> str | None:
    """Return why a resumed run has nothing left to train, or None when it has."""
    step, epoch = state["step"], state["epoch"]
    if config.max_steps is not None and step >= config.max_steps:
        return f"already reached max_steps={config.max_steps} at step {step}; nothing to train"
    if config.epochs and epoch >= config.epochs:
        return f"already finished {epoch} epochs at step {step}; nothing to train"
    return None


def _finished_result(state: dict, output_dir: Path, records: list[dict], note: str) -> TrainingResult:
    """Return the result of a finished run from its checkpoints and metrics, training and scoring nothing."""
    from illustrated.data.bpe import SubwordTokenizer
    from illustrated.model import Transformer, TransformerConfig

    model = Transformer(TransformerConfig(**state["model_config"]))
    best_path = output_dir / BEST_NAME
    model.load_state_dict(load_checkpoint(best_path)["model"] if best_path.is_file() else state["model"])
    test: dict = {}
    for record in records:
        if record.get("event") == "test":
            test.setdefault(record["test_set"], {})[record["decoding"]] = {
                key: record[key] for key in ("bleu", "bleu_lc", "beam_size")}
    return TrainingResult(model, SubwordTokenizer.from_json(state["tokenizers"]["source"]),
                          SubwordTokenizer.from_json(state["tokenizers"]["target"]), history=records, test=test,
                          output_dir=output_dir, note=note)


def train(config: TrainingConfig, data=None) -> TrainingResult:
    """Train a Transformer with the settings of ``config``; return the model with the best validation BLEU and the metrics.

    ``data`` may map ``"train"``, ``"valid"`` and test-set names to objects with aligned ``source``
    and ``target`` sentence lists (such as :class:`illustrated.data.multi30k.TranslationPairs`);
    by default the Multi30k splits are loaded as ``config`` says.

    A new run rejects an output folder that already contains a run's checkpoints. When a new run fails
    before its first update, it removes the tokenizers.json and metrics.jsonl it wrote, and the
    output folder too when it created the folder and the folder is empty.
    """
    output_dir = Path(config.output_dir)
    _check_output_dir(output_dir, config.resume)
    if data is None:
        _check_test_set_names(config.test_sets)
    new_folder = not output_dir.exists()
    new_files = [output_dir / name for name in ("tokenizers.json", "metrics.jsonl")
                 if not (output_dir / name).exists()]
    progress = {"training": False}
    try:
        return _train(config, data, output_dir, progress)
    except BaseException:
        if not config.resume and not progress["training"]:
            for path in new_files:
                path.unlink(missing_ok=True)
            if new_folder and output_dir.is_dir() and not any(output_dir.iterdir()):
                output_dir.rmdir()
        raise


def _train(config: TrainingConfig, data, output_dir: Path, progress: dict) -> TrainingResult:
    """Run :func:`train` once its output folder is checked; set ``progress["training"]`` before the first update."""
    from illustrated.model import Transformer, TransformerConfig

    started = time.perf_counter()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    device = choose_device(config.device)
    context = setup_distributed(device.type)
    if context.enabled and device.type == "cuda":
        device = torch.device("cuda", context.local_rank)
    amp_dtype = {"auto": autocast_dtype(device), "bf16": torch.bfloat16, "none": None}[config.amp]
    fixed_shapes = config.fixed_shapes or (DEFAULT_XLA_SHAPES if is_xla(device) else None)
    log = MetricsLog(output_dir / "metrics.jsonl", enabled=context.is_main)

    resume_state, note = None, None
    if config.resume:
        resume_state = load_checkpoint(output_dir / LAST_NAME)
        _check_resume_state(resume_state, output_dir / LAST_NAME)
        _check_resume_compatible(config, resume_state, context.world_size)
        finished = _finished_message(config, resume_state)
        if finished is not None:
            records = log.read()
            if any(record.get("event") == "end" and record.get("step") == resume_state["step"] for record in records):
                return _finished_result(resume_state, output_dir, records, finished)
            note = f"{finished}; scoring the test sets, which the stopped run had not finished"
        log.truncate_after(resume_state["step"])  # before any work, so that a damaged line stops the run early
    set_seed(config.seed)

    splits = _load_splits(config, data)
    source_tokenizer, target_tokenizer = _tokenizers(config, splits, resume_state, context)
    encoded = {}
    for name in ("train", "valid"):
        pairs = splits[name]
        encoded[name] = encode_pairs(source_tokenizer.encode_batch(pairs.source),
                                     target_tokenizer.encode_batch(pairs.target))
    limit = min(config.max_length, fixed_shapes[-1]) if fixed_shapes else config.max_length
    if not any(max(len(source), len(target) - 1) <= limit for source, target in zip(*encoded["train"])):
        if fixed_shapes and fixed_shapes[-1] < config.max_length:
            raise ValueError(f"no training pair is at most {limit} tokens long, the longest of fixed_shapes "
                             f"{list(fixed_shapes)} (which caps max_length={config.max_length}); add a longer shape")
        raise ValueError(f"no training pair is at most max_length={config.max_length} tokens long; raise max_length")
    train_batcher = TokenBudgetBatcher(*encoded["train"], config.max_tokens, seed=config.seed,
                                       fixed_shapes=fixed_shapes, max_length=config.max_length,
                                       num_replicas=context.world_size, rank=context.rank)
    valid_batcher = TokenBudgetBatcher(*encoded["valid"], config.max_tokens, shuffle=False,
                                       fixed_shapes=fixed_shapes, max_length=config.max_length)

    model_config = TransformerConfig(
        source_tokenizer.vocab_size, target_tokenizer.vocab_size, d_model=config.d_model,
        num_heads=config.num_heads, d_ff=config.d_ff, num_layers=config.num_layers,
        num_decoder_layers=config.num_decoder_layers, dropout=config.dropout,
        attention_dropout=config.attention_dropout, max_len=max(config.max_length, 256), pad_id=PAD_ID,
        norm_first=config.norm_first, tie_output_embedding=config.tie_output_embedding,
        share_embeddings=config.shared_vocabulary,
    )
    model = Transformer(model_config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = warmup_scheduler(optimizer, config.d_model, config.warmup_steps, config.lr_factor)
    checkpoints = CheckpointManager(output_dir, mode="max")

    step, epoch, position = 0, 0, 0
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        scheduler.load_state_dict(resume_state["scheduler"])
        step, epoch, position = resume_state["step"], resume_state["epoch"], resume_state["position"]
        checkpoints.restore(resume_state)
        log.write(event="resume", step=step, epoch=epoch, position=position)
        restore_rng_state(resume_state["rng_per_rank"][context.rank])
    else:
        if context.enabled:
            torch.manual_seed(config.seed + 1 + context.rank)  # its own dropout masks for each replica
    if resume_state is None and context.is_main:
        log.path.unlink(missing_ok=True)
        log.write(event="start", step=0, parameters=model.num_parameters(), device=str(device),
                  world_size=context.world_size, train_pairs=len(train_batcher.kept),
                  train_pairs_left_out=train_batcher.num_dropped, batches_per_epoch=len(train_batcher),
                  source_vocab=source_tokenizer.vocab_size, target_vocab=target_tokenizer.vocab_size,
                  amp=str(amp_dtype), config=config.to_dict())

    train_model: nn.Module = model
    if context.enabled:
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if config.compile:
        train_model = torch.compile(train_model)

    def state_dict(rng_states: list) -> dict:
        return {
            "model": model.state_dict(), "model_config": model_config.to_dict(),
            "tokenizers": {"source": source_tokenizer.to_json(), "target": target_tokenizer.to_json()},
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "step": step, "epoch": epoch, "position": position, "rng": rng_states[0], "rng_per_rank": rng_states,
            "training": config.to_dict(), "world_size": context.world_size,
        }

    batches_per_epoch = len(train_batcher)
    total_steps = config.epochs * batches_per_epoch
    if config.max_steps is not None:
        total_steps = min(total_steps, config.max_steps) if config.epochs else config.max_steps
    epochs = config.epochs if config.epochs else math.ceil(total_steps / batches_per_epoch)

    train_model.train()
    progress["training"] = True
    while epoch < epochs and step < total_steps:
        totals = train_batcher.group_target_tokens(epoch)
        bar = _progress_bar(batches_per_epoch, position, f"epoch {epoch + 1}/{epochs}",
                            config.progress and context.is_main)
        window_loss = torch.zeros((), device=device)
        window_tokens = window_inputs = 0
        window_start = time.perf_counter()
        for position, cpu_batch in train_batcher.iter_epoch(epoch, position):
            window_tokens += cpu_batch.num_tokens
            window_inputs += int((cpu_batch.src != PAD_ID).sum()) + cpu_batch.num_tokens
            batch = cpu_batch.to(device, non_blocking=True)
            loss_sum = train_step(train_model, batch, optimizer, scheduler,
                                  normaliser=totals[position] / context.world_size,
                                  label_smoothing=config.label_smoothing, clip_norm=config.clip_norm,
                                  amp_dtype=amp_dtype)
            if is_xla(device):
                _xla_sync()
            window_loss += loss_sum
            step += 1
            position += 1
            bar.update(1)
            if step % config.log_every == 0 or position == batches_per_epoch or step == total_steps:
                loss = float(window_loss) / max(window_tokens, 1)  # the only read-back, once per window
                seconds = time.perf_counter() - window_start
                tokens_per_second = window_inputs / max(seconds, 1e-9)
                log.write(event="train", step=step, epoch=epoch, position=position, loss=round(loss, 5),
                          lr=scheduler.get_last_lr()[0], tokens_per_s=round(tokens_per_second, 1))
                bar.set_postfix(loss=f"{loss:.3f}", tok_s=f"{tokens_per_second:,.0f}")
                window_loss = torch.zeros((), device=device)
                window_tokens = window_inputs = 0
                window_start = time.perf_counter()
            if config.checkpoint_every and step % config.checkpoint_every == 0 and position < batches_per_epoch:
                rng_states = context.gather(capture_rng_state())
                if context.is_main:
                    checkpoints.save(state_dict(rng_states))
                context.barrier()
            if step >= total_steps:
                break
        bar.close()
        if position < batches_per_epoch:  # stopped by max_steps mid-epoch
            rng_states = context.gather(capture_rng_state())
            if context.is_main:
                checkpoints.save(state_dict(rng_states))
            break
        epoch, position = epoch + 1, 0

        rng_states = context.gather(capture_rng_state())  # before validation, which draws no random numbers
        if context.is_main:
            metrics = validation_loss(model, valid_batcher, device, label_smoothing=config.label_smoothing,
                                      amp_dtype=amp_dtype)
            bleu = None
            if config.valid_bleu:
                scored = _evaluate_bleu(model, source_tokenizer, target_tokenizer, splits["valid"], device,
                                        1, config.eval_batch_size)
                bleu = scored["bleu"]
                metrics.update(bleu=scored["bleu"], bleu_lc=scored["bleu_lc"])
            metric = bleu if bleu is not None else -metrics["loss"]
            best = checkpoints.save(state_dict(rng_states), metric)
            if config.keep_epochs:
                checkpoints.keep_epoch(epoch, config.keep_epochs)
            log.write(event="valid", step=step, epoch=epoch, best=best,
                      elapsed_s=round(time.perf_counter() - started, 1),
                      **{key: round(value, 5) for key, value in metrics.items()})
        context.barrier()

    train_seconds = time.perf_counter() - started
    result = TrainingResult(model, source_tokenizer, target_tokenizer, output_dir=output_dir,
                            train_seconds=train_seconds, note=note)
    if context.is_main:
        if checkpoints.best_path.exists():
            model.load_state_dict(load_checkpoint(checkpoints.best_path)["model"])
        for name in config.test_sets:
            if name not in splits:
                continue
            result.test[name] = {}
            beams = (1,) if config.test_beam_size == 1 else (1, config.test_beam_size)
            for beam_size in beams:
                scored = _evaluate_bleu(model, source_tokenizer, target_tokenizer, splits[name], device,
                                        beam_size, config.eval_batch_size)
                kind = "greedy" if beam_size == 1 else "beam"
                result.test[name][kind] = {"bleu": scored["bleu"], "bleu_lc": scored["bleu_lc"], "beam_size": beam_size}
                log.write(event="test", step=step, test_set=name, decoding=kind, beam_size=beam_size,
                          bleu=scored["bleu"], bleu_lc=scored["bleu_lc"])
        log.write(event="end", step=step, train_seconds=round(train_seconds, 1),
                  total_seconds=round(time.perf_counter() - started, 1))
        result.history = list(log.lines)
    context.barrier()
    return result
