"""Notebooks 08, 09 and 11: a truncated-BPTT step, bits per character, and greedy decoding."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab.checks._core import CheckFailed, _call, _known_mistake, _name, _number, _same, _seeded, _shape, diagnosis
from rnnlab.checks._i18n import tr
from rnnlab.lm import CharLM, stream_batches, tbptt_step
from rnnlab.loop import detach_state, sequence_loss
from rnnlab.seq2seq import Seq2Seq


def _bits_mistakes(nats: float, count: int) -> dict[str, Callable[[], object]]:
    ln2, ln10 = math.log(2), math.log(10)
    return {
        tr("that is the loss in nats (natural log); divide by ln 2 for bits"): lambda: nats,
        tr("log10 instead of log2: divide nats by ln 2, not ln 10"): lambda: nats / ln10,
        tr("you summed over characters instead of averaging"): lambda: nats / ln2 * count,
        tr("you multiplied by ln 2 instead of dividing"): lambda: nats * ln2,
    }


def _tbptt_case(seed: int = 0):
    """A tiny float64 character LM, its chunks, and a way to rebuild it identically."""

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 7, (3 * 2 * 6 + 1,), generator=g)
    chunks = stream_batches(ids, batch_size=2, seq_len=6)  # 3 chunks of (6, 2)

    def build():
        with _seeded(seed):
            model = CharLM(7, "lstm", embedding_dim=4, hidden_size=5).double()
        return model, torch.optim.SGD(model.parameters(), lr=0.5)

    return chunks, build


def _tbptt_run(step: Callable, build: Callable, chunks, clip: float) -> tuple[list[float], list[Tensor]]:
    model, opt = build()
    state, losses = None, []
    for x, y in chunks:
        loss, state = step(model, opt, x, y, state, clip)
        losses.append(float(loss.detach()) if isinstance(loss, Tensor) else float(loss))
    return losses, [p.detach().clone() for p in model.parameters()]


def _tbptt_variant(zero_grad: bool = True, clip: str | None = "norm", carry: bool = True) -> Callable:
    """A truncated-BPTT step with one classic mistake: no ``zero_grad``, another clipping (or
    none), or the carried state ignored."""

    def step(model, opt, x, y, state, max_norm):
        if zero_grad:
            opt.zero_grad()
        logits, state = model(x, detach_state(state) if carry else None)
        loss = sequence_loss(logits, y)
        loss.backward()
        if clip == "norm":
            nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        elif clip == "value":
            nn.utils.clip_grad_value_(model.parameters(), max_norm)
        opt.step()
        return loss.item(), detach_state(state)

    return step


def _tbptt_variants() -> dict[str, Callable]:
    """Known mistakes, each written as the step a learner might write."""
    return {
        tr(
            "the gradients were not clipped. clip_grad_norm_ must run after loss.backward() (before "
            "it there is no gradient to clip) and before optimizer.step()"
        ): _tbptt_variant(clip=None),
        tr("optimizer.zero_grad() is missing, so each chunk's gradient adds to the previous ones"): _tbptt_variant(
            zero_grad=False
        ),
        tr(
            "clip_grad_value_ clips each entry; the task asks for clip_grad_norm_, which rescales the "
            "whole gradient and keeps its direction"
        ): _tbptt_variant(clip="value"),
        tr(
            "the carried state is not used: every chunk starts from zeros. Pass the previous chunk's "
            "(detached) state to the model"
        ): _tbptt_variant(carry=False),
    }


def check_tbptt_step(fn: Callable) -> None:
    """``fn(model, optimizer, x, y, state, clip) -> (loss, state)``: one truncated-BPTT step
    (zero_grad, forward from the detached carried state, backward, clip_grad_norm_, step), as
    :func:`rnnlab.lm.tbptt_step`. Runs 3 consecutive chunks and compares every weight."""

    name = _name(fn)
    chunks, build = _tbptt_case()
    clip = 0.05  # small enough that clipping changes every step
    want_losses, want = _tbptt_run(tbptt_step, build, chunks, clip)
    try:
        got_losses, got = _tbptt_run(lambda *a: _call(fn, name, *a), build, chunks, clip)
    except CheckFailed as e:
        text = str(e)
        if "backward through the graph a second time" in text:
            raise CheckFailed(
                tr(
                    "{name}: the second chunk's backward() failed because the carried state was not "
                    "detached: its graph reaches back into the first chunk, whose graph backward() "
                    "already freed. Pass state.detach() (for an LSTM, each of (h, c)) to the model.",
                    name=name,
                )
            ) from None
        if "modified by an inplace operation" in text:
            raise CheckFailed(
                tr(
                    "{name}: backward() failed with an in-place modification error. retain_graph=True "
                    "kept the old chunk's graph alive, but optimizer.step() has since changed the "
                    "weights it saved. Drop retain_graph and detach the carried state instead.",
                    name=name,
                )
            ) from None
        raise
    except (TypeError, ValueError) as e:
        raise CheckFailed(
            tr(
                "{name} should return (loss, state); calling it failed with {error_type}: {error}",
                name=name,
                error_type=type(e).__name__,
                error=e,
            )
        ) from None

    if _same(got, want):
        if not _same(got_losses, want_losses):
            raise CheckFailed(
                tr(
                    "{name}: the weights are right, but the returned losses {got} should be each chunk's mean loss "
                    "{want}",
                    name=name,
                    got=got_losses,
                    want=want_losses,
                )
            )
        print(
            tr(
                "✓ {name} trains 3 chunks with the carried state detached and clipped gradients, exactly as the "
                "reference",
                name=name,
            )
        )
        return
    catalogue = {m: (lambda v=v: _tbptt_run(v, build, chunks, clip)[1]) for m, v in _tbptt_variants().items()}
    mistake = _known_mistake(got, catalogue)
    if mistake:
        raise CheckFailed(diagnosis(tr("{name}: the weights after 3 chunks are off.", name=name), mistake))
    raise CheckFailed(
        tr(
            "{name}: the weights after 3 chunks differ from the reference and match no known mistake. "
            "The order is: zero_grad, forward from the detached state, loss, backward, clip, step.",
            name=name,
        )
    )


def check_bits_per_char(fn: Callable) -> None:
    """``fn(logits, targets) -> float``: mean cross-entropy of ``(T, B, V)`` logits against
    ``(T, B)`` next characters, in bits per character (nats / ln 2)."""
    import math

    import torch.nn.functional as F

    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for T, B, V in [(6, 3, 5), (4, 4, 4), (3, 2, 9)]:
        logits = torch.randn(T, B, V, generator=g, dtype=torch.float64)
        targets = torch.randint(0, V, (T, B), generator=g)
        nats = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).item()
        want = nats / math.log(2)
        got = _number(name, _call(fn, name, logits, targets))
        if _same(got, want):
            continue
        message = tr(
            "{name} returned {got} for logits {shape}; expected {want} bits/char.",
            name=name,
            got=f"{got:.4f}",
            shape=(T, B, V),
            want=f"{want:.4f}",
        )
        otherwise = tr("Flatten to (T*B, V) and (T*B,), take the mean cross-entropy, divide by ln 2.")
        raise CheckFailed(diagnosis(message, _known_mistake(got, _bits_mistakes(nats, T * B)), otherwise))
    print(tr("✓ {name} gives bits per character on 3 random batches", name=name))


def _decode_mistakes(model, src: Tensor, lengths: Tensor, max_len: int) -> dict[str, Callable[[], object]]:
    variants = {
        tr("the start symbol is not part of the output; return what the decoder wrote after it"): dict(keep_start=True),
        tr("leave END out of the output (it marks where the output stops)"): dict(keep_end=True),
        tr("stop each sequence at its first END; what comes after it is not output"): dict(stop=False),
        tr("every step was fed START again: feed back the previous step's argmax (and carry h)"): dict(feed="start"),
    }
    return {k: functools.partial(_decode_variant, model, src, lengths, max_len, **v) for k, v in variants.items()}


def _decoder_case(seed: int):

    with _seeded(seed):
        model = Seq2Seq(9, embedding_dim=4, hidden_size=8).double().eval()
    with torch.no_grad():  # larger weights: outputs that depend on the source, some ending early
        for p in model.parameters():
            p.mul_(3)
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([4, 2, 5, 3])
    src = torch.randint(3, 9, (5, 4), generator=g)
    src[torch.arange(5)[:, None] >= lengths[None, :]] = model.pad
    return model, src, lengths


@torch.no_grad()
def _decode_variant(model, src, lengths, max_len, feed="argmax", keep_start=False, keep_end=False, stop=True):
    h = model.encode(src, lengths)
    y = torch.full((src.shape[1],), model.start, dtype=torch.long)
    steps = []
    for _ in range(max_len + 1 if stop else max_len):
        logits, h = model.decode_step(y if feed == "argmax" else torch.full_like(y, model.start), h)
        y = logits.argmax(-1)
        steps.append(y)
    rows = []
    for row in torch.stack(steps, 1).tolist():
        if stop and model.end in row:
            row = row[: row.index(model.end) + (1 if keep_end else 0)]
        rows.append(
            ([model.start] if keep_start else []) + row[: max_len + (1 if keep_end and row[-1:] == [model.end] else 0)]
        )
    return rows


def check_greedy_decode(fn: Callable) -> None:
    """``fn(model, src, lengths, max_len) -> list[list[int]]``: greedy decoding with a
    :class:`rnnlab.seq2seq.Seq2Seq` (``model.encode``, ``model.decode_step``): start from
    ``model.start``, feed back the argmax, stop at ``model.end``; each list holds the output
    indices without the start and end symbols, at most ``max_len`` of them."""
    name = _name(fn)
    for seed in (0, 3, 1, 2):
        model, src, lengths = _decoder_case(seed)
        want = _decode_variant(model, src, lengths, 6)
        got = _call(fn, name, model, src, lengths, 6)
        if isinstance(got, Tensor):
            raise CheckFailed(
                tr(
                    "{name} returned a tensor {got}; return one Python list of indices per sequence (rows have "
                    "different lengths once END stops them)",
                    name=name,
                    got=_shape(got),
                )
            )
        try:
            got = [[int(k) for k in row] for row in got]
        except TypeError:
            raise CheckFailed(
                tr("{name} should return a list of lists of ints, got {got}", name=name, got=type(got).__name__)
            ) from None
        if _same(got, want):
            continue
        why = _known_mistake(got, _decode_mistakes(model, src, lengths, 6))
        if why is None and len(got) != len(want):
            why = tr(
                "one list per sequence: expected {want}, got {got} (the batch is dimension 1 of src)",
                want=len(want),
                got=len(got),
            )
        message = tr("{name} decoded {got} where greedy decoding gives {want}.", name=name, got=got, want=want)
        raise CheckFailed(diagnosis(message, why))
    print(tr("✓ {name} decodes greedily, stopping at END, on 4 random models", name=name))
