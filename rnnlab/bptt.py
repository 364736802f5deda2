"""Backprop through time, made visible: every step's state and the gradient that reaches it.

Fused kernels (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) hand back only ``output`` and ``h_n``;
the states ``h_t`` inside the loop are not tensors you can ask a gradient of. rnnlab's
layers run the loop in Python, so they can keep them::

    with record_states(lstm) as rec:
        output, (h_n, c_n) = lstm(x)
    loss = head(output[-1]).sum()
    norms = state_gradient_norms(loss, rec.h())   # (T,): ‖∂L/∂h_t‖ for t = 0 … T-1

``∂L/∂h_t`` here is the *total* gradient: everything downstream of step ``t`` (later steps,
the layer above, the output) contributes, exactly what backpropagation through time sends
back to that step. The gradient of ``output[t]`` would be only the direct part.

Also here: two knobs the notebooks turn to make gradients vanish or explode on purpose,
:func:`set_forget_bias_` and :func:`set_spectral_radius_`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from rnnlab.layers import set_forget_bias_  # the LSTM's forget-bias knob lives with the layers (tasks use it)

__all__ = ["StateRecord", "record_states", "state_gradient_norms", "set_forget_bias_", "set_spectral_radius_"]


class StateRecord:
    """The per-step states of one forward call of an rnnlab ``RNN``/``LSTM``/``GRU``.

    Filled by :func:`record_states`; ``h(layer, direction)`` and ``c(...)`` return lists of
    ``T`` tensors in time order (``t = 0`` first, for the backward direction too). With a
    ``PackedSequence`` input the batch of step ``t`` is ``batch_sizes[t]`` rows.
    """

    def __init__(self, module: nn.Module) -> None:
        self.num_layers = module.num_layers
        self.num_directions = 2 if module.bidirectional else 1
        self.has_cell = len(module._state_names) == 2
        self.runs: list[list[tuple[Tensor, ...]]] = []  # (layer, direction) -> T x state

    def _run(self, layer: int, direction: int) -> list[tuple[Tensor, ...]]:
        L, D = self.num_layers, self.num_directions
        if not self.runs:
            raise RuntimeError("nothing recorded: call the module inside `with record_states(module)`")
        if len(self.runs) != L * D:
            raise RuntimeError(
                f"recorded {len(self.runs) // (L * D)} forward calls; record exactly one per "
                "`with record_states(...)` block"
            )
        if not (0 <= layer < L and 0 <= direction < D):
            raise IndexError(f"layer must be in [0, {L}) and direction in [0, {D}), got {layer}, {direction}")
        return self.runs[layer * D + direction]

    def h(self, layer: int = 0, direction: int = 0) -> list[Tensor]:
        """``h_t`` of one layer and direction for every step: ``T`` tensors ``(B, P)``."""
        return [s[0] for s in self._run(layer, direction)]

    def c(self, layer: int = 0, direction: int = 0) -> list[Tensor]:
        """LSTM only: the cell state ``c_t`` for every step, ``T`` tensors ``(B, H)``."""
        if not self.has_cell:
            raise ValueError("only an LSTM has a cell state c; RNN and GRU carry h alone")
        return [s[1] for s in self._run(layer, direction)]


@contextmanager
def record_states(module: nn.Module) -> Iterator[StateRecord]:
    """Keep every step's state of ``module``'s next forward call.

    Args:
        module: an rnnlab ``RNN``, ``LSTM`` or ``GRU`` (torch's fused modules cannot do this).

    Yields:
        A :class:`StateRecord`, filled when the forward inside the block runs.
    """
    if not hasattr(module, "_state_recorder"):
        raise TypeError(
            f"record_states needs an rnnlab RNN, LSTM or GRU, got {type(module).__name__}: "
            "torch.nn's fused kernels never expose the per-step states"
        )
    record = StateRecord(module)
    module._state_recorder = record.runs
    try:
        yield record
    finally:
        del module._state_recorder  # back to the class default, None


def state_gradient_norms(loss: Tensor, states: Sequence[Tensor], retain_graph: bool = False) -> Tensor:
    """``‖∂L/∂h_t‖`` for each state in ``states``, as a ``(T,)`` float64 tensor.

    Each norm is taken over the whole ``(B, P)`` tensor of that step. A step the loss does
    not depend on gets 0.

    Args:
        loss: a scalar.
        states: the tensors to differentiate by, e.g. ``record.h()``.
        retain_graph: keep the graph for another backward (e.g. ``loss.backward()`` after).
    """
    if loss.dim() != 0:
        raise ValueError(f"loss must be a scalar, got shape {tuple(loss.shape)}")
    grads = torch.autograd.grad(loss, list(states), retain_graph=retain_graph, allow_unused=True)
    return torch.tensor([0.0 if g is None else g.double().norm().item() for g in grads], dtype=torch.float64)


@torch.no_grad()
def set_spectral_radius_(weight: Tensor, radius: float) -> Tensor:
    """Rescale a square weight in place so its largest eigenvalue modulus is ``radius``.

    Below 1 the linear part of the recurrence shrinks every signal (and gradient) step after
    step; above 1 it grows them.
    """
    if weight.dim() != 2 or weight.shape[0] != weight.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {tuple(weight.shape)}")
    current = torch.linalg.eigvals(weight.double()).abs().max().item()
    weight.mul_(radius / current)
    return weight
