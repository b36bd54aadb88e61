"""The training command line, evaluation on one's own files, checkpoints, and the fixed shapes of the XLA path."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch

from illustrated.train import cli
from illustrated.train import runner as runner_module
from illustrated.train.checkpoint import CheckpointManager, load_checkpoint, save_checkpoint
from illustrated.train.evaluate import bleu_scores
from illustrated.train.runner import TrainingConfig, train
from training_support import LOCAL, NO_LOCAL_COPY, tiny_config

needs_local_copy = pytest.mark.skipif(LOCAL is None, reason=NO_LOCAL_COPY)


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for field in fields(TrainingConfig):
        assert "--" + field.name.replace("_", "-") in text, field.name
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--help"])
    text = capsys.readouterr().out
    for option in ("--checkpoint", "--source-file", "--reference-file", "--beam-size"):
        assert option in text


def test_invalid_settings_rejected():
    with pytest.raises(ValueError, match="d_model must be a positive integer"):
        TrainingConfig(d_model=0)
    with pytest.raises(ValueError, match="amp"):
        TrainingConfig(amp="fp16")
    with pytest.raises(ValueError, match="epochs=0 trains nothing"):
        TrainingConfig(epochs=0)


def test_bleu_scores_cased_and_lowered():
    references = ["A dog runs on the grass.", "Two men play football."]
    assert bleu_scores(references, references) == {"bleu": 100.0, "bleu_lc": 100.0}
    shouted = [sentence.upper() for sentence in references]
    scores = bleu_scores(shouted, references)
    assert scores["bleu_lc"] == 100.0
    assert scores["bleu"] < 10.0
    with pytest.raises(ValueError, match="aligned"):
        bleu_scores(["one"], ["one", "two"])


def test_checkpoint_manager_keeps_last_and_best(tmp_path):
    manager = CheckpointManager(tmp_path, mode="max")
    assert manager.save({"step": 1}, metric=10.0)
    assert not manager.save({"step": 2}, metric=5.0)
    assert manager.save({"step": 3}, metric=12.0)
    assert not manager.save({"step": 4})
    assert load_checkpoint(manager.last_path)["step"] == 4
    assert load_checkpoint(manager.best_path)["step"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "last.pt"]  # no temporary file left


def test_checkpoint_failed_write_keeps_previous(tmp_path):
    path = save_checkpoint({"step": 1}, tmp_path / "last.pt")
    with pytest.raises(Exception):
        save_checkpoint({"step": 2, "bad": lambda: None}, path)  # a lambda cannot be pickled
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an illustrated training checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


@needs_local_copy
def test_fixed_shapes_path_uses_few_shapes(tmp_path, monkeypatch):
    seen = set()
    original = runner_module.train_step

    def recording_step(model, batch, *args, **kwargs):
        seen.add((tuple(batch.src.shape), tuple(batch.tgt_in.shape)))
        return original(model, batch, *args, **kwargs)

    monkeypatch.setattr(runner_module, "train_step", recording_step)
    train(tiny_config(tmp_path, fixed_shapes=(16, 32, 64), max_steps=12, max_tokens=512))
    allowed = {((512 // length, length), (512 // length, length)) for length in (16, 32, 64)}
    assert seen <= allowed
    assert len(seen) >= 2


@needs_local_copy
def test_metrics_log_and_checkpoint_contents(tmp_path):
    from illustrated.data.multi30k import TranslationPairs, load_multi30k

    test2016 = load_multi30k("test2016", local_dir=LOCAL, limit=6)
    data = {"train": load_multi30k("train", local_dir=LOCAL, limit=200),
            "valid": load_multi30k("valid", local_dir=LOCAL, limit=8),
            "small_test": TranslationPairs("small_test", "de-en", test2016.source, test2016.target)}
    result = train(tiny_config(tmp_path, max_steps=None, epochs=1, test_sets=("small_test",)), data=data)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    events = [line["event"] for line in lines]
    assert events[0] == "start"
    assert "valid" in events
    assert events[-1] == "end"
    assert all(line["loss"] > 0 for line in lines if line["event"] == "train")
    state = load_checkpoint(tmp_path / "last.pt")
    for key in ("model", "model_config", "tokenizers", "optimizer", "scheduler", "step", "epoch", "position", "rng"):
        assert key in state, key
    assert state["epoch"] == 1
    assert state["position"] == 0
    assert set(result.test["small_test"]) == {"greedy", "beam"}


@needs_local_copy
def test_evaluate_command_on_own_files(tmp_path, capsys):
    train(tiny_config(tmp_path / "run"))
    sources = ["Ein Hund rennt.", "Zwei Männer spielen Fußball."]
    references = ["A dog runs.", "Two men play football."]
    (tmp_path / "my.de").write_text("\n".join(sources) + "\n", encoding="utf-8")
    (tmp_path / "my.en").write_text("\n".join(references) + "\n", encoding="utf-8")
    code = cli.main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--source-file",
                     str(tmp_path / "my.de"), "--reference-file", str(tmp_path / "my.en"), "--beam-size", "1", "2",
                     "--json", "--device", "cpu", "--output-file", str(tmp_path / "out.en")])
    assert code == 0
    results = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["beam_size"] for r in results] == [1, 2]
    for r in results:
        assert set(r) == {"beam_size", "bleu", "bleu_lc", "sentences"}
        assert r["sentences"] == 2
    assert len((tmp_path / "out.en").read_text(encoding="utf-8").splitlines()) == 2


def evaluate_one_sentence(checkpoint, folder, capsys) -> None:
    """Score ``checkpoint`` with the evaluate command on one German-English pair written to ``folder``."""
    (folder / "my.de").write_text("Ein Hund rennt.\n", encoding="utf-8")
    (folder / "my.en").write_text("A dog runs.\n", encoding="utf-8")
    code = cli.main(["evaluate", "--checkpoint", str(checkpoint), "--source-file", str(folder / "my.de"),
                     "--reference-file", str(folder / "my.en"), "--beam-size", "1", "--json", "--device", "cpu"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["sentences"] == 1


@needs_local_copy
@pytest.mark.parametrize("shared", [True, False], ids=["shared-vocabulary", "vocabulary-per-language"])
def test_keep_epochs_and_average_command(tmp_path, capsys, shared):
    run = tmp_path / "run"
    train(tiny_config(run, max_steps=None, epochs=3, keep_epochs=2, shared_vocabulary=shared))
    assert sorted(path.name for path in run.glob("epoch*.pt")) == ["epoch2.pt", "epoch3.pt"]
    last = load_checkpoint(run / "last.pt")
    epoch_states = [load_checkpoint(run / f"epoch{epoch}.pt") for epoch in (2, 3)]
    assert epoch_states[1]["step"] == last["step"]
    assert epoch_states[0]["step"] < epoch_states[1]["step"]

    code = cli.main(["average", "--checkpoints", str(run / "epoch2.pt"), str(run / "epoch3.pt"),
                     "--output", str(tmp_path / "average.pt")])
    assert code == 0
    assert "averaged 2 checkpoints" in capsys.readouterr().out
    averaged = load_checkpoint(tmp_path / "average.pt")
    assert "optimizer" not in averaged
    assert averaged["steps"] == [epoch_states[0]["step"], epoch_states[1]["step"]]
    for name, tensor in averaged["model"].items():
        expected = (epoch_states[0]["model"][name].double() + epoch_states[1]["model"][name].double()) / 2
        torch.testing.assert_close(tensor.double(), expected, rtol=0, atol=1e-7, msg=name)
        assert tensor.dtype == last["model"][name].dtype

    evaluate_one_sentence(tmp_path / "average.pt", tmp_path, capsys)


@needs_local_copy
def test_shared_vocabulary_run(tmp_path, capsys):
    # One BPE vocabulary from both languages, one embedding table for encoder, decoder and output layer.
    run = tmp_path / "run"
    result = train(tiny_config(run, shared_vocabulary=True, vocab_size=300, max_steps=None, epochs=1))
    model = result.model
    assert result.source_tokenizer.to_json() == result.target_tokenizer.to_json()
    assert model.config.share_embeddings
    assert model.config.src_vocab_size == model.config.tgt_vocab_size
    assert model.src_embed.weight is model.tgt_embed.weight is model.output.weight
    # German and English words are both whole tokens of the one vocabulary.
    tokens = set(result.source_tokenizer.tokens("Ein Mann und ein Hund . A man and a dog ."))
    assert {"\u2581Ein", "\u2581Mann", "\u2581A", "\u2581man"} <= tokens

    state = load_checkpoint(run / "last.pt")
    assert state["model_config"]["share_embeddings"] is True
    assert state["training"]["shared_vocabulary"] is True
    evaluate_one_sentence(run / "last.pt", tmp_path, capsys)

    # The setting is part of what a resumed run must keep.
    with pytest.raises(ValueError, match="cannot resume: shared_vocabulary was True"):
        train(tiny_config(run, shared_vocabulary=False, vocab_size=300, max_steps=None, epochs=2, resume=True))


OLDER_RUN = dict(shared_vocabulary=False, target_vocab_size=6000, max_tokens=2560, warmup_steps=600)


def older_settings() -> dict:
    """Return the settings a run of the earlier documented command stored: no shared_vocabulary field."""
    settings = TrainingConfig(**OLDER_RUN).to_dict()
    del settings["shared_vocabulary"]
    settings["test_sets"] = list(settings["test_sets"])  # as read back from a checkpoint
    return settings


def test_resume_check_reads_older_checkpoints():
    # A checkpoint written before shared_vocabulary existed was trained with one vocabulary per language.
    state = {"training": older_settings(), "world_size": 1}
    runner_module._check_resume_compatible(TrainingConfig(**OLDER_RUN), state, 1)

    with pytest.raises(ValueError) as error:
        runner_module._check_resume_compatible(TrainingConfig(), state, 1)
    message = str(error.value)
    # Every difference in one message, with the options that resume the run.
    assert "shared_vocabulary was False in the checkpoint but is True now" in message
    assert "max_tokens was 2560 in the checkpoint but is 2048 now" in message
    assert "warmup_steps was 600 in the checkpoint but is 400 now" in message
    assert "target_vocab_size was 6000 in the checkpoint but is None now" in message
    assert ("--target-vocab-size 6000 --no-shared-vocabulary --max-tokens 2560 --warmup-steps 600" in message)


def test_average_older_and_newer_checkpoints(tmp_path, capsys):
    # A run started before shared_vocabulary existed and resumed after it: its epoch checkpoints differ only
    # in the fields added since, which have their default values.
    from illustrated.model import Transformer, TransformerConfig

    model_config = TransformerConfig(40, 30, d_model=8, num_heads=2, d_ff=16, num_layers=1,
                                     tie_output_embedding=True)
    older_model_config = model_config.to_dict()
    del older_model_config["share_embeddings"]
    newer_settings = dict(older_settings(), shared_vocabulary=False)
    for name, config_dict, settings, seed in (("old.pt", older_model_config, older_settings(), 0),
                                             ("new.pt", model_config.to_dict(), newer_settings, 1)):
        torch.manual_seed(seed)
        state = {"model": Transformer(model_config).state_dict(), "model_config": config_dict,
                 "tokenizers": {"source": "s", "target": "t"}, "training": settings, "step": seed}
        save_checkpoint(state, tmp_path / name)

    code = cli.main(["average", "--checkpoints", str(tmp_path / "old.pt"), str(tmp_path / "new.pt"),
                     "--output", str(tmp_path / "average.pt")])

    assert code == 0, capsys.readouterr().err
    averaged = load_checkpoint(tmp_path / "average.pt")["model"]
    assert averaged["output.weight"].data_ptr() == averaged["tgt_embed.weight"].data_ptr()


def test_shared_table_stored_once(tmp_path):
    # Encoder, decoder and output layer share one table: the checkpoint and the average store it once.
    from illustrated.model import Transformer, TransformerConfig

    config = TransformerConfig(500, 500, d_model=64, num_heads=2, d_ff=16, num_layers=1,
                               tie_output_embedding=True, share_embeddings=True)
    paths = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        model = Transformer(config)
        paths.append(save_checkpoint({"model": model.state_dict(), "model_config": config.to_dict(),
                                      "tokenizers": {}, "training": {}, "step": seed}, tmp_path / f"{seed}.pt"))
    table_bytes = 500 * 64 * 4
    stored_bytes = sum(tensor.numel() * 4 for tensor in model.state_dict().values())  # the table three times
    once_bytes = stored_bytes - 2 * table_bytes
    assert once_bytes < paths[0].stat().st_size < once_bytes + table_bytes

    from illustrated.train.checkpoint import average_checkpoints

    average_checkpoints(paths, tmp_path / "average.pt")
    averaged = load_checkpoint(tmp_path / "average.pt")["model"]
    assert averaged["src_embed.weight"].data_ptr() == averaged["output.weight"].data_ptr()
    assert (tmp_path / "average.pt").stat().st_size < once_bytes + table_bytes
    first, second = (load_checkpoint(path)["model"]["src_embed.weight"] for path in paths)
    torch.testing.assert_close(averaged["tgt_embed.weight"], (first + second) / 2)


@needs_local_copy
def test_separate_vocabularies_run(tmp_path):
    # One vocabulary per language, of different sizes, and separate source and target embeddings.
    result = train(tiny_config(tmp_path, shared_vocabulary=False, vocab_size=300, target_vocab_size=250))
    model = result.model
    assert result.source_tokenizer.vocab_size == 300
    assert result.target_tokenizer.vocab_size == 250
    assert not model.config.share_embeddings
    assert model.src_embed is not model.tgt_embed
    assert model.src_embed.weight.shape == (300, 32)
    assert model.tgt_embed.weight.shape == (250, 32)
    assert model.tgt_embed.weight is model.output.weight


def documented_commands() -> list[list[str]]:
    """Return the arguments of each `python -m illustrated.train` command in README, chapter 11 and RESULTS.md."""
    import re
    import shlex

    from training_support import ROOT

    texts = [(ROOT / name).read_text(encoding="utf-8") for name in ("README.md", "benchmarks/RESULTS.md")]
    for notebook in ROOT.glob("notebooks/11_*.ipynb"):
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        texts += ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown"]
    lines = []
    for text in texts:
        blocks = re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S)
        for block in blocks:
            lines += block.replace("\\\n", " ").splitlines()  # shell line continuations joined
        prose = re.sub(r"```.*?```", "", text, flags=re.S)
        lines += [span.replace("\n", " ") for span in re.findall(r"`([^`]+)`", prose)]  # inline code may wrap
    commands = []
    for line in lines:
        found = re.search(r"-m illustrated\.train (.*)", line)
        if found and "..." not in found.group(1):
            commands.append(shlex.split(found.group(1)))
    return commands


def test_documented_commands_parse():
    # Every documented command must pass the parser and the settings checks as written.
    commands = documented_commands()
    assert {arguments[0] for arguments in commands} == {"train", "average", "evaluate"}
    parser = cli.build_parser()
    for arguments in commands:
        args = parser.parse_args(arguments)
        if args.command == "train":
            cli.config_from_args(args)


def test_average_command_rejects_bad_input(tmp_path, capsys):
    model = torch.nn.Linear(2, 2)
    for name, width in (("a.pt", 2), ("b.pt", 2), ("wide.pt", 3)):
        save_checkpoint({"model": model.state_dict(), "model_config": {"d_model": width},
                         "tokenizers": {"source": "s", "target": "t"}}, tmp_path / name)
    cases = [
        ([str(tmp_path / "a.pt")], "at least two checkpoints"),
        ([str(tmp_path / "a.pt"), str(tmp_path / "wide.pt")], "another model_config"),
        ([str(tmp_path / "a.pt"), str(tmp_path / "missing.pt")], "no checkpoint at"),
    ]
    for paths, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["average", "--checkpoints", *paths, "--output", str(tmp_path / "out.pt")])
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "out.pt").exists()
    with pytest.raises(SystemExit):
        cli.main(["average", "--checkpoints", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"),
                  "--output", str(tmp_path / "b.pt")])
    assert "is one of the checkpoints to average" in capsys.readouterr().err
    with pytest.raises(ValueError, match="keep_epochs"):
        TrainingConfig(keep_epochs=-1)


def test_evaluate_command_rejects_unaligned_files(tmp_path, capsys):
    (tmp_path / "a.txt").write_text("one\ntwo\n")
    (tmp_path / "b.txt").write_text("one\n")
    (tmp_path / "c.pt").write_bytes(b"")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["evaluate", "--checkpoint", str(tmp_path / "c.pt"), "--source-file", str(tmp_path / "a.txt"),
                  "--reference-file", str(tmp_path / "b.txt")])
    assert exit_info.value.code == 2
    assert "has 2 lines but" in capsys.readouterr().err


def test_last_position_decoder_same_output():
    from illustrated.decode import beam_search, greedy_decode
    from illustrated.model import Transformer, TransformerConfig
    from illustrated.train.evaluate import _LastPositionLogits

    torch.manual_seed(0)
    model = Transformer(TransformerConfig(300, 400, d_model=32, num_heads=2, d_ff=64, num_layers=2)).eval()
    src = torch.randint(4, 300, (6, 9))
    src[2, 5:] = 0  # one padded row
    wrapped = _LastPositionLogits(model)
    assert torch.equal(greedy_decode(model, src, max_len=20), greedy_decode(wrapped, src, max_len=20))
    assert torch.equal(beam_search(model, src, beam_size=3, max_len=20),
                       beam_search(wrapped, src, beam_size=3, max_len=20))


@pytest.mark.parametrize("changes, message", [
    (dict(d_model=30, num_heads=8), "d_model=30 is not divisible by num_heads=8"),
    (dict(dropout=1.0), r"dropout must lie in \[0, 1\)"),
    (dict(dropout=-0.1), r"dropout must lie in \[0, 1\)"),
    (dict(attention_dropout=1.5), r"attention_dropout must lie in \[0, 1\)"),
    (dict(label_smoothing=1.0), r"label_smoothing must lie in \[0, 1\)"),
    (dict(clip_norm=float("inf")), "clip_norm must be a finite number"),
    (dict(clip_norm=float("nan")), "clip_norm must be a finite number"),
    (dict(fixed_shapes=(0, 16)), "fixed_shapes must be increasing positive lengths"),
    (dict(fixed_shapes=(32, 16)), "fixed_shapes must be increasing positive lengths"),
    (dict(fixed_shapes=(16, 64), max_tokens=32), "max_tokens=32 is smaller than the longest of fixed_shapes, 64"),
    (dict(max_length=100, max_tokens=50), "max_tokens=50 cannot hold one pair of max_length=100"),
    (dict(vocab_size=4), "vocab_size must be an integer above 4"),
    (dict(target_vocab_size=3), "target_vocab_size must be an integer above 4"),
    (dict(shared_vocabulary=True, vocab_size=8000, target_vocab_size=6000),
     r"target_vocab_size=6000 is invalid with shared_vocabulary.*or turn shared_vocabulary off \(--no-shared"),
    (dict(vocab_size=8000, target_vocab_size=6000), "target_vocab_size=6000 is invalid"),  # shared by default
])
def test_invalid_settings_named_before_any_work(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainingConfig(**changes)


def test_average_rejects_other_runs_and_repeats(tmp_path, capsys):
    model = torch.nn.Linear(2, 2)
    settings = TrainingConfig().to_dict()
    common = {"model": model.state_dict(), "model_config": {"d_model": 2}, "tokenizers": {"source": "s", "target": "t"}}
    save_checkpoint({**common, "training": settings}, tmp_path / "a.pt")
    save_checkpoint({**common, "training": dict(settings, data_dir="elsewhere", epochs=20)}, tmp_path / "b.pt")
    save_checkpoint({**common, "training": dict(settings, seed=1)}, tmp_path / "seed1.pt")
    (tmp_path / "folder").mkdir()
    cases = [
        ([tmp_path / "a.pt", tmp_path / "seed1.pt"], tmp_path / "out.pt", "seed1.pt was trained with seed=1 but"),
        ([tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / ".." / tmp_path.name / "a.pt"], tmp_path / "out.pt",
         "a.pt is given twice"),
        ([tmp_path / "a.pt", tmp_path / "b.pt"], tmp_path / "folder", "folder is a folder; give a file name"),
        ([tmp_path / "a.pt", tmp_path / "folder"], tmp_path / "out.pt", "folder is a folder, not a checkpoint"),
    ]
    for paths, output, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            cli.main(["average", "--checkpoints", *map(str, paths), "--output", str(output)])
        assert exit_info.value.code == 2
        error = capsys.readouterr().err
        assert message in error
        assert error.startswith("python -m illustrated.train average: error: ")
    assert not (tmp_path / "out.pt").exists()
    assert cli.main(["average", "--checkpoints", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"),
                     "--output", str(tmp_path / "out.pt")]) == 0  # data_dir and epochs do not define a run


def run_cli_error(arguments, capsys) -> str:
    """Run the command line, expect a one-line error with exit code 2, and return it."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(arguments)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"python -m illustrated.train {arguments[0]}: error: "), error
    assert error.count("\n") == 1, error
    return error


