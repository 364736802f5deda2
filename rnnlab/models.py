"""The five character models of the hello → ohlol lesson, built from rnnlab modules.

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

from typing import ClassVar

import torch
from torch import Tensor, nn

from rnnlab.cells import GRUCell, LSTMCell, RNNCell
from rnnlab.data import one_hot
from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.validation import IMPLS, one_of, positive_ints

__all__ = [
    "MODEL_NAMES",
    "CharRNNCell",
    "CharRNN",
    "EmbedRecurrent",
    "CharLM",
    "detach_state",
    "build_model",
    "model_from_spec",
    "trace_gates",
]

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


class CharLM(nn.Module):
    """A character language model: ``Embedding(V, E)`` → ``RNN``/``LSTM``/``GRU(E, H, L)``
    → ``Linear(H, V)``, predicting the next character at every step.

    Unlike the lesson models it takes and returns the recurrent state, so truncated backprop
    through time can carry it from one chunk of text to the next.

    Args:
        vocab_size: characters ``V``.
        kind: ``'lstm'``, ``'gru'`` or ``'rnn'``.
        embedding_dim, hidden_size, num_layers, dropout: sizes ``E``, ``H``, ``L`` and the
            dropout between layers (and before the head).
        nonlinearity: ``'tanh'`` or ``'relu'``, for ``kind='rnn'`` only.
        impl: ``'rnnlab'`` (from scratch) or ``'torch'`` (``torch.nn``'s fused module); the two
            have identical parameters, so a ``state_dict`` moves between them.

    Inputs: ``x`` ``(T, B)`` indices, ``state`` as the recurrent layer's ``hx`` (or None).
    Outputs: ``(logits, state)``: ``(T, B, V)`` and the final state.
    """

    KINDS = ("lstm", "gru", "rnn")

    def __init__(
        self,
        vocab_size: int,
        kind: str = "lstm",
        embedding_dim: int = 32,
        hidden_size: int = 128,
        num_layers: int = 1,
        dropout: float = 0.0,
        impl: str = "rnnlab",
        nonlinearity: str = "tanh",
    ) -> None:
        super().__init__()
        one_of("kind", kind, self.KINDS)
        one_of("impl", impl, IMPLS)
        positive_ints(
            vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers
        )
        self.spec = {
            "name": "charlm",
            "vocab_size": vocab_size,
            "kind": kind,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": float(dropout),
        }
        self.impl = impl
        classes = {
            "rnnlab": {"lstm": LSTM, "gru": GRU, "rnn": RNN},
            "torch": {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN},
        }[impl]
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        if kind != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity applies to kind='rnn' only, got kind={kind!r}")
        extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        if extra and nonlinearity != "tanh":
            self.spec["nonlinearity"] = nonlinearity
        self.rnn = classes[kind](
            embedding_dim, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0, **extra
        )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: Tensor, state=None):
        out, state = self.rnn(self.embedding(x), state)  # (T, B, H)
        return self.head(self.drop(out)), state  # (T, B, V)


def detach_state(state):
    """Cut the graph behind a carried state (a tensor or an ``(h, c)`` pair), keep its values."""
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.detach()
    return tuple(s.detach() for s in state)


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


def model_from_spec(spec: dict) -> nn.Module:
    """Rebuild a model (untrained) from its ``spec`` dict, as stored in a checkpoint."""
    spec = dict(spec)
    name = spec.pop("name")
    if name == "charlm":
        return CharLM(**spec)
    if name == "names":
        from rnnlab.classify import NameClassifier

        return NameClassifier(**spec)
    if name == "seq2seq":
        from rnnlab.seq2seq import Seq2Seq

        return Seq2Seq(**spec)
    return build_model(name, spec["vocab_size"], spec.get("hidden_size"), spec.get("embedding_dim"))


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
