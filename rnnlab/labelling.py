"""The first task: aligned character labelling, "hello" → "ohlol", one output character per input.

In the order every task file here follows: the data (:class:`PairDataset`, pairs of equal-length
strings), the five models, the loss (:func:`~rnnlab.loop.sequence_loss`), the config and history,
the training loop :func:`fit`, then :func:`predict` and :func:`trace_gates` to read a trained model.

Every model maps time-major indices ``(T, B)`` to logits ``(T, B, V)`` over the vocabulary:

==============  =========================================================  ======================
name            architecture                                                input
==============  =========================================================  ======================
``rnncell``     ``RNNCell(V, V)`` stepped by hand; the state is the logits  one-hot ``(T, B, V)``
``rnn``         ``RNN(V, V)``; its outputs are the logits                   one-hot ``(T, B, V)``
``embed-rnn``   ``Embedding(V, E)`` → ``RNN(E, H)`` → ``Linear(H, V)``      indices ``(T, B)``
``lstm``        ``Embedding(V, E)`` → ``LSTM(E, H)`` → ``Linear(H, V)``     indices ``(T, B)``
``gru``         ``Embedding(V, E)`` → ``GRU(E, H)`` → ``Linear(H, V)``      indices ``(T, B)``
==============  =========================================================  ======================
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnlab.cells import GRUCell, LSTMCell, RNNCell
from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.loop import (
    Callback,
    Record,
    configured,
    device_of,
    evaluating,
    optimizer_step,
    sequence_loss,
    stopping,
)
from rnnlab.validation import one_of, positive_ints, positive_number
from rnnlab.vocab import CharVocab, one_hot

__all__ = [
    "PairDataset",
    "validate_pair",
    "MODEL_NAMES",
    "CharRNNCell",
    "CharRNN",
    "EmbedRecurrent",
    "build_model",
    "TrainConfig",
    "History",
    "fit",
    "predict",
    "trace_gates",
]


# -- data -------------------------------------------------------------------------------------
class PairDataset:
    """Pairs of equal-length strings, ``source[t]`` → ``target[t]``.

    Args:
        pairs: ``(source, target)`` strings; each pair must have equal, non-zero lengths.
        vocab: the vocabulary; by default every character of every string, sorted.
    """

    def __init__(self, pairs: Sequence[tuple[str, str]], vocab: CharVocab | None = None) -> None:
        pairs = [tuple(p) for p in pairs]
        if not pairs:
            raise ValueError("a dataset needs at least one (source, target) pair")
        for src, tgt in pairs:
            validate_pair(src, tgt)
        self.pairs = pairs
        self.vocab = vocab or CharVocab.from_strings(*(s + t for s, t in pairs))
        for src, tgt in pairs:  # fail now, with the unknown characters named
            self.vocab.encode(src + tgt)

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, k: int) -> tuple[Tensor, Tensor]:
        src, tgt = self.pairs[k]
        return self.vocab.encode(src), self.vocab.encode(tgt)

    def batches(self, batch_size: int | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """Time-major ``(T, B)`` index tensors ``(x, y)``; pairs are grouped by length, so
        every batch is rectangular. ``batch_size=None`` puts each length group in one batch."""
        by_len: dict[int, list[int]] = {}
        for k, (src, _) in enumerate(self.pairs):
            by_len.setdefault(len(src), []).append(k)
        for idx in by_len.values():
            step = batch_size or len(idx)
            for i in range(0, len(idx), step):
                xs, ys = zip(*(self[k] for k in idx[i : i + step]))
                yield torch.stack(xs, 1), torch.stack(ys, 1)  # (T, B) each


def validate_pair(source: str, target: str) -> None:
    """Raise ValueError unless both strings are non-empty and of equal length."""
    if not source or not target:
        raise ValueError(f"source and target must be non-empty, got {source!r} and {target!r}")
    if len(source) != len(target):
        raise ValueError(
            f"source and target must have equal lengths (one output per input character), "
            f"got {source!r} ({len(source)}) and {target!r} ({len(target)})"
        )


# -- models -----------------------------------------------------------------------------------
MODEL_NAMES = ("rnncell", "rnn", "embed-rnn", "lstm", "gru")


class CharRNNCell(nn.Module):
    """(1) One-hot input, an ``RNNCell`` stepped by hand; hidden size = number of classes,
    so each step's state is read directly as the logits. Trained with a per-step loss."""

    per_step_loss = True

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.spec = {"name": "rnncell", "vocab_size": vocab_size}
        self.vocab_size = vocab_size
        self.cell = RNNCell(vocab_size, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        """``(T, B)`` indices → ``(T, B, V)`` logits."""
        inputs = one_hot(x, self.vocab_size).to(self.cell.weight_ih.dtype)  # (T, B, V)
        h = inputs.new_zeros(x.shape[1], self.vocab_size)  # (B, V)
        outputs = []
        for x_t in inputs:  # x_t: (B, V)
            h = self.cell(x_t, h)
            outputs.append(h)
        return torch.stack(outputs)  # (T, B, V)


class CharRNN(nn.Module):
    """(2) One-hot input, ``RNN(V, V)``: the loop of (1) done by the module."""

    per_step_loss = False

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.spec = {"name": "rnn", "vocab_size": vocab_size}
        self.vocab_size = vocab_size
        self.rnn = RNN(vocab_size, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(one_hot(x, self.vocab_size).to(self.rnn.weight_ih_l0.dtype))
        return out  # (T, B, V)


class EmbedRecurrent(nn.Module):
    """(3–5) ``Embedding(V, E)`` → ``RNN``/``LSTM``/``GRU(E, H)`` → ``Linear(H, V)``.

    The embedding turns each index into a dense, learned ``E``-vector (no one-hot), and the
    linear head maps the ``H``-wide state to ``V`` logits, so ``H`` is free of ``V``.
    """

    per_step_loss = False
    KINDS: ClassVar[dict[str, type[nn.Module]]] = {"embed-rnn": RNN, "lstm": LSTM, "gru": GRU}

    def __init__(self, kind: str, vocab_size: int, hidden_size: int = 8, embedding_dim: int = 10) -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"kind must be one of {sorted(self.KINDS)}, got {kind!r}")
        self.spec = {"name": kind, "vocab_size": vocab_size, "hidden_size": hidden_size, "embedding_dim": embedding_dim}
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.rnn = self.KINDS[kind](embedding_dim, hidden_size)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: Tensor) -> Tensor:
        out, _ = self.rnn(self.embedding(x))  # (T, B, E) -> (T, B, H)
        return self.head(out)  # (T, B, V)


