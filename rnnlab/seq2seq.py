"""The fourth task: an encoder–decoder, reading one sequence and writing another of a different length.

In the order every task file here follows: the data (dates written in six styles → ISO dates,
and random strings → their reversal, both generated), the model, the batches and loss, greedy
decoding and its measures, the config and history, then the loop :func:`train_seq2seq`.

The encoder (``Embedding`` → ``GRU`` over the packed source) squeezes the whole input into its
final state ``h``. The decoder is a ``GRUCell`` stepped by hand: it starts from ``h`` and the
start symbol, and at every step reads the previous output character, updates its state and
scores the next character with a ``Linear`` layer, until it writes the end symbol.

During training the previous character fed to the decoder is the *true* one (teacher forcing)
with probability ``teacher_forcing``, otherwise the decoder's own best guess (free running);
at test time it is always its own guess (:func:`greedy_decode`).
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

from rnnlab.cells import GRUCell
from rnnlab.layers import GRU
from rnnlab.loop import Callback, Record, configured, device_of, evaluating, optimizer_step, stopping
from rnnlab.validation import IMPLS, one_of, positive_ints, positive_number
from rnnlab.vocab import END, PAD, START, CharVocab, pad_batch

__all__ = [
    "date_pairs",
    "reversal_pairs",
    "Seq2Seq",
    "make_batch",
    "token_loss",
    "greedy_decode",
    "translate",
    "exact_match",
    "exact_match_by_length",
    "char_accuracy",
    "Seq2SeqConfig",
    "Seq2SeqHistory",
    "train_seq2seq",
]


# -- data: generated pairs ---------------------------------------------------------------------
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _write_date(d, style: int) -> str:
    m = _MONTHS[d.month - 1]
    return [
        f"{d.day} {m} {d.year}",  # 3 March 2021
        f"{m} {d.day}, {d.year}",  # March 3, 2021
        f"{d.day} {m[:3]} {d.year}",  # 3 Mar 2021
        f"{m[:3]} {d.day} {d.year}",  # Mar 3 2021
        f"{d.day:02d}.{d.month:02d}.{d.year}",  # 03.03.2021
        f"{_WEEKDAYS[d.weekday()]}, {d.day} {m} {d.year}",  # Wednesday, 3 March 2021
    ][style]


def date_pairs(n: int, seed: int = 0, held_out: bool = False) -> list[tuple[str, str]]:
    """Written dates and their ISO form: ``("March 3, 2021", "2021-03-03")``.

    Dates are drawn uniformly from 1950-01-01 to 2049-12-31 and written in one of six styles
    (30 % in lower case). The dates split by day: ``held_out=True`` draws only days whose
    ordinal is a multiple of 5 and ``False`` only the others, so a held-out date was never
    seen in training in any style.
    """
    rng = random.Random(seed)
    lo, hi = datetime.date(1950, 1, 1).toordinal(), datetime.date(2049, 12, 31).toordinal()
    pairs = []
    while len(pairs) < n:
        day = rng.randint(lo, hi)
        if (day % 5 == 0) != held_out:
            continue
        d = datetime.date.fromordinal(day)
        text = _write_date(d, rng.randrange(6))
        pairs.append((text.lower() if rng.random() < 0.3 else text, d.isoformat()))
    return pairs


def reversal_pairs(n: int, min_len: int, max_len: int, seed: int = 0) -> list[tuple[str, str]]:
    """Random lower-case strings and their reversal, lengths uniform in ``[min_len, max_len]``:
    ``("kfqz", "zqfk")``."""
    if not 1 <= min_len <= max_len:
        raise ValueError(f"need 1 <= min_len <= max_len, got {min_len} and {max_len}")
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    for _ in range(n):
        s = "".join(rng.choice(letters) for _ in range(rng.randint(min_len, max_len)))
        out.append((s, s[::-1]))
    return out


# -- the model -------------------------------------------------------------------------------
class Seq2Seq(nn.Module):
    """A GRU encoder and a ``GRUCell`` decoder sharing one character vocabulary.

    Args:
        vocab_size: characters, with ``PAD``, ``START``, ``END`` at indices 0, 1, 2.
        embedding_dim, hidden_size: ``E`` and ``H`` of both halves.
        impl: ``"rnnlab"`` (:class:`rnnlab.GRU`, :class:`rnnlab.GRUCell`) or ``"torch"``.
    """

    def __init__(self, vocab_size: int, embedding_dim: int = 16, hidden_size: int = 128, impl: str = "rnnlab") -> None:
        super().__init__()
        one_of("impl", impl, IMPLS)
        positive_ints(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size)
        if vocab_size < 4:
            raise ValueError(f"vocab_size must count PAD, START, END and at least one character, got {vocab_size}")
        self.spec = {
            "name": "seq2seq",
            "vocab_size": vocab_size,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "impl": impl,
        }
        self.pad, self.start, self.end = 0, 1, 2
        gru, cell = (GRU, GRUCell) if impl == "rnnlab" else (nn.GRU, nn.GRUCell)
        self.src_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.encoder = gru(embedding_dim, hidden_size)
        self.tgt_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.decoder = cell(embedding_dim, hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)

    def encode(self, src: Tensor, lengths: Tensor) -> Tensor:
        """``(S, B)`` padded source and ``(B,)`` CPU lengths → the encoder's final state ``(B, H)``."""
        packed = pack_padded_sequence(self.src_embedding(src), lengths, enforce_sorted=False)
        _, h_n = self.encoder(packed)  # (1, B, H), each sequence's state after its last character
        return h_n[0]

    def decode_step(self, y_prev: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One decoder step: previous characters ``(B,)`` and state ``(B, H)`` → logits ``(B, V)``
        of the next character, and the new state."""
        h = self.decoder(self.tgt_embedding(y_prev), h)  # (B, H)
        return self.out(h), h

    def forward(
        self,
        src: Tensor,
        lengths: Tensor,
        tgt_in: Tensor,
        teacher_forcing: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Training pass: logits ``(T, B, V)`` for the targets.

        Args:
            tgt_in: ``(T, B)`` decoder inputs: ``START`` then the target (see :func:`make_batch`).
            teacher_forcing: probability, per step, of feeding the true previous character;
                otherwise the decoder's own argmax (detached) is fed. 1 = teacher forcing, 0 =
                free running. Step 0 always reads ``START``.
            generator: draws the per-step coin flips when ``0 < teacher_forcing < 1``.
        """
        if not 0 <= teacher_forcing <= 1:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {teacher_forcing}")
        h = self.encode(src, lengths)  # (B, H)
        y_prev = tgt_in[0]  # (B,) START
        logits = []
        for t in range(tgt_in.shape[0]):
            step_logits, h = self.decode_step(y_prev, h)  # (B, V)
            logits.append(step_logits)
            if t + 1 < tgt_in.shape[0]:
                forced = teacher_forcing == 1 or (
                    teacher_forcing > 0 and torch.rand((), generator=generator).item() < teacher_forcing
                )
                y_prev = tgt_in[t + 1] if forced else step_logits.argmax(-1).detach()
        return torch.stack(logits)  # (T, B, V)


def make_batch(pairs: Sequence[tuple[str, str]], vocab: CharVocab) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(source, target)`` strings → tensors for :class:`Seq2Seq`, all time-major.

    Returns:
        ``src`` ``(S, B)`` padded with ``PAD``; ``lengths`` ``(B,)`` on the CPU; ``tgt_in``
        ``(T, B)`` = ``START`` + target; ``tgt_out`` ``(T, B)`` = target + ``END``; both padded
        with ``PAD`` (so the loss can skip the padding), ``T = 1 + longest target``.
    """
    pad, start, end = vocab.index(PAD), vocab.index(START), vocab.index(END)
    src, lengths = pad_batch([vocab.encode(s) for s, _ in pairs], pad)
    tgts = [vocab.encode(t) for _, t in pairs]
    tgt_in, _ = pad_batch([torch.cat([torch.tensor([start]), t]) for t in tgts], pad)
    tgt_out, _ = pad_batch([torch.cat([t, torch.tensor([end])]) for t in tgts], pad)
    return src, lengths, tgt_in, tgt_out


def token_loss(logits: Tensor, tgt_out: Tensor, pad_index: int = 0) -> Tensor:
    """Mean cross-entropy over the real target characters (and ``END``), skipping padding.

    Args:
        logits: ``(T, B, V)``; tgt_out: ``(T, B)``, ``pad_index`` where there is no target.
    """
    if logits.shape[:2] != tgt_out.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets {tuple(tgt_out.shape)} in (T, B)")
    return F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=pad_index)


def greedy_decode(model: Seq2Seq, src: Tensor, lengths: Tensor, max_len: int) -> list[list[int]]:
    """Free-running decoding: feed back the most likely character until ``END``.

    Returns:
        one list of character indices per sequence, without ``START`` and ``END``; a sequence
        that never writes ``END`` stops after ``max_len`` characters.
    """
    steps = []
    with evaluating(model):
        h = model.encode(src, lengths)
        y = torch.full((src.shape[1],), model.start, dtype=torch.long, device=src.device)  # (B,)
        for _ in range(max_len + 1):  # + 1: room for END after max_len characters
            logits, h = model.decode_step(y, h)
            y = logits.argmax(-1)  # (B,)
            steps.append(y)
    out = []
    for row in torch.stack(steps, 1).tolist():  # (B, max_len + 1)
        out.append(row[: row.index(model.end)] if model.end in row else row[:max_len])
    return out


def translate(
    model: Seq2Seq, sources: Sequence[str], vocab: CharVocab, max_len: int = 32, batch_size: int = 512
) -> list[str]:
    """Greedy outputs for source strings (unknown characters raise a ValueError naming them)."""
    device = device_of(model)
    out = []
    for i in range(0, len(sources), batch_size):
        src, lengths = pad_batch([vocab.encode(s) for s in sources[i : i + batch_size]], vocab.index(PAD))
        out += [vocab.decode(ids) for ids in greedy_decode(model, src.to(device), lengths, max_len)]
    return out


def exact_match(model: Seq2Seq, pairs: Sequence[tuple[str, str]], vocab: CharVocab) -> float:
    """Fraction of pairs whose greedy output equals the target exactly."""
    return sum(_exact_hits(model, pairs, vocab)) / len(pairs)


def exact_match_by_length(model: Seq2Seq, pairs: Sequence[tuple[str, str]], vocab: CharVocab) -> dict[int, float]:
    """Exact match of the greedy outputs for each source length: ``{length: fraction}``, lengths ascending."""
    return _by_length(pairs, _exact_hits(model, pairs, vocab))


def _by_length(pairs: Sequence[tuple[str, str]], hits: Sequence[bool]) -> dict[int, float]:
    by_len: dict[int, list[bool]] = {}
    for (s, _), hit in zip(pairs, hits):
        by_len.setdefault(len(s), []).append(hit)
    return {n: sum(v) / len(v) for n, v in sorted(by_len.items())}


def _exact_hits(model: Seq2Seq, pairs: Sequence[tuple[str, str]], vocab: CharVocab) -> list[bool]:
    max_len = max(len(t) for _, t in pairs) + 2
    got = translate(model, [s for s, _ in pairs], vocab, max_len=max_len)
    return [g == t for g, (_, t) in zip(got, pairs)]


def char_accuracy(
    model: Seq2Seq, pairs: Sequence[tuple[str, str]], vocab: CharVocab, teacher_forcing: float, batch_size: int = 512
) -> float:
    """Fraction of target characters (``END`` included) predicted right, each step reading the true
    previous character (``teacher_forcing=1``) or the decoder's own previous output (``0``).

    The gap between the two is *exposure bias*: what reading its own outputs, never seen in
    training under teacher forcing, costs the model.
    """
    if teacher_forcing not in (0, 1):
        raise ValueError(f"teacher_forcing must be 0 or 1 here (a mix would need coin flips), got {teacher_forcing}")
    device, pad = device_of(model), vocab.index(PAD)
    right = total = 0
    with evaluating(model):
        for i in range(0, len(pairs), batch_size):
            src, lengths, tgt_in, tgt_out = make_batch(pairs[i : i + batch_size], vocab)
            tgt_out = tgt_out.to(device)
            pred = model(src.to(device), lengths, tgt_in.to(device), teacher_forcing=teacher_forcing).argmax(-1)
            real = tgt_out != pad  # (T, B)
            right += (pred == tgt_out)[real].sum().item()
            total += real.sum().item()
    return right / total


@dataclass
class Seq2SeqConfig:
    """Settings of :func:`train_seq2seq`."""

    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-2
    teacher_forcing: float = 1.0  # 1 = teacher forcing, 0 = free running, between: mixed
    clip: float | None = 1.0
    seed: int = 0  # batch order and teacher-forcing coin flips
    eval_every: int = 100  # exact match on the validation pairs every this many steps
    progress: bool = True  # a tqdm.auto bar

    def __post_init__(self) -> None:
        positive_ints(steps=self.steps, batch_size=self.batch_size, eval_every=self.eval_every)
        positive_number("lr", self.lr)
        positive_number("clip", self.clip, optional=True)
        if not 0 <= self.teacher_forcing <= 1:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing}")


@dataclass
class Seq2SeqHistory(Record):
    """Training loss per step; at ``eval_steps`` (1-based), the validation exact match and the
    per-character accuracy reading the true (``val_char_forced``) or the model's own
    (``val_char_free``) previous characters; after the last step, exact match per source length
    (``final_lengths``, ``final_exact_by_length``)."""

    loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_exact: list[float] = field(default_factory=list)
    val_char_forced: list[float] = field(default_factory=list)
    val_char_free: list[float] = field(default_factory=list)
    final_lengths: list[int] = field(default_factory=list)
    final_exact_by_length: list[float] = field(default_factory=list)


def train_seq2seq(
    model: Seq2Seq,
    train: Sequence[tuple[str, str]],
    val: Sequence[tuple[str, str]],
    vocab: CharVocab,
    config: Seq2SeqConfig | None = None,
    *,
    on_eval: Callback | None = None,
    **overrides,
) -> Seq2SeqHistory:
    """Adam on :func:`token_loss`, ``config.steps`` batches drawn in a seeded order.

    Args:
        config: a :class:`Seq2SeqConfig`; keyword ``overrides`` replace its fields.
        on_eval: called as ``on_eval(step, history)`` after each evaluation (1-based steps).

    Returns:
        the :class:`Seq2SeqHistory`.
    """
    from tqdm.auto import tqdm

    config = configured(Seq2SeqConfig, config, overrides)
    device = device_of(model)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    g = torch.Generator().manual_seed(config.seed)
    history = Seq2SeqHistory()
    order: list[int] = []
    bar = tqdm(range(1, config.steps + 1), desc="steps", disable=not config.progress, mininterval=1.0)
    model.train()  # evaluation below (exact_match) restores training mode
    with stopping(history, "step", model) as where:
        for step in bar:
            where.count = step
            if len(order) < config.batch_size:  # a new shuffled pass
                order += torch.randperm(len(train), generator=g).tolist()
            chunk, order = order[: config.batch_size], order[config.batch_size :]
            src, lengths, tgt_in, tgt_out = make_batch([train[k] for k in chunk], vocab)
            src, tgt_in, tgt_out = src.to(device), tgt_in.to(device), tgt_out.to(device)
            loss = token_loss(model(src, lengths, tgt_in, config.teacher_forcing, generator=g), tgt_out)
            optimizer_step(model, opt, loss, config.clip)
            history.loss.append(loss.item())
            if step % config.eval_every == 0 or step == config.steps:
                history.eval_steps.append(step)
                hits = _exact_hits(model, val, vocab)  # greedy decoding of every validation pair
                history.val_exact.append(sum(hits) / len(hits))
                history.val_char_forced.append(char_accuracy(model, val, vocab, teacher_forcing=1))
                history.val_char_free.append(char_accuracy(model, val, vocab, teacher_forcing=0))
                bar.set_postfix(loss=f"{loss.item():.3f}", exact=f"{history.val_exact[-1]:.3f}", refresh=False)
                if on_eval is not None:
                    on_eval(step, history)
    by_length = _by_length(val, hits)  # the last step is always evaluated: its decoding, not a second one
    history.final_lengths, history.final_exact_by_length = list(by_length), list(by_length.values())
    return history
