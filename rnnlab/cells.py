"""One time step of each recurrent cell, in plain tensor ops.

The three ``*_step`` functions are the whole mathematics of the course; the cell
classes below and the layers in :mod:`rnnlab.layers` are bookkeeping around them.
A step takes ``xw_t``, the input projection ``x_t @ W_ih.T + b_ih`` already
computed (the layers compute it for all time steps in one matmul), and the
hidden weights already transposed (``.t()`` is hoisted out of the time loop).

Gate blocks follow torch's stacked layout: LSTM rows ``i, f, g, o``; GRU rows
``r, z, n``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.interop import TorchCompat, allow_in_weights_only_load
from rnnlab.validation import check_cell_call, check_state_type

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "rnn_step", "lstm_step", "gru_step"]


def rnn_step(xw_t: Tensor, h: Tensor, w_hh_t: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """Elman RNN step: ``h' = act(x_t W_ih^T + b_ih + h W_hh^T + b_hh)``.

    Args:
        xw_t: ``(B, H)`` input projection with both biases folded in.
        h: ``(B, H)`` previous hidden state.
        w_hh_t: ``(H, H)`` transposed hidden weight ``W_hh.T``.
        nonlinearity: ``'tanh'`` or ``'relu'``.

    Returns:
        ``(B, H)`` new hidden state.
    """
    pre = torch.addmm(xw_t, h, w_hh_t)  # (B, H)
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_step(
    xw_t: Tensor,
    h: Tensor,
    c: Tensor,
    w_hh_t: Tensor,
    w_hr_t: Tensor | None = None,
    g_doubled: bool = False,
) -> tuple[Tensor, Tensor]:
    """LSTM step (Hochreiter & Schmidhuber, with torch's gate order i, f, g, o).

    ``i, f, o = σ(·)``, ``g = tanh(·)`` of ``x_t W_ih^T + b_ih + h W_hh^T + b_hh``;
    ``c' = f ⊙ c + i ⊙ g``; ``h' = o ⊙ tanh(c')``, then ``h' = h' W_hr^T`` when projecting.

    Args:
        xw_t: ``(B, 4H)`` input projection with both biases folded in.
        h: ``(B, P)`` previous hidden state (``P = proj_size`` or ``H``).
        c: ``(B, H)`` previous cell state.
        w_hh_t: ``(P, 4H)`` transposed hidden weight.
        w_hr_t: ``(H, P)`` transposed projection weight, or ``None``.
        g_doubled: the g block (rows ``2H:3H``) of ``xw_t`` and of ``w_hh_t``'s columns is
            already multiplied by 2. Then one sigmoid serves all four gates, since
            ``tanh(g) = 2σ(2g) - 1``: fewer kernels per step (what :class:`rnnlab.LSTM` does).

    Returns:
        ``(h', c')`` of shapes ``(B, P)`` and ``(B, H)``.
    """
    gates = torch.addmm(xw_t, h, w_hh_t)  # (B, 4H)
    if g_doubled:
        i, f, g, o = torch.sigmoid(gates).chunk(4, 1)  # g holds σ(2g)
        g = 2 * g - 1  # tanh(g) = 2σ(2g) - 1
    else:
        i, f, g, o = gates.chunk(4, 1)  # each (B, H)
        i, f, o, g = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o), torch.tanh(g)
    c = torch.addcmul(f * c, i, g)  # f*c + i*g
    h = o * torch.tanh(c)  # (B, H)
    if w_hr_t is not None:
        h = h.mm(w_hr_t)  # (B, P), no bias
    return h, c


def gru_step(xw_t: Tensor, h: Tensor, w_hh_t: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU step in torch's form (reset gate applied *after* the hidden matmul).

    ``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, ``z = σ(W_iz x + b_iz + W_hz h + b_hz)``,
    ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``, ``h' = (1 - z) ⊙ n + z ⊙ h``.

    Args:
        xw_t: ``(B, 3H)`` input projection ``x_t W_ih^T + b_ih`` (no ``b_hh`` in it:
            ``b_hn`` must stay inside the reset product).
        h: ``(B, H)`` previous hidden state.
        w_hh_t: ``(H, 3H)`` transposed hidden weight.
        b_hh: ``(3H,)`` hidden bias, or ``None``.

    Returns:
        ``(B, H)`` new hidden state.
    """
    gh = h.mm(w_hh_t) if b_hh is None else torch.addmm(b_hh, h, w_hh_t)  # (B, 3H)
    H = h.shape[1]
    x_rz, x_n = xw_t.split([2 * H, H], 1)  # (B, 2H), (B, H); split, not slicing: one
    h_rz, h_n = gh.split([2 * H, H], 1)  # backward op instead of a zero-filled grad each
    r, z = torch.sigmoid(x_rz + h_rz).chunk(2, 1)  # (B, H) each
    n = torch.tanh(torch.addcmul(x_n, r, h_n))  # x_n + r*h_n
    return torch.lerp(n, h, z)  # n + z*(h - n) = (1-z)*n + z*h


class _CellBase(TorchCompat, nn.Module):
    """Parameters, initialisation and input checks shared by the three cells."""

    _gates: int

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        rows = self._gates * hidden_size  # gate blocks stacked: 1, 4 or 3 x H
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **kw))
            self.bias_hh = nn.Parameter(torch.empty(rows, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``, in registration order."""
        bound = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.bias is not True:
            s += ", bias={bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def _prepare(self, input: Tensor, states: list[Tensor | None], label: str) -> tuple:
        """Check ``input`` and the states like torch (see :func:`rnnlab.validation.check_cell_call`).

        Returns ``(x, states, batched)`` with ``x`` of shape ``(B, I)`` and every state
        ``(B, H)`` (zeros where ``None``).
        """
        batched = check_cell_call(
            type(self).__name__, input, states, self.input_size, self.hidden_size, self.weight_ih, label
        )
        x = input if batched else input.unsqueeze(0)  # (B, I)
        out = [
            x.new_zeros(x.shape[0], self.hidden_size) if s is None else (s if batched else s.unsqueeze(0))
            for s in states
        ]
        return x, out, batched


class RNNCell(_CellBase):
    """Elman RNN cell, a drop-in replacement for :class:`torch.nn.RNNCell`.

    ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ``relu``).

    Args:
        input_size: features ``I`` of the input ``x``.
        hidden_size: features ``H`` of the hidden state.
        bias: if ``False``, no ``b_ih`` / ``b_hh``.
        nonlinearity: ``'tanh'`` or ``'relu'`` (like torch, checked at the first call).

    Inputs: ``input`` ``(B, I)`` or ``(I,)``; ``hx`` ``(B, H)`` or ``(H,)``, zeros if omitted.
    Outputs: ``h'`` ``(B, H)`` or ``(H,)``.
    """

    _gates = 1

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        check_state_type("RNNCell", hx, pair=False)
        x, (h,), batched = self._prepare(input, [hx], "hidden")
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        h = rnn_step(F.linear(x, self.weight_ih, b), h, self.weight_hh.t(), self.nonlinearity)
        return h if batched else h.squeeze(0)


class LSTMCell(_CellBase):
    """LSTM cell, a drop-in replacement for :class:`torch.nn.LSTMCell`.

    ``i, f, g, o`` gates from ``x W_ih^T + b_ih + h W_hh^T + b_hh``;
    ``c' = σ(f) ⊙ c + σ(i) ⊙ tanh(g)``, ``h' = σ(o) ⊙ tanh(c')``.

    Inputs: ``input`` ``(B, I)`` or ``(I,)``; ``hx`` a pair ``(h, c)``, each ``(B, H)``
    or ``(H,)``, zeros if omitted.
    Outputs: the pair ``(h', c')``.
    """

    _gates = 4

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        check_state_type("LSTMCell", hx, pair=True)
        x, (h, c), batched = self._prepare(input, list(hx) if hx is not None else [None, None], "hx")
        b = None if self.bias_ih is None else self.bias_ih + self.bias_hh
        h, c = lstm_step(F.linear(x, self.weight_ih, b), h, c, self.weight_hh.t())
        return (h, c) if batched else (h.squeeze(0), c.squeeze(0))


class GRUCell(_CellBase):
    """GRU cell, a drop-in replacement for :class:`torch.nn.GRUCell`.

    ``r = σ(·)``, ``z = σ(·)``, ``n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))``,
    ``h' = (1 - z) ⊙ n + z ⊙ h`` (torch's form: ``b_hn`` inside the reset product).

    Inputs: ``input`` ``(B, I)`` or ``(I,)``; ``hx`` ``(B, H)`` or ``(H,)``, zeros if omitted.
    Outputs: ``h'`` ``(B, H)`` or ``(H,)``.
    """

    _gates = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        check_state_type("GRUCell", hx, pair=False)
        x, (h,), batched = self._prepare(input, [hx], "hidden")
        xw = F.linear(x, self.weight_ih, self.bias_ih)  # (B, 3H)
        h = gru_step(xw, h, self.weight_hh.t(), self.bias_hh)
        return h if batched else h.squeeze(0)


allow_in_weights_only_load(RNNCell, LSTMCell, GRUCell)
