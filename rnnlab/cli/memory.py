"""``python -m rnnlab memory train`` runs notebook 08b's long-memory task: say, after a delay, which symbol came
first; a tanh RNN, a GRU and an LSTM (with or without a forget-gate bias) on delays the runs choose."""

from __future__ import annotations

import argparse

from rnnlab.cli.common import (
    check_outputs,
    config_from,
    int_in,
    positive_int,
    run_options,
    task_parser,
    train_run,
    width,
)
from rnnlab.loop import get_device, set_seed
from rnnlab.memory import KINDS, MemoryConfig, MemoryModel, train_memory
from rnnlab.vocab import CharVocab

MAX_DELAY = 4096


def register(sub) -> None:
    """``python -m rnnlab memory train`` (notebook 08b)."""
    memory_sub = task_parser(
        sub,
        "memory",
        help="long memory: the first symbol, after a delay (notebook 08b)",
        description="Train a recurrent model to name, after a delay of D random symbols, the first symbol.",
    )
    tr = memory_sub.add_parser(
        "train",
        help="train on fresh random sequences, then measure held-out accuracy",
        description="Train One-hot -> RNN/GRU/LSTM -> Linear on sequences of 1 + --delay symbols (of --symbols "
        "kinds); the target is the first symbol, read at the last step (chance: 1 / symbols).",
    )
    tr.add_argument("--kind", choices=tuple(KINDS), default="lstm", help="rnn is the tanh RNN")
    tr.add_argument("--forget-bias", type=float, default=None, help="LSTM only: the forget gates' initial bias")
    tr.add_argument("--delay", type=int_in(1, MAX_DELAY), default=MemoryConfig.delay, help="steps of noise, D")
    tr.add_argument("--symbols", type=int_in(2, 256), default=8, help="kinds of symbol, K")
    tr.add_argument("--hidden-size", type=width, default=64, help="1 to 4096")
    tr.add_argument("--steps", type=int_in(1, 1_000_000), default=MemoryConfig.steps, help="optimizer steps")
    tr.add_argument("--eval-every", type=positive_int, default=MemoryConfig.eval_every)
    run_options(tr, MemoryConfig)
    tr.set_defaults(handler=_memory_train, parser=tr)


def _memory_train(ap: argparse.ArgumentParser, args) -> int:
    check_outputs(ap, args)
    if args.forget_bias is not None and args.kind != "lstm":
        ap.error("--forget-bias applies to --kind lstm only")
    set_seed(args.seed)
    model = MemoryModel(args.kind, args.hidden_size, args.symbols, args.forget_bias).to(get_device())
    config = config_from(MemoryConfig, args)
    vocab = CharVocab([chr(0x41 + k) if k < 26 else chr(0x100 + k) for k in range(args.symbols)])  # A, B, ...
    history = train_run(args, model, vocab, lambda: train_memory(model, config, seed=args.seed))
    if isinstance(history, int):
        return history
    name = args.kind + (f" (forget bias {args.forget_bias:g})" if args.forget_bias is not None else "")
    print(
        f"{name}, delay {args.delay}, {history.step[-1]} steps: held-out accuracy {history.accuracy[-1]:.1%} "
        f"(chance {1 / args.symbols:.1%})"
    )
    return 0
