"""Notebooks 01–04: one time step of an RNN, LSTM and GRU cell, and the shapes of ``nn.RNN``; :func:`diagnose`
names the classic mistake a wrong step matches."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
from torch import Tensor, nn

from rnnlab.checks._core import CheckFailed, _call, _known_mistake, _max_diff, _name, _same, _shape, diagnosis
from rnnlab.checks._i18n import tr


def _rnn_variants(x, h, W_ih, W_hh, b_ih, b_hh) -> dict[str, Tensor]:
    xi = x @ W_ih.T + b_ih
    return {
        tr("W_hh is used untransposed (h @ W_hh instead of h @ W_hh.T); it is square, so no error is raised"): (
            torch.tanh(xi + h @ W_hh + b_hh)
        ),
        tr("b_hh is missing: torch adds both b_ih and b_hh"): torch.tanh(xi + h @ W_hh.T),
        tr("b_ih is missing: torch adds both b_ih and b_hh"): torch.tanh(x @ W_ih.T + h @ W_hh.T + b_hh),
        tr("relu is used where the default nonlinearity is tanh"): torch.relu(xi + h @ W_hh.T + b_hh),
        tr("the tanh is missing"): xi + h @ W_hh.T + b_hh,
        tr("both biases are missing: torch computes tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)"): torch.tanh(
            x @ W_ih.T + h @ W_hh.T
        ),
        tr("the tanh and both biases are missing: torch computes tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)"): (
            x @ W_ih.T + h @ W_hh.T
        ),
        tr("the previous hidden state is ignored"): torch.tanh(xi + b_hh),
    }


def _lstm(x, h, c, W_ih, W_hh, b_ih, b_hh, order=(0, 1, 2, 3), g_act=torch.tanh, c_act=torch.tanh):
    blocks = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, 1)
    i, f, g, o = (blocks[k] for k in order)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * g_act(g)
    return torch.sigmoid(o) * c_act(c2), c2


def _lstm_variants(x, h, c, W_ih, W_hh, b_ih, b_hh) -> dict[str, tuple[Tensor, Tensor]]:
    args = (x, h, c, W_ih, W_hh, b_ih, b_hh)
    out = {}
    for perm in itertools.permutations(range(4)):
        if perm != (0, 1, 2, 3):
            names = "".join("ifgo"[k] for k in perm)
            message = tr(
                "the gate blocks are read in the order {order}; torch stacks them as i, f, g, o "
                "(rows 0:H, H:2H, 2H:3H, 3H:4H)",
                order=", ".join(names),
            )
            out[message] = _lstm(*args, order=perm)
    out[tr("g goes through a sigmoid; the candidate g uses tanh")] = _lstm(*args, g_act=torch.sigmoid)
    out[tr("h = o * c' is missing the tanh: h' = o ⊙ tanh(c')")] = _lstm(*args, c_act=lambda t: t)
    out[tr("the pair is returned as (c', h'); torch's order is (h', c'), as in nn.LSTMCell")] = _lstm(*args)[::-1]
    return out


def _gru(x, h, W_ih, W_hh, b_ih, b_hh, form="torch"):
    i_r, i_z, i_n = (x @ W_ih.T + b_ih).chunk(3, 1)
    W_hr, W_hz, W_hn = W_hh.chunk(3, 0)
    b_hr, b_hz, b_hn = b_hh.chunk(3, 0)
    if form == "rz_swapped":
        i_r, i_z, W_hr, W_hz, b_hr, b_hz = i_z, i_r, W_hz, W_hr, b_hz, b_hr
    r = torch.sigmoid(i_r + h @ W_hr.T + b_hr)
    z = torch.sigmoid(i_z + h @ W_hz.T + b_hz)
    if form == "paper":
        n = torch.tanh(i_n + (r * h) @ W_hn.T + b_hn)
    elif form == "b_hn_outside":
        n = torch.tanh(i_n + r * (h @ W_hn.T) + b_hn)
    else:
        n = torch.tanh(i_n + r * (h @ W_hn.T + b_hn))
    if form == "z_swapped":
        return z * n + (1 - z) * h
    return (1 - z) * n + z * h


def _gru_variants(x, h, W_ih, W_hh, b_ih, b_hh) -> dict[str, Tensor]:
    args = (x, h, W_ih, W_hh, b_ih, b_hh)
    return {
        tr(
            "this is the paper's GRU (r applied to h before W_hn: W_hn (r ⊙ h)); torch applies r "
            "after the matmul: r ⊙ (W_hn h + b_hn)"
        ): _gru(*args, form="paper"),
        tr("b_hn is outside the reset product; torch computes r ⊙ (W_hn h + b_hn)"): _gru(*args, form="b_hn_outside"),
        tr("the update gate is used the other way round; torch computes h' = (1 - z) ⊙ n + z ⊙ h"): _gru(
            *args, form="z_swapped"
        ),
        tr("r and z are swapped; torch stacks the blocks as r, z, n"): _gru(*args, form="rz_swapped"),
    }


_VARIANTS = {"rnn": _rnn_variants, "lstm": _lstm_variants, "gru": _gru_variants}


def diagnose(kind: str, result, *inputs: Tensor) -> str | None:
    """Name the classic mistake that ``result`` matches, or None.

    Args:
        kind: ``'rnn'``, ``'lstm'`` or ``'gru'``.
        result: what the learner's step returned (LSTM: the pair ``(h', c')``).
        inputs: the step's inputs, ``x, h, [c,] W_ih, W_hh, b_ih, b_hh``.
    """
    variants = _VARIANTS[kind](*inputs)
    return _known_mistake(result, {name: (lambda v=v: v) for name, v in variants.items()})


def _cases(gates: int, seeds=(0, 1, 2), I: int = 5, H: int = 3, B: int = 4):
    """Random float64 cases with I != H so shapes catch some transposition mistakes."""
    for s in seeds:
        g = torch.Generator().manual_seed(s)
        r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)  # noqa: B023 (used at once)
        yield {
            "x": r(B, I),
            "h": r(B, H),
            "c": r(B, H),
            "W_ih": r(gates * H, I),
            "W_hh": r(gates * H, H),
            "b_ih": r(gates * H),
            "b_hh": r(gates * H),
        }


def _check_step(kind: str, fn: Callable, gates: int, reference: Callable, names: list[str]):
    fname = _name(fn)
    for case in _cases(gates):
        args = [case[n] for n in names]
        got = _call(fn, fname, *args, from_scratch=True)
        want = reference(*args)
        wants = want if isinstance(want, tuple) else (want,)
        gots = got if isinstance(got, (tuple, list)) else (got,)
        if len(gots) != len(wants):
            expected = tr("the pair (h', c')") if kind == "lstm" else tr("just h'")
            raise CheckFailed(
                tr(
                    "{name} returned {got} value(s); expected {want} ({expected})",
                    name=fname,
                    got=len(gots),
                    want=len(wants),
                    expected=expected,
                )
            )
        for label, g_, w_ in zip(("h'", "c'"), gots, wants):
            if not isinstance(g_, Tensor) or g_.shape != w_.shape:
                raise CheckFailed(
                    tr(
                        "{name}: {label} has shape {got}, expected {want} (batch {batch}, hidden {hidden})",
                        name=fname,
                        label=label,
                        got=_shape(g_),
                        want=tuple(w_.shape),
                        batch=w_.shape[0],
                        hidden=w_.shape[1],
                    )
                )
        if not _same(list(gots), list(wants)):
            diffs = [_max_diff(g_, w_) for g_, w_ in zip(gots, wants)]
            message = tr(
                "{name}: shapes are right but values differ from torch by up to {diff}.",
                name=fname,
                diff=f"{max(diffs):.3g}",
            )
            otherwise = tr("It matches none of the classic mistakes; print the gates step by step.")
            raise CheckFailed(diagnosis(message, diagnose(kind, got, *args), otherwise))


def _torch_cell(cls: type, names: list[str]) -> Callable:
    """A reference step built from a torch.nn cell loaded with the given weights."""

    def ref(*args):
        a = dict(zip(names, args))
        H = a["W_hh"].shape[1]
        cell = cls(a["W_ih"].shape[1], H, dtype=torch.float64)
        with torch.no_grad():
            for p in ("W_ih", "W_hh", "b_ih", "b_hh"):
                getattr(
                    cell, {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}[p]
                ).copy_(a[p])
            if cls is nn.LSTMCell:
                return cell(a["x"], (a["h"], a["c"]))
            return cell(a["x"], a["h"])

    return ref


def check_rnn_step(fn: Callable) -> None:
    """``fn(x, h, W_ih, W_hh, b_ih, b_hh) -> h'`` must equal ``nn.RNNCell``."""
    names = ["x", "h", "W_ih", "W_hh", "b_ih", "b_hh"]
    _check_step("rnn", fn, 1, _torch_cell(nn.RNNCell, names), names)
    print(
        tr(
            "✓ {name} equals torch.nn.{cell} on 3 random cases (float64, max |diff| < 1e-8)",
            name=_name(fn),
            cell="RNNCell",
        )
    )


