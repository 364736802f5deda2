"""Notebook 09b: looking inside a trained character language model.

Karpathy's question (*The Unreasonable Effectiveness of Recurrent Neural Networks*, 2015): does one hidden unit
track something a person can name, such as being inside a quotation? To answer it with a number, not a picture:

* :func:`lm_states` runs a :class:`~rnnlab.lm.CharLM` over a text and keeps every step's ``h_t`` and ``c_t``;
* :func:`text_features` marks each character with regex-like facts (inside ``"…"``, inside ``'…'``, inside
  brackets, on a line of example code);
* :func:`auroc` scores how well one number separates a feature's yes from its no (0.5: not at all; 1: perfectly),
  and :func:`unit_aurocs` does it for every unit;
* :func:`ngram_scores` is the baseline a unit must beat: the feature's frequency after the last ``n`` characters,
  counted on the training text;
* :func:`linear_probe` asks what all the units together know; :func:`surprise` and :func:`novelty` measure the
  model's predictions and samples;
* :func:`colour_text_html` and :func:`next_char_strip_html` draw a unit over the text, and the top next characters
  under each character, as HTML that renders in JupyterLab and on the static site.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.bptt import record_states
from rnnlab.lm import LN2, stream_batches
from rnnlab.loop import device_of, evaluating
from rnnlab.vocab import CharVocab

__all__ = [
    "LMStates",
    "lm_states",
    "FEATURES",
    "text_features",
    "auroc",
    "unit_aurocs",
    "best_unit",
    "ngram_scores",
    "linear_probe",
    "surprise",
    "novelty",
    "colour_text_html",
    "next_char_strip_html",
]


@dataclass
class LMStates:
    """What :func:`lm_states` kept: for the first ``N`` characters of the text, in text order.

    Attributes:
        h, c: ``(N, H)`` float32, the state after reading character ``t`` (``c``: an LSTM's cell state, else None).
        logp: ``(N, V)`` log-probabilities of character ``t + 1`` given characters ``0 … t``.
    """

    h: Tensor
    c: Tensor | None
    logp: Tensor

    def __len__(self) -> int:
        return self.h.shape[0]


@torch.no_grad()
def lm_states(model: nn.Module, ids: Tensor, rows: int = 64, seq_len: int = 128) -> LMStates:
    """Run ``model`` over ``ids`` as ``rows`` parallel streams (as :func:`rnnlab.lm.evaluate` reads a text), keeping
    every step's state. Each stream starts from zeros; the last ``(len(ids) - 1) % rows`` characters are dropped.

    ``model`` is a one-layer :class:`~rnnlab.lm.CharLM` with rnnlab's layers (torch's fused ones keep no steps).
    """
    if model.rnn.num_layers != 1:
        raise ValueError(f"lm_states reads a one-layer model, got num_layers={model.rnn.num_layers}")
    device = device_of(model)
    hs, cs, logps, state = [], [], [], None
    with evaluating(model):
        for x, _ in stream_batches(ids, rows, seq_len):
            with record_states(model.rnn) as record:
                logits, state = model(x.to(device), state)  # (T, B, V)
            hs.append(torch.stack(record.h()))  # (T, B, H)
            if record.has_cell:
                cs.append(torch.stack(record.c()))
            logps.append(F.log_softmax(logits, -1))

    def in_text_order(chunks: list[Tensor]) -> Tensor:  # (N/B, B, X) -> (N, X): row b is one piece of the text
        whole = torch.cat(chunks)
        return whole.transpose(0, 1).reshape(-1, whole.shape[-1]).cpu()

    return LMStates(in_text_order(hs), in_text_order(cs) if cs else None, in_text_order(logps))


# -- what a person can name: features of each character ---------------------------------------------------------
FEATURES = {
    "inside_double_quotes": 'after an odd number of " in the paragraph (a blank line closes every quote)',
    "inside_single_quotes": "after an odd number of ' in the line",
    "inside_brackets": "after more ( [ { than ) ] } in the line",
    "example_code_line": "on a line whose text starts with the prompt >>> or ...",
}
_PROMPT = re.compile(r"[ \t]*(>>>|\.\.\.)( |$)")


def text_features(text: str) -> dict[str, Tensor]:
    """For each character ``t`` of ``text``, each fact of :data:`FEATURES` once ``t`` has been read, as a
    ``(len(text),)`` bool tensor (a quote or bracket counts from the character itself: an opening quote is
    inside, a closing one is outside). A line's newline belongs to that line."""
    double, single, brackets, code = [], [], [], []
    in_double = False
    for line in text.split("\n"):
        on_prompt = bool(_PROMPT.match(line))
        in_single, depth = False, 0  # single quotes and brackets close at the end of the line
        if not line.strip():
            in_double = False  # a blank line ends the paragraph, and any quote left open in it
        for ch in line + "\n":
            if ch == '"':
                in_double = not in_double
            elif ch == "'":
                in_single = not in_single
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth = max(0, depth - 1)
            double.append(in_double)
            single.append(in_single)
            brackets.append(depth > 0)
            code.append(on_prompt)
    n = len(text)
    return {
        "inside_double_quotes": torch.tensor(double[:n]),
        "inside_single_quotes": torch.tensor(single[:n]),
        "inside_brackets": torch.tensor(brackets[:n]),
        "example_code_line": torch.tensor(code[:n]),
    }


