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
    model, vocab, config = load_checkpoint(tmp_path / "g.pt")
    assert model.spec["name"] == "gru" and config["source"] == "hello"


@pytest.mark.parametrize("model", ["rnncell", "rnn", "embed-rnn", "lstm"])
def test_every_model_from_the_command_line(model, capsys):
    assert main(["train", "--source", "hello", "--target", "ohlol", "--model", model, "--no-progress"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "ohlol"


def test_other_strings(capsys):
    assert main(["train", "--source", "abcd", "--target", "bcda", "--model", "lstm", "--hidden-size", "16",
                 "--epochs", "300", "--no-progress"]) == 0  # fmt: skip
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
