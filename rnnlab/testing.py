"""Parity testing: the same computation two ways, equal outputs and equal gradients.

This is how rnnlab's own test suite proves every module identical to ``torch.nn``, and what the
notebooks use for their from-scratch LSTM and GRU (micrograd style: build the thing twice, compare
values and every gradient):

    >>> ref, ours = twin("GRU", 4, 6, num_layers=2, dtype=torch.float64)
    >>> report = assert_parity(ref, ours, [torch.randn(5, 3, 4, dtype=torch.float64)])

Gradients come from one fixed random linear functional of all outputs, ``L = Σ_k sum(out_k ⊙ R_k)``,
so every output element contributes with its own weight; a sum of signed differences is never
used (errors of both signs would cancel).

Tolerances (:data:`TOLERANCES`) were measured on torch 2.13's CPU kernels against two independent
from-scratch implementations (all measured cases pass with at least a 10x margin):

* float64: outputs and gradients within ``1e-10 · max(1, max|a|)``; logic errors are ``>= 1e-3``;
* float32: outputs within ``1e-5 · max(1, max|a|)``, gradients within ``1e-4 · max(1, max|a|)`` per
  tensor. ``torch.testing.assert_close``'s float32 defaults are too tight for LSTM/GRU gradients
  over 100 steps (their magnitude reaches hundreds), which is why the bound scales with ``max|a|``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

__all__ = ["TOLERANCES", "ParityReport", "twin", "flat", "run_with_grads", "assert_parity", "assert_same_function"]

F64 = torch.float64
TOLERANCES = {torch.float64: (1e-10, 1e-10), torch.float32: (1e-5, 1e-4)}  # dtype: (outputs, gradients)


@dataclass
class ParityReport:
    """What a parity check compared, and the largest differences it saw (absolute)."""

    outputs: int
    gradients: int
    max_output_diff: float
    max_grad_diff: float

    def __str__(self) -> str:
        return (
            f"{self.outputs} outputs and {self.gradients} gradients agree "
            f"(max |diff| {self.max_output_diff:.1e} and {self.max_grad_diff:.1e})"
        )


def twin(cls_name: str, *args, seed: int = 0, **kwargs) -> tuple[nn.Module, nn.Module]:
    """``torch.nn.<cls_name>`` and ``rnnlab.<cls_name>`` built after the same seed: the same weights.

    Draws from torch's global generator (as constructing any module does) after seeding it.
    """
    from rnnlab import cells, layers  # the core's own modules (the package's __init__ re-exports them)

    torch.manual_seed(seed)
    ref = getattr(nn, cls_name)(*args, **kwargs)
    torch.manual_seed(seed)
    ours = getattr(cells if cls_name.endswith("Cell") else layers, cls_name)(*args, **kwargs)
    return ref, ours


def flat(result) -> list[Tensor]:
    """Every tensor of a module's result, in order (a PackedSequence counts as its data)."""
    if isinstance(result, PackedSequence):
        return [result.data]
    if isinstance(result, Tensor):
        return [result]
    return [t for r in result for t in flat(r)]


def _functional(outs: Sequence[Tensor], seed: int) -> Tensor:
    """``Σ_k sum(out_k ⊙ R_k)`` with fixed random ``R_k`` (the same for both sides of a comparison)."""
    g = torch.Generator().manual_seed(seed)
    return sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum() for o in outs)


def run_with_grads(module: nn.Module, inputs: list[Tensor], call: Callable | None = None, seed: int = 123):
    """Run ``call(module, *inputs)`` (default ``module(*inputs)``) on fresh leaf copies of ``inputs``
    and backprop :func:`_functional` of all outputs.

    Returns:
        ``(outputs, gradients of the floating-point inputs, gradients of the parameters by name)``.
    """
    call = call or (lambda m, *a: m(*a))
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    outs = flat(call(module, *inputs))
    wrt = [t for t in inputs if t.requires_grad] + list(module.parameters())
    grads = torch.autograd.grad(_functional(outs, seed), wrt, allow_unused=True)
    n_in = sum(t.requires_grad for t in inputs)
    names = [n for n, _ in module.named_parameters()]
    return outs, list(grads[:n_in]), dict(zip(names, grads[n_in:]))


