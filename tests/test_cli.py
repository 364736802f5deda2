"""python -m rnnlab train: exit codes, last line, bad arguments."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnnlab.__main__ import main
from rnnlab.train import load_checkpoint


def run(*args):
    return subprocess.run([sys.executable, "-m", "rnnlab", *args], capture_output=True, text=True, timeout=300)


def test_train_prints_prediction_last_and_saves(tmp_path):
    r = run("train", "--source", "hello", "--target", "ohlol", "--model", "gru", "--save", str(tmp_path / "g.pt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ohlol"
    assert "100% from epoch" in r.stderr and "saved" in r.stderr
    model, _vocab, config = load_checkpoint(tmp_path / "g.pt")
    assert model.spec["name"] == "gru" and config["source"] == "hello"


@pytest.mark.parametrize("model", ["rnncell", "rnn", "embed-rnn", "lstm"])
def test_every_model_from_the_command_line(model, capsys):
    assert main(["train", "--source", "hello", "--target", "ohlol", "--model", model, "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "ohlol"


def test_other_strings(capsys):
    assert (
        main(
            [
                "train",
                "--source",
                "abcd",
                "--target",
                "bcda",
                "--model",
                "lstm",
                "--hidden-size",
                "16",
                "--epochs",
                "300",
                "--no-progress",
            ]
        )
        == 0
    )
    assert capsys.readouterr().out.strip().splitlines()[-1] == "bcda"


@pytest.mark.parametrize(
    "args,message",
    [
        (["--source", "hello", "--target", "ohlo"], "equal lengths"),
        (["--source", "", "--target", ""], "non-empty"),
        (["--source", "hi", "--target", "ih", "--model", "bert"], "invalid choice"),
        (["--source", "hi", "--target", "ih", "--model", "rnn", "--hidden-size", "7"], "hidden_size must equal"),
        (["--source", "hi", "--target", "ih", "--epochs", "0"], "--epochs must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message):
    r = run("train", *args)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""


def test_names_train_save_predict(tmp_path, capsys):
    ck, hist = tmp_path / "names.pt", tmp_path / "names.json"
    assert (
        main(
            [
                "names",
                "train",
                "--epochs",
                "1",
                "--hidden-size",
                "32",
                "--save",
                str(ck),
                "--history",
                str(hist),
                "--no-progress",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "validation accuracy" in out and "majority 12.5%" in out and "char counts 50.2%" in out
    import json

    payload = json.loads(hist.read_text())
    assert payload["labels"][0] == "Czech" and len(payload["history"]["val_acc"]) == 1
    model, _, config = load_checkpoint(ck)
    assert model.spec["name"] == "names" and config["labels"] == payload["labels"]
    assert main(["names", "predict", "--checkpoint", str(ck), "--top-k", "2", "Kowalczyk", "Müller"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Kowalczyk: ") and lines[0].count("%") == 2


def test_seq2seq_train_save_run(tmp_path, capsys):
    ck = tmp_path / "dates.pt"
    assert (
        main(
            [
                "seq2seq",
                "train",
                "--steps",
                "20",
                "--eval-every",
                "10",
                "--hidden-size",
                "32",
                "--save",
                str(ck),
                "--no-progress",
            ]
        )
        == 0
    )
    assert "held-out exact match" in capsys.readouterr().out
    assert main(["seq2seq", "run", "--checkpoint", str(ck), "3 March 2021", "Mar 3 2021"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(" -> ")[0] for line in lines] == ["3 March 2021", "Mar 3 2021"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["names", "train", "--hidden-size", "0"], "expected a positive integer, got '0'"),
        (["names", "train", "--lr", "nan"], "expected a positive finite number"),
        (["names", "train", "--save", "/proc/nope/x.pt"], "cannot write there"),
        (["names", "predict", "--checkpoint", "/nonexistent.pt", "Smith"], "no such file"),
        (["seq2seq", "train", "--teacher-forcing", "1.5"], "expected a number in [0, 1]"),
        (["seq2seq", "train", "--teacher-forcing", "nan"], "expected a number in [0, 1]"),
        (["seq2seq", "train", "--steps", "-3"], "expected a positive integer"),
        (["seq2seq", "run", "--checkpoint", "/nonexistent.pt", "x"], "no such file"),
    ],
)
def test_names_and_seq2seq_bad_arguments_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_checkpoint_of_another_task_is_refused(tmp_path, capsys):
    ck = tmp_path / "dates.pt"
    assert main(["seq2seq", "train", "--steps", "2", "--hidden-size", "8", "--save", str(ck), "--no-progress"]) == 0
    with pytest.raises(SystemExit) as e:
        main(["names", "predict", "--checkpoint", str(ck), "Smith"])
    assert e.value.code == 2 and "holds a 'seq2seq' model, not a 'names' one" in capsys.readouterr().err
