"""Multi-layer recurrent modules: the time loop, directions, stacking, dropout, packing.

``RNN``, ``LSTM`` and ``GRU`` are drop-in replacements for their ``torch.nn``
namesakes. The per-step maths lives in :mod:`rnnlab.cells`; this file only
decides which step sees which input and state:

    for each layer k:
        for each direction d (forward, then backward):
            XW = input @ W_ih.T + b          one matmul for all time steps
            loop over time (reversed for d=1), one cell step per t
        input = cat(directions, -1)          (T, B, D*P)
        dropout(input) if training and k < L-1

A ``PackedSequence`` is handled natively: its data is time-major, so the step at
time ``t`` sees only the first ``batch_sizes[t]`` rows; the state simply shrinks
(forward) or grows (backward) as sequences end or start.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab.cells import gru_step, lstm_step, rnn_step

__all__ = ["RNN", "LSTM", "GRU"]

State = tuple[Tensor, ...]  # (h,) or (h, c)


class _ScaleRows(torch.autograd.Function):
    """``w * scale`` (rows scaled), which keeps ``w`` itself among the saved tensors, so that
    autograd's check still catches ``w`` changed in place (e.g. by ``optimizer.step()``) before
    a backward through an old graph, exactly as when the parameter is used directly."""

    @staticmethod
    def forward(ctx, w: Tensor, scale: Tensor) -> Tensor:  # w (R, C), scale (R, 1)
        ctx.save_for_backward(w, scale)
        return w * scale

    @staticmethod
    def backward(ctx, grad: Tensor):
        _, scale = ctx.saved_tensors  # unpacking checks w's version
        return grad * scale, None


class _RNNBase(nn.Module):
    """Constructor, parameters and the layer/direction/time loops shared by RNN, LSTM, GRU."""

    _gates: int  # G: 1 (RNN), 4 (LSTM), 3 (GRU)
    # Set by rnnlab.bptt.record_states: a list that receives, per (layer, direction), the
    # state tuple of every time step, in time order. None (the default): nothing is kept.
    _state_recorder: list | None = None

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        _validate(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size

        kw = {"device": device, "dtype": dtype}
        D, P, G = self._directions, self._out_width, self._gates * hidden_size
        self._flat_weights_names: list[str] = []
        for k in range(num_layers):
            layer_in = input_size if k == 0 else D * P
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (G, layer_in), "weight_hh": (G, P)}
                if bias:
                    shapes |= {"bias_ih": (G,), "bias_hh": (G,)}
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    setattr(self, name + sfx, nn.Parameter(torch.empty(shape, **kw)))
                    self._flat_weights_names.append(name + sfx)
        self.reset_parameters()

    # -- torch.nn API -------------------------------------------------------------------
    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _out_width(self) -> int:
        """P: width of ``h`` (``proj_size`` when projecting, else ``hidden_size``)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per (layer, direction), in registration order, like torch."""
        per = len(self._flat_weights_names) // (self.num_layers * self._directions)
        w = self._flat_weights
        return [w[i : i + per] for i in range(0, len(w), per)]

    def reset_parameters(self) -> None:
        """Draw every parameter from ``U(-1/sqrt(H), 1/sqrt(H))``, in registration order.

        Same order and bound as torch, so ``torch.manual_seed(s)`` gives torch's weights.
        """
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """No-op, kept so code written for ``torch.nn`` (which calls it for cuDNN) runs."""

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    # -- subclass hooks ------------------------------------------------------------------
    def _param(self, name: str, k: int, d: int) -> Tensor | None:
        """Parameter ``name`` (``weight_ih``, ``bias_hh``, ...) of layer ``k``, direction ``d``;
        None when the module has none (``bias=False``, no projection)."""
        return getattr(self, f"{name}_l{k}" + ("_reverse" if d else ""), None)

    def _folded_bias(self, k: int, d: int) -> Tensor | None:
        """``b_ih + b_hh``: for RNN and LSTM only the sum matters, so it joins the input projection."""
        b_ih, b_hh = self._param("bias_ih", k, d), self._param("bias_hh", k, d)
        return None if b_ih is None else b_ih + b_hh

    def _direction_params(self, k: int, d: int) -> tuple[Tensor, Tensor | None, tuple]:
        """``(W_ih, b, step_args)``: the input-projection weight and bias, and what
        the step function needs besides ``xw_t`` and the state."""
        raise NotImplementedError

    def _step(self, xw_t: Tensor, state: State, args: tuple) -> State:
        raise NotImplementedError

    # -- forward -------------------------------------------------------------------------
    def _forward(self, input: Tensor | PackedSequence, hx: State | None):
        """Shared forward. ``hx`` is a tuple of states (``(h,)`` or ``(h, c)``) or None."""
        name = type(self).__name__
        D, L = self._directions, self.num_layers
        widths = (self._out_width, self.hidden_size)[: len(self._state_names)]

        if isinstance(input, PackedSequence):
            x, batch_sizes, sorted_idx, unsorted_idx = input
            self._check_input(x, name)
            B = int(batch_sizes[0])
            if hx is not None:
                self._check_hidden(hx, (L * D, B), widths, batched=True)
                if sorted_idx is not None:  # hx is in the caller's order; work sorted
                    hx = tuple(s.index_select(1, sorted_idx) for s in hx)
            steps_of, join = (lambda xw: xw.split(batch_sizes.tolist())), torch.cat
        else:
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor instead"
                    f" of shape {list(input.shape)}"
                )
            batched = input.dim() == 3
            x = input
            if not batched:
                x = x.unsqueeze(1)  # (T, 1, I)
            elif self.batch_first:
                x = x.transpose(0, 1)  # (T, B, I): always work time-major
            self._check_input(x, name)
            if x.shape[0] == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            B = x.shape[1]
            if hx is not None:
                self._check_hidden(hx, (L * D, B), widths, batched)
                if not batched:
                    hx = tuple(s.unsqueeze(1) for s in hx)
            steps_of, join = (lambda xw: xw.unbind(0)), torch.stack
            sorted_idx = unsorted_idx = None

        if hx is None:
            hx = tuple(x.new_zeros(L * D, B, w) for w in widths)

        layer_in = x
        finals: list[State] = []
        for k in range(L):
            outs = []
            for d in range(D):
                w_ih, b, args = self._direction_params(k, d)
                steps = steps_of(F.linear(layer_in, w_ih, b))  # T x (B_t, G*H)
                state = tuple(s[k * D + d] for s in hx)
                keep = None if self._state_recorder is None else []
                ys, final = self._run_direction(steps, state, args, reverse=d == 1, keep=keep)
                if keep is not None:
                    self._state_recorder.append(keep)  # T x State, for layer k, direction d
                outs.append(join(ys))  # (T, B, P) or packed (N, P)
                finals.append(final)
            layer_in = outs[0] if D == 1 else torch.cat(outs, -1)  # (T, B, D*P)
            if self.training and self.dropout > 0 and k < L - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)

        h_n = tuple(torch.stack(s) for s in zip(*finals))  # each (L*D, B, ·)
        if isinstance(input, PackedSequence):
            if unsorted_idx is not None:
                h_n = tuple(s.index_select(1, unsorted_idx) for s in h_n)
            return PackedSequence(layer_in, batch_sizes, sorted_idx, unsorted_idx), h_n
        if not batched:
            return layer_in.squeeze(1), tuple(s.squeeze(1) for s in h_n)
        return (layer_in.transpose(0, 1) if self.batch_first else layer_in), h_n

    def _forward_single_state(self, input, hx):
        """Forward of RNN and GRU, whose state is the tensor ``h`` alone."""
        if hx is not None and not isinstance(hx, Tensor):
            raise TypeError(
                f"{type(self).__name__}: hx must be a tensor (num_layers*num_directions, batch, "
                f"hidden_size), got {type(hx).__name__} (an (h, c) pair is for LSTM only)"
            )
        output, (h_n,) = self._forward(input, None if hx is None else (hx,))
        return output, h_n

    def _run_direction(
        self, steps: Sequence[Tensor], state: State, args: tuple, reverse: bool,
        keep: list[State] | None = None,
    ) -> tuple[list[Tensor], State]:
        """Run one layer in one direction; return per-step outputs (in time order) and
        the final state. With packed input the batch shrinks (forward) or grows
        (backward) between steps; otherwise every step has the full batch. ``keep``, if
        given, receives every step's whole state (``(h,)`` or ``(h, c)``) in time order."""
        ys: list[Tensor] = []
        if not reverse:
            ended: list[State] = []  # states of sequences that stopped early
            for xw_t in steps:
                b = xw_t.shape[0]
                if b < state[0].shape[0]:
                    ended.append(tuple(s[b:] for s in state))
                    state = tuple(s[:b] for s in state)
                state = self._step(xw_t, state, args)
                ys.append(state[0])
                if keep is not None:
                    keep.append(state)
            if ended:
                state = tuple(torch.cat([s, *e]) for s, *e in zip(state, *reversed(ended)))
            return ys, state
        start = state  # h_0 rows for every sequence; each joins at its own last step
        state = tuple(s[: steps[-1].shape[0]] for s in start)
        for xw_t in reversed(steps):
            b = xw_t.shape[0]
            if b > state[0].shape[0]:
                state = tuple(torch.cat([s, s0[s.shape[0] : b]]) for s, s0 in zip(state, start))
            state = self._step(xw_t, state, args)
            ys.append(state[0])
            if keep is not None:
                keep.append(state)
        ys.reverse()
        if keep is not None:
            keep.reverse()
        return ys, state

    # -- checks --------------------------------------------------------------------------
    def _check_input(self, x: Tensor, name: str) -> None:
        w = self.weight_ih_l0
        if x.dtype != w.dtype:
            raise ValueError(
                f"{name} input dtype ({x.dtype}) does not match weight dtype ({w.dtype}). "
                f"Convert input: input.to({w.dtype}), or convert model: model.to({x.dtype})"
            )
        if x.device != w.device:
            raise RuntimeError(
                "Input and parameter tensors are not at the same device, found input tensor "
                f"at {x.device} and parameter tensor at {w.device}"
            )
        if x.shape[-1] != self.input_size:
            raise RuntimeError(
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                f"got {x.shape[-1]}"
            )

    def _check_hidden(self, hx: State, rows_batch: tuple[int, int], widths, batched: bool) -> None:
        name = type(self).__name__
        want_dim = 3 if batched else 2
        if any(s.dim() != want_dim for s in hx):
            kind = "batched 3-D" if batched else "unbatched 2-D"
            got = ", ".join(f"{s.dim()}-D" for s in hx)
            raise RuntimeError(
                f"For {kind} input, {' and '.join(self._state_names)} should also be "
                f"{want_dim}-D but got ({got}) tensor(s)"
            )
        w = self.weight_ih_l0
        for k, (s, width) in enumerate(zip(hx, widths)):
            expected = rows_batch + (width,) if batched else (rows_batch[0], width)
            if tuple(s.shape) != expected:
                label = "hidden" if len(hx) == 1 else f"hidden[{k}]"
                raise RuntimeError(
                    f"Expected {label} size {expected}, got {list(s.shape)} "
                    f"({self._state_names[k]} is (num_layers*num_directions, batch, "
                    f"{'proj_size' if k == 0 and self.proj_size else 'hidden_size'}), "
                    "never batch-first)"
                )
            if s.dtype != w.dtype:
                raise ValueError(
                    f"{name} {self._state_names[k]} dtype ({s.dtype}) does not match weight "
                    f"dtype ({w.dtype}). Convert it: {self._state_names[k]}.to({w.dtype})"
                )
            if s.device != w.device:
                raise RuntimeError(
                    "Input and hidden tensors are not at the same device, found input tensor "
                    f"at {w.device} and hidden tensor at {s.device}"
                )


