"""The old module paths (``rnnlab.data``, ``rnnlab.models``, ``rnnlab.train``), kept for this course
version so that learners' own copies in ``my-notebooks/`` still run. Each name is looked up in its new
module on first use, with a ``DeprecationWarning`` that names the new path. Nothing inside ``rnnlab``
imports an old path (a test checks)."""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable


def moved(old: str, new_homes: dict[str, list[str]]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for the module ``old``, whose names now live in ``new_homes``
    (``{new module: [names]}``)."""
    home = {name: module for module, names in new_homes.items() for name in names}

    def __getattr__(name: str) -> object:
        if name not in home:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} has moved to {home[name]}.{name}: `from {home[name]} import {name}` "
            f"({old} is kept for this course version only)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(home[name]), name)

    def __dir__() -> list[str]:
        return sorted(home)

    return __getattr__, __dir__
