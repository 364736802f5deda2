"""python -m rnnlab train: exit codes, last line, bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnlab.checkpoint import load_checkpoint
from rnnlab.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "rnnlab", *args], capture_output=True, text=True, timeout=300)


def test_train_prints_prediction_last_and_saves(tmp_path):
    r = run("train", "--source", "hello", "--target", "ohlol", "--model", "gru", "--save", str(tmp_path / "g.pt"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "ohlol"
    assert "final accuracy 100%" in r.stderr and "saved" in r.stderr and "warning" not in r.stderr
    assert "200 epochs" in r.stderr  # no early stop unless asked
    model, _vocab, config = load_checkpoint(tmp_path / "g.pt")
    assert model.spec["name"] == "gru" and config["source"] == "hello"


@pytest.mark.parametrize("model", ["rnncell", "rnn", "embed-rnn", "lstm"])
def test_every_model_from_the_command_line(model, capsys):
    # The one-hot models (state = logits, bounded by tanh) reach 100% at epoch 14, then drift to a
    # lower-loss 80% solution by epoch 200 (measured): they need --early-stop; the run without it warns.
    early = ["--early-stop"] if model in ("rnncell", "rnn") else []
    assert main(["train", "--source", "hello", "--target", "ohlol", "--model", model, "--no-progress", *early]) == 0
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
        (
            ["--source", "hi", "--target", "ih", "--epochs", "0"],
            "--epochs: expected an integer from 1 to 100000, got 0",
        ),
        (["--source", "hi", "--target", "ih", "--hidden-size", "0"], "--hidden-size: expected an integer from 1 to"),
        (["--source", "hi", "--target", "ih", "--embedding-dim", "-3"], "--embedding-dim: expected an integer from 1"),
        (["--source", "hi", "--target", "ih", "--clip", "-1"], "--clip: expected a positive finite number, got '-1'"),
        (["--source", "hi", "--target", "ih", "--lr", "nan"], "--lr: expected a positive finite number, got 'nan'"),
        (["--source", "hi", "--target", "ih", "--lr", "inf"], "--lr: expected a positive finite number"),
        (["--source", "hi", "--target", "ih", "--save", "/proc/nope/x.pt"], "--save /proc/nope/x.pt: cannot write"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, message):
    r = run("train", *args)
    assert r.returncode == 2 and message in r.stderr and r.stdout == ""
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()[-1]) < 200


def test_a_run_below_100_percent_says_so_on_stderr(capsys):
    # seed 0: the one-hot RNN stalls at 80% on hello -> ohlol (measured; the warning is the point)
    args = ["train", "--source", "hello", "--target", "ohlol", "--model", "rnn", "--seed", "0", "--epochs", "100"]
    assert main([*args, "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() != "ohlol"
    assert "warning: training ended at 80% accuracy" in err and "1 of 5 characters wrong" in err
    assert "--model gru --hidden-size 16" in err


def test_early_stop_only_when_asked(capsys):
    base = ["train", "--source", "hello", "--target", "ohlol", "--model", "gru", "--epochs", "300", "--no-progress"]
    assert main(base) == 0
    assert "300 epochs" in capsys.readouterr().err
    assert main([*base, "--early-stop"]) == 0
    err = capsys.readouterr().err
    stopped = int(err.split("model gru: ")[1].split(" epochs")[0])
    assert stopped < 300 and f"100% first at epoch {stopped}" in err


def test_progress_bar_does_not_flood_a_piped_log():
    """Without a TTY, a 300-epoch run redraws the bar a handful of times, not once per epoch."""
    r = run("train", "--source", "hello", "--target", "ohlol", "--model", "gru", "--epochs", "300")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("\r") < 30, r.stderr.count("\r")


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


def test_seq2seq_reverse_reports_and_stores_exact_match_by_length(tmp_path, capsys):
    hist = tmp_path / "rev.json"
    args = ["seq2seq", "train", "--task", "reverse", "--max-len", "5", "--steps", "4", "--eval-every", "2"]
    assert main([*args, "--hidden-size", "8", "--history", str(hist), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "by length: 2: " in out and " 5: " in out and " 6: " not in out
    h = json.loads(hist.read_text())["history"]
    assert h["final_lengths"] == [2, 3, 4, 5] and len(h["final_exact_by_length"]) == 4
    assert h["eval_steps"] == [2, 4] and len(h["val_char_forced"]) == len(h["val_char_free"]) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["names", "train", "--hidden-size", "0"], "expected an integer from 1 to 4096, got 0"),
        (["names", "train", "--lr", "nan"], "expected a positive finite number"),
        (["names", "train", "--save", "/proc/nope/x.pt"], "cannot write in /proc/nope"),
        (["names", "predict", "--checkpoint", "/nonexistent.pt", "Smith"], "no such file"),
        (["seq2seq", "train", "--teacher-forcing", "1.5"], "expected a number in [0, 1]"),
        (["seq2seq", "train", "--teacher-forcing", "nan"], "expected a number in [0, 1]"),
        (["seq2seq", "train", "--steps", "-3"], "expected an integer from 1 to 1000000, got -3"),
        (["seq2seq", "run", "--checkpoint", "/nonexistent.pt", "x"], "no such file"),
        (["seq2seq", "train", "--task", "reverse", "--max-len", "1"], "--max-len: expected an integer from 2 to 50"),
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


def test_the_headline_example_ends_right_with_its_defaults_over_ten_seeds():
    """`python -m rnnlab train --source hello --target ohlol --model M` (the CLI's defaults: 200 epochs of Adam at
    lr 0.1, the best epoch kept) over seeds 0-9 for the five models. Measured: the embedding models reach 100 % on
    every seed; the one-hot models on 8 of 10, and one of those 8 (seed 1, the default) drifts back to 80 % by
    epoch 200 under Adam, so without restore_best only 7 would end right. Every run that reached 100 % must end at 100 %, the default
    seed (1) included; a run that never did is the warning's case."""
    from rnnlab.labelling import MODEL_NAMES, PairDataset, TrainConfig, build_model, fit, predict
    from rnnlab.loop import set_seed

    data = PairDataset([("hello", "ohlol")])
    config = TrainConfig(early_stop=False, restore_best=True, progress=False)  # the CLI's defaults
    ended_right, drifted = {}, {}
    for name in MODEL_NAMES:
        for seed in range(10):
            set_seed(seed)
            model = build_model(name, len(data.vocab))
            h = fit(model, data, config)
            right = predict(model, data)[0] == "ohlol"
            assert right == (h.epochs_to_100 is not None), (name, seed)  # reached 100 % <=> ends right
            assert right or seed != 1, name
            ended_right[name] = ended_right.get(name, 0) + right
            drifted[name] = drifted.get(name, 0) + (right and h.accuracy[-1] < 1)
    assert all(ended_right[m] == 10 for m in ("embed-rnn", "lstm", "gru")), ended_right
    assert all(ended_right[m] >= 7 for m in ("rnncell", "rnn")), ended_right
    assert drifted["rnncell"] >= 1  # without keeping the best epoch, the default seed's run ends wrong


