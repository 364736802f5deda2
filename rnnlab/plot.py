"""Plots for the course. Functions take data and an optional Axes, and return the Axes;
nothing here is called from inside an ``nn.Module``."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, Patch, Rectangle

__all__ = ["unrolled_diagram"]

OUTPUT_COLOR = "#9ecae1"  # fill: states that form `output`
H_N_COLOR = "#e6550d"  # edge: states that form `h_n`


def unrolled_diagram(
    seq_len: int, num_layers: int = 1, bidirectional: bool = False, ax: Axes | None = None
) -> Axes:
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
            ax.add_patch(Rectangle(
                (t - w / 2, y - h / 2), w, h,
                facecolor=OUTPUT_COLOR if is_out else "white",
                edgecolor=H_N_COLOR if is_hn else "0.3", linewidth=2.5 if is_hn else 1,
            ))  # fmt: skip
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
        handles=[Patch(facecolor=OUTPUT_COLOR, edgecolor="0.3", label="output (last layer, every t)"),
                 Patch(facecolor="white", edgecolor=H_N_COLOR, linewidth=2.5, label="h_n (every layer, last step)")],
        loc="upper center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False,
    )  # fmt: skip
    ax.set_title("time →", fontsize=9, loc="left")
    return ax
