"""Backprop through time written by hand: each layer's time loop as one autograd node.

Autograd differentiates the layers' loops op by op: every step leaves a handful of nodes, and in backward each
one runs as its own small kernel, among them one ``dW_hh += dgates_tᵀ h_{t-1}`` per step. Written by hand,
the backward of a whole sequence needs only what is truly sequential, ``dh_{t-1} = dgates_t W_hh`` (plus the
LSTM's ``dc``), one step at a time; the weight gradients of all steps are then **one** matrix product over the
``T·B`` rows, ``dW_hh = dGatesᵀ · H_prev``, and the per-step elementwise factors (``1 - h_t²``, ``σ'(·)``, ...)
are computed for all steps at once before the loop. This is what fused kernels do.

Each ``*Recurrence`` function takes the input projection of every step ``xw`` ``(T, B, G)`` (computed by the
layer, with autograd, so ``dW_ih`` is one matmul too), the initial state and the hidden weights, and returns
every output ``(T, B, H)`` (and the LSTM's last cell state). Its forward runs the same steps as
:mod:`rnnlab.cells`, without recording a graph, and saves what the backward needs.

A layer uses these when its ``hand_backward`` attribute is True (``layer.hand_backward = True``; torch.nn's
signature and defaults are unchanged) and the input is a plain tensor (packed sequences, ``proj_size`` and the
state recorder of :mod:`rnnlab.bptt` take the autograd path). Double backward is not supported here (as with
cuDNN's RNNs): use the autograd path for it.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

__all__ = ["RNNRecurrence", "LSTMRecurrence", "GRURecurrence"]


def _order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(states: Tensor, h0: Tensor, reverse: bool) -> Tensor:
    """Each step's previous state, ``(T, B, H)``: ``h0`` then ``states`` shifted by one step (mirrored if
    ``reverse``, whose step ``t`` follows step ``t + 1``)."""
    if reverse:
        return torch.cat([states[1:], h0.unsqueeze(0)])
    return torch.cat([h0.unsqueeze(0), states[:-1]])


def _weight_grad(d_gates: Tensor, prev: Tensor) -> Tensor:
    """``Σ_t d_gates_tᵀ prev_t``: the weight gradient of every step as one ``(G, T·B) @ (T·B, H)`` matmul."""
    return d_gates.reshape(-1, d_gates.shape[-1]).t().mm(prev.reshape(-1, prev.shape[-1]))


class RNNRecurrence(torch.autograd.Function):
    """``h_t = act(xw_t + h_{t-1} W_hhᵀ)`` for all steps (biases folded into ``xw``).

    Inputs: ``xw`` ``(T, B, H)``, ``h0`` ``(B, H)``, ``w_hh`` ``(H, H)``, ``relu`` (False: tanh), ``reverse``.
    Output: every ``h_t``, ``(T, B, H)``, in time order.

    Backward: with ``g_t`` the gradient reaching ``h_t`` (from the output and from step ``t + 1``),
    ``dz_t = g_t ⊙ act'(z_t)`` (``1 - h_t²`` for tanh, ``[h_t > 0]`` for ReLU), ``g_{t-1} += dz_t W_hh``;
    then ``dW_hh = Σ_t dz_tᵀ h_{t-1}`` in one matmul, and ``dxw = dz``.
    """

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, w_hh: Tensor, relu: bool = False, reverse: bool = False) -> Tensor:
        T = xw.shape[0]
        w_hh_t, act = w_hh.t(), torch.relu if relu else torch.tanh
        out = xw.new_empty(xw.shape)  # (T, B, H)
        h = h0
        for t in _order(T, reverse):
            h = act(torch.addmm(xw[t], h, w_hh_t))
            out[t] = h
        ctx.save_for_backward(out, h0, w_hh)
        ctx.relu, ctx.reverse = relu, reverse
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor):
        out, h0, w_hh = ctx.saved_tensors
        deriv = (out > 0).to(out.dtype) if ctx.relu else 1 - out * out  # act'(z_t), all steps at once
        dz = torch.empty_like(out)  # (T, B, H)
        carry = torch.zeros_like(h0)  # the gradient reaching h_t from step t + 1
        for t in _order(out.shape[0], not ctx.reverse):
            torch.mul(d_out[t] + carry, deriv[t], out=dz[t])
            carry = dz[t].mm(w_hh)  # (B, H): to h_{t-1}
        d_w = _weight_grad(dz, _previous(out, h0, ctx.reverse))
        return dz, carry, d_w, None, None


class GRURecurrence(torch.autograd.Function):
    """torch's GRU for all steps: ``r, z = σ(x_rz + h W_rzᵀ + b_rz)``, ``n = tanh(x_n + r ⊙ (h W_nᵀ + b_hn))``,
    ``h' = (1 - z) ⊙ n + z ⊙ h``.

    Inputs: ``xw`` ``(T, B, 3H)`` (``x W_ihᵀ + b_ih``), ``h0`` ``(B, H)``, ``w_hh`` ``(3H, H)``, ``b_hh``
    ``(3H,)`` or None, ``reverse``. Output: every ``h_t`` ``(T, B, H)``.

    Backward, with ``g`` the gradient reaching ``h_t`` and ``gh_n = h_{t-1} W_nᵀ + b_hn``:
    ``da_n = g ⊙ (1 - z)(1 - n²)``, ``da_z = g ⊙ (h_{t-1} - n) z(1 - z)``, ``da_r = da_n ⊙ gh_n r(1 - r)``; the
    hidden side's gradient is ``[da_r, da_z, da_n ⊙ r]``, the input side's ``[da_r, da_z, da_n]``, and
    ``g_{t-1} += g ⊙ z + [da_r, da_z, da_n ⊙ r] W_hh``. The three factors are computed for all steps at once.
    """

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None, reverse: bool = False) -> Tensor:
        T, B, G = xw.shape
        H = G // 3
        w_hh_t = w_hh.t()
        out = xw.new_empty(T, B, H)
        rzn = xw.new_empty(T, B, G)  # r, z, n of every step
        gh_n = xw.new_empty(T, B, H)  # h_{t-1} W_nᵀ + b_hn
        h = h0
        for t in _order(T, reverse):
            gh = h.mm(w_hh_t) if b_hh is None else torch.addmm(b_hh, h, w_hh_t)  # (B, 3H)
            torch.sigmoid(xw[t, :, : 2 * H] + gh[:, : 2 * H], out=rzn[t, :, : 2 * H])
            r, z = rzn[t, :, :H], rzn[t, :, H : 2 * H]
            torch.tanh(torch.addcmul(xw[t, :, 2 * H :], r, gh[:, 2 * H :]), out=rzn[t, :, 2 * H :])
            gh_n[t] = gh[:, 2 * H :]
            h = torch.lerp(rzn[t, :, 2 * H :], h, z)
            out[t] = h
        ctx.save_for_backward(out, h0, w_hh, rzn, gh_n)
        ctx.reverse, ctx.has_bias = reverse, b_hh is not None
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor):
        out, h0, w_hh, rzn, gh_n = ctx.saved_tensors
        T, B, H = out.shape
        r, z, n = rzn.split(H, -1)
        prev = _previous(out, h0, ctx.reverse)
        kn = (1 - z) * (1 - n * n)  # da_n / g
        factors = torch.cat([kn * gh_n * r * (1 - r), (prev - n) * z * (1 - z), kn * r], -1)  # (T, B, 3H)
        d_hidden = torch.empty_like(factors)  # [da_r, da_z, da_n * r] of every step
        g_all = torch.empty_like(out)  # the gradient reaching h_t
        carry = torch.zeros_like(h0)
        for t in _order(T, not ctx.reverse):
            g = torch.add(d_out[t], carry, out=g_all[t])
            torch.mul(g.unsqueeze(1), factors[t].view(B, 3, H), out=d_hidden[t].view(B, 3, H))
            carry = torch.addmm(g * z[t], d_hidden[t], w_hh)  # (B, H): to h_{t-1}
        d_xw = torch.cat([d_hidden[..., : 2 * H], g_all * kn], -1)  # the input side: da_n, not da_n * r
        d_w = _weight_grad(d_hidden, prev)
        d_b = d_hidden.sum((0, 1)) if ctx.has_bias else None
        return d_xw, carry, d_w, d_b, None


class LSTMRecurrence(torch.autograd.Function):
    """torch's LSTM for all steps: ``i, f, g, o`` from ``xw_t + h_{t-1} W_hhᵀ`` (biases folded into ``xw``),
    ``c_t = f ⊙ c_{t-1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``.

    Inputs: ``xw`` ``(T, B, 4H)``, ``h0``, ``c0`` ``(B, H)``, ``w_hh`` ``(4H, H)``, ``reverse``.
    Outputs: every ``h_t`` ``(T, B, H)`` and the last cell state ``(B, H)``.

    Backward, with ``g_h``, ``g_c`` the gradients reaching ``h_t`` and ``c_t``:
    ``g_c += g_h ⊙ o (1 - tanh² c_t)``; the pre-activation gradients are
    ``[g_c ⊙ g i(1 - i), g_c ⊙ c_{t-1} f(1 - f), g_c ⊙ i (1 - g²), g_h ⊙ tanh(c_t) o(1 - o)]``;
    ``g_h(t-1) = dgates W_hh``, ``g_c(t-1) = g_c ⊙ f``. The factors are computed for all steps at once.
    """

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, reverse: bool = False):
        T, B, G = xw.shape
        H = G // 4
        w_hh_t = w_hh.t()
        out = xw.new_empty(T, B, H)
        acts = xw.new_empty(T, B, G)  # i, f, g, o of every step
        cells = xw.new_empty(T, B, H)
        h, c = h0, c0
        for t in _order(T, reverse):
            gates = torch.addmm(xw[t], h, w_hh_t)  # (B, 4H)
            a = acts[t]
            torch.sigmoid(gates, out=a)
            torch.tanh(gates[:, 2 * H : 3 * H], out=a[:, 2 * H : 3 * H])
            i, f, g, o = a.chunk(4, 1)
            c = torch.addcmul(f * c, i, g)
            cells[t] = c
            h = o * torch.tanh(c)
            out[t] = h
        ctx.save_for_backward(out, cells, acts, h0, c0, w_hh)
        ctx.reverse = reverse
        return out, c

    @staticmethod
    @once_differentiable
    def backward(ctx, d_out: Tensor, d_c_last: Tensor):
        out, cells, acts, h0, c0, w_hh = ctx.saved_tensors
        T, B, H = out.shape
        i, f, g, o = acts.split(H, -1)
        c_prev = _previous(cells, c0, ctx.reverse)
        tc = torch.tanh(cells)
        to_c = o * (1 - tc * tc)  # ∂c-gradient per unit of h-gradient
        factors = torch.cat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g), tc * o * (1 - o)], -1)
        d_gates = torch.empty_like(acts)  # (T, B, 4H)
        carry_h = torch.zeros_like(h0)
        carry_c = d_c_last.clone() if d_c_last is not None else torch.zeros_like(c0)
        for t in _order(T, not ctx.reverse):
            g_h = d_out[t] + carry_h
            g_c = torch.addcmul(carry_c, g_h, to_c[t])  # (B, H)
            view = d_gates[t].view(B, 4, H)
            torch.mul(g_c.unsqueeze(1), factors[t, :, : 3 * H].view(B, 3, H), out=view[:, :3])
            torch.mul(g_h, factors[t, :, 3 * H :], out=view[:, 3])
            carry_h = d_gates[t].mm(w_hh)  # (B, H)
            carry_c = g_c * f[t]
        d_w = _weight_grad(d_gates, _previous(out, h0, ctx.reverse))
        return d_gates, carry_h, carry_c, d_w, None
