"""rnnlab.backward: the hand-written backward of each layer's time loop passes gradcheck, equals autograd's
path (the parity tests run on both paths: tests/test_layers_parity.py), and is only taken where it applies."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnlab
from rnnlab.backward import GRURecurrence, LSTMRecurrence, RNNRecurrence

F64 = torch.float64
T, B, H = 5, 3, 4


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64, requires_grad=True)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("relu", [False, True])
def test_rnn_recurrence_passes_gradcheck(relu, reverse):
    xw, h0, w = _rand(T, B, H), _rand(B, H, seed=1), _rand(H, H, seed=2)
    assert torch.autograd.gradcheck(lambda *a: RNNRecurrence.apply(*a, relu, reverse), (xw, h0, w))


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [False, True])
def test_gru_recurrence_passes_gradcheck(bias, reverse):
    xw, h0, w = _rand(T, B, 3 * H), _rand(B, H, seed=1), _rand(3 * H, H, seed=2)
    b = _rand(3 * H, seed=3) if bias else None
    inputs = (xw, h0, w) + ((b,) if bias else ())
    assert torch.autograd.gradcheck(
        lambda x, h, w, *b: GRURecurrence.apply(x, h, w, b[0] if b else None, reverse), inputs
    )


@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_recurrence_passes_gradcheck_for_outputs_and_the_last_cell(reverse):
    xw, h0, c0, w = _rand(T, B, 4 * H), _rand(B, H, seed=1), _rand(B, H, seed=2), _rand(4 * H, H, seed=3)
    assert torch.autograd.gradcheck(lambda *a: LSTMRecurrence.apply(*a, reverse), (xw, h0, c0, w))


def test_blocks_cover_long_sequences_exactly():
    """More steps than one block of factors (rnnlab.backward.BLOCK): the blocks join without a gap."""
    torch.manual_seed(0)
    for cls in (rnnlab.RNN, rnnlab.GRU, rnnlab.LSTM):
        m = cls(3, 5, bidirectional=True).double()
        x = torch.randn(53, 2, 3, dtype=F64, requires_grad=True)
        grads = []
        for hand in (False, True):
            m.hand_backward = hand
            out, _ = m(x)
            grads.append(torch.autograd.grad(out.sin().sum(), [x, *m.parameters()]))
        assert max((a - b).abs().max().item() for a, b in zip(*grads)) < 1e-10, cls.__name__


def test_the_switch_leaves_torch_nn_signature_and_defaults_alone():
    for name in ("RNN", "LSTM", "GRU"):
        ours, theirs = inspect.signature(getattr(rnnlab, name)), inspect.signature(getattr(nn, name))
        assert "hand_backward" not in ours.parameters
        assert getattr(rnnlab, name)(2, 3).hand_backward is False
    assert "hand_backward" not in rnnlab.GRU(2, 3).state_dict() and set(theirs.parameters) <= {
        *ours.parameters,
        "args",
        "kwargs",
    }


def _uses_hand_path(module, *args) -> bool:
    """Whether the output's graph holds one of rnnlab.backward's nodes."""
    out = module(*args)[0]
    todo, seen = [(out.data if isinstance(out, PackedSequence) else out).grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        if "Recurrence" in type(node).__name__:
            return True
        seen.add(node)
        todo.extend(n for n, _ in node.next_functions)
    return False


def test_the_hand_path_is_taken_only_where_it_applies():
    x = torch.randn(6, 2, 3)
    lstm = rnnlab.LSTM(3, 4)
    lstm.hand_backward = True
    assert _uses_hand_path(lstm, x)
    with torch.no_grad():  # inference: no graph to differentiate, the plain loop
        assert not _uses_hand_path(lstm, x)
    packed = pack_padded_sequence(x, torch.tensor([6, 4]))
    assert not _uses_hand_path(lstm, packed)
    proj = rnnlab.LSTM(3, 4, proj_size=2)
    proj.hand_backward = True
    assert not _uses_hand_path(proj, x)
    assert not _uses_hand_path(rnnlab.LSTM(3, 4), x)  # the default: autograd


def test_double_backward_is_refused_clearly():
    m = rnnlab.RNN(3, 4).double()
    m.hand_backward = True
    x = torch.randn(4, 2, 3, dtype=F64, requires_grad=True)
    with pytest.raises(RuntimeError, match="hand_backward does not support double backward"):
        torch.autograd.grad(m(x)[0].sum(), x, create_graph=True)
    m.hand_backward = False  # the autograd path gives gradients of gradients
    (g,) = torch.autograd.grad(m(x)[0].sum(), x, create_graph=True)
    g.sum().backward()
