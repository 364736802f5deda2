"""Checkpoints: written atomically, loaded with ``weights_only=True``, rebuilt through one registry.

This module sits above the tasks: it is the one place that knows every task's model
(:data:`MODELS`), so that :func:`load_checkpoint` can rebuild whichever model a file holds.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from rnnlab.classify import NameClassifier
from rnnlab.labelling import MODEL_NAMES, build_model
from rnnlab.lm import CharLM
from rnnlab.seq2seq import Seq2Seq
from rnnlab.vocab import CharVocab

__all__ = ["CHECKPOINT_FORMAT", "MODELS", "atomic_write", "save_checkpoint", "load_checkpoint", "model_from_spec"]

CHECKPOINT_FORMAT = "rnnlab-checkpoint/1"


# The registry: every task's model, by the name its ``spec`` carries. A new task adds one line.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "charlm": CharLM,
    "names": NameClassifier,
    "seq2seq": Seq2Seq,
    **{name: functools.partial(build_model, name) for name in MODEL_NAMES},  # build_model(name, vocab_size, ...)
}


def model_from_spec(spec: dict) -> nn.Module:
    """Rebuild a model (untrained) from its ``spec`` dict, as stored in a checkpoint."""
    spec = dict(spec)
    name = spec.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r} in the checkpoint; known: {sorted(MODELS)}")
    return MODELS[name](**spec)


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
