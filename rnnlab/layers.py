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
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from rnnlab.backward import GRURecurrence, LSTMRecurrence, RNNRecurrence
from rnnlab.cells import gru_step, lstm_step, rnn_step
from rnnlab.interop import TorchCompat, allow_in_weights_only_load
from rnnlab.validation import (
    check_layer_args,
    check_layer_input,
    check_layer_states,
    check_no_projection,
    check_nonlinearity,
    check_packed,
    check_state_type,
)

__all__ = ["RNN", "LSTM", "GRU", "set_forget_bias_"]

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


class _RNNBase(TorchCompat, nn.Module):
    """Constructor, parameters and the layer/direction/time loops shared by RNN, LSTM, GRU."""

    _gates: int  # 1 (RNN), 4 (LSTM), 3 (GRU): the weights stack _gates * hidden_size rows
    # Set by rnnlab.bptt.record_states: a list that receives, per (layer, direction), the
    # state tuple of every time step, in time order. None (the default): nothing is kept.
    _state_recorder: list | None = None
    # The training path: False (the default), autograd differentiates the time loop op by op; True, each
    # layer and direction is one node whose backward is written by hand (rnnlab.backward: the weight gradients
    # of all steps in one matmul). Same numbers either way; packed input, proj_size and the state recorder
    # always take the autograd path. Set per module: ``layer.hand_backward = True``.
    hand_backward: bool = False

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
        check_layer_args(input_size, hidden_size, num_layers, bias, batch_first, dropout, proj_size)
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
        D, P, rows = self._directions, self._out_width, self._gates * hidden_size  # rows: gates x H
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []  # names per (layer, direction), as torch.nn
        for k in range(num_layers):
            layer_in = input_size if k == 0 else D * P
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                shapes = {"weight_ih": (rows, layer_in), "weight_hh": (rows, P)}
                if bias:
                    shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
                if proj_size > 0:
                    shapes["weight_hr"] = (proj_size, hidden_size)
                for name, shape in shapes.items():
                    setattr(self, name + sfx, nn.Parameter(torch.empty(shape, **kw)))
                    self._flat_weights_names.append(name + sfx)
                self._all_weights.append([name + sfx for name in shapes])
        self._flat_index = {name: i for i, name in enumerate(self._flat_weights_names)}
        self._init_flat_weights()
        self.reset_parameters()

    # -- the weights forward reads: torch.nn's _flat_weights list ----------------------------------
    # As in torch.nn, forward reads its weights from the list ``_flat_weights`` (one entry per name
    # in ``_flat_weights_names``). The list follows ``setattr`` of a weight's name and ``.to()``, and
    # forward rebuilds it from the attributes when one of them is a new object since the last build
    # (torch.func.functional_call, a weight replaced by name). Code that masks or prunes weights by
    # assigning ``module._flat_weights = [...]`` thus changes what forward computes, as with torch.nn.
    def _init_flat_weights(self) -> None:
        self._flat_weights = [getattr(self, n, None) for n in self._flat_weights_names]
        self._flat_weight_refs = [None if w is None else weakref.ref(w) for w in self._flat_weights]

    def _update_flat_weights(self) -> None:
        """Rebuild ``_flat_weights`` if any weight attribute is not the object it was at the last build."""
        for ref, name in zip(self._flat_weight_refs, self._flat_weights_names):
            w = getattr(self, name, None)
            if w is not None and ref is not None and ref() is not w:
                self._init_flat_weights()
                return

    def __setattr__(self, attr: str, value) -> None:
        if attr in self.__dict__.get("_flat_index", {}):
            self._flat_weights[self._flat_index[attr]] = value
        super().__setattr__(attr, value)

    def _apply(self, fn, recurse: bool = True):
        out = super()._apply(fn, recurse)
        self._init_flat_weights()  # .to() / .double() may have made new tensors
        return out

    def __getstate__(self) -> dict:
        self._update_flat_weights()
        state = self.__dict__.copy()
        state.pop("_flat_weight_refs", None)  # weak references do not pickle
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if "_flat_weights" not in self.__dict__:
            self._init_flat_weights()
        else:
            self._flat_weight_refs = [None if w is None else weakref.ref(w) for w in self._flat_weights]

    # -- torch.nn API -------------------------------------------------------------------
    @property
    def _directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def _out_width(self) -> int:
        """P: width of ``h`` (``proj_size`` when projecting, else ``hidden_size``)."""
        return self.proj_size if self.proj_size > 0 else self.hidden_size

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        """Parameters grouped per (layer, direction), in registration order, like torch."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

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
        None when the module has none (``bias=False``, no projection). Read from ``_flat_weights``."""
        i = self._flat_index.get(f"{name}_l{k}" + ("_reverse" if d else ""))
        return None if i is None else self._flat_weights[i]

    def _folded_bias(self, k: int, d: int) -> Tensor | None:
        """``b_ih + b_hh``: for RNN and LSTM only the sum matters, so it joins the input projection."""
        b_ih, b_hh = self._param("bias_ih", k, d), self._param("bias_hh", k, d)
        return None if b_ih is None else b_ih + b_hh

    def _input_projection(self, k: int, d: int) -> tuple[Tensor, Tensor | None]:
        """``(W_ih, b)`` of layer ``k``, direction ``d``: ``x @ W_ih.T + b`` is the input projection of every
        time step, one matmul, whichever path then runs the loop."""
        raise NotImplementedError

    def _step(self, k: int, d: int) -> Step:
        """``step(xw_t, state) -> state``: one time step of layer ``k``, direction ``d``, hidden weights bound
        (the autograd path)."""
        raise NotImplementedError

    def _recurrence(self, k: int, d: int, xw: Tensor, state: State) -> tuple[Tensor, State]:
        """The whole loop of layer ``k``, direction ``d`` as one :mod:`rnnlab.backward` node, from the input
        projection ``xw`` ``(T, B, G)``: every output ``(T, B, H)`` and the final state (the last step's, or
        step 0's for the backward direction)."""
        raise NotImplementedError

    # -- forward: prepare -> layer stack -> restore ---------------------------------------
    def _forward(self, input: Tensor | PackedSequence, hx: State | None):
        """Shared forward. ``hx`` is a tuple of states (``(h,)`` or ``(h, c)``) or None."""
        batch = self._prepare(input, hx)
        output, h_n = self._run_layers(batch)
        return self._restore(batch, output, h_n)

    def _prepare(self, input: Tensor | PackedSequence, hx: State | None) -> _Batch:
        """Check everything, and put input and states time-major, in the order the loops use."""
        self._refuse_tracing()
        self._update_flat_weights()
        name = type(self).__name__
        L, D, w = self.num_layers, self._directions, self._param("weight_ih", 0, 0)
        if isinstance(input, PackedSequence):
            x, batch_sizes, sorted_idx, unsorted_idx = input
            check_layer_input(x, self.input_size, w)
            check_packed(name, x, batch_sizes)
            B, batched = int(batch_sizes[0]), True
        else:
            if input.dim() not in (2, 3):
                raise ValueError(
                    f"{name}: Expected input to be 2D or 3D, got {input.dim()}D tensor instead"
                    f" of shape {list(input.shape)}"
                )
            batched = input.dim() == 3
            x = input if batched else input.unsqueeze(1)  # (T, 1, I) when unbatched
            if batched and self.batch_first:
                x = x.transpose(0, 1)  # (T, B, I): always work time-major
            check_layer_input(x, self.input_size, w)
            if x.shape[0] == 0:
                raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
            B, batch_sizes, sorted_idx, unsorted_idx = x.shape[1], None, None, None
        widths = (self._out_width, self.hidden_size)[: len(self._state_names)]
        if hx is None:
            hx = tuple(x.new_zeros(L * D, B, width) for width in widths)
        else:
            expected = [(L * D, B, width) if batched else (L * D, width) for width in widths]
            named = ["proj_size" if self.proj_size else "hidden_size", "hidden_size"]
            check_layer_states(hx, expected, self._state_names, named, batched, w)
            if not batched:
                hx = tuple(s.unsqueeze(1) for s in hx)  # (L*D, 1, ·)
            if sorted_idx is not None:  # hx is in the caller's order; the loops work sorted
                hx = tuple(s.index_select(1, sorted_idx) for s in hx)
        return _Batch(input, x, hx, batched, batch_sizes, unsorted_idx)

    def _run_layers(self, batch: _Batch) -> tuple[Tensor, State]:
        """Every layer, every direction. Returns the top layer's output (``(T, B, D*P)``, or the
        packed data ``(N, D*P)``) and the final states, each ``(L*D, B, ·)``."""
        L, D = self.num_layers, self._directions
        layer_in, finals = batch.x, []
        for k in range(L):
            outs = []
            for d in range(D):
                state = tuple(s[k * D + d] for s in batch.hx)
                xw = F.linear(layer_in, *self._input_projection(k, d))  # (T, B, gate_rows), or packed (N, ·)
                if self._hand_path(batch):
                    ys, final = self._recurrence(k, d, xw, state)  # (T, B, P), State
                    outs.append(ys)
                    finals.append(final)
                    continue
                scan = _scan_backward if d == 1 else _scan_forward
                ys, final, states = scan(
                    batch.steps(xw), state, self._step(k, d), keep=self._state_recorder is not None
                )
                if self._state_recorder is not None:
                    self._state_recorder.append(states)  # T x State, for layer k, direction d
                outs.append(batch.join(ys))  # (T, B, P) or packed (N, P)
                finals.append(final)
            layer_in = outs[0] if D == 1 else torch.cat(outs, -1)  # (T, B, D*P)
            if self.training and self.dropout > 0 and k < L - 1:
                layer_in = F.dropout(layer_in, self.dropout, training=True)
        h_n = tuple(torch.stack(s) for s in zip(*finals))  # each (L*D, B, ·)
        return layer_in, h_n

    def _hand_path(self, batch: _Batch) -> bool:
        """Whether this forward takes the hand-written backward (see ``hand_backward``)."""
        plain = batch.batch_sizes is None and self.proj_size == 0 and self._state_recorder is None
        return self.hand_backward and plain and torch.is_grad_enabled()  # no graph wanted: the plain loop

    def _restore(self, batch: _Batch, output: Tensor, h_n: State):
        """Back to the caller's layout: batch order, batch_first, unbatched, PackedSequence."""
        if isinstance(batch.input, PackedSequence):
            if batch.unsorted_idx is not None:
                h_n = tuple(s.index_select(1, batch.unsorted_idx) for s in h_n)
            return PackedSequence(output, *batch.input[1:]), h_n
        if not batch.batched:
            return output.squeeze(1), tuple(s.squeeze(1) for s in h_n)
        return (output.transpose(0, 1) if self.batch_first else output), h_n

    def _forward_single_state(self, input, hx):
        """Forward of RNN and GRU, whose state is the tensor ``h`` alone."""
        check_state_type(type(self).__name__, hx, pair=False)
        output, (h_n,) = self._forward(input, None if hx is None else (hx,))
        return output, h_n


