"""Notebooks 05–07, 10 and 12: losses over sequences, reading final states and valid outputs, the masked mean,
and attention's masked softmax."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab.checks._core import (
    TOL_FLOAT32,
    CheckFailed,
    _call,
    _known_mistake,
    _name,
    _same,
    _seeded,
    _shape,
    diagnosis,
)
from rnnlab.checks._i18n import tr


# The catalogues of the other checks: message -> what that mistake computes on the check's inputs,
# matched against the learner's result by _known_mistake (lazily: some raise on some shapes).
def _sequence_loss_mistakes(logits: Tensor, targets: Tensor) -> dict[str, Callable[[], object]]:
    import torch.nn.functional as F

    T, _, V = logits.shape
    return {
        tr("you summed the per-step losses: that is T times the mean per character"): lambda: sum(
            F.cross_entropy(logits[t], targets[t]) for t in range(T)
        ),
        tr(
            "the logits went in as (T, B, V): cross_entropy read B as the class axis. Flatten "
            "or permute so the classes are on dim 1"
        ): lambda: F.cross_entropy(logits, targets),
        tr("targets were flattened in another order than the logits (transpose one, not the other)"): lambda: (
            F.cross_entropy(logits.reshape(-1, V), targets.T.reshape(-1))
        ),
    }


def _last_valid_mistakes(out: Tensor, lengths: list[int]) -> dict[str, Callable[[], object]]:
    T = out.shape[0]
    return {
        tr("output[-1] is padding for every sequence shorter than the tensor"): lambda: out[-1],
        tr("output[lengths] is one step past the end: the last valid index is lengths - 1"): lambda: torch.stack(
            [out[min(n, T - 1), b] for b, n in enumerate(lengths)]
        ),
        tr("the time and batch indices are swapped"): lambda: torch.stack(
            [out[b, n - 1] for b, n in enumerate(lengths)]
        ),
    }


def _masked_mean_mistakes(out: Tensor, lengths: list[int]) -> dict[str, Callable[[], object]]:
    T = out.shape[0]
    mask = (torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]).double()[..., None]  # (T, B, 1)
    return {
        tr("out.mean(0) averages the padding too; mask the steps t >= lengths[b] out"): lambda: out.mean(0),
        tr("the masked sum is divided by T (the padded length) instead of each sequence's length"): lambda: (
            (out * mask).sum(0) / T
        ),
        tr("the padding is masked but the sum is not divided by the lengths"): lambda: (out * mask).sum(0),
        tr("off by one: the valid steps are 0 .. lengths[b] - 1, not 0 .. lengths[b]"): lambda: torch.stack(
            [out[: n + 1, b].mean(0) for b, n in enumerate(lengths)]
        ),
    }


def check_sequence_loss(fn: Callable) -> None:
    """``fn(logits, targets) -> loss``: mean cross-entropy per character of ``(T, B, V)``
    logits against ``(T, B)`` class indices, as ``F.cross_entropy`` on flattened tensors."""
    import torch.nn.functional as F

    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for T, B, V in [(5, 3, 4), (4, 4, 4), (2, 6, 7)]:
        logits = torch.randn(T, B, V, generator=g, dtype=torch.float64)
        targets = torch.randint(0, V, (T, B), generator=g)
        want = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
        try:
            got = _call(fn, name, logits, targets)
        except CheckFailed as e:
            hint = tr(
                "F.cross_entropy wants the classes on dim 1: flatten to (T*B, V) and (T*B,), "
                "or permute the logits to (B, V, T) against targets (B, T)."
            )
            raise CheckFailed(f"{e} {hint}") from None
        if not isinstance(got, Tensor) or got.dim() != 0:
            raise CheckFailed(tr("{name} should return a scalar tensor, got {got}", name=name, got=_shape(got)))
        if _same(got, want):
            continue
        message = tr(
            "{name} returned {got} for logits {shape}; expected {want}.",
            name=name,
            got=f"{got.item():.4f}",
            shape=(T, B, V),
            want=f"{want.item():.4f}",
        )
        otherwise = tr("Compare with F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1)).")
        raise CheckFailed(diagnosis(message, _known_mistake(got, _sequence_loss_mistakes(logits, targets)), otherwise))
    print(tr("✓ {name} equals the mean cross-entropy per character on 3 random batches", name=name))


def diagnose_final_state(module: nn.Module, x: Tensor, candidate: Tensor) -> str:
    """Say what ``candidate`` really is, when it was meant as the per-sequence final state
    (the last layer's ``h_n``, both directions concatenated) of ``module`` on ``x``.

    Recognises: the right answer; ``output[-1]`` of a bidirectional net; ``h_n[-1]`` alone
    (backward only); another layer's state (e.g. from ``output, (h, c) = gru(x)``); the
    batch index taken as time; ``h_n`` read as batch-first.
    """
    with torch.no_grad():
        output, h_n = module(x)
        h_n = h_n[0] if isinstance(h_n, tuple) else h_n
        L, D = module.num_layers, 2 if module.bidirectional else 1
        t_major = output.transpose(0, 1) if module.batch_first else output  # (T, B, D*P)
        right = torch.cat([h_n[-2], h_n[-1]], -1) if D == 2 else h_n[-1]
        known = {
            _right(D): right,
            tr(
                "output[-1]: for a bidirectional net its backward half is the backward direction after "
                "ONE step (it reads the sequence from the end). Use torch.cat([h_n[-2], h_n[-1]], -1)"
            ): t_major[-1],
            tr(
                "h_n[-1] alone: with bidirectional=True that is only the backward direction; "
                "concatenate h_n[-2] (forward) and h_n[-1]"
            ): h_n[-1],
            tr(
                "output[:, -1] of a time-major output: the last *sequence in the batch* at every "
                "time step, not the last time step"
            ): t_major[:, -1],
        }
        for k in range((L - 1) * D):  # rows of the layers below the last
            if k % D:
                message = tr(
                    "h_n[{k}]: layer {layer} backward's state, not the last layer's (as from "
                    "`output, (h, c) = gru(x)` on a 2-layer GRU)",
                    k=k,
                    layer=k // D,
                )
            else:
                message = tr(
                    "h_n[{k}]: layer {layer}'s state, not the last layer's (as from `output, (h, c) = gru(x)` "
                    "on a 2-layer GRU)",
                    k=k,
                    layer=k // D,
                )
            known[message] = h_n[k]
        if h_n.shape[0] == h_n.shape[1]:
            message = tr(
                "a row of h_n read as if it were batch-first: h_n is always (num_layers*num_directions, batch, hidden)"
            )
            known[message] = h_n.transpose(0, 1)[-1]
    found = _known_mistake(candidate, {name: (lambda v=v: v) for name, v in known.items()}, tol=TOL_FLOAT32)
    if found:
        return found
    return tr(
        "no known mistake matches a {got} tensor; the final state is {want}: {expression}",
        got=tuple(candidate.shape),
        want=tuple(right.shape),
        expression="torch.cat([h_n[-2], h_n[-1]], -1)" if D == 2 else "h_n[-1]",
    )


def _right(directions: int) -> str:
    """What :func:`diagnose_final_state` says of the right answer."""
    if directions == 2:
        return tr("right: the last layer's final state, forward and backward concatenated")
    return tr("right: the last layer's final state")


def _random_case(seed: int, bidirectional: bool, num_layers: int):
    """A float64 GRU and an input ``(T=6, B=5, I=3)``, drawn without touching the global RNG."""
    with _seeded(seed):
        return nn.GRU(3, 4, num_layers, bidirectional=bidirectional).double(), torch.randn(6, 5, 3, dtype=torch.float64)


def check_sequence_summary(fn: Callable) -> None:
    """``fn(h_n, num_layers, bidirectional) -> (B, D*H)``: the last layer's final states,
    forward and backward concatenated (forward first)."""
    name = _name(fn)
    for seed, (L, bi) in enumerate([(1, False), (2, False), (1, True), (3, True)]):
        net, x = _random_case(seed, bi, L)
        _, h_n = net(x)
        got = _call(fn, name, h_n.detach(), L, bi)
        what = diagnose_final_state(net, x, got) if isinstance(got, Tensor) else type(got).__name__
        if what != _right(2 if bi else 1):
            raise CheckFailed(
                tr(
                    "{name} with num_layers={layers}, bidirectional={bi}: you returned {what}.",
                    name=name,
                    layers=L,
                    bi=bi,
                    what=what,
                )
            )
    print(tr("✓ {name} returns the last layer's final states in 4 configurations", name=name))


def check_last_valid_outputs(fn: Callable) -> None:
    """``fn(padded_output, lengths) -> (B, H)``: each sequence's output at its own last valid
    step ``lengths[b] - 1`` of a time-major padded output ``(T, B, H)``."""
    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for lengths in ([5, 2, 4], [3, 3, 1, 2], [1]):
        T, B = max(lengths) + 1, len(lengths)
        out = torch.randn(T, B, 4, generator=g, dtype=torch.float64)
        want = torch.stack([out[n - 1, b] for b, n in enumerate(lengths)])
        got = _call(fn, name, out, torch.tensor(lengths))
        if not isinstance(got, Tensor) or got.shape != want.shape:
            raise CheckFailed(_wrong_shape(name, want, got))
        if _same(got, want):
            continue
        message = tr("{name} picked the wrong steps for lengths {lengths}.", name=name, lengths=lengths)
        raise CheckFailed(diagnosis(message, _known_mistake(got, _last_valid_mistakes(out, lengths))))
    print(tr("✓ {name} picks each sequence's last valid step in 3 batches", name=name))


def check_masked_mean(fn: Callable) -> None:
    """``fn(output, lengths) -> (B, H)``: the mean of each sequence's outputs over its valid
    steps ``0 .. lengths[b] - 1`` of a time-major padded output ``(T, B, H)``."""
    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for lengths in ([5, 2, 4], [3, 3, 1, 2], [1], [2, 6]):
        T, B = max(lengths) + 1, len(lengths)
        out = torch.randn(T, B, 3, generator=g, dtype=torch.float64)
        out[torch.arange(T)[:, None] >= torch.tensor(lengths)[None, :]] = 7.0  # padding garbage
        want = torch.stack([out[:n, b].mean(0) for b, n in enumerate(lengths)])
        got = _call(fn, name, out.clone(), torch.tensor(lengths))
        if not isinstance(got, Tensor) or got.shape != want.shape:
            raise CheckFailed(_wrong_shape(name, want, got))
        if _same(got, want):
            continue
        message = tr(
            "{name} gave the wrong means for lengths {lengths} (the padding holds 7.0).", name=name, lengths=lengths
        )
        raise CheckFailed(diagnosis(message, _known_mistake(got, _masked_mean_mistakes(out, lengths))))
    print(tr("✓ {name} averages only the valid steps in 4 batches", name=name))


def _wrong_shape(name: str, want: Tensor, got) -> str:
    return tr(
        "{name}: expected shape {want} (batch, hidden), got {got}", name=name, want=tuple(want.shape), got=_shape(got)
    )


def _masked_softmax_mistakes(scores: Tensor, mask: Tensor) -> dict[str, Callable[[], object]]:
    neg_inf = scores.masked_fill(~mask, float("-inf"))
    return {
        tr(
            "the softmax runs over the batch (dim 1); the weights of one sequence are over its source positions (dim 0)"
        ): lambda: torch.softmax(neg_inf, 1).nan_to_num(0.0),
        tr(
            "the padding is not masked: padded positions get weight, so each sequence's real weights sum to less than 1"
        ): (lambda: torch.softmax(scores, 0)),
        tr(
            "the softmax is taken first and the padding zeroed after: the real weights no longer sum to 1. Mask "
            "with -inf before the softmax"
        ): lambda: torch.softmax(scores, 0) * mask,
    }


def check_masked_softmax(fn: Callable) -> None:
    """``fn(scores, mask) -> weights``: the softmax of ``(S, B)`` attention scores over the source positions
    (dim 0), padding (``mask`` False) given exactly zero weight, and a column with no real position all
    zeros rather than NaN."""
    from rnnlab.seq2seq import masked_softmax

    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    for S, lengths in [(5, [5, 3, 1]), (4, [2, 4, 4, 1]), (3, [3, 0])]:
        scores = torch.randn(S, len(lengths), generator=g, dtype=torch.float64)
        mask = torch.arange(S)[:, None] < torch.tensor(lengths)[None, :]
        want = masked_softmax(scores, mask)
        got = _call(fn, name, scores.clone(), mask.clone())
        if not isinstance(got, Tensor) or got.shape != want.shape:
            raise CheckFailed(
                tr(
                    "{name}: expected weights of shape {want}, got {got}",
                    name=name,
                    want=tuple(want.shape),
                    got=_shape(got),
                )
            )
        if 0 in lengths and not bool(torch.isfinite(got).all()):
            raise CheckFailed(
                tr(
                    "{name}: a sequence with no real position (length 0) got NaN weights: softmax over all -inf is "
                    "0/0. Give such a column zeros (e.g. weights.masked_fill(~mask, 0) after the softmax)",
                    name=name,
                )
            )
        if _same(got, want):
            continue
        message = tr("{name} gave the wrong weights for lengths {lengths}.", name=name, lengths=lengths)
        otherwise = tr("Each sequence's weights must sum to 1 over its real positions and be 0 on the padding.")
        raise CheckFailed(diagnosis(message, _known_mistake(got, _masked_softmax_mistakes(scores, mask)), otherwise))
    print(tr("✓ {name} gives padding zero weight and sums to 1 over the real positions, in 3 batches", name=name))
