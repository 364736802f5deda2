"""rnnlab never calls torch's fused recurrent kernels: checked at the ATen level and in the source."""

from __future__ import annotations

import pathlib
import re

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence
from torch.utils._python_dispatch import TorchDispatchMode

import rnnlab

FUSED = re.compile(r"lstm|gru|rnn_tanh|rnn_relu|mkldnn_rnn|cudnn_rnn|miopen_rnn|_thnn_fused")


class OpRecorder(TorchDispatchMode):
    """Records the name of every ATen operator that runs (forward and backward)."""

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.add(func.name())
        return func(*args, **(kwargs or {}))


def _modules():
    yield rnnlab.RNN(4, 6, 2, bidirectional=True, dropout=0.5), False
    yield rnnlab.GRU(4, 6, 2, bidirectional=True), False
    yield rnnlab.LSTM(4, 6, 2, bidirectional=True, proj_size=3), False
    yield rnnlab.LSTM(4, 6, 2), True  # packed input
    yield rnnlab.RNNCell(4, 6), None
    yield rnnlab.LSTMCell(4, 6), None
    yield rnnlab.GRUCell(4, 6), None


@pytest.mark.parametrize("module,packed", list(_modules()), ids=lambda v: type(v).__name__)
def test_only_plain_tensor_ops_run(module, packed):
    x = torch.randn(5, 3, 4) if packed is not None else torch.randn(3, 4)
    with OpRecorder() as rec:
        inp = pack_padded_sequence(x, [5, 3, 2]) if packed else x
        out = module(inp)
        first = out[0] if isinstance(out, tuple) else out
        (first.data if packed else first).sum().backward()
    assert rec.ops, "the recorder saw nothing"
    assert "aten::addmm" in rec.ops or "aten::mm" in rec.ops
    fused = sorted(op for op in rec.ops if FUSED.search(op))
    assert not fused, f"fused recurrent kernels called: {fused}"


def test_recorder_sees_torch_fused_kernel():
    """The check above can fail: torch.nn.LSTM does show a fused kernel."""
    with OpRecorder() as rec:
        torch.nn.LSTM(4, 6)(torch.randn(5, 3, 4))
    assert any(FUSED.search(op) for op in rec.ops)


def test_source_has_no_fused_calls():
    src = pathlib.Path(rnnlab.__file__).parent
    banned = re.compile(r"_VF|torch\.(lstm|gru|rnn_tanh|rnn_relu)\w*\(|nn\.(LSTM|GRU|RNN)\w*\(")
    for path in (src / "cells.py", src / "layers.py"):  # checks.py uses torch.nn as the reference
        for n, line in enumerate(path.read_text().splitlines(), 1):
            assert not banned.search(line), f"{path.name}:{n}: {line.strip()}"
