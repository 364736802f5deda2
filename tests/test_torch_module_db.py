"""PyTorch's own module tests, run against rnnlab.

``torch.testing._internal.common_modules.module_db`` is the table PyTorch's ``test_modules.py``
is generated from. For each recurrent module it lists sample inputs (``module_inputs_func``,
with a ``reference_fn`` for the unbatched cases) and bad inputs with the exception type and
message regex torch raises (``module_error_inputs_func``). Here every sample runs through the
rnnlab module of the same name:

* error inputs: the same exception type, and torch's regex found in rnnlab's message (rnnlab
  may add a hint after it);
* sample inputs: rnnlab, loaded with the torch module's ``state_dict``, gives torch's outputs and
  the same gradients for inputs, states and every parameter; and the sample's ``reference_fn``
  (unbatched == batched with a batch of one) holds for rnnlab, as ``test_forward`` checks.

The table is internal to PyTorch, so the test skips on a torch without it.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch.nn.utils.rnn import PackedSequence

import rnnlab
from rnnlab.layers import _RNNBase
from rnnlab.testing import TOLERANCES

pytest.importorskip("expecttest")  # common_utils imports it
cm = pytest.importorskip("torch.testing._internal.common_modules")

NAMES = ("RNN", "GRU", "LSTM", "RNNCell", "GRUCell", "LSTMCell")
INFOS = [m for m in cm.module_db if m.module_cls.__module__.startswith("torch.nn") and m.module_cls.__name__ in NAMES]
DTYPES = (torch.float32, torch.float64)
TOL = {torch.float32: {"rtol": 1.3e-6, "atol": 1e-5}, torch.float64: {"rtol": 1e-7, "atol": 1e-10}}


@pytest.fixture(autouse=True, params=[False, True], ids=["autograd", "hand"])
def backward_path(request, monkeypatch):
    """Every test here runs on both training paths: autograd through the loop, and rnnlab.backward's nodes."""
    monkeypatch.setattr(_RNNBase, "hand_backward", request.param)
    return request.param


def _id(m) -> str:
    return m.module_cls.__name__


def test_the_table_lists_every_recurrent_module():
    assert sorted(_id(m) for m in INFOS) == sorted(NAMES)


def _error_cases():
    for m in INFOS:
        for dtype in DTYPES:
            for i, e in enumerate(
                m.module_error_inputs_func(m, device="cpu", dtype=dtype, requires_grad=False, training=True)
            ):
                yield pytest.param(m, e, id=f"{_id(m)}-{str(dtype)[6:]}-{i}")


@pytest.mark.parametrize("info,case", list(_error_cases()))
def test_error_inputs(info, case):
    """As test_modules.py's test_errors: construct, then (maybe) call, and match type and regex."""
    cls = getattr(rnnlab, _id(info))
    mi = case.module_error_input
    c, f = mi.constructor_input, mi.forward_input
    with pytest.raises(case.error_type) as raised:
        module = cls(*c.args, **c.kwargs)
        if case.error_on == cm.ModuleErrorEnum.FORWARD_ERROR:
            module(*f.args, **f.kwargs)
    assert re.search(case.error_regex, str(raised.value)), (case.error_regex, str(raised.value))


def _sample_cases():
    torch.manual_seed(0)  # module_db draws its sample inputs from the global generator: the same cases every run
    for m in INFOS:
        extra = {"with_packed_sequence": True} if _id(m) in ("RNN", "GRU") else {}
        for dtype in DTYPES:
            samples = m.module_inputs_func(m, device="cpu", dtype=dtype, requires_grad=True, training=True, **extra)
            for i, s in enumerate(samples):
                yield pytest.param(m, dtype, s, id=f"{_id(m)}-{str(dtype)[6:]}-{i}")


def _clone(x):
    """A fresh leaf copy of every tensor in a (nested) input, PackedSequence included."""
    if isinstance(x, PackedSequence):
        return PackedSequence(_clone(x.data), x.batch_sizes, x.sorted_indices, x.unsorted_indices)
    if isinstance(x, torch.Tensor):
        return x.detach().clone().requires_grad_(x.requires_grad)
    if isinstance(x, (tuple, list)):
        return type(x)(_clone(v) for v in x)
    return x


def _tensors(x) -> list[torch.Tensor]:
    if isinstance(x, PackedSequence):
        return [x.data]
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in _tensors(v)]
    return []


@pytest.mark.parametrize("info,dtype,sample", list(_sample_cases()))
def test_sample_inputs_match_torch(info, dtype, sample):
    c, f = sample.constructor_input, sample.forward_input
    torch.manual_seed(0)
    theirs = info.module_cls(*c.args, **c.kwargs).to(dtype)
    ours = getattr(rnnlab, _id(info))(*c.args, **c.kwargs).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    args_t, args_o = _clone(f.args), _clone(f.args)
    out_t, out_o = _tensors(theirs(*args_t, **f.kwargs)), _tensors(ours(*args_o, **f.kwargs))
    assert len(out_t) == len(out_o)
    for a, b in zip(out_o, out_t):
        torch.testing.assert_close(a, b, **TOL[dtype])

    g = torch.Generator().manual_seed(1)
    weights = [torch.randn(t.shape, generator=g, dtype=dtype) for t in out_t]
    leaves_t = [t for t in _tensors(args_t) if t.requires_grad] + list(theirs.parameters())
    leaves_o = [t for t in _tensors(args_o) if t.requires_grad] + list(ours.parameters())
    grads_t = torch.autograd.grad(sum((t * w).sum() for t, w in zip(out_t, weights)), leaves_t, allow_unused=True)
    grads_o = torch.autograd.grad(sum((t * w).sum() for t, w in zip(out_o, weights)), leaves_o, allow_unused=True)
    grad_tol = TOLERANCES[dtype][1]  # the reference's criterion: |a - b| <= tol * max(1, max|b|) per tensor
    for a, b in zip(grads_o, grads_t):
        assert (a is None) == (b is None)
        if a is not None:  # assert_close's float32 defaults fail correct gradients (pytorch-rnn-reference, sec. 9)
            torch.testing.assert_close(a, b, rtol=0, atol=grad_tol * max(1.0, b.abs().max().item()))

    packed = any(isinstance(a, PackedSequence) for a in f.args)  # torch's reference is for unbatched input
    if sample.reference_fn is not None and not packed:  # test_modules' test_forward
        args = _clone(f.args)
        want = sample.reference_fn(ours, *args, **f.kwargs)  # the wrapper adds the parameters
        got = ours(*args, **f.kwargs)
        for a, b in zip(_tensors(got), _tensors(want)):
            torch.testing.assert_close(a, b, **TOL[dtype])
