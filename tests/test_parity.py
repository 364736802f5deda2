"""rnnlab.parity: the data, the model, the training loop's history, and `python -m rnnlab parity train`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint
from rnnlab.parity import ParityConfig, ParityModel, parity_accuracy, parity_batch, train_parity


def test_parity_batch_is_the_running_parity():
    bits, parity = parity_batch(5, 12, torch.Generator().manual_seed(0))
    assert bits.shape == parity.shape == (12, 5)
    for b in range(5):
        ones = 0
        for t in range(12):
            ones += int(bits[t, b])
            assert int(parity[t, b]) == ones % 2


@pytest.mark.parametrize("kind", ["gru", "lstm", "mingru", "minlstm"])
def test_every_kind_gives_logits_at_every_step(kind):
    model = ParityModel(kind, 8, 2)
    bits, _ = parity_batch(3, 7)
    assert model(bits).shape == (7, 3, 2)
    assert 0.0 <= parity_accuracy(model, 9, size=16) <= 1.0


def test_a_gru_learns_parity_and_the_history_records_it():
    torch.manual_seed(0)
    model = ParityModel("gru", 16)
    history = train_parity(model, steps=300, eval_every=150, eval_lengths=(8, 32), progress=False)
    assert history.step == [150, 300] and len(history.accuracy[-1]) == 2
    assert history.loss[-1] < history.loss[0] and min(history.accuracy[-1]) > 0.95


@pytest.mark.parametrize(
    "field, value", [("steps", 0), ("length", -1), ("eval_lengths", ()), ("eval_lengths", (4, 0)), ("lr", 0.0)]
)
def test_the_config_refuses_bad_values(field, value):
    with pytest.raises(ValueError):
        ParityConfig(**{field: value})


def run(*args):
    cmd = [sys.executable, "-m", "rnnlab", "parity", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_cli_trains_stores_the_history_and_a_checkpoint(tmp_path):
    hist, ckpt = tmp_path / "p.json", tmp_path / "p.pt"
    r = run(
        "train", "--kind", "mingru", "--hidden-size", "8", "--steps", "20", "--eval-every", "10",
        "--eval-lengths", "4", "8", "--history", str(hist), "--save", str(ckpt), "--no-progress",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "parity accuracy by length: 4:" in r.stdout
    payload = json.loads(hist.read_text())
    assert payload["settings"]["eval_lengths"] == [4, 8] and payload["history"]["step"] == [10, 20]
    model, vocab, _ = load_checkpoint(ckpt)
    assert isinstance(model, ParityModel) and model.spec["kind"] == "mingru" and vocab.idx2char == ["0", "1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--kind", "rnn"], "invalid choice"),
        (["train", "--eval-lengths", "0"], "expected an integer from 1 to 4096"),
        (["train", "--length", "5000"], "expected an integer from 1 to 4096"),
    ],
)
def test_cli_refuses_bad_arguments(args, message):
    r = run(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
