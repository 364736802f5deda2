"""A careless or hostile user: files that must not be replaced, checkpoints that must not be
trusted, runs that fail, values at the edge, signals. Nothing is lost, replaced, or reported as a
success when it failed."""

from __future__ import annotations

import json
import math
import os
import signal
import stat
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import rnnlab.cli.lm as cli_lm
from rnnlab.checkpoint import load_checkpoint, remove_stale_temps, save_checkpoint
from rnnlab.cli import main
from rnnlab.cli.common import strict_json
from rnnlab.labelling import PairDataset, TrainConfig, build_model, fit
from rnnlab.lm import CharLM, sample, train_lm
from rnnlab.loop import TrainingDiverged, TrainingInterrupted
from rnnlab.vocab import CharVocab

LM = ["lm", "train", "--text", "zen", "--hidden-size", "16", "--embedding-dim", "8", "--no-progress"]


def lm_run(tmp_path, *extra):
    return main([*LM, "--max-steps", "4", "--eval-every", "2", *extra])


def usage_error(args, capsys) -> str:
    """``main(args)`` must exit 2 with a one-line error (no traceback); returns that line."""
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def strict(path) -> dict:
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(path.read_text(), parse_constant=refuse)


def tiny_lm():
    vocab = CharVocab.from_strings("abcdef")
    torch.manual_seed(0)
    return CharLM(len(vocab), "lstm", 4, 8, 1), vocab


# -- targets of --save and --history ---------------------------------------------------------------
def test_a_device_fifo_or_folder_is_never_replaced(tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    for target, kind in (("/dev/null", "a character device"), (fifo, "a FIFO"), (tmp_path, "a folder")):
        line = usage_error([*LM, "--max-steps", "1", "--save", str(target)], capsys)
        assert f"is {kind}" in line and "not a regular file" in line
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    model, vocab = tiny_lm()
    with pytest.raises(ValueError, match="a FIFO"):  # the library refuses too
        save_checkpoint(fifo, model, vocab)


def test_a_symlink_is_followed_and_kept_a_dangling_one_refused(tmp_path, capsys):
    model, vocab = tiny_lm()
    real, link = tmp_path / "real.pt", tmp_path / "link.pt"
    real.write_bytes(b"old")
    link.symlink_to(real)
    save_checkpoint(link, model, vocab)
    assert link.is_symlink() and load_checkpoint(real)[0].spec == model.spec
    dangling = tmp_path / "dangling.pt"
    dangling.symlink_to(tmp_path / "missing" / "x.pt")
    assert "which does not exist" in usage_error([*LM, "--max-steps", "1", "--save", str(dangling)], capsys)
    assert not (tmp_path / "missing").exists()


def test_save_and_history_on_one_file_refused(tmp_path, capsys):
    same = str(tmp_path / "run.out")
    line = usage_error([*LM, "--max-steps", "1", "--save", same, "--history", same], capsys)
    assert "--save and --history name the same file" in line and not os.path.exists(same)


def test_modes_follow_the_umask_and_an_existing_file(tmp_path):
    model, vocab = tiny_lm()
    old = os.umask(0o027)
    try:
        new = save_checkpoint(tmp_path / "new.pt", model, vocab)
        assert stat.S_IMODE(new.stat().st_mode) == 0o640
        kept = tmp_path / "kept.pt"
        kept.write_bytes(b"")
        kept.chmod(0o604)
        save_checkpoint(kept, model, vocab)
        assert stat.S_IMODE(kept.stat().st_mode) == 0o604
    finally:
        os.umask(old)


def test_temp_files_of_killed_saves_are_removed(tmp_path):
    model, vocab = tiny_lm()
    target = tmp_path / "lm.pt"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that no longer runs
    stale = tmp_path / f".lm.pt.{dead.pid}.k2j4.tmp"
    running = tmp_path / f".lm.pt.{os.getppid()}.x9q1.tmp"  # a save in progress elsewhere
    old_style = tmp_path / ".lm.pt.abcd1234.tmp"
    other = tmp_path / f".other.pt.{dead.pid}.aaaa.tmp"
    for f in (stale, running, old_style, other):
        f.write_bytes(b"x" * 1000)
    hour_ago = time.time() - 7200
    os.utime(old_style, (hour_ago, hour_ago))
    save_checkpoint(target, model, vocab)
    assert not stale.exists() and not old_style.exists()
    assert running.exists() and other.exists()  # alive, or another file's
    assert remove_stale_temps(target) == []


def test_sigterm_during_training_leaves_no_temp_file_and_keeps_the_history(tmp_path):
    save, hist = tmp_path / "lm.pt", tmp_path / "h.json"
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "rnnlab", *LM[:-1], "--max-steps", "100000", "--eval-every", "5"]
            + ["--save", str(save), "--history", str(hist)],
            stderr=subprocess.PIPE,
            text=True,
        )
        seen = ""
        while "train:" not in seen:  # the progress bar: training has started
            seen += proc.stderr.read(1)
            assert proc.poll() is None, seen
        time.sleep(1.5)
        proc.send_signal(sig)
        err = seen + proc.stderr.read()
        assert proc.wait(timeout=60) == code
        assert "Traceback" not in err
        assert f"stopped by {'Ctrl-C' if sig == signal.SIGINT else 'SIGTERM'} at step" in err
        stopped = strict(hist)["stopped"]
        assert stopped["reason"] == "interrupted" and stopped["step"] > 1
        assert load_checkpoint(save)[0].spec["name"] == "charlm"
        assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# -- what a checkpoint may hold, and what is checked before loading one ---------------------------
