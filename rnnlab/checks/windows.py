"""Notebook 00: the fixed window a window MLP reads."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnlab.checks._core import CheckFailed, _call, _known_mistake, _name, _require_shape, _same, diagnosis
from rnnlab.checks._i18n import tr
from rnnlab.window import ALPHABET, window_onehot

V = len(ALPHABET)


def _window(x: Tensor, k: int, last=True, pad_front=True, position_major=True) -> Tensor:
    """One of the window's known mistakes (``last``: the last k characters, else the first k; ``pad_front``:
    zeros before the characters, else after; ``position_major``: one block of V per position); all three true
    is :func:`rnnlab.window.window_onehot` itself."""
    onehot = F.one_hot(x[-k:] if last else x[:k], V).float()  # (min(L, k), B, V)
    pad = onehot.new_zeros(k - onehot.shape[0], *onehot.shape[1:])
    onehot = torch.cat([pad, onehot] if pad_front else [onehot, pad])  # (k, B, V)
    if position_major:
        return onehot.transpose(0, 1).reshape(x.shape[1], k * V)
    return onehot.permute(1, 2, 0).reshape(x.shape[1], k * V)


def _window_mistakes(x: Tensor, k: int) -> dict[str, Callable[[], object]]:
    return {
        tr("it takes the first k characters: the window ends at the question, so take x[-k:]"): lambda: _window(
            x, k, last=False
        ),
        tr(
            "the zeros come after the characters: a short sequence is padded in front, so its last character stays "
            "in the window's last position"
        ): lambda: _window(x, k, pad_front=False),
        tr(
            "the columns are grouped by character, not by position: transpose (k, B, V) to (B, k, V) before "
            "flattening, so columns j*V to j*V + V - 1 are position j"
        ): lambda: _window(x, k, position_major=False),
        tr(
            "(k, B, V) is flattened without moving the batch first: reshape mixes different sequences; use "
            ".transpose(0, 1) before .reshape"
        ): lambda: F.one_hot(x[-k:], V).float().reshape(x.shape[1], k * V),
    }


def check_window_onehot(fn: Callable) -> None:
    """``fn(x, k) -> (B, k * 4)``: the last ``k`` characters of each sequence in ``x`` ``(L, B)`` (indices into
    ``abcd``), one-hot, oldest first, zeros in front when ``L < k``; as :func:`rnnlab.window.window_onehot`."""
    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for L, B, k in [(12, 3, 5), (5, 2, 5), (3, 4, 6), (1, 2, 3)]:
        x = torch.randint(0, V, (L, B), generator=g)
        want = window_onehot(x, k)
        got = _call(fn, name, x.clone(), k)
        _require_shape(name, "the window", got, want)
        if _same(got, want):
            continue
        message = tr("{name} gave the wrong window for L = {L} characters and k = {k}.", name=name, L=L, k=k)
        why = _known_mistake(got, _window_mistakes(x, k))
        raise CheckFailed(
            diagnosis(message, why, tr("Compare it with F.one_hot(x[-k:], 4) for one sequence, position by position."))
        )
    print(tr("✓ {name} reads the right window for sequences longer, as long as and shorter than k", name=name))
