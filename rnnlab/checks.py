"""Exercise checks: run the learner's code against torch and say precisely what is wrong.

Each ``check_*`` function calls the learner's function on a few random cases, compares
with ``torch.nn`` and prints one line starting with ``✓`` when it agrees. Otherwise it
raises :class:`CheckFailed` whose message names the problem: the shape that came out
versus the shape expected, or, when the wrong numbers match a known mistake (a weight
not transposed, gates in the wrong order, the GRU written in the paper's form, ...),
that mistake and its fix. :func:`diagnose` exposes the same matching for any result.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

__all__ = [
    "CheckFailed",
    "check_rnn_shapes",
    "check_rnn_step",
    "check_lstm_step",
    "check_gru_step",
    "check_sequence_loss",
    "check_last_valid_outputs",
    "check_sequence_summary",
    "check_tbptt_step",
    "check_bits_per_char",
    "check_masked_mean",
    "check_greedy_decode",
    "diagnose_final_state",
    "diagnose",
]

TOL = 1e-8  # checks run in float64
TOL_FLOAT32 = 1e-5  # diagnose_final_state compares the learner's float32 tensors


class CheckFailed(AssertionError):
    """An exercise answer is wrong; the message says how."""


_FUSED = {"rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_tanh", "rnn_relu", "lstm", "gru"}


class _FusedSpy(torch.overrides.TorchFunctionMode):
    """Records torch's fused recurrent kernels called inside it (torch.lstm_cell, torch._VF.*,
    and so nn.LSTMCell / nn.LSTM, which call them)."""

    def __init__(self) -> None:
        super().__init__()
        self.fused: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in _FUSED and name not in self.fused:
            self.fused.append(name)
        return func(*args, **(kwargs or {}))


def _call(fn: Callable, name: str, *args, from_scratch: bool = False):
    """Call the learner's function, turning a stub or a crash into a CheckFailed. With
    ``from_scratch``, calling one of torch's fused recurrent kernels is refused too."""
    try:
        if not from_scratch:
            return fn(*args)
        with _FusedSpy() as spy:
            result = fn(*args)
        if spy.fused:
            raise CheckFailed(
                f"{name} calls torch's fused kernel {', '.join(spy.fused)} (via torch.{spy.fused[0]}, "
                f"torch._VF or an nn cell/layer): that is torch doing the step. Write it with tensor "
                "ops: matmuls, sigmoid, tanh, and the gate arithmetic."
            )
        return result
    except NotImplementedError:
        raise CheckFailed(
            f"Not done yet: {name} still raises NotImplementedError. Replace the stub's "
            "`raise NotImplementedError` with your code, run that cell, then this one."
        ) from None
    except RuntimeError as e:
        hint = ""
        if "cannot be multiplied" in str(e):
            hint = " Weights are stored (out_features, in_features): multiply by W.T, as in x @ W_ih.T."
        raise CheckFailed(f"{name} raised RuntimeError: {e}.{hint}") from None


def _max_diff(got, want: Tensor) -> float | None:
    """max |got - want|, or None when ``got`` is not a tensor of ``want``'s shape."""
    if not isinstance(got, Tensor) or got.shape != want.shape:
        return None
    return (got.double() - want.double()).abs().max().item()


