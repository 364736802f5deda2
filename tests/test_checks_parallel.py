"""Notebook 13's checks: a right answer passes, and each usual mistake is named."""

from __future__ import annotations

import pytest
import torch

from rnnlab.checks import CheckFailed, check_linear_scan, check_min_gru_step
from rnnlab.minimal import g


def min_gru_step(x, h, weight, bias):
    k, v = (x @ weight.T + bias).chunk(2, -1)
    z = torch.sigmoid(k)
    return (1 - z) * h + z * g(v)


def scan(log_a, log_b, h0):
    log_A = torch.cumsum(log_a, 0)
    return torch.exp(log_A + torch.logcumsumexp(log_b - log_A, 0)) + torch.exp(log_A) * h0


def test_right_answers_pass(capsys):
    check_min_gru_step(min_gru_step)
    check_linear_scan(scan)
    out = capsys.readouterr().out
    assert "✓ min_gru_step equals minGRU's step in 3 cases" in out and "✓ scan equals the step-by-step loop" in out


def _step(swap=False, act=g, rows="zh", read_h=False):
    def step(x, h, weight, bias):
        k, v = (x @ weight.T + bias).chunk(2, -1)
        if rows == "hz":
            k, v = v, k
        if read_h:
            k = k + h  # the gate reads h_{t-1}
        z = torch.sigmoid(k)
        return z * h + (1 - z) * act(v) if swap else (1 - z) * h + z * act(v)

    return step


@pytest.mark.parametrize(
    "step, message",
    [
        (_step(swap=True), "z and 1 - z are exchanged"),
        (_step(act=torch.tanh), "the candidate goes through tanh"),
        (_step(act=lambda v: v), "the candidate is used as it is"),
        (_step(rows="hz"), "the rows are read in the wrong order"),
        (_step(read_h=True), "is not linear in h_prev: a gate or the candidate reads h_prev"),
    ],
)
def test_min_gru_step_mistakes_are_named(step, message):
    with pytest.raises(CheckFailed, match=message):
        check_min_gru_step(step)


def cumprod_scan(log_a, log_b, h0):
    A = torch.cumprod(log_a.exp(), 0)
    return A * (h0 + torch.cumsum(log_b.exp() / A, 0))


def shifted_scan(log_a, log_b, h0):
    return torch.cat([h0.unsqueeze(0), scan(log_a, log_b, h0)[:-1]])


def h0_late_scan(log_a, log_b, h0):
    log_A = torch.cumsum(log_a, 0)
    return torch.exp(log_A + torch.logcumsumexp(log_b - log_A, 0)) + torch.exp(log_A - log_a[0]) * h0


@pytest.mark.parametrize(
    "fn, message",
    [
        (cumprod_scan, "is right on 8 steps but gives inf or nan from step .* cumulative products without log space"),
        (shifted_scan, "shifted by one step: it starts with h_0"),
        (h0_late_scan, "h_0 is multiplied by a_2"),
        (lambda la, lb, h0: scan(la, lb, torch.zeros_like(h0)), "h_0 is ignored"),
        (lambda la, lb, h0: (scan(la, lb, h0), None), "expected h of shape"),
    ],
)
def test_scan_mistakes_are_named(fn, message):
    with pytest.raises(CheckFailed, match=message):
        check_linear_scan(fn)


def test_a_stub_says_not_done():
    def scan(log_a, log_b, h0):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="Not done yet: scan"):
        check_linear_scan(scan)