@pytest.mark.parametrize("value", [np.float64(0.1), np.int64(3)])
def test_save_refuses_values_load_would_refuse(tmp_path, value):
    model, vocab = tiny_lm()
    with pytest.raises(TypeError, match=r"config\['x'\] is a numpy"):
        save_checkpoint(tmp_path / "c.pt", model, vocab, {"x": value})
    with pytest.raises(TypeError, match=r"config\['p'\]\[0\] is a pathlib"):
        save_checkpoint(tmp_path / "c.pt", model, vocab, {"p": [tmp_path]})
    assert not (tmp_path / "c.pt").exists()


def forged(tmp_path, **changes):
    model, vocab = tiny_lm()
    path = save_checkpoint(tmp_path / "good.pt", model, vocab, {"labels": ["a"]})
    payload = torch.load(path, weights_only=True)
    for key, value in changes.items():
        part, _, field = key.partition("__")
        if field:
            payload[part] = {**payload[part], field: value}
        else:
            payload[part] = value
    torch.save(payload, tmp_path / "forged.pt")
    return tmp_path / "forged.pt"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"spec__num_layers": 100_000}, "num_layers=100000 does not fit the stored tensors"),
        ({"spec__hidden_size": 10**12}, "hidden_size=1000000000000 does not fit"),
        ({"spec__hidden_size": 6}, "the stored tensors do not match the spec"),
        ({"vocab": list("abcde")}, "vocab_size 6 differs from its 5 characters"),
        ({"vocab": ["a", "a", "b", "c", "d", "e"]}, "not a list of distinct strings"),
        ({"spec__name": "names", "spec__num_classes": 3}, "1 class labels, but the spec's num_classes is 3"),
        ({"state_dict": {"w": "text"}}, "holds more than named tensors"),
        ({"spec__name": ["x"]}, "unknown model"),
    ],
)
def test_a_forged_checkpoint_is_refused_before_allocating(tmp_path, changes, message):
    path = forged(tmp_path, **changes)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        load_checkpoint(path)
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    "content, message",
    [
        (os.urandom(300), "is not a file torch.save wrote"),
        (b'{"history": {}}', "it is JSON text"),
        (b"", "the file is empty"),
    ],
)
def test_not_a_checkpoint_never_advises_weights_only_false(tmp_path, content, message, capsys):
    path = tmp_path / "x.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as e:
        load_checkpoint(path)
    assert "weights_only" not in str(e.value)
    line = usage_error(["lm", "sample", "--checkpoint", str(path)], capsys)
    assert message in line and "weights_only" not in line


def test_a_pickle_of_objects_is_named_not_loaded(tmp_path):
    torch.save({"evil": tmp_path}, tmp_path / "obj.pt")
    with pytest.raises(ValueError, match=r"other than tensors.*\(pathlib\.PosixPath\).*can run code") as e:
        load_checkpoint(tmp_path / "obj.pt")
    assert "weights_only=False" not in str(e.value)


def test_a_checkpoint_with_non_finite_weights_is_refused_by_the_cli(tmp_path, capsys):
    model, vocab = tiny_lm()
    with torch.no_grad():
        model.head.weight.fill_(math.nan)
    save_checkpoint(tmp_path / "nan.pt", model, vocab)
    assert "weights are not finite" in usage_error(["lm", "sample", "--checkpoint", str(tmp_path / "nan.pt")], capsys)


