"""Notebook 13's timing: minGRU by its log-space scan and by its loop, against rnnlab.GRU and torch.nn.GRU.

Usage: ``python benchmarks/bench_parallel.py [--lengths 64 256 ...] [--batches 1 16] [--device cuda] [--out FILE.json]``

One layer each, input and hidden size 128, float32, torch's threads as set (``make bench``: 2). For every
batch size B and length T, the four models run alternately in one process, on the same input: a training
pass (forward, then backward of the summed output) and an inference pass (forward under ``no_grad``). The
median time per round is divided by the B·T tokens: microseconds per token, and tokens per second. Ratios
are of medians taken in the same rounds, so a slower machine moves all four together.

``--out`` writes the figures as JSON (``notebooks/data/parallel/bench.json`` is what notebook 13 reads).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch
from torch import nn

from rnnlab import GRU, MinGRU

SIZE = 128
MODELS = ("scan", "loop", "rnnlab.GRU", "torch.nn.GRU")


def _models(device: torch.device) -> dict[str, tuple[nn.Module, dict]]:
    torch.manual_seed(0)
    return {
        "scan": (MinGRU(SIZE, SIZE, device=device), {"parallel": True}),
        "loop": (MinGRU(SIZE, SIZE, device=device), {"parallel": False}),
        "rnnlab.GRU": (GRU(SIZE, SIZE, device=device), {}),
        "torch.nn.GRU": (nn.GRU(SIZE, SIZE, device=device), {}),
    }


def _clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


CPU = torch.device("cpu")


def measure(T: int, B: int, rounds: int, device: torch.device = CPU) -> dict:
    """Median seconds per training and per inference pass of each model at ``(T, B)``."""
    models = _models(device)
    x = torch.randn(T, B, SIZE, generator=torch.Generator().manual_seed(1)).to(device)
    times = {mode: {name: [] for name in models} for mode in ("train", "infer")}
    for r in range(rounds + 1):  # round 0 warms up
        for name, (model, kw) in models.items():
            t0 = _clock(device)
            out, _ = model(x, **kw)
            out.sum().backward()
            t1 = _clock(device)
            with torch.no_grad():
                model(x, **kw)
            t2 = _clock(device)
            if r:
                times["train"][name].append(t1 - t0)
                times["infer"][name].append(t2 - t1)
            model.zero_grad(set_to_none=True)
    return {mode: {name: statistics.median(v) for name, v in per.items()} for mode, per in times.items()}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[64, 128, 256, 512, 1024, 2048, 4096])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    rows = []
    print(
        f"torch {torch.__version__}, {device.type}, {torch.get_num_threads()} threads; size {SIZE}; microseconds per token"
    )
    print(f"{'B':>3} {'T':>5} {'mode':>6} " + " ".join(f"{m:>13}" for m in MODELS) + "   scan/loop  scan/torch")
    for B in args.batches:
        for T in args.lengths:
            seconds = measure(T, B, args.rounds, device)
            for mode, per in seconds.items():
                us = {m: per[m] / (T * B) * 1e6 for m in MODELS}
                rows.append({"batch": B, "length": T, "mode": mode, "us_per_token": us})
                print(
                    f"{B:>3} {T:>5} {mode:>6} "
                    + " ".join(f"{us[m]:>13.2f}" for m in MODELS)
                    + f"   {us['scan'] / us['loop']:>9.2f}  {us['scan'] / us['torch.nn.GRU']:>10.2f}"
                )
    result = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "device": device.type,
        "size": SIZE,
        "rounds": args.rounds,
        "models": list(MODELS),
        "rows": rows,
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
        print(f"wrote {args.out}")
    return result


if __name__ == "__main__":
    main()