def test_help_shows_each_default_once(capsys):
    parser = cli.build_parser()
    for command in ("train", "evaluate", "average"):
        with pytest.raises(SystemExit):
            parser.parse_args([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        options = text.split(" --")[1:]
        assert options
        for option in options:
            assert option.count("(default") <= 1, option
        if command == "evaluate":
            assert "one line per beam size" in text


def test_unavailable_device_is_one_line_error(tmp_path, capsys, monkeypatch):
    from illustrated.train import device as device_module

    monkeypatch.delenv("ILLUSTRATED_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(device_module, "_import_torch_xla", lambda: None)
    monkeypatch.setattr(device_module, "_mps_available", lambda: False)
    (tmp_path / "a.txt").write_text("one\n")
    for device in ("cuda", "mps", "xla"):
        error = run_cli_error(["train", "--device", device, "--output-dir", str(tmp_path / "run")], capsys)
        assert "Available here: cpu" in error
        assert "--device cpu" in error
        assert "--device auto" in error
        error = run_cli_error(["evaluate", "--device", device, "--checkpoint", str(tmp_path / "c.pt"), "--source-file",
                               str(tmp_path / "a.txt"), "--reference-file", str(tmp_path / "a.txt")], capsys)
        assert "Available here: cpu" in error
    assert not (tmp_path / "run").exists()


def test_train_output_dir_that_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    error = run_cli_error(["train", "--output-dir", str(tmp_path / "file")], capsys)
    assert f"the output folder {tmp_path / 'file'} is a file" in error
    error = run_cli_error(["train", "--test-sets", "test2018", "--output-dir", str(tmp_path / "run")], capsys)
    assert "unknown test set(s) 'test2018'" in error
    assert not (tmp_path / "run").exists()


def test_evaluate_input_errors_name_the_file(tmp_path, capsys):
    import gzip

    good = tmp_path / "good.txt"
    good.write_text("Ein Hund.\n", encoding="utf-8")
    (tmp_path / "plain.gz").write_text("not gzip\n")
    (tmp_path / "latin1.txt").write_bytes("Mädchen\n".encode("latin-1"))
    (tmp_path / "folder").mkdir()
    with gzip.open(tmp_path / "latin1.gz", "wb") as handle:
        handle.write("Mädchen\n".encode("latin-1"))
    model = torch.nn.Linear(2, 2)
    save_checkpoint({"model": model.state_dict()}, tmp_path / "weights.pt")
    checkpoint = str(tmp_path / "weights.pt")
    cases = [
        ("plain.gz", "checkpoint", f"sentence file {tmp_path / 'plain.gz'} ends in .gz but is not valid gzip"),
        ("latin1.txt", "checkpoint", f"sentence file {tmp_path / 'latin1.txt'} is not UTF-8"),
        ("latin1.gz", "checkpoint", f"sentence file {tmp_path / 'latin1.gz'} is not UTF-8"),
        ("folder", "checkpoint", f"sentence file {tmp_path / 'folder'} is a folder"),
        ("good.txt", "folder", f"{tmp_path / 'folder'} is a folder, not a checkpoint"),
        ("good.txt", "weights.pt", f"{checkpoint} has no model_config, tokenizers"),
    ]
    for source, checkpoint_name, message in cases:
        checkpoint_path = checkpoint if checkpoint_name == "checkpoint" else str(tmp_path / checkpoint_name)
        error = run_cli_error(["evaluate", "--checkpoint", checkpoint_path, "--source-file", str(tmp_path / source),
                               "--reference-file", str(good), "--device", "cpu"], capsys)
        assert message in error
    error = run_cli_error(["evaluate", "--checkpoint", checkpoint, "--source-file", str(good), "--reference-file",
                           str(good), "--beam-size", "0"], capsys)
    assert "--beam-size values must be positive integers, got 0" in error


def test_evaluate_output_file_checked_before_decoding(tmp_path, capsys):
    source, reference = tmp_path / "my.de", tmp_path / "my.en"
    source.write_text("Ein Hund.\n", encoding="utf-8")
    reference.write_text("A dog.\n", encoding="utf-8")
    (tmp_path / "folder").mkdir()
    arguments = ["evaluate", "--checkpoint", str(tmp_path / "missing.pt"), "--source-file", str(source),
                 "--reference-file", str(reference), "--device", "cpu", "--output-file"]
    for output, message in ((source, "is the source file"), (tmp_path / ".." / tmp_path.name / "my.en", "is the reference file"),
                            (tmp_path / "folder", "is a folder; give a file name")):
        error = run_cli_error(arguments + [str(output)], capsys)
        assert message in error
    assert source.read_text(encoding="utf-8") == "Ein Hund.\n"
    assert reference.read_text(encoding="utf-8") == "A dog.\n"


@needs_local_copy
def test_evaluate_output_file_gz_is_gzip(tmp_path, capsys):
    import gzip

    train(tiny_config(tmp_path / "run"))
    (tmp_path / "my.de").write_text("Ein Hund rennt.\nZwei Männer.\n", encoding="utf-8")
    (tmp_path / "my.en").write_text("A dog runs.\nTwo men.\n", encoding="utf-8")
    code = cli.main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--source-file",
                     str(tmp_path / "my.de"), "--reference-file", str(tmp_path / "my.en"), "--beam-size", "1",
                     "--device", "cpu", "--output-file", str(tmp_path / "out.en.gz")])
    assert code == 0
    with gzip.open(tmp_path / "out.en.gz", "rt", encoding="utf-8") as handle:
        assert len(handle.read().splitlines()) == 2
