"""Notebook 00's task: the window, the exact bag bound, tied weights = an RNN, and the window check."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rnnlab import RNN, RNNCell
from rnnlab.checks import CheckFailed, check_window_onehot
from rnnlab.window import (
    BagOfChars,
    FirstCharConfig,
    FirstCharRNN,
    WindowMLP,
    accuracy_by_length,
    bag_bound,
    first_a_batch,
    train_first_char,
    window_onehot,
)


def test_first_a_batch_is_balanced_and_seeded():
    x, y = first_a_batch(20_000, 7, torch.Generator().manual_seed(0))
    assert x.shape == (7, 20_000) and y.shape == (20_000,) and x.dtype == torch.int64
    assert torch.equal(y, (x[0] == 0).long())
    assert abs(y.double().mean().item() - 0.5) < 0.02
    assert abs((x[1:] == 0).double().mean().item() - 0.25) < 0.01  # the other letters are uniform
    again, _ = first_a_batch(20_000, 7, torch.Generator().manual_seed(0))
    assert torch.equal(x, again)


def test_window_reads_the_last_k_characters_padded_in_front():
    x = torch.tensor([[0, 1, 2, 3, 0]]).T  # "abcda"
    assert window_onehot(x, 2).view(2, 4).tolist() == [[0, 0, 0, 1], [1, 0, 0, 0]]
    assert window_onehot(x, 7).view(7, 4)[:2].abs().sum() == 0
    assert torch.equal(window_onehot(x, 7).view(7, 4)[2:], F.one_hot(x[:, 0], 4).float())
    with pytest.raises(ValueError, match=r"must be \(L, B\) indices, got shape \(5,\)"):
        window_onehot(x[:, 0], 2)


def test_bag_bound_is_exact():
    # A Monte Carlo estimate of the rule "yes when more than a quarter are a" agrees with the exact bound.
    for L in (5, 12, 40):
        x, y = first_a_batch(200_000, L, torch.Generator().manual_seed(L))
        guess = ((x == 0).double().sum(0) > L / 4).long()
        assert abs((guess == y).double().mean().item() - bag_bound(L)) < 0.004
    assert bag_bound(1) == 1.0  # the only letter is the first
    assert bag_bound(5) > bag_bound(20) > bag_bound(50) > 0.5


def test_the_window_mlp_with_tied_weights_is_an_rnn_cell_in_a_loop():
    torch.manual_seed(0)
    cell = RNNCell(4, 5).double()
    x, _ = first_a_batch(3, 6, torch.Generator().manual_seed(1))
    xs = F.one_hot(x, 4).double()
    h = None
    for t, x_t in enumerate(xs):  # the unrolled, tied network, written as the layer equations
        pre = x_t @ cell.weight_ih.T + cell.bias_ih + cell.bias_hh
        h = torch.tanh(pre if t == 0 else pre + h @ cell.weight_hh.T)
    layer, reference = RNN(4, 5).double(), nn.RNN(4, 5).double()
    for m in (layer, reference):
        m.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    torch.testing.assert_close(layer(xs)[1][0], h, rtol=0, atol=1e-12)
    torch.testing.assert_close(reference(xs)[1][0], h, rtol=0, atol=1e-12)


def test_parameters_grow_with_k_for_the_window_only():
    count = lambda m: sum(p.numel() for p in m.parameters())
    assert [count(WindowMLP(k, 32)) for k in (1, 10, 100)] == [226, 1378, 12898]
    assert count(FirstCharRNN(32)) == 1282 and count(BagOfChars(32)) == 4 * 32 + 32 + 66


def test_an_rnn_trained_on_short_strings_answers_long_ones_and_a_window_cannot():
    torch.manual_seed(0)
    rnn, window = FirstCharRNN(32), WindowMLP(10, 32)
    for model in (rnn, window):
        history = train_first_char(model, seed=0, progress=False)
        assert history.step[-1] == 500 and history.accuracy[-1] > 0.9
    assert min(accuracy_by_length(rnn, [20, 50], size=500)) >= 0.99
    assert all(0.4 < a < 0.6 for a in accuracy_by_length(window, [20, 50], size=500))


def test_config_refuses_a_reversed_length_range():
    with pytest.raises(ValueError, match="min_length 9 is above max_length 5"):
        FirstCharConfig(min_length=9, max_length=5)


def _window(x, k, pad_front=True):
    onehot = F.one_hot(x[-k:], 4).float()
    pad = onehot.new_zeros(k - onehot.shape[0], *onehot.shape[1:])
    return torch.cat([pad, onehot] if pad_front else [onehot, pad]).transpose(0, 1).reshape(x.shape[1], -1)


@pytest.mark.parametrize(
    "wrong,message",
    [
        (lambda x, k: _window(x[:k], k), "takes the first k characters"),
        (lambda x, k: _window(x, k, pad_front=False), "the zeros come after the characters"),
        (lambda x, k: F.one_hot(x[-k:], 4).float().permute(1, 2, 0).reshape(x.shape[1], -1), "grouped by character"),
        (lambda x, k: F.one_hot(x[-k:], 4).float().reshape(x.shape[1], -1), "without moving the batch first"),
        (
            lambda x, k: F.one_hot(x[-k:], 4).float().transpose(0, 1).reshape(x.shape[1], -1),
            "expected the window of shape",
        ),
        (lambda x, k: _window(x, k) * 2, "Compare it with F.one_hot"),
    ],
)
def test_the_window_check_names_the_mistake(wrong, message):
    check_window_onehot(window_onehot)
    with pytest.raises(CheckFailed, match=message):
        check_window_onehot(wrong)