def _name(fn: Callable) -> str:
    """The learner's function name for messages (a functools.partial shows its function's)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", "your function")


def _same(got, want, tol: float = TOL) -> bool:
    """The one comparison every check uses: same structure and shapes, then max |diff| < tol for
    tensors and numbers (never a signed sum), equality for anything else (e.g. lists of ints)."""
    if isinstance(want, Tensor):
        d = _max_diff(got, want)
        return d is not None and d < tol
    if isinstance(want, (tuple, list)):
        return (
            isinstance(got, (tuple, list))
            and len(got) == len(want)
            and all(_same(g, w, tol) for g, w in zip(got, want))
        )
    if isinstance(want, float):
        try:
            return abs(float(got) - want) < tol
        except (TypeError, ValueError, RuntimeError):
            return False
    return got == want


def _known_mistake(got, catalogue: dict[str, Callable[[], object]], tol: float = TOL) -> str | None:
    """The first entry of a catalogue of known mistakes whose result equals ``got``.

    Each entry maps the message naming the mistake to a function computing what that mistake
    returns on the check's inputs; one that cannot be computed at all (a shape error) matches
    nothing. Every check names mistakes through this one matcher.
    """
    for message, compute in catalogue.items():
        want = _maybe(compute)
        if want is not None and _same(got, want, tol):
            return message
    return None


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """``torch.manual_seed(seed)`` for a check's own draws, without touching the learner's global
    random state (restored on exit)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _shape(t) -> str:
    return str(tuple(t.shape)) if isinstance(t, Tensor) else type(t).__name__


# -- known mistakes, as alternative implementations -------------------------------------------
def _rnn_variants(x, h, W_ih, W_hh, b_ih, b_hh) -> dict[str, Tensor]:
    xi = x @ W_ih.T + b_ih
    return {
        "W_hh is used untransposed (h @ W_hh instead of h @ W_hh.T); it is square, so no error is raised": torch.tanh(
            xi + h @ W_hh + b_hh
        ),
        "b_hh is missing: torch adds both b_ih and b_hh": torch.tanh(xi + h @ W_hh.T),
        "b_ih is missing: torch adds both b_ih and b_hh": torch.tanh(x @ W_ih.T + h @ W_hh.T + b_hh),
        "relu is used where the default nonlinearity is tanh": torch.relu(xi + h @ W_hh.T + b_hh),
        "the tanh is missing": xi + h @ W_hh.T + b_hh,
        "both biases are missing: torch computes tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)": torch.tanh(
            x @ W_ih.T + h @ W_hh.T
        ),
        "the tanh and both biases are missing: torch computes tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)": (
            x @ W_ih.T + h @ W_hh.T
        ),
        "the previous hidden state is ignored": torch.tanh(xi + b_hh),
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
            out[
                f"the gate blocks are read in the order {', '.join(names)}; torch stacks them "
                "as i, f, g, o (rows 0:H, H:2H, 2H:3H, 3H:4H)"
            ] = _lstm(*args, order=perm)
    out["g goes through a sigmoid; the candidate g uses tanh"] = _lstm(*args, g_act=torch.sigmoid)
    out["h = o * c' is missing the tanh: h' = o ⊙ tanh(c')"] = _lstm(*args, c_act=lambda t: t)
    out["the pair is returned as (c', h'); torch's order is (h', c'), as in nn.LSTMCell"] = _lstm(*args)[::-1]
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
        "this is the paper's GRU (r applied to h before W_hn: W_hn (r ⊙ h)); torch applies r "
        "after the matmul: r ⊙ (W_hn h + b_hn)": _gru(*args, form="paper"),
        "b_hn is outside the reset product; torch computes r ⊙ (W_hn h + b_hn)": _gru(*args, form="b_hn_outside"),
        "the update gate is used the other way round; torch computes h' = (1 - z) ⊙ n + z ⊙ h": _gru(
            *args, form="z_swapped"
        ),
        "r and z are swapped; torch stacks the blocks as r, z, n": _gru(*args, form="rz_swapped"),
    }


_VARIANTS = {"rnn": _rnn_variants, "lstm": _lstm_variants, "gru": _gru_variants}


