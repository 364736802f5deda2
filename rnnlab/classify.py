"""The third task: classifying variable-length sequences, surnames by language, with a
bidirectional GRU over packed batches.

In the order every task file here follows: the data (surname lists that ship with the ``faker``
package, folded and split by class), the model, the batches, the baselines, the config and
history, the loop :func:`train_classifier`, then accuracy, confusion matrix and predictions.

The model reads a whole name and gives one label: ``Embedding`` → bidirectional ``GRU`` over a
``PackedSequence`` (so no step ever reads padding) → ``Linear`` on a summary of the sequence.
Two summaries are offered: ``"final"`` joins the last layer's final forward state (after the
last real character) with its final backward state (after reading back to the first one), and
``"mean"`` averages the outputs over each sequence's valid steps only (:func:`masked_mean`).

Also here: the two baselines the network must beat (the majority class and a naive Bayes
classifier on character counts), training with a config and a history, accuracy, the
confusion matrix and top-k predictions for new names.
"""

from __future__ import annotations

import importlib
import math
import random
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlab.layers import GRU
from rnnlab.loop import (
    Callback,
    DataUnavailable,
    Record,
    configured,
    device_of,
    evaluating,
    optimizer_step,
    stopping,
)
from rnnlab.validation import IMPLS, one_of, positive_ints, positive_number
from rnnlab.vocab import PAD, CharVocab, pad_batch

__all__ = [
    "FAKER_VERSION",
    "SURNAME_LOCALES",
    "fold_name",
    "surnames",
    "split_labelled",
    "NameClassifier",
    "masked_mean",
    "final_states",
    "encode_names",
    "majority_baseline",
    "char_count_baseline",
    "ClassifyConfig",
    "ClassifyHistory",
    "train_classifier",
    "accuracy",
    "confusion_matrix",
    "predict_names",
]


# -- data: surnames by language, from the lists that the faker package ships ---------------------
FAKER_VERSION = "40.63.0"  # the pinned release whose lists give the stored notebook results

SURNAME_LOCALES: dict[str, tuple[str, ...]] = {
    "Czech": ("cs_CZ",),
    "Dutch": ("nl_NL",),
    "English": ("en_GB",),
    "Finnish": ("fi_FI",),
    "French": ("fr_FR",),
    "German": ("de_DE", "de_AT"),
    "Italian": ("it_IT",),
    "Polish": ("pl_PL",),
    "Spanish": ("es_ES",),
    "Swedish": ("sv_SE",),
}

_FOLD = {"ł": "l", "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ı": "i"}

_NAME_ATTRS = (
    "last_names",
    "unisex_last_names",
    "male_last_names",
    "female_last_names",
    "last_names_male",
    "last_names_female",
)


def fold_name(name: str) -> str:
    """Lower case, accents removed, a few letters spelt out (``ł`` → ``l``, ``ß`` → ``ss``):
    ``"Łukasiewicz"`` → ``"lukasiewicz"``, ``"Müller"`` → ``"muller"``. Diacritics would give
    most languages away at a glance; folded, the network must learn spelling patterns."""
    name = "".join(_FOLD.get(c, c) for c in name.strip().lower())
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))


def _locale_surnames(locale: str) -> list[str]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    return [n for attr in _NAME_ATTRS for n in getattr(provider, attr, ())]


def surnames(max_per_language: int = 600, seed: int = 0) -> dict[str, list[str]]:
    """Surnames by language, from the per-locale lists of the ``faker`` package (MIT licence).

    Names are folded with :func:`fold_name` and kept when made of ``a-z``, space, ``'`` and
    ``-``; a name found under two languages (``"adam"``: German and French) is dropped, so every
    label is unambiguous. Languages with more than ``max_per_language`` names keep a seeded
    random sample of that many, so no class swamps the others.

    Returns:
        ``{language: sorted names}`` for the languages of :data:`SURNAME_LOCALES`.

    Raises:
        DataUnavailable: when faker is not installed.
    """
    try:
        import faker
    except ImportError as e:
        raise DataUnavailable(
            f"the surname lists come from the faker package: pip install faker=={FAKER_VERSION}"
        ) from e
    if faker.VERSION != FAKER_VERSION:
        warnings.warn(
            f"faker {faker.VERSION} is installed; the course's results were measured "
            f"with faker=={FAKER_VERSION}, whose lists may differ",
            stacklevel=2,
        )
    ok = re.compile(r"[a-z][a-z '-]*[a-z]")
    by_lang = {
        lang: {n for loc in locales for n in map(fold_name, _locale_surnames(loc)) if ok.fullmatch(n)}
        for lang, locales in SURNAME_LOCALES.items()
    }
    seen = Counter(n for names in by_lang.values() for n in names)  # languages listing each name
    rng = random.Random(seed)
    out = {}
    for lang, names in by_lang.items():
        unique = sorted(n for n in names if seen[n] == 1)
        out[lang] = sorted(rng.sample(unique, max_per_language)) if len(unique) > max_per_language else unique
    return out


