"""Every argument and input check in rnnlab, one wording per mistake.

Three groups:

* constructor arguments of the recurrent layers and cells (torch's exception types and texts);
* tensors given to a cell or a layer: rank, sizes, dtype, device, and the type of ``hx``.
  Where torch has a check, rnnlab raises the same exception type and starts with torch's text
  (PyTorch's own ``test_modules`` error cases pass against rnnlab, see
  ``tests/test_torch_module_db.py``); where torch only fails deep inside a kernel, or says
  little, rnnlab adds which tensor is wrong and the fix, after torch's text;
* the models' and training configs' hyper-parameters (``positive_ints`` and friends).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

IMPLS = ("rnnlab", "torch")  # the recurrent layers a model can be built from: rnnlab's or torch.nn's


# -- constructor arguments ----------------------------------------------------------------------
def check_layer_args(
    input_size: object,
    hidden_size: object,
    num_layers: object,
    bias: object,
    batch_first: object,
    dropout: object,
    proj_size: int,
) -> None:
    """``nn.RNN``/``LSTM``/``GRU``'s constructor checks, with torch's exceptions and messages."""
    if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
        raise ValueError(
            "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"
        )
    for arg, value in (("bias", bias), ("batch_first", batch_first)):
        if not isinstance(value, bool):
            raise TypeError(f"{arg} should be of type bool, got: {type(value).__name__}")
    for arg, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if not isinstance(value, int) or isinstance(value, bool):  # RNN(4, True): hidden_size True
            raise TypeError(f"{arg} should be of type int, got: {type(value).__name__}")
    for arg, value in (("input_size", input_size), ("hidden_size", hidden_size)):
        if value <= 0:
            raise ValueError(f"{arg} must be greater than zero")
    if num_layers <= 0:
        raise ValueError("num_layers must be greater than zero")
    if proj_size < 0:
        raise ValueError("proj_size should be a positive integer or zero to disable projections")
    if proj_size >= hidden_size:
        raise ValueError("proj_size has to be smaller than hidden_size")


def check_no_projection(proj_size: int) -> None:
    """RNN and GRU accept ``proj_size`` only to refuse it, as torch does."""
    if proj_size:
        raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")


def check_nonlinearity(nonlinearity: str) -> None:
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")


# -- tensors ------------------------------------------------------------------------------------
def _scalar_name(dtype: torch.dtype) -> str:
    """torch's C++ name of a dtype, as kernels print it: float64 -> 'Double'."""
    return torch.empty(0, dtype=dtype).type().rsplit(".", 1)[-1].removesuffix("Tensor")


def check_dtype(t: Tensor, weight: Tensor, what: str, layer: bool = False) -> None:
    """The dtype of ``t`` (``what``: ``'input'``, ``'h_0'``, ...) must be the weights'.

    A layer's input gets torch's own ``ValueError("RNN input dtype ...")`` (the same text for
    RNN, LSTM and GRU). Everywhere else torch only fails inside the matmul with a
    ``RuntimeError``; rnnlab raises that, with the kernel's text first and then which tensor is
    wrong and how to convert it.
    """
    if t.dtype == weight.dtype:
        return
    if what == "input":
        fix = f"Convert input: input.to({weight.dtype}), or convert model: model.to({t.dtype})"
    else:
        fix = f"Convert it: {what}.to({weight.dtype})"
    text = f"{what} dtype ({t.dtype}) does not match weight dtype ({weight.dtype}). {fix}"
    if layer and what == "input":
        raise ValueError("RNN " + text)
    raise RuntimeError(
        f"mat1 and mat2 must have the same dtype, but got {_scalar_name(t.dtype)} and "
        f"{_scalar_name(weight.dtype)}: {text}"
    )