# The catalogues of the other checks: message -> what that mistake computes on the check's inputs,
# matched against the learner's result by _known_mistake (lazily: some raise on some shapes).
def _sequence_loss_mistakes(logits: Tensor, targets: Tensor) -> dict[str, Callable[[], object]]:
    import torch.nn.functional as F

    T, _, V = logits.shape
    return {
        "you summed the per-step losses: that is T times the mean per character": lambda: sum(
            F.cross_entropy(logits[t], targets[t]) for t in range(T)
        ),
        "the logits went in as (T, B, V): cross_entropy read B as the class axis. Flatten "
        "or permute so the classes are on dim 1": lambda: F.cross_entropy(logits, targets),
        "targets were flattened in another order than the logits (transpose one, not the other)": lambda: (
            F.cross_entropy(logits.reshape(-1, V), targets.T.reshape(-1))
        ),
    }


def _last_valid_mistakes(out: Tensor, lengths: list[int]) -> dict[str, Callable[[], object]]:
    T = out.shape[0]
    return {
        "output[-1] is padding for every sequence shorter than the tensor": lambda: out[-1],
        "output[lengths] is one step past the end: the last valid index is lengths - 1": lambda: torch.stack(
            [out[min(n, T - 1), b] for b, n in enumerate(lengths)]
        ),
        "the time and batch indices are swapped": lambda: torch.stack([out[b, n - 1] for b, n in enumerate(lengths)]),
    }


def _bits_mistakes(nats: float, count: int) -> dict[str, Callable[[], object]]:
    ln2, ln10 = math.log(2), math.log(10)
    return {
        "that is the loss in nats (natural log); divide by ln 2 for bits": lambda: nats,
        "log10 instead of log2: divide nats by ln 2, not ln 10": lambda: nats / ln10,
        "you summed over characters instead of averaging": lambda: nats / ln2 * count,
        "you multiplied by ln 2 instead of dividing": lambda: nats * ln2,
    }


def _masked_mean_mistakes(out: Tensor, lengths: list[int]) -> dict[str, Callable[[], object]]:
    T = out.shape[0]
    mask = (torch.arange(T)[:, None] < torch.tensor(lengths)[None, :]).double()[..., None]  # (T, B, 1)
    return {
        "out.mean(0) averages the padding too; mask the steps t >= lengths[b] out": lambda: out.mean(0),
        "the masked sum is divided by T (the padded length) instead of each sequence's length": lambda: (
            (out * mask).sum(0) / T
        ),
        "the padding is masked but the sum is not divided by the lengths": lambda: (out * mask).sum(0),
        "off by one: the valid steps are 0 .. lengths[b] - 1, not 0 .. lengths[b]": lambda: torch.stack(
            [out[: n + 1, b].mean(0) for b, n in enumerate(lengths)]
        ),
    }


def _decode_mistakes(model, src: Tensor, lengths: Tensor, max_len: int) -> dict[str, Callable[[], object]]:
    variants = {
        "the start symbol is not part of the output; return what the decoder wrote after it": dict(keep_start=True),
        "leave END out of the output (it marks where the output stops)": dict(keep_end=True),
        "stop each sequence at its first END; what comes after it is not output": dict(stop=False),
        "every step was fed START again: feed back the previous step's argmax (and carry h)": dict(feed="start"),
    }
    return {k: functools.partial(_decode_variant, model, src, lengths, max_len, **v) for k, v in variants.items()}


def diagnose(kind: str, result, *inputs: Tensor) -> str | None:
    """Name the classic mistake that ``result`` matches, or None.

    Args:
        kind: ``'rnn'``, ``'lstm'`` or ``'gru'``.
        result: what the learner's step returned (LSTM: the pair ``(h', c')``).
        inputs: the step's inputs, ``x, h, [c,] W_ih, W_hh, b_ih, b_hh``.
    """
    variants = _VARIANTS[kind](*inputs)
    return _known_mistake(result, {name: (lambda v=v: v) for name, v in variants.items()})


