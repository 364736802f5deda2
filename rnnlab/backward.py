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

import functools

import torch
from torch import Tensor

__all__ = ["RNNRecurrence", "LSTMRecurrence", "GRURecurrence"]


def _refuse_double_backward() -> None:
    """Grad mode is on in a backward only under ``create_graph=True``: a gradient of gradients, which these
    nodes cannot give (their backward is not itself differentiated); say so rather than return a wrong one."""
    if torch.is_grad_enabled():
        raise RuntimeError(
            "hand_backward does not support double backward (create_graph=True): set the layer's "
            "hand_backward = False for gradients of gradients"
        )


def _order(T: int, reverse: bool) -> range:
    return range(T - 1, -1, -1) if reverse else range(T)


def _previous(states: Tensor, s0: Tensor, a: int, b: int, reverse: bool) -> Tensor:
    """The previous state of each step in ``[a, b)``, ``(b - a, B, H)``: the state one step earlier in the
    layer's own order (``s0`` before its first step), a view of ``states`` except at the sequence's start."""
    T = states.shape[0]
    if not reverse:
        return states[a - 1 : b - 1] if a > 0 else torch.cat([s0.unsqueeze(0), states[: b - 1]])
    return states[a + 1 : b + 1] if b < T else torch.cat([states[a + 1 : b], s0.unsqueeze(0)])


BLOCK = 16  # steps whose elementwise factors are computed together (see _blocks)


def _blocks(T: int, reverse: bool) -> list[tuple[int, int]]:
    """The backward pass's blocks of :data:`BLOCK` steps, ``[a, b)``, in the order it visits them (it runs
    from the last step to the first; ``reverse``: the layer ran backward, so its backward runs forward).
    Per block, the elementwise factors of all its steps are computed in a few large operations, and they are
    still in the cache when its steps use them one by one; over a whole long sequence they would not be."""
    blocks = [(a, min(a + BLOCK, T)) for a in range(0, T, BLOCK)]
    return blocks if reverse else blocks[::-1]


def _steps(a: int, b: int, reverse: bool) -> range:
    """The steps of block ``[a, b)`` in backward order."""
    return range(a, b) if reverse else range(b - 1, a - 1, -1)


def _weight_grad(d_gates: Tensor, states: Tensor, s0: Tensor, reverse: bool) -> Tensor:
    """``Σ_t d_gates_tᵀ h_{t-1}``: the hidden weight's gradient over every step, as one ``(G, T·B) @ (T·B, H)``
    matmul on views (the steps whose previous state is a later output) plus the first step's, from ``s0``."""
    G, H = d_gates.shape[-1], states.shape[-1]
    first, rest, prev = (-1, d_gates[:-1], states[1:]) if reverse else (0, d_gates[1:], states[:-1])
    return torch.addmm(d_gates[first].t().mm(s0), rest.reshape(-1, G).t(), prev.reshape(-1, H))


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
        w_hh_t = w_hh.t()
        act = functools.partial(torch.clamp, min=0) if relu else torch.tanh  # both take out=
        out = torch.empty_like(xw)  # (T, B, H)
        h = h0
        for t in _order(xw.shape[0], reverse):
            h = act(torch.addmm(xw[t], h, w_hh_t), out=out[t])
        ctx.save_for_backward(out, h0, w_hh)
        ctx.relu, ctx.reverse = relu, reverse
        return out

    @staticmethod
    def backward(ctx, d_out: Tensor):
        _refuse_double_backward()
        out, h0, w_hh = ctx.saved_tensors
        dz = torch.empty_like(out)  # (T, B, H)
        carry = torch.zeros_like(h0)  # the gradient reaching h_t from step t + 1
        for a, b in _blocks(out.shape[0], ctx.reverse):
            h = out[a:b]
            deriv = (h > 0).to(h.dtype) if ctx.relu else 1 - h * h  # act'(z_t) of the block's steps
            for t in _steps(a, b, ctx.reverse):
                torch.mul(d_out[t] + carry, deriv[t - a], out=dz[t])
                carry = dz[t].mm(w_hh)  # (B, H): to h_{t-1}
        return dz, carry, _weight_grad(dz, out, h0, ctx.reverse), None, None


