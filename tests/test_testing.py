"""rnnlab.testing passes what is equal and fails what is not: a parity check that cannot fail
would prove nothing."""

from __future__ import annotations

import pytest
import torch

from rnnlab.testing import assert_parity, assert_same_function, twin

F64 = torch.float64


def test_equal_modules_pass_with_a_report():
    ref, ours = twin("LSTM", 4, 6, num_layers=2, dtype=F64)
    report = assert_parity(ref, ours, [torch.randn(5, 3, 4, dtype=F64)])
    assert report.outputs == 3 and report.gradients == 1 + 8  # input + 8 parameters
    assert report.max_output_diff < 1e-12 and "agree" in str(report)


def test_a_changed_weight_fails_on_the_outputs():
    ref, ours = twin("GRU", 4, 6, dtype=F64)
    with torch.no_grad():
        ours.bias_hh_l0[-1] += 1e-6  # one element of b_hn
    with pytest.raises(AssertionError, match="output 0 differs"):
        assert_parity(ref, ours, [torch.randn(5, 3, 4, dtype=F64)])


def test_a_wrong_gradient_fails_even_when_outputs_agree():
    class Detached(torch.nn.Module):  # same forward, but blocks the gradient into h_0
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x, h):
            return self.inner(x, h.detach())

    ref, ours = twin("RNN", 4, 6, dtype=F64)
    wrapped_ref, wrapped_ours = Detached(ref), torch.nn.Module()
    wrapped_ours.inner = ours
    wrapped_ours.forward = lambda x, h: ours(x, h)
    x, h = torch.randn(5, 3, 4, dtype=F64), torch.randn(1, 3, 6, dtype=F64)
    with pytest.raises(AssertionError, match="grad of input 1"):
        assert_parity(wrapped_ref, wrapped_ours, [x, h])


def test_same_function_with_shared_parameters():
    w = torch.randn(6, 4, dtype=F64, requires_grad=True)
    x = torch.randn(3, 4, dtype=F64)
    report = assert_same_function(lambda x: torch.tanh(x @ w.T), lambda x: torch.tanh(torch.mm(x, w.t())), [x], [w])
    assert report.gradients == 2
    with pytest.raises(AssertionError, match="output 0"):
        assert_same_function(lambda x: torch.tanh(x @ w.T) + 1e-7, lambda x: torch.tanh(x @ w.T), [x], [w])
    with pytest.raises(AssertionError, match="gradient 1"):  # same values, gradient w.r.t. w blocked
        assert_same_function(lambda x: torch.tanh(x @ w.detach().T), lambda x: torch.tanh(x @ w.T), [x], [w])