Step = Callable[[Tensor, State], State]  # (xw_t (B, gate_rows), state) -> next state


class _Batch(NamedTuple):
    """The input of one forward call, checked and time-major."""

    input: Tensor | PackedSequence  # as the caller gave it
    x: Tensor  # (T, B, I), or a PackedSequence's data (N, I)
    hx: State  # each (L*D, B, ·), in the order of x's rows
    batched: bool
    batch_sizes: Tensor | None  # packed: rows of each time step
    unsorted_idx: Tensor | None  # packed: back to the caller's order

    def steps(self, xw: Tensor) -> Sequence[Tensor]:
        """The per-time-step views of a projected input: T x (B, ·), or B_t rows when packed."""
        return xw.unbind(0) if self.batch_sizes is None else xw.split(self.batch_sizes.tolist())

    def join(self, ys: list[Tensor]) -> Tensor:
        """Per-step outputs back into one tensor, like the input: (T, B, ·) or packed (N, ·)."""
        return torch.stack(ys) if self.batch_sizes is None else torch.cat(ys)


def _scan_forward(xw: Sequence[Tensor], state: State, step: Step, keep: bool = False):
    """Steps ``t = 0 … T-1``. With packed input the batch shrinks as sequences end: rows that
    stop are set aside and rejoin the final state. Returns per-step outputs, the final state
    and (if ``keep``) every step's whole state, all in time order."""
    ys, states, ended = [], [], []  # ended: states of sequences that stopped early
    for xw_t in xw:
        b = xw_t.shape[0]
        if b < state[0].shape[0]:
            ended.append(tuple(s[b:] for s in state))
            state = tuple(s[:b] for s in state)
        state = step(xw_t, state)
        ys.append(state[0])
        if keep:
            states.append(state)
    if ended:
        state = tuple(torch.cat([s, *e]) for s, *e in zip(state, *reversed(ended)))
    return ys, state, states


