"""Parity harness: run a torch.nn module and its rnnlab twin on the same data and
compare outputs, final states and every gradient (micrograd style)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

import rnnlab

F64 = torch.float64


def twin(cls_name: str, *args, seed: int = 0, **kwargs) -> tuple[nn.Module, nn.Module]:
    """torch.nn module and rnnlab module built with the same seed (hence same weights)."""
    torch.manual_seed(seed)
    ref = getattr(nn, cls_name)(*args, **kwargs)
    torch.manual_seed(seed)
    ours = getattr(rnnlab, cls_name)(*args, **kwargs)
    return ref, ours


def flat(result) -> list[Tensor]:
    """Every tensor of a module's result, in order (PackedSequence -> its data)."""
    if isinstance(result, PackedSequence):
        return [result.data]
    if isinstance(result, Tensor):
        return [result]
    return [t for r in result for t in flat(r)]


def run_with_grads(module: nn.Module, inputs: list[Tensor], call, seed: int = 123):
    """Run ``call(module, *inputs)``; backprop a fixed random linear functional of all
    outputs. Returns (outputs, grads of inputs, grads of parameters by name)."""
    inputs = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    outs = flat(call(module, *inputs))
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype).to(o.device)).sum() for o in outs)
    wrt = [t for t in inputs if t.requires_grad] + list(module.parameters())
    grads = torch.autograd.grad(loss, wrt, allow_unused=True)
    n_in = sum(t.requires_grad for t in inputs)
    names = [n for n, _ in module.named_parameters()]
    return outs, list(grads[:n_in]), dict(zip(names, grads[n_in:]))


def max_abs(a: Tensor, b: Tensor) -> float:
    return (a - b).abs().max().item() if a.numel() else 0.0


def assert_parity(ref, ours, inputs, call=lambda m, *a: m(*a)) -> None:
    """Outputs, states and all gradients of ``ours`` equal ``ref`` within the
    tolerances of the reference (section 9): float64 1e-10; float32 1e-5 forward
    and 1e-4 * max(1, max|grad|) for gradients."""
    dtype = next(ref.parameters()).dtype
    fwd_tol, grad_tol = (1e-10, 1e-10) if dtype == F64 else (1e-5, 1e-4)
    outs_r, gin_r, gp_r = run_with_grads(ref, inputs, call)
    outs_o, gin_o, gp_o = run_with_grads(ours, inputs, call)
    assert len(outs_r) == len(outs_o)
    for k, (a, b) in enumerate(zip(outs_r, outs_o)):
        assert a.shape == b.shape, f"output {k}: shape {tuple(b.shape)} != torch {tuple(a.shape)}"
        scale = max(1.0, a.abs().max().item()) if a.numel() else 1.0
        assert max_abs(a, b) <= fwd_tol * scale, f"output {k} differs by {max_abs(a, b):.3g}"
    assert list(gp_r) == list(gp_o), "parameter names/order differ"
    pairs = [(f"input {k}", a, b) for k, (a, b) in enumerate(zip(gin_r, gin_o))]
    pairs += [(n, gp_r[n], gp_o[n]) for n in gp_r]
    for name, a, b in pairs:
        assert (a is None) == (b is None), f"grad of {name}: one side has none"
        if a is None:
            continue
        scale = max(1.0, a.abs().max().item()) if a.numel() else 1.0
        err = max_abs(a, b)
        assert err <= grad_tol * scale, f"grad of {name} differs by {err:.3g}"
