"""Notebook 08b: the tanh RNN's backward pass written by hand, one step and then through time, checked against
autograd, with the usual slips named."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab.checks._core import CheckFailed, _call, _known_mistake, _name, _require_shape, _same, _shape, diagnosis
from rnnlab.checks._i18n import tr

NAMES = ("dx", "dh_prev", "dW_ih", "dW_hh", "db")


def _forward(xs: Tensor, h0: Tensor, W_ih: Tensor, W_hh: Tensor, b: Tensor) -> Tensor:
    """Every ``h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b)``, ``(T, B, H)``."""
    h, hs = h0, []
    for x in xs:
        h = torch.tanh(x @ W_ih.T + h @ W_hh.T + b)
        hs.append(h)
    return torch.stack(hs)


def _by_hand(dout, xs, h0, hs, W_ih, W_hh, *, carry=True, accumulate=True, deriv_prev=False, w_from_h=False):
    """The backward through time, or one of its known mistakes."""
    T = xs.shape[0]
    prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
    dxs, dW_ih, dW_hh = torch.zeros_like(xs), torch.zeros_like(W_ih), torch.zeros_like(W_hh)
    db, dh_next = torch.zeros_like(W_hh[0]), torch.zeros_like(h0)
    for t in range(T - 1, -1, -1):
        dh = dout[t] + (dh_next if carry else 0)
        dz = dh * (1 - (prev[t] if deriv_prev else hs[t]) ** 2)
        step = (dz.T @ xs[t], dz.T @ (hs[t] if w_from_h else prev[t]), dz.sum(0))
        if accumulate:
            dW_ih, dW_hh, db = dW_ih + step[0], dW_hh + step[1], db + step[2]
        elif t == 0:
            dW_ih, dW_hh, db = step
        dxs[t] = dz @ W_ih
        dh_next = dz @ W_hh
    return dxs, dh_next, dW_ih, dW_hh, db


def _step_mistakes(dh, x, h_prev, h, W_ih, W_hh) -> dict[str, Callable[[], object]]:
    def step(**kw):
        dxs, dh_prev, dW_ih, dW_hh, db = _by_hand(
            dh.unsqueeze(0), x.unsqueeze(0), h_prev, h.unsqueeze(0), W_ih, W_hh, **kw
        )
        return dxs[0], dh_prev, dW_ih, dW_hh, db

    return {
        tr("the tanh derivative is taken at h_(t-1): it is 1 - h_t², at the step's own output"): lambda: step(
            deriv_prev=True
        ),
        tr("dW_hh uses h_t: the weight multiplied h_(t-1) in this step, so dW_hh = dzᵀ h_(t-1)"): lambda: step(
            w_from_h=True
        ),
    }


def check_rnn_step_backward(fn: Callable) -> None:
    """``fn(dh, x, h_prev, h, W_ih, W_hh) -> (dx, dh_prev, dW_ih, dW_hh, db)``: the gradients of one step
    ``h = tanh(x W_ihᵀ + h_prev W_hhᵀ + b)``, given ``dh = ∂L/∂h``; compared with autograd in float64."""
    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for B, I, H in [(3, 4, 5), (2, 6, 3), (1, 2, 2)]:
        x, h_prev, dh = (torch.randn(B, n, generator=g, dtype=torch.float64) for n in (I, H, H))
        W_ih, W_hh = (
            torch.randn(H, I, generator=g, dtype=torch.float64),
            torch.randn(H, H, generator=g, dtype=torch.float64),
        )
        b = torch.randn(H, generator=g, dtype=torch.float64)
        leaves = [t.clone().requires_grad_(True) for t in (x, h_prev, W_ih, W_hh, b)]
        h = torch.tanh(leaves[0] @ leaves[2].T + leaves[1] @ leaves[3].T + leaves[4])
        want = torch.autograd.grad(h, leaves, dh)
        got = _call(fn, name, dh.clone(), x.clone(), h_prev.clone(), h.detach().clone(), W_ih.clone(), W_hh.clone())
        _compare(name, got, want, _step_mistakes(dh, x, h_prev, h.detach(), W_ih, W_hh), f"B={B}, I={I}, H={H}")
    print(tr("✓ {name} equals autograd for all five gradients in 3 cases", name=name))


def _through_time_mistakes(dout, xs, h0, hs, W_ih, W_hh) -> dict[str, Callable[[], object]]:
    args = (dout, xs, h0, hs, W_ih, W_hh)
    return {
        tr(
            "the gradient from step t + 1 is not added: each step must add dh_next, what the later steps send back "
            "through h_t, to the output's own gradient"
        ): lambda: _by_hand(*args, carry=False),
        tr(
            "the weight gradients are not summed over time: W_ih, W_hh and b are used at every step, so add each step's"
        ): (lambda: _by_hand(*args, accumulate=False)),
        tr("the tanh derivative is taken at h_(t-1): it is 1 - h_t², at the step's own output"): lambda: _by_hand(
            *args, deriv_prev=True
        ),
        tr("dW_hh uses h_t: the weight multiplied h_(t-1) in this step, so dW_hh = dzᵀ h_(t-1)"): lambda: _by_hand(
            *args, w_from_h=True
        ),
    }


def check_rnn_backward(fn: Callable) -> None:
    """``fn(dout, xs, h0, hs, W_ih, W_hh) -> (dxs, dh0, dW_ih, dW_hh, db)``: backprop through time for
    ``h_t = tanh(x_t W_ihᵀ + h_{t-1} W_hhᵀ + b)``, given ``dout = ∂L/∂h_t`` for every step ``(T, B, H)``."""
    name = _name(fn)
    g = torch.Generator().manual_seed(1)
    for T, B, I, H in [(6, 3, 4, 5), (2, 1, 3, 2), (9, 2, 2, 4)]:
        xs = torch.randn(T, B, I, generator=g, dtype=torch.float64)
        h0, dout = (
            torch.randn(B, H, generator=g, dtype=torch.float64),
            torch.randn(T, B, H, generator=g, dtype=torch.float64),
        )
        W_ih, W_hh = (
            torch.randn(H, I, generator=g, dtype=torch.float64),
            torch.randn(H, H, generator=g, dtype=torch.float64) * 0.5,
        )
        b = torch.randn(H, generator=g, dtype=torch.float64)
        leaves = [t.clone().requires_grad_(True) for t in (xs, h0, W_ih, W_hh, b)]
        hs = _forward(*leaves)
        want = torch.autograd.grad(hs, leaves, dout)
        hs = hs.detach()
        got = _call(fn, name, dout.clone(), xs.clone(), h0.clone(), hs.clone(), W_ih.clone(), W_hh.clone())
        _compare(name, got, want, _through_time_mistakes(dout, xs, h0, hs, W_ih, W_hh), f"T={T}, B={B}, I={I}, H={H}")
    print(tr("✓ {name} equals autograd through time for all five gradients in 3 cases", name=name))


def _compare(name: str, got, want, mistakes: dict[str, Callable[[], object]], case: str) -> None:
    if not isinstance(got, (tuple, list)) or len(got) != 5:
        count = f"{len(got)} values" if isinstance(got, (tuple, list)) else _shape(got)
        raise CheckFailed(
            tr("{name} must return five gradients (dx, dh_prev, dW_ih, dW_hh, db), got {got}", name=name, got=count)
        )
    for what, g, w in zip(NAMES, got, want):
        _require_shape(name, what, g, w)
    if _same(list(got), list(want)):
        return
    wrong = [what for what, g, w in zip(NAMES, got, want) if not _same(g, w)]
    message = tr("{name} gives wrong {wrong} ({case}).", name=name, wrong=", ".join(wrong), case=case)
    why = _known_mistake(list(got), mistakes)
    raise CheckFailed(diagnosis(message, why, tr("Compare with the chain rule above, one factor at a time.")))
