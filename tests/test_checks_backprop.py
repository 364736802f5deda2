"""Notebook 08b's checks: a right backward pass passes, and each usual slip is named."""

from __future__ import annotations

import pytest
import torch

from rnnlab.checks import CheckFailed, check_rnn_backward, check_rnn_step_backward


def rnn_step_backward(dh, x, h_prev, h, W_ih, W_hh):
    dz = dh * (1 - h**2)
    return dz @ W_ih, dz @ W_hh, dz.T @ x, dz.T @ h_prev, dz.sum(0)


def rnn_backward(dout, xs, h0, hs, W_ih, W_hh, carry=True, accumulate=True, deriv_prev=False, w_from_h=False):
    prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
    dxs, dW_ih, dW_hh, db = torch.zeros_like(xs), torch.zeros_like(W_ih), torch.zeros_like(W_hh), 0
    dh_next = torch.zeros_like(h0)
    for t in reversed(range(xs.shape[0])):
        dh = dout[t] + (dh_next if carry else 0)
        dz = dh * (1 - (prev[t] if deriv_prev else hs[t]) ** 2)
        dxs[t], dh_next = dz @ W_ih, dz @ W_hh
        parts = (dz.T @ xs[t], dz.T @ (hs[t] if w_from_h else prev[t]), dz.sum(0))
        if accumulate:
            dW_ih, dW_hh, db = dW_ih + parts[0], dW_hh + parts[1], db + parts[2]
        else:
            dW_ih, dW_hh, db = parts
    return dxs, dh_next, dW_ih, dW_hh, db


def test_right_answers_pass(capsys):
    check_rnn_step_backward(rnn_step_backward)
    check_rnn_backward(rnn_backward)
    out = capsys.readouterr().out
    assert "✓ rnn_step_backward equals autograd" in out and "✓ rnn_backward equals autograd through time" in out


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"carry": False}, "the gradient from step t \\+ 1 is not added"),
        ({"accumulate": False}, "the weight gradients are not summed over time"),
        ({"deriv_prev": True}, "the tanh derivative is taken at h_\\(t-1\\)"),
        ({"w_from_h": True}, "dW_hh uses h_t"),
    ],
)
def test_through_time_slips_are_named(kw, message):
    def rnn_backward_wrong(*args):
        return rnn_backward(*args, **kw)

    with pytest.raises(CheckFailed, match=message):
        check_rnn_backward(rnn_backward_wrong)


def test_step_slips_are_named_and_shapes_checked():
    def wrong_deriv(dh, x, h_prev, h, W_ih, W_hh):
        dz = dh * (1 - h_prev**2)
        return dz @ W_ih, dz @ W_hh, dz.T @ x, dz.T @ h_prev, dz.sum(0)

    with pytest.raises(CheckFailed, match="the tanh derivative is taken at h_\\(t-1\\)"):
        check_rnn_step_backward(wrong_deriv)

    def transposed(dh, x, h_prev, h, W_ih, W_hh):
        dz = dh * (1 - h**2)
        return dz @ W_ih, dz @ W_hh, x.T @ dz, dz.T @ h_prev, dz.sum(0)

    with pytest.raises(CheckFailed, match="expected dW_ih of shape \\(5, 4\\), got \\(4, 5\\)"):
        check_rnn_step_backward(transposed)
    with pytest.raises(CheckFailed, match="must return five gradients"):
        check_rnn_step_backward(lambda *a: rnn_step_backward(*a)[:4])