def build_model(
    name: str, vocab_size: int, hidden_size: int | None = None, embedding_dim: int | None = None
) -> nn.Module:
    """One of :data:`MODEL_NAMES`. ``hidden_size``/``embedding_dim`` apply to the embedding
    models (defaults 8 and 10); the one-hot models' hidden size is the vocabulary size."""
    if name in ("rnncell", "rnn"):
        if hidden_size not in (None, vocab_size):
            raise ValueError(
                f"model {name!r} reads its state as the logits, so hidden_size must equal the "
                f"vocabulary size ({vocab_size}), got {hidden_size}; use 'embed-rnn' for another size"
            )
        return CharRNNCell(vocab_size) if name == "rnncell" else CharRNN(vocab_size)
    if name in EmbedRecurrent.KINDS:
        return EmbedRecurrent(name, vocab_size, hidden_size or 8, embedding_dim or 10)
    raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")


# -- config, history, training ----------------------------------------------------------------
@dataclass
class TrainConfig:
    """Settings of :func:`fit`.

    Attributes:
        epochs: maximum number of passes over the data.
        lr: learning rate.
        optimizer: ``'adam'`` or ``'sgd'``.
        clip: max gradient norm (``torch.nn.utils.clip_grad_norm_``), or None.
        early_stop: stop after the first epoch on which every character is right.
        batch_size: pairs per batch (None: each length group in one batch).
        progress: show a ``tqdm.auto`` progress bar.
        restore_best: at the end, put back the weights of the best epoch
            (:attr:`History.best_epoch`: highest accuracy, then lowest loss), as Keras's
            ``restore_best_weights``: a run that reached 100 % and then drifted (the one-hot
            models under Adam do) ends right. Off by default, so the loop shows what training does;
            the command line turns it on.
    """

    epochs: int = 200
    lr: float = 0.1
    optimizer: str = "adam"
    clip: float | None = None
    early_stop: bool = True
    batch_size: int | None = None
    progress: bool = True
    restore_best: bool = False

    def __post_init__(self) -> None:
        positive_ints(epochs=self.epochs)
        if self.batch_size is not None:
            positive_ints(batch_size=self.batch_size)
        positive_number("lr", self.lr)
        positive_number("clip", self.clip, optional=True)
        one_of("optimizer", self.optimizer, ("adam", "sgd"))