def _scan_backward(xw: Sequence[Tensor], state: State, step: Step, keep: bool = False):
    """Steps ``t = T-1 … 0``. With packed input the batch grows as sequences start (read from
    their end): each joins with its own row of ``h_0``. Outputs in time order, as forward."""
    start = state  # h_0 rows for every sequence
    state = tuple(s[: xw[-1].shape[0]] for s in start)
    ys, states = [], []
    for xw_t in reversed(xw):
        b = xw_t.shape[0]
        if b > state[0].shape[0]:
            state = tuple(torch.cat([s, s0[s.shape[0] : b]]) for s, s0 in zip(state, start))
        state = step(xw_t, state)
        ys.append(state[0])
        if keep:
            states.append(state)
    return ys[::-1], state, states[::-1]


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
        check_no_projection(proj_size)
        check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        shared = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__(mode, *shared, proj_size=0, device=device, dtype=dtype)

    def _input_projection(self, k: int, d: int) -> tuple[Tensor, Tensor | None]:
        return self._param("weight_ih", k, d), self._folded_bias(k, d)

    def _step(self, k: int, d: int) -> Step:
        w_hh_t, act = self._param("weight_hh", k, d).t(), self.nonlinearity  # (H, H)

        def step(xw_t: Tensor, state: State) -> State:
            return (rnn_step(xw_t, state[0], w_hh_t, act),)

        return step

    def _recurrence(self, k: int, d: int, xw: Tensor, state: State) -> tuple[Tensor, State]:
        relu = self.nonlinearity == "relu"
        ys = RNNRecurrence.apply(xw, state[0], self._param("weight_hh", k, d), relu, d == 1)
        return ys, (ys[0] if d == 1 else ys[-1],)

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
        shared = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("LSTM", *shared, proj_size=proj_size, device=device, dtype=dtype)

    # The g rows of W_ih, b and W_hh doubled once per forward, so each step needs one sigmoid for all four
    # gates (tanh(g) = 2σ(2g) - 1, see lstm_step's g_doubled); both paths read the doubled rows.
    def _g_scale(self, like: Tensor) -> Tensor:
        """``(4H, 1)``: 1 on the i, f, o rows, 2 on the g rows."""
        H = self.hidden_size
        scale = like.new_ones(4 * H, 1)
        scale[2 * H : 3 * H] = 2.0
        return scale

    def _g_doubled(self, w: Tensor) -> Tensor:
        """The weight ``w`` (``(4H, ·)``) with its g rows times 2; ``w`` itself stays among the saved tensors."""
        return _ScaleRows.apply(w, self._g_scale(w))

    def _input_projection(self, k: int, d: int) -> tuple[Tensor, Tensor | None]:
        w_ih, b = self._param("weight_ih", k, d), self._folded_bias(k, d)
        return self._g_doubled(w_ih), None if b is None else b * self._g_scale(b)[:, 0]

    def _step(self, k: int, d: int) -> Step:
        w_hr = self._param("weight_hr", k, d)  # None without projection
        w_hr_t = None if w_hr is None else w_hr.t()  # (H, P)
        w_hh_t = self._g_doubled(self._param("weight_hh", k, d)).t()  # (P, 4H)

        def step(xw_t: Tensor, state: State) -> State:
            return lstm_step(xw_t, state[0], state[1], w_hh_t, w_hr_t, g_doubled=True)

        return step

    def _recurrence(self, k: int, d: int, xw: Tensor, state: State) -> tuple[Tensor, State]:
        w_hh = self._g_doubled(self._param("weight_hh", k, d))
        ys, c = LSTMRecurrence.apply(xw, state[0], state[1], w_hh, d == 1)
        return ys, (ys[0] if d == 1 else ys[-1], c)

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: tuple[Tensor, Tensor] | None = None,
    ) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        check_state_type("LSTM", hx, pair=True)
        output, (h_n, c_n) = self._forward(input, None if hx is None else tuple(hx))
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
        check_no_projection(proj_size)
        shared = (input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional)
        super().__init__("GRU", *shared, proj_size=0, device=device, dtype=dtype)

    def _input_projection(self, k: int, d: int) -> tuple[Tensor, Tensor | None]:
        return self._param("weight_ih", k, d), self._param("bias_ih", k, d)  # b_hh stays in the step

    def _step(self, k: int, d: int) -> Step:
        b_hh = self._param("bias_hh", k, d)  # b_hn sits inside r * (...)
        w_hh_t = self._param("weight_hh", k, d).t()  # (H, 3H)

        def step(xw_t: Tensor, state: State) -> State:
            return (gru_step(xw_t, state[0], w_hh_t, b_hh),)

        return step

    def _recurrence(self, k: int, d: int, xw: Tensor, state: State) -> tuple[Tensor, State]:
        ys = GRURecurrence.apply(xw, state[0], self._param("weight_hh", k, d), self._param("bias_hh", k, d), d == 1)
        return ys, (ys[0] if d == 1 else ys[-1],)

    def forward(
        self, input: Tensor | PackedSequence, hx: Tensor | None = None
    ) -> tuple[Tensor | PackedSequence, Tensor]:
        return self._forward_single_state(input, hx)


@torch.no_grad()
def set_forget_bias_(lstm: nn.Module, value: float) -> nn.Module:
    """Make every forget gate start with bias ``value``: ``b_ih[f] = value``, ``b_hh[f] = 0``.

    The forget gate sees ``b_ih + b_hh``; at torch's default init that sum is near 0, so
    ``σ(f) ≈ 0.5`` halves the cell state's gradient at every step. Works on ``torch.nn.LSTM``
    and ``rnnlab.LSTM`` alike (same parameter names); rows ``H:2H`` are the f block.
    """
    H = lstm.hidden_size
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            p[H : 2 * H] = value
        elif name.startswith("bias_hh"):
            p[H : 2 * H] = 0.0
    return lstm


allow_in_weights_only_load(RNN, LSTM, GRU)