# -- training that fails ---------------------------------------------------------------------------
def poison_after(first_eval_step: int):
    """Wrap train_lm so that, at the evaluation of ``first_eval_step``, the weights turn NaN."""
    real = train_lm

    def wrapped(model, train_ids, val_ids, config, **kw):
        def on_eval(step, history):
            if step == first_eval_step:
                with torch.no_grad():
                    model.head.weight.fill_(math.nan)

        return real(model, train_ids, val_ids, config, on_eval=on_eval)

    return wrapped


def test_a_diverged_run_exits_1_keeps_the_old_checkpoint_and_writes_strict_json(tmp_path, monkeypatch, capsys):
    save, hist = tmp_path / "lm.pt", tmp_path / "h.json"
    assert lm_run(tmp_path, "--save", str(save)) == 0
    good = save.read_bytes()
    monkeypatch.setattr(cli_lm, "train_lm", poison_after(2))
    assert lm_run(tmp_path, "--save", str(save), "--history", str(hist)) == 1
    err = capsys.readouterr().err
    assert f"error: training diverged at step 3: the training loss is nan; nothing saved to {save}" in err
    assert save.read_bytes() == good  # the good checkpoint is still there
    payload = strict(hist)
    assert payload["stopped"] == {"reason": "diverged", "step": 3} and payload["history"]["step"] == [2]


def test_every_trainer_stops_at_a_non_finite_loss():
    data = PairDataset([("hello", "ohlol")])
    model = build_model("gru", len(data.vocab))
    with torch.no_grad():
        model.head.bias.fill_(math.inf)
    with pytest.raises(TrainingDiverged, match="the training loss is nan at epoch 1") as e:
        fit(model, data, TrainConfig(epochs=3, progress=False))
    assert e.value.count == 1 and e.value.history.loss == []


def _poisoned_runs():
    """Each of the four trainers, with a callback that turns one weight NaN at its first report."""
    from rnnlab.classify import NameClassifier, train_classifier
    from rnnlab.seq2seq import Seq2Seq, train_seq2seq
    from rnnlab.vocab import END, PAD, START

    def poison(model):
        def callback(count, history):
            with torch.no_grad():
                next(model.parameters()).fill_(math.nan)

        return callback

    data = PairDataset([("hello", "ohlol")])
    m = build_model("gru", len(data.vocab))
    yield "epoch 2", lambda: fit(m, data, epochs=5, progress=False, on_epoch=poison(m))

    lm, vocab = tiny_lm()
    ids = vocab.encode("abcdefedcba" * 20)
    yield (
        "step 3",
        lambda: train_lm(
            lm, ids, ids[:50], max_steps=6, eval_every=2, batch_size=4, seq_len=8, progress=False, on_eval=poison(lm)
        ),
    )

    names = [("ab", 0), ("ba", 1), ("aab", 0), ("bba", 1)] * 4
    cvocab = CharVocab.from_strings("ab", specials=(PAD,))
    nc = NameClassifier(len(cvocab), 2, 4, 8)
    run = lambda: train_classifier(nc, names, names, cvocab, epochs=4, progress=False, on_epoch=poison(nc))
    yield "epoch 2", run

    pairs = [("ab", "ba"), ("abb", "bba")] * 8
    svocab = CharVocab.from_strings("ab", specials=(PAD, START, END))
    s2s = Seq2Seq(len(svocab), 4, 8)
    run = lambda: train_seq2seq(
        s2s, pairs, pairs, svocab, steps=6, eval_every=2, batch_size=4, progress=False, on_eval=poison(s2s)
    )
    yield "step 3", run


@pytest.mark.parametrize("case", range(4), ids=["fit", "train_lm", "train_classifier", "train_seq2seq"])
def test_every_trainer_stops_at_the_first_nan_with_its_history(case):
    where, run = list(_poisoned_runs())[case]
    with pytest.raises(TrainingDiverged, match=f"the training loss is nan at {where}") as e:
        run()
    assert e.value.history is not None and e.value.reason == "diverged"


def test_weights_blown_by_the_last_update_are_a_divergence():
    data = PairDataset([("hello", "ohlol")])
    model = build_model("gru", len(data.vocab))

    def blow_up(epoch, history):
        with torch.no_grad():
            model.head.weight.fill_(math.inf)

    with pytest.raises(TrainingDiverged, match="weights are not finite"):
        fit(model, data, TrainConfig(epochs=1, progress=False), on_epoch=blow_up)


def test_ctrl_c_in_a_trainer_carries_the_history():
    data = PairDataset([("hello", "ohlol")])
    model = build_model("gru", len(data.vocab))

    def interrupt(epoch, history):
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted) as e:
        fit(model, data, TrainConfig(epochs=5, progress=False), on_epoch=interrupt)
    assert isinstance(e.value, KeyboardInterrupt) and e.value.count == 2 and len(e.value.history.loss) == 2