# -- the checks -------------------------------------------------------------------------------
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
            raise CheckFailed(
                f"{fname} returned {len(gots)} value(s); expected {len(wants)}"
                + (" (the pair (h', c'))" if kind == "lstm" else " (just h')")
            )
        for label, g_, w_ in zip(("h'", "c'"), gots, wants):
            if not isinstance(g_, Tensor) or g_.shape != w_.shape:
                raise CheckFailed(
                    f"{fname}: {label} has shape {_shape(g_)}, expected {tuple(w_.shape)} "
                    f"(batch {w_.shape[0]}, hidden {w_.shape[1]})"
                )
        if not _same(list(gots), list(wants)):
            diffs = [_max_diff(g_, w_) for g_, w_ in zip(gots, wants)]
            mistake = diagnose(kind, got, *args)
            detail = (
                f"Diagnosis: {mistake}."
                if mistake
                else ("It matches none of the classic mistakes; print the gates step by step.")
            )
            raise CheckFailed(
                f"{fname}: shapes are right but values differ from torch by up to {max(diffs):.3g}. {detail}"
            )


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
    print(f"✓ {_name(fn)} equals torch.nn.RNNCell on 3 random cases (float64, max |diff| < 1e-8)")


def check_lstm_step(fn: Callable) -> None:
    """``fn(x, h, c, W_ih, W_hh, b_ih, b_hh) -> (h', c')`` must equal ``nn.LSTMCell``."""
    names = ["x", "h", "c", "W_ih", "W_hh", "b_ih", "b_hh"]
    _check_step("lstm", fn, 4, _torch_cell(nn.LSTMCell, names), names)
    print(f"✓ {_name(fn)} equals torch.nn.LSTMCell on 3 random cases (float64, max |diff| < 1e-8)")


def check_gru_step(fn: Callable) -> None:
    """``fn(x, h, W_ih, W_hh, b_ih, b_hh) -> h'`` must equal ``nn.GRUCell``."""
    names = ["x", "h", "W_ih", "W_hh", "b_ih", "b_hh"]
    _check_step("gru", fn, 3, _torch_cell(nn.GRUCell, names), names)
    print(f"✓ {_name(fn)} equals torch.nn.GRUCell on 3 random cases (float64, max |diff| < 1e-8)")


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
            raise CheckFailed(f"{name} should return (output_shape, h_n_shape); got {got!r}") from None
        if got == want:
            continue
        setting = ", ".join(f"{k}={v}" for k, v in cfg.items())
        msg = f"{name}({setting}) returned output {got[0]}, h_n {got[1]}; nn.RNN gives output {want[0]}, h_n {want[1]}."
        D, L, H = 2 if cfg["bidirectional"] else 1, cfg["num_layers"], cfg["hidden_size"]
        hints = []
        if got == want[::-1]:
            hints.append("output and h_n are swapped: output is every time step of the last layer")
        if cfg["batch_first"] and len(got[1]) == 3 and got[1] == (B, L * D, H):
            hints.append("batch_first does not apply to h_n: it is always (num_layers*num_directions, batch, hidden)")
        if D == 2 and got[0][-1:] == (H,):
            hints.append("bidirectional output concatenates both directions: last dim is 2*hidden_size")
        if len(got[1]) == 3 and got[1][0] in (L, D) and L * D != got[1][0]:
            hints.append("h_n has num_layers * num_directions rows")
        raise CheckFailed(msg + (" Hint: " + "; ".join(hints) + "." if hints else ""))
    print(f"✓ {name} predicts nn.RNN's output and h_n shapes in {len(_SHAPE_CASES)} configurations")


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
            raise CheckFailed(
                f"{e} F.cross_entropy wants the classes on dim 1: flatten to (T*B, V) and (T*B,), "
                "or permute the logits to (B, V, T) against targets (B, T)."
            ) from None
        if not isinstance(got, Tensor) or got.dim() != 0:
            raise CheckFailed(f"{name} should return a scalar tensor, got {_shape(got)}")
        if _same(got, want):
            continue
        why = _known_mistake(got, _sequence_loss_mistakes(logits, targets))
        raise CheckFailed(
            f"{name} returned {got.item():.4f} for logits {(T, B, V)}; expected {want.item():.4f}. "
            + (
                f"Diagnosis: {why}."
                if why
                else "Compare with F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))."
            )
        )
    print(f"✓ {name} equals the mean cross-entropy per character on 3 random batches")