# -- measures -----------------------------------------------------------------------------------------------------
def auroc(scores: Tensor, labels: Tensor) -> float:
    """The area under the ROC curve: the chance that a random *yes* scores above a random *no* (ties count ½).

    Computed from ranks (Mann–Whitney): ``(R_yes − n_yes (n_yes + 1) / 2) / (n_yes n_no)`` with ``R_yes`` the sum
    of the yes-positions' ranks among all scores, tied scores sharing their mean rank. 0.5 is chance; below 0.5 the
    score separates the classes in the other direction.

    Args:
        scores: ``(N,)`` numbers.
        labels: ``(N,)`` bools (or 0/1), with at least one of each.
    """
    scores, labels = torch.as_tensor(scores).double().flatten(), torch.as_tensor(labels).bool().flatten()
    if scores.shape != labels.shape:
        raise ValueError(f"scores and labels must have the same length, got {len(scores)} and {len(labels)}")
    n_yes = int(labels.sum())
    n_no = len(labels) - n_yes
    if n_yes == 0 or n_no == 0:
        raise ValueError(f"labels need both classes, got {n_yes} yes and {n_no} no")
    order = torch.argsort(scores)
    _, group, counts = torch.unique_consecutive(scores[order], return_inverse=True, return_counts=True)
    last = torch.cumsum(counts, 0)  # 1-based rank of each tie group's last member
    mean_rank = (last - counts + 1 + last).double() / 2
    ranks = torch.empty_like(scores)
    ranks[order] = mean_rank[group]
    return (ranks[labels].sum().item() - n_yes * (n_yes + 1) / 2) / (n_yes * n_no)


def unit_aurocs(states: Tensor, labels: Tensor) -> Tensor:
    """:func:`auroc` of each column of ``states`` ``(N, H)`` against ``labels``: ``(H,)`` float64."""
    return torch.tensor([auroc(states[:, u], labels) for u in range(states.shape[1])], dtype=torch.float64)


def best_unit(states: Tensor, labels: Tensor, split: int) -> tuple[int, float]:
    """The unit that separates ``labels`` best on rows ``[:split]`` (AUROC furthest from 0.5), and its AUROC on
    rows ``[split:]``, which did not choose it (below 0.5 when the unit goes down where the feature holds)."""
    chosen = unit_aurocs(states[:split], labels[:split])
    unit = int((chosen - 0.5).abs().argmax())
    return unit, auroc(states[split:, unit], labels[split:])