def check_device(t: Tensor, weight: Tensor, what: str) -> None:
    """torch's message for parameters and an input (or hidden state) on different devices."""
    if t.device != weight.device:
        if what == "input":
            raise RuntimeError(
                "Input and parameter tensors are not at the same device, found input tensor "
                f"at {t.device} and parameter tensor at {weight.device}"
            )
        raise RuntimeError(
            "Input and hidden tensors are not at the same device, found input tensor "
            f"at {weight.device} and hidden tensor at {t.device}"
        )


def check_state_type(module: str, hx: object, pair: bool) -> None:
    """``hx`` must be a tensor (RNN, GRU and their cells) or a pair of tensors (LSTM, LSTMCell)."""
    if hx is None:
        return
    if pair:
        names = "(h, c)" if module.endswith("Cell") else "(h_0, c_0)"
        if isinstance(hx, Tensor) or not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"{module}: hx must be a pair {names} of tensors, got {type(hx).__name__}")
        if not all(isinstance(s, Tensor) for s in hx):  # (h, None) is not "c = zeros"
            got = ", ".join(type(s).__name__ for s in hx)
            raise TypeError(
                f"{module}: hx must be a pair {names} of tensors, got ({got}); "
                "pass hx=None for zero states, or both tensors"
            )
    elif not isinstance(hx, Tensor):
        shape = "(batch, hidden_size)" if module.endswith("Cell") else "(num_layers*num_directions, batch, hidden_size)"
        raise TypeError(
            f"{module}: hx must be a tensor {shape}, got {type(hx).__name__} (an (h, c) pair is for LSTM only)"
        )


def check_cell_call(
    module: str,
    input: Tensor,
    states: Sequence[Tensor | None],
    input_size: int,
    hidden_size: int,
    weight: Tensor,
    state_label: str,
) -> bool:
    """All checks of a cell's call, in torch's order: ranks, input size, then per state its batch
    and width; dtypes last (torch would fail in the matmul). Returns whether ``input`` is batched.

    ``state_label`` is torch's name for the state in rank errors: ``'hidden'`` (RNNCell, GRUCell)
    or ``'hx'`` (LSTMCell, whose states are ``hx[0]`` = h and ``hx[1]`` = c; torch's size errors
    call them ``hidden0`` and ``hidden1``, and rnnlab says so).
    """
    if input.dim() not in (1, 2):
        raise ValueError(f"Expected input to be 1D or 2D, got {input.dim()}D instead ({module})")
    batched = input.dim() == 2
    pair = len(states) == 2
    names = ("h", "c") if pair else ("h",)
    for k, s in enumerate(states):
        if s is None:
            continue
        label = f"{state_label}[{k}]" if pair else state_label
        if s.dim() not in (1, 2):
            raise ValueError(f"Expected {label} to be 1D or 2D, got {s.dim()}D instead ({module})")
        if s.dim() != input.dim():
            raise RuntimeError(
                f"For {'batched 2-D' if batched else 'unbatched 1-D'} input, {label} should also be "
                f"{input.dim()}-D but got {s.dim()}-D tensor of shape {list(s.shape)} ({module})"
            )
    n_in = input.shape[-1]
    if n_in != input_size:
        raise RuntimeError(
            f"input has inconsistent input_size: got {n_in} expected {input_size} "
            f"({module}({input_size}, {hidden_size}) reads input of shape (batch, {input_size}) "
            f"or ({input_size},))"
        )
    batch = input.shape[0] if batched else 1
    for k, s in enumerate(states):
        if s is None:
            continue
        which = f"hidden{k}" + (f" = {state_label}[{k}] = {names[k]}" if pair else "")
        s_batch = s.shape[0] if batched else 1
        if s_batch != batch:
            raise RuntimeError(
                f"Input batch size {batch} doesn't match hidden{k} batch size {s_batch} "
                f"({which}; no broadcasting: give one row per sample)"
            )
        if s.shape[-1] != hidden_size:
            raise RuntimeError(
                f"hidden{k} has inconsistent hidden_size: got {s.shape[-1]}, expected {hidden_size} ({which})"
            )
    check_dtype(input, weight, "input")
    for k, s in enumerate(states):
        if s is not None:
            check_dtype(s, weight, names[k])
    return batched


