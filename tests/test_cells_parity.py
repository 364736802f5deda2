"""rnnlab.RNNCell / LSTMCell / GRUCell equal torch.nn's cells, values and gradients."""

from __future__ import annotations

import pytest
import torch

from rnnlab.testing import F64, assert_parity, twin

I, H, B = 4, 6, 3
CELLS = {
    "rnn_tanh": ("RNNCell", {}),
    "rnn_relu": ("RNNCell", {"nonlinearity": "relu"}),
    "lstm": ("LSTMCell", {}),
    "gru": ("GRUCell", {}),
}


def inputs(cls, batched, dtype):
    g = torch.Generator().manual_seed(3)
    lead = (B,) if batched else ()
    x = torch.randn(*lead, I, generator=g, dtype=dtype)
    states = [torch.randn(*lead, H, generator=g, dtype=dtype)]
    if cls == "LSTMCell":
        states.append(torch.randn(*lead, H, generator=g, dtype=dtype))
    return x, states


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
@pytest.mark.parametrize("with_hx", [True, False])
def test_cell_parity(cell, bias, batched, dtype, with_hx):
    cls, kw = CELLS[cell]
    ref, ours = twin(cls, I, H, bias=bias, dtype=dtype, **kw)
    x, states = inputs(cls, batched, dtype)
    if not with_hx:
        assert_parity(ref, ours, [x])
    elif cls == "LSTMCell":
        assert_parity(ref, ours, [x, *states], lambda m, x, h, c: m(x, (h, c)))
    else:
        assert_parity(ref, ours, [x, *states])


@pytest.mark.parametrize("cell", CELLS)
def test_cell_state_dict_and_init(cell):
    cls, kw = CELLS[cell]
    ref, ours = twin(cls, I, H, seed=11, **kw)
    assert list(ref.state_dict()) == list(ours.state_dict())
    for k, v in ref.state_dict().items():
        assert torch.equal(v, ours.state_dict()[k]), k
    ours.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    assert repr(ours).split("(", 1)[1] == repr(ref).split("(", 1)[1]


def test_cell_without_bias_has_none_attributes():
    ref, ours = twin("GRUCell", I, H, False)
    assert ours.bias_ih is None and ours.bias_hh is None and ref.bias_ih is None


def test_cell_loop_equals_layer():
    """Stepping LSTMCell by hand over time is the 1-layer LSTM (course notebook 03's claim)."""
    import rnnlab

    torch.manual_seed(0)
    lstm = rnnlab.LSTM(I, H, dtype=F64)
    cell = rnnlab.LSTMCell(I, H, dtype=F64)
    cell.load_state_dict({k[:-3]: v for k, v in lstm.state_dict().items()})  # drop "_l0"
    x = torch.randn(7, B, I, dtype=F64)
    h = c = torch.zeros(B, H, dtype=F64)
    outs = []
    for x_t in x:
        h, c = cell(x_t, (h, c))
        outs.append(h)
    out, (_h_n, c_n) = lstm(x)
    torch.testing.assert_close(torch.stack(outs), out, rtol=0, atol=1e-12)
    torch.testing.assert_close(c, c_n[0], rtol=0, atol=1e-12)