def check_lstm_step(fn: Callable) -> None:
    """``fn(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h', c')`` must equal ``nn.LSTMCell``."""
    names = ["x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"]
    _check_step("lstm", fn, 4, _torch_cell(nn.LSTMCell, names), names)
    print(
        tr(
            "✓ {name} equals torch.nn.{cell} on 3 random cases (float64, max |diff| < 1e-8)",
            name=_name(fn),
            cell="LSTMCell",
        )
    )


def check_gru_step(fn: Callable) -> None:
    """``fn(x, h, W_ih, W_hh, b_ih, b_hh) -> h'`` must equal ``nn.GRUCell``."""
    names = ["x", "h", "W_ih", "W_hh", "b_ih", "b_hh"]
    _check_step("gru", fn, 3, _torch_cell(nn.GRUCell, names), names)
    print(
        tr(
            "✓ {name} equals torch.nn.{cell} on 3 random cases (float64, max |diff| < 1e-8)",
            name=_name(fn),
            cell="GRUCell",
        )
    )


_SHAPE_CASES = [
    dict(seq_len=10, batch=3, input_size=100, hidden_size=20, num_layers=1, bidirectional=False, batch_first=False),
    dict(seq_len=7, batch=2, input_size=5, hidden_size=8, num_layers=3, bidirectional=False, batch_first=True),
    dict(seq_len=4, batch=6, input_size=3, hidden_size=9, num_layers=2, bidirectional=True, batch_first=False),
    dict(seq_len=5, batch=2, input_size=7, hidden_size=4, num_layers=2, bidirectional=True, batch_first=True),
]


