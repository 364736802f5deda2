"""``python -m rnnlab parity train`` runs notebook 13's state-tracking probe: the running parity of bit
strings, learned by a GRU, an LSTM, minGRU or minLSTM, then measured on longer strings."""

from __future__ import annotations

import argparse

from rnnlab.cli.common import (
    check_outputs,
    config_from,
    int_in,
    layers,
    positive_int,
    run_options,
    task_parser,
    train_run,
    width,
)
from rnnlab.loop import get_device, set_seed
from rnnlab.parity import KINDS, ParityConfig, ParityModel, train_parity
from rnnlab.vocab import CharVocab

MAX_LENGTH = 4096


def register(sub) -> None:
    """``python -m rnnlab parity train`` (notebook 13)."""
    parity_sub = task_parser(
        sub,
        "parity",
        help="state tracking: the parity of a bit string (notebook 13)",
        description="Train a recurrent model on the running parity of random bit strings.",
    )
    tr = parity_sub.add_parser(
        "train",
        help="train on running parity, then measure the last bit's accuracy at several lengths",
        description="Train One-hot -> GRU/LSTM/minGRU/minLSTM -> Linear on random bit strings of --length bits, "
        "the running parity as the target at every step; then measure the parity of whole strings of each "
        "--eval-lengths length (chance: 50%%).",
    )
    tr.add_argument("--kind", choices=tuple(KINDS), default="gru")
    tr.add_argument("--hidden-size", type=width, default=32, help="1 to 4096")
    tr.add_argument("--num-layers", type=layers, default=1, help="1 to 16")
    tr.add_argument("--steps", type=int_in(1, 1_000_000), default=ParityConfig.steps, help="optimizer steps")
    tr.add_argument(
        "--length", type=int_in(1, MAX_LENGTH), default=ParityConfig.length, help="bits per training string"
    )
    tr.add_argument("--eval-every", type=positive_int, default=ParityConfig.eval_every)
    tr.add_argument(
        "--eval-lengths",
        type=int_in(1, MAX_LENGTH),
        nargs="+",
        default=list(ParityConfig.eval_lengths),
        metavar="N",
        help="string lengths at which the accuracy is measured",
    )
    run_options(tr, ParityConfig)
    tr.set_defaults(handler=_parity_train, parser=tr)


def _parity_train(ap: argparse.ArgumentParser, args) -> int:
    check_outputs(ap, args)
    set_seed(args.seed)
    model = ParityModel(args.kind, args.hidden_size, args.num_layers).to(get_device())
    config = config_from(ParityConfig, args)
    history = train_run(args, model, CharVocab.from_strings("01"), lambda: train_parity(model, config, seed=args.seed))
    if isinstance(history, int):
        return history
    accuracy = ", ".join(f"{n}: {a:.1%}" for n, a in zip(config.eval_lengths, history.accuracy[-1]))
    print(
        f"{args.kind} ({args.num_layers} x {args.hidden_size}), {history.step[-1]} steps; parity accuracy by length: "
        f"{accuracy}"
    )
    return 0
