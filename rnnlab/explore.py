"""The shape explorer: every shape of nn.RNN / nn.LSTM / nn.GRU for a chosen configuration.

:func:`shape_table` runs the real ``torch.nn`` module (and its ``rnnlab`` twin, to show
they agree) and returns a :class:`ShapeTable`, printable as text (so nbval can compare it)
and shown as HTML in JupyterLab. :func:`explorer` wraps it in ipywidgets controls with the
unrolled diagram of :func:`rnnlab.plot.unrolled_diagram` beside the table.
"""

from __future__ import annotations

import html
import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from rnnlab import layers

__all__ = ["ShapeTable", "shape_table", "explorer"]

KINDS = ("RNN", "LSTM", "GRU")


@dataclass
class ShapeTable:
    """Shapes of one configuration: tensors, then parameters, then the parameter count."""

    config: dict
    tensors: list[tuple[str, tuple[int, ...]]]
    parameters: list[tuple[str, tuple[int, ...]]] = field(default_factory=list)

    @property
    def num_parameters(self) -> int:
        return sum(torch.Size(s).numel() for _, s in self.parameters)

    def shape(self, name: str) -> tuple[int, ...]:
        """The shape of a tensor or parameter by name, e.g. ``table.shape('h_n')``."""
        return dict(self.tensors + self.parameters)[name]

    def __str__(self) -> str:
        cfg = ", ".join(f"{k}={v}" for k, v in self.config.items())
        rows = [(n, str(s)) for n, s in self.tensors] + [("", "")]
        rows += [(n, str(s)) for n, s in self.parameters]
        width = max(len(n) for n, _ in rows)
        lines = [cfg] + [f"  {n:<{width}}  {s}" if n else "" for n, s in rows]
        lines.append(f"  {'parameters':<{width}}  {self.num_parameters:,}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        def row(n, s, section):
            return (
                f'<tr class="rnnlab-{section}"><td><code>{html.escape(n)}</code></td>'
                f'<td class="rnnlab-shape" data-name="{html.escape(n)}" '
                f'style="white-space: nowrap">{s}</td></tr>'
            )

        body = "".join(row(n, s, "tensor") for n, s in self.tensors)
        body += '<tr><td colspan="2"><b>parameters</b></td></tr>'
        body += "".join(row(n, s, "param") for n, s in self.parameters)
        body += row("total", f"{self.num_parameters:,}", "count")
        return f'<table class="rnnlab-shapes" style="line-height: 1.2">{body}</table>'


def shape_table(
    kind: str = "RNN",
    seq_len: int = 10,
    batch: int = 3,
    input_size: int = 100,
    hidden_size: int = 20,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = False,
    proj_size: int = 0,
) -> ShapeTable:
    """Build ``torch.nn.<kind>``, run it on zeros and record every shape.

    The rnnlab twin runs on the same input; a mismatch raises (it never should).

    Returns:
        A :class:`ShapeTable` with ``input``, ``h_0`` (``c_0``), ``output``, ``h_n``
        (``c_n``) and every parameter's shape.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first)
    if proj_size:
        kw["proj_size"] = proj_size  # torch itself rejects it for RNN/GRU
    ref = getattr(nn, kind)(input_size, hidden_size, **kw)
    ours = getattr(layers, kind)(input_size, hidden_size, **kw)
    D, P = 2 if bidirectional else 1, proj_size or hidden_size
    x = torch.zeros((batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size))
    h0 = torch.zeros(num_layers * D, batch, P)
    c0 = torch.zeros(num_layers * D, batch, hidden_size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        results = [m(x, (h0, c0) if kind == "LSTM" else h0) for m in (ref, ours)]
    shapes = []
    for out, h in results:
        states = h if kind == "LSTM" else (h,)
        shapes.append([tuple(out.shape)] + [tuple(s.shape) for s in states])
    if shapes[0] != shapes[1]:
        raise AssertionError(f"rnnlab.{kind} shapes {shapes[1]} differ from torch's {shapes[0]}")
    names = ["output", "h_n", "c_n"][: len(shapes[0])]
    tensors = [("input", tuple(x.shape)), ("h_0", tuple(h0.shape))]
    if kind == "LSTM":
        tensors.append(("c_0", tuple(c0.shape)))
    tensors += list(zip(names, shapes[0]))
    config = {
        "kind": kind,
        "seq_len": seq_len,
        "batch": batch,
        "input_size": input_size,
        "hidden_size": hidden_size,
        **kw,
    }
    params = [(n, tuple(p.shape)) for n, p in ref.named_parameters()]
    return ShapeTable(config, tensors, params)


def explorer():
    """Interactive shape explorer (ipywidgets): controls, the shape table and the unrolled
    diagram, recomputed on every change. Returns the widget to display.

    Laid out to wrap: the controls flow in rows, and the diagram moves below the table when the
    notebook is too narrow for both side by side (checked at 1100 px by tests/test_browser.py).
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt

    from rnnlab.plot import unrolled_diagram

    class ShapeExplorer(w.VBox):
        def __repr__(self) -> str:  # what shows where widgets do not run (a stored notebook, the site)
            return "Shape explorer: run this cell in JupyterLab to change the settings and see every shape."

    style = {"description_width": "110px"}
    slider = dict(style=style, layout=w.Layout(width="360px", margin="2px 16px 2px 0"), continuous_update=False)
    check = dict(indent=False, layout=w.Layout(width="auto", margin="2px 24px 2px 0"))
    controls = {
        "kind": w.ToggleButtons(options=KINDS, value="RNN", description="module", style=style),
        "seq_len": w.IntSlider(5, 1, 12, description="seq_len", **slider),
        "batch": w.IntSlider(3, 1, 8, description="batch", **slider),
        "input_size": w.IntSlider(10, 1, 64, description="input_size", **slider),
        "hidden_size": w.IntSlider(20, 2, 64, description="hidden_size", **slider),
        "num_layers": w.IntSlider(1, 1, 4, description="num_layers", **slider),
        "proj_size": w.IntSlider(0, 0, 63, description="proj_size (LSTM)", **slider),
        "bidirectional": w.Checkbox(False, description="bidirectional", **check),
        "batch_first": w.Checkbox(False, description="batch_first", **check),
    }
    wrap = dict(display="flex", flex_flow="row wrap", align_items="flex-start")
    sliders = [c for c in controls.values() if isinstance(c, w.IntSlider)]
    boxes = [c for c in controls.values() if isinstance(c, w.Checkbox)]
    control_panel = w.VBox(
        [
            controls["kind"],
            w.Box(sliders, layout=w.Layout(**wrap)),
            w.Box(boxes, layout=w.Layout(**wrap, margin="0 0 0 114px")),
        ]
    )
    table_view = w.HTML(layout=w.Layout(flex="0 0 auto", margin="8px 0"))  # readable by tests
    diagram = w.Output(layout=w.Layout(flex="0 1 auto", min_width="320px", margin="0 32px 0 0"))

    def refresh(*_):
        values = {k: c.value for k, c in controls.items()}
        try:
            table = shape_table(**values)
        except ValueError as e:  # e.g. proj_size for a GRU: torch's own message
            table_view.value = f'<pre class="rnnlab-error">{html.escape(f"{type(e).__name__}: {e}")}</pre>'
            diagram.clear_output()
            return
        table_view.value = table._repr_html_()
        diagram.clear_output(wait=True)
        with diagram:
            rows = values["num_layers"] * (2 if values["bidirectional"] else 1)
            _fig, ax = plt.subplots(figsize=(1 + 0.9 * values["seq_len"], 1.2 + 0.9 * rows))
            unrolled_diagram(values["seq_len"], values["num_layers"], values["bidirectional"], ax=ax)
            plt.show()

    for c in controls.values():
        c.observe(refresh, names="value")
    refresh()
    # the diagram first: side by side with the (long) table when there is room, above it when not
    view = ShapeExplorer([control_panel, w.Box([diagram, table_view], layout=w.Layout(**wrap))])
    view.add_class("rnnlab-explorer")
    view.controls, view.table_view, view.diagram = controls, table_view, diagram  # for tests and tinkering
    return view
