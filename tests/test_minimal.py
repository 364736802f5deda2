"""minGRU and minLSTM: the log-space scan equals the step-by-step loop (values and every gradient), the
chunks and h_0 carry exactly, and bad input is refused as the other layers refuse it."""

from __future__ import annotations

import pytest
import torch

from rnnlab.minimal import (
    MinGRU,
    MinLSTM,
    SelectiveSSM,
    g,
    linear_loop,
    linear_scan,
    log_g,
    signed_loop,
    signed_scan,
)

CLASSES = [MinGRU, MinLSTM]


def _grads(module, x, h0, parallel):
    out, h_n = module(x, h0, parallel=parallel)
    w = torch.randn_like(out, generator=torch.Generator().manual_seed(9))
    loss = (out * w).sum() + h_n.square().sum()
    return [out, h_n, *torch.autograd.grad(loss, [x, h0, *module.parameters()])]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("layers", [1, 2])
def test_scan_equals_loop_in_float64_values_and_gradients(cls, layers):
    torch.manual_seed(0)
    m = cls(5, 7, layers).double()
    x = torch.randn(40, 3, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(layers, 3, 7, dtype=torch.float64, requires_grad=True)  # any sign
    scan, loop = _grads(m, x, h0, True), _grads(m, x, h0, False)
    for a, b in zip(scan, loop):
        assert (a - b).abs().max().item() < 1e-10


@pytest.mark.parametrize("cls", CLASSES)
def test_scan_equals_loop_in_float32_at_2048_steps(cls):
    torch.manual_seed(1)
    m = cls(8, 16)
    x = torch.randn(2048, 2, 8)
    scan, _ = m(x)
    loop, _ = m(x, parallel=False)
    assert (scan - loop).abs().max().item() < 1e-4


def test_cumulative_products_underflow_where_the_log_space_scan_does_not():
    """The naive scan: h_t = A_t (h_0 + Σ b_τ / A_τ) with A = cumprod(a). At 2048 steps A reaches 0 in float32 and
    b / A overflows; the log-space scan agrees with the loop."""
    torch.manual_seed(2)
    log_a = torch.log(torch.rand(2048, 1, 4) * 0.5 + 0.25)  # a in (0.25, 0.75)
    log_b = torch.randn(2048, 1, 4) * 0.1
    h0 = torch.zeros(1, 4)
    A = torch.cumprod(log_a.exp(), 0)
    naive = A * (h0 + torch.cumsum(log_b.exp() / A, 0))
    assert A[-1].max() == 0 and not torch.isfinite(naive).all()
    torch.testing.assert_close(linear_scan(log_a, log_b, h0), linear_loop(log_a, log_b, h0), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", CLASSES)
def test_h0_carried_across_chunks_equals_one_pass(cls):
    torch.manual_seed(3)
    m = cls(4, 6, 2).double()
    x = torch.randn(90, 2, 4, dtype=torch.float64)
    whole, h_whole = m(x)
    first, h = m(x[:50])
    second, h2 = m(x[50:], h)
    assert (torch.cat([first, second]) - whole).abs().max() < 1e-12 and (h2 - h_whole).abs().max() < 1e-12


def test_chunk_size_does_not_change_the_result():
    torch.manual_seed(4)
    la, lb = -torch.rand(600, 2, 3, dtype=torch.float64), torch.randn(600, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 3, dtype=torch.float64)
    ref = linear_loop(la, lb, h0)
    for chunk in (1, 7, 256, 1000):
        assert (linear_scan(la, lb, h0, chunk) - ref).abs().max() < 1e-10


def test_g_is_positive_continuous_and_log_g_is_its_log():
    v = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (g(v) > 0).all() and abs(g(torch.tensor(0.0)) - 0.5) < 1e-12
    torch.testing.assert_close(log_g(v), torch.log(g(v)))


@pytest.mark.parametrize("cls", CLASSES)
def test_parameters_batch_first_and_errors(cls):
    m = cls(3, 4, 2, batch_first=True)
    blocks = 2 if cls is MinGRU else 3
    assert [(n, tuple(p.shape)) for n, p in m.named_parameters()] == [
        ("weight_ih_l0", (blocks * 4, 3)),
        ("bias_ih_l0", (blocks * 4,)),
        ("weight_ih_l1", (blocks * 4, 4)),
        ("bias_ih_l1", (blocks * 4,)),
    ]
    x = torch.randn(2, 5, 3)
    out, h_n = m(x)
    assert out.shape == (2, 5, 4) and h_n.shape == (2, 2, 4)
    time_major = cls(3, 4, 2)
    time_major.load_state_dict(m.state_dict())
    out_t, h_t = time_major(x.transpose(0, 1))
    assert torch.equal(out_t.transpose(0, 1), out) and torch.equal(h_t, h_n)
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 3, got 5"):
        m(torch.randn(2, 5, 5))
    with pytest.raises(RuntimeError, match=r"Expected hidden size \(2, 2, 4\), got \[2, 3, 4\]"):
        m(x, torch.zeros(2, 3, 4))
    with pytest.raises(ValueError, match="Expected input to be 3D"):
        m(torch.randn(5, 3))
    with pytest.raises(ValueError, match="RNN input dtype"):
        m(x.double())
    with pytest.raises(TypeError, match="hidden_size should be of type int"):
        cls(3, True)


def _qkv(T, seed=5):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(T, 2, n, generator=gen, dtype=torch.float64, requires_grad=True) for n in (4, 4, 3)]


def test_the_two_forms_of_linear_attention_are_equal_values_and_gradients():
    from rnnlab.minimal import linear_attention_parallel, linear_attention_recurrent

    q, k, v = _qkv(30)
    par = linear_attention_parallel(q, k, v)
    rec, _ = linear_attention_recurrent(q, k, v)
    assert (par - rec).abs().max() < 1e-10
    w = torch.randn_like(par)
    g_par = torch.autograd.grad((par * w).sum(), [q, k, v])
    g_rec = torch.autograd.grad((rec * w).sum(), [q, k, v])
    for a, b in zip(g_par, g_rec):
        assert (a - b).abs().max() < 1e-10


def test_linear_attention_state_does_not_grow_and_carries_across_chunks():
    from rnnlab.minimal import linear_attention_parallel, linear_attention_recurrent

    sizes = []
    for T in (8, 64, 512):
        q, k, v = (t.detach() for t in _qkv(T))
        _, (S, z) = linear_attention_recurrent(q, k, v)
        sizes.append((tuple(S.shape), tuple(z.shape)))
    assert sizes[0] == sizes[1] == sizes[2] == ((2, 4, 3), (2, 4))  # the same at 8 and 512 steps
    q, k, v = (t.detach() for t in _qkv(50))
    first, state = linear_attention_recurrent(q[:20], k[:20], v[:20])
    second, _ = linear_attention_recurrent(q[20:], k[20:], v[20:], state)
    assert (torch.cat([first, second]) - linear_attention_parallel(q, k, v)).abs().max() < 1e-10


# -- the selective state space -----------------------------------------------------------------------------
def test_signed_scan_equals_the_loop_for_b_of_either_sign_and_zero():
    torch.manual_seed(5)
    la = -torch.rand(300, 2, 3, dtype=torch.float64) * 2
    b = torch.randn(300, 2, 3, dtype=torch.float64)
    b[::7] = 0.0  # exact zeros: no nan in values or gradients
    b.requires_grad_(True)
    h0 = torch.randn(2, 3, dtype=torch.float64)
    scan, loop = signed_scan(la, b, h0, chunk=64), signed_loop(la, b, h0)
    assert (scan - loop).abs().max() < 1e-10
    (gs,) = torch.autograd.grad(scan.square().sum(), b)
    (gl,) = torch.autograd.grad(loop.square().sum(), b)
    assert torch.isfinite(gs).all() and (gs - gl).abs().max() < 1e-10


def test_selective_ssm_scan_equals_loop_in_float64_values_and_every_gradient():
    torch.manual_seed(6)
    m = SelectiveSSM(5, 4).double()
    with torch.no_grad():
        m.bias_dt.add_(1.0)  # larger steps than at init: a_t far from 1, the scan has work to do
    x = torch.randn(60, 3, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 5, 4, dtype=torch.float64, requires_grad=True)
    names = ["output", "h_n", "x", "h_0"] + [n for n, _ in m.named_parameters()]
    for name, a, b in zip(names, _grads(m, x, h0, True), _grads(m, x, h0, False)):
        assert (a - b).abs().max().item() < 1e-10, name
    assert [n for n, _ in m.named_parameters()] == ["A_log", "D", "weight_dt", "bias_dt", "weight_B", "weight_C"]


def test_selective_ssm_float32_at_2048_steps_and_h0_across_calls():
    torch.manual_seed(7)
    m = SelectiveSSM(8, 16)
    x = torch.randn(2048, 2, 8)
    scan, h_scan = m(x)
    loop, h_loop = m(x, parallel=False)
    assert (scan - loop).abs().max().item() < 1e-4 and (h_scan - h_loop).abs().max().item() < 1e-4
    m64 = m.double()
    x = x.double()[:700]
    whole, h_whole = m64(x)
    first, h = m64(x[:300])
    second, h2 = m64(x[300:], h)
    assert (torch.cat([first, second]) - whole).abs().max() < 1e-12 and (h2 - h_whole).abs().max() < 1e-12


def test_selective_ssm_is_selective_and_initialised_as_mamba():
    torch.manual_seed(8)
    m = SelectiveSSM(4, 3)
    assert torch.equal(-torch.exp(m.A_log), -torch.tensor([1.0, 2.0, 3.0]).expand(4, 3))
    dt = torch.nn.functional.softplus(m.bias_dt)
    assert ((dt > 0.999e-3) & (dt < 0.1001)).all() and torch.equal(m.D.data, torch.ones(4))
    # the step depends on the input: the same state decays at a different rate under different inputs
    x = torch.randn(1, 2, 4)
    h0 = torch.ones(2, 4, 3)
    _, h_a = m(x, h0)
    _, h_b = m(2 * x, h0)
    assert not torch.allclose(h_a - h0, 2 * (h_b - h0))


def test_selective_ssm_refuses_bad_input():
    m = SelectiveSSM(4, 3)
    with pytest.raises(ValueError, match="Expected input to be 3D"):
        m(torch.zeros(5, 4))
    with pytest.raises(RuntimeError, match="input.size\\(-1\\) must be equal to input_size. Expected 4, got 5"):
        m(torch.zeros(2, 1, 5))
    with pytest.raises(RuntimeError, match=r"Expected h_0 of size \[1, 4, 3\] \(batch, d_model, d_state\), got"):
        m(torch.zeros(2, 1, 4), torch.zeros(1, 4))
    with pytest.raises(ValueError, match="input dtype"):
        m(torch.zeros(2, 1, 4, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="Expected sequence length to be larger than 0"):
        m(torch.zeros(0, 1, 4))
    with pytest.raises(RuntimeError, match="h_0"):
        m(torch.zeros(2, 1, 4), torch.zeros(1, 4, 3, dtype=torch.float64))
