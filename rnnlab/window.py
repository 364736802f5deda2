"""Notebook 00's question beyond any window: was the first character an ``a``?

Each sequence is ``L`` characters of ``abcd``; the first is ``a`` with probability 1/2 (else ``b``, ``c`` or ``d``),
the others are uniform. The answer sits at the start, ``L - 1`` steps before the question is asked. Three models
read the same one-hot characters:

* :class:`WindowMLP`: an MLP over the last ``k`` characters (zero-padded in front when ``L < k``);
* :class:`BagOfChars`: an MLP over the characters' frequencies, blind to order;
* :class:`FirstCharRNN`: ``rnnlab.RNN`` (tanh) reading one character per step, its last state into a linear head.

:func:`bag_bound` is the best accuracy any model of the frequencies can reach, exactly.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.layers import RNN
from rnnlab.loop import FreshBatchConfig, FreshBatchHistory, configured, device_of, evaluating, train_on_fresh_batches
from rnnlab.validation import positive_ints

__all__ = [
    "ALPHABET",
    "first_a_batch",
    "window_onehot",
    "WindowMLP",
    "BagOfChars",
    "FirstCharRNN",
    "bag_bound",
    "FirstCharConfig",
    "FirstCharHistory",
    "accuracy_by_length",
    "train_first_char",
]

ALPHABET = "abcd"
V = len(ALPHABET)


def first_a_batch(batch_size: int, length: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``batch_size`` sequences of ``length`` characters and whether each starts with ``a``.

    Returns ``(x, y)``: ``x`` ``(L, B)`` int64 indices into :data:`ALPHABET`; ``y`` ``(B,)`` int64, 1 when
    ``x[0] == 0`` (an ``a``), else 0; the two are equally likely.
    """
    positive_ints(batch_size=batch_size, length=length)
    x = torch.randint(0, V, (length, batch_size), generator=generator)
    starts_with_a = torch.rand(batch_size, generator=generator) < 0.5
    x[0] = torch.where(starts_with_a, 0, torch.randint(1, V, (batch_size,), generator=generator))
    return x, starts_with_a.long()


def window_onehot(x: Tensor, k: int, vocab_size: int = V) -> Tensor:
    """The last ``k`` characters of each sequence, one-hot and side by side: what a window MLP reads.

    ``x`` ``(L, B)`` → ``(B, k * V)``, oldest character first (position-major: columns ``j*V … j*V+V-1`` are
    position ``j`` of the window); when ``L < k`` the missing positions in front are zeros.
    """
    if x.dim() != 2:
        raise ValueError(f"x must be (L, B) indices, got shape {tuple(x.shape)}")
    positive_ints(k=k, vocab_size=vocab_size)
    onehot = F.one_hot(x[-k:], vocab_size).float()  # (min(L, k), B, V)
    missing = k - onehot.shape[0]
    if missing:
        onehot = torch.cat([onehot.new_zeros(missing, *onehot.shape[1:]), onehot])  # (k, B, V)
    return onehot.transpose(0, 1).reshape(x.shape[1], k * vocab_size)  # (B, kV)