class GRURecurrence(torch.autograd.Function):
    """torch's GRU for all steps: ``r, z = σ(x_rz + h W_rzᵀ + b_rz)``, ``n = tanh(x_n + r ⊙ (h W_nᵀ + b_hn))``,
    ``h' = (1 - z) ⊙ n + z ⊙ h``.

    Inputs: ``xw`` ``(T, B, 3H)`` (``x W_ihᵀ + b_ih``), ``h0`` ``(B, H)``, ``w_hh`` ``(3H, H)``, ``b_hh``
    ``(3H,)`` or None, ``reverse``. Output: every ``h_t`` ``(T, B, H)``.

    Backward, with ``g`` the gradient reaching ``h_t`` and ``gh_n = h_{t-1} W_nᵀ + b_hn``:
    ``da_n = g ⊙ (1 - z)(1 - n²)``, ``da_z = g ⊙ (h_{t-1} - n) z(1 - z)``, ``da_r = da_n ⊙ gh_n r(1 - r)``; the
    input side's gradient is ``[da_r, da_z, da_n]``, the hidden side's ``[da_r, da_z, da_n ⊙ r]``, and
    ``g_{t-1} += g ⊙ z + [da_r, da_z, da_n ⊙ r] W_hh``.
    """

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, w_hh: Tensor, b_hh: Tensor | None, reverse: bool = False) -> Tensor:
        T, B, G = xw.shape
        H = G // 3
        w_hh_t = w_hh.t()
        out, n_all, rz_all = xw.new_empty(T, B, H), xw.new_empty(T, B, H), xw.new_empty(T, B, 2 * H)
        gh = torch.empty_like(xw)  # h_{t-1} W_hhᵀ + b_hh of every step; all of it is what backward reads
        h = h0
        for t in _order(T, reverse):  # the steps of rnnlab.cells.gru_step, written where backward reads them
            if b_hh is None:
                torch.mm(h, w_hh_t, out=gh[t])  # (B, 3H)
            else:
                torch.addmm(b_hh, h, w_hh_t, out=gh[t])
            x_rz, x_n = xw[t].split([2 * H, H], 1)
            h_rz, h_n = gh[t].split([2 * H, H], 1)
            r, z = torch.sigmoid(x_rz + h_rz, out=rz_all[t]).chunk(2, 1)  # (B, H) each
            n = torch.tanh(torch.addcmul(x_n, r, h_n), out=n_all[t])
            h = torch.lerp(n, h, z, out=out[t])
        ctx.save_for_backward(out, h0, w_hh, rz_all, n_all, gh)
        ctx.reverse, ctx.has_bias = reverse, b_hh is not None
        return out

    @staticmethod
    def backward(ctx, d_out: Tensor):
        _refuse_double_backward()
        out, h0, w_hh, rz_all, n_all, gh = ctx.saved_tensors
        T, B, H = out.shape
        gh_n = gh[..., 2 * H :]  # h_{t-1} W_nᵀ + b_hn
        d_xw, d_hidden = torch.empty_like(gh), torch.empty_like(gh)  # [da_r, da_z, da_n], [.., .., da_n * r]
        carry = torch.zeros_like(h0)
        for a, b in _blocks(T, ctx.reverse):
            (r, z), n = rz_all[a:b].chunk(2, -1), n_all[a:b]
            kn = (1 - z) * (1 - n * n)  # da_n / g
            to_xw = torch.cat(
                [kn * gh_n[a:b] * r * (1 - r), (_previous(out, h0, a, b, ctx.reverse) - n) * z * (1 - z), kn], -1
            )
            to_hidden = torch.cat([torch.ones_like(r), torch.ones_like(r), r], -1)
            for t in _steps(a, b, ctx.reverse):
                g = d_out[t] + carry  # the gradient reaching h_t
                torch.mul(g.unsqueeze(1), to_xw[t - a].view(B, 3, H), out=d_xw[t].view(B, 3, H))
                torch.mul(d_xw[t], to_hidden[t - a], out=d_hidden[t])
                carry = torch.addmm(g * z[t - a], d_hidden[t], w_hh)  # (B, H): to h_{t-1}
        d_w = _weight_grad(d_hidden, out, h0, ctx.reverse)
        d_b = d_hidden.sum((0, 1)) if ctx.has_bias else None
        return d_xw, carry, d_w, d_b, None


