"""Command line.

``python -m rnnlab train --source hello --target ohlol --model gru`` trains one of the five
character models on a pair of equal-length strings and prints the final prediction as its last
line of stdout.

``python -m rnnlab lm train --save lm.pt`` trains the character language model of notebook 09
on the Python documentation's text (shipped with Python, no download) and prints its validation
bits per character next to the baselines; ``python -m rnnlab lm sample --checkpoint lm.pt
--prompt "The " --temperature 0.8`` continues a prompt.

``python -m rnnlab names train --save names.pt`` trains notebook 10's surname classifier and
``python -m rnnlab names predict --checkpoint names.pt Schmidt Rossi`` names the likely
languages; ``python -m rnnlab seq2seq train --task dates --save dates.pt`` trains notebook 11's
encoder–decoder and ``python -m rnnlab seq2seq run --checkpoint dates.pt "3 March 2021"``
decodes new inputs.

Progress goes to stderr; bad arguments are refused up front with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

from rnnlab.data import PairDataset, validate_pair
from rnnlab.models import MODEL_NAMES, build_model
from rnnlab.train import TrainConfig, atomic_write, fit, get_device, predict, save_checkpoint, set_seed
from rnnlab.validation import IMPLS


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rnnlab", description="rnnlab command line")
    sub = ap.add_subparsers(dest="command", required=True)
    tr = sub.add_parser(
        "train",
        help="train a character model on SOURCE -> TARGET",
        description="Train a character model to map SOURCE to TARGET, one character per step.",
    )
    tr.add_argument("--source", required=True, help="input string, e.g. hello")
    tr.add_argument("--target", required=True, help="output string of the same length, e.g. ohlol")
    tr.add_argument("--model", choices=MODEL_NAMES, default="gru")
    tr.add_argument(
        "--hidden-size",
        type=_positive_int,
        default=None,
        help="hidden size of the embedding models (default 8; the one-hot models use the vocabulary size)",
    )
    tr.add_argument("--embedding-dim", type=_positive_int, default=None, help="embedding size (default 10)")
    tr.add_argument(
        "--epochs", type=_positive_int, default=TrainConfig.epochs, help="epochs to train (default %(default)s)"
    )
    tr.add_argument(
        "--early-stop",
        action="store_true",
        help="stop at the first epoch with every character right (default: train all --epochs)",
    )
    tr.add_argument("--lr", type=_positive_float, default=TrainConfig.lr)
    tr.add_argument("--clip", type=_positive_float, default=None, help="max gradient norm (a positive number)")
    tr.add_argument(
        "--seed", type=int, default=1, help="random seed (default 1; with some seeds the one-hot models stall at 80%%)"
    )
    tr.add_argument("--save", metavar="PATH", default=None, help="write a checkpoint here (atomically)")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(handler=_train, parser=tr)
    _lm_parsers(sub)
    _names_parsers(sub)
    _seq2seq_parsers(sub)
    return ap


def _positive(kind: type) -> Callable[[str], int | float]:
    """An argparse type: a positive (finite) ``int`` or ``float``."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (math.isfinite(value) and value > 0):
            what = "integer" if kind is int else "finite number"
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}")
        return value

    return parse


_positive_int, _positive_float = _positive(int), _positive(float)


def _model_options(tr: argparse.ArgumentParser, hidden_size: int, embedding_dim: int, num_layers: bool = True) -> None:
    """The options every recurrent model of the command line takes."""
    tr.add_argument(
        "--impl",
        choices=IMPLS,
        default="rnnlab",
        help="rnnlab's from-scratch layers or torch.nn's fused ones (same weights)",
    )
    tr.add_argument("--hidden-size", type=_positive_int, default=hidden_size)
    tr.add_argument("--embedding-dim", type=_positive_int, default=embedding_dim)
    if num_layers:
        tr.add_argument("--num-layers", type=_positive_int, default=1)