def _maybe(fn: Callable):
    try:
        return fn()
    except (RuntimeError, ValueError, IndexError):
        return None


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
            "right: the last layer's final state" + (", forward and backward concatenated" if D == 2 else ""): right,
            "output[-1]: for a bidirectional net its backward half is the backward direction after "
            "ONE step (it reads the sequence from the end). Use torch.cat([h_n[-2], h_n[-1]], -1)": t_major[-1],
            "h_n[-1] alone: with bidirectional=True that is only the backward direction; "
            "concatenate h_n[-2] (forward) and h_n[-1]": h_n[-1],
            "output[:, -1] of a time-major output: the last *sequence in the batch* at every "
            "time step, not the last time step": t_major[:, -1],
        }
        for k in range((L - 1) * D):  # rows of the layers below the last
            known[
                f"h_n[{k}]: layer {k // D}{' backward' if k % D else ''}'s state, not the last "
                "layer's (as from `output, (h, c) = gru(x)` on a 2-layer GRU)"
            ] = h_n[k]
        if h_n.shape[0] == h_n.shape[1]:
            known[
                "a row of h_n read as if it were batch-first: h_n is always (num_layers*num_directions, batch, hidden)"
            ] = h_n.transpose(0, 1)[-1]
    found = _known_mistake(candidate, {name: (lambda v=v: v) for name, v in known.items()}, tol=TOL_FLOAT32)
    if found:
        return found
    return f"no known mistake matches a {tuple(candidate.shape)} tensor; the final state is {tuple(right.shape)}: " + (
        "torch.cat([h_n[-2], h_n[-1]], -1)" if D == 2 else "h_n[-1]"
    )


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
        if not what.startswith("right"):
            raise CheckFailed(f"{name} with num_layers={L}, bidirectional={bi}: you returned {what}.")
    print(f"✓ {name} returns the last layer's final states in 4 configurations")


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
            raise CheckFailed(f"{name}: expected shape {tuple(want.shape)} (batch, hidden), got {_shape(got)}")
        if _same(got, want):
            continue
        why = _known_mistake(got, _last_valid_mistakes(out, lengths))
        raise CheckFailed(
            f"{name} picked the wrong steps for lengths {lengths}." + (f" Diagnosis: {why}." if why else "")
        )
    print(f"✓ {name} picks each sequence's last valid step in 3 batches")


# -- truncated backprop through time ----------------------------------------------------------
def _tbptt_case(seed: int = 0):
    """A tiny float64 character LM, its chunks, and a way to rebuild it identically."""
    from rnnlab.data import stream_batches
    from rnnlab.models import CharLM

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
    from rnnlab.models import detach_state
    from rnnlab.train import sequence_loss

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
        "the gradients were not clipped. clip_grad_norm_ must run after loss.backward() (before "
        "it there is no gradient to clip) and before optimizer.step()": _tbptt_variant(clip=None),
        "optimizer.zero_grad() is missing, so each chunk's gradient adds to the previous ones": _tbptt_variant(
            zero_grad=False
        ),
        "clip_grad_value_ clips each entry; the task asks for clip_grad_norm_, which rescales the "
        "whole gradient and keeps its direction": _tbptt_variant(clip="value"),
        "the carried state is not used: every chunk starts from zeros. Pass the previous chunk's "
        "(detached) state to the model": _tbptt_variant(carry=False),
    }