class WindowMLP(nn.Module):
    """``Linear(k·V, H)`` → tanh → ``Linear(H, 2)`` over :func:`window_onehot`. Inputs ``x`` ``(L, B)``; logits ``(B, 2)``."""

    def __init__(self, k: int = 10, hidden_size: int = 32):
        super().__init__()
        positive_ints(k=k, hidden_size=hidden_size)
        self.k = k
        self.hidden = nn.Linear(k * V, hidden_size)
        self.head = nn.Linear(hidden_size, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(torch.tanh(self.hidden(window_onehot(x, self.k).to(self.head.weight.dtype))))


class BagOfChars(nn.Module):
    """``Linear(V, H)`` → tanh → ``Linear(H, 2)`` over the characters' frequencies (the mean one-hot): order is lost."""

    def __init__(self, hidden_size: int = 32):
        super().__init__()
        positive_ints(hidden_size=hidden_size)
        self.hidden = nn.Linear(V, hidden_size)
        self.head = nn.Linear(hidden_size, 2)

    def forward(self, x: Tensor) -> Tensor:
        freq = F.one_hot(x, V).to(self.head.weight.dtype).mean(0)  # (B, V)
        return self.head(torch.tanh(self.hidden(freq)))


class FirstCharRNN(nn.Module):
    """One-hot characters ``(L, B, V)`` → ``rnnlab.RNN(V, H)`` (tanh) → ``Linear(H, 2)`` on the last state."""

    def __init__(self, hidden_size: int = 16):
        super().__init__()
        positive_ints(hidden_size=hidden_size)
        self.rnn = RNN(V, hidden_size)
        self.head = nn.Linear(hidden_size, 2)

    def forward(self, x: Tensor) -> Tensor:
        _, h_n = self.rnn(F.one_hot(x, V).to(self.head.weight.dtype))  # (1, B, H)
        return self.head(h_n[-1])  # (B, 2)


def bag_bound(length: int) -> float:
    """The best accuracy any model of the frequencies can reach at this length, exactly.

    Given the counts ``n``, ``P(n | first = a) ∝ n_a`` and ``P(n | first ≠ a) ∝ (L − n_a) / 3`` (one extra ``a``, or
    one extra of the three others, on top of ``L − 1`` uniform draws), so the best rule answers *yes* when
    ``n_a > L / 4``, and only ``n_a`` matters: ``n_a − 1 ~ Bin(L − 1, 1/4)`` after an ``a``, ``n_a ~ Bin(L − 1, 1/4)``
    otherwise. The bound is ``½ Σ_n max`` of the two.
    """
    positive_ints(length=length)
    m, p = length - 1, 1 / V

    def binom(n: int) -> float:
        return math.comb(m, n) * p**n * (1 - p) ** (m - n) if 0 <= n <= m else 0.0

    return 0.5 * sum(max(binom(n - 1), binom(n)) for n in range(length + 1))


@dataclass
class FirstCharConfig(FreshBatchConfig):
    """Settings of :func:`train_first_char`: those of :class:`~rnnlab.loop.FreshBatchConfig`, with their defaults
    for this task, and

    Attributes:
        min_length, max_length: each training batch has one length drawn uniformly from this range.
    """

    min_length: int = 5
    max_length: int = 10
    steps: int = 500
    batch_size: int = 128
    lr: float = 1e-2
    eval_every: int = 100
    eval_size: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_ints(min_length=self.min_length, max_length=self.max_length)
        if self.min_length > self.max_length:
            raise ValueError(f"min_length {self.min_length} is above max_length {self.max_length}")


class FirstCharHistory(FreshBatchHistory):
    """At each evaluation: the step, the mean training loss since the last one, and accuracy at ``max_length``."""


def accuracy_by_length(model: nn.Module, lengths, size: int = 2000, seed: int = 1000) -> list[float]:
    """Accuracy at each length, on ``size`` fixed sequences per length (drawn from ``seed + L``: the same for
    every model)."""
    device = device_of(model)
    result = []
    with evaluating(model), torch.no_grad():
        for length in lengths:
            x, y = first_a_batch(size, length, torch.Generator().manual_seed(seed + length))
            result.append((model(x.to(device)).argmax(-1).cpu() == y).double().mean().item())
    return result


def train_first_char(
    model: nn.Module, config: FirstCharConfig | None = None, *, seed: int = 0, **overrides
) -> FirstCharHistory:
    """Train ``model`` on :func:`first_a_batch`, each batch one length from ``[min_length, max_length]`` (the
    lengths and the batches from CPU generators seeded with ``seed``: the same data on any device)."""
    cfg = configured(FirstCharConfig, config, overrides)
    lengths = random.Random(seed)

    return train_on_fresh_batches(
        model,
        FirstCharHistory(),
        cfg,
        batch=lambda gen: first_a_batch(cfg.batch_size, lengths.randint(cfg.min_length, cfg.max_length), gen),
        loss=lambda m, x, y: F.cross_entropy(m(x), y),
        measure=lambda: accuracy_by_length(model, [cfg.max_length], cfg.eval_size)[0],
        seed=seed,
        desc="first char",
    )