def split_labelled(
    groups: dict[str, list[str]], val_fraction: float = 0.2, seed: int = 0
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """A stratified, seeded train/validation split of ``{label: items}``.

    Every label loses the same fraction of its items to validation, so both halves keep the
    class balance. Labels are numbered in the dict's order.

    Returns:
        ``(train, val)``: lists of ``(item, label_index)``, each shuffled.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    rng = random.Random(seed)
    train, val = [], []
    for k, items in enumerate(groups.values()):
        items = list(items)
        rng.shuffle(items)
        n_val = max(1, round(len(items) * val_fraction))
        val += [(x, k) for x in items[:n_val]]
        train += [(x, k) for x in items[n_val:]]
    rng.shuffle(train)
    rng.shuffle(val)
    return train, val


# -- the model -------------------------------------------------------------------------------
def masked_mean(output: Tensor, lengths: Tensor, batch_first: bool = False) -> Tensor:
    """The mean of each sequence's outputs over its own valid steps, ignoring the padding.

    .. math:: \\bar o_b = \\frac{1}{n_b} \\sum_{t < n_b} o_{t,b}

    Args:
        output: ``(T, B, H)`` padded outputs (``(B, T, H)`` if ``batch_first``).
        lengths: ``(B,)`` valid steps ``n_b`` of each sequence, ``1 <= n_b <= T``.

    Returns:
        ``(B, H)``.
    """
    if batch_first:
        output = output.transpose(0, 1)  # (T, B, H)
    T, B = output.shape[:2]
    if lengths.shape != (B,):
        raise ValueError(f"lengths must be ({B},) for a batch of {B}, got {tuple(lengths.shape)}")
    lengths = lengths.to(output.device)
    mask = torch.arange(T, device=output.device)[:, None] < lengths[None, :]  # (T, B)
    total = (output * mask[..., None].to(output.dtype)).sum(0)  # (B, H)
    return total / lengths[:, None].to(output.dtype)


def final_states(h_n: Tensor, bidirectional: bool) -> Tensor:
    """The last layer's final state(s) from ``h_n`` ``(L*D, B, H)``: ``h_n[-1]`` for one
    direction, ``cat(h_n[-2], h_n[-1])`` (forward, then backward) ``(B, 2H)`` for two."""
    return torch.cat([h_n[-2], h_n[-1]], -1) if bidirectional else h_n[-1]


class NameClassifier(nn.Module):
    """``Embedding`` → ``GRU`` over packed batches → ``Linear``: one label per sequence.

    Args:
        vocab_size: characters, index 0 being padding.
        num_classes: labels ``C``.
        embedding_dim, hidden_size, num_layers: sizes ``E``, ``H`` and the GRU's layers.
        bidirectional: read each name both ways (the default).
        dropout: dropout probability on the summary before the ``Linear`` layer.
        readout: ``"final"`` (final states of each direction) or ``"mean"`` (masked mean of
            the outputs over valid steps).
        impl: ``"rnnlab"`` (:class:`rnnlab.GRU`) or ``"torch"`` (``nn.GRU``); same parameters.

    Inputs: ``x`` ``(B, T)`` padded indices (batch first), ``lengths`` ``(B,)`` on the CPU.
    Output: ``(B, C)`` logits.
    """

    def __init__(
        self,
        vocab_size: int,
        num_classes: int,
        embedding_dim: int = 32,
        hidden_size: int = 64,
        num_layers: int = 1,
        bidirectional: bool = True,
        readout: str = "final",
        dropout: float = 0.0,
        impl: str = "rnnlab",
    ) -> None:
        super().__init__()
        one_of("readout", readout, ("final", "mean"))
        one_of("impl", impl, IMPLS)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        positive_ints(
            vocab_size=vocab_size,
            num_classes=num_classes,
            embedding_dim=embedding_dim,
            hidden_size=hidden_size,
            num_layers=num_layers,
        )
        self.spec = {
            "name": "names",
            "vocab_size": vocab_size,
            "num_classes": num_classes,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "bidirectional": bidirectional,
            "readout": readout,
            "dropout": dropout,
            "impl": impl,
        }
        self.bidirectional, self.readout = bidirectional, readout
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        gru = GRU if impl == "rnnlab" else nn.GRU
        self.rnn = gru(embedding_dim, hidden_size, num_layers, batch_first=True, bidirectional=bidirectional)
        self.drop = nn.Dropout(dropout)  # on the summary, during training only
        self.out = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        packed = pack_padded_sequence(self.embedding(x), lengths, batch_first=True, enforce_sorted=False)
        output, h_n = self.rnn(packed)  # h_n (L*D, B, H), back in the input order
        if self.readout == "final":
            summary = final_states(h_n, self.bidirectional)  # (B, D*H)
        else:
            padded, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)  # (B, T, D*H)
            summary = masked_mean(padded, lengths, batch_first=True)
        return self.out(self.drop(summary))  # (B, C)


def encode_names(names: Sequence[str], vocab: CharVocab) -> tuple[Tensor, Tensor]:
    """Names → ``(B, T)`` padded indices (pad = ``vocab.index(PAD)``) and ``(B,)`` CPU lengths.

    Names are folded (:func:`fold_name`) first, so ``"Müller"`` reads as ``"muller"``.
    """
    folded = [fold_name(n) for n in names]
    for raw, n in zip(names, folded):
        if not n:
            raise ValueError(f"{raw!r} has no letters to classify")
    return pad_batch([vocab.encode(n) for n in folded], vocab.index(PAD), batch_first=True)


def _batches(pairs, batch_size, vocab, shuffle_seed=None):
    order = list(range(len(pairs)))
    if shuffle_seed is not None:
        order = torch.randperm(len(pairs), generator=torch.Generator().manual_seed(shuffle_seed)).tolist()
    for i in range(0, len(order), batch_size):
        chunk = [pairs[k] for k in order[i : i + batch_size]]
        x, lengths = encode_names([n for n, _ in chunk], vocab)
        yield x, lengths, torch.tensor([y for _, y in chunk])


def majority_baseline(train: Sequence[tuple[str, int]], val: Sequence[tuple[str, int]]) -> float:
    """Accuracy on ``val`` of always answering the most frequent training label."""
    labels = [y for _, y in train]
    top = max(set(labels), key=labels.count)
    return sum(y == top for _, y in val) / len(val)


def char_count_baseline(train: Sequence[tuple[str, int]], val: Sequence[tuple[str, int]], ngram: int = 1) -> float:
    """Accuracy on ``val`` of multinomial naive Bayes on character (``ngram=1``) or character
    pair (``ngram=2``) counts, with add-one smoothing: a model that sees which letters a name
    has, but not their order beyond ``ngram``."""

    def grams(name: str) -> list[str]:
        s = f"^{name}$" if ngram > 1 else name
        return [s[i : i + ngram] for i in range(len(s) - ngram + 1)]

    counts: dict[int, dict[str, int]] = {}
    docs: dict[int, int] = {}
    for name, y in train:
        docs[y] = docs.get(y, 0) + 1
        c = counts.setdefault(y, {})
        for g in grams(name):
            c[g] = c.get(g, 0) + 1
    vocab = {g for c in counts.values() for g in c}
    log_prior = {y: math.log(docs[y] / len(train)) for y in counts}
    log_denom = {y: math.log(sum(c.values()) + len(vocab) + 1) for y, c in counts.items()}  # add-one

    def score(name: str, y: int) -> float:
        return log_prior[y] + sum(math.log(counts[y].get(g, 0) + 1) - log_denom[y] for g in grams(name))

    return sum(max(counts, key=lambda y: score(n, y)) == label for n, label in val) / len(val)


@dataclass
class ClassifyConfig:
    """Settings of :func:`train_classifier`."""

    epochs: int = 4
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0  # shuffling order of epoch k (1-based): seed + k - 1
    clip: float | None = 1.0  # max gradient norm; None = no clipping
    progress: bool = True  # a tqdm.auto bar

    def __post_init__(self) -> None:
        positive_ints(epochs=self.epochs, batch_size=self.batch_size)
        positive_number("lr", self.lr)
        positive_number("clip", self.clip, optional=True)


@dataclass
class ClassifyHistory(Record):
    """Per-epoch mean training loss and accuracies, as returned by :func:`train_classifier`; after
    the last epoch, the validation confusion matrix (``final_confusion[true][predicted]``, counts)."""

    loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    final_confusion: list[list[int]] = field(default_factory=list)


def train_classifier(
    model: NameClassifier,
    train: Sequence[tuple[str, int]],
    val: Sequence[tuple[str, int]],
    vocab: CharVocab,
    config: ClassifyConfig | None = None,
    *,
    on_epoch: Callback | None = None,
    **overrides,
) -> ClassifyHistory:
    """Adam on the cross-entropy of each name's label, ``config.epochs`` shuffled passes.

    Args:
        config: a :class:`ClassifyConfig`; keyword ``overrides`` replace its fields.
        on_epoch: called as ``on_epoch(epoch, history)`` after each pass (1-based).

    Returns:
        the :class:`ClassifyHistory`.
    """
    from tqdm.auto import tqdm

    config = configured(ClassifyConfig, config, overrides)
    device = device_of(model)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = ClassifyHistory()
    bar = tqdm(range(1, config.epochs + 1), desc="epochs", disable=not config.progress, mininterval=1.0)
    model.train()  # evaluation below (accuracy) restores training mode
    with stopping(history, "epoch", model) as where:
        for epoch in bar:
            where.count = epoch
            total, n, right = 0.0, 0, 0
            for x, lengths, y in _batches(train, config.batch_size, vocab, shuffle_seed=config.seed + epoch - 1):
                x, y = x.to(device), y.to(device)  # lengths stay on the CPU
                logits = model(x, lengths)
                loss = F.cross_entropy(logits, y)
                optimizer_step(model, opt, loss, config.clip)
                total, n = total + loss.item() * len(y), n + len(y)
                right += (logits.argmax(-1) == y).sum().item()
            history.loss.append(total / n)
            history.train_acc.append(right / n)
            history.val_acc.append(accuracy(model, val, vocab))
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", val_acc=f"{history.val_acc[-1]:.3f}", refresh=False)
            if on_epoch is not None:
                on_epoch(epoch, history)
    history.final_confusion = confusion_matrix(model, val, vocab, model.out.out_features).tolist()
    return history


def _predict(model: NameClassifier, names: Sequence[str], vocab: CharVocab, batch_size: int = 512) -> Tensor:
    device = device_of(model)
    with evaluating(model):
        logits = [
            model(x.to(device), lengths).cpu() for x, lengths, _ in _batches([(n, 0) for n in names], batch_size, vocab)
        ]
    return torch.cat(logits)  # (N, C)


def accuracy(model: NameClassifier, pairs: Sequence[tuple[str, int]], vocab: CharVocab) -> float:
    """Fraction of ``(name, label)`` pairs whose top prediction is the label."""
    logits = _predict(model, [n for n, _ in pairs], vocab)
    return (logits.argmax(-1) == torch.tensor([y for _, y in pairs])).float().mean().item()


def confusion_matrix(
    model: NameClassifier, pairs: Sequence[tuple[str, int]], vocab: CharVocab, num_classes: int
) -> Tensor:
    """``(C, C)`` int64 counts: row = true label, column = predicted label."""
    pred = _predict(model, [n for n, _ in pairs], vocab).argmax(-1)
    m = torch.zeros(num_classes, num_classes, dtype=torch.long)
    for (_, y), p in zip(pairs, pred.tolist()):
        m[y, p] += 1
    return m


def predict_names(
    model: NameClassifier, names: Sequence[str], vocab: CharVocab, labels: Sequence[str], top_k: int = 3
) -> list[list[tuple[str, float]]]:
    """The ``top_k`` labels of each name with their probabilities, most likely first.

    Names may carry accents or capitals (they are folded); a character the vocabulary lacks
    raises a ValueError naming it.
    """
    probs = _predict(model, names, vocab).softmax(-1)
    top = probs.topk(min(top_k, probs.shape[1]), dim=-1)
    return [[(labels[k], p) for k, p in zip(i.tolist(), v.tolist())] for v, i in zip(top.values, top.indices)]
