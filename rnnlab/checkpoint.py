"""Checkpoints: written atomically, loaded with ``weights_only=True``, rebuilt through one registry.

This module sits above the tasks: it is the one place that knows every task's model
(:data:`MODELS`), so that :func:`load_checkpoint` can rebuild whichever model a file holds.
"""

from __future__ import annotations

import functools
import glob
import os
import pickle
import re
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from rnnlab.classify import NameClassifier
from rnnlab.labelling import MODEL_NAMES, build_model
from rnnlab.lm import CharLM
from rnnlab.memory import MemoryModel
from rnnlab.parity import ParityModel
from rnnlab.seq2seq import Seq2Seq
from rnnlab.vocab import CharVocab

__all__ = [
    "CHECKPOINT_FORMAT",
    "MODELS",
    "atomic_write",
    "write_target",
    "remove_stale_temps",
    "check_storable",
    "save_checkpoint",
    "load_checkpoint",
    "model_from_spec",
]

CHECKPOINT_FORMAT = "rnnlab-checkpoint/1"


# The registry: every task's model, by the name its ``spec`` carries. A new task adds one line.
MODELS: dict[str, Callable[..., nn.Module]] = {
    "charlm": CharLM,
    "names": NameClassifier,
    "seq2seq": Seq2Seq,
    "parity": ParityModel,
    "memory": MemoryModel,
    **{name: functools.partial(build_model, name) for name in MODEL_NAMES},  # build_model(name, vocab_size, ...)
}


def model_from_spec(spec: dict) -> nn.Module:
    """Rebuild a model (untrained) from its ``spec`` dict, as stored in a checkpoint."""
    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r} in the checkpoint; known: {sorted(MODELS)}")
    return MODELS[name](**spec)


