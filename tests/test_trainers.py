"""The four trainers share one interface: a config dataclass validated in ``__post_init__`` with keyword
overrides (``progress`` among its fields), a callback ``(count, history)`` with 1-based counts, and a
:class:`~rnnlab.loop.Record` as the history."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rnnlab.classify import ClassifyConfig, NameClassifier, train_classifier
from rnnlab.labelling import PairDataset, TrainConfig, build_model, fit
from rnnlab.lm import CharLM, LMConfig, train_lm
from rnnlab.loop import Record
from rnnlab.seq2seq import Seq2Seq, Seq2SeqConfig, reversal_pairs, train_seq2seq
from rnnlab.vocab import END, PAD, START, CharVocab


def _hello(config, **kw):
    data = PairDataset([("hello", "ohlol")])
    return fit(build_model("gru", len(data.vocab)), data, config, **kw)


def _lm(config, **kw):
    vocab = CharVocab.from_strings("abcdefgh ")
    ids = vocab.encode("abc defg hab cde fgh " * 20)
    return train_lm(CharLM(len(vocab), "gru", 4, 8), ids[:300], ids[300:], config, **kw)


def _names(config, **kw):
    pairs = [("rossi", 0), ("bianchi", 0), ("virtanen", 1), ("nieminen", 1)] * 3
    vocab = CharVocab.from_strings(*(n for n, _ in pairs), specials=(PAD,))
    return train_classifier(NameClassifier(len(vocab), 2, 4, 8), pairs, pairs[:4], vocab, config, **kw)


def _seq2seq(config, **kw):
    pairs = reversal_pairs(40, 2, 4, seed=0)
    vocab = CharVocab.from_strings(*(s + t for s, t in pairs), specials=(PAD, START, END))
    return train_seq2seq(Seq2Seq(len(vocab), 4, 8), pairs, pairs[:8], vocab, config, **kw)


TRAINERS = [
    (_hello, TrainConfig, "on_epoch", dict(epochs=3, early_stop=False), [1, 2, 3]),
    (_lm, LMConfig, "on_eval", dict(max_steps=4, eval_every=2, batch_size=2, seq_len=8), [2, 4]),
    (_names, ClassifyConfig, "on_epoch", dict(epochs=2, batch_size=4), [1, 2]),
    (_seq2seq, Seq2SeqConfig, "on_eval", dict(steps=4, eval_every=2, batch_size=8), [2, 4]),
]


@pytest.mark.parametrize(
    "train, config_cls, callback, settings, counts", TRAINERS, ids=lambda v: getattr(v, "__name__", "")
)
def test_one_trainer_interface(train, config_cls, callback, settings, counts):
    assert "progress" in {f.name for f in dataclasses.fields(config_cls)}
    seen = []
    torch.manual_seed(0)
    history = train(None, **settings, progress=False, **{callback: lambda k, h: seen.append((k, h))})
    assert isinstance(history, Record) and type(history).from_dict(history.to_dict()) == history
    assert [k for k, _ in seen] == counts  # 1-based epochs or steps
    assert all(h is history for _, h in seen)  # the history so far, the same object that is returned
    # a config object and keyword overrides are the same thing
    torch.manual_seed(0)
    again = train(config_cls(**settings, progress=False))
    assert again.to_dict() == history.to_dict()


@pytest.mark.parametrize(
    "train, config_cls", [(t[0], t[1]) for t in TRAINERS], ids=lambda v: getattr(v, "__name__", "")
)
def test_configs_are_validated_and_overrides_named(train, config_cls):
    with pytest.raises(ValueError, match="lr"):
        config_cls(lr=0.0)
    with pytest.raises(ValueError, match="lr"):
        train(None, lr=-1.0, progress=False)  # overrides are validated too
    with pytest.raises(TypeError, match=r"no field\(s\) \['epochz'\]"):
        train(None, epochz=3)
    with pytest.raises(TypeError, match="config must be a"):
        train(object())