def _run_options(tr: argparse.ArgumentParser, config) -> None:
    """Optimiser, seed and output options, with defaults from a training config class."""
    tr.add_argument("--batch-size", type=_positive_int, default=config.batch_size)
    tr.add_argument("--lr", type=_positive_float, default=config.lr)
    tr.add_argument("--clip", type=_positive_float, default=config.clip, help="max gradient norm")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save", metavar="PATH", default=None, help="write a checkpoint here (atomically)")
    tr.add_argument("--history", metavar="PATH", default=None, help="write the history as JSON here")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _lm_parsers(sub) -> None:
    from rnnlab.lm import LMConfig

    lm = sub.add_parser(
        "lm",
        help="character language model on real text (notebook 09)",
        description="Train or sample the character language model of notebook 09.",
    )
    lm_sub = lm.add_subparsers(dest="action", required=True)
    tr = lm_sub.add_parser(
        "train",
        help="train on the Python documentation's text",
        description="Train Embedding -> LSTM/GRU/RNN -> Linear on pydoc_data.topics "
        "(about 465k characters that ship with Python) with truncated BPTT.",
    )
    tr.add_argument(
        "--text",
        choices=("docs", "zen"),
        default="docs",
        help="docs: the Python reference's help topics (default); zen: the Zen of Python",
    )
    tr.add_argument("--kind", choices=("lstm", "gru", "rnn"), default="lstm")
    _model_options(tr, hidden_size=128, embedding_dim=32)
    tr.add_argument("--epochs", type=_positive_int, default=15)
    tr.add_argument("--max-steps", type=_positive_int, default=None, help="stop after this many steps")
    tr.add_argument("--seq-len", type=_positive_int, default=LMConfig.seq_len)
    tr.add_argument("--eval-every", type=_positive_int, default=100, help="validate every N steps")
    _run_options(tr, LMConfig)
    tr.set_defaults(handler=_lm_train, parser=tr)
    sa = lm_sub.add_parser("sample", help="continue a prompt with a trained model")
    sa.add_argument("--checkpoint", required=True, metavar="PATH")
    sa.add_argument("--prompt", default="The ")
    sa.add_argument("--length", type=_positive_int, default=300)
    sa.add_argument("--temperature", type=_positive_float, default=0.8)
    sa.add_argument("--top-k", type=_positive_int, default=None)
    sa.add_argument("--seed", type=int, default=0)
    sa.set_defaults(handler=_lm_sample, parser=sa)


def _names_parsers(sub) -> None:
    from rnnlab.classify import ClassifyConfig

    top = sub.add_parser(
        "names",
        help="surname -> language classifier (notebook 10)",
        description="Train or use the bidirectional GRU surname classifier of notebook 10.",
    )
    names_sub = top.add_subparsers(dest="action", required=True)
    tr = names_sub.add_parser("train", help="train on the faker package's surname lists")
    tr.add_argument(
        "--readout",
        choices=("final", "mean"),
        default="final",
        help="final states of both directions (default) or the masked mean of the outputs",
    )
    _model_options(tr, hidden_size=128, embedding_dim=32)
    tr.add_argument("--epochs", type=_positive_int, default=ClassifyConfig.epochs)
    _run_options(tr, ClassifyConfig)
    tr.set_defaults(handler=_names_train, parser=tr)
    pr = names_sub.add_parser("predict", help="the likely languages of surnames")
    pr.add_argument("--checkpoint", required=True, metavar="PATH")
    pr.add_argument("--top-k", type=_positive_int, default=3)
    pr.add_argument("name", nargs="+", help="surnames (accents and capitals are fine)")
    pr.set_defaults(handler=_names_predict, parser=pr)