def check_rnn_shapes(fn: Callable) -> None:
    """``fn(seq_len, batch, input_size, hidden_size, num_layers, bidirectional, batch_first)``
    must return ``(output_shape, h_n_shape)`` as ``nn.RNN`` produces them."""
    name = _name(fn)
    for cfg in _SHAPE_CASES:
        rnn = nn.RNN(
            cfg["input_size"],
            cfg["hidden_size"],
            cfg["num_layers"],
            batch_first=cfg["batch_first"],
            bidirectional=cfg["bidirectional"],
        )
        T, B = cfg["seq_len"], cfg["batch"]
        x = torch.zeros((B, T, cfg["input_size"]) if cfg["batch_first"] else (T, B, cfg["input_size"]))
        out, h_n = rnn(x)
        want = (tuple(out.shape), tuple(h_n.shape))
        got = _call(fn, name, *cfg.values())
        try:
            got = tuple(tuple(int(d) for d in s) for s in got)
        except TypeError:
            raise CheckFailed(
                tr("{name} should return (output_shape, h_n_shape); got {got}", name=name, got=repr(got))
            ) from None
        if got == want:
            continue
        setting = ", ".join(f"{k}={v}" for k, v in cfg.items())
        msg = tr(
            "{name}({setting}) returned output {got_out}, h_n {got_h}; nn.RNN gives output {want_out}, h_n {want_h}.",
            name=name,
            setting=setting,
            got_out=got[0],
            got_h=got[1],
            want_out=want[0],
            want_h=want[1],
        )
        D, L, H = 2 if cfg["bidirectional"] else 1, cfg["num_layers"], cfg["hidden_size"]
        hints = []
        if got == want[::-1]:
            hints.append(tr("output and h_n are swapped: output is every time step of the last layer"))
        if cfg["batch_first"] and len(got[1]) == 3 and got[1] == (B, L * D, H):
            hints.append(
                tr("batch_first does not apply to h_n: it is always (num_layers*num_directions, batch, hidden)")
            )
        if D == 2 and got[0][-1:] == (H,):
            hints.append(tr("bidirectional output concatenates both directions: last dim is 2*hidden_size"))
        if len(got[1]) == 3 and got[1][0] in (L, D) and L * D != got[1][0]:
            hints.append(tr("h_n has num_layers * num_directions rows"))
        raise CheckFailed(msg + (" " + tr("Hint: {hints}.", hints="; ".join(hints)) if hints else ""))
    print(tr("✓ {name} predicts nn.RNN's output and h_n shapes in {n} configurations", name=name, n=len(_SHAPE_CASES)))
