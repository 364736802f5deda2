"""Training: seeds, device, the ``fit`` loop, ``predict``, and checkpoints.

``fit`` takes a model from :mod:`rnnlab.models` and a :class:`~rnnlab.data.PairDataset`,
trains with cross-entropy, and returns a :class:`History` (loss, accuracy, prediction per
epoch). Progress goes to a ``tqdm.auto`` bar (``progress=False`` turns it off) and to an
optional ``on_epoch(epoch, record)`` callback; nothing is printed or plotted here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data import CharVocab, PairDataset

__all__ = [
    "set_seed",
    "get_device",
    "device_of",
    "evaluating",
    "optimizer_step",
    "TrainConfig",
    "History",
    "Record",
    "sequence_loss",
    "fit",
    "predict",
    "save_checkpoint",
    "load_checkpoint",
    "atomic_write",
    "CHECKPOINT_FORMAT",
]


def set_seed(seed: int) -> None:
    """Seed Python's and torch's (CPU and every CUDA device) random generators."""
    random.seed(seed)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def get_device() -> torch.device:
    """``cuda`` when a GPU is available, else ``cpu``: the one place notebooks choose."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainConfig:
    """Settings of :func:`fit`.

    Attributes:
        epochs: maximum number of passes over the data.
        lr: learning rate.
        optimizer: ``'adam'`` or ``'sgd'``.
        clip: max gradient norm (``torch.nn.utils.clip_grad_norm_``), or None.
        early_stop: stop after the first epoch on which every character is right.
        batch_size: pairs per batch (None: each length group in one batch).
        progress: show a ``tqdm.auto`` progress bar.
    """

    epochs: int = 200
    lr: float = 0.1
    optimizer: str = "adam"
    clip: float | None = None
    early_stop: bool = True
    batch_size: int | None = None
    progress: bool = True


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


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    prediction: list[list[str]] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def epochs_to_100(self) -> int | None:
        """First epoch (1-based) with every character right, or None."""
        return next((k + 1 for k, a in enumerate(self.accuracy) if a == 1.0), None)


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


def _make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


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


def fit(
    model: nn.Module,
    data: PairDataset,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callable[[int, dict], None] | None = None,
    **overrides,
) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    Args:
        model: maps ``(T, B)`` indices to ``(T, B, V)`` logits; a ``per_step_loss = True``
            attribute selects the per-step loss (see :func:`sequence_loss`).
        data: the string pairs (and their vocabulary).
        config: a :class:`TrainConfig`; keyword ``overrides`` replace its fields.
        on_epoch: called as ``on_epoch(epoch, {"loss", "accuracy", "prediction"})``.
    """
    cfg = dataclasses.replace(config or TrainConfig(), **overrides)
    opt = _make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    per_step = getattr(model, "per_step_loss", False)
    device = device_of(model)
    batches = [(x.to(device), y.to(device)) for x, y in data.batches(cfg.batch_size)]
    n_chars = sum(y.numel() for _, y in batches)
    history = History()

    from tqdm.auto import tqdm

    # refresh=False postfixes and mininterval: at most one redraw a second, even in a piped log
    bar = tqdm(
        range(1, cfg.epochs + 1), disable=not cfg.progress, desc=model.spec["name"], leave=False, mininterval=1.0
    )
    for epoch in bar:
        model.train()
        total = 0.0
        for x, y in batches:
            loss = sequence_loss(model(x), y, per_step)
            optimizer_step(model, opt, loss, cfg.clip)
            total += loss.item() * (y.shape[1] if per_step else y.numel())  # summed over chars
        preds = predict(model, data)
        correct = sum(p == t for (_, tgt), pred in zip(data.pairs, preds) for p, t in zip(pred, tgt))
        record = {"loss": total / n_chars, "accuracy": correct / n_chars, "prediction": preds}
        history.loss.append(record["loss"])
        history.accuracy.append(record["accuracy"])
        history.prediction.append(preds)
        bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.0%}", refresh=False)
        if on_epoch is not None:
            on_epoch(epoch, record)
        if cfg.early_stop and record["accuracy"] == 1.0:
            break
    bar.close()
    return history


def predict(model: nn.Module, data: PairDataset | list[str], vocab: CharVocab | None = None) -> list[str]:
    """Decode the model's most likely character at every step, one string per source.

    Args:
        data: a :class:`PairDataset` (its sources and vocabulary) or a list of source strings.
        vocab: needed when ``data`` is a list of strings.
    """
    if isinstance(data, PairDataset):
        sources, vocab = [s for s, _ in data.pairs], data.vocab
    else:
        sources = list(data)
        if vocab is None:
            raise ValueError("predict needs the vocabulary when given plain strings")
    device = device_of(model)
    out = []
    with evaluating(model):
        for src in sources:
            logits = model(vocab.encode(src).unsqueeze(1).to(device))  # (T, 1, V)
            out.append(vocab.decode(logits.argmax(-1)[:, 0]))
    return out


CHECKPOINT_FORMAT = "rnnlab-checkpoint/1"


def atomic_write(path: str | os.PathLike, write: Callable) -> Path:
    """Write a file so that a crash leaves either the old file or the new one, never half.

    ``write(f)`` fills a temporary file (binary) in the same folder; it is flushed to disk,
    then renamed over ``path``. On any error the temporary file is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(path: str | os.PathLike, model: nn.Module, vocab: CharVocab, config: dict | None = None) -> Path:
    """Save model weights, its architecture spec, the vocabulary and a config, atomically.

    The file is written under a temporary name in the same folder, flushed to disk, then
    renamed over ``path``: a crash leaves either the old file or the new one, never half.
    Everything stored is a tensor, string or number, so it loads with ``weights_only=True``.
    """
    path = Path(path)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "spec": dict(model.spec),
        "vocab": list(vocab.idx2char),
        "config": dict(config or {}),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    atomic_write(path, lambda f: torch.save(payload, f))
    return path


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    vocab: CharVocab | None = None,
    map_location: str | torch.device | None = "cpu",
) -> tuple[nn.Module, CharVocab, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` (with ``weights_only=True``).

    Args:
        model: load into this model; refused with a ValueError if its architecture differs.
            Omitted: the model is rebuilt from the stored spec.
        vocab: refused if it differs from the stored vocabulary.

    Returns:
        ``(model, vocab, config)``.
    """
    from rnnlab.models import model_from_spec

    payload = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an rnnlab checkpoint (format {CHECKPOINT_FORMAT})")
    spec, stored_vocab = payload["spec"], CharVocab(payload["vocab"])
    if vocab is not None and vocab != stored_vocab:
        raise ValueError(f"checkpoint vocabulary {stored_vocab.idx2char} differs from the given {vocab.idx2char}")
    if model is None:
        model = model_from_spec(spec)
    elif getattr(model, "spec", None) != spec:
        raise ValueError(
            f"checkpoint holds a {_describe(spec)} model; refusing to load it into a "
            f"{_describe(getattr(model, 'spec', {'name': type(model).__name__}))} model"
        )
    model.load_state_dict(payload["state_dict"])
    return model, stored_vocab, payload["config"]


def _describe(spec: dict) -> str:
    extras = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    return f"'{spec['name']}'" + (f" ({extras})" if extras else "")
