"""The shape explorer's table and the unrolled diagram (the notebooks rely on both)."""

from __future__ import annotations

import re

import pytest
import torch

from rnnlab.explore import explorer, shape_table
from rnnlab.plot import unrolled_diagram


def shown_h_n(html: str) -> str:
    """The h_n shape as the explorer's HTML table shows it."""
    return re.search(r'data-name="h_n"[^>]*>([^<]*)<', html).group(1)


def test_shape_table_matches_the_real_modules():
    t = shape_table("RNN", seq_len=10, batch=3, input_size=100, hidden_size=20, num_layers=4)
    assert t.shape("output") == (10, 3, 20) and t.shape("h_n") == (4, 3, 20)
    assert t.shape("weight_ih_l0") == (20, 100) and t.shape("weight_ih_l1") == (20, 20)
    assert t.num_parameters == sum(p.numel() for p in torch.nn.RNN(100, 20, 4).parameters())
    text = str(t)
    assert "h_n" in text and "(4, 3, 20)" in text and "parameters" in text
    assert shown_h_n(t._repr_html_()) == "(4, 3, 20)"


def test_shape_table_lstm_projection_and_batch_first():
    t = shape_table("LSTM", 5, 2, 4, 10, 2, bidirectional=True, batch_first=True, proj_size=3)
    assert t.shape("output") == (2, 5, 6)
    assert t.shape("h_n") == (4, 2, 3) and t.shape("c_n") == (4, 2, 10)
    assert t.shape("weight_hr_l1_reverse") == (3, 10)


def test_shape_table_rejects_like_torch():
    with pytest.raises(ValueError, match="only supported for LSTM"):
        shape_table("GRU", proj_size=2)


def test_explorer_reacts_to_controls():
    pytest.importorskip("ipywidgets")
    ui = explorer()
    controls = {c.description: c for c in ui.controls.values()}
    table_view = ui.table_view

    def shown_text():
        return table_view.value

    assert shown_h_n(shown_text()) == "(1, 3, 20)"  # h_n of the default single-layer RNN
    controls["num_layers"].value = 3
    assert shown_h_n(shown_text()) == "(3, 3, 20)"
    controls["bidirectional"].value = True
    assert shown_h_n(shown_text()) == "(6, 3, 20)"
    controls["module"].value = "GRU"
    controls["proj_size (LSTM)"].value = 4
    assert "proj_size argument is only supported for LSTM" in shown_text()


def test_unrolled_diagram_draws_a_box_per_state():
    ax = unrolled_diagram(4, num_layers=2, bidirectional=True)
    boxes = [p for p in ax.patches if type(p).__name__ == "Rectangle"]
    assert len(boxes) == 4 * 2 * 2
    thick = [b for b in boxes if b.get_linewidth() > 2]
    assert len(thick) == 2 * 2  # h_n: one per layer and direction


def test_plot_histories_and_gates():
    from rnnlab.labelling import History
    from rnnlab.plot import plot_gates, plot_histories

    h = History(loss=[1.0, 0.5, 0.1], accuracy=[0.2, 0.6, 1.0], prediction=[["a"], ["b"], ["c"]])
    fig = plot_histories({"gru": h, "lstm": History([2.0, 1.0], [0.0, 0.4], [["x"], ["y"]])})
    loss_ax, acc_ax = fig.axes
    assert [len(line.get_xdata()) for line in loss_ax.lines] == [3, 2]
    assert acc_ax.get_legend() is not None and acc_ax.get_ylim()[1] > 1
    trace = {"i": torch.rand(5, 3), "c": 3 * torch.randn(5, 3), "h": torch.rand(5, 3) * 2 - 1}
    fig = plot_gates(trace, "hello", title="LSTM")
    images = [ax.images[0] for ax in fig.axes if ax.images]
    assert len(images) == 3
    assert images[0].get_clim() == (0.0, 1.0)  # sigmoid gate
    assert images[1].get_clim()[1] >= trace["c"].abs().max().item()  # c is not clipped
    assert images[0].get_array().shape == (3, 5)  # units x time


@pytest.mark.parametrize("kind,labels", [("lstm", ["f = σ(·)", "g = tanh(·)", "o = σ(·)"]), ("gru", ["r = σ"])])
def test_cell_diagram(kind, labels):
    from rnnlab.plot import cell_diagram

    ax = cell_diagram(kind)
    texts = " ".join(t.get_text() for t in ax.texts)
    assert all(label in texts for label in labels)
    assert len(ax.patches) >= 10  # the arrows


def test_plot_confusion_normalises_rows_and_writes_counts():
    import matplotlib.pyplot as plt

    from rnnlab.plot import plot_confusion

    m = torch.tensor([[8, 2, 0], [1, 1, 0], [0, 0, 0]])
    ax = plot_confusion(m, ["a", "b", "c"], title="t")
    rates = ax.images[0].get_array()
    assert abs(rates[0, 0] - 0.8) < 1e-9 and abs(rates[1, 1] - 0.5) < 1e-9 and rates[2].sum() == 0
    assert sorted(t.get_text() for t in ax.texts) == ["1", "1", "2", "8"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    plt.close(ax.figure)


def test_explorer_shows_a_sentence_where_widgets_do_not_run():
    """A stored notebook, the static site and a not-yet-run JupyterLab show text/plain: a sentence,
    never a raw HBox(children=...) repr."""
    import json
    import pathlib

    from rnnlab.explore import explorer

    view = explorer()
    assert view._repr_mimebundle_()["text/plain"].startswith("Shape explorer: run this cell")
    nb = json.loads((pathlib.Path(__file__).parents[1] / "notebooks" / "01_rnn_basics.ipynb").read_text())
    texts = [
        "".join(o.get("data", {}).get("text/plain", ""))
        for c in nb["cells"]
        if c["cell_type"] == "code" and "explorer()" in "".join(c["source"])
        for o in c.get("outputs", [])
    ]
    assert texts and all(t.startswith("Shape explorer:") and "HBox" not in t for t in texts)


def test_gate_heatmaps_do_not_overlap():
    """Titles, tick labels and colour bars of plot_gates never cover each other (notebook 05)."""
    import itertools

    import torch

    from rnnlab.plot import plot_gates

    torch.manual_seed(0)
    trace = {k: torch.rand(5, 8) * (1 if k in "ifo" else 2) for k in ("i", "f", "g", "o", "c", "h")}
    fig = plot_gates(trace, "hello", title="LSTM on 'hello'")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    assert len(fig.axes) == 6 + 3  # six panels, one colour bar per scale (σ, tanh, c)
    for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2):
        assert not a.overlaps(b) or a.intersection(a, b).width < 2, (fig.axes[i].get_title(), fig.axes[j].get_label())
