"""Surname data, padding, the packed bidirectional-GRU classifier, baselines and its check."""

from __future__ import annotations

import functools

import pytest
import torch

from rnnlab.checks import CheckFailed, check_masked_mean
from rnnlab.classify import (
    FAKER_VERSION,
    ClassifyConfig,
    NameClassifier,
    accuracy,
    char_count_baseline,
    confusion_matrix,
    encode_names,
    final_states,
    fold_name,
    majority_baseline,
    masked_mean,
    predict_names,
    split_labelled,
    surnames,
    train_classifier,
)
from rnnlab.vocab import PAD, CharVocab, pad_batch


@pytest.fixture(scope="module")
def groups():
    return surnames()


def test_faker_is_the_pinned_release_and_ships_the_lists():
    import faker

    assert faker.VERSION == FAKER_VERSION


def test_surnames_fixed_unique_and_folded(groups):
    assert list(groups) == [
        "Czech",
        "Dutch",
        "English",
        "Finnish",
        "French",
        "German",
        "Italian",
        "Polish",
        "Spanish",
        "Swedish",
    ]
    sizes = {k: len(v) for k, v in groups.items()}
    assert sizes == {
        "Czech": 185,
        "Dutch": 600,
        "English": 458,
        "Finnish": 372,
        "French": 328,
        "German": 600,
        "Italian": 600,
        "Polish": 600,
        "Spanish": 600,
        "Swedish": 448,
    }
    every = [n for names in groups.values() for n in names]
    assert len(every) == len(set(every)), "a name under two languages must be dropped"
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyz '-") for n in every)
    assert surnames() == groups  # deterministic
    assert "adam" not in every  # German and French


def test_surnames_without_faker_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "faker", None)
    with pytest.raises(RuntimeError, match=f"pip install faker=={FAKER_VERSION}"):
        surnames()


def test_fold_name():
    assert fold_name("Łukasiewicz") == "lukasiewicz"
    assert fold_name(" Müller ") == "muller"
    assert fold_name("Straße") == "strasse"
    assert fold_name("Dvořák") == "dvorak"


def test_split_labelled_is_stratified_and_disjoint(groups):
    train, val = split_labelled(groups, 0.2, seed=0)
    assert not {n for n, _ in train} & {n for n, _ in val}
    assert len(train) + len(val) == sum(map(len, groups.values()))
    for k, names in enumerate(groups.values()):
        assert sum(y == k for _, y in val) == round(len(names) * 0.2)
    assert split_labelled(groups, 0.2, seed=0) == (train, val)
    with pytest.raises(ValueError, match="val_fraction"):
        split_labelled(groups, 1.0)


def test_pad_batch():
    seqs = [torch.tensor([1, 2, 3]), torch.tensor([4]), torch.tensor([5, 6])]
    padded, lengths = pad_batch(seqs, padding_value=0)
    assert padded.tolist() == [[1, 4, 5], [2, 0, 6], [3, 0, 0]]
    assert lengths.tolist() == [3, 1, 2] and lengths.device.type == "cpu" and lengths.dtype == torch.long
    padded_bf, _ = pad_batch(seqs, 9, batch_first=True)
    assert padded_bf.tolist() == [[1, 2, 3], [4, 9, 9], [5, 6, 9]]
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        pad_batch([torch.tensor([1]), torch.tensor([], dtype=torch.long)])
    with pytest.raises(ValueError, match="at least one"):
        pad_batch([])


def test_masked_mean_ignores_padding_and_is_checked():
    out = torch.randn(5, 3, 4, dtype=torch.float64)
    lengths = torch.tensor([5, 2, 3])
    want = torch.stack([out[:n, b].mean(0) for b, n in enumerate(lengths.tolist())])
    torch.testing.assert_close(masked_mean(out, lengths), want)
    torch.testing.assert_close(masked_mean(out.transpose(0, 1), lengths, batch_first=True), want)
    out2 = out.clone()
    out2[3:, 1] = 1e6  # padding garbage changes nothing
    torch.testing.assert_close(masked_mean(out2, lengths), want)
    with pytest.raises(ValueError, match=r"lengths must be \(3,\)"):
        masked_mean(out, torch.tensor([1, 2]))
    check_masked_mean(lambda o, n: masked_mean(o, n))


@pytest.mark.parametrize(
    "wrong, why",
    [
        (lambda o, n: o.mean(0), "averages the padding"),
        (
            lambda o, n: (o * (torch.arange(o.shape[0])[:, None] < n).double()[..., None]).sum(0) / o.shape[0],
            "divided by T",
        ),
        (lambda o, n: (o * (torch.arange(o.shape[0])[:, None] < n).double()[..., None]).sum(0), "not divided"),
        (
            lambda o, n: (o * (torch.arange(o.shape[0])[:, None] <= n).double()[..., None]).sum(0) / (n[:, None] + 1),
            "off by one",
        ),
        (lambda o, n: o[0], None),
    ],
)
def test_check_masked_mean_names_the_mistake(wrong, why):
    with pytest.raises(CheckFailed) as e:
        check_masked_mean(wrong)
    assert (why in str(e.value)) if why else "Diagnosis" not in str(e.value)


def test_check_masked_mean_stub_and_partial():
    def stub(o, n):
        raise NotImplementedError

    with pytest.raises(CheckFailed, match="Not done yet"):
        check_masked_mean(stub)
    check_masked_mean(functools.partial(masked_mean, batch_first=False))


def test_final_states():
    h_n = torch.randn(4, 3, 5)  # 2 layers x 2 directions
    assert torch.equal(final_states(h_n, True), torch.cat([h_n[2], h_n[3]], -1))
    assert torch.equal(final_states(h_n, False), h_n[3])