@dataclass
class History(Record):
    """Per-epoch records of a :func:`fit` run."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    prediction: list[list[str]] = field(default_factory=list)

    @property
    def epochs(self) -> int:
        return len(self.loss)

    @property
    def epochs_to_100(self) -> int | None:
        """First epoch (1-based) with every character right, or None."""
        return next((k + 1 for k, a in enumerate(self.accuracy) if a == 1.0), None)

    @property
    def best_epoch(self) -> int | None:
        """The epoch (1-based) with the highest accuracy, the lowest loss among those (the first on a
        tie): the one ``restore_best`` keeps. None before any epoch."""
        if not self.loss:
            return None
        return 1 + min(range(self.epochs), key=lambda k: (-self.accuracy[k], self.loss[k], k))


def _make_optimizer(name: str, params, lr: float) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    raise ValueError(f"optimizer must be 'adam' or 'sgd', got {name!r}")


def fit(
    model: nn.Module,
    data: PairDataset,
    config: TrainConfig | None = None,
    *,
    on_epoch: Callback | None = None,
    **overrides,
) -> History:
    """Train ``model`` on ``data`` and return its :class:`History`.

    Args:
        model: maps ``(T, B)`` indices to ``(T, B, V)`` logits; a ``per_step_loss = True``
            attribute selects the per-step loss (see :func:`~rnnlab.loop.sequence_loss`).
        data: the string pairs (and their vocabulary).
        config: a :class:`TrainConfig`; keyword ``overrides`` replace its fields.
        on_epoch: called as ``on_epoch(epoch, history)`` after each epoch (1-based).
    """
    cfg = configured(TrainConfig, config, overrides)
    opt = _make_optimizer(cfg.optimizer, model.parameters(), cfg.lr)
    per_step = getattr(model, "per_step_loss", False)
    device = device_of(model)
    batches = [(x.to(device), y.to(device)) for x, y in data.batches(cfg.batch_size)]
    n_chars = sum(y.numel() for _, y in batches)
    history = History()

    from tqdm.auto import tqdm

    # refresh=False postfixes and mininterval: at most one redraw a second, even in a piped log
    bar = tqdm(
        range(1, cfg.epochs + 1), disable=not cfg.progress, desc=model.spec["name"], leave=False, mininterval=1.0
    )
    best = None  # restore_best: (epoch, weights) of the best epoch so far
    with stopping(history, "epoch", model) as where:
        for epoch in bar:
            where.count = epoch
            model.train()
            total = 0.0
            for x, y in batches:
                loss = sequence_loss(model(x), y, per_step)
                optimizer_step(model, opt, loss, cfg.clip)
                total += loss.item() * (y.shape[1] if per_step else y.numel())  # summed over chars
            preds = predict(model, data)
            correct = sum(p == t for (_, tgt), pred in zip(data.pairs, preds) for p, t in zip(pred, tgt))
            history.loss.append(total / n_chars)
            history.accuracy.append(correct / n_chars)
            history.prediction.append(preds)
            if cfg.restore_best and history.best_epoch == epoch:
                best = (epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
            bar.set_postfix(loss=f"{history.loss[-1]:.3f}", acc=f"{history.accuracy[-1]:.0%}", refresh=False)
            if on_epoch is not None:
                on_epoch(epoch, history)
            if cfg.early_stop and history.accuracy[-1] == 1.0:
                break
    bar.close()
    if best is not None and best[0] != history.epochs:
        model.load_state_dict(best[1])  # the best epoch's weights, not the last's
    return history


# -- reading a trained model --------------------------------------------------------------------
def predict(model: nn.Module, data: PairDataset | list[str], vocab: CharVocab | None = None) -> list[str]:
    """Decode the model's most likely character at every step, one string per source.

    Args:
        data: a :class:`PairDataset` (its sources and vocabulary) or a list of source strings.
        vocab: needed when ``data`` is a list of strings.
    """
    if isinstance(data, PairDataset):
        sources, vocab = [s for s, _ in data.pairs], data.vocab
    else:
        sources = list(data)
        if vocab is None:
            raise ValueError("predict needs the vocabulary when given plain strings")
    device = device_of(model)
    out = []
    with evaluating(model):
        for src in sources:
            logits = model(vocab.encode(src).unsqueeze(1).to(device))  # (T, 1, V)
            out.append(vocab.decode(logits.argmax(-1)[:, 0]))
    return out


@torch.no_grad()
def trace_gates(model: EmbedRecurrent, x: Tensor) -> dict[str, Tensor]:
    """Replay the first layer of an embedding model one step at a time and record its
    gate activations and hidden state, for heatmaps.

    Args:
        model: an ``lstm``, ``gru`` or ``embed-rnn`` :class:`EmbedRecurrent`.
        x: ``(T,)`` indices of one sequence.

    Returns:
        ``{name: (T, H)}``: ``i, f, g, o, c, h`` (LSTM), ``r, z, n, h`` (GRU) or ``h`` (RNN),
        each after its activation.
    """
    rnn = model.rnn
    emb = model.embedding(x.unsqueeze(1))  # (T, 1, E)
    cell_cls = {RNN: RNNCell, LSTM: LSTMCell, GRU: GRUCell}[type(rnn)]
    cell = cell_cls(rnn.input_size, rnn.hidden_size, dtype=emb.dtype, device=emb.device)
    cell.load_state_dict({k[: -len("_l0")]: v for k, v in rnn.state_dict().items() if k.endswith("_l0")})
    H = rnn.hidden_size
    trace: dict[str, list[Tensor]] = {}
    h = emb.new_zeros(1, H)
    c = emb.new_zeros(1, H)
    for x_t in emb:  # (1, E)
        gi = x_t @ cell.weight_ih.T + cell.bias_ih  # (1, G*H)
        gh = h @ cell.weight_hh.T + cell.bias_hh
        if isinstance(rnn, LSTM):
            i, f, g, o = (gi + gh).chunk(4, 1)
            gates = {"i": i.sigmoid(), "f": f.sigmoid(), "g": g.tanh(), "o": o.sigmoid()}
            h, c = cell(x_t, (h, c))
            gates |= {"c": c, "h": h}
        elif isinstance(rnn, GRU):
            (i_r, i_z, i_n), (h_r, h_z, h_n) = gi.chunk(3, 1), gh.chunk(3, 1)
            r = torch.sigmoid(i_r + h_r)
            gates = {"r": r, "z": torch.sigmoid(i_z + h_z), "n": torch.tanh(i_n + r * h_n)}
            h = cell(x_t, h)
            gates["h"] = h
        else:
            h = cell(x_t, h)
            gates = {"h": h}
        for name, v in gates.items():
            trace.setdefault(name, []).append(v[0])
    return {name: torch.stack(vs) for name, vs in trace.items()}  # (T, H) each
