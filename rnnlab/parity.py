"""A state-tracking probe for notebook 13: the parity of a bit string.

Reading ``0110…`` one bit at a time, the model says after each bit whether it has seen an odd number of
``1``s so far. The answer flips with every ``1``, however long ago the last one was: the state must be
*tracked*, and one bit of it suffices. A GRU can flip its state, because its gates read ``h_{t-1}``. minGRU's
update ``h_t = a_t ⊙ h_{t-1} + b_t`` with ``a_t ∈ (0, 1)`` read from ``x_t`` alone cannot: a ``1`` cannot
say "flip", only "keep this much, add that" (Grazzi et al. 2024 prove it for every linear recurrence whose
``a_t`` is positive).

The task trains on strings of one length with the running parity as the target at every step, then
measures the *final* bit's accuracy on strings of other lengths (chance: 50 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.layers import GRU, LSTM
from rnnlab.loop import FreshBatchConfig, FreshBatchHistory, configured, device_of, evaluating, train_on_fresh_batches
from rnnlab.minimal import MinGRU, MinLSTM
from rnnlab.validation import one_of, positive_ints

__all__ = [
    "parity_batch",
    "ParityModel",
    "ParityConfig",
    "ParityHistory",
    "parity_accuracy",
    "train_parity",
]

KINDS = {"gru": GRU, "lstm": LSTM, "mingru": MinGRU, "minlstm": MinLSTM}


def parity_batch(batch_size: int, length: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``batch_size`` random bit strings of ``length`` bits and their running parity.

    Returns ``(bits, parity)``, both ``(T, B)`` int64: ``parity[t] = (bits[0] + … + bits[t]) mod 2``.
    """
    positive_ints(batch_size=batch_size, length=length)
    bits = torch.randint(0, 2, (length, batch_size), generator=generator)
    return bits, bits.cumsum(0) % 2


class ParityModel(nn.Module):
    """One-hot bits ``(T, B, 2)`` → a recurrent layer (``kind``: gru, lstm, mingru, minlstm; rnnlab's) →
    ``Linear(H, 2)`` at every step. Inputs: ``bits`` ``(T, B)``. Outputs: logits ``(T, B, 2)``."""

    def __init__(self, kind: str = "gru", hidden_size: int = 64, num_layers: int = 1) -> None:
        super().__init__()
        one_of("kind", kind, tuple(KINDS))
        positive_ints(hidden_size=hidden_size, num_layers=num_layers)
        self.spec = {"name": "parity", "kind": kind, "hidden_size": hidden_size, "num_layers": num_layers}
        self.rnn = KINDS[kind](2, hidden_size, num_layers)
        self.head = nn.Linear(hidden_size, 2)

    def forward(self, bits: Tensor) -> Tensor:
        x = F.one_hot(bits, 2).to(self.head.weight.dtype)  # (T, B, 2)
        out, _ = self.rnn(x)  # (T, B, H)
        return self.head(out)  # (T, B, 2)


@dataclass
class ParityConfig(FreshBatchConfig):
    """Settings of :func:`train_parity`: those of :class:`~rnnlab.loop.FreshBatchConfig` (steps, batch_size,
    lr, clip, eval_every, eval_size: strings per length, progress), and

    Attributes:
        length: bits per training string.
        eval_lengths: the string lengths at which the final bit's accuracy is measured.
    """

    length: int = 16
    eval_lengths: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_ints(length=self.length)
        self.eval_lengths = tuple(self.eval_lengths)
        if not self.eval_lengths:
            raise ValueError("eval_lengths must name at least one length")
        positive_ints(**{f"eval_lengths[{i}]": n for i, n in enumerate(self.eval_lengths)})


class ParityHistory(FreshBatchHistory):
    """At each evaluation: the step, the mean training loss since the last one (nats per bit), and the final
    bit's accuracy at every ``eval_lengths`` length (a list in that order)."""


def parity_accuracy(model: nn.Module, length: int, size: int = 512, seed: int = 0) -> float:
    """The fraction of ``size`` random strings of ``length`` bits whose parity the model's *last* output gets
    right (the strings are drawn from ``seed``: the same ones for every model)."""
    bits, parity = parity_batch(size, length, torch.Generator().manual_seed(seed))
    with evaluating(model), torch.no_grad():
        logits = model(bits.to(device_of(model)))  # (T, B, 2)
    return (logits[-1].argmax(-1).cpu() == parity[-1]).double().mean().item()


def train_parity(model: nn.Module, config: ParityConfig | None = None, *, seed: int = 0, **overrides) -> ParityHistory:
    """Train ``model`` (a :class:`ParityModel`) on running parity and return its history.

    Training strings are drawn from a CPU generator seeded with ``seed`` (so a seed gives the same strings on
    any device); the evaluation strings from :func:`parity_accuracy`'s own fixed seed.
    """
    cfg = configured(ParityConfig, config, overrides)
    return train_on_fresh_batches(
        model,
        ParityHistory(),
        cfg,
        batch=lambda gen: parity_batch(cfg.batch_size, cfg.length, gen),
        loss=lambda m, bits, parity: F.cross_entropy(m(bits).reshape(-1, 2), parity.reshape(-1)),
        measure=lambda: [parity_accuracy(model, n, cfg.eval_size) for n in cfg.eval_lengths],
        seed=seed,
        desc="parity",
    )
