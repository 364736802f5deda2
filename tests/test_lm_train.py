"""rnnlab.lm: baselines, evaluation, train_lm, sampling, checkpoints, and `python -m rnnlab lm`."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.lm import (
    CharLM,
    LMConfig,
    LMHistory,
    baselines,
    evaluate,
    sample,
    split_text,
    stream_batches,
    train_lm,
    zen_of_python,
)
from rnnlab.vocab import CharVocab


@pytest.fixture(scope="module")
def zen():
    text = zen_of_python()
    vocab = CharVocab.from_strings(text)
    train, val = split_text(text, 0.2)
    return vocab, vocab.encode(train), vocab.encode(val)


def test_baselines_by_hand():
    train, val = torch.tensor([0, 1, 0, 1, 0, 1]), torch.tensor([0, 1, 1])
    b = baselines(train, val, 3)
    assert b["uniform"] == pytest.approx(math.log2(3))
    p_uni = {0: 4 / 9, 1: 4 / 9}  # counts 3, 3, 0 plus one each
    assert b["unigram"] == pytest.approx(-(math.log2(p_uni[0]) + 2 * math.log2(p_uni[1])) / 3)
    p01, p11 = (3 + 1) / (3 + 3), (0 + 1) / (2 + 3)  # after 0: 0->1 three times; after 1: 1->0 twice
    assert b["bigram"] == pytest.approx(-(math.log2(p01) + math.log2(p11)) / 2)


def test_evaluate_equals_cross_entropy_in_bits(zen):
    vocab, _, val = zen
    torch.manual_seed(0)
    model = CharLM(len(vocab), "gru", 8, 16)
    with torch.no_grad():
        logits, _ = model(val[:-1].unsqueeze(1))
        want = torch.nn.functional.cross_entropy(logits[:, 0], val[1:]).item() / math.log(2)
    assert evaluate(model, val, batch_size=1, seq_len=len(val)) == pytest.approx(want, abs=1e-5)
    assert model.training  # restored


def test_train_lm_learns_and_reports(zen):
    vocab, train, val = zen
    torch.manual_seed(0)
    model = CharLM(len(vocab), "lstm", 16, 64)
    seen = []
    history = train_lm(
        model,
        train,
        val,
        batch_size=4,
        seq_len=40,
        lr=0.01,
        max_steps=60,
        eval_every=20,
        progress=False,
        on_eval=lambda step, r: seen.append(step),
    )
    assert history.step == seen == [20, 40, 60]
    sizes = [y.numel() for _, y in stream_batches(train, 4, 40)]
    assert history.chars[-1] == sum(sizes[k % len(sizes)] for k in range(60))  # passes restart from chunk 0
    assert history.val_bpc[-1] < history.val_bpc[0] and history.train_bpc[-1] < history.train_bpc[0]
    assert LMHistory.from_dict(json.loads(json.dumps(history.to_dict()))) == history


@pytest.mark.parametrize(
    "field,value",
    [
        ("epochs", 0),
        ("batch_size", -1),
        ("lr", float("nan")),
        ("lr", 0),
        ("clip", -1.0),
        ("max_steps", 0),
        ("eval_every", -1),
    ],
)
def test_lm_config_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        LMConfig(**{field: value})


def test_sample_is_seeded_and_respects_top_k(zen):
    vocab, _, _ = zen
    torch.manual_seed(0)
    model = CharLM(len(vocab), "gru", 8, 16)
    a = sample(model, vocab, "The ", 40, generator=torch.Generator().manual_seed(1))
    b = sample(model, vocab, "The ", 40, generator=torch.Generator().manual_seed(1))
    assert a == b and a.startswith("The ") and len(a) == 44
    greedy_ish = sample(model, vocab, "The ", 20, top_k=1, generator=torch.Generator().manual_seed(2))
    again = sample(model, vocab, "The ", 20, top_k=1, generator=torch.Generator().manual_seed(3))
    assert greedy_ish == again  # top-1 is deterministic whatever the seed
    for kwargs, match in (({"temperature": 0}, "temperature"), ({"top_k": 0}, "top_k"), ({"length": -1}, "length")):
        with pytest.raises(ValueError, match=match):
            sample(model, vocab, "The ", **kwargs)
    with pytest.raises(ValueError, match="prompt"):
        sample(model, vocab, "")


def test_sample_draws_on_the_cpu_so_a_seed_repeats_on_any_device(zen, monkeypatch):
    vocab, _, _ = zen
    torch.manual_seed(0)
    model = CharLM(len(vocab), "lstm", 8, 16)
    expected = sample(model, vocab, "The ", 30, generator=torch.Generator().manual_seed(5))
    draws, real = [], torch.multinomial
    monkeypatch.setattr(torch, "multinomial", lambda p, n, **kw: draws.append(p.device.type) or real(p, n, **kw))
    assert sample(model.double(), vocab, "The ", 30, generator=torch.Generator().manual_seed(5)) == expected
    assert draws == ["cpu"] * 30  # float64 model, same text: probabilities are drawn from as float32 on the CPU
    if torch.cuda.is_available():
        assert sample(model.float().cuda(), vocab, "The ", 30, generator=torch.Generator().manual_seed(5)) == expected


def test_charlm_checkpoint_round_trip(tmp_path, zen):
    vocab, _, val = zen
    torch.manual_seed(0)
    model = CharLM(len(vocab), "gru", 8, 16, num_layers=2, impl="torch")
    path = save_checkpoint(tmp_path / "lm.pt", model, vocab, {"seed": 0})
    restored, v2, config = load_checkpoint(path)
    assert isinstance(restored, CharLM) and restored.impl == "rnnlab" and v2 == vocab and config == {"seed": 0}
    assert evaluate(restored, val) == pytest.approx(evaluate(model, val), abs=1e-5)


def run(*args):
    return subprocess.run([sys.executable, "-m", "rnnlab", "lm", *args], capture_output=True, text=True, timeout=300)


def test_cli_train_then_sample(tmp_path):
    ckpt, hist = tmp_path / "lm.pt", tmp_path / "h.json"
    r = run(
        "train",
        "--text",
        "zen",
        "--max-steps",
        "6",
        "--eval-every",
        "3",
        "--batch-size",
        "4",
        "--hidden-size",
        "16",
        "--save",
        str(ckpt),
        "--history",
        str(hist),
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    assert "bits/char" in r.stdout.strip().splitlines()[-1] and "unigram" in r.stdout
    payload = json.loads(hist.read_text())
    assert payload["history"]["step"] == [3, 6] and payload["settings"]["hidden_size"] == 16
    s = run("sample", "--checkpoint", str(ckpt), "--prompt", "Beautiful", "--length", "30", "--seed", "4")
    assert s.returncode == 0, s.stderr
    assert s.stdout.startswith("Beautiful") and len(s.stdout.rstrip("\n")) >= 39
    assert (
        s.stdout
        == run("sample", "--checkpoint", str(ckpt), "--prompt", "Beautiful", "--length", "30", "--seed", "4").stdout
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--hidden-size", "0"], "expected an integer from 1 to 4096"),
        (["train", "--lr", "nan"], "positive finite number"),
        (["train", "--clip", "-1"], "positive finite number"),
        (["train", "--save", "/proc/nowhere/lm.pt"], "cannot write in /proc/nowhere"),
        (["sample", "--checkpoint", "/no/such.pt"], "no such file"),
        (["sample", "--checkpoint", __file__], "is not an rnnlab checkpoint: it is not a file torch.save wrote"),
        (["sample", "--checkpoint", "CKPT", "--prompt", "日本"], "unknown"),
        (["sample", "--checkpoint", "CKPT", "--temperature", "0"], "positive finite number"),
    ],
)
def test_cli_refuses_bad_arguments(args, message, tmp_path):
    if "CKPT" in args:
        torch.manual_seed(0)
        vocab = CharVocab.from_strings(zen_of_python())
        args = [
            str(save_checkpoint(tmp_path / "m.pt", CharLM(len(vocab), "gru", 4, 8), vocab)) if a == "CKPT" else a
            for a in args
        ]
    r = run(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_the_parallel_kinds_train_carry_their_state_and_round_trip(kind, tmp_path, zen):
    from rnnlab.minimal import MinGRU, MinLSTM

    vocab, train, val = zen
    torch.manual_seed(0)
    model = CharLM(len(vocab), kind, 8, 16, num_layers=2)
    assert isinstance(model.rnn, {"mingru": MinGRU, "minlstm": MinLSTM}[kind])
    timings = []
    history = train_lm(model, train, val, max_steps=6, eval_every=3, batch_size=4, progress=False, timings=timings)
    assert history.step == [3, 6] and 0 < timings[0] <= timings[1]
    path = save_checkpoint(tmp_path / "lm.pt", model, vocab)
    restored, _, _ = load_checkpoint(path)
    assert evaluate(restored, val) == pytest.approx(evaluate(model, val), abs=1e-6)
    text = sample(restored, vocab, "Beautiful", 20, generator=torch.Generator().manual_seed(0))
    assert text.startswith("Beautiful") and len(text) == 29


def test_the_parallel_kinds_are_refused_with_torch_or_dropout():
    with pytest.raises(ValueError, match="exists in rnnlab only"):
        CharLM(10, "mingru", impl="torch")
    with pytest.raises(ValueError, match="no dropout between layers"):
        CharLM(10, "minlstm", num_layers=2, dropout=0.2)
    r = run("train", "--kind", "mingru", "--impl", "torch", "--text", "zen")
    assert r.returncode == 2 and "exists in rnnlab only" in r.stderr and "Traceback" not in r.stderr, r.stderr