def ngram_scores(train_ids: Tensor, train_labels: Tensor, ids: Tensor, n: int) -> Tensor:
    """The baseline a unit must beat: for each character of ``ids``, the share of *yes* in the training text after
    the same last ``n`` characters (add-one towards the training rate; a context never seen gets that rate).

    Returns ``(len(ids),)`` float64 scores for :func:`auroc`. ``n = 1`` is the current character alone.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if len(train_ids) != len(train_labels):
        raise ValueError(f"train_ids and train_labels differ in length: {len(train_ids)} and {len(train_labels)}")
    base = int(max(int(train_ids.max()), int(ids.max())) + 2)  # codes for "before the text" too

    def contexts(x: Tensor) -> Tensor:  # (N,) int64: the last n characters as one number
        padded = torch.cat([x.new_full((n - 1,), -1), x]) + 1
        code = torch.zeros(len(x), dtype=torch.int64)
        for j in range(n):
            code = code * base + padded[j : j + len(x)]
        return code

    seen, where = torch.unique(contexts(train_ids), return_inverse=True)
    yes = torch.zeros(len(seen), dtype=torch.float64).index_add_(0, where, train_labels.double())
    total = torch.bincount(where, minlength=len(seen)).double()
    rate = train_labels.double().mean()
    asked = contexts(ids)
    at = torch.searchsorted(seen, asked).clamp(max=len(seen) - 1)
    known = seen[at] == asked
    return torch.where(known, (yes[at] + rate) / (total[at] + 1), rate)


def linear_probe(train_x: Tensor, train_labels: Tensor, test_x: Tensor, weight_decay: float = 1e-3) -> Tensor:
    """A logistic regression on the units (standardised on the training part, L2-regularised, fitted by L-BFGS
    in float64): its scores on ``test_x``, ``(N_test,)``, for :func:`auroc`. What all the units know together."""
    mean, std = train_x.double().mean(0), train_x.double().std(0) + 1e-6
    z_train, z_test = (train_x.double() - mean) / std, (test_x.double() - mean) / std
    y = train_labels.double()
    w = torch.zeros(z_train.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(z_train @ w + b, y) + weight_decay * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return (z_test @ w + b).detach()


def surprise(states: LMStates, ids: Tensor) -> Tensor:
    """``−log₂ p(x_{t+1} | x_{≤t})``, in bits, for characters ``1 … N−1`` of the text: ``(len(states) - 1,)``,
    entry ``t`` the surprise at character ``t + 1`` (read from the state after character ``t``, as
    :func:`rnnlab.lm.evaluate` scores it: the prediction at a stream's last step is of the next stream's first
    character, the true next character of the text). Its mean is the bits per character."""
    n = len(states)
    target = ids[1:n]
    return -states.logp[: n - 1].gather(1, target[:, None]).squeeze(1).double() / LN2


def novelty(samples: list[str], train_text: str, min_len: int = 20) -> dict[str, int]:
    """makemore's check, for text: of the samples' lines with at least ``min_len`` characters, how many stand
    verbatim in the training text (memorised), and how many are new; likewise for their words (runs of 3+ letters)."""
    lines = [line for s in samples for line in s.split("\n") if len(line.strip()) >= min_len]
    words = [w for s in samples for w in re.findall(r"[A-Za-z_]{3,}", s)]
    known_words = set(re.findall(r"[A-Za-z_]{3,}", train_text))
    copied = sum(line in train_text for line in lines)
    real = sum(w in known_words for w in words)
    return {
        "lines": len(lines),
        "lines_in_training_text": copied,
        "lines_new": len(lines) - copied,
        "words": len(words),
        "words_in_training_text": real,
        "words_new": len(words) - real,
    }


# -- pictures as HTML ------------------------------------------------------------------------------------------------
def _shade(value: float) -> str:
    """A background colour for ``value`` in [-1, 1]: red above 0, blue below, white at 0 (pale enough that black
    text stays readable on the strongest shade)."""
    t = 0.6 * min(1.0, abs(float(value)))
    light, full = int(255 * (1 - t)), 255
    r, g, b = (full, light, light) if value >= 0 else (light, light, full)
    return f"#{r:02x}{g:02x}{b:02x}"


def _char_html(ch: str) -> str:
    return "↵<br>" if ch == "\n" else html.escape(ch).replace(" ", "&nbsp;")


def colour_text_html(text: str, values: Tensor, title: str = "") -> str:
    """``text`` as HTML, each character's background shaded by ``values`` (one per character, in [-1, 1], e.g.
    a unit's ``tanh``-bounded ``h_t``): red for positive, blue for negative. Inline styles only, so it renders in
    JupyterLab, in the static site and in the slides."""
    if len(values) != len(text):
        raise ValueError(f"values must have one number per character: {len(text)} characters, {len(values)} values")
    spans = "".join(
        f'<span style="background:{_shade(v)}">{_char_html(ch)}</span>' for ch, v in zip(text, values.tolist())
    )
    head = f"<div style='font-family:sans-serif;margin-bottom:4px'>{html.escape(title)}</div>" if title else ""
    return f"{head}<div style='font-family:monospace;line-height:1.6;color:#000'>{spans}</div>"


def next_char_strip_html(text: str, logp: Tensor, vocab: CharVocab, k: int = 5) -> str:
    """Karpathy's strip: ``text`` along the top, and under each character the model's ``k`` likeliest next
    characters, each cell shaded by its probability (darker is likelier). ``logp`` ``(len(text), V)`` are the
    log-probabilities after each character."""
    if logp.shape[0] != len(text):
        raise ValueError(f"logp must have one row per character: {len(text)} characters, {logp.shape[0]} rows")
    probs = logp.exp()
    top_p, top_i = probs.topk(k, dim=-1)  # (T, k)

    def cell(ch: str, p: float | None) -> str:
        shade = "" if p is None else f"background:rgba(200,0,0,{p:.2f});"
        label = "↵" if ch == "\n" else ("␣" if ch == " " else html.escape(ch))
        return f'<td style="{shade}padding:1px 3px;text-align:center;border:1px solid #ddd">{label}</td>'

    rows = ["<tr>" + "".join(cell(ch, None) for ch in text) + "</tr>"]
    for r in range(k):
        rows.append(
            "<tr>"
            + "".join(cell(vocab.idx2char[int(top_i[t, r])], float(top_p[t, r])) for t in range(len(text)))
            + "</tr>"
        )
    return (
        "<table style='border-collapse:collapse;font-family:monospace;font-size:12px;color:#000'>"
        + "".join(rows)
        + "</table>"
    )
