"""Character language models trained with truncated backprop through time.

A long text is cut into chunks (:func:`rnnlab.data.stream_batches`); the model reads chunk
after chunk, and the state it ends one chunk with starts the next, *detached*: values flow
on, gradients stop at the chunk boundary. One training step is :func:`tbptt_step`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.models import detach_state

__all__ = ["tbptt_step"]


def _next_char_loss(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy of ``(T, B, V)`` logits against ``(T, B)`` next characters."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))


def tbptt_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, state=None,
               clip: float | None = None):  # fmt: skip
    """One step of truncated BPTT: forward a chunk from the carried state, backward, clip, step.

    Args:
        model: maps ``(x, state)`` to ``(logits, state)`` (e.g. :class:`rnnlab.models.CharLM`).
        optimizer: over ``model``'s parameters.
        x, y: ``(T, B)`` input and next-character indices of one chunk.
        state: the previous chunk's final state (detached here), or None for zeros.
        clip: max total gradient norm (``clip_grad_norm_``), or None.

    Returns:
        ``(loss, state)``: the chunk's mean loss (a float) and its final state, detached.
    """
    optimizer.zero_grad()
    logits, state = model(x, detach_state(state))  # graph starts at this chunk
    loss = _next_char_loss(logits, y)
    loss.backward()
    if clip is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip)  # after backward, before step
    optimizer.step()
    return loss.item(), detach_state(state)