def _seq2seq_parsers(sub) -> None:
    from rnnlab.seq2seq import Seq2SeqConfig

    top = sub.add_parser(
        "seq2seq",
        help="encoder-decoder on a generated task (notebook 11)",
        description="Train or run the GRU encoder-decoder of notebook 11.",
    )
    s2s_sub = top.add_subparsers(dest="action", required=True)
    tr = s2s_sub.add_parser("train", help="train on generated pairs")
    tr.add_argument(
        "--task",
        choices=("dates", "reverse"),
        default="dates",
        help="dates: '3 March 2021' -> '2021-03-03' (default); reverse: 'abc' -> 'cba'",
    )
    tr.add_argument("--max-len", type=_positive_int, default=14, help="longest string of the reverse task (from 2)")
    _model_options(tr, hidden_size=128, embedding_dim=16, num_layers=False)
    tr.add_argument("--steps", type=_positive_int, default=1000)
    tr.add_argument(
        "--teacher-forcing",
        type=_probability,
        default=1.0,
        help="probability of feeding the true previous character (1 = teacher forcing, 0 = free running)",
    )
    tr.add_argument("--eval-every", type=_positive_int, default=100)
    _run_options(tr, Seq2SeqConfig)
    tr.set_defaults(handler=_seq2seq_train, parser=tr)
    run = s2s_sub.add_parser("run", help="decode inputs with a trained model (greedy)")
    run.add_argument("--checkpoint", required=True, metavar="PATH")
    run.add_argument("text", nargs="+", help="inputs, e.g. '3 March 2021'")
    run.set_defaults(handler=_seq2seq_run, parser=run)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def _settings(args) -> dict:
    """The training settings of a run, as stored in its checkpoint and history."""
    skip = {"command", "action", "handler", "parser", "save", "history", "no_progress"}
    return {k: v for k, v in vars(args).items() if k not in skip}


def _check_outputs(ap: argparse.ArgumentParser, args) -> None:
    """Refuse unwritable --save / --history paths before any training."""
    _writable(ap, "--save", args.save)
    _writable(ap, "--history", args.history)


def _write_outputs(
    args, model, vocab, history: dict, labels: list[str] | None = None, baselines: dict | None = None
) -> None:
    """The checkpoint (--save; its config: the settings, and the class labels if any) and the
    history JSON (--history; also the baselines), each written atomically."""
    settings = _settings(args)
    extra = {} if labels is None else {"labels": labels}
    if args.save:
        print(f"saved {save_checkpoint(args.save, model, vocab, {**settings, **extra})}", file=sys.stderr)
    if args.history:
        payload = {
            "settings": settings,
            **extra,
            **({} if baselines is None else {"baselines": baselines}),
            "history": history,
        }
        atomic_write(args.history, lambda f: f.write((json.dumps(payload, indent=1) + "\n").encode()))
        print(f"wrote {args.history}", file=sys.stderr)


def _load(ap: argparse.ArgumentParser, path: str, name: str):
    from rnnlab.train import load_checkpoint

    if not Path(path).is_file():
        ap.error(f"--checkpoint {path}: no such file")
    try:
        model, vocab, config = load_checkpoint(path)
    except Exception as e:  # not a checkpoint, or another format
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        ap.error(f"--checkpoint {path}: not a readable rnnlab checkpoint ({first})")
    if model.spec.get("name") != name:
        ap.error(f"--checkpoint {path}: holds a '{model.spec.get('name')}' model, not a '{name}' one")
    return model.to(get_device()), vocab, config


def _names_train(ap: argparse.ArgumentParser, args) -> int:
    from rnnlab.classify import ClassifyConfig, NameClassifier, char_count_baseline, majority_baseline, train_classifier
    from rnnlab.data import PAD, CharVocab, split_labelled, surnames

    _check_outputs(ap, args)
    groups = surnames()
    train, val = split_labelled(groups)
    labels = list(groups)
    vocab = CharVocab.from_strings(*(n for n, _ in train + val), specials=(PAD,))
    set_seed(args.seed)
    model = NameClassifier(
        len(vocab),
        len(labels),
        args.embedding_dim,
        args.hidden_size,
        args.num_layers,
        readout=args.readout,
        impl=args.impl,
    ).to(get_device())
    config = ClassifyConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed, clip=args.clip)
    history = train_classifier(model, train, val, vocab, config, progress=not args.no_progress)
    base = {
        "majority": majority_baseline(train, val),
        "char counts": char_count_baseline(train, val),
        "char pairs": char_count_baseline(train, val, 2),
        "char trigrams": char_count_baseline(train, val, 3),
    }
    _write_outputs(args, model, vocab, history.to_dict(), labels=labels, baselines=base)
    print(
        f"validation accuracy {history.val_acc[-1]:.1%} after {args.epochs} epochs; baselines: "
        + ", ".join(f"{k} {v:.1%}" for k, v in base.items())
    )
    return 0


