"""The capstone's speed: tokens per second of training, rnnlab.LSTM vs torch.nn.LSTM, and the
time notebook 09's model needs to beat the unigram baseline by 1 bit per character.

Usage: ``python benchmarks/bench_lm.py [--rounds N] [--budget SECONDS]``

Throughput: two ``CharLM`` at notebook 09's size (Embedding 32, LSTM 128, batch 256 streams of
32 characters), one with ``rnnlab.LSTM`` and one with ``torch.nn.LSTM`` (oneDNN on, torch's
default CPU path), take full training steps (``tbptt_step``: forward, backward, clip, Adam)
alternately on the same chunks; the median tokens/s of each and the median per-round ratio
are reported. Time to target: ``train_lm`` from seed 0, validating every 10 steps, until the
validation loss is 1 bit/char below the unigram baseline (or the budget runs out).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rnnlab.lm import CharLM, baselines, python_docs_text, split_text, stream_batches, tbptt_step, train_lm
from rnnlab.vocab import CharVocab

SIZE = {"embedding_dim": 32, "hidden_size": 128}
BATCH, SEQ_LEN = 256, 32


def throughput(rounds: int, train_ids: torch.Tensor, V: int) -> dict:
    chunks = stream_batches(train_ids, BATCH, SEQ_LEN)[: rounds + 3]
    runs = {}
    for impl in ("rnnlab", "torch"):
        torch.manual_seed(0)
        model = CharLM(V, "lstm", impl=impl, **SIZE)
        runs[impl] = {"model": model, "opt": torch.optim.Adam(model.parameters(), lr=3e-3), "state": None, "tps": []}
    for k, (x, y) in enumerate(chunks):
        for r in runs.values():
            t0 = time.perf_counter()
            _, r["state"] = tbptt_step(r["model"], r["opt"], x, y, r["state"], clip=1.0)
            if k >= 3:  # warm-up rounds not counted
                r["tps"].append(x.numel() / (time.perf_counter() - t0))
    ratios = [a / b for a, b in zip(runs["rnnlab"]["tps"], runs["torch"]["tps"])]
    return {impl: statistics.median(r["tps"]) for impl, r in runs.items()} | {"ratio": statistics.median(ratios)}


def time_to_target(budget: float, train_ids, val_ids, V: int, target: float) -> tuple[float | None, float]:
    """(seconds until the validation loss first reaches ``target``, or None; seconds spent)."""
    torch.manual_seed(0)
    model = CharLM(V, "lstm", **SIZE)
    start = time.perf_counter()
    reached: list[float] = []

    class Done(Exception):
        pass

    def on_eval(step, history):
        seconds = time.perf_counter() - start
        if history.val_bpc[-1] <= target and not reached:
            reached.append(seconds)
            raise Done
        if seconds > budget:
            raise Done

    try:
        train_lm(model, train_ids, val_ids, epochs=100, eval_every=10, progress=False, on_eval=on_eval)
    except Done:
        pass
    return (reached[0] if reached else None), time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--budget", type=float, default=60.0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    text = python_docs_text()
    vocab = CharVocab.from_strings(text)
    train, val = split_text(text, 0.1)
    train_ids, val_ids = vocab.encode(train), vocab.encode(val)
    base = baselines(train_ids, val_ids, len(vocab))

    t = throughput(args.rounds, train_ids, len(vocab))
    print(
        f"CharLM training step, LSTM E={SIZE['embedding_dim']} H={SIZE['hidden_size']}, B={BATCH}, T={SEQ_LEN}, "
        f"{torch.get_num_threads()} threads, torch {torch.__version__}, {args.rounds} rounds"
    )
    print(f"  rnnlab.LSTM    {t['rnnlab']:>9,.0f} tokens/s")
    print(
        f"  torch.nn.LSTM  {t['torch']:>9,.0f} tokens/s (oneDNN {'on' if torch.backends.mkldnn.is_available() else 'unavailable'})"
    )
    print(f"  ratio rnnlab / torch (median of rounds): {t['ratio']:.2f}x")

    target = base["unigram"] - 1.0
    seconds, elapsed = time_to_target(args.budget, train_ids, val_ids, len(vocab), target)
    if seconds is None:
        print(f"time to {target:.3f} bits/char (unigram {base['unigram']:.3f} - 1): not reached in {elapsed:.0f} s")
    else:
        print(
            f"time to {target:.3f} bits/char (unigram {base['unigram']:.3f} - 1): {seconds:.1f} s (budget {args.budget:.0f} s)"
        )


if __name__ == "__main__":
    main()
