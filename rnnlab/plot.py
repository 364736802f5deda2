"""Plots for the course. Functions take data and an optional Axes or Figure and return it;
nothing here is called from inside an ``nn.Module``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

if TYPE_CHECKING:
    from torch import Tensor

    from rnnlab.labelling import History

__all__ = ["unrolled_diagram", "cell_diagram", "plot_histories", "plot_gates", "plot_confusion", "plot_attention"]

OUTPUT_COLOR = "#9ecae1"  # fill: states that form `output`
H_N_COLOR = "#e6550d"  # edge: states that form `h_n`


def unrolled_diagram(seq_len: int, num_layers: int = 1, bidirectional: bool = False, ax: Axes | None = None) -> Axes:
    """Draw a recurrent net unrolled over time: a time × layers grid of states.

    Boxes filled blue make ``output`` (the last layer at every step, both directions);
    boxes with an orange edge make ``h_n`` (every layer and direction at its last step:
    ``t = T-1`` forward, ``t = 0`` backward).

    Args:
        seq_len: time steps ``T`` (columns).
        num_layers: stacked layers ``L``.
        bidirectional: add a backward row per layer.
        ax: where to draw; a new figure if omitted.

    Returns:
        The Axes.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.9 * seq_len, 1.2 + 0.9 * num_layers * (1 + bidirectional)))
    dirs = [("fwd", 0), ("bwd", 1)] if bidirectional else [("", 0)]
    rows = [(k, d, label) for k in range(num_layers) for label, d in dirs]
    w, h = 0.6, 0.5
    for r, (k, d, label) in enumerate(rows):
        y = r + 1
        for t in range(seq_len):
            is_out = k == num_layers - 1
            is_hn = t == (0 if d else seq_len - 1)
            ax.add_patch(
                Rectangle(
                    (t - w / 2, y - h / 2),
                    w,
                    h,
                    facecolor=OUTPUT_COLOR if is_out else "white",
                    edgecolor=H_N_COLOR if is_hn else "0.3",
                    linewidth=2.5 if is_hn else 1,
                )
            )
            ax.text(t, y, f"h{t}", ha="center", va="center", fontsize=8)
            if t < seq_len - 1:  # recurrence arrow, in the direction of processing
                a, b = (t + w / 2, t + 1 - w / 2) if d == 0 else (t + 1 - w / 2, t + w / 2)
                ax.add_patch(FancyArrowPatch((a, y), (b, y), arrowstyle="->", mutation_scale=8, color="0.4"))
        ax.text(-0.7, y, f"layer {k}" + (f" {label}" if label else ""), ha="right", va="center", fontsize=8)
    for t in range(seq_len):  # inputs
        ax.text(t, 0.1, f"x{t}", ha="center", va="center", fontsize=8)
        ax.add_patch(FancyArrowPatch((t, 0.3), (t, 1 - h / 2), arrowstyle="->", mutation_scale=8, color="0.4"))
    ax.set_xlim(-2.2, seq_len - 0.3)
    ax.set_ylim(-0.3, len(rows) + 0.8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.legend(
        handles=[
            Patch(facecolor=OUTPUT_COLOR, edgecolor="0.3", label="output (last layer, every t)"),
            Patch(facecolor="white", edgecolor=H_N_COLOR, linewidth=2.5, label="h_n (every layer, last step)"),
        ],
        loc="upper center",
        bbox_to_anchor=(0.5, 1.0),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    ax.set_title("time →", fontsize=9, loc="left")
    return ax


def plot_histories(histories: Mapping[str, History], fig: Figure | None = None) -> Figure:
    """Loss and accuracy per epoch of several training runs, side by side.

    Args:
        histories: ``{label: History}`` from :func:`rnnlab.labelling.fit`.
        fig: where to draw; a new 10×3.5 in figure if omitted.

    Returns:
        The figure, with axes ``(loss, accuracy)``.
    """
    fig = fig or plt.figure(figsize=(10, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for label, h in histories.items():
        epochs = range(1, h.epochs + 1)
        ax_loss.plot(epochs, h.loss, label=label)
        ax_acc.plot(epochs, h.accuracy, label=label)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy per character", title="loss", yscale="log")
    ax_acc.set(xlabel="epoch", ylabel="characters right", title="accuracy", ylim=(0, 1.05))
    ax_acc.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax_acc.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def plot_gates(trace: Mapping[str, Tensor], source: str, title: str = "", fig: Figure | None = None) -> Figure:
    """Heatmaps of gate activations and states over time, one panel per entry.

    Args:
        trace: ``{name: (T, H)}``, e.g. from :func:`rnnlab.labelling.trace_gates`.
        source: the ``T`` input characters, used as column labels.
        title: figure title.

    Returns:
        The figure; σ gates use a fixed 0–1 colour range, tanh values and states −1–1
        (``c`` widened to its largest magnitude).
    """
    names = list(trace)
    fig = fig or plt.figure(figsize=(1.5 * len(names) + 1.2, 3.4))
    fig.set_layout_engine("constrained")  # titles, ticks and colour bars never overlap
    axes = fig.subplots(1, len(names), sharey=True)
    axes = axes if len(names) > 1 else [axes]
    scales: dict[str, tuple] = {}  # colour scale -> (image, axes using it), one colour bar each
    for ax, name in zip(axes, names):
        values = trace[name].detach().cpu().T.numpy()  # (H, T): units down, time across
        if name in ("i", "f", "o", "r", "z"):  # sigmoid gates: 0 (closed) to 1 (open)
            scale, cmap, lo, hi = "σ gates: 0 closed … 1 open", "viridis", 0.0, 1.0
        elif name == "c":  # the cell state is unbounded
            hi = max(1.0, float(abs(values).max()))
            scale, cmap, lo = "c (cell state)", "RdBu_r", -hi
        else:  # tanh outputs and states, centred on 0
            scale, cmap, lo, hi = "tanh values: −1 … 1", "RdBu_r", -1.0, 1.0
        im = ax.imshow(values, cmap=cmap, aspect="auto", vmin=lo, vmax=hi)
        ax.set_xticks(range(len(source)), list(source))
        ax.set_title(name)
        scales.setdefault(scale, (im, []))[1].append(ax)
    axes[0].set_ylabel("unit")
    for label, (im, _) in scales.items():
        bar = fig.colorbar(im, ax=list(axes), location="bottom", shrink=0.35, aspect=40, pad=0.02, label=label)
        lo, hi = im.get_clim()
        bar.set_ticks([lo, (lo + hi) / 2, hi], labels=[f"{lo:.2g}", f"{(lo + hi) / 2:.2g}", f"{hi:.2g}"])
    if title:
        fig.suptitle(title)
    return fig


# Data flow of one cell step: node -> (x, y, label), then edges (from, to).
_CELL_FLOWS = {
    "lstm": (
        {
            "x": (0, 0, "$x_t$"),
            "h": (0, 1.6, "$h_{t-1}$"),
            "c0": (0, 4.4, "$c_{t-1}$"),
            "lin": (2.2, 0.8, "$x_t W_{ih}^T + b_{ih}$\n+ $h_{t-1} W_{hh}^T + b_{hh}$\n(B, 4H)"),
            "f": (4.6, 3.3, "f = σ(·)"),
            "i": (4.6, 2.2, "i = σ(·)"),
            "g": (4.6, 1.1, "g = tanh(·)"),
            "o": (4.6, 0, "o = σ(·)"),
            "mf": (6.2, 4.4, "⊙"),
            "mi": (6.2, 1.65, "⊙"),
            "add": (7.4, 4.4, "+"),
            "c": (8.8, 4.4, "$c_t$"),
            "tc": (8.8, 2.2, "tanh"),
            "mo": (8.8, 0, "⊙"),
            "out": (10.2, 0, "$h_t$"),
        },
        [
            ("x", "lin"),
            ("h", "lin"),
            ("lin", "i"),
            ("lin", "f"),
            ("lin", "g"),
            ("lin", "o"),
            ("c0", "mf"),
            ("f", "mf"),
            ("i", "mi"),
            ("g", "mi"),
            ("mf", "add"),
            ("mi", "add"),
            ("add", "c"),
            ("c", "tc"),
            ("tc", "mo"),
            ("o", "mo"),
            ("mo", "out"),
        ],
    ),
    "gru": (
        {
            "x": (0, 0, "$x_t$"),
            "h": (0, 2.6, "$h_{t-1}$"),
            "gi": (2.3, 0, "$x_t W_{ih}^T + b_{ih}$\n→ $i_r, i_z, i_n$"),
            "gh": (2.3, 2.6, "$h_{t-1} W_{hh}^T + b_{hh}$\n→ $h_r, h_z, h_n$"),
            "r": (5.0, 1.3, "r = σ($i_r + h_r$)"),
            "z": (5.0, 3.6, "z = σ($i_z + h_z$)"),
            "n": (7.4, 0.6, "n = tanh($i_n$ + r ⊙ $h_n$)"),
            "out": (9.6, 2.6, "$h_t$ = (1 − z) ⊙ n\n+ z ⊙ $h_{t-1}$"),
        },
        [
            ("x", "gi"),
            ("h", "gh"),
            ("gi", "r"),
            ("gh", "r"),
            ("gi", "z"),
            ("gh", "z"),
            ("gi", "n"),
            ("gh", "n"),
            ("r", "n"),
            ("n", "out"),
            ("z", "out"),
            ("h", "out"),
        ],
    ),
}


def cell_diagram(kind: str, ax: Axes | None = None) -> Axes:
    """Draw the data flow of one LSTM or GRU step, torch's gate order and form.

    Args:
        kind: ``'lstm'`` (gates i, f, g, o and the cell state) or ``'gru'`` (r, z, n, with
            the reset gate applied to ``h_n = h W_hn^T + b_hn``).
        ax: where to draw; a new figure if omitted.

    Returns:
        The Axes.
    """
    nodes, edges = _CELL_FLOWS[kind]
    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.6))
    for name, (x, y, label) in nodes.items():
        is_state = name in ("x", "h", "c0", "c", "out")
        ax.text(
            x,
            y,
            label,
            ha="center",
            va="center",
            fontsize=9,
            zorder=3,
            bbox=dict(boxstyle="round,pad=0.35", facecolor=OUTPUT_COLOR if is_state else "white", edgecolor="0.3"),
        )
    for a, b in edges:
        (xa, ya, _), (xb, yb, _) = nodes[a], nodes[b]
        bend = "arc3,rad=-0.25" if (a, b) == ("h", "out") else "arc3"
        ax.add_patch(
            FancyArrowPatch(
                (xa, ya),
                (xb, yb),
                arrowstyle="->",
                mutation_scale=10,
                color="0.45",
                shrinkA=22,
                shrinkB=22,
                connectionstyle=bend,
                zorder=2,
            )
        )
    xs = [x for x, _, _ in nodes.values()]
    ys = [y for _, y, _ in nodes.values()]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 1.3)
    ax.set_ylim(min(ys) - 0.7, max(ys) + 0.7)
    ax.axis("off")
    ax.set_title(f"one {kind.upper()} step", fontsize=10, loc="left")
    return ax


def plot_confusion(matrix: Tensor, labels: list[str], ax: Axes | None = None, title: str = "") -> Axes:
    """A confusion matrix, each row normalised to the true class's size (so a row reads as
    "where the names of this language went"), with the counts written in the cells.

    Args:
        matrix: ``(C, C)`` counts, row = true label, column = predicted.
        labels: the ``C`` class names.
    """
    ax = ax or plt.figure(figsize=(6.5, 5.5)).add_subplot()
    counts = matrix.double()
    rates = counts / counts.sum(1, keepdim=True).clamp(min=1)
    im = ax.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1)
    C = len(labels)
    for i in range(C):
        for j in range(C):
            if matrix[i, j] > 0:
                ax.text(
                    j,
                    i,
                    str(int(matrix[i, j])),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if rates[i, j] > 0.6 else "black",
                )
    ax.set_xticks(range(C), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(C), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.figure.tight_layout()
    return ax


def plot_attention(weights: Tensor, source: str, output: str, ax: Axes | None = None, title: str = "") -> Axes:
    """The attention weights of one decoded string: a row per output step (each written character,
    then ``END``), a column per source character; darker = more weight.

    Args:
        weights: ``(len(output) + 1, len(source))``, as :func:`rnnlab.seq2seq.greedy_decode` returns them
            with ``return_attention=True``.
    """
    if tuple(weights.shape) != (len(output) + 1, len(source)):
        raise ValueError(
            f"weights {tuple(weights.shape)} do not fit output {output!r} + END and source {source!r}: "
            f"expected {(len(output) + 1, len(source))}"
        )
    ax = ax or plt.figure(figsize=(0.42 * len(source) + 1.6, 0.38 * len(output) + 1.4)).add_subplot()
    im = ax.imshow(weights.double().numpy(), cmap="Greys", vmin=0, vmax=1)
    ax.set_xticks(range(len(source)), list(source))
    ax.set_yticks(range(len(output) + 1), [*output, "END"])
    ax.set(xlabel="source character (encoder output h_j)", ylabel="output step", title=title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="weight")
    ax.figure.tight_layout()
    return ax
