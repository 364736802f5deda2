"""The second task: a character language model, trained with truncated backprop through time.

In the order every task file here follows: the data (real text that ships with Python, a fixed
split, and :func:`stream_batches` to read it as parallel streams), the model (:class:`CharLM`),
one training step (:func:`tbptt_step`), the measures (:func:`evaluate`, :func:`baselines`), the
config and history, the loop :func:`train_lm`, then :func:`sample` to generate.

A long text is cut into chunks; the model reads chunk after chunk, and the state it ends one
chunk with starts the next, *detached*: values flow on, gradients stop at the chunk boundary.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.layers import GRU, LSTM, RNN
from rnnlab.loop import (
    Callback,
    DataUnavailable,
    Record,
    check_finite,
    configured,
    detach_state,
    device_of,
    evaluating,
    optimizer_step,
    sequence_loss,
    stopping,
)
from rnnlab.minimal import MinGRU, MinLSTM
from rnnlab.validation import IMPLS, one_of, positive_ints, positive_number
from rnnlab.vocab import CharVocab

__all__ = [
    "zen_of_python",
    "python_docs_text",
    "read_text_file",
    "split_text",
    "repeated_lines",
    "stream_batches",
    "CharLM",
    "tbptt_step",
    "evaluate",
    "baselines",
    "LMConfig",
    "LMHistory",
    "train_lm",
    "sample",
    "sample_stream",
]


# -- data: real text that ships with every Python, no download ----------------------------------
def zen_of_python() -> str:
    """The Zen of Python (``import this``), 856 characters of English: a short real text.

    ``this`` stores it ROT13-encoded and prints it when first imported; this reads it silently.
    """
    import codecs
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


def python_docs_text() -> str:
    """The Python reference's help topics, ``pydoc_data.topics`` (about 465 k characters of
    English prose and code from the Python documentation, PSF licence), joined in a fixed
    order (sorted by topic name), so every run sees the same text.

    Raises:
        DataUnavailable: when the interpreter was built without ``pydoc_data`` (some minimal
            distributions strip it).
    """
    try:
        from pydoc_data.topics import topics
    except ImportError as e:
        raise DataUnavailable(
            "this Python has no pydoc_data.topics (the help topics of the standard library), "
            "so the course's text corpus is missing; use a full CPython install (python.org, "
            "conda, pyenv, or Debian's python3 with libpython3-stdlib)"
        ) from e
    return "\n\n".join(topics[k].strip() for k in sorted(topics))


MIN_TEXT_CHARS = 1_000  # 900 characters to train on, 100 to validate: less is not a language to model


def read_text_file(path: str | Path) -> str:
    """Your own text: any UTF-8 file (a leading byte-order mark is dropped, ``\\r\\n`` becomes ``\\n``).

    Raises:
        ValueError: one line saying why, when the file cannot be read, is empty, is binary (a NUL byte, or
            bytes that are not UTF-8) or holds fewer than ``MIN_TEXT_CHARS`` characters (the caller, who
            knows the path, names it).
    """
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read it ({e.strerror or e})") from None
    if not data.strip():
        raise ValueError("it is empty: there is no text to learn from")
    nul = data.find(b"\0")
    if nul >= 0:
        raise ValueError(f"it is binary, not text (a NUL byte at offset {nul:,})")
    try:
        text = data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"it is not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start:,}); "
            "convert it first, e.g. iconv -f GB18030 -t UTF-8"
        ) from None
    if len(text) < MIN_TEXT_CHARS:
        raise ValueError(
            f"it is too short: {len(text):,} characters, at least {MIN_TEXT_CHARS:,} are needed "
            "(nine tenths to train on, one tenth to validate)"
        )
    return text


def split_text(
    text: str, val_fraction: float = 0.1, drop_repeated: int | None = 40, min_val: int = 2
) -> tuple[str, str]:
    """A fixed train/validation split: the last ``val_fraction`` of the text is validation.

    The validation part is one piece of the text, never shuffled. A text can still repeat itself
    (``pydoc_data.topics`` repeats whole paragraphs between topics), so validation lines of at
    least ``drop_repeated`` characters that also stand as a line of the training part are removed
    from validation: a model that memorised them would look better than it is. ``None`` keeps the
    validation part whole. :func:`repeated_lines` measures the overlap. A validation part left with fewer
    than ``min_val`` characters is refused (ValueError): there would be nothing to measure on.
    """
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    cut = int(len(text) * (1 - val_fraction))
    if cut < 2 or len(text) - cut < 2:
        raise ValueError(f"text of {len(text)} characters is too short to split at {val_fraction}")
    train, val = text[:cut], text[cut:]
    if drop_repeated is not None:
        seen = set(repeated_lines(train, val, drop_repeated))
        val = "\n".join(line for line in val.split("\n") if line not in seen)
    if len(val) < min_val:
        raise ValueError(
            f"its last {val_fraction:.0%} repeats lines of the rest word for word, leaving {len(val):,} characters "
            f"to validate on (at least {min_val} are needed)"
        )
    return train, val


def repeated_lines(train: str, val: str, min_len: int = 40) -> list[str]:
    """The lines of ``val`` with at least ``min_len`` characters that also stand as a line of ``train``."""
    if min_len < 1:
        raise ValueError(f"min_len must be >= 1, got {min_len}")
    train_lines = set(train.split("\n"))
    return [line for line in val.split("\n") if len(line) >= min_len and line in train_lines]


def stream_batches(ids: Tensor, batch_size: int, seq_len: int) -> list[tuple[Tensor, Tensor]]:
    """Cut one long index sequence into chunks for truncated backprop through time.

    The stream is split into ``batch_size`` contiguous rows, and the rows are read ``seq_len``
    steps at a time, so row ``b`` of chunk ``k + 1`` continues row ``b`` of chunk ``k``: the
    hidden state can be carried (detached) from one chunk to the next. Targets are the inputs
    shifted by one character. The last chunk may be shorter in time; the batch never shrinks.

    Args:
        ids: ``(N,)`` int64 indices of the whole text.
        batch_size: rows ``B``.
        seq_len: steps ``T`` per chunk.

    Returns:
        A list of ``(x, y)``, each ``(T, B)`` time-major.
    """
    if ids.dim() != 1:
        raise ValueError(f"ids must be 1-D (N,), got shape {tuple(ids.shape)}")
    if batch_size < 1 or seq_len < 1:
        raise ValueError(f"batch_size and seq_len must be >= 1, got {batch_size} and {seq_len}")
    row_len = (len(ids) - 1) // batch_size  # each row needs one extra character for its target
    if row_len < 1:
        raise ValueError(
            f"{len(ids):,} characters cannot fill batch_size={batch_size} rows of at least 2; "
            f"use a batch_size of at most {max(1, len(ids) - 1)}"
        )
    x = ids[: row_len * batch_size].view(batch_size, row_len).T  # (N/B, B)
    y = ids[1 : row_len * batch_size + 1].view(batch_size, row_len).T
    return [(x[t : t + seq_len], y[t : t + seq_len]) for t in range(0, row_len, seq_len)]


# -- the model --------------------------------------------------------------------------------
class CharLM(nn.Module):
    """A character language model: ``Embedding(V, E)`` → ``RNN``/``LSTM``/``GRU(E, H, L)``
    → ``Linear(H, V)``, predicting the next character at every step.

    Unlike the lesson models it takes and returns the recurrent state, so truncated backprop
    through time can carry it from one chunk of text to the next.

    Args:
        vocab_size: characters ``V``.
        kind: ``'lstm'``, ``'gru'`` or ``'rnn'``; or ``'mingru'`` / ``'minlstm'`` (notebook 13: gates that
            read only the input, every step of a chunk computed at once by a scan; ``impl='rnnlab'`` only,
            as torch.nn has no such layer, and no dropout between their layers).
        embedding_dim, hidden_size, num_layers, dropout: sizes ``E``, ``H``, ``L`` and the
            dropout between layers (and before the head).
        nonlinearity: ``'tanh'`` or ``'relu'``, for ``kind='rnn'`` only.
        impl: ``'rnnlab'`` (from scratch) or ``'torch'`` (``torch.nn``'s fused module); the two
            have identical parameters, so a ``state_dict`` moves between them.

    Inputs: ``x`` ``(T, B)`` indices, ``state`` as the recurrent layer's ``hx`` (or None).
    Outputs: ``(logits, state)``: ``(T, B, V)`` and the final state.
    """

    KINDS = ("lstm", "gru", "rnn", "mingru", "minlstm")
    PARALLEL_KINDS = ("mingru", "minlstm")

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
            "rnnlab": {"lstm": LSTM, "gru": GRU, "rnn": RNN, "mingru": MinGRU, "minlstm": MinLSTM},
            "torch": {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN},
        }[impl]
        if kind not in classes:
            raise ValueError(f"kind={kind!r} exists in rnnlab only (torch.nn has no such layer); use impl='rnnlab'")
        parallel = kind in self.PARALLEL_KINDS
        if parallel and dropout and num_layers > 1:
            raise ValueError(f"kind={kind!r} has no dropout between layers; got dropout={dropout}")
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        if kind != "rnn" and nonlinearity != "tanh":
            raise ValueError(f"nonlinearity applies to kind='rnn' only, got kind={kind!r}")
        extra = {"nonlinearity": nonlinearity} if kind == "rnn" else {}
        if extra and nonlinearity != "tanh":
            self.spec["nonlinearity"] = nonlinearity
        if parallel:
            self.rnn = classes[kind](embedding_dim, hidden_size, num_layers)
        else:
            self.rnn = classes[kind](
                embedding_dim, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0, **extra
            )
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, x: Tensor, state=None):
        out, state = self.rnn(self.embedding(x), state)  # (T, B, H)
        return self.head(self.drop(out)), state  # (T, B, V)


# -- one step, and the measures ---------------------------------------------------------------
def tbptt_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, state=None, clip: float | None = None
):
    """One step of truncated BPTT: forward a chunk from the carried state, backward, clip, step.

    Args:
        model: maps ``(x, state)`` to ``(logits, state)`` (e.g. :class:`CharLM`).
        optimizer: over ``model``'s parameters.
        x, y: ``(T, B)`` input and next-character indices of one chunk.
        state: the previous chunk's final state (detached here), or None for zeros.
        clip: max total gradient norm (``clip_grad_norm_``), or None.

    Returns:
        ``(loss, state)``: the chunk's mean loss (a float) and its final state, detached.
    """
    logits, state = model(x, detach_state(state))  # graph starts at this chunk
    loss = sequence_loss(logits, y)  # mean cross-entropy per character
    optimizer_step(model, optimizer, loss, clip)  # zero_grad, backward, clip, step
    return loss.item(), detach_state(state)


# -- measuring: bits per character, and the baselines to beat ---------------------------------
LN2 = math.log(2.0)


def evaluate(model: nn.Module, ids: Tensor, batch_size: int = 64, seq_len: int = 128) -> float:
    """Mean next-character loss of ``model`` on ``ids``, in **bits per character**.

    The text is read in order as :func:`stream_batches` chunks with the state
    carried, as in training; nats are divided by ln 2. Perplexity is ``2 ** bits``.
    """
    device = device_of(model)
    batch_size = max(1, min(batch_size, (len(ids) - 1) // 2))
    total, count, state = 0.0, 0, None
    with evaluating(model):
        for x, y in stream_batches(ids, batch_size, seq_len):
            logits, state = model(x.to(device), state)
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1), reduction="sum"
            ).item()
            count += y.numel()
    return total / count / LN2


def baselines(train_ids: Tensor, val_ids: Tensor, vocab_size: int) -> dict[str, float]:
    """Validation bits per character of three models that need no training loop.

    * ``uniform``: every character equally likely, ``log2 V``;
    * ``unigram``: each character's frequency in the training text (add-one smoothed);
    * ``bigram``: the frequency of each character *after* the previous one (add-one smoothed).

    A recurrent model is worth its training only once it beats the bigram model.
    """
    V = vocab_size
    uni = torch.bincount(train_ids, minlength=V).double() + 1
    logp_uni = (uni / uni.sum()).log()
    # Only the pairs that occur are counted (a V x V table would take 400 MB for V = 7,000 characters).
    prev = train_ids[:-1]
    seen, counts = torch.unique(prev * V + train_ids[1:], return_counts=True)  # sorted pair codes
    asked = val_ids[:-1] * V + val_ids[1:]
    at = torch.searchsorted(seen, asked).clamp(max=len(seen) - 1)
    count = torch.where(seen[at] == asked, counts[at], 0).double()
    rows = torch.bincount(prev, minlength=V).double()
    logp_bi = ((count + 1) / (rows[val_ids[:-1]] + V)).log()  # add-one: each of the V next characters
    return {
        "uniform": math.log2(V),
        "unigram": -logp_uni[val_ids].mean().item() / LN2,
        "bigram": -logp_bi.mean().item() / LN2,
    }


# -- training ---------------------------------------------------------------------------------
@dataclass
class LMConfig:
    """Settings of :func:`train_lm`.

    Attributes:
        epochs: passes over the training text.
        max_steps: train exactly this many optimizer steps, however many passes that takes
            (None: ``epochs`` passes).
        batch_size: parallel streams ``B`` of :func:`stream_batches`.
        seq_len: steps ``T`` per chunk (how far back each backward reaches).
        lr: Adam's learning rate.
        clip: max gradient norm, or None.
        eval_every: evaluate on the validation text every this many steps (0: once per epoch).
        progress: show a ``tqdm.auto`` bar.
    """

    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 256
    seq_len: int = 32
    lr: float = 3e-3
    clip: float | None = 1.0
    eval_every: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        positive_ints(epochs=self.epochs, batch_size=self.batch_size, seq_len=self.seq_len)
        if self.max_steps is not None:
            positive_ints(max_steps=self.max_steps)
        positive_number("lr", self.lr)
        positive_number("clip", self.clip, optional=True)
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")


@dataclass
class LMHistory(Record):
    """What :func:`train_lm` measured: at each evaluation, the step, the characters seen, the mean
    training loss since the previous evaluation and the validation loss (bits/char). A seed gives the
    same history again (wall-clock times go to ``train_lm``'s ``timings`` instead)."""

    step: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    train_bpc: list[float] = field(default_factory=list)
    val_bpc: list[float] = field(default_factory=list)


def train_lm(
    model: nn.Module,
    train_ids: Tensor,
    val_ids: Tensor,
    config: LMConfig | None = None,
    *,
    on_eval: Callback | None = None,
    timings: list[float] | None = None,
    **overrides,
) -> LMHistory:
    """Train a character LM with truncated BPTT (Adam, clipping) and return its history.

    Args:
        model: maps ``(x, state)`` to ``(logits, state)``, e.g. :class:`CharLM`.
        train_ids, val_ids: ``(N,)`` indices of the training and validation text.
        config: an :class:`LMConfig`; keyword ``overrides`` replace its fields.
        on_eval: called as ``on_eval(step, history)`` after each evaluation (1-based steps).
        timings: a list that receives, at each evaluation, the training seconds so far (optimizer steps
            only: evaluations are not counted), for comparisons at equal wall-clock time (notebook 13).
    """
    cfg = configured(LMConfig, config, overrides)
    device = device_of(model)
    chunks = [(x.to(device), y.to(device)) for x, y in stream_batches(train_ids, cfg.batch_size, cfg.seq_len)]
    total_steps = cfg.epochs * len(chunks) if cfg.max_steps is None else cfg.max_steps
    eval_every = cfg.eval_every or len(chunks)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = LMHistory()

    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, disable=not cfg.progress, desc="train", unit="step", leave=False, mininterval=1.0)
    step = chars = 0
    since, since_chars = 0.0, 0
    seconds, started = 0.0, time.perf_counter()
    model.train()
    with stopping(history, "step", model) as where:
        while step < total_steps:
            state = None  # each pass over the text starts from zeros
            for x, y in chunks:
                where.count = step + 1
                loss, state = tbptt_step(model, opt, x, y, state, cfg.clip)
                step, chars = step + 1, chars + y.numel()
                since, since_chars = since + loss * y.numel(), since_chars + y.numel()
                bar.update(1)
                if step % eval_every == 0 or step == total_steps:
                    if device.type == "cuda":
                        torch.cuda.synchronize(device)
                    seconds += time.perf_counter() - started
                    if timings is not None:
                        timings.append(round(seconds, 3))
                    history.step.append(step)
                    history.chars.append(chars)
                    history.train_bpc.append(since / since_chars / LN2)
                    history.val_bpc.append(evaluate(model, val_ids))
                    check_finite(history.val_bpc[-1], "the validation loss")
                    since, since_chars = 0.0, 0
                    bar.set_postfix(val_bpc=f"{history.val_bpc[-1]:.3f}", refresh=False)
                    if on_eval is not None:
                        on_eval(step, history)
                    started = time.perf_counter()
                if step >= total_steps:
                    break
    bar.close()
    return history


# -- generating ---------------------------------------------------------------------------------
def sample(
    model: nn.Module,
    vocab: CharVocab,
    prompt: str,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from the model.

    The prompt is read in one forward; then each step draws the next character from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given,
    and feeds it back. Low temperature: safer, more repetitive; high: more varied, more errors.
    Any positive temperature works: the logits are shifted by their maximum before the division
    (the same softmax), so even ``1e-45`` does not overflow; it just picks the likeliest.

    Args:
        generator: a seeded CPU ``torch.Generator`` for repeatable samples. The draws are made on the
            CPU whatever the model's device, so a seed gives the same sample on a GPU as on a CPU
            (a CUDA generator would draw other numbers).

    Returns:
        The prompt followed by the sampled characters.
    """
    return prompt + "".join(sample_stream(model, vocab, prompt, length, temperature, top_k, generator))


def sample_stream(
    model: nn.Module,
    vocab: CharVocab,
    prompt: str,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[str]:
    """:func:`sample`'s characters one at a time, as they are drawn (what ``lm sample`` prints)."""
    if not prompt:
        raise ValueError("the prompt must hold at least one character")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    if top_k is not None and not 1 <= top_k <= len(vocab):
        raise ValueError(f"top_k must be in [1, {len(vocab)}], got {top_k}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    x = vocab.encode(prompt).to(device_of(model)).unsqueeze(1)  # (T, 1)
    with evaluating(model):
        logits, state = model(x)
        for _ in range(length):
            last = logits[-1, 0].double()  # (V,)
            last = (last - last.max()) / temperature  # <= 0: no overflow at any temperature
            if top_k is not None:
                kth = last.topk(top_k).values[-1]
                last = last.masked_fill(last < kth, -math.inf)
            probs = torch.softmax(last, -1).cpu()  # (V,): drawn on the CPU, see `generator`
            if not bool(probs.isfinite().all()):
                raise ValueError("the model's logits are not finite: its weights are broken (a diverged run?)")
            k = int(torch.multinomial(probs, 1, generator=generator))
            yield vocab.decode([k])
            logits, state = model(torch.tensor([[k]], device=x.device), state)