def test_the_one_hot_headline_run_keeps_its_best_epoch(capsys):
    assert main(["train", "--source", "hello", "--target", "ohlol", "--model", "rnncell", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "ohlol" and "kept the weights of epoch" in err and "warning" not in err
    assert main(["train", "--source", "hello", "--target", "ohlol", "--model", "rnncell", "--keep-last"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() != "ohlol" and "warning: training ended at 80%" in err  # the drift it avoids


def test_seq2seq_with_attention_trains_saves_runs_and_compares_beams(tmp_path, capsys):
    save, hist = tmp_path / "att.pt", tmp_path / "att.json"
    args = ["seq2seq", "train", "--task", "reverse", "--max-len", "6", "--attention", "dot", "--hidden-size", "16"]
    assert (
        main(
            [*args, "--steps", "4", "--eval-every", "2", "--beam", "3", "--no-progress"]
            + ["--save", str(save), "--history", str(hist)]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "dot attention" in out and "beam 3: exact" in out
    payload = json.loads(hist.read_text())
    assert payload["settings"]["attention"] == "dot" and payload["settings"]["lr"] == 3e-3  # attention's default
    assert payload["settings"]["lr_decay"] == "linear"
    assert set(payload["evaluation"]["beam"]) >= {"greedy_exact", "beam_exact", "greedy_mean_logprob"}
    assert main(["seq2seq", "run", "--checkpoint", str(save), "abc", "hello"]) == 0
    assert capsys.readouterr().out.count(" -> ") == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--attention", "bahdanau"], "invalid choice: 'bahdanau'"),
        (["--beam", "1"], "--beam: expected an integer from 2 to 20"),
    ],
)
def test_seq2seq_attention_bad_arguments(args, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(["seq2seq", "train", *args])
    assert e.value.code == 2 and message in capsys.readouterr().err