# -- where a file may be written --------------------------------------------------------------
def write_target(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces, or a ValueError saying why it may not be written.

    * a regular file, or nothing yet (its folder is created when missing): fine;
    * a symbolic link is followed: the file it points to is replaced and the link stays
      (a link that points to nothing is refused, so a typo in a link never creates a stray file);
    * anything else that exists (a folder, a device such as ``/dev/null``, a FIFO, a socket) is
      refused: replacing it would delete it, or never write a file at all.
    """
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise ValueError(f"{path} is a symbolic link to {os.readlink(path)}, which does not exist")
    target = path.resolve() if path.is_symlink() else path
    if target.exists() and not target.is_file():
        raise ValueError(f"{path} is {_kind(target)}, not a regular file; give the path of a file")
    return target


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    for test, kind in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


_STALE_AGE = 3600.0  # seconds: a temporary file of a process we cannot check is stale after this


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."  # then "<pid>.<random>.tmp"


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary files that killed saves of ``target`` left beside it.

    A save writes ``.NAME.<pid>.<random>.tmp`` and renames it over ``NAME``; ``kill -9`` (or a
    power cut) leaves it behind. Such a file is stale when its process no longer runs (or, when
    that cannot be checked, as on Windows or for another machine's files, after an hour);
    a save still running in another process is left alone. Returns what was removed.
    """
    removed = []
    prefix = _temp_prefix(target)
    for tmp in target.parent.glob(glob.escape(prefix) + "*.tmp"):
        pid = tmp.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and int(pid) == os.getpid():
            continue  # this process's own save in progress (another thread)
        try:
            stale = _process_gone(int(pid)) if pid.isdigit() else None
            if stale is None:
                stale = time.time() - tmp.stat().st_mtime > _STALE_AGE
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass  # gone already, or not ours to remove
    return removed


def _process_gone(pid: int) -> bool | None:
    """Whether no process ``pid`` runs here; None when that cannot be asked (Windows, where
    ``os.kill(pid, 0)`` would terminate it)."""
    if os.name == "nt":
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # PermissionError: it runs, as another user
        return False
    return False


def _new_file_mode(target: Path) -> int:
    """The mode ``target`` gets: its current one when it exists, else ``0o666`` less the umask."""
    if target.exists():
        return stat.S_IMODE(target.stat().st_mode)
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: str | os.PathLike, write: Callable) -> Path:
    """Write a file so that a crash leaves either the old file or the new one, never half.

    ``write(f)`` fills a temporary file (binary) in the same folder; it is flushed to disk,
    then renamed over the target. The target is checked by :func:`write_target` (a symlink is
    followed; a folder, device or FIFO is refused); a new file gets the usual ``0o666`` less the
    umask, a replaced file keeps its mode. On any error, SIGINT and SIGTERM included, the
    temporary file is removed; the ones a ``kill -9`` left are removed by the next save
    (:func:`remove_stale_temps`).

    Returns:
        the path written (the symlink's target when ``path`` is a link).
    """
    target = write_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(target)
    mode = _new_file_mode(target)
    fd, tmp = tempfile.mkstemp(prefix=f"{_temp_prefix(target)}{os.getpid()}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        if not hasattr(os, "fchmod"):
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(path) if Path(path).is_symlink() else target


# -- what a checkpoint may hold -----------------------------------------------------------------
_PLAIN = (str, int, float, bool, type(None))


def check_storable(value: object, where: str) -> None:
    """Refuse a value that ``torch.load(weights_only=True)`` would not read back: only ``str``,
    ``int``, ``float``, ``bool``, ``None``, and lists, tuples and str-keyed dicts of them (exact
    types: a numpy float or a ``Path`` is refused, with the conversion to make)."""
    if type(value) in _PLAIN:
        return
    if type(value) in (list, tuple):
        for i, v in enumerate(value):
            check_storable(v, f"{where}[{i}]")
        return
    if type(value) is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise TypeError(f"{where} has the key {k!r} ({type(k).__name__}); a checkpoint's keys are strings")
            check_storable(v, f"{where}[{k!r}]")
        return
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    raise TypeError(
        f"{where} is a {kind} ({value!r}); a checkpoint stores only str, int, float, bool, None and "
        "lists or dicts of them, so that it loads with weights_only=True: convert it (float(x), int(x), str(path))"
    )


def save_checkpoint(path: str | os.PathLike, model: nn.Module, vocab: CharVocab, config: dict | None = None) -> Path:
    """Save model weights, its architecture spec, the vocabulary and a config, atomically.

    The file is written under a temporary name in the same folder, flushed to disk, then
    renamed over ``path`` (see :func:`atomic_write`): a crash leaves either the old file or the
    new one, never half. Everything stored is a tensor, string or number (checked here, by
    :func:`check_storable`, before anything is written), so it loads with ``weights_only=True``.
    """
    spec, config = dict(model.spec), dict(config or {})
    check_storable(spec, "the model's spec")
    check_storable(config, "config")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "spec": spec,
        "vocab": list(vocab.idx2char),
        "config": config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    return atomic_write(path, lambda f: torch.save(payload, f))


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    vocab: CharVocab | None = None,
    map_location: str | torch.device | None = "cpu",
) -> tuple[nn.Module, CharVocab, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` (with ``weights_only=True``).

    Nothing is allocated before the file is checked: it must be a ``torch.save`` file of plain
    data (anything else is refused, and never unpickled), its vocabulary and class labels must
    match its spec, and the spec's model, built first on the ``meta`` device (no memory), must
    have exactly the stored tensors' names and shapes. Every problem is a ValueError.

    Args:
        model: load into this model; refused with a ValueError if its architecture differs.
            Omitted: the model is rebuilt from the stored spec.
        vocab: refused if it differs from the stored vocabulary.

    Returns:
        ``(model, vocab, config)``.
    """
    payload = _read(path, map_location)
    spec, stored_vocab, config, state = _checked_parts(path, payload)
    if vocab is not None and vocab != stored_vocab:
        raise ValueError(f"checkpoint vocabulary {stored_vocab.idx2char} differs from the given {vocab.idx2char}")
    if model is None:
        _check_shapes(path, spec, state)
        model = model_from_spec(spec)
    elif getattr(model, "spec", None) != spec:
        raise ValueError(
            f"checkpoint holds a {_describe(spec)} model; refusing to load it into a "
            f"{_describe(getattr(model, 'spec', {'name': type(model).__name__}))} model"
        )
    model.load_state_dict(state)
    return model, stored_vocab, config


def _read(path: str | os.PathLike, map_location) -> object:
    """``torch.load(weights_only=True)``, its failures said as what the file is not. torch's own
    message is not passed on: it advises retrying with ``weights_only=False``, which would run
    whatever code a hostile file holds."""
    with open(path, "rb") as f:
        head = f.read(64)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r"GLOBAL ([\w.]+)", str(e))
        if not found:  # not a pickle of objects at all
            raise ValueError(f"{path} is not an rnnlab checkpoint: {_not_torch(head)}") from None
        what = f" ({found.group(1)})"
        raise ValueError(
            f"{path} is not an rnnlab checkpoint: it holds Python objects other than tensors, strings and "
            f"numbers{what}, which rnnlab never writes; it was not loaded, since unpickling such objects can run code"
        ) from None
    except Exception:
        raise ValueError(f"{path} is not an rnnlab checkpoint: {_not_torch(head)}") from None


def _not_torch(head: bytes) -> str:
    text = head.lstrip()
    if not head:
        return "the file is empty"
    if text[:1] in (b"{", b"["):
        return "it is JSON text (a --history file?), not a file torch.save wrote"
    if head[:2] == b"PK":
        return "it is a zip archive, but not one torch.save wrote (or it is truncated)"
    return "it is not a file torch.save wrote"


def _checked_parts(path, payload) -> tuple[dict, CharVocab, dict, dict]:
    """The four parts of a checkpoint, their types and their agreement checked."""
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an rnnlab checkpoint (format {CHECKPOINT_FORMAT})")
    spec, chars, config, state = (payload.get(k) for k in ("spec", "vocab", "config", "state_dict"))
    if not (isinstance(spec, dict) and isinstance(config, dict) and isinstance(state, dict)):
        raise ValueError(f"{path}: a damaged checkpoint (its spec, config or state_dict is missing)")
    if not (isinstance(chars, list) and all(isinstance(c, str) for c in chars)) or len(set(chars)) != len(chars):
        raise ValueError(f"{path}: a damaged checkpoint (its vocabulary is not a list of distinct strings)")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ValueError(f"{path}: a damaged checkpoint (its state_dict holds more than named tensors)")
    if "vocab_size" in spec and spec["vocab_size"] != len(chars):
        raise ValueError(f"{path}: the spec's vocab_size {spec['vocab_size']} differs from its {len(chars)} characters")
    labels = config.get("labels")
    if labels is not None and "num_classes" in spec and len(labels) != spec["num_classes"]:
        raise ValueError(f"{path}: {len(labels)} class labels, but the spec's num_classes is {spec['num_classes']}")
    return spec, CharVocab(chars), config, state


def _check_shapes(path, spec: dict, state: dict[str, torch.Tensor]) -> None:
    """The spec's model must have the stored tensors' names and shapes. Its sizes are first bounded
    by the tensors (no size exceeds the largest stored dimension, no count their number), so even
    the meta build of a forged spec (``num_layers: 100000``) is quick; then it is built on ``meta``."""
    bound = max([len(state), *(max(t.shape, default=1) for t in state.values())])
    for key, value in spec.items():
        if type(value) is int and not 0 <= value <= bound:
            raise ValueError(
                f"{path}: the spec's {key}={value} does not fit the stored tensors (their largest size is {bound})"
            )
    try:
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in model_from_spec(spec).state_dict().items()}
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: the spec {_describe(spec)} does not build a model ({e})") from None
    stored = {k: tuple(v.shape) for k, v in state.items()}
    if shapes != stored:
        diff = sorted(set(shapes) ^ set(stored)) or [k for k in shapes if shapes[k] != stored[k]]
        detail = ", ".join(f"{k}: spec {shapes.get(k)}, stored {stored.get(k)}" for k in diff[:3])
        raise ValueError(f"{path}: the stored tensors do not match the spec {_describe(spec)} ({detail})")


def _describe(spec: dict) -> str:
    extras = ", ".join(f"{k}={v}" for k, v in spec.items() if k != "name")
    return f"'{spec.get('name')}'" + (f" ({extras})" if extras else "")
