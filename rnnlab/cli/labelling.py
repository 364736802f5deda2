"""``python -m rnnlab train --source hello --target ohlol --model gru``: train one of notebook 05's five
character models on a pair of equal-length strings; the last line of stdout is the final prediction."""

from __future__ import annotations

import argparse
import sys

from rnnlab.cli.common import (
    MAX_LR,
    config_from,
    ignored,
    int_in,
    learning_rate,
    positive_float,
    save_option,
    seed_option,
    train_run,
    width,
    writable,
)
from rnnlab.labelling import MODEL_NAMES, PairDataset, TrainConfig, build_model, fit, predict, validate_pair
from rnnlab.loop import get_device, set_seed


def register(sub) -> None:
    """``python -m rnnlab train``: notebook 05's hello → ohlol models on any pair of equal-length strings."""
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
        type=width,
        default=None,
        help="hidden size of the embedding models (default 8; the one-hot models use the vocabulary size)",
    )
    tr.add_argument(
        "--embedding-dim", type=width, default=None, help="embedding size of the embedding models (default 10)"
    )
    tr.add_argument(
        "--epochs", type=int_in(1, 100_000), default=TrainConfig.epochs, help="epochs to train (default %(default)s)"
    )
    tr.add_argument(
        "--early-stop",
        action="store_true",
        help="stop at the first epoch with every character right (default: train all --epochs)",
    )
    tr.add_argument(
        "--keep-last",
        dest="restore_best",
        action="store_false",
        help="keep the last epoch's weights (default: the best epoch's, highest accuracy then lowest loss)",
    )
    tr.add_argument("--optimizer", choices=("adam", "sgd"), default=TrainConfig.optimizer)
    tr.add_argument("--lr", type=learning_rate, default=TrainConfig.lr, help=f"at most {MAX_LR:g}")
    tr.add_argument("--clip", type=positive_float, default=None, help="max gradient norm (a positive number)")
    seed_option(tr, 1, help="random seed (default 1; with some seeds the one-hot models stall at 80%%)")
    save_option(tr)
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    tr.set_defaults(handler=_train, parser=tr)


def _train(ap: argparse.ArgumentParser, args) -> int:
    try:
        validate_pair(args.source, args.target)
    except ValueError as e:
        ap.error(str(e))
    writable(ap, "--save", args.save)
    if args.model in ("rnncell", "rnn") and args.embedding_dim is not None:
        ignored(f"--embedding-dim {args.embedding_dim}", f"--model {args.model}", "it reads one-hot vectors")
    set_seed(args.seed)
    data = PairDataset([(args.source, args.target)])
    try:
        model = build_model(args.model, len(data.vocab), args.hidden_size, args.embedding_dim)
    except ValueError as e:
        ap.error(str(e))
    model.to(get_device())
    config = config_from(TrainConfig, args)
    settings = {"source": args.source, "target": args.target, "epochs": args.epochs, "lr": args.lr, "seed": args.seed}
    settings |= {"optimizer": args.optimizer, "restore_best": args.restore_best}
    args.settings = settings  # what its checkpoint's config records
    history = train_run(args, model, data.vocab, lambda: fit(model, data, config))
    if isinstance(history, int):
        return history
    reached = history.epochs_to_100
    kept = history.best_epoch - 1 if args.restore_best else history.epochs - 1  # 0-based epoch of the weights
    print(
        f"model {args.model}: {history.epochs} epochs, loss {history.loss[kept]:.4f}, "
        f"final accuracy {history.accuracy[kept]:.0%}" + (f", 100% first at epoch {reached}" if reached else ""),
        file=sys.stderr,
    )
    if kept != history.epochs - 1:
        print(
            f"kept the weights of epoch {kept + 1}, the best (the last epoch, {history.epochs}, reached "
            f"{history.accuracy[-1]:.0%} at loss {history.loss[-1]:.4f}); --keep-last keeps the last epoch's",
            file=sys.stderr,
        )
    prediction = predict(model, data)[0]
    if prediction != args.target:
        wrong = sum(a != b for a, b in zip(prediction, args.target))
        print(
            f"warning: training ended at {history.accuracy[kept]:.0%} accuracy: the prediction below gets {wrong} of "
            f"{len(args.target)} characters wrong. {_suggestion(args)}",
            file=sys.stderr,
        )
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