def _max_abs(a: Tensor, b: Tensor) -> float:
    return (a - b).abs().max().item() if a.numel() else 0.0


def _compare(pairs: list[tuple[str, Tensor | None, Tensor | None]], tol: float) -> float:
    """Assert each pair agrees within ``tol · max(1, max|reference|)``; return the largest diff."""
    worst = 0.0
    for name, ref, got in pairs:
        assert (ref is None) == (got is None), f"{name}: one side has no gradient"
        if ref is None:
            continue
        assert ref.shape == got.shape, f"{name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}"
        scale = max(1.0, ref.abs().max().item()) if ref.numel() else 1.0
        err = _max_abs(ref, got)
        assert err <= tol * scale, f"{name} differs by {err:.3g} (tolerance {tol * scale:.3g})"
        worst = max(worst, err)
    return worst


def assert_parity(ref: nn.Module, ours: nn.Module, inputs: list[Tensor], call: Callable | None = None) -> ParityReport:
    """``ours`` equals ``ref`` (usually ``torch.nn``'s module, with the same weights): outputs and
    final states, the gradients of every floating-point input and of every parameter (same names,
    same order), within :data:`TOLERANCES` for the parameters' dtype."""
    dtype = next(ref.parameters()).dtype
    fwd_tol, grad_tol = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    outs_r, gin_r, gp_r = run_with_grads(ref, inputs, call)
    outs_o, gin_o, gp_o = run_with_grads(ours, inputs, call)
    assert len(outs_r) == len(outs_o), f"{len(outs_o)} outputs, reference has {len(outs_r)}"
    assert list(gp_r) == list(gp_o), "parameter names/order differ"
    out_diff = _compare([(f"output {k}", a, b) for k, (a, b) in enumerate(zip(outs_r, outs_o))], fwd_tol)
    pairs = [(f"grad of input {k}", a, b) for k, (a, b) in enumerate(zip(gin_r, gin_o))]
    pairs += [(f"grad of {n}", gp_r[n], gp_o[n]) for n in gp_r]
    grad_diff = _compare(pairs, grad_tol)
    return ParityReport(len(outs_r), len(pairs), out_diff, grad_diff)


def assert_same_function(
    ours: Callable[..., object],
    reference: Callable[..., object],
    inputs: Sequence[Tensor],
    params: Sequence[Tensor] = (),
    seed: int = 123,
) -> ParityReport:
    """``ours(*inputs)`` equals ``reference(*inputs)``: every output, and the gradients with respect
    to every floating-point input and to ``params`` (tensors both functions read, e.g. a torch
    module's parameters used by a from-scratch function). Tolerances as :func:`assert_parity`.

    Args:
        ours: the implementation under test; returns a tensor or a (nested) tuple of tensors.
        reference: the one to match, returning the same structure.
        inputs: tensors passed to both (copied as fresh leaves, so both see equal inputs).
        params: extra leaves to differentiate with respect to.
    """
    dtype = inputs[0].dtype if inputs else torch.get_default_dtype()
    fwd_tol, grad_tol = TOLERANCES.get(dtype, TOLERANCES[torch.float32])

    def run(fn):
        leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
        outs = flat(fn(*leaves))
        wrt = [t for t in leaves if t.requires_grad] + list(params)
        return outs, torch.autograd.grad(_functional(outs, seed), wrt, allow_unused=True)

    outs_r, grads_r = run(reference)
    outs_o, grads_o = run(ours)
    assert len(outs_r) == len(outs_o), f"{len(outs_o)} outputs, reference has {len(outs_r)}"
    out_diff = _compare([(f"output {k}", a, b) for k, (a, b) in enumerate(zip(outs_r, outs_o))], fwd_tol)
    grad_diff = _compare([(f"gradient {k}", a, b) for k, (a, b) in enumerate(zip(grads_r, grads_o))], grad_tol)
    return ParityReport(len(outs_r), len(grads_r), out_diff, grad_diff)