def check_tbptt_step(fn: Callable) -> None:
    """``fn(model, optimizer, x, y, state, clip) -> (loss, state)``: one truncated-BPTT step
    (zero_grad, forward from the detached carried state, backward, clip_grad_norm_, step), as
    :func:`rnnlab.lm.tbptt_step`. Runs 3 consecutive chunks and compares every weight."""
    from rnnlab.lm import tbptt_step

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
                f"{name}: the second chunk's backward() failed because the carried state was not "
                "detached: its graph reaches back into the first chunk, whose graph backward() "
                "already freed. Pass state.detach() (for an LSTM, each of (h, c)) to the model."
            ) from None
        if "modified by an inplace operation" in text:
            raise CheckFailed(
                f"{name}: backward() failed with an in-place modification error. retain_graph=True "
                "kept the old chunk's graph alive, but optimizer.step() has since changed the "
                "weights it saved. Drop retain_graph and detach the carried state instead."
            ) from None
        raise
    except (TypeError, ValueError) as e:
        raise CheckFailed(
            f"{name} should return (loss, state); calling it failed with {type(e).__name__}: {e}"
        ) from None

    if _same(got, want):
        if not _same(got_losses, want_losses):
            raise CheckFailed(
                f"{name}: the weights are right, but the returned losses {got_losses} "
                f"should be each chunk's mean loss {want_losses}"
            )
        print(
            f"✓ {name} trains 3 chunks with the carried state detached and clipped gradients, exactly as the reference"
        )
        return
    catalogue = {m: (lambda v=v: _tbptt_run(v, build, chunks, clip)[1]) for m, v in _tbptt_variants().items()}
    mistake = _known_mistake(got, catalogue)
    if mistake:
        raise CheckFailed(f"{name}: the weights after 3 chunks are off. Diagnosis: {mistake}.")
    raise CheckFailed(
        f"{name}: the weights after 3 chunks differ from the reference and match no known mistake. "
        "The order is: zero_grad, forward from the detached state, loss, backward, clip, step."
    )


# -- bits per character -----------------------------------------------------------------------
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
        got = _call(fn, name, logits, targets)
        try:
            got = float(got)
        except (TypeError, ValueError, RuntimeError):
            raise CheckFailed(f"{name} should return one number (a float or a 0-d tensor), got {_shape(got)}") from None
        if _same(got, want):
            continue
        why = _known_mistake(got, _bits_mistakes(nats, T * B))
        raise CheckFailed(
            f"{name} returned {got:.4f} for logits {(T, B, V)}; expected {want:.4f} bits/char. "
            + (
                f"Diagnosis: {why}."
                if why
                else "Flatten to (T*B, V) and (T*B,), take the mean cross-entropy, divide by ln 2."
            )
        )
    print(f"✓ {name} gives bits per character on 3 random batches")


# -- variable-length batches and decoding (notebooks 10 and 11) -----------------------------------
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
            raise CheckFailed(f"{name}: expected shape {tuple(want.shape)} (batch, hidden), got {_shape(got)}")
        if _same(got, want):
            continue
        why = _known_mistake(got, _masked_mean_mistakes(out, lengths))
        raise CheckFailed(
            f"{name} gave the wrong means for lengths {lengths} (the padding holds 7.0)."
            + (f" Diagnosis: {why}." if why else "")
        )
    print(f"✓ {name} averages only the valid steps in 4 batches")


def _decoder_case(seed: int):
    from rnnlab.seq2seq import Seq2Seq

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
                f"{name} returned a tensor {_shape(got)}; return one Python list of indices "
                "per sequence (rows have different lengths once END stops them)"
            )
        try:
            got = [[int(k) for k in row] for row in got]
        except TypeError:
            raise CheckFailed(f"{name} should return a list of lists of ints, got {type(got).__name__}") from None
        if _same(got, want):
            continue
        why = _known_mistake(got, _decode_mistakes(model, src, lengths, 6))
        if why is None and len(got) != len(want):
            why = f"one list per sequence: expected {len(want)}, got {len(got)} (the batch is dimension 1 of src)"
        raise CheckFailed(
            f"{name} decoded {got} where greedy decoding gives {want}." + (f" Diagnosis: {why}." if why else "")
        )
    print(f"✓ {name} decodes greedily, stopping at END, on 4 random models")
