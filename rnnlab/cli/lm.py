"""``python -m rnnlab lm train`` trains notebook 09's character language model on the Python
documentation's text (shipped with Python, no download) or on your own UTF-8 file
(``--text-file``); ``lm sample`` continues a prompt."""

from __future__ import annotations

import argparse
import sys

import torch

from rnnlab.cli.common import (
    check_outputs,
    config_from,
    int_in,
    load,
    model_options,
    positive_float,
    positive_int,
    run_options,
    seed_option,
    task_parser,
    train_run,
    warn_worse_than_uniform,
)
from rnnlab.lm import (
    MIN_TEXT_CHARS,
    CharLM,
    LMConfig,
    baselines,
    python_docs_text,
    read_text_file,
    sample_stream,
    split_text,
    train_lm,
    zen_of_python,
)
from rnnlab.loop import get_device, set_seed
from rnnlab.vocab import CharVocab


def register(sub) -> None:
    """``python -m rnnlab lm train | sample`` (notebook 09)."""
    lm_sub = task_parser(
        sub,
        "lm",
        help="character language model on real text (notebook 09)",
        description="Train or sample the character language model of notebook 09.",
    )
    tr = lm_sub.add_parser(
        "train",
        help="train on the Python documentation's text",
        description="Train Embedding -> LSTM/GRU/RNN -> Linear on pydoc_data.topics "
        "(about 465k characters that ship with Python) with truncated BPTT.",
    )
    source = tr.add_mutually_exclusive_group()
    source.add_argument(
        "--text",
        choices=("docs", "zen"),
        default="docs",
        help="docs: the Python reference's help topics (default); zen: the Zen of Python",
    )
    source.add_argument(
        "--text-file",
        metavar="PATH",
        default=None,
        help="train on your own UTF-8 text instead (any language: the vocabulary is every character it uses; "
        f"at least {MIN_TEXT_CHARS:,} characters; the last tenth validates)",
    )
    tr.add_argument(
        "--kind",
        choices=CharLM.KINDS,
        default="lstm",
        help="lstm (default), gru, rnn; mingru, minlstm: the parallel recurrences of notebook 13 (rnnlab only)",
    )
    model_options(tr, hidden_size=128, embedding_dim=32)
    tr.add_argument("--epochs", type=int_in(1, 1000), default=15, help="passes over the text, 1 to 1000")
    tr.add_argument("--max-steps", type=positive_int, default=None, help="stop after this many steps")
    tr.add_argument("--seq-len", type=int_in(1, 4096), default=LMConfig.seq_len, help="steps of truncated BPTT")
    tr.add_argument("--eval-every", type=positive_int, default=100, help="validate every N steps")
    run_options(tr, LMConfig)
    tr.set_defaults(handler=_lm_train, parser=tr)
    sa = lm_sub.add_parser("sample", help="continue a prompt with a trained model")
    sa.add_argument("--checkpoint", required=True, metavar="PATH")
    sa.add_argument(
        "--prompt",
        default=None,
        help='the text to continue (default: "The " when the model knows those characters, else a newline)',
    )
    sa.add_argument(
        "--length",
        type=int_in(1, MAX_LENGTH),
        default=300,
        help=f"characters to sample, 1 to {MAX_LENGTH:,} (printed as they come)",
    )
    sa.add_argument("--temperature", type=positive_float, default=0.8, help="any positive number")
    sa.add_argument("--top-k", type=positive_int, default=None)
    seed_option(sa, 0)
    sa.set_defaults(handler=_lm_sample, parser=sa)


MAX_LENGTH = 100_000


def _lm_train(ap: argparse.ArgumentParser, args) -> int:
    check_outputs(ap, args)
    if args.text_file is not None:
        try:
            text = read_text_file(args.text_file)
            train, val = split_text(text, 0.1, min_val=MIN_TEXT_CHARS // 10)
        except ValueError as e:  # the file, not the command line, is wrong: one line, no usage
            ap.exit(2, f"{ap.prog}: error: --text-file {args.text_file}: {e}\n")
        args.text = "file"
    else:
        text = python_docs_text() if args.text == "docs" else zen_of_python()
        train, val = split_text(text, 0.1)
    vocab = CharVocab.from_strings(text)
    print(f"text: {len(text):,} characters, {len(vocab):,} distinct", file=sys.stderr)
    train_ids, val_ids = vocab.encode(train), vocab.encode(val)
    set_seed(args.seed)
    model = CharLM(len(vocab), args.kind, args.embedding_dim, args.hidden_size, args.num_layers, impl=args.impl).to(
        get_device()
    )
    config = config_from(LMConfig, args)
    base = baselines(train_ids, val_ids, len(vocab))
    timings: list[float] = []  # training seconds at each evaluation: stored beside the history, as a measure
    history = train_run(
        args,
        model,
        vocab,
        lambda: train_lm(model, train_ids, val_ids, config, timings=timings),
        baselines=base,
        evaluate=lambda: {"training_seconds": timings},
    )
    if isinstance(history, int):
        return history
    print(
        f"{args.kind} ({args.impl}), {history.step[-1]} steps: validation {history.val_bpc[-1]:.3f} bits/char; "
        f"baselines: uniform {base['uniform']:.3f}, unigram {base['unigram']:.3f}, bigram {base['bigram']:.3f}"
    )
    warn_worse_than_uniform("validation bits/char", history.val_bpc[-1], base["uniform"], higher_is_better=False)
    return 0


def _lm_sample(ap: argparse.ArgumentParser, args) -> int:
    model, vocab, _ = load(ap, args.checkpoint, "charlm")
    if args.prompt is None:
        known = set(vocab.char2idx)
        args.prompt = next((p for p in ("The ", "\n") if set(p) <= known), vocab.idx2char[0])
    unknown = sorted(set(args.prompt) - set(vocab.char2idx))
    if not args.prompt or unknown:
        ap.error(f"--prompt must be non-empty and use the model's characters; unknown: {unknown}")
    if args.top_k is not None and args.top_k > len(vocab):
        ap.error(f"--top-k must be at most the vocabulary size {len(vocab)}")
    g = torch.Generator().manual_seed(args.seed)  # draws on the CPU: the same text on any device
    print(args.prompt, end="", flush=True)
    for char in sample_stream(model, vocab, args.prompt, args.length, args.temperature, args.top_k, generator=g):
        print(char, end="", flush=char == "\n")
    print(flush=True)
    return 0
