"""Argument checks shared by rnnlab's models and training configs: one wording per mistake."""

from __future__ import annotations

import math
from collections.abc import Sequence

IMPLS = ("rnnlab", "torch")  # the recurrent layers a model can be built from: rnnlab's or torch.nn's


def positive_ints(**values: object) -> None:
    """Raise ``ValueError("<name> must be a positive integer, got <value>")`` for the first
    value that is not an ``int`` >= 1 (``bool`` does not count)."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def positive_number(name: str, value: object, optional: bool = False) -> None:
    """Raise unless ``value`` is a finite number > 0 (or None, when ``optional``)."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a positive finite number{' or None' if optional else ''}, got {value!r}")


def one_of(name: str, value: object, choices: Sequence[object]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
