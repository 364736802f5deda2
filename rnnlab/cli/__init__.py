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

One file per task registers its subcommands (``register(sub)``), over :mod:`rnnlab.cli.common`.
"""

from __future__ import annotations

import argparse

from rnnlab.cli import labelling, lm, names, seq2seq

__all__ = ["main", "parser"]

TASKS = (labelling, lm, names, seq2seq)  # each registers its subcommands


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rnnlab", description="rnnlab command line")
    sub = ap.add_subparsers(dest="command", required=True)
    for task in TASKS:
        task.register(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.handler(args.parser, args)  # errors are reported by the subcommand's own parser
