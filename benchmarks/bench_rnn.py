"""Pair rnnlab and torch.nn in one process and report speed ratios.

Usage: ``python benchmarks/bench_rnn.py [--rounds N] [--quick] [--sizes ...] [--backward autograd hand]``

For each size and model, the torch.nn module and an rnnlab module loaded with
its ``state_dict`` run alternately (rnnlab, torch, rnnlab, torch, ...) so both
see the same machine state. Each round times one call of forward (under
``torch.no_grad``) and of forward+backward; the table shows the median time of
each and the median of the per-round ratios rnnlab / torch. LSTM is measured
against torch's default CPU path (oneDNN) and with oneDNN disabled. Each rnnlab row names its training path:
``autograd`` (the default: autograd through the time loop) or ``hand`` (``hand_backward = True``:
:mod:`rnnlab.backward`'s hand-written backward). The forward columns differ only by the hand path's forward,
which records no graph.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
import warnings

import torch
from torch import nn

import rnnlab

SIZES = {  # name: (T, B, I, H, layers)
    "seed": (100, 32, 20, 50, 2),
    "large": (256, 64, 128, 256, 2),
    "tiny": (5, 1, 4, 4, 1),
}


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(model: str, size: str, rounds: int, onednn: bool, hand: bool = False) -> dict:
    T, B, I, H, L = SIZES[size]
    torch.manual_seed(0)
    ref = getattr(nn, model)(I, H, L)
    ours = getattr(rnnlab, model)(I, H, L)
    ours.load_state_dict(ref.state_dict())
    ours.hand_backward = hand
    x = torch.randn(T, B, I)

    def fwd(m):
        with torch.no_grad():
            m(x)

    def fwd_bwd(m):
        out, _ = m(x)
        out.sum().backward()

    flags = contextlib.nullcontext() if onednn else torch.backends.mkldnn.flags(enabled=False)
    res = {}
    with flags:
        for what, fn in (("fwd", fwd), ("fwd+bwd", fwd_bwd)):
            for _ in range(2):  # warm-up
                fn(ours), fn(ref)
            t_ours, t_ref = [], []
            for _ in range(rounds):
                t_ours.append(_time(lambda: fn(ours)))  # noqa: B023 (called at once)
                t_ref.append(_time(lambda: fn(ref)))  # noqa: B023
            ratios = [a / b for a, b in zip(t_ours, t_ref)]
            res[what] = (statistics.median(t_ours), statistics.median(t_ref), statistics.median(ratios))
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="3 rounds, for a smoke test")
    ap.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    ap.add_argument(
        "--backward", nargs="+", choices=("autograd", "hand"), default=["autograd", "hand"], help="rnnlab's paths"
    )
    args = ap.parse_args()
    rounds = 3 if args.quick else args.rounds
    warnings.filterwarnings("ignore", "TF32 acceleration on top of oneDNN")
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU, "
        f"default allocator; {rounds} rounds, median ms and median per-round ratio rnnlab/torch"
    )
    print()
    print(
        "| model | size (T, B, I, H, L) | rnnlab path | torch path | fwd ms rnnlab / torch | ratio | "
        "fwd+bwd ms rnnlab / torch | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for model in ("RNN", "GRU", "LSTM"):
            paths = [("native", False)] if model != "LSTM" else [("oneDNN", True), ("native", False)]
            for backward in args.backward:
                for label, onednn in paths:
                    r = bench(model, size, rounds, onednn, hand=backward == "hand")
                    cells = []
                    for what in ("fwd", "fwd+bwd"):
                        a, b, ratio = r[what]
                        cells += [f"{a * 1e3:.2f} / {b * 1e3:.2f}", f"{ratio:.2f}×"]
                    head = f"| {model} | {size} {SIZES[size]} | {backward} | {label} | "
                    print(head + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
