"""Notebook 09b: the AUROC that scores how well one hidden unit separates a feature's yes from its no."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from rnnlab.checks._core import CheckFailed, _call, _known_mistake, _name, _number, diagnosis
from rnnlab.checks._i18n import tr
from rnnlab.inside import auroc


def _pairs(scores: Tensor, labels: Tensor, tie: float = 0.5, flip: bool = False) -> float:
    """The AUROC's known mistakes, by its definition over every (yes, no) pair: the share where the yes scores
    higher, ties counting ``tie`` (``flip``: yes and no exchanged); ``tie = 0.5`` unflipped is the AUROC."""
    yes, no = (scores[~labels], scores[labels]) if flip else (scores[labels], scores[~labels])
    diff = yes[:, None] - no[None, :]
    return ((diff > 0).double() + tie * (diff == 0).double()).mean().item()


def _auroc_mistakes(scores: Tensor, labels: Tensor) -> dict[str, Callable[[], object]]:
    return {
        tr("yes and no are exchanged: the AUROC is the chance that a random yes scores above a random no"): lambda: (
            _pairs(scores, labels, flip=True)
        ),
        tr("tied scores count as a loss: a (yes, no) pair with equal scores counts one half"): lambda: _pairs(
            scores, labels, tie=0.0
        ),
        tr("tied scores count as a win: a (yes, no) pair with equal scores counts one half"): lambda: _pairs(
            scores, labels, tie=1.0
        ),
        tr("this is the accuracy of the rule score > 0, not an area: compare every yes with every no"): lambda: (
            ((scores > 0) == labels).double().mean().item()
        ),
    }


def check_auroc(fn: Callable) -> None:
    """``fn(scores, labels) -> float``: the area under the ROC curve of ``scores`` ``(N,)`` for ``labels`` ``(N,)``
    bool, the chance that a random yes scores above a random no, ties counting one half (as
    :func:`rnnlab.inside.auroc`). Checked on continuous scores, on scores with many ties, and on perfect ones."""
    name = _name(fn)
    g = torch.Generator().manual_seed(0)
    labels = torch.rand(60, generator=g) < 0.3
    cases = [
        (tr("continuous scores"), torch.randn(60, generator=g, dtype=torch.float64) + labels.double()),
        (tr("scores with ties"), torch.randint(-2, 3, (60,), generator=g).double() + labels.double()),
        (tr("perfectly separated scores"), labels.double() * 10 - 5 + torch.rand(60, generator=g, dtype=torch.float64)),
    ]
    for kind, scores in cases:
        want = auroc(scores, labels)
        value = _number(name, _call(fn, name, scores.clone(), labels.clone()))
        if abs(value - want) < 1e-9:
            continue
        message = tr(
            "{name} gave {got} for {kind}; the AUROC is {want}.",
            name=name,
            got=f"{value:.4f}",
            kind=kind,
            want=f"{want:.4f}",
        )
        why = _known_mistake(value, _auroc_mistakes(scores, labels), tol=1e-9)
        raise CheckFailed(
            diagnosis(
                message,
                why,
                tr("Count, over every (yes, no) pair, the share where the yes scores higher, ties counting one half."),
            )
        )
    print(tr("✓ {name} equals the AUROC on continuous, tied and perfectly separated scores", name=name))