def _names_predict(ap: argparse.ArgumentParser, args) -> int:
    from rnnlab.classify import predict_names

    model, vocab, config = _load(ap, args.checkpoint, "names")
    try:
        ranked = predict_names(model, args.name, vocab, config["labels"], args.top_k)
    except ValueError as e:
        ap.error(str(e))
    for name, top in zip(args.name, ranked):
        print(f"{name}: " + ", ".join(f"{lang} {p:.0%}" for lang, p in top))
    return 0


def _task_pairs(task: str, max_len: int) -> tuple[list, list]:
    from rnnlab.data import date_pairs, reversal_pairs

    if task == "dates":
        return date_pairs(20000, seed=0), date_pairs(1000, seed=1, held_out=True)
    return reversal_pairs(20000, 2, max_len, seed=0), reversal_pairs(1000, 2, max_len, seed=1)  # notebook 11's


def _seq2seq_train(ap: argparse.ArgumentParser, args) -> int:
    from rnnlab.data import END, PAD, START, CharVocab
    from rnnlab.seq2seq import Seq2Seq, Seq2SeqConfig, train_seq2seq

    if args.task == "reverse" and args.max_len < 2:
        ap.error(
            f"--max-len must be at least 2 (the reverse task's strings have 2 to --max-len letters), got {args.max_len}"
        )
    _check_outputs(ap, args)
    train, val = _task_pairs(args.task, args.max_len)
    vocab = CharVocab.from_strings(*(s + t for s, t in train + val), specials=(PAD, START, END))
    set_seed(args.seed)
    model = Seq2Seq(len(vocab), args.embedding_dim, args.hidden_size, impl=args.impl).to(get_device())
    config = Seq2SeqConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        teacher_forcing=args.teacher_forcing,
        clip=args.clip,
        seed=args.seed,
        eval_every=args.eval_every,
    )
    history = train_seq2seq(model, train, val, vocab, config, progress=not args.no_progress)
    _write_outputs(args, model, vocab, history.to_dict())
    print(
        f"{args.task}, teacher forcing {args.teacher_forcing:g}, {args.steps} steps: "
        f"held-out exact match {history.val_exact[-1]:.1%}"
    )
    if args.task == "reverse":
        print(
            "by length: "
            + "  ".join(f"{n}: {a:.0%}" for n, a in zip(history.final_lengths, history.final_exact_by_length))
        )
    return 0


def _seq2seq_run(ap: argparse.ArgumentParser, args) -> int:
    from rnnlab.seq2seq import translate

    model, vocab, _ = _load(ap, args.checkpoint, "seq2seq")
    try:
        outputs = translate(model, args.text, vocab)
    except ValueError as e:
        ap.error(str(e))
    for text, out in zip(args.text, outputs):
        print(f"{text} -> {out}")
    return 0