def test_ctrl_c_in_the_cli_saves_what_it_has(tmp_path, monkeypatch, capsys):
    real = train_lm

    def interrupted(model, train_ids, val_ids, config, **kw):
        def on_eval(step, history):
            if step == 4:
                raise KeyboardInterrupt

        return real(model, train_ids, val_ids, config, on_eval=on_eval)

    monkeypatch.setattr(cli_lm, "train_lm", interrupted)
    save, hist = tmp_path / "lm.pt", tmp_path / "h.json"
    assert main([*LM, "--max-steps", "10", "--eval-every", "2", "--save", str(save), "--history", str(hist)]) == 130
    err = capsys.readouterr().err
    assert "stopped by Ctrl-C at step 4" in err and "Traceback" not in err
    assert strict(hist)["history"]["step"] == [2, 4] and load_checkpoint(save)[0].spec["name"] == "charlm"


def test_a_run_worse_than_uniform_says_so(tmp_path, monkeypatch, capsys):
    real = train_lm

    def ruined(model, train_ids, val_ids, config, **kw):
        def on_eval(step, history):  # finite, but far worse than guessing: a run gone wrong
            with torch.no_grad():
                model.head.weight.mul_(1e4)

        return real(model, train_ids, val_ids, config, on_eval=on_eval)

    monkeypatch.setattr(cli_lm, "train_lm", ruined)
    assert main([*LM, "--max-steps", "2", "--eval-every", "1"]) == 0
    assert "is worse than the uniform baseline" in capsys.readouterr().err


def test_strict_json_replaces_non_finite_numbers():
    assert strict_json({"a": [1.0, math.nan, -math.inf], "b": (math.inf, "x")}) == {
        "a": [1.0, None, None],
        "b": [None, "x"],
    }


# -- values the parser accepted, and then a traceback ----------------------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        ([*LM, "--hidden-size", "99999999999999999999"], "--hidden-size: expected an integer from 1 to 4096"),
        ([*LM, "--hidden-size", "1000000"], "--hidden-size: expected an integer from 1 to 4096"),
        ([*LM, "--seed", str(2**70)], "--seed: expected an integer from 0 to 4294967295"),
        ([*LM, "--lr", "1e300"], "--lr: expected at most 10"),
        (
            [*LM, "--batch-size", "60000"],
            "cannot fill batch_size=60000 rows of at least 2; use a batch_size of at most",
        ),
        (["lm", "sample", "--checkpoint", "x.pt", "--length", str(10**12)], "--length: expected an integer"),
        (["seq2seq", "train", "--task", "reverse", "--max-len", "100000"], "--max-len: expected an integer from 2"),
    ],
)
def test_edge_values_are_one_line_and_exit_2(args, message, capsys):
    assert message in usage_error(args, capsys)


def test_missing_data_is_one_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pydoc_data.topics", None)  # import fails
    assert "no pydoc_data.topics" in usage_error(["lm", "train", "--max-steps", "1", "--no-progress"], capsys)
    monkeypatch.setitem(sys.modules, "faker", None)
    assert "pip install faker" in usage_error(["names", "train", "--epochs", "1", "--no-progress"], capsys)


def test_any_positive_temperature_samples():
    model, vocab = tiny_lm()
    g = torch.Generator().manual_seed(0)
    for t in (1e-45, 5e-324, 1e300):
        assert len(sample(model, vocab, "ab", 20, t, generator=g)) == 22
    greedy = sample(model, vocab, "ab", 20, 1e-45, generator=g)
    assert greedy == sample(model, vocab, "ab", 20, 1e-30, generator=g)  # the likeliest each time


def test_ignored_options_are_said(capsys):
    assert main(["train", "--source", "hi", "--target", "ih", "--model", "rnncell", "--embedding-dim", "5"]) == 0
    assert "warning: --embedding-dim 5 is ignored with --model rnncell" in capsys.readouterr().err
    args = ["seq2seq", "train", "--task", "dates", "--max-len", "9", "--steps", "1", "--hidden-size", "8"]
    assert main([*args, "--no-progress"]) == 0
    assert "warning: --max-len 9 is ignored with --task dates" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly(tmp_path):
    model, vocab = tiny_lm()
    save_checkpoint(tmp_path / "lm.pt", model, vocab)
    cmd = f"{sys.executable} -m rnnlab lm sample --checkpoint {tmp_path / 'lm.pt'} --prompt ab --length 100000 | head -c 10"
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert r.stderr == "" and len(r.stdout) == 10 and r.returncode == 141
