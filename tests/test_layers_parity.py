"""rnnlab.RNN / LSTM / GRU equal torch.nn: weights, outputs, states and every gradient."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab
from rnnlab.layers import _RNNBase
from rnnlab.testing import F64, assert_parity, twin


@pytest.fixture(autouse=True, params=[False, True], ids=["autograd", "hand"])
def backward_path(request, monkeypatch):
    """Every test here runs on both training paths: autograd through the loop, and rnnlab.backward's nodes."""
    monkeypatch.setattr(_RNNBase, "hand_backward", request.param)
    return request.param


I, H, P = 4, 6, 3  # I != H != P so a transposed weight cannot pass
MODES = {  # id: (class, extra constructor kwargs)
    "rnn_tanh": ("RNN", {}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
    "gru": ("GRU", {}),
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": P}),
}


def make_hx(cls, kw, rows, batch, dtype=F64, seed=7):
    """A random, non-zero initial state of the right shape (None means: omit)."""
    g = torch.Generator().manual_seed(seed)
    width = kw.get("proj_size") or H
    shape = (rows, batch, width) if batch else (rows, width)
    h = torch.randn(shape, generator=g, dtype=dtype)
    if cls != "LSTM":
        return [h]
    c_shape = shape[:-1] + (H,)
    return [h, torch.randn(c_shape, generator=g, dtype=dtype)]


def call_with(hx_len):
    """How to call a module with a flat list of inputs: x, then h (and c)."""
    if hx_len == 0:
        return lambda m, x: m(x)
    if hx_len == 1:
        return lambda m, x, h: m(x, h)
    return lambda m, x, h, c: m(x, (h, c))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("num_layers", [1, 2, 3])
@pytest.mark.parametrize(
    "bidirectional,batch_first,bias",
    list(itertools.product([False, True], [False, True], [True, False])),
)
@pytest.mark.parametrize("with_hx", [False, True])
def test_parity_float64(mode, num_layers, bidirectional, batch_first, bias, with_hx):
    cls, kw = MODES[mode]
    ref, ours = twin(
        cls, I, H, num_layers, bias=bias, batch_first=batch_first, bidirectional=bidirectional, dtype=F64, **kw
    )
    T, B = 5, 3
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=F64)
    hx = make_hx(cls, kw, num_layers * (2 if bidirectional else 1), B) if with_hx else []
    assert_parity(ref, ours, [x, *hx], call_with(len(hx)))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_parity_unbatched(mode, bidirectional, with_hx):
    cls, kw = MODES[mode]
    ref, ours = twin(cls, I, H, 2, bidirectional=bidirectional, batch_first=True, dtype=F64, **kw)
    x = torch.randn(5, I, dtype=F64)  # (T, I) even with batch_first
    hx = make_hx(cls, kw, 2 * (2 if bidirectional else 1), None) if with_hx else []
    assert_parity(ref, ours, [x, *hx], call_with(len(hx)))
    out, _ = ours(x)
    assert out.shape == (5, (2 if bidirectional else 1) * (kw.get("proj_size") or H))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("size", [(5, 3, 4, 6, 1), (40, 16, 20, 50, 2)], ids=["small", "seed"])
def test_parity_float32(mode, size):
    """float32 within the reference's tolerances (torch's LSTM runs through oneDNN here)."""
    cls, kw = MODES[mode]
    T, B, i, h, L = size
    kw = {**kw, "proj_size": 16} if "proj_size" in kw and h > 16 else kw
    ref, ours = twin(cls, i, h, L, bidirectional=True, **kw)
    assert_parity(ref, ours, [torch.randn(T, B, i)])


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("enforce_sorted", [True, False])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_parity_packed(mode, enforce_sorted, bidirectional, dtype):
    cls, kw = MODES[mode]
    ref, ours = twin(cls, I, H, 2, bidirectional=bidirectional, dtype=dtype, **kw)
    lengths = [6, 5, 3, 1] if enforce_sorted else [3, 6, 1, 5]
    x = torch.full((6, 4, I), 777.0, dtype=dtype)  # garbage padding must never be read
    for b, n in enumerate(lengths):
        x[:n, b] = torch.randn(n, I, dtype=dtype)
    hx = make_hx(cls, kw, 2 * (2 if bidirectional else 1), 4, dtype=dtype)

    def call(m, x, *hx):
        packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
        state = None if not hx else hx[0] if len(hx) == 1 else tuple(hx)
        out, h_n = m(packed, state)
        assert type(out).__name__ == "PackedSequence"
        padded, lens = pad_packed_sequence(out, padding_value=-5.0)
        assert lens.tolist() == lengths
        return padded, h_n

    assert_parity(ref, ours, [x, *hx], call)
    assert_parity(ref, ours, [x], call)  # default h_0


