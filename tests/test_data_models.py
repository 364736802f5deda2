"""rnnlab.vocab and rnnlab.labelling: vocabularies, pair datasets and the hello models."""

from __future__ import annotations

import pytest
import torch

from rnnlab.labelling import MODEL_NAMES, EmbedRecurrent, PairDataset, build_model, trace_gates
from rnnlab.vocab import CLASSIC_IDX2CHAR, CharVocab, one_hot


def test_classic_mapping():
    v = CharVocab.classic()
    assert v.idx2char == CLASSIC_IDX2CHAR == ["e", "l", "h", "o"]
    assert v.encode("hello").tolist() == [2, 0, 1, 1, 3]
    assert v.encode("ohlol").tolist() == [3, 2, 1, 3, 1]
    assert v.decode([3, 2, 1, 3, 1]) == "ohlol" and v.decode(torch.tensor([2, 0])) == "he"


def test_vocab_from_strings_and_errors():
    assert CharVocab.from_strings("hello", "ohlol").idx2char == ["e", "h", "l", "o"]
    with pytest.raises(ValueError, match="duplicate"):
        CharVocab(["a", "a"])
    with pytest.raises(ValueError, match=r"\['x'\] are not in the vocabulary"):
        CharVocab.classic().encode("hex")


def test_one_hot():
    oh = one_hot(torch.tensor([[2, 0]]), 4)
    assert oh.shape == (1, 2, 4) and oh.dtype == torch.float32
    assert oh[0, 0].tolist() == [0, 0, 1, 0]


def test_pair_dataset_batches_group_lengths():
    data = PairDataset([("hello", "ohlol"), ("abc", "bca"), ("world", "dlrow")])
    batches = list(data.batches())
    assert sorted(tuple(x.shape) for x, _ in batches) == [(3, 1), (5, 2)]
    x, y = next(b for b in batches if b[0].shape == (5, 2))
    assert data.vocab.decode(x[:, 1]) == "world" and data.vocab.decode(y[:, 0]) == "ohlol"
    assert [tuple(x.shape) for x, _ in data.batches(batch_size=1)] == [(5, 1), (5, 1), (3, 1)]


@pytest.mark.parametrize(
    "pair,msg", [(("hello", "ohlo"), "equal lengths"), (("", ""), "non-empty"), (("ab", ""), "non-empty")]
)
def test_pair_dataset_rejects_bad_pairs(pair, msg):
    with pytest.raises(ValueError, match=msg):
        PairDataset([pair])


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_models_map_indices_to_logits(name):
    torch.manual_seed(0)
    m = build_model(name, 4)
    out = m(torch.tensor([[2, 0, 1, 1, 3]]).T)  # (T=5, B=1)
    assert out.shape == (5, 1, 4)
    assert m.spec["name"] == name


def test_cell_loop_model_equals_rnn_model():
    """Variant (1) and (2) are the same function when they share weights."""
    torch.manual_seed(0)
    m1, m2 = build_model("rnncell", 4), build_model("rnn", 4)
    m2.rnn.load_state_dict({f"{k}_l0": v for k, v in m1.cell.state_dict().items()})
    x = torch.randint(0, 4, (6, 3))
    torch.testing.assert_close(m1(x), m2(x))


def test_one_hot_models_need_hidden_equal_vocab():
    with pytest.raises(ValueError, match="hidden_size must equal the vocabulary size"):
        build_model("rnn", 4, hidden_size=8)
    with pytest.raises(ValueError, match="unknown model 'transformer'"):
        build_model("transformer", 4)


@pytest.mark.parametrize("name,gates", [("lstm", "ifgoch"), ("gru", "rznh"), ("embed-rnn", "h")])
def test_trace_gates_replays_the_layer(name, gates):
    torch.manual_seed(0)
    m: EmbedRecurrent = build_model(name, 4, hidden_size=6)
    x = torch.tensor([2, 0, 1, 1, 3])
    trace = trace_gates(m, x)
    assert "".join(trace) == gates and all(v.shape == (5, 6) for v in trace.values())
    out, _ = m.rnn(m.embedding(x.unsqueeze(1)))
    torch.testing.assert_close(trace["h"], out[:, 0].detach())
    for g in set(gates) & set("ifozr"):
        assert trace[g].min() >= 0 and trace[g].max() <= 1