def check_layer_input(x: Tensor, input_size: int, weight: Tensor) -> None:
    """A layer's (time-major, or packed data) input: dtype, device, then feature size, as torch."""
    check_dtype(x, weight, "input", layer=True)
    check_device(x, weight, "input")
    if x.shape[-1] != input_size:
        raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {input_size}, got {x.shape[-1]}")


def check_packed(module: str, data: Tensor, batch_sizes: Tensor) -> None:
    """A ``PackedSequence`` (possibly built by hand): ``batch_sizes`` 1-D, positive, non-increasing
    (sequences only end, as ``pack_padded_sequence`` sorts them), and summing to ``data``'s rows."""
    sizes = batch_sizes.tolist() if batch_sizes.dim() == 1 else None
    if not sizes or any(b < 1 for b in sizes):
        raise RuntimeError(
            f"{module}: a PackedSequence's batch_sizes must be a non-empty 1-D tensor of positive counts, "
            f"got {batch_sizes.tolist()}"
        )
    if any(b > a for a, b in zip(sizes, sizes[1:])):
        raise RuntimeError(
            f"{module}: a PackedSequence's batch_sizes must not increase (sequences sorted longest first), "
            f"got {sizes}; build it with torch.nn.utils.rnn.pack_padded_sequence or pack_sequence"
        )
    if sum(sizes) != data.shape[0]:
        raise RuntimeError(
            f"{module}: a PackedSequence's batch_sizes {sizes} sum to {sum(sizes)} rows, but its data has "
            f"{data.shape[0]} rows (shape {list(data.shape)})"
        )


def check_layer_states(
    hx: Sequence[Tensor],
    expected: Sequence[tuple[int, ...]],
    names: Sequence[str],
    widths: Sequence[str],
    batched: bool,
    weight: Tensor,
) -> None:
    """A layer's initial states: rank, then per state its exact shape, dtype and device.

    Args:
        hx: ``(h_0,)`` or ``(h_0, c_0)`` as given (3-D, or 2-D for unbatched input).
        expected: the shape each must have.
        names: torch's names in rank errors (``'hx'``, ``'cx'``).
        widths: what the last dimension is (``'hidden_size'`` or ``'proj_size'``), for the hint.
    """
    want_dim = 3 if batched else 2
    if any(s.dim() != want_dim for s in hx):
        kind = "batched 3-D" if batched else "unbatched 2-D"
        got = ", ".join(f"{s.dim()}-D" for s in hx)
        raise RuntimeError(
            f"For {kind} input, {' and '.join(names)} should also be {want_dim}-D but got ({got}) tensor(s)"
        )
    for k, (s, shape) in enumerate(zip(hx, expected)):
        label = "hidden" if len(hx) == 1 else f"hidden[{k}]"
        state = ("h_0", "c_0")[k]
        if tuple(s.shape) != tuple(shape):
            raise RuntimeError(
                f"Expected {label} size {tuple(shape)}, got {list(s.shape)} ({state} is "
                f"(num_layers*num_directions, batch, {widths[k]}), never batch-first)"
            )
        check_dtype(s, weight, state)
        check_device(s, weight, state)


# -- model and training hyper-parameters --------------------------------------------------------
def positive_ints(**values: object) -> None:
    """Raise ``ValueError("<name> must be a positive integer, got <value>")`` for the first
    value that is not an ``int`` >= 1 (``bool`` does not count)."""
    for name, v in values.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def positive_number(name: str, value: object, optional: bool = False) -> None:
    """Raise unless ``value`` is a finite number > 0 (or None, when ``optional``)."""
    if value is None and optional:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise ValueError(f"{name} must be a positive finite number{' or None' if optional else ''}, got {value!r}")


def one_of(name: str, value: object, choices: Sequence[object]) -> None:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