def test_packed_equals_each_sequence_alone():
    """h_n of a packed batch is every sequence's own final state (backward starts at its end)."""
    torch.manual_seed(0)
    gru = rnnlab.GRU(I, H, 2, bidirectional=True, dtype=F64)
    lengths = [2, 5, 3]
    seqs = [torch.randn(n, I, dtype=F64) for n in lengths]
    packed = nn.utils.rnn.pack_sequence(seqs, enforce_sorted=False)
    _, h_n = gru(packed)
    for b, s in enumerate(seqs):
        _, h_alone = gru(s)  # unbatched (T, I)
        torch.testing.assert_close(h_n[:, b], h_alone, rtol=0, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_seeded_init_and_state_dict(mode, bidirectional):
    cls, kw = MODES[mode]
    ref, ours = twin(cls, I, H, 3, bidirectional=bidirectional, seed=42, **kw)
    sd_r, sd_o = ref.state_dict(), ours.state_dict()
    assert list(sd_r) == list(sd_o)
    for k in sd_r:
        assert torch.equal(sd_r[k], sd_o[k]), k
    assert [n for n, _ in ref.named_parameters()] == [n for n, _ in ours.named_parameters()]
    assert [[tuple(p.shape) for p in g] for g in ref.all_weights] == [
        [tuple(p.shape) for p in g] for g in ours.all_weights
    ]
    # strict loading works both ways between fresh modules
    fresh_r, fresh_o = twin(cls, I, H, 3, bidirectional=bidirectional, seed=1, **kw)
    fresh_o.load_state_dict(sd_r, strict=True)
    fresh_r.load_state_dict(sd_o, strict=True)
    assert ours.mode == ref.mode and repr(ours).split("(", 1)[1] == repr(ref).split("(", 1)[1]


def test_bias_false_has_no_bias_attributes():
    ref, ours = twin("LSTM", I, H, 2, bias=False)
    assert not hasattr(ours, "bias_ih_l0") and not hasattr(ref, "bias_ih_l0")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_dropout_masks_match_torch_in_training(mode, batch_first, bidirectional):
    cls, kw = MODES[mode]
    ref, ours = twin(cls, I, H, 3, dropout=0.5, batch_first=batch_first, bidirectional=bidirectional, dtype=F64, **kw)
    assert ours.training and ref.training
    x = torch.randn(3, 5, I, dtype=F64)

    def call(m, x):
        torch.manual_seed(99)  # same RNG state -> same masks
        return m(x)

    assert_parity(ref, ours, [x], call)
    # training mode really drops: a second draw differs
    torch.manual_seed(1)
    a = ours(x)[0]
    torch.manual_seed(2)
    assert (a - ours(x)[0]).abs().max() > 1e-3


@pytest.mark.parametrize("mode", MODES)
def test_dropout_packed_masks_match_torch(mode):
    cls, kw = MODES[mode]
    ref, ours = twin(cls, I, H, 2, dropout=0.3, bidirectional=True, dtype=F64, **kw)
    x = torch.randn(6, 3, I, dtype=F64)

    def call(m, x):
        torch.manual_seed(5)
        out, h = m(pack_padded_sequence(x, [4, 6, 2], enforce_sorted=False))
        return out, h

    assert_parity(ref, ours, [x], call)


@pytest.mark.parametrize("mode", MODES)
def test_eval_mode_has_no_dropout(mode):
    cls, kw = MODES[mode]
    torch.manual_seed(0)
    m = getattr(rnnlab, cls)(I, H, 3, dropout=0.9, dtype=F64, **kw).eval()
    plain = getattr(rnnlab, cls)(I, H, 3, dtype=F64, **kw)
    plain.load_state_dict(m.state_dict())
    x = torch.randn(5, 2, I, dtype=F64)
    state = torch.get_rng_state()
    assert torch.equal(m(x)[0], plain(x)[0])
    assert torch.equal(torch.get_rng_state(), state), "eval mode must consume no randomness"


def test_dropout_single_layer_warns_like_torch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        rnnlab.GRU(I, H, 1, dropout=0.5)


def test_batch_first_only_changes_input_and_output():
    _ref, ours = twin("LSTM", I, H, 2, bidirectional=True, dtype=F64)
    bf = rnnlab.LSTM(I, H, 2, bidirectional=True, batch_first=True, dtype=F64)
    bf.load_state_dict(ours.state_dict())
    x = torch.randn(5, 3, I, dtype=F64)
    out, (h, c) = ours(x)
    out_bf, (h_bf, c_bf) = bf(x.transpose(0, 1))
    assert torch.equal(out_bf, out.transpose(0, 1))
    assert torch.equal(h, h_bf) and torch.equal(c, c_bf) and h_bf.shape == (4, 3, H)


def test_bidirectional_layout():
    """h_n[-2] is output[-1]'s forward half; h_n[-1] is output[0]'s backward half."""
    torch.manual_seed(0)
    gru = rnnlab.GRU(I, H, 2, bidirectional=True)
    out, h_n = gru(torch.randn(7, 2, I))
    assert torch.equal(h_n[-2], out[-1, :, :H])
    assert torch.equal(h_n[-1], out[0, :, H:])
    assert not torch.equal(h_n[-1], out[-1, :, H:])


def test_zero_batch_returns_empty_tensors():
    ref, ours = twin("LSTM", I, H, 2)
    x = torch.randn(5, 0, I)
    out, (h, c) = ours(x)
    assert out.shape == ref(x)[0].shape == (5, 0, H) and h.shape == c.shape == (2, 0, H)


def test_fp64_module_runs_after_to():
    _, ours = twin("GRU", I, H, 2)
    ours = ours.to(F64)
    out, h = ours(torch.randn(3, 2, I, dtype=F64))
    assert out.dtype == h.dtype == F64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("mode", MODES)
def test_parity_cuda(mode):
    cls, kw = MODES[mode]
    ref, ours = twin(cls, I, H, 2, bidirectional=True, dtype=F64, device="cuda", **kw)
    assert_parity(ref, ours, [torch.randn(5, 3, I, dtype=F64, device="cuda")])


@pytest.mark.parametrize("name", ["weight_hh_l1_reverse", "bias_hh_l0", "weight_ih_l0"])
def test_harness_catches_a_tiny_error(name):
    """The parity harness is not vacuous: a 1e-7 change to one weight fails it."""
    ref, ours = twin("GRU", I, H, 2, bidirectional=True, dtype=F64)
    with torch.no_grad():
        getattr(ours, name).view(-1)[0] += 1e-7
    with pytest.raises(AssertionError, match="differs"):
        assert_parity(ref, ours, [torch.randn(5, 3, I, dtype=F64)])
