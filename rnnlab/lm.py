"""Character language models trained with truncated backprop through time.

A long text is cut into chunks (:func:`rnnlab.data.stream_batches`); the model reads chunk
after chunk, and the state it ends one chunk with starts the next, *detached*: values flow
on, gradients stop at the chunk boundary. One training step is :func:`tbptt_step`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab.data import CharVocab, stream_batches
from rnnlab.models import detach_state
from rnnlab.train import Record, device_of, evaluating, optimizer_step, sequence_loss
from rnnlab.validation import positive_ints, positive_number

__all__ = ["tbptt_step", "evaluate", "baselines", "LMConfig", "LMHistory", "train_lm", "sample"]


def tbptt_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor, state=None, clip: float | None = None
):
    """One step of truncated BPTT: forward a chunk from the carried state, backward, clip, step.

    Args:
        model: maps ``(x, state)`` to ``(logits, state)`` (e.g. :class:`rnnlab.models.CharLM`).
        optimizer: over ``model``'s parameters.
        x, y: ``(T, B)`` input and next-character indices of one chunk.
        state: the previous chunk's final state (detached here), or None for zeros.
        clip: max total gradient norm (``clip_grad_norm_``), or None.

    Returns:
        ``(loss, state)``: the chunk's mean loss (a float) and its final state, detached.
    """
    logits, state = model(x, detach_state(state))  # graph starts at this chunk
    loss = sequence_loss(logits, y)  # mean cross-entropy per character
    optimizer_step(model, optimizer, loss, clip)  # zero_grad, backward, clip, step
    return loss.item(), detach_state(state)


# -- measuring: bits per character, and the baselines to beat ---------------------------------
LN2 = math.log(2.0)


def evaluate(model: nn.Module, ids: Tensor, batch_size: int = 64, seq_len: int = 128) -> float:
    """Mean next-character loss of ``model`` on ``ids``, in **bits per character**.

    The text is read in order as :func:`~rnnlab.data.stream_batches` chunks with the state
    carried, as in training; nats are divided by ln 2. Perplexity is ``2 ** bits``.
    """
    device = device_of(model)
    batch_size = max(1, min(batch_size, (len(ids) - 1) // 2))
    total, count, state = 0.0, 0, None
    with evaluating(model):
        for x, y in stream_batches(ids, batch_size, seq_len):
            logits, state = model(x.to(device), state)
            total += F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), y.to(device).reshape(-1), reduction="sum"
            ).item()
            count += y.numel()
    return total / count / LN2


def baselines(train_ids: Tensor, val_ids: Tensor, vocab_size: int) -> dict[str, float]:
    """Validation bits per character of three models that need no training loop.

    * ``uniform``: every character equally likely, ``log2 V``;
    * ``unigram``: each character's frequency in the training text (add-one smoothed);
    * ``bigram``: the frequency of each character *after* the previous one (add-one smoothed).

    A recurrent model is worth its training only once it beats the bigram model.
    """
    V = vocab_size
    uni = torch.bincount(train_ids, minlength=V).double() + 1
    logp_uni = (uni / uni.sum()).log()
    pairs = torch.bincount(train_ids[:-1] * V + train_ids[1:], minlength=V * V).double().view(V, V) + 1
    logp_bi = (pairs / pairs.sum(1, keepdim=True)).log()
    return {
        "uniform": math.log2(V),
        "unigram": -logp_uni[val_ids].mean().item() / LN2,
        "bigram": -logp_bi[val_ids[:-1], val_ids[1:]].mean().item() / LN2,
    }


# -- training ---------------------------------------------------------------------------------
@dataclass
class LMConfig:
    """Settings of :func:`train_lm`.

    Attributes:
        epochs: passes over the training text.
        max_steps: train exactly this many optimizer steps, however many passes that takes
            (None: ``epochs`` passes).
        batch_size: parallel streams ``B`` of :func:`~rnnlab.data.stream_batches`.
        seq_len: steps ``T`` per chunk (how far back each backward reaches).
        lr: Adam's learning rate.
        clip: max gradient norm, or None.
        eval_every: evaluate on the validation text every this many steps (0: once per epoch).
        progress: show a ``tqdm.auto`` bar.
    """

    epochs: int = 1
    max_steps: int | None = None
    batch_size: int = 256
    seq_len: int = 32
    lr: float = 3e-3
    clip: float | None = 1.0
    eval_every: int = 0
    progress: bool = True

    def __post_init__(self) -> None:
        positive_ints(epochs=self.epochs, batch_size=self.batch_size, seq_len=self.seq_len)
        if self.max_steps is not None:
            positive_ints(max_steps=self.max_steps)
        positive_number("lr", self.lr)
        positive_number("clip", self.clip, optional=True)
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}")


@dataclass
class LMHistory(Record):
    """What :func:`train_lm` measured: at each evaluation, the step, the characters seen, the
    mean training loss since the previous evaluation and the validation loss (bits/char)."""

    step: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    train_bpc: list[float] = field(default_factory=list)
    val_bpc: list[float] = field(default_factory=list)


def train_lm(
    model: nn.Module,
    train_ids: Tensor,
    val_ids: Tensor,
    config: LMConfig | None = None,
    *,
    on_eval: Callable[[int, dict], None] | None = None,
    **overrides,
) -> LMHistory:
    """Train a character LM with truncated BPTT (Adam, clipping) and return its history.

    Args:
        model: maps ``(x, state)`` to ``(logits, state)``, e.g. :class:`~rnnlab.models.CharLM`.
        train_ids, val_ids: ``(N,)`` indices of the training and validation text.
        config: an :class:`LMConfig`; keyword ``overrides`` replace its fields.
        on_eval: called as ``on_eval(step, {"train_bpc", "val_bpc", "chars"})`` at each evaluation.
    """
    cfg = dataclasses.replace(config or LMConfig(), **overrides)
    device = device_of(model)
    chunks = [(x.to(device), y.to(device)) for x, y in stream_batches(train_ids, cfg.batch_size, cfg.seq_len)]
    total_steps = cfg.epochs * len(chunks) if cfg.max_steps is None else cfg.max_steps
    eval_every = cfg.eval_every or len(chunks)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    history = LMHistory()

    from tqdm.auto import tqdm

    bar = tqdm(total=total_steps, disable=not cfg.progress, desc="train", unit="step", leave=False, mininterval=1.0)
    step = chars = 0
    since, since_chars = 0.0, 0
    model.train()
    while step < total_steps:
        state = None  # each pass over the text starts from zeros
        for x, y in chunks:
            loss, state = tbptt_step(model, opt, x, y, state, cfg.clip)
            step, chars = step + 1, chars + y.numel()
            since, since_chars = since + loss * y.numel(), since_chars + y.numel()
            bar.update(1)
            if step % eval_every == 0 or step == total_steps:
                record = {"train_bpc": since / since_chars / LN2, "val_bpc": evaluate(model, val_ids), "chars": chars}
                history.step.append(step)
                history.chars.append(chars)
                history.train_bpc.append(record["train_bpc"])
                history.val_bpc.append(record["val_bpc"])
                since, since_chars = 0.0, 0
                bar.set_postfix(val_bpc=f"{record['val_bpc']:.3f}", refresh=False)
                if on_eval is not None:
                    on_eval(step, record)
            if step >= total_steps:
                break
    bar.close()
    return history


# -- generating ---------------------------------------------------------------------------------
def sample(
    model: nn.Module,
    vocab: CharVocab,
    prompt: str,
    length: int = 200,
    temperature: float = 1.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> str:
    """Continue ``prompt`` by ``length`` characters drawn from the model.

    The prompt is read in one forward; then each step draws the next character from
    ``softmax(logits / temperature)``, restricted to the ``top_k`` most likely when given,
    and feeds it back. Low temperature: safer, more repetitive; high: more varied, more errors.

    Args:
        generator: a seeded CPU ``torch.Generator`` for repeatable samples. The draws are made on the
            CPU whatever the model's device, so a seed gives the same sample on a GPU as on a CPU
            (a CUDA generator would draw other numbers).

    Returns:
        The prompt followed by the sampled characters.
    """
    if not prompt:
        raise ValueError("the prompt must hold at least one character")
    if not (math.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be a positive number, got {temperature}")
    if top_k is not None and not 1 <= top_k <= len(vocab):
        raise ValueError(f"top_k must be in [1, {len(vocab)}], got {top_k}")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    x = vocab.encode(prompt).to(device_of(model)).unsqueeze(1)  # (T, 1)
    out = []
    with evaluating(model):
        logits, state = model(x)
        for _ in range(length):
            last = logits[-1, 0] / temperature  # (V,)
            if top_k is not None:
                kth = last.topk(top_k).values[-1]
                last = last.masked_fill(last < kth, -math.inf)
            probs = torch.softmax(last.float(), -1).cpu()  # (V,): drawn on the CPU, see `generator`
            k = int(torch.multinomial(probs, 1, generator=generator))
            out.append(k)
            logits, state = model(torch.tensor([[k]], device=x.device), state)
    return prompt + vocab.decode(out)
