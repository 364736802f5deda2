"""What every task's training loop shares: seeds, the device, one update, evaluation mode, the
history record, the config convention and the callback signature.

The four trainers (:func:`rnnlab.labelling.fit`, :func:`rnnlab.lm.train_lm`,
:func:`rnnlab.classify.train_classifier`, :func:`rnnlab.seq2seq.train_seq2seq`) are each written
out, because the loop is the lesson, but they share one interface:

* a config dataclass, validated in its ``__post_init__``, whose fields keyword overrides replace
  (``fit(model, data, epochs=20)`` = ``fit(model, data, TrainConfig(epochs=20))``), ``progress``
  among them;
* a :data:`Callback` ``(count, history)``, called after each epoch (``on_epoch``) or each
  evaluation (``on_eval``) with the 1-based epoch or step and the :class:`Record` so far;
* counts are 1-based everywhere, and every history is a :class:`Record`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "set_seed",
    "get_device",
    "device_of",
    "evaluating",
    "optimizer_step",
    "sequence_loss",
    "detach_state",
    "Record",
    "Callback",
    "configured",
]


def set_seed(seed: int) -> None:
    """Seed Python's and torch's (CPU and every CUDA device) random generators."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def get_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``: the one place notebooks choose."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's (first) parameter."""
    return next(model.parameters()).device


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Inside: eval mode (no dropout) and no autograd. After, even on an error: the model's
    previous mode back."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


def optimizer_step(model: nn.Module, optimizer: torch.optim.Optimizer, loss: Tensor, clip: float | None) -> None:
    """``zero_grad``, ``loss.backward()``, clip the total gradient norm to ``clip`` (None: no
    clipping), ``step``: the update every training loop here makes."""
    optimizer.zero_grad()
    loss.backward()
    if clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip)  # after backward, before step
    optimizer.step()


def sequence_loss(logits: Tensor, targets: Tensor, per_step: bool = False) -> Tensor:
    """Cross-entropy of ``(T, B, V)`` logits against ``(T, B)`` class indices.

    ``F.cross_entropy`` wants classes on dim 1: ``(N, V)`` against ``(N,)``. Either loop over
    time, each step ``(B, V)`` vs ``(B,)``, summing the step losses (``per_step=True``, the
    classic cell-loop lesson), or flatten time and batch: ``(T*B, V)`` vs ``(T*B,)``, the mean
    over all characters. Feeding ``(T, B, V)`` unflattened would treat ``B`` as the class axis.
    """
    if logits.dim() != 3 or targets.shape != logits.shape[:2]:
        raise ValueError(
            f"expected logits (T, B, V) and targets (T, B), got {tuple(logits.shape)} and {tuple(targets.shape)}"
        )
    if per_step:
        return sum(F.cross_entropy(logits[t], targets[t]) for t in range(len(logits)))
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


def detach_state(state):
    """Cut the graph behind a carried state (a tensor or an ``(h, c)`` pair), keep its values."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)


class Record:
    """Base of the training histories: a dataclass of lists that round-trips through JSON."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The record a :meth:`to_dict` wrote; a field missing from ``d`` (a history written before the
        field existed) is left empty, a name that is not a field is refused."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"{cls.__name__} has no field(s) {unknown}; it has {sorted(names)}")
        return cls(**{name: list(d[name]) for name in names if name in d})


Callback = Callable[[int, Record], None]
"""``callback(count, history)``: the 1-based epoch or step, and the history so far."""

C = TypeVar("C")


def configured(cls: type[C], config: C | None, overrides: dict[str, Any]) -> C:
    """``config`` (default: ``cls()``) with the keyword ``overrides`` replacing its fields,
    validated again by the dataclass's ``__post_init__``; an unknown name is refused by name."""
    config = cls() if config is None else config
    if not isinstance(config, cls):
        raise TypeError(f"config must be a {cls.__name__}, got {type(config).__name__}")
    fields = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}; its fields: {fields}")
    return dataclasses.replace(config, **overrides)
