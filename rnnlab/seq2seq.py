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
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.cells import GRUCell
from rnnlab.layers import GRU
from rnnlab.loop import Callback, Record, configured, device_of, evaluating, optimizer_step, stopping
from rnnlab.validation import IMPLS, one_of, positive_ints, positive_number
from rnnlab.vocab import END, PAD, START, CharVocab, pad_batch

__all__ = [
    "date_pairs",
    "reversal_pairs",
    "ATTENTIONS",
    "masked_softmax",
    "Attention",
    "Seq2Seq",
    "make_batch",
    "token_loss",
    "greedy_decode",
    "beam_search",
    "compare_beam",
    "ngram_precisions",
    "bleu",
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


# -- attention ---------------------------------------------------------------------------------
ATTENTIONS = ("additive", "dot")  # Bahdanau's vᵀ tanh(W s + U h_j), and Luong's dot product s · h_j


def masked_softmax(scores: Tensor, mask: Tensor, dim: int = 0) -> Tensor:
    """``softmax(scores)`` over ``dim`` with the positions where ``mask`` is False given exactly zero
    weight: they are set to ``-inf`` before the softmax. A row with no valid position at all (all
    ``-inf``) would come out as NaN; it gets zeros instead.

    Args:
        scores: e.g. ``(S, B)`` attention scores of ``S`` source positions.
        mask: same shape, True at real (non-padding) positions.
    """
    if scores.shape != mask.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and mask {tuple(mask.shape)} must have the same shape")
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim)
    return weights.masked_fill(~mask, 0.0)  # also turns an all-padding row's NaN into 0


