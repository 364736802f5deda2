"""`python -m rnnlab lm train --text-file`: your own text, refused when it is not text, and the bar it meets."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import torch

from rnnlab.checkpoint import load_checkpoint
from rnnlab.lm import MIN_TEXT_CHARS, baselines, read_text_file


def run(*args):
    return subprocess.run([sys.executable, "-m", "rnnlab", "lm", *args], capture_output=True, text=True, timeout=600)


def python_source(n_chars: int) -> str:
    """``n_chars`` of the standard library's own Python source (it ships with every Python)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    text = ""
    for name in ("_pydecimal.py", "typing.py", "inspect.py", "argparse.py", "turtle.py"):
        text += (stdlib / name).read_text(encoding="utf-8")
        if len(text) >= n_chars:
            return text[:n_chars]
    raise AssertionError(f"this Python's standard library holds fewer than {n_chars} characters in those files")


def chinese_text(n_chars: int, seed: int = 0) -> str:
    """Synthetic Chinese: words of one to three of the 6,763 GB2312 characters drawn with Zipf
    frequencies, in sentences ended by full-width punctuation (no Chinese corpus ships with Python)."""
    chars = []
    for hi in range(0xB0, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    rng = random.Random(seed)
    words = [
        "".join(rng.choices(chars, [1 / (k + 1) for k in range(len(chars))], k=rng.randint(1, 3)))
        for _ in range(20_000)
    ]
    weights = [1 / (k + 1) for k in range(len(words))]
    out, n = [], 0
    while n < n_chars:
        sentence = (
            "".join(rng.choices(words, weights, k=rng.randint(4, 15)))
            + rng.choice("，。；！？")
            + "\n" * (rng.random() < 0.1)
        )
        out.append(sentence)
        n += len(sentence)
    return "".join(out)[:n_chars]


def one_line_refusal(path) -> str:
    r = run("train", "--text-file", str(path), "--no-progress")
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and r.stdout == "", r.stderr
    assert lines[0].startswith("python -m rnnlab lm train: error: --text-file ")
    return lines[0]


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "is empty"),
        (b" \n\n\t ", "is empty"),
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 8, "is binary, not text (a NUL byte at offset 7)"),
        ("中文".encode("gb18030") * 600, "is not UTF-8 text (byte 0xd6 at offset 0)"),
        (b"print('hello')\n", f"is too short: 15 characters, at least {MIN_TEXT_CHARS:,} are needed"),
    ],
)
def test_a_file_that_is_not_text_is_refused_in_one_line(content, message, tmp_path):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    assert message in one_line_refusal(path)


def test_a_text_that_only_repeats_itself_leaves_nothing_to_validate(tmp_path):
    path = tmp_path / "again.txt"
    path.write_text("the same line of text, said over and over again\n" * 40)
    assert "leaving 0 characters to validate on (at least 100 are needed)" in one_line_refusal(path)


def test_a_missing_file_or_a_folder_is_refused_in_one_line(tmp_path):
    assert "cannot read it (No such file or directory)" in one_line_refusal(tmp_path / "nothing.txt")
    assert "cannot read it (Is a directory)" in one_line_refusal(tmp_path)


def test_text_and_text_file_exclude_each_other(tmp_path):
    r = run("train", "--text", "zen", "--text-file", str(tmp_path / "x.txt"))
    assert r.returncode == 2 and "not allowed with argument" in r.stderr


def test_read_text_file_drops_the_bom_and_windows_line_ends(tmp_path):
    path = tmp_path / "win.txt"
    path.write_bytes("\ufeff".encode() + "héllo wörld\r\n".encode() * 100)
    text = read_text_file(path)
    assert text == "héllo wörld\n" * 100 and len(text) >= MIN_TEXT_CHARS


def test_the_sparse_bigram_baseline_equals_the_full_table():
    g = torch.Generator().manual_seed(0)
    V = 37
    train, val = torch.randint(0, V, (5000,), generator=g), torch.randint(0, V, (800,), generator=g)
    pairs = torch.bincount(train[:-1] * V + train[1:], minlength=V * V).double().view(V, V) + 1
    full = -(pairs / pairs.sum(1, keepdim=True)).log()[val[:-1], val[1:]].mean().item() / math.log(2)
    assert baselines(train, val, V)["bigram"] == pytest.approx(full, abs=1e-12)


def test_python_source_of_300_kB_beats_the_unigram_baseline_by_a_bit_per_char(tmp_path):
    # The bar: >= 1 bit/char under the unigram baseline with the default settings (15 passes;
    # 21 s on 2 cores here, the README's figure). Measured: 2.41 bits/char against unigram 4.56.
    source = tmp_path / "stdlib.py"
    source.write_text(python_source(300_000), encoding="utf-8")
    ckpt, hist = tmp_path / "py.pt", tmp_path / "py.json"
    r = run("train", "--text-file", str(source), "--save", str(ckpt), "--history", str(hist), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "text: 300,000 characters" in r.stderr
    payload = json.loads(hist.read_text())
    val, unigram = payload["history"]["val_bpc"][-1], payload["baselines"]["unigram"]
    assert val <= unigram - 1.0, (val, unigram)
    assert payload["settings"]["text"] == "file" and payload["settings"]["text_file"] == str(source)
    s = run("sample", "--checkpoint", str(ckpt), "--prompt", "def ", "--length", "200", "--seed", "1")
    assert s.returncode == 0 and s.stdout.startswith("def ") and len(s.stdout) > 200, s.stderr
    assert "    " in s.stdout  # it has learned Python's indentation


def test_a_vocabulary_of_thousands_of_chinese_characters_trains_and_samples(tmp_path):
    text = chinese_text(60_000)
    assert len(set(text)) > 2_000
    path = tmp_path / "zh.txt"
    path.write_text(text, encoding="utf-8")
    ckpt = tmp_path / "zh.pt"
    r = run(
        "train",
        "--text-file",
        str(path),
        "--max-steps",
        "3",
        "--batch-size",
        "16",
        "--save",
        str(ckpt),
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    model, vocab, _ = load_checkpoint(ckpt)
    assert len(vocab) == len(set(text)) and model.head.out_features == len(vocab)
    s = run("sample", "--checkpoint", str(ckpt), "--length", "40")  # no --prompt: "The " is not in this vocabulary
    assert s.returncode == 0, s.stderr
    assert s.stdout.startswith("\n") and set(s.stdout) <= set(vocab.char2idx) and len(s.stdout.strip()) >= 30
