"""Shared machinery of the checks: the verdict exception, calling the learner's code (and refusing torch's fused
kernels), comparisons, and matching a wrong result against a catalogue of known mistakes."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from rnnlab.checks._i18n import tr

TOL = 1e-8  # checks run in float64

TOL_FLOAT32 = 1e-5  # diagnose_final_state compares the learner's float32 tensors


class CheckFailed(AssertionError):
    """An exercise answer is wrong; the message says how.

    In Jupyter it shows as the verdict alone (``✗ ...``, in red), not as a traceback through the
    checker's own code, which a beginner would read as "the library crashed": IPython calls
    ``_render_traceback_`` for the lines to show. Outside Jupyter it is a plain AssertionError.
    """

    def _render_traceback_(self) -> list[str]:
        red, bold, reset = "\x1b[31m", "\x1b[1m", "\x1b[0m"
        lines = str(self).splitlines() or [""]
        return [f"{red}{bold}✗{reset}{red} {lines[0]}{reset}", *(f"{red}  {line}{reset}" for line in lines[1:])]


_FUSED = {"rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_tanh", "rnn_relu", "lstm", "gru"}


class _FusedSpy(torch.overrides.TorchFunctionMode):
    """Records torch's fused recurrent kernels called inside it (torch.lstm_cell, torch._VF.*,
    and so nn.LSTMCell / nn.LSTM, which call them)."""

    def __init__(self) -> None:
        super().__init__()
        self.fused: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in _FUSED and name not in self.fused:
            self.fused.append(name)
        return func(*args, **(kwargs or {}))


def _call(fn: Callable, name: str, *args, from_scratch: bool = False):
    """Call the learner's function, turning a stub or a crash into a CheckFailed. With
    ``from_scratch``, calling one of torch's fused recurrent kernels is refused too."""
    try:
        if not from_scratch:
            return fn(*args)
        with _FusedSpy() as spy:
            result = fn(*args)
        if spy.fused:
            raise CheckFailed(
                tr(
                    "{name} calls torch's fused kernel {kernels} (via torch.{first}, torch._VF or an nn cell/layer): "
                    "that is torch doing the step. Write it with tensor ops: matmuls, sigmoid, tanh, and the gate "
                    "arithmetic.",
                    name=name,
                    kernels=", ".join(spy.fused),
                    first=spy.fused[0],
                )
            )
        return result
    except NotImplementedError:
        raise CheckFailed(
            tr(
                "Not done yet: {name} still raises NotImplementedError. Replace the stub's "
                "`raise NotImplementedError` with your code, run that cell, then this one.",
                name=name,
            )
        ) from None
    except RuntimeError as e:
        message = tr("{name} raised RuntimeError: {error}.", name=name, error=e)
        if "cannot be multiplied" in str(e):
            message += " " + tr("Weights are stored (out_features, in_features): multiply by W.T, as in x @ W_ih.T.")
        raise CheckFailed(message) from None


def _max_diff(got, want: Tensor) -> float | None:
    """max |got - want|, or None when ``got`` is not a tensor of ``want``'s shape."""
    if not isinstance(got, Tensor) or got.shape != want.shape:
        return None
    return (got.double() - want.double()).abs().max().item()


def _name(fn: Callable) -> str:
    """The learner's function name for messages (a functools.partial shows its function's)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", tr("your function"))


def _same(got, want, tol: float = TOL) -> bool:
    """The one comparison every check uses: same structure and shapes, then max |diff| < tol for
    tensors and numbers (never a signed sum), equality for anything else (e.g. lists of ints)."""
    if isinstance(want, Tensor):
        d = _max_diff(got, want)
        return d is not None and d < tol
    if isinstance(want, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(want)
            and all(_same(g, w, tol) for g, w in zip(got, want))
        )
    if isinstance(want, float):
        try:
            return abs(float(got) - want) < tol
        except (TypeError, ValueError, RuntimeError):
            return False
    return got == want


def _maybe(fn: Callable):
    try:
        return fn()
    except (RuntimeError, ValueError, IndexError):
        return None


def diagnosis(message: str, why: str | None, otherwise: str | None = None) -> str:
    """``message``, then ``Diagnosis: <why>.`` when a known mistake matched, else ``otherwise`` if given."""
    if why:
        return message + " " + tr("Diagnosis: {why}.", why=why)
    return message + (" " + otherwise if otherwise else "")


def _known_mistake(got, catalogue: dict[str, Callable[[], object]], tol: float = TOL) -> str | None:
    """The first entry of a catalogue of known mistakes whose result equals ``got``.

    Each entry maps the message naming the mistake to a function computing what that mistake
    returns on the check's inputs; one that cannot be computed at all (a shape error) matches
    nothing. Every check names mistakes through this one matcher.
    """
    for message, compute in catalogue.items():
        want = _maybe(compute)
        if want is not None and _same(got, want, tol):
            return message
    return None


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """``torch.manual_seed(seed)`` for a check's own draws, without touching the learner's global
    random state (restored on exit)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, Tensor) else type(t).__name__


def _number(name: str, got) -> float:
    """The learner's result as a float; one number (a float or a 0-d tensor) is required."""
    try:
        return float(got)
    except (TypeError, ValueError, RuntimeError):
        raise CheckFailed(
            tr("{name} should return one number (a float or a 0-d tensor), got {got}", name=name, got=_shape(got))
        ) from None


def _require_shape(name: str, what: str, got, want: Tensor) -> None:
    """The learner's result must be a tensor of ``want``'s shape."""
    if not isinstance(got, Tensor) or got.shape != want.shape:
        raise CheckFailed(
            tr(
                "{name}: expected {what} of shape {want}, got {got}",
                name=name,
                what=what,
                want=tuple(want.shape),
                got=_shape(got),
            )
        )
