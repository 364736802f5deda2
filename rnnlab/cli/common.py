"""What every subcommand shares: argument types, the model and run options, and writing or loading
a run's outputs (checkpoints and histories written atomically, checkpoints loaded with
``weights_only=True``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from rnnlab.checkpoint import atomic_write, load_checkpoint, save_checkpoint
from rnnlab.loop import get_device
from rnnlab.validation import IMPLS


def positive(kind: type) -> Callable[[str], int | float]:
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


positive_int, positive_float = positive(int), positive(float)


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}")
    return value


def config_from(cls, args: argparse.Namespace):
    """A training config built from the parsed options: each field from the option of the same name
    (``--batch-size`` → ``batch_size``), ``progress`` from ``--no-progress``; validated by the config."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**values, progress=not args.no_progress)


def task_parser(sub, name: str, help: str, description: str):
    """The ``python -m rnnlab NAME ACTION`` group of a task: its parser, and the subparsers of its actions."""
    top = sub.add_parser(name, help=help, description=description)
    return top.add_subparsers(dest="action", required=True)


def model_options(tr: argparse.ArgumentParser, hidden_size: int, embedding_dim: int, num_layers: bool = True) -> None:
    """The options every recurrent model of the command line takes."""
    tr.add_argument(
        "--impl",
        choices=IMPLS,
        default="rnnlab",
        help="rnnlab's from-scratch layers or torch.nn's fused ones (same weights)",
    )
    tr.add_argument("--hidden-size", type=positive_int, default=hidden_size)
    tr.add_argument("--embedding-dim", type=positive_int, default=embedding_dim)
    if num_layers:
        tr.add_argument("--num-layers", type=positive_int, default=1)


def run_options(tr: argparse.ArgumentParser, config) -> None:
    """Optimiser, seed and output options, with defaults from a training config class."""
    tr.add_argument("--batch-size", type=positive_int, default=config.batch_size)
    tr.add_argument("--lr", type=positive_float, default=config.lr)
    tr.add_argument("--clip", type=positive_float, default=config.clip, help="max gradient norm")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--save", metavar="PATH", default=None, help="write a checkpoint here (atomically)")
    tr.add_argument("--history", metavar="PATH", default=None, help="write the history as JSON here")
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_settings(args) -> dict:
    """The training settings of a run, as stored in its checkpoint and history."""
    skip = {"command", "action", "handler", "parser", "save", "history", "no_progress"}
    return {k: v for k, v in vars(args).items() if k not in skip}


def check_outputs(ap: argparse.ArgumentParser, args) -> None:
    """Refuse unwritable --save / --history paths before any training."""
    writable(ap, "--save", args.save)
    writable(ap, "--history", args.history)


def writable(ap: argparse.ArgumentParser, option: str, path: str | None) -> None:
    """Refuse, before any training, a path that cannot be written: try a file beside it."""
    if path is None:
        return
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


def write_outputs(
    args, model, vocab, history: dict, labels: list[str] | None = None, baselines: dict | None = None
) -> None:
    """The checkpoint (--save; its config: the settings, and the class labels if any) and the
    history JSON (--history; also the baselines), each written atomically."""
    settings = run_settings(args)
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


def load(ap: argparse.ArgumentParser, path: str, name: str):
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