class Attention(nn.Module):
    """Scores of every source position for a decoder state, the masked softmax, and the context.

    ``additive`` (Bahdanau): ``e_j = vᵀ tanh(W s + U h_j)``; ``dot`` (Luong): ``e_j = s · h_j``. Then
    ``α = masked_softmax(e)`` over the source positions and ``c = Σ_j α_j h_j``.

    Args:
        kind: ``"additive"`` or ``"dot"``.
        hidden_size: ``H`` of the decoder state ``s`` and of the encoder outputs ``h_j``.
    """

    def __init__(self, kind: str, hidden_size: int) -> None:
        super().__init__()
        one_of("attention", kind, ATTENTIONS)
        self.kind = kind
        if kind == "additive":
            self.W = nn.Linear(hidden_size, hidden_size, bias=False)  # the query s
            self.U = nn.Linear(hidden_size, hidden_size, bias=False)  # the keys h_j, once per source
            self.v = nn.Linear(hidden_size, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        """What the scores compare the query with, computed once per source: ``U h_j`` (additive) or
        ``h_j`` itself (dot). ``memory`` ``(S, B, H)``."""
        return self.U(memory) if self.kind == "additive" else memory

    def forward(self, s: Tensor, memory: Tensor, keys: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """``s`` ``(B, H)`` decoder state; ``memory`` and ``keys`` ``(S, B, H)``; ``mask`` ``(S, B)``.

        Returns:
            the context ``(B, H)`` and the weights ``(S, B)`` (each column sums to 1 over the real
            positions, 0 on padding).
        """
        if self.kind == "additive":
            scores = self.v(torch.tanh(self.W(s).unsqueeze(0) + keys)).squeeze(-1)  # (S, B)
        else:
            scores = (keys * s.unsqueeze(0)).sum(-1)  # (S, B)
        weights = masked_softmax(scores, mask, dim=0)  # (S, B)
        context = (weights.unsqueeze(-1) * memory).sum(0)  # (B, H)
        return context, weights


# -- the model -------------------------------------------------------------------------------
class Seq2Seq(nn.Module):
    """A GRU encoder and a ``GRUCell`` decoder sharing one character vocabulary.

    Without attention the decoder starts from the encoder's final state and reads only that: the
    whole source squeezed into ``H`` numbers. With ``attention``, each decoder step also reads a
    context ``c_t``, a weighted mean of *every* encoder output chosen by :class:`Attention` from the
    previous decoder state, fed to the ``GRUCell`` beside the previous character's embedding.

    The decoder's state is what :meth:`encode` returns and :meth:`decode_step` carries: the tensor
    ``h`` ``(B, H)`` without attention; with it, the tuple ``(h, memory, keys, mask)``.
    :meth:`select_state` picks rows of either (beam search).

    Args:
        vocab_size: characters, with ``PAD``, ``START``, ``END`` at indices 0, 1, 2.
        embedding_dim, hidden_size: ``E`` and ``H`` of both halves.
        impl: ``"rnnlab"`` (:class:`rnnlab.GRU`, :class:`rnnlab.GRUCell`) or ``"torch"``.
        attention: None, ``"additive"`` or ``"dot"``.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_dim: int = 16,
        hidden_size: int = 128,
        impl: str = "rnnlab",
        attention: str | None = None,
    ) -> None:
        super().__init__()
        one_of("impl", impl, IMPLS)
        positive_ints(vocab_size=vocab_size, embedding_dim=embedding_dim, hidden_size=hidden_size)
        if attention is not None:
            one_of("attention", attention, ATTENTIONS)
        if vocab_size < 4:
            raise ValueError(f"vocab_size must count PAD, START, END and at least one character, got {vocab_size}")
        self.spec = {
            "name": "seq2seq",
            "vocab_size": vocab_size,
            "embedding_dim": embedding_dim,
            "hidden_size": hidden_size,
            "impl": impl,
        }
        if attention is not None:  # absent otherwise: checkpoints written before attention still load
            self.spec["attention"] = attention
        self.pad, self.start, self.end = 0, 1, 2
        gru, cell = (GRU, GRUCell) if impl == "rnnlab" else (nn.GRU, nn.GRUCell)
        self.src_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.encoder = gru(embedding_dim, hidden_size)
        self.tgt_embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.attention = None if attention is None else Attention(attention, hidden_size)
        self.decoder = cell(embedding_dim + (0 if attention is None else hidden_size), hidden_size)
        self.out = nn.Linear(hidden_size, vocab_size)

    def encode(self, src: Tensor, lengths: Tensor):
        """``(S, B)`` padded source and ``(B,)`` CPU lengths → the decoder's first state: the
        encoder's final state ``(B, H)``; with attention also every encoder output ``(S, B, H)``,
        their keys and the ``(S, B)`` mask of real positions."""
        packed = pack_padded_sequence(self.src_embedding(src), lengths, enforce_sorted=False)
        out, h_n = self.encoder(packed)  # h_n (1, B, H): each sequence's state after its last character
        if self.attention is None:
            return h_n[0]
        memory, _ = pad_packed_sequence(out, total_length=src.shape[0])  # (S, B, H), zeros on padding
        mask = torch.arange(src.shape[0], device=src.device)[:, None] < lengths.to(src.device)[None, :]  # (S, B)
        return h_n[0], memory, self.attention.keys(memory), mask

    def decode_step(self, y_prev: Tensor, state, return_weights: bool = False):
        """One decoder step: previous characters ``(B,)`` and the state → logits ``(B, V)`` of the
        next character and the new state (and, with ``return_weights``, this step's attention
        weights ``(S, B)``, None without attention)."""
        x = self.tgt_embedding(y_prev)  # (B, E)
        weights = None
        if self.attention is None:
            h = self.decoder(x, state)  # (B, H)
            new_state = h
        else:
            h, memory, keys, mask = state
            context, weights = self.attention(h, memory, keys, mask)  # query: the previous state
            h = self.decoder(torch.cat([x, context], -1), h)  # (B, H)
            new_state = (h, memory, keys, mask)
        logits = self.out(h)
        return (logits, new_state, weights) if return_weights else (logits, new_state)

    @staticmethod
    def select_state(state, index: Tensor):
        """The state of the batch rows ``index`` (``(B',)`` long), in that order."""
        if isinstance(state, Tensor):
            return state.index_select(0, index)
        h, memory, keys, mask = state
        return h.index_select(0, index), memory.index_select(1, index), keys.index_select(1, index), mask[:, index]

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
        state = self.encode(src, lengths)
        y_prev = tgt_in[0]  # (B,) START
        logits = []
        for t in range(tgt_in.shape[0]):
            step_logits, state = self.decode_step(y_prev, state)  # (B, V)
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


def greedy_decode(
    model: Seq2Seq, src: Tensor, lengths: Tensor, max_len: int, return_attention: bool = False
) -> list[list[int]] | tuple[list[list[int]], list[Tensor]]:
    """Free-running decoding: feed back the most likely character until ``END``.

    Returns:
        one list of character indices per sequence, without ``START`` and ``END``; a sequence
        that never writes ``END`` stops after ``max_len`` characters. With ``return_attention``
        (a model with attention) also, per sequence, its weights ``(steps, S)``: one row per
        output character (and the ``END`` step), over the source positions.
    """
    steps, weights = [], []
    with evaluating(model):
        state = model.encode(src, lengths)
        y = torch.full((src.shape[1],), model.start, dtype=torch.long, device=src.device)  # (B,)
        for _ in range(max_len + 1):  # + 1: room for END after max_len characters
            logits, state, w = model.decode_step(y, state, return_weights=True)
            y = logits.argmax(-1)  # (B,)
            steps.append(y)
            weights.append(w)
    out = []
    for row in torch.stack(steps, 1).tolist():  # (B, max_len + 1)
        out.append(row[: row.index(model.end)] if model.end in row else row[:max_len])
    if not return_attention:
        return out
    if model.attention is None:
        raise ValueError("this model has no attention (Seq2Seq(..., attention='additive' or 'dot'))")
    stacked = torch.stack(weights, 0).cpu()  # (steps, S, B)
    maps = [stacked[: len(o) + 1, : int(n), b] for b, (o, n) in enumerate(zip(out, lengths))]
    return out, maps


def beam_search(
    model: Seq2Seq,
    src: Tensor,
    lengths: Tensor,
    k: int,
    max_len: int,
    alpha: float = 1.0,
    return_scores: bool = False,
) -> list[list[int]] | tuple[list[list[int]], list[float]]:
    """Beam search: keep the ``k`` most likely partial outputs at every step, not only the best one.

    Each hypothesis is scored by its log-probability ``Σ log p(y_t | y_<t, x)``. A finished one (it
    wrote ``END``) is ranked by the *length-normalised* score ``Σ log p / n^alpha``, ``n`` its length
    with ``END``: every extra character adds a negative log-probability, so without the division the
    search would favour short outputs. ``alpha = 0``: no normalisation; ``1``: the mean per character.
    A hypothesis that writes ``END`` leaves the beam (its slot goes to the next best); the search ends
    when no live one is left, or after ``max_len + 1`` steps. With ``k = 1`` it is exactly
    :func:`greedy_decode`.

    Returns:
        one list of indices per sequence (without ``START`` and ``END``, at most ``max_len``), and with
        ``return_scores`` each one's mean log-probability per step (``END`` included).
    """
    positive_ints(k=k, max_len=max_len)
    outs, scores = [], []
    with evaluating(model):
        state0 = model.encode(src, lengths)
        for b in range(src.shape[1]):
            index = torch.tensor([b], device=src.device)
            seq, logp, steps = _beam_one(model, model.select_state(state0, index), k, max_len, alpha)
            outs.append(seq)
            scores.append(logp / steps)
    return (outs, scores) if return_scores else outs


def _beam_one(model: Seq2Seq, state, k: int, max_len: int, alpha: float) -> tuple[list[int], float, int]:
    """Beam search for one source (``state`` of batch 1). Returns ``(indices, total log-probability, steps
    scored)``: the characters and ``END``, or the ``max_len`` characters of an output that never ended."""
    device = device_of(model)
    beams: list[tuple[list[int], float]] = [([], 0.0)]  # (characters so far, log-probability)
    finished: list[tuple[float, list[int], float]] = []  # (normalised score, characters, log-probability)
    for t in range(max_len + 1):
        y = torch.tensor([seq[-1] if seq else model.start for seq, _ in beams], device=device)
        logits, state = model.decode_step(y, state)  # (beams, V)
        logp = torch.log_softmax(logits.double(), -1)  # (beams, V)
        total = torch.tensor([lp for _, lp in beams], dtype=torch.float64, device=device)[:, None] + logp
        flat = total.flatten()
        top = flat.topk(min(k, flat.numel())).indices.tolist()  # sorted, best first
        V = logp.shape[1]
        survivors, rows = [], []
        for i in top:
            row, char = divmod(i, V)
            seq, lp = beams[row][0], flat[i].item()
            if char == model.end:
                finished.append((lp / (len(seq) + 1) ** alpha, seq, lp))
            elif t < max_len:
                survivors.append((seq + [char], lp))
                rows.append(row)
        if not survivors:
            break
        beams = survivors
        state = model.select_state(state, torch.tensor(rows, device=device))
    if finished:
        _, seq, lp = max(finished, key=lambda f: f[0])
        return seq, lp, len(seq) + 1
    seq, lp = beams[0]  # none wrote END: the best after max_len characters, as greedy_decode
    return seq[:max_len], lp, len(seq[:max_len])


def compare_beam(
    model: Seq2Seq, pairs: Sequence[tuple[str, str]], vocab: CharVocab, k: int, alpha: float = 1.0
) -> dict[str, float]:
    """Greedy decoding (beam 1) against a beam of ``k`` on ``pairs``: the exact match of each, and the mean
    over the pairs of each output's mean log-probability per step (its own score, ``END`` included)."""
    device, pad = device_of(model), vocab.index(PAD)
    max_len = max(len(t) for _, t in pairs) + 2
    src, lengths = pad_batch([vocab.encode(s_) for s_, _ in pairs], pad)
    src = src.to(device)
    result = {"k": k, "alpha": alpha}
    for name, width in (("greedy", 1), ("beam", k)):
        outs, scores = beam_search(model, src, lengths, width, max_len, alpha, return_scores=True)
        hits = [vocab.decode(o) == t for o, (_, t) in zip(outs, pairs)]
        result[f"{name}_exact"] = sum(hits) / len(hits)
        result[f"{name}_mean_logprob"] = sum(scores) / len(scores)
    return result


def ngram_precisions(prediction: Sequence, reference: Sequence, max_n: int = 4) -> list[float]:
    """``p_n`` for ``n = 1 … max_n``: the fraction of the prediction's n-grams found in the reference,
    each counted at most as often as the reference has it ("clipped"). 0 when the prediction has no
    n-gram of that size."""
    out = []
    for n in range(1, max_n + 1):
        pred = [tuple(prediction[i : i + n]) for i in range(len(prediction) - n + 1)]
        ref: dict[tuple, int] = {}
        for i in range(len(reference) - n + 1):
            gram = tuple(reference[i : i + n])
            ref[gram] = ref.get(gram, 0) + 1
        hits = 0
        for gram in pred:
            if ref.get(gram, 0) > 0:
                hits += 1
                ref[gram] -= 1
        out.append(hits / len(pred) if pred else 0.0)
    return out


def bleu(prediction: Sequence, reference: Sequence, max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al. 2002), no smoothing: ``BP · exp(Σ_n log p_n / max_n)`` with the
    brevity penalty ``BP = min(1, exp(1 - len(reference) / len(prediction)))``; 0 when any ``p_n`` is 0."""
    import math

    if not prediction:
        return 0.0
    p = ngram_precisions(prediction, reference, max_n)
    if min(p) == 0:
        return 0.0
    brevity = min(1.0, math.exp(1 - len(reference) / len(prediction)))
    return brevity * math.exp(sum(math.log(x) for x in p) / max_n)


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
    lr_decay: str = "none"  # "linear": the learning rate falls linearly to 0 at the last step

    def __post_init__(self) -> None:
        positive_ints(steps=self.steps, batch_size=self.batch_size, eval_every=self.eval_every)
        one_of("lr_decay", self.lr_decay, ("none", "linear"))
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
    decay = None
    if config.lr_decay == "linear":  # step k (1-based) trains at lr * (1 - (k - 1) / steps)
        decay = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 1 - k / config.steps)
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
            if decay is not None:
                decay.step()
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
