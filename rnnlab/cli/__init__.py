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
decodes new inputs. ``python -m rnnlab parity train --kind mingru`` runs notebook 13's state-tracking
probe; ``python -m rnnlab memory train --kind lstm --delay 50`` notebook 08b's long-memory task.

Progress goes to stderr. Exit codes: 0 done; 2 refused (bad arguments, a file that is not a
checkpoint, data not installed: one line, no traceback); 1 training diverged (NaN or infinite
loss: the history is written, the checkpoint is not, so a good earlier one stays); 130 at Ctrl-C
and 143 at SIGTERM (the history so far and, with ``--save``, the model as it is are written).

One file per task registers its subcommands (``register(sub)``), over :mod:`rnnlab.cli.common`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading

from rnnlab.cli import common, labelling, lm, memory, names, parity, seq2seq
from rnnlab.loop import DataUnavailable

__all__ = ["main", "parser"]

TASKS = (labelling, lm, names, seq2seq, parity, memory)  # each registers its subcommands


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rnnlab", description="rnnlab command line")
    sub = ap.add_subparsers(dest="command", required=True)
    for task in TASKS:
        task.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    with _sigterm_as_interrupt():
        try:
            return args.handler(args.parser, args)  # errors are reported by the subcommand's own parser
        except BrokenPipeError:  # `... | head`: the reader has gone; no message, and none at exit either
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE, as a shell reports it
        except (ValueError, DataUnavailable, OSError) as e:  # what the user can fix: one line, exit 2
            args.parser.error(str(e))
        except KeyboardInterrupt:  # outside training (which handles its own): loading, sampling
            print(f"stopped by {'SIGTERM' if common._TERMINATED else 'Ctrl-C'}", file=sys.stderr)
            return 143 if common._TERMINATED else 130


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a run as Ctrl-C does (temporary files removed, the history so far written)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        common._TERMINATED.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
