"""Code written for torch.nn, run on rnnlab's modules: pickled whole models, TorchScript, dynamic
quantization, the private attributes libraries use (``_flat_weights``, ``_all_weights``), and
inputs torch refuses."""

from __future__ import annotations

import io
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnlab
from rnnlab.interop import QuantizationSkipped, TorchScriptUnsupported
from rnnlab.testing import twin

LAYERS = ["RNN", "LSTM", "GRU"]
CELLS = ["RNNCell", "LSTMCell", "GRUCell"]


class WordModel(nn.Module):
    """pytorch/examples word_language_model's RNNModel, shortened: Embedding -> RNN -> Linear."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.encoder, self.rnn, self.drop, self.decoder = nn.Embedding(7, 3), rnn, nn.Dropout(0.2), nn.Linear(4, 7)

    def forward(self, x):
        return self.decoder(self.drop(self.rnn(self.encoder(x))[0]))


@pytest.mark.parametrize("cls", LAYERS)
def test_whole_model_pickle_loads_with_weights_only(cls):
    # The example lists torch.nn's classes as safe; rnnlab's modules register themselves on import.
    torch.manual_seed(0)
    model = WordModel(getattr(rnnlab, cls)(3, 4, 2)).eval()
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    allowed = [WordModel, nn.Embedding, nn.Dropout, nn.Linear, getattr(nn, cls)]
    with torch.serialization.safe_globals(allowed):
        loaded = torch.load(buf, weights_only=True)
    assert type(loaded.rnn) is getattr(rnnlab, cls)
    x = torch.randint(0, 7, (5, 2))
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert loaded.rnn._flat_weights[0] is loaded.rnn.weight_ih_l0  # forward reads the loaded weights


@pytest.mark.parametrize("cls", CELLS)
def test_pickled_cell_loads_with_weights_only(cls):
    cell = getattr(rnnlab, cls)(3, 4)
    buf = io.BytesIO()
    torch.save(cell, buf)
    buf.seek(0)
    assert type(torch.load(buf, weights_only=True)) is type(cell)


@pytest.mark.parametrize("cls", LAYERS + CELLS)
def test_script_refused_with_the_way_out(cls):
    with pytest.raises(TorchScriptUnsupported, match=rf"torch\.jit\.script.*torch\.nn\.{cls}\(3, 4\).*load_state_dict"):
        torch.jit.script(getattr(rnnlab, cls)(3, 4))


def test_script_of_a_model_holding_a_layer_refused():
    with pytest.raises(TorchScriptUnsupported, match="rnnlab.GRU"):
        torch.jit.script(WordModel(rnnlab.GRU(3, 4)))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # torch.nn's own checks, in the trace of ref
@pytest.mark.parametrize("cls", LAYERS)
def test_trace_refused_and_the_way_out_works(cls):
    ours = getattr(rnnlab, cls)(3, 4)
    with pytest.raises(TorchScriptUnsupported, match="sequence length"):
        torch.jit.trace(ours, torch.randn(12, 2, 3))
    # What the message says: torch.nn's module with the same weights traces, at any length.
    ref = getattr(nn, cls)(3, 4)
    ref.load_state_dict(ours.state_dict())
    traced = torch.jit.trace(ref, torch.randn(12, 2, 3))
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(traced(x)[0], ours(x)[0])


def test_a_cell_traces_one_step():
    cell = rnnlab.GRUCell(3, 4)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer notes the checks' Python booleans
        traced = torch.jit.trace(cell, (x, h))
    x2, h2 = torch.randn(2, 3), torch.randn(2, 4)
    torch.testing.assert_close(traced(x2, h2), cell(x2, h2))


def _quantize(model, spec):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = torch.ao.quantization.quantize_dynamic(model, spec)
    return out, [w for w in caught if issubclass(w.category, QuantizationSkipped)]


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "LSTMCell"])
def test_quantize_dynamic_warns_when_it_skips_an_rnnlab_module(cls):
    model = nn.Sequential(getattr(rnnlab, cls)(3, 4))
    out, skipped = _quantize(model, {getattr(nn, cls), nn.Linear})
    assert len(skipped) == 1 and f"rnnlab.{cls} in float" in str(skipped[0].message)
    assert type(out[0]) is getattr(rnnlab, cls)  # left as it was, and now the user knows


def test_quantize_dynamic_of_other_modules_is_silent():
    model = nn.Sequential(rnnlab.LSTM(3, 4), nn.Linear(4, 2))
    out, skipped = _quantize(model, {nn.Linear})
    assert skipped == [] and type(out[1]) is not nn.Linear  # the Linear was quantized
    assert not hasattr(rnnlab.LSTM(3, 4), "qconfig")  # and no qconfig appears from nowhere


def test_forget_bias_recipe_through_all_weights():
    # The common recipe: for names in lstm._all_weights, set the forget-gate slice of every bias to 1.
    def recipe(lstm):
        for names in lstm._all_weights:
            for name in filter(lambda n: "bias" in n, names):
                bias = getattr(lstm, name)
                n = bias.size(0)
                bias.data[n // 4 : n // 2].fill_(1.0)

    ref, ours = twin("LSTM", 3, 4, 2, bidirectional=True)
    assert ours._all_weights == ref._all_weights
    recipe(ref), recipe(ours)
    torch.testing.assert_close(ours.state_dict(), ref.state_dict(), rtol=0, atol=0)


@pytest.mark.parametrize("cls", LAYERS)
def test_assigning_flat_weights_changes_forward_as_in_torch(cls):
    # Masking and pruning libraries assign module._flat_weights = [...] with masked tensors.
    ref, ours = twin(cls, 3, 4, 2)
    x = torch.randn(5, 2, 3)
    masks = [torch.rand_like(w) > 0.3 for w in ref._flat_weights]
    for m in (ref, ours):
        m._flat_weights = [w * mask for w, mask in zip(m._flat_weights, masks)]
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    for m in (ref, ours):  # a weight assigned by name enters the list too
        m.weight_hh_l0 = nn.Parameter(torch.zeros_like(m.weight_hh_l0))
    torch.testing.assert_close(ours(x)[0], ref(x)[0])
    ours.double()  # .to() rebuilds the list from the parameters
    assert all(w.dtype == torch.float64 for w in ours._flat_weights)


def test_torch_type_errors_kept():
    with pytest.raises(TypeError, match="hidden_size should be of type int, got: bool"):
        rnnlab.RNN(4, True)
    with pytest.raises(TypeError, match="num_layers should be of type int, got: float"):
        rnnlab.GRU(4, 3, 2.0)


def test_lstm_cell_refuses_a_none_in_its_pair():
    cell = rnnlab.LSTMCell(4, 6)
    with pytest.raises(TypeError, match=r"pair \(h, c\) of tensors, got \(Tensor, NoneType\)"):
        cell(torch.randn(2, 4), (torch.zeros(2, 6), None))
    with pytest.raises(AttributeError):  # torch fails too, less clearly
        nn.LSTMCell(4, 6)(torch.randn(2, 4), (torch.zeros(2, 6), None))


@pytest.mark.parametrize("cls", LAYERS)
def test_hand_built_packed_sequences_refused(cls):
    ref, layer = twin(cls, 3, 4)
    with pytest.raises(RuntimeError, match=r"must not increase .* got \[1, 2, 3\]"):
        layer(PackedSequence(torch.randn(6, 3), torch.tensor([1, 2, 3])))
    with pytest.raises(RuntimeError, match=r"\[2, 2\] sum to 4 rows, but its data has 6 rows"):
        layer(PackedSequence(torch.randn(6, 3), torch.tensor([2, 2])))
    with pytest.raises(RuntimeError, match="positive counts"):
        layer(PackedSequence(torch.randn(2, 3), torch.tensor([2, 0])))
    packed = pack_padded_sequence(torch.randn(4, 3, 3), torch.tensor([4, 2, 1]), enforce_sorted=False)
    torch.testing.assert_close(layer(packed)[0].data, ref(packed)[0].data)


@pytest.mark.parametrize("cls", LAYERS)
def test_functional_call_and_deepcopy_use_the_given_weights(cls):
    import copy

    ref, ours = twin(cls, 3, 4)
    x = torch.randn(5, 2, 3)
    params = {k: torch.randn_like(v) for k, v in ref.named_parameters()}
    torch.testing.assert_close(
        torch.func.functional_call(ours, params, (x,))[0], torch.func.functional_call(ref, params, (x,))[0]
    )
    torch.testing.assert_close(ours(x)[0], ref(x)[0])  # its own weights again afterwards
    clone = copy.deepcopy(ours)
    with torch.no_grad():
        clone.weight_ih_l0.zero_()
    assert clone._flat_weights[0] is clone.weight_ih_l0 and ours.weight_ih_l0.abs().sum() > 0