class LSTMRecurrence(torch.autograd.Function):
    """torch's LSTM for all steps: ``i, f, g, o`` from ``xw_t + h_{t-1} W_hhᵀ`` (biases folded into ``xw``),
    ``c_t = f ⊙ c_{t-1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``.

    Inputs: ``xw`` ``(T, B, 4H)``, ``h0``, ``c0`` ``(B, H)``, ``w_hh`` ``(4H, H)``, ``reverse``. As in
    :class:`rnnlab.LSTM`'s autograd path, the g rows of ``xw`` and ``w_hh`` come doubled, so one sigmoid serves
    the four gates (``tanh(a) = 2σ(2a) - 1``).
    Outputs: every ``h_t`` ``(T, B, H)`` and the last cell state ``(B, H)``.

    Backward, with ``g_h``, ``g_c`` the gradients reaching ``h_t`` and ``c_t``:
    ``g_c += g_h ⊙ o (1 - tanh² c_t)``; the pre-activation gradients are
    ``[g_c ⊙ g i(1 - i), g_c ⊙ c_{t-1} f(1 - f), g_c ⊙ i (1 - g²), g_h ⊙ tanh(c_t) o(1 - o)]``;
    ``g_h(t-1) = dgates W_hh``, ``g_c(t-1) = g_c ⊙ f``.
    """

    @staticmethod
    def forward(ctx, xw: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, reverse: bool = False):
        T, B, G = xw.shape
        H = G // 4
        w_hh_t = w_hh.t()
        out, cells, acts = xw.new_empty(T, B, H), xw.new_empty(T, B, H), torch.empty_like(xw)
        h, c = h0, c0
        for t in _order(T, reverse):  # rnnlab.cells.lstm_step with g_doubled
            a = torch.sigmoid(torch.addmm(xw[t], h, w_hh_t), out=acts[t])  # (B, 4H); the g block holds σ(2g)
            i, f, g, o = a.chunk(4, 1)
            g.mul_(2).sub_(1)  # tanh(g), kept for backward
            c = torch.addcmul(f * c, i, g, out=cells[t])
            h = torch.mul(o, torch.tanh(c), out=out[t])
        ctx.save_for_backward(out, cells, acts, h0, c0, w_hh)
        ctx.reverse = reverse
        return out, c

    @staticmethod
    def backward(ctx, d_out: Tensor, d_c_last: Tensor):
        _refuse_double_backward()
        out, cells, acts, h0, c0, w_hh = ctx.saved_tensors
        T, B, H = out.shape
        d_gates = torch.empty_like(acts)  # (T, B, 4H)
        carry_h = torch.zeros_like(h0)
        carry_c = d_c_last.clone() if d_c_last is not None else torch.zeros_like(c0)
        for a, b in _blocks(T, ctx.reverse):
            i, f, g, o = acts[a:b].split(H, -1)
            tc = torch.tanh(cells[a:b])
            to_c = o * (1 - tc * tc)  # c-gradient per unit of h-gradient
            c_prev = _previous(cells, c0, a, b, ctx.reverse)
            # the g block's pre-activation arrives doubled (g = tanh(a) = 2σ(2a) - 1): ∂g/∂(2a) = (1 - g²) / 2
            factors = torch.cat([g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g) / 2], -1)
            out_factor = tc * o * (1 - o)
            for t in _steps(a, b, ctx.reverse):
                g_h = d_out[t] + carry_h
                g_c = torch.addcmul(carry_c, g_h, to_c[t - a])  # (B, H)
                view = d_gates[t].view(B, 4, H)
                torch.mul(g_c.unsqueeze(1), factors[t - a].view(B, 3, H), out=view[:, :3])
                torch.mul(g_h, out_factor[t - a], out=view[:, 3])
                carry_h = d_gates[t].mm(w_hh)  # (B, H)
                carry_c = g_c * f[t - a]
        return d_gates, carry_h, carry_c, _weight_grad(d_gates, out, h0, ctx.reverse), None