def _writable(ap: argparse.ArgumentParser, option: str, path: str | None) -> None:
    """Refuse, before any training, a path that cannot be written: try a file beside it."""
    if path is None:
        return
    import tempfile

    target = Path(path)
    try:
        if target.is_dir():
            raise IsADirectoryError(f"{path} is a folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        ap.error(f"{option} {path}: cannot write there ({e.strerror or e})")


def _lm_train(ap: argparse.ArgumentParser, args) -> int:
    from rnnlab.data import CharVocab, python_docs_text, split_text, zen_of_python
    from rnnlab.lm import LMConfig, baselines, train_lm
    from rnnlab.models import CharLM

    _check_outputs(ap, args)
    text = python_docs_text() if args.text == "docs" else zen_of_python()
    vocab = CharVocab.from_strings(text)
    train, val = split_text(text, 0.1)
    train_ids, val_ids = vocab.encode(train), vocab.encode(val)
    set_seed(args.seed)
    model = CharLM(len(vocab), args.kind, args.embedding_dim, args.hidden_size, args.num_layers, impl=args.impl).to(
        get_device()
    )
    config = LMConfig(
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        lr=args.lr,
        clip=args.clip,
        eval_every=args.eval_every,
        progress=not args.no_progress,
    )
    history = train_lm(model, train_ids, val_ids, config)
    base = baselines(train_ids, val_ids, len(vocab))
    _write_outputs(args, model, vocab, history.to_dict(), baselines=base)
    print(
        f"{args.kind} ({args.impl}), {history.step[-1]} steps: validation {history.val_bpc[-1]:.3f} bits/char; "
        f"baselines: uniform {base['uniform']:.3f}, unigram {base['unigram']:.3f}, bigram {base['bigram']:.3f}"
    )
    return 0


def _lm_sample(ap: argparse.ArgumentParser, args) -> int:
    import torch

    from rnnlab.lm import sample

    model, vocab, _ = _load(ap, args.checkpoint, "charlm")
    unknown = sorted(set(args.prompt) - set(vocab.char2idx))
    if not args.prompt or unknown:
        ap.error(f"--prompt must be non-empty and use the model's characters; unknown: {unknown}")
    if args.top_k is not None and args.top_k > len(vocab):
        ap.error(f"--top-k must be at most the vocabulary size {len(vocab)}")
    g = torch.Generator().manual_seed(args.seed)  # sample() draws on the CPU: the same text on any device
    print(sample(model, vocab, args.prompt, args.length, args.temperature, args.top_k, generator=g))
    return 0


def _train(ap: argparse.ArgumentParser, args) -> int:
    try:
        validate_pair(args.source, args.target)
    except ValueError as e:
        ap.error(str(e))
    _writable(ap, "--save", args.save)
    set_seed(args.seed)
    data = PairDataset([(args.source, args.target)])
    try:
        model = build_model(args.model, len(data.vocab), args.hidden_size, args.embedding_dim)
    except ValueError as e:
        ap.error(str(e))
    model.to(get_device())
    config = TrainConfig(
        epochs=args.epochs, lr=args.lr, clip=args.clip, early_stop=args.early_stop, progress=not args.no_progress
    )
    history = fit(model, data, config)
    reached = history.epochs_to_100
    print(
        f"model {args.model}: {history.epochs} epochs, loss {history.loss[-1]:.4f}, "
        f"final accuracy {history.accuracy[-1]:.0%}" + (f", 100% first at epoch {reached}" if reached else ""),
        file=sys.stderr,
    )
    prediction = predict(model, data)[0]
    if prediction != args.target:
        wrong = sum(a != b for a, b in zip(prediction, args.target))
        print(
            f"warning: training ended at {history.accuracy[-1]:.0%} accuracy: the prediction below gets {wrong} of "
            f"{len(args.target)} characters wrong. {_suggestion(args)}",
            file=sys.stderr,
        )
    if args.save:
        path = save_checkpoint(
            args.save,
            model,
            data.vocab,
            {"source": args.source, "target": args.target, "epochs": history.epochs, "lr": args.lr, "seed": args.seed},
        )
        print(f"saved {path}", file=sys.stderr)
    print(prediction)
    return 0


def _suggestion(args) -> str:
    """What to try after a run that did not learn its pair."""
    if args.model in ("rnncell", "rnn"):
        return (
            f"The one-hot '{args.model}' model is as small as the vocabulary; try a bigger model, "
            "e.g. --model gru --hidden-size 16, or another --seed."
        )
    hidden = args.hidden_size or 8
    return f"Try a bigger model (--hidden-size {2 * hidden}), more --epochs, or another --seed."


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return args.handler(args.parser, args)  # errors are reported by the subcommand's own parser


if __name__ == "__main__":
    sys.exit(main())
