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

from rnnlab.checkpoint import atomic_write, load_checkpoint, save_checkpoint, write_target
from rnnlab.loop import Record, TrainingDiverged, TrainingInterrupted, TrainingStopped, get_device
from rnnlab.validation import IMPLS


def positive(kind: type, most: float | None = None) -> Callable[[str], int | float]:
    """An argparse type: a positive (finite) ``int`` or ``float``, at most ``most`` when given."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (math.isfinite(value) and value > 0):
            what = "integer" if kind is int else "finite number"
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}")
        if most is not None and value > most:
            raise argparse.ArgumentTypeError(f"expected at most {most:g}, got {text}")
        return value

    return parse


def int_in(least: int, most: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``[least, most]``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not least <= value <= most:
            raise argparse.ArgumentTypeError(f"expected an integer from {least} to {most}, got {text}")
        return value

    return parse


positive_int, positive_float = positive(int), positive(float)
# The bounds of what the command line trains on a laptop: beyond them, a run would exhaust memory
# (a 4096-wide LSTM layer already holds 134 M weights) or never end, so they are refused up front.
MAX_WIDTH, MAX_LAYERS, MAX_BATCH, MAX_LR = 4096, 16, 65536, 10.0
MAX_SEED = 2**32 - 1
width, layers, batch_size, learning_rate, seed = (
    int_in(1, MAX_WIDTH),
    int_in(1, MAX_LAYERS),
    int_in(1, MAX_BATCH),
    positive(float, MAX_LR),
    int_in(0, MAX_SEED),
)


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
    tr.add_argument("--hidden-size", type=width, default=hidden_size, help=f"1 to {MAX_WIDTH}")
    tr.add_argument("--embedding-dim", type=width, default=embedding_dim, help=f"1 to {MAX_WIDTH}")
    if num_layers:
        tr.add_argument("--num-layers", type=layers, default=1, help=f"1 to {MAX_LAYERS}")


_FROM_CONFIG = object()


def run_options(tr: argparse.ArgumentParser, config, lr=_FROM_CONFIG, lr_help: str = "") -> None:
    """Optimiser, seed and output options, with defaults from a training config class (``lr``: another
    default for ``--lr``, e.g. None when the subcommand chooses it later)."""
    tr.add_argument("--batch-size", type=batch_size, default=config.batch_size, help=f"1 to {MAX_BATCH}")
    tr.add_argument(
        "--lr",
        type=learning_rate,
        default=config.lr if lr is _FROM_CONFIG else lr,
        help=f"learning rate, at most {MAX_LR:g}" + (f" ({lr_help})" if lr_help else ""),
    )
    tr.add_argument("--clip", type=positive_float, default=config.clip, help="max gradient norm")
    seed_option(tr, 0)
    save_option(tr)
    tr.add_argument(
        "--history",
        metavar="PATH",
        default=None,
        help="write the history as JSON here (strict JSON: a diverged run's NaN or infinite values are null)",
    )
    tr.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def seed_option(tr: argparse.ArgumentParser, default: int, help: str = "") -> None:
    tr.add_argument("--seed", type=seed, default=default, help=help or f"random seed, 0 to {MAX_SEED}")


def save_option(tr: argparse.ArgumentParser) -> None:
    tr.add_argument(
        "--save",
        metavar="PATH",
        default=None,
        help="write a checkpoint here, atomically (a symlink is followed; an existing non-file is refused); "
        "a run that diverges never replaces it",
    )


def run_settings(args) -> dict:
    """The training settings of a run, as stored in its checkpoint and history (a subcommand may
    set ``args.settings`` to choose them)."""
    if getattr(args, "settings", None) is not None:
        return dict(args.settings)
    skip = {"command", "action", "handler", "parser", "save", "history", "no_progress", "settings"}
    return {k: v for k, v in vars(args).items() if k not in skip}


def check_outputs(ap: argparse.ArgumentParser, args) -> None:
    """Refuse unwritable --save / --history paths before any training, and one file given for both."""
    targets = {option: writable(ap, option, getattr(args, option[2:], None)) for option in ("--save", "--history")}
    save, history = targets["--save"], targets["--history"]
    if save is not None and history is not None and os.path.abspath(save) == os.path.abspath(history):
        ap.error(f"--save and --history name the same file ({args.save}): the history would overwrite the checkpoint")


def writable(ap: argparse.ArgumentParser, option: str, path: str | None) -> Path | None:
    """Refuse, before any training, a path that cannot be written (see
    :func:`rnnlab.checkpoint.write_target`: no folders, devices or FIFOs; a symlink is followed),
    and try a file beside it. Returns the file that will be written."""
    if path is None:
        return None
    try:
        target = write_target(path)
    except ValueError as e:
        ap.error(f"{option} {e}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=target.parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        ap.error(f"{option} {path}: cannot write in {target.parent} ({e.strerror or e})")
    return target


def strict_json(value):
    """``value`` with every NaN or infinite float replaced by None: strict JSON (what
    ``json.dumps`` would write as ``NaN`` or ``Infinity``, which strict parsers refuse)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: strict_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json(v) for v in value]
    return value


