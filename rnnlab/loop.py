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
* counts are 1-based everywhere, and every history is a :class:`Record`;
* a run stops at the first non-finite loss with :class:`TrainingDiverged`, and at Ctrl-C with
  :class:`TrainingInterrupted`; both carry the history so far and where the run stopped
  (:func:`stopping`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import random
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.validation import positive_ints, positive_number

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
    "DataUnavailable",
    "TrainingStopped",
    "TrainingDiverged",
    "TrainingInterrupted",
    "Where",
    "stopping",
    "check_finite",
    "FreshBatchConfig",
    "FreshBatchHistory",
    "train_on_fresh_batches",
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
    clipping), ``step``: the update every training loop here makes.

    Raises:
        TrainingDiverged: the loss is NaN or infinite (checked before the update, so the model
            keeps the weights that gave it).
    """
    check_finite(loss.item(), "the training loss")
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


# -- runs that cannot go on -------------------------------------------------------------------
class DataUnavailable(RuntimeError):
    """A task's data is not installed here (``pydoc_data``, ``faker``); the message says how to get it."""


class TrainingStopped(Exception):
    """A run that stopped before its end. ``reason`` is ``'diverged'`` or ``'interrupted'``;
    ``unit`` and ``count`` say where (``'step'``/``'epoch'``, 1-based: the one that did not
    finish); ``history`` is the record up to the last completed evaluation."""

    reason = "stopped"

    def __init__(self, message: str, unit: str = "step", count: int = 0, history: Record | None = None) -> None:
        super().__init__(message)
        self.message, self.unit, self.count, self.history = message, unit, count, history

    def at(self, where: Where, history: Record) -> TrainingStopped:
        self.unit, self.count, self.history = where.unit, where.count, history
        self.args = (f"{self.message} at {where.unit} {where.count}",)
        return self


class TrainingDiverged(TrainingStopped, FloatingPointError):
    """The loss (or a validation measure) became NaN or infinite: the weights are no longer usable."""

    reason = "diverged"


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM, under the command line) during training. A ``KeyboardInterrupt``, so it
    stops a notebook cell as usual; ``history``, ``unit`` and ``count`` as :class:`TrainingStopped`."""

    reason = "interrupted"
    at = TrainingStopped.at

    def __init__(self, message: str = "interrupted") -> None:
        super().__init__(message)
        self.message, self.unit, self.count, self.history = message, "step", 0, None


@dataclasses.dataclass
class Where:
    """The loop's position, for :func:`stopping`: the loop sets ``count`` as it goes."""

    unit: str
    count: int = 0


def check_finite(value: float, what: str) -> None:
    """Raise :class:`TrainingDiverged` (``"<what> is nan"``) unless ``value`` is finite."""
    if not math.isfinite(value):
        raise TrainingDiverged(f"{what} is {value}")


@contextlib.contextmanager
def stopping(history: Record, unit: str, model: nn.Module | None = None) -> Iterator[Where]:
    """Around a training loop: a divergence or a Ctrl-C inside leaves as :class:`TrainingDiverged`
    or :class:`TrainingInterrupted`, carrying ``history`` and the ``unit`` and ``count`` the loop
    last set on the yielded :class:`Where`. With ``model``, a loop that ends with non-finite
    weights (a last update that blew up) is a divergence too."""
    where = Where(unit)
    try:
        yield where
        if model is not None and not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
            raise TrainingDiverged("the weights are not finite after the last update")
    except TrainingDiverged as e:
        raise e.at(where, history) from None
    except KeyboardInterrupt as e:
        stop = e if isinstance(e, TrainingInterrupted) else TrainingInterrupted()
        raise stop.at(where, history) from None


@dataclasses.dataclass
class FreshBatchConfig:
    """What the synthetic tasks' training shares (notebook 13's parity, 08b's memory): every step a fresh batch.

    Attributes:
        steps: optimizer steps (Adam).
        batch_size: examples per batch.
        lr, clip: Adam's learning rate and the max gradient norm (None: no clipping).
        eval_every: measure every this many steps (and after the last).
        eval_size: held-out examples per measurement (the same ones every time: a fixed generator).
        progress: show a ``tqdm.auto`` bar.
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    clip: float | None = 1.0
    eval_every: int = 100
    eval_size: int = 512
    progress: bool = True

    def __post_init__(self) -> None:
        positive_ints(
            steps=self.steps, batch_size=self.batch_size, eval_every=self.eval_every, eval_size=self.eval_size
        )
        positive_number("lr", self.lr)
        positive_number("clip", self.clip, optional=True)


@dataclasses.dataclass
class FreshBatchHistory(Record):
    """At each evaluation: the step, the mean training loss since the previous one, and what the task measures."""

    step: list[int] = dataclasses.field(default_factory=list)
    loss: list[float] = dataclasses.field(default_factory=list)
    accuracy: list = dataclasses.field(default_factory=list)


def train_on_fresh_batches(
    model: nn.Module,
    history: FreshBatchHistory,
    config: FreshBatchConfig,
    *,
    batch: Callable[[torch.Generator], tuple[Tensor, Tensor]],
    loss: Callable[[nn.Module, Tensor, Tensor], Tensor],
    measure: Callable[[], Any],
    seed: int = 0,
    desc: str = "train",
) -> FreshBatchHistory:
    """The loop of the synthetic tasks: every step a fresh batch.

    ``batch(generator)`` draws ``(x, y)`` on the CPU from a generator seeded with ``seed`` (the same data on any
    device); ``loss(model, x, y)`` is the step's loss (Adam at ``config.lr``, ``config.clip`` on the gradient
    norm). Every ``config.eval_every`` steps and after the last, ``history`` gets the step, the mean loss since
    the last evaluation, and ``measure()`` in its ``accuracy`` field. Divergence and Ctrl-C stop it as
    :func:`stopping` says.
    """
    from tqdm.auto import tqdm

    device = device_of(model)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(seed)
    since, count = 0.0, 0
    model.train()
    with stopping(history, "step", model) as where:
        for step in tqdm(range(1, config.steps + 1), disable=not config.progress, desc=desc, leave=False):
            where.count = step
            x, y = batch(gen)
            value = loss(model, x.to(device), y.to(device))
            optimizer_step(model, opt, value, config.clip)
            since, count = since + value.item(), count + 1
            if step % config.eval_every == 0 or step == config.steps:
                history.step.append(step)
                history.loss.append(since / count)
                history.accuracy.append(measure())
                since, count = 0.0, 0
    return history