def _validate(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size) -> None:
    """Constructor checks, with torch's exceptions and messages."""
    if (
        not isinstance(dropout, numbers.Number)
        or isinstance(dropout, bool)
        or not 0 <= dropout <= 1
    ):
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an "
            "element being zeroed"
        )
    for arg, value in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(value, bool):
            raise TypeError(f"{arg} should be of type bool, got: {type(value).__name__}")
    for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if not isinstance(value, int):
            raise TypeError(f"{arg} should be of type int, got: {type(value).__name__}")
        if value <= 0:
            raise ValueError(f"{arg} must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


class RNN(_RNNBase):
    """Multi-layer Elman RNN, a drop-in replacement for :class:`torch.nn.RNN`.

    Per layer and time step: ``h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``.

    Args:
        input_size: features ``I`` per time step.
        hidden_size: features ``H`` of the hidden state.
        num_layers: stacked layers ``L``; layer ``k > 0`` reads layer ``k-1``'s output.
        nonlinearity: ``'tanh'`` or ``'relu'``.
        bias: if ``False``, no ``b_ih`` / ``b_hh``.
        batch_first: input and output are ``(B, T, ·)`` (``h_0``/``h_n`` are not affected).
        dropout: dropout probability on the outputs of every layer but the last (training only).
        bidirectional: add a backward direction, ``D = 2``.

    Inputs: ``input`` ``(T, B, I)`` (``(B, T, I)`` if batch_first), ``(T, I)`` unbatched, or a
    ``PackedSequence``; ``hx`` ``(L*D, B, H)`` (``(L*D, H)`` unbatched), zeros if omitted.
    Outputs: ``(output, h_n)``: ``output`` ``(T, B, D*H)`` is the last layer at every step;
    ``h_n`` ``(L*D, B, H)`` is every layer at its last step.
    """

    _gates = 1
    _state_names = ("hx",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        nonlinearity: str = "tanh",
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        proj_size: int = 0,
    ) -> None:
        if proj_size:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(
                f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."
            )
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(
            mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype,
        )  # fmt: skip

    def _direction_params(self, k: int, d: int):
        w_hh_t = self._param("weight_hh", k, d).t()
        return self._param("weight_ih", k, d), self._folded_bias(k, d), (w_hh_t, self.nonlinearity)

    def _step(self, xw_t: Tensor, state: State, args: tuple) -> State:
        return (rnn_step(xw_t, state[0], *args),)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        return self._forward_single_state(input, hx)


class LSTM(_RNNBase):
    """Multi-layer LSTM, a drop-in replacement for :class:`torch.nn.LSTM`.

    Per layer and time step, with gates chunked from the stacked weights as i, f, g, o::

        i, f, g, o = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
        c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g)
        h_t = σ(o) ⊙ tanh(c_t)          then h_t = h_t W_hr^T if proj_size > 0

    Args: as :class:`RNN` (no ``nonlinearity``), plus ``proj_size`` ``P < H``: project
    ``h`` to ``P`` features with ``weight_hr_l{k}`` ``(P, H)``.

    Inputs: ``input`` as :class:`RNN`; ``hx`` a pair ``(h_0, c_0)`` of shapes ``(L*D, B, P)``
    and ``(L*D, B, H)``, zeros if omitted.
    Outputs: ``(output, (h_n, c_n))`` with ``output`` ``(T, B, D*P)``.
    """

    _gates = 4
    _state_names = ("hx", "cx")

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(
            "LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, proj_size, device, dtype,
        )  # fmt: skip

    def _direction_params(self, k: int, d: int):
        # The g rows doubled once per forward, so each step needs one sigmoid for all four
        # gates (tanh(g) = 2σ(2g) - 1, see lstm_step's g_doubled).
        H, w_ih = self.hidden_size, self._param("weight_ih", k, d)
        scale = w_ih.new_ones(4 * H, 1)
        scale[2 * H : 3 * H] = 2.0
        w_hr = self._param("weight_hr", k, d)  # None without projection
        b = self._folded_bias(k, d)
        w_hh_t = _ScaleRows.apply(self._param("weight_hh", k, d), scale).t()  # (P, 4H)
        step_args = (w_hh_t, None if w_hr is None else w_hr.t())
        return _ScaleRows.apply(w_ih, scale), None if b is None else b * scale[:, 0], step_args

    def _step(self, xw_t: Tensor, state: State, args: tuple) -> State:
        return lstm_step(xw_t, state[0], state[1], *args, g_doubled=True)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        if hx is not None:
            if isinstance(hx, Tensor) or not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(
                    "LSTM: hx must be a pair (h_0, c_0) of tensors, "
                    f"got {type(hx).__name__}"
                )
            hx = tuple(hx)
        output, (h_n, c_n) = self._forward(input, hx)
        return output, (h_n, c_n)


class GRU(_RNNBase):
    """Multi-layer GRU, a drop-in replacement for :class:`torch.nn.GRU`.

    Per layer and time step, with gates chunked from the stacked weights as r, z, n::

        r = σ(W_ir x_t + b_ir + W_hr h + b_hr),   z = σ(W_iz x_t + b_iz + W_hz h + b_hz)
        n = tanh(W_in x_t + b_in + r ⊙ (W_hn h + b_hn))
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    Args, inputs and outputs: as :class:`RNN` (no ``nonlinearity``); returns
    ``(output, h_n)``, never a ``(h, c)`` pair.
    """

    _gates = 3
    _state_names = ("hx",)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        proj_size: int = 0,
    ) -> None:
        if proj_size:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__(
            "GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
            bidirectional, 0, device, dtype,
        )  # fmt: skip

    def _direction_params(self, k: int, d: int):
        b_hh = self._param("bias_hh", k, d)  # stays in the step: b_hn sits inside r * (...)
        w_hh_t = self._param("weight_hh", k, d).t()
        return self._param("weight_ih", k, d), self._param("bias_ih", k, d), (w_hh_t, b_hh)

    def _step(self, xw_t: Tensor, state: State, args: tuple) -> State:
        return (gru_step(xw_t, state[0], *args),)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        return self._forward_single_state(input, hx)
