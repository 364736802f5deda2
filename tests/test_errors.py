"""Bad input gets a clear error naming expected and actual sizes; nothing broadcasts."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab

I, H = 4, 6
X = torch.randn(5, 3, I)  # (T=5, B=3, I)


def raises(exc, *fragments):
    """pytest.raises that checks every fragment appears in the message."""
    return pytest.raises(exc, match="(?s)" + "".join(f"(?=.*{re.escape(f)})" for f in fragments))


# -- constructors: same exception type and message as torch ---------------------------------
CTOR_CASES = [
    ("LSTM", (3, 4), {"proj_size": 4}),
    ("LSTM", (3, 4), {"proj_size": -1}),
    ("RNN", (3, 4), {"proj_size": 2}),
    ("GRU", (3, 4), {"proj_size": 2}),
    ("GRU", (3, 4), {"dropout": 1.5}),
    ("GRU", (3, 4), {"dropout": True}),
    ("RNN", (3, 4), {"num_layers": 0}),
    ("RNN", (0, 4), {}),
    ("RNN", (3, 0), {}),
    ("LSTM", (3.0, 4), {}),
    ("LSTM", (3, 4), {"bias": 1}),
    ("GRU", (3, 4), {"batch_first": 1}),
    ("RNN", (3, 4), {"nonlinearity": "sigmoid"}),
]


@pytest.mark.parametrize("cls,args,kw", CTOR_CASES, ids=[f"{c}-{k}" for c, _, k in CTOR_CASES])
def test_constructor_validation_matches_torch(cls, args, kw):
    with pytest.raises(Exception) as theirs:
        getattr(nn, cls)(*args, **kw)
    with pytest.raises(Exception) as ours:
        getattr(rnnlab, cls)(*args, **kw)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)


def test_positional_order_matches_torch():
    rnn = rnnlab.RNN(3, 4, 2, "relu", False, True)
    assert (rnn.num_layers, rnn.nonlinearity, rnn.bias, rnn.batch_first) == (2, "relu", False, True)
    lstm = rnnlab.LSTM(3, 4, 2, False, True, 0.5, True, 2)
    assert (lstm.bias, lstm.batch_first, lstm.dropout, lstm.bidirectional, lstm.proj_size) == (
        False,
        True,
        0.5,
        True,
        2,
    )
    cell = rnnlab.RNNCell(3, 4, False, "relu")
    assert (cell.bias, cell.nonlinearity) == (False, "relu")
    assert isinstance(rnnlab.GRU(3, 4, 2, dropout=1).dropout, float)


def test_rnncell_unknown_nonlinearity_fails_at_call_like_torch():
    cell = rnnlab.RNNCell(3, 4, nonlinearity="sigmoid")
    with raises(RuntimeError, "Unknown nonlinearity: sigmoid"):
        cell(torch.randn(2, 3))


# -- multi-layer modules ---------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
def test_input_rank(cls):
    with raises(ValueError, "Expected input to be 2D or 3D, got 4D", "[5, 3, 1, 4]"):
        getattr(rnnlab, cls)(I, H)(X.unsqueeze(2))


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
def test_input_width(cls):
    with raises(RuntimeError, "Expected 4, got 5"):
        getattr(rnnlab, cls)(I, H)(torch.randn(5, 3, 5))


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
def test_sequence_length_zero(cls):
    with raises(RuntimeError, "sequence length to be larger than 0"):
        getattr(rnnlab, cls)(I, H)(torch.randn(0, 3, I))


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
def test_dtype_mismatch_has_a_hint(cls):
    with raises(ValueError, "torch.float64", "torch.float32", "input.to(torch.float32)", "model.to"):
        getattr(rnnlab, cls)(I, H)(X.double())
    with raises(ValueError, "torch.int64"):
        getattr(rnnlab, cls)(I, H)(X.long())


@pytest.mark.parametrize(
    "shape", [(1, 3, H), (2, 4, H), (2, 3, H + 1), (3, 2, H)], ids=["layers", "batch", "width", "batch-first-layout"]
)
@pytest.mark.parametrize("cls", ["RNN", "GRU"])
def test_hidden_shape(cls, shape):
    with raises(RuntimeError, "Expected hidden size (2, 3, 6)", f"got {list(shape)}"):
        getattr(rnnlab, cls)(I, H, 2)(X, torch.zeros(shape))


def test_lstm_h_and_c_shapes():
    lstm = rnnlab.LSTM(I, H, 2)
    h, c = torch.zeros(2, 3, H), torch.zeros(2, 3, H)
    with raises(RuntimeError, "Expected hidden[0] size (2, 3, 6)", "got [1, 3, 6]"):
        lstm(X, (h[:1], c))
    with raises(RuntimeError, "Expected hidden[1] size (2, 3, 6)", "got [2, 3, 7]"):
        lstm(X, (h, torch.zeros(2, 3, 7)))
    proj = rnnlab.LSTM(I, H, 2, proj_size=2)
    with raises(RuntimeError, "Expected hidden[0] size (2, 3, 2)", "got [2, 3, 6]", "proj_size"):
        proj(X, (h, c))
    proj(X, (torch.zeros(2, 3, 2), c))  # the right widths work


def test_hidden_rank_must_match_input_rank():
    gru = rnnlab.GRU(I, H)
    with raises(RuntimeError, "For batched 3-D input", "3-D", "2-D"):
        gru(X, torch.zeros(1, H))
    with raises(RuntimeError, "For unbatched 2-D input", "2-D", "3-D"):
        gru(X[:, 0], torch.zeros(1, 1, H))
    with raises(RuntimeError, "For batched 3-D input, hx and cx"):
        rnnlab.LSTM(I, H)(X, (torch.zeros(1, H), torch.zeros(1, H)))


def test_state_container_types():
    with raises(TypeError, "hx must be a tensor", "tuple", "LSTM"):
        rnnlab.GRU(I, H)(X, (torch.zeros(1, 3, H), torch.zeros(1, 3, H)))
    with raises(TypeError, "pair (h_0, c_0)", "Tensor"):
        rnnlab.LSTM(I, H)(X, torch.zeros(1, 3, H))


def test_hidden_dtype():
    # torch fails in the matmul with a RuntimeError; rnnlab raises the same, and names h_0 and the fix
    with raises(
        RuntimeError, "mat1 and mat2 must have the same dtype", "h_0 dtype (torch.float64)", "h_0.to(torch.float32)"
    ):
        rnnlab.RNN(I, H)(X, torch.zeros(1, 3, H, dtype=torch.float64))
    with raises(RuntimeError, "c_0 dtype (torch.float64)"):
        rnnlab.LSTM(I, H)(X, (torch.zeros(1, 3, H), torch.zeros(1, 3, H, dtype=torch.float64)))


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
def test_input_dtype_is_torchs_rnn_message(cls):
    with raises(
        ValueError,
        "RNN input dtype (torch.float64) does not match weight dtype (torch.float32). "
        "Convert input: input.to(torch.float32), or convert model: model.to(torch.float64)",
    ):
        getattr(rnnlab, cls)(I, H)(X.double())


def test_parameters_on_another_device():
    rnn = rnnlab.RNN(I, H, device="meta")
    with raises(RuntimeError, "not at the same device", "cpu", "meta"):
        rnn(X)


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_hidden_batch_is_checked(cls, enforce_sorted):
    """torch silently truncates an oversized hx for unsorted packing; rnnlab says so."""
    m = getattr(rnnlab, cls)(I, H)
    packed = pack_padded_sequence(X, [5, 4, 2], enforce_sorted=enforce_sorted)
    h = torch.zeros(1, 4, H)
    hx = (h, h) if cls == "LSTM" else h
    with raises(RuntimeError, "(1, 3, 6)", "[1, 4, 6]"):
        m(packed, hx)


# -- cells -----------------------------------------------------------------------------------
CELLS = ["RNNCell", "GRUCell", "LSTMCell"]


def call_cell(cell, x, h=None):
    if h is None:
        return cell(x)
    return cell(x, (h, h)) if isinstance(cell, rnnlab.LSTMCell) else cell(x, h)


@pytest.mark.parametrize("cls", CELLS)
def test_cell_errors(cls):
    cell = getattr(rnnlab, cls)(I, H)
    x = torch.randn(3, I)
    with raises(ValueError, f"Expected input to be 1D or 2D, got 3D instead ({cls})"):
        cell(x.unsqueeze(0))
    with raises(ValueError, "to be 1D or 2D, got 3D"):
        call_cell(cell, x, torch.zeros(1, 3, H))
    with raises(RuntimeError, "input has inconsistent input_size: got 5 expected 4", "(batch, 4)"):
        cell(torch.randn(3, 5))
    with raises(RuntimeError, "Input batch size 3 doesn't match hidden0 batch size 4"):
        call_cell(cell, x, torch.zeros(4, H))
    with raises(RuntimeError, "Input batch size 3 doesn't match hidden0 batch size 1", "no broadcasting"):
        call_cell(cell, x, torch.zeros(1, H))
    with raises(RuntimeError, "hidden0 has inconsistent hidden_size: got 7, expected 6"):
        call_cell(cell, x, torch.zeros(3, 7))
    with raises(RuntimeError, "unbatched 1-D input", "2-D"):
        call_cell(cell, x[0], torch.zeros(1, H))
    with raises(
        RuntimeError, "mat1 and mat2 must have the same dtype", "input dtype (torch.float64)", "input.to(torch.float32)"
    ):
        cell(x.double())
    with raises(RuntimeError, "h dtype (torch.float64)"):
        call_cell(cell, x, torch.zeros(3, H, dtype=torch.float64))
    # shapes are checked before dtypes, as torch does: a float64 h of the wrong width is a size error
    with raises(RuntimeError, "hidden0 has inconsistent hidden_size: got 7, expected 6"):
        call_cell(cell, x.double(), torch.zeros(3, 7, dtype=torch.float64))


def test_lstmcell_c_and_container():
    cell = rnnlab.LSTMCell(I, H)
    x = torch.randn(3, I)
    with raises(RuntimeError, "hidden1 batch size 2", "hidden1 = hx[1] = c"):
        cell(x, (torch.zeros(3, H), torch.zeros(2, H)))
    # torch calls h "hx[0]" in rank errors and "hidden0" in size errors; rnnlab ties the two names to h
    with raises(ValueError, "Expected hx[0] to be 1D or 2D"):
        cell(x, (torch.zeros(1, 3, H), torch.zeros(3, H)))
    with raises(RuntimeError, "hidden0 has inconsistent hidden_size: got 7, expected 6", "hidden0 = hx[0] = h"):
        cell(x, (torch.zeros(3, 7), torch.zeros(3, H)))
    with raises(TypeError, "pair (h, c)", "Tensor"):
        cell(x, torch.zeros(3, H))
