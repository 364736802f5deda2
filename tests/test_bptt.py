"""rnnlab.bptt: recorded per-step states and their gradients, checked against torch.nn stepped by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnlab
from rnnlab.bptt import record_states, set_forget_bias_, set_spectral_radius_, state_gradient_norms

F64 = torch.float64


def _torch_stepped(ref: nn.Module, x: torch.Tensor, lstm: bool):
    """torch.nn module run one step at a time, so each step's state is a tensor we can hold."""
    states, h = [], None
    for t in range(len(x)):
        _, h = ref(x[t : t + 1], h)
        states.append(h)
    return states


@pytest.mark.parametrize(
    "cls,kwargs",
    [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("GRU", {}), ("LSTM", {})],
    ids=["rnn-tanh", "rnn-relu", "gru", "lstm"],
)
def test_recorded_state_gradients_equal_torch_stepped(cls, kwargs):
    torch.manual_seed(0)
    ref = getattr(nn, cls)(3, 5, **kwargs).double()
    ours = getattr(rnnlab, cls)(3, 5, **kwargs).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(12, 2, 3, dtype=F64)
    head = torch.randn(5, dtype=F64)

    with record_states(ours) as rec:
        out, _ = ours(x)
    loss = (out[-1] @ head).sum() + out[3].pow(2).sum()  # gradient enters at two steps
    ours_h = rec.h()
    assert len(ours_h) == 12 and ours_h[0].shape == (2, 5)
    g_ours = torch.autograd.grad(loss, ours_h, retain_graph=True)
    norms = state_gradient_norms(loss, ours_h)

    steps = _torch_stepped(ref, x, cls == "LSTM")
    h_ref = [s[0] if cls == "LSTM" else s for s in steps]  # (1, B, H) each
    loss_ref = (h_ref[-1][0] @ head).sum() + h_ref[3][0].pow(2).sum()
    g_ref = torch.autograd.grad(loss_ref, h_ref)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b[0], atol=1e-10, rtol=0)
    torch.testing.assert_close(norms, torch.stack([g[0].norm() for g in g_ref]), atol=1e-10, rtol=0)
    assert norms[4:].gt(0).all() and norms[-1] > 0


def test_lstm_cell_states_and_their_gradients():
    """The gradient of c_t includes its path through h_t = o * tanh(c_t). torch's modules return
    c_n as a separate output (h_n is computed from the c inside the kernel), so the reference
    here is a plain loop written in the test, from the torch module's weights."""
    torch.manual_seed(1)
    ref, ours = nn.LSTM(3, 4).double(), rnnlab.LSTM(3, 4).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(6, 2, 3, dtype=F64)
    with record_states(ours) as rec:
        _, (h_n, c_n) = ours(x)
    torch.testing.assert_close(rec.c()[-1], c_n[0], atol=1e-12, rtol=0)

    W_ih, W_hh, b = ref.weight_ih_l0, ref.weight_hh_l0, ref.bias_ih_l0 + ref.bias_hh_l0
    h = c = torch.zeros(2, 4, dtype=F64)
    cs = []
    for x_t in x:
        i, f, g, o = (x_t @ W_ih.T + h @ W_hh.T + b).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        cs.append(c)
    for got, want in zip(rec.c(), cs):
        torch.testing.assert_close(got, want, atol=1e-12, rtol=0)
    g_ours = torch.autograd.grad(h_n.sum() + c_n.sum(), rec.c())
    g_ref = torch.autograd.grad(h.sum() + c.sum(), cs)
    for a, b_ in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b_, atol=1e-10, rtol=0)


def test_layers_and_directions_are_indexed_like_h_n():
    torch.manual_seed(2)
    net = rnnlab.GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x = torch.randn(2, 7, 3, dtype=F64)  # batch-first
    with record_states(net) as rec:
        out, h_n = net(x)
    fwd, bwd = torch.stack(rec.h(1, 0)), torch.stack(rec.h(1, 1))  # (T, B, H), time order
    torch.testing.assert_close(torch.cat([fwd, bwd], -1).transpose(0, 1), out)
    torch.testing.assert_close(rec.h(0, 0)[-1], h_n[0])  # forward ends at t = T-1
    torch.testing.assert_close(rec.h(0, 1)[0], h_n[1])  # backward ends at t = 0
    with pytest.raises(IndexError, match="layer must be in"):
        rec.h(2, 0)
    with pytest.raises(ValueError, match="only an LSTM"):
        rec.c()


def test_packed_input_records_shrinking_batches():
    from torch.nn.utils.rnn import pack_sequence

    net = rnnlab.LSTM(2, 3)
    packed = pack_sequence([torch.randn(5, 2), torch.randn(3, 2), torch.randn(2, 2)])
    with record_states(net) as rec:
        net(packed)
    assert [h.shape[0] for h in rec.h()] == packed.batch_sizes.tolist()


def test_recording_is_off_outside_the_block_and_refuses_misuse():
    net = rnnlab.RNN(2, 3)
    assert net._state_recorder is None
    x = torch.randn(4, 1, 2)
    with record_states(net) as rec:
        net(x)
        net(x)
    assert net._state_recorder is None and "_state_recorder" not in vars(net)
    with pytest.raises(RuntimeError, match="record exactly one"):
        rec.h()
    with record_states(net) as empty:
        pass
    with pytest.raises(RuntimeError, match="nothing recorded"):
        empty.h()
    with pytest.raises(TypeError, match="fused kernels"):
        with record_states(nn.LSTM(2, 3)):
            pass
    with pytest.raises(ValueError, match="scalar"):
        state_gradient_norms(torch.ones(2, requires_grad=True) * 2, [])


def test_state_gradient_norms_gives_zero_for_unused_steps():
    net = rnnlab.RNN(2, 3)
    with record_states(net) as rec:
        out, _ = net(torch.randn(5, 1, 2))
    norms = state_gradient_norms(out[2].sum(), rec.h())
    assert norms[3:].eq(0).all() and norms[:3].gt(0).all()


@pytest.mark.parametrize("impl", [nn, rnnlab], ids=["torch", "rnnlab"])
def test_set_forget_bias(impl):
    lstm = impl.LSTM(3, 4, num_layers=2, bidirectional=True)
    set_forget_bias_(lstm, 2.5)
    for name, p in lstm.named_parameters():
        if name.startswith("bias_ih"):
            b = p + getattr(lstm, name.replace("ih", "hh"))
            assert torch.equal(b[4:8], torch.full((4,), 2.5))
            assert not torch.equal(b[:4], torch.full((4,), 2.5))  # other gates untouched


def test_set_spectral_radius():
    w = torch.randn(6, 6)
    set_spectral_radius_(w, 1.5)
    assert abs(torch.linalg.eigvals(w).abs().max().item() - 1.5) < 1e-5
    with pytest.raises(ValueError, match="square"):
        set_spectral_radius_(torch.randn(3, 4), 1.0)


@pytest.mark.parametrize("cls", ["RNN", "GRU", "LSTM"])
def test_stale_graph_after_an_optimizer_step_raises_like_torch(cls):
    """backward through a graph whose weights optimizer.step() changed in place must fail, as in
    torch (rnnlab.LSTM scales its g rows per forward: the scaled copy still guards the weight)."""
    messages = {}
    for impl in (nn, rnnlab):
        torch.manual_seed(0)
        net = getattr(impl, cls)(3, 4)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)
        out, _ = net(torch.randn(5, 2, 3))
        out.sum().backward(retain_graph=True)
        opt.step()
        with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
            out.sum().backward()
        messages[impl.__name__] = str(e.value)
    assert len(messages) == 2
