"""Notebook 13: minGRU's step, and the log-space scan that computes every step at once."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab.checks._core import CheckFailed, _call, _known_mistake, _name, _require_shape, _same, diagnosis
from rnnlab.checks._i18n import tr


def _min_gru_reference(x: Tensor, h: Tensor, weight: Tensor, bias: Tensor, swap=False, candidate="g", rows="zh"):
    """minGRU's step, or one of its known mistakes (``swap``: z and 1 - z exchanged; ``candidate``: "g", "tanh"
    or "linear"; ``rows``: "zh" as stored, "hz" read in the other order)."""
    from rnnlab.minimal import g

    k, v = (x @ weight.T + bias).chunk(2, -1)  # (B, H) each
    if rows == "hz":
        k, v = v, k
    z = torch.sigmoid(k)
    h_tilde = {"g": g, "tanh": torch.tanh, "linear": lambda t: t}[candidate](v)
    return z * h + (1 - z) * h_tilde if swap else (1 - z) * h + z * h_tilde


def _min_gru_step_mistakes(x, h, weight, bias) -> dict[str, Callable[[], object]]:
    return {
        tr("z and 1 - z are exchanged: minGRU keeps (1 - z) of h_prev and takes z of the candidate"): lambda: (
            _min_gru_reference(x, h, weight, bias, swap=True)
        ),
        tr(
            "the candidate goes through tanh: minGRU uses g(v) = v + 0.5 for v >= 0, sigmoid(v) below, which is "
            "positive (the log-space scan takes its log)"
        ): lambda: _min_gru_reference(x, h, weight, bias, candidate="tanh"),
        tr("the candidate is used as it is: pass it through g (v + 0.5 for v >= 0, sigmoid(v) below)"): lambda: (
            _min_gru_reference(x, h, weight, bias, candidate="linear")
        ),
        tr(
            "the rows are read in the wrong order: weight stacks the z rows first, then the candidate's "
            "(k, v = projected.chunk(2, -1))"
        ): lambda: _min_gru_reference(x, h, weight, bias, rows="hz"),
    }


def check_min_gru_step(fn: Callable) -> None:
    """``fn(x_t, h_prev, weight, bias) -> h_t``: one minGRU step, ``h_t = (1 - z) ⊙ h_{t-1} + z ⊙ g(h̃)`` with
    ``z = σ(W_z x_t + b_z)`` and ``h̃ = W_h x_t + b_h``; ``weight`` ``(2H, I)`` stacks the z rows, then h̃'s."""
    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for B, I, H in [(3, 4, 5), (2, 6, 6), (1, 3, 2)]:
        x = torch.randn(B, I, generator=g, dtype=torch.float64)
        h = torch.randn(B, H, generator=g, dtype=torch.float64)
        weight = torch.randn(2 * H, I, generator=g, dtype=torch.float64)
        bias = torch.randn(2 * H, generator=g, dtype=torch.float64)
        want = _min_gru_reference(x, h, weight, bias)
        got = _call(fn, name, x.clone(), h.clone(), weight.clone(), bias.clone())
        _require_shape(name, "h_t", got, want)
        if _same(got, want):
            continue
        # a step whose gates read only x_t is affine in h_{t-1}: f(h1) + f(h2) = 2 f((h1 + h2) / 2)
        h2 = torch.randn(B, H, generator=g, dtype=torch.float64)
        mid = _call(fn, name, x.clone(), (h + h2) / 2, weight.clone(), bias.clone())
        other = _call(fn, name, x.clone(), h2.clone(), weight.clone(), bias.clone())
        if isinstance(mid, Tensor) and isinstance(other, Tensor) and not _same(got + other, 2 * mid):
            raise CheckFailed(
                tr(
                    "{name} is not linear in h_prev: a gate or the candidate reads h_prev. In minGRU they read "
                    "x_t alone, so that h_t = a_t * h_prev + b_t and every step can be computed at once",
                    name=name,
                )
            )
        message = tr("{name} gave the wrong h_t for batch {B}, input {I}, hidden {H}.", name=name, B=B, I=I, H=H)
        why = _known_mistake(got, _min_gru_step_mistakes(x, h, weight, bias))
        raise CheckFailed(diagnosis(message, why, tr("Compare each line with the equations above.")))
    print(tr("✓ {name} equals minGRU's step in 3 cases, and is linear in h_prev", name=name))


def _scan_mistakes(log_a: Tensor, log_b: Tensor, h0: Tensor) -> dict[str, Callable[[], object]]:
    from rnnlab.minimal import linear_loop

    def shifted():  # h_0, h_1, ..., h_{T-1}
        return torch.cat([h0.unsqueeze(0), linear_loop(log_a, log_b, h0)[:-1]])

    def h0_after_a1():  # h_0 added as if it were b_0: multiplied by a_2 ⋯ a_t, not a_1 ⋯ a_t
        return linear_loop(log_a, log_b, h0 / log_a[0].exp())

    return {
        tr("the output is shifted by one step: it starts with h_0, but should start with h_1 = a_1 h_0 + b_1"): (
            shifted
        ),
        tr("h_0 is multiplied by a_2 ⋯ a_t instead of a_1 ⋯ a_t: h_1 = a_1 h_0 + b_1 already decays h_0 once"): (
            h0_after_a1
        ),
        tr("h_0 is ignored: h_t = A_t h_0 + (the scan of b), with A_t = exp(cumsum(log a))"): lambda: linear_loop(
            log_a, log_b, torch.zeros_like(h0)
        ),
    }


def check_linear_scan(fn: Callable) -> None:
    """``fn(log_a, log_b, h0) -> h``: every ``h_t = a_t ⊙ h_{t-1} + b_t`` at once, from ``log a``, ``log b``
    ``(T, B, H)`` and ``h_0`` ``(B, H)``; returns ``(T, B, H)``. Checked on 8 steps, then on 3,000, where
    cumulative products of ``a`` underflow even in float64."""
    from rnnlab.minimal import linear_loop

    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for T, B, H in [(8, 2, 3), (5, 1, 4), (3000, 2, 3)]:
        log_a = torch.log(torch.rand(T, B, H, generator=g, dtype=torch.float64) * 0.5 + 0.25)  # a in (0.25, 0.75)
        log_b = torch.randn(T, B, H, generator=g, dtype=torch.float64)
        h0 = torch.randn(B, H, generator=g, dtype=torch.float64)
        want = linear_loop(log_a, log_b, h0)
        got = _call(fn, name, log_a.clone(), log_b.clone(), h0.clone())
        _require_shape(name, "h", got, want)
        if T > 100 and not bool(torch.isfinite(got).all()):
            first = int((~torch.isfinite(got)).flatten(1).any(1).nonzero()[0])
            raise CheckFailed(
                tr(
                    "{name} is right on 8 steps but gives inf or nan from step {first} of {T}: cumulative products "
                    "without log space. A_t = a_1 ⋯ a_t underflows to 0 and b_t / A_t overflows. Work with "
                    "log A = cumsum(log a) and torch.logcumsumexp(log_b - log A, 0)",
                    name=name,
                    first=first,
                    T=T,
                )
            )
        if _same(got, want, tol=1e-8 * max(1.0, want.abs().max().item())):
            continue
        message = tr("{name} gave the wrong h for {T} steps.", name=name, T=T)
        why = _known_mistake(got, _scan_mistakes(log_a, log_b, h0))
        raise CheckFailed(diagnosis(message, why, tr("Check it against a loop: h = a_t * h + b_t, step by step.")))
    print(tr("✓ {name} equals the step-by-step loop on 8, 5 and 3,000 steps, in float64", name=name))
