"""rnnlab.memory: the first-symbol task, its model, the training history, and `python -m rnnlab memory train`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint
from rnnlab.memory import MemoryConfig, MemoryModel, first_symbol_batch, memory_accuracy, train_memory


def test_the_target_is_the_first_symbol():
    x, y = first_symbol_batch(7, 5, 8, torch.Generator().manual_seed(0))
    assert x.shape == (6, 7) and torch.equal(y, x[0]) and int(x.max()) < 8


@pytest.mark.parametrize("kind, fb", [("rnn", None), ("gru", None), ("lstm", None), ("lstm", 3.0)])
def test_models_give_logits_and_take_the_hand_written_backward(kind, fb):
    model = MemoryModel(kind, 8, forget_bias=fb)
    x, _ = first_symbol_batch(3, 4)
    assert model(x).shape == (3, 8) and model.rnn.hand_backward
    if fb is not None:
        H = 8
        assert torch.all(model.rnn.bias_ih_l0[H : 2 * H] == 3.0) and torch.all(model.rnn.bias_hh_l0[H : 2 * H] == 0)


def test_a_short_delay_is_learned_and_recorded():
    torch.manual_seed(0)
    model = MemoryModel("lstm", 16)
    history = train_memory(model, delay=3, steps=200, eval_every=100, eval_size=200, progress=False)
    assert history.step == [100, 200] and history.accuracy[-1] > 0.9 and history.loss[-1] < history.loss[0]
    assert memory_accuracy(model, 3, 200) == history.accuracy[-1]


def test_the_config_and_model_refuse_bad_values():
    with pytest.raises(ValueError):
        MemoryConfig(delay=0)
    with pytest.raises(ValueError, match="forget_bias applies to kind='lstm' only"):
        MemoryModel("gru", forget_bias=1.0)


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "rnnlab", "memory", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_trains_and_stores(tmp_path):
    hist, ckpt = tmp_path / "m.json", tmp_path / "m.pt"
    r = run("train", "--kind", "lstm", "--forget-bias", "3", "--delay", "4", "--hidden-size", "8", "--steps", "20",
            "--eval-every", "10", "--history", str(hist), "--save", str(ckpt), "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "lstm (forget bias 3), delay 4, 20 steps: held-out accuracy" in r.stdout
    payload = json.loads(hist.read_text())
    assert payload["settings"]["delay"] == 4 and payload["history"]["step"] == [10, 20]
    model, vocab, _ = load_checkpoint(ckpt)
    assert isinstance(model, MemoryModel) and model.spec["forget_bias"] == 3.0 and len(vocab) == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--kind", "gru", "--forget-bias", "1"], "--forget-bias applies to --kind lstm only"),
        (["train", "--delay", "0"], "expected an integer from 1 to 4096"),
        (["train", "--symbols", "1"], "expected an integer from 2 to 256"),
    ],
)
def test_cli_refuses_bad_arguments(args, message):
    r = run(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
