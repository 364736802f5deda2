"""``python -m rnnlab seq2seq train --task dates`` trains notebook 11's encoder–decoder (``--task reverse``:
the bottleneck experiment); ``seq2seq run`` decodes new inputs."""

from __future__ import annotations

import argparse

from rnnlab.cli.common import (
    check_outputs,
    config_from,
    ignored,
    int_in,
    load,
    model_options,
    positive_int,
    probability,
    run_options,
    task_parser,
    train_run,
)
from rnnlab.loop import get_device, set_seed
from rnnlab.seq2seq import (
    ATTENTIONS,
    Seq2Seq,
    Seq2SeqConfig,
    compare_beam,
    date_pairs,
    reversal_pairs,
    train_seq2seq,
    translate,
)
from rnnlab.vocab import END, PAD, START, CharVocab


def register(sub) -> None:
    """``python -m rnnlab seq2seq train | run`` (notebook 11)."""
    s2s_sub = task_parser(
        sub,
        "seq2seq",
        help="encoder-decoder on a generated task (notebook 11)",
        description="Train or run the GRU encoder-decoder of notebook 11.",
    )
    tr = s2s_sub.add_parser("train", help="train on generated pairs")
    tr.add_argument(
        "--task",
        choices=("dates", "reverse"),
        default="dates",
        help="dates: '3 March 2021' -> '2021-03-03' (default); reverse: 'abc' -> 'cba'",
    )
    tr.add_argument(
        "--max-len",
        type=int_in(2, MAX_LEN),
        default=None,
        help=f"longest string of the reverse task, 2 to {MAX_LEN} (default {DEFAULT_MAX_LEN}; --task reverse only)",
    )
    model_options(tr, hidden_size=128, embedding_dim=16, num_layers=False)
    tr.add_argument(
        "--attention",
        choices=ATTENTIONS,
        default=None,
        help="an attention decoder: additive (Bahdanau) or dot (Luong); default none (notebook 11's model)",
    )
    tr.add_argument("--steps", type=int_in(1, 1_000_000), default=1000)
    tr.add_argument(
        "--teacher-forcing",
        type=probability,
        default=1.0,
        help="probability of feeding the true previous character (1 = teacher forcing, 0 = free running)",
    )
    tr.add_argument("--eval-every", type=positive_int, default=100)
    tr.add_argument(
        "--lr-decay",
        choices=("none", "linear"),
        default=None,
        help="linear: the learning rate falls to 0 at the last step (default with --attention; none otherwise)",
    )
    tr.add_argument(
        "--beam",
        type=int_in(2, 20),
        default=None,
        metavar="K",
        help="after training, compare beam search of width K with greedy decoding on the held-out pairs "
        "(exact match, mean log-probability; printed and stored in the history)",
    )
    run_options(  # --lr: its default depends on --attention (in _seq2seq_train)
        tr,
        Seq2SeqConfig,
        lr=None,
        lr_help=f"default {Seq2SeqConfig.lr:g}; with --attention {ATTENTION_LR:g}: at {Seq2SeqConfig.lr:g} "
        "attention training is unstable",
    )
    tr.set_defaults(handler=_seq2seq_train, parser=tr)
    run = s2s_sub.add_parser("run", help="decode inputs with a trained model (greedy)")
    run.add_argument("--checkpoint", required=True, metavar="PATH")
    run.add_argument("text", nargs="+", help="inputs, e.g. '3 March 2021'")
    run.set_defaults(handler=_seq2seq_run, parser=run)


MAX_LEN, DEFAULT_MAX_LEN = 50, 14
ATTENTION_LR = 3e-3  # measured: at 1e-2 (the plain model's rate) the attention decoder's runs diverge or stall


def _task_pairs(task: str, max_len: int) -> tuple[list, list]:
    if task == "dates":
        return date_pairs(20000, seed=0), date_pairs(1000, seed=1, held_out=True)
    return reversal_pairs(20000, 2, max_len, seed=0), reversal_pairs(1000, 2, max_len, seed=1)  # notebook 11's


def _seq2seq_train(ap: argparse.ArgumentParser, args) -> int:
    if args.max_len is None:
        args.max_len = DEFAULT_MAX_LEN
    elif args.task != "reverse":
        ignored(f"--max-len {args.max_len}", f"--task {args.task}", "its dates have a fixed form")
    if args.lr is None:
        args.lr = Seq2SeqConfig.lr if args.attention is None else ATTENTION_LR
    if args.lr_decay is None:  # measured: at a constant rate attention's exact match swings by several points late on
        args.lr_decay = "none" if args.attention is None else "linear"
    check_outputs(ap, args)
    train, val = _task_pairs(args.task, args.max_len)
    vocab = CharVocab.from_strings(*(s + t for s, t in train + val), specials=(PAD, START, END))
    set_seed(args.seed)
    model = Seq2Seq(len(vocab), args.embedding_dim, args.hidden_size, impl=args.impl, attention=args.attention)
    model.to(get_device())
    config = config_from(Seq2SeqConfig, args)
    beam = {}

    def evaluate() -> dict:
        beam.update(compare_beam(model, val, vocab, args.beam) if args.beam else {})
        return {"beam": beam} if beam else {}

    history = train_run(args, model, vocab, lambda: train_seq2seq(model, train, val, vocab, config), evaluate=evaluate)
    if isinstance(history, int):
        return history
    print(
        f"{args.task}, {args.attention or 'no'} attention, teacher forcing {args.teacher_forcing:g}, "
        f"{args.steps} steps: "
        f"held-out exact match {history.val_exact[-1]:.1%}"
    )
    if beam:
        print(
            f"greedy: exact {beam['greedy_exact']:.1%}, mean log-prob {beam['greedy_mean_logprob']:.4f}; "
            f"beam {args.beam}: exact {beam['beam_exact']:.1%}, mean log-prob {beam['beam_mean_logprob']:.4f}"
        )
    if args.task == "reverse":
        print(
            "by length: "
            + "  ".join(f"{n}: {a:.0%}" for n, a in zip(history.final_lengths, history.final_exact_by_length))
        )
    return 0


def _seq2seq_run(ap: argparse.ArgumentParser, args) -> int:
    model, vocab, _ = load(ap, args.checkpoint, "seq2seq")
    try:
        outputs = translate(model, args.text, vocab)
    except ValueError as e:
        ap.error(str(e))
    for text, out in zip(args.text, outputs):
        print(f"{text} -> {out}")
    return 0