@pytest.mark.parametrize("readout", ["final", "mean"])
@pytest.mark.parametrize("bidirectional, num_layers", [(True, 1), (True, 2), (False, 1)])
def test_classifier_rnnlab_equals_torch(readout, bidirectional, num_layers):
    """Same weights: identical logits and every gradient, float64, on an unsorted packed batch
    whose padding holds indices that would change the result if read."""
    torch.manual_seed(0)
    ours = NameClassifier(12, 4, 5, 6, num_layers, bidirectional, readout, impl="rnnlab").double()
    ref = NameClassifier(12, 4, 5, 6, num_layers, bidirectional, readout, impl="torch").double()
    ref.load_state_dict(ours.state_dict())
    x = torch.randint(1, 12, (5, 7))
    lengths = torch.tensor([3, 7, 1, 5, 2])
    x[torch.arange(7)[None, :] >= lengths[:, None]] = 11  # not the pad index: must be skipped by packing
    outs = []
    for m in (ours, ref):
        m.zero_grad()
        logits = m(x, lengths)
        (logits * torch.arange(20.0, dtype=torch.float64).view(5, 4)).sum().backward()
        outs.append((logits, {k: p.grad for k, p in m.named_parameters()}))
    torch.testing.assert_close(outs[0][0], outs[1][0], atol=1e-10, rtol=0)
    for k in outs[0][1]:
        torch.testing.assert_close(outs[0][1][k], outs[1][1][k], atol=1e-10, rtol=0)
    # each sequence's logits depend only on its own valid characters
    alone = ours(x[1:2, :7], lengths[1:2])
    torch.testing.assert_close(alone, outs[0][0][1:2], atol=1e-10, rtol=0)


def test_classifier_validates_its_arguments():
    with pytest.raises(ValueError, match="readout"):
        NameClassifier(5, 2, readout="last")
    with pytest.raises(ValueError, match="hidden_size must be a positive integer, got 0"):
        NameClassifier(5, 2, hidden_size=0)
    with pytest.raises(ValueError, match="impl"):
        NameClassifier(5, 2, impl="keras")
    with pytest.raises(ValueError, match="dropout"):
        NameClassifier(5, 2, dropout=1.0)


def test_lengths_on_another_device_are_refused_by_packing():
    """The error a GPU user meets when lengths were moved to the GPU with the batch. The meta
    device stands in for CUDA on a CPU-only machine: the packing kernel's check is the same."""
    from torch.nn.utils.rnn import pack_padded_sequence

    with pytest.raises(RuntimeError, match="'lengths' argument should be a 1D CPU int64 tensor, but got 1D meta"):
        pack_padded_sequence(torch.zeros(2, 3, 4), torch.tensor([3, 2]).to("meta"), batch_first=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_lengths_on_the_gpu_fail_and_cpu_lengths_work():
    m = NameClassifier(5, 2).cuda()
    x, lengths = torch.ones(2, 3, dtype=torch.long, device="cuda"), torch.tensor([2, 3])
    with pytest.raises(RuntimeError, match="should be a 1D CPU int64 tensor, but got 1D cuda"):
        m(x, lengths.cuda())
    assert m(x, lengths).shape == (2, 2)


def test_baselines_on_a_toy_task():
    train = [("aaa", 0), ("aab", 0), ("bbb", 1), ("bba", 1), ("bbbb", 1)]
    val = [("aaaa", 0), ("bbab", 1), ("abbb", 1)]
    assert majority_baseline(train, val) == pytest.approx(2 / 3)
    assert char_count_baseline(train, val) == 1.0


def test_training_beats_the_baselines_and_predicts(groups):
    """A short run: the classifier learns far beyond the majority and unigram baselines."""
    train, val = split_labelled(groups)
    labels = list(groups)
    vocab = CharVocab.from_strings(*(n for n, _ in train + val), specials=(PAD,))
    torch.manual_seed(0)
    model = NameClassifier(len(vocab), len(labels), 16, 32)
    seen = []
    hist = train_classifier(
        model, train, val, vocab, ClassifyConfig(epochs=2), on_epoch=lambda e, h: seen.append(e), progress=False
    )
    assert seen == [1, 2] and len(hist.loss) == len(hist.val_acc) == 2
    assert hist.val_acc[-1] == pytest.approx(accuracy(model, val, vocab))
    assert hist.val_acc[-1] > char_count_baseline(train, val) + 0.05 > majority_baseline(train, val) + 0.3
    cm = confusion_matrix(model, val, vocab, len(labels))
    assert cm.sum() == len(val) and cm.trace().item() / len(val) == pytest.approx(hist.val_acc[-1])
    assert hist.final_confusion == cm.tolist()  # stored with the history, for the notebook's seed study
    top = predict_names(model, ["Kowalczyk", "Łukasiewicz"], vocab, labels, top_k=3)
    assert [lang for lang, _ in top[0]][0] == "Polish" and len(top[1]) == 3
    assert all(p1 >= p2 for row in top for (_, p1), (_, p2) in zip(row, row[1:]))
    with pytest.raises(ValueError, match=r"characters \['1'\] are not in the vocabulary"):
        predict_names(model, ["R1D1"], vocab, labels)
    with pytest.raises(ValueError, match="has no letters"):
        encode_names(["  "], vocab)


def test_classify_config_validation():
    for bad in [dict(epochs=0), dict(lr=float("nan")), dict(clip=-1.0), dict(batch_size=0)]:
        with pytest.raises(ValueError):
            ClassifyConfig(**bad)


def test_vocab_specials_and_index():
    v = CharVocab.from_strings("bca", "a", specials=(PAD,))
    assert v.idx2char == [PAD, "a", "b", "c"] and v.index("c") == 3
    with pytest.raises(KeyError, match="'z' is not in the vocabulary"):
        v.index("z")