def write_outputs(
    args,
    model,
    vocab,
    history: dict,
    labels: list[str] | None = None,
    baselines: dict | None = None,
    stopped: TrainingStopped | TrainingInterrupted | None = None,
    evaluation: dict | None = None,
) -> None:
    """The checkpoint (--save; its config: the settings, and the class labels if any) and the
    history JSON (--history; also the baselines, and how the run stopped early if it did), each
    written atomically. A diverged run writes its history but never a checkpoint."""
    settings = run_settings(args)
    extra = {} if labels is None else {"labels": labels}
    save = getattr(args, "save", None)
    if save and (stopped is None or stopped.reason != "diverged"):
        print(f"saved {save_checkpoint(save, model, vocab, {**settings, **extra})}", file=sys.stderr)
    if getattr(args, "history", None):
        payload = {
            "settings": settings,
            **extra,
            **({} if baselines is None else {"baselines": baselines}),
            **({"evaluation": evaluation} if evaluation else {}),
            **({} if stopped is None else {"stopped": {"reason": stopped.reason, stopped.unit: stopped.count}}),
            "history": history,
        }
        text = json.dumps(strict_json(payload), indent=1, allow_nan=False) + "\n"
        atomic_write(args.history, lambda f: f.write(text.encode()))
        print(f"wrote {args.history}", file=sys.stderr)


def train_run(
    args,
    model,
    vocab,
    train: Callable[[], Record],
    labels=None,
    baselines=None,
    evaluate: Callable[[], dict] | None = None,
) -> Record | int:
    """Run ``train()`` and write its outputs; a run that stops early is reported here.

    Returns the history when the run finished (the caller prints its summary), else the exit
    code: 1 when it diverged (one line; the history is written, the checkpoint is not, so an
    earlier good one at --save stays), 130 at Ctrl-C and 143 at SIGTERM (the history so far
    and, with --save, the model as it is). ``evaluate()``, run after a finished training, adds its
    measures to the history file as ``"evaluation"``.
    """
    try:
        history = train()
    except (TrainingDiverged, TrainingInterrupted) as stop:
        done = stop.history.to_dict() if stop.history is not None else {}
        write_outputs(args, model, vocab, done, labels, baselines, stopped=stop)
        if stop.reason == "diverged":
            kept = f"; nothing saved to {args.save}" if getattr(args, "save", None) else ""
            print(
                f"error: training diverged at {stop.unit} {stop.count}: {stop.message}{kept}. "
                "Try a smaller --lr, or --clip.",
                file=sys.stderr,
            )
            return 1
        signal_name = "SIGTERM" if _TERMINATED else "Ctrl-C"
        print(f"stopped by {signal_name} at {stop.unit} {stop.count}", file=sys.stderr)
        return 143 if _TERMINATED else 130
    write_outputs(args, model, vocab, history.to_dict(), labels, baselines, evaluation=evaluate() if evaluate else None)
    return history


_TERMINATED: list[int] = []  # set by the SIGTERM handler of rnnlab.cli.main


def ignored(option: str, setting: str, why: str) -> None:
    """One warning line for an option the chosen model or task does not use."""
    print(f"warning: {option} is ignored with {setting} ({why})", file=sys.stderr)


def warn_worse_than_uniform(what: str, value: float, uniform: float, higher_is_better: bool) -> None:
    """One warning line when a run ends worse than guessing uniformly."""
    worse = value < uniform if higher_is_better else value > uniform
    if worse:
        print(
            f"warning: {what} {value:.3f} is worse than the uniform baseline {uniform:.3f}: "
            "the run diverged or learned nothing; try a smaller --lr, or more steps",
            file=sys.stderr,
        )


def load(ap: argparse.ArgumentParser, path: str, name: str):
    if not Path(path).is_file():
        ap.error(f"--checkpoint {path}: no such file")
    try:
        model, vocab, config = load_checkpoint(path)
    except (ValueError, OSError) as e:  # not a checkpoint, another format, damaged, unreadable
        ap.error(f"--checkpoint {e}" if str(e).startswith(str(path)) else f"--checkpoint {path}: {e}")
    if model.spec.get("name") != name:
        ap.error(f"--checkpoint {path}: holds a '{model.spec.get('name')}' model, not a '{name}' one")
    if not all(bool(p.isfinite().all()) for p in model.parameters()):
        ap.error(f"--checkpoint {path}: its weights are not finite (saved from a run that diverged)")
    return model.to(get_device()), vocab, config
