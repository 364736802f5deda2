"""A long-memory task for notebook 08b: say, after a delay of ``D`` steps, which symbol came first.

Each sequence is one of ``K`` symbols, then ``D`` symbols drawn from the same ``K`` (noise, to be ignored), one-hot
coded; the target, read at the last step only, is the first symbol (chance: ``1 / K``). Nothing in the last ``D``
steps tells the answer: the gradient that teaches it must travel back ``D`` steps, through the product of ``D``
step Jacobians. Models: a tanh RNN, a GRU, an LSTM at torch's default initialisation, and an LSTM whose forget
gates start at bias 3 (``σ(3) ≈ 0.95``: the cell state is kept, and its gradient too).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.layers import GRU, LSTM, RNN, set_forget_bias_
from rnnlab.loop import FreshBatchConfig, FreshBatchHistory, configured, device_of, evaluating, train_on_fresh_batches
from rnnlab.validation import one_of, positive_ints

__all__ = ["first_symbol_batch", "MemoryModel", "MemoryConfig", "MemoryHistory", "memory_accuracy", "train_memory"]

KINDS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}


def first_symbol_batch(
    batch_size: int, delay: int, symbols: int = 8, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """``batch_size`` sequences of ``delay + 1`` symbols and their first symbol.

    Returns ``(x, y)``: ``x`` ``(delay + 1, B)`` int64 in ``[0, symbols)``, ``y = x[0]`` ``(B,)``.
    """
    positive_ints(batch_size=batch_size, delay=delay, symbols=symbols)
    x = torch.randint(0, symbols, (delay + 1, batch_size), generator=generator)
    return x, x[0].clone()


class MemoryModel(nn.Module):
    """One-hot symbols ``(T, B, K)`` → ``RNN`` (tanh) / ``GRU`` / ``LSTM`` → ``Linear(H, K)`` at the last step.

    ``forget_bias``: an LSTM's forget gates start at this bias (None: torch's initialisation).
    Inputs: ``x`` ``(T, B)``. Outputs: logits ``(B, K)``.
    """

    def __init__(self, kind: str = "lstm", hidden_size: int = 64, symbols: int = 8, forget_bias: float | None = None):
        super().__init__()
        one_of("kind", kind, tuple(KINDS))
        positive_ints(hidden_size=hidden_size, symbols=symbols)
        if forget_bias is not None and kind != "lstm":
            raise ValueError(f"forget_bias applies to kind='lstm' only, got kind={kind!r}")
        self.spec = {"name": "memory", "kind": kind, "hidden_size": hidden_size, "symbols": symbols}
        if forget_bias is not None:
            self.spec["forget_bias"] = float(forget_bias)
        self.rnn = KINDS[kind](symbols, hidden_size)
        self.rnn.hand_backward = True  # the same gradients, computed faster (rnnlab.backward)
        if forget_bias is not None:
            set_forget_bias_(self.rnn, forget_bias)
        self.head = nn.Linear(hidden_size, symbols)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(F.one_hot(x, self.spec["symbols"]).to(self.head.weight.dtype))  # (T, B, H)
        return self.head(out[-1])  # (B, K)


@dataclass
class MemoryConfig(FreshBatchConfig):
    """Settings of :func:`train_memory`: those of :class:`~rnnlab.loop.FreshBatchConfig` (steps, batch_size,
    lr, clip, eval_every, eval_size: held-out sequences, progress), with their defaults for this task, and

    Attributes:
        delay: ``D``, the steps between the symbol and the question.
    """

    delay: int = 20
    steps: int = 1500
    eval_every: int = 250
    eval_size: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_ints(delay=self.delay)


class MemoryHistory(FreshBatchHistory):
    """At each evaluation: the step, the mean training loss since the last one, and held-out accuracy."""


def memory_accuracy(model: MemoryModel, delay: int, size: int = 1000, seed: int = 12345) -> float:
    """Accuracy on ``size`` fixed sequences with this ``delay`` (drawn from ``seed``: the same for every model)."""
    x, y = first_symbol_batch(size, delay, model.spec["symbols"], torch.Generator().manual_seed(seed))
    with evaluating(model), torch.no_grad():
        logits = model(x.to(device_of(model)))
    return (logits.argmax(-1).cpu() == y).double().mean().item()


def train_memory(
    model: MemoryModel, config: MemoryConfig | None = None, *, seed: int = 0, **overrides
) -> MemoryHistory:
    """Train ``model`` on :func:`first_symbol_batch` (training batches from a CPU generator seeded with ``seed``)."""
    cfg = configured(MemoryConfig, config, overrides)
    K = model.spec["symbols"]
    return train_on_fresh_batches(
        model,
        MemoryHistory(),
        cfg,
        batch=lambda gen: first_symbol_batch(cfg.batch_size, cfg.delay, K, gen),
        loss=lambda m, x, y: F.cross_entropy(m(x), y),
        measure=lambda: memory_accuracy(model, cfg.delay, cfg.eval_size),
        seed=seed,
        desc="memory",
    )
